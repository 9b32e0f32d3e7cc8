//! Artifact URIs -> repositories, as the official `get_artifact_repository` and the proxied
//! artifact resolution in `server/handlers.py`.
//!
//! | scheme | repository | feature |
//! |---|---|---|
//! | none, `file:` | [`LocalRepo`] | always |
//! | `s3:` | S3 / S3-compatible (`MLFLOW_S3_ENDPOINT_URL`, `AWS_*` env) | `s3` (default) |
//! | `gs:` | Google Cloud Storage (`GOOGLE_*` env) | `gcs` |
//! | `wasbs:`, `abfss:` | Azure Blob / ADLS Gen2 (`AZURE_*` env) | `azure` |
//! | `mlflow-artifacts:`, `http(s):` | proxied: resolved against `--artifacts-destination` | always |

use crate::local::LocalRepo;
use crate::{ArtifactRepo, RelPath};
use mlflow_domain::{Error, ErrorCode, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
use crate::object::ObjectStoreRepo;

/// The schemes this build can open, in the official error's format.
pub fn registered_schemes() -> Vec<&'static str> {
    let mut v = vec!["", "file"];
    if cfg!(feature = "s3") {
        v.push("s3");
    }
    if cfg!(feature = "gcs") {
        v.push("gs");
    }
    if cfg!(feature = "azure") {
        v.push("wasbs");
        v.push("abfss");
    }
    v.extend(["http", "https", "mlflow-artifacts"]);
    v
}

/// The URI scheme, lower-cased (`""` for a plain path; a Windows drive is not a scheme).
pub fn scheme(uri: &str) -> String {
    match uri.find(':') {
        Some(i)
            if i > 1
                && uri[..i]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
        {
            uri[..i].to_ascii_lowercase()
        }
        _ => String::new(),
    }
}

fn unsupported(uri: &str) -> Error {
    let schemes: Vec<String> = registered_schemes()
        .iter()
        .map(|s| format!("'{s}'"))
        .collect();
    Error::invalid(format!(
        "Could not find a registered artifact repository for: {uri}. Currently registered \
         schemes are: [{}]",
        schemes.join(", ")
    ))
}

/// `scheme://authority/path` -> (authority, path without leading `/`).
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
fn split_authority(uri: &str) -> Result<(String, String)> {
    let rest = uri
        .split_once("://")
        .map(|(_, r)| r)
        .ok_or_else(|| Error::invalid(format!("Invalid artifact URI: '{uri}'")))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.is_empty() {
        return Err(Error::invalid(format!("Invalid artifact URI: '{uri}'")));
    }
    Ok((authority.to_string(), path.trim_matches('/').to_string()))
}

/// Environment lookup with per-instance overrides (tests cannot mutate the process env).
#[derive(Debug, Clone, Default)]
pub struct Env(HashMap<String, String>);

impl Env {
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.insert(name.into(), value.into());
        self
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
            .filter(|v| !v.is_empty())
    }
}

#[cfg(feature = "s3")]
fn build_s3(bucket: &str, vars: &Env) -> Result<Arc<object_store::aws::AmazonS3>> {
    use object_store::ClientOptions;
    use object_store::aws::AmazonS3Builder;
    let env = |n: &str| vars.get(n);
    let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if let Some(v) = env("AWS_ACCESS_KEY_ID") {
        b = b.with_access_key_id(v);
    }
    if let Some(v) = env("AWS_SECRET_ACCESS_KEY") {
        b = b.with_secret_access_key(v);
    }
    if let Some(v) = env("AWS_SESSION_TOKEN") {
        b = b.with_token(v);
    }
    if let Some(v) = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
        b = b.with_region(v);
    }
    let mut opts = ClientOptions::new();
    if let Some(endpoint) = env("MLFLOW_S3_ENDPOINT_URL") {
        if endpoint.starts_with("http://") {
            b = b.with_allow_http(true);
            opts = opts.with_allow_http(true);
        }
        b = b.with_endpoint(endpoint);
    }
    // boto's "auto" is path style for custom endpoints and virtual hosts for AWS.
    let virtual_hosted = match env("MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE").as_deref() {
        Some("virtual") => true,
        Some("path") => false,
        _ => env("MLFLOW_S3_ENDPOINT_URL").is_none(),
    };
    b = b.with_virtual_hosted_style_request(virtual_hosted);
    if env("AWS_REGION").is_none() && env("AWS_DEFAULT_REGION").is_none() {
        b = b.with_region("us-east-1");
    }
    if matches!(
        env("MLFLOW_S3_IGNORE_TLS")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("true" | "1")
    ) {
        opts = opts.with_allow_invalid_certificates(true);
    }
    let store = b
        .with_client_options(opts)
        .build()
        .map_err(|e| Error::invalid(format!("Invalid S3 configuration for '{bucket}': {e}")))?;
    Ok(Arc::new(store))
}

