//! Trace and assessment REST calls, and the OTLP span export (`POST /v1/traces`).

use crate::client::{Client, SearchQuery, paginate};
use crate::error::{Error, Result};
use crate::types::*;
use futures::Stream;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span, status,
};
use prost::Message;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

/// A finished span, as the SDK records it before export. `tracing_layer` builds these from
/// `tracing` spans; build them yourself to import spans from elsewhere with
/// [`Client::log_spans`].
///
/// ```
/// use mlflow_sdk::SpanRecord;
/// use serde_json::json;
/// let span = SpanRecord {
///     trace_id: [7; 16],
///     span_id: [1; 8],
///     name: "retrieve".into(),
///     start_time_ns: 1_700_000_000_000_000_000,
///     end_time_ns: 1_700_000_000_250_000_000,
///     attributes: vec![
///         ("mlflow.spanType".into(), json!("RETRIEVER")),
///         ("mlflow.spanInputs".into(), json!({"query": "rust"})),
///     ],
///     ..Default::default()
/// };
/// assert_eq!(span.mlflow_trace_id(), format!("tr-{}", "07".repeat(16)));
/// ```
#[derive(Clone, Debug, Default)]
pub struct SpanRecord {
    /// OTel trace id.
    pub trace_id: [u8; 16],
    /// OTel span id.
    pub span_id: [u8; 8],
    /// Parent span id; `None` for the root.
    pub parent_span_id: Option<[u8; 8]>,
    /// Span name.
    pub name: String,
    /// Epoch ns.
    pub start_time_ns: u64,
    /// Epoch ns.
    pub end_time_ns: u64,
    /// Attributes as JSON values (`mlflow.spanInputs`, `mlflow.spanType`, …).
    pub attributes: Vec<(String, Value)>,
    /// Events.
    pub events: Vec<SpanEventRecord>,
    /// `Some(message)` when the span failed.
    pub error: Option<String>,
}

/// A span event (a log line inside a span, or an `exception`).
///
/// ```
/// use mlflow_sdk::SpanEventRecord;
/// let e = SpanEventRecord {
///     name: "exception".into(),
///     time_ns: 1_700_000_000_000_000_000,
///     attributes: vec![("exception.message".into(), "timeout".into())],
/// };
/// assert_eq!(e.attributes[0].1, "timeout");
/// ```
#[derive(Clone, Debug, Default)]
pub struct SpanEventRecord {
    /// Event name.
    pub name: String,
    /// Epoch ns.
    pub time_ns: u64,
    /// Attributes.
    pub attributes: Vec<(String, Value)>,
}

impl SpanRecord {
    /// The MLflow trace id, `tr-<32 hex>`.
    ///
    /// ```
    /// let s = mlflow_sdk::SpanRecord { trace_id: [0xab; 16], ..Default::default() };
    /// assert_eq!(s.mlflow_trace_id(), format!("tr-{}", "ab".repeat(16)));
    /// ```
    pub fn mlflow_trace_id(&self) -> String {
        format!("tr-{}", crate::util::hex(&self.trace_id))
    }

