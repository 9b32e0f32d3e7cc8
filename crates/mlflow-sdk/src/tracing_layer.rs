//! Export [`tracing`] spans as MLflow traces.
//!
//! [`MlflowLayer`] is a `tracing_subscriber::Layer`. Every root span (a span without a recorded
//! parent) starts a trace; its descendants become the trace's spans. When the root span
//! closes, the whole trace is handed to a background exporter (a bounded queue: when it is
//! full, traces are dropped and counted, never blocking the application), which sends it as
//! the official client does:
//!
//! 1. `POST /v1/traces` — OTLP protobuf, header `x-mlflow-experiment-id`;
//! 2. `POST /api/3.0/mlflow/traces` — StartTraceV3 with the `TraceInfoV3`;
//! 3. when the server did not keep the spans in its database, `traces.json` is uploaded to the
//!    trace's artifact location.
//!
//! Span fields map to MLflow attributes:
//!
//! | `tracing` field | MLflow |
//! |---|---|
//! | `mlflow.spanInputs` / `inputs` | `mlflow.spanInputs` (JSON strings are parsed) |
//! | `mlflow.spanOutputs` / `outputs` | `mlflow.spanOutputs` |
//! | `mlflow.spanType` / `span_type` | `mlflow.spanType` (`LLM`, `CHAIN`, `TOOL`, … default `UNKNOWN`) |
//! | `input_tokens`, `output_tokens`, `total_tokens` | `mlflow.chat.tokenUsage` (and the trace's `mlflow.trace.tokenUsage`) |
//! | `error` | span status `ERROR` with that message, plus an `exception` event |
//! | `otel.name` | the span name |
//! | anything else | an attribute of that name |
//!
//! Events inside a span become span events; an `ERROR`-level event marks the span failed.
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//! let (layer, exporter) = mlflow_sdk::tracing_layer::MlflowLayer::builder()
//!     .experiment_id("1")
//!     .build()?;
//! tracing_subscriber::registry().with(layer).init();
//!
//! #[mlflow_sdk::trace(span_type = "TOOL")]
//! fn add(a: i64, b: i64) -> i64 { a + b }
//!
//! add(1, 2);
//! exporter.flush()?; // wait until the trace is on the server
//! # Ok::<(), mlflow_sdk::Error>(())
//! ```
//!
//! ## `#[trace]`
//!
//! [`#[trace]`](macro@crate::trace) records each call of a function as a span. A full example: sync
//! and async functions, a custom `name`, a `span_type`, and `skip(...)` for arguments that must
//! not be recorded:
//!
//! ```no_run
//! use mlflow_sdk::trace;
//! use mlflow_sdk::tracing_layer::MlflowLayer;
//! use tracing_subscriber::prelude::*;
//!
//! #[derive(Debug, serde::Serialize)]
//! struct Doc {
//!     id: u32,
//!     text: String,
//! }
//!
//! // Sync: span "retrieve" of type RETRIEVER; inputs {"query": ..., "k": ...}, outputs the
//! // documents (serialized with serde).
//! #[trace(span_type = "RETRIEVER")]
//! fn retrieve(query: &str, k: usize) -> Vec<Doc> {
//!     (0..k as u32).map(|id| Doc { id, text: format!("about {query}") }).collect()
//! }
//!
//! // Async, with its own span name; `api_key` is not recorded. An `Err` return marks the span
//! // failed with the error's `Display` text.
//! #[trace(name = "chat_completion", span_type = "LLM", skip(api_key))]
//! async fn complete(prompt: String, api_key: &str) -> Result<String, std::io::Error> {
//!     let _ = api_key; // a real client would send it
//!     Ok(format!("answer to: {prompt}"))
//! }
//!
//! // The root span: the calls above become its children in one trace.
//! #[trace(name = "agent", span_type = "AGENT", skip(api_key))]
//! async fn answer(question: String, api_key: &str) -> Result<String, std::io::Error> {
//!     let docs = retrieve(&question, 2);
//!     complete(format!("{question}\ncontext: {docs:?}"), api_key).await
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let (layer, exporter) = MlflowLayer::builder().experiment_id("1").build()?;
//!     tracing_subscriber::registry().with(layer).init();
//!     let rt = tokio::runtime::Runtime::new()?;
//!     let reply = rt.block_on(answer("What is MLflow?".into(), "sk-secret"))?;
//!     println!("{reply}");
//!     exporter.flush()?; // the trace agent -> (retrieve, chat_completion) is on the server
//!     Ok(())
//! }
//! ```

use crate::blocking;
use crate::client::Client;
use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::traces::{SpanEventRecord, SpanRecord};
use crate::types::{TraceInfo, TraceLocation};
use crate::util::{now_ns, random_span_id, random_trace_id, rfc3339_from_ns};
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Span attribute keys (`mlflow.tracing.constant.SpanAttributeKey`).
///
/// ```
/// use mlflow_sdk::tracing_layer::keys;
/// // The keys double as `tracing` field names (constants go in braces).
/// let span = tracing::info_span!(
///     "chat",
///     { keys::SPAN_TYPE } = "LLM",
///     { keys::MODEL } = "gpt-4o-mini",
///     { keys::INPUTS } = r#"{"question": "2+2"}"#,
/// );
/// let _guard = span.enter();
/// ```
pub mod keys {
    /// The trace id (`tr-…`), JSON-encoded.
    ///
    /// ```
    /// use mlflow_sdk::tracing_layer::keys;
    /// assert_eq!(keys::REQUEST_ID, "mlflow.traceRequestId"); // value: "\"tr-...\""
    /// ```
    pub const REQUEST_ID: &str = "mlflow.traceRequestId";
    /// Inputs.
    ///
    /// ```
    /// use mlflow_sdk::tracing_layer::keys;
    /// // JSON text is parsed: the span's inputs are the object {"question": "2+2"}.
    /// let span = tracing::info_span!("step", { keys::INPUTS } = r#"{"question": "2+2"}"#);
    /// # drop(span);
    /// ```
    pub const INPUTS: &str = "mlflow.spanInputs";
    /// Outputs.
    ///
    /// ```
    /// use mlflow_sdk::tracing_layer::keys;
    /// let span = tracing::info_span!("step", { keys::OUTPUTS } = tracing::field::Empty);
    /// // ... later, once the result is known:
    /// span.record(keys::OUTPUTS, r#"{"answer": "4"}"#);
    /// ```
    pub const OUTPUTS: &str = "mlflow.spanOutputs";
    /// Span type.
    ///
    /// ```
    /// use mlflow_sdk::tracing_layer::keys;
    /// let span = tracing::info_span!("search_docs", { keys::SPAN_TYPE } = "RETRIEVER");
    /// # drop(span);
    /// ```
    pub const SPAN_TYPE: &str = "mlflow.spanType";
    /// Function name.
    ///
    /// ```
    /// use mlflow_sdk::tracing_layer::keys;
    /// // Set by `#[trace]` to the Rust function's name (the span name may differ).
    /// assert_eq!(keys::FUNCTION_NAME, "mlflow.spanFunctionName");
    /// ```
    pub const FUNCTION_NAME: &str = "mlflow.spanFunctionName";
    /// Token usage `{input_tokens, output_tokens, total_tokens}`.
    ///
    /// ```
    /// use mlflow_sdk::tracing_layer::keys;
    /// // Recorded from these span fields, as
    /// // {"input_tokens": 12, "output_tokens": 30, "total_tokens": 42}:
    /// let span = tracing::info_span!("chat", input_tokens = 12, output_tokens = 30);
    /// assert_eq!(keys::CHAT_USAGE, "mlflow.chat.tokenUsage");
    /// # drop(span);
    /// ```
    pub const CHAT_USAGE: &str = "mlflow.chat.tokenUsage";
    /// Model name.
    ///
    /// ```
    /// use mlflow_sdk::tracing_layer::keys;
    /// let span = tracing::info_span!("chat", span_type = "LLM", { keys::MODEL } = "gpt-4o-mini");
    /// # drop(span);
    /// ```
    pub const MODEL: &str = "mlflow.llm.model";
    /// Trace metadata: aggregated token usage.
    ///
    /// ```no_run
    /// use mlflow_sdk::evaluate::TokenUsage;
    /// use mlflow_sdk::tracing_layer::keys;
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let info = client.get_trace_info("tr-0123456789abcdef0123456789abcdef").await?;
    /// let usage = info
    ///     .trace_metadata
    ///     .get(keys::TRACE_TOKEN_USAGE)
    ///     .and_then(|t| TokenUsage::from_json_text(t));
    /// println!("tokens: {:?}", usage.map(|u| u.total_tokens));
    /// # Ok(()) }
    /// ```
    pub const TRACE_TOKEN_USAGE: &str = "mlflow.trace.tokenUsage";
}

