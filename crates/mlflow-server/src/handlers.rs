//! Tracking API handlers: decode, call the store, encode. Each names its proto message.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Msg, required};
use crate::requests as rq;
use axum::Json;
use axum::extract::State;
use mlflow_domain::tracking::{Dataset, DatasetInput, Metric, ModelInput, Tag, ViewType};
use mlflow_domain::validation as v;
use mlflow_domain::{Error, now_ms};
use serde_json::{Value, json};

type JsonResult = ApiResult<Json<Value>>;

fn empty() -> JsonResult {
    Ok(Json(json!({})))
}

fn view_type(v: Option<&str>) -> Result<ViewType, ApiError> {
    match v {
        None | Some("") => Ok(ViewType::ActiveOnly),
        Some(s) => ViewType::parse(s).map_err(ApiError),
    }
}

fn tags_of(kvs: &[rq::KeyValue]) -> Vec<Tag> {
    kvs.iter().map(rq::KeyValue::to_tag).collect()
}

// ---------------------------------------------------------------- experiments

/// `CreateExperiment`
pub async fn create_experiment(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::CreateExperiment>,
) -> JsonResult {
    let name = required(&r.name, "name")?;
    for (i, t) in r.tags.iter().enumerate() {
        if t.key.is_none() {
            return Err(ApiError(Error::missing(&format!("tags[{i}].key"))));
        }
    }
    let id = s
        .store
        .create_experiment(name, r.artifact_location.as_deref(), &tags_of(&r.tags))
        .await?;
    Ok(Json(json!({ "experiment_id": id })))
}

/// `GetExperiment`
pub async fn get_experiment(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::ExperimentId>,
) -> JsonResult {
    let id = required(&r.experiment_id, "experiment_id")?;
    let e = s.store.get_experiment(id).await?;
    Ok(Json(json!({ "experiment": e })))
}

/// `GetExperimentByName`
pub async fn get_experiment_by_name(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::ExperimentByName>,
) -> JsonResult {
    let name = required(&r.experiment_name, "experiment_name")?;
    let e = s.store.get_experiment_by_name(name).await?;
    Ok(Json(json!({ "experiment": e })))
}

/// `SearchExperiments` (GET and POST)
pub async fn search_experiments(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::SearchExperiments>,
) -> JsonResult {
    // The official POST handler treats a missing max_results as 0 and fails; we use the
    // documented default (1000) instead (docs/compatibility.md).
    let req = mlflow_store::SearchExperiments {
        filter: r.filter.unwrap_or_default(),
        view: view_type(r.view_type.as_deref())?,
        max_results: r.max_results.unwrap_or(1000),
        order_by: r.order_by,
        page_token: r.page_token,
    };
    let page = s.store.search_experiments(&req).await?;
    let mut out = json!({});
    if !page.items.is_empty() {
        out["experiments"] = json!(page.items);
    }
    if let Some(t) = page.next_page_token {
        out["next_page_token"] = json!(t);
    }
    Ok(Json(out))
}

/// `UpdateExperiment`
pub async fn update_experiment(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::UpdateExperiment>,
) -> JsonResult {
    let id = required(&r.experiment_id, "experiment_id")?;
    if let Some(name) = r.new_name.as_deref().filter(|n| !n.is_empty()) {
        s.store.rename_experiment(id, name).await?;
    }
    empty()
}

/// `DeleteExperiment`
pub async fn delete_experiment(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::ExperimentId>,
) -> JsonResult {
    s.store
        .delete_experiment(required(&r.experiment_id, "experiment_id")?)
        .await?;
    empty()
}

/// `RestoreExperiment`
pub async fn restore_experiment(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::ExperimentId>,
) -> JsonResult {
    s.store
        .restore_experiment(required(&r.experiment_id, "experiment_id")?)
        .await?;
    empty()
}

/// `SetExperimentTag`
pub async fn set_experiment_tag(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::ExperimentTag>,
) -> JsonResult {
    let id = required(&r.experiment_id, "experiment_id")?;
    let key = required(&r.key, "key")?;
    let value = r
        .value
        .as_deref()
        .ok_or_else(|| ApiError(Error::missing("value")))?;
    s.store.set_experiment_tag(id, key, value).await?;
    empty()
}

