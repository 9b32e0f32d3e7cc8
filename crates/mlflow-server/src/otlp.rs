//! OTLP/HTTP trace ingest (`POST /v1/traces`): body decoding (protobuf or OTLP/JSON, gzip or
//! deflate) and the conversion of OTel spans into the rows the official store writes
//! (`Span.from_otel_proto` → `translate_span_when_storing` → `json.dumps(span.to_dict())`).
//!
//! Payloads are untrusted: the decompressed size is bounded, ids of the wrong length are
//! rejected, and nothing here panics on malformed input.

use base64::Engine;
use mlflow_domain::traces::PyValue;
use mlflow_store::traces::SpanRow;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span, status,
};
use prost::Message;
use serde_json::Value;
use std::io::Read;

/// Largest decompressed body we accept.
pub const MAX_DECODED: u64 = 128 * 1024 * 1024;
const PREVIEW_MAX: usize = 1000;
const KNOWN_SERVICE_NAMES: [&str; 5] = [
    "claude-code",
    "codex_cli_rs",
    "codex_vscode",
    "gemini-cli",
    "qwen-code",
];

/// An OTLP rejection: HTTP status and FastAPI's `{"detail"}` text.
#[derive(Debug)]
pub struct OtlpError {
    pub status: u16,
    pub detail: String,
}

fn bad(detail: impl Into<String>) -> OtlpError {
    OtlpError {
        status: 400,
        detail: detail.into(),
    }
}

/// Decodes the request body per its content type and encoding.
pub fn decode(
    body: &[u8],
    content_type: Option<&str>,
    content_encoding: Option<&str>,
) -> Result<ExportTraceServiceRequest, OtlpError> {
    let media = content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_owned());
    let is_json = match media.as_deref() {
        Some("application/x-protobuf") => false,
        Some("application/json") => true,
        _ => {
            return Err(bad(format!(
                "Invalid Content-Type: {}. Expected: application/x-protobuf or application/json",
                content_type.unwrap_or("None")
            )));
        }
    };
    let owned;
    let body = match content_encoding.map(str::to_lowercase).as_deref() {
        None | Some("") | Some("identity") => body,
        Some("gzip") => {
            owned = inflate(flate2::read::GzDecoder::new(body))
                .ok_or_else(|| bad("Failed to decompress gzip payload"))?;
            &owned
        }
        Some("deflate") => {
            owned = inflate(flate2::read::ZlibDecoder::new(body))
                .or_else(|| inflate(flate2::read::DeflateDecoder::new(body)))
                .ok_or_else(|| bad("Failed to decompress deflate payload"))?;
            &owned
        }
        Some(other) => return Err(bad(format!("Unsupported Content-Encoding: {other}"))),
    };
    let req = if is_json {
        let v: Value =
            serde_json::from_slice(body).map_err(|_| bad("Invalid OpenTelemetry format"))?;
        request_from_json(&v).ok_or_else(|| bad("Invalid OpenTelemetry format"))?
    } else {
        ExportTraceServiceRequest::decode(body).map_err(|_| bad("Invalid OpenTelemetry format"))?
    };
    if req.resource_spans.is_empty() {
        return Err(bad("Invalid OpenTelemetry format - no spans found"));
    }
    Ok(req)
}

fn inflate(r: impl Read) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut limited = r.take(MAX_DECODED + 1);
    limited.read_to_end(&mut out).ok()?;
    (out.len() as u64 <= MAX_DECODED).then_some(out)
}

// ---------------------------------------------------------------- OTLP/JSON

fn get<'a>(v: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    v.get(camel)
        .or_else(|| v.get(snake))
        .filter(|x| !x.is_null())
}

fn arr<'a>(v: &'a Value, camel: &str, snake: &str) -> &'a [Value] {
    get(v, camel, snake)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn u64_of(v: Option<&Value>) -> Option<u64> {
    match v {
        None => Some(0),
        Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().map(|f| f as u64)),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
}