const MAX_PREVIEW: usize = 1000;
const MAX_METADATA: usize = 250;
/// Finished spans kept per open trace (bounded memory for very long traces).
const MAX_SPANS_PER_TRACE: usize = 10_000;

/// Per-span state kept in the registry's extensions, then (once closed) in the trace's
/// buffer. It is built for a cheap traced thread: keys are the `'static` field names, the
/// span name borrows the callsite's, known span types are `'static`, and `#[trace]` arguments
/// stay a list; the exporter thread turns it into a [`SpanRecord`] ([`finish_span`]).
struct SpanState {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent: Option<[u8; 8]>,
    name: Cow<'static, str>,
    start_ns: u64,
    end_ns: u64,
    attributes: Vec<(&'static str, Attr)>,
    /// input, output, total tokens.
    usage: [Option<i64>; 3],
    events: Vec<SpanEventRecord>,
    error: Option<String>,
}

/// An attribute value as recorded on the traced thread.
enum Attr {
    Json(Value),
    Static(&'static str),
    /// `#[trace]` arguments: the JSON object is built on the exporter thread.
    Args(Vec<(&'static str, Value)>),
}

impl Attr {
    fn into_json(self) -> Value {
        match self {
            Attr::Json(v) => v,
            Attr::Static(s) => Value::String(s.to_string()),
            Attr::Args(args) => Value::Object(
                args.into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect::<Map<String, Value>>(),
            ),
        }
    }
}

impl SpanState {
    fn set(&mut self, key: &'static str, value: Attr) {
        match self.attributes.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.attributes.push((key, value)),
        }
    }
    fn has(&self, key: &str) -> bool {
        self.attributes.iter().any(|(k, _)| *k == key)
    }
}

/// Span types the official client knows, as `'static` strings (no allocation per span).
fn static_span_type(s: &str) -> Option<&'static str> {
    const TYPES: [&str; 13] = [
        "UNKNOWN",
        "LLM",
        "CHAIN",
        "AGENT",
        "TOOL",
        "CHAT_MODEL",
        "RETRIEVER",
        "PARSER",
        "EMBEDDING",
        "RERANKER",
        "MEMORY",
        "WORKFLOW",
        "TASK",
    ];
    TYPES.iter().find(|t| **t == s).copied()
}

/// Per-root state.
#[derive(Clone, Debug, Default)]
pub(crate) struct TraceMeta {
    pub(crate) experiment_id: Option<String>,
    pub(crate) run_id: Option<String>,
    /// Prompt versions loaded while the trace was open.
    pub(crate) prompts: Vec<(String, String)>,
    /// What `update_current_trace` asked for.
    pub(crate) update: TraceUpdate,
}

thread_local! {
    /// Experiment and run for root spans created on this thread by [`with_trace_meta`].
    static ROOT_META: std::cell::RefCell<Option<TraceMeta>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` (which creates a root span) so that the trace goes to `meta`'s experiment and run
/// rather than the layer's defaults (used by `evaluate`).
pub(crate) fn with_trace_meta<R>(meta: TraceMeta, f: impl FnOnce() -> R) -> R {
    let prev = ROOT_META.with(|m| m.replace(Some(meta)));
    let r = f();
    ROOT_META.with(|m| *m.borrow_mut() = prev);
    r
}

/// The OTel trace and span ids [`MlflowLayer`] gave `span`, if it records it.
pub(crate) fn span_ids(span: &tracing::Span) -> Option<([u8; 16], [u8; 8])> {
    let mut ids = None;
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let data = registry.span(id)?;
        let ext = data.extensions();
        let st = ext.get::<SpanState>()?;
        ids = Some((st.trace_id, st.span_id));
        Some(())
    });
    ids
}

struct FieldVisitor<'a> {
    state: &'a mut SpanState,
}

impl FieldVisitor<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = field.name();
        match name {
            "mlflow.spanInputs" | "inputs" => {
                self.state
                    .set(keys::INPUTS, Attr::Json(parse_json_str(value)));
            }
            "mlflow.spanOutputs" | "outputs" => {
                self.state
                    .set(keys::OUTPUTS, Attr::Json(parse_json_str(value)));
            }
            "mlflow.spanType" | "span_type" => {
                self.state.set(keys::SPAN_TYPE, Attr::Json(value));
            }
            "input_tokens" | "output_tokens" | "total_tokens" => {
                if let Some(n) = value
                    .as_i64()
                    .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
                {
                    let i = match name {
                        "input_tokens" => 0,
                        "output_tokens" => 1,
                        _ => 2,
                    };
                    self.state.usage[i] = Some(n);
                }
            }
            "error" => {
                let msg = match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                self.state.error = Some(msg);
            }
            "otel.name" => {
                if let Value::String(s) = value {
                    self.state.name = Cow::Owned(s);
                }
            }
            _ => {
                self.state.set(name, Attr::Json(value));
            }
        }
    }
}

fn parse_json_str(v: Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        other => other,
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // `#[trace]` hands its inputs/outputs over as JSON values (no text round trip).
        if let "mlflow.spanInputs" | "mlflow.spanOutputs" = field.name()
            && let Some(h) = macro_support::take_handoff()
        {
            let key = if field.name() == "mlflow.spanInputs" {
                keys::INPUTS
            } else {
                keys::OUTPUTS
            };
            match h {
                macro_support::Handoff::Value(v) => self.state.set(key, Attr::Json(v)),
                macro_support::Handoff::Call {
                    args,
                    span_type,
                    function,
                } => {
                    self.state.set(keys::INPUTS, Attr::Args(args));
                    self.state.set(keys::SPAN_TYPE, Attr::Static(span_type));
                    self.state.set(keys::FUNCTION_NAME, Attr::Static(function));
                }
            }
            return;
        }
        self.put(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        // Inputs/outputs (what `#[trace]` records): parse the JSON text in place rather than
        // copying it into a `Value::String` first.
        let key = match field.name() {
            "mlflow.spanInputs" | "inputs" => keys::INPUTS,
            "mlflow.spanOutputs" | "outputs" => keys::OUTPUTS,
            // Set from the `#[trace]` hand-off already (fields come in declaration order).
            "mlflow.spanFunctionName" if self.state.has(keys::FUNCTION_NAME) => return,
            "mlflow.spanType" | "span_type" if static_span_type(value).is_some() => {
                let t = static_span_type(value).unwrap_or("UNKNOWN");
                return self.state.set(keys::SPAN_TYPE, Attr::Static(t));
            }
            _ => return self.put(field, Value::String(value.to_string())),
        };
        let v = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
        self.state.set(key, Attr::Json(v));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, json!(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, json!(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, json!(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, json!(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }
}

struct EventVisitor {
    message: Option<String>,
    attributes: Vec<(String, Value)>,
}

impl Visit for EventVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let s = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(s);
        } else {
            self.attributes
                .push((field.name().into(), Value::String(s)));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_string());
        } else {
            self.attributes
                .push((field.name().into(), Value::String(value.into())));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.attributes.push((field.name().into(), json!(value)));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.attributes.push((field.name().into(), json!(value)));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.attributes.push((field.name().into(), json!(value)));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.attributes.push((field.name().into(), json!(value)));
    }
}

/// Finished spans of traces whose root is still open.
#[derive(Default)]
struct Buffers {
    spans: HashMap<[u8; 16], Vec<SpanState>, BuildHasherDefault<IdHasher>>,
}

/// Trace ids are random: their first bytes are already a good hash (no SipHash per span).
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(29) ^ u64::from_le_bytes(b))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, _len: usize) {}
}

