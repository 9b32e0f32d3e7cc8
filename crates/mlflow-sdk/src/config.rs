//! Client configuration, read from the same environment variables as the official client.

use std::time::Duration;

/// How to reach and authenticate against a tracking server, and how hard to retry.
///
/// [`ClientConfig::from_env`] reads the official client's variables:
///
/// | variable | field | default |
/// |---|---|---|
/// | `MLFLOW_TRACKING_URI` | `tracking_uri` | `http://localhost:5000` |
/// | `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD` | `auth` = Basic | none |
/// | `MLFLOW_TRACKING_TOKEN` | `auth` = Bearer | none |
/// | `MLFLOW_HTTP_REQUEST_TIMEOUT` (seconds) | `timeout` | 120 |
/// | `MLFLOW_HTTP_REQUEST_MAX_RETRIES` | `max_retries` | 7 |
/// | `MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR` (seconds) | `backoff_factor` | 2 |
/// | `MLFLOW_HTTP_REQUEST_BACKOFF_JITTER` (seconds) | `backoff_jitter` | 1.0 |
/// | `MLFLOW_WORKSPACE` | `workspace` (`X-MLFLOW-WORKSPACE` header) | none |
/// | `MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD` | `multipart_upload` | false |
/// | `MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE` (bytes) | `multipart_min_size` | 500 MiB |
/// | `MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE` (bytes) | `multipart_chunk_size` | 10 MiB |
///
/// ```
/// use mlflow_sdk::ClientConfig;
/// let cfg = ClientConfig::new("http://127.0.0.1:5000").with_max_retries(2);
/// assert_eq!(cfg.tracking_uri, "http://127.0.0.1:5000");
/// ```
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Base URL of the server, without a trailing slash (`http://host:port[/prefix]`).
    pub tracking_uri: String,
    /// Credentials sent with every request.
    pub auth: Auth,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries after the first attempt on 408/429/500/502/503/504 and connection errors.
    pub max_retries: u32,
    /// Exponential backoff: the n-th retry waits `backoff_factor * 2^(n-1)` (capped at 120 s).
    pub backoff_factor: Duration,
    /// Random extra delay, uniform in `[0, backoff_jitter]`, added to each backoff.
    pub backoff_jitter: Duration,
    /// Workspace sent as `X-MLFLOW-WORKSPACE` when set.
    pub workspace: Option<String>,
    /// Upload large files in parts straight to the artifact store (see
    /// [`ClientConfig::with_multipart_upload`]).
    pub multipart_upload: bool,
    /// Smallest file (bytes) uploaded in parts.
    pub multipart_min_size: u64,
    /// Part size (bytes).
    pub multipart_chunk_size: u64,
}

/// Credentials.
///
/// ```
/// use mlflow_sdk::{Auth, ClientConfig};
/// assert!(matches!(Auth::default(), Auth::None));
/// let cfg = ClientConfig::new("https://mlflow.example.com").with_token("s3cr3t");
/// assert!(matches!(cfg.auth, Auth::Bearer(ref t) if t == "s3cr3t"));
/// ```
#[derive(Clone, Debug, Default)]
pub enum Auth {
    /// No `Authorization` header.
    #[default]
    None,
    /// `Authorization: Basic base64(user:password)` (the basic-auth app).
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(String),
}

