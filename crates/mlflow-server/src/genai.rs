//! GenAI evaluation handlers: evaluation datasets (`/datasets/...`) and the scorer registry
//! with online scoring configs (`/scorers/...`), all under `/api/3.0/mlflow` (+ `/ajax-api`).
//!
//! Wire facts: dataset `tags` and the `records` payloads are JSON *strings* (decoded here,
//! re-encoded with Python's `json.dumps` formatting); `online-config(s)` are plain JSON
//! endpoints (`_get_validated_flask_request_json`), not proto messages.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Msg, required};
use axum::Json;
use axum::extract::{Path, State};
use axum::routing::{get, patch, post, put};
use mlflow_domain::Error;
use mlflow_domain::genai::{
    DECORATOR_SCORER_NOT_SUPPORTED, has_call_source, validate_third_party_scorer_data,
};
use mlflow_domain::serde_util::{opt_string, string_list};
use mlflow_domain::traces::PyValue;
use mlflow_domain::validation::{invalid_value, py_json_str};
use mlflow_store::genai::{ScorerScope, SearchDatasets};
use serde::Deserialize;
use serde_json::{Value, json};

type JsonResult = ApiResult<Json<Value>>;

/// The dataset and scorer RPCs, relative to `/api/3.0/mlflow`.
pub fn v3_routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/datasets/create", post(create_dataset))
        .route(
            "/datasets/search",
            post(search_datasets).get(search_datasets),
        )
        .route(
            "/datasets/{dataset_id}",
            get(get_dataset).delete(delete_dataset),
        )
        .route("/datasets/{dataset_id}/tags", patch(set_dataset_tags))
        .route(
            "/datasets/{dataset_id}/tags/{key}",
            axum::routing::delete(delete_dataset_tag),
        )
        .route(
            "/datasets/{dataset_id}/records",
            post(upsert_dataset_records)
                .get(get_dataset_records)
                .delete(delete_dataset_records),
        )
        .route(
            "/datasets/{dataset_id}/experiment-ids",
            get(get_dataset_experiment_ids),
        )
        .route(
            "/datasets/{dataset_id}/add-experiments",
            post(add_dataset_to_experiments),
        )
        .route(
            "/datasets/{dataset_id}/remove-experiments",
            post(remove_dataset_from_experiments),
        )
        .route("/scorers/register", post(register_scorer))
        .route("/scorers/list", get(list_scorers))
        .route("/scorers/versions", get(list_scorer_versions))
        .route("/scorers/get", get(get_scorer))
        .route("/scorers/delete", axum::routing::delete(delete_scorer))
        .route("/scorers/online-configs", get(get_online_scoring_configs))
        .route("/scorers/online-config", put(upsert_online_scoring_config))
}

// ------------------------------------------------------------------ request helpers

fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => py_json_str(s),
        other => other.to_string(),
    }
}

/// `_assert_intlike`: an integer or a string holding one; `None` when absent.
fn intlike(raw: &Option<Value>, name: &str) -> ApiResult<Option<i64>> {
    let bad = |v: &Value| {
        ApiError(invalid_value(
            name,
            &shown(v),
            Some(&format!(
                " Hint: Value was of type '{}'. See the API docs for more information about \
                 request parameters.",
                py_type(v)
            )),
        ))
    };
    match raw {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| bad(v)),
        Some(v @ Value::String(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| bad(v)),
        Some(v) => Err(bad(v)),
    }
}

/// A JSON string field holding a JSON document (`json.loads(request_message.<field>)`).
fn json_field(raw: &str, field: &str) -> ApiResult<PyValue> {
    PyValue::loads(raw).ok_or_else(|| {
        ApiError(Error::invalid(format!(
            "Invalid value for parameter '{field}': it must be a JSON-encoded string, got {}",
            py_json_str(raw)
        )))
    })
}

/// A JSON object field decoded into its entries.
fn json_object(raw: &str, field: &str) -> ApiResult<Vec<(String, PyValue)>> {
    match json_field(raw, field)? {
        PyValue::Dict(kv) => Ok(kv),
        _ => Err(ApiError(Error::invalid(format!(
            "Invalid value for parameter '{field}': it must be a JSON object"
        )))),
    }
}

// ------------------------------------------------------------------ datasets

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateDataset {
    #[serde(deserialize_with = "opt_string")]
    name: Option<String>,
    #[serde(deserialize_with = "string_list", alias = "experimentIds")]
    experiment_ids: Vec<String>,
    #[serde(deserialize_with = "opt_string")]
    tags: Option<String>,
}

