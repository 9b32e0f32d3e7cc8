//! Request validation with the official limits and messages (`mlflow/utils/validation.py`).

use crate::{Error, Result};

pub const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;
pub const MAX_METRICS_PER_BATCH: usize = 1000;
pub const MAX_ENTITIES_PER_BATCH: usize = 1000;
pub const MAX_BATCH_LOG_REQUEST_SIZE: usize = 1_000_000;
pub const MAX_PARAM_VAL_LENGTH: usize = 6000;
pub const MAX_TAG_VAL_LENGTH: usize = 8000;
pub const MAX_EXPERIMENT_NAME_LENGTH: usize = 500;
pub const MAX_EXPERIMENT_TAG_KEY_LENGTH: usize = 250;
pub const MAX_EXPERIMENT_TAG_VAL_LENGTH: usize = 20000;
pub const MAX_ENTITY_KEY_LENGTH: usize = 250;
pub const MAX_DATASET_NAME_SIZE: usize = 500;
pub const MAX_DATASET_DIGEST_SIZE: usize = 36;
pub const MAX_DATASET_SCHEMA_SIZE: usize = 1_048_575;
pub const MAX_DATASET_SOURCE_SIZE: usize = 65_535;
pub const MAX_DATASET_PROFILE_SIZE: usize = 16_777_215;
pub const MAX_INPUT_TAG_KEY_SIZE: usize = 255;
pub const MAX_INPUT_TAG_VALUE_SIZE: usize = 500;
pub const MAX_RUNS_PER_SEARCH: i64 = 50_000;
pub const MAX_EXPERIMENTS_PER_PAGE: i64 = 50_000;

/// Python's `json.dumps(value)` for a string (ASCII-escaped), used inside messages.
pub fn py_json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Python's `repr()` of a string, for messages that print Python lists.
pub fn py_repr(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// `invalid_value(path, value, message)`.
pub fn invalid_value(path: &str, value_json: &str, message: Option<&str>) -> Error {
    match message {
        Some(m) => Error::invalid(format!(
            "Invalid value {value_json} for parameter '{path}' supplied: {m}"
        )),
        None => Error::invalid(format!(
            "Invalid value {value_json} for parameter '{path}' supplied."
        )),
    }
}

pub fn exceeds_maximum_length(path: &str, limit: usize) -> Error {
    Error::invalid(format!(
        "'{path}' exceeds the maximum length of {limit} characters"
    ))
}

/// Joins a JSON path the way `append_to_json_path` does.
pub fn json_path(current: &str, value: &str) -> String {
    if current.is_empty() {
        value.to_string()
    } else if value.starts_with('[') {
        format!("{current}{value}")
    } else {
        format!("{current}.{value}")
    }
}

/// POSIX `normpath`, enough to reproduce `path_not_unique`.
pub fn posix_normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let initial = if path.starts_with("//") && !path.starts_with("///") {
        2
    } else if path.starts_with('/') {
        1
    } else {
        0
    };
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        if comp.is_empty() || comp == "." {
            continue;
        }
        if comp != ".." || (initial == 0 && parts.is_empty()) || parts.last() == Some(&"..") {
            parts.push(comp);
        } else if !parts.is_empty() {
            parts.pop();
        }
    }
    let joined = parts.join("/");
    let out = format!("{}{}", "/".repeat(initial), joined);
    if out.is_empty() { ".".into() } else { out }
}

fn path_not_unique(name: &str) -> bool {
    let norm = posix_normpath(name);
    norm != name || norm == "." || norm.starts_with("..") || norm.starts_with('/')
}

/// `^[/\w.\- :]*$` with Python's Unicode `\w`.
fn valid_name_chars(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '/' | '.' | '-' | ' ' | ':'))
}

const BAD_CHARACTER_MESSAGE: &str = "Names may only contain alphanumerics, underscores (_), dashes (-), \
     periods (.), spaces ( ), colon(:) and slashes (/).";

fn bad_path_message(name: &str) -> String {
    format!(
        "Names may be treated as files in certain cases, and must not resolve to other names \
         when treated as such. This name would resolve to {}",
        py_repr(&posix_normpath(name))
    )
}

