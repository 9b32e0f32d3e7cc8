//! GenAI tracing wire types: `TraceInfoV3`, assessments, the stored span form, and the
//! Python-compatible JSON encoder the official store uses for span content and assessment
//! values (so rows written by either server read back identically on the other).

use crate::{Error, Result};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::fmt;

// ------------------------------------------------------------------ python-style JSON

/// A JSON value that keeps object key order and the int/float distinction, like Python's
/// `json.loads` result; [`PyValue::dumps`] renders it exactly like `json.dumps`.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<PyValue>),
    Dict(Vec<(String, PyValue)>),
}

impl PyValue {
    /// Parses JSON text keeping key order (`json.loads`).
    pub fn loads(s: &str) -> Option<PyValue> {
        serde_json::from_str(s).ok()
    }

    /// `json.dumps(value, ensure_ascii=...)` with the default separators.
    pub fn dumps(&self, ensure_ascii: bool) -> String {
        let mut out = String::new();
        self.write(&mut out, ensure_ascii, 0);
        out
    }

    fn write(&self, out: &mut String, ascii: bool, depth: usize) {
        if depth > 256 {
            out.push_str("null");
            return;
        }
        match self {
            PyValue::Null => out.push_str("null"),
            PyValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            PyValue::Int(i) => out.push_str(&i.to_string()),
            PyValue::Float(f) => out.push_str(&py_float_repr(*f)),
            PyValue::Str(s) => write_py_str(out, s, ascii),
            PyValue::List(xs) => {
                out.push('[');
                for (i, x) in xs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    x.write(out, ascii, depth + 1);
                }
                out.push(']');
            }
            PyValue::Dict(kv) => {
                out.push('{');
                for (i, (k, v)) in kv.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_py_str(out, k, ascii);
                    out.push_str(": ");
                    v.write(out, ascii, depth + 1);
                }
                out.push('}');
            }
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            PyValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&PyValue> {
        match self {
            PyValue::Dict(kv) => kv.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Python truthiness.
    pub fn truthy(&self) -> bool {
        match self {
            PyValue::Null => false,
            PyValue::Bool(b) => *b,
            PyValue::Int(i) => *i != 0,
            PyValue::Float(f) => *f != 0.0,
            PyValue::Str(s) => !s.is_empty(),
            PyValue::List(x) => !x.is_empty(),
            PyValue::Dict(x) => !x.is_empty(),
        }
    }

    /// To a serde value (object key order is lost; only for responses).
    pub fn to_json(&self) -> Value {
        match self {
            PyValue::Null => Value::Null,
            PyValue::Bool(b) => Value::Bool(*b),
            PyValue::Int(i) => json!(i),
            PyValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(py_float_repr(*f))),
            PyValue::Str(s) => Value::String(s.clone()),
            PyValue::List(xs) => Value::Array(xs.iter().map(PyValue::to_json).collect()),
            PyValue::Dict(kv) => {
                Value::Object(kv.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    /// From a serde value (what a `google.protobuf.Value` becomes through `MessageToDict`:
    /// every number is a float).
    pub fn from_proto_value(v: &Value) -> PyValue {
        match v {
            Value::Null => PyValue::Null,
            Value::Bool(b) => PyValue::Bool(*b),
            Value::Number(n) => PyValue::Float(n.as_f64().unwrap_or(0.0)),
            Value::String(s) => PyValue::Str(s.clone()),
            Value::Array(xs) => PyValue::List(xs.iter().map(PyValue::from_proto_value).collect()),
            Value::Object(m) => PyValue::Dict(
                m.iter()
                    .map(|(k, v)| (k.clone(), PyValue::from_proto_value(v)))
                    .collect(),
            ),
        }
    }

    /// As a `google.protobuf.Value` in JSON (numbers become doubles).
    pub fn to_proto_value(&self) -> Value {
        match self {
            PyValue::Int(i) => json!(*i as f64),
            PyValue::List(xs) => Value::Array(xs.iter().map(PyValue::to_proto_value).collect()),
            PyValue::Dict(kv) => Value::Object(
                kv.iter()
                    .map(|(k, v)| (k.clone(), v.to_proto_value()))
                    .collect(),
            ),
            other => other.to_json(),
        }
    }
}

impl<'de> Deserialize<'de> for PyValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PyValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> std::result::Result<PyValue, E> {
                Ok(PyValue::Null)
            }
            fn visit_none<E>(self) -> std::result::Result<PyValue, E> {
                Ok(PyValue::Null)
            }
            fn visit_bool<E>(self, b: bool) -> std::result::Result<PyValue, E> {
                Ok(PyValue::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> std::result::Result<PyValue, E> {
                Ok(PyValue::Int(i))
            }
            fn visit_u64<E>(self, u: u64) -> std::result::Result<PyValue, E> {
                Ok(i64::try_from(u).map_or(PyValue::Float(u as f64), PyValue::Int))
            }
            fn visit_f64<E>(self, f: f64) -> std::result::Result<PyValue, E> {
                Ok(PyValue::Float(f))
            }
            fn visit_str<E>(self, s: &str) -> std::result::Result<PyValue, E> {
                Ok(PyValue::Str(s.to_owned()))
            }
            fn visit_string<E>(self, s: String) -> std::result::Result<PyValue, E> {
                Ok(PyValue::Str(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<PyValue, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = seq.next_element()? {
                    out.push(x);
                }
                Ok(PyValue::List(out))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<PyValue, A::Error> {
                let mut out: Vec<(String, PyValue)> = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, PyValue>()? {
                    // A repeated key keeps its first position and the last value, as a dict.
                    if let Some(slot) = out.iter_mut().find(|(ek, _)| *ek == k) {
                        slot.1 = v;
                    } else {
                        out.push((k, v));
                    }
                }
                Ok(PyValue::Dict(out))
            }
        }
        d.deserialize_any(V).map_err(de::Error::custom)
    }
}

/// Python's `repr(float)` (what `json.dumps` writes), including `NaN`/`Infinity`.
pub fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let a = f.abs();
    if (1e-4..1e16).contains(&a) {
        let s = format!("{f}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        let s = format!("{f:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    }
}

fn write_py_str(out: &mut String, s: &str, ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `json.dumps(str)` with the default `ensure_ascii=True`.
pub fn py_dumps_str(s: &str) -> String {
    let mut out = String::new();
    write_py_str(&mut out, s, true);
    out
}

// ------------------------------------------------------------------ timestamps

/// Milliseconds since the epoch as a proto `Timestamp` JSON string (`2024-01-02T03:04:05.678Z`).
pub fn ms_to_timestamp(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let base = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
    if millis == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{millis:03}Z")
    }
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses a proto `Timestamp` JSON string (RFC 3339, `Z` or an offset) to milliseconds.
pub fn timestamp_to_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 20
        || b.get(4) != Some(&b'-')
        || b.get(10).map(|c| c.to_ascii_uppercase()) != Some(b'T')
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<i64>().ok());
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    let mut frac_ms = 0i64;
    if let Some(r) = rest.strip_prefix('.') {
        let digits: String = r.chars().take_while(char::is_ascii_digit).collect();
        rest = &r[digits.len()..];
        let padded = format!("{digits:0<3}");
        frac_ms = padded.get(0..3)?.parse().ok()?;
    }
    let offset_s = if rest.eq_ignore_ascii_case("z") {
        0
    } else {
        let sign = match rest.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let oh: i64 = rest.get(1..3)?.parse().ok()?;
        let om: i64 = rest.get(4..6)?.parse().ok()?;
        sign * (oh * 3600 + om * 60)
    };
    let days = days_from_civil(y, mo, d);
    Some((days * 86_400 + h * 3600 + mi * 60 + se - offset_s) * 1000 + frac_ms)
}

/// Milliseconds as a proto `Duration` JSON string (`0.124s`, `2s`).
pub fn ms_to_duration(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let a = ms.unsigned_abs();
    if a.is_multiple_of(1000) {
        format!("{sign}{}s", a / 1000)
    } else {
        format!("{sign}{}.{:03}s", a / 1000, a % 1000)
    }
}

/// Parses a proto `Duration` JSON string (`1.5s`) to milliseconds.
pub fn duration_to_ms(s: &str) -> Option<i64> {
    let body = s.trim().strip_suffix('s')?;
    let (neg, body) = match body.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, body),
    };
    let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let padded = format!("{frac:0<3}");
    let ms: i64 = padded.get(0..3)?.parse().ok()?;
    let v = whole.checked_mul(1000)?.checked_add(ms)?;
    Some(if neg { -v } else { v })
}

// ------------------------------------------------------------------ trace info

/// Reserved keys.
pub mod keys {
    pub const TRACE_NAME: &str = "mlflow.traceName";
    pub const ARTIFACT_LOCATION: &str = "mlflow.artifactLocation";
    pub const SPANS_LOCATION: &str = "mlflow.trace.spansLocation";
    pub const INFO_FINALIZED: &str = "mlflow.trace.infoFinalized";
    pub const TRACE_SESSION: &str = "mlflow.trace.session";
    pub const TRACE_USER: &str = "mlflow.trace.user";
    pub const TOKEN_USAGE: &str = "mlflow.trace.tokenUsage";
    pub const COST: &str = "mlflow.trace.cost";
    pub const SOURCE_RUN: &str = "mlflow.sourceRun";
    pub const LINKED_PROMPTS: &str = "mlflow.linkedPrompts";
    pub const TRACE_TAG_PREFIX: &str = "mlflow.traceTag.";
}

/// Token-usage keys and their `trace_info` columns, in the official order.
pub const TOKEN_COLUMNS: [(&str, &str); 6] = [
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("total_tokens", "total_tokens"),
    ("cache_read_input_tokens", "cache_read_input_tokens"),
    ("cache_creation_input_tokens", "cache_creation_input_tokens"),
    (
        "cache_creation_input_tokens_above_1hr",
        "cache_creation_input_tokens_above_1hr",
    ),
];
/// Cost keys and their columns.
pub const COST_COLUMNS: [(&str, &str); 3] = [
    ("input_cost", "input_cost"),
    ("output_cost", "output_cost"),
    ("total_cost", "total_cost"),
];

/// The analytics columns of `trace_info` (session, tokens, cost).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceAnalytics {
    pub session_id: Option<String>,
    pub tokens: [Option<i64>; 6],
    pub costs: [Option<f64>; 3],
}

/// `token_count_or_none`: an integral number in the i64 range.
pub fn token_count(v: &PyValue) -> Option<i64> {
    match v {
        PyValue::Int(i) => Some(*i),
        PyValue::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.2e18 => {
            Some(*f as i64)
        }
        PyValue::Str(s) => s.trim().parse::<i64>().ok().or_else(|| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && f.fract() == 0.0 && f.abs() < 9.2e18)
                .map(|f| f as i64)
        }),
        _ => None,
    }
}

/// `finite_float_or_none`.
pub fn finite_float(v: &PyValue) -> Option<f64> {
    let f = match v {
        PyValue::Int(i) => *i as f64,
        PyValue::Float(f) => *f,
        PyValue::Str(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    f.is_finite().then_some(f)
}

fn json_object(s: &str) -> Option<PyValue> {
    PyValue::loads(s).filter(|v| matches!(v, PyValue::Dict(_)))
}

impl TraceAnalytics {
    /// `analytics_columns_from_metadata`: only the groups present in `metadata` are `Some`.
    /// Returns (session given, tokens given, cost given) flags with the values.
    pub fn from_metadata(md: &BTreeMap<String, String>) -> (Self, [bool; 3]) {
        let mut a = TraceAnalytics::default();
        let mut given = [false; 3];
        if let Some(s) = md.get(keys::TRACE_SESSION) {
            a.session_id = Some(s.clone());
            given[0] = true;
        }
        if let Some(s) = md.get(keys::TOKEN_USAGE) {
            given[1] = true;
            if let Some(obj) = json_object(s) {
                for (i, (k, _)) in TOKEN_COLUMNS.iter().enumerate() {
                    a.tokens[i] = obj.get(k).and_then(token_count);
                }
            }
        }
        if let Some(s) = md.get(keys::COST) {
            given[2] = true;
            if let Some(obj) = json_object(s) {
                for (i, (k, _)) in COST_COLUMNS.iter().enumerate() {
                    a.costs[i] = obj.get(k).and_then(finite_float);
                }
            }
        }
        (a, given)
    }

    /// `compatibility_metadata_from_columns`.
    pub fn to_metadata(&self, md: &mut BTreeMap<String, String>) {
        if let Some(s) = &self.session_id {
            md.insert(keys::TRACE_SESSION.into(), s.clone());
        }
        let tokens: Vec<(String, PyValue)> = TOKEN_COLUMNS
            .iter()
            .zip(self.tokens.iter())
            .filter_map(|((k, _), v)| v.map(|v| (k.to_string(), PyValue::Int(v))))
            .collect();
        if !tokens.is_empty() {
            md.insert(keys::TOKEN_USAGE.into(), PyValue::Dict(tokens).dumps(true));
        }
        let costs: Vec<(String, PyValue)> = COST_COLUMNS
            .iter()
            .zip(self.costs.iter())
            .filter_map(|((k, _), v)| v.map(|v| (k.to_string(), PyValue::Float(v))))
            .collect();
        if !costs.is_empty() {
            md.insert(keys::COST.into(), PyValue::Dict(costs).dumps(true));
        }
    }
}

/// `mlflow.entities.TraceInfo`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceInfo {
    pub trace_id: String,
    pub client_request_id: Option<String>,
    pub experiment_id: String,
    pub request_time: i64,
    pub execution_duration: Option<i64>,
    /// `OK`, `ERROR`, `IN_PROGRESS`, `STATE_UNSPECIFIED`.
    pub state: String,
    pub request_preview: Option<String>,
    pub response_preview: Option<String>,
    pub trace_metadata: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub assessments: Vec<Assessment>,
}

fn str_map(v: Option<&Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(Value::Object(m)) = v {
        for (k, v) in m {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            out.insert(k.clone(), s);
        }
    }
    out
}

fn opt_str(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn field<'a>(v: &'a Value, snake: &str, camel: &str) -> Option<&'a Value> {
    v.get(snake)
        .or_else(|| v.get(camel))
        .filter(|v| !v.is_null())
}

impl TraceInfo {
    /// Parses a `TraceInfoV3` JSON message (snake_case or lowerCamelCase).
    pub fn from_v3_json(v: &Value) -> Result<TraceInfo> {
        let loc = field(v, "trace_location", "traceLocation");
        let experiment_id = loc
            .and_then(|l| field(l, "mlflow_experiment", "mlflowExperiment"))
            .and_then(|e| opt_str(field(e, "experiment_id", "experimentId")))
            .unwrap_or_default();
        let request_time = match field(v, "request_time", "requestTime") {
            Some(Value::String(s)) => timestamp_to_ms(s)
                .ok_or_else(|| Error::invalid(format!("Invalid timestamp '{s}'")))?,
            _ => 0,
        };
        let execution_duration = match field(v, "execution_duration", "executionDuration") {
            Some(Value::String(s)) => Some(
                duration_to_ms(s)
                    .ok_or_else(|| Error::invalid(format!("Invalid duration '{s}'")))?,
            ),
            _ => None,
        };
        let state = match field(v, "state", "state") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(1) => "OK".into(),
                Some(2) => "ERROR".into(),
                Some(3) => "IN_PROGRESS".into(),
                _ => "STATE_UNSPECIFIED".into(),
            },
            _ => "STATE_UNSPECIFIED".into(),
        };
        let trace_id = opt_str(field(v, "trace_id", "traceId")).unwrap_or_default();
        let mut assessments = Vec::new();
        if let Some(Value::Array(xs)) = field(v, "assessments", "assessments") {
            for a in xs {
                let mut a = Assessment::from_json(a)?;
                if a.trace_id.is_empty() {
                    a.trace_id = trace_id.clone();
                }
                assessments.push(a);
            }
        }
        Ok(TraceInfo {
            trace_id,
            client_request_id: opt_str(field(v, "client_request_id", "clientRequestId")),
            experiment_id,
            request_time,
            execution_duration,
            state,
            request_preview: opt_str(field(v, "request_preview", "requestPreview")),
            response_preview: opt_str(field(v, "response_preview", "responsePreview")),
            trace_metadata: str_map(field(v, "trace_metadata", "traceMetadata")),
            tags: str_map(field(v, "tags", "tags")),
            assessments,
        })
    }