/// Builder of [`MlflowLayer`].
///
/// ```no_run
/// use mlflow_sdk::ClientConfig;
/// use mlflow_sdk::tracing_layer::MlflowLayer;
/// let (layer, exporter) = MlflowLayer::builder()
///     .config(ClientConfig::new("http://localhost:5000"))
///     .experiment_id("1")
///     .queue_capacity(10_000)
///     .build()?;
/// # drop((layer, exporter));
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
#[derive(Default)]
pub struct MlflowLayerBuilder {
    config: Option<ClientConfig>,
    experiment_id: Option<String>,
    queue_capacity: Option<usize>,
}

impl MlflowLayerBuilder {
    /// The server (default: [`ClientConfig::from_env`]).
    ///
    /// ```no_run
    /// use mlflow_sdk::ClientConfig;
    /// use mlflow_sdk::tracing_layer::MlflowLayer;
    /// let config = ClientConfig::new("https://mlflow.example.com").with_token("my-token");
    /// let (layer, exporter) = MlflowLayer::builder().config(config).build()?;
    /// # drop((layer, exporter));
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn config(mut self, config: ClientConfig) -> Self {
        self.config = Some(config);
        self
    }
    /// The experiment traces go to (default: the fluent API's active experiment, else
    /// `MLFLOW_EXPERIMENT_ID`, else `MLFLOW_EXPERIMENT_NAME`, else `0`).
    ///
    /// ```no_run
    /// use mlflow_sdk::tracing_layer::MlflowLayer;
    /// let exp = mlflow_sdk::fluent::set_experiment("agents")?;
    /// let (layer, exporter) = MlflowLayer::builder().experiment_id(exp).build()?;
    /// # drop((layer, exporter));
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn experiment_id(mut self, id: impl Into<String>) -> Self {
        self.experiment_id = Some(id.into());
        self
    }
    /// How many finished traces may wait for export before new ones are dropped (default 1000).
    ///
    /// ```no_run
    /// use mlflow_sdk::tracing_layer::MlflowLayer;
    /// // A burst of up to 50 000 traces waits for export instead of being dropped.
    /// let (layer, exporter) = MlflowLayer::builder().queue_capacity(50_000).build()?;
    /// # drop((layer, exporter));
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = Some(n.max(1));
        self
    }
    /// Builds the layer and starts its exporter thread.
    ///
    /// ```no_run
    /// use mlflow_sdk::tracing_layer::MlflowLayer;
    /// use tracing_subscriber::prelude::*;
    /// let (layer, exporter) = MlflowLayer::builder().experiment_id("1").build()?;
    /// tracing_subscriber::registry()
    ///     .with(layer)
    ///     .with(tracing_subscriber::fmt::layer())
    ///     .init();
    /// tracing::info_span!("job", span_type = "CHAIN").in_scope(|| tracing::info!("working"));
    /// exporter.flush()?;
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn build(self) -> Result<(MlflowLayer, TraceExporter)> {
        let client = Client::new(self.config.unwrap_or_else(ClientConfig::from_env))?;
        let (tx, rx) = sync_channel(self.queue_capacity.unwrap_or(1000));
        let stats = Arc::new(Stats::default());
        let worker_stats = stats.clone();
        std::thread::Builder::new()
            .name("mlflow-trace-export".into())
            .spawn(move || export_worker(client, rx, worker_stats))
            .map_err(|e| Error::Background(format!("spawning the trace exporter: {e}")))?;
        let exporter = TraceExporter {
            tx: tx.clone(),
            stats: stats.clone(),
        };
        exporters().push(exporter.clone());
        crate::exit::ensure_hook();
        Ok((
            MlflowLayer {
                experiment_id: self.experiment_id,
                tx,
                stats,
                buffers: Arc::new(Mutex::new(Buffers::default())),
            },
            exporter,
        ))
    }
}

/// The `tracing` layer. See the [module docs](self).
///
/// ```no_run
/// use mlflow_sdk::tracing_layer::MlflowLayer;
/// use tracing_subscriber::filter::filter_fn;
/// use tracing_subscriber::prelude::*;
/// let (layer, exporter) = MlflowLayer::builder().build()?;
/// // Only `#[trace]` spans (target "mlflow") and this application's spans become traces.
/// let layer = layer.with_filter(filter_fn(|m| {
///     m.target() == "mlflow" || m.target().starts_with("my_app")
/// }));
/// tracing_subscriber::registry().with(layer).init();
/// # drop(exporter);
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
pub struct MlflowLayer {
    experiment_id: Option<String>,
    tx: SyncSender<ExportMsg>,
    stats: Arc<Stats>,
    buffers: Arc<Mutex<Buffers>>,
}

impl MlflowLayer {
    /// A builder.
    ///
    /// ```no_run
    /// use mlflow_sdk::tracing_layer::MlflowLayer;
    /// let (layer, exporter) = MlflowLayer::builder().experiment_id("1").build()?;
    /// # drop((layer, exporter));
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn builder() -> MlflowLayerBuilder {
        MlflowLayerBuilder::default()
    }
}

#[derive(Default)]
struct Stats {
    exported: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    dropped_spans: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// Export counters.
///
/// ```no_run
/// use mlflow_sdk::tracing_layer::{ExportStats, MlflowLayer};
/// let (_layer, exporter) = MlflowLayer::builder().build()?;
/// let ExportStats { exported, dropped, failed, dropped_spans } = exporter.stats();
/// println!("{exported} traces sent, {dropped} dropped, {failed} failed");
/// println!("{dropped_spans} spans dropped from oversized traces");
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Traces sent.
    pub exported: u64,
    /// Traces dropped because the export queue was full.
    pub dropped: u64,
    /// Traces the server refused or that could not be sent after retries.
    pub failed: u64,
    /// Spans dropped because their trace exceeded 10 000 spans.
    pub dropped_spans: u64,
}

/// A handle on the background exporter.
///
/// ```no_run
/// use mlflow_sdk::tracing_layer::MlflowLayer;
/// use tracing_subscriber::prelude::*;
/// let (layer, exporter) = MlflowLayer::builder().build()?;
/// tracing_subscriber::registry().with(layer).init();
/// // Cloneable: e.g. hand a copy to a shutdown handler.
/// let for_shutdown = exporter.clone();
/// std::thread::spawn(move || for_shutdown.flush()).join().unwrap()?;
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
#[derive(Clone)]
pub struct TraceExporter {
    tx: SyncSender<ExportMsg>,
    stats: Arc<Stats>,
}

impl TraceExporter {
    /// Waits until every trace finished so far has been exported. Returns an error describing
    /// the last failure if any trace failed or was dropped since the previous flush.
    ///
    /// ```no_run
    /// use mlflow_sdk::tracing_layer::MlflowLayer;
    /// use tracing_subscriber::prelude::*;
    /// let (layer, exporter) = MlflowLayer::builder().build()?;
    /// tracing_subscriber::registry().with(layer).init();
    /// tracing::info_span!("request", span_type = "CHAIN").in_scope(|| { /* ... */ });
    /// match exporter.flush() {
    ///     Ok(()) => println!("every finished trace is on the server"),
    ///     Err(e) => eprintln!("some traces were lost: {e}"),
    /// }
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn flush(&self) -> Result<()> {
        let (rtx, rrx) = sync_channel(1);
        self.tx
            .send(ExportMsg::Flush(rtx))
            .map_err(|_| Error::Background("trace exporter stopped".into()))?;
        rrx.recv()
            .map_err(|_| Error::Background("trace exporter stopped".into()))?;
        let failed = self.stats.failed.swap(0, Ordering::SeqCst);
        let dropped = self.stats.dropped.swap(0, Ordering::SeqCst);
        if failed + dropped > 0 {
            let last = self
                .stats
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            return Err(Error::Background(format!(
                "{failed} traces failed to export, {dropped} were dropped (queue full); last error: {}",
                last.unwrap_or_else(|| "none".into())
            )));
        }
        Ok(())
    }

