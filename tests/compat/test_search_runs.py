"""search_runs: every filter operator, order_by, view types, paging, errors."""

import uuid

import mlflow
import pytest
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

from compat_server import backend_name, rs_bin

# name: (start_time, end_time, status, metrics, params, tags)
RUNS = {
    "r1": (1000, 1500, "FINISHED", {"acc": 0.9, "loss": 0.1, "score": 1.0}, {"model": "lr", "alpha": "0.1"}, {"team": "a"}),
    "r2": (2000, 2600, "FINISHED", {"acc": 0.5, "loss": 0.5, "score": float("nan")}, {"model": "rf"}, {"team": "b"}),
    "r3": (3000, 3700, "FAILED", {"acc": 0.7, "score": 3.0}, {"model": "LR-large"}, {"team": "A", "note": "x_y"}),
    "r4": (4000, None, "RUNNING", {}, {}, {}),
    "r5": (5000, 5100, "FINISHED", {"acc": 1.0}, {"model": "lr"}, {"team": "a"}),  # deleted
}


@pytest.fixture(scope="module")
def runs(client):
    exp_name = f"search-{uuid.uuid4().hex[:10]}"
    exp_id = client.create_experiment(exp_name)
    ids = {}
    for name, (start, end, status, metrics, params, tags) in RUNS.items():
        run = client.create_run(exp_id, start_time=start, run_name=name)
        rid = run.info.run_id
        ids[name] = rid
        client.log_batch(
            rid,
            metrics=[Metric(k, v, 1, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        if end is not None:
            client.set_terminated(rid, status=status, end_time=end)
    client.delete_run(ids["r5"])
    return exp_id, ids


def _names(result, ids):
    inv = {v: k for k, v in ids.items()}
    return [inv[r.info.run_id] for r in result]


def _search(client, runs, flt="", **kw):
    exp_id, ids = runs
    return _names(client.search_runs([exp_id], filter_string=flt, **kw), ids)


@pytest.mark.parametrize(
    "flt,expected",
    [
        # metrics: numeric comparisons
        ("metrics.acc = 0.9", {"r1"}),
        ("metrics.acc != 0.9", {"r2", "r3"}),
        ("metrics.acc > 0.5", {"r1", "r3"}),
        ("metrics.acc >= 0.5", {"r1", "r2", "r3"}),
        ("metrics.acc < 0.7", {"r2"}),
        ("metrics.acc <= 0.7", {"r2", "r3"}),
        ("metric.loss < 1", {"r1", "r2"}),
        ("metrics.`acc` > 0.8", {"r1"}),
        ('metrics."acc" > 0.8', {"r1"}),
        ("metrics.acc > -1e10", {"r1", "r2", "r3"}),
        # params: string comparisons and nullness
        ("params.model = 'lr'", {"r1"}),
        ('params.model = "lr"', {"r1"}),
        ("params.model != 'lr'", {"r2", "r3"}),
        ("params.model LIKE 'l%'", {"r1"}),
        ("params.model LIKE 'L%'", {"r3"}),
        ("params.model LIKE '_f'", {"r2"}),
        ("params.model ILIKE 'l%'", {"r1", "r3"}),
        ("params.model ILIKE '%LARGE'", {"r3"}),
        ("param.alpha = '0.1'", {"r1"}),
        ("parameters.alpha IS NULL", {"r2", "r3", "r4"}),
        ("params.alpha IS NOT NULL", {"r1"}),
        # tags
        ("tags.team = 'a'", {"r1"}),
        ("tags.team != 'a'", {"r2", "r3"}),
        ("tags.team LIKE 'a'", {"r1"}),
        ("tags.team ILIKE 'a'", {"r1", "r3"}),
        ("tag.note LIKE '%_%'", {"r3"}),
        ("tags.team IS NULL", {"r4"}),
        ("tags.team IS NOT NULL", {"r1", "r2", "r3"}),
        ("tags.`mlflow.runName` = 'r2'", {"r2"}),
        # string attributes
        ("attributes.run_name = 'r2'", {"r2"}),
        ("run_name != 'r2'", {"r1", "r3", "r4"}),
        ("attribute.run_name LIKE 'r%'", {"r1", "r2", "r3", "r4"}),
        ("run.run_name ILIKE 'R3'", {"r3"}),
        ("`Run name` = 'r4'", {"r4"}),
        ("attributes.status = 'FINISHED'", {"r1", "r2"}),
        ("attributes.status != 'FINISHED'", {"r3", "r4"}),
        ("status LIKE 'F%'", {"r1", "r2", "r3"}),
        ("status ILIKE 'running'", {"r4"}),
        ("attributes.artifact_uri LIKE 'mlflow-artifacts:/%'", {"r1", "r2", "r3", "r4"}),
        # numeric attributes
        ("attributes.start_time = 2000", {"r2"}),
        ("attributes.start_time != 2000", {"r1", "r3", "r4"}),
        ("attributes.start_time > 2000", {"r3", "r4"}),
        ("attributes.start_time >= 2000", {"r2", "r3", "r4"}),
        ("attributes.start_time < 3000", {"r1", "r2"}),
        ("attributes.start_time <= 3000", {"r1", "r2", "r3"}),
        ("created > 3500", {"r4"}),
        ("Created < 1500", {"r1"}),
        ("attributes.end_time > 2000", {"r2", "r3"}),
        ("attributes.end_time <= 1500", {"r1"}),
        # conjunctions
        ("metrics.acc > 0.5 AND params.model = 'lr'", {"r1"}),
        ("metrics.acc >= 0.5 and tags.team ILIKE 'a' and attributes.status = 'FAILED'", {"r3"}),
        ("params.model ILIKE 'l%' AND metrics.acc < 0.8", {"r3"}),
    ],
)
def test_filter(client, runs, flt, expected):
    assert set(_search(client, runs, flt)) == expected


def test_run_id_in_not_in(client, runs):
    _, ids = runs
    got = _search(client, runs, f"attributes.run_id IN ('{ids['r1']}', '{ids['r3']}')")
    assert set(got) == {"r1", "r3"}
    got = _search(client, runs, f"attributes.run_id NOT IN ('{ids['r1']}', '{ids['r3']}')")
    assert set(got) == {"r2", "r4"}
    got = _search(client, runs, f"attributes.run_id = '{ids['r2']}'")
    assert got == ["r2"]
    got = _search(client, runs, f"run_id != '{ids['r2']}'")
    assert set(got) == {"r1", "r3", "r4"}
    got = _search(client, runs, f"run_id IN ('{ids['r5']}')", run_view_type=ViewType.ALL)
    assert got == ["r5"]


def test_user_id_filter(client, runs):
    exp_id, ids = runs
    user = client.get_run(ids["r1"]).info.user_id
    assert set(_search(client, runs, f"attributes.user_id = '{user}'")) == {"r1", "r2", "r3", "r4"}
    assert _search(client, runs, "attributes.user_id = 'nobody-at-all'") == []


@pytest.mark.parametrize(
    "order_by,expected,expected_ci",
    [
        (None, ["r4", "r3", "r2", "r1"], None),  # start_time DESC
        (["attributes.start_time ASC"], ["r1", "r2", "r3", "r4"], None),
        (["start_time DESC"], ["r4", "r3", "r2", "r1"], None),
        (["metrics.acc DESC"], ["r1", "r3", "r2", "r4"], None),  # missing metric sorts last
        (["metrics.acc ASC"], ["r2", "r3", "r1", "r4"], None),
        (["metrics.acc"], ["r2", "r3", "r1", "r4"], None),
        (["metrics.loss ASC"], ["r1", "r2", "r4", "r3"], None),  # ties among NULLs: start_time DESC
        (["metrics.score ASC"], ["r1", "r3", "r2", "r4"], None),  # NaN after numbers, before NULL
        (["metrics.score DESC"], ["r3", "r1", "r2", "r4"], None),
        (["params.model ASC"], ["r3", "r1", "r2", "r4"], ["r1", "r3", "r2", "r4"]),
        (["params.model DESC"], ["r2", "r1", "r3", "r4"], ["r2", "r3", "r1", "r4"]),
        (["tags.team ASC"], ["r3", "r1", "r2", "r4"], None),
        (["tags.team DESC", "start_time ASC"], ["r2", "r1", "r3", "r4"], None),
        (["attributes.run_name DESC"], ["r4", "r3", "r2", "r1"], None),
        (["attributes.end_time ASC"], ["r1", "r2", "r3", "r4"], None),
        (["attributes.status ASC", "start_time ASC"], ["r3", "r1", "r2", "r4"], None),
        (["tags.team ASC", "metrics.acc DESC"], ["r3", "r1", "r2", "r4"], ["r1", "r3", "r2", "r4"]),
    ],
)
def test_order_by(client, runs, order_by, expected, expected_ci):
    # MySQL/MariaDB compare strings case-insensitively (utf8mb4_general_ci), like the official server there
    if expected_ci is not None and backend_name() == "mysql":
        expected = expected_ci
    assert _search(client, runs, order_by=order_by) == expected


def test_view_types(client, runs):
    assert set(_search(client, runs, run_view_type=ViewType.ACTIVE_ONLY)) == {"r1", "r2", "r3", "r4"}
    assert _search(client, runs, run_view_type=ViewType.DELETED_ONLY) == ["r5"]
    assert set(_search(client, runs, run_view_type=ViewType.ALL)) == {"r1", "r2", "r3", "r4", "r5"}
    assert set(_search(client, runs, "params.model = 'lr'", run_view_type=ViewType.ALL)) == {"r1", "r5"}


def test_max_results_and_paging(client, runs):
    exp_id, ids = runs
    assert _search(client, runs, max_results=2) == ["r4", "r3"]
    seen, token, pages = [], None, 0
    while True:
        page = client.search_runs(
            [exp_id], run_view_type=ViewType.ALL, max_results=2, order_by=["start_time ASC"], page_token=token
        )
        assert len(page) <= 2
        seen += _names(page, ids)
        pages += 1
        token = page.token
        if not token:
            break
    assert seen == ["r1", "r2", "r3", "r4", "r5"]
    assert pages == 3
    # paging with a filter
    first = client.search_runs([exp_id], "attributes.status = 'FINISHED'", max_results=1, order_by=["start_time ASC"])
    assert _names(first, ids) == ["r1"] and first.token
    second = client.search_runs(
        [exp_id], "attributes.status = 'FINISHED'", max_results=1, order_by=["start_time ASC"], page_token=first.token
    )
    assert _names(second, ids) == ["r2"]


def test_max_results_limit(client, api, runs):
    exp_id, _ = runs
    with pytest.raises(MlflowException) as ei:
        client.search_runs([exp_id], max_results=50001)
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    r = api.post("/api/2.0/mlflow/runs/search", {"experiment_ids": [exp_id], "max_results": 50001})
    api.error(r, 400, "INVALID_PARAMETER_VALUE")


def test_raw_search_response(api, runs):
    exp_id, ids = runs
    r = api.post(
        "/api/2.0/mlflow/runs/search",
        {"experiment_ids": [exp_id], "filter": "params.model = 'lr'", "run_view_type": "ACTIVE_ONLY", "max_results": 1},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["runs"]) == 1
    run = body["runs"][0]
    assert run["info"]["run_id"] == ids["r1"]
    assert run["info"]["status"] == "FINISHED"
    assert {"key": "model", "value": "lr"} in run["data"]["params"]
    assert {"key": "acc", "value": 0.9, "timestamp": 1, "step": 0} in run["data"]["metrics"]
    assert "next_page_token" not in body
    r = api.post("/api/2.0/mlflow/runs/search", {"experiment_ids": [exp_id], "max_results": 1})
    assert r.json()["next_page_token"]
    # no match → empty object
    r = api.post("/api/2.0/mlflow/runs/search", {"experiment_ids": [exp_id], "filter": "params.model = 'zzz'"})
    assert r.status_code == 200 and r.json() == {}


def test_multiple_experiments(client, runs):
    exp_id, ids = runs
    other = client.create_experiment(f"search-other-{uuid.uuid4().hex[:8]}")
    o = client.create_run(other, start_time=10, run_name="other")
    client.log_param(o.info.run_id, "model", "lr")
    got = client.search_runs([exp_id, other], "params.model = 'lr'")
    assert sorted(r.info.run_id for r in got) == sorted([ids["r1"], o.info.run_id])


def test_fluent_search_runs_dataframe(runs):
    exp_id, ids = runs
    df = mlflow.search_runs([exp_id], filter_string="metrics.acc > 0.6", order_by=["metrics.acc DESC"])
    assert list(df["run_id"]) == [ids["r1"], ids["r3"]]
    assert list(df["metrics.acc"]) == [0.9, 0.7]
    assert list(df["params.model"]) == ["lr", "LR-large"]
    assert list(df["tags.team"]) == ["a", "A"]
    assert list(df["status"]) == ["FINISHED", "FAILED"]


@pytest.mark.parametrize(
    "bad",
    [
        "params.model = lr",  # unquoted string
        "metrics.acc > 'x'",  # metric needs a number
        "metrics.acc LIKE '0.9'",
        "metrics.acc IS NULL",
        "params.model > 'a'",
        "params.model IN ('lr')",
        "attributes.start_time = 'abc'",
        "attributes.status > 'A'",
        "foo.bar = 'x'",
        "attributes.unknown_attr = 'x'",
        "metrics.acc >",
        "dataset.name > 'a'",
    ],
)
def test_bad_filter(client, runs, bad):
    exp_id, _ = runs
    with pytest.raises(MlflowException) as ei:
        client.search_runs([exp_id], filter_string=bad)
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"


def test_bad_filter_raw_and_bad_order_by(client, api, runs):
    exp_id, _ = runs
    r = api.post("/api/2.0/mlflow/runs/search", {"experiment_ids": [exp_id], "filter": "params.model = lr"})
    api.error(r, 400, "INVALID_PARAMETER_VALUE")
    for bad in (["foo.bar"], ["metrics.acc SIDEWAYS"], ["attributes.nope ASC"]):
        with pytest.raises(MlflowException) as ei:
            client.search_runs([exp_id], order_by=bad)
        assert ei.value.error_code == "INVALID_PARAMETER_VALUE", bad


@pytest.mark.parametrize(
    "flt,expected",
    [
        ("metrics.acc > 0.8 OR metrics.acc < 0.6", {"r1", "r2"}),
        ("(metrics.acc > 0.5)", {"r1", "r3"}),
        ("params.model = 'lr' OR (metrics.acc >= 0.5 AND metrics.acc < 0.7)", {"r1", "r2"}),
    ],
)
def test_or_and_parentheses(client, runs, flt, expected):
    """The official grammar rejects OR and parentheses; mlflow-rs accepts them (AND binds
    tighter than OR) and its answers must be right."""
    if rs_bin() is None:
        with pytest.raises(MlflowException) as ei:
            _search(client, runs, flt)
        assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    else:
        assert set(_search(client, runs, flt)) == expected
