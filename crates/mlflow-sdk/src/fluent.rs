//! The fluent API: a process-wide active experiment and run stack, like `mlflow.start_run()`.
//!
//! Metrics logged here are **batched in the background**: [`log_metric`] only pushes onto a
//! bounded queue, and a worker thread sends `runs/log-batch` calls of ≤ 1000 metrics, once a
//! second or when 1000 are pending. [`flush`] and [`ActiveRun::end`] wait until everything
//! queued so far is on the server and report what could not be sent (after the client's
//! retries) instead of swallowing it. Unsent metrics stay queued and are retried on the next
//! flush. Dropping an [`ActiveRun`] flushes and ends the run `FINISHED`, or `FAILED` when the
//! thread is panicking. When the process exits (`main` returns or `std::process::exit`) with
//! metrics still queued or runs still active, an exit hook sends the metrics and ends the runs
//! `FINISHED`, as the official client's `atexit` handler does (see `MLFLOW_SDK_EXIT_TIMEOUT`).
//!
//! ```no_run
//! use mlflow_sdk::fluent;
//! fluent::set_experiment("training")?;
//! let run = fluent::start_run(fluent::RunOptions::new().name("baseline"))?;
//! fluent::log_param("lr", "0.01")?;
//! for step in 0..1000 {
//!     fluent::log_metric("loss", 1.0 / (step + 1) as f64, step)?; // never waits on the network
//! }
//! run.end()?; // flushes, then marks the run FINISHED
//! # Ok::<(), mlflow_sdk::Error>(())
//! ```

use crate::blocking::{self, Client};
use crate::client::CreateRun;
use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::types::{Metric, RunStatus, Tag};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Metrics kept waiting for the server. When it is full, `log_metric` waits for room while the
/// server is reachable (backpressure), and the oldest metrics are dropped (and reported by
/// [`flush`]) while it is not.
///
/// ```
/// use mlflow_sdk::fluent::MAX_PENDING;
/// // Room for a thousand full `log-batch` calls before `log_metric` has to wait.
/// assert_eq!(MAX_PENDING, 1000 * mlflow_sdk::MAX_METRICS_PER_BATCH);
/// ```
pub const MAX_PENDING: usize = 1_000_000;
/// How often queued metrics are sent when fewer than a batch are waiting.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

struct State {
    client: Option<Client>,
    experiment_id: Option<String>,
    runs: Vec<Arc<str>>,
}

fn state() -> MutexGuard<'static, State> {
    static S: OnceLock<Mutex<State>> = OnceLock::new();
    S.get_or_init(|| {
        Mutex::new(State {
            client: None,
            experiment_id: None,
            runs: Vec::new(),
        })
    })
    .lock()
    .unwrap_or_else(|e| e.into_inner())
}

/// The client the fluent API uses (configured from the environment on first use).
///
/// ```no_run
/// // A `blocking::Client`: the full API, next to the fluent calls.
/// let client = mlflow_sdk::fluent::client()?;
/// let exp = client.get_or_create_experiment("training")?;
/// mlflow_sdk::fluent::set_experiment_id(&exp);
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
pub fn client() -> Result<Client> {
    let mut s = state();
    if s.client.is_none() {
        s.client = Some(Client::from_env()?);
    }
    Ok(s.client.clone().expect("set above"))
}

/// Points the fluent API at another server (like `mlflow.set_tracking_uri`).
///
/// ```no_run
/// use mlflow_sdk::fluent;
/// // The other settings (credentials, timeouts) still come from the environment.
/// fluent::set_tracking_uri("http://mlflow.internal:5000")?;
/// fluent::set_experiment("training")?;
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
pub fn set_tracking_uri(uri: &str) -> Result<()> {
    set_config(ClientConfig {
        tracking_uri: ClientConfig::new(uri).tracking_uri,
        ..ClientConfig::from_env()
    })
}

/// Replaces the fluent API's client configuration.
///
/// ```no_run
/// use mlflow_sdk::{ClientConfig, fluent};
/// use std::time::Duration;
/// fluent::set_config(
///     ClientConfig::new("https://mlflow.example.com")
///         .with_token("my-token")
///         .with_timeout(Duration::from_secs(30)),
/// )?;
/// fluent::log_param("lr", 0.01)?;
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
pub fn set_config(config: ClientConfig) -> Result<()> {
    let c = Client::new(config)?;
    state().client = Some(c);
    Ok(())
}