    /// Counters since start (failed/dropped reset by [`TraceExporter::flush`]).
    ///
    /// ```no_run
    /// use mlflow_sdk::tracing_layer::MlflowLayer;
    /// let (_layer, exporter) = MlflowLayer::builder().build()?;
    /// // ... traced work ...
    /// let stats = exporter.stats();
    /// if stats.dropped > 0 {
    ///     eprintln!("{} traces dropped: raise queue_capacity", stats.dropped);
    /// }
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn stats(&self) -> ExportStats {
        ExportStats {
            exported: self.stats.exported.load(Ordering::SeqCst),
            dropped: self.stats.dropped.load(Ordering::SeqCst),
            failed: self.stats.failed.load(Ordering::SeqCst),
            dropped_spans: self.stats.dropped_spans.load(Ordering::SeqCst),
        }
    }
}

fn exporters() -> std::sync::MutexGuard<'static, Vec<TraceExporter>> {
    static EXPORTERS: Mutex<Vec<TraceExporter>> = Mutex::new(Vec::new());
    EXPORTERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every exporter built in this process (flushed by the exit hook).
pub(crate) fn registered_exporters() -> Vec<TraceExporter> {
    exporters().clone()
}

struct FinishedTrace {
    experiment_id: Option<String>,
    info: TraceInfo,
    spans: Vec<SpanRecord>,
    /// Prompt versions loaded while the trace was open.
    prompts: Vec<(String, String)>,
}

/// Called when a prompt version is loaded: if the current `tracing` span belongs to a trace
/// [`MlflowLayer`] records, the prompt is linked to that trace when it is exported (the
/// `mlflow.linkedPrompts` tag and the server-side association), as the official client links
/// prompts loaded inside a trace.
pub(crate) fn note_prompt_in_current_trace(name: &str, version: &str) {
    let entry = (name.to_string(), version.to_string());
    with_current_root(|meta| {
        if !meta.prompts.contains(&entry) {
            meta.prompts.push(entry);
        }
    });
}

/// Runs `f` on the per-trace state kept on the root span of the current `tracing` span's
/// trace (if [`MlflowLayer`] records it); `false` when there is none.
fn with_current_root(f: impl FnOnce(&mut TraceMeta)) -> bool {
    let mut f = Some(f);
    let mut done = false;
    tracing::Span::current().with_subscriber(|(id, dispatch)| {
        let Some(registry) = dispatch.downcast_ref::<tracing_subscriber::Registry>() else {
            return;
        };
        let Some(span) = registry.span(id) else {
            return;
        };
        // Only a trace's root carries a `TraceMeta`.
        for s in span.scope() {
            if let Some(meta) = s.extensions_mut().get_mut::<TraceMeta>()
                && let Some(f) = f.take()
            {
                f(meta);
                done = true;
                return;
            }
        }
    });
    done
}

/// Changes to the current trace's info, applied when it is exported (see
/// [`update_current_trace`]).
///
/// ```
/// use mlflow_sdk::tracing_layer::TraceUpdate;
/// let u = TraceUpdate::new()
///     .tag("session", "s-42")
///     .metadata("mlflow.trace.user", "alice")
///     .client_request_id("req-7");
/// assert_eq!(u.tags, vec![("session".to_string(), "s-42".to_string())]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceUpdate {
    /// Trace tags (mutable; `mlflow.traceTag`-style user tags).
    pub tags: Vec<(String, String)>,
    /// Trace metadata (immutable once written, e.g. `mlflow.trace.user`,
    /// `mlflow.trace.session`).
    pub metadata: Vec<(String, String)>,
    /// The caller's own request id (`client_request_id`, searchable).
    pub client_request_id: Option<String>,
    /// Replaces the request preview (default: the root span's inputs).
    pub request_preview: Option<String>,
    /// Replaces the response preview (default: the root span's outputs).
    pub response_preview: Option<String>,
}

impl TraceUpdate {
    /// An empty update.
    ///
    /// ```
    /// assert_eq!(mlflow_sdk::tracing_layer::TraceUpdate::new(), Default::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a tag.
    ///
    /// ```
    /// let u = mlflow_sdk::tracing_layer::TraceUpdate::new().tag("env", "prod");
    /// assert_eq!(u.tags.len(), 1);
    /// ```
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.push((key.into(), value.into()));
        self
    }
    /// Adds a metadata entry.
    ///
    /// ```
    /// let u = mlflow_sdk::tracing_layer::TraceUpdate::new().metadata("mlflow.trace.session", "s1");
    /// assert_eq!(u.metadata[0].1, "s1");
    /// ```
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }
    /// Sets the client request id.
    ///
    /// ```
    /// let u = mlflow_sdk::tracing_layer::TraceUpdate::new().client_request_id("r-1");
    /// assert_eq!(u.client_request_id.as_deref(), Some("r-1"));
    /// ```
    pub fn client_request_id(mut self, id: impl Into<String>) -> Self {
        self.client_request_id = Some(id.into());
        self
    }
    /// Sets the request preview.
    ///
    /// ```
    /// let u = mlflow_sdk::tracing_layer::TraceUpdate::new().request_preview("What is MLflow?");
    /// assert!(u.request_preview.is_some());
    /// ```
    pub fn request_preview(mut self, text: impl Into<String>) -> Self {
        self.request_preview = Some(text.into());
        self
    }
    /// Sets the response preview.
    ///
    /// ```
    /// let u = mlflow_sdk::tracing_layer::TraceUpdate::new().response_preview("An ML platform.");
    /// assert!(u.response_preview.is_some());
    /// ```
    pub fn response_preview(mut self, text: impl Into<String>) -> Self {
        self.response_preview = Some(text.into());
        self
    }

    fn merge(&mut self, other: TraceUpdate) {
        self.tags.extend(other.tags);
        self.metadata.extend(other.metadata);
        if other.client_request_id.is_some() {
            self.client_request_id = other.client_request_id;
        }
        if other.request_preview.is_some() {
            self.request_preview = other.request_preview;
        }
        if other.response_preview.is_some() {
            self.response_preview = other.response_preview;
        }
    }

    fn apply(self, info: &mut TraceInfo) {
        info.tags.extend(self.tags);
        info.trace_metadata.extend(self.metadata);
        if self.client_request_id.is_some() {
            info.client_request_id = self.client_request_id;
        }
        if let Some(p) = self.request_preview {
            info.request_preview = Some(truncate(&p, MAX_PREVIEW));
        }
        if let Some(p) = self.response_preview {
            info.response_preview = Some(truncate(&p, MAX_PREVIEW));
        }
    }
}

/// Updates the trace the current `tracing` span belongs to, like the official
/// `mlflow.update_current_trace`: tags, metadata, client request id and previews, applied when
/// the trace is exported (later calls add to or override earlier ones). Returns `false` when
/// there is no current trace (no span recorded by [`MlflowLayer`]).
///
/// ```no_run
/// use mlflow_sdk::tracing_layer::{TraceUpdate, update_current_trace};
///
/// #[mlflow_sdk::trace(span_type = "AGENT")]
/// fn handle(request_id: &str, question: &str) -> String {
///     update_current_trace(
///         TraceUpdate::new()
///             .tag("channel", "slack")
///             .metadata("mlflow.trace.session", "s-42")
///             .client_request_id(request_id),
///     );
///     format!("answer to {question}")
/// }
/// ```
pub fn update_current_trace(update: TraceUpdate) -> bool {
    with_current_root(|meta| meta.update.merge(update))
}

/// A trace as the traced thread hands it over: converted on the exporter thread.
struct RawTrace {
    meta: TraceMeta,
    /// Root last.
    spans: Vec<SpanState>,
}

enum ExportMsg {
    Raw(Box<RawTrace>),
    #[cfg(test)]
    Trace(Box<FinishedTrace>),
    Flush(SyncSender<()>),
}

