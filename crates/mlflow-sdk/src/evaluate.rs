//! GenAI evaluation, like `mlflow.genai.evaluate`: run a predict function over a dataset,
//! record one trace per row, score each row with scorers (logged as feedback assessments on the
//! trace), and log `<scorer>/mean` metrics on an evaluation run.
//!
//! ```no_run
//! # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
//! use mlflow_sdk::evaluate::{EvalRecord, Scorer, evaluate};
//! use serde_json::json;
//! let data = vec![EvalRecord::new(json!({"question": "2+2"})).expect(json!("4"))];
//! let scorers = vec![
//!     Scorer::exact_match(),
//!     Scorer::latency(),
//!     Scorer::from_fn("short", |s| json!(s.outputs.to_string().len() < 100)),
//! ];
//! let result = evaluate(&client, "1", &data, |inputs| Ok(json!("4")), &scorers).await?;
//! assert_eq!(result.metrics["exact_match/mean"], 1.0);
//! # Ok(()) }
//! ```

use crate::client::{Client, CreateRun};
use crate::error::{Error, Result};
use crate::traces::SpanRecord;
use crate::tracing_layer::{TraceMeta, export_one_trace, keys, trace_info};
use crate::types::{Assessment, AssessmentSource, Metric, RunStatus};
use crate::util::{now_ns, random_span_id, random_trace_id};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Assessment metadata key linking an assessment to the evaluation run.
///
/// ```no_run
/// use mlflow_sdk::evaluate::SOURCE_RUN_ID_KEY;
/// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
/// let info = client.get_trace_info("tr-0123456789abcdef0123456789abcdef").await?;
/// for a in &info.assessments {
///     if let Some(run_id) = a.metadata.get(SOURCE_RUN_ID_KEY) {
///         println!("{} came from evaluation run {run_id}", a.assessment_name);
///     }
/// }
/// # Ok(()) }
/// ```
pub const SOURCE_RUN_ID_KEY: &str = "mlflow.assessment.sourceRunId";

/// One dataset row.
///
/// ```
/// use mlflow_sdk::evaluate::EvalRecord;
/// use serde_json::json;
/// let row = EvalRecord::new(json!({"question": "Capital of France?"}))
///     .expect(json!("Paris"))
///     .expectation("must_mention", json!(["Paris"]));
/// assert_eq!(row.inputs["question"], "Capital of France?");
/// assert_eq!(row.expectations.len(), 2);
/// ```
#[derive(Clone, Debug, Default)]
pub struct EvalRecord {
    /// Inputs passed to the predict function (usually an object).
    pub inputs: Value,
    /// Ground truth; a bare value is stored as `expected_response`.
    pub expectations: BTreeMap<String, Value>,
}

impl EvalRecord {
    /// A row with `inputs`.
    ///
    /// ```
    /// use mlflow_sdk::evaluate::EvalRecord;
    /// use serde_json::json;
    /// let row = EvalRecord::new(json!({"question": "2+2", "context": "arithmetic"}));
    /// assert!(row.expectations.is_empty());
    /// ```
    pub fn new(inputs: Value) -> Self {
        EvalRecord {
            inputs,
            expectations: BTreeMap::new(),
        }
    }
    /// Sets the `expected_response` expectation.
    ///
    /// ```
    /// use mlflow_sdk::evaluate::EvalRecord;
    /// use serde_json::json;
    /// let row = EvalRecord::new(json!({"question": "2+2"})).expect(json!("4"));
    /// assert_eq!(row.expectations["expected_response"], json!("4"));
    /// ```
    pub fn expect(mut self, expected: Value) -> Self {
        self.expectations
            .insert("expected_response".into(), expected);
        self
    }
    /// Adds a named expectation.
    ///
    /// ```
    /// use mlflow_sdk::evaluate::EvalRecord;
    /// use serde_json::json;
    /// let row = EvalRecord::new(json!({"question": "Summarize the report"}))
    ///     .expectation("max_words", json!(50));
    /// assert_eq!(row.expectations["max_words"], 50);
    /// ```
    pub fn expectation(mut self, name: impl Into<String>, value: Value) -> Self {
        self.expectations.insert(name.into(), value);
        self
    }
}

