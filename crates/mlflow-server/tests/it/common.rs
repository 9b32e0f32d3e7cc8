//! The test harness: a real server on 127.0.0.1:0 over a fresh store, plus HTTP helpers.
//!
//! Backends: SQLite (a temp file, always), PostgreSQL when `MLFLOW_RS_TEST_POSTGRES` is set and
//! MySQL/MariaDB when `MLFLOW_RS_TEST_MYSQL` is set. For the server databases every test server
//! gets its own database (`mlflow_rs_it_<uuid>`), dropped when the server is dropped.

use mlflow_server::{AppState, ServerConfig};
use mlflow_store::SqlStore;
use reqwest::Method;
pub use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Which database a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

impl Backend {
    /// The environment variable holding the admin URL, for server databases.
    fn env_var(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some("MLFLOW_RS_TEST_POSTGRES"),
            Backend::Mysql => Some("MLFLOW_RS_TEST_MYSQL"),
        }
    }

    /// The admin URL, or `None` when the backend is not configured.
    fn admin_url(self) -> Option<String> {
        std::env::var(self.env_var()?)
            .ok()
            .filter(|v| !v.trim().is_empty())
    }
}

/// Replaces the database name (the path) of a `scheme://auth@host:port/db?query` URL.
fn with_database(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let mut out = format!("{scheme}://{authority}/{db}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// sqlx only knows `postgres://`/`postgresql://` and `mysql://`; drop any SQLAlchemy driver.
fn sqlx_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let base = scheme.split('+').next().unwrap_or(scheme);
    format!("{base}://{rest}")
}

fn install_crypto_provider() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Creates a uniquely named database on a server backend; returns the store URI for it.
async fn create_database(backend: Backend, admin: &str, name: &str) -> String {
    use sqlx::Connection;
    match backend {
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&sqlx_url(admin))
                .await
                .unwrap_or_else(|e| panic!("connecting to {admin}: {e}"));
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("CREATE DATABASE");
            let _ = conn.close().await;
        }
        Backend::Mysql => {
            let mut conn = sqlx::MySqlConnection::connect(&sqlx_url(admin))
                .await
                .unwrap_or_else(|e| panic!("connecting to {admin}: {e}"));
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("CREATE DATABASE");
            let _ = conn.close().await;
        }
        Backend::Sqlite => unreachable!(),
    }
    with_database(admin, name)
}

/// Drops a test database; runs on its own thread and runtime so it works from `Drop`,
/// including while a failed test unwinds.
fn drop_database(backend: Backend, admin: String, name: String) {
    let work = async move {
        use sqlx::Connection;
        match backend {
            Backend::Postgres => {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&sqlx_url(&admin)).await {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                    let _ = conn.close().await;
                }
            }
            Backend::Mysql => {
                if let Ok(mut conn) = sqlx::MySqlConnection::connect(&sqlx_url(&admin)).await {
                    let _ = sqlx::raw_sql("SET SESSION lock_wait_timeout = 10")
                        .execute(&mut conn)
                        .await;
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name}"
                    )))
                    .execute(&mut conn)
                    .await;
                    let _ = conn.close().await;
                }
            }
            Backend::Sqlite => {}
        }
    };
    let _ = std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(30), work).await;
            });
        }
    })
    .join();
}

/// Owns the server task and the database; cleans both up on drop.
struct Guard {
    backend: Backend,
    server: tokio::task::JoinHandle<()>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    database: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.server.abort();
        if let Some((admin, name)) = self.database.take() {
            drop_database(self.backend, admin, name);
        }
    }
}

/// A running server and a client for it. Cheap to clone (the server lives while any clone does).
#[derive(Clone)]
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    _guard: Arc<Guard>,
}

