//! Artifacts of logged models: `logged-models/{id}/artifacts/directories` (listing) and the UI's
//! `/ajax-api/2.0/mlflow/logged-models/{id}/artifacts/files?artifact_file_path=` (download),
//! resolved like run artifacts (`mlflow-artifacts:` roots inside the destination when artifacts
//! are served, any other URI opened directly) through the server's artifact resolver.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use mlflow_artifacts::{ArtifactRepo, Fetched, RelPath};
use mlflow_domain::{Error, ErrorCode, Result};
use serde_json::{Value, json};
use std::sync::Arc;

fn resolve(state: &AppState, root_uri: &str) -> Result<(Arc<dyn ArtifactRepo>, RelPath)> {
    let artifacts = state.config.artifacts.as_deref().ok_or_else(|| {
        Error::new(
            ErrorCode::TemporarilyUnavailable,
            "Artifact storage is not configured.",
        )
    })?;
    let (repo, root, _) = artifacts.for_run_root(root_uri, state.config.serve_artifacts)?;
    Ok((repo, root))
}

/// The direct children of `dir` (relative to the model's artifact root), as `FileInfo` JSON
/// objects with root-relative paths, sorted by path.
pub async fn list(state: &AppState, root_uri: &str, dir: &str) -> Result<Vec<Value>> {
    let rel = if dir.is_empty() {
        RelPath::root()
    } else {
        RelPath::parse(dir)?
    };
    let (repo, root) = resolve(state, root_uri)?;
    let listed = repo.list(&root.join(&rel)).await?;
    Ok(listed
        .into_iter()
        .map(|f| {
            let name = f.path.rsplit('/').next().unwrap_or(&f.path).to_string();
            let path = if rel.is_root() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let mut o = json!({ "path": path, "is_dir": f.is_dir });
            if let Some(size) = f.file_size {
                o["file_size"] = json!(size);
            }
            o
        })
        .collect())
}

/// Streams one artifact file of a logged model as an attachment.
pub async fn download(state: &AppState, root_uri: &str, file: &str) -> ApiResult<Response> {
    let rel = RelPath::parse(file)?;
    let (repo, root) = resolve(state, root_uri)?;
    match repo.get(&root.join(&rel)).await? {
        Fetched::File(d) => {
            let name = rel.file_name().to_string();
            let mut resp = Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, mlflow_artifacts::mime::guess(&name))
                .header(
                    header::CONTENT_DISPOSITION,
                    crate::artifacts::content_disposition(&name),
                );
            if let Some(size) = d.size {
                resp = resp.header(header::CONTENT_LENGTH, size);
            }
            resp.body(Body::from_stream(d.stream))
                .map_err(|e| ApiError(Error::internal(format!("failed to build response: {e}"))))
        }
        Fetched::Directory => Err(ApiError(mlflow_artifacts::no_such_artifact(&rel))),
    }
    .map(IntoResponse::into_response)
}
