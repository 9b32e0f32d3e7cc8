//! Model-registry API (`ModelRegistryService`): request messages, thin handlers and routes.
//! Prompts use the same endpoints (they are registered models with reserved tags).
//!
//! GET endpoints read the query string; PATCH and DELETE read a JSON body (see
//! [`crate::extract`]). Required-field checks and `max_results` limits reproduce the official
//! handler's schema messages; everything else is validated by the store.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Msg, required};
use crate::requests::KeyValue;
use crate::webhooks;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, patch, post};
use mlflow_domain::registry::{
    SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT, SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD,
    SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT, SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD,
};
use mlflow_domain::serde_util::{opt_bool, opt_string, string_list};
use mlflow_domain::tracking::Tag;
use mlflow_domain::validation::{invalid_value, py_json_str};
use serde::Deserialize;
use serde_json::{Value, json};

type JsonResult = ApiResult<Json<Value>>;

// ---------------------------------------------------------------- request messages

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateRegisteredModel {
    #[serde(deserialize_with = "opt_string")]
    pub name: Option<String>,
    pub tags: Vec<KeyValue>,
    #[serde(deserialize_with = "opt_string")]
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ModelName {
    #[serde(deserialize_with = "opt_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub description: Option<String>,
    #[serde(alias = "newName", deserialize_with = "opt_string")]
    pub new_name: Option<String>,
    #[serde(deserialize_with = "string_list")]
    pub stages: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Search {
    #[serde(deserialize_with = "opt_string")]
    pub filter: Option<String>,
    #[serde(alias = "maxResults")]
    pub max_results: Option<Value>,
    #[serde(alias = "orderBy", deserialize_with = "string_list")]
    pub order_by: Vec<String>,
    #[serde(alias = "pageToken", deserialize_with = "opt_string")]
    pub page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateModelVersion {
    #[serde(deserialize_with = "opt_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub source: Option<String>,
    #[serde(alias = "runId", deserialize_with = "opt_string")]
    pub run_id: Option<String>,
    pub tags: Vec<KeyValue>,
    #[serde(alias = "runLink", deserialize_with = "opt_string")]
    pub run_link: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub description: Option<String>,
    #[serde(alias = "modelId", deserialize_with = "opt_string")]
    pub model_id: Option<String>,
}

/// Every `(name, version[, …])` message: get/update/delete/transition/tags/aliases.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VersionRef {
    #[serde(deserialize_with = "opt_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub version: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub description: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub stage: Option<String>,
    #[serde(alias = "archiveExistingVersions", deserialize_with = "opt_bool")]
    pub archive_existing_versions: Option<bool>,
    #[serde(deserialize_with = "opt_string")]
    pub key: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub value: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub alias: Option<String>,
    /// Our extension: move or delete a protected alias anyway.
    #[serde(alias = "overrideProtection", deserialize_with = "opt_bool")]
    pub override_protection: Option<bool>,
}

fn tags_of(kvs: &[KeyValue]) -> Vec<Tag> {
    kvs.iter().map(KeyValue::to_tag).collect()
}

/// `max_results` as the official schema checks it (`_assert_intlike`, then `<= limit`).
fn max_results(raw: &Option<Value>, default: i64, limit: i64) -> Result<i64, ApiError> {
    let bad = |v: &Value| {
        let (shown, ty) = match v {
            Value::String(s) => (py_json_str(s), "str"),
            Value::Number(n) if n.is_f64() => (n.to_string(), "float"),
            other => (other.to_string(), "int"),
        };
        ApiError(invalid_value(
            "max_results",
            &shown,
            Some(&format!(
                " Hint: Value was of type '{ty}'. See the API docs for more information about \
                 request parameters."
            )),
        ))
    };
    let Some(v) = raw else {
        return Ok(default);
    };
    let n = match v {
        Value::Null => return Ok(default),
        Value::Number(n) => n.as_i64().ok_or_else(|| bad(v))?,
        Value::String(s) => s.trim().parse::<i64>().map_err(|_| bad(v))?,
        _ => return Err(bad(v)),
    };
    if n > limit {
        return Err(bad(v));
    }
    Ok(n)
}

fn page<T: serde::Serialize>(key: &str, p: mlflow_store::Page<T>) -> Json<Value> {
    let mut out = json!({});
    if !p.items.is_empty() {
        out[key] = json!(p.items);
    }
    if let Some(t) = p.next_page_token {
        out["next_page_token"] = json!(t);
    }
    Json(out)
}

fn name_version(r: &VersionRef) -> Result<(&str, &str), ApiError> {
    Ok((required(&r.name, "name")?, required(&r.version, "version")?))
}

// ---------------------------------------------------------------- registered models

/// `CreateRegisteredModel`
pub async fn create_registered_model(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<CreateRegisteredModel>,
) -> JsonResult {
    let name = required(&r.name, "name")?;
    let tags = tags_of(&r.tags);
    let rm = s
        .registry
        .create_registered_model(name, &tags, r.description.as_deref())
        .await?;
    webhooks::events::registered_model_created(&s, name, &tags, r.description.as_deref()).await;
    Ok(Json(json!({ "registered_model": rm })))
}

/// `GetRegisteredModel`
pub async fn get_registered_model(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<ModelName>,
) -> JsonResult {
    let rm = s
        .registry
        .get_registered_model(required(&r.name, "name")?)
        .await?;
    Ok(Json(json!({ "registered_model": rm })))
}

/// `UpdateRegisteredModel`
pub async fn update_registered_model(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<ModelName>,
) -> JsonResult {
    let name = required(&r.name, "name")?;
    let rm = s
        .registry
        .update_registered_model(name, r.description.as_deref())
        .await?;
    Ok(Json(json!({ "registered_model": rm })))
}

/// `RenameRegisteredModel`
pub async fn rename_registered_model(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<ModelName>,
) -> JsonResult {
    let name = required(&r.name, "name")?;
    let new_name = required(&r.new_name, "new_name")?;
    let rm = s.registry.rename_registered_model(name, new_name).await?;
    Ok(Json(json!({ "registered_model": rm })))
}

/// `DeleteRegisteredModel`
pub async fn delete_registered_model(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<ModelName>,
) -> JsonResult {
    s.registry
        .delete_registered_model(required(&r.name, "name")?)
        .await?;
    Ok(Json(json!({})))
}

/// `SearchRegisteredModels`
pub async fn search_registered_models(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<Search>,
) -> JsonResult {
    let max = max_results(
        &r.max_results,
        SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
        SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD,
    )?;
    let p = s
        .registry
        .search_registered_models(
            r.filter.as_deref().unwrap_or(""),
            max,
            &r.order_by,
            r.page_token.as_deref(),
        )
        .await?;
    Ok(page("registered_models", p))
}

/// `GetLatestVersions` (GET and POST)
pub async fn get_latest_versions(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<ModelName>,
) -> JsonResult {
    let name = required(&r.name, "name")?;
    let versions = s.registry.get_latest_versions(name, &r.stages).await?;
    let mut out = json!({});
    if !versions.is_empty() {
        out["model_versions"] = json!(versions);
    }
    Ok(Json(out))
}

/// `SetRegisteredModelTag`
pub async fn set_registered_model_tag(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<VersionRef>,
) -> JsonResult {
    let name = required(&r.name, "name")?;
    let key = required(&r.key, "key")?;
    let value = r.value.as_deref().unwrap_or("");
    s.registry
        .set_registered_model_tag(name, key, value)
        .await?;
    webhooks::events::registered_model_tag(&s, name, key, Some(value)).await;
    Ok(Json(json!({})))
}

/// `DeleteRegisteredModelTag`
pub async fn delete_registered_model_tag(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<VersionRef>,
) -> JsonResult {
    let name = required(&r.name, "name")?;
    let key = required(&r.key, "key")?;
    s.registry.delete_registered_model_tag(name, key).await?;
    webhooks::events::registered_model_tag(&s, name, key, None).await;
    Ok(Json(json!({})))
}

// ---------------------------------------------------------------- model versions

/// `CreateModelVersion`
pub async fn create_model_version(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<CreateModelVersion>,
) -> JsonResult {
    let name = required(&r.name, "name")?.to_string();
    let source = required(&r.source, "source")?.to_string();
    let tags = tags_of(&r.tags);
    let mv = s
        .registry
        .create_model_version(mlflow_store::registry::CreateModelVersion {
            name,
            source,
            run_id: r.run_id,
            tags: tags.clone(),
            run_link: r.run_link,
            description: r.description.clone(),
            model_id: r.model_id,
        })
        .await?;
    webhooks::events::model_version_created(&s, &mv, &tags, r.description.as_deref()).await;
    Ok(Json(json!({ "model_version": mv })))
}

/// `GetModelVersion`
pub async fn get_model_version(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<VersionRef>,
) -> JsonResult {
    let (name, version) = name_version(&r)?;
    let mv = s.registry.get_model_version(name, version).await?;
    Ok(Json(json!({ "model_version": mv })))
}

/// `UpdateModelVersion`
pub async fn update_model_version(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<VersionRef>,
) -> JsonResult {
    let (name, version) = name_version(&r)?;
    let mv = s
        .registry
        .update_model_version(name, version, r.description.as_deref())
        .await?;
    Ok(Json(json!({ "model_version": mv })))
}

/// `TransitionModelVersionStage`
pub async fn transition_stage(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<VersionRef>,
) -> JsonResult {
    let (name, version) = name_version(&r)?;
    let stage = required(&r.stage, "stage")?;
    let mv = s
        .registry
        .transition_model_version_stage(
            name,
            version,
            stage,
            r.archive_existing_versions.unwrap_or(false),
        )
        .await?;
    Ok(Json(json!({ "model_version": mv })))
}

/// `DeleteModelVersion`
pub async fn delete_model_version(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<VersionRef>,
) -> JsonResult {
    let (name, version) = name_version(&r)?;
    s.registry.delete_model_version(name, version).await?;
    Ok(Json(json!({})))
}

/// `GetModelVersionDownloadUri` (no schema in the official handler: absent fields are "")
pub async fn get_model_version_download_uri(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<VersionRef>,
) -> JsonResult {
    let uri = s
        .registry
        .get_model_version_download_uri(
            r.name.as_deref().unwrap_or(""),
            r.version.as_deref().unwrap_or(""),
        )
        .await?;
    Ok(Json(json!({ "artifact_uri": uri })))
}

/// `SearchModelVersions`
pub async fn search_model_versions(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<Search>,
) -> JsonResult {
    let max = max_results(
        &r.max_results,
        SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
        SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD,
    )?;
    let p = s
        .registry
        .search_model_versions(
            r.filter.as_deref().unwrap_or(""),
            max,
            &r.order_by,
            r.page_token.as_deref(),
        )
        .await?;
    Ok(page("model_versions", p))
}

/// `SetModelVersionTag`
pub async fn set_model_version_tag(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<VersionRef>,
) -> JsonResult {
    let (name, version) = name_version(&r)?;
    let key = required(&r.key, "key")?;
    let value = r.value.as_deref().unwrap_or("");
    s.registry
        .set_model_version_tag(name, version, key, Some(value))
        .await?;
    webhooks::events::model_version_tag(&s, name, version, key, Some(value)).await;
    Ok(Json(json!({})))
}

/// `DeleteModelVersionTag`
pub async fn delete_model_version_tag(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<VersionRef>,
) -> JsonResult {
    let (name, version) = name_version(&r)?;
    let key = required(&r.key, "key")?;
    s.registry
        .delete_model_version_tag(name, version, key)
        .await?;
    webhooks::events::model_version_tag(&s, name, version, key, None).await;
    Ok(Json(json!({})))
}

// ---------------------------------------------------------------- aliases

/// `SetRegisteredModelAlias`
pub async fn set_alias(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<VersionRef>,
) -> JsonResult {
    let name = required(&r.name, "name")?;
    let alias = required(&r.alias, "alias")?;
    let version = required(&r.version, "version")?;
    s.registry
        .set_registered_model_alias(name, alias, version, r.override_protection.unwrap_or(false))
        .await?;
    webhooks::events::alias(&s, name, alias, Some(version)).await;
    Ok(Json(json!({})))
}

/// `DeleteRegisteredModelAlias`
pub async fn delete_alias(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<VersionRef>,
) -> JsonResult {
    let name = required(&r.name, "name")?;
    let alias = required(&r.alias, "alias")?;
    s.registry
        .delete_registered_model_alias(name, alias, r.override_protection.unwrap_or(false))
        .await?;
    webhooks::events::alias(&s, name, alias, None).await;
    Ok(Json(json!({})))
}

/// `GetModelVersionByAlias`
pub async fn get_model_version_by_alias(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<VersionRef>,
) -> JsonResult {
    let name = required(&r.name, "name")?;
    let alias = required(&r.alias, "alias")?;
    let mv = s.registry.get_model_version_by_alias(name, alias).await?;
    Ok(Json(json!({ "model_version": mv })))
}

/// The registry RPCs, relative to `/api/2.0/mlflow` (and its `/ajax-api` mirror).
pub fn registry_routes() -> Router<AppState> {
    Router::new()
        .route("/registered-models/create", post(create_registered_model))
        .route("/registered-models/get", get(get_registered_model))
        .route("/registered-models/update", patch(update_registered_model))
        .route("/registered-models/rename", post(rename_registered_model))
        .route(
            "/registered-models/delete",
            axum::routing::delete(delete_registered_model),
        )
        .route("/registered-models/search", get(search_registered_models))
        .route(
            "/registered-models/get-latest-versions",
            get(get_latest_versions).post(get_latest_versions),
        )
        .route("/registered-models/set-tag", post(set_registered_model_tag))
        .route(
            "/registered-models/delete-tag",
            axum::routing::delete(delete_registered_model_tag),
        )
        .route(
            "/registered-models/alias",
            post(set_alias)
                .delete(delete_alias)
                .get(get_model_version_by_alias),
        )
        .route("/model-versions/create", post(create_model_version))
        .route("/model-versions/get", get(get_model_version))
        .route("/model-versions/update", patch(update_model_version))
        .route("/model-versions/transition-stage", post(transition_stage))
        .route(
            "/model-versions/delete",
            axum::routing::delete(delete_model_version),
        )
        .route(
            "/model-versions/get-download-uri",
            get(get_model_version_download_uri),
        )
        .route("/model-versions/search", get(search_model_versions))
        .route("/model-versions/set-tag", post(set_model_version_tag))
        .route(
            "/model-versions/delete-tag",
            axum::routing::delete(delete_model_version_tag),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_results_messages() {
        assert_eq!(max_results(&None, 100, 1000).unwrap(), 100);
        assert_eq!(max_results(&Some(json!("7")), 100, 1000).unwrap(), 7);
        let e = max_results(&Some(json!("2000")), 100, 1000).unwrap_err();
        assert_eq!(
            e.0.message,
            "Invalid value \"2000\" for parameter 'max_results' supplied:  Hint: Value was of \
             type 'str'. See the API docs for more information about request parameters."
        );
        assert!(max_results(&Some(json!("x")), 100, 1000).is_err());
    }
}
