"""MLflow 3 logged models, model metrics, run outputs and dataset summaries through the official
client (plus raw calls for wire details: page tokens, errors, the UI's search-datasets)."""

import base64
import json
import uuid

import mlflow
import pytest
from mlflow.entities import LoggedModelInput, LoggedModelOutput, LoggedModelStatus
from mlflow.exceptions import MlflowException

API = "/api/2.0/mlflow"

_ARTIFACTS = {}


def _artifacts_served(api):
    """Whether the server under test proxies artifacts (PUT mlflow-artifacts/artifacts/<p>)."""
    if "ok" not in _ARTIFACTS:
        r = api.s.put(
            api.base + f"/api/2.0/mlflow-artifacts/artifacts/probe-{uuid.uuid4().hex}/x.txt",
            data=b"x",
            timeout=60,
        )
        _ARTIFACTS["ok"] = r.status_code != 404
    return _ARTIFACTS["ok"]


@pytest.fixture
def needs_artifacts(api):
    if not _artifacts_served(api):
        pytest.skip("artifact routes not served by this server (PUT mlflow-artifacts/artifacts/* is 404)")


def _names(models):
    return [m.name for m in models]


def test_initialize_get_finalize(client, unique):
    mlflow.set_experiment(unique)
    exp = mlflow.get_experiment_by_name(unique)
    m = mlflow.initialize_logged_model(
        name="agent-v1", params={"lr": "0.1"}, tags={"team": "a"}, model_type="agent"
    )
    assert m.model_id.startswith("m-") and len(m.model_id) == 34
    assert m.status == LoggedModelStatus.PENDING
    assert m.experiment_id == exp.experiment_id
    assert m.name == "agent-v1"
    assert m.model_type == "agent"
    assert m.params == {"lr": "0.1"}
    assert m.tags["team"] == "a"
    assert m.artifact_location.endswith(f"/{exp.experiment_id}/models/{m.model_id}/artifacts")
    assert m.creation_timestamp == m.last_updated_timestamp

    got = mlflow.get_logged_model(m.model_id)
    assert got.model_id == m.model_id
    assert got.params == {"lr": "0.1"}
    assert mlflow.last_logged_model().model_id == m.model_id

    done = mlflow.finalize_logged_model(m.model_id, LoggedModelStatus.READY)
    assert done.status == LoggedModelStatus.READY
    assert done.last_updated_timestamp >= m.last_updated_timestamp
    failed = client.finalize_logged_model(m.model_id, "FAILED")
    assert failed.status == LoggedModelStatus.FAILED


def test_create_errors(client, unique, api):
    exp = client.create_experiment(unique)
    with pytest.raises(MlflowException, match="Invalid model name") as e:
        client.create_logged_model(exp, name="bad/name")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="No Experiment with id=987654 exists") as e:
        client.create_logged_model("987654")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException, match="Logged model with ID 'm-nope' not found") as e:
        client.get_logged_model("m-nope")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    # A random name when none is given.
    m = client.create_logged_model(exp)
    assert m.name and "-" in m.name
    api.error(api.post(API + "/logged-models", {}), 400, "INVALID_PARAMETER_VALUE")
    # Finalize needs model_id and status in the body.
    r = api.s.patch(api.base + API + f"/logged-models/{m.model_id}", json={"status": "LOGGED_MODEL_READY"})
    body = api.error(r, 400, "INVALID_PARAMETER_VALUE")
    assert "'model_id'" in body["message"]
    r = api.s.patch(api.base + API + f"/logged-models/{m.model_id}", json={"model_id": m.model_id})
    body = api.error(r, 400, "INVALID_PARAMETER_VALUE")
    assert "'status'" in body["message"]


