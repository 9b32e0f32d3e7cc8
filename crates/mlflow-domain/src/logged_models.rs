//! MLflow 3 logged models (`LoggedModel` proto) and dataset summaries in their wire shape.
//!
//! `model_type` / `source_run_id` are emitted whenever the column is not NULL (the official
//! server stores `""` when the request omits them, and then sends `""` back).

use crate::tracking::{Metric, Tag};
use serde::Serialize;

fn is_empty<T>(v: &[T]) -> bool {
    v.is_empty()
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LoggedModelInfo {
    pub model_id: String,
    pub experiment_id: String,
    pub name: String,
    pub creation_timestamp_ms: i64,
    pub last_updated_timestamp_ms: i64,
    pub artifact_uri: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(skip_serializing_if = "is_empty")]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct LoggedModelData {
    #[serde(skip_serializing_if = "is_empty")]
    pub params: Vec<Tag>,
    #[serde(skip_serializing_if = "is_empty")]
    pub metrics: Vec<Metric>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LoggedModel {
    pub info: LoggedModelInfo,
    pub data: LoggedModelData,
}

/// `LoggedModelStatus` as stored (`logged_models.status`): 0 unspecified, 1 pending, 2 ready,
/// 3 upload failed.
pub const LOGGED_MODEL_STATUSES: [&str; 4] = [
    "LOGGED_MODEL_STATUS_UNSPECIFIED",
    "LOGGED_MODEL_PENDING",
    "LOGGED_MODEL_READY",
    "LOGGED_MODEL_UPLOAD_FAILED",
];

/// The wire name of a stored status (unknown numbers read as unspecified).
pub fn status_name(status: i64) -> &'static str {
    usize::try_from(status)
        .ok()
        .and_then(|i| LOGGED_MODEL_STATUSES.get(i))
        .copied()
        .unwrap_or(LOGGED_MODEL_STATUSES[0])
}

/// Parses a status given by enum name or number. Like protobuf's `ParseDict` with
/// `ignore_unknown_fields`, an unknown value reads as unspecified (0).
pub fn parse_status(value: &str) -> i64 {
    if let Some(i) = LOGGED_MODEL_STATUSES.iter().position(|s| *s == value) {
        return i as i64;
    }
    match value.trim().parse::<i64>() {
        Ok(i) if (0..=3).contains(&i) => i,
        _ => 0,
    }
}

/// One `(experiment, dataset name, digest, context)` of `experiments/search-datasets`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DatasetSummary {
    pub experiment_id: String,
    pub name: String,
    pub digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(status_name(2), "LOGGED_MODEL_READY");
        assert_eq!(status_name(9), "LOGGED_MODEL_STATUS_UNSPECIFIED");
        assert_eq!(parse_status("LOGGED_MODEL_UPLOAD_FAILED"), 3);
        assert_eq!(parse_status("1"), 1);
        assert_eq!(parse_status("BOGUS"), 0);
        assert_eq!(parse_status("7"), 0);
    }
}
