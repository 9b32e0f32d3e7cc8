"""Runs, params, metrics, tags, batches, history and inputs through the official client."""

import math
import time

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.entities import Metric, Param, RunStatus, RunTag, ViewType
from mlflow.exceptions import MlflowException

MAX_DOUBLE = 1.7976931348623157e308


def _now_ms():
    return int(time.time() * 1000)


def test_fluent_run_lifecycle(client, unique):
    mlflow.set_experiment(unique)
    before = _now_ms()
    with mlflow.start_run(run_name="my-run", tags={"custom": "yes"}, description="desc here") as run:
        run_id = run.info.run_id
        assert run.info.status == "RUNNING"
        assert run.info.run_name == "my-run"
        active = client.get_run(run_id)
        assert active.info.status == "RUNNING"
        assert active.info.end_time is None
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"layers": 3, "opt": "adam"})
        mlflow.log_metric("loss", 0.5, step=0)
        mlflow.log_metric("loss", 0.25, step=1)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.8}, step=1)
        mlflow.set_tag("stage", "dev")
        mlflow.set_tags({"a": "1", "b": "2"})
        mlflow.delete_tag("b")
    after = _now_ms()
    r = client.get_run(run_id)
    assert r.info.status == "FINISHED"
    assert r.info.run_name == "my-run"
    assert r.info.lifecycle_stage == "active"
    assert before - 5 <= r.info.start_time <= r.info.end_time <= after + 5
    assert r.info.experiment_id == mlflow.get_experiment_by_name(unique).experiment_id
    assert r.info.artifact_uri == f"mlflow-artifacts:/{r.info.experiment_id}/{run_id}/artifacts"
    assert r.data.params == {"lr": "0.01", "layers": "3", "opt": "adam"}
    assert r.data.metrics == {"loss": 0.25, "acc": 0.9, "f1": 0.8}
    tags = r.data.tags
    assert tags["custom"] == "yes"
    assert tags["stage"] == "dev"
    assert tags["a"] == "1"
    assert "b" not in tags
    assert tags["mlflow.runName"] == "my-run"
    assert tags["mlflow.note.content"] == "desc here"
    assert tags["mlflow.user"] == r.info.user_id
    assert "mlflow.source.name" in tags and "mlflow.source.type" in tags


def test_failed_status_via_context_manager(client, unique):
    mlflow.set_experiment(unique)
    with pytest.raises(RuntimeError):
        with mlflow.start_run() as run:
            raise RuntimeError("boom")
    assert client.get_run(run.info.run_id).info.status == "FAILED"


def test_generated_run_name(client, exp_id):
    run = client.create_run(exp_id)
    assert run.info.run_name  # the server or client generates e.g. "bold-fox-123"
    assert client.get_run(run.info.run_id).data.tags["mlflow.runName"] == run.info.run_name


def test_nested_runs(client, unique):
    mlflow.set_experiment(unique)
    with mlflow.start_run(run_name="parent") as parent:
        with mlflow.start_run(run_name="child", nested=True) as child:
            pass
    c = client.get_run(child.info.run_id)
    assert c.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert "mlflow.parentRunId" not in client.get_run(parent.info.run_id).data.tags
    found = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert [r.info.run_id for r in found] == [child.info.run_id]


def test_client_create_run_explicit(client, exp_id):
    run = client.create_run(exp_id, start_time=1600000000000, tags={"t": "v"}, run_name="explicit")
    r = client.get_run(run.info.run_id)
    assert r.info.start_time == 1600000000000
    assert r.info.run_name == "explicit"
    assert r.data.tags["t"] == "v"
    assert r.info.status == "RUNNING"


def test_create_run_in_missing_or_deleted_experiment(client, unique):
    with pytest.raises(MlflowException) as ei:
        client.create_run("999999999")
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    exp_id = client.create_experiment(unique)
    client.delete_experiment(exp_id)
    with pytest.raises(MlflowException) as ei:
        client.create_run(exp_id)
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"