/// Builds the exported form of a trace (spans, `TraceInfoV3`, prompt links).
fn finish_trace(raw: RawTrace) -> FinishedTrace {
    let spans: Vec<SpanRecord> = raw.spans.into_iter().map(finish_span).collect();
    let mut meta = raw.meta;
    let mut info = trace_info(&spans, &meta);
    std::mem::take(&mut meta.update).apply(&mut info);
    if let Ok(Some(tag)) = crate::traces::linked_prompts_tag(None, &meta.prompts) {
        info.tags
            .insert(crate::traces::LINKED_PROMPTS_TAG.to_string(), tag);
    }
    FinishedTrace {
        experiment_id: meta.experiment_id,
        info,
        spans,
        prompts: meta.prompts,
    }
}

impl<S> Layer<S> for MlflowLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        // The nearest ancestor we track gives the trace and parent ids.
        let mut trace_parent: Option<([u8; 16], [u8; 8])> = None;
        if let Some(parent) = span.parent() {
            for anc in parent.scope() {
                if let Some(st) = anc.extensions().get::<SpanState>() {
                    trace_parent = Some((st.trace_id, st.span_id));
                    break;
                }
            }
        }
        let (trace_id, parent) = match trace_parent {
            Some((t, p)) => (t, Some(p)),
            None => (random_trace_id(), None),
        };
        let mut state = SpanState {
            trace_id,
            span_id: random_span_id(),
            parent,
            name: Cow::Borrowed(attrs.metadata().name()),
            start_ns: now_ns(),
            end_ns: 0,
            attributes: Vec::with_capacity(4),
            usage: [None; 3],
            events: Vec::new(),
            error: None,
        };
        attrs.record(&mut FieldVisitor { state: &mut state });
        let mut ext = span.extensions_mut();
        if parent.is_none() {
            let meta = ROOT_META
                .with(|m| m.borrow().clone())
                .unwrap_or_else(|| TraceMeta {
                    experiment_id: self
                        .experiment_id
                        .clone()
                        .or_else(crate::fluent::experiment_hint),
                    run_id: crate::fluent::active_run_id(),
                    ..Default::default()
                });
            ext.insert(meta);
        }
        ext.insert(state);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(state) = span.extensions_mut().get_mut::<SpanState>()
        {
            values.record(&mut FieldVisitor { state });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut ext = span.extensions_mut();
        let Some(state) = ext.get_mut::<SpanState>() else {
            return;
        };
        let mut v = EventVisitor {
            message: None,
            attributes: Vec::new(),
        };
        event.record(&mut v);
        let level = *event.metadata().level();
        let is_error = level == tracing::Level::ERROR;
        let mut attributes = v.attributes;
        attributes.push(("level".into(), Value::String(level.to_string())));
        let name = if is_error {
            let msg = v.message.clone().unwrap_or_else(|| "error".into());
            state.error.get_or_insert(msg.clone());
            attributes.push(("exception.message".into(), Value::String(msg)));
            "exception".to_string()
        } else {
            v.message
                .unwrap_or_else(|| event.metadata().name().to_string())
        };
        state.events.push(SpanEventRecord {
            name,
            time_ns: now_ns(),
            attributes,
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let mut ext = span.extensions_mut();
        let Some(mut state) = ext.remove::<SpanState>() else {
            return;
        };
        let meta = ext.remove::<TraceMeta>();
        drop(ext);
        state.end_ns = now_ns().max(state.start_ns);
        let trace_id = state.trace_id;
        let is_root = state.parent.is_none();
        let mut buffers = self.buffers.lock().unwrap_or_else(|e| e.into_inner());
        if !is_root {
            let buf = buffers.spans.entry(trace_id).or_default();
            if buf.len() < MAX_SPANS_PER_TRACE {
                buf.push(state);
            } else {
                self.stats.dropped_spans.fetch_add(1, Ordering::SeqCst);
            }
            return;
        }
        let mut spans = buffers.spans.remove(&trace_id).unwrap_or_default();
        drop(buffers);
        spans.push(state);
        let meta = meta.unwrap_or(TraceMeta {
            experiment_id: self.experiment_id.clone(),
            run_id: None,
            ..Default::default()
        });
        let msg = ExportMsg::Raw(Box::new(RawTrace { meta, spans }));
        if let Err(TrySendError::Full(_)) = self.tx.try_send(msg) {
            self.stats.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn finish_span(mut st: SpanState) -> SpanRecord {
    let end = st.end_ns.max(st.start_ns);
    if !st.has(keys::SPAN_TYPE) {
        st.set(keys::SPAN_TYPE, Attr::Static("UNKNOWN"));
    }
    if st.usage.iter().any(Option::is_some) {
        let i = st.usage[0].unwrap_or(0);
        let o = st.usage[1].unwrap_or(0);
        let t = st.usage[2].unwrap_or(i + o);
        st.set(
            keys::CHAT_USAGE,
            Attr::Json(json!({"input_tokens": i, "output_tokens": o, "total_tokens": t})),
        );
    }
    let mut events = st.events;
    if let Some(msg) = &st.error
        && !events.iter().any(|e| e.name == "exception")
    {
        events.push(SpanEventRecord {
            name: "exception".into(),
            time_ns: end,
            attributes: vec![("exception.message".into(), Value::String(msg.clone()))],
        });
    }
    SpanRecord {
        trace_id: st.trace_id,
        span_id: st.span_id,
        parent_span_id: st.parent,
        name: st.name.into_owned(),
        start_time_ns: st.start_ns,
        end_time_ns: end,
        attributes: st
            .attributes
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.into_json()))
            .collect(),
        events,
        error: st.error,
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n.saturating_sub(3)).collect::<String>() + "..."
    }
}

/// The root span's inputs/outputs as their attribute text (`json.dumps` of the value), which is
/// what the official client puts in `mlflow.traceInputs`/`Outputs` and the previews.
fn preview(v: Option<&Value>) -> Option<String> {
    v.map(crate::prompts::py_json_dumps)
}

/// Builds the `TraceInfoV3` for a finished trace (root span last in `spans`).
pub(crate) fn trace_info(spans: &[SpanRecord], meta: &TraceMeta) -> TraceInfo {
    let root = spans.last().expect("a trace has a root span");
    let inputs = preview(root.attribute(keys::INPUTS));
    let outputs = preview(root.attribute(keys::OUTPUTS));
    let mut md = BTreeMap::new();
    md.insert("mlflow.trace_schema.version".to_string(), "3".to_string());
    if let Some(i) = &inputs {
        md.insert("mlflow.traceInputs".into(), truncate(i, MAX_METADATA));
    }
    if let Some(o) = &outputs {
        md.insert("mlflow.traceOutputs".into(), truncate(o, MAX_METADATA));
    }
    if let Ok(user) = std::env::var("USER") {
        md.insert("mlflow.user".into(), user);
    }
    if let Some(exe) = std::env::args().next() {
        md.insert("mlflow.source.name".into(), exe);
    }
    md.insert("mlflow.source.type".into(), "LOCAL".into());
    for (k, v) in crate::util::git_metadata() {
        md.insert(k.to_string(), v.clone());
    }
    if let Some(run) = &meta.run_id {
        md.insert("mlflow.sourceRun".into(), run.clone());
    }
    if let Some(usage) = aggregate_usage(spans) {
        md.insert(
            keys::TRACE_TOKEN_USAGE.into(),
            crate::prompts::py_json_dumps(&usage),
        );
    }
    let mut tags = BTreeMap::new();
    tags.insert("mlflow.traceName".to_string(), root.name.clone());
    let dur_ms = (root.end_time_ns - root.start_time_ns) / 1_000_000;
    TraceInfo {
        trace_id: root.mlflow_trace_id(),
        trace_location: TraceLocation::experiment(meta.experiment_id.clone().unwrap_or_default()),
        request_preview: inputs.map(|s| truncate(&s, MAX_PREVIEW)),
        response_preview: outputs.map(|s| truncate(&s, MAX_PREVIEW)),
        request_time: Some(rfc3339_from_ns(root.start_time_ns)),
        execution_duration: Some(format!("{}.{:03}s", dur_ms / 1000, dur_ms % 1000)),
        state: if root.error.is_some() {
            "ERROR".into()
        } else {
            "OK".into()
        },
        trace_metadata: md,
        tags,
        ..Default::default()
    }
}

/// Sums token usage over the spans that carry it, skipping spans whose ancestor already
/// carries usage (as `aggregate_usage_from_spans`).
fn aggregate_usage(spans: &[SpanRecord]) -> Option<Value> {
    let by_id: HashMap<[u8; 8], &SpanRecord> = spans.iter().map(|s| (s.span_id, s)).collect();
    let mut total = [0i64; 3];
    let mut found = false;
    for s in spans {
        let Some(u) = s.attribute(keys::CHAT_USAGE) else {
            continue;
        };
        let mut anc = s.parent_span_id;
        let mut covered = false;
        while let Some(p) = anc {
            match by_id.get(&p) {
                Some(ps) if ps.attribute(keys::CHAT_USAGE).is_some() => {
                    covered = true;
                    break;
                }
                Some(ps) => anc = ps.parent_span_id,
                None => break,
            }
        }
        if covered {
            continue;
        }
        found = true;
        for (i, k) in ["input_tokens", "output_tokens", "total_tokens"]
            .iter()
            .enumerate()
        {
            total[i] += u.get(k).and_then(Value::as_i64).unwrap_or(0);
        }
    }
    found.then(
        || json!({"input_tokens": total[0], "output_tokens": total[1], "total_tokens": total[2]}),
    )
}

/// `traces.json` as the Python client writes it (`Span.to_dict()`), for servers that keep
/// spans in the artifact store.
fn traces_json(spans: &[SpanRecord]) -> Value {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let spans: Vec<Value> = spans
        .iter()
        .map(|s| {
            let attrs: Map<String, Value> = s
                .attributes
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        Value::String(serde_json::to_string(v).unwrap_or_default()),
                    )
                })
                .collect();
            json!({
                "trace_id": b64(&s.trace_id),
                "span_id": b64(&s.span_id),
                "parent_span_id": s.parent_span_id.map(|p| b64(&p)),
                "name": s.name,
                "start_time_unix_nano": s.start_time_ns,
                "end_time_unix_nano": s.end_time_ns,
                "events": s.events.iter().map(|e| json!({
                    "name": e.name,
                    "time_unix_nano": e.time_ns,
                    "attributes": e.attributes.iter().cloned().collect::<Map<String, Value>>(),
                })).collect::<Vec<_>>(),
                "status": {
                    "code": if s.error.is_some() { "STATUS_CODE_ERROR" } else { "STATUS_CODE_OK" },
                    "message": s.error.clone().unwrap_or_default(),
                },
                "attributes": attrs,
            })
        })
        .collect();
    json!({ "spans": spans })
}

