//! `mlflow-bench`: start mlflow-rs and the official MLflow server side by side on the same
//! machine and backend, run identical workloads against each over the REST API, and print a
//! markdown table with both numbers and the ratio. See `docs/performance.md`.

mod artifacts;
mod client;
mod procmem;
mod registry;
mod report;
mod server;
mod traces;
mod workloads;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;

use crate::client::{Api, ConnMode};
use crate::report::TargetReport;
use crate::server::{Backend, Flavor, PgConfig, ServerProc, StartSpec};
use crate::workloads::{Sizes, Workload};

#[derive(Debug, Parser)]
#[command(
    name = "mlflow-bench",
    version,
    about = "Benchmark mlflow-rs against the official MLflow server, side by side",
    long_about = "Starts mlflow-rs and the official MLflow server side by side (each in its own \
        process group, on a free port, with a fresh temp dir and database), runs identical \
        workloads against each, and prints a markdown table with both numbers and the ratio. \
        Progress goes to stderr, the report to stdout."
)]
struct Args {
    /// The mlflow-rs binary to start, e.g. target/release/mlflow-rs.
    #[arg(long, conflicts_with_all = ["ours_url", "skip_ours"])]
    ours: Option<PathBuf>,
    /// Bench an already-running mlflow-rs at this URL instead of starting one (no RSS).
    #[arg(long, conflicts_with = "skip_ours")]
    ours_url: Option<String>,
    /// Do not bench mlflow-rs (to validate the harness against the official server alone).
    #[arg(long)]
    skip_ours: bool,
    /// The official `mlflow` CLI to start.
    #[arg(long, default_value = "/work/main/.venv/bin/mlflow")]
    official: PathBuf,
    /// Bench an already-running official server at this URL instead of starting one (no RSS).
    #[arg(long, conflicts_with = "skip_official")]
    official_url: Option<String>,
    /// Do not bench the official server.
    #[arg(long)]
    skip_official: bool,
    /// Backend store for the servers the bench starts (the same for both).
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    backend: Backend,
    /// How each simulated client connects.
    #[arg(long, value_enum, default_value_t = ConnMode::KeepAlive)]
    connection: ConnMode,
    /// Small sizes (1k search runs, 50k history points, few calls): a smoke run of a minute
    /// or two per server.
    #[arg(long)]
    quick: bool,
    /// Run only these workloads (comma-separated). Memory is always measured.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Workload>,
    /// Concurrent clients for create_run and log_batch (default 8).
    #[arg(long)]
    clients: Option<usize>,
    /// Runs to create for search_runs (default 10000, 1000 with --quick).
    #[arg(long)]
    runs: Option<usize>,
    /// Steps of the metric read by get_history (default 100000, 50000 with --quick).
    #[arg(long)]
    history_points: Option<usize>,
    /// Traces loaded for search_traces (default 100000, 2000 with --quick).
    #[arg(long)]
    traces: Option<usize>,
    /// Also append the markdown report to this file (e.g. docs/performance.md).
    #[arg(long)]
    out: Option<PathBuf>,
    /// PostgreSQL host for --backend postgres (a database is created per server and run).
    #[arg(long, default_value = "127.0.0.1")]
    pg_host: String,
    #[arg(long, default_value_t = 5432)]
    pg_port: u16,
    #[arg(long, default_value = "postgres")]
    pg_user: String,
    /// Seconds to wait for a started server's GET /health to answer 200.
    #[arg(long, default_value_t = 180)]
    startup_timeout: u64,
    /// Extra seconds to let a started server settle before reading its idle memory.
    #[arg(long, default_value_t = 3)]
    settle: u64,
    /// Keep the servers' temp dirs (databases, logs) instead of removing them.
    #[arg(long)]
    keep_tmp: bool,
}

/// One server under test.
struct Target {
    flavor: Flavor,
    base: String,
    origin: String,
    proc: Option<ServerProc>,
    started: Instant,
}

impl Target {
    fn label(&self) -> &'static str {
        match self.flavor {
            Flavor::Ours => "mlflow-rs",
            Flavor::Official => "official",
        }
    }
}

fn machine_description() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_string();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gb = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|k| k.parse::<f64>().ok())
        .map_or_else(
            || "?".to_string(),
            |k| format!("{:.0}", k / 1024.0 / 1024.0),
        );
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".to_string());
    format!("{cores} cores ({model}), {mem_gb} GB RAM, load average {load} at start")
}