/// Makes experiment `name` active, creating it if needed; returns its id.
///
/// ```no_run
/// use mlflow_sdk::fluent;
/// let id = fluent::set_experiment("training")?;
/// assert_eq!(fluent::active_experiment_id()?, id);
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
pub fn set_experiment(name: &str) -> Result<String> {
    let id = client()?.get_or_create_experiment(name)?;
    state().experiment_id = Some(id.clone());
    Ok(id)
}

/// Makes experiment `id` active.
///
/// ```
/// use mlflow_sdk::fluent;
/// fluent::set_experiment_id("42"); // no server call
/// assert_eq!(fluent::active_experiment_id()?, "42");
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
pub fn set_experiment_id(id: &str) {
    state().experiment_id = Some(id.to_string());
}

/// The active experiment: the last one set, else `MLFLOW_EXPERIMENT_ID`, else
/// `MLFLOW_EXPERIMENT_NAME` (created if needed), else `"0"` (Default).
///
/// ```
/// use mlflow_sdk::fluent;
/// fluent::set_experiment_id("7");
/// // An explicitly set experiment wins over MLFLOW_EXPERIMENT_ID / MLFLOW_EXPERIMENT_NAME.
/// assert_eq!(fluent::active_experiment_id()?, "7");
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
pub fn active_experiment_id() -> Result<String> {
    if let Some(id) = state().experiment_id.clone() {
        return Ok(id);
    }
    if let Ok(id) = std::env::var("MLFLOW_EXPERIMENT_ID")
        && !id.is_empty()
    {
        set_experiment_id(&id);
        return Ok(id);
    }
    if let Ok(name) = std::env::var("MLFLOW_EXPERIMENT_NAME")
        && !name.is_empty()
    {
        return set_experiment(&name);
    }
    Ok("0".into())
}

/// The active experiment if known without a network call (set explicitly, or
/// `MLFLOW_EXPERIMENT_ID`).
pub(crate) fn experiment_hint() -> Option<String> {
    state().experiment_id.clone().or_else(|| {
        std::env::var("MLFLOW_EXPERIMENT_ID")
            .ok()
            .filter(|s| !s.is_empty())
    })
}

/// [`active_experiment_id`] for async callers, resolving `MLFLOW_EXPERIMENT_NAME` with `client`.
pub(crate) async fn active_experiment_id_async(client: &crate::Client) -> Result<String> {
    if let Some(id) = experiment_hint() {
        return Ok(id);
    }
    if let Ok(name) = std::env::var("MLFLOW_EXPERIMENT_NAME")
        && !name.is_empty()
    {
        let id = client.get_or_create_experiment(&name).await?;
        state().experiment_id = Some(id.clone());
        return Ok(id);
    }
    Ok("0".into())
}

/// The innermost active run, if any.
///
/// ```no_run
/// use mlflow_sdk::fluent::{self, RunOptions};
/// let run = fluent::start_run(RunOptions::new())?;
/// assert_eq!(fluent::active_run_id().as_deref(), Some(run.id()));
/// run.end()?;
/// assert_eq!(fluent::active_run_id(), None);
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
pub fn active_run_id() -> Option<String> {
    state().runs.last().map(|r| r.to_string())
}

/// Options of [`start_run`].
///
/// ```
/// use mlflow_sdk::fluent::RunOptions;
/// let opts = RunOptions {
///     experiment_id: Some("3".into()),
///     ..RunOptions::new().name("eval").tag("dataset", "v2")
/// };
/// assert_eq!(opts.name.as_deref(), Some("eval"));
/// assert_eq!(opts.experiment_id.as_deref(), Some("3"));
/// assert!(!opts.nested && opts.run_id.is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Run name.
    pub name: Option<String>,
    /// Initial tags.
    pub tags: Vec<Tag>,
    /// Start as a child of the active run (`mlflow.parentRunId`).
    pub nested: bool,
    /// Resume this existing run instead of creating one.
    pub run_id: Option<String>,
    /// Experiment (default: the active one).
    pub experiment_id: Option<String>,
}

