//! The HTTP face of [`mlflow_domain::Error`]: `{"error_code", "message"}` with the status from
//! the one code table.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mlflow_domain::{Error, ErrorCode};

/// Wrapper so handlers can `?` any domain error into a response.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.0.code;
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error_code = code.as_str(), message = %self.0.message, "request failed");
        }
        json_error(status, code, &self.0.message)
    }
}

/// Builds the official error body.
pub fn json_error(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let body = serde_json::json!({
        "error_code": code.as_str(),
        "message": message,
        "sqlstate": code.sqlstate(),
        "error_class": code.error_class(),
    });
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