fn validate_name(name: &str, path: &str) -> Result<()> {
    if !valid_name_chars(name) {
        return Err(invalid_value(
            path,
            &py_json_str(name),
            Some(BAD_CHARACTER_MESSAGE),
        ));
    }
    if path_not_unique(name) {
        return Err(invalid_value(
            path,
            &py_json_str(name),
            Some(&bad_path_message(name)),
        ));
    }
    Ok(())
}

/// Validates a metric key, value presence and timestamp (`_validate_metric`).
pub fn validate_metric(
    key: Option<&str>,
    value: Option<f64>,
    timestamp: Option<i64>,
    path: &str,
) -> Result<()> {
    let name_path = json_path(path, "name");
    let Some(key) = key else {
        return Err(invalid_value(
            &name_path,
            "null",
            Some("Metric name cannot be None. A key name must be provided."),
        ));
    };
    validate_name(key, &name_path)?;
    if value.is_none() {
        return Err(Error::invalid(format!(
            "Missing value for required parameter '{}'.",
            json_path(path, "value")
        )));
    }
    if let Some(ts) = timestamp
        && ts < 0
    {
        return Err(invalid_value(
            &json_path(path, "timestamp"),
            &ts.to_string(),
            Some(&format!(
                "metric '{key}' (value={}). Timestamp must be a nonnegative long (64-bit integer) ",
                py_float(value.unwrap_or_default())
            )),
        ));
    }
    if key.chars().count() > MAX_ENTITY_KEY_LENGTH {
        return Err(exceeds_maximum_length("Metric name", MAX_ENTITY_KEY_LENGTH));
    }
    Ok(())
}

/// Python's `str(float)`.
pub fn py_float(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else if v.fract() == 0.0 && v.abs() < 1e16 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Truncates to `limit` characters (the official default `MLFLOW_TRUNCATE_LONG_VALUES=true`).
fn truncate_chars(value: String, limit: usize) -> String {
    match value.char_indices().nth(limit) {
        Some((idx, _)) => value[..idx].to_string(),
        None => value,
    }
}

/// Validates a param; long values are truncated to 6000 characters as the official server does.
pub fn validate_param(
    key: Option<&str>,
    value: Option<String>,
    path: &str,
) -> Result<(String, String)> {
    let key_path = json_path(path, "key");
    let Some(key) = key else {
        return Err(invalid_value(
            &key_path,
            "\"\"",
            Some("A key name must be provided."),
        ));
    };
    validate_name(key, &key_path)?;
    if key.chars().count() > MAX_ENTITY_KEY_LENGTH {
        return Err(exceeds_maximum_length("Param key", MAX_ENTITY_KEY_LENGTH));
    }
    let value = truncate_chars(value.unwrap_or_default(), MAX_PARAM_VAL_LENGTH);
    Ok((key.to_string(), value))
}

/// Validates a run tag; long values are truncated to 8000 characters.
pub fn validate_tag(
    key: Option<&str>,
    value: Option<String>,
    path: &str,
) -> Result<(String, String)> {
    let key_path = json_path(path, "key");
    let Some(key) = key else {
        return Err(Error::invalid(format!(
            "Missing value for required parameter '{key_path}'."
        )));
    };
    validate_name(key, &key_path)?;
    if key.chars().count() > MAX_ENTITY_KEY_LENGTH {
        return Err(exceeds_maximum_length(&key_path, MAX_ENTITY_KEY_LENGTH));
    }
    let value = truncate_chars(value.unwrap_or_default(), MAX_TAG_VAL_LENGTH);
    Ok((key.to_string(), value))
}

/// Validates an experiment tag (no truncation: the official server refuses long values).
pub fn validate_experiment_tag(key: &str, value: &str) -> Result<()> {
    validate_name(key, "key")?;
    if key.chars().count() > MAX_EXPERIMENT_TAG_KEY_LENGTH {
        return Err(exceeds_maximum_length("key", MAX_EXPERIMENT_TAG_KEY_LENGTH));
    }
    if value.chars().count() > MAX_EXPERIMENT_TAG_VAL_LENGTH {
        return Err(exceeds_maximum_length(
            "value",
            MAX_EXPERIMENT_TAG_VAL_LENGTH,
        ));
    }
    Ok(())
}

pub fn validate_experiment_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid(format!("Invalid experiment name: '{name}'")));
    }
    if name.chars().count() > MAX_EXPERIMENT_NAME_LENGTH {
        return Err(exceeds_maximum_length("name", MAX_EXPERIMENT_NAME_LENGTH));
    }
    Ok(())
}

