//! Artifact routes: the proxied `mlflow-artifacts` service and the tracking-side artifact
//! endpoints, as the official `artifact_router.py` (FastAPI, streaming GET/PUT) and
//! `handlers.py` (Flask: listing, delete, MPU, `artifacts/list`, `/get-artifact`,
//! `upload-artifact`).
//!
//! Bodies stream in both directions ([`mlflow_artifacts::ByteStream`]); nothing buffers a
//! whole artifact except the 10 MB-capped UI `upload-artifact`.
//!
//! Gates, with the official bodies:
//! - `--no-serve-artifacts`: GET/PUT answer 503 `{"detail": ...}` (FastAPI); listing, DELETE,
//!   MPU and presigned answer 503 text naming the Flask rule.
//! - `--artifacts-only`: `artifacts/list`, `/get-artifact` and `upload-artifact` answer
//!   503 text.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Msg, required};
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::TryStreamExt;
use mlflow_artifacts::{ArtifactRepo, Download, Fetched, FileInfo, RelPath};
use mlflow_domain::serde_util::{opt_i64, opt_string};
use mlflow_domain::{Error, ErrorCode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// The `ajax-api` mirror of each route is served too.
const API: &str = "/api/2.0/mlflow-artifacts";
const AJAX: &str = "/ajax-api/2.0/mlflow-artifacts";

/// `UploadArtifact` through the UI is capped, as the official handler.
const UI_UPLOAD_MAX: usize = 10 * 1024 * 1024;

/// Every artifact route, relative to the static prefix (nest it there when one is set).
pub fn artifact_routes() -> Router<AppState> {
    let mut r = Router::new();
    for base in [API, AJAX] {
        r = r
            .route(
                &format!("{base}/artifacts/{{*artifact_path}}"),
                get(download).put(upload).delete(delete),
            )
            .route(&format!("{base}/artifacts"), get(list_proxied))
            .route(
                &format!("{base}/mpu/create/{{*artifact_path}}"),
                post(mpu_create),
            )
            .route(
                &format!("{base}/mpu/complete/{{*artifact_path}}"),
                post(mpu_complete),
            )
            .route(
                &format!("{base}/mpu/abort/{{*artifact_path}}"),
                post(mpu_abort),
            )
            .route(
                &format!("{base}/presigned/{{*artifact_path}}"),
                get(presigned_download),
            );
    }
    for base in [
        "/api/2.0/mlflow/artifacts",
        "/ajax-api/2.0/mlflow/artifacts",
    ] {
        r = r
            .route(
                &format!("{base}/presigned-upload-url"),
                post(create_presigned_upload_url),
            )
            .route(
                &format!("{base}/presigned-download-url"),
                post(create_presigned_download_url),
            );
    }
    r.route("/api/2.0/mlflow/artifacts/list", get(list_run_artifacts))
        .route(
            "/ajax-api/2.0/mlflow/artifacts/list",
            get(list_run_artifacts),
        )
        .route("/get-artifact", get(get_run_artifact))
        .route(
            "/model-versions/get-artifact",
            get(get_model_version_artifact),
        )
        .route(
            "/ajax-api/2.0/mlflow/upload-artifact",
            post(upload_run_artifact),
        )
}

// ---------------------------------------------------------------- responses and gates

/// A FastAPI `HTTPException`: `{"detail": "..."}`.
fn detail(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "detail": message }).to_string(),
    )
        .into_response()
}

fn text_503(message: String) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        message,
    )
        .into_response()
}

