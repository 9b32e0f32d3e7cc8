//! Admin commands: `gc`, `storage-report`, and the server's trace-retention flags.

use anyhow::{Context, anyhow};
use clap::Args;
use mlflow_store::SqlStore;
use mlflow_store::retention::{
    GcOptions, RetentionPolicy, parse_duration_ms, parse_max_traces, parse_older_than,
};
use std::time::Duration;

/// Trace retention settings shared by `server` and `gc`.
#[derive(Args, Debug, Clone, Default)]
pub struct RetentionArgs {
    /// Default trace time-to-live for every experiment (`30d`, `12h`, `90m`, `off`); the
    /// experiment tag `mlflow.trace.retention.ttl` overrides it.
    #[arg(long, env = "MLFLOW_TRACE_RETENTION_TTL")]
    pub trace_retention_ttl: Option<String>,
    /// Default maximum number of traces per experiment (oldest deleted first); the experiment
    /// tag `mlflow.trace.retention.maxTraces` overrides it.
    #[arg(long, env = "MLFLOW_TRACE_RETENTION_MAX_TRACES")]
    pub trace_retention_max_traces: Option<String>,
}

impl RetentionArgs {
    pub fn policy(&self) -> anyhow::Result<RetentionPolicy> {
        let ttl_ms = match &self.trace_retention_ttl {
            Some(t) => parse_duration_ms(t).map_err(|e| anyhow!("--trace-retention-ttl: {e}"))?,
            None => None,
        };
        let max_traces = match &self.trace_retention_max_traces {
            Some(m) => {
                parse_max_traces(m).map_err(|e| anyhow!("--trace-retention-max-traces: {e}"))?
            }
            None => None,
        };
        Ok(RetentionPolicy { ttl_ms, max_traces })
    }
}

/// The sweeper interval (`--trace-retention-interval`); `None` when disabled.
pub fn sweep_interval(s: &str) -> anyhow::Result<Option<Duration>> {
    let ms = parse_duration_ms(s).map_err(|e| anyhow!("--trace-retention-interval: {e}"))?;
    Ok(ms.map(|m| Duration::from_millis(m.max(1000) as u64)))
}

#[derive(Args, Debug)]
pub struct GcArgs {
    /// Only delete runs/experiments deleted longer ago than this (`8h`, `2d8h5m20s`).
    #[arg(long)]
    older_than: Option<String>,
    /// SQLAlchemy-style database URI.
    #[arg(
        long,
        env = "MLFLOW_BACKEND_STORE_URI",
        default_value = "sqlite:///mlflow.db"
    )]
    backend_store_uri: String,
    /// Where proxied (`mlflow-artifacts:`) run artifacts are stored.
    #[arg(
        long,
        env = "MLFLOW_ARTIFACTS_DESTINATION",
        default_value = "./mlartifacts"
    )]
    artifacts_destination: String,
    /// Comma-separated run ids (they must be in the `deleted` lifecycle stage).
    #[arg(long)]
    run_ids: Option<String>,
    /// Comma-separated experiment ids (they must be in the `deleted` lifecycle stage).
    #[arg(long)]
    experiment_ids: Option<String>,
    /// Accepted for compatibility with `mlflow gc`; artifacts are resolved locally.
    #[arg(long)]
    tracking_uri: Option<String>,
    /// Skip the trace-retention pass.
    #[arg(long)]
    no_traces: bool,
    #[command(flatten)]
    retention: RetentionArgs,
}

