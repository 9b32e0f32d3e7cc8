//! GenAI traces: the [`TraceStore`] trait and its SQL implementation for [`crate::SqlStore`]
//! on MLflow's own tables (`trace_info`, `trace_tags`, `trace_request_metadata`, `spans`,
//! `assessments`, `entity_associations`).
//!
//! - `ingest.rs`: `start_trace` (StartTraceV3) and `log_spans` (OTLP), both merging into
//!   whatever row the other created first, with the official precedence rules.
//! - `read.rs`: trace-info loading, get/batch-get with span contents, search.
//! - `manage.rs`: tags, deletes, run and prompt links, assessments.
//!
//! Deliberate gaps: the UI rollup tables (`sql_*_daily_rollups`, rebuild queue) are not
//! maintained; session-scoped assessment siblings are not expanded in search.

mod ingest;
mod manage;
mod read;

use crate::retention::{ExperimentStorage, RetentionPolicy, SweepStats};
use crate::{Page, SqlStore};
use async_trait::async_trait;
use mlflow_domain::Result;
use mlflow_domain::traces::{Assessment, AssessmentError, PyValue, TraceInfo};
use std::collections::BTreeMap;

/// One span ready to be stored: the `spans` row plus what the trace-level derivation needs.
#[derive(Debug, Clone, Default)]
pub struct SpanRow {
    /// `tr-<32 hex>`.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    pub span_type: Option<String>,
    /// `OK`, `ERROR` or `UNSET`.
    pub status: String,
    pub start_time_ns: i64,
    pub end_time_ns: Option<i64>,
    /// `json.dumps(span.to_dict())` after the storage translations.
    pub content: String,
    pub input_cost: Option<f64>,
    pub output_cost: Option<f64>,
    pub total_cost: Option<f64>,
    pub model_name: Option<String>,
    pub model_provider: Option<String>,
    /// Decoded `mlflow.chat.tokenUsage` / `mlflow.llm.cost` dicts.
    pub usage: Option<PyValue>,
    pub cost: Option<PyValue>,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    /// Root span only: `mlflow.traceTag.*` attributes.
    pub trace_tags: Vec<(String, String)>,
    /// Root span only: request/response previews derived from inputs/outputs.
    pub request_preview: Option<String>,
    pub response_preview: Option<String>,
    /// Resource attributes to keep as tags.
    pub resource_tags: Vec<(String, String)>,
}

/// Arguments of `traces/search`.
#[derive(Debug, Clone, Default)]
pub struct SearchTraces {
    pub experiment_ids: Vec<String>,
    pub filter: String,
    pub max_results: i64,
    pub order_by: Vec<String>,
    pub page_token: Option<String>,
}

/// A trace with its stored span contents (JSON text of each span, by start time).
#[derive(Debug, Clone)]
pub struct TraceWithSpans {
    pub info: TraceInfo,
    pub spans: Vec<String>,
}

/// The `update_mask` fields of `UpdateAssessment`.
#[derive(Debug, Clone, Default)]
pub struct AssessmentUpdate {
    pub name: Option<String>,
    pub feedback: Option<(PyValue, Option<AssessmentError>)>,
    pub expectation: Option<PyValue>,
    pub rationale: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
}

