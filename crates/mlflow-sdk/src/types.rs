//! Wire types: MLflow's proto messages in their JSON shape (snake_case, int64 as numbers).
//!
//! Every struct is lenient: unknown fields are ignored, missing fields default, int64 may
//! arrive as numbers or strings and metric values as `"NaN"`/`"Infinity"`.

use crate::util::{de_f64, de_i64, de_i64_opt, de_string, ser_f64};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A key/value tag (experiment, run, registered-model and model-version tags share this shape).
///
/// ```
/// use mlflow_sdk::Tag;
/// let tag = Tag::new("team", "search");
/// assert_eq!(
///     serde_json::to_value(&tag).unwrap(),
///     serde_json::json!({"key": "team", "value": "search"})
/// );
/// ```
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
    ///
    /// ```
    /// use mlflow_sdk::Tag;
    /// let tag = Tag::new("mlflow.note.content", "baseline run");
    /// assert_eq!(tag.key, "mlflow.note.content");
    /// assert_eq!(tag.value, "baseline run");
    /// ```
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// A run parameter (same shape as a tag; params are immutable once logged).
///
/// ```
/// use mlflow_sdk::Param;
/// let params = [Param::new("lr", "0.01"), Param::new("epochs", "10")];
/// assert_eq!(params[1].value, "10");
/// ```
pub type Param = Tag;

/// An experiment.
///
/// ```
/// use mlflow_sdk::Experiment;
/// // As a server sends it (int64 fields may arrive as strings).
/// let exp: Experiment = serde_json::from_str(
///     r#"{"experiment_id": "1", "name": "demo", "lifecycle_stage": "active",
///         "creation_time": "1700000000000", "tags": [{"key": "team", "value": "search"}]}"#,
/// )
/// .unwrap();
/// assert_eq!(exp.name, "demo");
/// assert_eq!(exp.creation_time, Some(1_700_000_000_000));
/// assert_eq!(exp.tag("team"), Some("search"));
/// ```
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
    ///
    /// ```
    /// use mlflow_sdk::{Experiment, Tag};
    /// let exp = Experiment {
    ///     tags: vec![Tag::new("team", "search")],
    ///     ..Default::default()
    /// };
    /// assert_eq!(exp.tag("team"), Some("search"));
    /// assert_eq!(exp.tag("owner"), None);
    /// ```
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
}