    /// `TraceInfo.to_proto()` as JSON.
    pub fn to_v3_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("trace_id".into(), json!(self.trace_id));
        if let Some(c) = &self.client_request_id {
            m.insert("client_request_id".into(), json!(c));
        }
        m.insert(
            "trace_location".into(),
            json!({"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": self.experiment_id}}),
        );
        m.insert(
            "request_time".into(),
            json!(ms_to_timestamp(self.request_time)),
        );
        if let Some(d) = self.execution_duration {
            m.insert("execution_duration".into(), json!(ms_to_duration(d)));
        }
        m.insert("state".into(), json!(self.state));
        if !self.trace_metadata.is_empty() {
            m.insert("trace_metadata".into(), json!(self.trace_metadata));
        }
        if !self.assessments.is_empty() {
            m.insert(
                "assessments".into(),
                Value::Array(self.assessments.iter().map(Assessment::to_json).collect()),
            );
        }
        if !self.tags.is_empty() {
            m.insert("tags".into(), json!(self.tags));
        }
        if let Some(p) = &self.request_preview {
            m.insert("request_preview".into(), json!(p));
        }
        if let Some(p) = &self.response_preview {
            m.insert("response_preview".into(), json!(p));
        }
        Value::Object(m)
    }

    /// The legacy v2 `TraceInfo` JSON.
    pub fn to_v2_json(&self) -> Value {
        let kv = |m: &BTreeMap<String, String>| -> Value {
            Value::Array(
                m.iter()
                    .map(|(k, v)| json!({"key": k, "value": v}))
                    .collect(),
            )
        };
        let status = match self.state.as_str() {
            "OK" | "ERROR" | "IN_PROGRESS" => self.state.as_str(),
            _ => "TRACE_STATUS_UNSPECIFIED",
        };
        let mut m = Map::new();
        m.insert("request_id".into(), json!(self.trace_id));
        m.insert("experiment_id".into(), json!(self.experiment_id));
        m.insert("timestamp_ms".into(), json!(self.request_time));
        if let Some(d) = self.execution_duration {
            m.insert("execution_time_ms".into(), json!(d));
        }
        m.insert("status".into(), json!(status));
        m.insert("request_metadata".into(), kv(&self.trace_metadata));
        m.insert("tags".into(), kv(&self.tags));
        Value::Object(m)
    }
}

