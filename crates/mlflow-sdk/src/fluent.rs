//! The fluent API: a process-wide active experiment and run stack, like `mlflow.start_run()`.
//!
//! Metrics logged here are **batched in the background**: [`log_metric`] only pushes onto a
//! bounded queue, and a worker thread sends `runs/log-batch` calls of ≤ 1000 metrics, once a
//! second or when 1000 are pending. [`flush`] and [`ActiveRun::end`] wait until everything
//! queued so far is on the server and report what could not be sent (after the client's
//! retries) instead of swallowing it. Unsent metrics stay queued and are retried on the next
//! flush. Dropping an [`ActiveRun`] flushes and ends the run `FINISHED`, or `FAILED` when the
//! thread is panicking.
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
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Queue capacity between the caller and the batcher (a full queue applies backpressure).
const QUEUE_CAPACITY: usize = 10_000;
/// Metrics kept for retry while the server is unreachable before the oldest are dropped.
const MAX_PENDING: usize = 1_000_000;
/// How often queued metrics are sent when fewer than a batch are waiting.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

struct State {
    client: Option<Client>,
    experiment_id: Option<String>,
    runs: Vec<String>,
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
pub fn client() -> Result<Client> {
    let mut s = state();
    if s.client.is_none() {
        s.client = Some(Client::from_env()?);
    }
    Ok(s.client.clone().expect("set above"))
}

/// Points the fluent API at another server (like `mlflow.set_tracking_uri`).
pub fn set_tracking_uri(uri: &str) -> Result<()> {
    set_config(ClientConfig {
        tracking_uri: ClientConfig::new(uri).tracking_uri,
        ..ClientConfig::from_env()
    })
}

/// Replaces the fluent API's client configuration.
pub fn set_config(config: ClientConfig) -> Result<()> {
    let c = Client::new(config)?;
    state().client = Some(c);
    Ok(())
}

/// Makes experiment `name` active, creating it if needed; returns its id.
pub fn set_experiment(name: &str) -> Result<String> {
    let id = client()?.get_or_create_experiment(name)?;
    state().experiment_id = Some(id.clone());
    Ok(id)
}

/// Makes experiment `id` active.
pub fn set_experiment_id(id: &str) {
    state().experiment_id = Some(id.to_string());
}

/// The active experiment: the last one set, else `MLFLOW_EXPERIMENT_ID`, else
/// `MLFLOW_EXPERIMENT_NAME` (created if needed), else `"0"` (Default).
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
pub fn active_run_id() -> Option<String> {
    state().runs.last().cloned()
}

/// Options of [`start_run`].
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
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the run name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Adds a tag.
    pub fn tag(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.tags.push(Tag::new(k, v));
        self
    }
    /// Starts a nested run.
    pub fn nested(mut self) -> Self {
        self.nested = true;
        self
    }
    /// Resumes `run_id`.
    pub fn resume(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = Some(run_id.into());
        self
    }
}

/// An active run. Ends `FINISHED` when dropped, or `FAILED` if the thread is panicking;
/// call [`ActiveRun::end`] to see errors.
#[must_use = "the run ends when this guard is dropped"]
#[derive(Debug)]
pub struct ActiveRun {
    run_id: String,
    ended: bool,
}

/// Starts a run in the active experiment and makes it active.
///
/// Fails if a run is already active and `opts.nested` is false, as `mlflow.start_run` does.
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
    state().runs.push(run_id.clone());
    Ok(ActiveRun {
        run_id,
        ended: false,
    })
}

impl ActiveRun {
    /// The run id.
    pub fn id(&self) -> &str {
        &self.run_id
    }

    /// Flushes queued metrics and ends the run `FINISHED`.
    pub fn end(self) -> Result<()> {
        self.end_with_status(RunStatus::Finished)
    }

    /// Flushes queued metrics and ends the run with `status`. The run is ended even when the
    /// flush fails; the flush error is returned.
    pub fn end_with_status(mut self, status: RunStatus) -> Result<()> {
        self.finish(status)
    }