/// `POST /datasets/create`.
pub async fn create_dataset(State(s): State<AppState>, m: Msg<CreateDataset>) -> JsonResult {
    let req = m.value;
    let name = required(&req.name, "name")?;
    let tags = match req.tags.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => Some(json_object(t, "tags")?),
        None => None,
    };
    let ds = s
        .genai
        .create_dataset(name, tags, &req.experiment_ids)
        .await?;
    Ok(Json(json!({ "dataset": ds.to_json() })))
}

/// `GET /datasets/{dataset_id}`.
pub async fn get_dataset(State(s): State<AppState>, Path(id): Path<String>) -> JsonResult {
    let ds = s.genai.get_dataset(&id).await?;
    Ok(Json(json!({ "dataset": ds.to_json() })))
}

/// `DELETE /datasets/{dataset_id}`.
pub async fn delete_dataset(State(s): State<AppState>, Path(id): Path<String>) -> JsonResult {
    s.genai.delete_dataset(&id).await?;
    Ok(Json(json!({})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchDatasetsReq {
    #[serde(deserialize_with = "string_list", alias = "experimentIds")]
    experiment_ids: Vec<String>,
    #[serde(deserialize_with = "opt_string", alias = "filterString")]
    filter_string: Option<String>,
    #[serde(alias = "maxResults")]
    max_results: Option<Value>,
    #[serde(deserialize_with = "string_list", alias = "orderBy")]
    order_by: Vec<String>,
    #[serde(deserialize_with = "opt_string", alias = "pageToken")]
    page_token: Option<String>,
}

/// `POST|GET /datasets/search`.
pub async fn search_datasets(State(s): State<AppState>, m: Msg<SearchDatasetsReq>) -> JsonResult {
    let req = m.value;
    // The proto default is 1000; `request_message.max_results or None` turns 0 into None.
    let max_results = match intlike(&req.max_results, "max_results")? {
        None => Some(1000),
        Some(0) => None,
        n => n,
    };
    let page = s
        .genai
        .search_datasets(&SearchDatasets {
            experiment_ids: (!req.experiment_ids.is_empty()).then_some(req.experiment_ids),
            filter: req.filter_string.unwrap_or_default(),
            max_results,
            order_by: req.order_by,
            page_token: req.page_token.filter(|t| !t.is_empty()),
        })
        .await?;
    let mut out = json!({});
    if !page.items.is_empty() {
        out["datasets"] = Value::Array(page.items.iter().map(|d| d.to_json()).collect());
    }
    if let Some(t) = page.next_page_token {
        out["next_page_token"] = json!(t);
    }
    Ok(Json(out))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SetDatasetTags {
    #[serde(deserialize_with = "opt_string")]
    tags: Option<String>,
}

/// `PATCH /datasets/{dataset_id}/tags`.
pub async fn set_dataset_tags(
    State(s): State<AppState>,
    Path(id): Path<String>,
    m: Msg<SetDatasetTags>,
) -> JsonResult {
    let tags = json_object(required(&m.value.tags, "tags")?, "tags")?;
    s.genai.set_dataset_tags(&id, tags).await?;
    Ok(Json(json!({})))
}

/// `DELETE /datasets/{dataset_id}/tags/{key}`.
pub async fn delete_dataset_tag(
    State(s): State<AppState>,
    Path((id, key)): Path<(String, String)>,
) -> JsonResult {
    s.genai.delete_dataset_tag(&id, &key).await?;
    Ok(Json(json!({})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpsertRecords {
    #[serde(deserialize_with = "opt_string")]
    records: Option<String>,
}

/// `POST /datasets/{dataset_id}/records`.
pub async fn upsert_dataset_records(
    State(s): State<AppState>,
    Path(id): Path<String>,
    m: Msg<UpsertRecords>,
) -> JsonResult {
    let records = match json_field(required(&m.value.records, "records")?, "records")? {
        PyValue::List(xs) => xs,
        _ => {
            return Err(ApiError(Error::invalid(
                "Invalid value for parameter 'records': it must be a JSON array",
            )));
        }
    };
    let (inserted, updated) = s.genai.upsert_dataset_records(&id, records).await?;
    Ok(Json(
        json!({ "inserted_count": inserted, "updated_count": updated }),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GetRecords {
    #[serde(alias = "maxResults")]
    max_results: Option<Value>,
    #[serde(deserialize_with = "opt_string", alias = "pageToken")]
    page_token: Option<String>,
}

/// `GET /datasets/{dataset_id}/records`: `records` is a JSON string of record dicts.
pub async fn get_dataset_records(
    State(s): State<AppState>,
    Path(id): Path<String>,
    m: Msg<GetRecords>,
) -> JsonResult {
    let max_results = intlike(&m.value.max_results, "max_results")?
        .filter(|n| *n != 0)
        .unwrap_or(1000)
        .max(1);
    let (records, next) = s
        .genai
        .get_dataset_records(&id, max_results, m.value.page_token.as_deref())
        .await?;
    let text = PyValue::List(records.iter().map(|r| r.to_py()).collect()).dumps(true);
    let mut out = json!({ "records": text });
    if let Some(t) = next {
        out["next_page_token"] = json!(t);
    }
    Ok(Json(out))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteRecords {
    #[serde(deserialize_with = "string_list", alias = "datasetRecordIds")]
    dataset_record_ids: Vec<String>,
}

/// `DELETE /datasets/{dataset_id}/records`.
pub async fn delete_dataset_records(
    State(s): State<AppState>,
    Path(id): Path<String>,
    m: Msg<DeleteRecords>,
) -> JsonResult {
    let n = s
        .genai
        .delete_dataset_records(&id, &m.value.dataset_record_ids)
        .await?;
    Ok(Json(json!({ "deleted_count": n })))
}

/// `GET /datasets/{dataset_id}/experiment-ids`.
pub async fn get_dataset_experiment_ids(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> JsonResult {
    let ids = s.genai.get_dataset_experiment_ids(&id).await?;
    Ok(Json(if ids.is_empty() {
        json!({})
    } else {
        json!({ "experiment_ids": ids })
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DatasetExperiments {
    #[serde(deserialize_with = "string_list", alias = "experimentIds")]
    experiment_ids: Vec<String>,
}

/// `POST /datasets/{dataset_id}/add-experiments`.
pub async fn add_dataset_to_experiments(
    State(s): State<AppState>,
    Path(id): Path<String>,
    m: Msg<DatasetExperiments>,
) -> JsonResult {
    let ds = s
        .genai
        .add_dataset_to_experiments(&id, &m.value.experiment_ids)
        .await?;
    Ok(Json(json!({ "dataset": ds.to_json() })))
}

/// `POST /datasets/{dataset_id}/remove-experiments`.
pub async fn remove_dataset_from_experiments(
    State(s): State<AppState>,
    Path(id): Path<String>,
    m: Msg<DatasetExperiments>,
) -> JsonResult {
    let ds = s
        .genai
        .remove_dataset_from_experiments(&id, &m.value.experiment_ids)
        .await?;
    Ok(Json(json!({ "dataset": ds.to_json() })))
}

// ------------------------------------------------------------------ scorers

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RegisterScorer {
    #[serde(deserialize_with = "opt_string", alias = "experimentId")]
    experiment_id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    name: Option<String>,
    #[serde(deserialize_with = "opt_string", alias = "serializedScorer")]
    serialized_scorer: Option<String>,
}

/// `MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS` (default off).
fn custom_scorers_enabled() -> bool {
    std::env::var("MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS")
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1"))
        .unwrap_or(false)
}

/// `POST /scorers/register`.
pub async fn register_scorer(State(s): State<AppState>, m: Msg<RegisterScorer>) -> JsonResult {
    let req = m.value;
    let experiment_id = required(&req.experiment_id, "experiment_id")?;
    let name = required(&req.name, "name")?;
    let serialized = required(&req.serialized_scorer, "serialized_scorer")?;
    // `_validate_serialized_scorer_payload`.
    let data = PyValue::loads(serialized)
        .ok_or_else(|| ApiError(Error::invalid("serialized_scorer must be valid JSON")))?;
    if has_call_source(&data) && !custom_scorers_enabled() {
        return Err(ApiError(Error::invalid(DECORATOR_SCORER_NOT_SUPPORTED)));
    }
    validate_third_party_scorer_data(&data)?;
    let v = s
        .genai
        .register_scorer(experiment_id, name, serialized)
        .await?;
    Ok(Json(v.register_response_json()))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListScorers {
    #[serde(deserialize_with = "opt_string", alias = "experimentId")]
    experiment_id: Option<String>,
    #[serde(alias = "experimentIds")]
    experiment_ids: Option<Value>,
}

fn string_items(v: &Value) -> Vec<String> {
    let one = |x: &Value| match x {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match v {
        Value::Array(xs) => xs.iter().map(one).collect(),
        Value::Null => Vec::new(),
        other => vec![one(other)],
    }
}

/// `GET /scorers/list`: latest version of every scorer of one, several or all active experiments.
pub async fn list_scorers(State(s): State<AppState>, m: Msg<ListScorers>) -> JsonResult {
    let req = m.value;
    let single = req.experiment_id.filter(|e| !e.is_empty());
    let scope = match (single, &req.experiment_ids) {
        (Some(_), Some(_)) => {
            return Err(ApiError(Error::invalid(
                "Cannot specify both 'experiment_id' and 'experiment_ids'. Use 'experiment_ids' \
                 to scope the query to multiple experiments, or 'experiment_id' to scope it to a \
                 single experiment.",
            )));
        }
        (None, Some(ids)) => {
            let mut ids = string_items(ids);
            let mut seen = Vec::new();
            ids.retain(|i| {
                let new = !seen.contains(i);
                seen.push(i.clone());
                new
            });
            for id in &ids {
                mlflow_domain::validation::parse_experiment_id(id)?;
            }
            ScorerScope::Experiments(ids)
        }
        (Some(id), None) => ScorerScope::Experiment(id),
        (None, None) => ScorerScope::AllActive,
    };
    let scorers = s.genai.list_scorers(scope).await?;
    Ok(Json(if scorers.is_empty() {
        json!({})
    } else {
        json!({ "scorers": scorers.iter().map(|v| v.to_json()).collect::<Vec<_>>() })
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ScorerRef {
    #[serde(deserialize_with = "opt_string", alias = "experimentId")]
    experiment_id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    name: Option<String>,
    version: Option<Value>,
}

/// `GET /scorers/versions`.
pub async fn list_scorer_versions(State(s): State<AppState>, m: Msg<ScorerRef>) -> JsonResult {
    let req = m.value;
    let experiment_id = required(&req.experiment_id, "experiment_id")?;
    let name = required(&req.name, "name")?;
    let versions = s.genai.list_scorer_versions(experiment_id, name).await?;
    Ok(Json(
        json!({ "scorers": versions.iter().map(|v| v.to_json()).collect::<Vec<_>>() }),
    ))
}

/// `GET /scorers/get`: one version, the latest when `version` is absent.
pub async fn get_scorer(State(s): State<AppState>, m: Msg<ScorerRef>) -> JsonResult {
    let req = m.value;
    let experiment_id = required(&req.experiment_id, "experiment_id")?;
    let name = required(&req.name, "name")?;
    let version = intlike(&req.version, "version")?;
    let v = s.genai.get_scorer(experiment_id, name, version).await?;
    Ok(Json(json!({ "scorer": v.to_json() })))
}

/// `DELETE /scorers/delete`: one version, or every version (and the scorer) when absent.
pub async fn delete_scorer(State(s): State<AppState>, m: Msg<ScorerRef>) -> JsonResult {
    let req = m.value;
    let experiment_id = required(&req.experiment_id, "experiment_id")?;
    let name = required(&req.name, "name")?;
    let version = intlike(&req.version, "version")?;
    s.genai.delete_scorer(experiment_id, name, version).await?;
    Ok(Json(json!({})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OnlineConfigs {
    scorer_ids: Option<Value>,
}

/// `GET /scorers/online-configs?scorer_ids=a&scorer_ids=b`.
pub async fn get_online_scoring_configs(
    State(s): State<AppState>,
    m: Msg<OnlineConfigs>,
) -> JsonResult {
    let ids = match &m.value.scorer_ids {
        None | Some(Value::Null) => return Err(ApiError(Error::missing("scorer_ids"))),
        Some(v) => string_items(v),
    };
    let configs = s.genai.get_online_scoring_configs(&ids).await?;
    Ok(Json(
        json!({ "configs": configs.iter().map(|c| c.to_json()).collect::<Vec<_>>() }),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpsertOnlineConfig {
    #[serde(deserialize_with = "opt_string")]
    experiment_id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    name: Option<String>,
    sample_rate: Option<Value>,
    filter_string: Option<Value>,
}

/// `PUT /scorers/online-config`: replaces the scorer's config (a new id every time).
pub async fn upsert_online_scoring_config(
    State(s): State<AppState>,
    m: Msg<UpsertOnlineConfig>,
) -> JsonResult {
    let req = m.value;
    let experiment_id = required(&req.experiment_id, "experiment_id")?;
    let name = required(&req.name, "name")?;
    let rate = match &req.sample_rate {
        None | Some(Value::Null) => return Err(ApiError(Error::missing("sample_rate"))),
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(Value::Bool(b)) => f64::from(u8::from(*b)),
        Some(Value::String(t)) => t
            .trim()
            .parse::<f64>()
            .map_err(|_| ApiError(Error::invalid("sample_rate must be a number, got str")))?,
        Some(other) => {
            return Err(ApiError(Error::invalid(format!(
                "sample_rate must be a number, got {}",
                py_type(other)
            ))));
        }
    };
    let filter = match &req.filter_string {
        None | Some(Value::Null) => None,
        Some(Value::String(f)) => Some(f.as_str()),
        Some(other) => {
            return Err(ApiError(Error::invalid(format!(
                "Invalid value {} for parameter 'filter_string' supplied: Value was of type '{}'. \
                 Expected type 'str' or None.",
                other,
                py_type(other)
            ))));
        }
    };
    let config = s
        .genai
        .upsert_online_scoring_config(experiment_id, name, rate, filter)
        .await?;
    Ok(Json(json!({ "config": config.to_json() })))
}
