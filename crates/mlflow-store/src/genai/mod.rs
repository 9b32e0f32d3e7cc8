//! GenAI evaluation storage: the [`GenAiStore`] trait and its SQL implementation for
//! [`crate::SqlStore`] on MLflow's own tables.
//!
//! - `datasets.rs`: `evaluation_datasets`, `evaluation_dataset_tags`,
//!   `evaluation_dataset_records` and the dataset↔experiment rows of `entity_associations`
//!   (create/get/delete/search, tags, record upsert with input-hash dedup, schema/profile/digest
//!   maintenance, cursor-paged record reads).
//! - `scorers.rs`: `scorers`, `scorer_versions`, `online_scoring_configs` (and the gateway
//!   `endpoints`/`endpoint_bindings` lookups a `gateway:/` judge model needs).
//!
//! JSON columns (`inputs`, `outputs`, … declared `JSON`) are written as `json.dumps` text (cast
//! to `json` on PostgreSQL) and read back through a text cast, so rows move freely between the
//! official server and ours.

mod datasets;
mod scorers;

use crate::db::Db;
use crate::{Page, SqlStore};
use async_trait::async_trait;
use mlflow_domain::Result;
use mlflow_domain::genai::{DatasetRecord, EvaluationDataset, OnlineScoringConfig, ScorerVersion};
use mlflow_domain::traces::PyValue;
use mlflow_search::Dialect;

/// Arguments of `datasets/search`.
#[derive(Debug, Clone, Default)]
pub struct SearchDatasets {
    /// `None`: every dataset; `Some`: only datasets associated with these experiments.
    pub experiment_ids: Option<Vec<String>>,
    pub filter: String,
    /// Already validated to be in `1..=50000` (`None` is rejected as official).
    pub max_results: Option<i64>,
    pub order_by: Vec<String>,
    pub page_token: Option<String>,
}

/// Which experiments `scorers/list` covers.
#[derive(Debug, Clone)]
pub enum ScorerScope {
    /// `experiment_id`: one experiment, which must exist and be active.
    Experiment(String),
    /// `experiment_ids`: the active ones among these (ids already validated as integers).
    Experiments(Vec<String>),
    /// Neither: every active experiment.
    AllActive,
}

/// Everything the evaluation-dataset and scorer APIs need from storage.
#[async_trait]
pub trait GenAiStore: Send + Sync + 'static {
    async fn create_dataset(
        &self,
        name: &str,
        tags: Option<Vec<(String, PyValue)>>,
        experiment_ids: &[String],
    ) -> Result<EvaluationDataset>;
    async fn get_dataset(&self, dataset_id: &str) -> Result<EvaluationDataset>;
    /// Idempotent: an unknown id is not an error (as official).
    async fn delete_dataset(&self, dataset_id: &str) -> Result<()>;
    async fn search_datasets(&self, req: &SearchDatasets) -> Result<Page<EvaluationDataset>>;
    /// Upserts tags; `null` values are skipped, others stored as Python `str(value)`.
    async fn set_dataset_tags(&self, dataset_id: &str, tags: Vec<(String, PyValue)>) -> Result<()>;
    async fn delete_dataset_tag(&self, dataset_id: &str, key: &str) -> Result<()>;
    /// Returns `(inserted, updated)`.
    async fn upsert_dataset_records(
        &self,
        dataset_id: &str,
        records: Vec<PyValue>,
    ) -> Result<(i64, i64)>;
    /// One page ordered by `(created_time, dataset_record_id)` and the cursor of the next.
    async fn get_dataset_records(
        &self,
        dataset_id: &str,
        max_results: i64,
        page_token: Option<&str>,
    ) -> Result<(Vec<DatasetRecord>, Option<String>)>;
    async fn delete_dataset_records(&self, dataset_id: &str, record_ids: &[String]) -> Result<i64>;
    async fn get_dataset_experiment_ids(&self, dataset_id: &str) -> Result<Vec<String>>;
    async fn add_dataset_to_experiments(
        &self,
        dataset_id: &str,
        experiment_ids: &[String],
    ) -> Result<EvaluationDataset>;
    async fn remove_dataset_from_experiments(
        &self,
        dataset_id: &str,
        experiment_ids: &[String],
    ) -> Result<EvaluationDataset>;

    async fn register_scorer(
        &self,
        experiment_id: &str,
        name: &str,
        serialized_scorer: &str,
    ) -> Result<ScorerVersion>;
    async fn list_scorers(&self, scope: ScorerScope) -> Result<Vec<ScorerVersion>>;
    async fn list_scorer_versions(
        &self,
        experiment_id: &str,
        name: &str,
    ) -> Result<Vec<ScorerVersion>>;
    async fn get_scorer(
        &self,
        experiment_id: &str,
        name: &str,
        version: Option<i64>,
    ) -> Result<ScorerVersion>;
    async fn delete_scorer(
        &self,
        experiment_id: &str,
        name: &str,
        version: Option<i64>,
    ) -> Result<()>;
    async fn upsert_online_scoring_config(
        &self,
        experiment_id: &str,
        name: &str,
        sample_rate: f64,
        filter_string: Option<&str>,
    ) -> Result<OnlineScoringConfig>;
    async fn get_online_scoring_configs(
        &self,
        scorer_ids: &[String],
    ) -> Result<Vec<OnlineScoringConfig>>;
}