fn hex_id(v: Option<&Value>) -> Option<Vec<u8>> {
    match v {
        None => Some(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => Some(Vec::new()),
        Some(Value::String(s)) => {
            if s.len() % 2 != 0 || s.len() > 64 {
                return None;
            }
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
                .collect()
        }
        _ => None,
    }
}

fn any_from_json(v: &Value, depth: usize) -> Option<AnyValue> {
    if depth > 64 {
        return None;
    }
    let obj = v.as_object()?;
    let value = if let Some(s) = get(v, "stringValue", "string_value") {
        Some(any_value::Value::StringValue(s.as_str()?.to_owned()))
    } else if let Some(b) = get(v, "boolValue", "bool_value") {
        Some(any_value::Value::BoolValue(b.as_bool()?))
    } else if let Some(i) = get(v, "intValue", "int_value") {
        let n = match i {
            Value::Number(n) => n.as_i64()?,
            Value::String(s) => s.parse().ok()?,
            _ => return None,
        };
        Some(any_value::Value::IntValue(n))
    } else if let Some(d) = get(v, "doubleValue", "double_value") {
        let f = match d {
            Value::Number(n) => n.as_f64()?,
            Value::String(s) => match s.as_str() {
                "NaN" => f64::NAN,
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                s => s.parse().ok()?,
            },
            _ => return None,
        };
        Some(any_value::Value::DoubleValue(f))
    } else if let Some(a) = get(v, "arrayValue", "array_value") {
        let values = arr(a, "values", "values")
            .iter()
            .map(|x| any_from_json(x, depth + 1))
            .collect::<Option<Vec<_>>>()?;
        Some(any_value::Value::ArrayValue(ArrayValue { values }))
    } else if let Some(k) = get(v, "kvlistValue", "kvlist_value") {
        let values = kvs_from_json(arr(k, "values", "values"), depth + 1)?;
        Some(any_value::Value::KvlistValue(KeyValueList { values }))
    } else if let Some(b) = get(v, "bytesValue", "bytes_value") {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b.as_str()?)
            .ok()?;
        Some(any_value::Value::BytesValue(bytes))
    } else {
        let _ = obj;
        None
    };
    Some(AnyValue { value })
}

fn kvs_from_json(items: &[Value], depth: usize) -> Option<Vec<KeyValue>> {
    items
        .iter()
        .map(|kv| {
            Some(KeyValue {
                key: get(kv, "key", "key")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                value: match get(kv, "value", "value") {
                    Some(v) => Some(any_from_json(v, depth)?),
                    None => None,
                },
                ..Default::default()
            })
        })
        .collect()
}

