//! GenAI evaluation wire types: evaluation datasets and their records, registered scorers and
//! online scoring configs, plus the Python-compatible helpers their stored JSON needs
//! (`json.dumps(..., sort_keys=True)` for the record input hash, `str(value)` for tag values,
//! schema type inference).
//!
//! Wire facts (MLflow 3.17.2): a dataset's `tags`, `schema` and `profile` and the records
//! payload are JSON *strings*; `Scorer.experiment_id` is an int32 while the register response
//! carries it as a string; online configs are plain JSON (not proto).

use crate::traces::PyValue;
use serde_json::{Map, Value, json};

/// Non-dict outputs are stored wrapped under this key (`DATASET_RECORD_WRAPPED_OUTPUT_KEY`).
pub const WRAPPED_OUTPUT_KEY: &str = "mlflow_wrapped";
/// The tag whose value becomes `created_by` / `last_updated_by`.
pub const MLFLOW_USER: &str = "mlflow.user";
/// `DatasetRecordSourceType` values, in declaration order.
pub const SOURCE_TYPES: [&str; 5] = ["UNSPECIFIED", "TRACE", "HUMAN", "DOCUMENT", "CODE"];

/// An evaluation dataset (`EvaluationDataset.to_proto`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvaluationDataset {
    pub dataset_id: String,
    pub name: String,
    /// Tag rows in storage order; a NULL value is kept as `None`.
    pub tags: Vec<(String, Option<String>)>,
    pub schema: Option<String>,
    pub profile: Option<String>,
    pub digest: Option<String>,
    pub created_time: Option<i64>,
    pub last_update_time: Option<i64>,
    pub created_by: Option<String>,
    pub last_updated_by: Option<String>,
    /// Only set by create (the official entity carries them only then).
    pub experiment_ids: Option<Vec<String>>,
}

impl EvaluationDataset {
    /// `json.dumps(tags)`.
    pub fn tags_json(&self) -> String {
        PyValue::Dict(
            self.tags
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_ref()
                            .map_or(PyValue::Null, |s| PyValue::Str(s.clone())),
                    )
                })
                .collect(),
        )
        .dumps(true)
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("dataset_id".into(), json!(self.dataset_id));
        m.insert("name".into(), json!(self.name));
        m.insert("tags".into(), json!(self.tags_json()));
        if let Some(s) = &self.schema {
            m.insert("schema".into(), json!(s));
        }
        if let Some(p) = &self.profile {
            m.insert("profile".into(), json!(p));
        }
        if let Some(d) = &self.digest {
            m.insert("digest".into(), json!(d));
        }
        if let Some(t) = self.created_time {
            m.insert("created_time".into(), json!(t));
        }
        if let Some(t) = self.last_update_time {
            m.insert("last_update_time".into(), json!(t));
        }
        if let Some(u) = &self.created_by {
            m.insert("created_by".into(), json!(u));
        }
        if let Some(u) = &self.last_updated_by {
            m.insert("last_updated_by".into(), json!(u));
        }
        if let Some(ids) = self.experiment_ids.as_ref().filter(|ids| !ids.is_empty()) {
            m.insert("experiment_ids".into(), json!(ids));
        }
        Value::Object(m)
    }
}

/// One stored record, its JSON columns parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetRecord {
    pub dataset_record_id: String,
    pub dataset_id: String,
    pub inputs: PyValue,
    /// The stored (wrapped) outputs column.
    pub outputs: Option<PyValue>,
    pub expectations: Option<PyValue>,
    pub tags: Option<PyValue>,
    pub source: Option<PyValue>,
    pub source_id: Option<String>,
    pub created_time: i64,
    pub last_update_time: i64,
    pub created_by: Option<String>,
    pub last_updated_by: Option<String>,
}