// ------------------------------------------------------------------ assessments

/// `mlflow.assessments.AssessmentError`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssessmentError {
    pub error_code: String,
    pub error_message: Option<String>,
    pub stack_trace: Option<String>,
}

const STACK_TRACE_MAX: usize = 1000;
const STACK_TRACE_PREFIX: &str = "[Stack trace is truncated]\n...\n";

impl AssessmentError {
    /// `to_dictionary()` dumped by `json.dumps` (the `error` column).
    pub fn to_column(&self) -> String {
        let opt = |v: &Option<String>| v.clone().map_or(PyValue::Null, PyValue::Str);
        PyValue::Dict(vec![
            ("error_code".into(), PyValue::Str(self.error_code.clone())),
            ("error_message".into(), opt(&self.error_message)),
            ("stack_trace".into(), opt(&self.stack_trace)),
        ])
        .dumps(true)
    }

    pub fn from_column(s: &str) -> Option<Self> {
        let v = PyValue::loads(s)?;
        let g = |k: &str| v.get(k).and_then(PyValue::as_str).map(str::to_owned);
        Some(AssessmentError {
            error_code: g("error_code").unwrap_or_default(),
            error_message: g("error_message"),
            stack_trace: g("stack_trace"),
        })
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("error_code".into(), json!(self.error_code));
        if let Some(x) = self.error_message.as_ref().filter(|x| !x.is_empty()) {
            m.insert("error_message".into(), json!(x));
        }
        if let Some(x) = self.stack_trace.as_ref().filter(|x| !x.is_empty()) {
            let chars: Vec<char> = x.chars().collect();
            let st = if chars.len() > STACK_TRACE_MAX {
                let keep = STACK_TRACE_MAX - STACK_TRACE_PREFIX.len();
                let tail: String = chars[chars.len() - keep..].iter().collect();
                format!("{STACK_TRACE_PREFIX}{tail}")
            } else {
                x.clone()
            };
            m.insert("stack_trace".into(), json!(st));
        }
        Value::Object(m)
    }

