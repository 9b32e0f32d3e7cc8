//! Tracing API handlers: OTLP ingest (`/v1/traces`), trace infos (v3 and the v2 fallbacks),
//! traces with spans, search, tags, deletes, run and prompt links, and assessments.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Msg, required};
use crate::otlp;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use mlflow_domain::Error;
use mlflow_domain::serde_util::{opt_i64, opt_string, string_list};
use mlflow_domain::traces::{Assessment, AssessmentValue, PyValue, TraceInfo};
use mlflow_store::traces::{AssessmentUpdate, SearchTraces, TraceWithSpans};
use serde::Deserialize;
use serde_json::{Value, json};

type JsonResult = ApiResult<Json<Value>>;

const MAX_OTLP_BODY: usize = 64 * 1024 * 1024;

/// `/v1/traces`, relative to the static prefix.
pub fn otlp_routes() -> axum::Router<AppState> {
    axum::Router::new().route(
        "/v1/traces",
        post(otlp_export).layer(DefaultBodyLimit::max(MAX_OTLP_BODY)),
    )
}

/// The 3.0 tracing RPCs, relative to `/api/3.0/mlflow`.
pub fn v3_routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/traces", post(start_trace_v3))
        .route("/traces/get", get(get_trace))
        .route("/traces/batchGet", get(batch_get_traces))
        .route("/traces/batchGetInfos", post(batch_get_trace_infos))
        .route("/traces/search", post(search_traces_v3))
        .route("/storage-report", get(crate::retention::storage_report))
        .route("/traces/delete-traces", post(delete_traces))
        .route("/traces/{trace_id}", get(get_trace_info_v3))
        .route(
            "/traces/{trace_id}/tags",
            patch(set_trace_tag).delete(delete_trace_tag),
        )
        .route("/traces/{trace_id}/assessments", post(create_assessment))
        .route(
            "/traces/{trace_id}/assessments/{assessment_id}",
            get(get_assessment)
                .patch(update_assessment)
                .delete(delete_assessment),
        )
}

/// The 2.0 tracing RPCs the 3.x client can still call, relative to `/api/2.0/mlflow`.
pub fn v2_routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/traces", get(search_traces_v2))
        .route("/traces/{request_id}/info", get(get_trace_info_v2))
        .route(
            "/traces/{request_id}/tags",
            patch(set_trace_tag).delete(delete_trace_tag),
        )
        .route("/traces/delete-traces", post(delete_traces))
        .route("/traces/link-to-run", post(link_traces_to_run))
        .route("/traces/link-prompts", post(link_prompts_to_trace))
        .route("/get-trace-artifact", get(get_trace_artifact))
}

fn detail(status: u16, detail: Value) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (code, Json(json!({ "detail": detail }))).into_response()
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// `POST /v1/traces` (OTLP/HTTP).
pub async fn otlp_export(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(experiment_id) = header_str(&headers, "x-mlflow-experiment-id") else {
        return detail(
            422,
            json!([{"type": "missing", "loc": ["header", "x-mlflow-experiment-id"], "msg": "Field required", "input": null}]),
        );
    };
    let req = match otlp::decode(
        &body,
        header_str(&headers, "content-type"),
        header_str(&headers, "content-encoding"),
    ) {
        Ok(r) => r,
        Err(e) => return detail(e.status, json!(e.detail)),
    };
    let rows = match otlp::to_rows(&req) {
        Ok(r) => r,
        Err(e) => return detail(e.status, json!(e.detail)),
    };
    let mut completed: Vec<String> = rows
        .iter()
        .filter(|r| r.parent_span_id.is_none())
        .map(|r| r.trace_id.clone())
        .collect();
    completed.sort();
    completed.dedup();
    if !rows.is_empty() {
        if let Err(e) = s.traces.log_spans(experiment_id, rows).await {
            return ApiError(e).into_response();
        }
        if let Some(run_id) = header_str(&headers, "x-mlflow-run-id").filter(|r| !r.is_empty())
            && !completed.is_empty()
            && let Err(e) = s.traces.link_traces_to_run(&completed, run_id).await
        {
            tracing::warn!(error = %e, "failed to link OpenTelemetry traces to MLflow run");
        }
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        Vec::<u8>::new(),
    )
        .into_response()
}