#[cfg(feature = "gcs")]
fn build_gcs(bucket: &str, _vars: &Env) -> Result<Arc<dyn object_store::ObjectStore>> {
    use object_store::gcp::GoogleCloudStorageBuilder;
    let store = GoogleCloudStorageBuilder::from_env()
        .with_bucket_name(bucket)
        .build()
        .map_err(|e| Error::invalid(format!("Invalid GCS configuration for '{bucket}': {e}")))?;
    Ok(Arc::new(store))
}

/// `wasbs://container@account.blob.core.windows.net/path` and
/// `abfss://filesystem@account.dfs.core.windows.net/path`; credentials from
/// `AZURE_STORAGE_CONNECTION_STRING` (AccountKey) or `AZURE_STORAGE_ACCESS_KEY`, else the
/// object_store `AZURE_*` variables.
#[cfg(feature = "azure")]
fn build_azure(authority: &str, vars: &Env) -> Result<Arc<dyn object_store::ObjectStore>> {
    use object_store::azure::MicrosoftAzureBuilder;
    let env = |n: &str| vars.get(n);
    let (container, host) = authority.split_once('@').ok_or_else(|| {
        Error::invalid(format!(
            "Invalid Azure URI authority '{authority}': expected container@account.host"
        ))
    })?;
    let account = host.split('.').next().unwrap_or(host);
    let mut b = MicrosoftAzureBuilder::from_env()
        .with_account(account)
        .with_container_name(container);
    let conn_key = env("AZURE_STORAGE_CONNECTION_STRING").and_then(|cs| {
        cs.split(';')
            .find_map(|kv| kv.strip_prefix("AccountKey=").map(str::to_string))
    });
    if let Some(key) = conn_key.or_else(|| env("AZURE_STORAGE_ACCESS_KEY")) {
        b = b.with_access_key(key);
    }
    let store = b.build().map_err(|e| {
        Error::invalid(format!(
            "Invalid Azure configuration for '{authority}': {e}"
        ))
    })?;
    Ok(Arc::new(store))
}

/// Opens repositories by URI and resolves proxied (`mlflow-artifacts:`) locations against
/// the `--artifacts-destination`. Object-store clients are cached per bucket.
pub struct Artifacts {
    destination: Option<Arc<dyn ArtifactRepo>>,
    destination_uri: Option<String>,
    #[cfg_attr(
        not(any(feature = "s3", feature = "gcs", feature = "azure")),
        allow(dead_code)
    )]
    env: Env,
    #[cfg_attr(not(any(feature = "gcs", feature = "azure")), allow(dead_code))]
    stores: Mutex<HashMap<String, Arc<dyn object_store::ObjectStore>>>,
    /// S3 clients per bucket (kept concrete: they also presign and drive multipart uploads).
    #[cfg(feature = "s3")]
    s3_stores: Mutex<HashMap<String, Arc<object_store::aws::AmazonS3>>>,
}

impl std::fmt::Debug for Artifacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Artifacts")
            .field("destination", &self.destination_uri)
            .finish()
    }
}

