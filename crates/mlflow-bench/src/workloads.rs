//! The workloads. Each one makes its own fresh experiment, sets up its data untimed, then
//! runs the timed part.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use crate::client::{self, Api, ConnMode, run_clients};

const P_CREATE: &str = "/api/2.0/mlflow/runs/create";
const P_LOG_BATCH: &str = "/api/2.0/mlflow/runs/log-batch";
const P_LOG_METRIC: &str = "/api/2.0/mlflow/runs/log-metric";
const P_HISTORY: &str = "/api/2.0/mlflow/metrics/get-history";
const P_SEARCH: &str = "/api/2.0/mlflow/runs/search";
const P_CREATE_EXP: &str = "/api/2.0/mlflow/experiments/create";

/// The server-side limit of metrics + params + tags in one log-batch request.
const BATCH_LIMIT: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Workload {
    #[value(name = "create_run", alias = "create-run")]
    CreateRun,
    #[value(name = "log_batch", alias = "log-batch")]
    LogBatch,
    #[value(name = "log_metric", alias = "log-metric")]
    LogMetric,
    #[value(name = "get_history", alias = "get-history")]
    GetHistory,
    #[value(name = "search_runs", alias = "search-runs")]
    SearchRuns,
    #[value(name = "otlp_ingest", alias = "otlp-ingest")]
    OtlpIngest,
    #[value(name = "trace_e2e", alias = "trace-e2e")]
    TraceE2e,
    #[value(name = "search_traces", alias = "search-traces")]
    SearchTraces,
    #[value(name = "get_trace", alias = "get-trace")]
    GetTrace,
    #[value(name = "rm_create", alias = "rm-create")]
    RmCreate,
    #[value(name = "mv_create", alias = "mv-create")]
    MvCreate,
    #[value(name = "mv_search", alias = "mv-search")]
    MvSearch,
    #[value(name = "prompt_alias", alias = "prompt-alias")]
    PromptAlias,
    #[value(name = "artifact_large_put")]
    ArtifactLargePut,
    #[value(name = "artifact_large_get")]
    ArtifactLargeGet,
    #[value(name = "artifact_small_put")]
    ArtifactSmallPut,
    #[value(name = "artifact_small_get")]
    ArtifactSmallGet,
}

impl Workload {
    pub const ALL: [Workload; 17] = [
        Workload::CreateRun,
        Workload::LogBatch,
        Workload::LogMetric,
        Workload::GetHistory,
        Workload::SearchRuns,
        Workload::OtlpIngest,
        Workload::TraceE2e,
        Workload::SearchTraces,
        Workload::GetTrace,
        Workload::RmCreate,
        Workload::MvCreate,
        Workload::MvSearch,
        Workload::PromptAlias,
        Workload::ArtifactLargePut,
        Workload::ArtifactLargeGet,
        Workload::ArtifactSmallPut,
        Workload::ArtifactSmallGet,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::CreateRun => "create_run",
            Workload::LogBatch => "log_batch",
            Workload::LogMetric => "log_metric",
            Workload::GetHistory => "get_history",
            Workload::SearchRuns => "search_runs",
            Workload::OtlpIngest => "otlp_ingest",
            Workload::TraceE2e => "trace_e2e",
            Workload::SearchTraces => "search_traces",
            Workload::GetTrace => "get_trace",
            Workload::RmCreate => "rm_create",
            Workload::MvCreate => "mv_create",
            Workload::MvSearch => "mv_search",
            Workload::PromptAlias => "prompt_alias",
            Workload::ArtifactLargePut => "artifact_large_put",
            Workload::ArtifactLargeGet => "artifact_large_get",
            Workload::ArtifactSmallPut => "artifact_small_put",
            Workload::ArtifactSmallGet => "artifact_small_get",
        }
    }

    /// The row label in the results table.
    pub fn label(self, s: &Sizes) -> String {
        match self {
            Workload::CreateRun => {
                format!("create_run, {} clients: runs/s (p50 / p99 ms)", s.clients)
            }
            Workload::LogBatch => format!(
                "log_batch of 100 metrics + 10 params, {} clients: metrics/s (p50 / p99 ms per batch)",
                s.clients
            ),
            Workload::LogMetric => "log_metric, 1 client: ops/s (p50 / p99 ms)".to_string(),
            Workload::GetHistory => format!(
                "get-history of one metric with {} steps (paged {}), 1 client: total s",
                thousands(s.history_points as f64),
                thousands(s.history_page as f64)
            ),
            Workload::SearchRuns => format!(
                "search_runs over {} runs, filter `metrics.m1 > 0.5 and params.p1 = 'x'`, order `metrics.m1 DESC`, max 100, 1 client: p50 / p99 ms",
                thousands(s.search_runs as f64)
            ),
            Workload::OtlpIngest => format!(
                "OTLP ingest (`POST /v1/traces`, protobuf, 1 trace of 10 spans per request), {} clients: spans/s (p50 / p99 ms per request)",
                s.clients
            ),
            Workload::TraceE2e => format!(
                "trace end to end as the official client (OTLP 10 spans + `POST /api/3.0/mlflow/traces`), {} clients: traces/s (p50 / p99 ms per trace)",
                s.clients
            ),
            Workload::SearchTraces => format!(
                "search_traces over {} traces, filter `{}`, max 100, 1 client: p50 / p99 ms",
                thousands(s.search_traces as f64),
                crate::traces::SEARCH_FILTER
            ),
            Workload::GetTrace => format!(
                "traces/get of a {}-span trace, 1 client: p50 / p99 ms",
                thousands(crate::traces::GET_TRACE_SPANS as f64)
            ),
            Workload::RmCreate => crate::registry::label_rm_create(s.clients),
            Workload::MvCreate => crate::registry::label_mv_create(s.clients),
            Workload::MvSearch => crate::registry::label_mv_search(s.search_runs),
            Workload::PromptAlias => crate::registry::label_prompt_alias(),
            Workload::ArtifactLargePut => {
                crate::artifacts::label_large_put(s.artifact_large_mib, s.artifact_large_reps)
            }
            Workload::ArtifactLargeGet => {
                crate::artifacts::label_large_get(s.artifact_large_mib, s.artifact_large_reps)
            }
            Workload::ArtifactSmallPut => {
                crate::artifacts::label_small_put(s.artifact_small_files, s.clients)
            }
            Workload::ArtifactSmallGet => {
                crate::artifacts::label_small_get(s.artifact_small_files, s.clients)
            }
        }
    }
}

