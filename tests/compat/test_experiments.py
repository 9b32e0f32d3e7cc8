"""Experiments through the official client."""

import time

import mlflow
import pytest
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from compat_server import backend_name, rs_bin

# MySQL/MariaDB compare strings case-insensitively (utf8mb4_general_ci); so does the official server there
CI_COLLATION = backend_name() == "mysql"


def _now_ms():
    return int(time.time() * 1000)


def test_default_experiment(client):
    exp = client.get_experiment("0")
    assert exp.name == "Default"
    assert exp.lifecycle_stage == "active"
    assert exp.artifact_location == "mlflow-artifacts:/0"
    assert client.get_experiment_by_name("Default").experiment_id == "0"


def test_create_and_get(client, unique):
    before = _now_ms()
    exp_id = client.create_experiment(
        unique, artifact_location="s3://bucket/some/where", tags={"team": "core", "empty": ""}
    )
    after = _now_ms()
    assert isinstance(exp_id, str) and exp_id.isdigit() and exp_id != "0"
    exp = client.get_experiment(exp_id)
    assert exp.experiment_id == exp_id
    assert exp.name == unique
    assert exp.artifact_location == "s3://bucket/some/where"
    assert exp.lifecycle_stage == "active"
    assert exp.tags == {"team": "core", "empty": ""}
    assert before - 5 <= exp.creation_time <= after + 5
    assert exp.last_update_time == exp.creation_time
    by_name = client.get_experiment_by_name(unique)
    assert by_name.experiment_id == exp_id
    assert by_name.tags == exp.tags


def test_default_artifact_location(client, unique):
    exp_id = client.create_experiment(unique)
    assert client.get_experiment(exp_id).artifact_location == f"mlflow-artifacts:/{exp_id}"


def test_ids_increase(client, unique):
    a = int(client.create_experiment(unique + "a"))
    b = int(client.create_experiment(unique + "b"))
    assert b > a > 0


def test_set_experiment_creates(unique):
    exp = mlflow.set_experiment(unique)
    assert exp.name == unique
    again = mlflow.set_experiment(unique)
    assert again.experiment_id == exp.experiment_id


def test_duplicate_name(client, api, unique):
    client.create_experiment(unique)
    with pytest.raises(MlflowException) as ei:
        client.create_experiment(unique)
    assert ei.value.error_code == "RESOURCE_ALREADY_EXISTS"
    r = api.post("/api/2.0/mlflow/experiments/create", {"name": unique})
    api.error(r, 400, "RESOURCE_ALREADY_EXISTS")


def test_missing_experiment(client, api):
    with pytest.raises(MlflowException) as ei:
        client.get_experiment("999999999")
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_experiment_by_name("no-such-experiment-xyz-123") is None
    r = api.get("/api/2.0/mlflow/experiments/get-by-name", {"experiment_name": "no-such-experiment-xyz-123"})
    api.error(r, 404, "RESOURCE_DOES_NOT_EXIST")
    r = api.post("/api/2.0/mlflow/experiments/delete", {"experiment_id": "999999999"})
    api.error(r, 404, "RESOURCE_DOES_NOT_EXIST")


def test_invalid_experiment_names(client, api):
    with pytest.raises(MlflowException) as ei:
        client.create_experiment("")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    r = api.post("/api/2.0/mlflow/experiments/create", {"name": ""})
    api.error(r, 400, "INVALID_PARAMETER_VALUE")
    r = api.post("/api/2.0/mlflow/experiments/create", {"name": "x" * 501})
    api.error(r, 400, "INVALID_PARAMETER_VALUE")


def test_rename(client, unique):
    exp_id = client.create_experiment(unique)
    created = client.get_experiment(exp_id)
    time.sleep(0.01)
    client.rename_experiment(exp_id, unique + "-renamed")
    exp = client.get_experiment(exp_id)
    assert exp.name == unique + "-renamed"
    assert exp.last_update_time >= created.last_update_time
    assert client.get_experiment_by_name(unique) is None
    assert client.get_experiment_by_name(unique + "-renamed").experiment_id == exp_id


def test_rename_to_existing_name(client, unique):
    client.create_experiment(unique + "a")
    b = client.create_experiment(unique + "b")
    with pytest.raises(MlflowException) as ei:
        client.rename_experiment(b, unique + "a")
    # the official SQL store maps the unique-constraint violation to BAD_REQUEST (400)
    assert ei.value.error_code == "BAD_REQUEST"
    assert client.get_experiment(b).name == unique + "b"