/// Everything the tracing API needs from storage.
#[async_trait]
pub trait TraceStore: Send + Sync + 'static {
    /// StartTraceV3: creates or merges the trace info, returns the stored info.
    async fn start_trace(&self, info: TraceInfo) -> Result<TraceInfo>;
    /// OTLP ingest: stores spans (grouped by trace) and derives trace-level fields.
    async fn log_spans(&self, experiment_id: &str, spans: Vec<SpanRow>) -> Result<()>;
    async fn get_trace_info(&self, trace_id: &str) -> Result<TraceInfo>;
    async fn get_trace(&self, trace_id: &str) -> Result<TraceWithSpans>;
    async fn batch_get_traces(&self, trace_ids: &[String]) -> Result<Vec<TraceWithSpans>>;
    async fn search_traces(&self, req: &SearchTraces) -> Result<Page<TraceInfo>>;
    async fn set_trace_tag(&self, trace_id: &str, key: &str, value: &str) -> Result<()>;
    async fn delete_trace_tag(&self, trace_id: &str, key: &str) -> Result<()>;
    async fn delete_traces(
        &self,
        experiment_id: &str,
        max_timestamp_millis: Option<i64>,
        max_traces: Option<i64>,
        trace_ids: &[String],
    ) -> Result<i64>;
    async fn link_traces_to_run(&self, trace_ids: &[String], run_id: &str) -> Result<()>;
    /// LinkPromptsToTrace: links `(name, version)` prompt versions to a trace (idempotent).
    async fn link_prompts_to_trace(
        &self,
        trace_id: &str,
        prompt_versions: &[(String, i64)],
    ) -> Result<()>;
    async fn create_assessment(&self, assessment: Assessment) -> Result<Assessment>;
    async fn get_assessment(&self, trace_id: &str, assessment_id: &str) -> Result<Assessment>;
    async fn update_assessment(
        &self,
        trace_id: &str,
        assessment_id: &str,
        update: AssessmentUpdate,
    ) -> Result<Assessment>;
    async fn delete_assessment(&self, trace_id: &str, assessment_id: &str) -> Result<()>;
    /// One page of a trace's span contents, in start-time order (an mlflow-rs extension for
    /// very large traces; see `span_page_impl`).
    async fn get_span_page(
        &self,
        trace_id: &str,
        page_token: Option<&str>,
        max_results: i64,
    ) -> Result<Page<String>>;
    /// One trace-retention sweep (see [`crate::retention`]).
    async fn sweep_traces(&self, defaults: RetentionPolicy) -> Result<SweepStats>;
    /// Per-experiment storage use (all experiments when `experiment_ids` is empty).
    async fn storage_report(&self, experiment_ids: &[String]) -> Result<Vec<ExperimentStorage>>;
}

#[async_trait]
impl TraceStore for SqlStore {
    // The client sends a trace's spans (OTLP) and its info (StartTraceV3) concurrently, and
    // both may create the `trace_info` row. On PostgreSQL/MySQL two transactions can both see
    // no row and both insert; the loser gets a unique violation. Retrying the whole
    // transaction is correct: the second attempt sees the committed row and merges into it.
    async fn start_trace(&self, info: TraceInfo) -> Result<TraceInfo> {
        let mut attempt = 0;
        loop {
            match self.start_trace_impl(info.clone()).await {
                Err(e) if attempt < 3 && crate::db::is_unique_violation_error(&e) => attempt += 1,
                r => return r,
            }
        }
    }
    async fn log_spans(&self, experiment_id: &str, spans: Vec<SpanRow>) -> Result<()> {
        let mut attempt = 0;
        loop {
            match self.log_spans_impl(experiment_id, spans.clone()).await {
                Err(e) if attempt < 3 && crate::db::is_unique_violation_error(&e) => attempt += 1,
                r => return r,
            }
        }
    }
    async fn get_trace_info(&self, trace_id: &str) -> Result<TraceInfo> {
        self.get_trace_info_impl(trace_id).await
    }
    async fn get_trace(&self, trace_id: &str) -> Result<TraceWithSpans> {
        self.get_trace_impl(trace_id).await
    }
    async fn batch_get_traces(&self, trace_ids: &[String]) -> Result<Vec<TraceWithSpans>> {
        self.batch_get_traces_impl(trace_ids).await
    }
    async fn search_traces(&self, req: &SearchTraces) -> Result<Page<TraceInfo>> {
        self.search_traces_impl(req).await
    }
    async fn set_trace_tag(&self, trace_id: &str, key: &str, value: &str) -> Result<()> {
        self.set_trace_tag_impl(trace_id, key, value).await
    }
    async fn delete_trace_tag(&self, trace_id: &str, key: &str) -> Result<()> {
        self.delete_trace_tag_impl(trace_id, key).await
    }
    async fn delete_traces(
        &self,
        experiment_id: &str,
        max_timestamp_millis: Option<i64>,
        max_traces: Option<i64>,
        trace_ids: &[String],
    ) -> Result<i64> {
        self.delete_traces_impl(experiment_id, max_timestamp_millis, max_traces, trace_ids)
            .await
    }
    async fn link_traces_to_run(&self, trace_ids: &[String], run_id: &str) -> Result<()> {
        self.link_traces_to_run_impl(trace_ids, run_id).await
    }
    async fn link_prompts_to_trace(
        &self,
        trace_id: &str,
        prompt_versions: &[(String, i64)],
    ) -> Result<()> {
        self.link_prompts_to_trace_impl(trace_id, prompt_versions)
            .await
    }
    async fn create_assessment(&self, assessment: Assessment) -> Result<Assessment> {
        self.create_assessment_impl(assessment).await
    }
    async fn get_assessment(&self, trace_id: &str, assessment_id: &str) -> Result<Assessment> {
        self.get_assessment_impl(trace_id, assessment_id).await
    }
    async fn update_assessment(
        &self,
        trace_id: &str,
        assessment_id: &str,
        update: AssessmentUpdate,
    ) -> Result<Assessment> {
        self.update_assessment_impl(trace_id, assessment_id, update)
            .await
    }
    async fn delete_assessment(&self, trace_id: &str, assessment_id: &str) -> Result<()> {
        self.delete_assessment_impl(trace_id, assessment_id).await
    }
    async fn get_span_page(
        &self,
        trace_id: &str,
        page_token: Option<&str>,
        max_results: i64,
    ) -> Result<Page<String>> {
        self.span_page_impl(trace_id, page_token, max_results).await
    }
    async fn sweep_traces(&self, defaults: RetentionPolicy) -> Result<SweepStats> {
        SqlStore::sweep_traces(self, defaults).await
    }
    async fn storage_report(&self, experiment_ids: &[String]) -> Result<Vec<ExperimentStorage>> {
        SqlStore::storage_report(self, experiment_ids).await
    }
}

