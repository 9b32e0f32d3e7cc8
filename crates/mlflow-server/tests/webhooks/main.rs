//! Webhook tests against in-process servers and an in-process receiver on 127.0.0.1 (allowed by
//! the test config: `http` scheme and private targets on).
//!
//! Every test runs on SQLite (a temp file) and, when `MLFLOW_RS_TEST_POSTGRES` is set, on
//! PostgreSQL in a database of its own, dropped afterwards.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use mlflow_server::webhooks::{WebhookConfig, Webhooks};
use mlflow_server::{AppState, ServerConfig};
use mlflow_store::SqlStore;
use mlflow_store::webhooks::fernet::Fernet;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const KEY: &str = "Fh9oXQk9s3CXZ0V2ciQ6Kx4nZBIoVRVDj-mWPWwEODs=";

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

fn pg_admin() -> Option<String> {
    std::env::var("MLFLOW_RS_TEST_POSTGRES")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

fn with_database(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let base = scheme.split('+').next().unwrap_or(scheme);
    format!("{base}://{authority}/{db}")
}

async fn pg_exec(admin: &str, sql: String) {
    use sqlx::Connection;
    let (scheme, rest) = admin.split_once("://").unwrap_or(("", admin));
    let base = scheme.split('+').next().unwrap_or(scheme);
    let mut conn = sqlx::PgConnection::connect(&format!("{base}://{rest}"))
        .await
        .unwrap_or_else(|e| panic!("connecting to {admin}: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .expect("admin statement");
    let _ = conn.close().await;
}

/// A database (and temp dir) that outlives the servers started on it.
struct Env {
    uri: String,
    database: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn new(backend: Backend) -> Option<Env> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().expect("tempdir");
        let (uri, database) = match backend {
            Backend::Sqlite => (
                format!("sqlite:///{}", dir.path().join("mlflow.db").display()),
                None,
            ),
            Backend::Postgres => {
                let Some(admin) = pg_admin() else {
                    eprintln!("skipping PostgreSQL: MLFLOW_RS_TEST_POSTGRES is not set");
                    return None;
                };
                let name = format!("mlflow_rs_webhooks_{}", uuid::Uuid::new_v4().simple());
                pg_exec(&admin, format!("CREATE DATABASE {name}")).await;
                (with_database(&admin, &name), Some((admin, name)))
            }
        };
        Some(Env {
            uri,
            database,
            _dir: dir,
        })
    }

    fn config() -> WebhookConfig {
        WebhookConfig {
            allowed_schemes: vec!["http".into(), "https".into()],
            allow_private_ips: true,
            request_timeout: Duration::from_secs(5),
            cache_ttl: Duration::ZERO,
            encryption_key: Some(KEY.into()),
            backoff_base: Duration::from_millis(100),
            backoff_jitter: Duration::ZERO,
            poll_interval: Duration::from_millis(50),
            ..WebhookConfig::default()
        }
    }

    async fn server(&self, config: WebhookConfig, worker: bool) -> Server {
        let store = SqlStore::open(&self.uri, "mlflow-artifacts:/")
            .await
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.uri));
        let webhooks = Webhooks::new(Arc::new(store.clone()), config).expect("webhooks");
        let worker = worker.then(|| webhooks.start_worker());
        let state = AppState {
            traces: Arc::new(store.clone()),
            registry: Arc::new(store.clone()),
            genai: Arc::new(store.clone()),
            store: Arc::new(store.clone()),
            config: Arc::new(ServerConfig {
                serve_artifacts: true,
                webhooks: Some(webhooks),
                ..ServerConfig::default()
            }),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = mlflow_server::router(state);
        let task = tokio::spawn(async move {
            let _ = mlflow_server::serve(listener, app, async {
                let _ = rx.await;
            })
            .await;
        });
        Server {
            root: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            shutdown: Some(tx),
            task,
            worker,
            store,
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.database.take() {
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(async {
                        let _ = tokio::time::timeout(
                            Duration::from_secs(30),
                            pg_exec(
                                &admin,
                                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                            ),
                        )
                        .await;
                    });
                }
            })
            .join();
        }
    }
}