def test_get_missing_run(client, api):
    with pytest.raises(MlflowException) as ei:
        client.get_run("0" * 32)
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    r = api.get("/api/2.0/mlflow/runs/get", {"run_id": "0" * 32})
    api.error(r, 404, "RESOURCE_DOES_NOT_EXIST")


def test_params(client, api, exp_id):
    run_id = client.create_run(exp_id).info.run_id
    client.log_param(run_id, "p", "1")
    client.log_param(run_id, "p", "1")  # same value again is fine
    with pytest.raises(MlflowException) as ei:
        client.log_param(run_id, "p", "2")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    r = api.post("/api/2.0/mlflow/runs/log-parameter", {"run_id": run_id, "key": "p", "value": "3"})
    api.error(r, 400, "INVALID_PARAMETER_VALUE")
    r = api.post("/api/2.0/mlflow/runs/log-batch", {"run_id": run_id, "params": [{"key": "p", "value": "4"}]})
    api.error(r, 400, "INVALID_PARAMETER_VALUE")
    assert client.get_run(run_id).data.params == {"p": "1"}


def test_tags_overwrite_and_delete(client, exp_id):
    run_id = client.create_run(exp_id).info.run_id
    client.set_tag(run_id, "k", "v1")
    client.set_tag(run_id, "k", "v2")
    assert client.get_run(run_id).data.tags["k"] == "v2"
    client.delete_tag(run_id, "k")
    assert "k" not in client.get_run(run_id).data.tags
    with pytest.raises(MlflowException) as ei:
        client.delete_tag(run_id, "never-set")
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_set_run_name_tag_renames_run(client, exp_id):
    run_id = client.create_run(exp_id, run_name="before").info.run_id
    client.set_tag(run_id, "mlflow.runName", "after")
    assert client.get_run(run_id).info.run_name == "after"


def test_log_batch_and_limits(client, api, exp_id):
    run_id = client.create_run(exp_id).info.run_id
    # the client splits large batches itself
    client.log_batch(
        run_id,
        metrics=[Metric(f"m{i}", float(i), 1000 + i, 0) for i in range(2500)],
        params=[Param(f"p{i}", str(i)) for i in range(250)],
        tags=[RunTag(f"t{i}", str(i)) for i in range(150)],
    )
    data = client.get_run(run_id).data
    assert len(data.metrics) == 2500 and data.metrics["m2499"] == 2499.0
    assert len(data.params) == 250 and data.params["p249"] == "249"
    assert sum(1 for k in data.tags if k.startswith("t")) == 150

    def batch(**body):
        return api.post("/api/2.0/mlflow/runs/log-batch", {"run_id": run_id, **body})

    def metrics(n, prefix="x"):
        return [{"key": f"{prefix}{i}", "value": 1.0, "timestamp": 1, "step": 0} for i in range(n)]

    def params(n, prefix="y"):
        return [{"key": f"{prefix}{i}", "value": "v"} for i in range(n)]

    assert batch(metrics=metrics(1000)).status_code == 200
    body = api.error(batch(metrics=metrics(1001)), 400, "INVALID_PARAMETER_VALUE")
    assert "1000" in body["message"]
    assert batch(params=params(100)).status_code == 200
    api.error(batch(params=params(101, "z")), 400, "INVALID_PARAMETER_VALUE")
    api.error(batch(tags=[{"key": f"tt{i}", "value": "v"} for i in range(101)]), 400, "INVALID_PARAMETER_VALUE")
    # more than 1000 entities in total
    api.error(batch(metrics=metrics(950, "w"), params=params(60, "u")), 400, "INVALID_PARAMETER_VALUE")
    # duplicate param keys in one request (same or different values)
    api.error(batch(params=[{"key": "d", "value": "1"}, {"key": "d", "value": "1"}]), 400, "INVALID_PARAMETER_VALUE")
    with pytest.raises(MlflowException) as ei:
        client.log_batch(run_id, params=[Param("dd", "1"), Param("dd", "2")])
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    data = client.get_run(run_id).data
    assert "z0" not in data.params and "w0" not in data.metrics and "u0" not in data.params
    assert "d" not in data.params and "dd" not in data.params
    # empty batch is fine
    assert batch().status_code == 200


