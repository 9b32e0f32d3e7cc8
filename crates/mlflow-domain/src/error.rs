//! The one place where MLflow error codes meet HTTP statuses.
//!
//! Every layer (store, search, server) reports failures as [`Error`]; the server turns it
//! into `{"error_code", "message"}` with the status from [`ErrorCode::http_status`], the
//! same table as the official `mlflow/exceptions.py::ERROR_CODE_TO_HTTP_STATUS`.

/// MLflow's `ErrorCode` proto enum, restricted to the codes the server emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InternalError,
    TemporarilyUnavailable,
    InvalidState,
    BadRequest,
    InvalidParameterValue,
    EndpointNotFound,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    ResourceConflict,
    PermissionDenied,
    Unauthenticated,
    NotImplemented,
    RequestLimitExceeded,
}

impl ErrorCode {
    /// The wire name, e.g. `RESOURCE_DOES_NOT_EXIST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InternalError => "INTERNAL_ERROR",
            Self::TemporarilyUnavailable => "TEMPORARILY_UNAVAILABLE",
            Self::InvalidState => "INVALID_STATE",
            Self::BadRequest => "BAD_REQUEST",
            Self::InvalidParameterValue => "INVALID_PARAMETER_VALUE",
            Self::EndpointNotFound => "ENDPOINT_NOT_FOUND",
            Self::ResourceAlreadyExists => "RESOURCE_ALREADY_EXISTS",
            Self::ResourceDoesNotExist => "RESOURCE_DOES_NOT_EXIST",
            Self::ResourceConflict => "RESOURCE_CONFLICT",
            Self::PermissionDenied => "PERMISSION_DENIED",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::NotImplemented => "NOT_IMPLEMENTED",
            Self::RequestLimitExceeded => "REQUEST_LIMIT_EXCEEDED",
        }
    }

    /// HTTP status, as `ERROR_CODE_TO_HTTP_STATUS` (note RESOURCE_ALREADY_EXISTS is 400, not 409).
    pub fn http_status(self) -> u16 {
        match self {
            Self::InternalError | Self::InvalidState => 500,
            Self::TemporarilyUnavailable => 503,
            Self::BadRequest | Self::InvalidParameterValue | Self::ResourceAlreadyExists => 400,
            Self::EndpointNotFound | Self::ResourceDoesNotExist => 404,
            Self::ResourceConflict => 409,
            Self::PermissionDenied => 403,
            Self::Unauthenticated => 401,
            Self::NotImplemented => 501,
            Self::RequestLimitExceeded => 429,
        }
    }

    /// The 3.x `error_class` field.
    pub fn error_class(self) -> &'static str {
        match self {
            Self::InvalidParameterValue | Self::BadRequest => "INVALID_PARAMETER_VALUE",
            Self::ResourceDoesNotExist | Self::EndpointNotFound => "RESOURCE_NOT_FOUND",
            Self::ResourceAlreadyExists => "RESOURCE_ALREADY_EXISTS",
            Self::PermissionDenied | Self::Unauthenticated => "PERMISSION_DENIED",
            _ => "CLIENT_INTERNAL_ERROR",
        }
    }

    /// The 3.x `sqlstate` field: server-side faults are `XXM00`, client faults `KAM00`.
    pub fn sqlstate(self) -> &'static str {
        match self {
            Self::InternalError | Self::InvalidState | Self::TemporarilyUnavailable => "XXM00",
            _ => "KAM00",
        }
    }
}

/// An error with an MLflow code and a message meant for the user.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

/// Short alias used across the workspace.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameterValue, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceDoesNotExist, message)
    }
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceAlreadyExists, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InternalError, message)
    }
    /// "Missing value for required parameter 'x'. ..." exactly as the official server words it.
    pub fn missing(param: &str) -> Self {
        Self::invalid(format!(
            "Missing value for required parameter '{param}'. See the API docs for more \
             information about request parameters."
        ))
    }
}
