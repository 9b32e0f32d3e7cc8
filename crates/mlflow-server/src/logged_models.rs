//! MLflow 3 logged models: `logged-models/*`, `runs/outputs` and the UI's
//! `experiments/search-datasets`. Thin handlers over [`mlflow_store::LoggedModelStore`].
//!
//! Official quirks kept on purpose: `PATCH logged-models/{id}` requires `model_id` in the body
//! and finalizes *that* id; `POST logged-models/{id}/params` requires a body `model_id` but
//! writes to the path's model; an unknown status reads as `LOGGED_MODEL_STATUS_UNSPECIFIED`.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Msg, required};
use crate::requests::KeyValue;
use axum::extract::{Path, State};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use mlflow_domain::Error;
use mlflow_domain::logged_models::parse_status;
use mlflow_domain::serde_util::{opt_bool, opt_i64, opt_string, string_list};
use mlflow_domain::tracking::{ModelOutput, Tag};
use mlflow_store::logged_models::{LmDataset, LmOrderBy};
use serde::Deserialize;
use serde_json::{Value, json};

type JsonResult = ApiResult<Json<Value>>;

/// The logged-model RPCs, relative to `/api/2.0/mlflow` (and its `/ajax-api` mirror).
pub fn logged_model_routes() -> Router<AppState> {
    Router::new()
        .route("/logged-models", post(create_logged_model))
        .route("/logged-models/search", post(search_logged_models))
        .route(
            "/logged-models/{model_id}",
            get(get_logged_model)
                .patch(finalize_logged_model)
                .delete(delete_logged_model),
        )
        .route(
            "/logged-models/{model_id}/tags",
            patch(set_logged_model_tags),
        )
        .route(
            "/logged-models/{model_id}/tags/{tag_key}",
            delete(delete_logged_model_tag),
        )
        .route(
            "/logged-models/{model_id}/params",
            post(log_logged_model_params),
        )
        .route(
            "/logged-models/{model_id}/artifacts/directories",
            get(list_logged_model_artifacts),
        )
        .route("/runs/outputs", post(log_outputs))
}