/// `_parse_experiment_id`: experiment ids are integers on the wire as strings.
pub fn parse_experiment_id(id: &str) -> Result<i64> {
    id.trim().parse::<i64>().map_err(|_| {
        Error::invalid(format!(
            "Invalid experiment ID '{id}'. Experiment ID must be a valid integer."
        ))
    })
}

/// `_validate_run_id`: `^[a-zA-Z0-9][\w\-]{0,255}$`.
pub fn validate_run_id(run_id: &str, path: &str) -> Result<()> {
    let mut chars = run_id.chars();
    let ok = match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {
            run_id.chars().count() <= 256
                && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(invalid_value(path, &py_json_str(run_id), None))
    }
}

fn batch_limit(entity: &str, limit: usize, len: usize) -> Result<()> {
    if len > limit {
        return Err(Error::invalid(format!(
            "A batch logging request can contain at most {limit} {entity}. Got {len} {entity}. \
             Please split up {entity} across multiple requests and try again."
        )));
    }
    Ok(())
}

/// `_validate_batch_log_limits`.
pub fn validate_batch_limits(metrics: usize, params: usize, tags: usize) -> Result<()> {
    batch_limit("metrics", MAX_METRICS_PER_BATCH, metrics)?;
    batch_limit("params", MAX_PARAMS_TAGS_PER_BATCH, params)?;
    batch_limit("tags", MAX_PARAMS_TAGS_PER_BATCH, tags)?;
    batch_limit(
        "metrics, params, and tags",
        MAX_ENTITIES_PER_BATCH,
        metrics + params + tags,
    )
}

/// `_validate_param_keys_unique`.
pub fn validate_param_keys_unique<'a>(keys: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    let mut dupes = Vec::new();
    for k in keys {
        if !seen.insert(k) {
            dupes.push(py_repr(k));
        }
    }
    if !dupes.is_empty() {
        return Err(Error::invalid(format!(
            "Duplicate parameter keys have been submitted: [{}]. Please ensure the request \
             contains only one param value per param key.",
            dupes.join(", ")
        )));
    }
    Ok(())
}

/// Validates `max_results` for searches: positive and at most `max`.
pub fn validate_max_results(value: i64, max: i64) -> Result<()> {
    if value <= 0 {
        return Err(Error::invalid(format!(
            "Invalid value {value} for parameter 'max_results' supplied. It must be a positive integer"
        )));
    }
    if value > max {
        return Err(Error::invalid(format!(
            "Invalid value {value} for parameter 'max_results' supplied. It must be at most {max}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normpath_matches_python() {
        assert_eq!(posix_normpath("a/b"), "a/b");
        assert_eq!(posix_normpath("a//b"), "a/b");
        assert_eq!(posix_normpath("a/./b"), "a/b");
        assert_eq!(posix_normpath("a/../b"), "b");
        assert_eq!(posix_normpath("../a"), "../a");
        assert_eq!(posix_normpath("/a/../../b"), "/b");
        assert_eq!(posix_normpath(""), ".");
        assert_eq!(posix_normpath("a/"), "a");
    }

    #[test]
    fn names() {
        assert!(validate_param(Some("ok name/1:x"), Some("v".into()), "").is_ok());
        assert!(validate_param(Some("../x"), None, "").is_err());
        assert!(validate_param(Some("a\"b"), None, "").is_err());
        assert!(validate_param(Some("a/"), None, "").is_err());
        let (_, v) = validate_param(Some("k"), Some("x".repeat(7000)), "").unwrap();
        assert_eq!(v.len(), 6000);
    }

    #[test]
    fn batch_messages() {
        let e = validate_batch_limits(1001, 0, 0).unwrap_err();
        assert_eq!(
            e.message,
            "A batch logging request can contain at most 1000 metrics. Got 1001 metrics. Please split up metrics across multiple requests and try again."
        );
        let e = validate_param_keys_unique(["x", "y", "x"].into_iter()).unwrap_err();
        assert!(
            e.message
                .starts_with("Duplicate parameter keys have been submitted: ['x'].")
        );
    }

    #[test]
    fn run_ids() {
        assert!(validate_run_id("abc123", "run_id").is_ok());
        assert!(validate_run_id("_abc", "run_id").is_err());
        assert!(validate_run_id("a/b", "run_id").is_err());
    }
}