    fn from_json(v: &Value) -> Self {
        AssessmentError {
            error_code: opt_str(field(v, "error_code", "errorCode")).unwrap_or_default(),
            error_message: opt_str(field(v, "error_message", "errorMessage")),
            stack_trace: opt_str(field(v, "stack_trace", "stackTrace")),
        }
    }
}

/// The value oneof of an assessment.
#[derive(Debug, Clone, PartialEq)]
pub enum AssessmentValue {
    Feedback {
        value: PyValue,
        error: Option<AssessmentError>,
    },
    Expectation {
        value: PyValue,
    },
    Issue {
        issue_name: String,
    },
}

impl AssessmentValue {
    /// The `assessment_type` column.
    pub fn kind(&self) -> &'static str {
        match self {
            AssessmentValue::Feedback { .. } => "feedback",
            AssessmentValue::Expectation { .. } => "expectation",
            AssessmentValue::Issue { .. } => "issue",
        }
    }

    /// The `value` column: `json.dumps(value)`.
    pub fn value_column(&self) -> String {
        match self {
            AssessmentValue::Feedback { value, .. } | AssessmentValue::Expectation { value } => {
                value.dumps(true)
            }
            AssessmentValue::Issue { issue_name } => PyValue::Dict(vec![(
                "issue_name".into(),
                PyValue::Str(issue_name.clone()),
            )])
            .dumps(true),
        }
    }

    /// `assessment_aggregate(value)`: (aggregate_value, is_numeric_value).
    pub fn aggregate(&self) -> (Option<f64>, bool) {
        let v = match self {
            AssessmentValue::Feedback { value, .. } | AssessmentValue::Expectation { value } => {
                value
            }
            AssessmentValue::Issue { .. } => return (None, false),
        };
        match v {
            PyValue::Bool(b) => (Some(if *b { 1.0 } else { 0.0 }), false),
            PyValue::Int(i) => (Some(*i as f64), true),
            PyValue::Float(f) if f.is_finite() => (Some(*f), true),
            PyValue::Str(s) => match s.trim().to_lowercase().as_str() {
                "yes" => (Some(1.0), false),
                "no" => (Some(0.0), false),
                _ => (None, false),
            },
            _ => (None, false),
        }
    }
}