pub(crate) async fn export_one_trace(
    client: &Client,
    experiment_id: &str,
    info: &mut TraceInfo,
    spans: &[SpanRecord],
) -> Result<()> {
    let mut supported = true;
    let mut t = FinishedTrace {
        experiment_id: Some(experiment_id.to_string()),
        info: info.clone(),
        spans: spans.to_vec(),
        prompts: Vec::new(),
    };
    export_one(client, &mut t, &mut supported).await?;
    *info = t.info;
    Ok(())
}

async fn export_one(
    client: &Client,
    t: &mut FinishedTrace,
    spans_supported: &mut bool,
) -> Result<()> {
    let exp = match &t.experiment_id {
        Some(e) => e.clone(),
        None => crate::fluent::active_experiment_id_async(client).await?,
    };
    t.info.trace_location = TraceLocation::experiment(exp.clone());
    // The trace id attribute every span carries, added here rather than on the traced
    // thread when each span closes.
    let request_id = Value::String(t.info.trace_id.clone());
    for span in &mut t.spans {
        if span.attribute(keys::REQUEST_ID).is_none() {
            span.attributes
                .push((keys::REQUEST_ID.to_string(), request_id.clone()));
        }
    }
    if *spans_supported && let Err(e) = client.log_spans(&exp, &t.spans).await {
        let unsupported = matches!(e.status(), Some(404) | Some(501))
            || e.to_string()
                .contains("REST OTLP span logging is not supported");
        if unsupported {
            *spans_supported = false;
        } else {
            return Err(e);
        }
    }
    let returned = client.start_trace(&t.info).await?;
    let location = returned
        .tags
        .get("mlflow.trace.spansLocation")
        .map(String::as_str);
    if location != Some("TRACKING_STORE")
        && let Some(art) = returned.tags.get("mlflow.artifactLocation")
    {
        let body = serde_json::to_string(&traces_json(&t.spans)).unwrap_or_default();
        client
            .put_artifact_bytes(art, "traces.json", body.into_bytes())
            .await?;
    }
    if !t.prompts.is_empty() {
        // The tag went with the trace info; this records the searchable association. A server
        // without the endpoint keeps the tag only (the official client ignores that too).
        let refs: Vec<Value> = t
            .prompts
            .iter()
            .map(|(n, v)| json!({"name": n, "version": v}))
            .collect();
        let linked: Result<Value> = client
            .post(
                "/api/2.0/mlflow/traces/link-prompts",
                json!({"trace_id": t.info.trace_id, "prompt_versions": refs}),
            )
            .await;
        if let Err(e) = linked
            && !matches!(e.status(), Some(404) | Some(501))
        {
            return Err(e);
        }
    }
    Ok(())
}

/// Traces exported concurrently (each is an OTLP request plus a StartTraceV3 call).
const EXPORT_CONCURRENCY: usize = 8;

fn export_worker(client: Client, rx: Receiver<ExportMsg>, stats: Arc<Stats>) {
    let spans_supported = std::sync::atomic::AtomicBool::new(true);
    while let Ok(first) = rx.recv() {
        // Take what is already queued (up to a bound) and export it concurrently; a flush
        // request is answered once everything queued before it is done.
        let mut batch = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                ExportMsg::Raw(raw) => batch.push(Box::new(finish_trace(*raw))),
                #[cfg(test)]
                ExportMsg::Trace(t) => batch.push(t),
                ExportMsg::Flush(reply) => {
                    flushes.push(reply);
                    break;
                }
            }
            if batch.len() < 4 * EXPORT_CONCURRENCY {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            use futures::StreamExt;
            let results: Vec<Result<()>> = blocking::block_on(
                futures::stream::iter(batch.iter_mut().map(|t| {
                    let client = &client;
                    let supported = &spans_supported;
                    async move {
                        let mut ok = supported.load(Ordering::Relaxed);
                        let r = export_one(client, t, &mut ok).await;
                        if !ok {
                            supported.store(false, Ordering::Relaxed);
                        }
                        r
                    }
                }))
                .buffer_unordered(EXPORT_CONCURRENCY)
                .collect(),
            );
            for r in results {
                match r {
                    Ok(()) => {
                        stats.exported.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => {
                        stats.failed.fetch_add(1, Ordering::SeqCst);
                        *stats.last_error.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some(e.to_string());
                    }
                }
            }
        }
        for reply in flushes {
            let _ = reply.send(());
        }
    }
}

/// Support code for the `#[trace]` macro.
///
/// Support for the code `#[trace]` generates (`mlflow_sdk::__private`); not a stable API.
///
/// ```
/// use mlflow_sdk::tracing_layer::macro_support::*;
/// use serde_json::json;
/// // `#[trace]` turns each argument into JSON like this: serde, else `Debug`, else the type name.
/// assert_eq!((&&&Wrap(&vec![1, 2])).__mlflow_json(), json!([1, 2]));
/// ```
pub mod macro_support {
    use serde::Serialize;
    use serde_json::Value;

