//! Trace retention (tags, server defaults, the background sweeper), `gc` of deleted runs and
//! experiments, the storage report, and paged/streamed reads of a large trace.
//!
//! SQLite always; PostgreSQL too when `MLFLOW_RS_TEST_POSTGRES` is set (an admin URL such as
//! `postgresql://postgres@127.0.0.1:5432/postgres`): each test gets its own uniquely named
//! database, dropped afterwards.

use mlflow_server::{AppState, ServerConfig};
use mlflow_store::SqlStore;
use mlflow_store::retention::{GcOptions, RetentionPolicy, TAG_MAX_TRACES, TAG_TTL};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Env {
    store: SqlStore,
    base: String,
    client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
    pg: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

fn pg_admin() -> Option<String> {
    std::env::var("MLFLOW_RS_TEST_POSTGRES")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// `postgresql+psycopg2://u@h/db` -> `postgres://u@h/<name>`.
fn pg_url(admin: &str, name: &str) -> String {
    let (_, rest) = admin.split_once("://").unwrap_or(("", admin));
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("postgres://{authority}/{name}")
}

async fn pg_exec(admin: &str, sql: String) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&pg_url(admin, "postgres"))
        .await
        .expect("connect to PostgreSQL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .expect("admin SQL");
    let _ = conn.close().await;
}

impl Env {
    async fn start(backend: Backend) -> Option<Env> {
        static ONCE: OnceLock<()> = OnceLock::new();
        ONCE.get_or_init(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let (uri, pg) = match backend {
            Backend::Sqlite => (
                format!("sqlite:///{}", dir.path().join("mlflow.db").display()),
                None,
            ),
            Backend::Postgres => {
                let Some(admin) = pg_admin() else {
                    eprintln!("skipping: MLFLOW_RS_TEST_POSTGRES is not set");
                    return None;
                };
                let name = format!("mlflow_rs_retention_{}", uuid::Uuid::new_v4().simple());
                pg_exec(&admin, format!("CREATE DATABASE {name}")).await;
                (pg_url(&admin, &name), Some((admin, name)))
            }
        };
        let store = SqlStore::open(&uri, "mlflow-artifacts:/")
            .await
            .expect("open store");
        let state = AppState {
            traces: Arc::new(store.clone()),
            registry: Arc::new(store.clone()),
            genai: Arc::new(store.clone()),
            store: Arc::new(store.clone()),
            config: Arc::new(ServerConfig {
                serve_artifacts: true,
                ..ServerConfig::default()
            }),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = mlflow_server::router(state);
        let server = tokio::spawn(async move {
            let _ = mlflow_server::serve(listener, app, std::future::pending()).await;
        });
        Some(Env {
            store,
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(600))
                .build()
                .expect("client"),
            server,
            pg,
            _dir: dir,
        })
    }

    async fn finish(self) {
        self.server.abort();
        self.store.db().read.close().await;
        self.store.db().write.close().await;
        if let Some((admin, name)) = self.pg {
            pg_exec(
                &admin,
                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await;
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("POST");
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "POST {path} {body}: {status} {v}");
        v
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let r = self
            .client
            .get(url(&self.base, path, query))
            .send()
            .await
            .expect("GET");
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "GET {path}: {status} {v}");
        v
    }

    async fn experiment(&self, name: &str, tags: &[(&str, &str)]) -> String {
        let tags: Vec<Value> = tags
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        let r = self
            .post(
                "/api/2.0/mlflow/experiments/create",
                json!({"name": name, "tags": tags}),
            )
            .await;
        r["experiment_id"].as_str().expect("id").to_owned()
    }

    async fn export(&self, exp: &str, req: &ExportTraceServiceRequest) {
        let r = self
            .client
            .post(format!("{}/v1/traces", self.base))
            .header("content-type", "application/x-protobuf")
            .header("x-mlflow-experiment-id", exp)
            .body(req.encode_to_vec())
            .send()
            .await
            .expect("export");
        assert!(r.status().is_success(), "export: {}", r.status());
    }

    async fn count(&self, sql: &str) -> i64 {
        use sqlx::Row;
        let db = self.store.db();
        let row = sqlx::query(db.sql(sql))
            .fetch_one(&db.read)
            .await
            .expect("count");
        row.try_get::<i64, _>(0)
            .or_else(|_| row.try_get::<i32, _>(0).map(i64::from))
            .expect("int")
    }
}

fn url(base: &str, path: &str, query: &[(&str, &str)]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in query {
        ser.append_pair(k, v);
    }
    format!("{base}{path}?{}", ser.finish())
}

fn s(v: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(v.into())),
    }
}