/// `mlflow.assessments.Assessment`.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub assessment_id: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: Option<String>,
    pub source_type: String,
    pub source_id: Option<String>,
    pub create_time_ms: Option<i64>,
    pub last_update_time_ms: Option<i64>,
    pub value: AssessmentValue,
    pub rationale: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub overrides: Option<String>,
    pub valid: Option<bool>,
    pub run_id: Option<String>,
}

impl Assessment {
    /// Parses an `Assessment` JSON message (`Assessment.from_proto`).
    pub fn from_json(v: &Value) -> Result<Assessment> {
        let value = if let Some(fb) = field(v, "feedback", "feedback") {
            AssessmentValue::Feedback {
                value: fb
                    .get("value")
                    .map(PyValue::from_proto_value)
                    .unwrap_or(PyValue::Null),
                error: fb
                    .get("error")
                    .filter(|e| e.is_object())
                    .map(AssessmentError::from_json),
            }
        } else if let Some(ex) = field(v, "expectation", "expectation") {
            if let Some(sv) = field(ex, "serialized_value", "serializedValue") {
                let fmt = opt_str(field(sv, "serialization_format", "serializationFormat"))
                    .unwrap_or_default();
                if fmt != "JSON_FORMAT" {
                    return Err(Error::invalid(format!(
                        "Unknown serialization format: {fmt}. Only JSON_FORMAT is supported."
                    )));
                }
                let raw = opt_str(sv.get("value")).unwrap_or_default();
                let value = PyValue::loads(&raw).ok_or_else(|| {
                    Error::invalid(format!(
                        "Failed to parse serialized expectation value: {raw}"
                    ))
                })?;
                AssessmentValue::Expectation { value }
            } else {
                AssessmentValue::Expectation {
                    value: ex
                        .get("value")
                        .map(PyValue::from_proto_value)
                        .unwrap_or(PyValue::Null),
                }
            }
        } else if let Some(is) = field(v, "issue", "issue") {
            AssessmentValue::Issue {
                issue_name: opt_str(field(is, "issue_name", "issueName")).unwrap_or_default(),
            }
        } else {
            return Err(Error::invalid("Unknown assessment type: None"));
        };
        let source = field(v, "source", "source");
        let ts = |snake: &str, camel: &str| -> Result<Option<i64>> {
            match field(v, snake, camel) {
                Some(Value::String(s)) => timestamp_to_ms(s)
                    .map(Some)
                    .ok_or_else(|| Error::invalid(format!("Invalid timestamp '{s}'"))),
                _ => Ok(None),
            }
        };
        let metadata = match field(v, "metadata", "metadata") {
            Some(m @ Value::Object(o)) if !o.is_empty() => Some(str_map(Some(m))),
            _ => None,
        };
        Ok(Assessment {
            assessment_id: opt_str(field(v, "assessment_id", "assessmentId")).unwrap_or_default(),
            name: opt_str(field(v, "assessment_name", "assessmentName")).unwrap_or_default(),
            trace_id: opt_str(field(v, "trace_id", "traceId")).unwrap_or_default(),
            span_id: opt_str(field(v, "span_id", "spanId")).filter(|s| !s.is_empty()),
            source_type: source
                .and_then(|s| opt_str(field(s, "source_type", "sourceType")))
                .unwrap_or_else(|| "SOURCE_TYPE_UNSPECIFIED".into()),
            source_id: source.and_then(|s| opt_str(field(s, "source_id", "sourceId"))),
            create_time_ms: ts("create_time", "createTime")?,
            last_update_time_ms: ts("last_update_time", "lastUpdateTime")?,
            value,
            rationale: opt_str(field(v, "rationale", "rationale")).filter(|s| !s.is_empty()),
            metadata,
            overrides: opt_str(field(v, "overrides", "overrides")).filter(|s| !s.is_empty()),
            valid: field(v, "valid", "valid").and_then(Value::as_bool),
            run_id: opt_str(field(v, "run_id", "runId")).filter(|s| !s.is_empty()),
        })
    }

