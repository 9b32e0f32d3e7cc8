//! SDK overhead benchmark (issue 6 part 8): what `fluent::log_metric` and a traced span cost on
//! the caller's thread, and how fast the server ingests what the background threads send.
//!
//! ```sh
//! cargo build --release -p mlflow-sdk --example sdk_bench
//! target/release/examples/sdk_bench [--server /path/to/mlflow-rs] [--metrics 1000000] \
//!     [--spans 100000] [--root-traces 10000]
//! ```
//!
//! It starts the server itself (`--server`, else `$MLFLOW_RS_BIN`, else
//! `/work/target-rel/release/mlflow-rs`) on a free 127.0.0.1 port with a temp SQLite DB and
//! artifact dir, and kills that child process at the end. Results are a markdown table.
//!
//! Method: calls are timed in batches of 1000 (one `Instant` pair per batch); "mean" is total
//! time / calls, "p99" the 99th percentile of the per-batch ns/call. Span overhead is the mean
//! of the traced variant minus the mean of the same function without a span. Child spans run
//! under root spans of 10 000 children each (one trace per root); root spans are one trace per
//! call. End-to-end rates run from the first call until `flush()` returns.

use mlflow_sdk::blocking::Client;
use mlflow_sdk::fluent::{self, RunOptions};
use mlflow_sdk::tracing_layer::MlflowLayer;
use mlflow_sdk::{ClientConfig, SearchQuery};
use std::hint::black_box;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tracing_subscriber::prelude::*;

const BATCH: usize = 1000;
const CHILDREN_PER_TRACE: usize = 10_000;
const METRIC_KEYS: usize = 10;

type BoxError = Box<dyn std::error::Error>;

struct Server {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Server {
    fn start(bin: &PathBuf) -> Result<Server, BoxError> {
        let dir = tempfile::tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let db = format!("sqlite:///{}", dir.path().join("mlflow.db").display());
        let art = dir.path().join("artifacts");
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let child = Command::new(bin)
            .arg("server")
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--backend-store-uri", &db])
            .args([
                "--artifacts-destination",
                art.to_str().ok_or("non-UTF-8 path")?,
            ])
            .current_dir(dir.path())
            .env_remove("MLFLOW_TRACKING_URI")
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        let mut s = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = s.child.try_wait()? {
                let log =
                    std::fs::read_to_string(s.dir.path().join("server.log")).unwrap_or_default();
                return Err(format!("server exited with {status}:\n{log}").into());
            }
            if health_ok(port) {
                return Ok(s);
            }
            if Instant::now() > deadline {
                return Err("server did not answer /health within 120 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only this child's pid (SIGKILL), never a process group.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn health_ok(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200")
}

/// CPU time consumed by the calling thread (excludes time the thread sat preempted while the
/// exporter, the batcher or the server ran on the same 2 cores).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Per-batch timings of `n` calls of `f(i)`.
struct Timing {
    calls: usize,
    total: Duration,
    /// Thread CPU time over all calls.
    cpu: Duration,
    batch_ns_per_call: Vec<f64>,
}

impl Timing {
    fn mean_ns(&self) -> f64 {
        self.total.as_nanos() as f64 / self.calls as f64
    }
    fn cpu_ns(&self) -> f64 {
        self.cpu.as_nanos() as f64 / self.calls as f64
    }
    fn p99_ns(&self) -> f64 {
        let mut v = self.batch_ns_per_call.clone();
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 * 0.99).ceil() as usize).clamp(1, v.len()) - 1]
    }
}

fn time_calls(start: usize, n: usize, mut f: impl FnMut(usize)) -> Timing {
    let mut t = Timing {
        calls: n,
        total: Duration::ZERO,
        cpu: Duration::ZERO,
        batch_ns_per_call: Vec::with_capacity(n / BATCH + 1),
    };
    let cpu0 = thread_cpu();
    let mut i = start;
    let end = start + n;
    while i < end {
        let m = BATCH.min(end - i);
        let t0 = Instant::now();
        for j in i..i + m {
            f(j);
        }
        let d = t0.elapsed();
        t.total += d;
        t.batch_ns_per_call.push(d.as_nanos() as f64 / m as f64);
        i += m;
    }
    t.cpu = thread_cpu().saturating_sub(cpu0);
    t
}

#[inline(never)]
fn work(x: u64) -> u64 {
    black_box(x)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17)
}

#[mlflow_sdk::trace(span_type = "TOOL")]
#[inline(never)]
fn work_traced(x: u64) -> u64 {
    black_box(x)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17)
}

#[inline(never)]
fn work_info_span(x: u64) -> u64 {
    let span = tracing::info_span!("work", x);
    let _g = span.enter();
    work(x)
}

struct Args {
    server: PathBuf,
    metrics: usize,
    spans: usize,
    root_traces: usize,
}