def test_tags_params_delete(client, unique):
    exp = client.create_experiment(unique)
    m = client.create_logged_model(exp, name="m", tags={"a": "1"})
    mlflow.set_logged_model_tags(m.model_id, {"b": 2, "a": "override"})
    assert client.get_logged_model(m.model_id).tags == {"a": "override", "b": "2"}
    mlflow.delete_logged_model_tag(m.model_id, "a")
    assert client.get_logged_model(m.model_id).tags == {"b": "2"}
    with pytest.raises(MlflowException, match="No tag with key 'a' found for model with ID") as e:
        mlflow.delete_logged_model_tag(m.model_id, "a")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    mlflow.log_model_params({"x": "1", "y": "2"}, model_id=m.model_id)
    assert client.get_logged_model(m.model_id).params == {"x": "1", "y": "2"}

    client.delete_logged_model(m.model_id)
    with pytest.raises(MlflowException, match="not found"):
        client.get_logged_model(m.model_id)
    assert client.search_logged_models([exp]) == []


def test_model_metrics_and_outputs(client, unique):
    mlflow.set_experiment(unique)
    m = mlflow.initialize_logged_model(name="scored")
    with mlflow.start_run() as run:
        mlflow.log_metric("acc", 0.5, step=1, model_id=m.model_id)
        mlflow.log_metric("acc", 0.8, step=2, model_id=m.model_id)
        mlflow.log_metric("plain", 1.0)  # not a model metric
        client.log_outputs(run.info.run_id, [LoggedModelOutput(m.model_id, step=2)])
        client.log_inputs(run.info.run_id, models=[LoggedModelInput(m.model_id)])
    got = client.get_logged_model(m.model_id)
    metrics = sorted((x.key, x.value, x.step) for x in got.metrics)
    assert metrics == [("acc", 0.5, 1), ("acc", 0.8, 2)]
    assert all(x.run_id == run.info.run_id and x.model_id == m.model_id for x in got.metrics)

    r = client.get_run(run.info.run_id)
    assert r.data.metrics == {"acc": 0.8, "plain": 1.0}
    assert [(o.model_id, o.step) for o in r.outputs.model_outputs] == [(m.model_id, 2)]
    assert [i.model_id for i in r.inputs.model_inputs] == [m.model_id]
    found = client.search_runs([r.info.experiment_id])
    assert [(o.model_id, o.step) for o in found[0].outputs.model_outputs] == [(m.model_id, 2)]


def test_model_metric_with_dataset(client, unique):
    mlflow.set_experiment(unique)
    m = mlflow.initialize_logged_model(name="ds-model")
    with mlflow.start_run() as run:
        client.log_batch(
            run.info.run_id,
            metrics=[
                mlflow.entities.Metric(
                    "f1", 0.7, 1000, 0, model_id=m.model_id, dataset_name="eval", dataset_digest="abc"
                ),
                mlflow.entities.Metric("f1", 0.6, 1001, 1, model_id=m.model_id),
            ],
        )
    got = client.get_logged_model(m.model_id)
    by_step = {x.step: x for x in got.metrics}
    assert by_step[0].dataset_name == "eval" and by_step[0].dataset_digest == "abc"
    assert by_step[1].dataset_name is None
    exp = got.experiment_id
    # datasets restrict which metric values a filter sees.
    assert _names(client.search_logged_models([exp], filter_string="metrics.f1 > 0.65")) == ["ds-model"]
    assert (
        client.search_logged_models(
            [exp],
            filter_string="metrics.f1 > 0.65",
            datasets=[{"dataset_name": "eval", "dataset_digest": "abc"}],
        )[0].name
        == "ds-model"
    )
    assert (
        client.search_logged_models(
            [exp],
            filter_string="metrics.f1 < 0.65",
            datasets=[{"dataset_name": "eval", "dataset_digest": "abc"}],
        )
        == []
    )


def test_metric_for_unknown_model_is_refused(client, unique):
    mlflow.set_experiment(unique)
    with mlflow.start_run() as run:
        with pytest.raises(MlflowException) as e:
            client.log_metric(run.info.run_id, "m", 1.0, model_id="m-doesnotexist")
        assert e.value.error_code == "BAD_REQUEST"