/// A decoded response: status, headers and the body as JSON (non-JSON bodies become a string).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn content_type(&self) -> &str {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl TestServer {
    /// Starts a server on `backend` with the default config; `None` (after printing why) when
    /// the backend is not configured in the environment.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, default_config()).await
    }

    pub async fn start_with(backend: Backend, config: ServerConfig) -> Option<Self> {
        install_crypto_provider();
        let dir = tempfile::tempdir().expect("tempdir");
        let (uri, database) = match backend {
            Backend::Sqlite => {
                let path = dir.path().join("mlflow.db");
                (format!("sqlite:///{}", path.display()), None)
            }
            _ => {
                let Some(admin) = backend.admin_url() else {
                    eprintln!(
                        "skipping: {} is not set (no {backend:?} server to test against)",
                        backend.env_var().unwrap_or_default()
                    );
                    return None;
                };
                let name = format!("mlflow_rs_it_{}", uuid::Uuid::new_v4().simple());
                let uri = create_database(backend, &admin, &name).await;
                (uri, Some((admin, name)))
            }
        };
        let store = match SqlStore::open(&uri, "mlflow-artifacts:/").await {
            Ok(s) => s,
            Err(e) => {
                if let Some((admin, name)) = database {
                    drop_database(backend, admin, name);
                }
                panic!("opening store {uri}: {e}");
            }
        };
        let state = AppState {
            traces: Arc::new(store.clone()),
            registry: Arc::new(store.clone()),
            genai: Arc::new(store.clone()),
            store: Arc::new(store),
            config: Arc::new(config),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local_addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = mlflow_server::router(state);
        let server = tokio::spawn(async move {
            let _ = mlflow_server::serve(listener, app, async {
                let _ = rx.await;
            })
            .await;
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("client");
        Some(Self {
            base: format!("http://{addr}"),
            client,
            _guard: Arc::new(Guard {
                backend,
                server,
                shutdown: Some(tx),
                database,
                _dir: dir,
            }),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn decode(resp: reqwest::Response) -> Resp {
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("response body");
        let is_json = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"));
        let body = if is_json {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("invalid JSON body ({e}): {text}"))
        } else {
            Value::String(text)
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    /// Any request: method, path (with query if wanted), extra headers, raw body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        for (k, v) in headers {
            req = req.header(*k, HeaderValue::from_str(v).expect("header value"));
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        Self::decode(req.send().await.expect("request")).await
    }

    /// GET with query parameters (repeat a key to send a list).
    pub async fn get_full(&self, path: &str, query: &[(&str, &str)]) -> Resp {
        let mut url = self.url(path);
        if !query.is_empty() {
            let mut ser = form_urlencoded::Serializer::new(String::new());
            for (k, v) in query {
                ser.append_pair(k, v);
            }
            url.push('?');
            url.push_str(&ser.finish());
        }
        let resp = self.client.get(url).send().await.expect("GET");
        Self::decode(resp).await
    }

    /// POST a JSON body.
    pub async fn post_full(&self, path: &str, body: &Value) -> Resp {
        let resp = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST");
        Self::decode(resp).await
    }

    /// GET under `/api/2.0/mlflow` unless `path` starts with `/`.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> (StatusCode, Value) {
        let r = self.get_full(&api(path), query).await;
        (r.status, r.body)
    }

    /// POST under `/api/2.0/mlflow` unless `path` starts with `/`.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self.post_full(&api(path), &body).await;
        (r.status, r.body)
    }

    /// POST that must succeed; returns the body.
    pub async fn post_ok(&self, path: &str, body: Value) -> Value {
        let (status, resp) = self.post(path, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "POST {path} {} failed: {resp}",
            clip(&body.to_string())
        );
        resp
    }

    /// GET that must succeed; returns the body.
    pub async fn get_ok(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let (status, resp) = self.get(path, query).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "GET {path} {query:?} failed: {resp}"
        );
        resp
    }

    // ------------------------------------------------------------ domain shortcuts

    pub async fn create_experiment(&self, name: &str) -> String {
        let r = self
            .post_ok("experiments/create", serde_json::json!({ "name": name }))
            .await;
        r["experiment_id"]
            .as_str()
            .expect("experiment_id string")
            .to_string()
    }

    pub async fn create_run(&self, experiment_id: &str) -> String {
        self.create_run_with(serde_json::json!({ "experiment_id": experiment_id }))
            .await
    }

    pub async fn create_run_with(&self, body: Value) -> String {
        let r = self.post_ok("runs/create", body).await;
        r["run"]["info"]["run_id"]
            .as_str()
            .expect("run_id")
            .to_string()
    }

    pub async fn get_run(&self, run_id: &str) -> Value {
        self.get_ok("runs/get", &[("run_id", run_id)]).await["run"].clone()
    }

    pub async fn get_experiment(&self, experiment_id: &str) -> Value {
        self.get_ok("experiments/get", &[("experiment_id", experiment_id)])
            .await["experiment"]
            .clone()
    }
}

/// Shortens long request bodies in failure messages.
fn clip(s: &str) -> String {
    match s.char_indices().nth(400) {
        Some((i, _)) => format!("{}... ({} bytes)", &s[..i], s.len()),
        None => s.to_string(),
    }
}

fn api(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/api/2.0/mlflow/{path}")
    }
}

/// The default server config of `mlflow server` (artifacts proxied, localhost only).
pub fn default_config() -> ServerConfig {
    ServerConfig {
        serve_artifacts: true,
        ..ServerConfig::default()
    }
}

/// Runs a test body against `backend`, or returns early (printing why) when the backend is
/// not configured.
pub async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(TestServer) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    test(server).await;
}

