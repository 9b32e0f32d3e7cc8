//! Model- and prompt-registry HTTP tests against an in-process server.
//!
//! Every test runs on SQLite (a temp file) and, when `MLFLOW_RS_TEST_POSTGRES` is set (e.g.
//! `postgresql://postgres@127.0.0.1:5432/postgres`), on PostgreSQL in a uniquely named
//! database created for that test and dropped afterwards.

use mlflow_server::{AppState, ServerConfig};
use mlflow_store::SqlStore;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

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

fn admin_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let base = scheme.split('+').next().unwrap_or(scheme);
    format!("{base}://{rest}")
}

async fn pg_exec(admin: &str, sql: String) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&admin_url(admin))
        .await
        .unwrap_or_else(|e| panic!("connecting to {admin}: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .expect("admin statement");
    let _ = conn.close().await;
}

struct Server {
    base: String,
    client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    database: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.abort();
        if let Some((admin, name)) = self.database.take() {
            // Own thread and runtime: works from Drop, also while a failed test unwinds.
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

impl Server {
    async fn start(backend: Backend) -> Option<Server> {
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
                let name = format!("mlflow_rs_registry_{}", uuid::Uuid::new_v4().simple());
                pg_exec(&admin, format!("CREATE DATABASE {name}")).await;
                (with_database(&admin, &name), Some((admin, name)))
            }
        };
        let store = SqlStore::open(&uri, "mlflow-artifacts:/")
            .await
            .unwrap_or_else(|e| panic!("opening {uri}: {e}"));
        let state = AppState {
            traces: Arc::new(store.clone()),
            registry: Arc::new(store.clone()),
            genai: Arc::new(store.clone()),
            store: Arc::new(store),
            config: Arc::new(ServerConfig {
                serve_artifacts: true,
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
        Some(Server {
            base: format!("http://{addr}/api/2.0/mlflow"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            shutdown: Some(tx),
            task,
            database,
            _dir: dir,
        })
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut url = format!("{}/{path}", self.base);
        if method == Method::GET
            && let Some(b) = &body
        {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in b.as_object().expect("object") {
                match v {
                    Value::Array(items) => {
                        for i in items {
                            q.append_pair(k, i.as_str().unwrap_or_default());
                        }
                    }
                    Value::String(s) => {
                        q.append_pair(k, s);
                    }
                    other => {
                        q.append_pair(k, &other.to_string());
                    }
                }
            }
            url = format!("{url}?{}", q.finish());
        }
        let mut req = self.client.request(method.clone(), url);
        if let Some(b) = body
            && method != Method::GET
        {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    async fn ok(&self, method: Method, path: &str, body: Value) -> Value {
        let (status, v) = self.call(method, path, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {v}");
        v
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.ok(Method::POST, path, body).await
    }

    async fn get(&self, path: &str, query: Value) -> Value {
        self.ok(Method::GET, path, query).await
    }

    async fn create_model(&self, name: &str) -> Value {
        self.post("registered-models/create", json!({ "name": name }))
            .await
    }

    async fn create_version(&self, name: &str, source: &str) -> Value {
        self.post(
            "model-versions/create",
            json!({ "name": name, "source": source }),
        )
        .await["model_version"]
            .clone()
    }
}

#[track_caller]
fn assert_err(resp: &(StatusCode, Value), status: u16, code: &str, message: &str) {
    assert_eq!(resp.0.as_u16(), status, "{}", resp.1);
    assert_eq!(resp.1["error_code"], code, "{}", resp.1);
    assert_eq!(resp.1["message"], message, "{}", resp.1);
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["name"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn versions(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["version"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Declares one test per backend.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(s) = super::Server::start(super::Backend::Sqlite).await {
                        super::$name(s).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(s) = super::Server::start(super::Backend::Postgres).await {
                        super::$name(s).await;
                    }
                }
            )*
        }
    };
}

backend_tests!(
    registered_model_crud,
    rename_cascades,
    delete_cascades,
    versions_and_stages,
    aliases,
    protected_aliases,
    tags,
    search_registered_models,
    search_model_versions,
    prompts_hidden_from_searches,
    source_validation,
    concurrent_versions_are_gap_free,
);

async fn registered_model_crud(s: Server) {
    let rm = s
        .post(
            "registered-models/create",
            json!({"name": "m", "tags": [{"key": "t", "value": "v"}], "description": "d"}),
        )
        .await["registered_model"]
        .clone();
    assert_eq!(rm["name"], "m");
    assert_eq!(rm["description"], "d");
    assert_eq!(rm["tags"], json!([{"key": "t", "value": "v"}]));
    assert_eq!(rm["creation_timestamp"], rm["last_updated_timestamp"]);
    assert!(rm.get("latest_versions").is_none());

    let dup = s
        .call(
            Method::POST,
            "registered-models/create",
            Some(json!({"name": "m"})),
        )
        .await;
    assert_err(
        &dup,
        400,
        "RESOURCE_ALREADY_EXISTS",
        "Registered Model (name=m) already exists.",
    );
    let missing = s
        .call(
            Method::GET,
            "registered-models/get",
            Some(json!({"name": "nope"})),
        )
        .await;
    assert_err(
        &missing,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Registered Model with name=nope not found",
    );
    let no_name = s
        .call(Method::POST, "registered-models/create", Some(json!({})))
        .await;
    assert_err(
        &no_name,
        400,
        "INVALID_PARAMETER_VALUE",
        "Missing value for required parameter 'name'. See the API docs for more information about request parameters.",
    );
    let bad = s
        .call(
            Method::POST,
            "registered-models/create",
            Some(json!({"name": "a/b"})),
        )
        .await;
    assert_err(
        &bad,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid model name 'a/b'. Names cannot contain '/' or ':'.",
    );

    let upd = s
        .ok(
            Method::PATCH,
            "registered-models/update",
            json!({"name": "m", "description": "new"}),
        )
        .await;
    assert_eq!(upd["registered_model"]["description"], "new");
    let got = s.get("registered-models/get", json!({"name": "m"})).await;
    assert_eq!(got["registered_model"]["description"], "new");
    // An update without description clears it (the proto default is "").
    let cleared = s
        .ok(
            Method::PATCH,
            "registered-models/update",
            json!({"name": "m"}),
        )
        .await;
    assert!(cleared["registered_model"].get("description").is_none());

    s.ok(
        Method::DELETE,
        "registered-models/delete",
        json!({"name": "m"}),
    )
    .await;
    let gone = s
        .call(
            Method::GET,
            "registered-models/get",
            Some(json!({"name": "m"})),
        )
        .await;
    assert_eq!(gone.0, StatusCode::NOT_FOUND);
}

async fn rename_cascades(s: Server) {
    s.post(
        "registered-models/create",
        json!({"name": "old", "tags": [{"key": "k", "value": "v"}]}),
    )
    .await;
    s.create_version("old", "s3://b/1").await;
    s.post(
        "model-versions/set-tag",
        json!({"name": "old", "version": "1", "key": "vk", "value": "vv"}),
    )
    .await;
    s.post(
        "registered-models/alias",
        json!({"name": "old", "alias": "champ", "version": "1"}),
    )
    .await;
    s.create_model("taken").await;
    let clash = s
        .call(
            Method::POST,
            "registered-models/rename",
            Some(json!({"name": "old", "new_name": "taken"})),
        )
        .await;
    assert_eq!(clash.0.as_u16(), 400);
    assert_eq!(clash.1["error_code"], "RESOURCE_ALREADY_EXISTS");

    let rm = s
        .post(
            "registered-models/rename",
            json!({"name": "old", "new_name": "new"}),
        )
        .await["registered_model"]
        .clone();
    assert_eq!(rm["name"], "new");
    assert_eq!(rm["tags"], json!([{"key": "k", "value": "v"}]));
    assert_eq!(rm["aliases"], json!([{"alias": "champ", "version": "1"}]));
    assert_eq!(rm["latest_versions"][0]["name"], "new");
    let mv = s
        .get("model-versions/get", json!({"name": "new", "version": "1"}))
        .await["model_version"]
        .clone();
    assert_eq!(mv["tags"], json!([{"key": "vk", "value": "vv"}]));
    assert_eq!(mv["aliases"], json!(["champ"]));
    let by_alias = s
        .get(
            "registered-models/alias",
            json!({"name": "new", "alias": "champ"}),
        )
        .await;
    assert_eq!(by_alias["model_version"]["version"], "1");
    let old = s
        .call(
            Method::GET,
            "model-versions/get",
            Some(json!({"name": "old", "version": "1"})),
        )
        .await;
    assert_eq!(old.0, StatusCode::NOT_FOUND);
}

async fn delete_cascades(s: Server) {
    s.post(
        "registered-models/create",
        json!({"name": "d", "tags": [{"key": "k", "value": "v"}]}),
    )
    .await;
    s.create_version("d", "s3://b/1").await;
    s.post(
        "model-versions/set-tag",
        json!({"name": "d", "version": "1", "key": "vk", "value": "vv"}),
    )
    .await;
    s.post(
        "registered-models/alias",
        json!({"name": "d", "alias": "a", "version": "1"}),
    )
    .await;
    s.ok(
        Method::DELETE,
        "registered-models/delete",
        json!({"name": "d"}),
    )
    .await;
    // Re-creating the name starts from scratch: version 1 again, no tags, no aliases.
    s.create_model("d").await;
    let v = s.create_version("d", "s3://b/2").await;
    assert_eq!(v["version"], "1");
    assert!(v.get("tags").is_none());
    let rm = s.get("registered-models/get", json!({"name": "d"})).await;
    assert!(rm["registered_model"].get("aliases").is_none());
    assert!(rm["registered_model"].get("tags").is_none());
}

async fn versions_and_stages(s: Server) {
    s.create_model("m").await;
    let v1 = s.create_version("m", "s3://b/1").await;
    assert_eq!(v1["version"], "1");
    assert_eq!(v1["current_stage"], "None");
    assert_eq!(v1["status"], "READY");
    assert_eq!(v1["description"], "");
    assert_eq!(v1["run_id"], "");
    for i in 2..=4 {
        assert_eq!(
            s.create_version("m", &format!("s3://b/{i}")).await["version"],
            i.to_string()
        );
    }
    let t = s
        .post(
            "model-versions/transition-stage",
            json!({"name": "m", "version": "1", "stage": "production"}),
        )
        .await;
    assert_eq!(t["model_version"]["current_stage"], "Production");
    let t = s
        .post(
            "model-versions/transition-stage",
            json!({"name": "m", "version": "2", "stage": "Production", "archive_existing_versions": true}),
        )
        .await;
    assert_eq!(t["model_version"]["current_stage"], "Production");
    let v1 = s
        .get("model-versions/get", json!({"name": "m", "version": "1"}))
        .await;
    assert_eq!(v1["model_version"]["current_stage"], "Archived");
    let bad = s
        .call(
            Method::POST,
            "model-versions/transition-stage",
            Some(json!({"name": "m", "version": "3", "stage": "none", "archive_existing_versions": true})),
        )
        .await;
    assert_err(
        &bad,
        500,
        "INTERNAL_ERROR",
        "Model version transition cannot archive existing model versions because 'none' is not an Active stage. Valid stages are ['Staging', 'Production']",
    );
    let bad = s
        .call(
            Method::POST,
            "model-versions/transition-stage",
            Some(json!({"name": "m", "version": "3", "stage": "bogus"})),
        )
        .await;
    assert_err(
        &bad,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid Model Version stage: bogus. Value must be one of None, Staging, Production, Archived.",
    );

    let latest = s
        .post(
            "registered-models/get-latest-versions",
            json!({"name": "m"}),
        )
        .await;
    let mut got = versions(&latest["model_versions"]);
    got.sort();
    assert_eq!(got, vec!["1", "2", "4"]);
    let prod = s
        .get(
            "registered-models/get-latest-versions",
            json!({"name": "m", "stages": ["production"]}),
        )
        .await;
    assert_eq!(versions(&prod["model_versions"]), vec!["2"]);

    let upd = s
        .ok(
            Method::PATCH,
            "model-versions/update",
            json!({"name": "m", "version": "3", "description": "hello"}),
        )
        .await;
    assert_eq!(upd["model_version"]["description"], "hello");
    let uri = s
        .get(
            "model-versions/get-download-uri",
            json!({"name": "m", "version": "3"}),
        )
        .await;
    assert_eq!(uri["artifact_uri"], "s3://b/3");

    // Deleted versions disappear but keep their number.
    s.ok(
        Method::DELETE,
        "model-versions/delete",
        json!({"name": "m", "version": "4"}),
    )
    .await;
    let gone = s
        .call(
            Method::GET,
            "model-versions/get",
            Some(json!({"name": "m", "version": "4"})),
        )
        .await;
    assert_err(
        &gone,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Model Version (name=m, version=4) not found",
    );
    assert_eq!(s.create_version("m", "s3://b/5").await["version"], "5");
    let bad = s
        .call(
            Method::GET,
            "model-versions/get",
            Some(json!({"name": "m", "version": "x"})),
        )
        .await;
    assert_err(
        &bad,
        400,
        "INVALID_PARAMETER_VALUE",
        "Parameter 'version' must be an integer, got 'x'.",
    );
    let nomodel = s
        .call(
            Method::POST,
            "model-versions/create",
            Some(json!({"name": "nope", "source": "s3://b/1"})),
        )
        .await;
    assert_err(
        &nomodel,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Registered Model with name=nope not found",
    );
    // Copying a version by URI resolves aliases to the version and keeps the source lineage.
    s.post(
        "registered-models/alias",
        json!({"name": "m", "alias": "prod", "version": "2"}),
    )
    .await;
    s.create_model("copy").await;
    let c = s.create_version("copy", "models:/m@prod").await;
    assert_eq!(c["source"], "models:/m/2");
    let uri = s
        .get(
            "model-versions/get-download-uri",
            json!({"name": "copy", "version": "1"}),
        )
        .await;
    assert_eq!(uri["artifact_uri"], "s3://b/2");
}

async fn aliases(s: Server) {
    s.create_model("a").await;
    s.create_version("a", "s3://b/1").await;
    s.create_version("a", "s3://b/2").await;
    s.post(
        "registered-models/alias",
        json!({"name": "a", "alias": "champ", "version": "1"}),
    )
    .await;
    let v = s
        .get(
            "registered-models/alias",
            json!({"name": "a", "alias": "champ"}),
        )
        .await;
    assert_eq!(v["model_version"]["version"], "1");
    assert_eq!(v["model_version"]["aliases"], json!(["champ"]));
    // Moving an alias.
    s.post(
        "registered-models/alias",
        json!({"name": "a", "alias": "champ", "version": "2"}),
    )
    .await;
    let v = s
        .get(
            "registered-models/alias",
            json!({"name": "a", "alias": "champ"}),
        )
        .await;
    assert_eq!(v["model_version"]["version"], "2");
    let latest = s
        .get(
            "registered-models/alias",
            json!({"name": "a", "alias": "LATEST"}),
        )
        .await;
    assert_eq!(latest["model_version"]["version"], "2");
    let unknown = s
        .call(
            Method::GET,
            "registered-models/alias",
            Some(json!({"name": "a", "alias": "nope"})),
        )
        .await;
    assert_err(
        &unknown,
        400,
        "INVALID_PARAMETER_VALUE",
        "Registered model alias nope not found.",
    );
    for (alias, msg) in [
        (
            "latest",
            "'latest' alias name (case insensitive) is reserved.",
        ),
        ("v3", "Version alias name 'v3' is reserved."),
        (
            "a b",
            "Invalid alias name: 'a b'. Names may only contain alphanumerics, underscores (_), and dashes (-).",
        ),
    ] {
        let r = s
            .call(
                Method::POST,
                "registered-models/alias",
                Some(json!({"name": "a", "alias": alias, "version": "1"})),
            )
            .await;
        assert_err(&r, 400, "INVALID_PARAMETER_VALUE", msg);
    }
    let r = s
        .call(
            Method::POST,
            "registered-models/alias",
            Some(json!({"name": "a", "alias": "x", "version": "9"})),
        )
        .await;
    assert_eq!(r.0, StatusCode::NOT_FOUND);
    s.ok(
        Method::DELETE,
        "registered-models/alias",
        json!({"name": "a", "alias": "champ"}),
    )
    .await;
    // Deleting an unknown alias is a no-op, as official.
    s.ok(
        Method::DELETE,
        "registered-models/alias",
        json!({"name": "a", "alias": "champ"}),
    )
    .await;
    let rm = s.get("registered-models/get", json!({"name": "a"})).await;
    assert!(rm["registered_model"].get("aliases").is_none());
    // Deleting a version drops its aliases.
    s.post(
        "registered-models/alias",
        json!({"name": "a", "alias": "x", "version": "1"}),
    )
    .await;
    s.ok(
        Method::DELETE,
        "model-versions/delete",
        json!({"name": "a", "version": "1"}),
    )
    .await;
    let r = s
        .call(
            Method::GET,
            "registered-models/alias",
            Some(json!({"name": "a", "alias": "x"})),
        )
        .await;
    assert_eq!(r.0.as_u16(), 400);
}

async fn tags(s: Server) {
    s.create_model("t").await;
    s.create_version("t", "s3://b/1").await;
    s.post(
        "registered-models/set-tag",
        json!({"name": "t", "key": "k", "value": "1"}),
    )
    .await;
    s.post(
        "registered-models/set-tag",
        json!({"name": "t", "key": "k", "value": "2"}),
    )
    .await;
    let rm = s.get("registered-models/get", json!({"name": "t"})).await;
    assert_eq!(
        rm["registered_model"]["tags"],
        json!([{"key": "k", "value": "2"}])
    );
    s.ok(
        Method::DELETE,
        "registered-models/delete-tag",
        json!({"name": "t", "key": "k"}),
    )
    .await;
    let rm = s.get("registered-models/get", json!({"name": "t"})).await;
    assert!(rm["registered_model"].get("tags").is_none());

    s.post(
        "model-versions/set-tag",
        json!({"name": "t", "version": "1", "key": "k", "value": "v"}),
    )
    .await;
    let mv = s
        .get("model-versions/get", json!({"name": "t", "version": "1"}))
        .await;
    assert_eq!(
        mv["model_version"]["tags"],
        json!([{"key": "k", "value": "v"}])
    );
    s.ok(
        Method::DELETE,
        "model-versions/delete-tag",
        json!({"name": "t", "version": "1", "key": "k"}),
    )
    .await;
    let mv = s
        .get("model-versions/get", json!({"name": "t", "version": "1"}))
        .await;
    assert!(mv["model_version"].get("tags").is_none());
    let r = s
        .call(
            Method::POST,
            "model-versions/set-tag",
            Some(json!({"name": "t", "version": "7", "key": "k", "value": "v"})),
        )
        .await;
    assert_eq!(r.0, StatusCode::NOT_FOUND);
    let r = s
        .call(
            Method::POST,
            "registered-models/set-tag",
            Some(json!({"name": "t", "key": "../x", "value": "v"})),
        )
        .await;
    assert_eq!(r.0.as_u16(), 400);
}

async fn search_registered_models(s: Server) {
    for n in ["alpha", "beta", "Gamma", "delta"] {
        s.create_model(n).await;
    }
    s.post(
        "registered-models/set-tag",
        json!({"name": "beta", "key": "team", "value": "x"}),
    )
    .await;
    let all = s.get("registered-models/search", json!({})).await;
    assert_eq!(
        names(&all["registered_models"]),
        vec!["Gamma", "alpha", "beta", "delta"]
    );
    let like = s
        .get(
            "registered-models/search",
            json!({"filter": "name LIKE '%a'"}),
        )
        .await;
    assert_eq!(
        names(&like["registered_models"]),
        vec!["Gamma", "alpha", "beta", "delta"]
    );
    let like = s
        .get(
            "registered-models/search",
            json!({"filter": "name LIKE 'g%'"}),
        )
        .await;
    assert!(like.get("registered_models").is_none());
    let ilike = s
        .get(
            "registered-models/search",
            json!({"filter": "name ILIKE 'g%'"}),
        )
        .await;
    assert_eq!(names(&ilike["registered_models"]), vec!["Gamma"]);
    let tag = s
        .get(
            "registered-models/search",
            json!({"filter": "tags.team = 'x'"}),
        )
        .await;
    assert_eq!(names(&tag["registered_models"]), vec!["beta"]);
    let inl = s
        .get(
            "registered-models/search",
            json!({"filter": "name IN ('alpha', 'delta')", "order_by": ["name DESC"]}),
        )
        .await;
    assert_eq!(names(&inl["registered_models"]), vec!["delta", "alpha"]);
    // Paging.
    let p1 = s
        .get("registered-models/search", json!({"max_results": "3"}))
        .await;
    assert_eq!(p1["registered_models"].as_array().map(Vec::len), Some(3));
    let token = p1["next_page_token"].as_str().expect("token").to_string();
    let p2 = s
        .get(
            "registered-models/search",
            json!({"max_results": "3", "page_token": token}),
        )
        .await;
    assert_eq!(names(&p2["registered_models"]), vec!["delta"]);
    assert!(p2.get("next_page_token").is_none());
    // Errors.
    let r = s
        .call(
            Method::GET,
            "registered-models/search",
            Some(json!({"order_by": ["name", "name"]})),
        )
        .await;
    assert_err(
        &r,
        500,
        "INTERNAL_ERROR",
        "`order_by` contains duplicate fields: ['name', 'name']",
    );
    let r = s
        .call(
            Method::GET,
            "registered-models/search",
            Some(json!({"max_results": "2000"})),
        )
        .await;
    assert_eq!(r.0.as_u16(), 400);
    let r = s
        .call(
            Method::GET,
            "registered-models/search",
            Some(json!({"filter": "name = 'a' OR name = 'b'"})),
        )
        .await;
    assert_err(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid clause(s) in filter string: OR",
    );
}

async fn search_model_versions(s: Server) {
    s.create_model("m1").await;
    s.create_model("m2").await;
    for _ in 0..3 {
        s.create_version("m1", "s3://b/m1").await;
    }
    s.create_version("m2", "s3://other/m2").await;
    s.post(
        "model-versions/set-tag",
        json!({"name": "m1", "version": "2", "key": "k", "value": "v"}),
    )
    .await;
    let r = s
        .get(
            "model-versions/search",
            json!({"filter": "name = 'm1'", "order_by": ["version_number ASC"]}),
        )
        .await;
    assert_eq!(versions(&r["model_versions"]), vec!["1", "2", "3"]);
    let r = s
        .get(
            "model-versions/search",
            json!({"filter": "name='m1' AND version_number >= 2", "order_by": ["version_number DESC"]}),
        )
        .await;
    assert_eq!(versions(&r["model_versions"]), vec!["3", "2"]);
    let r = s
        .get("model-versions/search", json!({"filter": "tags.k = 'v'"}))
        .await;
    assert_eq!(versions(&r["model_versions"]), vec!["2"]);
    let r = s
        .get(
            "model-versions/search",
            json!({"filter": "source_path LIKE 's3://other/%'"}),
        )
        .await;
    assert_eq!(names(&r["model_versions"]), vec!["m2"]);
    let p1 = s
        .get(
            "model-versions/search",
            json!({"max_results": "2", "order_by": ["name", "version_number"]}),
        )
        .await;
    assert_eq!(versions(&p1["model_versions"]), vec!["1", "2"]);
    let token = p1["next_page_token"].as_str().expect("token").to_string();
    let p2 = s
        .get(
            "model-versions/search",
            json!({"max_results": "2", "order_by": ["name", "version_number"], "page_token": token}),
        )
        .await;
    assert_eq!(names(&p2["model_versions"]), vec!["m1", "m2"]);
    let r = s
        .call(
            Method::GET,
            "model-versions/search",
            Some(json!({"filter": "version_number = 'a'"})),
        )
        .await;
    assert_err(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value for numeric attribute 'version_number': 'a'",
    );
    let r = s
        .call(
            Method::GET,
            "model-versions/search",
            Some(json!({"max_results": "0"})),
        )
        .await;
    assert_err(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value for max_results. It must be a positive integer, but got 0",
    );
}

async fn prompts_hidden_from_searches(s: Server) {
    s.create_model("model").await;
    s.create_version("model", "s3://b/1").await;
    s.post(
        "registered-models/create",
        json!({"name": "prompt", "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]}),
    )
    .await;
    let v = s
        .post(
            "model-versions/create",
            json!({"name": "prompt", "source": "dummy-source", "tags": [
                {"key": "mlflow.prompt.is_prompt", "value": "true"},
                {"key": "mlflow.prompt.text", "value": "Hi {{ name }}"},
                {"key": "_mlflow_prompt_type", "value": "text"}
            ]}),
        )
        .await;
    assert_eq!(v["model_version"]["source"], "dummy-source");
    let rms = s.get("registered-models/search", json!({})).await;
    assert_eq!(names(&rms["registered_models"]), vec!["model"]);
    let rms = s
        .get(
            "registered-models/search",
            json!({"filter": "tags.`mlflow.prompt.is_prompt` = 'true'"}),
        )
        .await;
    assert_eq!(names(&rms["registered_models"]), vec!["prompt"]);
    let rms = s
        .get(
            "registered-models/search",
            json!({"filter": "tags.`mlflow.prompt.is_prompt` != 'true'"}),
        )
        .await;
    assert_eq!(names(&rms["registered_models"]), vec!["model"]);
    let mvs = s.get("model-versions/search", json!({})).await;
    assert_eq!(names(&mvs["model_versions"]), vec!["model"]);
    let mvs = s
        .get(
            "model-versions/search",
            json!({"filter": "name = 'prompt' AND tag.`mlflow.prompt.is_prompt` = 'true'", "order_by": ["version_number DESC"]}),
        )
        .await;
    assert_eq!(names(&mvs["model_versions"]), vec!["prompt"]);
    // Prompt versions need a placeholder source; prompts cannot be model sources.
    let r = s
        .call(
            Method::POST,
            "model-versions/create",
            Some(json!({"name": "prompt", "source": "s3://x/y", "tags": [
                {"key": "mlflow.prompt.is_prompt", "value": "true"}]})),
        )
        .await;
    assert_err(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid prompt source: 's3://x/y'. Prompt sources must use an MLflow placeholder.",
    );
    let r = s
        .call(
            Method::POST,
            "model-versions/create",
            Some(json!({"name": "model", "source": "models:/prompt/1"})),
        )
        .await;
    assert_err(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid model version source: 'models:/prompt/1'. Prompt versions cannot be used as model version sources.",
    );
    // A model and a prompt cannot share a name.
    let r = s
        .call(
            Method::POST,
            "registered-models/create",
            Some(json!({"name": "model", "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]})),
        )
        .await;
    assert_err(
        &r,
        400,
        "RESOURCE_ALREADY_EXISTS",
        "Tried to create a prompt with name 'model', but the name is already taken by a registered model. MLflow does not allow creating a model and a prompt with the same name.",
    );
}

async fn source_validation(s: Server) {
    s.create_model("m").await;
    let run = s.post("runs/create", json!({"experiment_id": "0"})).await["run"]["info"].clone();
    let run_id = run["run_id"].as_str().expect("run id").to_string();
    let artifact_uri = run["artifact_uri"].as_str().expect("uri").to_string();
    let ok = s
        .post(
            "model-versions/create",
            json!({"name": "m", "source": format!("runs:/{run_id}/model"), "run_id": run_id}),
        )
        .await;
    assert_eq!(ok["model_version"]["run_id"], run_id.as_str());
    let ok = s
        .post(
            "model-versions/create",
            json!({"name": "m", "source": format!("{artifact_uri}/model"), "run_id": run_id}),
        )
        .await;
    assert_eq!(ok["model_version"]["version"], "2");
    let cases = [
        (
            json!({"name": "m", "source": "runs:/abc/model"}),
            "Invalid model version source: 'runs:/abc/model'. The run_id request parameter must identify the resource that contains the source.",
        ),
        (
            json!({"name": "m", "source": "/tmp/x"}),
            "Invalid model version source: '/tmp/x'. To use a local path as a model version source, the run_id request parameter has to be specified and the local path has to be contained within the artifact directory of the run specified by the run_id.",
        ),
        (
            json!({"name": "m", "source": "mlflow-artifacts:/0/x"}),
            "Invalid model version source: 'mlflow-artifacts:/0/x'. The run_id request parameter must identify the resource that contains the source.",
        ),
        (
            json!({"name": "m", "source": "s3://b/../x"}),
            "Invalid model version source: 's3://b/../x'. If supplying a source as an http, https, local file path, ftp, objectstore, or mlflow-artifacts uri, an absolute path must be provided without relative path references present. Please provide an absolute path.",
        ),
        (
            json!({"name": "m", "source": "http://evil.com/x"}),
            "'source' cannot use the 'http' scheme: the 'http' scheme addresses a host other than the tracking server's configured artifact storage, so the server would connect to the host named in the URI. Set the MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES environment variable on the server to allow it.",
        ),
    ];
    for (body, msg) in cases {
        let r = s
            .call(Method::POST, "model-versions/create", Some(body))
            .await;
        assert_err(&r, 400, "INVALID_PARAMETER_VALUE", msg);
    }
    let r = s
        .call(
            Method::POST,
            "model-versions/create",
            Some(json!({"name": "m", "source": "models:/m-abc", "model_id": "m-abc"})),
        )
        .await;
    assert_err(
        &r,
        500,
        "INTERNAL_ERROR",
        "Unable to fetch model from model URI source artifact location 'models:/m-abc'.Error: Logged model with ID 'm-abc' not found.",
    );
}

async fn concurrent_versions_are_gap_free(s: Server) {
    s.create_model("race").await;
    let s = Arc::new(s);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.create_version("race", &format!("s3://b/{i}")).await["version"]
                .as_str()
                .unwrap_or_default()
                .parse::<i64>()
                .unwrap_or(-1)
        }));
    }
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.expect("task"));
    }
    got.sort();
    assert_eq!(got, (1..=16).collect::<Vec<i64>>());
    let all = s
        .get(
            "model-versions/search",
            json!({"filter": "name = 'race'", "max_results": "100"}),
        )
        .await;
    assert_eq!(all["model_versions"].as_array().map(Vec::len), Some(16));
}

/// Our opt-in: a protected alias moves or goes away only with `override_protection`.
async fn protected_aliases(s: Server) {
    s.create_model("p").await;
    s.create_version("p", "s3://b/1").await;
    s.create_version("p", "s3://b/2").await;
    s.post(
        "registered-models/set-tag",
        json!({"name": "p", "key": "mlflow-rs.protected_alias.champ", "value": "true"}),
    )
    .await;
    // The first assignment and re-pointing at the same version are allowed.
    for _ in 0..2 {
        s.post(
            "registered-models/alias",
            json!({"name": "p", "alias": "champ", "version": "1"}),
        )
        .await;
    }
    let moved = s
        .call(
            Method::POST,
            "registered-models/alias",
            Some(json!({"name": "p", "alias": "champ", "version": "2"})),
        )
        .await;
    assert_err(
        &moved,
        400,
        "INVALID_PARAMETER_VALUE",
        "Alias 'champ' of registered model 'p' is protected (tag 'mlflow-rs.protected_alias.champ' = 'true') and points at version 1; pass override_protection=true to move it.",
    );
    let deleted = s
        .call(
            Method::DELETE,
            "registered-models/alias",
            Some(json!({"name": "p", "alias": "champ"})),
        )
        .await;
    assert_eq!(deleted.0, 400, "{deleted:?}");
    let v = s
        .get(
            "registered-models/alias",
            json!({"name": "p", "alias": "champ"}),
        )
        .await;
    assert_eq!(v["model_version"]["version"], "1");
    // Unprotected aliases on the same model move freely.
    s.post(
        "registered-models/alias",
        json!({"name": "p", "alias": "other", "version": "1"}),
    )
    .await;
    s.post(
        "registered-models/alias",
        json!({"name": "p", "alias": "other", "version": "2"}),
    )
    .await;
    // With the override the protected alias moves, then can be deleted.
    s.post(
        "registered-models/alias",
        json!({"name": "p", "alias": "champ", "version": "2", "override_protection": true}),
    )
    .await;
    let v = s
        .get(
            "registered-models/alias",
            json!({"name": "p", "alias": "champ"}),
        )
        .await;
    assert_eq!(v["model_version"]["version"], "2");
    let r = s
        .call(
            Method::DELETE,
            "registered-models/alias",
            Some(json!({"name": "p", "alias": "champ", "override_protection": true})),
        )
        .await;
    assert_eq!(r.0, 200, "{r:?}");
}
