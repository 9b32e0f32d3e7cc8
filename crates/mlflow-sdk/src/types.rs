//! Wire types: MLflow's proto messages in their JSON shape (snake_case, int64 as numbers).
//!
//! Every struct is lenient: unknown fields are ignored, missing fields default, int64 may
//! arrive as numbers or strings and metric values as `"NaN"`/`"Infinity"`.

use crate::util::{de_f64, de_i64, de_i64_opt, de_string, ser_f64};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A key/value tag (experiment, run, registered-model and model-version tags share this shape).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tag {
    /// Tag key.
    pub key: String,
    /// Tag value.
    pub value: String,
}

impl Tag {
    /// A tag.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// A run parameter (same shape as a tag; params are immutable once logged).
pub type Param = Tag;

/// An experiment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Experiment {
    /// Experiment id (an integer as a string; `"0"` is `Default`).
    pub experiment_id: String,
    /// Unique name.
    pub name: String,
    /// Where runs' artifacts go, e.g. `mlflow-artifacts:/1`.
    pub artifact_location: String,
    /// `active` or `deleted`.
    pub lifecycle_stage: String,
    /// Epoch ms of the last update.
    #[serde(
        deserialize_with = "de_i64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_update_time: Option<i64>,
    /// Epoch ms of creation.
    #[serde(
        deserialize_with = "de_i64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub creation_time: Option<i64>,
    /// Tags.
    pub tags: Vec<Tag>,
}

impl Experiment {
    /// The value of tag `key`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
}

/// One metric value at a step and time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Metric {
    /// Metric name.
    pub key: String,
    /// Value; NaN and ±inf travel as `"NaN"`/`"Infinity"`/`"-Infinity"`.
    #[serde(serialize_with = "ser_f64", deserialize_with = "de_f64")]
    pub value: f64,
    /// Epoch ms.
    #[serde(deserialize_with = "de_i64")]
    pub timestamp: i64,
    /// Training step.
    #[serde(deserialize_with = "de_i64")]
    pub step: i64,
    /// Logged model this value belongs to (3.x).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// Dataset name (3.x).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_name: Option<String>,
    /// Dataset digest (3.x).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<String>,
    /// Run id (set on logged-model metrics).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

impl Metric {
    /// A metric value at `step`, timestamped now.
    pub fn new(key: impl Into<String>, value: f64, step: i64) -> Self {
        Metric {
            key: key.into(),
            value,
            timestamp: crate::util::now_ms(),
            step,
            ..Default::default()
        }
    }
}

/// Run status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    /// In progress.
    #[default]
    Running,
    /// Scheduled, not started.
    Scheduled,
    /// Ended successfully.
    Finished,
    /// Ended with an error.
    Failed,
    /// Killed.
    Killed,
}

impl RunStatus {
    /// The wire name, e.g. `FINISHED`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Scheduled => "SCHEDULED",
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
            RunStatus::Killed => "KILLED",
        }
    }
}

/// Which lifecycle stages a search returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ViewType {
    /// Only active entities (the default).
    #[default]
    ActiveOnly,
    /// Only deleted entities.
    DeletedOnly,
    /// Both.
    All,
}

/// Run metadata.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunInfo {
    /// Run id (32 hex characters).
    pub run_id: String,
    /// Same as `run_id` (legacy).
    pub run_uuid: String,
    /// Display name.
    pub run_name: String,
    /// Owning experiment.
    pub experiment_id: String,
    /// User.
    pub user_id: String,
    /// Status.
    pub status: RunStatus,
    /// Epoch ms.
    #[serde(
        deserialize_with = "de_i64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_time: Option<i64>,
    /// Epoch ms, once ended.
    #[serde(
        deserialize_with = "de_i64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_time: Option<i64>,
    /// Artifact root, e.g. `mlflow-artifacts:/1/<run>/artifacts`.
    pub artifact_uri: String,
    /// `active` or `deleted`.
    pub lifecycle_stage: String,
}

/// Run data: latest metric values, params, tags.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunData {
    /// Latest value of each metric.
    pub metrics: Vec<Metric>,
    /// Params.
    pub params: Vec<Param>,
    /// Tags (including `mlflow.*` system tags).
    pub tags: Vec<Tag>,
}