/// `DeleteExperimentTag`
pub async fn delete_experiment_tag(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::ExperimentTag>,
) -> JsonResult {
    let id = required(&r.experiment_id, "experiment_id")?;
    let key = required(&r.key, "key")?;
    s.store.delete_experiment_tag(id, key).await?;
    empty()
}

// ---------------------------------------------------------------- runs

/// `CreateRun`
pub async fn create_run(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::CreateRun>,
) -> JsonResult {
    let experiment_id = r
        .experiment_id
        .clone()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "0".into());
    let run = s
        .store
        .create_run(mlflow_store::CreateRun {
            experiment_id,
            user_id: r.user_id,
            run_name: r.run_name,
            start_time: r.start_time,
            tags: tags_of(&r.tags),
        })
        .await?;
    Ok(Json(json!({ "run": run })))
}

/// `GetRun`
pub async fn get_run(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::RunRef>,
) -> JsonResult {
    let run = s.store.get_run(r.get()?).await?;
    Ok(Json(json!({ "run": run })))
}

/// `UpdateRun`
pub async fn update_run(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::UpdateRun>,
) -> JsonResult {
    let info = s
        .store
        .update_run(
            r.run.get()?,
            r.status.as_deref(),
            r.end_time,
            r.run_name.as_deref(),
        )
        .await?;
    Ok(Json(json!({ "run_info": info })))
}

/// `DeleteRun`
pub async fn delete_run(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::RunRef>,
) -> JsonResult {
    s.store.delete_run(r.get()?).await?;
    empty()
}

/// `RestoreRun`
pub async fn restore_run(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::RunRef>,
) -> JsonResult {
    s.store.restore_run(r.get()?).await?;
    empty()
}

fn metric_from_msg(m: &rq::MetricMsg, path: &str) -> Result<Metric, ApiError> {
    v::validate_metric(m.key.as_deref(), m.value, m.timestamp, path)?;
    let mut metric = Metric::new(
        m.key.clone().unwrap_or_default(),
        m.value.unwrap_or_default(),
        m.timestamp.unwrap_or_else(now_ms),
        m.step.unwrap_or(0),
    );
    metric.model_id = m.model_id.clone();
    metric.dataset_name = m.dataset_name.clone();
    metric.dataset_digest = m.dataset_digest.clone();
    Ok(metric)
}

/// `LogMetric`
pub async fn log_metric(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::LogMetric>,
) -> JsonResult {
    let run_id = r.run.get()?;
    required(&r.metric.key, "key")?;
    if r.metric.value.is_none() {
        return Err(ApiError(Error::missing("value")));
    }
    if r.metric.timestamp.is_none() {
        return Err(ApiError(Error::missing("timestamp")));
    }
    let metric = metric_from_msg(&r.metric, "")?;
    s.store
        .log_batch(run_id, vec![metric], Vec::new(), Vec::new())
        .await?;
    empty()
}

/// `LogParam`
pub async fn log_param(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::RunKeyValue>,
) -> JsonResult {
    let run_id = r.run.get()?;
    required(&r.key, "key")?;
    let (key, value) = v::validate_param(r.key.as_deref(), r.value, "")?;
    s.store.log_param(run_id, &key, &value).await?;
    empty()
}

/// `SetTag`
pub async fn set_tag(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::RunKeyValue>,
) -> JsonResult {
    let run_id = r.run.get()?;
    required(&r.key, "key")?;
    let (key, value) = v::validate_tag(r.key.as_deref(), r.value, "")?;
    s.store
        .log_batch(run_id, Vec::new(), Vec::new(), vec![Tag { key, value }])
        .await?;
    empty()
}

/// `DeleteTag`
pub async fn delete_tag(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::RunKeyValue>,
) -> JsonResult {
    let run_id = r.run.get()?;
    let key = required(&r.key, "key")?;
    s.store.delete_tag(run_id, key).await?;
    empty()
}

