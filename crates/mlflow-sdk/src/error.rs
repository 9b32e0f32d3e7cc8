//! The SDK's error type.

/// Everything that can go wrong talking to an MLflow server.
///
/// Server-side failures keep the server's `error_code` (e.g. `RESOURCE_DOES_NOT_EXIST`) and
/// message, so callers can branch on [`Error::error_code`] exactly as they would on
/// `MlflowException.error_code` in the Python client.
///
/// ```
/// use mlflow_sdk::Error;
/// let e = Error::Api {
///     status: 404,
///     error_code: "RESOURCE_DOES_NOT_EXIST".into(),
///     message: "Run 'abc' not found".into(),
/// };
/// assert_eq!(e.to_string(), "RESOURCE_DOES_NOT_EXIST (HTTP 404): Run 'abc' not found");
/// assert!(e.is_not_found());
/// ```
///
/// Branching on a server error:
///
/// ```no_run
/// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
/// use mlflow_sdk::Error;
/// match client.get_run("0123456789abcdef0123456789abcdef").await {
///     Ok(run) => println!("status {:?}", run.info.status),
///     Err(e) if e.is_not_found() => println!("no such run"),
///     Err(Error::Api { status, error_code, message }) => {
///         eprintln!("{error_code} (HTTP {status}): {message}")
///     }
///     Err(e) => return Err(e),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status. Non-JSON errors are mapped like the official
    /// client does: 404 → `ENDPOINT_NOT_FOUND`, 400 → `BAD_REQUEST`, anything else →
    /// `INTERNAL_ERROR`.
    #[error("{error_code} (HTTP {status}): {message}")]
    Api {
        /// The HTTP status code.
        status: u16,
        /// The server's `error_code`, e.g. `RESOURCE_DOES_NOT_EXIST`.
        error_code: String,
        /// The server's message.
        message: String,
    },
    /// The request could not be sent or the response not read (connection refused, timeout, …),
    /// after all retries.
    #[error("request to {url} failed: {source}")]
    Http {
        /// The URL that was requested.
        url: String,
        /// The underlying transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered 2xx but the body was not what the API promises.
    #[error("unexpected response from {url}: {message}")]
    Decode {
        /// The URL that was requested.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// The client was misconfigured or called with invalid arguments.
    #[error("INVALID_PARAMETER_VALUE: {0}")]
    InvalidArgument(String),
    /// A local file operation failed (artifact upload/download).
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The local path involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A background worker (metric batcher, trace exporter) is gone.
    #[error("background worker stopped: {0}")]
    Background(String),
}

impl Error {
    /// The MLflow error code: the server's for [`Error::Api`], `INVALID_PARAMETER_VALUE` for
    /// [`Error::InvalidArgument`], `None` for transport and local failures.
    ///
    /// ```
    /// use mlflow_sdk::Error;
    /// let e = Error::Api {
    ///     status: 400,
    ///     error_code: "RESOURCE_ALREADY_EXISTS".into(),
    ///     message: "Experiment 'demo' already exists.".into(),
    /// };
    /// assert_eq!(e.error_code(), Some("RESOURCE_ALREADY_EXISTS"));
    /// let bad = Error::InvalidArgument("max_results must be positive".into());
    /// assert_eq!(bad.error_code(), Some("INVALID_PARAMETER_VALUE"));
    /// assert_eq!(Error::Background("exporter stopped".into()).error_code(), None);
    /// ```
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Error::Api { error_code, .. } => Some(error_code),
            Error::InvalidArgument(_) => Some("INVALID_PARAMETER_VALUE"),
            _ => None,
        }
    }

    /// The HTTP status of an [`Error::Api`].
    ///
    /// ```
    /// use mlflow_sdk::Error;
    /// let e = Error::Api {
    ///     status: 429,
    ///     error_code: "REQUEST_LIMIT_EXCEEDED".into(),
    ///     message: String::new(),
    /// };
    /// assert_eq!(e.status(), Some(429));
    /// assert_eq!(Error::InvalidArgument("bad".into()).status(), None);
    /// ```
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for `RESOURCE_DOES_NOT_EXIST` / `NOT_FOUND` (a missing entity, not a missing route).
    ///
    /// ```
    /// use mlflow_sdk::Error;
    /// let missing = Error::Api {
    ///     status: 404,
    ///     error_code: "RESOURCE_DOES_NOT_EXIST".into(),
    ///     message: "Registered Model with name=churn not found".into(),
    /// };
    /// assert!(missing.is_not_found());
    /// let no_route = Error::Api {
    ///     status: 404,
    ///     error_code: "ENDPOINT_NOT_FOUND".into(),
    ///     message: String::new(),
    /// };
    /// assert!(!no_route.is_not_found());
    /// ```
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.error_code(),
            Some("RESOURCE_DOES_NOT_EXIST") | Some("NOT_FOUND")
        )
    }

    /// True when the server does not know the route (`ENDPOINT_NOT_FOUND`), e.g. an older
    /// server without the 3.x trace endpoints.
    ///
    /// ```
    /// use mlflow_sdk::Error;
    /// let e = Error::Api {
    ///     status: 404,
    ///     error_code: "ENDPOINT_NOT_FOUND".into(),
    ///     message: String::new(),
    /// };
    /// assert!(e.is_endpoint_not_found());
    /// assert!(!e.is_not_found());
    /// ```
    pub fn is_endpoint_not_found(&self) -> bool {
        self.error_code() == Some("ENDPOINT_NOT_FOUND")
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }
}

/// `Result` with the SDK's [`Error`].
///
/// ```
/// fn parse_step(s: &str) -> mlflow_sdk::Result<i64> {
///     s.parse()
///         .map_err(|_| mlflow_sdk::Error::InvalidArgument(format!("not a step: {s}")))
/// }
/// assert_eq!(parse_step("3").unwrap(), 3);
/// assert_eq!(parse_step("x").unwrap_err().error_code(), Some("INVALID_PARAMETER_VALUE"));
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;
