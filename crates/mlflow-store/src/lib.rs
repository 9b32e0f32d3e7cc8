//! The tracking store: one trait, one SQL implementation over sqlx for SQLite, PostgreSQL and
//! MySQL, on MLflow's own schema (so databases move between the official server and ours).
//!
//! # Layout
//! - [`db`]: URI translation, dialects, pools, placeholder rewriting, row decoding.
//! - [`migrate`]: schema creation and revision checks.
//! - [`TrackingStore`]: the operations the HTTP layer needs; [`SqlStore`] implements them in
//!   `experiments.rs`, `runs.rs` and `metrics.rs`.

pub mod db;
mod experiments;
pub mod genai;
mod group_commit;
pub mod logged_models;
mod metrics;
pub mod migrate;
pub mod registry;
pub mod retention;
mod runs;
mod store_impl;
pub mod traces;
pub mod webhooks;

use async_trait::async_trait;
use base64::Engine;
pub use db::Db;
pub use genai::GenAiStore;
pub use logged_models::{CreateLoggedModel, LoggedModelStore, SearchLoggedModels};
use mlflow_domain::tracking::{
    DatasetInput, Experiment, Metric, ModelInput, Run, RunInfo, Tag, ViewType,
};
use mlflow_domain::{Error, Result};
pub use registry::RegistryStore;
pub use traces::TraceStore;
pub use webhooks::WebhookStore;

/// One page of a search, with the token for the next page when there is one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
}

/// Arguments of `runs/create`.
#[derive(Debug, Clone, Default)]
pub struct CreateRun {
    pub experiment_id: String,
    pub user_id: Option<String>,
    pub run_name: Option<String>,
    pub start_time: Option<i64>,
    pub tags: Vec<Tag>,
}

/// Arguments of `runs/search`.
#[derive(Debug, Clone, Default)]
pub struct SearchRuns {
    pub experiment_ids: Vec<String>,
    pub filter: String,
    pub view: ViewType,
    pub max_results: i64,
    pub order_by: Vec<String>,
    pub page_token: Option<String>,
}

/// Arguments of `experiments/search`.
#[derive(Debug, Clone, Default)]
pub struct SearchExperiments {
    pub filter: String,
    pub view: ViewType,
    pub max_results: i64,
    pub order_by: Vec<String>,
    pub page_token: Option<String>,
}

/// Everything the tracking API needs from storage.
#[async_trait]
pub trait TrackingStore: LoggedModelStore + Send + Sync + 'static {
    async fn create_experiment(
        &self,
        name: &str,
        artifact_location: Option<&str>,
        tags: &[Tag],
    ) -> Result<String>;
    async fn get_experiment(&self, experiment_id: &str) -> Result<Experiment>;
    async fn get_experiment_by_name(&self, name: &str) -> Result<Experiment>;
    async fn search_experiments(&self, req: &SearchExperiments) -> Result<Page<Experiment>>;
    async fn rename_experiment(&self, experiment_id: &str, new_name: &str) -> Result<()>;
    async fn delete_experiment(&self, experiment_id: &str) -> Result<()>;
    async fn restore_experiment(&self, experiment_id: &str) -> Result<()>;
    async fn set_experiment_tag(&self, experiment_id: &str, key: &str, value: &str) -> Result<()>;
    async fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> Result<()>;

    async fn create_run(&self, req: CreateRun) -> Result<Run>;
    async fn get_run(&self, run_id: &str) -> Result<Run>;
    async fn update_run(
        &self,
        run_id: &str,
        status: Option<&str>,
        end_time: Option<i64>,
        run_name: Option<&str>,
    ) -> Result<RunInfo>;
    async fn delete_run(&self, run_id: &str) -> Result<()>;
    async fn restore_run(&self, run_id: &str) -> Result<()>;
    /// Logs metrics, params and tags atomically: all or nothing.
    async fn log_batch(
        &self,
        run_id: &str,
        metrics: Vec<Metric>,
        params: Vec<Tag>,
        tags: Vec<Tag>,
    ) -> Result<()>;
    /// Single-param logging keeps the official single-param error message.
    async fn log_param(&self, run_id: &str, key: &str, value: &str) -> Result<()>;
    async fn delete_tag(&self, run_id: &str, key: &str) -> Result<()>;
    async fn log_inputs(
        &self,
        run_id: &str,
        datasets: Vec<DatasetInput>,
        models: Vec<ModelInput>,
    ) -> Result<()>;
    async fn search_runs(&self, req: &SearchRuns) -> Result<Page<Run>>;
    async fn get_metric_history(
        &self,
        run_id: &str,
        key: &str,
        max_results: Option<i64>,
        page_token: Option<&str>,
    ) -> Result<Page<Metric>>;
    async fn get_metric_history_bulk_interval(
        &self,
        run_ids: &[String],
        key: &str,
        max_results: i64,
        steps: Option<(i64, i64)>,
    ) -> Result<Vec<Metric>>;
}