fn split(s: &Option<String>) -> Option<Vec<String>> {
    s.as_ref().map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

async fn delete_artifacts(artifacts: &mlflow_artifacts::Artifacts, run_id: &str, uri: &str) {
    let resolved = artifacts.for_run_root(uri, true);
    let outcome = match resolved {
        Ok((_, path, true)) if path.is_root() => Err(anyhow!(
            "refusing to delete the whole artifacts destination"
        )),
        Ok((repo, path, _)) => repo.delete(&path).await.map_err(|e| anyhow!("{e}")),
        Err(e) => Err(anyhow!("{e}")),
    };
    if let Err(e) = outcome {
        println!(
            "Unable to delete the artifacts of run {run_id} at '{uri}': {e}. The gc process \
             will continue and bypass artifact deletion."
        );
    }
}

/// `mlflow-rs gc`: the official `mlflow gc` for runs and experiments, then trace retention.
pub async fn gc(args: GcArgs) -> anyhow::Result<()> {
    let policy = args.retention.policy()?;
    let older_than_ms = match &args.older_than {
        Some(o) => parse_older_than(o).map_err(|e| anyhow!("{e}"))?,
        None => 0,
    };
    let store = SqlStore::open(&args.backend_store_uri, "mlflow-artifacts:/")
        .await
        .map_err(|e| anyhow!("opening backend store {}: {e}", args.backend_store_uri))?;
    let artifacts = mlflow_artifacts::Artifacts::new(Some(&args.artifacts_destination))
        .map_err(|e| anyhow!("artifacts destination {}: {e}", args.artifacts_destination))?;
    let plan = store
        .gc_plan(&GcOptions {
            older_than_ms,
            older_than: args.older_than.clone(),
            run_ids: split(&args.run_ids),
            experiment_ids: split(&args.experiment_ids),
        })
        .await
        .map_err(|e| anyhow!("{e}"))?;
    for (run_id, uri) in &plan.runs {
        if let Some(uri) = uri.as_deref().filter(|u| !u.is_empty()) {
            delete_artifacts(&artifacts, run_id, uri).await;
        }
        store
            .hard_delete_run(run_id)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        println!("Run with ID {run_id} has been permanently deleted.");
    }
    for exp in &plan.experiments {
        store
            .hard_delete_experiment(exp)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        println!("Experiment with ID {exp} has been permanently deleted.");
    }
    if !args.no_traces {
        let stats = store
            .sweep_traces(policy)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        for e in &stats.errors {
            println!("Trace retention skipped {e}");
        }
        if !stats.ran {
            println!("Trace retention: another process holds the sweep lock; skipped.");
        }
        for (exp, n) in &stats.per_experiment {
            println!("Trace retention: deleted {n} traces of experiment {exp}.");
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct StorageReportArgs {
    /// SQLAlchemy-style database URI.
    #[arg(
        long,
        env = "MLFLOW_BACKEND_STORE_URI",
        default_value = "sqlite:///mlflow.db"
    )]
    backend_store_uri: String,
    /// Only these experiments (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',')]
    experiment_id: Vec<String>,
    /// Print JSON (as the HTTP endpoint) instead of a table.
    #[arg(long)]
    json: bool,
}

fn human_bytes(b: i64) -> String {
    let b = b as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GiB", b / 1024.0 / 1024.0 / 1024.0)
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b} B")
    }
}

fn utc(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "-".into();
    };
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// `mlflow-rs storage-report`: a table of per-experiment storage use.
pub async fn storage_report(args: StorageReportArgs) -> anyhow::Result<()> {
    let store = SqlStore::open(&args.backend_store_uri, "mlflow-artifacts:/")
        .await
        .map_err(|e| anyhow!("opening backend store {}: {e}", args.backend_store_uri))?;
    let rows = store
        .storage_report(&args.experiment_id)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    if args.json {
        let v = mlflow_server::retention::report_json(&rows);
        println!("{}", serde_json_pretty(&v).context("encoding the report")?);
        return Ok(());
    }
    let header = [
        "experiment",
        "name",
        "stage",
        "traces",
        "spans",
        "span bytes",
        "assessments",
        "oldest trace (UTC)",
        "newest trace (UTC)",
        "retention",
    ];
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for e in &rows {
        let retention = match (&e.retention_ttl, &e.retention_max_traces) {
            (None, None) => "-".to_string(),
            (t, m) => format!(
                "ttl={} max={}",
                t.as_deref().unwrap_or("-"),
                m.as_deref().unwrap_or("-")
            ),
        };
        table.push(vec![
            e.experiment_id.clone(),
            e.name.clone(),
            e.lifecycle_stage.clone(),
            e.traces.to_string(),
            e.spans.to_string(),
            human_bytes(e.span_bytes),
            e.assessments.to_string(),
            utc(e.oldest_trace_ms),
            utc(e.newest_trace_ms),
            retention,
        ]);
    }
    let sum =
        |f: fn(&mlflow_store::retention::ExperimentStorage) -> i64| rows.iter().map(f).sum::<i64>();
    table.push(vec![
        "total".into(),
        format!("{} experiments", rows.len()),
        String::new(),
        sum(|e| e.traces).to_string(),
        sum(|e| e.spans).to_string(),
        human_bytes(sum(|e| e.span_bytes)),
        sum(|e| e.assessments).to_string(),
        String::new(),
        String::new(),
        String::new(),
    ]);
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            table
                .iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for (n, row) in table.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                // Numbers right-aligned, text left-aligned.
                if (3..=6).contains(&i) {
                    format!("{c:>w$}")
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect();
        println!("{}", line.join("  ").trim_end());
        if n == 0 || n + 2 == table.len() {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            println!("{}", rule.join("  "));
        }
    }
    Ok(())
}

fn serde_json_pretty(v: &serde_json::Value) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(v)?)
}
