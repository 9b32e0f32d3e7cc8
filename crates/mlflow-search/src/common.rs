//! Value-typing helpers shared by the entity resolvers, reproducing the official
//! `SearchUtils._get_value` / `_parse_list_from_sql_token` messages.

use crate::SearchError;
use crate::ast::Value;

/// `_strip_quotes(value, expect_quoted_value=True)` failure, for unquoted words.
pub(crate) fn not_quoted(raw: &str) -> SearchError {
    SearchError::new(format!(
        "Parameter value is either not quoted or unidentified quote types used for string value {raw}. \
         Use either single or double quotes."
    ))
}

/// A quoted string value; `Err(None)` for a value of another type (the caller picks the message),
/// `Err(Some(e))` for an unquoted word.
pub(crate) fn string_value(v: &Value) -> Result<String, Option<SearchError>> {
    match v {
        Value::Str { value, .. } => Ok(value.clone()),
        Value::Bare { raw } => Err(Some(not_quoted(raw))),
        _ => Err(None),
    }
}

/// The items of an IN-list, all of which must be quoted strings.
pub(crate) fn string_list(v: &Value) -> Result<Vec<String>, SearchError> {
    let (raw, items) = match v {
        Value::List { raw, items } => (raw, items),
        other => {
            return Err(SearchError::new(format!(
                "Expected a list value. Got value {}",
                other.raw()
            )));
        }
    };
    let Some(items) = items else {
        return Err(SearchError::new(
            "While parsing a list in the query, expected a non-empty list of string values, but got ill-formed list.",
        ));
    };
    if items.is_empty() {
        return Err(SearchError::new(
            "While parsing a list in the query, expected a non-empty list of string values, but got empty list",
        ));
    }
    items
        .iter()
        .map(|item| match item {
            Value::Str { value, .. } => Ok(value.clone()),
            _ => Err(SearchError::new(format!(
                "While parsing a list in the query, expected string value, punctuation, or whitespace, \
                 but got different type in list: {raw}"
            ))),
        })
        .collect()
}

/// A parsed numeric literal: integers stay exact (as Python's `int(token)`), everything else is
/// a float. Integers beyond i64 fall back to float rather than failing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    Int(i64),
    Float(f64),
}

pub(crate) fn number(raw: &str, is_int: bool) -> Number {
    if is_int && let Ok(i) = raw.parse::<i64>() {
        return Number::Int(i);
    }
    Number::Float(raw.parse::<f64>().unwrap_or(f64::NAN))
}

/// Python's `str(float)` for the common cases (`5.0`, `5.5`, `1e+20`), used in messages.
pub(crate) fn py_float_str(f: f64) -> String {
    if f.is_nan() {
        "nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { "inf".into() } else { "-inf".into() }
    } else if f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// Renders a list of strings like Python's `repr(list)` (for the duplicate order_by message).
pub(crate) fn py_list_repr(items: &[String]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|s| {
            if s.contains('\'') && !s.contains('"') {
                format!("\"{s}\"")
            } else {
                format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
            }
        })
        .collect();
    format!("[{}]", parts.join(", "))
}