impl RunOptions {
    /// Default options.
    ///
    /// ```
    /// use mlflow_sdk::fluent::RunOptions;
    /// let opts = RunOptions::new();
    /// assert!(opts.name.is_none() && opts.tags.is_empty() && !opts.nested);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the run name.
    ///
    /// ```
    /// use mlflow_sdk::fluent::RunOptions;
    /// let opts = RunOptions::new().name(format!("lr={}", 0.01));
    /// assert_eq!(opts.name.as_deref(), Some("lr=0.01"));
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Adds a tag.
    ///
    /// ```
    /// use mlflow_sdk::fluent::RunOptions;
    /// let opts = RunOptions::new().tag("team", "search").tag("git_sha", "abc123");
    /// assert_eq!(opts.tags.len(), 2);
    /// assert_eq!((opts.tags[0].key.as_str(), opts.tags[0].value.as_str()), ("team", "search"));
    /// ```
    pub fn tag(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.tags.push(Tag::new(k, v));
        self
    }
    /// Starts a nested run.
    ///
    /// ```
    /// use mlflow_sdk::fluent::RunOptions;
    /// // With `fluent::start_run`, the child gets `mlflow.parentRunId` = the active run.
    /// let child = RunOptions::new().name("fold-1").nested();
    /// assert!(child.nested);
    /// ```
    pub fn nested(mut self) -> Self {
        self.nested = true;
        self
    }
    /// Resumes `run_id`.
    ///
    /// ```
    /// use mlflow_sdk::fluent::RunOptions;
    /// let opts = RunOptions::new().resume("0123456789abcdef");
    /// assert_eq!(opts.run_id.as_deref(), Some("0123456789abcdef"));
    /// ```
    pub fn resume(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = Some(run_id.into());
        self
    }
}

/// An active run. Ends `FINISHED` when dropped, or `FAILED` if the thread is panicking;
/// call [`ActiveRun::end`] to see errors.
///
/// ```no_run
/// use mlflow_sdk::fluent::{self, RunOptions};
/// {
///     let _run = fluent::start_run(RunOptions::new().name("scoped"))?;
///     fluent::log_metric("accuracy", 0.91, 0)?;
/// } // dropped here: metrics flushed, run ended FINISHED
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
#[must_use = "the run ends when this guard is dropped"]
#[derive(Debug)]
pub struct ActiveRun {
    run_id: String,
    ended: bool,
}

/// Starts a run in the active experiment and makes it active.
///
/// Fails if a run is already active and `opts.nested` is false, as `mlflow.start_run` does.
///
/// ```no_run
/// use mlflow_sdk::fluent::{self, RunOptions};
/// let sweep = fluent::start_run(RunOptions::new().name("sweep"))?;
/// // A second top-level run while one is active is refused.
/// assert!(fluent::start_run(RunOptions::new()).is_err());
/// for lr in [0.1, 0.01] {
///     let child = fluent::start_run(RunOptions::new().name(format!("lr={lr}")).nested())?;
///     fluent::log_param("lr", lr)?;
///     child.end()?;
/// }
/// sweep.end()?;
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
pub fn start_run(opts: RunOptions) -> Result<ActiveRun> {
    let c = client()?;
    let parent = active_run_id();
    if parent.is_some() && !opts.nested && opts.run_id.is_none() {
        return Err(Error::invalid(format!(
            "Run with UUID {} is already active. To start a new run, first end the current run, \
             or start a nested run with RunOptions::nested().",
            parent.unwrap_or_default()
        )));
    }
    let run_id = match opts.run_id {
        Some(id) => {
            c.update_run(&id, Some(RunStatus::Running), None, None)?;
            id
        }
        None => {
            let exp = match opts.experiment_id {
                Some(e) => e,
                None => active_experiment_id()?,
            };
            let mut req = CreateRun::new(exp);
            req.run_name = opts.name;
            req.tags = opts.tags;
            if opts.nested {
                req.parent_run_id = parent;
            }
            c.create_run(req)?.info.run_id
        }
    };
    state().runs.push(Arc::from(run_id.as_str()));
    crate::exit::ensure_hook();
    Ok(ActiveRun {
        run_id,
        ended: false,
    })
}

