//! The MLflow-compatible HTTP server.
//!
//! # Layout
//! - [`router`] builds the axum app: every RPC under `/api/2.0/mlflow/...` and its
//!   `/ajax-api/...` mirror, `/health`, `/version`, `server-info`, a Flask-identical 404.
//! - [`handlers`]: thin handlers (decode with [`extract::Msg`], call the store, encode).
//! - [`requests`]: the request messages; [`error`]: domain error -> HTTP response.
//! - [`security`]: Host-header allow-list (DNS rebinding guard) and CORS, as the official server.
//! - [`serve`] runs the app on a bound listener until a shutdown future resolves.

pub mod artifacts;
pub mod error;
pub mod extract;
pub mod genai;
pub mod handlers;
pub mod logged_model_artifacts;
pub mod logged_models;
pub mod otlp;
pub mod registry;
pub mod requests;
pub mod retention;
pub mod security;
pub mod traces;
pub mod webhooks;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mlflow_store::TrackingStore;
use std::future::Future;
use std::sync::Arc;

/// The MLflow version we report on `/version`. The client enables its 3.x paths (OTLP span
/// logging, logged models) for versions >= 3.4, and we implement the 3.17 wire contract.
pub const MLFLOW_COMPAT_VERSION: &str = "3.17.2";

/// Server settings that change request handling.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// Prepended to every route (`--static-prefix`), e.g. `/mlflow`.
    pub static_prefix: String,
    /// `--allowed-hosts`; `None` means localhost and private addresses.
    pub allowed_hosts: Option<Vec<String>>,
    /// `--cors-allowed-origins`; `None` means localhost origins on any port.
    pub cors_allowed_origins: Option<Vec<String>>,
    /// `--serve-artifacts` (default true).
    pub serve_artifacts: bool,
    /// `--artifacts-only`: tracking routes answer 503.
    pub artifacts_only: bool,
    /// The artifact resolver (`--artifacts-destination` and run artifact URIs); `None`:
    /// proxied artifacts are not configured (mlflow-artifacts routes answer 503).
    pub artifacts: Option<Arc<mlflow_artifacts::Artifacts>>,
    /// The webhook service (CRUD, event emission, delivery); `None`: webhook endpoints answer
    /// NOT_IMPLEMENTED and registry writes emit nothing.
    pub webhooks: Option<Arc<webhooks::Webhooks>>,
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn TrackingStore>,
    pub traces: Arc<dyn mlflow_store::TraceStore>,
    pub registry: Arc<dyn mlflow_store::RegistryStore>,
    /// Evaluation datasets and the scorer registry.
    pub genai: Arc<dyn mlflow_store::GenAiStore>,
    pub config: Arc<ServerConfig>,
}

/// The body Flask sends for an unknown route; the client keys its v3->v2 fallbacks on a
/// non-JSON 404, so we send exactly this.
const NOT_FOUND_HTML: &str = "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n";

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        NOT_FOUND_HTML,
    )
        .into_response()
}

async fn health() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "OK",
    )
        .into_response()
}

async fn version() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        MLFLOW_COMPAT_VERSION,
    )
        .into_response()
}

async fn server_info(axum::extract::State(s): axum::extract::State<AppState>) -> Response {
    axum::Json(serde_json::json!({
        "store_type": "SqlStore",
        "workspaces_enabled": false,
        "trace_archival_enabled": false,
        "multipart_uploads_enabled": artifacts::multipart_capabilities(&s).0,
        "multipart_downloads_enabled": artifacts::multipart_capabilities(&s).1,
        "artifact_serving_enabled": s.config.serve_artifacts,
        "presigned_upload_run_id_supported": true,
        "presigned_upload_model_id_supported": true,
        "features_enabled": { "gateway": false },
    }))
    .into_response()
}

/// `--artifacts-only`: every tracking route answers 503 with the official text
/// (`_disable_if_artifacts_only`); unknown paths stay 404.
async fn artifacts_only_disabled(
    req: axum::extract::Request,
    _next: axum::middleware::Next,
) -> Response {
    let rule = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "Endpoint: {rule} disabled due to the mlflow server running in `--artifacts-only` \
             mode. To enable tracking server functionality, run `mlflow server` without \
             `--artifacts-only`"
        ),
    )
        .into_response()
}