    /// The value of attribute `key`.
    ///
    /// ```
    /// let s = mlflow_sdk::SpanRecord {
    ///     attributes: vec![("mlflow.spanType".into(), serde_json::json!("LLM"))],
    ///     ..Default::default()
    /// };
    /// assert_eq!(s.attribute("mlflow.spanType"), Some(&serde_json::json!("LLM")));
    /// assert_eq!(s.attribute("missing"), None);
    /// ```
    pub fn attribute(&self, key: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Converts to the OTLP protobuf span, encoding attribute values as the official client's
    /// `_set_otel_proto_anyvalue` does (dicts → kvlist, lists → array, scalars typed).
    ///
    /// ```
    /// let s = mlflow_sdk::SpanRecord {
    ///     span_id: [1; 8],
    ///     name: "tool".into(),
    ///     error: Some("boom".into()),
    ///     ..Default::default()
    /// };
    /// let otlp = s.to_otlp();
    /// assert_eq!(otlp.name, "tool");
    /// assert_eq!(otlp.span_id, vec![1; 8]);
    /// assert!(otlp.status.is_some());
    /// ```
    pub fn to_otlp(&self) -> Span {
        Span {
            trace_id: self.trace_id.to_vec(),
            span_id: self.span_id.to_vec(),
            parent_span_id: self.parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
            name: self.name.clone(),
            kind: span::SpanKind::Internal as i32,
            start_time_unix_nano: self.start_time_ns,
            end_time_unix_nano: self.end_time_ns,
            attributes: self.attributes.iter().map(|(k, v)| kv(k, v)).collect(),
            events: self
                .events
                .iter()
                .map(|e| span::Event {
                    time_unix_nano: e.time_ns,
                    name: e.name.clone(),
                    attributes: e.attributes.iter().map(|(k, v)| kv(k, v)).collect(),
                    dropped_attributes_count: 0,
                })
                .collect(),
            status: Some(match &self.error {
                None => Status {
                    message: String::new(),
                    code: status::StatusCode::Ok as i32,
                },
                Some(m) => Status {
                    message: m.clone(),
                    code: status::StatusCode::Error as i32,
                },
            }),
            ..Default::default()
        }
    }
}

fn kv(k: &str, v: &Value) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(any_value_of(v)),
        ..Default::default()
    }
}

fn any_value_of(v: &Value) -> AnyValue {
    let value = match v {
        Value::Null => None,
        Value::Bool(b) => Some(any_value::Value::BoolValue(*b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::String(s) => Some(any_value::Value::StringValue(s.clone())),
        Value::Array(items) => Some(any_value::Value::ArrayValue(ArrayValue {
            values: items.iter().map(any_value_of).collect(),
        })),
        Value::Object(map) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: map.iter().map(|(k, v)| kv(k, v)).collect(),
        })),
    };
    AnyValue { value }
}