fn args() -> Result<Args, BoxError> {
    let mut a = Args {
        server: std::env::var_os("MLFLOW_RS_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/work/target-rel/release/mlflow-rs".into()),
        metrics: 1_000_000,
        spans: 100_000,
        root_traces: 10_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().ok_or_else(|| format!("{k} needs a value"))?;
        match k.as_str() {
            "--server" => a.server = v.into(),
            "--metrics" => a.metrics = v.parse()?,
            "--spans" => a.spans = v.parse()?,
            "--root-traces" => a.root_traces = v.parse()?,
            _ => return Err(format!("unknown argument {k}").into()),
        }
    }
    // Whole batches of metric keys and whole traces keep the read-back checks exact.
    a.metrics = a.metrics.div_ceil(METRIC_KEYS) * METRIC_KEYS;
    a.spans = a.spans.div_ceil(CHILDREN_PER_TRACE).max(1) * CHILDREN_PER_TRACE;
    Ok(a)
}

struct Row {
    what: String,
    calls: usize,
    mean: String,
    cpu: String,
    p99: String,
    e2e: String,
}

fn main() -> Result<(), BoxError> {
    let a = args()?;
    let server = Server::start(&a.server)?;
    eprintln!("server {} at {}", a.server.display(), server.url);
    let cfg = ClientConfig::new(&server.url);
    let client = Client::new(cfg.clone())?;
    let mut rows = Vec::new();

    // ---- log_metric through the fluent API ----
    fluent::set_config(cfg.clone())?;
    let exp = fluent::set_experiment("sdk-bench")?;
    let keys: Vec<String> = (0..METRIC_KEYS).map(|k| format!("m{k}")).collect();
    {
        // Warm-up run: connections, the batcher thread, the server's caches.
        let run = fluent::start_run(RunOptions::new().name("warmup"))?;
        for i in 0..20_000 {
            fluent::log_metric(&keys[i % METRIC_KEYS], i as f64, (i / METRIC_KEYS) as i64)?;
        }
        run.end()?;
    }
    let run = fluent::start_run(RunOptions::new().name("log_metric"))?;
    let run_id = run.id().to_string();
    let t0 = Instant::now();
    let t = time_calls(0, a.metrics, |i| {
        fluent::log_metric(&keys[i % METRIC_KEYS], i as f64, (i / METRIC_KEYS) as i64)
            .expect("log_metric");
    });
    let enqueued = t0.elapsed();
    fluent::flush()?;
    let e2e = t0.elapsed();
    run.end()?;
    eprintln!(
        "log_metric: {} calls enqueued in {:.3} s, flushed after {:.3} s",
        a.metrics,
        enqueued.as_secs_f64(),
        e2e.as_secs_f64()
    );
    // Read back: every key has steps 0..n/keys exactly once.
    let per_key = a.metrics / METRIC_KEYS;
    let expected_sum: i64 = (0..per_key as i64).sum();
    let mut read = 0;
    for k in &keys {
        let h = client.get_metric_history(&run_id, k)?;
        let sum: i64 = h.iter().map(|m| m.step).sum();
        if h.len() != per_key || sum != expected_sum {
            return Err(format!(
                "metric {k}: {} points (step sum {sum}), expected {per_key} (step sum {expected_sum})",
                h.len()
            )
            .into());
        }
        read += h.len();
    }
    eprintln!("read back {read} metric points over {METRIC_KEYS} keys: OK");
    rows.push(Row {
        what: "`fluent::log_metric`".into(),
        calls: a.metrics,
        mean: format!("{:.0} ns", t.mean_ns()),
        cpu: format!("{:.0} ns", t.cpu_ns()),
        p99: format!("{:.0} ns", t.p99_ns()),
        e2e: format!(
            "{:.0} metrics/s ({:.2} s to `flush()`)",
            a.metrics as f64 / e2e.as_secs_f64(),
            e2e.as_secs_f64()
        ),
    });

    // ---- spans under the MLflow layer ----
    let (layer, exporter) = MlflowLayer::builder()
        .config(cfg.clone())
        .experiment_id(exp.clone())
        .queue_capacity(a.root_traces + 1000)
        .build()?;
    // Only our spans: not the HTTP client's own (the exporter thread uses it).
    let filter = tracing_subscriber::filter::filter_fn(|m| {
        m.target() == "mlflow" || m.target().starts_with("sdk_bench")
    });
    tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .init();

    // Warm-up: callsite registration, the exporter's connection.
    tracing::info_span!("warmup").in_scope(|| {
        for i in 0..1000 {
            black_box(work_traced(i));
            black_box(work_info_span(i));
        }
    });
    exporter.flush()?;
    let before = exporter.stats().exported;

    let baseline = time_calls(0, a.spans, |i| {
        black_box(work(i as u64));
    });

    let mut span_rows = Vec::new();
    for (label, f) in [
        ("`#[trace]` fn (child span)", work_traced as fn(u64) -> u64),
        ("`info_span!` + enter (child span)", work_info_span),
    ] {
        let t0 = Instant::now();
        let mut timings = Vec::new();
        for chunk in 0..a.spans / CHILDREN_PER_TRACE {
            let root = tracing::info_span!("bench-root", chunk);
            let _g = root.enter();
            timings.push(time_calls(
                chunk * CHILDREN_PER_TRACE,
                CHILDREN_PER_TRACE,
                |i| {
                    black_box(f(i as u64));
                },
            ));
        }
        let caller = t0.elapsed();
        exporter.flush()?;
        let e2e = t0.elapsed();
        let t = Timing {
            calls: a.spans,
            total: timings.iter().map(|t| t.total).sum(),
            cpu: timings.iter().map(|t| t.cpu).sum(),
            batch_ns_per_call: timings
                .into_iter()
                .flat_map(|t| t.batch_ns_per_call)
                .collect(),
        };
        let spans = a.spans + a.spans / CHILDREN_PER_TRACE;
        eprintln!(
            "{label}: caller {:.3} s, exported after {:.3} s",
            caller.as_secs_f64(),
            e2e.as_secs_f64()
        );
        span_rows.push((label, t, spans, e2e));
    }

    // Root spans: one trace per call.
    let t0 = Instant::now();
    let roots = time_calls(0, a.root_traces, |i| {
        black_box(work_traced(i as u64));
    });
    exporter.flush()?;
    let roots_e2e = t0.elapsed();

    rows.push(Row {
        what: "untraced fn (baseline)".into(),
        calls: a.spans,
        mean: format!("{:.1} ns", baseline.mean_ns()),
        cpu: format!("{:.1} ns", baseline.cpu_ns()),
        p99: format!("{:.1} ns", baseline.p99_ns()),
        e2e: "—".into(),
    });
    for (label, t, spans, e2e) in &span_rows {
        rows.push(Row {
            what: label.to_string(),
            calls: t.calls,
            mean: format!(
                "{:.0} ns (+{:.0} ns over baseline)",
                t.mean_ns(),
                t.mean_ns() - baseline.mean_ns()
            ),
            cpu: format!(
                "{:.0} ns (+{:.0} ns)",
                t.cpu_ns(),
                t.cpu_ns() - baseline.cpu_ns()
            ),
            p99: format!("{:.0} ns", t.p99_ns()),
            e2e: format!(
                "{:.0} spans/s ({spans} spans in {} traces, {:.2} s to `flush()`)",
                *spans as f64 / e2e.as_secs_f64(),
                t.calls / CHILDREN_PER_TRACE,
                e2e.as_secs_f64()
            ),
        });
    }
    rows.push(Row {
        what: "`#[trace]` fn (root span = 1 trace per call)".into(),
        calls: a.root_traces,
        mean: format!(
            "{:.0} ns (+{:.0} ns over baseline)",
            roots.mean_ns(),
            roots.mean_ns() - baseline.mean_ns()
        ),
        cpu: format!(
            "{:.0} ns (+{:.0} ns)",
            roots.cpu_ns(),
            roots.cpu_ns() - baseline.cpu_ns()
        ),
        p99: format!("{:.0} ns", roots.p99_ns()),
        e2e: format!(
            "{:.0} traces/s ({:.2} s to `flush()`)",
            a.root_traces as f64 / roots_e2e.as_secs_f64(),
            roots_e2e.as_secs_f64()
        ),
    });

    // Verify: every trace arrived, and the big ones with all their spans.
    let stats = exporter.stats();
    let expected_traces = 2 * (a.spans / CHILDREN_PER_TRACE) + a.root_traces;
    if stats.exported - before != expected_traces as u64 || stats.dropped_spans > 0 {
        return Err(format!(
            "exporter: {} traces exported (expected {expected_traces}), stats {stats:?}",
            stats.exported - before
        )
        .into());
    }
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let mut q = SearchQuery::new()
            .filter("trace.name = 'bench-root'")
            .max_results(100);
        q.page_token = token;
        let page = client.search_traces_page(std::slice::from_ref(&exp), &q)?;
        found.extend(page.items);
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
    }
    if found.len() != 2 * (a.spans / CHILDREN_PER_TRACE) {
        return Err(format!("search found {} bench-root traces", found.len()).into());
    }
    let mut spans_read = 0;
    for info in &found {
        let trace = client.get_trace(&info.trace_id)?;
        let n = trace["spans"].as_array().map_or(0, Vec::len);
        if n != CHILDREN_PER_TRACE + 1 {
            return Err(format!("trace {} has {n} spans", info.trace_id).into());
        }
        spans_read += n;
    }
    eprintln!(
        "read back {} traces with {spans_read} spans, {} traces exported in total: OK",
        found.len(),
        stats.exported
    );

    println!(
        "| measurement | calls | mean on caller's thread (wall) | caller's thread CPU per call | p99 of 1000-call batches | end to end (server ingest) |"
    );
    println!("|---|---:|---:|---:|---:|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.what, r.calls, r.mean, r.cpu, r.p99, r.e2e
        );
    }
    drop(server);
    Ok(())
}
