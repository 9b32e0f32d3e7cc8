//! Request messages of the tracking API, decoded leniently (see [`crate::extract`]).
//!
//! Field names are the proto names; `alias` accepts the lowerCamelCase spelling.

use mlflow_domain::serde_util::{opt_f64, opt_i64, opt_string, string_list};
use mlflow_domain::tracking::Tag;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct KeyValue {
    #[serde(deserialize_with = "opt_string")]
    pub key: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub value: Option<String>,
}

impl KeyValue {
    pub fn to_tag(&self) -> Tag {
        Tag {
            key: self.key.clone().unwrap_or_default(),
            value: self.value.clone().unwrap_or_default(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateExperiment {
    #[serde(deserialize_with = "opt_string")]
    pub name: Option<String>,
    #[serde(alias = "artifactLocation", deserialize_with = "opt_string")]
    pub artifact_location: Option<String>,
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ExperimentId {
    #[serde(alias = "experimentId", deserialize_with = "opt_string")]
    pub experiment_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ExperimentByName {
    #[serde(alias = "experimentName", deserialize_with = "opt_string")]
    pub experiment_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpdateExperiment {
    #[serde(alias = "experimentId", deserialize_with = "opt_string")]
    pub experiment_id: Option<String>,
    #[serde(alias = "newName", deserialize_with = "opt_string")]
    pub new_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ExperimentTag {
    #[serde(alias = "experimentId", deserialize_with = "opt_string")]
    pub experiment_id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub key: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchExperiments {
    #[serde(alias = "maxResults", deserialize_with = "opt_i64")]
    pub max_results: Option<i64>,
    #[serde(alias = "pageToken", deserialize_with = "opt_string")]
    pub page_token: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub filter: Option<String>,
    #[serde(alias = "orderBy", deserialize_with = "string_list")]
    pub order_by: Vec<String>,
    #[serde(alias = "viewType", deserialize_with = "opt_string")]
    pub view_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateRun {
    #[serde(alias = "experimentId", deserialize_with = "opt_string")]
    pub experiment_id: Option<String>,
    #[serde(alias = "userId", deserialize_with = "opt_string")]
    pub user_id: Option<String>,
    #[serde(alias = "runName", deserialize_with = "opt_string")]
    pub run_name: Option<String>,
    #[serde(alias = "startTime", deserialize_with = "opt_i64")]
    pub start_time: Option<i64>,
    pub tags: Vec<KeyValue>,
}

/// Every run-scoped request carries `run_id` (and legacy `run_uuid`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RunRef {
    #[serde(alias = "runId", deserialize_with = "opt_string")]
    pub run_id: Option<String>,
    #[serde(alias = "runUuid", deserialize_with = "opt_string")]
    pub run_uuid: Option<String>,
}

impl RunRef {
    /// `run_id`, falling back to `run_uuid`; the error names `run_id` as the official does.
    pub fn get(&self) -> Result<&str, crate::error::ApiError> {
        match (self.run_id.as_deref(), self.run_uuid.as_deref()) {
            (Some(id), _) if !id.is_empty() => Ok(id),
            (_, Some(id)) if !id.is_empty() => Ok(id),
            _ => Err(crate::error::ApiError(mlflow_domain::Error::missing(
                "run_id",
            ))),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpdateRun {
    #[serde(flatten)]
    pub run: RunRef,
    #[serde(deserialize_with = "opt_string")]
    pub status: Option<String>,
    #[serde(alias = "endTime", deserialize_with = "opt_i64")]
    pub end_time: Option<i64>,
    #[serde(alias = "runName", deserialize_with = "opt_string")]
    pub run_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RunKeyValue {
    #[serde(flatten)]
    pub run: RunRef,
    #[serde(deserialize_with = "opt_string")]
    pub key: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MetricMsg {
    #[serde(deserialize_with = "opt_string")]
    pub key: Option<String>,
    #[serde(deserialize_with = "opt_f64")]
    pub value: Option<f64>,
    #[serde(deserialize_with = "opt_i64")]
    pub timestamp: Option<i64>,
    #[serde(deserialize_with = "opt_i64")]
    pub step: Option<i64>,
    #[serde(alias = "modelId", deserialize_with = "opt_string")]
    pub model_id: Option<String>,
    #[serde(alias = "datasetName", deserialize_with = "opt_string")]
    pub dataset_name: Option<String>,
    #[serde(alias = "datasetDigest", deserialize_with = "opt_string")]
    pub dataset_digest: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LogMetric {
    #[serde(flatten)]
    pub run: RunRef,
    #[serde(flatten)]
    pub metric: MetricMsg,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LogBatch {
    #[serde(flatten)]
    pub run: RunRef,
    pub metrics: Vec<MetricMsg>,
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DatasetMsg {
    #[serde(deserialize_with = "opt_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub digest: Option<String>,
    #[serde(alias = "sourceType", deserialize_with = "opt_string")]
    pub source_type: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub source: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub schema: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub profile: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DatasetInputMsg {
    pub tags: Vec<KeyValue>,
    pub dataset: Option<DatasetMsg>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ModelInputMsg {
    #[serde(alias = "modelId", deserialize_with = "opt_string")]
    pub model_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LogInputs {
    #[serde(flatten)]
    pub run: RunRef,
    pub datasets: Vec<DatasetInputMsg>,
    pub models: Vec<ModelInputMsg>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LogModel {
    #[serde(flatten)]
    pub run: RunRef,
    #[serde(alias = "modelJson", deserialize_with = "opt_string")]
    pub model_json: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchRuns {
    #[serde(alias = "experimentIds", deserialize_with = "string_list")]
    pub experiment_ids: Vec<String>,
    #[serde(deserialize_with = "opt_string")]
    pub filter: Option<String>,
    #[serde(alias = "runViewType", deserialize_with = "opt_string")]
    pub run_view_type: Option<String>,
    #[serde(alias = "maxResults", deserialize_with = "opt_i64")]
    pub max_results: Option<i64>,
    #[serde(alias = "orderBy", deserialize_with = "string_list")]
    pub order_by: Vec<String>,
    #[serde(alias = "pageToken", deserialize_with = "opt_string")]
    pub page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GetMetricHistory {
    #[serde(flatten)]
    pub run: RunRef,
    #[serde(alias = "metricKey", deserialize_with = "opt_string")]
    pub metric_key: Option<String>,
    #[serde(alias = "pageToken", deserialize_with = "opt_string")]
    pub page_token: Option<String>,
    #[serde(alias = "maxResults", deserialize_with = "opt_i64")]
    pub max_results: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GetMetricHistoryBulkInterval {
    #[serde(alias = "runIds", deserialize_with = "string_list")]
    pub run_ids: Vec<String>,
    #[serde(alias = "metricKey", deserialize_with = "opt_string")]
    pub metric_key: Option<String>,
    #[serde(alias = "startStep", deserialize_with = "opt_i64")]
    pub start_step: Option<i64>,
    #[serde(alias = "endStep", deserialize_with = "opt_i64")]
    pub end_step: Option<i64>,
    #[serde(alias = "maxResults", deserialize_with = "opt_i64")]
    pub max_results: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GetMetricHistoryBulk {
    #[serde(alias = "runId", deserialize_with = "string_list")]
    pub run_id: Vec<String>,
    #[serde(alias = "metricKey", deserialize_with = "opt_string")]
    pub metric_key: Option<String>,
    #[serde(alias = "maxResults", deserialize_with = "opt_i64")]
    pub max_results: Option<i64>,
}