struct Server {
    root: String,
    client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    worker: Option<tokio::task::JoinHandle<()>>,
    store: SqlStore,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.abort();
        if let Some(w) = self.worker.take() {
            w.abort();
        }
    }
}

impl Server {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = if path.starts_with('/') {
            format!("{}{path}", self.root)
        } else {
            format!("{}/api/2.0/mlflow/{path}", self.root)
        };
        let mut req = self.client.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, path, body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {v}");
        v
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.ok(Method::POST, path, Some(body)).await
    }

    async fn create_webhook(
        &self,
        url: &str,
        events: &[(&str, &str)],
        secret: Option<&str>,
    ) -> String {
        let mut body = json!({
            "name": format!("hook-{}", uuid::Uuid::new_v4().simple()),
            "url": url,
            "events": events.iter().map(|(e, a)| json!({"entity": e, "action": a})).collect::<Vec<_>>(),
        });
        if let Some(s) = secret {
            body["secret"] = json!(s);
        }
        let v = self.post("webhooks", body).await;
        v["webhook"]["webhook_id"]
            .as_str()
            .expect("webhook_id")
            .to_string()
    }

    async fn deliveries(&self, id: &str) -> Vec<Value> {
        let v = self
            .ok(
                Method::GET,
                &format!("/api/3.0/mlflow/webhooks/{id}/deliveries"),
                None,
            )
            .await;
        v["deliveries"].as_array().cloned().unwrap_or_default()
    }
}

/// One request the receiver saw.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: String,
}

/// An HTTP receiver on 127.0.0.1 that records requests and answers with scripted statuses
/// (then 200).
#[derive(Clone)]
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(script: Vec<u16>) -> Receiver {
        #[derive(Clone)]
        struct St {
            seen: Arc<Mutex<Vec<Received>>>,
            script: Arc<Mutex<Vec<u16>>>,
        }
        async fn hook(
            State(st): State<St>,
            headers: HeaderMap,
            body: String,
        ) -> (AxStatus, String) {
            st.seen
                .lock()
                .expect("lock")
                .push(Received { headers, body });
            let code = {
                let mut s = st.script.lock().expect("lock");
                if s.is_empty() { 200 } else { s.remove(0) }
            };
            (
                AxStatus::from_u16(code).unwrap_or(AxStatus::OK),
                format!("answer {code}"),
            )
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(St {
                seen: seen.clone(),
                script,
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            seen,
        }
    }

    fn seen(&self) -> Vec<Received> {
        self.seen.lock().expect("lock").clone()
    }

    async fn wait_for(&self, n: usize, secs: u64) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let seen = self.seen();
            if seen.len() >= n || tokio::time::Instant::now() > deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

fn header(r: &Received, name: &str) -> String {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Independent check of `X-MLflow-Signature` (HMAC-SHA256 over `id.ts.body`, base64, `v1,`).
fn verify_signature(r: &Received, secret: &str) -> bool {
    let id = header(r, "x-mlflow-delivery-id");
    let ts = header(r, "x-mlflow-timestamp");
    let expected = mlflow_store::webhooks::sign_payload(secret, &id, &ts, &r.body);
    header(r, "x-mlflow-signature") == expected
}

async fn wait_delivery_status(s: &Server, id: &str, status: &str, secs: u64) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let d = s.deliveries(id).await;
        if (!d.is_empty() && d.iter().all(|x| x["status"] == status))
            || tokio::time::Instant::now() > deadline
        {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

macro_rules! backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                if let Some(env) = super::Env::new(super::Backend::Sqlite).await {
                    super::$name(env).await;
                }
            } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                if let Some(env) = super::Env::new(super::Backend::Postgres).await {
                    super::$name(env).await;
                }
            } )*
        }
    };
}

backends!(
    crud_and_validation,
    delivery_and_signature,
    prompt_events_replace_model_events,
    retry_after_two_failures,
    survives_restart,
    two_replicas_deliver_once,
    test_endpoint,
    default_config_refuses_private_and_http,
);