impl ActiveRun {
    /// The run id.
    ///
    /// ```no_run
    /// use mlflow_sdk::fluent::{self, RunOptions};
    /// let run = fluent::start_run(RunOptions::new())?;
    /// println!("logging to run {}", run.id());
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn id(&self) -> &str {
        &self.run_id
    }

    /// Flushes queued metrics and ends the run `FINISHED`.
    ///
    /// ```no_run
    /// use mlflow_sdk::fluent::{self, RunOptions};
    /// let run = fluent::start_run(RunOptions::new())?;
    /// fluent::log_metric("loss", 0.1, 0)?;
    /// run.end()?; // Err if queued metrics could not be sent; the run is ended either way
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn end(self) -> Result<()> {
        self.end_with_status(RunStatus::Finished)
    }

    /// Flushes queued metrics and ends the run with `status`. The run is ended even when the
    /// flush fails; the flush error is returned.
    ///
    /// ```no_run
    /// use mlflow_sdk::RunStatus;
    /// use mlflow_sdk::fluent::{self, RunOptions};
    /// let run = fluent::start_run(RunOptions::new())?;
    /// let diverged = true;
    /// run.end_with_status(if diverged { RunStatus::Failed } else { RunStatus::Finished })?;
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn end_with_status(mut self, status: RunStatus) -> Result<()> {
        self.finish(status)
    }

    fn finish(&mut self, status: RunStatus) -> Result<()> {
        self.ended = true;
        {
            let mut s = state();
            if let Some(pos) = s.runs.iter().rposition(|r| **r == *self.run_id) {
                s.runs.remove(pos);
            }
        }
        let flushed = flush();
        let ended = client().and_then(|c| c.end_run(&self.run_id, status).map(|_| ()));
        flushed.and(ended)
    }
}

impl Drop for ActiveRun {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let status = if std::thread::panicking() {
            RunStatus::Failed
        } else {
            RunStatus::Finished
        };
        if let Err(e) = self.finish(status) {
            eprintln!("mlflow-sdk: ending run {} failed: {e}", self.run_id);
        }
    }
}

fn require_run() -> Result<String> {
    match active_run_id() {
        Some(r) => Ok(r),
        None => {
            // Like Python, logging without a run starts one.
            let run = start_run(RunOptions::new())?;
            let id = run.run_id.clone();
            // Keep it active until the process ends it explicitly with `end_run`.
            std::mem::forget(run);
            Ok(id)
        }
    }
}

/// [`require_run`] without copying the id (the metric hot path).
fn require_run_arc() -> Result<Arc<str>> {
    if let Some(r) = state().runs.last() {
        return Ok(r.clone());
    }
    Ok(Arc::from(require_run()?.as_str()))
}

/// Ends the innermost active run `FINISHED` (for runs started implicitly by logging).
///
/// ```no_run
/// use mlflow_sdk::fluent;
/// fluent::log_param("lr", 0.01)?; // no active run: starts one
/// fluent::end_run()?; // flushes and ends it
/// assert_eq!(fluent::active_run_id(), None);
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
pub fn end_run() -> Result<()> {
    match active_run_id() {
        Some(id) => ActiveRun {
            run_id: id,
            ended: false,
        }
        .end(),
        None => Ok(()),
    }
}

/// Logs a param on the active run (synchronously).
///
/// ```no_run
/// use mlflow_sdk::fluent;
/// fluent::log_param("lr", 0.01)?;
/// fluent::log_param("optimizer", "adam")?;
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
pub fn log_param(key: &str, value: impl ToString) -> Result<()> {
    let run = require_run()?;
    client()?.log_param(&run, key, &value.to_string())
}

/// Logs params on the active run in one call.
///
/// ```no_run
/// use mlflow_sdk::fluent;
/// fluent::log_params(&[("lr", "0.01"), ("batch_size", "32"), ("optimizer", "adam")])?;
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
pub fn log_params<K: AsRef<str>, V: ToString>(params: &[(K, V)]) -> Result<()> {
    let run = require_run()?;
    let ps: Vec<Tag> = params
        .iter()
        .map(|(k, v)| Tag::new(k.as_ref(), v.to_string()))
        .collect();
    client()?.log_batch(&run, &[], &ps, &[])
}