impl Artifacts {
    /// `destination` is the `--artifacts-destination` URI (`None`: proxied artifacts are
    /// not configured).
    pub fn new(destination: Option<&str>) -> Result<Self> {
        Self::with_env(destination, Env::default())
    }

    /// As [`Artifacts::new`], reading settings (`MLFLOW_S3_ENDPOINT_URL`, `AWS_*`, ...)
    /// from `env` before the process environment.
    pub fn with_env(destination: Option<&str>, env: Env) -> Result<Self> {
        let mut me = Self {
            destination: None,
            destination_uri: destination.map(str::to_string),
            env,
            stores: Mutex::new(HashMap::new()),
            #[cfg(feature = "s3")]
            s3_stores: Mutex::new(HashMap::new()),
        };
        if let Some(uri) = destination {
            me.destination = Some(me.open(uri)?);
        }
        Ok(me)
    }

    /// A destination backed by a local directory (tests, defaults).
    pub fn local(dir: impl AsRef<std::path::Path>) -> Result<Self> {
        Self::new(Some(&dir.as_ref().to_string_lossy()))
    }

    /// Uses an already built repository as the destination (tests, embedding).
    pub fn with_destination(repo: Arc<dyn ArtifactRepo>) -> Self {
        Self {
            destination_uri: Some(repo.uri().to_string()),
            destination: Some(repo),
            env: Env::default(),
            stores: Mutex::new(HashMap::new()),
            #[cfg(feature = "s3")]
            s3_stores: Mutex::new(HashMap::new()),
        }
    }

    pub fn destination_uri(&self) -> Option<&str> {
        self.destination_uri.as_deref()
    }

    /// The `--artifacts-destination` repository.
    pub fn destination(&self) -> Result<Arc<dyn ArtifactRepo>> {
        self.destination.clone().ok_or_else(|| {
            Error::new(
                ErrorCode::TemporarilyUnavailable,
                "Artifact serving is not configured.",
            )
        })
    }

    #[cfg(any(feature = "gcs", feature = "azure"))]
    fn cached_store(
        &self,
        key: String,
        build: impl FnOnce() -> Result<Arc<dyn object_store::ObjectStore>>,
    ) -> Result<Arc<dyn object_store::ObjectStore>> {
        let mut stores = self
            .stores
            .lock()
            .map_err(|_| Error::internal("artifact store cache poisoned"))?;
        if let Some(s) = stores.get(&key) {
            return Ok(s.clone());
        }
        let s = build()?;
        stores.insert(key, s.clone());
        Ok(s)
    }

    #[cfg(feature = "s3")]
    fn cached_s3(&self, bucket: &str) -> Result<Arc<object_store::aws::AmazonS3>> {
        let mut stores = self
            .s3_stores
            .lock()
            .map_err(|_| Error::internal("artifact store cache poisoned"))?;
        if let Some(s) = stores.get(bucket) {
            return Ok(s.clone());
        }
        let s = build_s3(bucket, &self.env)?;
        stores.insert(bucket.to_string(), s.clone());
        Ok(s)
    }

    /// Opens the repository for a concrete (non-proxied) artifact URI.
    pub fn open(&self, uri: &str) -> Result<Arc<dyn ArtifactRepo>> {
        match scheme(uri).as_str() {
            "" | "file" => Ok(Arc::new(LocalRepo::new(uri)?)),
            #[cfg(feature = "s3")]
            "s3" => {
                let (bucket, prefix) = split_authority(uri)?;
                let s3 = self.cached_s3(&bucket)?;
                let store: Arc<dyn object_store::ObjectStore> = s3.clone();
                let direct: Arc<dyn crate::object::DirectStore> = s3;
                Ok(Arc::new(
                    ObjectStoreRepo::new(uri, store, &prefix).with_direct(Some(direct)),
                ))
            }
            #[cfg(feature = "gcs")]
            "gs" => {
                let (bucket, prefix) = split_authority(uri)?;
                let store =
                    self.cached_store(format!("gs://{bucket}"), || build_gcs(&bucket, &self.env))?;
                Ok(Arc::new(ObjectStoreRepo::new(uri, store, &prefix)))
            }
            #[cfg(feature = "azure")]
            "wasbs" | "abfss" => {
                let (authority, prefix) = split_authority(uri)?;
                let store = self.cached_store(format!("az://{authority}"), || {
                    build_azure(&authority, &self.env)
                })?;
                Ok(Arc::new(ObjectStoreRepo::new(uri, store, &prefix)))
            }
            _ => Err(unsupported(uri)),
        }
    }

