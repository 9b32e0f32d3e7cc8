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
                post(multipart_upload),
            )
            .route(
                &format!("{base}/mpu/complete/{{*artifact_path}}"),
                post(multipart_upload),
            )
            .route(
                &format!("{base}/mpu/abort/{{*artifact_path}}"),
                post(multipart_upload),
            )
            .route(
                &format!("{base}/presigned/{{*artifact_path}}"),
                get(presigned_download),
            );
    }
    r.route("/api/2.0/mlflow/artifacts/list", get(list_run_artifacts))
        .route(
            "/ajax-api/2.0/mlflow/artifacts/list",
            get(list_run_artifacts),
        )
        .route("/get-artifact", get(get_run_artifact))
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

/// `CreateMultipartUpload` / `CompleteMultipartUpload` / `AbortMultipartUpload`: no
/// repository here supports them (server-info says so), answered as the official server
/// does for a repository without `MultipartUploadMixin`.
pub async fn multipart_upload(
    State(s): State<AppState>,
    matched: Option<MatchedPath>,
    uri: axum::http::Uri,
    p: Result<Path<String>, PathRejection>,
) -> Response {
    if !s.config.serve_artifacts {
        return serve_disabled(flask_rule(matched.as_ref(), uri.path()));
    }
    let run = async {
        RelPath::parse(&path_param(p)?)?;
        resolver(&s)?.destination()?;
        Err::<(), _>(ApiError(Error::new(
            ErrorCode::NotImplemented,
            "Multipart upload is not supported for the current artifact repository",
        )))
    };
    run.await.into_response()
}

/// `GetPresignedDownloadUrl`: not supported by any repository here.
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
        RelPath::parse(&path_param(p)?)?;
        resolver(&s)?.destination()?;
        Err::<(), _>(ApiError(Error::new(
            ErrorCode::NotImplemented,
            "Multipart download is not supported for the current artifact repository",
        )))
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
