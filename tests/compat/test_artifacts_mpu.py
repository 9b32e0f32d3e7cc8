"""Multipart uploads and presigned downloads through the proxied artifact service, driven by
the official client: with an S3 destination (moto) the server advertises both in
`server-info`, hands out presigned part URLs (`mpu/create`), completes/aborts the upload,
and presigns downloads (`presigned/<path>`); with a local destination it refuses with the
official 501 and the client falls back to a proxied PUT.

The client uses MPU only with `MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=true` (or the
server-info flag) for files >= `MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE`; the tests lower
that and the chunk size (5 MiB, S3's minimum part) so a ~20 MB file goes up in 4 parts.
"""

import hashlib
import os

import pytest
import requests

from test_artifacts import BUCKET, s3_endpoint, s3_server  # noqa: F401  (fixtures)

MIB = 1024 * 1024
CHUNK = 5 * MIB
SIZE = 20_000_000  # 3 full 5 MiB parts + a 4,271,360-byte tail


def _boto(endpoint):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def _dest_prefix(srv):
    return srv.destination.split(f"s3://{BUCKET}/", 1)[1]


def _big_file(path, size=SIZE, seed=1):
    import random

    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def _sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture
def mpu_env(monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(10 * MIB))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(CHUNK))
    monkeypatch.setenv("MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE", str(3 * MIB))


def _new_run(client, unique):
    exp = client.create_experiment(f"{unique}-mpu")
    run = client.create_run(exp)
    return exp, run.info.run_id


# --------------------------------------------------------------------------- server-info


def test_server_info_advertises_destination_support(server, s3_server):  # noqa: F811
    local = requests.get(f"{server.url}/api/3.0/mlflow/server-info", timeout=30).json()
    assert local["multipart_uploads_enabled"] is False
    assert local["multipart_downloads_enabled"] is False
    s3 = requests.get(f"{s3_server.url}/api/3.0/mlflow/server-info", timeout=30).json()
    assert s3["multipart_uploads_enabled"] is True
    assert s3["multipart_downloads_enabled"] is True
    assert s3["presigned_upload_run_id_supported"] is True


# --------------------------------------------------------------------------- client round trips


def test_multipart_upload_goes_to_s3_in_parts(s3_server, s3_endpoint, mpu_env, unique, tmp_path):  # noqa: F811
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=s3_server.url)
    exp, run_id = _new_run(client, unique)
    src = _big_file(tmp_path / "weights.bin")
    client.log_artifact(run_id, str(src), artifact_path="model")

    key = f"{_dest_prefix(s3_server)}/{exp}/{run_id}/artifacts/model/weights.bin"
    s3 = _boto(s3_endpoint)
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentLength"] == SIZE
    # A 4-part multipart ETag: the client's 5 MiB parts, not the server's own upload.
    assert head["ETag"].strip('"').endswith("-4"), head["ETag"]
    pending = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=key).get("Uploads", [])
    assert pending == []

    assert [(f.path, f.file_size) for f in client.list_artifacts(run_id, "model")] == [
        ("model/weights.bin", SIZE)
    ]
    out = tmp_path / "out"
    out.mkdir()
    local = client.download_artifacts(run_id, "model/weights.bin", str(out))
    assert _sha(local) == _sha(src)


def test_download_uses_presigned_url(s3_server, mpu_env, unique, tmp_path, monkeypatch):  # noqa: F811
    from mlflow import MlflowClient
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

    client = MlflowClient(tracking_uri=s3_server.url)
    _, run_id = _new_run(client, unique)
    small = tmp_path / "notes.txt"
    small.write_text("hello presigned")
    big = _big_file(tmp_path / "big.bin", size=7 * MIB + 5, seed=2)
    client.log_artifact(run_id, str(small))
    client.log_artifact(run_id, str(big))

    seen = []
    orig = HttpArtifactRepository._multipart_download

    def spy(self, presigned_response, remote_file_path, local_path, file_size, chunk_size):
        seen.append((remote_file_path, file_size, presigned_response.url))
        return orig(self, presigned_response, remote_file_path, local_path, file_size, chunk_size)

    monkeypatch.setattr(HttpArtifactRepository, "_multipart_download", spy)
    out = tmp_path / "dl"
    out.mkdir()
    root = client.download_artifacts(run_id, "", str(out))
    assert open(os.path.join(root, "notes.txt")).read() == "hello presigned"
    assert _sha(os.path.join(root, "big.bin")) == _sha(big)
    sizes = sorted((os.path.basename(p), n) for p, n, _ in seen)
    assert sizes == [("big.bin", 7 * MIB + 5), ("notes.txt", 15)]
    assert all("X-Amz-Signature=" in url for _, _, url in seen)