/// Asserts an MLflow JSON error: status, `error_code`, and the exact message.
#[track_caller]
pub fn assert_error(resp: &(StatusCode, Value), status: u16, code: &str, message: &str) {
    assert_error_prefix(resp, status, code, message);
    assert_eq!(
        resp.1["message"].as_str().unwrap_or_default(),
        message,
        "full body: {}",
        resp.1
    );
}

/// Asserts an MLflow JSON error whose message starts with `prefix`.
#[track_caller]
pub fn assert_error_prefix(resp: &(StatusCode, Value), status: u16, code: &str, prefix: &str) {
    let (st, body) = resp;
    assert_eq!(st.as_u16(), status, "unexpected status; body: {body}");
    assert_eq!(body["error_code"], code, "body: {body}");
    let msg = body["message"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with(prefix),
        "message {msg:?} does not start with {prefix:?}"
    );
    let (sqlstate, class) = match code {
        "RESOURCE_DOES_NOT_EXIST" => ("KAM00", "RESOURCE_NOT_FOUND"),
        "RESOURCE_ALREADY_EXISTS" => ("KAM00", "RESOURCE_ALREADY_EXISTS"),
        "INVALID_PARAMETER_VALUE" => ("KAM00", "INVALID_PARAMETER_VALUE"),
        _ => return,
    };
    assert_eq!(body["sqlstate"], sqlstate, "body: {body}");
    assert_eq!(body["error_class"], class, "body: {body}");
}

/// The official "Missing value" message.
pub fn missing(param: &str) -> String {
    format!(
        "Missing value for required parameter '{param}'. See the API docs for more information \
         about request parameters."
    )
}

/// Looks a key up in a `[{key, value}]` list.
pub fn kv_get<'a>(list: &'a Value, key: &str) -> Option<&'a Value> {
    list.as_array()?
        .iter()
        .find(|e| e["key"] == key)
        .map(|e| &e["value"])
}

/// `[{key, value}]` as sorted `(key, value)` pairs (values stringified).
pub fn kv_pairs(list: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["key"].as_str().unwrap_or_default().to_string(),
                        match &e["value"] {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        },
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Instantiates each listed `async fn(TestServer)` once per backend, as `sqlite_<name>`,
/// `postgres_<name>` and `mysql_<name>`.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        pastey::paste! {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn [<sqlite_ $name>]() {
                    $crate::common::run($crate::common::Backend::Sqlite, $name).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn [<postgres_ $name>]() {
                    $crate::common::run($crate::common::Backend::Postgres, $name).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn [<mysql_ $name>]() {
                    $crate::common::run($crate::common::Backend::Mysql, $name).await;
                }
            )*
        }
    };
}