/// Sets a tag on the active run (synchronously).
///
/// ```no_run
/// use mlflow_sdk::fluent;
/// fluent::set_tag("team", "search")?;
/// fluent::set_tag("mlflow.note.content", "baseline with the new tokenizer")?;
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
pub fn set_tag(key: &str, value: impl ToString) -> Result<()> {
    let run = require_run()?;
    client()?.set_tag(&run, key, &value.to_string())
}

/// Queues a metric value for the active run; returns without waiting on the network (unless
/// [`MAX_PENDING`] metrics are already waiting for a reachable server: then it waits for room).
///
/// ```no_run
/// use mlflow_sdk::fluent;
/// for step in 0..10_000 {
///     fluent::log_metric("loss", 1.0 / (step + 1) as f64, step)?;
/// }
/// fluent::flush()?; // wait until all 10 000 are on the server
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
pub fn log_metric(key: &str, value: f64, step: i64) -> Result<()> {
    let run = require_run_arc()?;
    batcher().enqueue(run, Metric::new(key, value, step));
    Ok(())
}

/// Queues several metric values at the same step.
///
/// ```no_run
/// use mlflow_sdk::fluent;
/// let epoch = 3;
/// fluent::log_metrics(&[("precision", 0.91), ("recall", 0.84)], epoch)?; // same timestamp
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
pub fn log_metrics<K: AsRef<str>>(metrics: &[(K, f64)], step: i64) -> Result<()> {
    let run = require_run_arc()?;
    let ts = crate::util::now_ms();
    let b = batcher();
    for (k, v) in metrics {
        let mut m = Metric::new(k.as_ref(), *v, step);
        m.timestamp = ts;
        b.enqueue(run.clone(), m);
    }
    Ok(())
}

/// Waits until every metric queued so far has been sent. Returns the error that kept some
/// from being sent (they stay queued for the next attempt).
///
/// ```no_run
/// use mlflow_sdk::fluent;
/// fluent::log_metric("loss", 0.5, 0)?;
/// if let Err(e) = fluent::flush() {
///     eprintln!("metrics still queued, retried on the next flush: {e}");
/// }
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
pub fn flush() -> Result<()> {
    batcher().flush()
}

/// [`flush`] without starting the batcher thread when nothing was ever queued.
pub(crate) fn flush_if_started() -> Result<()> {
    match BATCHER.get() {
        Some(b) => b.flush(),
        None => Ok(()),
    }
}

/// Ends every active run `FINISHED`, innermost first (the exit hook); returns the failures.
pub(crate) fn end_all_runs() -> Vec<String> {
    let mut errors = Vec::new();
    loop {
        let Some(run_id) = state().runs.last().map(|r| r.to_string()) else {
            break;
        };
        let run = ActiveRun {
            run_id: run_id.clone(),
            ended: false,
        };
        if let Err(e) = run.end() {
            errors.push(format!("ending run {run_id}: {e}"));
        }
    }
    errors
}

/// The queue between callers and the sender thread.
///
/// Callers push under a mutex (no allocation besides the metric itself, no syscall unless the
/// sender is asleep with a full batch waiting); the sender takes ≤ 1000 metrics at a time and
/// sends them with the lock released, so callers never wait on the network.
struct Batcher {
    inner: Mutex<Inner>,
    /// Wakes the sender thread.
    work: Condvar,
    /// Wakes callers waiting in `flush()` or for room in the queue.
    progress: Condvar,
}

struct Inner {
    queue: VecDeque<(Arc<str>, Metric)>,
    /// Metrics ever queued, and ever removed from the queue (sent or dropped), in order.
    queued: u64,
    settled: u64,
    /// A `flush()` waits until `settled` reaches this: send now, whatever the batch size.
    flush_target: u64,
    /// Send attempts started; the last one that failed, and its error (taken by the first
    /// waiter, the others get its text).
    attempts: u64,
    failed_attempt: u64,
    last_error: Option<Error>,
    last_error_text: String,
    /// The last attempt failed: a full queue drops its oldest metrics instead of blocking.
    failing: bool,
    dropped: usize,
    sender_idle: bool,
}

static BATCHER: OnceLock<&'static Batcher> = OnceLock::new();

