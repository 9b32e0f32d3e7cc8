//! `CreateModelVersion` source handling, as the official handler and store do it:
//!
//! 1. host-addressed schemes (`http(s)://host`, `ftp://`, `mlflow-artifacts://host`, …) are
//!    refused unless allowed by `MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES`;
//! 2. `models:/<name>/<version|stage|latest>` and `models:/<name>@<alias>` resolve to
//!    `models:/<name>/<version>` of an existing, non-prompt model (lineage: run_id taken over);
//! 3. the source must belong to the request's run (`runs:/<run_id>/…`, `mlflow-artifacts:` under
//!    the run's artifact root, local paths inside a local artifact root) or logged model
//!    (`models:/<model_id>`), and must not contain relative path segments;
//! 4. `storage_location` is the logged model's artifact location or the source version's
//!    download URI for `models:/` sources, else the source itself.

use super::WORKSPACE;
use crate::SqlStore;
use crate::db::{RowExt, db_err};
use mlflow_domain::registry::{ModelVersion, has_prompt_tag};
use mlflow_domain::{Error, ErrorCode, Result, now_ms};

/// `urllib.parse.urlsplit` for the parts we need: (scheme lower-cased, netloc, path).
pub(crate) fn split_uri(uri: &str, allow_fragments: bool) -> (String, String, String) {
    let mut rest = uri;
    let mut scheme = String::new();
    if let Some(i) = uri.find(':') {
        let cand = &uri[..i];
        if !cand.is_empty()
            && cand.starts_with(|c: char| c.is_ascii_alphabetic())
            && cand
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            scheme = cand.to_ascii_lowercase();
            rest = &uri[i + 1..];
        }
    }
    let mut netloc = String::new();
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        netloc = after[..end].to_string();
        rest = &after[end..];
    }
    let mut end = rest.find('?').unwrap_or(rest.len());
    if allow_fragments && let Some(h) = rest.find('#') {
        end = end.min(h);
    }
    (scheme, netloc, rest[..end].to_string())
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// `urllib.parse.unquote` (`plus`: also `+` to space).
fn unquote(s: &str, plus: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(a), Some(b)) => {
                    out.push(a * 16 + b);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn iteratively_unquote(s: &str, plus: bool) -> String {
    let mut cur = s.to_string();
    loop {
        let next = unquote(&cur, plus);
        if next == cur {
            return cur;
        }
        cur = next;
    }
}

fn invalid_source(source: &str, id_name: &str) -> Error {
    Error::invalid(format!(
        "Invalid model version source: '{source}'. The {id_name} request parameter must identify \
         the resource that contains the source."
    ))
}

const HOST_ADDRESSED: [&str; 10] = [
    "ftp",
    "sftp",
    "hdfs",
    "viewfs",
    "http",
    "https",
    "mlflow-artifacts",
    "r2",
    "b2",
    "abfss",
];

/// `_validate_artifact_uri_scheme(source, "source")`.
pub(crate) fn check_host_addressed(source: &str) -> Result<()> {
    let (scheme, netloc, _) = split_uri(source, true);
    if !HOST_ADDRESSED.contains(&scheme.as_str()) {
        return Ok(());
    }
    if scheme == "mlflow-artifacts" && netloc.is_empty() {
        return Ok(());
    }
    let allowed =
        std::env::var("MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES").unwrap_or_default();
    if allowed
        .split(',')
        .any(|s| s.trim().eq_ignore_ascii_case(&scheme))
    {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "'source' cannot use the '{scheme}' scheme: the '{scheme}' scheme addresses a host other \
         than the tracking server's configured artifact storage, so the server would connect to \
         the host named in the URI. Set the MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES \
         environment variable on the server to allow it."
    )))
}

/// `is_local_uri` (POSIX).
fn is_local_uri(uri: &str) -> bool {
    let (scheme, _, _) = split_uri(uri, true);
    scheme.is_empty() || scheme == "file"
}