    /// `Assessment.to_proto()` as JSON.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("assessment_id".into(), json!(self.assessment_id));
        m.insert("assessment_name".into(), json!(self.name));
        m.insert("trace_id".into(), json!(self.trace_id));
        if let Some(s) = &self.span_id {
            m.insert("span_id".into(), json!(s));
        }
        let mut src = Map::new();
        src.insert("source_type".into(), json!(self.source_type));
        if let Some(id) = self.source_id.as_ref().filter(|s| !s.is_empty()) {
            src.insert("source_id".into(), json!(id));
        }
        m.insert("source".into(), Value::Object(src));
        m.insert(
            "create_time".into(),
            json!(ms_to_timestamp(self.create_time_ms.unwrap_or(0))),
        );
        m.insert(
            "last_update_time".into(),
            json!(ms_to_timestamp(self.last_update_time_ms.unwrap_or(0))),
        );
        match &self.value {
            AssessmentValue::Feedback { value, error } => {
                let mut f = Map::new();
                f.insert("value".into(), value.to_proto_value());
                if let Some(e) = error {
                    f.insert("error".into(), e.to_json());
                }
                m.insert("feedback".into(), Value::Object(f));
            }
            AssessmentValue::Expectation { value } => {
                let needs_serialization = matches!(value, PyValue::List(_) | PyValue::Dict(_));
                let e = if needs_serialization {
                    json!({"serialized_value": {"serialization_format": "JSON_FORMAT", "value": value.dumps(true)}})
                } else {
                    json!({"value": value.to_proto_value()})
                };
                m.insert("expectation".into(), e);
            }
            AssessmentValue::Issue { issue_name } => {
                m.insert("issue".into(), json!({"issue_name": issue_name}));
            }
        }
        if let Some(r) = &self.rationale {
            m.insert("rationale".into(), json!(r));
        }
        if let Some(md) = self.metadata.as_ref().filter(|m| !m.is_empty()) {
            m.insert("metadata".into(), json!(md));
        }
        if let Some(o) = &self.overrides {
            m.insert("overrides".into(), json!(o));
        }
        if let Some(v) = self.valid {
            m.insert("valid".into(), json!(v));
        }
        Value::Object(m)
    }

    /// The `assessment_metadata` column (`json.dumps(metadata)` or NULL).
    pub fn metadata_column(&self) -> Option<String> {
        self.metadata.as_ref().filter(|m| !m.is_empty()).map(|m| {
            PyValue::Dict(
                m.iter()
                    .map(|(k, v)| (k.clone(), PyValue::Str(v.clone())))
                    .collect(),
            )
            .dumps(true)
        })
    }
}