/// What a scorer sees.
///
/// ```
/// use mlflow_sdk::evaluate::{ScoreInput, Scorer};
/// use serde_json::{Value, json};
/// use std::collections::BTreeMap;
/// use std::time::Duration;
///
/// fn polite(s: &ScoreInput<'_>) -> Value {
///     json!(s.outputs.as_str().is_some_and(|o| o.contains("please")))
/// }
///
/// let (inputs, outputs) = (json!({"q": "hi"}), json!("Sit down, please."));
/// let expectations = BTreeMap::new();
/// let input = ScoreInput {
///     inputs: &inputs,
///     outputs: &outputs,
///     expectations: &expectations,
///     latency: Duration::from_millis(120),
///     trace_id: "tr-0",
///     token_usage: None,
/// };
/// assert_eq!(polite(&input), json!(true));
/// let scorer = Scorer::from_fn("polite", polite);
/// assert_eq!(scorer.name(), "polite");
/// ```
#[derive(Clone, Debug)]
pub struct ScoreInput<'a> {
    /// The row's inputs.
    pub inputs: &'a Value,
    /// The predict function's output (`null` if it failed).
    pub outputs: &'a Value,
    /// The row's expectations.
    pub expectations: &'a BTreeMap<String, Value>,
    /// How long the predict function took.
    pub latency: Duration,
    /// The row's trace.
    pub trace_id: &'a str,
    /// Token usage summed over the LLM spans the predict function recorded (through
    /// [`crate::tracing_layer::MlflowLayer`]), as in the trace's `mlflow.trace.tokenUsage`.
    pub token_usage: Option<TokenUsage>,
}

/// Token counts of a trace.
///
/// ```
/// use mlflow_sdk::evaluate::TokenUsage;
/// let usage = TokenUsage { input_tokens: 12, output_tokens: 30, total_tokens: 42 };
/// let text = r#"{"input_tokens": 12, "output_tokens": 30}"#;
/// assert_eq!(TokenUsage::from_json_text(text), Some(usage));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// Prompt tokens.
    pub input_tokens: i64,
    /// Completion tokens.
    pub output_tokens: i64,
    /// Total tokens.
    pub total_tokens: i64,
}

impl TokenUsage {
    /// Reads `{"input_tokens", "output_tokens", "total_tokens"}` JSON text (trace metadata).
    ///
    /// ```
    /// use mlflow_sdk::evaluate::TokenUsage;
    /// let u = TokenUsage::from_json_text(
    ///     r#"{"input_tokens": 31, "output_tokens": 11, "total_tokens": 42}"#,
    /// )
    /// .unwrap();
    /// assert_eq!((u.input_tokens, u.output_tokens, u.total_tokens), (31, 11, 42));
    /// // A missing total is input + output; no counts at all, or not JSON, is `None`.
    /// let u = TokenUsage::from_json_text(r#"{"input_tokens": 3, "output_tokens": 4}"#).unwrap();
    /// assert_eq!(u.total_tokens, 7);
    /// assert_eq!(TokenUsage::from_json_text("{}"), None);
    /// assert_eq!(TokenUsage::from_json_text("not json"), None);
    /// ```
    pub fn from_json_text(text: &str) -> Option<TokenUsage> {
        let v: Value = serde_json::from_str(text).ok()?;
        let get = |k: &str| v.get(k).and_then(Value::as_i64);
        let (i, o) = (get("input_tokens"), get("output_tokens"));
        let t = get("total_tokens").or_else(|| Some(i.unwrap_or(0) + o.unwrap_or(0)));
        (i.is_some() || o.is_some() || get("total_tokens").is_some()).then(|| TokenUsage {
            input_tokens: i.unwrap_or(0),
            output_tokens: o.unwrap_or(0),
            total_tokens: t.unwrap_or(0),
        })
    }
}

type ScoreFn = dyn Fn(&ScoreInput<'_>) -> std::result::Result<Value, String> + Send + Sync;

/// A named scoring function; its value (bool, number, `"yes"`/`"no"`, or any JSON) becomes a
/// feedback assessment, and numeric-like values are averaged into `<name>/mean`.
///
/// ```
/// use mlflow_sdk::evaluate::Scorer;
/// let scorers = [Scorer::exact_match(), Scorer::contains(), Scorer::latency()];
/// let names: Vec<&str> = scorers.iter().map(Scorer::name).collect();
/// assert_eq!(names, ["exact_match", "contains", "latency"]); // metrics: exact_match/mean, ...
/// ```
#[derive(Clone)]
pub struct Scorer {
    name: String,
    f: Arc<ScoreFn>,
}

impl std::fmt::Debug for Scorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scorer").field("name", &self.name).finish()
    }
}