    /// Where a run's artifacts live: `(repository, path of the run root inside it)`.
    ///
    /// Proxied roots (`mlflow-artifacts:` or an `http(s)` URL of this API) resolve inside
    /// the destination when `serve_artifacts` is on, as `_is_servable_proxied_run_artifact_root`;
    /// anything else opens the URI itself.
    pub fn for_run_root(
        &self,
        artifact_uri: &str,
        serve_artifacts: bool,
    ) -> Result<(Arc<dyn ArtifactRepo>, RelPath, bool)> {
        let s = scheme(artifact_uri);
        let proxied = matches!(s.as_str(), "mlflow-artifacts" | "http" | "https");
        if proxied && serve_artifacts {
            let path = proxied_path(artifact_uri)?;
            return Ok((self.destination()?, path, true));
        }
        Ok((self.open(artifact_uri)?, RelPath::root(), false))
    }
}

/// The destination-relative path of a proxied root (`_get_proxied_run_artifact_destination_path`).
pub fn proxied_path(artifact_uri: &str) -> Result<RelPath> {
    let s = scheme(artifact_uri);
    let rest = &artifact_uri[s.len() + 1..];
    let path = if s == "mlflow-artifacts" {
        // mlflow-artifacts:/p or mlflow-artifacts://netloc/p
        match rest.strip_prefix("//") {
            Some(after) => after.find('/').map(|i| &after[i..]).unwrap_or(""),
            None => rest,
        }
    } else {
        const ANCHOR: &str = "/api/2.0/mlflow-artifacts/artifacts/";
        let after_scheme = rest.trim_start_matches('/');
        let path_start = after_scheme.find('/').unwrap_or(after_scheme.len());
        let url_path = &after_scheme[path_start..];
        let url_path = url_path.split(['?', '#']).next().unwrap_or("");
        url_path.split_once(ANCHOR).map(|(_, p)| p).ok_or_else(|| {
            Error::internal(format!(
                "The artifact URI '{artifact_uri}' is not an mlflow-artifacts API URL"
            ))
        })?
    };
    RelPath::parse(path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        assert_eq!(scheme("/tmp/x"), "");
        assert_eq!(scheme("./mlartifacts"), "");
        assert_eq!(scheme("file:///tmp/x"), "file");
        assert_eq!(scheme("S3://b/p"), "s3");
        assert_eq!(
            scheme("mlflow-artifacts:/0/r/artifacts"),
            "mlflow-artifacts"
        );
        assert_eq!(scheme("C:\\x"), "");
    }

    #[test]
    fn proxied_paths() {
        assert_eq!(
            proxied_path("mlflow-artifacts:/0/r/artifacts")
                .unwrap()
                .as_str(),
            "0/r/artifacts"
        );
        assert_eq!(
            proxied_path("mlflow-artifacts://host:5000/1/r/artifacts")
                .unwrap()
                .as_str(),
            "1/r/artifacts"
        );
        assert_eq!(
            proxied_path("http://h:5000/api/2.0/mlflow-artifacts/artifacts/2/r/artifacts")
                .unwrap()
                .as_str(),
            "2/r/artifacts"
        );
        assert!(proxied_path("http://h:5000/other").is_err());
    }

    #[test]
    fn unknown_scheme_lists_registered() {
        let a = Artifacts::new(None).unwrap();
        let e = a.open("ftp://x/y").unwrap_err();
        assert!(
            e.message
                .contains("Could not find a registered artifact repository for: ftp://x/y")
        );
        assert!(a.destination().is_err());
    }
}