def test_key_and_value_lengths(client, api, exp_id):
    run_id = client.create_run(exp_id).info.run_id

    def batch(**body):
        return api.post("/api/2.0/mlflow/runs/log-batch", {"run_id": run_id, **body})

    assert batch(params=[{"key": "k" * 250, "value": "1"}]).status_code == 200
    api.error(batch(params=[{"key": "k" * 251, "value": "1"}]), 400, "INVALID_PARAMETER_VALUE")
    api.error(
        batch(metrics=[{"key": "m" * 251, "value": 1, "timestamp": 1, "step": 0}]), 400, "INVALID_PARAMETER_VALUE"
    )
    api.error(batch(params=[{"key": "../escape", "value": "1"}]), 400, "INVALID_PARAMETER_VALUE")
    with pytest.raises(MlflowException) as ei:
        client.log_param(run_id, "x" * 300, "1")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    # over-long values are truncated by the 3.x server (params 6000, tags 8000 chars)
    assert batch(params=[{"key": "long", "value": "v" * 6500}]).status_code == 200
    assert batch(tags=[{"key": "longtag", "value": "t" * 9000}]).status_code == 200
    client.log_param(run_id, "exact", "e" * 6000)
    data = client.get_run(run_id).data
    assert data.params["long"] == "v" * 6000
    assert data.params["exact"] == "e" * 6000
    assert data.tags["longtag"] == "t" * 8000
    assert data.params["k" * 250] == "1"


def test_writes_to_deleted_run_refused(client, exp_id):
    run_id = client.create_run(exp_id).info.run_id
    client.log_param(run_id, "before", "1")
    client.delete_run(run_id)
    for write in (
        lambda: client.log_param(run_id, "after", "1"),
        lambda: client.log_metric(run_id, "after", 1.0),
        lambda: client.set_tag(run_id, "after", "1"),
        lambda: client.log_batch(run_id, metrics=[Metric("after", 1.0, 1, 0)]),
        lambda: client.update_run(run_id, "FINISHED"),
    ):
        with pytest.raises(MlflowException) as ei:
            write()
        assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    r = client.get_run(run_id)
    assert r.info.lifecycle_stage == "deleted"
    assert r.data.params == {"before": "1"}
    assert r.data.metrics == {}


def test_nan_inf_metrics_round_trip(client, exp_id):
    run_id = client.create_run(exp_id).info.run_id
    client.log_metric(run_id, "nan", float("nan"), step=0)
    client.log_metric(run_id, "pinf", float("inf"), step=0)
    client.log_metric(run_id, "ninf", float("-inf"), step=0)
    client.log_metric(run_id, "mixed", 1.0, step=0)
    client.log_metric(run_id, "mixed", float("nan"), step=1)
    m = client.get_run(run_id).data.metrics
    assert math.isnan(m["nan"])
    # the SQL store clamps infinities to +-max double
    assert m["pinf"] == MAX_DOUBLE
    assert m["ninf"] == -MAX_DOUBLE
    assert math.isnan(m["mixed"])  # latest = highest step
    hist = client.get_metric_history(run_id, "mixed")
    assert [h.step for h in hist] == [0, 1]
    assert hist[0].value == 1.0 and math.isnan(hist[1].value)


def test_latest_metric_is_max_step(client, exp_id):
    run_id = client.create_run(exp_id).info.run_id
    client.log_metric(run_id, "m", 5.0, timestamp=100, step=5)
    client.log_metric(run_id, "m", 1.0, timestamp=200, step=1)  # older step, newer timestamp
    client.log_metric(run_id, "m", 7.0, timestamp=50, step=5)  # same step, older timestamp
    client.log_metric(run_id, "m", 3.0, timestamp=100, step=5)  # same step+timestamp, smaller value
    assert client.get_run(run_id).data.metrics["m"] == 5.0
    client.log_metric(run_id, "m", -1.0, timestamp=1, step=6)
    assert client.get_run(run_id).data.metrics["m"] == -1.0
    hist = client.get_metric_history(run_id, "m")
    assert sorted((h.step, h.timestamp, h.value) for h in hist) == [
        (1, 200, 1.0),
        (5, 50, 7.0),
        (5, 100, 3.0),
        (5, 100, 5.0),
        (6, 1, -1.0),
    ]