fn backend_description(args: &Args) -> String {
    match args.backend {
        Backend::Sqlite => "SQLite (a fresh database file per server, in its temp dir)".to_string(),
        Backend::Postgres => {
            let version = std::process::Command::new("psql")
                .args(["-h", &args.pg_host, "-p", &args.pg_port.to_string()])
                .args([
                    "-U",
                    &args.pg_user,
                    "-d",
                    "postgres",
                    "-tAc",
                    "show server_version",
                ])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_else(|| "?".to_string());
            format!(
                "PostgreSQL {version} at {}:{} (a fresh database per server, dropped afterwards)",
                args.pg_host, args.pg_port
            )
        }
    }
}

async fn server_version(base: &str) -> String {
    let Ok(api) = Api::new(base, ConnMode::NewPerRequest) else {
        return "unknown".to_string();
    };
    // A busy machine can keep a freshly started official worker slow for a while: retry.
    for _ in 0..3 {
        if let Ok(Ok(v)) =
            tokio::time::timeout(Duration::from_secs(20), api.get_text("/version")).await
            && !v.trim().is_empty()
            && v.len() < 64
        {
            return v.trim().to_string();
        }
    }
    "unknown (GET /version failed)".to_string()
}

/// Peak RSS of each process tree, sampled in the background.
struct MemSampler {
    stop: Arc<AtomicBool>,
    peaks: Arc<Vec<AtomicU64>>,
    handle: tokio::task::JoinHandle<()>,
}

impl MemSampler {
    fn start(pgids: Vec<Option<i32>>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peaks: Arc<Vec<AtomicU64>> =
            Arc::new(pgids.iter().map(|_| AtomicU64::new(0)).collect());
        let (stop2, peaks2) = (stop.clone(), peaks.clone());
        let handle = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            while !stop2.load(Ordering::Relaxed) {
                tick.tick().await;
                for (i, pgid) in pgids.iter().enumerate() {
                    if let (Some(pgid), Some(peak)) = (pgid, peaks2.get(i)) {
                        peak.fetch_max(procmem::tree_rss(*pgid).rss_kib, Ordering::Relaxed);
                    }
                }
            }
        });
        Self {
            stop,
            peaks,
            handle,
        }
    }

    async fn finish(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.handle.await;
        self.peaks
            .iter()
            .map(|p| p.load(Ordering::Relaxed))
            .collect()
    }
}