impl DatasetRecord {
    /// `DatasetRecord.to_dict()` of the entity the official store builds from the row, keys
    /// in proto field order.
    pub fn to_py(&self) -> PyValue {
        let mut d: Vec<(String, PyValue)> = vec![
            (
                "dataset_record_id".into(),
                PyValue::Str(self.dataset_record_id.clone()),
            ),
            ("dataset_id".into(), PyValue::Str(self.dataset_id.clone())),
            ("inputs".into(), self.inputs.clone()),
        ];
        if let Some(e) = self.expectations.as_ref().filter(|e| **e != PyValue::Null) {
            d.push(("expectations".into(), e.clone()));
        }
        let tags = match &self.tags {
            None | Some(PyValue::Null) => PyValue::Dict(Vec::new()),
            Some(t) => t.clone(),
        };
        d.push(("tags".into(), tags));
        // The entity rebuilds the source from the column (`DatasetRecordSource.from_dict`).
        let source = self
            .source
            .as_ref()
            .filter(|s| s.truthy())
            .map(normalize_source);
        let source_type = source
            .as_ref()
            .and_then(|s| s.get("source_type"))
            .and_then(PyValue::as_str)
            .map(str::to_owned);
        let source_id = self.source_id.clone().or_else(|| {
            let s = source.as_ref()?;
            let data = s.get("source_data")?;
            let key = if source_type.as_deref() == Some("TRACE") {
                "trace_id"
            } else {
                "source_id"
            };
            data.get(key).and_then(PyValue::as_str).map(str::to_owned)
        });
        if let Some(s) = source {
            d.push(("source".into(), s));
        }
        if let Some(id) = source_id {
            d.push(("source_id".into(), PyValue::Str(id)));
        }
        if let Some(t) = source_type {
            d.push(("source_type".into(), PyValue::Str(t)));
        }
        d.push(("created_time".into(), PyValue::Int(self.created_time)));
        d.push((
            "last_update_time".into(),
            PyValue::Int(self.last_update_time),
        ));
        if let Some(u) = &self.created_by {
            d.push(("created_by".into(), PyValue::Str(u.clone())));
        }
        if let Some(u) = &self.last_updated_by {
            d.push(("last_updated_by".into(), PyValue::Str(u.clone())));
        }
        // `outputs.get("mlflow_wrapped")` of a truthy column; unset otherwise.
        if let Some(o) = self.outputs.as_ref().filter(|o| o.truthy())
            && let Some(inner) = o.get(WRAPPED_OUTPUT_KEY)
            && *inner != PyValue::Null
        {
            d.push(("outputs".into(), inner.clone()));
        }
        PyValue::Dict(d)
    }
}

/// `DatasetRecordSource.from_dict(...).to_dict()`: upper-cased type, `source_data` `{}` for null.
pub fn normalize_source(s: &PyValue) -> PyValue {
    let ty = s
        .get("source_type")
        .and_then(PyValue::as_str)
        .map(str::to_ascii_uppercase)
        .unwrap_or_else(|| "UNSPECIFIED".into());
    let data = match s.get("source_data") {
        None | Some(PyValue::Null) => PyValue::Dict(Vec::new()),
        Some(v) => v.clone(),
    };
    PyValue::Dict(vec![
        ("source_type".into(), PyValue::Str(ty)),
        ("source_data".into(), data),
    ])
}

/// `DatasetRecordSourceType._parse`.
pub fn parse_source_type(raw: &str) -> Result<&'static str, crate::Error> {
    let up = raw.to_uppercase();
    SOURCE_TYPES
        .iter()
        .find(|t| **t == up)
        .copied()
        .ok_or_else(|| {
            crate::Error::invalid(format!(
                "Invalid dataset record source type: {up}. Valid source types: \
                 ['UNSPECIFIED', 'TRACE', 'HUMAN', 'DOCUMENT', 'CODE']"
            ))
        })
}