/// The Flask rule of the matched route (`{*x}` -> `<path:x>`, `{x}` -> `<x>`).
fn flask_rule(matched: Option<&MatchedPath>, req_path: &str) -> String {
    let Some(m) = matched else {
        return req_path.to_string();
    };
    let mut out = String::new();
    let mut rest = m.as_str();
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + 1..start + end];
        match name.strip_prefix('*') {
            Some(n) => out.push_str(&format!("<path:{n}>")),
            None => out.push_str(&format!("<{name}>")),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// `_disable_unless_serve_artifacts` (Flask routes).
fn serve_disabled(rule: String) -> Response {
    text_503(format!(
        "Endpoint: {rule} disabled due to the mlflow server running with \
         `--no-serve-artifacts`. To enable artifacts server functionality, run `mlflow server` \
         with `--serve-artifacts`"
    ))
}

/// `_disable_if_artifacts_only`.
fn artifacts_only(rule: String) -> Response {
    text_503(format!(
        "Endpoint: {rule} disabled due to the mlflow server running in `--artifacts-only` \
         mode. To enable tracking server functionality, run `mlflow server` without \
         `--artifacts-only`"
    ))
}

/// The FastAPI routes' gate (GET/PUT).
fn fastapi_serve_disabled() -> Response {
    detail(
        StatusCode::SERVICE_UNAVAILABLE,
        "Artifact serving is disabled. Run `mlflow server` with `--serve-artifacts` to enable.",
    )
}

/// The destination, or `None` when proxied artifacts are not configured.
fn destination(s: &AppState) -> Option<Arc<dyn ArtifactRepo>> {
    s.config
        .artifacts
        .as_ref()
        .and_then(|a| a.destination().ok())
}

/// `server-info`'s `(multipart_uploads_enabled, multipart_downloads_enabled)`: what the
/// destination supports, when proxied artifacts are served.
pub fn multipart_capabilities(s: &AppState) -> (bool, bool) {
    match destination(s) {
        Some(repo) if s.config.serve_artifacts => (
            repo.supports_multipart_upload(),
            repo.supports_presigned_download(),
        ),
        _ => (false, false),
    }
}

/// FastAPI's answer when `--artifacts-destination` is missing.
fn not_configured() -> Response {
    detail(
        StatusCode::SERVICE_UNAVAILABLE,
        "Artifact serving is not configured.",
    )
}

fn resolver(s: &AppState) -> ApiResult<&mlflow_artifacts::Artifacts> {
    s.config.artifacts.as_deref().ok_or_else(|| {
        ApiError(Error::new(
            ErrorCode::TemporarilyUnavailable,
            "Artifact storage is not configured.",
        ))
    })
}

fn path_param(p: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    p.map(|Path(p)| p)
        .map_err(|_| ApiError(Error::invalid(mlflow_artifacts::path::INVALID_PATH)))
}

/// werkzeug's `quote_header_value(allow_token=True)`.
fn quote_header_value(v: &str) -> String {
    const TOKEN: &str = "!#$%&'*+-.^_`|~";
    if v.is_empty() {
        return "\"\"".into();
    }
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || TOKEN.contains(c))
    {
        return v.to_string();
    }
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `_content_disposition_attachment`: RFC 6266 with an RFC 5987 `filename*` for non-ASCII.
pub fn content_disposition(filename: &str) -> String {
    if filename.is_ascii() {
        return format!("attachment; filename={}", quote_header_value(filename));
    }
    // NFKD + ASCII-ignore, approximated by dropping non-ASCII characters.
    let fallback: String = filename.chars().filter(char::is_ascii).collect();
    let fallback = if fallback.is_empty() {
        "download".to_string()
    } else {
        fallback
    };
    let mut quoted = String::new();
    for b in filename.as_bytes() {
        let c = *b as char;
        if c.is_ascii_alphanumeric() || "!#$&+-.^_`|~".contains(c) {
            quoted.push(c);
        } else {
            quoted.push_str(&format!("%{b:02X}"));
        }
    }
    format!(
        "attachment; filename={}; filename*=UTF-8''{quoted}",
        quote_header_value(&fallback)
    )
}

/// A streamed file with the official attachment headers.
fn file_response(name: &str, d: Download) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(mlflow_artifacts::mime::guess(name)),
    );
    if let Ok(v) = HeaderValue::from_str(&content_disposition(name)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(size) = d.size {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    (StatusCode::OK, headers, Body::from_stream(d.stream)).into_response()
}

fn file_infos_json(files: Vec<FileInfo>) -> Vec<Value> {
    files
        .into_iter()
        .map(|f| {
            let mut o = json!({ "path": f.path, "is_dir": f.is_dir });
            if let Some(size) = f.file_size {
                o["file_size"] = json!(size);
            }
            o
        })
        .collect()
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

fn body_stream(req: Request) -> mlflow_artifacts::ByteStream {
    Box::pin(
        req.into_body()
            .into_data_stream()
            .map_err(std::io::Error::other),
    )
}

// ---------------------------------------------------------------- mlflow-artifacts service

/// `DownloadArtifact`: `GET /mlflow-artifacts/artifacts/<path>` (streamed).
pub async fn download(
    State(s): State<AppState>,
    p: Result<Path<String>, PathRejection>,
) -> Response {
    if !s.config.serve_artifacts {
        return fastapi_serve_disabled();
    }
    let rel = match path_param(p).and_then(|p| RelPath::parse(&p).map_err(ApiError)) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let Some(repo) = destination(&s) else {
        return not_configured();
    };
    match repo.get(&rel).await {
        Ok(Fetched::File(d)) => file_response(rel.file_name(), d),
        Ok(Fetched::Directory) => detail(
            StatusCode::BAD_REQUEST,
            &format!("Artifact path refers to a directory, not a file: '{rel}'"),
        ),
        Err(e) => ApiError(e).into_response(),
    }
}

/// `UploadArtifact`: `PUT /mlflow-artifacts/artifacts/<path>`, body streamed to storage;
/// 200 with an empty body.
pub async fn upload(
    State(s): State<AppState>,
    p: Result<Path<String>, PathRejection>,
    req: Request,
) -> Response {
    if !s.config.serve_artifacts {
        return fastapi_serve_disabled();
    }
    let raw = match path_param(p) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let rel = match RelPath::parse(&raw) {
        Ok(r) => r,
        Err(e) => return ApiError(e).into_response(),
    };
    if raw.ends_with('/') || rel.is_root() {
        return detail(
            StatusCode::BAD_REQUEST,
            "Artifact path must include a filename (cannot end with '/').",
        );
    }
    let Some(repo) = destination(&s) else {
        return not_configured();
    };
    match repo.put(&rel, body_stream(req)).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

/// `DeleteArtifact`: `DELETE /mlflow-artifacts/artifacts/<path>` -> `{}`.
pub async fn delete(
    State(s): State<AppState>,
    matched: Option<MatchedPath>,
    req_path: axum::http::Uri,
    p: Result<Path<String>, PathRejection>,
) -> Response {
    if !s.config.serve_artifacts {
        return serve_disabled(flask_rule(matched.as_ref(), req_path.path()));
    }
    let run = async {
        let rel = RelPath::parse(&path_param(p)?)?;
        let repo = resolver(&s)?.destination()?;
        repo.delete(&rel).await?;
        Ok::<_, ApiError>(axum::Json(json!({})))
    };
    run.await.into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListProxied {
    pub path: Option<String>,
}

/// `ListArtifacts` (mlflow-artifacts): `GET /mlflow-artifacts/artifacts?path=` ->
/// `{"files": [{path (basename), is_dir, file_size}]}`; a file or a missing path is `{}`.
pub async fn list_proxied(
    State(s): State<AppState>,
    matched: Option<MatchedPath>,
    uri: axum::http::Uri,
    msg: Result<Msg<ListProxied>, ApiError>,
) -> Response {
    if !s.config.serve_artifacts {
        return serve_disabled(flask_rule(matched.as_ref(), uri.path()));
    }
    let run = async {
        let Msg { value: r, .. } = msg?;
        let rel = match r.path.as_deref() {
            Some(p) => RelPath::parse(p)?,
            None => RelPath::root(),
        };
        let repo = resolver(&s)?.destination()?;
        let files: Vec<FileInfo> = repo
            .list(&rel)
            .await?
            .into_iter()
            .map(|f| FileInfo {
                path: basename(&f.path).to_string(),
                ..f
            })
            .collect();
        let files = file_infos_json(files);
        Ok::<_, ApiError>(axum::Json(if files.is_empty() {
            json!({})
        } else {
            json!({ "files": files })
        }))
    };
    run.await.into_response()
}

/// The body of `mpu/create|complete|abort` (`CreateMultipartUpload` etc.).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MultipartRequest {
    /// The client's local file path; only its basename is used.
    #[serde(deserialize_with = "opt_string")]
    pub path: Option<String>,
    #[serde(deserialize_with = "opt_i64")]
    pub num_parts: Option<i64>,
    #[serde(deserialize_with = "opt_string")]
    pub upload_id: Option<String>,
    pub parts: Option<Vec<MultipartPart>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MultipartPart {
    #[serde(deserialize_with = "opt_i64")]
    pub part_number: Option<i64>,
    #[serde(deserialize_with = "opt_string")]
    pub etag: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MpuOp {
    Create,
    Complete,
    Abort,
}

/// The object a multipart upload writes: `<artifact_path>/<basename(path)>` (as the
/// official S3 repository's `posixpath.join(dest, artifact_path, basename(local_file))`).
fn mpu_target(artifact_path: &RelPath, local_file: &str) -> ApiResult<RelPath> {
    let name = local_file.rsplit('/').next().unwrap_or(local_file);
    if name.is_empty() {
        return Err(ApiError(Error::invalid(format!(
            "Invalid value '{local_file}' for parameter 'path': it must name a file"
        ))));
    }
    Ok(artifact_path.join(&RelPath::parse(name)?))
}

fn headers_json(headers: &[(String, String)]) -> Value {
    Value::Object(
        headers
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

async fn multipart(
    s: AppState,
    matched: Option<MatchedPath>,
    uri: axum::http::Uri,
    p: Result<Path<String>, PathRejection>,
    msg: Result<Msg<MultipartRequest>, ApiError>,
    op: MpuOp,
) -> Response {
    if !s.config.serve_artifacts {
        return serve_disabled(flask_rule(matched.as_ref(), uri.path()));
    }
    let run = async {
        let artifact_path = RelPath::parse(&path_param(p)?)?;
        let Msg { value: r, .. } = msg?;
        let local_file = required(&r.path, "path")?.to_string();
        if op == MpuOp::Complete && r.parts.is_none() {
            return Err(ApiError(Error::missing("parts")));
        }
        let repo = resolver(&s)?.destination()?;
        if !repo.supports_multipart_upload() {
            return Err(ApiError(mlflow_artifacts::unsupported_multipart_upload()));
        }
        let target = mpu_target(&artifact_path, &local_file)?;
        let upload_id = r.upload_id.unwrap_or_default();
        match op {
            MpuOp::Create => {
                let num_parts = r.num_parts.unwrap_or(0);
                let num_parts = u32::try_from(num_parts).map_err(|_| {
                    ApiError(Error::invalid(format!(
                        "Invalid value {num_parts} for parameter 'num_parts' supplied."
                    )))
                })?;
                let created = repo.create_multipart_upload(&target, num_parts).await?;
                let credentials: Vec<Value> = created
                    .credentials
                    .iter()
                    .map(|c| {
                        let mut o = json!({ "url": c.url, "part_number": c.part_number });
                        if !c.headers.is_empty() {
                            o["headers"] = headers_json(&c.headers);
                        }
                        o
                    })
                    .collect();
                let mut body = json!({});
                if !created.upload_id.is_empty() {
                    body["upload_id"] = json!(created.upload_id);
                }
                if !credentials.is_empty() {
                    body["credentials"] = Value::Array(credentials);
                }
                Ok(axum::Json(body))
            }
            MpuOp::Complete => {
                let mut parts = Vec::new();
                for part in r.parts.unwrap_or_default() {
                    let n = part.part_number.unwrap_or(0);
                    let part_number = u32::try_from(n).map_err(|_| {
                        ApiError(Error::invalid(format!(
                            "Invalid value {n} for parameter 'part_number' supplied."
                        )))
                    })?;
                    parts.push(mlflow_artifacts::UploadedPart {
                        part_number,
                        etag: part.etag.filter(|e| !e.is_empty()),
                    });
                }
                repo.complete_multipart_upload(&target, &upload_id, &parts)
                    .await?;
                Ok(axum::Json(json!({})))
            }
            MpuOp::Abort => {
                repo.abort_multipart_upload(&target, &upload_id).await?;
                Ok(axum::Json(json!({})))
            }
        }
    };
    run.await.into_response()
}

/// `CreateMultipartUpload`: `POST /mlflow-artifacts/mpu/create/<artifact_path>`
/// `{path, num_parts}` -> `{upload_id, credentials: [{url, part_number, headers}]}`; the
/// client PUTs each part straight to storage.
pub async fn mpu_create(
    State(s): State<AppState>,
    matched: Option<MatchedPath>,
    uri: axum::http::Uri,
    p: Result<Path<String>, PathRejection>,
    msg: Result<Msg<MultipartRequest>, ApiError>,
) -> Response {
    multipart(s, matched, uri, p, msg, MpuOp::Create).await
}

/// `CompleteMultipartUpload`: `{path, upload_id, parts: [{part_number, etag}]}` -> `{}`.
pub async fn mpu_complete(
    State(s): State<AppState>,
    matched: Option<MatchedPath>,
    uri: axum::http::Uri,
    p: Result<Path<String>, PathRejection>,
    msg: Result<Msg<MultipartRequest>, ApiError>,
) -> Response {
    multipart(s, matched, uri, p, msg, MpuOp::Complete).await
}

/// `AbortMultipartUpload`: `{path, upload_id}` -> `{}`.
pub async fn mpu_abort(
    State(s): State<AppState>,
    matched: Option<MatchedPath>,
    uri: axum::http::Uri,
    p: Result<Path<String>, PathRejection>,
    msg: Result<Msg<MultipartRequest>, ApiError>,
) -> Response {
    multipart(s, matched, uri, p, msg, MpuOp::Abort).await
}

/// `MLFLOW_PRESIGNED_DOWNLOAD_URL_TTL_SECONDS` (server side, default 300).
fn presigned_download_ttl() -> i64 {
    std::env::var("MLFLOW_PRESIGNED_DOWNLOAD_URL_TTL_SECONDS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(300)
}

fn ttl(seconds: i64) -> std::time::Duration {
    std::time::Duration::from_secs(seconds.clamp(1, 604_800) as u64)
}

/// `GetPresignedDownloadUrl`: `GET /mlflow-artifacts/presigned/<path>` ->
/// `{"url", "headers", "file_size"}` for a GET straight from storage.
pub async fn presigned_download(
    State(s): State<AppState>,
    matched: Option<MatchedPath>,
    uri: axum::http::Uri,
    p: Result<Path<String>, PathRejection>,
) -> Response {
    if !s.config.serve_artifacts {
        return serve_disabled(flask_rule(matched.as_ref(), uri.path()));
    }
    let run = async {
        let rel = RelPath::parse(&path_param(p)?)?;
        let repo = resolver(&s)?.destination()?;
        if !repo.supports_presigned_download() {
            return Err(ApiError(mlflow_artifacts::unsupported_presigned_download()));
        }
        let presigned = repo
            .presigned_download(&rel, ttl(presigned_download_ttl()))
            .await?;
        let mut body = json!({ "url": presigned.url, "headers": headers_json(&presigned.headers) });
        if let Some(size) = presigned.file_size {
            body["file_size"] = json!(size);
        }
        Ok::<_, ApiError>(axum::Json(body))
    };
    run.await.into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PresignedUrlRequest {
    #[serde(deserialize_with = "opt_string")]
    pub run_id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub model_id: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub path: Option<String>,
    #[serde(deserialize_with = "opt_i64")]
    pub expiration: Option<i64>,
}

/// A run's (or logged model's) artifact repository when its root is a direct storage URI;
/// proxied roots are refused with the official message (`what`: "upload"/"download").
fn direct_repo(
    s: &AppState,
    artifact_uri: &str,
    refusal: impl FnOnce(&str) -> String,
) -> ApiResult<Arc<dyn ArtifactRepo>> {
    let scheme = mlflow_artifacts::uri::scheme(artifact_uri);
    if matches!(scheme.as_str(), "http" | "https" | "mlflow-artifacts") {
        return Err(ApiError(Error::invalid(refusal(&scheme))));
    }
    Ok(resolver(s)?.open(artifact_uri)?)
}

fn presigned_json(p: mlflow_artifacts::PresignedUrl) -> Value {
    let mut body = json!({ "presigned_url": p.url });
    if !p.headers.is_empty() {
        body["headers"] = headers_json(&p.headers);
    }
    if let Some(size) = p.file_size {
        body["file_size"] = json!(size);
    }
    body
}

/// `CreatePresignedUploadUrl`: `POST /mlflow/artifacts/presigned-upload-url`
/// `{run_id | model_id, path, expiration=900}` -> `{presigned_url, headers}`.
pub async fn create_presigned_upload_url(
    State(s): State<AppState>,
    matched: Option<MatchedPath>,
    uri: axum::http::Uri,
    msg: Result<Msg<PresignedUrlRequest>, ApiError>,
) -> Response {
    if s.config.artifacts_only {
        return artifacts_only(flask_rule(matched.as_ref(), uri.path()));
    }
    let run = async {
        let Msg { value: r, .. } = msg?;
        required(&r.path, "path")?;
        let run_id = r.run_id.as_deref().filter(|v| !v.is_empty());
        let model_id = r.model_id.as_deref().filter(|v| !v.is_empty());
        if run_id.is_some() == model_id.is_some() {
            return Err(ApiError(Error::invalid(
                "Exactly one of run_id and model_id must be provided.",
            )));
        }
        let rel = RelPath::parse(r.path.as_deref().unwrap_or(""))?;
        let expiration = r.expiration.unwrap_or(900);
        let artifact_uri = match (run_id, model_id) {
            (Some(id), _) => s.store.get_run(id).await?.info.artifact_uri,
            (None, Some(id)) => s.store.get_logged_model(id, false).await?.info.artifact_uri,
            (None, None) => String::new(),
        };
        let repo = direct_repo(&s, &artifact_uri, |scheme| {
            format!(
                "Presigned upload is not supported for proxied artifact storage (artifact URI \
                 scheme: {scheme}). This endpoint requires a direct cloud storage artifact URI."
            )
        })?;
        let presigned = repo.presigned_upload(&rel, ttl(expiration)).await?;
        Ok::<_, ApiError>(axum::Json(presigned_json(presigned)))
    };
    run.await.into_response()
}

/// `CreatePresignedDownloadUrl`: `POST /mlflow/artifacts/presigned-download-url`
/// `{run_id, path, expiration}` -> `{presigned_url, headers, file_size}`.
pub async fn create_presigned_download_url(
    State(s): State<AppState>,
    matched: Option<MatchedPath>,
    uri: axum::http::Uri,
    msg: Result<Msg<PresignedUrlRequest>, ApiError>,
) -> Response {
    if s.config.artifacts_only {
        return artifacts_only(flask_rule(matched.as_ref(), uri.path()));
    }
    let run = async {
        let Msg { value: r, .. } = msg?;
        let run_id = required(&r.run_id, "run_id")?.to_string();
        let rel = RelPath::parse(required(&r.path, "path")?)?;
        let expiration = r.expiration.unwrap_or_else(presigned_download_ttl);
        if !(1..=604_800).contains(&expiration) {
            return Err(ApiError(Error::invalid(format!(
                "expiration must be between 1 and 604800 seconds (got {expiration})."
            ))));
        }
        let run = s.store.get_run(&run_id).await?;
        let repo = direct_repo(&s, &run.info.artifact_uri, |scheme| {
            format!(
                "Presigned download is not supported for runs with proxied artifact storage \
                 (artifact URI scheme: {scheme}). This endpoint requires a run with a direct \
                 cloud storage artifact URI."
            )
        })?;
        if !repo.supports_presigned_download() {
            return Err(ApiError(Error::new(
                ErrorCode::NotImplemented,
                "Presigned download is not supported for the current artifact repository",
            )));
        }
        let presigned = repo.presigned_download(&rel, ttl(expiration)).await?;
        Ok::<_, ApiError>(axum::Json(presigned_json(presigned)))
    };
    run.await.into_response()
}

// ---------------------------------------------------------------- run artifacts (tracking side)

/// Where a run's artifact `path` lives: the repository and the path inside it.
async fn run_location(
    s: &AppState,
    run_id: &str,
    path: &RelPath,
) -> ApiResult<(mlflow_domain::tracking::Run, Arc<dyn ArtifactRepo>, RelPath)> {
    let run = s.store.get_run(run_id).await?;
    let (repo, root, _) =
        resolver(s)?.for_run_root(&run.info.artifact_uri, s.config.serve_artifacts)?;
    let full = root.join(path);
    Ok((run, repo, full))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListRunArtifacts {
    pub run_id: Option<String>,
    pub run_uuid: Option<String>,
    pub path: Option<String>,
    pub page_token: Option<String>,
}

/// `ListArtifacts`: `GET /mlflow/artifacts/list?run_id&path&page_token` ->
/// `{root_uri, files}` with run-relative paths; no paging (as the official server).
pub async fn list_run_artifacts(
    State(s): State<AppState>,
    matched: Option<MatchedPath>,
    uri: axum::http::Uri,
    msg: Result<Msg<ListRunArtifacts>, ApiError>,
) -> Response {
    if s.config.artifacts_only {
        return artifacts_only(flask_rule(matched.as_ref(), uri.path()));
    }
    let run = async {
        let Msg { value: r, .. } = msg?;
        required(&r.run_id, "run_id")?;
        let rel = match r.path.as_deref() {
            Some(p) => RelPath::parse(p)?,
            None => RelPath::root(),
        };
        let run_id = r.run_id.as_deref().or(r.run_uuid.as_deref()).unwrap_or("");
        let (run, repo, full) = run_location(&s, run_id, &rel).await?;
        let listed = repo.list(&full).await?;
        let files: Vec<FileInfo> = listed
            .into_iter()
            .map(|f| {
                let name = basename(&f.path);
                let path = if rel.is_root() {
                    name.to_string()
                } else {
                    format!("{rel}/{name}")
                };
                FileInfo { path, ..f }
            })
            .collect();
        let files = file_infos_json(files);
        let mut body = json!({ "root_uri": run.info.artifact_uri });
        if !files.is_empty() {
            body["files"] = Value::Array(files);
        }
        Ok::<_, ApiError>(axum::Json(body))
    };
    run.await.into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GetRunArtifact {
    pub run_id: Option<String>,
    pub run_uuid: Option<String>,
    pub path: Option<String>,
}

/// werkzeug's answer to a missing required query argument.
fn flask_bad_request() -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html>\n<html lang=en>\n<title>400 Bad Request</title>\n<h1>Bad Request</h1>\n<p>The browser (or proxy) sent a request that this server could not understand.</p>\n",
    )
        .into_response()
}

/// `/get-artifact?run_id&path`: a run artifact as an attachment (the UI's file viewer).
pub async fn get_run_artifact(
    State(s): State<AppState>,
    matched: Option<MatchedPath>,
    uri: axum::http::Uri,
    msg: Result<Msg<GetRunArtifact>, ApiError>,
) -> Response {
    if s.config.artifacts_only {
        return artifacts_only(flask_rule(matched.as_ref(), uri.path()));
    }
    let r = match msg {
        Ok(Msg { value, .. }) => value,
        Err(e) => return e.into_response(),
    };
    let Some(path) = r.path.as_deref() else {
        return flask_bad_request();
    };
    let run = async {
        let rel = RelPath::parse(path)?;
        let run_id = r
            .run_id
            .as_deref()
            .filter(|v| !v.is_empty())
            .or(r.run_uuid.as_deref())
            .ok_or_else(|| ApiError(Error::missing("run_id")))?;
        let (_, repo, full) = run_location(&s, run_id, &rel).await?;
        match repo.get(&full).await? {
            Fetched::File(d) => Ok(file_response(rel.file_name(), d)),
            Fetched::Directory => Err(ApiError(Error::invalid(format!(
                "Artifact path refers to a directory, not a file: '{full}'"
            )))),
        }
    };
    match run.await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GetModelVersionArtifact {
    pub name: Option<String>,
    pub version: Option<String>,
    pub path: Option<String>,
}

/// `/model-versions/get-artifact?name&version&path`: a file of a registered model version, read
/// from the version's download URI (the UI's model-version file viewer).
pub async fn get_model_version_artifact(
    State(s): State<AppState>,
    matched: Option<MatchedPath>,
    uri: axum::http::Uri,
    msg: Result<Msg<GetModelVersionArtifact>, ApiError>,
) -> Response {
    if s.config.artifacts_only {
        return artifacts_only(flask_rule(matched.as_ref(), uri.path()));
    }
    let r = match msg {
        Ok(Msg { value, .. }) => value,
        Err(e) => return e.into_response(),
    };
    let Some(path) = r.path.as_deref() else {
        return flask_bad_request();
    };
    let run = async {
        let rel = RelPath::parse(path)?;
        let name = required(&r.name, "name")?;
        let version = required(&r.version, "version")?;
        let mut download_uri = s
            .registry
            .get_model_version_download_uri(name, version)
            .await?;
        // `runs:/<run_id>/<path>` sources resolve against the run's artifact root.
        if let Some(rest) = download_uri.strip_prefix("runs:/") {
            let rest = rest.trim_start_matches('/');
            let (run_id, sub) = rest.split_once('/').unwrap_or((rest, ""));
            let run = s.store.get_run(run_id).await?;
            download_uri = mlflow_store::append_to_uri_path(&run.info.artifact_uri, sub);
        }
        let (repo, root, _) =
            resolver(&s)?.for_run_root(&download_uri, s.config.serve_artifacts)?;
        let full = root.join(&rel);
        match repo.get(&full).await? {
            Fetched::File(d) => Ok(file_response(rel.file_name(), d)),
            Fetched::Directory => Err(ApiError(Error::invalid(format!(
                "Artifact path refers to a directory, not a file: '{full}'"
            )))),
        }
    };
    match run.await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let v = v.trim_start().to_ascii_lowercase();
            v.starts_with("application/x-www-form-urlencoded")
                || v.starts_with("multipart/form-data")
        })
        .unwrap_or(false)
}

/// `POST /ajax-api/2.0/mlflow/upload-artifact?run_uuid&path` (UI, raw body up to 10 MB).
pub async fn upload_run_artifact(
    State(s): State<AppState>,
    matched: Option<MatchedPath>,
    req: Request,
) -> Response {
    if s.config.artifacts_only {
        return artifacts_only(flask_rule(matched.as_ref(), req.uri().path()));
    }
    let run = async {
        let query = crate::extract::query_to_json(req.uri().query().unwrap_or(""));
        let arg = |k: &str| {
            query
                .get(k)
                .and_then(|v| v.as_str().or_else(|| v.get(0).and_then(Value::as_str)))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let invalid = |m: &str| ApiError(Error::invalid(m));
        let run_uuid = arg("run_uuid").ok_or_else(|| invalid("Request must specify run_uuid."))?;
        let path = arg("path").ok_or_else(|| invalid("Request must specify path."))?;
        let rel = RelPath::parse(&path)?;
        let too_large = || invalid("Artifact size is too large. Max size is 10MB.");
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > UI_UPLOAD_MAX as u64) {
            return Err(too_large());
        }
        let form = is_form(req.headers());
        let data = axum::body::to_bytes(req.into_body(), UI_UPLOAD_MAX)
            .await
            .map_err(|_| too_large())?;
        if data.is_empty() || form {
            return Err(invalid("Request must specify data."));
        }
        let run = s.store.get_run(&run_uuid).await?;
        let artifacts = resolver(&s)?;
        let (_, _, proxied) =
            artifacts.for_run_root(&run.info.artifact_uri, s.config.serve_artifacts)?;
        let (repo, target) = if proxied {
            let base = RelPath::parse(&format!(
                "{}/{}/artifacts",
                run.info.experiment_id, run.info.run_id
            ))?;
            (artifacts.destination()?, base.join(&rel))
        } else {
            (artifacts.open(&run.info.artifact_uri)?, rel)
        };
        let body: mlflow_artifacts::ByteStream =
            Box::pin(futures::stream::once(async move { Ok(data) }));
        repo.put(&target, body).await?;
        Ok::<_, ApiError>(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "",
            )
                .into_response(),
        )
    };
    match run.await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_match_werkzeug() {
        assert_eq!(
            content_disposition("hello.txt"),
            "attachment; filename=hello.txt"
        );
        assert_eq!(
            content_disposition("a b.txt"),
            "attachment; filename=\"a b.txt\""
        );
        assert_eq!(
            content_disposition("q\"x.bin"),
            "attachment; filename=\"q\\\"x.bin\""
        );
        assert_eq!(
            content_disposition("日本語.txt"),
            "attachment; filename=.txt; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.txt"
        );
    }

    #[test]
    fn flask_rules() {
        assert_eq!(flask_rule(None, "/x"), "/x");
    }
}
