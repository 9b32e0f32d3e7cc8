//! Model registry: registered models, versions, tags and aliases.

use crate::client::{Client, SearchQuery, paginate};
use crate::error::Result;
use crate::types::*;
use futures::Stream;
use serde::Deserialize;
use serde_json::{Value, json};

const P: &str = "/api/2.0/mlflow";

/// Parameters of [`Client::create_model_version`].
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
    pub async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        let r: RmResp = self
            .get(&format!("{P}/registered-models/get"), json!({"name": name}))
            .await?;
        Ok(r.registered_model)
    }

    /// Renames a registered model.
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