/// Workload sizes (full run, or `--quick`).
#[derive(Debug, Clone)]
pub struct Sizes {
    pub clients: usize,
    pub setup_clients: usize,
    pub warmup: usize,
    pub create_run_per_client: usize,
    pub log_batch_per_client: usize,
    pub log_metric_ops: usize,
    pub history_points: usize,
    pub history_page: usize,
    pub history_reps: usize,
    pub search_runs: usize,
    pub search_queries: usize,
    /// Traces per client for otlp_ingest and trace_e2e.
    pub trace_ingest_per_client: usize,
    /// Traces loaded for search_traces.
    pub search_traces: usize,
    /// Timed reads of the 1,000-span trace.
    pub get_trace_reps: usize,
    /// The large artifact (MiB) and how many times it is moved each way.
    pub artifact_large_mib: usize,
    pub artifact_large_reps: usize,
    /// Small (4 KiB) artifacts moved each way.
    pub artifact_small_files: usize,
}

impl Sizes {
    pub fn full() -> Self {
        Self {
            clients: 8,
            setup_clients: 8,
            warmup: 3,
            create_run_per_client: 250,
            log_batch_per_client: 50,
            log_metric_ops: 1000,
            history_points: 100_000,
            history_page: 25_000,
            history_reps: 3,
            search_runs: 10_000,
            search_queries: 100,
            trace_ingest_per_client: 250,
            search_traces: 100_000,
            get_trace_reps: 50,
            artifact_large_mib: 1024,
            artifact_large_reps: 3,
            artifact_small_files: 2_000,
        }
    }

    pub fn quick() -> Self {
        Self {
            clients: 8,
            setup_clients: 8,
            warmup: 2,
            create_run_per_client: 25,
            log_batch_per_client: 10,
            log_metric_ops: 100,
            history_points: 50_000,
            history_page: 25_000,
            history_reps: 1,
            search_runs: 1_000,
            search_queries: 20,
            trace_ingest_per_client: 25,
            search_traces: 2_000,
            get_trace_reps: 10,
            artifact_large_mib: 100,
            artifact_large_reps: 3,
            artifact_small_files: 200,
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "create_run {}x{} runs; log_batch {}x{} batches; log_metric {} calls; get-history {} points x {} reps; search_runs {} runs, {} queries; {} untimed warm-up calls per client first; data loading untimed with {} keep-alive clients",
            self.clients,
            self.create_run_per_client,
            self.clients,
            self.log_batch_per_client,
            self.log_metric_ops,
            self.history_points,
            self.history_reps,
            self.search_runs,
            self.search_queries,
            self.warmup,
            self.setup_clients
        ) + &format!(
            "; traces: otlp_ingest/trace_e2e {}x{} traces of 10 spans; search_traces {} traces, {} queries; get_trace {} reads",
            self.clients,
            self.trace_ingest_per_client,
            self.search_traces,
            self.search_queries,
            self.get_trace_reps
        )
    }
}