#[async_trait]
impl GenAiStore for SqlStore {
    async fn create_dataset(
        &self,
        name: &str,
        tags: Option<Vec<(String, PyValue)>>,
        experiment_ids: &[String],
    ) -> Result<EvaluationDataset> {
        self.create_dataset_impl(name, tags, experiment_ids).await
    }
    async fn get_dataset(&self, dataset_id: &str) -> Result<EvaluationDataset> {
        self.get_dataset_impl(dataset_id).await
    }
    async fn delete_dataset(&self, dataset_id: &str) -> Result<()> {
        self.delete_dataset_impl(dataset_id).await
    }
    async fn search_datasets(&self, req: &SearchDatasets) -> Result<Page<EvaluationDataset>> {
        self.search_datasets_impl(req).await
    }
    async fn set_dataset_tags(&self, dataset_id: &str, tags: Vec<(String, PyValue)>) -> Result<()> {
        self.set_dataset_tags_impl(dataset_id, tags).await
    }
    async fn delete_dataset_tag(&self, dataset_id: &str, key: &str) -> Result<()> {
        self.delete_dataset_tag_impl(dataset_id, key).await
    }
    async fn upsert_dataset_records(
        &self,
        dataset_id: &str,
        records: Vec<PyValue>,
    ) -> Result<(i64, i64)> {
        self.upsert_dataset_records_impl(dataset_id, records).await
    }
    async fn get_dataset_records(
        &self,
        dataset_id: &str,
        max_results: i64,
        page_token: Option<&str>,
    ) -> Result<(Vec<DatasetRecord>, Option<String>)> {
        self.get_dataset_records_impl(dataset_id, max_results, page_token)
            .await
    }
    async fn delete_dataset_records(&self, dataset_id: &str, record_ids: &[String]) -> Result<i64> {
        self.delete_dataset_records_impl(dataset_id, record_ids)
            .await
    }
    async fn get_dataset_experiment_ids(&self, dataset_id: &str) -> Result<Vec<String>> {
        self.get_dataset_experiment_ids_impl(dataset_id).await
    }
    async fn add_dataset_to_experiments(
        &self,
        dataset_id: &str,
        experiment_ids: &[String],
    ) -> Result<EvaluationDataset> {
        self.add_dataset_to_experiments_impl(dataset_id, experiment_ids)
            .await
    }
    async fn remove_dataset_from_experiments(
        &self,
        dataset_id: &str,
        experiment_ids: &[String],
    ) -> Result<EvaluationDataset> {
        self.remove_dataset_from_experiments_impl(dataset_id, experiment_ids)
            .await
    }

    async fn register_scorer(
        &self,
        experiment_id: &str,
        name: &str,
        serialized_scorer: &str,
    ) -> Result<ScorerVersion> {
        self.register_scorer_impl(experiment_id, name, serialized_scorer)
            .await
    }
    async fn list_scorers(&self, scope: ScorerScope) -> Result<Vec<ScorerVersion>> {
        self.list_scorers_impl(scope).await
    }
    async fn list_scorer_versions(
        &self,
        experiment_id: &str,
        name: &str,
    ) -> Result<Vec<ScorerVersion>> {
        self.list_scorer_versions_impl(experiment_id, name).await
    }
    async fn get_scorer(
        &self,
        experiment_id: &str,
        name: &str,
        version: Option<i64>,
    ) -> Result<ScorerVersion> {
        self.get_scorer_impl(experiment_id, name, version).await
    }
    async fn delete_scorer(
        &self,
        experiment_id: &str,
        name: &str,
        version: Option<i64>,
    ) -> Result<()> {
        self.delete_scorer_impl(experiment_id, name, version).await
    }
    async fn upsert_online_scoring_config(
        &self,
        experiment_id: &str,
        name: &str,
        sample_rate: f64,
        filter_string: Option<&str>,
    ) -> Result<OnlineScoringConfig> {
        self.upsert_online_scoring_config_impl(experiment_id, name, sample_rate, filter_string)
            .await
    }
    async fn get_online_scoring_configs(
        &self,
        scorer_ids: &[String],
    ) -> Result<Vec<OnlineScoringConfig>> {
        self.get_online_scoring_configs_impl(scorer_ids).await
    }
}

/// The placeholder for a value written to a `JSON` column.
pub(crate) fn json_param(db: &Db) -> &'static str {
    match db.dialect {
        Dialect::Postgres => "CAST(? AS JSON)",
        Dialect::Sqlite | Dialect::MySql => "?",
    }
}

/// A `JSON` column read as text.
pub(crate) fn json_col(db: &Db, col: &str) -> String {
    match db.dialect {
        Dialect::MySql => format!("CAST({col} AS CHAR)"),
        Dialect::Sqlite | Dialect::Postgres => format!("CAST({col} AS TEXT)"),
    }
}

/// A column whose name is reserved on MySQL (`schema`).
pub(crate) fn quoted(db: &Db, col: &str) -> String {
    match db.dialect {
        Dialect::MySql => format!("`{col}`"),
        Dialect::Sqlite | Dialect::Postgres => format!("\"{col}\""),
    }
}

/// `hashlib.sha256(text).hexdigest()`.
pub(crate) fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}
