//! Logged models (MLflow 3).

use crate::client::{Client, SearchQuery, paginate};
use crate::error::Result;
use crate::types::*;
use futures::Stream;
use serde::Deserialize;
use serde_json::{Value, json};

const P: &str = "/api/2.0/mlflow/logged-models";

/// Parameters of [`Client::create_logged_model`].
///
/// ```
/// use mlflow_sdk::{CreateLoggedModel, Param, Tag};
/// let req = CreateLoggedModel {
///     experiment_id: "1".into(),
///     name: Some("support-agent".into()),
///     model_type: Some("agent".into()),
///     params: vec![Param::new("temperature", "0.2")],
///     tags: vec![Tag::new("llm", "gpt-4o-mini")],
///     ..Default::default()
/// };
/// assert!(req.source_run_id.is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct CreateLoggedModel {
    /// Experiment.
    pub experiment_id: String,
    /// Name (the server generates one when absent).
    pub name: Option<String>,
    /// Model type, e.g. `agent`.
    pub model_type: Option<String>,
    /// Run that logs it.
    pub source_run_id: Option<String>,
    /// Params.
    pub params: Vec<Param>,
    /// Tags.
    pub tags: Vec<Tag>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ModelResp {
    model: LoggedModel,
}

impl Client {
    /// Creates a logged model (status `LOGGED_MODEL_PENDING`).
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// use mlflow_sdk::CreateLoggedModel;
    /// let model = client
    ///     .create_logged_model(CreateLoggedModel {
    ///         experiment_id: "1".into(),
    ///         name: Some("support-agent".into()),
    ///         model_type: Some("agent".into()),
    ///         source_run_id: Some(run_id.into()),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    /// assert_eq!(model.info.status, "LOGGED_MODEL_PENDING");
    /// # Ok(()) }
    /// ```
    pub async fn create_logged_model(&self, req: CreateLoggedModel) -> Result<LoggedModel> {
        let mut body = json!({"experiment_id": req.experiment_id});
        if let Some(n) = &req.name {
            body["name"] = json!(n);
        }
        if let Some(t) = &req.model_type {
            body["model_type"] = json!(t);
        }
        if let Some(r) = &req.source_run_id {
            body["source_run_id"] = json!(r);
        }
        if !req.params.is_empty() {
            body["params"] = json!(req.params);
        }
        if !req.tags.is_empty() {
            body["tags"] = json!(req.tags);
        }
        let r: ModelResp = self.post(P, body).await?;
        Ok(r.model)
    }

    /// Fetches a logged model.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let model_id = "m-7f3a2b1c0d9e4f8a9b6c5d4e3f2a1b0c";
    /// let model = client.get_logged_model(model_id).await?;
    /// println!("{} ({}) at {}", model.info.name, model.info.status, model.info.artifact_uri);
    /// # Ok(()) }
    /// ```
    pub async fn get_logged_model(&self, model_id: &str) -> Result<LoggedModel> {
        let r: ModelResp = self.get(&format!("{P}/{model_id}"), json!({})).await?;
        Ok(r.model)
    }

    /// Sets the final status, e.g. `LOGGED_MODEL_READY`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let model_id = "m-7f3a2b1c0d9e4f8a9b6c5d4e3f2a1b0c";
    /// let model = client
    ///     .finalize_logged_model(model_id, "LOGGED_MODEL_READY")
    ///     .await?;
    /// assert_eq!(model.info.status, "LOGGED_MODEL_READY");
    /// # Ok(()) }
    /// ```
    pub async fn finalize_logged_model(&self, model_id: &str, status: &str) -> Result<LoggedModel> {
        let r: ModelResp = self
            .patch(
                &format!("{P}/{model_id}"),
                json!({"model_id": model_id, "status": status}),
            )
            .await?;
        Ok(r.model)
    }