    /// Wraps a value so method resolution picks the best way to turn it into JSON.
    ///
    /// Support for the code `#[trace]` generates (`mlflow_sdk::__private`); not a stable API.
    ///
    /// ```
    /// use mlflow_sdk::tracing_layer::macro_support::*;
    /// use serde_json::json;
    /// #[derive(Debug)]
    /// struct DebugOnly(u8);
    /// struct Opaque;
    /// assert_eq!((&&&Wrap(&("a", 1))).__mlflow_json(), json!(["a", 1]));
    /// assert_eq!((&&&Wrap(&DebugOnly(7))).__mlflow_json(), json!("DebugOnly(7)"));
    /// assert!((&&&Wrap(&Opaque)).__mlflow_json().as_str().unwrap().ends_with("Opaque>"));
    /// ```
    pub struct Wrap<'a, T: ?Sized>(pub &'a T);

    /// `Serialize` values become their JSON.
    ///
    /// Support for the code `#[trace]` generates (`mlflow_sdk::__private`); not a stable API.
    ///
    /// ```
    /// use mlflow_sdk::tracing_layer::macro_support::*;
    /// assert_eq!((&&&Wrap(&3.5)).__mlflow_json(), serde_json::json!(3.5));
    /// ```
    pub trait ViaSerialize {
        /// The JSON value.
        fn __mlflow_json(&self) -> Value;
    }
    impl<T: Serialize + ?Sized> ViaSerialize for &&Wrap<'_, T> {
        fn __mlflow_json(&self) -> Value {
            serde_json::to_value(self.0)
                .unwrap_or_else(|e| Value::String(format!("<unserializable: {e}>")))
        }
    }

    /// Otherwise `Debug` values become their debug string.
    ///
    /// Support for the code `#[trace]` generates (`mlflow_sdk::__private`); not a stable API.
    ///
    /// ```
    /// use mlflow_sdk::tracing_layer::macro_support::*;
    /// #[derive(Debug)]
    /// struct Point(i32, i32);
    /// assert_eq!((&&&Wrap(&Point(1, 2))).__mlflow_json(), "Point(1, 2)");
    /// ```
    pub trait ViaDebug {
        /// The JSON value.
        fn __mlflow_json(&self) -> Value;
    }
    impl<T: std::fmt::Debug + ?Sized> ViaDebug for &Wrap<'_, T> {
        fn __mlflow_json(&self) -> Value {
            Value::String(format!("{:?}", self.0))
        }
    }

    /// Otherwise the type name.
    ///
    /// Support for the code `#[trace]` generates (`mlflow_sdk::__private`); not a stable API.
    ///
    /// ```
    /// use mlflow_sdk::tracing_layer::macro_support::*;
    /// struct Connection;
    /// let v = (&&&Wrap(&Connection)).__mlflow_json();
    /// assert!(v.as_str().unwrap().ends_with("Connection>"));
    /// ```
    pub trait ViaTypeName {
        /// The JSON value.
        fn __mlflow_json(&self) -> Value;
    }
    impl<T: ?Sized> ViaTypeName for Wrap<'_, T> {
        fn __mlflow_json(&self) -> Value {
            Value::String(format!("<{}>", std::any::type_name::<T>()))
        }
    }

    /// Wraps an error so its `Display` is preferred over `Debug`.
    ///
    /// Support for the code `#[trace]` generates (`mlflow_sdk::__private`); not a stable API.
    ///
    /// ```
    /// use mlflow_sdk::tracing_layer::macro_support::*;
    /// let e = "x".parse::<u32>().unwrap_err();
    /// assert_eq!((&&&ErrWrap(&e)).__mlflow_msg(), "invalid digit found in string");
    /// ```
    pub struct ErrWrap<'a, T: ?Sized>(pub &'a T);

    /// `Display` errors.
    ///
    /// Support for the code `#[trace]` generates (`mlflow_sdk::__private`); not a stable API.
    ///
    /// ```
    /// use mlflow_sdk::tracing_layer::macro_support::*;
    /// assert_eq!((&&&ErrWrap(&String::from("timed out"))).__mlflow_msg(), "timed out");
    /// ```
    pub trait ErrViaDisplay {
        /// The message.
        fn __mlflow_msg(&self) -> String;
    }
    impl<T: std::fmt::Display + ?Sized> ErrViaDisplay for &&ErrWrap<'_, T> {
        fn __mlflow_msg(&self) -> String {
            self.0.to_string()
        }
    }

    /// `Debug` errors.
    ///
    /// Support for the code `#[trace]` generates (`mlflow_sdk::__private`); not a stable API.
    ///
    /// ```
    /// use mlflow_sdk::tracing_layer::macro_support::*;
    /// #[derive(Debug)]
    /// enum MyError { NotFound }
    /// assert_eq!((&&&ErrWrap(&MyError::NotFound)).__mlflow_msg(), "NotFound");
    /// ```
    pub trait ErrViaDebug {
        /// The message.
        fn __mlflow_msg(&self) -> String;
    }
    impl<T: std::fmt::Debug + ?Sized> ErrViaDebug for &ErrWrap<'_, T> {
        fn __mlflow_msg(&self) -> String {
            format!("{:?}", self.0)
        }
    }

    /// Anything else.
    ///
    /// Support for the code `#[trace]` generates (`mlflow_sdk::__private`); not a stable API.
    ///
    /// ```
    /// use mlflow_sdk::tracing_layer::macro_support::*;
    /// struct Opaque;
    /// assert!((&&&ErrWrap(&Opaque)).__mlflow_msg().ends_with("Opaque"));
    /// ```
    pub trait ErrViaTypeName {
        /// The message.
        fn __mlflow_msg(&self) -> String;
    }
    impl<T: ?Sized> ErrViaTypeName for ErrWrap<'_, T> {
        fn __mlflow_msg(&self) -> String {
            std::any::type_name::<T>().to_string()
        }
    }

    /// JSON text of a value.
    ///
    /// Support for the code `#[trace]` generates (`mlflow_sdk::__private`); not a stable API.
    ///
    /// ```
    /// use mlflow_sdk::tracing_layer::macro_support::to_json_string;
    /// assert_eq!(to_json_string(serde_json::json!({"a": [1, 2]})), r#"{"a":[1,2]}"#);
    /// ```
    pub fn to_json_string(v: Value) -> String {
        serde_json::to_string(&v).unwrap_or_default()
    }

    /// What `#[trace]` code hands to `MlflowLayer` during one span creation or `record` call.
    ///
    /// Support for the code `#[trace]` generates (`mlflow_sdk::__private`); not a stable API.
    ///
    /// ```
    /// use mlflow_sdk::tracing_layer::macro_support::Handoff;
    /// let args = vec![("x", serde_json::json!(1))];
    /// let h = Handoff::Call { args, span_type: "TOOL", function: "double" };
    /// assert!(matches!(h, Handoff::Call { span_type: "TOOL", .. }));
    /// ```
    pub enum Handoff {
        /// A JSON value (outputs, or inputs recorded by other code).
        Value(Value),
        /// A call: its arguments, span type and function name (all recorded at span creation).
        Call {
            /// `(argument name, JSON value)`.
            args: Vec<(&'static str, Value)>,
            /// Span type.
            span_type: &'static str,
            /// Function name.
            function: &'static str,
        },
    }

    thread_local! {
        /// A value on its way from `#[trace]` code to `MlflowLayer`: the layer runs inside the
        /// same synchronous span creation / `record` call, on this thread.
        static HANDOFF: std::cell::Cell<Option<Handoff>> = const { std::cell::Cell::new(None) };
    }

    /// What `#[trace]` records in place of the value: other layers (`fmt`) that see it before
    /// `MlflowLayer` takes the value print its JSON.
    ///
    /// Support for the code `#[trace]` generates (`mlflow_sdk::__private`); not a stable API.
    ///
    /// ```
    /// use mlflow_sdk::tracing_layer::macro_support::*;
    /// let mark = stash_call(vec![("x", serde_json::json!(1))], "TOOL", "double");
    /// assert_eq!(format!("{mark:?}"), r#"{"x":1}"#); // what `fmt` and other layers print
    /// clear_handoff();
    /// assert_eq!(format!("{mark:?}"), "<recorded by MlflowLayer>");
    /// ```
    pub struct HandoffMark;

    impl std::fmt::Debug for HandoffMark {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let taken = HANDOFF.with(|c| c.take());
            let r = match &taken {
                Some(Handoff::Value(v)) => write!(f, "{v}"),
                Some(Handoff::Call { args, .. }) => {
                    let obj: serde_json::Map<String, Value> = args
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .collect();
                    write!(f, "{}", Value::Object(obj))
                }
                None => f.write_str("<recorded by MlflowLayer>"),
            };
            HANDOFF.with(|c| c.set(taken));
            r
        }
    }

    /// Stashes a call's arguments for the span being created (`mlflow.spanInputs =
    /// debug(stash_call(..))` in the `span!` field list: evaluated only when the span is
    /// enabled). [`clear_handoff`] afterwards drops what no layer took.
    ///
    /// Support for the code `#[trace]` generates (`mlflow_sdk::__private`); not a stable API.
    ///
    /// ```
    /// use mlflow_sdk::tracing_layer::macro_support::*;
    /// use serde_json::json;
    /// let mark = stash_call(vec![("a", json!(2)), ("b", json!(3))], "TOOL", "add");
    /// assert_eq!(format!("{mark:?}"), r#"{"a":2,"b":3}"#);
    /// clear_handoff();
    /// ```
    pub fn stash_call(
        args: Vec<(&'static str, Value)>,
        span_type: &'static str,
        function: &'static str,
    ) -> tracing::field::DebugValue<HandoffMark> {
        HANDOFF.with(|h| {
            h.set(Some(Handoff::Call {
                args,
                span_type,
                function,
            }))
        });
        tracing::field::debug(HandoffMark)
    }

    /// Drops a stashed value no layer took.
    ///
    /// Support for the code `#[trace]` generates (`mlflow_sdk::__private`); not a stable API.
    ///
    /// ```
    /// use mlflow_sdk::tracing_layer::macro_support::*;
    /// let mark = stash_call(vec![], "UNKNOWN", "f"); // no span took it
    /// clear_handoff();
    /// assert_eq!(format!("{mark:?}"), "<recorded by MlflowLayer>");
    /// ```
    pub fn clear_handoff() {
        drop(HANDOFF.with(|h| h.take()));
    }

    /// Records `value` as field `field` of `span`, handing the JSON value itself to
    /// `MlflowLayer` instead of serializing it to text that the layer would parse back.
    ///
    /// Support for the code `#[trace]` generates (`mlflow_sdk::__private`); not a stable API.
    ///
    /// ```
    /// use mlflow_sdk::tracing_layer::macro_support::record_json;
    /// let span = tracing::info_span!("predict", mlflow.spanOutputs = tracing::field::Empty);
    /// record_json(&span, "mlflow.spanOutputs", serde_json::json!({"answer": 4}));
    /// ```
    pub fn record_json(span: &tracing::Span, field: &'static str, value: Value) {
        HANDOFF.with(|h| h.set(Some(Handoff::Value(value))));
        span.record(field, tracing::field::debug(HandoffMark));
        clear_handoff();
    }

    pub(crate) fn take_handoff() -> Option<Handoff> {
        HANDOFF.with(|h| h.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::prelude::*;

    fn span(id: u8, parent: Option<u8>, usage: Option<(i64, i64)>) -> SpanRecord {
        let mut attributes = vec![];
        if let Some((i, o)) = usage {
            attributes.push((
                keys::CHAT_USAGE.to_string(),
                json!({"input_tokens": i, "output_tokens": o, "total_tokens": i + o}),
            ));
        }
        SpanRecord {
            trace_id: [7; 16],
            span_id: [id; 8],
            parent_span_id: parent.map(|p| [p; 8]),
            name: format!("s{id}"),
            start_time_ns: 1_000_000_000,
            end_time_ns: 3_500_000_000,
            attributes,
            ..Default::default()
        }
    }

    #[test]
    fn usage_is_not_double_counted() {
        // root(1) ← agent(2, rolls up 30/10) ← llm(3, 20/5), llm(4, 10/5); tool(5, 1/1) under root.
        let spans = vec![
            span(3, Some(2), Some((20, 5))),
            span(4, Some(2), Some((10, 5))),
            span(2, Some(1), Some((30, 10))),
            span(5, Some(1), Some((1, 1))),
            span(1, None, None),
        ];
        let u = aggregate_usage(&spans).unwrap();
        assert_eq!(
            u,
            json!({"input_tokens": 31, "output_tokens": 11, "total_tokens": 42})
        );
        let info = trace_info(
            &spans,
            &TraceMeta {
                experiment_id: Some("3".into()),
                run_id: Some("r".into()),
                ..Default::default()
            },
        );
        assert_eq!(info.trace_id, format!("tr-{}", "07".repeat(16)));
        assert_eq!(info.execution_duration.as_deref(), Some("2.500s"));
        assert_eq!(
            info.request_time.as_deref(),
            Some("1970-01-01T00:00:01.000Z")
        );
        assert_eq!(info.trace_metadata["mlflow.sourceRun"], "r");
        assert_eq!(
            info.trace_metadata[keys::TRACE_TOKEN_USAGE],
            r#"{"input_tokens": 31, "output_tokens": 11, "total_tokens": 42}"#
        );
        assert_eq!(info.tags["mlflow.traceName"], "s1");
        assert_eq!(info.experiment_id(), Some("3"));
    }

    #[test]
    fn layer_records_fields_events_and_errors_and_reports_failed_exports() {
        let cfg = ClientConfig::new("http://127.0.0.1:9").with_max_retries(0);
        let (layer, exporter) = MlflowLayer::builder()
            .config(cfg)
            .experiment_id("1")
            .build()
            .unwrap();
        let buffers = layer.buffers.clone();
        let (tx, rx) = sync_channel(10);
        // Swap the exporter queue for one we can read.
        let layer = MlflowLayer { tx, ..layer };
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let root = tracing::info_span!(
                "root",
                inputs = r#"{"q": 1}"#,
                outputs = tracing::field::Empty,
                span_type = "AGENT"
            );
            let _g = root.enter();
            let child = tracing::info_span!(
                "llm",
                span_type = "LLM",
                input_tokens = 3,
                output_tokens = 4,
                custom = 1.5
            );
            {
                let _c = child.enter();
                tracing::info!(k = "v", "hello");
                tracing::error!("went wrong");
            }
            drop(child);
            root.record("outputs", "done");
        });
        let ExportMsg::Raw(raw) = rx.try_recv().unwrap() else {
            panic!("expected a trace")
        };
        let t = Box::new(finish_trace(*raw));
        assert!(buffers.lock().unwrap().spans.is_empty());
        assert_eq!(t.spans.len(), 2);
        let (llm, root) = (&t.spans[0], &t.spans[1]);
        assert_eq!(root.attribute(keys::INPUTS), Some(&json!({"q": 1})));
        assert_eq!(root.attribute(keys::OUTPUTS), Some(&json!("done")));
        assert_eq!(root.attribute(keys::SPAN_TYPE), Some(&json!("AGENT")));
        assert_eq!(llm.parent_span_id, Some(root.span_id));
        assert_eq!(
            llm.attribute(keys::CHAT_USAGE),
            Some(&json!({"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}))
        );
        assert_eq!(llm.attribute("custom"), Some(&json!(1.5)));
        assert_eq!(llm.events[0].name, "hello");
        assert_eq!(llm.events[1].name, "exception");
        assert_eq!(llm.error.as_deref(), Some("went wrong"));
        assert!(root.error.is_none());
        assert_eq!(t.info.state, "OK");
        assert_eq!(t.info.request_preview.as_deref(), Some(r#"{"q": 1}"#));
        assert_eq!(t.info.response_preview.as_deref(), Some(r#""done""#));

        // OTLP encoding: objects become kvlists, status codes are set.
        let otlp = llm.to_otlp();
        assert_eq!(otlp.status.as_ref().unwrap().code, status_code_error());
        // The real exporter cannot reach port 9: the failure is reported, not swallowed.
        exporter.tx.send(ExportMsg::Trace(t)).unwrap();
        let err = exporter.flush().unwrap_err();
        assert!(err.to_string().contains("1 traces failed"), "{err}");
        assert_eq!(exporter.stats().exported, 0);
    }

    fn status_code_error() -> i32 {
        opentelemetry_proto::tonic::trace::v1::status::StatusCode::Error as i32
    }
}