/// The tracking RPCs, relative to `/api/2.0/mlflow`.
fn tracking_routes() -> Router<AppState> {
    use handlers::*;
    Router::new()
        .route("/experiments/create", post(create_experiment))
        .route("/experiments/get", get(get_experiment))
        .route("/experiments/get-by-name", get(get_experiment_by_name))
        .route(
            "/experiments/search",
            get(search_experiments).post(search_experiments),
        )
        .route("/experiments/update", post(update_experiment))
        .route("/experiments/delete", post(delete_experiment))
        .route("/experiments/restore", post(restore_experiment))
        .route("/experiments/set-experiment-tag", post(set_experiment_tag))
        .route(
            "/experiments/delete-experiment-tag",
            post(delete_experiment_tag),
        )
        .route("/runs/create", post(create_run))
        .route("/runs/get", get(get_run))
        .route("/runs/update", post(update_run))
        .route("/runs/delete", post(delete_run))
        .route("/runs/restore", post(restore_run))
        .route("/runs/log-metric", post(log_metric))
        .route("/runs/log-parameter", post(log_param))
        .route("/runs/set-tag", post(set_tag))
        .route("/runs/delete-tag", post(delete_tag))
        .route("/runs/log-batch", post(log_batch))
        .route("/runs/log-inputs", post(log_inputs))
        .route("/runs/log-model", post(log_model))
        .route("/runs/search", post(search_runs))
        .route("/metrics/get-history", get(get_metric_history))
        .route(
            "/metrics/get-history-bulk-interval",
            get(get_metric_history_bulk_interval),
        )
        .merge(logged_models::logged_model_routes())
        .merge(traces::v2_routes())
        .merge(registry::registry_routes())
        .merge(webhooks::webhook_routes())
}

/// Builds the whole application.
pub fn router(state: AppState) -> Router {
    let prefix = state.config.static_prefix.trim_end_matches('/').to_string();
    let p = |path: &str| format!("{prefix}{path}");
    let mut app: Router<AppState> = Router::new()
        .route(&p("/health"), get(health))
        .route(&p("/version"), get(version))
        .route(&p("/api/3.0/mlflow/server-info"), get(server_info))
        .route(&p("/ajax-api/3.0/mlflow/server-info"), get(server_info));
    let tracking = || {
        let routes = tracking_routes();
        if state.config.artifacts_only {
            routes.route_layer(axum::middleware::from_fn(artifacts_only_disabled))
        } else {
            routes
        }
    };
    app = app
        .nest(&p("/api/2.0/mlflow"), tracking())
        .nest(&p("/ajax-api/2.0/mlflow"), tracking());
    let traces_v3 = || {
        let routes = traces::v3_routes()
            .merge(genai::v3_routes())
            .merge(webhooks::v3_routes());
        if state.config.artifacts_only {
            routes.route_layer(axum::middleware::from_fn(artifacts_only_disabled))
        } else {
            routes
        }
    };
    app = app
        .nest(&p("/api/3.0/mlflow"), traces_v3())
        .nest(&p("/ajax-api/3.0/mlflow"), traces_v3())
        .route(
            &p("/ajax-api/3.0/mlflow/get-trace-artifact"),
            get(traces::get_trace_artifact),
        );
    app = if prefix.is_empty() {
        app.merge(traces::otlp_routes())
    } else {
        app.nest(&prefix, traces::otlp_routes())
    };
    let bulk = get(handlers::get_metric_history_bulk);
    app = app.route(
        &p("/ajax-api/2.0/mlflow/experiments/search-datasets"),
        post(logged_models::search_datasets),
    );
    app = app.route(
        &p("/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files"),
        get(logged_models::get_logged_model_artifact),
    );
    app = if state.config.artifacts_only {
        app.route(
            &p("/ajax-api/2.0/mlflow/metrics/get-history-bulk"),
            bulk.route_layer(axum::middleware::from_fn(artifacts_only_disabled)),
        )
    } else {
        app.route(&p("/ajax-api/2.0/mlflow/metrics/get-history-bulk"), bulk)
    };
    // Artifact routes (they apply --no-serve-artifacts / --artifacts-only themselves).
    app = if prefix.is_empty() {
        app.merge(artifacts::artifact_routes())
    } else {
        app.nest(&prefix, artifacts::artifact_routes())
    };
    let app = app.fallback(not_found).with_state(state.clone());
    security::layer(app, &state.config)
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains in-flight requests.
///
/// Sets TCP_NODELAY: the official server's ~40 ms keep-alive stalls come from Nagle's
/// algorithm meeting the client's delayed ACK.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "failed to set TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