/// A POSIX absolute, lexically normalized path (`Path(p).resolve()` without symlinks).
fn resolve_path(p: &str) -> String {
    let abs = if p.starts_with('/') {
        p.to_string()
    } else {
        let cwd = std::env::current_dir()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "/".into());
        format!("{cwd}/{p}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in abs.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `local_file_uri_to_path`.
fn local_path(uri: &str) -> String {
    let (scheme, _, path) = split_uri(uri, true);
    if scheme == "file" {
        unquote(&path, false)
    } else {
        uri.to_string()
    }
}

fn is_within_dir(dir: &str, path: &str) -> bool {
    path == dir || path.starts_with(&format!("{}/", dir.trim_end_matches('/')))
}

/// `_validate_non_local_source_contains_relative_paths`.
fn check_relative_paths(source: &str) -> Result<()> {
    let err = || {
        Error::invalid(format!(
            "Invalid model version source: '{source}'. If supplying a source as an http, https, \
             local file path, ftp, objectstore, or mlflow-artifacts uri, an absolute path must be \
             provided without relative path references present. Please provide an absolute path."
        ))
    };
    let unquoted = iteratively_unquote(source, true);
    let (_, _, path) = split_uri(&unquoted, true);
    let mut collapsed = String::with_capacity(path.len());
    for c in path.trim_end_matches('/').chars() {
        if !(c == '/' && collapsed.ends_with('/')) {
            collapsed.push(c);
        }
    }
    if collapsed.contains('\0') || unquoted.split('/').any(|p| p == "..") {
        return Err(err());
    }
    if resolve_path(&collapsed) != collapsed {
        return Err(err());
    }
    Ok(())
}

fn uri_parts(uri: &str) -> (String, String, Vec<String>) {
    let (scheme, netloc, path) = split_uri(uri, true);
    let parts = path
        .split('/')
        .filter(|p| !p.is_empty())
        .map(|p| iteratively_unquote(p, false))
        .collect();
    (scheme, netloc.to_lowercase(), parts)
}

/// `_is_uri_within_root`.
fn is_uri_within_root(source: &str, root: &str) -> bool {
    let (ss, sa, sp) = uri_parts(source);
    let (rs, ra, rp) = uri_parts(root);
    ss == rs && sa == ra && !rp.is_empty() && sp.len() >= rp.len() && sp[..rp.len()] == rp[..]
}

/// `_is_mlflow_artifact_source`.
fn is_mlflow_artifact_source(source: &str) -> bool {
    let (scheme, _, parts) = uri_parts(source);
    if scheme == "mlflow-artifacts" {
        return true;
    }
    let route = ["api", "2.0", "mlflow-artifacts", "artifacts"];
    (scheme == "http" || scheme == "https")
        && parts.windows(route.len()).any(|w| w == route.as_slice())
}

/// A parsed `models:/` URI (`_parse_model_uri`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ModelUri {
    Id(String),
    Version(String, String),
    Stage(String, String),
    Latest(String),
    Alias(String, String),
}

fn improper_model_uri(uri: &str) -> Error {
    Error::internal(format!(
        "Not a proper models:/ URI: {uri}. Models URIs must be of the form 'models:/name/suffix' \
         or 'models:/name@alias' where suffix is a version, stage, or the string 'latest' and \
         where alias is a registered model alias. Only one of suffix or alias can be defined at a \
         time."
    ))
}

pub(crate) fn parse_model_uri(uri: &str) -> Result<ModelUri> {
    let (scheme, _, path) = split_uri(uri, false);
    if scheme != "models" || !path.starts_with('/') || path.len() <= 1 {
        return Err(improper_model_uri(uri));
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if parts.len() > 2 || parts[0].trim().is_empty() {
        return Err(improper_model_uri(uri));
    }
    if let [name, suffix] = parts[..] {
        if suffix.trim().is_empty() {
            return Err(improper_model_uri(uri));
        }
        if !suffix.is_empty() && suffix.chars().all(|c| c.is_ascii_digit()) {
            return Ok(ModelUri::Version(name.into(), suffix.into()));
        }
        if suffix.eq_ignore_ascii_case("latest") {
            return Ok(ModelUri::Latest(name.into()));
        }
        return Ok(ModelUri::Stage(name.into(), suffix.into()));
    }
    if path.contains('@') {
        return match parts[0].rsplit_once('@') {
            Some((name, alias)) if !alias.trim().is_empty() => {
                Ok(ModelUri::Alias(name.into(), alias.into()))
            }
            _ => Err(improper_model_uri(uri)),
        };
    }
    Ok(ModelUri::Id(parts[0].into()))
}

impl SqlStore {
    async fn run_artifact_uri(&self, run_id: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            self.db
                .sql("SELECT artifact_uri FROM runs WHERE run_uuid = ?"),
        )
        .bind(run_id.to_string())
        .fetch_optional(&self.db.read)
        .await
        .map_err(db_err)?;
        row.map(|r| r.str_at(0)).transpose()
    }

    /// `get_logged_model(model_id)`: (artifact_location, source_run_id).
    pub(crate) async fn logged_model_location(
        &self,
        model_id: &str,
    ) -> Result<(String, Option<String>)> {
        let row = sqlx::query(self.db.sql(
            "SELECT artifact_location, source_run_id FROM logged_models WHERE model_id = ? \
             AND (lifecycle_stage IS NULL OR lifecycle_stage != 'deleted')",
        ))
        .bind(model_id.to_string())
        .fetch_optional(&self.db.read)
        .await
        .map_err(db_err)?
        .ok_or_else(|| Error::not_found(format!("Logged model with ID '{model_id}' not found.")))?;
        Ok((row.str_at(0)?, row.opt_str_at(1)?.filter(|s| !s.is_empty())))
    }

    /// `_resolve_registered_model_source_lineage`.
    pub(crate) async fn resolve_source_lineage(
        &self,
        source: &str,
        run_id: String,
        model_id: String,
        has_run_id: bool,
        has_model_id: bool,
    ) -> Result<(String, String, String)> {
        let (scheme, netloc, _) = split_uri(source, true);
        if scheme != "models" {
            return Ok((source.to_string(), run_id, model_id));
        }
        if !netloc.is_empty() {
            return Err(Error::invalid(format!(
                "Invalid model version source: '{source}'. Registered model sources must use the \
                 active model registry."
            )));
        }
        let parsed = parse_model_uri(source).map_err(|_| invalid_source(source, "model_id"))?;
        let name = match &parsed {
            ModelUri::Id(_) => return Ok((source.to_string(), run_id, model_id)),
            ModelUri::Version(n, _)
            | ModelUri::Stage(n, _)
            | ModelUri::Latest(n)
            | ModelUri::Alias(n, _) => n.clone(),
        };
        let model = self.get_registered_model_impl(&name).await?;
        if has_prompt_tag(&model.tags) {
            return Err(Error::invalid(format!(
                "Invalid model version source: '{source}'. Prompt versions cannot be used as \
                 model version sources."
            )));
        }
        let version = self.version_for_uri(&parsed).await?;
        let mv: ModelVersion = self.get_model_version_impl(&name, &version).await?;
        let mv_run_id = mv.run_id.clone().unwrap_or_default();
        if (has_run_id && run_id != mv_run_id) || (has_model_id && !model_id.is_empty()) {
            return Err(Error::invalid(format!(
                "Invalid model version source: '{source}'. The run_id and model_id request \
                 parameters must match the referenced model version."
            )));
        }
        Ok((
            format!("models:/{name}/{}", mv.version),
            if has_run_id { run_id } else { mv_run_id },
            if has_model_id {
                model_id
            } else {
                String::new()
            },
        ))
    }

    /// `get_model_name_and_version` for a name-based models:/ URI.
    async fn version_for_uri(&self, parsed: &ModelUri) -> Result<String> {
        let (name, stage) = match parsed {
            ModelUri::Version(_, v) => return Ok(v.clone()),
            ModelUri::Alias(n, a) => {
                return Ok(self.get_model_version_by_alias_impl(n, a).await?.version);
            }
            ModelUri::Stage(n, s) => (n, Some(s.clone())),
            ModelUri::Latest(n) | ModelUri::Id(n) => (n, None),
        };
        let stages: Vec<String> = stage.iter().cloned().collect();
        let latest = self.get_latest_versions_impl(name, &stages).await?;
        latest
            .iter()
            .map(super::models::version_num)
            .max()
            .map(|v| v.to_string())
            .ok_or_else(|| {
                let stage_str = stage
                    .map(|s| format!(" and stage '{s}'"))
                    .unwrap_or_default();
                Error::internal(format!(
                    "No versions of model with name '{name}'{stage_str} found"
                ))
            })
    }

    /// `_validate_source_run`.
    pub(crate) async fn validate_source_run(&self, source: &str, run_id: &str) -> Result<()> {
        if is_local_uri(source) {
            let mut shown = source.to_string();
            if !run_id.is_empty() {
                let root = self
                    .run_artifact_uri(run_id)
                    .await?
                    .ok_or_else(|| invalid_source(source, "run_id"))?;
                let src = resolve_path(&local_path(source));
                if is_local_uri(&root) && is_within_dir(&resolve_path(&local_path(&root)), &src) {
                    return Ok(());
                }
                shown = src;
            }
            return Err(Error::invalid(format!(
                "Invalid model version source: '{shown}'. To use a local path as a model version \
                 source, the run_id request parameter has to be specified and the local path has \
                 to be contained within the artifact directory of the run specified by the run_id."
            )));
        }
        check_relative_paths(source)?;
        let (scheme, netloc, path) = split_uri(source, true);
        if scheme == "runs" {
            if !netloc.is_empty() {
                return Err(invalid_source(source, "run_id"));
            }
            let source_run = path.trim_start_matches('/').split('/').next().unwrap_or("");
            if path.len() <= 1 || source_run.is_empty() {
                return Err(Error::new(
                    ErrorCode::InternalError,
                    format!(
                        "Not a proper runs:/ URI: {source}. Runs URIs must be of the form \
                         'runs:/<run_id>/run-relative/path/to/artifact'"
                    ),
                ));
            }
            if !run_id.is_empty() && source_run == run_id {
                return Ok(());
            }
            return Err(invalid_source(source, "run_id"));
        }
        if scheme == "models" {
            if !netloc.is_empty() {
                return Err(invalid_source(source, "model_id"));
            }
            match parse_model_uri(source) {
                Err(_) | Ok(ModelUri::Id(_)) => return Err(invalid_source(source, "model_id")),
                Ok(_) => {}
            }
        }
        if is_mlflow_artifact_source(source) {
            if !run_id.is_empty()
                && let Some(root) = self.run_artifact_uri(run_id).await?
                && is_uri_within_root(source, &root)
            {
                return Ok(());
            }
            return Err(invalid_source(source, "run_id"));
        }
        Ok(())
    }

    /// `_validate_source_model`.
    pub(crate) async fn validate_source_model(&self, source: &str, model_id: &str) -> Result<()> {
        let location = |r: Result<(String, Option<String>)>| match r {
            Ok((loc, _)) => Ok(loc),
            Err(e) if e.code == ErrorCode::ResourceDoesNotExist => {
                Err(invalid_source(source, "model_id"))
            }
            Err(e) => Err(e),
        };
        if is_local_uri(source) {
            let root = location(self.logged_model_location(model_id).await)?;
            let src = resolve_path(&local_path(source));
            if is_local_uri(&root) && is_within_dir(&resolve_path(&local_path(&root)), &src) {
                return Ok(());
            }
            return Err(Error::invalid(format!(
                "Invalid model version source: '{src}'. To use a local path as a model version \
                 source, the model_id request parameter has to be specified and the local path \
                 has to be contained within the artifact directory of the run specified by the \
                 model_id."
            )));
        }
        check_relative_paths(source)?;
        let (scheme, netloc, _) = split_uri(source, true);
        if scheme == "models" {
            if !netloc.is_empty() {
                return Err(invalid_source(source, "model_id"));
            }
            match parse_model_uri(source) {
                Err(_) => return Err(invalid_source(source, "model_id")),
                Ok(ModelUri::Id(id)) => {
                    if id == model_id {
                        return Ok(());
                    }
                    return Err(invalid_source(source, "model_id"));
                }
                Ok(_) => {}
            }
        }
        if scheme == "runs" {
            return Err(invalid_source(source, "model_id"));
        }
        if is_mlflow_artifact_source(source) {
            let root = location(self.logged_model_location(model_id).await)?;
            if is_uri_within_root(source, &root) {
                return Ok(());
            }
            return Err(invalid_source(source, "model_id"));
        }
        Ok(())
    }

    /// The store's `storage_location`: the logged model's artifact location for
    /// `models:/<model_id>`, the source version's download URI for `models:/<name>/<version>`.
    pub(crate) async fn storage_location_for(
        &self,
        source: &str,
        run_id: &mut String,
        _model_id: &str,
    ) -> Result<String> {
        let (scheme, _, _) = split_uri(source, true);
        if scheme != "models" {
            return Ok(source.to_string());
        }
        let fetch = async {
            match parse_model_uri(source)? {
                ModelUri::Id(id) => {
                    let (loc, source_run) = self.logged_model_location(&id).await?;
                    if run_id.is_empty() {
                        *run_id = source_run.unwrap_or_default();
                    }
                    Ok(loc)
                }
                ModelUri::Version(n, v) => self.get_download_uri_impl(&n, &v).await,
                ModelUri::Stage(n, _) | ModelUri::Latest(n) | ModelUri::Alias(n, _) => {
                    // `get_model_version_download_uri(name, None)` fails the integer check.
                    let _ = n;
                    Err(Error::invalid(
                        "Parameter 'version' must be an integer, got 'None'.",
                    ))
                }
            }
        };
        let r: Result<String> = fetch.await;
        r.map_err(|e| {
            Error::internal(format!(
                "Unable to fetch model from model URI source artifact location '{source}'.Error: {}",
                e.message
            ))
        })
    }

    /// `set_model_versions_tags`: records the new version in the logged model's
    /// `mlflow.modelVersions` tag.
    pub(crate) async fn add_model_version_to_logged_model(
        &self,
        model_id: &str,
        name: &str,
        version: i64,
    ) -> Result<()> {
        const KEY: &str = "mlflow.modelVersions";
        let mut tx = self.db.begin_write().await?;
        let exp = sqlx::query(
            self.db
                .sql("SELECT experiment_id FROM logged_models WHERE model_id = ?"),
        )
        .bind(model_id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(exp) = exp else {
            return Err(Error::not_found(format!(
                "Logged model with ID '{model_id}' not found."
            )));
        };
        let experiment_id = exp.i64_at(0)?;
        let existing = sqlx::query(
            self.db
                .sql("SELECT tag_value FROM logged_model_tags WHERE model_id = ? AND tag_key = ?"),
        )
        .bind(model_id.to_string())
        .bind(KEY)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let entry = serde_json::json!({"name": name, "version": version});
        let mut list: Vec<serde_json::Value> = existing
            .as_ref()
            .and_then(|r| r.opt_str_at(0).ok().flatten())
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default();
        if !list.contains(&entry) {
            list.push(entry);
        }
        // json.dumps separators: ", " and ": ".
        let value = list
            .iter()
            .map(|e| format!("{{\"name\": {}, \"version\": {}}}", e["name"], e["version"]))
            .collect::<Vec<_>>()
            .join(", ");
        let value = format!("[{value}]");
        if existing.is_some() {
            sqlx::query(self.db.sql(
                "UPDATE logged_model_tags SET tag_value = ? WHERE model_id = ? AND tag_key = ?",
            ))
            .bind(value)
            .bind(model_id.to_string())
            .bind(KEY)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        } else {
            sqlx::query(self.db.sql(
                "INSERT INTO logged_model_tags (model_id, tag_key, tag_value, experiment_id) \
                 VALUES (?, ?, ?, ?)",
            ))
            .bind(model_id.to_string())
            .bind(KEY)
            .bind(value)
            .bind(experiment_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        sqlx::query(
            self.db
                .sql("UPDATE logged_models SET last_updated_timestamp_ms = ? WHERE model_id = ?"),
        )
        .bind(now_ms())
        .bind(model_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let _ = WORKSPACE;
        tx.commit().await.map_err(db_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_split() {
        assert_eq!(
            split_uri("s3://b/p?x#y", true),
            ("s3".into(), "b".into(), "/p".into())
        );
        assert_eq!(
            split_uri("runs:/abc/model", true),
            ("runs".into(), "".into(), "/abc/model".into())
        );
        assert_eq!(split_uri("/tmp/x", true).0, "");
        assert_eq!(split_uri("dummy-source", true).0, "");
    }

    #[test]
    fn relative_paths() {
        assert!(check_relative_paths("s3://b/p").is_ok());
        assert!(check_relative_paths("s3://b/../x").is_err());
        assert!(check_relative_paths("s3://b").is_err());
        assert!(check_relative_paths("s3://b/a/./c").is_err());
        assert!(check_relative_paths("s3://b/%2e%2e/x").is_err());
        assert!(check_relative_paths("models:/m/1").is_ok());
        assert!(check_relative_paths("mlflow-artifacts:/0/abc/artifacts/model").is_ok());
    }

    #[test]
    fn model_uris() {
        assert_eq!(
            parse_model_uri("models:/m/3").unwrap(),
            ModelUri::Version("m".into(), "3".into())
        );
        assert_eq!(
            parse_model_uri("models:/m@champ").unwrap(),
            ModelUri::Alias("m".into(), "champ".into())
        );
        assert_eq!(
            parse_model_uri("models:/m/Latest").unwrap(),
            ModelUri::Latest("m".into())
        );
        assert_eq!(
            parse_model_uri("models:/m/Production").unwrap(),
            ModelUri::Stage("m".into(), "Production".into())
        );
        assert_eq!(
            parse_model_uri("models:/m-abc").unwrap(),
            ModelUri::Id("m-abc".into())
        );
        assert!(parse_model_uri("models:/").is_err());
        assert!(parse_model_uri("models:/a/b/c").is_err());
    }

    #[test]
    fn roots() {
        assert!(is_uri_within_root(
            "mlflow-artifacts:/0/r1/artifacts/model",
            "mlflow-artifacts:/0/r1/artifacts"
        ));
        assert!(!is_uri_within_root(
            "mlflow-artifacts:/0/r2/artifacts/model",
            "mlflow-artifacts:/0/r1/artifacts"
        ));
        assert!(is_mlflow_artifact_source(
            "http://h/api/2.0/mlflow-artifacts/artifacts/x"
        ));
        assert!(check_host_addressed("http://evil.com/x").is_err());
        assert!(check_host_addressed("mlflow-artifacts:/0/x").is_ok());
        assert!(check_host_addressed("s3://b/x").is_ok());
    }
}
