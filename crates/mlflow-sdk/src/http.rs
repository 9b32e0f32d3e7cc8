//! The HTTP transport: auth headers, GET query encoding, error decoding, retries with backoff.

use crate::config::{Auth, ClientConfig};
use crate::error::{Error, Result};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;
use std::sync::OnceLock;

/// Statuses the official client retries (`_TRANSIENT_FAILURE_RESPONSE_CODES`).
const RETRY_STATUSES: [u16; 6] = [408, 429, 500, 502, 503, 504];

fn install_crypto_provider() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // Another part of the process may already have installed one; either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A configured HTTP client for one tracking server.
#[derive(Clone, Debug)]
pub(crate) struct Transport {
    http: reqwest::Client,
    pub(crate) cfg: ClientConfig,
}

impl Transport {
    pub(crate) fn new(cfg: ClientConfig) -> Result<Self> {
        install_crypto_provider();
        let mut headers = HeaderMap::new();
        match &cfg.auth {
            Auth::None => {}
            Auth::Basic { username, password } => {
                use base64::Engine;
                let token = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                headers.insert(
                    reqwest::header::AUTHORIZATION,
                    HeaderValue::from_str(&format!("Basic {token}"))
                        .map_err(|e| Error::invalid(format!("bad credentials: {e}")))?,
                );
            }
            Auth::Bearer(token) => {
                headers.insert(
                    reqwest::header::AUTHORIZATION,
                    HeaderValue::from_str(&format!("Bearer {token}"))
                        .map_err(|e| Error::invalid(format!("bad token: {e}")))?,
                );
            }
        }
        if let Some(ws) = &cfg.workspace {
            headers.insert(
                "X-MLFLOW-WORKSPACE",
                HeaderValue::from_str(ws)
                    .map_err(|e| Error::invalid(format!("bad workspace: {e}")))?,
            );
        }
        headers.insert(
            "X-MLflow-Client-Version",
            HeaderValue::from_static(env!("CARGO_PKG_VERSION")),
        );
        let http = reqwest::Client::builder()
            .user_agent(concat!("mlflow-rust-sdk/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .timeout(cfg.timeout)
            .build()
            .map_err(|e| Error::Http {
                url: cfg.tracking_uri.clone(),
                source: e,
            })?;
        Ok(Transport { http, cfg })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.cfg.tracking_uri, path)
    }

    pub(crate) fn request(&self, method: Method, url: &str) -> RequestBuilder {
        self.http.request(method, url)
    }

    /// Calls a JSON endpoint the way `rest_utils.call_endpoint` does: GET sends the message as
    /// query parameters (lists as repeated keys), every other method as a JSON body.
    pub(crate) async fn call<Req: Serialize + ?Sized, Resp: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &Req,
    ) -> Result<Resp> {
        let url = self.url(path);
        let json = serde_json::to_value(body).map_err(|e| Error::invalid(e.to_string()))?;
        let resp = if method == Method::GET {
            let pairs = query_pairs(&json);
            let full = if pairs.is_empty() {
                url.clone()
            } else {
                let qs = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&pairs)
                    .finish();
                format!("{url}?{qs}")
            };
            self.send(&url, || async { Ok(self.http.get(&full)) })
                .await?
        } else {
            let bytes = serde_json::to_vec(&json).map_err(|e| Error::invalid(e.to_string()))?;
            self.send(&url, || async {
                Ok(self
                    .http
                    .request(method.clone(), &url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(bytes.clone()))
            })
            .await?
        };
        decode_json(&url, resp).await
    }

    /// Sends a request built by `build` (called again for each retry) and returns the first
    /// non-retryable response; error statuses become [`Error::Api`].
    pub(crate) async fn send<F, Fut>(&self, url: &str, mut build: F) -> Result<Response>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<RequestBuilder>>,
    {
        let mut attempt = 0u32;
        loop {
            let req = build().await?;
            let outcome = req.send().await;
            let retryable = match &outcome {
                Ok(r) => RETRY_STATUSES.contains(&r.status().as_u16()),
                Err(e) => e.is_connect() || e.is_timeout() || e.is_request(),
            };
            if retryable && attempt < self.cfg.max_retries {
                attempt += 1;
                tokio::time::sleep(self.cfg.backoff(attempt)).await;
                continue;
            }
            let resp = outcome.map_err(|e| Error::Http {
                url: url.to_string(),
                source: e,
            })?;
            if resp.status().is_success() {
                return Ok(resp);
            }
            return Err(error_from_response(resp).await);
        }
    }
}

/// Turns an error response into [`Error::Api`], mapping non-JSON bodies like the official client.
pub(crate) async fn error_from_response(resp: Response) -> Error {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    api_error(status, &text)
}

pub(crate) fn api_error(status: StatusCode, text: &str) -> Error {
    if let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(text) {
        if let Some(code) = obj.get("error_code").and_then(Value::as_str) {
            return Error::Api {
                status: status.as_u16(),
                error_code: code.to_string(),
                message: obj
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            };
        }
        if let Some(detail) = obj.get("detail") {
            let message = match detail {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Error::Api {
                status: status.as_u16(),
                error_code: fallback_code(status).into(),
                message,
            };
        }
    }
    Error::Api {
        status: status.as_u16(),
        error_code: fallback_code(status).into(),
        message: format!(
            "API request failed with status {} ({}): {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            text.chars().take(500).collect::<String>()
        ),
    }
}

fn fallback_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        404 => "ENDPOINT_NOT_FOUND",
        400 => "BAD_REQUEST",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        429 => "REQUEST_LIMIT_EXCEEDED",
        501 => "NOT_IMPLEMENTED",
        503 => "TEMPORARILY_UNAVAILABLE",
        _ => "INTERNAL_ERROR",
    }
}

pub(crate) async fn decode_json<T: DeserializeOwned>(url: &str, resp: Response) -> Result<T> {
    let bytes = resp.bytes().await.map_err(|e| Error::Http {
        url: url.to_string(),
        source: e,
    })?;
    let slice: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &bytes
    };
    serde_json::from_slice(slice).map_err(|e| Error::Decode {
        url: url.to_string(),
        message: format!(
            "{e}: {}",
            String::from_utf8_lossy(&bytes)
                .chars()
                .take(300)
                .collect::<String>()
        ),
    })
}

/// Flattens a request message into query pairs: scalars as `key=value`, arrays as repeated keys,
/// booleans as `true`/`false`, nulls dropped.
fn query_pairs(v: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Value::Object(map) = v {
        for (k, v) in map {
            match v {
                Value::Null => {}
                Value::Array(items) => {
                    for item in items {
                        if let Some(s) = scalar(item) {
                            out.push((k.clone(), s));
                        }
                    }
                }
                other => {
                    if let Some(s) = scalar(other) {
                        out.push((k.clone(), s));
                    }
                }
            }
        }
    }
    out
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_encoding_repeats_lists() {
        let q = query_pairs(&serde_json::json!({"a": ["x", "y"], "b": 3, "c": null, "d": true}));
        assert_eq!(
            q,
            vec![
                ("a".into(), "x".into()),
                ("a".into(), "y".into()),
                ("b".into(), "3".into()),
                ("d".into(), "true".into())
            ]
        );
    }

    #[test]
    fn errors_decode() {
        let e = api_error(
            StatusCode::NOT_FOUND,
            r#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"nope"}"#,
        );
        assert_eq!(e.error_code(), Some("RESOURCE_DOES_NOT_EXIST"));
        assert!(e.is_not_found());
        let e = api_error(StatusCode::NOT_FOUND, "<html>");
        assert!(e.is_endpoint_not_found());
    }
}