@pytest.fixture
def populated(client, unique):
    exp = client.create_experiment(unique)
    run = client.create_run(exp)
    rid = run.info.run_id
    models = {}
    for name, acc, lr, tag in [("alpha", 0.9, "0.1", "x"), ("beta", 0.5, "0.01", "y"), ("gamma", 0.7, "0.1", "x")]:
        m = client.create_logged_model(exp, name=name, params={"lr": lr}, tags={"kind": tag}, model_type="clf")
        client.log_metric(rid, "acc", acc, step=0, model_id=m.model_id)
        models[name] = m
    client.create_logged_model(exp, name="nometric")
    return exp, models


def test_search_filters(client, populated):
    exp, models = populated
    s = lambda f: sorted(_names(client.search_logged_models([exp], filter_string=f)))  # noqa: E731
    assert s("metrics.acc > 0.6") == ["alpha", "gamma"]
    assert s("metrics.acc >= 0.5 AND params.lr = '0.1'") == ["alpha", "gamma"]
    assert s("params.lr = '0.01'") == ["beta"]
    assert s("tags.kind != 'x'") == ["beta"]
    assert s("name = 'alpha'") == ["alpha"]
    assert s("name LIKE 'a%'") == ["alpha"]
    assert s("name ILIKE 'A%'") == ["alpha"]
    assert s("name IN ('alpha', 'beta')") == ["alpha", "beta"]
    assert s("name NOT IN ('alpha', 'beta')") == ["gamma", "nometric"]
    assert s("model_type = 'clf'") == ["alpha", "beta", "gamma"]
    assert s(f"model_id = '{models['beta'].model_id}'") == ["beta"]
    assert s("creation_timestamp > 0 AND creation_time > 0") == ["alpha", "beta", "gamma", "nometric"]
    assert s("status = 1") == ["alpha", "beta", "gamma", "nometric"]
    client.finalize_logged_model(models["gamma"].model_id, "READY")
    assert s("status = 2") == ["gamma"]


def test_search_order_by_and_fluent(client, populated):
    exp, models = populated
    ob = lambda o: _names(client.search_logged_models([exp], order_by=o))  # noqa: E731
    assert ob([{"field_name": "metrics.acc", "ascending": False}]) == ["alpha", "gamma", "beta", "nometric"]
    assert ob([{"field_name": "metrics.acc", "ascending": True}]) == ["beta", "gamma", "alpha", "nometric"]
    assert ob([{"field_name": "name", "ascending": False}]) == ["nometric", "gamma", "beta", "alpha"]
    # Default: newest first.
    assert ob(None) == ["nometric", "gamma", "beta", "alpha"]
    df = mlflow.search_logged_models(
        experiment_ids=[exp], filter_string="metrics.acc > 0.6", order_by=[{"field_name": "metrics.acc"}]
    )
    assert list(df["name"]) == ["gamma", "alpha"]
    lst = mlflow.search_logged_models(
        experiment_ids=[exp], filter_string="params.lr = '0.1'", output_format="list"
    )
    assert sorted(_names(lst)) == ["alpha", "gamma"]


def test_search_errors(client, populated):
    exp, _ = populated
    for f, msg in [
        ("name = 'a' OR name = 'b'", "Expected a list of comparisons separated by 'AND'"),
        ("metric.acc > 1", "Invalid entity type: 'metric'"),
        ("metrics.acc LIKE 1", "Invalid comparison operator for metrics.acc: 'LIKE'"),
        ("name > 'a'", "Invalid comparison operator for attributes.name: '>'"),
    ]:
        with pytest.raises(MlflowException, match=msg) as e:
            client.search_logged_models([exp], filter_string=f)
        assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="Only metrics are supported"):
        client.search_logged_models([exp], order_by=[{"field_name": "params.lr"}])
    with pytest.raises(MlflowException, match="Invalid order by field name: nope"):
        client.search_logged_models([exp], order_by=[{"field_name": "nope"}])