fn env_nonempty(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

fn env_parse<T: std::str::FromStr>(key: &str) -> Option<T> {
    env_nonempty(key).and_then(|v| v.trim().parse().ok())
}

impl ClientConfig {
    /// A configuration for `tracking_uri` with the official defaults and no credentials.
    ///
    /// ```
    /// use mlflow_sdk::{Auth, ClientConfig};
    /// use std::time::Duration;
    /// let cfg = ClientConfig::new("http://127.0.0.1:5000/");
    /// assert_eq!(cfg.tracking_uri, "http://127.0.0.1:5000"); // trailing slash dropped
    /// assert_eq!(cfg.timeout, Duration::from_secs(120));
    /// assert_eq!(cfg.max_retries, 7);
    /// assert!(matches!(cfg.auth, Auth::None));
    /// ```
    pub fn new(tracking_uri: impl Into<String>) -> Self {
        let mut uri: String = tracking_uri.into();
        while uri.ends_with('/') {
            uri.pop();
        }
        ClientConfig {
            tracking_uri: uri,
            auth: Auth::None,
            timeout: Duration::from_secs(120),
            max_retries: 7,
            backoff_factor: Duration::from_secs(2),
            backoff_jitter: Duration::from_secs(1),
            workspace: None,
            multipart_upload: false,
            multipart_min_size: 500 * 1024 * 1024,
            multipart_chunk_size: 10 * 1024 * 1024,
        }
    }

    /// Reads `MLFLOW_TRACKING_URI` and the other variables in the table above.
    ///
    /// ```
    /// use mlflow_sdk::ClientConfig;
    /// // e.g. MLFLOW_TRACKING_URI=https://mlflow.example.com MLFLOW_TRACKING_TOKEN=...
    /// let cfg = ClientConfig::from_env().with_max_retries(2);
    /// assert!(!cfg.tracking_uri.ends_with('/'));
    /// assert_eq!(cfg.max_retries, 2);
    /// ```
    pub fn from_env() -> Self {
        let uri =
            env_nonempty("MLFLOW_TRACKING_URI").unwrap_or_else(|| "http://localhost:5000".into());
        let mut cfg = ClientConfig::new(uri);
        if let Some(token) = env_nonempty("MLFLOW_TRACKING_TOKEN") {
            cfg.auth = Auth::Bearer(token);
        } else if let (Some(username), Some(password)) = (
            env_nonempty("MLFLOW_TRACKING_USERNAME"),
            env_nonempty("MLFLOW_TRACKING_PASSWORD"),
        ) {
            cfg.auth = Auth::Basic { username, password };
        }
        if let Some(secs) = env_parse::<f64>("MLFLOW_HTTP_REQUEST_TIMEOUT") {
            cfg.timeout = Duration::from_secs_f64(secs.max(0.001));
        }
        if let Some(n) = env_parse::<u32>("MLFLOW_HTTP_REQUEST_MAX_RETRIES") {
            cfg.max_retries = n;
        }
        if let Some(f) = env_parse::<f64>("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR") {
            cfg.backoff_factor = Duration::from_secs_f64(f.clamp(0.0, 120.0));
        }
        if let Some(j) = env_parse::<f64>("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER") {
            cfg.backoff_jitter = Duration::from_secs_f64(j.clamp(0.0, 120.0));
        }
        cfg.workspace = env_nonempty("MLFLOW_WORKSPACE");
        if let Some(v) = env_nonempty("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD") {
            cfg.multipart_upload = matches!(v.to_ascii_lowercase().as_str(), "true" | "1");
        }
        if let Some(n) = env_parse::<u64>("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE") {
            cfg.multipart_min_size = n;
        }
        if let Some(n) = env_parse::<u64>("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE") {
            cfg.multipart_chunk_size = n.max(1);
        }
        cfg
    }

    /// Uploads files of at least `min_size` bytes in `chunk_size` parts straight to the
    /// artifact store (presigned part URLs from the server's `mpu/create`), like the official
    /// client with `MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=true`. Servers whose artifact
    /// destination cannot do it (a local folder) answer 501 and the file goes through the
    /// proxy as usual.
    ///
    /// ```
    /// use mlflow_sdk::ClientConfig;
    /// let cfg = ClientConfig::new("http://127.0.0.1:5000")
    ///     .with_multipart_upload(100 * 1024 * 1024, 16 * 1024 * 1024);
    /// assert!(cfg.multipart_upload);
    /// assert_eq!(cfg.multipart_chunk_size, 16 * 1024 * 1024);
    /// ```
    pub fn with_multipart_upload(mut self, min_size: u64, chunk_size: u64) -> Self {
        self.multipart_upload = true;
        self.multipart_min_size = min_size;
        self.multipart_chunk_size = chunk_size.max(1);
        self
    }

    /// Sets Basic credentials.
    ///
    /// ```
    /// use mlflow_sdk::{Auth, ClientConfig};
    /// let cfg = ClientConfig::new("http://localhost:5000").with_basic_auth("admin", "password1234");
    /// assert!(matches!(cfg.auth, Auth::Basic { ref username, .. } if username == "admin"));
    /// ```
    pub fn with_basic_auth(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.auth = Auth::Basic {
            username: username.into(),
            password: password.into(),
        };
        self
    }

    /// Sets a Bearer token.
    ///
    /// ```
    /// use mlflow_sdk::{Auth, ClientConfig};
    /// let cfg = ClientConfig::new("https://mlflow.example.com").with_token("dapi-0123");
    /// assert!(matches!(cfg.auth, Auth::Bearer(ref t) if t == "dapi-0123"));
    /// ```
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.auth = Auth::Bearer(token.into());
        self
    }

    /// Sets the per-request timeout.
    ///
    /// ```
    /// use mlflow_sdk::ClientConfig;
    /// use std::time::Duration;
    /// let cfg = ClientConfig::new("http://localhost:5000").with_timeout(Duration::from_secs(10));
    /// assert_eq!(cfg.timeout, Duration::from_secs(10));
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the number of retries after the first attempt.
    ///
    /// ```
    /// use mlflow_sdk::ClientConfig;
    /// let cfg = ClientConfig::new("http://localhost:5000").with_max_retries(0); // fail fast
    /// assert_eq!(cfg.max_retries, 0);
    /// ```
    pub fn with_max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Sets the backoff factor and jitter.
    ///
    /// ```
    /// use mlflow_sdk::ClientConfig;
    /// use std::time::Duration;
    /// let cfg = ClientConfig::new("http://localhost:5000")
    ///     .with_backoff(Duration::from_millis(200), Duration::ZERO);
    /// assert_eq!(cfg.backoff_factor, Duration::from_millis(200));
    /// assert_eq!(cfg.backoff_jitter, Duration::ZERO);
    /// ```
    pub fn with_backoff(mut self, factor: Duration, jitter: Duration) -> Self {
        self.backoff_factor = factor;
        self.backoff_jitter = jitter;
        self
    }

    /// The delay before retry number `attempt` (1-based).
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let exp = 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
        let base = (self.backoff_factor.as_secs_f64() * exp).min(120.0);
        let jitter = self.backoff_jitter.as_secs_f64() * crate::util::random_unit();
        Duration::from_secs_f64(base + jitter)
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig::from_env()
    }
}
