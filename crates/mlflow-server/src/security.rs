//! Host-header and CORS protection with the official server's defaults, plus panic recovery.
//!
//! - Host: by default only `localhost`, loopback and private-network addresses are accepted
//!   (a DNS-rebinding guard); `--allowed-hosts` replaces the list (`*` allows all, and entries
//!   may use a leading `*.` wildcard or omit the port).
//! - CORS: by default only `http(s)://localhost|127.0.0.1|[::1]` origins on any port.
//! - A handler panic becomes a JSON 500 and the server keeps running.

use crate::ServerConfig;
use crate::error::json_error;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mlflow_domain::ErrorCode;
use std::net::IpAddr;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

fn split_host(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

fn is_private_or_local(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") || host.ends_with(".localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()
        }
        Ok(IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.is_unspecified() || (ip.segments()[0] & 0xfe00) == 0xfc00
        }
        Err(_) => false,
    }
}

/// Whether a `Host` header value is acceptable under `allowed`.
pub fn host_allowed(host_header: &str, allowed: Option<&[String]>) -> bool {
    let host = split_host(host_header);
    match allowed {
        None => is_private_or_local(host),
        Some(list) => list.iter().any(|entry| {
            let entry = entry.trim();
            if entry == "*" {
                return true;
            }
            if entry.eq_ignore_ascii_case(host_header) {
                return true;
            }
            let entry_host = split_host(entry);
            if let Some(suffix) = entry_host.strip_prefix("*.") {
                return host
                    .to_ascii_lowercase()
                    .ends_with(&format!(".{}", suffix.to_ascii_lowercase()));
            }
            entry_host.eq_ignore_ascii_case(host) && !entry.contains(':')
        }),
    }
}

fn origin_is_local(origin: &str) -> bool {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    let host = split_host(rest);
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "::1"
}

async fn check_host(allowed: Arc<Option<Vec<String>>>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    match host {
        Some(h) if host_allowed(&h, allowed.as_deref()) => next.run(req).await,
        // HTTP/1.0 without Host: nothing to rebind.
        None => next.run(req).await,
        Some(_) => (
            StatusCode::FORBIDDEN,
            "Invalid Host header - possible DNS rebinding attack detected",
        )
            .into_response(),
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::InternalError,
        "Internal server error",
    )
}

/// Wraps the app with panic recovery, CORS and the Host check.
pub fn layer(app: Router, config: &ServerConfig) -> Router {
    let origins = config.cors_allowed_origins.clone();
    let allow_origin = AllowOrigin::predicate(move |origin: &HeaderValue, _| {
        let Ok(o) = origin.to_str() else { return false };
        match &origins {
            None => origin_is_local(o),
            Some(list) => list
                .iter()
                .any(|e| e.trim() == "*" || e.trim().eq_ignore_ascii_case(o)),
        }
    });
    let cors = CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods(tower_http::cors::Any)
        .allow_headers(tower_http::cors::Any);
    let allowed = Arc::new(config.allowed_hosts.clone());
    app.layer(CatchPanicLayer::custom(panic_response))
        .layer(cors)
        .layer(axum::middleware::from_fn(move |req, next| {
            check_host(allowed.clone(), req, next)
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_hosts() {
        assert!(host_allowed("localhost:5000", None));
        assert!(host_allowed("127.0.0.1:5000", None));
        assert!(host_allowed("10.1.2.3", None));
        assert!(host_allowed("[::1]:5000", None));
        assert!(!host_allowed("evil.example.com", None));
    }

    #[test]
    fn explicit_hosts() {
        let list = vec!["mlflow.example.com".to_string(), "*.corp.net".to_string()];
        assert!(host_allowed("mlflow.example.com:443", Some(&list)));
        assert!(host_allowed("a.corp.net", Some(&list)));
        assert!(!host_allowed("localhost", Some(&list)));
        assert!(host_allowed("anything", Some(&["*".to_string()])));
    }
}