/// One metric value at a step and time.
///
/// ```
/// use mlflow_sdk::Metric;
/// // NaN and infinities travel as strings, like the official client sends them.
/// let json = serde_json::to_value(Metric::new("loss", f64::NAN, 3)).unwrap();
/// assert_eq!(json["value"], "NaN");
/// assert_eq!(json["step"], 3);
///
/// let m: Metric = serde_json::from_str(
///     r#"{"key": "acc", "value": "Infinity", "timestamp": "1700000000000", "step": "2"}"#,
/// )
/// .unwrap();
/// assert!(m.value.is_infinite());
/// assert_eq!((m.timestamp, m.step), (1_700_000_000_000, 2));
/// ```
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
    ///
    /// ```
    /// use mlflow_sdk::Metric;
    /// let m = Metric::new("loss", 0.25, 10);
    /// assert_eq!((m.key.as_str(), m.value, m.step), ("loss", 0.25, 10));
    /// assert!(m.timestamp > 1_600_000_000_000); // now, in epoch ms
    /// assert!(m.model_id.is_none());
    /// ```
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
///
/// ```
/// use mlflow_sdk::RunStatus;
/// assert_eq!(RunStatus::default(), RunStatus::Running);
/// // Parsed from and serialized to the wire name.
/// let status: RunStatus = serde_json::from_str(r#""FINISHED""#).unwrap();
/// assert_eq!(status, RunStatus::Finished);
/// assert_eq!(serde_json::to_value(RunStatus::Killed).unwrap(), "KILLED");
/// ```
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
    ///
    /// ```
    /// use mlflow_sdk::RunStatus;
    /// assert_eq!(RunStatus::Finished.as_str(), "FINISHED");
    /// assert_eq!(RunStatus::Failed.as_str(), "FAILED");
    /// ```
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
///
/// ```
/// use mlflow_sdk::{SearchQuery, ViewType};
/// assert_eq!(ViewType::default(), ViewType::ActiveOnly);
/// let q = SearchQuery::new().view_type(ViewType::DeletedOnly);
/// assert_eq!(q.view_type, ViewType::DeletedOnly);
/// assert_eq!(serde_json::to_value(ViewType::DeletedOnly).unwrap(), "DELETED_ONLY");
/// ```
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
///
/// ```
/// use mlflow_sdk::{RunInfo, RunStatus};
/// let info: RunInfo = serde_json::from_str(
///     r#"{"run_id": "5f0c1e", "experiment_id": "1", "status": "FINISHED",
///         "start_time": 1700000000000, "end_time": "1700000060000"}"#,
/// )
/// .unwrap();
/// assert_eq!(info.status, RunStatus::Finished);
/// assert_eq!(info.end_time.unwrap() - info.start_time.unwrap(), 60_000);
/// ```
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
///
/// ```no_run
/// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
/// let run = client.get_run("0123456789abcdef0123456789abcdef").await?;
/// for p in &run.data.params {
///     println!("{} = {}", p.key, p.value);
/// }
/// for m in &run.data.metrics {
///     println!("{} = {} (step {})", m.key, m.value, m.step);
/// }
/// # Ok(()) }
/// ```
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
///
/// ```
/// use mlflow_sdk::Run;
/// let run: Run = serde_json::from_value(serde_json::json!({
///     "info": {"run_id": "5f0c1e", "experiment_id": "1", "status": "RUNNING"},
///     "data": {
///         "metrics": [{"key": "loss", "value": 0.5, "timestamp": 1700000000000_i64, "step": 3}],
///         "params": [{"key": "lr", "value": "0.01"}],
///         "tags": [{"key": "mlflow.runName", "value": "baseline"}]
///     }
/// }))
/// .unwrap();
/// assert_eq!(run.id(), "5f0c1e");
/// assert_eq!(run.param("lr"), Some("0.01"));
/// assert_eq!(run.tag("mlflow.runName"), Some("baseline"));
/// assert_eq!(run.metric("loss"), Some(0.5));
/// ```
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
    ///
    /// ```
    /// use mlflow_sdk::{Run, RunInfo};
    /// let run = Run {
    ///     info: RunInfo { run_id: "5f0c1e".into(), ..Default::default() },
    ///     ..Default::default()
    /// };
    /// assert_eq!(run.id(), "5f0c1e");
    /// ```
    pub fn id(&self) -> &str {
        &self.info.run_id
    }
    /// The value of param `key`.
    ///
    /// ```
    /// use mlflow_sdk::{Param, Run, RunData};
    /// let run = Run {
    ///     data: RunData { params: vec![Param::new("lr", "0.01")], ..Default::default() },
    ///     ..Default::default()
    /// };
    /// assert_eq!(run.param("lr"), Some("0.01"));
    /// assert_eq!(run.param("batch_size"), None);
    /// ```
    pub fn param(&self, key: &str) -> Option<&str> {
        self.data
            .params
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
    /// The value of tag `key`.
    ///
    /// ```
    /// use mlflow_sdk::{Run, RunData, Tag};
    /// let run = Run {
    ///     data: RunData { tags: vec![Tag::new("mlflow.runName", "baseline")], ..Default::default() },
    ///     ..Default::default()
    /// };
    /// assert_eq!(run.tag("mlflow.runName"), Some("baseline"));
    /// assert_eq!(run.tag("mlflow.parentRunId"), None);
    /// ```
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.data
            .tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
    /// The latest value of metric `key`.
    ///
    /// ```
    /// use mlflow_sdk::{Metric, Run, RunData};
    /// let run = Run {
    ///     data: RunData { metrics: vec![Metric::new("loss", 0.25, 7)], ..Default::default() },
    ///     ..Default::default()
    /// };
    /// assert_eq!(run.metric("loss"), Some(0.25));
    /// assert_eq!(run.metric("accuracy"), None);
    /// ```
    pub fn metric(&self, key: &str) -> Option<f64> {
        self.data
            .metrics
            .iter()
            .find(|m| m.key == key)
            .map(|m| m.value)
    }
}

/// An artifact listing entry.
///
/// ```no_run
/// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
/// for f in client.list_artifacts("0123456789abcdef0123456789abcdef", None).await? {
///     if f.is_dir {
///         println!("{}/", f.path);
///     } else {
///         println!("{} ({} bytes)", f.path, f.file_size.unwrap_or(0));
///     }
/// }
/// # Ok(()) }
/// ```
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
///
/// ```
/// use mlflow_sdk::Alias;
/// // Some servers send the version as a number; it is kept as a string.
/// let a: Alias = serde_json::from_str(r#"{"alias": "champion", "version": 3}"#).unwrap();
/// assert_eq!((a.alias.as_str(), a.version.as_str()), ("champion", "3"));
/// ```
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
///
/// ```no_run
/// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
/// let model = client.get_registered_model("churn-classifier").await?;
/// println!("{}: {}", model.name, model.description.as_deref().unwrap_or(""));
/// for a in &model.aliases {
///     println!("@{} -> version {}", a.alias, a.version);
/// }
/// # Ok(()) }
/// ```
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
    ///
    /// ```
    /// use mlflow_sdk::{RegisteredModel, Tag};
    /// let model = RegisteredModel {
    ///     name: "churn-classifier".into(),
    ///     tags: vec![Tag::new("owner", "ml-platform")],
    ///     ..Default::default()
    /// };
    /// assert_eq!(model.tag("owner"), Some("ml-platform"));
    /// assert_eq!(model.tag("task"), None);
    /// ```
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
}