    fn finish(&mut self, status: RunStatus) -> Result<()> {
        self.ended = true;
        {
            let mut s = state();
            if let Some(pos) = s.runs.iter().rposition(|r| *r == self.run_id) {
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

/// Ends the innermost active run `FINISHED` (for runs started implicitly by logging).
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
pub fn log_param(key: &str, value: impl ToString) -> Result<()> {
    let run = require_run()?;
    client()?.log_param(&run, key, &value.to_string())
}

/// Logs params on the active run in one call.
pub fn log_params<K: AsRef<str>, V: ToString>(params: &[(K, V)]) -> Result<()> {
    let run = require_run()?;
    let ps: Vec<Tag> = params
        .iter()
        .map(|(k, v)| Tag::new(k.as_ref(), v.to_string()))
        .collect();
    client()?.log_batch(&run, &[], &ps, &[])
}

/// Sets a tag on the active run (synchronously).
pub fn set_tag(key: &str, value: impl ToString) -> Result<()> {
    let run = require_run()?;
    client()?.set_tag(&run, key, &value.to_string())
}

/// Queues a metric value for the active run; returns without waiting on the network.
pub fn log_metric(key: &str, value: f64, step: i64) -> Result<()> {
    let run = require_run()?;
    batcher().enqueue(run, Metric::new(key, value, step))
}

/// Queues several metric values at the same step.
pub fn log_metrics<K: AsRef<str>>(metrics: &[(K, f64)], step: i64) -> Result<()> {
    let run = require_run()?;
    let ts = crate::util::now_ms();
    let b = batcher();
    for (k, v) in metrics {
        let mut m = Metric::new(k.as_ref(), *v, step);
        m.timestamp = ts;
        b.enqueue(run.clone(), m)?;
    }
    Ok(())
}

/// Waits until every metric queued so far has been sent. Returns the error that kept some
/// from being sent (they stay queued for the next attempt).
pub fn flush() -> Result<()> {
    batcher().flush()
}

enum Msg {
    Metric(String, Metric),
    Flush(SyncSender<Result<()>>),
}

struct Batcher {
    tx: SyncSender<Msg>,
}

fn batcher() -> &'static Batcher {
    static B: OnceLock<Batcher> = OnceLock::new();
    B.get_or_init(|| {
        let (tx, rx) = sync_channel(QUEUE_CAPACITY);
        std::thread::Builder::new()
            .name("mlflow-metrics".into())
            .spawn(move || worker(rx))
            .expect("spawning the metric batcher");
        Batcher { tx }
    })
}

impl Batcher {
    fn enqueue(&self, run_id: String, m: Metric) -> Result<()> {
        self.tx
            .send(Msg::Metric(run_id, m))
            .map_err(|_| Error::Background("metric batcher stopped".into()))
    }

    fn flush(&self) -> Result<()> {
        let (rtx, rrx) = sync_channel(1);
        self.tx
            .send(Msg::Flush(rtx))
            .map_err(|_| Error::Background("metric batcher stopped".into()))?;
        rrx.recv()
            .map_err(|_| Error::Background("metric batcher stopped".into()))?
    }
}

struct Pending {
    queue: VecDeque<(String, Metric)>,
    dropped: usize,
}

impl Pending {
    fn push(&mut self, run: String, m: Metric) {
        if self.queue.len() >= MAX_PENDING {
            self.queue.pop_front();
            self.dropped += 1;
        }
        self.queue.push_back((run, m));
    }

    /// Sends everything, in batches of ≤ 1000 metrics of one run, oldest first. On failure the
    /// unsent metrics stay queued.
    fn send_all(&mut self) -> Result<()> {
        while !self.queue.is_empty() {
            let run = self.queue[0].0.clone();
            let n = self
                .queue
                .iter()
                .take(crate::MAX_METRICS_PER_BATCH)
                .take_while(|(r, _)| *r == run)
                .count();
            let batch: Vec<Metric> = self.queue.iter().take(n).map(|(_, m)| m.clone()).collect();
            let c = client()?;
            blocking::block_on(c.as_async().log_batch(&run, &batch, &[], &[]))?;
            self.queue.drain(..n);
        }
        if self.dropped > 0 {
            let n = std::mem::take(&mut self.dropped);
            return Err(Error::Background(format!(
                "{n} metrics were dropped because the server stayed unreachable"
            )));
        }
        Ok(())
    }
}

fn worker(rx: Receiver<Msg>) {
    let mut p = Pending {
        queue: VecDeque::new(),
        dropped: 0,
    };
    let mut next_try = Instant::now();
    loop {
        match rx.recv_timeout(FLUSH_INTERVAL) {
            Ok(Msg::Metric(run, m)) => {
                p.push(run, m);
                if p.queue.len() >= crate::MAX_METRICS_PER_BATCH
                    && Instant::now() >= next_try
                    && p.send_all().is_err()
                {
                    next_try = Instant::now() + Duration::from_secs(5);
                }
            }
            Ok(Msg::Flush(reply)) => {
                let mut replies = vec![reply];
                loop {
                    match rx.try_recv() {
                        Ok(Msg::Metric(run, m)) => p.push(run, m),
                        Ok(Msg::Flush(r)) => replies.push(r),
                        Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => break,
                    }
                }
                let mut result = p.send_all();
                next_try = Instant::now();
                // The first waiter gets the error itself (with its error code); others a copy.
                for r in replies {
                    let mine = match &result {
                        Ok(()) => Ok(()),
                        Err(e) => Err(Error::Background(e.to_string())),
                    };
                    let _ = r.send(std::mem::replace(&mut result, mine));
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if !p.queue.is_empty() && Instant::now() >= next_try && p.send_all().is_err() {
                    next_try = Instant::now() + Duration::from_secs(5);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                let _ = p.send_all();
                return;
            }
        }
    }
}
