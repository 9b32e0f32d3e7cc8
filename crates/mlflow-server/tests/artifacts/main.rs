//! Artifact routes end to end: an in-process server on 127.0.0.1:0 over a temp SQLite store,
//! with a local or S3 (moto) artifact destination.

use mlflow_artifacts::testing::S3Endpoint;
use mlflow_artifacts::{Artifacts, Env};
use mlflow_server::{AppState, ServerConfig};
use mlflow_store::SqlStore;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

struct Server {
    base: String,
    http: reqwest::Client,
    dest: std::path::PathBuf,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

enum Dest {
    Local,
    S3(String, Env),
}

async fn start(dest: Dest, tweak: impl FnOnce(&mut ServerConfig)) -> Server {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite:///{}", dir.path().join("mlflow.db").display());
    let store = SqlStore::open(&db, "mlflow-artifacts:/")
        .await
        .expect("store");
    let dest_dir = dir.path().join("artifacts");
    let artifacts = match dest {
        Dest::Local => Artifacts::local(&dest_dir).expect("artifacts"),
        Dest::S3(uri, env) => Artifacts::with_env(Some(&uri), env).expect("s3 artifacts"),
    };
    let mut config = ServerConfig {
        serve_artifacts: true,
        artifacts: Some(Arc::new(artifacts)),
        ..ServerConfig::default()
    };
    tweak(&mut config);
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
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = mlflow_server::router(state);
    tokio::spawn(async move {
        let _ = mlflow_server::serve(listener, app, async {
            let _ = rx.await;
        })
        .await;
    });
    Server {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        dest: dest_dir,
        _dir: dir,
        shutdown: Some(tx),
    }
}

impl Server {
    fn url(&self, p: &str) -> String {
        format!("{}{}", self.base, p)
    }
    fn art(&self, p: &str) -> String {
        self.url(&format!("/api/2.0/mlflow-artifacts/artifacts/{p}"))
    }
    async fn put(&self, p: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.http
            .put(self.art(p))
            .body(body)
            .send()
            .await
            .expect("put")
    }
    async fn get(&self, url: String) -> reqwest::Response {
        self.http.get(url).send().await.expect("get")
    }
    async fn json(&self, url: String) -> (StatusCode, Value) {
        let r = self.get(url).await;
        let status = r.status();
        (status, r.json().await.expect("json body"))
    }
    async fn create_run(&self, experiment_id: &str) -> Value {
        let r = self
            .http
            .post(self.url("/api/2.0/mlflow/runs/create"))
            .json(&json!({ "experiment_id": experiment_id }))
            .send()
            .await
            .expect("create run");
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.expect("run json");
        v["run"]["info"].clone()
    }
}

/// A GET with the request target sent verbatim (no client-side dot-segment folding).
async fn raw_get(base: &str, target: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = base.trim_start_matches("http://");
    let mut sock = tokio::net::TcpStream::connect(host).await.expect("connect");
    let req = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    sock.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    sock.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str, msg: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error_code"], code, "{body}");
    assert_eq!(body["message"], msg, "{body}");
}

async fn proxied_round_trip(s: &Server) {
    let r = s.put("x/y/hello.txt", "hello").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("content-type").is_none());
    assert_eq!(r.text().await.unwrap(), "");

    let r = s.get(s.art("x/y/hello.txt")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "text/plain");
    assert_eq!(h["content-disposition"], "attachment; filename=hello.txt");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-length"], "5");
    assert_eq!(r.text().await.unwrap(), "hello");

