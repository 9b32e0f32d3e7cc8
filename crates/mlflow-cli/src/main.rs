//! `mlflow-rs`: the server and admin commands.
//!
//! `mlflow-rs server` takes the official `mlflow server` flags that apply, with the same
//! defaults and environment variables, so existing launch scripts keep working.

mod admin;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use mlflow_server::{AppState, ServerConfig};
use mlflow_store::SqlStore;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "mlflow-rs",
    version,
    about = "MLflow 3 tracking server, in Rust"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the tracking server.
    Server(ServerArgs),
    /// Database administration.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Permanently delete runs and experiments in the `deleted` lifecycle stage (as
    /// `mlflow gc`), then apply trace retention.
    Gc(admin::GcArgs),
    /// Print per-experiment storage use (traces, spans, span bytes, assessments).
    StorageReport(admin::StorageReportArgs),
}

#[derive(Subcommand)]
enum DbCommand {
    /// Create MLflow's schema on an empty database, or check an existing one's revision.
    Upgrade {
        /// Backend store URI, e.g. sqlite:///mlflow.db or postgresql://user@host/db.
        url: String,
    },
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[derive(Args)]
#[command(disable_help_flag = true)]
struct ServerArgs {
    /// Print help (`-h` is `--host`, as in `mlflow server`).
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Network address to listen on.
    #[arg(long, short = 'h', env = "MLFLOW_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on.
    #[arg(long, short = 'p', env = "MLFLOW_PORT", default_value_t = 5000)]
    port: u16,
    /// SQLAlchemy-style database URI: sqlite:///path.db, postgresql://..., mysql://...
    #[arg(
        long,
        env = "MLFLOW_BACKEND_STORE_URI",
        default_value = "sqlite:///mlflow.db"
    )]
    backend_store_uri: String,
    /// Artifact root for new experiments (default: mlflow-artifacts:/ when serving artifacts).
    #[arg(long, env = "MLFLOW_DEFAULT_ARTIFACT_ROOT")]
    default_artifact_root: Option<String>,
    /// Where proxied artifacts are stored.
    #[arg(
        long,
        env = "MLFLOW_ARTIFACTS_DESTINATION",
        default_value = "./mlartifacts"
    )]
    artifacts_destination: String,
    /// Proxy artifact uploads/downloads through this server (the default).
    #[arg(long, overrides_with = "no_serve_artifacts")]
    serve_artifacts: bool,
    /// Let clients write artifacts to the store directly.
    #[arg(long, env = "MLFLOW_NO_SERVE_ARTIFACTS")]
    no_serve_artifacts: bool,
    /// Serve only the artifact proxy (tracking routes answer 503/404).
    #[arg(long, env = "MLFLOW_ARTIFACTS_ONLY")]
    artifacts_only: bool,
    /// A prefix prepended to every route, e.g. /mlflow.
    #[arg(long, env = "MLFLOW_STATIC_PREFIX")]
    static_prefix: Option<String>,
    /// Comma-separated Host headers to accept (default: localhost and private addresses).
    #[arg(long, env = "MLFLOW_SERVER_ALLOWED_HOSTS")]
    allowed_hosts: Option<String>,
    /// Comma-separated CORS origins (default: localhost origins on any port).
    #[arg(long, env = "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS")]
    cors_allowed_origins: Option<String>,
    /// Accepted for compatibility with `mlflow server`; one async process serves everything.
    #[arg(long, short = 'w', env = "MLFLOW_WORKERS")]
    workers: Option<String>,
    #[command(flatten)]
    retention: admin::RetentionArgs,
    /// How often the trace-retention sweeper runs (`5m`, `1h`; `off` disables it).
    #[arg(long, env = "MLFLOW_TRACE_RETENTION_INTERVAL", default_value = "5m")]
    trace_retention_interval: String,
}

fn default_artifact_root(args: &ServerArgs, serve: bool) -> anyhow::Result<String> {
    if let Some(root) = &args.default_artifact_root {
        return Ok(root.clone());
    }
    if serve {
        return Ok("mlflow-artifacts:/".into());
    }
    let dir = std::env::current_dir()
        .context("reading the current directory")?
        .join("mlruns");
    Ok(dir.to_string_lossy().into_owned())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

async fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    let serve_artifacts = !args.no_serve_artifacts;
    let root = default_artifact_root(&args, serve_artifacts)?;
    let store = SqlStore::open(&args.backend_store_uri, &root)
        .await
        .map_err(|e| anyhow::anyhow!("opening backend store {}: {}", args.backend_store_uri, e))?;
    let webhooks = mlflow_server::webhooks::Webhooks::new(
        Arc::new(store.clone()),
        mlflow_server::webhooks::WebhookConfig::from_env().map_err(anyhow::Error::msg)?,
    )
    .map_err(anyhow::Error::msg)?;
    let _webhook_worker = (!args.artifacts_only).then(|| webhooks.start_worker());
    let config = ServerConfig {
        webhooks: Some(webhooks),
        static_prefix: args.static_prefix.clone().unwrap_or_default(),
        allowed_hosts: args.allowed_hosts.as_deref().map(split_list),
        cors_allowed_origins: args.cors_allowed_origins.as_deref().map(split_list),
        serve_artifacts,
        artifacts_only: args.artifacts_only,
        artifacts: Some(Arc::new(
            mlflow_artifacts::Artifacts::new(Some(&args.artifacts_destination)).map_err(|e| {
                anyhow::anyhow!(
                    "opening artifacts destination {}: {}",
                    args.artifacts_destination,
                    e
                )
            })?,
        )),
    };
    let retention = args.retention.policy()?;
    let sweep_every = admin::sweep_interval(&args.trace_retention_interval)?;
    let state = AppState {
        traces: Arc::new(store.clone()),
        registry: Arc::new(store.clone()),
        genai: Arc::new(store.clone()),
        store: Arc::new(store),
        config: Arc::new(config),
    };
    let addr = format!("{}:{}", args.host, args.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let _sweeper = sweep_every.map(|interval| {
        mlflow_server::retention::spawn_sweeper(
            state.traces.clone(),
            mlflow_server::retention::SweeperConfig {
                defaults: retention,
                interval,
            },
        )
    });
    tracing::info!(%addr, backend = %args.backend_store_uri, artifact_root = %root, "mlflow-rs listening");
    mlflow_server::serve(listener, mlflow_server::router(state), shutdown_signal()).await?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match cli.command {
            Command::Server(args) => run_server(args).await,
            Command::Gc(args) => admin::gc(args).await,
            Command::StorageReport(args) => admin::storage_report(args).await,
            Command::Db {
                command: DbCommand::Upgrade { url },
            } => {
                let store = SqlStore::open(&url, "mlflow-artifacts:/")
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let rev = mlflow_store::migrate::current_revision(store.db())
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("database is at revision {}", rev.unwrap_or_default());
                Ok(())
            }
        }
    })
}