def test_metric_history_large(client, exp_id):
    run_id = client.create_run(exp_id).info.run_id
    n = 30000
    client.log_batch(run_id, metrics=[Metric("big", float(i) / 2, 1_000_000 + i, i) for i in range(n)])
    hist = client.get_metric_history(run_id, "big")  # the client pages through 25000 + 5000
    assert len(hist) == n
    steps = sorted(h.step for h in hist)
    assert steps == list(range(n))
    by_step = {h.step: h for h in hist}
    assert by_step[12345].value == 12345 / 2 and by_step[12345].timestamp == 1_000_000 + 12345
    assert client.get_run(run_id).data.metrics["big"] == (n - 1) / 2
    assert client.get_metric_history(run_id, "absent") == []


def test_metric_history_paging_raw(api, client, exp_id):
    run_id = client.create_run(exp_id).info.run_id
    client.log_batch(run_id, metrics=[Metric("h", float(i), 10 + i, i) for i in range(25)])
    got = []
    token = None
    pages = 0
    while True:
        params = {"run_id": run_id, "run_uuid": run_id, "metric_key": "h", "max_results": 10}
        if token:
            params["page_token"] = token
        r = api.get("/api/2.0/mlflow/metrics/get-history", params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body.get("metrics", [])) <= 10
        got += body.get("metrics", [])
        pages += 1
        token = body.get("next_page_token")
        if not token:
            break
    assert pages == 3
    assert sorted(m["step"] for m in got) == list(range(25))
    assert all(m["key"] == "h" and m["value"] == float(m["step"]) for m in got)


def test_metric_history_bulk_interval(api, client, exp_id):
    r1 = client.create_run(exp_id).info.run_id
    r2 = client.create_run(exp_id).info.run_id
    client.log_batch(r1, metrics=[Metric("loss", float(i), 1000 + i, i) for i in range(100)])
    client.log_batch(r2, metrics=[Metric("loss", float(-i), 1000 + i, i * 2) for i in range(10)])
    r = api.get(
        "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
        [("run_ids", r1), ("run_ids", r2), ("metric_key", "loss"), ("max_results", "20")],
    )
    assert r.status_code == 200, r.text
    metrics = r.json()["metrics"]
    by_run = {}
    for m in metrics:
        assert m["key"] == "loss"
        by_run.setdefault(m["run_id"], []).append(m)
    assert set(by_run) == {r1, r2}
    steps1 = [m["step"] for m in by_run[r1]]
    assert steps1 == sorted(steps1)
    assert steps1[0] == 0 and steps1[-1] == 99
    assert len(steps1) <= 20
    assert [m["step"] for m in by_run[r2]] == [i * 2 for i in range(10)]
    assert all(m["value"] == float(m["step"]) for m in by_run[r1])
    # explicit step window
    r = api.get(
        "/api/2.0/mlflow/metrics/get-history-bulk-interval",
        {"run_ids": r1, "metric_key": "loss", "start_step": 10, "end_step": 19, "max_results": 100},
    )
    assert r.status_code == 200, r.text
    assert [m["step"] for m in r.json()["metrics"]] == list(range(10, 20))
    # missing metric_key
    r = api.get("/api/2.0/mlflow/metrics/get-history-bulk-interval", {"run_ids": r1})
    api.error(r, 400, "INVALID_PARAMETER_VALUE")


def test_update_run(client, exp_id):
    run_id = client.create_run(exp_id, run_name="orig").info.run_id
    client.update_run(run_id, status="KILLED", name="renamed")
    r = client.get_run(run_id)
    assert r.info.status == "KILLED"
    assert r.info.run_name == "renamed"
    assert r.data.tags["mlflow.runName"] == "renamed"
    client.set_terminated(run_id, status="FINISHED", end_time=1234567890123)
    r = client.get_run(run_id)
    assert r.info.status == "FINISHED"
    assert r.info.end_time == 1234567890123
    for st in ("SCHEDULED", "RUNNING", "FAILED"):
        client.update_run(run_id, status=st)
        assert client.get_run(run_id).info.status == st
    assert RunStatus.to_string(RunStatus.FAILED) == client.get_run(run_id).info.status