    s.put("x/img.png", vec![0u8, 1, 2]).await;
    let r = s.get(s.art("x/img.png")).await;
    assert_eq!(r.headers()["content-type"], "image/png");
    let r = s.put("x/a%20b.bin", "").await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s.get(s.art("x/a%20b.bin")).await;
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"a b.bin\""
    );
    assert_eq!(r.headers()["content-length"], "0");

    // Listing: basenames, dirs without a size; a file or missing path is {}.
    let (st, v) = s
        .json(s.url("/api/2.0/mlflow-artifacts/artifacts?path=x"))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        v,
        json!({"files": [
            {"path": "a b.bin", "is_dir": false, "file_size": 0},
            {"path": "img.png", "is_dir": false, "file_size": 3},
            {"path": "y", "is_dir": true},
        ]})
    );
    let (_, v) = s
        .json(s.url("/ajax-api/2.0/mlflow-artifacts/artifacts?path=x/y/hello.txt"))
        .await;
    assert_eq!(v, json!({}));
    let (_, v) = s
        .json(s.url("/api/2.0/mlflow-artifacts/artifacts?path=nope"))
        .await;
    assert_eq!(v, json!({}));
    let (_, v) = s.json(s.url("/api/2.0/mlflow-artifacts/artifacts")).await;
    assert_eq!(v, json!({"files": [{"path": "x", "is_dir": true}]}));

    // Directory, trailing slash, missing.
    let (st, v) = s.json(s.art("x/y")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(
        v,
        json!({"detail": "Artifact path refers to a directory, not a file: 'x/y'"})
    );
    let r = s.put("x/y/", "a").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"detail": "Artifact path must include a filename (cannot end with '/')."})
    );
    let (st, v) = s.json(s.art("nope.bin")).await;
    assert_error(
        st,
        &v,
        StatusCode::NOT_FOUND,
        "RESOURCE_DOES_NOT_EXIST",
        "No such artifact: 'nope.bin'",
    );

    // Delete: {} and gone; deleting again is fine.
    let r = s.http.delete(s.art("x/y/hello.txt")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({}));
    assert_eq!(
        s.get(s.art("x/y/hello.txt")).await.status(),
        StatusCode::NOT_FOUND
    );
    let r = s.http.delete(s.art("x/y/hello.txt")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn local_proxied_round_trip() {
    let s = start(Dest::Local, |_| {}).await;
    proxied_round_trip(&s).await;
    assert!(s.dest.join("x/img.png").exists());
}

#[tokio::test]
async fn s3_proxied_round_trip() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(ep) = tokio::task::spawn_blocking(S3Endpoint::get).await.unwrap() else {
        return;
    };
    ep.create_bucket("srv-bucket").unwrap();
    let mut env = Env::default();
    for (k, v) in ep.env() {
        env = env.with(k, v);
    }
    let s = start(Dest::S3("s3://srv-bucket/root".into(), env), |_| {}).await;
    proxied_round_trip(&s).await;
    // 24 MiB: a multipart upload to S3, streamed back.
    let data: Vec<u8> = (0..24 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(
        s.put("big/blob.bin", data.clone()).await.status(),
        StatusCode::OK
    );
    let r = s.get(s.art("big/blob.bin")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let got = r.bytes().await.unwrap();
    assert!(got.as_ref() == data.as_slice(), "S3 round trip differs");
}

#[tokio::test]
async fn unsafe_paths_refused() {
    let s = start(Dest::Local, |_| {}).await;
    std::fs::create_dir_all(&s.dest).unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(outside.path(), s.dest.join("link")).unwrap();

    for p in [
        // (reqwest's URL parser folds `/%2e%2e/` segments itself; raw requests below.)
        "%2e%2e%2fsecret.txt",
        "a/%2E%2E%2F%2E%2E%2Fx",
        "%252e%252e/x",
        "%2Fetc%2Fpasswd",
        "a%00b",
        "a%23b",
    ] {
        assert_eq!(
            s.put(p, "x").await.status(),
            StatusCode::BAD_REQUEST,
            "put {p}"
        );
        let (st, v) = s.json(s.art(p)).await;
        assert_error(
            st,
            &v,
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "Invalid path",
        );
        let (st, v) = s
            .json(s.url(&format!("/api/2.0/mlflow-artifacts/artifacts?path={p}")))
            .await;
        assert_error(
            st,
            &v,
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "Invalid path",
        );
    }
    // Literal and encoded dot segments, sent as-is.
    for target in [
        "/api/2.0/mlflow-artifacts/artifacts/../../secret.txt",
        "/api/2.0/mlflow-artifacts/artifacts/a/%2e%2e/%2e%2e/secret.txt",
        "/get-artifact?run_id=x&path=../secret.txt",
    ] {
        let (status, body) = raw_get(&s.base, target).await;
        assert!(status == 400 || status == 404, "{target}: {status} {body}");
        assert!(!body.contains("secret"), "{target}: {body}");
    }
    #[cfg(unix)]
    {
        let (st, v) = s.json(s.art("link/secret.txt")).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["error_code"], "INVALID_PARAMETER_VALUE");
        assert_eq!(
            s.put("link/new.txt", "x").await.status(),
            StatusCode::BAD_REQUEST
        );
        assert!(!outside.path().join("new.txt").exists());
        let r = s
            .http
            .delete(s.art("link/secret.txt"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(outside.path().join("secret.txt").exists());
    }
}

#[tokio::test]
async fn run_artifacts_list_get_and_ui_upload() {
    let s = start(Dest::Local, |_| {}).await;
    let info = s.create_run("0").await;
    let run_id = info["run_id"].as_str().unwrap().to_string();
    let root = info["artifact_uri"].as_str().unwrap().to_string();
    assert_eq!(root, format!("mlflow-artifacts:/0/{run_id}/artifacts"));
    s.put(&format!("0/{run_id}/artifacts/d/f.txt"), "abc").await;
    s.put(&format!("0/{run_id}/artifacts/g.txt"), "abcd").await;

    let list = |q: String| {
        s.url(&format!(
            "/api/2.0/mlflow/artifacts/list?run_id={run_id}{q}"
        ))
    };
    let (st, v) = s.json(list(String::new())).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        v,
        json!({"root_uri": root, "files": [
            {"path": "d", "is_dir": true},
            {"path": "g.txt", "is_dir": false, "file_size": 4},
        ]})
    );
    let (_, v) = s.json(list("&path=d".into())).await;
    assert_eq!(
        v,
        json!({"root_uri": root, "files": [{"path": "d/f.txt", "is_dir": false, "file_size": 3}]})
    );
    let (_, v) = s.json(list("&path=g.txt".into())).await;
    assert_eq!(v, json!({"root_uri": root}));
    let (st, v) = s.json(list("&path=../x".into())).await;
    assert_error(
        st,
        &v,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "Invalid path",
    );
    let (st, v) = s.json(s.url("/api/2.0/mlflow/artifacts/list")).await;
    assert_error(
        st,
        &v,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "Missing value for required parameter 'run_id'. See the API docs for more information about request parameters.",
    );
    let (st, v) = s
        .json(s.url("/ajax-api/2.0/mlflow/artifacts/list?run_id=nope"))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");

    // /get-artifact (UI).
    let r = s
        .get(s.url(&format!("/get-artifact?run_id={run_id}&path=d/f.txt")))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=f.txt"
    );
    assert_eq!(r.text().await.unwrap(), "abc");
    let (st, v) = s
        .json(s.url(&format!("/get-artifact?run_uuid={run_id}&path=d")))
        .await;
    assert_error(
        st,
        &v,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        &format!("Artifact path refers to a directory, not a file: '0/{run_id}/artifacts/d'"),
    );
    let r = s
        .get(s.url(&format!("/get-artifact?run_id={run_id}")))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // UI upload: raw body, 200 empty; form bodies carry no data.
    let up = |q: &str| s.url(&format!("/ajax-api/2.0/mlflow/upload-artifact?{q}"));
    let r = s
        .http
        .post(up(&format!("run_uuid={run_id}&path=up/u.txt")))
        .header("content-type", "text/plain")
        .body("xyz")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "");
    assert_eq!(
        std::fs::read(s.dest.join(format!("0/{run_id}/artifacts/up/u.txt"))).unwrap(),
        b"xyz"
    );
    for (q, msg) in [
        (
            format!("run_uuid={run_id}&path=a"),
            "Request must specify data.",
        ),
        (
            format!("run_id={run_id}&path=a"),
            "Request must specify run_uuid.",
        ),
        (format!("run_uuid={run_id}"), "Request must specify path."),
    ] {
        let r = s
            .http
            .post(up(&q))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("x")
            .send()
            .await
            .unwrap();
        let st = r.status();
        assert_error(
            st,
            &r.json().await.unwrap(),
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            msg,
        );
    }
}

