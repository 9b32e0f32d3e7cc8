//! Transport behaviour against a scripted HTTP server: retries with backoff, auth headers,
//! error decoding, GET query encoding.

use mlflow_sdk::{Client, ClientConfig, SearchQuery};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request as the mock server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub line: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    fn header(&self, k: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }
}

/// Serves `responses` (status, body) in order, one per connection, recording requests.
fn mock(responses: Vec<(u16, &'static str)>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for (status, body) in responses {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let h = h.trim_end().to_string();
                if h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.parse().unwrap())
                .unwrap_or(0);
            let mut buf = vec![0; len];
            reader.read_exact(&mut buf).unwrap();
            seen2.lock().unwrap().push(Seen {
                line: line.trim_end().to_string(),
                headers,
                body: String::from_utf8_lossy(&buf).into_owned(),
            });
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

fn fast(url: &str) -> ClientConfig {
    ClientConfig::new(url)
        .with_max_retries(3)
        .with_backoff(Duration::from_millis(10), Duration::ZERO)
}

#[tokio::test]
async fn retries_5xx_and_429_then_succeeds_with_auth() {
    let (url, seen) = mock(vec![
        (503, "{}"),
        (429, "{}"),
        (
            200,
            r#"{"experiment": {"experiment_id": "7", "name": "x", "tags": [{"key": "a", "value": "b"}]}}"#,
        ),
    ]);
    let c = Client::new(fast(&url).with_basic_auth("user", "pass")).unwrap();
    let e = c.get_experiment("7").await.unwrap();
    assert_eq!(e.experiment_id, "7");
    assert_eq!(e.tag("a"), Some("b"));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(
        seen[0]
            .line
            .starts_with("GET /api/2.0/mlflow/experiments/get?experiment_id=7 "),
        "{:?}",
        seen[0]
    );
    assert_eq!(seen[2].header("authorization"), Some("Basic dXNlcjpwYXNz"));
}

#[tokio::test]
async fn gives_up_after_max_retries_and_keeps_the_error_code() {
    let (url, seen) = mock(vec![
        (
            500,
            r#"{"error_code": "INTERNAL_ERROR", "message": "db down"}"#,
        ),
        (
            500,
            r#"{"error_code": "INTERNAL_ERROR", "message": "db down"}"#,
        ),
    ]);
    let c = Client::new(fast(&url).with_max_retries(1).with_token("tok")).unwrap();
    let err = c.log_param("r", "k", "v").await.unwrap_err();
    assert_eq!(err.error_code(), Some("INTERNAL_ERROR"));
    assert_eq!(err.status(), Some(500));
    assert!(err.to_string().contains("db down"));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].header("authorization"), Some("Bearer tok"));
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"run_id": "r", "run_uuid": "r", "key": "k", "value": "v"})
    );
}

#[tokio::test]
async fn client_errors_are_not_retried_and_html_404_is_endpoint_not_found() {
    let (url, seen) = mock(vec![(404, "<!doctype html><title>404 Not Found</title>")]);
    let c = Client::new(fast(&url)).unwrap();
    let err = c
        .search_registered_models_page(
            &SearchQuery::new()
                .filter("name LIKE 'a%'")
                .order_by("name")
                .order_by("timestamp DESC"),
        )
        .await
        .unwrap_err();
    assert!(err.is_endpoint_not_found(), "{err}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].line.contains("filter=name+LIKE+%27a%25%27")
            && seen[0]
                .line
                .contains("order_by=name&order_by=timestamp+DESC"),
        "{}",
        seen[0].line
    );
}

#[test]
fn config_from_env() {
    // Only reads variables; the names are the official client's.
    let cfg = ClientConfig::new("http://h:1/").with_timeout(Duration::from_secs(3));
    assert_eq!(cfg.tracking_uri, "http://h:1");
    assert_eq!(cfg.max_retries, 7);
    assert_eq!(cfg.backoff_factor, Duration::from_secs(2));
}