async fn crud_and_validation(env: Env) {
    let s = env.server(Env::config(), false).await;
    let created = s
        .post(
            "webhooks",
            json!({
                "name": "w1",
                "url": "http://127.0.0.1:9/hook",
                "events": [
                    {"entity": "REGISTERED_MODEL", "action": "CREATED"},
                    {"entity": "MODEL_VERSION_TAG", "action": "SET"},
                ],
                "secret": "s3cr3t",
                "description": "d",
            }),
        )
        .await;
    let w = &created["webhook"];
    let id = w["webhook_id"].as_str().expect("id").to_string();
    assert_eq!(w["name"], "w1");
    assert_eq!(w["status"], "ACTIVE");
    assert_eq!(w["description"], "d");
    assert!(w.get("secret").is_none());
    // Ordered by entity value, as the official relationship loads them.
    assert_eq!(
        w["events"],
        json!([
            {"entity": "MODEL_VERSION_TAG", "action": "SET"},
            {"entity": "REGISTERED_MODEL", "action": "CREATED"},
        ])
    );
    assert_eq!(w["creation_timestamp"], w["last_updated_timestamp"]);

    // The secret is Fernet-encrypted with the configured key.
    let row: (Option<String>,) = sqlx::query_as(sqlx::AssertSqlSafe(
        s.store
            .db()
            .sql("SELECT secret FROM webhooks WHERE webhook_id = ?")
            .0,
    ))
    .bind(id.clone())
    .fetch_one(&s.store.db().read)
    .await
    .expect("secret row");
    let token = row.0.expect("stored secret");
    assert_ne!(token, "s3cr3t");
    assert_eq!(
        Fernet::new(KEY).unwrap().decrypt(&token).unwrap(),
        b"s3cr3t"
    );

    let got = s.ok(Method::GET, &format!("webhooks/{id}"), None).await;
    assert_eq!(got["webhook"], *w);

    let second = s
        .post(
            "webhooks",
            json!({"name": "w2", "url": "https://127.0.0.1/x", "status": "DISABLED",
                   "events": [{"entity": "PROMPT_ALIAS", "action": "DELETED"}]}),
        )
        .await;
    assert_eq!(second["webhook"]["status"], "DISABLED");
    assert!(second["webhook"].get("description").is_none());

    let page = s.ok(Method::GET, "webhooks?max_results=1", None).await;
    assert_eq!(page["webhooks"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["webhooks"][0]["name"], "w2"); // newest first
    let token = page["next_page_token"].as_str().expect("token");
    let page2 = s
        .ok(
            Method::GET,
            &format!("webhooks?max_results=1&page_token={}", urlenc(token)),
            None,
        )
        .await;
    assert_eq!(page2["webhooks"][0]["name"], "w1");
    assert!(page2.get("next_page_token").is_none());

    let upd = s
        .ok(
            Method::PATCH,
            &format!("webhooks/{id}"),
            Some(json!({"description": "d2", "status": "DISABLED",
                        "events": [{"entity": "PROMPT", "action": "CREATED"}]})),
        )
        .await;
    assert_eq!(upd["webhook"]["description"], "d2");
    assert_eq!(upd["webhook"]["status"], "DISABLED");
    assert_eq!(upd["webhook"]["name"], "w1");
    assert_eq!(
        upd["webhook"]["events"],
        json!([{"entity": "PROMPT", "action": "CREATED"}])
    );

    // Validation, with the official messages.
    for (body, msg) in [
        (
            json!({"name": "x", "url": "ftp://x", "events": [{"entity": "PROMPT", "action": "CREATED"}]}),
            "Invalid webhook URL scheme: 'ftp'. Allowed schemes are: http, https.",
        ),
        (
            json!({"name": "x", "url": "http://127.0.0.1/", "events": [{"entity": "REGISTERED_MODEL", "action": "SET"}]}),
            "Invalid action 'set' for entity 'registered_model'. Valid actions are: ['created']",
        ),
        (
            json!({"name": "-bad", "url": "http://127.0.0.1/", "events": [{"entity": "PROMPT", "action": "CREATED"}]}),
            "Webhook name '-bad' is invalid.",
        ),
        (
            json!({"name": "x", "url": "http://127.0.0.1/", "events": []}),
            "Webhook events must be a non-empty list of WebhookEvent objects: [].",
        ),
        (
            json!({"name": "x", "url": "http://127.0.0.1/"}),
            "Missing value for required parameter 'events'.",
        ),
        (
            json!({"url": "http://127.0.0.1/", "events": [{"entity": "PROMPT", "action": "CREATED"}]}),
            "Missing value for required parameter 'name'.",
        ),
    ] {
        let (st, v) = s.call(Method::POST, "webhooks", Some(body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["error_code"], "INVALID_PARAMETER_VALUE");
        assert!(v["message"].as_str().unwrap_or("").starts_with(msg), "{v}");
    }

    s.ok(Method::DELETE, &format!("webhooks/{id}"), None).await;
    for (m, p) in [
        (Method::GET, format!("webhooks/{id}")),
        (Method::DELETE, format!("webhooks/{id}")),
        (Method::PATCH, format!("webhooks/{id}")),
        (Method::POST, format!("webhooks/{id}/test")),
    ] {
        let (st, v) = s.call(m, &p, Some(json!({}))).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{p}: {v}");
        assert_eq!(v["message"], format!("Webhook with ID {id} not found."));
    }
    let all = s.ok(Method::GET, "webhooks", None).await;
    assert_eq!(all["webhooks"].as_array().map(Vec::len), Some(1));
}

fn urlenc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn delivery_and_signature(env: Env) {
    let rx = Receiver::start(vec![]).await;
    let s = env.server(Env::config(), true).await;
    let id = s
        .create_webhook(
            &rx.url,
            &[
                ("REGISTERED_MODEL", "CREATED"),
                ("MODEL_VERSION", "CREATED"),
                ("MODEL_VERSION_TAG", "SET"),
                ("MODEL_VERSION_TAG", "DELETED"),
                ("MODEL_VERSION_ALIAS", "CREATED"),
                ("MODEL_VERSION_ALIAS", "DELETED"),
            ],
            Some("s3cr3t"),
        )
        .await;
    // A disabled webhook gets nothing.
    let disabled = s
        .create_webhook(&rx.url, &[("REGISTERED_MODEL", "CREATED")], None)
        .await;
    s.ok(
        Method::PATCH,
        &format!("webhooks/{disabled}"),
        Some(json!({"status": "DISABLED"})),
    )
    .await;

    s.post(
        "registered-models/create",
        json!({"name": "m1", "tags": [{"key": "a", "value": "b"}]}),
    )
    .await;
    s.post(
        "model-versions/create",
        json!({"name": "m1", "source": "s3://bucket/model", "description": "v1"}),
    )
    .await;
    s.post(
        "model-versions/set-tag",
        json!({"name": "m1", "version": "1", "key": "k", "value": "v"}),
    )
    .await;
    s.ok(
        Method::DELETE,
        "model-versions/delete-tag",
        Some(json!({"name": "m1", "version": "1", "key": "k"})),
    )
    .await;
    s.post(
        "registered-models/alias",
        json!({"name": "m1", "alias": "champion", "version": "1"}),
    )
    .await;
    s.ok(
        Method::DELETE,
        "registered-models/alias",
        Some(json!({"name": "m1", "alias": "champion"})),
    )
    .await;
    // Registered-model tags of non-prompts fire nothing.
    s.post(
        "registered-models/set-tag",
        json!({"name": "m1", "key": "x", "value": "y"}),
    )
    .await;

    let seen = rx.wait_for(6, 20).await;
    assert_eq!(seen.len(), 6, "{seen:?}");
    for r in &seen {
        assert_eq!(header(r, "content-type"), "application/json");
        assert!(verify_signature(r, "s3cr3t"), "bad signature: {r:?}");
        assert!(!verify_signature(r, "other"));
        let ts: i64 = header(r, "x-mlflow-timestamp").parse().expect("ts");
        assert!((ts - mlflow_domain::now_ms() / 1000).abs() < 120);
    }
    let mut bodies: Vec<Value> = seen
        .iter()
        .map(|r| serde_json::from_str(&r.body).expect("json body"))
        .collect();
    bodies.sort_by_key(|b| b["timestamp"].as_str().unwrap_or("").to_string());
    let events: Vec<String> = bodies
        .iter()
        .map(|b| {
            format!(
                "{}.{}",
                b["entity"].as_str().unwrap_or(""),
                b["action"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            "registered_model.created",
            "model_version.created",
            "model_version_tag.set",
            "model_version_tag.deleted",
            "model_version_alias.created",
            "model_version_alias.deleted",
        ]
    );
    assert_eq!(
        bodies[0]["data"],
        json!({"name": "m1", "tags": {"a": "b"}, "description": ""})
    );
    assert_eq!(
        bodies[1]["data"],
        json!({"name": "m1", "version": "1", "source": "s3://bucket/model", "run_id": null,
               "tags": {}, "description": "v1"})
    );
    assert_eq!(
        bodies[2]["data"],
        json!({"name": "m1", "version": "1", "key": "k", "value": "v"})
    );
    assert_eq!(
        bodies[3]["data"],
        json!({"name": "m1", "version": "1", "key": "k"})
    );
    assert_eq!(
        bodies[4]["data"],
        json!({"name": "m1", "alias": "champion", "version": "1"})
    );
    assert_eq!(
        bodies[5]["data"],
        json!({"name": "m1", "alias": "champion"})
    );
    // Python json.dumps layout, key order as the official dict.
    let raw = &seen
        .iter()
        .find(|r| r.body.contains("\"registered_model\""))
        .expect("rm body")
        .body;
    assert!(
        raw.starts_with("{\"entity\": \"registered_model\", \"action\": \"created\", \"timestamp\": \"")
            && raw.ends_with(
                "+00:00\", \"data\": {\"name\": \"m1\", \"tags\": {\"a\": \"b\"}, \"description\": \"\"}}"
            ),
        "{raw}"
    );

    // Delivery log.
    let log = wait_delivery_status(&s, &id, "SUCCEEDED", 10).await;
    assert_eq!(log.len(), 6, "{log:?}");
    for d in &log {
        assert_eq!(d["status"], "SUCCEEDED");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["last_status_code"], 200);
        assert!(d["finished_timestamp"].as_i64().is_some());
        assert!(d.get("next_attempt_timestamp").is_none());
    }
    assert_eq!(log[0]["event"], "model_version_alias.deleted"); // newest first
    assert!(s.deliveries(&disabled).await.is_empty());
}

async fn prompt_events_replace_model_events(env: Env) {
    let rx = Receiver::start(vec![]).await;
    let s = env.server(Env::config(), true).await;
    let all: Vec<(&str, &str)> = vec![
        ("REGISTERED_MODEL", "CREATED"),
        ("MODEL_VERSION", "CREATED"),
        ("MODEL_VERSION_TAG", "SET"),
        ("MODEL_VERSION_ALIAS", "CREATED"),
        ("PROMPT", "CREATED"),
        ("PROMPT_VERSION", "CREATED"),
        ("PROMPT_TAG", "SET"),
        ("PROMPT_TAG", "DELETED"),
        ("PROMPT_VERSION_TAG", "SET"),
        ("PROMPT_VERSION_TAG", "DELETED"),
        ("PROMPT_ALIAS", "CREATED"),
        ("PROMPT_ALIAS", "DELETED"),
    ];
    s.create_webhook(&rx.url, &all, None).await;
    let p = |k: &str, v: &str| json!({"key": k, "value": v});
    s.post(
        "registered-models/create",
        json!({"name": "p1", "description": "my prompt",
               "tags": [p("mlflow.prompt.is_prompt", "true"), p("_mlflow_prompt_type", "text"), p("team", "x")]}),
    )
    .await;
    s.post(
        "model-versions/create",
        json!({"name": "p1", "source": "dummy-source", "description": "dd",
               "tags": [p("mlflow.prompt.is_prompt", "true"), p("mlflow.prompt.text", "Hi {{x}}"),
                        p("_mlflow_prompt_type", "text"), p("z", "1")]}),
    )
    .await;
    s.post(
        "registered-models/set-tag",
        json!({"name": "p1", "key": "k", "value": "v"}),
    )
    .await;
    s.ok(
        Method::DELETE,
        "registered-models/delete-tag",
        Some(json!({"name": "p1", "key": "k"})),
    )
    .await;
    s.post(
        "model-versions/set-tag",
        json!({"name": "p1", "version": "1", "key": "vk", "value": "vv"}),
    )
    .await;
    s.ok(
        Method::DELETE,
        "model-versions/delete-tag",
        Some(json!({"name": "p1", "version": "1", "key": "vk"})),
    )
    .await;
    s.post(
        "registered-models/alias",
        json!({"name": "p1", "alias": "prod", "version": "1"}),
    )
    .await;
    s.ok(
        Method::DELETE,
        "registered-models/alias",
        Some(json!({"name": "p1", "alias": "prod"})),
    )
    .await;
    let seen = rx.wait_for(8, 20).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = if seen.len() < rx.seen().len() {
        rx.seen()
    } else {
        seen
    };
    let mut bodies: Vec<Value> = seen
        .iter()
        .map(|r| serde_json::from_str(&r.body).expect("json"))
        .collect();
    bodies.sort_by_key(|b| b["timestamp"].as_str().unwrap_or("").to_string());
    let events: Vec<String> = bodies
        .iter()
        .map(|b| {
            format!(
                "{}.{}",
                b["entity"].as_str().unwrap_or(""),
                b["action"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            "prompt.created",
            "prompt_version.created",
            "prompt_tag.set",
            "prompt_tag.deleted",
            "prompt_version_tag.set",
            "prompt_version_tag.deleted",
            "prompt_alias.created",
            "prompt_alias.deleted",
        ]
    );
    assert_eq!(
        bodies[0]["data"],
        json!({"name": "p1", "tags": {"team": "x"}, "description": "my prompt"})
    );
    assert_eq!(
        bodies[1]["data"],
        json!({"name": "p1", "version": "1", "template": "Hi {{x}}", "tags": {"z": "1"},
               "description": "dd"})
    );
    assert_eq!(
        bodies[2]["data"],
        json!({"name": "p1", "key": "k", "value": "v"})
    );
    assert_eq!(bodies[3]["data"], json!({"name": "p1", "key": "k"}));
    assert_eq!(
        bodies[6]["data"],
        json!({"name": "p1", "alias": "prod", "version": "1"})
    );
    assert!(
        seen.iter()
            .all(|r| r.headers.get("x-mlflow-signature").is_none())
    );
}

async fn retry_after_two_failures(env: Env) {
    let rx = Receiver::start(vec![500, 503]).await;
    let s = env.server(Env::config(), true).await;
    let id = s
        .create_webhook(&rx.url, &[("REGISTERED_MODEL", "CREATED")], Some("k"))
        .await;
    s.post("registered-models/create", json!({"name": "r1"}))
        .await;
    let seen = rx.wait_for(3, 20).await;
    assert_eq!(seen.len(), 3, "{seen:?}");
    // Same delivery id and body on every attempt; each attempt signed with its own timestamp.
    let ids: Vec<String> = seen
        .iter()
        .map(|r| header(r, "x-mlflow-delivery-id"))
        .collect();
    assert!(ids.iter().all(|i| i == &ids[0] && !i.is_empty()), "{ids:?}");
    assert!(
        seen.iter()
            .all(|r| r.body == seen[0].body && verify_signature(r, "k"))
    );
    let log = wait_delivery_status(&s, &id, "SUCCEEDED", 10).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["delivery_id"], ids[0].as_str());
    assert_eq!(log[0]["attempts"], 3);
    assert_eq!(log[0]["max_attempts"], 4);
    assert_eq!(log[0]["last_status_code"], 200);
    assert_eq!(log[0]["payload"], seen[0].body.as_str());

    // A receiver that keeps failing exhausts 1 + max_retries attempts, then FAILED.
    let bad = Receiver::start(vec![500; 10]).await;
    let id2 = s
        .create_webhook(&bad.url, &[("MODEL_VERSION", "CREATED")], None)
        .await;
    s.post(
        "model-versions/create",
        json!({"name": "r1", "source": "s3://b/m"}),
    )
    .await;
    let log = wait_delivery_status(&s, &id2, "FAILED", 20).await;
    assert_eq!(log[0]["status"], "FAILED", "{log:?}");
    assert_eq!(log[0]["attempts"], 4);
    assert_eq!(log[0]["last_status_code"], 500);
    assert!(
        log[0]["last_error"]
            .as_str()
            .unwrap_or("")
            .starts_with("HTTP 500")
    );
    assert_eq!(bad.seen().len(), 4);

    // 4xx (other than 429) is final at once, as urllib3's status_forcelist.
    let gone = Receiver::start(vec![404; 10]).await;
    let id3 = s
        .create_webhook(&gone.url, &[("MODEL_VERSION", "CREATED")], None)
        .await;
    s.post(
        "model-versions/create",
        json!({"name": "r1", "source": "s3://b/m"}),
    )
    .await;
    let log = wait_delivery_status(&s, &id3, "FAILED", 20).await;
    assert_eq!(log[0]["attempts"], 1, "{log:?}");
    assert_eq!(log[0]["last_status_code"], 404);
}

async fn survives_restart(env: Env) {
    let rx = Receiver::start(vec![]).await;
    let id = {
        // First process: events are queued but no worker runs (it "crashed" before delivering).
        let s = env.server(Env::config(), false).await;
        let id = s
            .create_webhook(&rx.url, &[("REGISTERED_MODEL", "CREATED")], Some("s3cr3t"))
            .await;
        s.post("registered-models/create", json!({"name": "a"}))
            .await;
        s.post("registered-models/create", json!({"name": "b"}))
            .await;
        let log = s.deliveries(&id).await;
        assert_eq!(log.len(), 2);
        assert!(
            log.iter()
                .all(|d| d["status"] == "PENDING" && d["attempts"] == 0)
        );
        assert!(log[0]["next_attempt_timestamp"].as_i64().is_some());
        id
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(rx.seen().is_empty());
    // Second process on the same database: the worker picks the queue up.
    let s2 = env.server(Env::config(), true).await;
    let seen = rx.wait_for(2, 20).await;
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|r| verify_signature(r, "s3cr3t")));
    let log = wait_delivery_status(&s2, &id, "SUCCEEDED", 10).await;
    assert!(
        log.iter()
            .all(|d| d["status"] == "SUCCEEDED" && d["attempts"] == 1),
        "{log:?}"
    );
}

async fn two_replicas_deliver_once(env: Env) {
    let rx = Receiver::start(vec![]).await;
    let a = env.server(Env::config(), false).await;
    let id = a
        .create_webhook(&rx.url, &[("REGISTERED_MODEL", "CREATED")], None)
        .await;
    const N: usize = 30;
    for i in 0..N {
        a.post("registered-models/create", json!({"name": format!("m{i}")}))
            .await;
    }
    // Two replicas start draining the same queue at once.
    let r1 = env.server(Env::config(), true).await;
    let r2 = env.server(Env::config(), true).await;
    let log = wait_delivery_status(&r1, &id, "SUCCEEDED", 30).await;
    assert_eq!(log.len(), N);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = rx.seen();
    let mut ids: Vec<String> = seen
        .iter()
        .map(|r| header(r, "x-mlflow-delivery-id"))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), N);
    assert_eq!(seen.len(), N, "a delivery was sent twice");
    drop(r2);
}

async fn test_endpoint(env: Env) {
    let rx = Receiver::start(vec![200, 500]).await;
    let s = env.server(Env::config(), false).await;
    let id = s
        .create_webhook(
            &rx.url,
            &[("PROMPT_VERSION", "CREATED"), ("MODEL_VERSION_TAG", "SET")],
            Some("t0p"),
        )
        .await;
    let v = s.post(&format!("webhooks/{id}/test"), json!({})).await;
    assert_eq!(
        v["result"],
        json!({"success": true, "response_status": 200, "response_body": "answer 200"})
    );
    let v = s
        .post(
            &format!("webhooks/{id}/test"),
            json!({"event": {"entity": "PROMPT_VERSION", "action": "CREATED"}}),
        )
        .await;
    assert_eq!(v["result"]["success"], false);
    assert_eq!(v["result"]["response_status"], 500);
    let seen = rx.seen();
    assert_eq!(seen.len(), 2);
    let first: Value = serde_json::from_str(&seen[0].body).expect("json");
    // Default event: the first in (entity, action) order.
    assert_eq!(first["entity"], "model_version_tag");
    assert_eq!(
        first["data"],
        json!({"name": "example_model", "version": "1", "key": "example_key", "value": "example_value"})
    );
    let second: Value = serde_json::from_str(&seen[1].body).expect("json");
    assert_eq!(second["data"]["template"], "Hello {{name}}!");
    assert!(seen.iter().all(|r| verify_signature(r, "t0p")));
    let (st, v) = s
        .call(
            Method::POST,
            &format!("webhooks/{id}/test"),
            Some(json!({"event": {"entity": "PROMPT_VERSION", "action": "SET"}})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["message"],
        "Invalid action 'set' for entity 'prompt_version'. Valid actions are: ['created']"
    );
    // Unreachable target: success false with an error message, still HTTP 200.
    let dead = s
        .create_webhook("http://127.0.0.1:9/hook", &[("PROMPT", "CREATED")], None)
        .await;
    let v = s.post(&format!("webhooks/{dead}/test"), json!({})).await;
    assert_eq!(v["result"]["success"], false);
    assert!(
        v["result"]["error_message"]
            .as_str()
            .unwrap_or("")
            .starts_with("Failed to test webhook: "),
        "{v}"
    );
}

async fn default_config_refuses_private_and_http(env: Env) {
    let config = WebhookConfig {
        encryption_key: Some(KEY.into()),
        ..WebhookConfig::default()
    };
    let s = env.server(config, false).await;
    let ev = json!([{"entity": "PROMPT", "action": "CREATED"}]);
    for (url, msg) in [
        (
            "http://example.com/hook",
            "Invalid webhook URL scheme: 'http'. Allowed schemes are: https.",
        ),
        (
            "https://127.0.0.1/hook",
            "Webhook URL must not resolve to a non-public IP address. '127.0.0.1' resolves to 127.0.0.1.",
        ),
        (
            "https://169.254.169.254/latest/meta-data",
            "Webhook URL must not resolve to a non-public IP address. '169.254.169.254' resolves to 169.254.169.254.",
        ),
        (
            "https://[::1]:8443/",
            "Webhook URL must not resolve to a non-public IP address. '::1' resolves to ::1.",
        ),
        (
            "https://10.0.0.5/",
            "Webhook URL must not resolve to a non-public IP address. '10.0.0.5' resolves to 10.0.0.5.",
        ),
        (
            "https://localhost/",
            "Webhook URL must not resolve to a non-public IP address. 'localhost' resolves to",
        ),
    ] {
        let (st, v) = s
            .call(
                Method::POST,
                "webhooks",
                Some(json!({"name": "x", "url": url, "events": ev})),
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{url}: {v}");
        assert!(
            v["message"].as_str().unwrap_or("").starts_with(msg),
            "{url}: {v}"
        );
    }
    assert!(
        s.ok(Method::GET, "webhooks", None)
            .await
            .get("webhooks")
            .is_none()
    );
}