/// `generate_assessment_id`: `a-` + 32 hex.
pub fn new_assessment_id(uuid_hex: &str) -> String {
    format!("a-{uuid_hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_json() {
        let v =
            PyValue::loads(r#"{"b": 1, "a": [1.5, 1e20, 0.0001, 1e-5, "h\u00e9\n"], "n": null}"#)
                .unwrap();
        assert_eq!(
            v.dumps(false),
            "{\"b\": 1, \"a\": [1.5, 1e+20, 0.0001, 1e-05, \"h\u{e9}\\n\"], \"n\": null}"
        );
        assert_eq!(PyValue::Str("h\u{e9}".into()).dumps(true), "\"h\\u00e9\"");
        assert_eq!(PyValue::Float(5.0).dumps(true), "5.0");
        assert_eq!(py_float_repr(1e16), "1e+16");
        assert_eq!(py_float_repr(123456789.125), "123456789.125");
    }

    #[test]
    fn timestamps() {
        assert_eq!(ms_to_timestamp(1795368813994), "2026-11-22T17:33:33.994Z");
        assert_eq!(
            timestamp_to_ms("2026-11-22T17:33:33.994Z"),
            Some(1795368813994)
        );
        assert_eq!(timestamp_to_ms("2026-11-22T17:33:33Z"), Some(1795368813000));
        assert_eq!(
            timestamp_to_ms("2026-11-22T17:33:33.994123456Z"),
            Some(1795368813994)
        );
        assert_eq!(ms_to_duration(124), "0.124s");
        assert_eq!(ms_to_duration(2000), "2s");
        assert_eq!(duration_to_ms("0.124s"), Some(124));
        assert_eq!(duration_to_ms("1.5s"), Some(1500));
        assert_eq!(duration_to_ms("3s"), Some(3000));
    }
}
