//! Domain types shared by every mlflow-rs crate.
//!
//! # Layout
//! - [`error`]: the MLflow error-code table and the workspace-wide [`Error`] type.
//! - [`tracking`]: experiments, runs, metrics... in their JSON wire shape.
//! - [`validation`]: the official server's request limits and their exact messages.
//! - [`serde_util`]: lenient proto-JSON deserializers (int64 as strings, `"NaN"`, `True`).

pub mod error;
pub mod genai;
pub mod logged_models;
pub mod registry;
pub mod serde_util;
pub mod traces;
pub mod tracking;
pub mod validation;
pub mod webhooks;

pub use error::{Error, ErrorCode, Result};

/// Milliseconds since the epoch, the unit of every MLflow timestamp.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
