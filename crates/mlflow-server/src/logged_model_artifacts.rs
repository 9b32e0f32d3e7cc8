//! Artifact listing for `logged-models/{id}/artifacts/directories`.
//!
//! Interim implementation until the artifact service is wired into [`AppState`]: roots on the
//! local filesystem (plain paths and `file:` URIs) are listed directly; proxied roots
//! (`mlflow-artifacts:`) need the server's artifact destination and answer `NOT_IMPLEMENTED`.

use crate::AppState;
use mlflow_domain::{Error, ErrorCode, Result};
use serde_json::{Value, json};

/// `validate_path_is_safe` for a relative directory path (empty = root).
fn safe_relative(dir: &str) -> Result<String> {
    let d = dir.trim_matches('/');
    let bad = dir.starts_with('/')
        || dir.contains('\\')
        || dir.contains("://")
        || d.split('/').any(|seg| seg == ".." || seg == ".")
        || d.contains('\0');
    if bad {
        return Err(Error::invalid("Invalid path"));
    }
    Ok(d.to_string())
}

fn local_root(uri: &str) -> Option<std::path::PathBuf> {
    if let Some(rest) = uri.strip_prefix("file://") {
        return Some(rest.into());
    }
    if let Some(rest) = uri.strip_prefix("file:") {
        return Some(rest.into());
    }
    let scheme_like = uri.split_once(':').is_some_and(|(s, _)| {
        s.len() > 1
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    (!scheme_like).then(|| uri.into())
}

/// The direct children of `dir` under `root_uri`, as `FileInfo` JSON objects sorted by path.
pub async fn list(_state: &AppState, root_uri: &str, dir: &str) -> Result<Vec<Value>> {
    let rel = safe_relative(dir)?;
    let Some(root) = local_root(root_uri) else {
        return Err(Error::new(
            ErrorCode::NotImplemented,
            format!("Listing artifacts under '{root_uri}' is not supported by this server yet."),
        ));
    };
    let base = if rel.is_empty() {
        root
    } else {
        root.join(&rel)
    };
    let mut out = Vec::new();
    let Ok(mut rd) = tokio::fs::read_dir(&base).await else {
        return Ok(out);
    };
    while let Ok(Some(entry)) = rd.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let meta = entry
            .metadata()
            .await
            .map_err(|e| Error::internal(format!("failed to stat artifact: {e}")))?;
        out.push(if meta.is_dir() {
            json!({ "path": path, "is_dir": true })
        } else {
            json!({ "path": path, "is_dir": false, "file_size": meta.len() })
        });
    }
    out.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    Ok(out)
}
