//! Multipart uploads and presigned URLs: an S3 (moto) destination hands out presigned part
//! and download URLs that a credential-less client uses directly; a local destination
//! refuses with the official 501s; `server-info` advertises exactly what the destination
//! supports.

use super::*;

/// A server over `s3://<bucket>/root` on a fresh moto, or `None` (skipped) without moto.
async fn s3_server(bucket: &str) -> Option<(S3Endpoint, Server)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ep = tokio::task::spawn_blocking(S3Endpoint::get).await.ok()??;
    ep.create_bucket(bucket).expect("bucket");
    let mut env = Env::default();
    for (k, v) in ep.env() {
        env = env.with(k, v);
    }
    let s = start(Dest::S3(format!("s3://{bucket}/root"), env), |_| {}).await;
    Some((ep, s))
}

impl Server {
    async fn post_json(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("post");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed) % 251) as u8)
        .collect()
}

const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn server_info_advertises_destination_support() {
    let s = start(Dest::Local, |_| {}).await;
    let (st, v) = s.json(s.url("/api/3.0/mlflow/server-info")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["multipart_uploads_enabled"], false);
    assert_eq!(v["multipart_downloads_enabled"], false);
    let Some((_ep, s)) = s3_server("mpu-info").await else {
        return;
    };
    let (_, v) = s.json(s.url("/api/3.0/mlflow/server-info")).await;
    assert_eq!(v["multipart_uploads_enabled"], true);
    assert_eq!(v["multipart_downloads_enabled"], true);
    // Not serving artifacts: nothing is advertised.
    drop(s);
}

#[tokio::test]
async fn local_destination_refuses_like_official() {
    let s = start(Dest::Local, |_| {}).await;
    for op in ["create", "complete", "abort"] {
        let (st, v) = s
            .post_json(
                &format!("/api/2.0/mlflow-artifacts/mpu/{op}/a/b"),
                json!({"path": "/tmp/f.bin", "num_parts": 2, "upload_id": "u", "parts": []}),
            )
            .await;
        assert_error(
            st,
            &v,
            StatusCode::NOT_IMPLEMENTED,
            "NOT_IMPLEMENTED",
            "Multipart upload is not supported for the current artifact repository",
        );
    }
    // The request is validated before the repository is asked.
    let (st, v) = s
        .post_json(
            "/api/2.0/mlflow-artifacts/mpu/create/a",
            json!({"num_parts": 2}),
        )
        .await;
    assert_error(
        st,
        &v,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "Missing value for required parameter 'path'. See the API docs for more information \
         about request parameters.",
    );
}