def test_update_run_raw_response(api, client, exp_id):
    run_id = client.create_run(exp_id, run_name="raw").info.run_id
    r = api.post(
        "/api/2.0/mlflow/runs/update",
        {"run_id": run_id, "run_uuid": run_id, "status": "FINISHED", "end_time": 1700000000999},
    )
    assert r.status_code == 200, r.text
    info = r.json()["run_info"]
    assert info["status"] == "FINISHED"
    assert info["end_time"] == 1700000000999
    assert info["run_name"] == "raw"
    assert info["run_id"] == run_id


def test_delete_restore_run(client, exp_id):
    keep = client.create_run(exp_id).info.run_id
    gone = client.create_run(exp_id).info.run_id
    client.delete_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "deleted"
    ids = lambda vt: sorted(r.info.run_id for r in client.search_runs([exp_id], run_view_type=vt))  # noqa: E731
    assert ids(ViewType.ACTIVE_ONLY) == [keep]
    assert ids(ViewType.DELETED_ONLY) == [gone]
    assert ids(ViewType.ALL) == sorted([keep, gone])
    client.restore_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "active"
    assert ids(ViewType.ACTIVE_ONLY) == sorted([keep, gone])
    with pytest.raises(MlflowException) as ei:
        client.delete_run("f" * 32)
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_log_inputs_and_search_by_dataset(client, exp_id):
    df = pd.DataFrame({"a": [1, 2, 3], "b": [0.1, 0.2, 0.3]})
    ds = mlflow.data.from_pandas(df, source="s3://bucket/train.csv", name="train_ds", targets="b")
    arr = mlflow.data.from_numpy(np.arange(12).reshape(4, 3), source="file:///tmp/eval.npy", name="eval_ds")
    r1 = client.create_run(exp_id).info.run_id
    r2 = client.create_run(exp_id).info.run_id
    mlflow.set_experiment(experiment_id=exp_id)
    with mlflow.start_run(run_id=r1):
        mlflow.log_input(ds, context="training", tags={"extra": "x"})
        mlflow.log_input(arr, context="eval")
    with mlflow.start_run(run_id=r2):
        mlflow.log_input(arr, context="eval")
    inputs = client.get_run(r1).inputs.dataset_inputs
    by_name = {i.dataset.name: i for i in inputs}
    assert set(by_name) == {"train_ds", "eval_ds"}
    train = by_name["train_ds"]
    assert train.dataset.digest == ds.digest
    assert train.dataset.source_type == "s3"
    assert "train.csv" in train.dataset.source
    assert train.dataset.schema and "a" in train.dataset.schema
    assert train.dataset.profile
    tags = {t.key: t.value for t in train.tags}
    assert tags["mlflow.data.context"] == "training"
    assert tags["extra"] == "x"

    def found(flt):
        return sorted(r.info.run_id for r in client.search_runs([exp_id], filter_string=flt))

    assert found("dataset.name = 'train_ds'") == [r1]
    assert found("dataset.name = 'eval_ds'") == sorted([r1, r2])
    assert found("dataset.name != 'train_ds'") == sorted([r1, r2])  # r1 also has eval_ds
    assert found("dataset.name LIKE 'train%'") == [r1]
    assert found("dataset.name ILIKE 'TRAIN%'") == [r1]
    assert found("dataset.name IN ('train_ds', 'nope')") == [r1]
    assert found("dataset.name NOT IN ('train_ds')") == sorted([r1, r2])
    assert found(f"dataset.digest = '{ds.digest}'") == [r1]
    assert found("dataset.context = 'training'") == [r1]
    assert found("dataset.context = 'eval'") == sorted([r1, r2])
    assert found("dataset.name = 'missing'") == []
    # the same dataset logged twice to one run is stored once
    with mlflow.start_run(run_id=r2):
        mlflow.log_input(arr, context="eval")
    assert len(client.get_run(r2).inputs.dataset_inputs) == 1
