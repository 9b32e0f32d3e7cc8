//! # mlflow-sdk: a Rust client for any MLflow 3 tracking server
//!
//! Speaks the MLflow REST API (the same calls, JSON shapes and headers as the official Python
//! client) to the official server or to `mlflow-rs`.
//!
//! # Layout
//!
//! - [`Client`]: async client, one method per REST call, paging searches as
//!   [`futures::Stream`]s; artifacts (streamed through the artifact proxy), registry, prompts,
//!   logged models, traces and assessments.
//! - [`blocking::Client`]: the same API for synchronous code.
//! - [`fluent`]: `mlflow.start_run()`-style global state with a background metric batcher.
//! - [`tracing_layer`]: a `tracing_subscriber::Layer` exporting `tracing` spans as MLflow
//!   traces, and the [`trace`] attribute macro.
//! - [`ClientConfig`]: `MLFLOW_TRACKING_URI`, credentials, timeouts and retries.
//!
//! ```no_run
//! # async fn demo() -> mlflow_sdk::Result<()> {
//! use mlflow_sdk::{Client, CreateRun, RunStatus};
//! let client = Client::from_env()?; // MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN, ...
//! let exp = client.get_or_create_experiment("my-experiment").await?;
//! let run = client.create_run(CreateRun::new(&exp).name("baseline")).await?;
//! client.log_param(run.id(), "lr", "0.01").await?;
//! client.log_metric(run.id(), "loss", 0.25, 1).await?;
//! client.end_run(run.id(), RunStatus::Finished).await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod artifacts;
pub mod blocking;
mod client;
mod config;
mod error;
pub mod evaluate;
mod exit;
pub mod fluent;
mod http;
mod logged_models;
pub mod prompts;
mod registry;
mod traces;
pub mod tracing_layer;
mod types;
mod util;
mod webhooks;

pub use client::{
    Client, CreateRun, MAX_ENTITIES_PER_BATCH, MAX_METRICS_PER_BATCH, MAX_PARAMS_PER_BATCH,
    MAX_TAGS_PER_BATCH, SearchQuery,
};
pub use config::{Auth, ClientConfig};
pub use error::{Error, Result};
pub use logged_models::CreateLoggedModel;
/// Records each call of a function as an MLflow span (see the
/// [`tracing_layer`] module for the layer that exports it).
///
/// ```no_run
/// #[mlflow_sdk::trace(span_type = "TOOL")]
/// fn add(a: i64, b: i64) -> i64 {
///     a + b
/// }
///
/// #[mlflow_sdk::trace(name = "fetch", span_type = "RETRIEVER", skip(token))]
/// async fn fetch(url: String, token: &str) -> Result<String, std::io::Error> {
///     let _ = token;
///     Ok(format!("body of {url}"))
/// }
/// assert_eq!(add(2, 3), 5);
/// ```
pub use mlflow_sdk_macros::trace;
pub use prompts::{ChatMessage, Prompt, PromptTemplate};
pub use registry::CreateModelVersion;
pub use traces::{SpanEventRecord, SpanRecord};
pub use types::*;
pub use util::{git_metadata, now_ms, now_ns, rfc3339_from_ns, rfc3339_to_ms};
pub use webhooks::{
    CreateWebhook, UpdateWebhook, Webhook, WebhookEvent, WebhookStatus, WebhookTestResult,
};

/// Items used by the code the [`trace`] macro generates. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::tracing_layer::macro_support::*;
    pub use serde_json;
    pub use tracing;
}