fn batcher() -> &'static Batcher {
    BATCHER.get_or_init(|| {
        crate::exit::ensure_hook();
        let b: &'static Batcher = Box::leak(Box::new(Batcher {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                queued: 0,
                settled: 0,
                flush_target: 0,
                attempts: 0,
                failed_attempt: 0,
                last_error: None,
                last_error_text: String::new(),
                failing: false,
                dropped: 0,
                sender_idle: false,
            }),
            work: Condvar::new(),
            progress: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("mlflow-metrics".into())
            .spawn(move || b.run_sender())
            .expect("spawning the metric batcher");
        b
    })
}

impl Batcher {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn enqueue(&self, run_id: Arc<str>, m: Metric) {
        let mut g = self.lock();
        while g.queue.len() >= MAX_PENDING {
            if g.failing {
                // The server is unreachable: keep the newest, count what is lost.
                g.queue.pop_front();
                g.settled += 1;
                g.dropped += 1;
            } else {
                // Backpressure: the server is up but slower than the caller.
                g = self.progress.wait(g).unwrap_or_else(|e| e.into_inner());
            }
        }
        g.queue.push_back((run_id, m));
        g.queued += 1;
        if g.sender_idle && g.queue.len() >= crate::MAX_METRICS_PER_BATCH {
            g.sender_idle = false;
            self.work.notify_one();
        }
    }

    fn flush(&self) -> Result<()> {
        let mut g = self.lock();
        let target = g.queued;
        let started_before = g.attempts;
        loop {
            if g.settled >= target {
                let n = std::mem::take(&mut g.dropped);
                if n > 0 {
                    return Err(Error::Background(format!(
                        "{n} metrics were dropped because the server stayed unreachable"
                    )));
                }
                return Ok(());
            }
            if g.failed_attempt > started_before {
                // An attempt made after this flush began failed: report it.
                let text = g.last_error_text.clone();
                return Err(g.last_error.take().unwrap_or(Error::Background(text)));
            }
            if g.flush_target < target {
                g.flush_target = target;
            }
            if g.sender_idle {
                g.sender_idle = false;
                self.work.notify_one();
            }
            g = self.progress.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn run_sender(&self) -> ! {
        let mut next_try = Instant::now();
        let mut deadline = Instant::now() + FLUSH_INTERVAL;
        let mut g = self.lock();
        loop {
            let now = Instant::now();
            let forced = g.flush_target > g.settled;
            let timer = now >= deadline;
            let ready = !g.queue.is_empty()
                && (forced
                    || (now >= next_try
                        && (timer || g.queue.len() >= crate::MAX_METRICS_PER_BATCH)));
            if !ready {
                if timer {
                    deadline = now + FLUSH_INTERVAL;
                }
                let mut until = deadline;
                if next_try > now && next_try < until {
                    until = next_try;
                }
                g.sender_idle = true;
                g = self
                    .work
                    .wait_timeout(g, until.saturating_duration_since(now))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                g.sender_idle = false;
                continue;
            }
            // One batch: ≤ 1000 metrics of the oldest run, sent with the lock released.
            g.attempts += 1;
            let attempt = g.attempts;
            let run = g.queue[0].0.clone();
            let n = g
                .queue
                .iter()
                .take(crate::MAX_METRICS_PER_BATCH)
                .take_while(|(r, _)| *r == run)
                .count();
            let batch: Vec<Metric> = g.queue.drain(..n).map(|(_, m)| m).collect();
            drop(g);
            let sent = client()
                .and_then(|c| blocking::block_on(c.as_async().log_batch(&run, &batch, &[], &[])));
            g = self.lock();
            match sent {
                Ok(()) => {
                    g.settled += n as u64;
                    g.failing = false;
                }
                Err(e) => {
                    // Unsent metrics go back to the front, in order, for the next attempt.
                    for m in batch.into_iter().rev() {
                        g.queue.push_front((run.clone(), m));
                    }
                    g.failed_attempt = attempt;
                    g.last_error_text = e.to_string();
                    g.last_error = Some(e);
                    g.failing = true;
                    // Waiting flushes get this error; later ones force a new attempt.
                    g.flush_target = g.settled;
                    next_try = Instant::now() + Duration::from_secs(5);
                }
            }
            deadline = Instant::now() + FLUSH_INTERVAL;
            self.progress.notify_all();
        }
    }
}