def test_search_paging(client, populated, api):
    exp, _ = populated
    order = [{"field_name": "name", "ascending": True}]
    seen = []
    token = None
    while True:
        page = client.search_logged_models([exp], max_results=3, order_by=order, page_token=token)
        seen += _names(page)
        token = page.token
        if not token:
            break
    assert seen == ["alpha", "beta", "gamma", "nometric"]

    body = {"experiment_ids": [exp], "max_results": 1, "filter": "name != 'zzz'"}
    r = api.post(API + "/logged-models/search", body).json()
    assert len(r["models"]) == 1
    decoded = json.loads(base64.b64decode(r["next_page_token"]))
    assert decoded == {"experiment_ids": [exp], "filter_string": "name != 'zzz'", "order_by": None, "offset": 1}
    # The token is bound to the search it came from.
    changed = dict(body, filter="name != 'yyy'", page_token=r["next_page_token"])
    err = api.error(api.post(API + "/logged-models/search", changed), 400, "INVALID_PARAMETER_VALUE")
    assert err["message"].startswith("Filter string in the page token does not match")
    changed = dict(body, experiment_ids=[exp, "0"], page_token=r["next_page_token"])
    err = api.error(api.post(API + "/logged-models/search", changed), 400, "INVALID_PARAMETER_VALUE")
    assert err["message"] == (
        f"Experiment IDs in the page token do not match the requested experiment IDs. "
        f"Expected: ['{exp}', '0']. Found: ['{exp}']"
    )
    api.error(api.post(API + "/logged-models/search", {}), 400, "INVALID_PARAMETER_VALUE")


def test_search_datasets_ui_route(client, unique, api):
    mlflow.set_experiment(unique)
    import pandas as pd

    ds = mlflow.data.from_pandas(pd.DataFrame({"a": [1, 2]}), name="train-df")
    with mlflow.start_run() as run:
        mlflow.log_input(ds, context="training")
    exp = run.info.experiment_id
    r = api.post("/ajax-api/2.0/mlflow/experiments/search-datasets", {"experiment_ids": [exp]})
    assert r.status_code == 200, r.text
    assert r.json()["dataset_summaries"] == [
        {"experiment_id": exp, "name": "train-df", "digest": ds.digest, "context": "training"}
    ]
    api.error(
        api.post("/ajax-api/2.0/mlflow/experiments/search-datasets", {}), 400, "INVALID_PARAMETER_VALUE"
    )
    # UI-only: not on the public API prefix.
    assert api.post(API + "/experiments/search-datasets", {"experiment_ids": [exp]}).status_code == 404
    # Runs are searchable by dataset fields.
    found = client.search_runs([exp], "dataset.name = 'train-df' AND dataset.context = 'training'")
    assert [x.info.run_id for x in found] == [run.info.run_id]


def test_create_external_model(client, unique, needs_artifacts):
    mlflow.set_experiment(unique)
    m = mlflow.create_external_model(name="ext", params={"k": "v"}, model_type="agent")
    got = mlflow.get_logged_model(m.model_id)
    assert got.status == LoggedModelStatus.READY
    assert got.params == {"k": "v"}
    files = [f.path for f in client.list_logged_model_artifacts(m.model_id)]
    assert "MLmodel" in files


def test_sklearn_log_model_and_load(client, unique, needs_artifacts):
    import numpy as np
    from sklearn.linear_model import LinearRegression

    mlflow.set_experiment(unique)
    X = np.array([[1.0], [2.0], [3.0]])
    y = np.array([2.0, 4.0, 6.0])
    reg = LinearRegression().fit(X, y)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(reg, name="reg", params={"alpha": "0"})
        mlflow.log_metric("rmse", 0.0, model_id=info.model_id)
    m = client.get_logged_model(info.model_id)
    assert m.status == LoggedModelStatus.READY
    assert m.source_run_id == run.info.run_id
    assert [x.key for x in m.metrics] == ["rmse"]
    r = client.get_run(run.info.run_id)
    assert [o.model_id for o in r.outputs.model_outputs] == [info.model_id]
    assert mlflow.last_logged_model().model_id == info.model_id
    for uri in (f"models:/{info.model_id}", f"runs:/{run.info.run_id}/reg"):
        loaded = mlflow.pyfunc.load_model(uri)
        assert np.allclose(loaded.predict(np.array([[4.0]])), [8.0])
    found = mlflow.search_logged_models(
        experiment_ids=[r.info.experiment_id], filter_string="metrics.rmse < 1", output_format="list"
    )
    assert [x.model_id for x in found] == [info.model_id]