fn expected(s: &ScoreInput<'_>) -> std::result::Result<Value, String> {
    s.expectations
        .get("expected_response")
        .cloned()
        .ok_or_else(|| "no `expected_response` expectation on this row".to_string())
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Scorer {
    /// A scorer from a closure.
    ///
    /// ```
    /// use mlflow_sdk::evaluate::Scorer;
    /// use serde_json::json;
    /// let short = Scorer::from_fn("short_answer", |s| json!(s.outputs.to_string().len() < 200));
    /// let words = Scorer::from_fn("word_count", |s| {
    ///     json!(s.outputs.as_str().map_or(0, |t| t.split_whitespace().count()))
    /// });
    /// assert_eq!(short.name(), "short_answer");
    /// assert_eq!(words.name(), "word_count");
    /// ```
    pub fn from_fn(
        name: impl Into<String>,
        f: impl Fn(&ScoreInput<'_>) -> Value + Send + Sync + 'static,
    ) -> Self {
        Scorer {
            name: name.into(),
            f: Arc::new(move |s| Ok(f(s))),
        }
    }

    /// A scorer from a fallible closure; an `Err` is recorded as the assessment's error.
    ///
    /// ```
    /// use mlflow_sdk::evaluate::Scorer;
    /// use serde_json::{Value, json};
    /// // Rows whose output is not a JSON object text get a scorer error, not a value.
    /// let is_object = Scorer::try_from_fn("json_object", |s| {
    ///     let text = s.outputs.as_str().ok_or("output is not a string")?;
    ///     let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    ///     Ok(json!(v.is_object()))
    /// });
    /// assert_eq!(is_object.name(), "json_object");
    /// ```
    pub fn try_from_fn(
        name: impl Into<String>,
        f: impl Fn(&ScoreInput<'_>) -> std::result::Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        Scorer {
            name: name.into(),
            f: Arc::new(f),
        }
    }

    /// The scorer's name.
    ///
    /// ```
    /// use mlflow_sdk::evaluate::Scorer;
    /// assert_eq!(Scorer::latency().name(), "latency");
    /// assert_eq!(Scorer::regex(r"\d+")?.name(), "regex_match");
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `exact_match`: outputs equal `expected_response` (strings compared trimmed).
    ///
    /// ```
    /// use mlflow_sdk::evaluate::Scorer;
    /// // For rows built with `EvalRecord::expect(json!("4"))`: outputs "4", " 4 " and 4 match.
    /// let scorer = Scorer::exact_match();
    /// assert_eq!(scorer.name(), "exact_match");
    /// ```
    pub fn exact_match() -> Self {
        Scorer::try_from_fn("exact_match", |s| {
            let e = expected(s)?;
            Ok(json!(
                e == *s.outputs || as_text(&e).trim() == as_text(s.outputs).trim()
            ))
        })
    }

    /// `contains`: the output text contains the `expected_response` text.
    ///
    /// ```
    /// use mlflow_sdk::evaluate::Scorer;
    /// // For a row expecting "Paris", true for the output "The capital of France is Paris.".
    /// let scorer = Scorer::contains();
    /// assert_eq!(scorer.name(), "contains");
    /// ```
    pub fn contains() -> Self {
        Scorer::try_from_fn("contains", |s| {
            Ok(json!(as_text(s.outputs).contains(&as_text(&expected(s)?))))
        })
    }

    /// `regex_match`: the output text matches `pattern`.
    ///
    /// ```
    /// use mlflow_sdk::evaluate::Scorer;
    /// let iso_date = Scorer::regex(r"^\d{4}-\d{2}-\d{2}$")?;
    /// assert_eq!(iso_date.name(), "regex_match");
    /// assert!(Scorer::regex("(unclosed").is_err());
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn regex(pattern: &str) -> Result<Self> {
        let re = regex_lite::Regex::new(pattern)
            .map_err(|e| Error::invalid(format!("bad regex: {e}")))?;
        Ok(Scorer::from_fn("regex_match", move |s| {
            json!(re.is_match(&as_text(s.outputs)))
        }))
    }

    /// `latency`: seconds the predict function took.
    ///
    /// ```
    /// use mlflow_sdk::evaluate::Scorer;
    /// // Logged as `latency/mean` (seconds) on the evaluation run.
    /// let scorer = Scorer::latency();
    /// assert_eq!(scorer.name(), "latency");
    /// ```
    pub fn latency() -> Self {
        Scorer::from_fn("latency", |s| json!(s.latency.as_secs_f64()))
    }

    /// `total_tokens`, `input_tokens`, `output_tokens`: the token counts the predict function's
    /// LLM spans recorded (needs an installed [`crate::tracing_layer::MlflowLayer`]; rows
    /// without token usage get a scorer error instead of a value).
    ///
    /// ```
    /// use mlflow_sdk::evaluate::Scorer;
    /// let scorers = Scorer::token_counts();
    /// assert_eq!(scorers[0].name(), "total_tokens");
    /// ```
    pub fn token_counts() -> Vec<Self> {
        type Pick = fn(&TokenUsage) -> i64;
        let pick: [(&str, Pick); 3] = [
            ("total_tokens", |u| u.total_tokens),
            ("input_tokens", |u| u.input_tokens),
            ("output_tokens", |u| u.output_tokens),
        ];
        pick.into_iter()
            .map(|(name, f)| {
                Scorer::try_from_fn(name, move |s| {
                    s.token_usage.as_ref().map(|u| json!(f(u))).ok_or_else(|| {
                        "no token usage in this row's trace (record LLM spans with \
                         input_tokens/output_tokens under MlflowLayer)"
                            .to_string()
                    })
                })
            })
            .collect()
    }
}

/// One evaluated row.
///
/// ```no_run
/// use mlflow_sdk::evaluate::{EvalRecord, Scorer, evaluate};
/// use serde_json::json;
/// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
/// let data = [EvalRecord::new(json!({"question": "2+2"})).expect(json!("4"))];
/// let result = evaluate(&client, "1", &data, |_| Ok(json!("4")), &[Scorer::exact_match()]).await?;
/// for row in &result.rows {
///     match &row.outputs {
///         Ok(out) => println!("{}: {out}", row.trace_id),
///         Err(e) => println!("{}: predict failed: {e}", row.trace_id),
///     }
///     for (scorer, score) in &row.scores {
///         println!("  {scorer} = {score:?}");
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct EvalRow {
    /// The row's trace.
    pub trace_id: String,
    /// The predict function's output, or its error.
    pub outputs: std::result::Result<Value, String>,
    /// Scorer name → value (or error message).
    pub scores: BTreeMap<String, std::result::Result<Value, String>>,
}

/// The result of [`evaluate`].
///
/// ```no_run
/// use mlflow_sdk::evaluate::{EvalRecord, Scorer, evaluate};
/// use serde_json::json;
/// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
/// let data = [EvalRecord::new(json!({"question": "2+2"})).expect(json!("4"))];
/// let result = evaluate(&client, "1", &data, |_| Ok(json!("4")), &[Scorer::exact_match()]).await?;
/// println!("run {}: {} rows", result.run_id, result.rows.len());
/// assert_eq!(result.metrics.get("exact_match/mean"), Some(&1.0));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct EvalResult {
    /// The evaluation run.
    pub run_id: String,
    /// `<scorer>/mean` metrics, as logged on the run.
    pub metrics: BTreeMap<String, f64>,
    /// Per-row results.
    pub rows: Vec<EvalRow>,
}

/// What running the predict function on one row produced: its output, latency, the row's
/// trace id and root span id (hex), and the trace's token usage.
type Predicted = (
    std::result::Result<Value, String>,
    Duration,
    String,
    String,
    Option<TokenUsage>,
);

/// Runs `predict` inside a root `tracing` span when an [`crate::tracing_layer::MlflowLayer`] is
/// installed, so the spans it records (LLM calls, tools) become the row's trace, exported by
/// the layer; `None` when no layer records the span.
async fn predict_traced(
    client: &Client,
    meta: &TraceMeta,
    inputs: &Value,
    predict: &impl Fn(&Value) -> std::result::Result<Value, String>,
) -> Result<Option<Predicted>> {
    use crate::tracing_layer::macro_support::record_json;
    let span = crate::tracing_layer::with_trace_meta(meta.clone(), || {
        tracing::info_span!(
            target: "mlflow",
            parent: None,
            "predict",
            mlflow.spanType = "CHAIN",
            mlflow.spanInputs = tracing::field::Empty,
            mlflow.spanOutputs = tracing::field::Empty,
            error = tracing::field::Empty,
        )
    });
    let Some((trace_id, span_id)) = crate::tracing_layer::span_ids(&span) else {
        return Ok(None);
    };
    record_json(&span, "mlflow.spanInputs", inputs.clone());
    let t0 = Instant::now();
    let out = span.in_scope(|| predict(inputs));
    let latency = t0.elapsed();
    match &out {
        Ok(v) => record_json(&span, "mlflow.spanOutputs", v.clone()),
        Err(e) => {
            span.record("error", e.as_str());
        }
    }
    drop(span); // closes the root: the layer queues the trace
    // Wait until the layer's exporter sent it (a blocking wait, off the async threads).
    let exporters = crate::tracing_layer::registered_exporters();
    tokio::task::spawn_blocking(move || exporters.iter().try_for_each(|e| e.flush()))
        .await
        .map_err(|e| Error::Background(format!("waiting for the trace exporter: {e}")))??;
    let tid = format!("tr-{}", crate::util::hex(&trace_id));
    let info = client.get_trace_info(&tid).await?;
    let usage = info
        .trace_metadata
        .get(keys::TRACE_TOKEN_USAGE)
        .and_then(|t| TokenUsage::from_json_text(t));
    Ok(Some((out, latency, tid, crate::util::hex(&span_id), usage)))
}

/// Runs `predict` and records a one-span trace for it directly (no `tracing` layer).
async fn predict_untraced(
    client: &Client,
    experiment_id: &str,
    meta: &TraceMeta,
    inputs: &Value,
    predict: &impl Fn(&Value) -> std::result::Result<Value, String>,
) -> Result<Predicted> {
    let start_ns = now_ns();
    let t0 = Instant::now();
    let out = predict(inputs);
    let latency = t0.elapsed();
    let trace_id = random_trace_id();
    let root = SpanRecord {
        trace_id,
        span_id: random_span_id(),
        parent_span_id: None,
        name: "predict".into(),
        start_time_ns: start_ns,
        end_time_ns: start_ns + latency.as_nanos() as u64,
        attributes: vec![
            (keys::SPAN_TYPE.into(), json!("CHAIN")),
            (keys::INPUTS.into(), inputs.clone()),
            (keys::OUTPUTS.into(), out.clone().unwrap_or(Value::Null)),
        ],
        events: Vec::new(),
        error: out.as_ref().err().cloned(),
    };
    let spans = vec![root];
    let mut info = trace_info(&spans, meta);
    export_one_trace(client, experiment_id, &mut info, &spans).await?;
    let root_span = crate::util::hex(&spans[0].span_id);
    Ok((out, latency, info.trace_id, root_span, None))
}

/// Numeric value of a feedback for aggregation (`_cast_assessment_value_to_float`).
fn as_float(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s.eq_ignore_ascii_case("yes") => Some(1.0),
        Value::String(s) if s.eq_ignore_ascii_case("no") => Some(0.0),
        _ => None,
    }
}