#[tokio::test]
async fn s3_multipart_upload_complete_and_presigned_download() {
    let Some((_ep, s)) = s3_server("mpu-bucket").await else {
        return;
    };
    // Three parts: 5 MiB, 5 MiB, and a 1234-byte tail.
    let data = pattern(10 * MIB + 1234, 7);
    let (st, created) = s
        .post_json(
            "/api/2.0/mlflow-artifacts/mpu/create/1/run/artifacts/models",
            json!({"path": "/home/user/weights.bin", "num_parts": "3"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{created}");
    let upload_id = created["upload_id"]
        .as_str()
        .expect("upload_id")
        .to_string();
    let creds = created["credentials"].as_array().expect("credentials");
    assert_eq!(creds.len(), 3);
    let raw = reqwest::Client::new();
    let mut parts = Vec::new();
    for (i, c) in creds.iter().enumerate() {
        assert_eq!(c["part_number"], i + 1);
        let url = c["url"].as_str().expect("url");
        assert!(url.contains("X-Amz-Signature="), "{url}");
        assert!(url.contains(&format!("partNumber={}", i + 1)), "{url}");
        let lo = i * 5 * MIB;
        let hi = ((i + 1) * 5 * MIB).min(data.len());
        let r = raw
            .put(url)
            .body(data[lo..hi].to_vec())
            .send()
            .await
            .expect("part");
        assert!(r.status().is_success(), "part {}: {}", i + 1, r.status());
        let etag = r.headers()["etag"].to_str().expect("etag").to_string();
        parts.push(json!({"part_number": i + 1, "etag": etag, "url": url}));
    }
    // Not visible before completion.
    assert_eq!(
        s.get(s.art("1/run/artifacts/models/weights.bin"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let (st, v) = s
        .post_json(
            "/api/2.0/mlflow-artifacts/mpu/complete/1/run/artifacts/models",
            json!({"path": "/home/user/weights.bin", "upload_id": upload_id, "parts": parts}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v, json!({}));
    // Through the proxy...
    let got = s
        .get(s.art("1/run/artifacts/models/weights.bin"))
        .await
        .bytes()
        .await
        .expect("body");
    assert!(got.as_ref() == data.as_slice(), "proxied read differs");
    // ...and straight from storage with a presigned GET.
    let (st, p) = s
        .json(s.url("/api/2.0/mlflow-artifacts/presigned/1/run/artifacts/models/weights.bin"))
        .await;
    assert_eq!(st, StatusCode::OK, "{p}");
    assert_eq!(p["file_size"], data.len());
    assert_eq!(p["headers"], json!({}));
    let url = p["url"].as_str().expect("url");
    assert!(url.contains("response-content-disposition="), "{url}");
    let r = raw.get(url).send().await.expect("presigned get");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok()),
        Some("attachment; filename=\"weights.bin\"")
    );
    let got = r.bytes().await.expect("body");
    assert!(got.as_ref() == data.as_slice(), "presigned read differs");
    // A range of it, as the client's parallel chunked download does.
    let r = raw
        .get(url)
        .header("range", "bytes=100-199")
        .send()
        .await
        .expect("range");
    assert_eq!(r.bytes().await.expect("body").as_ref(), &data[100..200]);
}

#[tokio::test]
async fn s3_abort_and_errors() {
    let Some((_ep, s)) = s3_server("mpu-abort").await else {
        return;
    };
    let (st, created) = s
        .post_json(
            "/api/2.0/mlflow-artifacts/mpu/create/x",
            json!({"path": "big.bin", "num_parts": 1}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{created}");
    let upload_id = created["upload_id"]
        .as_str()
        .expect("upload_id")
        .to_string();
    let url = created["credentials"][0]["url"]
        .as_str()
        .expect("url")
        .to_string();
    let r = reqwest::Client::new()
        .put(&url)
        .body(vec![1u8; 1000])
        .send()
        .await
        .expect("part");
    assert!(r.status().is_success());
    let (st, v) = s
        .post_json(
            "/ajax-api/2.0/mlflow-artifacts/mpu/abort/x",
            json!({"path": "big.bin", "upload_id": upload_id}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v, json!({}));
    // Completing an aborted upload fails and nothing appears.
    let (st, _) = s
        .post_json(
            "/api/2.0/mlflow-artifacts/mpu/complete/x",
            json!({"path": "big.bin", "upload_id": upload_id,
                   "parts": [{"part_number": 1, "etag": "\"x\""}]}),
        )
        .await;
    assert!(!st.is_success());
    assert_eq!(
        s.get(s.art("x/big.bin")).await.status(),
        StatusCode::NOT_FOUND
    );

    // complete without parts
    let (st, v) = s
        .post_json(
            "/api/2.0/mlflow-artifacts/mpu/complete/x",
            json!({"path": "big.bin", "upload_id": "u"}),
        )
        .await;
    assert_error(
        st,
        &v,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "Missing value for required parameter 'parts'. See the API docs for more information \
         about request parameters.",
    );
    // unsafe artifact paths and file names
    let (st, v) = s
        .post_json(
            "/api/2.0/mlflow-artifacts/mpu/create/x",
            json!({"path": "/tmp/..", "num_parts": 1}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, v) = s
        .post_json(
            "/api/2.0/mlflow-artifacts/mpu/create/x",
            json!({"path": "f.bin", "num_parts": 10_001}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    // presigned download of a missing object: the HEAD's bare 404
    let (st, v) = s
        .json(s.url("/api/2.0/mlflow-artifacts/presigned/nope/missing.bin"))
        .await;
    assert_error(
        st,
        &v,
        StatusCode::NOT_FOUND,
        "RESOURCE_DOES_NOT_EXIST",
        "Not Found",
    );
}

#[tokio::test]
async fn presigned_run_urls_require_direct_roots() {
    let s = start(Dest::Local, |_| {}).await;
    let run = s.create_run("0").await;
    let run_id = run["run_id"].as_str().expect("run_id");
    let (st, v) = s
        .post_json(
            "/api/2.0/mlflow/artifacts/presigned-download-url",
            json!({"run_id": run_id, "path": "a.txt"}),
        )
        .await;
    assert_error(
        st,
        &v,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "Presigned download is not supported for runs with proxied artifact storage (artifact \
         URI scheme: mlflow-artifacts). This endpoint requires a run with a direct cloud \
         storage artifact URI.",
    );
    let (st, v) = s
        .post_json(
            "/api/2.0/mlflow/artifacts/presigned-upload-url",
            json!({"run_id": run_id, "model_id": "m", "path": "a.txt"}),
        )
        .await;
    assert_error(
        st,
        &v,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "Exactly one of run_id and model_id must be provided.",
    );
    let (st, v) = s
        .post_json(
            "/api/2.0/mlflow/artifacts/presigned-download-url",
            json!({"run_id": run_id, "path": "a.txt", "expiration": 0}),
        )
        .await;
    assert_error(
        st,
        &v,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "expiration must be between 1 and 604800 seconds (got 0).",
    );
}
