//! Model registry: registered models, versions, tags and aliases.

use crate::client::{Client, SearchQuery, paginate};
use crate::error::Result;
use crate::types::*;
use futures::Stream;
use serde::Deserialize;
use serde_json::{Value, json};

const P: &str = "/api/2.0/mlflow";

/// Parameters of [`Client::create_model_version`].
///
/// ```
/// use mlflow_sdk::{CreateModelVersion, Tag};
/// let req = CreateModelVersion {
///     name: "churn-classifier".into(),
///     source: "models:/m-7f3a2b1c0d9e4f8a9b6c5d4e3f2a1b0c".into(),
///     model_id: Some("m-7f3a2b1c0d9e4f8a9b6c5d4e3f2a1b0c".into()),
///     description: Some("XGBoost, AUC 0.91".into()),
///     tags: vec![Tag::new("validated", "true")],
///     ..Default::default()
/// };
/// assert!(req.run_id.is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct CreateModelVersion {
    /// Registered model name.
    pub name: String,
    /// Where the model files are (e.g. `models:/m-…` or a run's artifact URI).
    pub source: String,
    /// Run that produced it.
    pub run_id: Option<String>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Description.
    pub description: Option<String>,
    /// Logged model id (3.x).
    pub model_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RmResp {
    registered_model: RegisteredModel,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MvResp {
    model_version: ModelVersion,
}

impl Client {
    /// Creates a registered model.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use mlflow_sdk::Tag;
    /// let model = client
    ///     .create_registered_model(
    ///         "churn-classifier",
    ///         &[Tag::new("team", "growth")],
    ///         Some("Predicts 30-day churn"),
    ///     )
    ///     .await?;
    /// assert_eq!(model.name, "churn-classifier");
    /// # Ok(()) }
    /// ```
    pub async fn create_registered_model(
        &self,
        name: &str,
        tags: &[Tag],
        description: Option<&str>,
    ) -> Result<RegisteredModel> {
        let mut body = json!({"name": name});
        if !tags.is_empty() {
            body["tags"] = json!(tags);
        }
        if let Some(d) = description {
            body["description"] = json!(d);
        }
        let r: RmResp = self
            .post(&format!("{P}/registered-models/create"), body)
            .await?;
        Ok(r.registered_model)
    }

    /// Fetches a registered model.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let model = client.get_registered_model("churn-classifier").await?;
    /// for a in &model.aliases {
    ///     println!("@{} -> version {}", a.alias, a.version);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        let r: RmResp = self
            .get(&format!("{P}/registered-models/get"), json!({"name": name}))
            .await?;
        Ok(r.registered_model)
    }

    /// Renames a registered model.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let model = client
    ///     .rename_registered_model("churn-classifier", "churn-classifier-v2")
    ///     .await?;
    /// assert_eq!(model.name, "churn-classifier-v2");
    /// # Ok(()) }
    /// ```
    pub async fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
    ) -> Result<RegisteredModel> {
        let r: RmResp = self
            .post(
                &format!("{P}/registered-models/rename"),
                json!({"name": name, "new_name": new_name}),
            )
            .await?;
        Ok(r.registered_model)
    }

    /// Updates a registered model's description.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let model = client
    ///     .update_registered_model("churn-classifier", "Predicts 30-day churn from usage events")
    ///     .await?;
    /// assert_eq!(model.description.as_deref(), Some("Predicts 30-day churn from usage events"));
    /// # Ok(()) }
    /// ```
    pub async fn update_registered_model(
        &self,
        name: &str,
        description: &str,
    ) -> Result<RegisteredModel> {
        let r: RmResp = self
            .patch(
                &format!("{P}/registered-models/update"),
                json!({"name": name, "description": description}),
            )
            .await?;
        Ok(r.registered_model)
    }

    /// Deletes a registered model and its versions.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// client.delete_registered_model("churn-classifier-old").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_registered_model(&self, name: &str) -> Result<()> {
        let _: Value = self
            .delete(
                &format!("{P}/registered-models/delete"),
                json!({"name": name}),
            )
            .await?;
        Ok(())
    }

    /// Sets a registered-model tag.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// client.set_registered_model_tag("churn-classifier", "owner", "growth-team").await?;
    /// let model = client.get_registered_model("churn-classifier").await?;
    /// assert_eq!(model.tag("owner"), Some("growth-team"));
    /// # Ok(()) }
    /// ```
    pub async fn set_registered_model_tag(&self, name: &str, key: &str, value: &str) -> Result<()> {
        let _: Value = self
            .post(
                &format!("{P}/registered-models/set-tag"),
                json!({"name": name, "key": key, "value": value}),
            )
            .await?;
        Ok(())
    }

    /// Deletes a registered-model tag.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// client.delete_registered_model_tag("churn-classifier", "owner").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()> {
        let _: Value = self
            .delete(
                &format!("{P}/registered-models/delete-tag"),
                json!({"name": name, "key": key}),
            )
            .await?;
        Ok(())
    }

    /// One page of `registered-models/search`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use mlflow_sdk::SearchQuery;
    /// let q = SearchQuery::new().filter("name LIKE 'churn%'").max_results(20);
    /// let page = client.search_registered_models_page(&q).await?;
    /// for model in &page.items {
    ///     println!("{}: {:?}", model.name, model.description);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn search_registered_models_page(
        &self,
        q: &SearchQuery,
    ) -> Result<Page<RegisteredModel>> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct R {
            registered_models: Vec<RegisteredModel>,
            next_page_token: Option<String>,
        }
        let r: R = self
            .get(
                &format!("{P}/registered-models/search"),
                search_query(q, 100),
            )
            .await?;
        Ok(Page {
            items: r.registered_models,
            next_page_token: r.next_page_token.filter(|t| !t.is_empty()),
        })
    }

    /// All registered models matching `q`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use futures::TryStreamExt;
    /// use mlflow_sdk::SearchQuery;
    /// let owned: Vec<_> = client
    ///     .search_registered_models(SearchQuery::new().filter("tags.owner = 'growth-team'"))
    ///     .try_collect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn search_registered_models(
        &self,
        q: SearchQuery,
    ) -> impl Stream<Item = Result<RegisteredModel>> + '_ {
        let first = q.page_token.clone();
        paginate(
            move |token| {
                let mut q = q.clone();
                q.page_token = token;
                async move { self.search_registered_models_page(&q).await }
            },
            first,
        )
    }

    /// Creates a model version.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// use mlflow_sdk::CreateModelVersion;
    /// let run = client.get_run(run_id).await?;
    /// let mv = client
    ///     .create_model_version(CreateModelVersion {
    ///         name: "churn-classifier".into(),
    ///         source: format!("{}/model", run.info.artifact_uri),
    ///         run_id: Some(run.id().to_string()),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    /// println!("registered version {}", mv.version);
    /// # Ok(()) }
    /// ```
    pub async fn create_model_version(&self, req: CreateModelVersion) -> Result<ModelVersion> {
        let mut body = json!({"name": req.name, "source": req.source});
        if let Some(r) = &req.run_id {
            body["run_id"] = json!(r);
        }
        if !req.tags.is_empty() {
            body["tags"] = json!(req.tags);
        }
        if let Some(d) = &req.description {
            body["description"] = json!(d);
        }
        if let Some(m) = &req.model_id {
            body["model_id"] = json!(m);
        }
        let r: MvResp = self
            .post(&format!("{P}/model-versions/create"), body)
            .await?;
        Ok(r.model_version)
    }

    /// Fetches a model version.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let mv = client.get_model_version("churn-classifier", "3").await?;
    /// println!("{:?} from {:?}", mv.status, mv.source);
    /// # Ok(()) }
    /// ```
    pub async fn get_model_version(&self, name: &str, version: &str) -> Result<ModelVersion> {
        let r: MvResp = self
            .get(
                &format!("{P}/model-versions/get"),
                json!({"name": name, "version": version}),
            )
            .await?;
        Ok(r.model_version)
    }

    /// Updates a model version's description.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let mv = client
    ///     .update_model_version("churn-classifier", "3", "Retrained on June data")
    ///     .await?;
    /// assert_eq!(mv.description.as_deref(), Some("Retrained on June data"));
    /// # Ok(()) }
    /// ```
    pub async fn update_model_version(
        &self,
        name: &str,
        version: &str,
        description: &str,
    ) -> Result<ModelVersion> {
        let r: MvResp = self
            .patch(
                &format!("{P}/model-versions/update"),
                json!({"name": name, "version": version, "description": description}),
            )
            .await?;
        Ok(r.model_version)
    }

    /// Deletes a model version.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// client.delete_model_version("churn-classifier", "1").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_model_version(&self, name: &str, version: &str) -> Result<()> {
        let _: Value = self
            .delete(
                &format!("{P}/model-versions/delete"),
                json!({"name": name, "version": version}),
            )
            .await?;
        Ok(())
    }

    /// Sets a model-version tag.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// client
    ///     .set_model_version_tag("churn-classifier", "3", "validation_status", "approved")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_model_version_tag(
        &self,
        name: &str,
        version: &str,
        key: &str,
        value: &str,
    ) -> Result<()> {
        let _: Value = self
            .post(
                &format!("{P}/model-versions/set-tag"),
                json!({"name": name, "version": version, "key": key, "value": value}),
            )
            .await?;
        Ok(())
    }

    /// Deletes a model-version tag.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// client
    ///     .delete_model_version_tag("churn-classifier", "3", "validation_status")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_model_version_tag(
        &self,
        name: &str,
        version: &str,
        key: &str,
    ) -> Result<()> {
        let _: Value = self
            .delete(
                &format!("{P}/model-versions/delete-tag"),
                json!({"name": name, "version": version, "key": key}),
            )
            .await?;
        Ok(())
    }

    /// One page of `model-versions/search`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use mlflow_sdk::SearchQuery;
    /// let q = SearchQuery::new().filter("name = 'churn-classifier'").max_results(100);
    /// let page = client.search_model_versions_page(&q).await?;
    /// for mv in &page.items {
    ///     println!("v{} {:?}", mv.version, mv.aliases);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn search_model_versions_page(&self, q: &SearchQuery) -> Result<Page<ModelVersion>> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct R {
            model_versions: Vec<ModelVersion>,
            next_page_token: Option<String>,
        }
        let r: R = self
            .get(
                &format!("{P}/model-versions/search"),
                search_query(q, 10_000),
            )
            .await?;
        Ok(Page {
            items: r.model_versions,
            next_page_token: r.next_page_token.filter(|t| !t.is_empty()),
        })
    }

    /// All model versions matching `q`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// use futures::TryStreamExt;
    /// use mlflow_sdk::SearchQuery;
    /// let from_run: Vec<_> = client
    ///     .search_model_versions(SearchQuery::new().filter(format!("run_id = '{run_id}'")))
    ///     .try_collect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn search_model_versions(
        &self,
        q: SearchQuery,
    ) -> impl Stream<Item = Result<ModelVersion>> + '_ {
        let first = q.page_token.clone();
        paginate(
            move |token| {
                let mut q = q.clone();
                q.page_token = token;
                async move { self.search_model_versions_page(&q).await }
            },
            first,
        )
    }

    /// The latest version per stage (legacy stages API).
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let latest = client
    ///     .get_latest_versions("churn-classifier", &["Staging", "Production"])
    ///     .await?;
    /// for mv in &latest {
    ///     println!("{:?}: v{}", mv.current_stage, mv.version);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_latest_versions(
        &self,
        name: &str,
        stages: &[&str],
    ) -> Result<Vec<ModelVersion>> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct R {
            model_versions: Vec<ModelVersion>,
        }
        let r: R = self
            .post(
                &format!("{P}/registered-models/get-latest-versions"),
                json!({"name": name, "stages": stages}),
            )
            .await?;
        Ok(r.model_versions)
    }

    /// Points `alias` at `version`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// client
    ///     .set_registered_model_alias("churn-classifier", "champion", "3")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_registered_model_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
    ) -> Result<()> {
        let _: Value = self
            .post(
                &format!("{P}/registered-models/alias"),
                json!({"name": name, "alias": alias, "version": version}),
            )
            .await?;
        Ok(())
    }

    /// Removes `alias`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// client
    ///     .delete_registered_model_alias("churn-classifier", "challenger")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_registered_model_alias(&self, name: &str, alias: &str) -> Result<()> {
        let _: Value = self
            .delete(
                &format!("{P}/registered-models/alias"),
                json!({"name": name, "alias": alias}),
            )
            .await?;
        Ok(())
    }

    /// The version `alias` points at.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let champion = client
    ///     .get_model_version_by_alias("churn-classifier", "champion")
    ///     .await?;
    /// println!("champion is version {} from {:?}", champion.version, champion.source);
    /// # Ok(()) }
    /// ```
    pub async fn get_model_version_by_alias(
        &self,
        name: &str,
        alias: &str,
    ) -> Result<ModelVersion> {
        let r: MvResp = self
            .get(
                &format!("{P}/registered-models/alias"),
                json!({"name": name, "alias": alias}),
            )
            .await?;
        Ok(r.model_version)
    }
}

fn search_query(q: &SearchQuery, default_max: i64) -> Value {
    let mut v = json!({"max_results": q.max_results.unwrap_or(default_max)});
    if let Some(f) = &q.filter {
        v["filter"] = json!(f);
    }
    if !q.order_by.is_empty() {
        v["order_by"] = json!(q.order_by);
    }
    if let Some(t) = &q.page_token {
        v["page_token"] = json!(t);
    }
    v
}