/// Builds the OTLP export request for `spans`.
pub(crate) fn otlp_request(spans: &[SpanRecord]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", &json!("mlflow-rust-sdk"))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "mlflow_sdk".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                spans: spans.iter().map(SpanRecord::to_otlp).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TraceResp {
    trace: TraceEnvelope,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TraceEnvelope {
    trace_info: TraceInfo,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AssessmentResp {
    assessment: Assessment,
}

impl Client {
    /// `POST /v1/traces`: exports spans as OTLP protobuf into `experiment_id` (the
    /// `x-mlflow-experiment-id` header), as `RestStore.log_spans` does.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// // Spans are recorded by `tracing_layer`, whose exporter calls this for each finished
    /// // trace; an empty batch is a no-op that sends nothing.
    /// client.log_spans("1", &[]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn log_spans(&self, experiment_id: &str, spans: &[SpanRecord]) -> Result<()> {
        if spans.is_empty() {
            return Ok(());
        }
        let body = otlp_request(spans).encode_to_vec();
        let url = self.t.url("/v1/traces");
        self.t
            .send(&url, || async {
                Ok(self
                    .t
                    .request(Method::POST, &url)
                    .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
                    .header("x-mlflow-experiment-id", experiment_id)
                    .body(body.clone()))
            })
            .await?;
        Ok(())
    }

    /// `POST /api/3.0/mlflow/traces` (StartTraceV3): records the trace's info; returns the
    /// server's merged info (with `mlflow.artifactLocation` etc.).
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use mlflow_sdk::{TraceInfo, TraceLocation, now_ns, rfc3339_from_ns};
    /// let info = TraceInfo {
    ///     trace_id: "tr-0af7651916cd43dd8448eb211c80319c".into(),
    ///     trace_location: TraceLocation::experiment("1"),
    ///     request_time: Some(rfc3339_from_ns(now_ns())),
    ///     execution_duration: Some("0.250s".into()),
    ///     state: "OK".into(),
    ///     ..Default::default()
    /// };
    /// let stored = client.start_trace(&info).await?;
    /// println!("{:?}", stored.trace_metadata.get("mlflow.artifactLocation"));
    /// # Ok(()) }
    /// ```
    pub async fn start_trace(&self, info: &TraceInfo) -> Result<TraceInfo> {
        let r: TraceResp = self
            .post(
                "/api/3.0/mlflow/traces",
                json!({"trace": {"trace_info": info}}),
            )
            .await?;
        Ok(r.trace.trace_info)
    }

    /// `GET /api/3.0/mlflow/traces/{id}`: a trace's info, with assessments.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let info = client.get_trace_info("tr-0af7651916cd43dd8448eb211c80319c").await?;
    /// println!("{} in experiment {:?}", info.state, info.experiment_id());
    /// for a in &info.assessments {
    ///     println!("{}: {:?}", a.assessment_name, a.feedback.as_ref().map(|f| &f.value));
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_trace_info(&self, trace_id: &str) -> Result<TraceInfo> {
        let r: TraceResp = self
            .get(
                &format!("/api/3.0/mlflow/traces/{trace_id}"),
                json!({"trace_id": trace_id}),
            )
            .await?;
        Ok(r.trace.trace_info)
    }

    /// `GET /api/3.0/mlflow/traces/get`: the trace with its spans, as OTel proto JSON
    /// (`{"trace_info": …, "spans": […]}`).
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let trace = client.get_trace("tr-0af7651916cd43dd8448eb211c80319c").await?;
    /// println!("state: {}", trace["trace_info"]["state"]);
    /// for span in trace["spans"].as_array().into_iter().flatten() {
    ///     println!("span {}", span["name"]);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_trace(&self, trace_id: &str) -> Result<Value> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct R {
            trace: Value,
        }
        let r: R = self
            .get(
                "/api/3.0/mlflow/traces/get",
                json!({"trace_id": trace_id, "allow_partial": false}),
            )
            .await?;
        Ok(r.trace)
    }

    /// One page of `traces/search` (v3) over `experiment_ids`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use mlflow_sdk::SearchQuery;
    /// let experiments = vec!["1".to_string()];
    /// let mut q = SearchQuery::new().filter("trace.status = 'ERROR'").max_results(50);
    /// loop {
    ///     let page = client.search_traces_page(&experiments, &q).await?;
    ///     for t in &page.items {
    ///         println!("{} {:?}", t.trace_id, t.request_preview);
    ///     }
    ///     match page.next_page_token {
    ///         Some(token) => q.page_token = Some(token),
    ///         None => break,
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn search_traces_page(
        &self,
        experiment_ids: &[String],
        q: &SearchQuery,
    ) -> Result<Page<TraceInfo>> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct R {
            traces: Vec<TraceInfo>,
            next_page_token: Option<String>,
        }
        let locations: Vec<TraceLocation> = experiment_ids
            .iter()
            .map(TraceLocation::experiment)
            .collect();
        let mut body = json!({"locations": locations, "max_results": q.max_results.unwrap_or(100)});
        if let Some(f) = &q.filter {
            body["filter"] = json!(f);
        }
        if !q.order_by.is_empty() {
            body["order_by"] = json!(q.order_by);
        }
        if let Some(t) = &q.page_token {
            body["page_token"] = json!(t);
        }
        let r: R = self.post("/api/3.0/mlflow/traces/search", body).await?;
        Ok(Page {
            items: r.traces,
            next_page_token: r.next_page_token.filter(|t| !t.is_empty()),
        })
    }

    /// All traces matching `q`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use futures::TryStreamExt;
    /// use mlflow_sdk::{SearchQuery, TraceInfo};
    /// let failed: Vec<TraceInfo> = client
    ///     .search_traces(vec!["1".into()], SearchQuery::new().filter("trace.status = 'ERROR'"))
    ///     .try_collect()
    ///     .await?;
    /// println!("{} failed traces", failed.len());
    /// # Ok(()) }
    /// ```
    pub fn search_traces(
        &self,
        experiment_ids: Vec<String>,
        q: SearchQuery,
    ) -> impl Stream<Item = Result<TraceInfo>> + '_ {
        let first = q.page_token.clone();
        let ids = std::sync::Arc::new(experiment_ids);
        paginate(
            move |token| {
                let mut q = q.clone();
                q.page_token = token;
                let ids = ids.clone();
                async move { self.search_traces_page(&ids, &q).await }
            },
            first,
        )
    }

    /// Sets a trace tag (the v2 path the Python client uses).
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// client
    ///     .set_trace_tag("tr-0af7651916cd43dd8448eb211c80319c", "reviewed", "true")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_trace_tag(&self, trace_id: &str, key: &str, value: &str) -> Result<()> {
        let _: Value = self
            .patch(
                &format!("/api/2.0/mlflow/traces/{trace_id}/tags"),
                json!({"key": key, "value": value}),
            )
            .await?;
        Ok(())
    }

    /// Deletes a trace tag.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// client
    ///     .delete_trace_tag("tr-0af7651916cd43dd8448eb211c80319c", "reviewed")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_trace_tag(&self, trace_id: &str, key: &str) -> Result<()> {
        let _: Value = self
            .delete(
                &format!("/api/2.0/mlflow/traces/{trace_id}/tags"),
                json!({"key": key}),
            )
            .await?;
        Ok(())
    }

    /// Deletes traces by id; returns how many were deleted.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let ids = vec!["tr-0af7651916cd43dd8448eb211c80319c".to_string()];
    /// let deleted = client.delete_traces("1", &ids).await?;
    /// println!("deleted {deleted} traces");
    /// # Ok(()) }
    /// ```
    pub async fn delete_traces(&self, experiment_id: &str, trace_ids: &[String]) -> Result<i64> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct R {
            traces_deleted: i64,
        }
        let r: R = self
            .post(
                "/api/2.0/mlflow/traces/delete-traces",
                json!({"experiment_id": experiment_id, "request_ids": trace_ids}),
            )
            .await?;
        Ok(r.traces_deleted)
    }

    /// Links traces (≤ 100) to a run.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let traces = vec!["tr-0af7651916cd43dd8448eb211c80319c".to_string()];
    /// client
    ///     .link_traces_to_run(&traces, "0123456789abcdef0123456789abcdef")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn link_traces_to_run(&self, trace_ids: &[String], run_id: &str) -> Result<()> {
        if trace_ids.len() > 100 {
            return Err(Error::invalid("at most 100 traces can be linked at once"));
        }
        let _: Value = self
            .post(
                "/api/2.0/mlflow/traces/link-to-run",
                json!({"trace_ids": trace_ids, "run_id": run_id}),
            )
            .await?;
        Ok(())
    }

    /// Links prompt versions (`(name, version)`) to a trace: `POST
    /// /api/2.0/mlflow/traces/link-prompts` records the association (searchable with
    /// `prompt = 'name/version'`), then the trace's `mlflow.linkedPrompts` tag is extended, as
    /// the official `link_prompt_versions_to_trace` does.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// client.link_prompts_to_trace("tr-0123", &[("qa".into(), "1".into())]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn link_prompts_to_trace(
        &self,
        trace_id: &str,
        prompts: &[(String, String)],
    ) -> Result<()> {
        if prompts.is_empty() {
            return Ok(());
        }
        let refs: Vec<Value> = prompts
            .iter()
            .map(|(n, v)| json!({"name": n, "version": v}))
            .collect();
        let _: Value = self
            .post(
                "/api/2.0/mlflow/traces/link-prompts",
                json!({"trace_id": trace_id, "prompt_versions": refs}),
            )
            .await?;
        let info = self.get_trace_info(trace_id).await?;
        let current = info.tags.get(LINKED_PROMPTS_TAG).map(String::as_str);
        if let Some(updated) = linked_prompts_tag(current, prompts)? {
            self.set_trace_tag(trace_id, LINKED_PROMPTS_TAG, &updated)
                .await?;
        }
        Ok(())
    }

    /// Creates an assessment (feedback or expectation) on its `trace_id`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use mlflow_sdk::{Assessment, AssessmentSource};
    /// let feedback = Assessment::feedback(
    ///     "tr-0af7651916cd43dd8448eb211c80319c",
    ///     "correctness",
    ///     serde_json::json!(true),
    ///     AssessmentSource::human("alice"),
    /// );
    /// let stored = client.create_assessment(&feedback).await?;
    /// println!("created {:?}", stored.assessment_id);
    /// # Ok(()) }
    /// ```
    pub async fn create_assessment(&self, assessment: &Assessment) -> Result<Assessment> {
        let r: AssessmentResp = self
            .post(
                &format!("/api/3.0/mlflow/traces/{}/assessments", assessment.trace_id),
                json!({"assessment": assessment}),
            )
            .await?;
        Ok(r.assessment)
    }

    /// Fetches an assessment.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let a = client
    ///     .get_assessment("tr-0af7651916cd43dd8448eb211c80319c", "a-0123456789abcdef")
    ///     .await?;
    /// println!("{} by {}: {:?}", a.assessment_name, a.source.source_id, a.feedback);
    /// # Ok(()) }
    /// ```
    pub async fn get_assessment(&self, trace_id: &str, assessment_id: &str) -> Result<Assessment> {
        let r: AssessmentResp = self
            .get(
                &format!("/api/3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}"),
                json!({}),
            )
            .await?;
        Ok(r.assessment)
    }

    /// Updates an assessment; `update_mask` is e.g. `"feedback,rationale"`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let mut a = client
    ///     .get_assessment("tr-0af7651916cd43dd8448eb211c80319c", "a-0123456789abcdef")
    ///     .await?;
    /// a.rationale = Some("checked against the reference answer".into());
    /// let updated = client.update_assessment(&a, "rationale").await?;
    /// assert_eq!(updated.rationale, a.rationale);
    /// # Ok(()) }
    /// ```
    pub async fn update_assessment(
        &self,
        assessment: &Assessment,
        update_mask: &str,
    ) -> Result<Assessment> {
        let id = assessment
            .assessment_id
            .as_deref()
            .ok_or_else(|| Error::invalid("assessment_id is required to update an assessment"))?;
        let r: AssessmentResp = self
            .patch(
                &format!(
                    "/api/3.0/mlflow/traces/{}/assessments/{id}",
                    assessment.trace_id
                ),
                json!({"assessment": assessment, "update_mask": update_mask}),
            )
            .await?;
        Ok(r.assessment)
    }

    /// Deletes an assessment.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// client
    ///     .delete_assessment("tr-0af7651916cd43dd8448eb211c80319c", "a-0123456789abcdef")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_assessment(&self, trace_id: &str, assessment_id: &str) -> Result<()> {
        let _: Value = self
            .delete(
                &format!("/api/3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}"),
                json!({"trace_id": trace_id, "assessment_id": assessment_id}),
            )
            .await?;
        Ok(())
    }
}

/// Trace tag listing the prompt versions used by a trace (`TraceTagKey.LINKED_PROMPTS`).
pub(crate) const LINKED_PROMPTS_TAG: &str = "mlflow.linkedPrompts";

/// The `mlflow.linkedPrompts` value with `prompts` added (JSON list of `{"name", "version"}`,
/// written like Python's `json.dumps`); `None` when nothing changes.
pub(crate) fn linked_prompts_tag(
    current: Option<&str>,
    prompts: &[(String, String)],
) -> Result<Option<String>> {
    let mut list: Vec<Value> = match current {
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => items,
            _ => {
                return Err(Error::invalid(format!(
                    "Invalid format for '{LINKED_PROMPTS_TAG}' tag: {text}"
                )));
            }
        },
        None => Vec::new(),
    };
    let mut changed = false;
    for (name, version) in prompts {
        let entry = json!({"name": name, "version": version});
        if !list.contains(&entry) {
            list.push(entry);
            changed = true;
        }
    }
    Ok(changed.then(|| crate::prompts::py_json_dumps(&Value::Array(list))))
}