def test_failed_part_aborts_upload(s3_server, s3_endpoint, mpu_env, unique, tmp_path, monkeypatch):  # noqa: F811
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

    client = MlflowClient(tracking_uri=s3_server.url)
    exp, run_id = _new_run(client, unique)
    src = _big_file(tmp_path / "doomed.bin", seed=3)
    orig = HttpArtifactRepository._upload_part

    def flaky(credential, local_file, size, start_byte):
        if credential.part_number == 2:
            raise RuntimeError("injected part failure")
        return orig(credential, local_file, size, start_byte)

    monkeypatch.setattr(HttpArtifactRepository, "_upload_part", staticmethod(flaky))
    with pytest.raises(MlflowException, match="Failed to upload at least one part"):
        client.log_artifact(run_id, str(src))
    key = f"{_dest_prefix(s3_server)}/{exp}/{run_id}/artifacts/doomed.bin"
    s3 = _boto(s3_endpoint)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=key).get("KeyCount", 0) == 0
    assert s3.list_multipart_uploads(Bucket=BUCKET, Prefix=key).get("Uploads", []) == []


def test_local_destination_falls_back_to_put(server, mpu_env, unique, tmp_path):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=server.url)
    _, run_id = _new_run(client, unique)
    src = _big_file(tmp_path / "local.bin", seed=4)
    client.log_artifact(run_id, str(src))
    assert [(f.path, f.file_size) for f in client.list_artifacts(run_id)] == [("local.bin", SIZE)]
    out = tmp_path / "o"
    out.mkdir()
    assert _sha(client.download_artifacts(run_id, "local.bin", str(out))) == _sha(src)


# --------------------------------------------------------------------------- wire


def test_wire_mpu_create_complete_abort(s3_server):  # noqa: F811
    base = f"{s3_server.url}/api/2.0/mlflow-artifacts"
    r = requests.post(f"{base}/mpu/create/wire/x", json={"path": "/tmp/a.bin", "num_parts": 2}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"upload_id", "credentials"}
    assert [c["part_number"] for c in body["credentials"]] == [1, 2]
    assert all(set(c) <= {"url", "part_number", "headers"} for c in body["credentials"])
    url = body["credentials"][0]["url"]
    assert "/wire/x/a.bin?" in url and "partNumber=1" in url and "uploadId=" in url
    put = requests.put(url, data=b"tail-only part", timeout=60)
    assert put.status_code == 200
    r = requests.post(
        f"{base}/mpu/complete/wire/x",
        json={
            "path": "/tmp/a.bin",
            "upload_id": body["upload_id"],
            "parts": [{"part_number": 1, "etag": put.headers["ETag"], "url": url}],
        },
        timeout=60,
    )
    assert r.status_code == 200, r.text
    assert r.json() == {}
    got = requests.get(f"{base}/artifacts/wire/x/a.bin", timeout=60)
    assert got.content == b"tail-only part"

    r = requests.post(f"{base}/mpu/create/wire/y", json={"path": "b.bin", "num_parts": 1}, timeout=60)
    upload_id = r.json()["upload_id"]
    r = requests.post(f"{base}/mpu/abort/wire/y", json={"path": "b.bin", "upload_id": upload_id}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json() == {}

    r = requests.post(f"{base}/mpu/create/wire/x", json={"num_parts": 2}, timeout=60)
    assert r.status_code == 400
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert r.json()["message"].startswith("Missing value for required parameter 'path'.")


def test_wire_presigned_download(s3_server):  # noqa: F811
    base = f"{s3_server.url}/api/2.0/mlflow-artifacts"
    assert requests.put(f"{base}/artifacts/pre/sig.txt", data=b"0123456789", timeout=60).status_code == 200
    r = requests.get(f"{base}/presigned/pre/sig.txt", timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"url", "headers", "file_size"}
    assert body["headers"] == {} and body["file_size"] == 10
    assert "response-content-disposition=" in body["url"]
    got = requests.get(body["url"], timeout=60)
    assert got.content == b"0123456789"
    assert got.headers["Content-Disposition"] == 'attachment; filename="sig.txt"'
    r = requests.get(body["url"], headers={"Range": "bytes=2-4"}, timeout=60)
    assert r.content == b"234"

    r = requests.get(f"{base}/presigned/pre/missing.txt", timeout=60)
    assert r.status_code == 404
    body = r.json()
    assert (body["error_code"], body["message"]) == ("RESOURCE_DOES_NOT_EXIST", "Not Found")


def test_wire_local_destination_501(server):
    base = f"{server.url}/api/2.0/mlflow-artifacts"
    r = requests.post(f"{base}/mpu/create/a/b", json={"path": "f.bin", "num_parts": 2}, timeout=60)
    assert r.status_code == 501
    body = r.json()
    assert (body["error_code"], body["message"]) == (
        "NOT_IMPLEMENTED",
        "Multipart upload is not supported for the current artifact repository",
    )
    r = requests.get(f"{base}/presigned/a/b.png", timeout=60)
    assert r.status_code == 501
    body = r.json()
    assert (body["error_code"], body["message"]) == (
        "NOT_IMPLEMENTED",
        "Multipart download is not supported for the current artifact repository",
    )