fn kv(k: &str, v: AnyValue) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(v),
        ..Default::default()
    }
}

fn trace_bytes(n: u32) -> Vec<u8> {
    let mut t = vec![0xcd; 16];
    t[12..16].copy_from_slice(&n.to_be_bytes());
    t
}

fn trace_id(n: u32) -> String {
    format!(
        "tr-{}",
        trace_bytes(n)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

fn span_id(i: u64) -> Vec<u8> {
    (i + 1).to_be_bytes().to_vec()
}

/// Spans `from..to` of trace `n` (span 0 is the root, the others its children), starting at
/// `start_ms`.
fn spans(n: u32, from: u64, to: u64, start_ms: u64) -> ExportTraceServiceRequest {
    let base = start_ms * 1_000_000;
    let t = trace_bytes(n);
    let spans = (from..to)
        .map(|i| Span {
            trace_id: t.clone(),
            span_id: span_id(i),
            parent_span_id: if i == 0 { Vec::new() } else { span_id(0) },
            name: if i == 0 {
                "root".into()
            } else {
                format!("step-{i}")
            },
            start_time_unix_nano: base + i * 1000,
            end_time_unix_nano: base + i * 1000 + 500 + if i == 0 { 1_000_000_000 } else { 0 },
            attributes: vec![
                kv("mlflow.spanType", s(if i == 0 { "CHAIN" } else { "TOOL" })),
                kv("mlflow.spanInputs", s(&format!("{{\"i\": {i}}}"))),
            ],
            status: Some(Status {
                code: 1,
                message: String::new(),
            }),
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s("retention-test"))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn now_ms() -> u64 {
    mlflow_domain::now_ms() as u64
}

const HOUR: u64 = 3_600_000;

/// A trace with 3 spans, a tag, an assessment and a run link.
async fn full_trace(env: &Env, exp: &str, n: u32, start_ms: u64, run: &str) {
    env.export(exp, &spans(n, 0, 3, start_ms)).await;
    let id = trace_id(n);
    let r = env
        .client
        .patch(format!("{}/api/3.0/mlflow/traces/{id}/tags", env.base))
        .json(&json!({"key": "k", "value": "v"}))
        .send()
        .await
        .expect("tag");
    assert!(r.status().is_success());
    env.post(
        &format!("/api/3.0/mlflow/traces/{id}/assessments"),
        json!({"assessment": {"assessment_name": "q", "source": {"source_type": "HUMAN"},
            "feedback": {"value": "yes"}}}),
    )
    .await;
    env.post(
        "/api/2.0/mlflow/traces/link-to-run",
        json!({"trace_ids": [id], "run_id": run}),
    )
    .await;
}

async fn trace_ids(env: &Env, exp: &str) -> Vec<String> {
    let mut ids: Vec<String> = env
        .post(
            "/api/3.0/mlflow/traces/search",
            json!({"locations": [{"type": "MLFLOW_EXPERIMENT",
                "mlflow_experiment": {"experiment_id": exp}}], "max_results": 500}),
        )
        .await["traces"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    ids
}

/// Rows left anywhere for these traces.
async fn leftovers(env: &Env, ids: &[String]) -> i64 {
    let list = ids
        .iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut total = 0;
    for (table, col) in [
        ("trace_info", "request_id"),
        ("spans", "trace_id"),
        ("trace_tags", "request_id"),
        ("trace_request_metadata", "request_id"),
        ("assessments", "trace_id"),
        ("trace_metrics", "request_id"),
        ("entity_associations", "source_id"),
    ] {
        total += env
            .count(&format!(
                "SELECT COUNT(*) FROM {table} WHERE {col} IN ({list})"
            ))
            .await;
    }
    total
}

async fn retention_rules(env: Env) {
    let now = now_ms();
    let run_exp = env.experiment("runs", &[]).await;
    let run = env
        .post(
            "/api/2.0/mlflow/runs/create",
            json!({"experiment_id": run_exp}),
        )
        .await["run"]["info"]["run_id"]
        .as_str()
        .expect("run")
        .to_owned();
    let a = env.experiment("ttl-1h", &[(TAG_TTL, "1h")]).await;
    let b = env.experiment("max-3", &[(TAG_MAX_TRACES, "3")]).await;
    let c = env.experiment("untagged", &[]).await;
    let d = env.experiment("opted-out", &[(TAG_TTL, "off")]).await;
    // a: 3 old (2h), 2 new; b: 5 at increasing times; c and d: 2 old each.
    for n in 0..3 {
        full_trace(&env, &a, n, now - 2 * HOUR - u64::from(n) * 1000, &run).await;
    }
    for n in 3..5 {
        full_trace(&env, &a, n, now - 60_000, &run).await;
    }
    for n in 10..15 {
        full_trace(&env, &b, n, now - 2 * HOUR + u64::from(n) * 60_000, &run).await;
    }
    for n in 20..22 {
        full_trace(&env, &c, n, now - 5 * HOUR, &run).await;
    }
    for n in 30..32 {
        full_trace(&env, &d, n, now - 5 * HOUR, &run).await;
    }
    let before_c = trace_ids(&env, &c).await;
    let old_a: Vec<String> = (0..3).map(trace_id).collect();
    let old_b: Vec<String> = (10..12).map(trace_id).collect();
    assert!(leftovers(&env, &old_a).await >= 3 * (1 + 3 + 1 + 1 + 1));

    // Tags only.
    let stats = env
        .store
        .sweep_traces(RetentionPolicy::default())
        .await
        .expect("sweep");
    assert!(stats.ran);
    assert_eq!(stats.traces_deleted, 5, "{stats:?}");
    assert_eq!(
        trace_ids(&env, &a).await,
        vec![trace_id(3), trace_id(4)],
        "ttl keeps the new traces"
    );
    assert_eq!(
        trace_ids(&env, &b).await,
        (12..15).map(trace_id).collect::<Vec<_>>(),
        "max keeps the newest 3"
    );
    assert_eq!(trace_ids(&env, &c).await, before_c, "untagged untouched");
    assert_eq!(trace_ids(&env, &d).await.len(), 2);
    assert_eq!(leftovers(&env, &old_a).await, 0);
    assert_eq!(leftovers(&env, &old_b).await, 0);
    // The kept traces keep their spans, tags, assessments and links.
    let kept = vec![trace_id(3)];
    // 1 trace row + 3 spans + 1 tag + 1 assessment + 1 link.
    assert!(leftovers(&env, &kept).await > 6);
    let t = env
        .get("/api/3.0/mlflow/traces/get", &[("trace_id", &trace_id(3))])
        .await;
    assert_eq!(t["trace"]["spans"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        t["trace"]["trace_info"]["assessments"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // Idempotent.
    let again = env
        .store
        .sweep_traces(RetentionPolicy::default())
        .await
        .expect("sweep");
    assert_eq!(again.traces_deleted, 0);

    // Server default ttl 3h: c goes, d (opted out) stays, a and b unchanged.
    let stats = env
        .store
        .sweep_traces(RetentionPolicy {
            ttl_ms: Some(3 * HOUR as i64),
            max_traces: None,
        })
        .await
        .expect("sweep");
    assert_eq!(stats.per_experiment.get(&c), Some(&2), "{stats:?}");
    assert_eq!(stats.traces_deleted, 2, "{stats:?}");
    assert!(trace_ids(&env, &c).await.is_empty());
    assert_eq!(trace_ids(&env, &d).await.len(), 2);
    assert_eq!(trace_ids(&env, &a).await.len(), 2);
    assert_eq!(trace_ids(&env, &b).await.len(), 3);
    // A bad tag is reported, not fatal.
    env.post(
        "/api/2.0/mlflow/experiments/set-experiment-tag",
        json!({"experiment_id": d, "key": TAG_MAX_TRACES, "value": "lots"}),
    )
    .await;
    let stats = env
        .store
        .sweep_traces(RetentionPolicy::default())
        .await
        .expect("sweep");
    assert_eq!(stats.errors.len(), 1, "{stats:?}");
    assert_eq!(trace_ids(&env, &d).await.len(), 2);
    env.finish().await;
}

async fn sweeper_task(env: Env) {
    let now = now_ms();
    let exp = env.experiment("swept", &[(TAG_MAX_TRACES, "2")]).await;
    for n in 0..5u32 {
        env.export(&exp, &spans(100 + n, 0, 2, now - 10_000 + u64::from(n)))
            .await;
    }
    let handle = mlflow_server::retention::spawn_sweeper(
        Arc::new(env.store.clone()),
        mlflow_server::retention::SweeperConfig {
            defaults: RetentionPolicy::default(),
            interval: Duration::from_secs(1),
        },
    );
    let mut left = usize::MAX;
    for _ in 0..100 {
        left = trace_ids(&env, &exp).await.len();
        if left == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    handle.abort();
    assert_eq!(left, 2);
    assert_eq!(
        trace_ids(&env, &exp).await,
        vec![trace_id(103), trace_id(104)]
    );
    env.finish().await;
}

async fn storage_report(env: Env) {
    let now = now_ms();
    let a = env.experiment("report-a", &[(TAG_TTL, "30d")]).await;
    let b = env.experiment("report-b", &[]).await;
    env.export(&a, &spans(200, 0, 4, now - 1000)).await;
    env.export(&a, &spans(201, 0, 2, now - 5000)).await;
    let r = env
        .get("/api/3.0/mlflow/storage-report", &[("experiment_id", &a)])
        .await;
    let e = &r["experiments"][0];
    assert_eq!(r["experiments"].as_array().map(Vec::len), Some(1));
    assert_eq!(e["experiment_id"], json!(a));
    assert_eq!(e["traces"], 2);
    assert_eq!(e["spans"], 6);
    assert!(e["span_bytes"].as_i64().unwrap_or(0) > 6 * 100, "{e}");
    assert_eq!(e["assessments"], 0);
    assert_eq!(e["oldest_trace_timestamp_ms"], json!(now - 5000));
    assert_eq!(e["newest_trace_timestamp_ms"], json!(now - 1000));
    assert_eq!(e["retention"]["ttl"], "30d");
    let all = env.get("/api/3.0/mlflow/storage-report", &[]).await;
    let rows = all["experiments"].as_array().cloned().unwrap_or_default();
    assert!(rows.len() >= 3, "Default + a + b: {all}");
    let rb = rows
        .iter()
        .find(|x| x["experiment_id"] == json!(b))
        .expect("b");
    assert_eq!(rb["traces"], 0);
    assert!(rb.get("oldest_trace_timestamp_ms").is_none());
    assert_eq!(all["totals"]["spans"], 6);
    // Unknown experiment.
    let r = env
        .client
        .get(url(
            &env.base,
            "/api/3.0/mlflow/storage-report",
            &[("experiment_id", "987654")],
        ))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 404);
    env.finish().await;
}

async fn gc(env: Env) {
    let exp = env.experiment("gc", &[]).await;
    let mk = |name: &'static str| {
        let env = &env;
        let exp = exp.clone();
        async move {
            let run = env
                .post(
                    "/api/2.0/mlflow/runs/create",
                    json!({"experiment_id": exp, "run_name": name}),
                )
                .await["run"]["info"]["run_id"]
                .as_str()
                .expect("run")
                .to_owned();
            env.post(
                "/api/2.0/mlflow/runs/log-batch",
                json!({"run_id": run,
                    "metrics": [{"key": "m", "value": 1.0, "timestamp": 1, "step": 0}],
                    "params": [{"key": "p", "value": "v"}],
                    "tags": [{"key": "t", "value": "v"}]}),
            )
            .await;
            run
        }
    };
    let keep = mk("keep").await;
    let gone = mk("gone").await;
    env.post("/api/2.0/mlflow/runs/delete", json!({"run_id": gone}))
        .await;

    // An active run named explicitly is refused with the official message.
    let err = env
        .store
        .gc_plan(&GcOptions {
            run_ids: Some(vec![keep.clone()]),
            ..Default::default()
        })
        .await
        .expect_err("active run");
    assert_eq!(
        err.message,
        format!(
            "Run {keep} is not in `deleted` lifecycle stage. Only runs in `deleted` lifecycle \
             stage can be deleted."
        )
    );
    // Too young for --older-than 1d.
    let plan = env
        .store
        .gc_plan(&GcOptions {
            older_than_ms: 86_400_000,
            older_than: Some("1d".into()),
            ..Default::default()
        })
        .await
        .expect("plan");
    assert!(plan.runs.is_empty());
    let plan = env
        .store
        .gc_plan(&GcOptions::default())
        .await
        .expect("plan");
    assert_eq!(
        plan.runs.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        vec![gone.clone()]
    );
    for (r, _) in &plan.runs {
        env.store.hard_delete_run(r).await.expect("hard delete");
    }
    for table in ["metrics", "latest_metrics", "params", "tags", "runs"] {
        assert_eq!(
            env.count(&format!(
                "SELECT COUNT(*) FROM {table} WHERE run_uuid = '{gone}'"
            ))
            .await,
            0,
            "{table}"
        );
        assert!(
            env.count(&format!(
                "SELECT COUNT(*) FROM {table} WHERE run_uuid = '{keep}'"
            ))
            .await
                > 0,
            "{table} of the kept run"
        );
    }

    // A deleted experiment with a run and a trace goes entirely.
    let dead = env.experiment("gc-dead", &[("x", "y")]).await;
    let dead_run = env
        .post(
            "/api/2.0/mlflow/runs/create",
            json!({"experiment_id": dead}),
        )
        .await["run"]["info"]["run_id"]
        .as_str()
        .expect("run")
        .to_owned();
    full_trace(&env, &dead, 300, now_ms(), &dead_run).await;
    let err = env
        .store
        .gc_plan(&GcOptions {
            experiment_ids: Some(vec![dead.clone()]),
            ..Default::default()
        })
        .await
        .expect_err("active experiment");
    assert_eq!(
        err.message,
        format!(
            "Experiments ['{dead}'] are not in the deleted lifecycle stage. Only experiments in \
             the deleted lifecycle stage can be hard-deleted."
        )
    );
    env.post(
        "/api/2.0/mlflow/experiments/delete",
        json!({"experiment_id": dead}),
    )
    .await;
    let plan = env
        .store
        .gc_plan(&GcOptions::default())
        .await
        .expect("plan");
    assert_eq!(plan.experiments, vec![dead.clone()]);
    assert_eq!(
        plan.runs.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        vec![dead_run.clone()]
    );
    for (r, _) in &plan.runs {
        env.store.hard_delete_run(r).await.expect("run");
    }
    for e in &plan.experiments {
        env.store.hard_delete_experiment(e).await.expect("exp");
    }
    assert_eq!(
        env.count(&format!(
            "SELECT COUNT(*) FROM experiments WHERE experiment_id = {dead}"
        ))
        .await,
        0
    );
    assert_eq!(
        env.count(&format!(
            "SELECT COUNT(*) FROM experiment_tags WHERE experiment_id = {dead}"
        ))
        .await,
        0
    );
    assert_eq!(leftovers(&env, &[trace_id(300)]).await, 0);
    assert_eq!(
        env.count(&format!(
            "SELECT COUNT(*) FROM experiments WHERE experiment_id = {exp}"
        ))
        .await,
        1
    );
    env.finish().await;
}

/// A large trace (20,000 spans by default, in OTLP requests of 5,000) read back through the
/// paged and the streamed `traces/get`. Prints the process RSS (this test process hosts the
/// server). The 100k-span measurement: `MLFLOW_RS_LARGE_TRACE_SPANS=100000 cargo test
/// --release -p mlflow-server --test retention large_trace -- --nocapture` (the server-only
/// RSS is measured by scripts/large_trace_rss.py).
async fn large_trace(env: Env) {
    const PER_REQUEST: u64 = 5_000;
    let total: u64 = std::env::var("MLFLOW_RS_LARGE_TRACE_SPANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let total = total.div_ceil(PER_REQUEST).max(1) * PER_REQUEST;
    let exp = env.experiment("large", &[]).await;
    let start = now_ms();
    let rss0 = rss_kib();
    let t = std::time::Instant::now();
    for k in 0..total / PER_REQUEST {
        env.export(
            &exp,
            &spans(999, k * PER_REQUEST, (k + 1) * PER_REQUEST, start),
        )
        .await;
    }
    let ingest = t.elapsed();
    let rss_ingest = rss_kib();
    let id = trace_id(999);
    // Paged.
    let t = std::time::Instant::now();
    let mut token: Option<String> = None;
    let mut n = 0usize;
    loop {
        let mut q = vec![("trace_id", id.clone()), ("span_page_size", "5000".into())];
        if let Some(tk) = &token {
            q.push(("span_page_token", tk.clone()));
        }
        let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = env.get("/api/3.0/mlflow/traces/get", &q).await;
        n += page["trace"]["spans"].as_array().map_or(0, Vec::len);
        token = page["next_span_page_token"].as_str().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let paged = t.elapsed();
    assert_eq!(n as u64, total);
    let rss_paged = rss_kib();
    // Streamed whole trace, counted without keeping it.
    let t = std::time::Instant::now();
    let mut resp = env
        .client
        .get(url(
            &env.base,
            "/api/3.0/mlflow/traces/get",
            &[("trace_id", &id)],
        ))
        .send()
        .await
        .expect("GET");
    assert!(resp.status().is_success());
    let mut bytes = 0usize;
    let mut peak = 0u64;
    while let Some(chunk) = resp.chunk().await.expect("chunk") {
        bytes += chunk.len();
        peak = peak.max(rss_kib());
    }
    let streamed = t.elapsed();
    eprintln!(
        "large trace: {total} spans ingested in {:.1} s ({:.0} spans/s); paged read {:.1} s; \
         streamed read {:.1} s, {} MiB body; process RSS KiB: start {rss0}, after ingest \
         {rss_ingest}, after paged read {rss_paged}, peak during streamed read {peak}",
        ingest.as_secs_f64(),
        total as f64 / ingest.as_secs_f64(),
        paged.as_secs_f64(),
        streamed.as_secs_f64(),
        bytes / 1024 / 1024,
    );
    assert!(bytes > total as usize * 100);
    assert!(
        peak < 200 * 1024 + rss0,
        "streamed read grew RSS by more than 200 MiB"
    );
    env.finish().await;
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

macro_rules! tests {
    ($($name:ident),*) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(env) = super::Env::start(super::Backend::Sqlite).await {
                        super::$name(env).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(env) = super::Env::start(super::Backend::Postgres).await {
                        super::$name(env).await;
                    }
                }
            )*
        }
    };
}

tests!(retention_rules, sweeper_task, storage_report, gc);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_large_trace() {
    if let Some(env) = Env::start(Backend::Sqlite).await {
        large_trace(env).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_large_trace() {
    if let Some(env) = Env::start(Backend::Postgres).await {
        large_trace(env).await;
    }
}