    /// Deletes a logged model.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let model_id = "m-7f3a2b1c0d9e4f8a9b6c5d4e3f2a1b0c";
    /// client.delete_logged_model(model_id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_logged_model(&self, model_id: &str) -> Result<()> {
        let _: Value = self.delete(&format!("{P}/{model_id}"), json!({})).await?;
        Ok(())
    }

    /// Sets tags on a logged model.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let model_id = "m-7f3a2b1c0d9e4f8a9b6c5d4e3f2a1b0c";
    /// use mlflow_sdk::Tag;
    /// let tags = [Tag::new("stage", "canary"), Tag::new("reviewed_by", "alice")];
    /// client.set_logged_model_tags(model_id, &tags).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_logged_model_tags(&self, model_id: &str, tags: &[Tag]) -> Result<()> {
        let _: Value = self
            .patch(&format!("{P}/{model_id}/tags"), json!({"tags": tags}))
            .await?;
        Ok(())
    }

    /// Deletes a logged-model tag.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let model_id = "m-7f3a2b1c0d9e4f8a9b6c5d4e3f2a1b0c";
    /// client.delete_logged_model_tag(model_id, "stage").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()> {
        let enc = percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC);
        let _: Value = self
            .delete(&format!("{P}/{model_id}/tags/{enc}"), json!({}))
            .await?;
        Ok(())
    }

    /// Logs params on a logged model.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let model_id = "m-7f3a2b1c0d9e4f8a9b6c5d4e3f2a1b0c";
    /// use mlflow_sdk::Param;
    /// let params = [Param::new("temperature", "0.2"), Param::new("max_tokens", "512")];
    /// client.log_logged_model_params(model_id, &params).await?;
    /// # Ok(()) }
    /// ```
    pub async fn log_logged_model_params(&self, model_id: &str, params: &[Param]) -> Result<()> {
        let _: Value = self
            .post(
                &format!("{P}/{model_id}/params"),
                json!({"model_id": model_id, "params": params}),
            )
            .await?;
        Ok(())
    }

    /// One page of `logged-models/search`. `order_by` entries are `field [ASC|DESC]`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use mlflow_sdk::SearchQuery;
    /// let q = SearchQuery::new()
    ///     .filter("name = 'support-agent'")
    ///     .order_by("creation_timestamp DESC")
    ///     .max_results(20);
    /// let page = client.search_logged_models_page(&["1".to_string()], &q).await?;
    /// for model in &page.items {
    ///     println!("{} {}", model.info.model_id, model.info.status);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn search_logged_models_page(
        &self,
        experiment_ids: &[String],
        q: &SearchQuery,
    ) -> Result<Page<LoggedModel>> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct R {
            models: Vec<LoggedModel>,
            next_page_token: Option<String>,
        }
        let mut body =
            json!({"experiment_ids": experiment_ids, "max_results": q.max_results.unwrap_or(100)});
        if let Some(f) = &q.filter {
            body["filter"] = json!(f);
        }
        if !q.order_by.is_empty() {
            let ob: Vec<Value> = q
                .order_by
                .iter()
                .map(|o| {
                    let mut parts = o.split_whitespace();
                    let field = parts.next().unwrap_or_default();
                    let asc = !matches!(parts.next(), Some(d) if d.eq_ignore_ascii_case("desc"));
                    json!({"field_name": field, "ascending": asc})
                })
                .collect();
            body["order_by"] = json!(ob);
        }
        if let Some(t) = &q.page_token {
            body["page_token"] = json!(t);
        }
        let r: R = self.post(&format!("{P}/search"), body).await?;
        Ok(Page {
            items: r.models,
            next_page_token: r.next_page_token.filter(|t| !t.is_empty()),
        })
    }

    /// All logged models matching `q`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use futures::TryStreamExt;
    /// use mlflow_sdk::SearchQuery;
    /// let ready: Vec<_> = client
    ///     .search_logged_models(vec!["1".into()], SearchQuery::new())
    ///     .try_filter(|m| futures::future::ready(m.info.status == "LOGGED_MODEL_READY"))
    ///     .try_collect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn search_logged_models(
        &self,
        experiment_ids: Vec<String>,
        q: SearchQuery,
    ) -> impl Stream<Item = Result<LoggedModel>> + '_ {
        let first = q.page_token.clone();
        let ids = std::sync::Arc::new(experiment_ids);
        paginate(
            move |token| {
                let mut q = q.clone();
                q.page_token = token;
                let ids = ids.clone();
                async move { self.search_logged_models_page(&ids, &q).await }
            },
            first,
        )
    }
}