def test_delete_restore(client, unique):
    exp_id = client.create_experiment(unique)
    client.delete_experiment(exp_id)
    exp = client.get_experiment(exp_id)
    assert exp.lifecycle_stage == "deleted"
    # still found by name
    assert client.get_experiment_by_name(unique).lifecycle_stage == "deleted"
    flt = f"name = '{unique}'"
    assert client.search_experiments(filter_string=flt) == []
    assert [e.experiment_id for e in client.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=flt)] == [exp_id]
    assert [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL, filter_string=flt)] == [exp_id]
    # a deleted experiment's name is still taken
    with pytest.raises(MlflowException) as ei:
        client.create_experiment(unique)
    assert ei.value.error_code == "RESOURCE_ALREADY_EXISTS"
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    assert [e.experiment_id for e in client.search_experiments(filter_string=flt)] == [exp_id]


def test_delete_default_experiment_refused_or_ok(client):
    # keep the Default experiment intact for other tests: only check it exists and is active
    assert client.get_experiment("0").lifecycle_stage == "active"


def test_experiment_tags(client, unique):
    exp_id = client.create_experiment(unique, tags={"a": "1"})
    client.set_experiment_tag(exp_id, "b", "2")
    client.set_experiment_tag(exp_id, "a", "overwritten")
    client.set_experiment_tag(exp_id, "long", "x" * 5000)
    assert client.get_experiment(exp_id).tags == {"a": "overwritten", "b": "2", "long": "x" * 5000}
    client.delete_experiment_tag(exp_id, "b")
    assert client.get_experiment(exp_id).tags == {"a": "overwritten", "long": "x" * 5000}
    with pytest.raises(MlflowException) as ei:
        client.delete_experiment_tag(exp_id, "never-set")
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_set_tag_on_deleted_experiment_refused(client, unique):
    exp_id = client.create_experiment(unique)
    client.delete_experiment(exp_id)
    with pytest.raises(MlflowException) as ei:
        client.set_experiment_tag(exp_id, "k", "v")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.fixture(scope="module")
def search_exps(client):
    import uuid

    p = f"srch{uuid.uuid4().hex[:8]}"
    ids = {}
    for i, (name, tags) in enumerate(
        [
            ("alpha", {"team": "a", "prio": "1"}),
            ("Beta", {"team": "b"}),
            ("gamma", {"team": "A", "prio": "2"}),
            ("delta", {}),
            ("epsilon", {"team": "a"}),
        ]
    ):
        ids[name] = client.create_experiment(f"{p}-{name}", tags=tags)
        time.sleep(0.005)  # distinct creation times
    client.delete_experiment(ids["epsilon"])
    return p, ids


def _names(exps, p):
    return [e.name[len(p) + 1 :] for e in exps]


@pytest.mark.parametrize(
    "flt,expected",
    [
        ("name = '{p}-alpha'", {"alpha"}),
        ("name != '{p}-alpha'", {"Beta", "gamma", "delta"}),
        ("name LIKE '{p}-%ta'", {"Beta", "delta"}),
        ("name LIKE '{p}-b%'", set()),
        ("name ILIKE '{p}-b%'", {"Beta"}),
        ("tags.team = 'a'", {"alpha"}),
        ("tags.team != 'a'", {"Beta", "gamma"}),
        ("tags.team LIKE 'a'", {"alpha"}),
        ("tags.team ILIKE 'a'", {"alpha", "gamma"}),
        ("tags.prio IS NULL", {"Beta", "delta"}),
        ("tags.prio IS NOT NULL", {"alpha", "gamma"}),
        ("tags.team = 'a' AND tags.prio = '1'", {"alpha"}),
        ("tags.`team` = 'b'", {"Beta"}),
    ],
)
def test_search_filter(client, search_exps, flt, expected):
    p, _ = search_exps
    got = client.search_experiments(filter_string=f"name LIKE '{p}-%' AND " + flt.format(p=p))
    assert set(_names(got, p)) == expected