fn command_line() -> String {
    std::env::args()
        .map(|a| if a.contains(' ') { format!("'{a}'") } else { a })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn run(args: Args) -> Result<String> {
    let mut sizes = if args.quick {
        Sizes::quick()
    } else {
        Sizes::full()
    };
    if let Some(c) = args.clients {
        sizes.clients = c.max(1);
    }
    if let Some(r) = args.runs {
        sizes.search_runs = r.max(1);
    }
    if let Some(p) = args.history_points {
        sizes.history_points = p.max(1);
    }
    if let Some(t) = args.traces {
        sizes.search_traces = t.max(1);
    }
    let mut selected = if args.only.is_empty() {
        Workload::ALL.to_vec()
    } else {
        args.only.clone()
    };
    selected.sort();
    selected.dedup();

    let pg = PgConfig {
        host: args.pg_host.clone(),
        port: args.pg_port,
        user: args.pg_user.clone(),
    };
    let context = report::Context {
        title_date: report::utc_now(),
        mode_name: if args.quick { "quick" } else { "full" },
        machine: machine_description(),
        backend: backend_description(&args),
        connection: format!(
            "mlflow-bench (Rust, reqwest over hyper, HTTP/1.1, TCP_NODELAY on the client socket), {}{}",
            args.connection.describe(),
            if args.skip_ours || args.skip_official {
                ""
            } else {
                "; each workload runs on mlflow-rs first, then on the official server; both servers stay up for the whole bench (the one not measured sits idle)"
            }
        ),
        sizes: sizes.clone(),
        command: command_line(),
    };

    // Start (or attach to) the servers. Started ones are killed with their whole process group
    // when `targets` is dropped: on success, on error, and on ctrl-c (the future is dropped).
    let mut targets: Vec<Target> = Vec::new();
    let plan = [
        (
            Flavor::Ours,
            args.skip_ours,
            args.ours_url.clone(),
            args.ours.clone(),
        ),
        (
            Flavor::Official,
            args.skip_official,
            args.official_url.clone(),
            Some(args.official.clone()),
        ),
    ];
    for (flavor, skip, url, program) in plan {
        if skip {
            continue;
        }
        if let Some(url) = url {
            let base = url.trim_end_matches('/').to_string();
            targets.push(Target {
                flavor,
                origin: format!("already running at {base}"),
                base,
                proc: None,
                started: Instant::now(),
            });
            continue;
        }
        let program = program.ok_or_else(|| {
            anyhow!(
                "pass --ours PATH (e.g. target/release/mlflow-rs), --ours-url URL or --skip-ours"
            )
        })?;
        let program = server::resolve_program(&program)
            .with_context(|| format!("the {} server binary", flavor.tag()))?;
        let started = Instant::now();
        let proc = ServerProc::start(&StartSpec {
            flavor,
            program: &program,
            backend: args.backend,
            pg: &pg,
            keep_tmp: args.keep_tmp,
        })?;
        targets.push(Target {
            flavor,
            base: proc.base_url(),
            origin: format!("`{} server`, started by the bench", program.display()),
            proc: Some(proc),
            started,
        });
    }
    if targets.is_empty() {
        bail!("nothing to bench: both servers skipped");
    }

    let mut reports: Vec<TargetReport> = Vec::new();
    for t in &mut targets {
        let startup_secs = match &mut t.proc {
            Some(p) => {
                p.wait_healthy(Duration::from_secs(args.startup_timeout))
                    .await?;
                Some(t.started.elapsed().as_secs_f64())
            }
            None => {
                Api::new(&t.base, ConnMode::NewPerRequest)?
                    .get_text("/health")
                    .await
                    .with_context(|| format!("{} at {} is not healthy", t.label(), t.base))?;
                None
            }
        };
        if let Some(s) = startup_secs {
            eprintln!("[{}] healthy after {s:.1} s", t.flavor.tag());
        }
        reports.push(TargetReport {
            label: t.label(),
            origin: t.origin.clone(),
            version: String::new(),
            startup_secs,
            idle: None,
            peak_rss_kib: None,
            results: BTreeMap::new(),
        });
    }

    // Idle memory: once the process tree stops growing (the official server forks its job
    // consumers after /health answers) and a short settle time.
    for t in &targets {
        if let Some(p) = &t.proc {
            p.wait_tree_stable(Duration::from_secs(3), Duration::from_secs(60))
                .await;
        }
    }
    tokio::time::sleep(Duration::from_secs(args.settle)).await;
    for (t, r) in targets.iter().zip(reports.iter_mut()) {
        if let Some(p) = &t.proc {
            let m = procmem::tree_rss_pss(p.pgid());
            eprintln!(
                "[{}] idle: {} processes, RSS {} MB",
                t.flavor.tag(),
                m.processes,
                m.rss_kib / 1024
            );
            r.idle = Some(m);
        }
    }

    for (t, r) in targets.iter().zip(reports.iter_mut()) {
        r.version = server_version(&t.base).await;
    }

    let sampler = MemSampler::start(
        targets
            .iter()
            .map(|t| t.proc.as_ref().map(ServerProc::pgid))
            .collect(),
    );
    for w in &selected {
        for (t, r) in targets.iter().zip(reports.iter_mut()) {
            let ctx = workloads::Ctx {
                tag: t.flavor.tag(),
                base: &t.base,
                mode: args.connection,
                sizes: &sizes,
            };
            eprintln!("[{}] {} ...", t.flavor.tag(), w.name());
            let outcome = workloads::run(*w, &ctx).await;
            if let Err(e) = &outcome {
                eprintln!("[{}] {} FAILED: {e:#}", t.flavor.tag(), w.name());
            }
            r.results.insert(*w, outcome.map_err(|e| format!("{e:#}")));
        }
    }
    let peaks = sampler.finish().await;
    for ((t, r), peak) in targets.iter().zip(reports.iter_mut()).zip(peaks) {
        if t.proc.is_some() {
            let idle = r.idle.map_or(0, |m| m.rss_kib);
            r.peak_rss_kib = Some(peak.max(idle));
        }
    }

    // Stop the servers before printing.
    drop(targets);

    let ours = reports.iter().find(|r| r.label == "mlflow-rs");
    let off = reports.iter().find(|r| r.label == "official");
    let mut extra = Vec::new();
    if args.connection == ConnMode::KeepAlive && off.is_some() {
        extra.push(
            "keep-alive: the official server leaves Nagle's algorithm on for reused \
             connections, which meets the client's delayed ACK (~40 ms per request on a reused \
             connection); the official Python client reuses connections, so users see this. \
             `--connection new-per-request` measures the other mode."
                .to_string(),
        );
    }
    let md = report::render(&context, ours, off, &extra);
    if let Some(path) = &args.out {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(f, "\n{md}").with_context(|| format!("writing {}", path.display()))?;
        eprintln!("appended the report to {}", path.display());
    }
    Ok(md)
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // reqwest is built with `rustls-no-provider`: it needs a process-wide provider even for
    // plain http. An error only means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let outcome = tokio::select! {
        r = run(args) => r,
        _ = shutdown_signal() => Err(anyhow!("interrupted; servers stopped")),
    };
    match outcome {
        Ok(md) => {
            println!("{md}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mlflow-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
