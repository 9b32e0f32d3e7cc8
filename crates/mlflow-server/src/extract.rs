//! Request decoding the way the official server does it (`_get_request_message`).
//!
//! - GET (and DELETE/PATCH without a body): parameters come from the query string; a key given
//!   several times is a list (`run_ids=a&run_ids=b`).
//! - POST/PUT: the body must be `application/json` (charset allowed) or the answer is 400
//!   `INVALID_PARAMETER_VALUE` "Bad Request. Content-Type must be one of ['application/json'].";
//!   an empty body is `{}`; a JSON string holding JSON is decoded a second time.
//! - Unknown fields are ignored; camelCase names are accepted through serde aliases.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, header};
use mlflow_domain::Error;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The maximum request body we buffer (log-batch is capped at 1 MB by validation anyway).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// A decoded request message plus the raw body size (log-batch checks it).
pub struct Msg<T> {
    pub value: T,
    pub body_len: usize,
}

/// Turns a query string into a JSON object: repeated keys become arrays.
pub fn query_to_json(query: &str) -> Value {
    let mut map: Map<String, Value> = Map::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let v = Value::String(v.into_owned());
        match map.get_mut(k.as_ref()) {
            Some(Value::Array(items)) => items.push(v),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, v]);
            }
            None => {
                map.insert(k.into_owned(), v);
            }
        }
    }
    Value::Object(map)
}

fn bad_request(e: impl std::fmt::Display) -> ApiError {
    ApiError(Error::invalid(format!("Invalid request: {e}")))
}

fn is_json_content_type(value: Option<&header::HeaderValue>) -> bool {
    value
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        })
        .unwrap_or(false)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Msg<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let method = req.method().clone();
        let query = req.uri().query().unwrap_or("").to_string();
        let json_ct = is_json_content_type(req.headers().get(header::CONTENT_TYPE));
        if method == Method::GET {
            let value = query_to_json(&query);
            return serde_json::from_value(value)
                .map(|value| Msg { value, body_len: 0 })
                .map_err(bad_request);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            ApiError(Error::invalid(format!(
                "Failed to read the request body: {e}"
            )))
        })?;
        if bytes.len() > MAX_BODY {
            return Err(ApiError(Error::invalid("Request body too large")));
        }
        if (method == Method::POST || method == Method::PUT) && !json_ct {
            return Err(ApiError(Error::invalid(
                "Bad Request. Content-Type must be one of ['application/json'].",
            )));
        }
        let body_len = bytes.len();
        let mut value = if bytes.iter().all(u8::is_ascii_whitespace) {
            // DELETE/PATCH without a body may carry parameters in the query string.
            query_to_json(&query)
        } else {
            serde_json::from_slice::<Value>(&bytes).map_err(|e| {
                ApiError(Error::invalid(format!("Malformed JSON request body: {e}")))
            })?
        };
        if let Value::String(s) = &value
            && let Ok(inner) = serde_json::from_str::<Value>(s)
        {
            value = inner;
        }
        if value.is_null() {
            value = Value::Object(Map::new());
        }
        serde_json::from_value(value)
            .map(|value| Msg { value, body_len })
            .map_err(bad_request)
    }
}

/// Returns a required string field or the official "Missing value" error.
pub fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, ApiError> {
    match value.as_deref() {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ApiError(Error::missing(name))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_become_lists() {
        let v = query_to_json("run_ids=a&run_ids=b&metric_key=m&x=%20y");
        assert_eq!(v["run_ids"], serde_json::json!(["a", "b"]));
        assert_eq!(v["metric_key"], "m");
        assert_eq!(v["x"], " y");
    }
}