/// A run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Run {
    /// Metadata.
    pub info: RunInfo,
    /// Metrics, params and tags.
    pub data: RunData,
    /// Dataset and model inputs (kept as JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inputs: Option<serde_json::Value>,
    /// Model outputs (kept as JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<serde_json::Value>,
}

impl Run {
    /// The run id.
    pub fn id(&self) -> &str {
        &self.info.run_id
    }
    /// The value of param `key`.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.data
            .params
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
    /// The value of tag `key`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.data
            .tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
    /// The latest value of metric `key`.
    pub fn metric(&self, key: &str) -> Option<f64> {
        self.data
            .metrics
            .iter()
            .find(|m| m.key == key)
            .map(|m| m.value)
    }
}

/// An artifact listing entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileInfo {
    /// Path relative to the listed directory's root.
    pub path: String,
    /// True for directories.
    pub is_dir: bool,
    /// Size in bytes, for files.
    #[serde(
        deserialize_with = "de_i64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub file_size: Option<i64>,
}

/// A model-registry alias.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Alias {
    /// Alias name.
    pub alias: String,
    /// Version it points to.
    #[serde(deserialize_with = "de_string")]
    pub version: String,
}

/// A registered model (also how prompts are stored).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegisteredModel {
    /// Unique name.
    pub name: String,
    /// Epoch ms.
    #[serde(
        deserialize_with = "de_i64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub creation_timestamp: Option<i64>,
    /// Epoch ms.
    #[serde(
        deserialize_with = "de_i64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_updated_timestamp: Option<i64>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Latest version per stage.
    pub latest_versions: Vec<ModelVersion>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Aliases.
    pub aliases: Vec<Alias>,
}

impl RegisteredModel {
    /// The value of tag `key`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
}

/// A registered model's version.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelVersion {
    /// Model name.
    pub name: String,
    /// Version number, as a string (`"1"`).
    #[serde(deserialize_with = "de_string")]
    pub version: String,
    /// Epoch ms.
    #[serde(
        deserialize_with = "de_i64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub creation_timestamp: Option<i64>,
    /// Epoch ms.
    #[serde(
        deserialize_with = "de_i64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_updated_timestamp: Option<i64>,
    /// Creator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Legacy stage (`None`, `Staging`, `Production`, `Archived`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_stage: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Source URI of the model files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Run that produced it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// `READY`, `PENDING_REGISTRATION` or `FAILED_REGISTRATION`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Status detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Link to the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_link: Option<String>,
    /// Aliases pointing at this version.
    pub aliases: Vec<String>,
    /// Logged model id (3.x).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
}

impl ModelVersion {
    /// The value of tag `key`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
}

/// A logged model's metadata (3.x).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggedModelInfo {
    /// `m-<hex>`.
    pub model_id: String,
    /// Owning experiment.
    pub experiment_id: String,
    /// Name.
    pub name: String,
    /// Epoch ms.
    #[serde(deserialize_with = "de_i64")]
    pub creation_timestamp_ms: i64,
    /// Epoch ms.
    #[serde(deserialize_with = "de_i64")]
    pub last_updated_timestamp_ms: i64,
    /// Artifact root, e.g. `mlflow-artifacts:/1/models/m-…/artifacts`.
    pub artifact_uri: String,
    /// `LOGGED_MODEL_PENDING`, `LOGGED_MODEL_READY`, `LOGGED_MODEL_UPLOAD_FAILED`.
    pub status: String,
    /// Model type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    /// Run that logged it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_run_id: Option<String>,
    /// Status detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// Tags.
    pub tags: Vec<Tag>,
}

/// A logged model's params and metrics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggedModelData {
    /// Params.
    pub params: Vec<Param>,
    /// Metrics.
    pub metrics: Vec<Metric>,
}

/// A logged model (3.x).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggedModel {
    /// Metadata.
    pub info: LoggedModelInfo,
    /// Params and metrics.
    pub data: LoggedModelData,
}

/// Where a trace lives.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TraceLocation {
    /// `MLFLOW_EXPERIMENT`.
    #[serde(rename = "type")]
    pub location_type: String,
    /// The experiment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mlflow_experiment: Option<ExperimentLocation>,
}