/// `LogBatch`: all-or-nothing, validated as `_validate_batch_log_*`.
pub async fn log_batch(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::LogBatch>,
) -> JsonResult {
    // No 1 MB body check: the official `_validate_batch_log_api_req` measures the parsed
    // dict (its key count), so it never refuses a large body and clients rely on that; the
    // entity limits below and the server-wide body limit bound a batch (docs/compatibility.md).
    let run_id = r.run.get()?;
    for (i, m) in r.metrics.iter().enumerate() {
        required(&m.key, &format!("metrics[{i}].key"))?;
        if m.value.is_none() {
            return Err(ApiError(Error::missing(&format!("metrics[{i}].value"))));
        }
        if m.timestamp.is_none() {
            return Err(ApiError(Error::missing(&format!("metrics[{i}].timestamp"))));
        }
    }
    for (i, p) in r.params.iter().enumerate() {
        required(&p.key, &format!("params[{i}].key"))?;
    }
    for (i, t) in r.tags.iter().enumerate() {
        required(&t.key, &format!("tags[{i}].key"))?;
    }
    v::validate_batch_limits(r.metrics.len(), r.params.len(), r.tags.len())?;
    v::validate_param_keys_unique(r.params.iter().filter_map(|p| p.key.as_deref()))?;
    let metrics = r
        .metrics
        .iter()
        .enumerate()
        .map(|(i, m)| metric_from_msg(m, &format!("metrics[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut params = Vec::with_capacity(r.params.len());
    for (i, p) in r.params.into_iter().enumerate() {
        let (key, value) = v::validate_param(p.key.as_deref(), p.value, &format!("params[{i}]"))?;
        params.push(Tag { key, value });
    }
    let mut tags = Vec::with_capacity(r.tags.len());
    for (i, t) in r.tags.into_iter().enumerate() {
        let (key, value) = v::validate_tag(t.key.as_deref(), t.value, &format!("tags[{i}]"))?;
        tags.push(Tag { key, value });
    }
    s.store.log_batch(run_id, metrics, params, tags).await?;
    empty()
}

/// `LogInputs`
pub async fn log_inputs(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::LogInputs>,
) -> JsonResult {
    let run_id = r.run.get()?;
    let mut datasets = Vec::with_capacity(r.datasets.len());
    for (i, d) in r.datasets.into_iter().enumerate() {
        let Some(ds) = d.dataset else {
            return Err(ApiError(Error::missing(&format!("datasets[{i}].dataset"))));
        };
        let name = required(&ds.name, &format!("datasets[{i}].dataset.name"))?.to_string();
        let digest = required(&ds.digest, &format!("datasets[{i}].dataset.digest"))?.to_string();
        let source_type = required(
            &ds.source_type,
            &format!("datasets[{i}].dataset.source_type"),
        )?
        .to_string();
        let source = required(&ds.source, &format!("datasets[{i}].dataset.source"))?.to_string();
        datasets.push(DatasetInput {
            tags: tags_of(&d.tags),
            dataset: Dataset {
                name,
                digest,
                source_type,
                source,
                schema: ds.schema,
                profile: ds.profile,
            },
        });
    }
    let models = r
        .models
        .into_iter()
        .filter_map(|m| m.model_id.map(|model_id| ModelInput { model_id }))
        .collect();
    s.store.log_inputs(run_id, datasets, models).await?;
    empty()
}

/// `LogModel` (legacy): appends the model to the `mlflow.log-model.history` run tag.
pub async fn log_model(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::LogModel>,
) -> JsonResult {
    let run_id = r.run.get()?;
    let model_json = required(&r.model_json, "model_json")?;
    let model: Value = serde_json::from_str(model_json).map_err(|e| {
        ApiError(Error::invalid(format!(
            "Malformed model info. \n {model_json} \n is not a valid JSON. {e}"
        )))
    })?;
    let missing: Vec<&str> = ["artifact_path", "flavors", "utc_time_created", "run_id"]
        .into_iter()
        .filter(|k| model.get(k).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(ApiError(Error::invalid(format!(
            "Model json is missing mandatory fields: {missing:?}"
        ))));
    }
    let run = s.store.get_run(run_id).await?;
    const KEY: &str = "mlflow.log-model.history";
    let mut history: Vec<Value> = run
        .data
        .tags
        .iter()
        .find(|t| t.key == KEY)
        .and_then(|t| serde_json::from_str(&t.value).ok())
        .unwrap_or_default();
    history.push(model);
    let tag = Tag {
        key: KEY.into(),
        value: Value::Array(history).to_string(),
    };
    s.store
        .log_batch(run_id, Vec::new(), Vec::new(), vec![tag])
        .await?;
    empty()
}

/// `SearchRuns`
pub async fn search_runs(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::SearchRuns>,
) -> JsonResult {
    let req = mlflow_store::SearchRuns {
        experiment_ids: r.experiment_ids,
        filter: r.filter.unwrap_or_default(),
        view: view_type(r.run_view_type.as_deref())?,
        max_results: r.max_results.unwrap_or(1000),
        order_by: r.order_by,
        page_token: r.page_token,
    };
    let page = s.store.search_runs(&req).await?;
    let mut out = json!({});
    if !page.items.is_empty() {
        out["runs"] = json!(page.items);
    }
    if let Some(t) = page.next_page_token {
        out["next_page_token"] = json!(t);
    }
    Ok(Json(out))
}

// ---------------------------------------------------------------- metrics

/// `GetMetricHistory`
pub async fn get_metric_history(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::GetMetricHistory>,
) -> JsonResult {
    let run_id = r.run.get()?;
    let key = required(&r.metric_key, "metric_key")?;
    let page = s
        .store
        .get_metric_history(run_id, key, r.max_results, r.page_token.as_deref())
        .await?;
    let mut out = json!({});
    if !page.items.is_empty() {
        out["metrics"] = json!(page.items);
    }
    if let Some(t) = page.next_page_token {
        out["next_page_token"] = json!(t);
    }
    Ok(Json(out))
}

const MAX_RUNS_GET_METRIC_HISTORY_BULK: usize = 100;
const MAX_RESULTS_PER_RUN: i64 = 2500;

/// `GetMetricHistoryBulkInterval`
pub async fn get_metric_history_bulk_interval(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::GetMetricHistoryBulkInterval>,
) -> JsonResult {
    if r.run_ids.is_empty() {
        return Err(ApiError(Error::missing("run_ids")));
    }
    if r.run_ids.len() > MAX_RUNS_GET_METRIC_HISTORY_BULK {
        return Err(ApiError(Error::invalid(format!(
            "GetMetricHistoryBulkInterval request must specify at most {MAX_RUNS_GET_METRIC_HISTORY_BULK} \
             run_ids. Received {} run_ids.",
            r.run_ids.len()
        ))));
    }
    let key = required(&r.metric_key, "metric_key")?;
    let max_results = r.max_results.unwrap_or(MAX_RESULTS_PER_RUN);
    if !(1..=MAX_RESULTS_PER_RUN).contains(&max_results) {
        return Err(ApiError(Error::invalid(format!(
            "max_results must be between 1 and {MAX_RESULTS_PER_RUN}."
        ))));
    }
    let steps = match (r.start_step, r.end_step) {
        (Some(a), Some(b)) if a > b => {
            return Err(ApiError(Error::invalid(format!(
                "end_step must be greater than start_step. Found start_step={a} and end_step={b}."
            ))));
        }
        (Some(a), Some(b)) => Some((a, b)),
        (None, None) => None,
        _ => {
            return Err(ApiError(Error::invalid(
                "If either start step or end step are specified, both must be specified.",
            )));
        }
    };
    let metrics = s
        .store
        .get_metric_history_bulk_interval(&r.run_ids, key, max_results, steps)
        .await?;
    let mut out = json!({});
    if !metrics.is_empty() {
        out["metrics"] = json!(metrics);
    }
    Ok(Json(out))
}

/// UI-only `metrics/get-history-bulk`: full histories of several runs, tagged with run ids.
pub async fn get_metric_history_bulk(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<rq::GetMetricHistoryBulk>,
) -> JsonResult {
    if r.run_id.is_empty() {
        return Err(ApiError(Error::invalid(
            "GetMetricHistoryBulk request must specify at least one run_id.",
        )));
    }
    if r.run_id.len() > MAX_RUNS_GET_METRIC_HISTORY_BULK {
        return Err(ApiError(Error::invalid(format!(
            "GetMetricHistoryBulk request cannot specify more than {MAX_RUNS_GET_METRIC_HISTORY_BULK} run_ids. Received {} run_ids.",
            r.run_id.len()
        ))));
    }
    let key = required(&r.metric_key, "metric_key")?;
    let max = r.max_results.unwrap_or(25_000).clamp(1, 25_000);
    let mut all = Vec::new();
    for run_id in &r.run_id {
        let page = s
            .store
            .get_metric_history(run_id, key, Some(max), None)
            .await?;
        all.extend(page.items.into_iter().map(|mut m| {
            m.run_id = Some(run_id.clone());
            m
        }));
    }
    all.truncate(max as usize);
    Ok(Json(json!({ "metrics": all })))
}
