//! The SDK's error type.

/// Everything that can go wrong talking to an MLflow server.
///
/// Server-side failures keep the server's `error_code` (e.g. `RESOURCE_DOES_NOT_EXIST`) and
/// message, so callers can branch on [`Error::error_code`] exactly as they would on
/// `MlflowException.error_code` in the Python client.
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
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Error::Api { error_code, .. } => Some(error_code),
            Error::InvalidArgument(_) => Some("INVALID_PARAMETER_VALUE"),
            _ => None,
        }
    }

    /// The HTTP status of an [`Error::Api`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for `RESOURCE_DOES_NOT_EXIST` / `NOT_FOUND` (a missing entity, not a missing route).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.error_code(),
            Some("RESOURCE_DOES_NOT_EXIST") | Some("NOT_FOUND")
        )
    }

    /// True when the server does not know the route (`ENDPOINT_NOT_FOUND`), e.g. an older
    /// server without the 3.x trace endpoints.
    pub fn is_endpoint_not_found(&self) -> bool {
        self.error_code() == Some("ENDPOINT_NOT_FOUND")
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }
}

/// `Result` with the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