/// `_aggregate_from_nodes`: sums `keys` over the span tree, skipping spans whose ancestor
/// already carried data (rollup parents are not double counted).
pub(crate) fn aggregate_nodes(
    nodes: &[(String, Option<String>, Option<PyValue>)],
    keys: &[&str],
    optional_keys: &[&str],
    default: PyValue,
) -> Option<Vec<(String, PyValue)>> {
    use std::collections::{HashMap, HashSet};
    let ids: HashSet<&str> = nodes.iter().map(|n| n.0.as_str()).collect();
    let mut children: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        match n.1.as_deref() {
            Some(p) if ids.contains(p) => children.entry(p).or_default().push(i),
            _ => roots.push(i),
        }
    }
    let mut totals: Vec<(String, PyValue)> = keys
        .iter()
        .map(|k| (k.to_string(), default.clone()))
        .collect();
    let add = |slot: &mut PyValue, v: &PyValue| {
        *slot = match (&*slot, v) {
            (PyValue::Int(a), PyValue::Int(b)) => PyValue::Int(a.saturating_add(*b)),
            (a, b) => {
                let fa = match a {
                    PyValue::Int(i) => *i as f64,
                    PyValue::Float(f) => *f,
                    _ => 0.0,
                };
                let fb = match b {
                    PyValue::Int(i) => *i as f64,
                    PyValue::Float(f) => *f,
                    PyValue::Bool(b) => f64::from(u8::from(*b)),
                    _ => return,
                };
                PyValue::Float(fa + fb)
            }
        };
    };
    let mut has = false;
    let mut stack: Vec<(usize, bool)> = roots.into_iter().map(|r| (r, false)).collect();
    let mut seen = HashSet::new();
    while let Some((i, anc)) = stack.pop() {
        if !seen.insert(i) {
            continue;
        }
        let data = nodes[i]
            .2
            .as_ref()
            .filter(|d| matches!(d, PyValue::Dict(_)));
        if let Some(d) = data
            && !anc
        {
            for (k, slot) in totals.iter_mut() {
                if let Some(v) = d.get(k) {
                    add(slot, v);
                }
            }
            for k in optional_keys {
                if let Some(v) = d.get(k) {
                    match totals.iter_mut().find(|(tk, _)| tk == k) {
                        Some((_, slot)) => add(slot, v),
                        None => totals.push((k.to_string(), v.clone())),
                    }
                }
            }
            has = true;
        }
        let next = anc || data.is_some();
        if let Some(cs) = children.get(nodes[i].0.as_str()) {
            stack.extend(cs.iter().map(|c| (*c, next)));
        }
    }
    has.then_some(totals)
}