/// A copy with every object's keys sorted (`json.dumps(..., sort_keys=True)`).
pub fn sort_keys(v: &PyValue) -> PyValue {
    match v {
        PyValue::Dict(kv) => {
            let mut out: Vec<(String, PyValue)> =
                kv.iter().map(|(k, v)| (k.clone(), sort_keys(v))).collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            PyValue::Dict(out)
        }
        PyValue::List(xs) => PyValue::List(xs.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

/// `SqlAlchemyStore._infer_field_type`.
pub fn infer_field_type(v: &PyValue) -> &'static str {
    match v {
        PyValue::Null => "null",
        PyValue::Bool(_) => "boolean",
        PyValue::Int(_) => "integer",
        PyValue::Float(_) => "float",
        PyValue::Str(_) => "string",
        PyValue::List(_) => "array",
        PyValue::Dict(_) => "object",
    }
}

/// Python's `str(value)` for a JSON-decoded value (tag values are stored this way).
pub fn py_str(v: &PyValue) -> String {
    match v {
        PyValue::Str(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr(value)` for a JSON-decoded value.
pub fn py_repr(v: &PyValue) -> String {
    match v {
        PyValue::Null => "None".into(),
        PyValue::Bool(b) => if *b { "True" } else { "False" }.into(),
        PyValue::Int(i) => i.to_string(),
        PyValue::Float(f) => {
            if f.is_nan() {
                "nan".into()
            } else if f.is_infinite() {
                if *f > 0.0 { "inf" } else { "-inf" }.into()
            } else {
                crate::traces::py_float_repr(*f)
            }
        }
        PyValue::Str(s) => py_str_repr(s),
        PyValue::List(xs) => format!(
            "[{}]",
            xs.iter().map(py_repr).collect::<Vec<_>>().join(", ")
        ),
        PyValue::Dict(kv) => format!(
            "{{{}}}",
            kv.iter()
                .map(|(k, v)| format!("{}: {}", py_str_repr(k), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// A registered scorer version (`ScorerVersion`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScorerVersion {
    pub experiment_id: i64,
    pub scorer_name: String,
    pub scorer_version: i64,
    pub serialized_scorer: String,
    pub creation_time: Option<i64>,
    pub scorer_id: String,
}

impl ScorerVersion {
    /// The `Scorer` proto message.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("experiment_id".into(), json!(self.experiment_id));
        m.insert("scorer_name".into(), json!(self.scorer_name));
        m.insert("scorer_version".into(), json!(self.scorer_version));
        m.insert("serialized_scorer".into(), json!(self.serialized_scorer));
        if let Some(t) = self.creation_time {
            m.insert("creation_time".into(), json!(t));
        }
        m.insert("scorer_id".into(), json!(self.scorer_id));
        Value::Object(m)
    }

    /// `RegisterScorer.Response`.
    pub fn register_response_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("version".into(), json!(self.scorer_version));
        m.insert("scorer_id".into(), json!(self.scorer_id));
        m.insert(
            "experiment_id".into(),
            json!(self.experiment_id.to_string()),
        );
        m.insert("name".into(), json!(self.scorer_name));
        m.insert("serialized_scorer".into(), json!(self.serialized_scorer));
        if let Some(t) = self.creation_time {
            m.insert("creation_time".into(), json!(t));
        }
        Value::Object(m)
    }
}

/// An online scoring config (`OnlineScoringConfig.to_dict`).
#[derive(Debug, Clone, PartialEq)]
pub struct OnlineScoringConfig {
    pub online_scoring_config_id: String,
    pub scorer_id: String,
    pub sample_rate: f64,
    pub experiment_id: i64,
    pub filter_string: Option<String>,
}

impl OnlineScoringConfig {
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "online_scoring_config_id".into(),
            json!(self.online_scoring_config_id),
        );
        m.insert("scorer_id".into(), json!(self.scorer_id));
        m.insert("sample_rate".into(), json!(self.sample_rate));
        m.insert(
            "experiment_id".into(),
            json!(self.experiment_id.to_string()),
        );
        if let Some(f) = &self.filter_string {
            m.insert("filter_string".into(), json!(f));
        }
        Value::Object(m)
    }
}

// ------------------------------------------------------------------ serialized scorers

/// `extract_model_from_serialized_scorer`: the judge model of a serialized scorer.
pub fn scorer_model(data: &PyValue) -> Option<&PyValue> {
    for key in [
        "instructions_judge_pydantic_data",
        "builtin_scorer_pydantic_data",
    ] {
        if let Some(d) = data.get(key).filter(|d| d.truthy()) {
            return d.get("model");
        }
    }
    if let Some(m) = data
        .get("memory_augmented_judge_data")
        .filter(|d| d.truthy())
    {
        return m.get("base_judge").and_then(scorer_model);
    }
    if let Some(t) = data.get("third_party_scorer_data").filter(|d| d.truthy()) {
        return t.get("model");
    }
    None
}

/// `update_model_in_serialized_scorer`.
pub fn set_scorer_model(data: &PyValue, model: PyValue) -> PyValue {
    let PyValue::Dict(kv) = data else {
        return data.clone();
    };
    let replace = |d: &PyValue, key: &str, v: PyValue| -> PyValue {
        let PyValue::Dict(inner) = d else {
            return d.clone();
        };
        let mut inner = inner.clone();
        match inner.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = v,
            None => inner.push((key.to_string(), v)),
        }
        PyValue::Dict(inner)
    };
    let mut out = kv.clone();
    for key in [
        "instructions_judge_pydantic_data",
        "builtin_scorer_pydantic_data",
    ] {
        if let Some(slot) = out.iter_mut().find(|(k, v)| k == key && v.truthy()) {
            slot.1 = replace(&slot.1, "model", model);
            return PyValue::Dict(out);
        }
    }
    if let Some(slot) = out
        .iter_mut()
        .find(|(k, v)| k == "memory_augmented_judge_data" && v.truthy())
    {
        let base = slot
            .1
            .get("base_judge")
            .cloned()
            .unwrap_or(PyValue::Dict(Vec::new()));
        slot.1 = replace(&slot.1, "base_judge", set_scorer_model(&base, model));
        return PyValue::Dict(out);
    }
    if let Some(slot) = out
        .iter_mut()
        .find(|(k, v)| k == "third_party_scorer_data" && v.truthy())
        && slot.1.get("model").is_some_and(|m| *m != PyValue::Null)
    {
        slot.1 = replace(&slot.1, "model", model);
    }
    PyValue::Dict(out)
}

/// `_parse_model_uri`: `<provider>:/<model>`, the model without leading slashes.
pub fn parse_model_uri(uri: &str) -> Option<(&str, &str)> {
    let (provider, path) = uri.split_once(":/")?;
    let path = path.trim_start_matches('/');
    (!provider.is_empty() && !path.is_empty()).then_some((provider, path))
}

/// The endpoint reference of a `gateway:/<ref>` model, if it is one.
pub fn gateway_endpoint_ref(model: &str) -> Option<&str> {
    parse_model_uri(model)
        .filter(|(p, _)| *p == "gateway")
        .map(|(_, r)| r)
}

/// `_obj_has_call_source`: a non-null `call_source` anywhere (decorator scorers).
pub fn has_call_source(v: &PyValue) -> bool {
    match v {
        PyValue::Dict(kv) => kv
            .iter()
            .any(|(k, v)| (k == "call_source" && *v != PyValue::Null) || has_call_source(v)),
        PyValue::List(xs) => xs.iter().any(has_call_source),
        _ => false,
    }
}

const DESTINATION_KEYS: [&str; 5] = [
    "api_base",
    "base_url",
    "model_list",
    "fallbacks",
    "custom_llm_provider",
];

fn find_destination_keys(v: &PyValue, found: &mut Vec<String>) {
    match v {
        PyValue::Dict(kv) => {
            for (k, v) in kv {
                if DESTINATION_KEYS.contains(&k.as_str()) && !found.contains(k) {
                    found.push(k.clone());
                }
                find_destination_keys(v, found);
            }
        }
        PyValue::List(xs) => {
            for x in xs {
                if let PyValue::List(pair) = x
                    && pair.len() == 2
                    && let PyValue::Str(k) = &pair[0]
                    && DESTINATION_KEYS.contains(&k.as_str())
                    && !found.contains(k)
                {
                    found.push(k.clone());
                }
                find_destination_keys(x, found);
            }
        }
        _ => {}
    }
}

fn third_party_data<'a>(v: &'a PyValue, out: &mut Vec<&'a PyValue>) {
    match v {
        PyValue::Dict(kv) => {
            if let Some(d @ PyValue::Dict(_)) = v.get("third_party_scorer_data") {
                out.push(d);
            }
            for (_, x) in kv {
                third_party_data(x, out);
            }
        }
        PyValue::List(xs) => xs.iter().for_each(|x| third_party_data(x, out)),
        _ => {}
    }
}

/// `_validate_third_party_scorer_data`.
pub fn validate_third_party_scorer_data(v: &PyValue) -> Result<(), crate::Error> {
    let mut datas = Vec::new();
    third_party_data(v, &mut datas);
    for d in datas {
        let Some(kwargs) = d.get("kwargs") else {
            continue;
        };
        let ty = match kwargs {
            PyValue::Null | PyValue::Dict(_) => None,
            PyValue::Bool(_) => Some("bool"),
            PyValue::Int(_) => Some("int"),
            PyValue::Float(_) => Some("float"),
            PyValue::Str(_) => Some("str"),
            PyValue::List(_) => Some("list"),
        };
        if let Some(ty) = ty {
            return Err(crate::Error::invalid(format!(
                "third_party_scorer_data.kwargs must be a JSON object, got {ty}."
            )));
        }
        let mut found = Vec::new();
        find_destination_keys(kwargs, &mut found);
        if !found.is_empty() {
            found.sort();
            let list: Vec<String> = found.iter().map(|k| format!("'{k}'")).collect();
            return Err(crate::Error::invalid(format!(
                "third_party_scorer_data.kwargs must not contain {}: these options choose where \
                 the scorer's LLM client sends requests. Configure the judge endpoint on the \
                 server instead, for example through a gateway endpoint ('gateway:/<name>') or \
                 the provider's environment variables.",
                list.join(", ")
            )));
        }
    }
    Ok(())
}

/// `DECORATOR_SCORER_REGISTRATION_NOT_SUPPORTED_ERROR`.
pub const DECORATOR_SCORER_NOT_SUPPORTED: &str = "Custom scorer registration (using @scorer decorator) is disabled by default outside of Databricks tracking environments due to security concerns. Custom scorers require arbitrary code execution during deserialization.\n\nTo use custom scorers:\n1. Configure MLflow to use a Databricks tracking URI, or\n2. Manage your custom scorer code in a source code repository (e.g., GitHub) and import it directly, or\n3. On a self-managed MLflow server (or local environment) that you trust to run the scorer's code, set the MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS environment variable to true, or\n4. Use built-in scorers or make_judge() scorers instead.";

#[cfg(test)]
mod tests {
    use super::*;

    fn py(s: &str) -> PyValue {
        PyValue::loads(s).unwrap()
    }

    #[test]
    fn input_hash_text_matches_python() {
        // json.dumps({"q": "what is 1+1", "n": 1}, sort_keys=True)
        assert_eq!(
            sort_keys(&py(
                r#"{"q": "what is 1+1", "n": 1, "z": {"b": 1.0, "a": [true]}}"#
            ))
            .dumps(true),
            r#"{"n": 1, "q": "what is 1+1", "z": {"a": [true], "b": 1.0}}"#
        );
    }

    #[test]
    fn python_str() {
        assert_eq!(py_str(&py("2")), "2");
        assert_eq!(py_str(&py("true")), "True");
        assert_eq!(py_str(&py(r#"{"a": [1, "x'"]}"#)), r#"{'a': [1, "x'"]}"#);
        assert_eq!(py_str(&py("1.5")), "1.5");
    }

    #[test]
    fn record_dict_shape() {
        let r = DatasetRecord {
            dataset_record_id: "dr-1".into(),
            dataset_id: "d-1".into(),
            inputs: py(r#"{"q": "a"}"#),
            outputs: Some(py(r#"{"mlflow_wrapped": {"x": 1}}"#)),
            expectations: None,
            tags: None,
            source: Some(py(
                r#"{"source_type": "TRACE", "source_data": {"trace_id": "tr-1"}}"#,
            )),
            source_id: None,
            created_time: 1,
            last_update_time: 2,
            created_by: Some("u".into()),
            last_updated_by: None,
        };
        assert_eq!(
            r.to_py().dumps(true),
            r#"{"dataset_record_id": "dr-1", "dataset_id": "d-1", "inputs": {"q": "a"}, "tags": {}, "source": {"source_type": "TRACE", "source_data": {"trace_id": "tr-1"}}, "source_id": "tr-1", "source_type": "TRACE", "created_time": 1, "last_update_time": 2, "created_by": "u", "outputs": {"x": 1}}"#
        );
    }

    #[test]
    fn scorer_helpers() {
        let s = py(
            r#"{"instructions_judge_pydantic_data": {"model": "gateway:/ep"}, "call_source": null}"#,
        );
        assert_eq!(
            scorer_model(&s)
                .and_then(PyValue::as_str)
                .and_then(gateway_endpoint_ref),
            Some("ep")
        );
        assert!(!has_call_source(&s));
        assert!(has_call_source(&py(
            r#"{"ensemble_scorer_data": {"scorers": [{"call_source": "x"}]}}"#
        )));
        let s2 = set_scorer_model(&s, PyValue::Str("gateway:/id1".into()));
        assert_eq!(
            s2.dumps(true),
            r#"{"instructions_judge_pydantic_data": {"model": "gateway:/id1"}, "call_source": null}"#
        );
        assert!(
            validate_third_party_scorer_data(&py(
                r#"{"third_party_scorer_data": {"kwargs": {"x": {"api_base": 1}}}}"#
            ))
            .is_err()
        );
        assert_eq!(parse_model_uri("gateway:/"), None);
    }
}