/// What one workload measured on one server.
#[derive(Debug, Clone)]
pub enum Measure {
    /// Throughput (higher is better) with per-request latency percentiles.
    Rate { per_s: f64, p50: f64, p99: f64 },
    /// Total wall time of one full read, median over repetitions (lower is better).
    Seconds { median: f64, all: Vec<f64> },
    /// Latency percentiles in ms (lower is better).
    Latency { p50: f64, p99: f64 },
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub measure: Measure,
    /// Setup time and verification remarks, for the notes under the table.
    pub notes: Vec<String>,
}

pub struct Ctx<'a> {
    pub tag: &'a str,
    pub base: &'a str,
    pub mode: ConnMode,
    pub sizes: &'a Sizes,
}

impl Ctx<'_> {
    fn api(&self) -> Result<Api> {
        Api::new(self.base, self.mode)
    }

    fn apis(&self, n: usize) -> Result<Vec<Api>> {
        Api::many(self.base, self.mode, n)
    }

    /// Clients for untimed data loading: always keep-alive (a new connection per request
    /// would leave tens of thousands of sockets in TIME_WAIT), `setup_clients` of them.
    fn setup_apis(&self) -> Result<Vec<Api>> {
        Api::many(self.base, ConnMode::KeepAlive, self.sizes.setup_clients)
    }
}