#[tokio::test]
async fn non_proxied_run_root_is_read_directly() {
    let s = start(Dest::Local, |_| {}).await;
    let elsewhere = tempfile::tempdir().unwrap();
    let r = s
        .http
        .post(s.url("/api/2.0/mlflow/experiments/create"))
        .json(&json!({"name": "direct", "artifact_location": elsewhere.path().to_string_lossy()}))
        .send()
        .await
        .unwrap();
    let exp: Value = r.json().await.unwrap();
    let info = s.create_run(exp["experiment_id"].as_str().unwrap()).await;
    let run_id = info["run_id"].as_str().unwrap();
    let root = info["artifact_uri"].as_str().unwrap();
    let dir = std::path::Path::new(root).join("sub");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("h.txt"), "hi\n").unwrap();
    let (_, v) = s
        .json(s.url(&format!(
            "/api/2.0/mlflow/artifacts/list?run_id={run_id}&path=sub"
        )))
        .await;
    assert_eq!(
        v,
        json!({"root_uri": root, "files": [{"path": "sub/h.txt", "is_dir": false, "file_size": 3}]})
    );
    let r = s
        .get(s.url(&format!("/get-artifact?run_id={run_id}&path=sub/h.txt")))
        .await;
    assert_eq!(r.text().await.unwrap(), "hi\n");
}