/// Evaluates `predict` over `data` in a new run of `experiment_id` (see the module docs).
///
/// ```no_run
/// use mlflow_sdk::evaluate::{EvalRecord, Scorer, evaluate};
/// use serde_json::{Value, json};
/// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
/// let exp = client.get_or_create_experiment("qa-eval").await?;
/// let data = vec![
///     EvalRecord::new(json!({"question": "2+2"})).expect(json!("4")),
///     EvalRecord::new(json!({"question": "Capital of France?"})).expect(json!("Paris")),
/// ];
/// let predict = |inputs: &Value| -> Result<Value, String> {
///     let q = inputs["question"].as_str().ok_or("no question")?;
///     Ok(json!(if q == "2+2" { "4" } else { "Paris, I think" }))
/// };
/// let scorers = [Scorer::exact_match(), Scorer::contains(), Scorer::latency()];
/// let result = evaluate(&client, &exp, &data, predict, &scorers).await?;
/// assert_eq!(result.metrics["exact_match/mean"], 0.5);
/// assert_eq!(result.metrics["contains/mean"], 1.0);
/// # Ok(()) }
/// ```
pub async fn evaluate(
    client: &Client,
    experiment_id: &str,
    data: &[EvalRecord],
    predict: impl Fn(&Value) -> std::result::Result<Value, String>,
    scorers: &[Scorer],
) -> Result<EvalResult> {
    let run = client
        .create_run(CreateRun::new(experiment_id).tag("mlflow.runSourceType", "GENAI_EVALUATION"))
        .await?;
    let run_id = run.info.run_id.clone();
    let outcome = evaluate_in_run(client, experiment_id, &run_id, data, predict, scorers).await;
    let status = if outcome.is_ok() {
        RunStatus::Finished
    } else {
        RunStatus::Failed
    };
    client.end_run(&run_id, status).await?;
    outcome
}