pub async fn run(w: Workload, ctx: &Ctx<'_>) -> Result<Outcome> {
    match w {
        Workload::CreateRun => create_runs(ctx).await,
        Workload::LogBatch => log_batches(ctx).await,
        Workload::LogMetric => log_metrics(ctx).await,
        Workload::GetHistory => get_history(ctx).await,
        Workload::SearchRuns => search_runs(ctx).await,
        Workload::OtlpIngest => crate::traces::otlp_ingest(ctx).await,
        Workload::TraceE2e => crate::traces::trace_e2e(ctx).await,
        Workload::SearchTraces => crate::traces::search_traces(ctx).await,
        Workload::GetTrace => crate::traces::get_trace(ctx).await,
        Workload::RmCreate => crate::registry::rm_create(ctx).await,
        Workload::MvCreate => crate::registry::mv_create(ctx).await,
        Workload::MvSearch => crate::registry::mv_search(ctx).await,
        Workload::PromptAlias => crate::registry::prompt_alias(ctx).await,
        Workload::ArtifactLargePut => crate::artifacts::large(ctx, true).await,
        Workload::ArtifactLargeGet => crate::artifacts::large(ctx, false).await,
        Workload::ArtifactSmallPut => crate::artifacts::small(ctx, true).await,
        Workload::ArtifactSmallGet => crate::artifacts::small(ctx, false).await,
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Deterministic xorshift64* so both servers get the same data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A cheap deterministic value in [0, 1) for metric payloads.
fn frac(i: usize) -> f64 {
    (i as f64 * 0.618_033_988_75).fract()
}

async fn create_experiment(api: &Api, what: &str) -> Result<String> {
    let name = format!(
        "bench-{what}-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let resp = api.post(P_CREATE_EXP, &json!({ "name": name })).await?;
    resp.get("experiment_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("experiments/create: no experiment_id in {resp}"))
}

async fn create_run(api: &Api, exp: &str, name: &str) -> Result<String> {
    // The same fields the Python client's `mlflow.start_run` sends.
    let body = json!({
        "experiment_id": exp,
        "user_id": "bench",
        "start_time": now_ms(),
        "run_name": name,
        "tags": [
            {"key": "mlflow.user", "value": "bench"},
            {"key": "mlflow.source.name", "value": "mlflow-bench"},
            {"key": "mlflow.source.type", "value": "LOCAL"},
        ],
    });
    let resp = api.post(P_CREATE, &body).await?;
    resp.pointer("/run/info/run_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("runs/create: no run.info.run_id in {resp}"))
}

fn rate(phase: &client::Phase, per_op: f64) -> Measure {
    Measure::Rate {
        per_s: phase.per_sec() * per_op,
        p50: phase.p(50.0),
        p99: phase.p(99.0),
    }
}

async fn create_runs(ctx: &Ctx<'_>) -> Result<Outcome> {
    let s = ctx.sizes;
    let exp: Arc<str> = create_experiment(&ctx.api()?, "create_run").await?.into();
    let phase = run_clients(
        ctx.apis(s.clients)?,
        s.warmup,
        s.create_run_per_client,
        move |api, ci, i| {
            let exp = exp.clone();
            async move {
                create_run(&api, &exp, &format!("c{ci}-{i}"))
                    .await
                    .map(drop)
            }
        },
    )
    .await?;
    eprintln!(
        "[{}] create_run: {} runs in {:.2} s",
        ctx.tag,
        phase.ops(),
        phase.elapsed.as_secs_f64()
    );
    Ok(Outcome {
        measure: rate(&phase, 1.0),
        notes: vec![],
    })
}

async fn log_batches(ctx: &Ctx<'_>) -> Result<Outcome> {
    let s = ctx.sizes;
    let setup = ctx.api()?;
    let exp = create_experiment(&setup, "log_batch").await?;
    // One run per client, like independent training jobs.
    let mut runs = Vec::with_capacity(s.clients);
    for ci in 0..s.clients {
        runs.push(create_run(&setup, &exp, &format!("batch-{ci}")).await?);
    }
    let runs = Arc::new(runs);
    let phase = run_clients(
        ctx.apis(s.clients)?,
        s.warmup,
        s.log_batch_per_client,
        move |api, ci, i| {
            let runs = runs.clone();
            async move {
                let run_id = runs.get(ci).context("run index")?;
                let ts = now_ms();
                let metrics: Vec<Value> = (0..100)
                    .map(|k| {
                        json!({"key": format!("m{k}"), "value": frac(i * 100 + k),
                               "timestamp": ts, "step": i})
                    })
                    .collect();
                // Params are immutable: new keys in every batch.
                let params: Vec<Value> = (0..10)
                    .map(|k| json!({"key": format!("p{i}_{k}"), "value": format!("v{k}")}))
                    .collect();
                let body =
                    json!({"run_id": run_id, "metrics": metrics, "params": params, "tags": []});
                api.post(P_LOG_BATCH, &body).await.map(drop)
            }
        },
    )
    .await?;
    eprintln!(
        "[{}] log_batch: {} batches in {:.2} s",
        ctx.tag,
        phase.ops(),
        phase.elapsed.as_secs_f64()
    );
    Ok(Outcome {
        measure: rate(&phase, 100.0),
        notes: vec![],
    })
}

async fn log_metrics(ctx: &Ctx<'_>) -> Result<Outcome> {
    let s = ctx.sizes;
    let setup = ctx.api()?;
    let exp = create_experiment(&setup, "log_metric").await?;
    let run: Arc<str> = create_run(&setup, &exp, "metric").await?.into();
    let phase = run_clients(
        ctx.apis(1)?,
        s.warmup.max(5),
        s.log_metric_ops,
        move |api, _, i| {
            let run = run.clone();
            async move {
                // The Python client sends both run_id and the legacy run_uuid.
                let body = json!({"run_id": &*run, "run_uuid": &*run, "key": "loss",
                                  "value": frac(i), "timestamp": now_ms(), "step": i});
                api.post(P_LOG_METRIC, &body).await.map(drop)
            }
        },
    )
    .await?;
    eprintln!(
        "[{}] log_metric: {} calls in {:.2} s",
        ctx.tag,
        phase.ops(),
        phase.elapsed.as_secs_f64()
    );
    Ok(Outcome {
        measure: rate(&phase, 1.0),
        notes: vec![],
    })
}

/// Read the whole history page by page; (points, pages).
async fn read_history(api: &Api, run: &str, key: &str, page: usize) -> Result<(usize, usize)> {
    let page_s = page.to_string();
    let mut token: Option<String> = None;
    let (mut points, mut pages) = (0usize, 0usize);
    loop {
        let mut q = vec![
            ("run_id", run),
            ("run_uuid", run),
            ("metric_key", key),
            ("max_results", page_s.as_str()),
        ];
        if let Some(t) = token.as_deref() {
            q.push(("page_token", t));
        }
        let resp = api.get(P_HISTORY, &q).await?;
        pages += 1;
        points += resp
            .get("metrics")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        token = resp
            .get("next_page_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if token.is_none() {
            return Ok((points, pages));
        }
        if pages > 100_000 {
            bail!("get-history: more than 100000 pages, the server's paging does not end");
        }
    }
}

async fn get_history(ctx: &Ctx<'_>) -> Result<Outcome> {
    let s = ctx.sizes;
    let setup = ctx.api()?;
    let exp = create_experiment(&setup, "get_history").await?;
    let run: Arc<str> = create_run(&setup, &exp, "history").await?.into();
    let n = s.history_points;
    let batches = n.div_ceil(BATCH_LIMIT);
    let run2 = run.clone();
    let load = client::for_each_concurrent(ctx.setup_apis()?, batches, move |api, b| {
        let run = run2.clone();
        async move {
            let ts = now_ms();
            let metrics: Vec<Value> = (b * BATCH_LIMIT..((b + 1) * BATCH_LIMIT).min(n))
                .map(|step| json!({"key": "h", "value": frac(step), "timestamp": ts, "step": step}))
                .collect();
            api.post(P_LOG_BATCH, &json!({"run_id": &*run, "metrics": metrics}))
                .await
                .map(drop)
        }
    })
    .await?;
    eprintln!(
        "[{}] get_history: logged {n} points in {:.1} s",
        ctx.tag,
        load.as_secs_f64()
    );
    let mut notes = vec![format!(
        "setup: {} points logged in {:.1} s ({} metrics/s, {} clients, 1000 per batch)",
        thousands(n as f64),
        load.as_secs_f64(),
        thousands(n as f64 / load.as_secs_f64().max(1e-9)),
        s.setup_clients
    )];
    let api = ctx.api()?;
    // Warm-up: the connection and the code path, one small page.
    api.get(
        P_HISTORY,
        &[
            ("run_id", &*run),
            ("run_uuid", &*run),
            ("metric_key", "h"),
            ("max_results", "1000"),
        ],
    )
    .await?;
    let mut all = Vec::with_capacity(s.history_reps);
    for rep in 0..s.history_reps.max(1) {
        let t = Instant::now();
        let (points, pages) = read_history(&api, &run, "h", s.history_page).await?;
        let secs = t.elapsed().as_secs_f64();
        eprintln!(
            "[{}] get_history rep {}: {points} points in {pages} pages, {secs:.2} s",
            ctx.tag,
            rep + 1
        );
        if points != n {
            notes.push(format!("WRONG RESULT: read {points} points, expected {n}"));
        }
        all.push(secs);
    }
    client::sort_ms(&mut all);
    let median = client::percentile(&all, 50.0);
    Ok(Outcome {
        measure: Measure::Seconds { median, all },
        notes,
    })
}

const SEARCH_FILTER: &str = "metrics.m1 > 0.5 and params.p1 = 'x'";
const P1_VALUES: [&str; 4] = ["x", "y", "z", "w"];

/// Check one search answer against the generated data; a remark when it is wrong.
fn verify_search(resp: &Value, expected: usize) -> Option<String> {
    let Some(runs) = resp.get("runs").and_then(Value::as_array) else {
        return (expected > 0).then(|| "WRONG RESULT: no `runs` in the answer".to_string());
    };
    let want = expected.min(100);
    if runs.len() != want {
        return Some(format!(
            "WRONG RESULT: {} runs returned, expected {want}",
            runs.len()
        ));
    }
    let mut prev = f64::INFINITY;
    for r in runs {
        let find = |kind: &str, key: &str| -> Option<&Value> {
            r.pointer(&format!("/data/{kind}"))
                .and_then(Value::as_array)?
                .iter()
                .find(|m| m.get("key").and_then(Value::as_str) == Some(key))?
                .get("value")
        };
        let m1 = find("metrics", "m1").and_then(Value::as_f64);
        let p1 = find("params", "p1").and_then(Value::as_str);
        match (m1, p1) {
            (Some(m), Some("x")) if m > 0.5 && m <= prev => prev = m,
            _ => {
                return Some(format!(
                    "WRONG RESULT: run does not match the filter or order (m1={m1:?}, p1={p1:?}, previous m1={prev})"
                ));
            }
        }
    }
    None
}

async fn search_runs(ctx: &Ctx<'_>) -> Result<Outcome> {
    let s = ctx.sizes;
    let setup = ctx.api()?;
    let exp: Arc<str> = create_experiment(&setup, "search_runs").await?.into();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let data: Vec<(f64, &'static str)> = (0..s.search_runs)
        .map(|_| {
            let m1 = rng.unit();
            let p1 = P1_VALUES[(rng.next_u64() % 4) as usize];
            (m1, p1)
        })
        .collect();
    let expected = data.iter().filter(|(m, p)| *m > 0.5 && *p == "x").count();
    let data = Arc::new(data);
    let exp2 = exp.clone();
    let progress = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tag = ctx.tag.to_string();
    let total = s.search_runs;
    let load = client::for_each_concurrent(ctx.setup_apis()?, total, move |api, k| {
        let (exp, data, progress, tag) =
            (exp2.clone(), data.clone(), progress.clone(), tag.clone());
        async move {
            let &(m1, p1) = data.get(k).context("run index")?;
            let run_id = create_run(&api, &exp, &format!("s{k}")).await?;
            let body = json!({
                "run_id": run_id,
                "metrics": [{"key": "m1", "value": m1, "timestamp": now_ms(), "step": 0}],
                "params": [{"key": "p1", "value": p1}],
            });
            api.post(P_LOG_BATCH, &body).await?;
            let done = progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if done % 1000 == 0 {
                eprintln!("[{tag}] search_runs setup: {done}/{total} runs");
            }
            Ok(())
        }
    })
    .await?;
    eprintln!(
        "[{}] search_runs: created {total} runs in {:.1} s",
        ctx.tag,
        load.as_secs_f64()
    );
    let mut notes = vec![format!(
        "setup: {} runs (create + log-batch of m1, p1) in {:.1} s ({} runs/s, {} clients); {expected} match the filter",
        thousands(total as f64),
        load.as_secs_f64(),
        thousands(total as f64 / load.as_secs_f64().max(1e-9)),
        s.setup_clients
    )];
    let body = Arc::new(json!({
        "experiment_ids": [&*exp],
        "filter": SEARCH_FILTER,
        "run_view_type": "ACTIVE_ONLY",
        "max_results": 100,
        "order_by": ["metrics.m1 DESC"],
    }));
    // Verify once, untimed.
    let first = setup.post(P_SEARCH, &body).await?;
    if let Some(problem) = verify_search(&first, expected) {
        notes.push(problem);
    }
    let phase = run_clients(
        ctx.apis(1)?,
        s.warmup,
        s.search_queries,
        move |api, _, _| {
            let body = body.clone();
            async move { api.post(P_SEARCH, &body).await.map(drop) }
        },
    )
    .await?;
    eprintln!(
        "[{}] search_runs: {} queries, p50 {:.1} ms",
        ctx.tag,
        phase.ops(),
        phase.p(50.0)
    );
    Ok(Outcome {
        measure: Measure::Latency {
            p50: phase.p(50.0),
            p99: phase.p(99.0),
        },
        notes,
    })
}

/// `1234567.8` → `1,234,568`.
pub fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1234567.8), "1,234,568");
        assert_eq!(thousands(-4321.0), "-4,321");
    }

    #[test]
    fn rng_is_uniform_enough() {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        let n = 10_000;
        let above = (0..n).filter(|_| r.unit() > 0.5).count();
        assert!((4_500..5_500).contains(&above), "{above}");
    }

    #[test]
    fn verify_search_catches_order() {
        let ok = json!({"runs": [
            {"data": {"metrics": [{"key": "m1", "value": 0.9}], "params": [{"key": "p1", "value": "x"}]}},
            {"data": {"metrics": [{"key": "m1", "value": 0.7}], "params": [{"key": "p1", "value": "x"}]}},
        ]});
        assert_eq!(verify_search(&ok, 2), None);
        let bad = json!({"runs": [
            {"data": {"metrics": [{"key": "m1", "value": 0.7}], "params": [{"key": "p1", "value": "x"}]}},
            {"data": {"metrics": [{"key": "m1", "value": 0.9}], "params": [{"key": "p1", "value": "x"}]}},
        ]});
        assert!(verify_search(&bad, 2).is_some());
        assert!(verify_search(&ok, 3).is_some());
        assert_eq!(verify_search(&json!({}), 0), None);
    }
}