def test_search_by_id_and_time(client, search_exps):
    p, ids = search_exps
    id_list = ", ".join(f"'{ids[n]}'" for n in ("alpha", "gamma"))
    got = client.search_experiments(filter_string=f"experiment_id IN ({id_list})")
    assert set(_names(got, p)) == {"alpha", "gamma"}
    got = client.search_experiments(filter_string=f"name LIKE '{p}-%' AND experiment_id NOT IN ({id_list})")
    assert set(_names(got, p)) == {"Beta", "delta"}
    got = client.search_experiments(filter_string=f"experiment_id = '{ids['delta']}'")
    assert _names(got, p) == ["delta"]
    ct = client.get_experiment(ids["gamma"]).creation_time
    got = client.search_experiments(filter_string=f"name LIKE '{p}-%' AND creation_time >= {ct}")
    assert set(_names(got, p)) == {"gamma", "delta"}
    got = client.search_experiments(filter_string=f"name LIKE '{p}-%' AND creation_time < {ct}")
    assert set(_names(got, p)) == {"alpha", "Beta"}
    got = client.search_experiments(filter_string=f"name LIKE '{p}-%' AND last_update_time > 0")
    assert len(got) == 4


def test_search_order_and_view_type(client, search_exps):
    p, _ = search_exps
    flt = f"name LIKE '{p}-%'"
    # default order: creation_time DESC
    assert _names(client.search_experiments(filter_string=flt), p) == ["delta", "gamma", "Beta", "alpha"]
    by_name = ["Beta", "alpha", "delta", "gamma"]
    if CI_COLLATION:
        by_name = ["alpha", "Beta", "delta", "gamma"]
    assert _names(client.search_experiments(filter_string=flt, order_by=["name ASC"]), p) == by_name
    assert _names(client.search_experiments(filter_string=flt, order_by=["name DESC"]), p) == by_name[::-1]
    assert _names(client.search_experiments(filter_string=flt, order_by=["experiment_id"]), p) == [
        "alpha",
        "Beta",
        "gamma",
        "delta",
    ]
    assert _names(client.search_experiments(filter_string=flt, order_by=["creation_time ASC"]), p) == [
        "alpha",
        "Beta",
        "gamma",
        "delta",
    ]
    assert _names(client.search_experiments(filter_string=flt, view_type=ViewType.DELETED_ONLY), p) == ["epsilon"]
    assert len(client.search_experiments(filter_string=flt, view_type=ViewType.ALL)) == 5


def test_search_pagination(client, search_exps):
    p, _ = search_exps
    flt = f"name LIKE '{p}-%'"
    seen = []
    token = None
    pages = 0
    while True:
        page = client.search_experiments(
            filter_string=flt, view_type=ViewType.ALL, max_results=2, order_by=["name ASC"], page_token=token
        )
        assert len(page) <= 2
        seen += _names(page, p)
        pages += 1
        token = page.token
        if not token:
            break
    assert pages == 3
    assert seen == (["alpha", "Beta"] if CI_COLLATION else ["Beta", "alpha"]) + ["delta", "epsilon", "gamma"]


def test_search_bad_filter(client, api):
    bad_filters = ["name = alpha", "foo.bar = 'x'", "creation_time > 'abc'", "name IS NULL"]
    if rs_bin() is None:
        # mlflow-rs accepts OR (an extension); the official grammar rejects it.
        bad_filters.append("name = 'a' OR name = 'b'")
    for bad in bad_filters:
        with pytest.raises(MlflowException) as ei:
            client.search_experiments(filter_string=bad)
        assert ei.value.error_code == "INVALID_PARAMETER_VALUE", bad
    r = api.post("/api/2.0/mlflow/experiments/search", {"filter": "name = alpha", "max_results": 5})
    api.error(r, 400, "INVALID_PARAMETER_VALUE")
    with pytest.raises(MlflowException) as ei:
        client.search_experiments(order_by=["bogus_column"])
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"


def test_search_experiments_get_verb(api, search_exps):
    p, ids = search_exps
    r = api.get(
        "/api/2.0/mlflow/experiments/search",
        {"filter": f"name = '{p}-alpha'", "max_results": 5},
    )
    assert r.status_code == 200, r.text
    exps = r.json()["experiments"]
    assert [e["experiment_id"] for e in exps] == [ids["alpha"]]
    assert {"key": "team", "value": "a"} in exps[0]["tags"]