/// A registered model's version.
///
/// ```
/// use mlflow_sdk::ModelVersion;
/// let v: ModelVersion = serde_json::from_str(
///     r#"{"name": "churn-classifier", "version": 2, "status": "READY",
///         "source": "models:/m-0123", "aliases": ["champion"]}"#,
/// )
/// .unwrap();
/// assert_eq!(v.version, "2");
/// assert_eq!(v.status.as_deref(), Some("READY"));
/// assert_eq!(v.aliases, ["champion"]);
/// ```
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
    ///
    /// ```
    /// use mlflow_sdk::{ModelVersion, Tag};
    /// let v = ModelVersion {
    ///     name: "churn-classifier".into(),
    ///     version: "2".into(),
    ///     tags: vec![Tag::new("validated", "true")],
    ///     ..Default::default()
    /// };
    /// assert_eq!(v.tag("validated"), Some("true"));
    /// assert_eq!(v.tag("deployed"), None);
    /// ```
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
}

/// A logged model's metadata (3.x).
///
/// ```
/// use mlflow_sdk::LoggedModelInfo;
/// let info: LoggedModelInfo = serde_json::from_str(
///     r#"{"model_id": "m-0123", "experiment_id": "1", "name": "agent",
///         "creation_timestamp_ms": "1700000000000", "status": "LOGGED_MODEL_READY"}"#,
/// )
/// .unwrap();
/// assert_eq!(info.creation_timestamp_ms, 1_700_000_000_000);
/// assert_eq!(info.status, "LOGGED_MODEL_READY");
/// ```
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
///
/// ```no_run
/// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
/// let model = client.get_logged_model("m-0123456789abcdef").await?;
/// for p in &model.data.params {
///     println!("{} = {}", p.key, p.value);
/// }
/// for m in &model.data.metrics {
///     println!("{} = {} (run {:?})", m.key, m.value, m.run_id);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggedModelData {
    /// Params.
    pub params: Vec<Param>,
    /// Metrics.
    pub metrics: Vec<Metric>,
}

/// A logged model (3.x).
///
/// ```no_run
/// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
/// let model = client.get_logged_model("m-0123456789abcdef").await?;
/// println!("{} ({}) at {}", model.info.name, model.info.status, model.info.artifact_uri);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggedModel {
    /// Metadata.
    pub info: LoggedModelInfo,
    /// Params and metrics.
    pub data: LoggedModelData,
}

/// Where a trace lives.
///
/// ```
/// use mlflow_sdk::TraceLocation;
/// assert_eq!(
///     serde_json::to_value(TraceLocation::experiment("1")).unwrap(),
///     serde_json::json!({"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": "1"}})
/// );
/// ```
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
///
/// ```
/// use mlflow_sdk::{ExperimentLocation, TraceLocation};
/// let loc = TraceLocation::experiment("1");
/// assert_eq!(
///     loc.mlflow_experiment,
///     Some(ExperimentLocation { experiment_id: "1".into() })
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExperimentLocation {
    /// Experiment id.
    pub experiment_id: String,
}

impl TraceLocation {
    /// The location of traces in experiment `experiment_id`.
    ///
    /// ```
    /// use mlflow_sdk::TraceLocation;
    /// let loc = TraceLocation::experiment("42");
    /// assert_eq!(loc.location_type, "MLFLOW_EXPERIMENT");
    /// assert_eq!(loc.mlflow_experiment.unwrap().experiment_id, "42");
    /// ```
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
///
/// ```
/// use mlflow_sdk::{TraceInfo, rfc3339_to_ms};
/// let info: TraceInfo = serde_json::from_value(serde_json::json!({
///     "trace_id": "tr-0af7651916cd43dd8448eb211c80319c",
///     "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": "1"}},
///     "request_time": "2025-11-22T15:28:49.681Z",
///     "execution_duration": "0.250s",
///     "state": "OK",
///     "tags": {"mlflow.traceName": "answer"}
/// }))
/// .unwrap();
/// assert_eq!(info.experiment_id(), Some("1"));
/// assert_eq!(info.tags["mlflow.traceName"], "answer");
/// assert_eq!(info.request_time.as_deref().and_then(rfc3339_to_ms), Some(1_763_825_329_681));
/// ```
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
    ///
    /// ```
    /// use mlflow_sdk::{TraceInfo, TraceLocation};
    /// let info = TraceInfo {
    ///     trace_id: "tr-0af7651916cd43dd8448eb211c80319c".into(),
    ///     trace_location: TraceLocation::experiment("1"),
    ///     ..Default::default()
    /// };
    /// assert_eq!(info.experiment_id(), Some("1"));
    /// assert_eq!(TraceInfo::default().experiment_id(), None);
    /// ```
    pub fn experiment_id(&self) -> Option<&str> {
        self.trace_location
            .mlflow_experiment
            .as_ref()
            .map(|e| e.experiment_id.as_str())
    }
}