/// An experiment trace location.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExperimentLocation {
    /// Experiment id.
    pub experiment_id: String,
}

impl TraceLocation {
    /// The location of traces in experiment `experiment_id`.
    pub fn experiment(experiment_id: impl Into<String>) -> Self {
        TraceLocation {
            location_type: "MLFLOW_EXPERIMENT".into(),
            mlflow_experiment: Some(ExperimentLocation {
                experiment_id: experiment_id.into(),
            }),
        }
    }
}

/// `mlflow.TraceInfoV3`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TraceInfo {
    /// `tr-<32 hex>`.
    pub trace_id: String,
    /// Client-side request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
    /// Where it is stored.
    pub trace_location: TraceLocation,
    /// Preview of the root span's inputs (≤ 1000 chars).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_preview: Option<String>,
    /// Preview of the root span's outputs (≤ 1000 chars).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_preview: Option<String>,
    /// RFC 3339 start time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_time: Option<String>,
    /// Duration as `"1.234s"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_duration: Option<String>,
    /// `OK`, `ERROR`, `IN_PROGRESS`.
    pub state: String,
    /// Immutable metadata.
    pub trace_metadata: BTreeMap<String, String>,
    /// Mutable tags.
    pub tags: BTreeMap<String, String>,
    /// Assessments.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assessments: Vec<Assessment>,
}

impl TraceInfo {
    /// The experiment the trace belongs to.
    pub fn experiment_id(&self) -> Option<&str> {
        self.trace_location
            .mlflow_experiment
            .as_ref()
            .map(|e| e.experiment_id.as_str())
    }
}

/// Who produced an assessment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AssessmentSource {
    /// `HUMAN`, `LLM_JUDGE` or `CODE`.
    pub source_type: String,
    /// e.g. a user name or scorer name.
    pub source_id: String,
}

impl AssessmentSource {
    /// A `CODE` source.
    pub fn code(id: impl Into<String>) -> Self {
        AssessmentSource {
            source_type: "CODE".into(),
            source_id: id.into(),
        }
    }
    /// A `HUMAN` source.
    pub fn human(id: impl Into<String>) -> Self {
        AssessmentSource {
            source_type: "HUMAN".into(),
            source_id: id.into(),
        }
    }
}

/// A feedback value (or error).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeedbackValue {
    /// Any JSON value.
    pub value: serde_json::Value,
    /// Why the scorer failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
}

/// An expectation (ground truth) value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExpectationValue {
    /// Any JSON value.
    pub value: serde_json::Value,
}

/// `mlflow.assessments.Assessment`: feedback or an expectation attached to a trace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Assessment {
    /// `a-<hex>`, assigned by the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assessment_id: Option<String>,
    /// Name, e.g. `correctness`.
    pub assessment_name: String,
    /// Trace it belongs to.
    pub trace_id: String,
    /// Span it refers to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// Who produced it.
    pub source: AssessmentSource,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<String>,
    /// Feedback value (exclusive with `expectation`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback: Option<FeedbackValue>,
    /// Expectation value (exclusive with `feedback`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expectation: Option<ExpectationValue>,
    /// Explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
    /// Free-form metadata.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// The assessment this one replaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overrides: Option<String>,
    /// False once overridden.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid: Option<bool>,
    /// The run this assessment was produced in (evaluation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

impl Assessment {
    /// A feedback assessment on `trace_id`.
    pub fn feedback(
        trace_id: impl Into<String>,
        name: impl Into<String>,
        value: serde_json::Value,
        source: AssessmentSource,
    ) -> Self {
        Assessment {
            assessment_name: name.into(),
            trace_id: trace_id.into(),
            source,
            feedback: Some(FeedbackValue { value, error: None }),
            ..Default::default()
        }
    }
    /// An expectation assessment on `trace_id`.
    pub fn expectation(
        trace_id: impl Into<String>,
        name: impl Into<String>,
        value: serde_json::Value,
        source: AssessmentSource,
    ) -> Self {
        Assessment {
            assessment_name: name.into(),
            trace_id: trace_id.into(),
            source,
            expectation: Some(ExpectationValue { value }),
            ..Default::default()
        }
    }
}

/// One page of search results.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Token for the next page; `None` on the last page.
    pub next_page_token: Option<String>,
}
