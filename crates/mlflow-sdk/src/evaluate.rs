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
pub const SOURCE_RUN_ID_KEY: &str = "mlflow.assessment.sourceRunId";

/// One dataset row.
#[derive(Clone, Debug, Default)]
pub struct EvalRecord {
    /// Inputs passed to the predict function (usually an object).
    pub inputs: Value,
    /// Ground truth; a bare value is stored as `expected_response`.
    pub expectations: BTreeMap<String, Value>,
}

impl EvalRecord {
    /// A row with `inputs`.
    pub fn new(inputs: Value) -> Self {
        EvalRecord {
            inputs,
            expectations: BTreeMap::new(),
        }
    }
    /// Sets the `expected_response` expectation.
    pub fn expect(mut self, expected: Value) -> Self {
        self.expectations
            .insert("expected_response".into(), expected);
        self
    }
    /// Adds a named expectation.
    pub fn expectation(mut self, name: impl Into<String>, value: Value) -> Self {
        self.expectations.insert(name.into(), value);
        self
    }
}

/// What a scorer sees.
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
}

type ScoreFn = dyn Fn(&ScoreInput<'_>) -> std::result::Result<Value, String> + Send + Sync;

/// A named scoring function; its value (bool, number, `"yes"`/`"no"`, or any JSON) becomes a
/// feedback assessment, and numeric-like values are averaged into `<name>/mean`.
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
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `exact_match`: outputs equal `expected_response` (strings compared trimmed).
    pub fn exact_match() -> Self {
        Scorer::try_from_fn("exact_match", |s| {
            let e = expected(s)?;
            Ok(json!(
                e == *s.outputs || as_text(&e).trim() == as_text(s.outputs).trim()
            ))
        })
    }

    /// `contains`: the output text contains the `expected_response` text.
    pub fn contains() -> Self {
        Scorer::try_from_fn("contains", |s| {
            Ok(json!(as_text(s.outputs).contains(&as_text(&expected(s)?))))
        })
    }

    /// `regex_match`: the output text matches `pattern`.
    pub fn regex(pattern: &str) -> Result<Self> {
        let re = regex_lite::Regex::new(pattern)
            .map_err(|e| Error::invalid(format!("bad regex: {e}")))?;
        Ok(Scorer::from_fn("regex_match", move |s| {
            json!(re.is_match(&as_text(s.outputs)))
        }))
    }

    /// `latency`: seconds the predict function took.
    pub fn latency() -> Self {
        Scorer::from_fn("latency", |s| json!(s.latency.as_secs_f64()))
    }
}

/// One evaluated row.
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
#[derive(Clone, Debug)]
pub struct EvalResult {
    /// The evaluation run.
    pub run_id: String,
    /// `<scorer>/mean` metrics, as logged on the run.
    pub metrics: BTreeMap<String, f64>,
    /// Per-row results.
    pub rows: Vec<EvalRow>,
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
        let start_ns = now_ns();
        let t0 = Instant::now();
        let out = predict(&rec.inputs);
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
                (
                    keys::REQUEST_ID.into(),
                    json!(format!("tr-{}", crate::util::hex(&trace_id))),
                ),
                (keys::SPAN_TYPE.into(), json!("CHAIN")),
                (keys::INPUTS.into(), rec.inputs.clone()),
                (keys::OUTPUTS.into(), out.clone().unwrap_or(Value::Null)),
            ],
            events: Vec::new(),
            error: out.as_ref().err().cloned(),
        };
        let spans = vec![root];
        let meta = TraceMeta {
            experiment_id: Some(experiment_id.into()),
            run_id: Some(run_id.into()),
        };
        let mut info = trace_info(&spans, &meta);
        export_one_trace(client, experiment_id, &mut info, &spans).await?;
        let tid = info.trace_id.clone();
        trace_ids.push(tid.clone());
        let root_span = crate::util::hex(&spans[0].span_id);
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