/// The SQL implementation of every store trait.
#[derive(Clone, Debug)]
pub struct SqlStore {
    db: Db,
    artifact_root: String,
    /// SQLite only: concurrent `log-batch` requests share a transaction (see `group_commit`).
    group: Option<group_commit::GroupCommit>,
}

impl SqlStore {
    /// Connects to `uri` (an MLflow backend-store URI), creating or checking the schema.
    pub async fn open(uri: &str, default_artifact_root: &str) -> Result<Self> {
        let db = Db::connect(uri).await?;
        migrate::migrate(&db, default_artifact_root).await?;
        let mut store = Self {
            db,
            artifact_root: default_artifact_root.to_string(),
            group: None,
        };
        if store.db.dialect == mlflow_search::Dialect::Sqlite {
            store.group = group_commit::GroupCommit::start(store.clone());
        }
        Ok(store)
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// A cheap liveness probe for `/health`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.db.read)
            .await
            .map_err(db::db_err)?;
        Ok(())
    }
}

/// `append_to_uri_path`: joins a root URI and a relative path with exactly one slash.
pub fn append_to_uri_path(root: &str, path: &str) -> String {
    if root.ends_with('/') {
        format!("{root}{path}")
    } else {
        format!("{root}/{path}")
    }
}

/// Page tokens are `base64(json({"offset": N}))`, byte-identical to the official server's.
pub fn encode_page_token(offset: i64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{{\"offset\": {offset}}}"))
}

/// Parses a page token; an absent or empty token means offset 0.
pub fn decode_page_token(token: Option<&str>) -> Result<i64> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(0);
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(token))
        .map_err(|_| Error::invalid("Invalid page token, could not base64-decode"))?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| {
        Error::invalid(
            "Invalid page token, decoded value=".to_string() + &String::from_utf8_lossy(&bytes),
        )
    })?;
    let offset = json
        .get("offset")
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| {
            Error::invalid("Invalid page token, parsed value=".to_string() + &json.to_string())
        })?;
    if offset < 0 {
        return Err(Error::invalid(format!(
            "Invalid page token, offset must be non-negative: {offset}"
        )));
    }
    Ok(offset)
}

/// Builds `?, ?, ?` for an IN list.
pub(crate) fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 3);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('?');
    }
    s
}

pub(crate) fn to_search_view(v: ViewType) -> mlflow_search::ViewType {
    match v {
        ViewType::ActiveOnly => mlflow_search::ViewType::ActiveOnly,
        ViewType::DeletedOnly => mlflow_search::ViewType::DeletedOnly,
        ViewType::All => mlflow_search::ViewType::All,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_match_official() {
        assert_eq!(encode_page_token(1), "eyJvZmZzZXQiOiAxfQ==");
        assert_eq!(decode_page_token(Some("eyJvZmZzZXQiOiAxfQ==")).unwrap(), 1);
        assert_eq!(decode_page_token(None).unwrap(), 0);
        assert!(decode_page_token(Some("!!!")).is_err());
    }

    #[test]
    fn uri_join() {
        assert_eq!(
            append_to_uri_path("mlflow-artifacts:/", "1"),
            "mlflow-artifacts:/1"
        );
        assert_eq!(append_to_uri_path("s3://b/p", "1"), "s3://b/p/1");
    }
}