// ---------------------------------------------------------------- requests

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateLoggedModelReq {
    #[serde(alias = "experimentId", deserialize_with = "opt_string")]
    pub experiment_id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub name: Option<String>,
    #[serde(alias = "modelType", deserialize_with = "opt_string")]
    pub model_type: Option<String>,
    #[serde(alias = "sourceRunId", deserialize_with = "opt_string")]
    pub source_run_id: Option<String>,
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GetLoggedModelReq {
    #[serde(alias = "allowDeleted", deserialize_with = "opt_string")]
    pub allow_deleted: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FinalizeLoggedModelReq {
    #[serde(alias = "modelId", deserialize_with = "opt_string")]
    pub model_id: Option<String>,
    /// The enum name or its number.
    pub status: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoggedModelTagsReq {
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoggedModelParamsReq {
    #[serde(alias = "modelId", deserialize_with = "opt_string")]
    pub model_id: Option<String>,
    pub params: Vec<KeyValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DatasetFilterMsg {
    #[serde(alias = "datasetName", deserialize_with = "opt_string")]
    pub dataset_name: Option<String>,
    #[serde(alias = "datasetDigest", deserialize_with = "opt_string")]
    pub dataset_digest: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OrderByMsg {
    #[serde(alias = "fieldName", deserialize_with = "opt_string")]
    pub field_name: Option<String>,
    #[serde(deserialize_with = "opt_bool")]
    pub ascending: Option<bool>,
    #[serde(alias = "datasetName", deserialize_with = "opt_string")]
    pub dataset_name: Option<String>,
    #[serde(alias = "datasetDigest", deserialize_with = "opt_string")]
    pub dataset_digest: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchLoggedModelsReq {
    #[serde(alias = "experimentIds", deserialize_with = "string_list")]
    pub experiment_ids: Vec<String>,
    #[serde(deserialize_with = "opt_string")]
    pub filter: Option<String>,
    pub datasets: Vec<DatasetFilterMsg>,
    #[serde(alias = "maxResults", deserialize_with = "opt_i64")]
    pub max_results: Option<i64>,
    #[serde(alias = "orderBy")]
    pub order_by: Vec<OrderByMsg>,
    #[serde(alias = "pageToken", deserialize_with = "opt_string")]
    pub page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListArtifactsReq {
    #[serde(alias = "artifactDirectoryPath", deserialize_with = "opt_string")]
    pub artifact_directory_path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ModelOutputMsg {
    #[serde(alias = "modelId", deserialize_with = "opt_string")]
    pub model_id: Option<String>,
    #[serde(deserialize_with = "opt_i64")]
    pub step: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LogOutputsReq {
    #[serde(alias = "runId", deserialize_with = "opt_string")]
    pub run_id: Option<String>,
    /// `None` when absent (required), `Some(vec![])` for an explicit empty list (accepted).
    pub models: Option<Vec<ModelOutputMsg>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchDatasetsReq {
    #[serde(alias = "experimentIds", deserialize_with = "string_list")]
    pub experiment_ids: Vec<String>,
}

fn tags_of(kvs: &[KeyValue]) -> Vec<Tag> {
    kvs.iter().map(KeyValue::to_tag).collect()
}

fn model_json(m: mlflow_domain::logged_models::LoggedModel) -> JsonResult {
    Ok(Json(json!({ "model": m })))
}

// ---------------------------------------------------------------- handlers

/// `CreateLoggedModel`
pub async fn create_logged_model(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<CreateLoggedModelReq>,
) -> JsonResult {
    let experiment_id = required(&r.experiment_id, "experiment_id")?.to_string();
    let m = s
        .store
        .create_logged_model(mlflow_store::CreateLoggedModel {
            experiment_id,
            name: r.name,
            model_type: r.model_type,
            source_run_id: r.source_run_id,
            params: tags_of(&r.params),
            tags: tags_of(&r.tags),
        })
        .await?;
    model_json(m)
}

/// `GetLoggedModel`
pub async fn get_logged_model(
    State(s): State<AppState>,
    Path(model_id): Path<String>,
    Msg { value: r, .. }: Msg<GetLoggedModelReq>,
) -> JsonResult {
    let allow_deleted = r
        .allow_deleted
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    model_json(s.store.get_logged_model(&model_id, allow_deleted).await?)
}

/// `FinalizeLoggedModel`
pub async fn finalize_logged_model(
    State(s): State<AppState>,
    Path(_path_id): Path<String>,
    Msg { value: r, .. }: Msg<FinalizeLoggedModelReq>,
) -> JsonResult {
    let model_id = required(&r.model_id, "model_id")?;
    let status = match &r.status {
        None | Some(Value::Null) => return Err(ApiError(Error::missing("status"))),
        Some(Value::String(v)) => parse_status(v),
        Some(Value::Number(n)) => parse_status(&n.to_string()),
        Some(other) => {
            return Err(ApiError(Error::invalid(format!(
                "Invalid value {other} for parameter 'status' supplied."
            ))));
        }
    };
    model_json(s.store.finalize_logged_model(model_id, status).await?)
}

/// `DeleteLoggedModel`
pub async fn delete_logged_model(
    State(s): State<AppState>,
    Path(model_id): Path<String>,
) -> JsonResult {
    s.store.delete_logged_model(&model_id).await?;
    Ok(Json(json!({})))
}

/// `SetLoggedModelTags`
pub async fn set_logged_model_tags(
    State(s): State<AppState>,
    Path(model_id): Path<String>,
    Msg { value: r, .. }: Msg<LoggedModelTagsReq>,
) -> JsonResult {
    s.store
        .set_logged_model_tags(&model_id, tags_of(&r.tags))
        .await?;
    Ok(Json(json!({})))
}

/// `DeleteLoggedModelTag`
pub async fn delete_logged_model_tag(
    State(s): State<AppState>,
    Path((model_id, tag_key)): Path<(String, String)>,
) -> JsonResult {
    s.store.delete_logged_model_tag(&model_id, &tag_key).await?;
    Ok(Json(json!({})))
}

/// `LogLoggedModelParamsRequest`
pub async fn log_logged_model_params(
    State(s): State<AppState>,
    Path(model_id): Path<String>,
    Msg { value: r, .. }: Msg<LoggedModelParamsReq>,
) -> JsonResult {
    required(&r.model_id, "model_id")?;
    s.store
        .log_logged_model_params(&model_id, tags_of(&r.params))
        .await?;
    Ok(Json(json!({})))
}

/// `SearchLoggedModels`
pub async fn search_logged_models(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<SearchLoggedModelsReq>,
) -> JsonResult {
    if r.experiment_ids.is_empty() {
        return Err(ApiError(Error::missing("experiment_ids")));
    }
    let req = mlflow_store::SearchLoggedModels {
        experiment_ids: r.experiment_ids,
        filter: r.filter,
        datasets: r
            .datasets
            .into_iter()
            .map(|d| LmDataset {
                name: d.dataset_name.unwrap_or_default(),
                digest: d.dataset_digest.filter(|d| !d.is_empty()),
            })
            .collect(),
        max_results: r.max_results,
        order_by: r
            .order_by
            .into_iter()
            .map(|o| LmOrderBy {
                field_name: o.field_name.unwrap_or_default(),
                ascending: o.ascending.unwrap_or(true),
                dataset_name: o.dataset_name.filter(|d| !d.is_empty()),
                dataset_digest: o.dataset_digest.filter(|d| !d.is_empty()),
            })
            .collect(),
        page_token: r.page_token,
    };
    let page = s.store.search_logged_models(&req).await?;
    let mut out = json!({});
    if !page.items.is_empty() {
        out["models"] = json!(page.items);
    }
    if let Some(t) = page.next_page_token {
        out["next_page_token"] = json!(t);
    }
    Ok(Json(out))
}

/// `ListLoggedModelArtifacts`: lists `artifact_directory_path` (root when absent) under the
/// model's artifact location.
pub async fn list_logged_model_artifacts(
    State(s): State<AppState>,
    Path(model_id): Path<String>,
    Msg { value: r, .. }: Msg<ListArtifactsReq>,
) -> JsonResult {
    let model = s.store.get_logged_model(&model_id, false).await?;
    let root = model.info.artifact_uri;
    let dir = r.artifact_directory_path.unwrap_or_default();
    let files = crate::logged_model_artifacts::list(&s, &root, &dir).await?;
    let mut out = json!({ "root_uri": root });
    if !files.is_empty() {
        out["files"] = Value::Array(files);
    }
    Ok(Json(out))
}

/// `LogOutputs`
pub async fn log_outputs(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<LogOutputsReq>,
) -> JsonResult {
    let run_id = required(&r.run_id, "run_id")?;
    let Some(models) = r.models else {
        return Err(ApiError(Error::missing("models")));
    };
    let models = models
        .into_iter()
        .map(|m| ModelOutput {
            model_id: m.model_id.unwrap_or_default(),
            step: m.step.unwrap_or(0),
        })
        .collect();
    s.store.log_outputs(run_id, models).await?;
    Ok(Json(json!({})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ArtifactFileReq {
    #[serde(deserialize_with = "opt_string")]
    pub artifact_file_path: Option<String>,
}

/// UI-only `logged-models/{id}/artifacts/files?artifact_file_path=`: one artifact file.
pub async fn get_logged_model_artifact(
    State(s): State<AppState>,
    Path(model_id): Path<String>,
    Msg { value: r, .. }: Msg<ArtifactFileReq>,
) -> ApiResult<axum::response::Response> {
    let Some(file) = r.artifact_file_path.filter(|p| !p.is_empty()) else {
        return Err(ApiError(Error::new(
            mlflow_domain::ErrorCode::BadRequest,
            "Request must include the \"artifact_file_path\" query parameter.",
        )));
    };
    let model = s.store.get_logged_model(&model_id, false).await?;
    crate::logged_model_artifacts::download(&s, &model.info.artifact_uri, &file).await
}

const MAX_EXPERIMENT_IDS_PER_SEARCH_DATASETS: usize = 20;

/// UI-only `experiments/search-datasets` (`/ajax-api` only, as official).
pub async fn search_datasets(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<SearchDatasetsReq>,
) -> JsonResult {
    if r.experiment_ids.is_empty() {
        return Err(ApiError(Error::invalid(
            "SearchDatasets request must specify at least one experiment_id.",
        )));
    }
    if r.experiment_ids.len() > MAX_EXPERIMENT_IDS_PER_SEARCH_DATASETS {
        return Err(ApiError(Error::invalid(format!(
            "SearchDatasets request cannot specify more than {MAX_EXPERIMENT_IDS_PER_SEARCH_DATASETS} \
             experiment_ids. Received {} experiment_ids.",
            r.experiment_ids.len()
        ))));
    }
    let summaries = s.store.search_datasets(&r.experiment_ids).await?;
    let mut out = json!({});
    if !summaries.is_empty() {
        out["dataset_summaries"] = json!(summaries);
    }
    Ok(Json(out))
}