#[tokio::test]
async fn no_serve_artifacts_gates() {
    let s = start(Dest::Local, |c| c.serve_artifacts = false).await;
    let detail = json!({"detail": "Artifact serving is disabled. Run `mlflow server` with `--serve-artifacts` to enable."});
    let (st, v) = s.json(s.art("a/b.txt")).await;
    assert_eq!((st, v), (StatusCode::SERVICE_UNAVAILABLE, detail.clone()));
    let r = s.put("a/b.txt", "x").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json::<Value>().await.unwrap(), detail);
    let text = |rule: &str| {
        format!(
            "Endpoint: {rule} disabled due to the mlflow server running with `--no-serve-artifacts`. To enable artifacts server functionality, run `mlflow server` with `--serve-artifacts`"
        )
    };
    let r = s
        .get(s.url("/api/2.0/mlflow-artifacts/artifacts?path=a"))
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(
        r.text().await.unwrap(),
        text("/api/2.0/mlflow-artifacts/artifacts")
    );
    let r = s.http.delete(s.art("a/b.txt")).send().await.unwrap();
    assert_eq!(
        r.text().await.unwrap(),
        text("/api/2.0/mlflow-artifacts/artifacts/<path:artifact_path>")
    );
    let r = s
        .http
        .post(s.url("/ajax-api/2.0/mlflow-artifacts/mpu/create/a/b.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.text().await.unwrap(),
        text("/ajax-api/2.0/mlflow-artifacts/mpu/create/<path:artifact_path>")
    );
}

#[tokio::test]
async fn artifacts_only_gates_tracking_side() {
    let s = start(Dest::Local, |c| c.artifacts_only = true).await;
    let text = |rule: &str| {
        format!(
            "Endpoint: {rule} disabled due to the mlflow server running in `--artifacts-only` mode. To enable tracking server functionality, run `mlflow server` without `--artifacts-only`"
        )
    };
    for (url, rule) in [
        (
            "/api/2.0/mlflow/artifacts/list?run_id=x",
            "/api/2.0/mlflow/artifacts/list",
        ),
        ("/get-artifact?run_id=x&path=y", "/get-artifact"),
    ] {
        let r = s.get(s.url(url)).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.text().await.unwrap(), text(rule));
    }
    // The artifact service itself works.
    assert_eq!(s.put("k/v.txt", "1").await.status(), StatusCode::OK);
    assert_eq!(s.get(s.art("k/v.txt")).await.text().await.unwrap(), "1");
}

#[tokio::test]
async fn multipart_and_presigned_not_supported() {
    let s = start(Dest::Local, |_| {}).await;
    let r = s
        .http
        .post(s.url("/api/2.0/mlflow-artifacts/mpu/create/a"))
        .json(&json!({"path": "f.bin", "num_parts": 2}))
        .send()
        .await
        .unwrap();
    let st = r.status();
    assert_error(
        st,
        &r.json().await.unwrap(),
        StatusCode::NOT_IMPLEMENTED,
        "NOT_IMPLEMENTED",
        "Multipart upload is not supported for the current artifact repository",
    );
    let (st, v) = s
        .json(s.url("/api/2.0/mlflow-artifacts/presigned/a/b.png"))
        .await;
    assert_error(
        st,
        &v,
        StatusCode::NOT_IMPLEMENTED,
        "NOT_IMPLEMENTED",
        "Multipart download is not supported for the current artifact repository",
    );
}

#[tokio::test]
async fn static_prefix_applies() {
    let s = start(Dest::Local, |c| c.static_prefix = "/mlflow".into()).await;
    let r = s
        .http
        .put(s.url("/mlflow/api/2.0/mlflow-artifacts/artifacts/p/q.txt"))
        .body("q")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .get(s.url("/mlflow/api/2.0/mlflow-artifacts/artifacts/p/q.txt"))
        .await;
    assert_eq!(r.text().await.unwrap(), "q");
}

/// 64 MiB up and down through the proxy, read back chunk by chunk.
#[tokio::test]
async fn streams_large_bodies() {
    let s = start(Dest::Local, |_| {}).await;
    let chunks = 64usize;
    let body: Vec<u8> = (0..chunks)
        .flat_map(|i| std::iter::repeat_n((i % 256) as u8, 1024 * 1024))
        .collect();
    let r = s.put("big/stream.bin", body).await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut r = s.get(s.art("big/stream.bin")).await;
    assert_eq!(
        r.headers()["content-length"],
        (chunks * 1024 * 1024).to_string()
    );
    let mut n = 0usize;
    while let Some(c) = r.chunk().await.unwrap() {
        for (j, b) in c.iter().enumerate() {
            assert_eq!(*b as usize, ((n + j) / (1024 * 1024)) % 256);
        }
        n += c.len();
    }
    assert_eq!(n, chunks * 1024 * 1024);
}

mod mpu;
