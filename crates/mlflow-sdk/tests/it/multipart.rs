//! Multipart uploads: with an S3 artifact destination (moto), a large file goes to the object
//! store in parts at the presigned URLs the server hands out; a small one through the proxy;
//! with a local destination the server answers 501 and the SDK falls back to the proxy.

use crate::common::{Flavor, Moto, Server, unique};
use mlflow_sdk::{Client, CreateRun};
use std::path::Path;

const MIB: u64 = 1024 * 1024;

fn write_file(path: &Path, len: u64, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let data: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(path, &data).unwrap();
    data
}

/// Uploads a 12 MiB file in 5 MiB parts and a 1 KiB file, reads both back through the proxy,
/// and checks in the bucket that the big one was assembled from 3 parts.
pub async fn s3_multipart(srv: &Server, moto: &Moto) {
    let client = Client::new(srv.config().with_multipart_upload(MIB, 5 * MIB)).unwrap();
    let exp = client
        .get_or_create_experiment(&unique("mpu"))
        .await
        .unwrap();
    let run = client.create_run(CreateRun::new(&exp)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("weights.bin");
    let big_data = write_file(&big, 12 * MIB, 7);
    let small = dir.path().join("config.json");
    std::fs::write(&small, br#"{"layers": 3}"#).unwrap();

    client
        .log_artifact(run.id(), &big, Some("model"))
        .await
        .unwrap();
    client
        .log_artifact(run.id(), &small, Some("model"))
        .await
        .unwrap();

    let uri = run.info.artifact_uri.clone();
    let got = client
        .read_artifact(&uri, "model/weights.bin")
        .await
        .unwrap();
    assert_eq!(got.len() as u64, 12 * MIB);
    assert!(got.as_ref() == big_data.as_slice(), "content differs");
    let got = client
        .read_artifact(&uri, "model/config.json")
        .await
        .unwrap();
    assert_eq!(got.as_ref(), br#"{"layers": 3}"#);

    // In the bucket: an S3 multipart ETag is `<md5 of part md5s>-<number of parts>`.
    let prefix = format!(
        "dest-{}/{exp}/{}/artifacts/model",
        std::process::id(),
        run.id()
    );
    let listing = || {
        moto.http("GET", &format!("/{}?list-type=2", Moto::BUCKET))
            .map(|(_, body)| body)
            .unwrap_or_default()
    };
    let etag = moto
        .etag(&format!("{prefix}/weights.bin"))
        .unwrap_or_else(|| panic!("no {prefix}/weights.bin in the bucket: {}", listing()));
    assert!(etag.ends_with("-3"), "not a 3-part upload: {etag}");
    let etag = moto
        .etag(&format!("{prefix}/config.json"))
        .unwrap_or_else(|| panic!("no {prefix}/config.json in the bucket: {}", listing()));
    assert!(
        !etag.contains('-'),
        "small file should be a plain PUT: {etag}"
    );
}

/// A local artifact destination cannot hand out part URLs (501): the upload goes through the
/// proxy instead and still arrives whole.
pub async fn local_fallback(srv: &Server) {
    let client = Client::new(srv.config().with_multipart_upload(MIB, MIB)).unwrap();
    let exp = client
        .get_or_create_experiment(&unique("mpu-local"))
        .await
        .unwrap();
    let run = client.create_run(CreateRun::new(&exp)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("data.bin");
    let data = write_file(&f, 3 * MIB + 5, 11);
    client.log_artifact(run.id(), &f, None).await.unwrap();
    let got = client
        .read_artifact(&run.info.artifact_uri, "data.bin")
        .await
        .unwrap();
    assert!(got.as_ref() == data.as_slice(), "content differs");
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn ours_multipart_upload() {
    let Some(moto) = Moto::start() else { return };
    let Some(srv) = Server::with_s3(Flavor::Ours, &moto) else {
        return;
    };
    rt().block_on(s3_multipart(&srv, &moto));
    let Some(local) = Server::ours() else { return };
    rt().block_on(local_fallback(&local));
}

/// A server that does not proxy artifacts gives runs local artifact locations: the SDK writes,
/// lists and reads them directly, and the official client reads what it wrote.
pub async fn local_direct(srv: &Server, root: &Path) {
    let client = srv.client();
    let exp = client
        .get_or_create_experiment(&unique("direct"))
        .await
        .unwrap();
    let run = client.create_run(CreateRun::new(&exp)).await.unwrap();
    let uri = run.info.artifact_uri.clone();
    assert!(
        uri.starts_with(root.to_str().unwrap()) || uri.starts_with("file://"),
        "{uri}"
    );
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("report");
    std::fs::create_dir_all(sub.join("plots")).unwrap();
    std::fs::write(sub.join("summary.txt"), "ok").unwrap();
    std::fs::write(sub.join("plots/loss.csv"), "step,loss\n1,0.5\n").unwrap();
    client
        .log_artifacts(run.id(), &sub, Some("report"))
        .await
        .unwrap();
    client
        .log_text(run.id(), "hello", "notes/hello.txt")
        .await
        .unwrap();

    let top: Vec<String> = client
        .list_artifacts(run.id(), None)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(top, vec!["notes".to_string(), "report".to_string()]);
    let report = client
        .list_artifacts(run.id(), Some("report"))
        .await
        .unwrap();
    let summary = report
        .iter()
        .find(|f| f.path == "report/summary.txt")
        .unwrap();
    assert_eq!((summary.is_dir, summary.file_size), (false, Some(2)));
    assert!(report.iter().any(|f| f.path == "report/plots" && f.is_dir));
    let out = tempfile::tempdir().unwrap();
    let got = client
        .download_artifacts(run.id(), "report", out.path())
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(got.join("plots/loss.csv")).unwrap(),
        "step,loss\n1,0.5\n"
    );
    assert_eq!(
        client
            .read_artifact(&uri, "notes/hello.txt")
            .await
            .unwrap()
            .as_ref(),
        b"hello"
    );
    assert!(client.read_artifact(&uri, "../escape").await.is_err());

    // The official client reads the same files from the run's artifact location.
    if let Some(v) = crate::common::py(
        &srv.url,
        &format!(
            "import mlflow, json, pathlib\n\
             p = mlflow.artifacts.download_artifacts(run_id='{}', artifact_path='report')\n\
             print(json.dumps(sorted(str(x.relative_to(p)) for x in pathlib.Path(p).rglob('*'))))",
            run.id()
        ),
    ) {
        assert_eq!(
            v,
            serde_json::json!(["plots", "plots/loss.csv", "summary.txt"])
        );
    }
}

#[test]
fn ours_local_direct() {
    let root = tempfile::tempdir().unwrap();
    let Some(srv) = Server::no_proxy(Flavor::Ours, root.path()) else {
        return;
    };
    rt().block_on(local_direct(&srv, root.path()));
}

#[test]
fn official_local_direct() {
    let root = tempfile::tempdir().unwrap();
    let Some(srv) = Server::no_proxy(Flavor::Official, root.path()) else {
        return;
    };
    rt().block_on(local_direct(&srv, root.path()));
}

#[test]
fn official_multipart_upload() {
    let Some(moto) = Moto::start() else { return };
    let Some(srv) = Server::with_s3(Flavor::Official, &moto) else {
        return;
    };
    rt().block_on(s3_multipart(&srv, &moto));
}