fn span_from_json(s: &Value) -> Option<Span> {
    let status = get(s, "status", "status").map(|st| {
        let code = match get(st, "code", "code") {
            Some(Value::Number(n)) => n.as_i64().unwrap_or(0) as i32,
            Some(Value::String(c)) => match c.as_str() {
                "STATUS_CODE_OK" | "OK" => 1,
                "STATUS_CODE_ERROR" | "ERROR" => 2,
                _ => 0,
            },
            _ => 0,
        };
        Status {
            code,
            message: get(st, "message", "message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        }
    });
    let events = arr(s, "events", "events")
        .iter()
        .map(|e| {
            Some(span::Event {
                time_unix_nano: u64_of(get(e, "timeUnixNano", "time_unix_nano"))?,
                name: get(e, "name", "name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                attributes: kvs_from_json(arr(e, "attributes", "attributes"), 0)?,
                dropped_attributes_count: 0,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let links = arr(s, "links", "links")
        .iter()
        .map(|l| {
            Some(span::Link {
                trace_id: hex_id(get(l, "traceId", "trace_id"))?,
                span_id: hex_id(get(l, "spanId", "span_id"))?,
                attributes: kvs_from_json(arr(l, "attributes", "attributes"), 0)?,
                ..Default::default()
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Span {
        trace_id: hex_id(get(s, "traceId", "trace_id"))?,
        span_id: hex_id(get(s, "spanId", "span_id"))?,
        parent_span_id: hex_id(get(s, "parentSpanId", "parent_span_id"))?,
        name: get(s, "name", "name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        start_time_unix_nano: u64_of(get(s, "startTimeUnixNano", "start_time_unix_nano"))?,
        end_time_unix_nano: u64_of(get(s, "endTimeUnixNano", "end_time_unix_nano"))?,
        attributes: kvs_from_json(arr(s, "attributes", "attributes"), 0)?,
        events,
        links,
        status,
        ..Default::default()
    })
}

fn request_from_json(v: &Value) -> Option<ExportTraceServiceRequest> {
    let mut out = ExportTraceServiceRequest::default();
    for rs in arr(v, "resourceSpans", "resource_spans") {
        let resource = get(rs, "resource", "resource").map(|r| Resource {
            attributes: kvs_from_json(arr(r, "attributes", "attributes"), 0).unwrap_or_default(),
            ..Default::default()
        });
        let mut scope_spans = Vec::new();
        for ss in arr(rs, "scopeSpans", "scope_spans") {
            let spans = arr(ss, "spans", "spans")
                .iter()
                .map(span_from_json)
                .collect::<Option<Vec<_>>>()?;
            scope_spans.push(ScopeSpans {
                spans,
                ..Default::default()
            });
        }
        out.resource_spans.push(ResourceSpans {
            resource,
            scope_spans,
            ..Default::default()
        });
    }
    Some(out)
}

// ---------------------------------------------------------------- conversion

/// `_decode_otel_proto_anyvalue`.
fn py_of(v: Option<&AnyValue>, depth: usize) -> PyValue {
    let Some(inner) = v.and_then(|v| v.value.as_ref()) else {
        return PyValue::Null;
    };
    if depth > 64 {
        return PyValue::Null;
    }
    match inner {
        any_value::Value::StringValue(s) => PyValue::Str(s.clone()),
        any_value::Value::BoolValue(b) => PyValue::Bool(*b),
        any_value::Value::IntValue(i) => PyValue::Int(*i),
        any_value::Value::DoubleValue(f) => PyValue::Float(*f),
        any_value::Value::ArrayValue(a) => {
            PyValue::List(a.values.iter().map(|x| py_of(Some(x), depth + 1)).collect())
        }
        any_value::Value::KvlistValue(kv) => PyValue::Dict(dict_of(&kv.values, depth + 1)),
        // TraceJSONEncoder falls back to str(bytes).
        any_value::Value::BytesValue(b) => PyValue::Str(py_bytes_repr(b)),
        // Dictionary-encoded strings need the request's string table, which we don't keep.
        any_value::Value::StringValueStrindex(_) => PyValue::Null,
    }
}

fn dict_of(kvs: &[KeyValue], depth: usize) -> Vec<(String, PyValue)> {
    let mut out: Vec<(String, PyValue)> = Vec::with_capacity(kvs.len());
    for kv in kvs {
        let v = py_of(kv.value.as_ref(), depth);
        if let Some(slot) = out.iter_mut().find(|(k, _)| *k == kv.key) {
            slot.1 = v;
        } else {
            out.push((kv.key.clone(), v));
        }
    }
    out
}

fn py_bytes_repr(b: &[u8]) -> String {
    let mut s = String::from("b'");
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'\'' => s.push_str("\\'"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('\'');
    s
}

/// Left-pads an id to `n` bytes (Python round-trips ids through an int); longer is invalid.
fn id_bytes(b: &[u8], n: usize) -> Option<Vec<u8>> {
    let trimmed: &[u8] = {
        let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
        &b[first..]
    };
    if trimmed.len() > n {
        return None;
    }
    let mut out = vec![0u8; n - trimmed.len()];
    out.extend_from_slice(trimmed);
    Some(out)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn dumps(v: &PyValue) -> String {
    v.dumps(false)
}

/// `json.loads(s)` when it yields a string, else `s` (`_try_parse_json_string`).
fn try_parse_json_string(s: &str) -> String {
    match PyValue::loads(s) {
        Some(PyValue::Str(x)) => x,
        _ => s.to_owned(),
    }
}

/// `sanitize_attributes`: strips one JSON layer from doubly encoded str/dict/list values.
fn sanitize(v: &str) -> String {
    if let Some(PyValue::Str(inner)) = PyValue::loads(v)
        && matches!(
            PyValue::loads(&inner),
            Some(PyValue::Str(_) | PyValue::Dict(_) | PyValue::List(_))
        )
    {
        return inner;
    }
    v.to_owned()
}

fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn set_attr(attrs: &mut Vec<(String, String)>, key: &str, value: String) {
    if let Some(slot) = attrs.iter_mut().find(|(k, _)| k == key) {
        slot.1 = value;
    } else {
        attrs.push((key.to_owned(), value));
    }
}

/// `_parse_int_attribute`.
fn parse_int_attr(v: &str) -> Option<i64> {
    match PyValue::loads(v) {
        Some(PyValue::Int(i)) => Some(i),
        Some(PyValue::Str(s)) => s.trim().parse().ok(),
        _ => v.trim().parse().ok(),
    }
}

fn decoded_str(v: &str) -> Option<String> {
    match PyValue::loads(v) {
        Some(PyValue::Str(s)) => Some(s),
        Some(_) => None,
        None => Some(v.to_owned()),
    }
}

/// The OpenTelemetry GenAI semantic-convention subset of `translate_span_when_storing`.
fn translate(attrs: &mut Vec<(String, String)>) {
    if let Some(op) = attr(attrs, "gen_ai.operation.name").and_then(decoded_str) {
        let t = match op.as_str() {
            "chat" => Some("CHAT_MODEL"),
            "create_agent" | "invoke_agent" => Some("AGENT"),
            "embeddings" => Some("EMBEDDING"),
            "execute_tool" => Some("TOOL"),
            "generate_content" | "text_completion" | "response" => Some("LLM"),
            _ => None,
        };
        let current = attr(attrs, "mlflow.spanType").and_then(decoded_str);
        if let Some(t) = t
            && matches!(current.as_deref(), None | Some("UNKNOWN"))
        {
            set_attr(attrs, "mlflow.spanType", dumps(&PyValue::Str(t.into())));
        }
    }
    for (target, keys) in [
        (
            "mlflow.spanInputs",
            ["gen_ai.input.messages", "gen_ai.tool.call.arguments"],
        ),
        (
            "mlflow.spanOutputs",
            ["gen_ai.output.messages", "gen_ai.tool.call.result"],
        ),
    ] {
        if attr(attrs, target).is_none()
            && let Some(v) = keys
                .iter()
                .find_map(|k| attr(attrs, k).filter(|v| !v.is_empty()))
        {
            let v = v.to_owned();
            set_attr(attrs, target, v);
        }
    }
    if attr(attrs, "mlflow.chat.tokenUsage").is_none() {
        let i = attr(attrs, "gen_ai.usage.input_tokens").and_then(parse_int_attr);
        let o = attr(attrs, "gen_ai.usage.output_tokens").and_then(parse_int_attr);
        if i.is_some() || o.is_some() {
            let mut usage = Vec::new();
            if let Some(i) = i {
                usage.push(("input_tokens".to_owned(), PyValue::Int(i)));
            }
            if let Some(o) = o {
                usage.push(("output_tokens".to_owned(), PyValue::Int(o)));
            }
            if let (Some(i), Some(o)) = (i, o) {
                usage.push(("total_tokens".to_owned(), PyValue::Int(i.saturating_add(o))));
            }
            if let Some(c) =
                attr(attrs, "gen_ai.usage.cache_read.input_tokens").and_then(parse_int_attr)
            {
                usage.push(("cache_read_input_tokens".to_owned(), PyValue::Int(c)));
            }
            if let Some(c) = attr(attrs, "gen_ai.usage.cache_write.input_tokens")
                .or_else(|| attr(attrs, "gen_ai.usage.cache_creation.input_tokens"))
                .and_then(parse_int_attr)
            {
                usage.push(("cache_creation_input_tokens".to_owned(), PyValue::Int(c)));
            }
            set_attr(
                attrs,
                "mlflow.chat.tokenUsage",
                dumps(&PyValue::Dict(usage)),
            );
        }
    }
    if attr(attrs, "mlflow.llm.model").is_none() {
        let from_keys = ["gen_ai.response.model", "gen_ai.request.model"]
            .iter()
            .find_map(|k| attr(attrs, k).filter(|v| !v.is_empty()))
            .map(try_parse_json_string);
        let from_io = || {
            ["mlflow.spanInputs", "mlflow.spanOutputs"]
                .iter()
                .find_map(|k| {
                    let v = PyValue::loads(attr(attrs, k)?)?;
                    v.get("model").and_then(PyValue::as_str).map(str::to_owned)
                })
                .filter(|m| !m.is_empty())
        };
        if let Some(m) = from_keys.filter(|m| !m.is_empty()).or_else(from_io) {
            set_attr(attrs, "mlflow.llm.model", dumps(&PyValue::Str(m)));
        }
    }
    if attr(attrs, "mlflow.llm.provider").is_none()
        && let Some(p) = attr(attrs, "gen_ai.provider.name")
            .filter(|v| !v.is_empty())
            .map(try_parse_json_string)
    {
        set_attr(attrs, "mlflow.llm.provider", dumps(&PyValue::Str(p)));
    }
}

/// `_get_truncated_preview` (message extraction for chat payloads included).
fn preview(raw: &str, role: &str) -> String {
    let obj = PyValue::loads(raw);
    let mut content: Option<String> = None;
    if let Some(PyValue::Dict(_)) = &obj {
        let o = obj.as_ref();
        let messages = o.and_then(|o| o.get("messages")).and_then(|m| match m {
            PyValue::List(xs) if !xs.is_empty() => Some(xs.clone()),
            _ => None,
        });
        let messages = messages.or_else(|| {
            let choices = o?.get("choices")?;
            match choices {
                PyValue::List(cs) if !cs.is_empty() => Some(
                    cs.iter()
                        .filter_map(|c| c.get("message").cloned())
                        .collect(),
                ),
                _ => None,
            }
        });
        if let Some(ms) = messages
            && let Some(m) = ms.iter().rev().find(|m| {
                m.get("role").and_then(PyValue::as_str) == Some(role) && m.get("content").is_some()
            })
        {
            content = match m.get("content") {
                Some(PyValue::Str(s)) => Some(s.clone()),
                Some(PyValue::List(parts)) => {
                    let texts: Vec<&str> = parts
                        .iter()
                        .filter(|p| p.get("type").and_then(PyValue::as_str) == Some("text"))
                        .filter_map(|p| p.get("text").and_then(PyValue::as_str))
                        .collect();
                    (!texts.is_empty()).then(|| texts.join("\n"))
                }
                _ => None,
            };
        }
    }
    let content = content
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| raw.to_owned());
    if content.chars().count() <= PREVIEW_MAX {
        content
    } else {
        let mut s: String = content.chars().take(PREVIEW_MAX - 3).collect();
        s.push_str("...");
        s
    }
}

/// Converts a decoded request into span rows. `Err` means a span could not be converted
/// (the official 422 "Cannot convert OpenTelemetry span to MLflow span").
pub fn to_rows(req: &ExportTraceServiceRequest) -> Result<Vec<SpanRow>, OtlpError> {
    let cannot = || OtlpError {
        status: 422,
        detail: "Cannot convert OpenTelemetry span to MLflow span".into(),
    };
    let mut rows = Vec::new();
    for rs in &req.resource_spans {
        let resource_attrs: Vec<(String, PyValue)> = rs
            .resource
            .as_ref()
            .map(|r| dict_of(&r.attributes, 0))
            .unwrap_or_default();
        let known_service = resource_attrs
            .iter()
            .find(|(k, _)| k == "service.name")
            .and_then(|(_, v)| v.as_str())
            .filter(|s| KNOWN_SERVICE_NAMES.contains(s))
            .map(str::to_owned);
        let resource_tags: Vec<(String, String)> = resource_attrs
            .iter()
            .filter(|(k, _)| !k.starts_with("telemetry.sdk.") && !k.starts_with("mlflow."))
            .filter(|(k, _)| !k.is_empty() && k.len() <= 250)
            .map(|(k, v)| {
                let s = match v {
                    PyValue::Str(s) => s.clone(),
                    other => other.dumps(true),
                };
                (k.clone(), s)
            })
            .filter(|(_, v)| v.chars().count() <= 8000)
            .collect();
        for ss in &rs.scope_spans {
            for sp in &ss.spans {
                let mut row = convert(sp, known_service.as_deref()).ok_or_else(cannot)?;
                row.resource_tags = resource_tags.clone();
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

fn convert(sp: &Span, known_service: Option<&str>) -> Option<SpanRow> {
    if sp.trace_id.is_empty() || sp.span_id.is_empty() {
        return None;
    }
    let trace_bytes = id_bytes(&sp.trace_id, 16)?;
    let span_bytes = id_bytes(&sp.span_id, 8)?;
    let parent_bytes = if sp.parent_span_id.is_empty() {
        None
    } else {
        Some(id_bytes(&sp.parent_span_id, 8)?)
    };
    let trace_id = format!("tr-{}", hex(&trace_bytes));
    // Attributes, each JSON-encoded once (`dump_span_attribute_value`); the request id is
    // always the one derived from the OTel trace id.
    let mut original: Vec<(String, String)> = dict_of(&sp.attributes, 0)
        .into_iter()
        .map(|(k, v)| (k, dumps(&v)))
        .collect();
    set_attr(
        &mut original,
        "mlflow.traceRequestId",
        dumps(&PyValue::Str(trace_id.clone())),
    );
    if parent_bytes.is_none()
        && let Some(svc) = known_service
    {
        set_attr(
            &mut original,
            "service.name",
            dumps(&PyValue::Str(svc.into())),
        );
    }
    let span_type = attr(&original, "mlflow.spanType").and_then(|v| match PyValue::loads(v) {
        Some(PyValue::Str(s)) => Some(s),
        _ => None,
    });
    let mut attrs: Vec<(String, String)> = original
        .iter()
        .map(|(k, v)| (k.clone(), sanitize(v)))
        .collect();
    translate(&mut attrs);

    let code = sp.status.as_ref().map(|s| s.code).unwrap_or(0);
    let (status, code_name) = match status::StatusCode::try_from(code) {
        Ok(status::StatusCode::Ok) => ("OK", "STATUS_CODE_OK"),
        Ok(status::StatusCode::Error) => ("ERROR", "STATUS_CODE_ERROR"),
        _ => ("UNSET", "STATUS_CODE_UNSET"),
    };
    let message = if status == "ERROR" {
        sp.status
            .as_ref()
            .map(|s| s.message.clone())
            .unwrap_or_default()
    } else {
        String::new()
    };
    let start = i64::try_from(sp.start_time_unix_nano).ok()?;
    let end = i64::try_from(sp.end_time_unix_nano).ok()?;

    let events = PyValue::List(
        sp.events
            .iter()
            .map(|e| {
                PyValue::Dict(vec![
                    ("name".into(), PyValue::Str(e.name.clone())),
                    (
                        "time_unix_nano".into(),
                        PyValue::Int(i64::try_from(e.time_unix_nano).unwrap_or(i64::MAX)),
                    ),
                    (
                        "attributes".into(),
                        PyValue::Dict(dict_of(&e.attributes, 0)),
                    ),
                ])
            })
            .collect(),
    );
    let links = PyValue::List(
        sp.links
            .iter()
            .filter_map(|l| {
                let lt = id_bytes(&l.trace_id, 16)?;
                let ls = id_bytes(&l.span_id, 8)?;
                let attrs: Vec<(String, PyValue)> = l
                    .attributes
                    .iter()
                    .map(|kv| {
                        let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                            Some(any_value::Value::BytesValue(b)) => PyValue::Str(b64(b)),
                            _ => py_of(kv.value.as_ref(), 0),
                        };
                        (kv.key.clone(), v)
                    })
                    .collect();
                Some(PyValue::Dict(vec![
                    ("trace_id".into(), PyValue::Str(format!("tr-{}", hex(&lt)))),
                    ("span_id".into(), PyValue::Str(hex(&ls))),
                    (
                        "attributes".into(),
                        if attrs.is_empty() {
                            PyValue::Null
                        } else {
                            PyValue::Dict(attrs)
                        },
                    ),
                ]))
            })
            .collect(),
    );
    let content = PyValue::Dict(vec![
        ("trace_id".into(), PyValue::Str(b64(&trace_bytes))),
        ("span_id".into(), PyValue::Str(b64(&span_bytes))),
        (
            "parent_span_id".into(),
            parent_bytes
                .as_ref()
                .map_or(PyValue::Null, |p| PyValue::Str(b64(p))),
        ),
        ("name".into(), PyValue::Str(sp.name.clone())),
        ("start_time_unix_nano".into(), PyValue::Int(start)),
        ("end_time_unix_nano".into(), PyValue::Int(end)),
        ("events".into(), events),
        (
            "status".into(),
            PyValue::Dict(vec![
                ("code".into(), PyValue::Str(code_name.into())),
                ("message".into(), PyValue::Str(message)),
            ]),
        ),
        (
            "attributes".into(),
            PyValue::Dict(
                attrs
                    .iter()
                    .map(|(k, v)| (k.clone(), PyValue::Str(v.clone())))
                    .collect(),
            ),
        ),
        ("links".into(), links),
    ])
    .dumps(false);

    let dict_attr = |key: &str| -> Option<PyValue> {
        PyValue::loads(attr(&attrs, key)?).filter(|v| matches!(v, PyValue::Dict(_)))
    };
    let cost = dict_attr("mlflow.llm.cost");
    let cost_of = |k: &str| {
        cost.as_ref()
            .and_then(|c| c.get(k))
            .and_then(mlflow_domain::traces::finite_float)
    };
    let bounded = |key: &str| -> Option<String> {
        let v = attr(&attrs, key)?;
        match PyValue::loads(v) {
            Some(PyValue::Str(s)) => Some(s.chars().take(500).collect()),
            Some(_) => None,
            None => Some(v.chars().take(500).collect()),
        }
    };
    let is_root = parent_bytes.is_none();
    let session_id = attr(&attrs, "session.id")
        .filter(|v| !v.is_empty())
        .or_else(|| attr(&attrs, "gen_ai.conversation.id").filter(|v| !v.is_empty()))
        .map(try_parse_json_string)
        .filter(|s| !s.is_empty() && s.chars().count() <= 250);
    let user_id = attr(&attrs, "user.id")
        .filter(|v| !v.is_empty())
        .map(try_parse_json_string);
    let mut trace_tags = Vec::new();
    let mut request_preview = None;
    let mut response_preview = None;
    if is_root {
        for (k, v) in &attrs {
            if let Some(tag) = k.strip_prefix("mlflow.traceTag.") {
                let value = try_parse_json_string(v);
                if tag.is_empty() || tag.len() > 250 || value.chars().count() > 8000 {
                    continue;
                }
                trace_tags.push((tag.to_owned(), value));
            }
        }
        request_preview = attr(&attrs, "mlflow.spanInputs")
            .filter(|v| !v.is_empty())
            .map(|v| preview(v, "user"));
        response_preview = attr(&attrs, "mlflow.spanOutputs")
            .filter(|v| !v.is_empty())
            .map(|v| preview(v, "assistant"));
    }
    Some(SpanRow {
        trace_id,
        span_id: hex(&span_bytes),
        parent_span_id: parent_bytes.as_ref().map(|p| hex(p)),
        name: sp.name.clone(),
        span_type,
        status: status.into(),
        start_time_ns: start,
        end_time_ns: Some(end),
        content,
        input_cost: cost_of("input_cost"),
        output_cost: cost_of("output_cost"),
        total_cost: cost_of("total_cost"),
        model_name: bounded("mlflow.llm.model"),
        model_provider: bounded("mlflow.llm.provider"),
        usage: dict_attr("mlflow.chat.tokenUsage"),
        cost,
        session_id,
        user_id,
        trace_tags,
        request_preview,
        response_preview,
        resource_tags: Vec::new(),
    })
}

// ---------------------------------------------------------------- reads (OTel proto JSON)

fn any_json(v: &PyValue, depth: usize) -> Value {
    use serde_json::json;
    if depth > 64 {
        return json!({});
    }
    match v {
        PyValue::Null => json!({}),
        PyValue::Bool(b) => json!({"bool_value": b}),
        PyValue::Int(i) => json!({"int_value": i}),
        PyValue::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => json!({"double_value": n}),
            None => json!({"double_value": mlflow_domain::traces::py_float_repr(*f)}),
        },
        PyValue::Str(s) => json!({"string_value": s}),
        PyValue::List(xs) => {
            json!({"array_value": {"values": xs.iter().map(|x| any_json(x, depth + 1)).collect::<Vec<_>>()}})
        }
        PyValue::Dict(kv) => {
            json!({"kvlist_value": {"values": kv.iter().map(|(k, v)| json!({"key": k, "value": any_json(v, depth + 1)})).collect::<Vec<_>>()}})
        }
    }
}

fn b64_to_bytes(v: Option<&PyValue>) -> Option<Vec<u8>> {
    let s = v?.as_str()?;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .ok()
        .or_else(|| {
            // 3.5.0 stored hex ids (`tr-…` trace ids, plain hex span ids).
            let h = s.strip_prefix("tr-").unwrap_or(s);
            (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
                .collect()
        })
}

/// A stored span (`content`) as an OpenTelemetry proto `Span` in JSON (`Span.to_otel_proto`),
/// the shape `traces/get` and `traces/batchGet` return. `None` for unreadable content.
pub fn span_content_to_otel_json(content: &str) -> Option<Value> {
    use serde_json::{Map, json};
    let d = PyValue::loads(content)?;
    let mut m = Map::new();
    m.insert(
        "trace_id".into(),
        json!(b64(&id_bytes(&b64_to_bytes(d.get("trace_id"))?, 16)?)),
    );
    m.insert(
        "span_id".into(),
        json!(b64(&id_bytes(&b64_to_bytes(d.get("span_id"))?, 8)?)),
    );
    if let Some(p) = b64_to_bytes(d.get("parent_span_id")).filter(|p| !p.is_empty()) {
        m.insert("parent_span_id".into(), json!(b64(&p)));
    }
    m.insert(
        "name".into(),
        json!(d.get("name").and_then(PyValue::as_str).unwrap_or_default()),
    );
    let int = |k: &str| match d.get(k) {
        Some(PyValue::Int(i)) => Some(*i),
        Some(PyValue::Float(f)) => Some(*f as i64),
        Some(PyValue::Str(s)) => s.parse().ok(),
        _ => None,
    };
    m.insert(
        "start_time_unix_nano".into(),
        json!(int("start_time_unix_nano").unwrap_or(0)),
    );
    if let Some(e) = int("end_time_unix_nano").filter(|e| *e != 0) {
        m.insert("end_time_unix_nano".into(), json!(e));
    }
    let mut attrs = Vec::new();
    if let Some(PyValue::Dict(kv)) = d.get("attributes") {
        for (k, v) in kv {
            // `get_all()` decodes every attribute from its JSON text.
            let decoded = match v {
                PyValue::Str(s) => PyValue::loads(s).unwrap_or_else(|| PyValue::Str(s.clone())),
                other => other.clone(),
            };
            attrs.push(json!({"key": k, "value": any_json(&decoded, 0)}));
        }
    }
    if !attrs.is_empty() {
        m.insert("attributes".into(), Value::Array(attrs));
    }
    if let Some(PyValue::List(evs)) = d.get("events")
        && !evs.is_empty()
    {
        let evs: Vec<Value> = evs
            .iter()
            .map(|e| {
                let mut em = Map::new();
                let t = match e.get("time_unix_nano") {
                    Some(PyValue::Int(i)) => *i,
                    _ => 0,
                };
                if t != 0 {
                    em.insert("time_unix_nano".into(), json!(t));
                }
                em.insert(
                    "name".into(),
                    json!(e.get("name").and_then(PyValue::as_str).unwrap_or_default()),
                );
                if let Some(PyValue::Dict(kv)) = e.get("attributes")
                    && !kv.is_empty()
                {
                    em.insert(
                        "attributes".into(),
                        Value::Array(
                            kv.iter()
                                .map(|(k, v)| json!({"key": k, "value": any_json(v, 0)}))
                                .collect(),
                        ),
                    );
                }
                Value::Object(em)
            })
            .collect();
        m.insert("events".into(), Value::Array(evs));
    }
    if let Some(PyValue::List(links)) = d.get("links")
        && !links.is_empty()
    {
        let ls: Vec<Value> = links
            .iter()
            .filter_map(|l| {
                let tid = l.get("trace_id")?.as_str()?;
                let th = tid.strip_prefix("tr-").unwrap_or(tid);
                let sid = l.get("span_id")?.as_str()?;
                let tb: Vec<u8> = (0..th.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(th.get(i..i + 2)?, 16).ok())
                    .collect::<Option<_>>()?;
                let sb: Vec<u8> = (0..sid.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(sid.get(i..i + 2)?, 16).ok())
                    .collect::<Option<_>>()?;
                let mut lm = Map::new();
                lm.insert("trace_id".into(), json!(b64(&id_bytes(&tb, 16)?)));
                lm.insert("span_id".into(), json!(b64(&id_bytes(&sb, 8)?)));
                if let Some(PyValue::Dict(kv)) = l.get("attributes")
                    && !kv.is_empty()
                {
                    lm.insert(
                        "attributes".into(),
                        Value::Array(
                            kv.iter()
                                .map(|(k, v)| json!({"key": k, "value": any_json(v, 0)}))
                                .collect(),
                        ),
                    );
                }
                Some(Value::Object(lm))
            })
            .collect();
        m.insert("links".into(), Value::Array(ls));
    }
    let st = d.get("status");
    let code = st
        .and_then(|s| s.get("code"))
        .and_then(PyValue::as_str)
        .unwrap_or("STATUS_CODE_UNSET");
    let code = match code {
        "OK" => "STATUS_CODE_OK",
        "ERROR" => "STATUS_CODE_ERROR",
        "UNSET" => "STATUS_CODE_UNSET",
        c => c,
    };
    let mut sm = Map::new();
    if code != "STATUS_CODE_UNSET" {
        sm.insert("code".into(), json!(code));
    }
    if let Some(msg) = st
        .and_then(|s| s.get("message"))
        .and_then(PyValue::as_str)
        .filter(|m| !m.is_empty())
    {
        sm.insert("message".into(), json!(msg));
    }
    m.insert("status".into(), Value::Object(sm));
    Some(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_strips_one_layer() {
        assert_eq!(sanitize("\"\\\"LLM\\\"\""), "\"LLM\"");
        assert_eq!(sanitize("\"hello\""), "\"hello\"");
        assert_eq!(sanitize("\"1\""), "\"1\"");
        assert_eq!(sanitize("{\"a\": 1}"), "{\"a\": 1}");
    }

    #[test]
    fn preview_truncates() {
        let long = "x".repeat(1500);
        assert_eq!(preview(&long, "user").chars().count(), 1000);
        assert_eq!(
            preview(
                r#"{"messages": [{"role": "user", "content": "hi"}]}"#,
                "user"
            ),
            "hi"
        );
    }
}