async fn evaluate_in_run(
    client: &Client,
    experiment_id: &str,
    run_id: &str,
    data: &[EvalRecord],
    predict: impl Fn(&Value) -> std::result::Result<Value, String>,
    scorers: &[Scorer],
) -> Result<EvalResult> {
    let mut rows = Vec::with_capacity(data.len());
    let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut trace_ids = Vec::new();
    for rec in data {
        let meta = TraceMeta {
            experiment_id: Some(experiment_id.into()),
            run_id: Some(run_id.into()),
            ..Default::default()
        };
        let (out, latency, tid, root_span, token_usage) =
            match predict_traced(client, &meta, &rec.inputs, &predict).await? {
                Some(done) => done,
                None => {
                    predict_untraced(client, experiment_id, &meta, &rec.inputs, &predict).await?
                }
            };
        trace_ids.push(tid.clone());

        let md: BTreeMap<String, String> =
            [(SOURCE_RUN_ID_KEY.to_string(), run_id.to_string())].into();

        for (name, value) in &rec.expectations {
            let mut a = Assessment::expectation(
                &tid,
                name,
                value.clone(),
                AssessmentSource::human("evaluation_dataset"),
            );
            a.span_id = Some(root_span.clone());
            a.metadata = md.clone();
            client.create_assessment(&a).await?;
        }
        let outputs = out.clone().unwrap_or(Value::Null);
        let input = ScoreInput {
            inputs: &rec.inputs,
            outputs: &outputs,
            expectations: &rec.expectations,
            latency,
            trace_id: &tid,
            token_usage,
        };
        let mut scores = BTreeMap::new();
        for s in scorers {
            let r = (s.f)(&input);
            let mut a = Assessment::feedback(
                &tid,
                &s.name,
                r.clone().unwrap_or(Value::Null),
                AssessmentSource::code(&s.name),
            );
            if let Err(msg) = &r
                && let Some(fb) = a.feedback.as_mut()
            {
                fb.error = Some(json!({"error_code": "SCORER_ERROR", "error_message": msg}));
            }
            if let Ok(v) = &r
                && let Some(f) = as_float(v)
            {
                values.entry(s.name.clone()).or_default().push(f);
            }
            a.span_id = Some(root_span.clone());
            a.metadata = md.clone();
            a.run_id = Some(run_id.to_string());
            client.create_assessment(&a).await?;
            scores.insert(s.name.clone(), r);
        }
        rows.push(EvalRow {
            trace_id: tid,
            outputs: out,
            scores,
        });
    }
    // Link the traces to the run (older servers only know the sourceRun metadata).
    for chunk in trace_ids.chunks(100) {
        if let Err(e) = client.link_traces_to_run(chunk, run_id).await
            && !(e.is_endpoint_not_found() || e.status() == Some(501))
        {
            return Err(e);
        }
    }
    let metrics: BTreeMap<String, f64> = values
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (format!("{k}/mean"), v.iter().sum::<f64>() / v.len() as f64))
        .collect();
    let ms: Vec<Metric> = metrics.iter().map(|(k, v)| Metric::new(k, *v, 0)).collect();
    client.log_batch(run_id, &ms, &[], &[]).await?;
    Ok(EvalResult {
        run_id: run_id.to_string(),
        metrics,
        rows,
    })
}