fn trace_json(t: &TraceWithSpans) -> Value {
    let spans: Vec<Value> = t
        .spans
        .iter()
        .filter_map(|c| otlp::span_content_to_otel_json(c))
        .collect();
    json!({"trace_info": t.info.to_v3_json(), "spans": spans})
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StartTraceV3 {
    trace: Option<Value>,
}

/// `StartTraceV3`
pub async fn start_trace_v3(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<StartTraceV3>,
) -> JsonResult {
    let trace = r.trace.ok_or_else(|| ApiError(Error::missing("trace")))?;
    let info_json = trace
        .get("trace_info")
        .or_else(|| trace.get("traceInfo"))
        .cloned()
        .unwrap_or_else(|| json!({}));
    let info = TraceInfo::from_v3_json(&info_json)?;
    let stored = s.traces.start_trace(info).await?;
    Ok(Json(json!({"trace": {"trace_info": stored.to_v3_json()}})))
}

/// `GetTraceInfoV3`
pub async fn get_trace_info_v3(
    State(s): State<AppState>,
    Path(trace_id): Path<String>,
) -> JsonResult {
    let info = s.traces.get_trace_info(&trace_id).await?;
    Ok(Json(json!({"trace": {"trace_info": info.to_v3_json()}})))
}

/// `GetTraceInfo` (v2)
pub async fn get_trace_info_v2(
    State(s): State<AppState>,
    Path(request_id): Path<String>,
) -> JsonResult {
    let info = s.traces.get_trace_info(&request_id).await?;
    Ok(Json(json!({"trace_info": info.to_v2_json()})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GetTrace {
    #[serde(alias = "traceId", deserialize_with = "opt_string")]
    trace_id: Option<String>,
    /// mlflow-rs extension: return at most this many spans and a `next_span_page_token`.
    #[serde(alias = "spanPageSize", deserialize_with = "opt_i64")]
    span_page_size: Option<i64>,
    /// mlflow-rs extension: continue after the page this token came from.
    #[serde(alias = "spanPageToken", deserialize_with = "opt_string")]
    span_page_token: Option<String>,
}

/// Spans per database round trip when streaming a whole trace.
const STREAM_PAGE: i64 = 2000;

/// Streams `head`, then every span of `trace_id` (each through `render`, comma separated),
/// then `tail`, reading the spans page by page: memory stays bounded for any trace size.
fn stream_spans(
    traces: std::sync::Arc<dyn mlflow_store::TraceStore>,
    trace_id: String,
    head: String,
    tail: &'static str,
    render: fn(&str) -> Option<String>,
) -> Response {
    struct St {
        traces: std::sync::Arc<dyn mlflow_store::TraceStore>,
        trace_id: String,
        head: Option<String>,
        token: Option<String>,
        first: bool,
        done: bool,
    }
    let st = St {
        traces,
        trace_id,
        head: Some(head),
        token: None,
        first: true,
        done: false,
    };
    let stream = futures::stream::unfold(st, move |mut st| async move {
        if let Some(h) = st.head.take() {
            return Some((Ok::<Bytes, std::io::Error>(Bytes::from(h)), st));
        }
        if st.done {
            return None;
        }
        let page = match st
            .traces
            .get_span_page(&st.trace_id, st.token.as_deref(), STREAM_PAGE)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                st.done = true;
                return Some((Err(std::io::Error::other(e.message)), st));
            }
        };
        let mut buf = String::new();
        for c in &page.items {
            if let Some(v) = render(c) {
                if !st.first {
                    buf.push_str(", ");
                }
                st.first = false;
                buf.push_str(&v);
            }
        }
        match page.next_page_token {
            Some(t) => st.token = Some(t),
            None => {
                buf.push_str(tail);
                st.done = true;
            }
        }
        Some((Ok(Bytes::from(buf)), st))
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

fn otel_span_text(content: &str) -> Option<String> {
    otlp::span_content_to_otel_json(content).map(|v| v.to_string())
}

/// `GetTrace` (trace with spans). The spans are streamed from the database page by page, so
/// a trace of any size is served in bounded memory. With `span_page_size` (mlflow-rs
/// extension) one page of spans is returned with `next_span_page_token`.
pub async fn get_trace(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<GetTrace>,
) -> Result<Response, ApiError> {
    let id = required(&r.trace_id, "trace_id")?;
    let info = s.traces.get_trace_info(id).await?;
    if r.span_page_size.is_some() || r.span_page_token.is_some() {
        let page = s
            .traces
            .get_span_page(
                id,
                r.span_page_token.as_deref(),
                r.span_page_size.unwrap_or(1000),
            )
            .await?;
        // Written as text span by span: no JSON tree of the whole page is built.
        let mut body = format!(
            "{{\"trace\": {{\"trace_info\": {}, \"spans\": [",
            info.to_v3_json()
        );
        let mut first = true;
        for c in &page.items {
            if let Some(v) = otel_span_text(c) {
                if !first {
                    body.push_str(", ");
                }
                first = false;
                body.push_str(&v);
            }
        }
        body.push_str("]}");
        if let Some(t) = page.next_page_token {
            body.push_str(&format!(", \"next_span_page_token\": {}", json!(t)));
        }
        body.push('}');
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response());
    }
    let head = format!(
        "{{\"trace\": {{\"trace_info\": {}, \"spans\": [",
        info.to_v3_json()
    );
    Ok(stream_spans(
        s.traces.clone(),
        id.to_owned(),
        head,
        "]}}",
        otel_span_text,
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TraceIds {
    #[serde(alias = "traceIds", deserialize_with = "string_list")]
    trace_ids: Vec<String>,
}

/// `BatchGetTraces`
pub async fn batch_get_traces(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<TraceIds>,
) -> JsonResult {
    if r.trace_ids.is_empty() {
        return Err(ApiError(Error::missing("trace_ids")));
    }
    let ts = s.traces.batch_get_traces(&r.trace_ids).await?;
    Ok(Json(
        json!({"traces": ts.iter().map(trace_json).collect::<Vec<_>>()}),
    ))
}

/// `BatchGetTraceInfos`
pub async fn batch_get_trace_infos(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<TraceIds>,
) -> JsonResult {
    if r.trace_ids.is_empty() {
        return Err(ApiError(Error::missing("trace_ids")));
    }
    let ts = s.traces.batch_get_traces(&r.trace_ids).await?;
    Ok(Json(
        json!({"trace_infos": ts.iter().map(|t| t.info.to_v3_json()).collect::<Vec<_>>()}),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchTracesV3 {
    locations: Option<Vec<Value>>,
    #[serde(deserialize_with = "opt_string")]
    filter: Option<String>,
    #[serde(alias = "maxResults", deserialize_with = "opt_i64")]
    max_results: Option<i64>,
    #[serde(alias = "orderBy", deserialize_with = "string_list")]
    order_by: Vec<String>,
    #[serde(alias = "pageToken", deserialize_with = "opt_string")]
    page_token: Option<String>,
}

/// `SearchTracesV3`
pub async fn search_traces_v3(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<SearchTracesV3>,
) -> JsonResult {
    let locations = r
        .locations
        .ok_or_else(|| ApiError(Error::missing("locations")))?;
    if let Some(m) = r.max_results
        && m > 500
    {
        return Err(ApiError(Error::invalid(format!(
            "Invalid value {m} for parameter 'max_results' supplied. It must be at most 500"
        ))));
    }
    let experiment_ids: Vec<String> = locations
        .iter()
        .filter_map(|l| {
            let e = l
                .get("mlflow_experiment")
                .or_else(|| l.get("mlflowExperiment"))?;
            let id = e.get("experiment_id").or_else(|| e.get("experimentId"))?;
            match id {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        })
        .collect();
    let page = s
        .traces
        .search_traces(&SearchTraces {
            experiment_ids,
            filter: r.filter.unwrap_or_default(),
            max_results: r.max_results.unwrap_or(100),
            order_by: r.order_by,
            page_token: r.page_token.filter(|t| !t.is_empty()),
        })
        .await?;
    let mut out =
        json!({"traces": page.items.iter().map(TraceInfo::to_v3_json).collect::<Vec<_>>()});
    if let Some(t) = page.next_page_token {
        out["next_page_token"] = json!(t);
    }
    Ok(Json(out))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchTracesV2 {
    #[serde(alias = "experimentIds", deserialize_with = "string_list")]
    experiment_ids: Vec<String>,
    #[serde(deserialize_with = "opt_string")]
    filter: Option<String>,
    #[serde(alias = "maxResults", deserialize_with = "opt_i64")]
    max_results: Option<i64>,
    #[serde(alias = "orderBy", deserialize_with = "string_list")]
    order_by: Vec<String>,
    #[serde(alias = "pageToken", deserialize_with = "opt_string")]
    page_token: Option<String>,
}

/// `SearchTraces` (v2)
pub async fn search_traces_v2(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<SearchTracesV2>,
) -> JsonResult {
    let page = s
        .traces
        .search_traces(&SearchTraces {
            experiment_ids: r.experiment_ids,
            filter: r.filter.unwrap_or_default(),
            max_results: r.max_results.unwrap_or(100),
            order_by: r.order_by,
            page_token: r.page_token.filter(|t| !t.is_empty()),
        })
        .await?;
    let mut out =
        json!({"traces": page.items.iter().map(TraceInfo::to_v2_json).collect::<Vec<_>>()});
    if let Some(t) = page.next_page_token {
        out["next_page_token"] = json!(t);
    }
    Ok(Json(out))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteTraces {
    #[serde(alias = "experimentId", deserialize_with = "opt_string")]
    experiment_id: Option<String>,
    #[serde(alias = "maxTimestampMillis", deserialize_with = "opt_i64")]
    max_timestamp_millis: Option<i64>,
    #[serde(alias = "maxTraces", deserialize_with = "opt_i64")]
    max_traces: Option<i64>,
    #[serde(
        alias = "requestIds",
        alias = "trace_ids",
        deserialize_with = "string_list"
    )]
    request_ids: Vec<String>,
}

/// `DeleteTraces` / `DeleteTracesV3`
pub async fn delete_traces(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<DeleteTraces>,
) -> JsonResult {
    let exp = required(&r.experiment_id, "experiment_id")?;
    let n = s
        .traces
        .delete_traces(exp, r.max_timestamp_millis, r.max_traces, &r.request_ids)
        .await?;
    Ok(Json(json!({"traces_deleted": n})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TraceTag {
    #[serde(deserialize_with = "opt_string")]
    key: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    value: Option<String>,
}

/// `SetTraceTag` / `SetTraceTagV3`
pub async fn set_trace_tag(
    State(s): State<AppState>,
    Path(trace_id): Path<String>,
    Msg { value: r, .. }: Msg<TraceTag>,
) -> JsonResult {
    let key = required(&r.key, "key")?;
    if key == "mlflow.trace.spansLocation" || key == "mlflow.artifactLocation" {
        return Err(ApiError(Error::invalid(format!(
            "Tag '{key}' is reserved and cannot be set."
        ))));
    }
    s.traces
        .set_trace_tag(&trace_id, key, r.value.as_deref().unwrap_or(""))
        .await?;
    Ok(Json(json!({})))
}

/// `DeleteTraceTag` / `DeleteTraceTagV3`
pub async fn delete_trace_tag(
    State(s): State<AppState>,
    Path(trace_id): Path<String>,
    Msg { value: r, .. }: Msg<TraceTag>,
) -> JsonResult {
    let key = required(&r.key, "key")?;
    s.traces.delete_trace_tag(&trace_id, key).await?;
    Ok(Json(json!({})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LinkTracesToRun {
    #[serde(alias = "traceIds", deserialize_with = "string_list")]
    trace_ids: Vec<String>,
    #[serde(alias = "runId", deserialize_with = "opt_string")]
    run_id: Option<String>,
}

/// `LinkTracesToRun`
pub async fn link_traces_to_run(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<LinkTracesToRun>,
) -> JsonResult {
    if r.trace_ids.is_empty() {
        return Err(ApiError(Error::missing("trace_ids")));
    }
    let run = required(&r.run_id, "run_id")?;
    s.traces.link_traces_to_run(&r.trace_ids, run).await?;
    Ok(Json(json!({})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LinkPromptsToTrace {
    #[serde(alias = "traceId")]
    trace_id: Option<Value>,
    /// `[{"name": ..., "version": ...}]` (`PromptVersionRef`, both strings on the wire).
    #[serde(alias = "promptVersions")]
    prompt_versions: Option<Value>,
}

/// Python's `type(value).__name__` for a decoded JSON value.
fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// `json.dumps(value, sort_keys=True, separators=(",", ":"))`, as `invalid_value` shows it.
fn py_dumps(v: &Value) -> String {
    match v {
        Value::String(s) => mlflow_domain::validation::py_json_str(s),
        Value::Array(a) => format!("[{}]", a.iter().map(py_dumps).collect::<Vec<_>>().join(",")),
        Value::Object(o) => {
            let mut kv: Vec<(&String, &Value)> = o.iter().collect();
            kv.sort_by(|a, b| a.0.cmp(b.0));
            let items: Vec<String> = kv
                .into_iter()
                .map(|(k, v)| {
                    format!(
                        "{}:{}",
                        mlflow_domain::validation::py_json_str(k),
                        py_dumps(v)
                    )
                })
                .collect();
            format!("{{{}}}", items.join(","))
        }
        other => other.to_string(),
    }
}

/// The schema's type-validator failure (`_assert_string`, `_assert_array`).
fn wrong_type(param: &str, v: &Value) -> ApiError {
    ApiError(mlflow_domain::validation::invalid_value(
        param,
        &py_dumps(v),
        Some(&format!(
            " Hint: Value was of type '{}'. See the API docs for more information about \
             request parameters.",
            py_type(v)
        )),
    ))
}

/// `LinkPromptsToTrace`: links prompt versions to a trace through `entity_associations`. The
/// server does not touch the `mlflow.linkedPrompts` tag; the client sets it itself.
pub async fn link_prompts_to_trace(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<LinkPromptsToTrace>,
) -> JsonResult {
    // The official schema is `trace_id: [_assert_string, _assert_required]` and
    // `prompt_versions: [_assert_array, _assert_required]`; the type checks only run when the
    // body does not parse as the proto (a non-string where a string belongs, ...).
    let string_or_absent =
        |v: Option<&Value>| matches!(v, None | Some(Value::Null | Value::String(_)));
    let proto_ok = string_or_absent(r.trace_id.as_ref())
        && match &r.prompt_versions {
            None => true,
            Some(Value::Array(items)) => items.iter().all(|i| {
                i.as_object().is_some_and(|o| {
                    string_or_absent(o.get("name")) && string_or_absent(o.get("version"))
                })
            }),
            Some(_) => false,
        };
    let null = Value::Null;
    let trace_id = match &r.trace_id {
        Some(Value::String(t)) if !t.is_empty() => t.as_str(),
        Some(Value::String(_)) => return Err(ApiError(Error::missing("trace_id"))),
        None if proto_ok => return Err(ApiError(Error::missing("trace_id"))),
        other => return Err(wrong_type("trace_id", other.as_ref().unwrap_or(&null))),
    };
    let items = match &r.prompt_versions {
        Some(Value::Array(items)) => items,
        None if proto_ok => return Err(ApiError(Error::missing("prompt_versions"))),
        other => {
            return Err(wrong_type(
                "prompt_versions",
                other.as_ref().unwrap_or(&null),
            ));
        }
    };
    // The official handler builds `PromptVersion(name, int(version))`: the ID it links is
    // `name/<int>`. A version that is not an integer is a 500 there; here it is a 400.
    let mut versions = Vec::with_capacity(items.len());
    for item in items {
        let field = |k: &str| item.get(k).filter(|v| !v.is_null());
        let name = match field("name") {
            Some(Value::String(n)) => n.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let version = match field("version") {
            Some(Value::String(v)) => v.trim().parse::<i64>().ok(),
            Some(Value::Number(n)) => n.as_i64(),
            _ => None,
        };
        let Some(version) = version else {
            return Err(ApiError(mlflow_domain::validation::invalid_value(
                "prompt_versions",
                &py_dumps(field("version").unwrap_or(&null)),
                Some(&format!(
                    "the version of prompt '{name}' must be an integer."
                )),
            )));
        };
        versions.push((name, version));
    }
    s.traces.link_prompts_to_trace(trace_id, &versions).await?;
    Ok(Json(json!({})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GetTraceArtifact {
    #[serde(deserialize_with = "opt_string")]
    request_id: Option<String>,
}

/// `GET get-trace-artifact`: the spans of a trace as `traces.json` (UI).
pub async fn get_trace_artifact(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<GetTraceArtifact>,
) -> Result<Response, ApiError> {
    let Some(id) = r.request_id.filter(|x| !x.is_empty()) else {
        return Err(ApiError(Error::new(
            mlflow_domain::ErrorCode::BadRequest,
            "Request must include the \"request_id\" query parameter.",
        )));
    };
    s.traces.get_trace_info(&id).await?;
    Ok(stream_spans(
        s.traces.clone(),
        id,
        "{\"spans\": [".to_owned(),
        "]}",
        |c| Some(c.to_owned()),
    ))
}

// ---------------------------------------------------------------- assessments

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AssessmentMsg {
    assessment: Option<Value>,
    #[serde(alias = "updateMask", deserialize_with = "opt_string")]
    update_mask: Option<String>,
}

/// `CreateAssessment`
pub async fn create_assessment(
    State(s): State<AppState>,
    Path(trace_id): Path<String>,
    Msg { value: r, .. }: Msg<AssessmentMsg>,
) -> JsonResult {
    let v = r
        .assessment
        .ok_or_else(|| ApiError(Error::missing("assessment")))?;
    let mut a = Assessment::from_json(&v)?;
    if a.trace_id.is_empty() {
        a.trace_id = trace_id;
    }
    let created = s.traces.create_assessment(a).await?;
    Ok(Json(json!({"assessment": created.to_json()})))
}

/// `GetAssessmentRequest`
pub async fn get_assessment(
    State(s): State<AppState>,
    Path((trace_id, assessment_id)): Path<(String, String)>,
) -> JsonResult {
    let a = s.traces.get_assessment(&trace_id, &assessment_id).await?;
    Ok(Json(json!({"assessment": a.to_json()})))
}

/// `UpdateAssessment`: only the fields named in `update_mask` change.
pub async fn update_assessment(
    State(s): State<AppState>,
    Path((trace_id, assessment_id)): Path<(String, String)>,
    Msg { value: r, .. }: Msg<AssessmentMsg>,
) -> JsonResult {
    let v = r
        .assessment
        .ok_or_else(|| ApiError(Error::missing("assessment")))?;
    let mask = r
        .update_mask
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError(Error::missing("update_mask")))?;
    let parsed_value = Assessment::from_json(&v).ok();
    let mut u = AssessmentUpdate::default();
    for path in mask.split(',').map(str::trim) {
        match path {
            "assessmentName" | "assessment_name" => {
                u.name = v
                    .get("assessment_name")
                    .or_else(|| v.get("assessmentName"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
            "rationale" => {
                u.rationale = v
                    .get("rationale")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
            "metadata" => {
                u.metadata = v.get("metadata").and_then(Value::as_object).map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            let s = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                            (k.clone(), s)
                        })
                        .collect()
                });
            }
            "feedback" => {
                if let Some(Assessment {
                    value: AssessmentValue::Feedback { value, error },
                    ..
                }) = &parsed_value
                {
                    u.feedback = Some((value.clone(), error.clone()));
                } else {
                    u.feedback = Some((PyValue::Null, None));
                }
            }
            "expectation" => {
                if let Some(Assessment {
                    value: AssessmentValue::Expectation { value },
                    ..
                }) = &parsed_value
                {
                    u.expectation = Some(value.clone());
                } else {
                    u.expectation = Some(PyValue::Null);
                }
            }
            _ => {}
        }
    }
    let a = s
        .traces
        .update_assessment(&trace_id, &assessment_id, u)
        .await?;
    Ok(Json(json!({"assessment": a.to_json()})))
}

/// `DeleteAssessment`
pub async fn delete_assessment(
    State(s): State<AppState>,
    Path((trace_id, assessment_id)): Path<(String, String)>,
) -> JsonResult {
    s.traces
        .delete_assessment(&trace_id, &assessment_id)
        .await?;
    Ok(Json(json!({})))
}