/// Who produced an assessment.
///
/// ```
/// use mlflow_sdk::AssessmentSource;
/// assert_eq!(
///     serde_json::to_value(AssessmentSource::human("alice")).unwrap(),
///     serde_json::json!({"source_type": "HUMAN", "source_id": "alice"})
/// );
/// ```
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
    ///
    /// ```
    /// use mlflow_sdk::AssessmentSource;
    /// let src = AssessmentSource::code("exact_match");
    /// assert_eq!((src.source_type.as_str(), src.source_id.as_str()), ("CODE", "exact_match"));
    /// ```
    pub fn code(id: impl Into<String>) -> Self {
        AssessmentSource {
            source_type: "CODE".into(),
            source_id: id.into(),
        }
    }
    /// A `HUMAN` source.
    ///
    /// ```
    /// use mlflow_sdk::AssessmentSource;
    /// let src = AssessmentSource::human("alice@example.com");
    /// assert_eq!(src.source_type, "HUMAN");
    /// assert_eq!(src.source_id, "alice@example.com");
    /// ```
    pub fn human(id: impl Into<String>) -> Self {
        AssessmentSource {
            source_type: "HUMAN".into(),
            source_id: id.into(),
        }
    }
}

/// A feedback value (or error).
///
/// ```
/// use mlflow_sdk::{Assessment, AssessmentSource, FeedbackValue};
/// use serde_json::json;
/// let a = Assessment::feedback("tr-1", "relevance", json!(0.8), AssessmentSource::code("judge"));
/// assert_eq!(a.feedback, Some(FeedbackValue { value: json!(0.8), error: None }));
/// ```
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
///
/// ```
/// use mlflow_sdk::{Assessment, AssessmentSource, ExpectationValue};
/// use serde_json::json;
/// let a = Assessment::expectation("tr-1", "expected_answer", json!("Paris"), AssessmentSource::human("alice"));
/// assert_eq!(a.expectation, Some(ExpectationValue { value: json!("Paris") }));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExpectationValue {
    /// Any JSON value.
    pub value: serde_json::Value,
}

/// `mlflow.assessments.Assessment`: feedback or an expectation attached to a trace.
///
/// ```
/// use mlflow_sdk::{Assessment, AssessmentSource};
/// use serde_json::json;
/// let a = Assessment {
///     rationale: Some("cites the right document".into()),
///     ..Assessment::feedback("tr-1", "relevance", json!(0.8), AssessmentSource::code("judge"))
/// };
/// let body = serde_json::to_value(&a).unwrap();
/// assert_eq!(body["feedback"]["value"], 0.8);
/// assert_eq!(body["rationale"], "cites the right document");
/// assert!(body.get("assessment_id").is_none()); // assigned by the server
/// ```
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
    ///
    /// ```
    /// use mlflow_sdk::{Assessment, AssessmentSource};
    /// use serde_json::json;
    /// let a = Assessment::feedback("tr-1", "correctness", json!(true), AssessmentSource::human("alice"));
    /// assert_eq!(a.assessment_name, "correctness");
    /// assert_eq!(a.feedback.unwrap().value, json!(true));
    /// assert!(a.expectation.is_none());
    /// ```
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
    ///
    /// ```
    /// use mlflow_sdk::{Assessment, AssessmentSource};
    /// use serde_json::json;
    /// let a = Assessment::expectation("tr-1", "expected_answer", json!("Paris"), AssessmentSource::human("alice"));
    /// assert_eq!(a.trace_id, "tr-1");
    /// assert_eq!(a.expectation.unwrap().value, "Paris");
    /// assert!(a.feedback.is_none());
    /// ```
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
///
/// ```no_run
/// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
/// use mlflow_sdk::SearchQuery;
/// let mut q = SearchQuery::new().max_results(100);
/// loop {
///     let page = client.search_experiments_page(&q).await?;
///     for exp in &page.items {
///         println!("{} {}", exp.experiment_id, exp.name);
///     }
///     match page.next_page_token {
///         Some(token) => q.page_token = Some(token),
///         None => break,
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Token for the next page; `None` on the last page.
    pub next_page_token: Option<String>,
}
