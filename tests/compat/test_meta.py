"""Server-level endpoints and wire conventions."""

import json

import mlflow
import pytest


def test_health(api):
    r = api.get("/health")
    assert r.status_code == 200
    assert r.text.strip() == "OK"


def test_version(api):
    r = api.get("/version")
    assert r.status_code == 200
    assert r.text.strip() == mlflow.__version__


def test_server_info(api):
    r = api.get("/api/3.0/mlflow/server-info")
    assert r.status_code == 200
    info = r.json()
    assert info["store_type"] == "SqlStore"
    assert info["workspaces_enabled"] is False
    assert info["trace_archival_enabled"] is False
    assert info["multipart_uploads_enabled"] is False
    assert info["multipart_downloads_enabled"] is False


def test_unknown_route_is_non_json_404(api):
    r = api.get("/api/2.0/mlflow/no-such-endpoint")
    assert r.status_code == 404
    with pytest.raises(ValueError):
        json.loads(r.text)
    r = api.post("/api/2.0/mlflow/experiments/no-such-rpc", json={})
    assert r.status_code == 404
    with pytest.raises(ValueError):
        json.loads(r.text)


def test_wrong_method_is_405(api):
    r = api.s.delete(api.base + "/api/2.0/mlflow/experiments/create")
    assert r.status_code == 405


def test_post_without_json_content_type(api, unique):
    r = api.s.post(
        api.base + "/api/2.0/mlflow/experiments/create",
        data=json.dumps({"name": unique}),
        headers={"Content-Type": "text/plain"},
    )
    body = api.error(r, 400, "INVALID_PARAMETER_VALUE")
    assert "Content-Type" in body["message"]
    # nothing was created
    r = api.get("/api/2.0/mlflow/experiments/get-by-name", {"experiment_name": unique})
    assert r.status_code == 404


def test_json_content_type_with_charset_accepted(api, unique):
    r = api.s.post(
        api.base + "/api/2.0/mlflow/experiments/create",
        data=json.dumps({"name": unique}),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["experiment_id"].isdigit()


def test_ajax_api_mirror(api, client, unique):
    exp_id = client.create_experiment(unique)
    r = api.get("/ajax-api/2.0/mlflow/experiments/get", {"experiment_id": exp_id})
    assert r.status_code == 200
    assert r.json()["experiment"]["name"] == unique
    r = api.post(
        "/ajax-api/2.0/mlflow/experiments/search",
        {"filter": f"name = '{unique}'", "max_results": 10},
    )
    assert r.status_code == 200
    assert [e["experiment_id"] for e in r.json()["experiments"]] == [exp_id]
    r = api.post("/ajax-api/2.0/mlflow/runs/create", {"experiment_id": exp_id, "run_name": "via-ajax"})
    assert r.status_code == 200
    run_id = r.json()["run"]["info"]["run_id"]
    assert client.get_run(run_id).info.run_name == "via-ajax"
    r = api.get("/ajax-api/2.0/mlflow/experiments/get", {"experiment_id": "987654321"})
    api.error(r, 404, "RESOURCE_DOES_NOT_EXIST")


def test_error_body_shape(api):
    r = api.get("/api/2.0/mlflow/experiments/get", {"experiment_id": "987654321"})
    body = api.error(r, 404, "RESOURCE_DOES_NOT_EXIST")
    assert "987654321" in body["message"]
    assert r.headers["Content-Type"].startswith("application/json")


def test_missing_required_parameter(api):
    r = api.post("/api/2.0/mlflow/experiments/create", {})
    body = api.error(r, 400, "INVALID_PARAMETER_VALUE")
    assert "name" in body["message"]


def test_empty_body_counts_as_empty_object(api):
    r = api.s.post(
        api.base + "/api/2.0/mlflow/experiments/create",
        data=b"",
        headers={"Content-Type": "application/json"},
    )
    api.error(r, 400, "INVALID_PARAMETER_VALUE")


def test_wire_encoding_of_run(api, exp_id):
    r = api.post(
        "/api/2.0/mlflow/runs/create",
        {"experiment_id": exp_id, "start_time": 1700000000000, "run_name": "wire", "tags": [{"key": "k", "value": "v"}]},
    )
    assert r.status_code == 200, r.text
    run = r.json()["run"]
    info = run["info"]
    # int64 as JSON numbers, enums by name, snake_case, run_uuid duplicates run_id
    assert info["start_time"] == 1700000000000
    assert isinstance(info["start_time"], int)
    assert info["status"] == "RUNNING"
    assert info["lifecycle_stage"] == "active"
    assert info["run_uuid"] == info["run_id"]
    assert len(info["run_id"]) == 32 and int(info["run_id"], 16) >= 0
    assert info["experiment_id"] == exp_id
    assert info["artifact_uri"] == f"mlflow-artifacts:/{exp_id}/{info['run_id']}/artifacts"
    assert {"key": "k", "value": "v"} in run["data"]["tags"]
    # int64 request fields may be numeric strings
    r = api.post(
        "/api/2.0/mlflow/runs/log-metric",
        {"run_id": info["run_id"], "key": "m", "value": 1.5, "timestamp": "1700000000001", "step": "3"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {}
    r = api.get("/api/2.0/mlflow/runs/get", {"run_id": info["run_id"]})
    m = r.json()["run"]["data"]["metrics"]
    assert m == [{"key": "m", "value": 1.5, "timestamp": 1700000000001, "step": 3}]


def test_nan_and_infinity_on_the_wire(api, exp_id):
    run_id = api.post("/api/2.0/mlflow/runs/create", {"experiment_id": exp_id}).json()["run"]["info"]["run_id"]
    r = api.post(
        "/api/2.0/mlflow/runs/log-batch",
        {
            "run_id": run_id,
            "metrics": [
                {"key": "nan", "value": "NaN", "timestamp": 1, "step": 0},
                {"key": "pinf", "value": "Infinity", "timestamp": 1, "step": 0},
                {"key": "ninf", "value": "-Infinity", "timestamp": 1, "step": 0},
            ],
        },
    )
    assert r.status_code == 200, r.text
    r = api.get("/api/2.0/mlflow/runs/get", {"run_id": run_id})
    assert '"NaN"' in r.text
    metrics = {m["key"]: m["value"] for m in r.json()["run"]["data"]["metrics"]}
    assert metrics["nan"] == "NaN"
    assert metrics["pinf"] in ("Infinity", 1.7976931348623157e308)
    assert metrics["ninf"] in ("-Infinity", -1.7976931348623157e308)


def test_camel_case_request_fields(api, unique):
    r = api.post("/api/2.0/mlflow/experiments/create", {"name": unique, "artifactLocation": "/tmp/camel/loc"})
    assert r.status_code == 200, r.text
    r = api.get("/api/2.0/mlflow/experiments/get-by-name", {"experiment_name": unique})
    exp = r.json()["experiment"]
    assert exp["artifact_location"] == "/tmp/camel/loc"
    # 3.x responses carry the workspace and int64 times as numbers
    assert exp["workspace"] == "default"
    assert isinstance(exp["creation_time"], int)
    assert exp["lifecycle_stage"] == "active"
