//! Tracking entities (experiments, runs, metrics, params, tags, datasets) in their wire shape.
//!
//! Field order and presence follow the official `MessageToDict(preserving_proto_field_name=True)`
//! output: unset optional fields are omitted, empty repeated fields are omitted.

use crate::serde_util::ser_f64;
use serde::Serialize;

fn is_empty<T>(v: &[T]) -> bool {
    v.is_empty()
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Experiment {
    pub experiment_id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle_stage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<i64>,
    #[serde(skip_serializing_if = "is_empty")]
    pub tags: Vec<Tag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunInfo {
    pub run_uuid: String,
    pub experiment_id: String,
    pub run_name: String,
    pub user_id: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    pub artifact_uri: String,
    pub lifecycle_stage: String,
    pub run_id: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Metric {
    pub key: String,
    #[serde(serialize_with = "ser_f64")]
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

impl Metric {
    pub fn new(key: String, value: f64, timestamp: i64, step: i64) -> Self {
        Self {
            key,
            value,
            timestamp,
            step,
            dataset_name: None,
            dataset_digest: None,
            model_id: None,
            run_id: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct RunData {
    #[serde(skip_serializing_if = "is_empty")]
    pub metrics: Vec<Metric>,
    #[serde(skip_serializing_if = "is_empty")]
    pub params: Vec<Tag>,
    #[serde(skip_serializing_if = "is_empty")]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Dataset {
    pub name: String,
    pub digest: String,
    pub source_type: String,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DatasetInput {
    #[serde(skip_serializing_if = "is_empty")]
    pub tags: Vec<Tag>,
    pub dataset: Dataset,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelInput {
    pub model_id: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelOutput {
    pub model_id: String,
    pub step: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct RunInputs {
    #[serde(skip_serializing_if = "is_empty")]
    pub dataset_inputs: Vec<DatasetInput>,
    #[serde(skip_serializing_if = "is_empty")]
    pub model_inputs: Vec<ModelInput>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct RunOutputs {
    #[serde(skip_serializing_if = "is_empty")]
    pub model_outputs: Vec<ModelOutput>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Run {
    pub info: RunInfo,
    pub data: RunData,
    pub inputs: RunInputs,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<RunOutputs>,
}

/// Run lifecycle status, as the proto `RunStatus` enum.
pub const RUN_STATUSES: [&str; 5] = ["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"];

/// Which lifecycle stages a search covers (`ViewType` proto enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ViewType {
    #[default]
    ActiveOnly,
    DeletedOnly,
    All,
}

impl ViewType {
    /// Parses the wire name or the numeric enum value; unknown values are an error as in
    /// `ParseDict`.
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s {
            "ACTIVE_ONLY" | "1" => Ok(Self::ActiveOnly),
            "DELETED_ONLY" | "2" => Ok(Self::DeletedOnly),
            "ALL" | "3" => Ok(Self::All),
            other => Err(crate::Error::invalid(format!(
                "Invalid value '{other}' for view type. Valid values are ACTIVE_ONLY, DELETED_ONLY, ALL"
            ))),
        }
    }
}
