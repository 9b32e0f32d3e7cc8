"""Model registry through the official client (MlflowClient, mlflow.register_model) plus raw
requests for wire details (status codes, error bodies, DELETE with JSON bodies)."""

import concurrent.futures
import time

import mlflow
import pytest
from mlflow.exceptions import MlflowException

API = "/api/2.0/mlflow"


def _now_ms():
    return int(time.time() * 1000)


def _model(client, name, **kw):
    client.create_registered_model(name, **kw)
    return name


def test_create_get_registered_model(client, unique):
    before = _now_ms()
    rm = client.create_registered_model(unique, tags={"team": "core"}, description="desc")
    assert rm.name == unique
    assert rm.description == "desc"
    assert rm.tags == {"team": "core"}
    assert before - 5 <= rm.creation_timestamp <= _now_ms() + 5
    assert rm.last_updated_timestamp == rm.creation_timestamp
    got = client.get_registered_model(unique)
    assert got.name == unique and got.tags == {"team": "core"} and got.description == "desc"
    assert got.latest_versions == []
    assert got.aliases == {}


def test_duplicate_and_missing_model(client, api, unique):
    _model(client, unique)
    with pytest.raises(MlflowException) as ei:
        client.create_registered_model(unique)
    assert ei.value.error_code == "RESOURCE_ALREADY_EXISTS"
    r = api.post(API + "/registered-models/create", {"name": unique})
    body = api.error(r, 400, "RESOURCE_ALREADY_EXISTS")
    assert body["message"] == f"Registered Model (name={unique}) already exists."
    with pytest.raises(MlflowException) as ei:
        client.get_registered_model(unique + "-nope")
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    r = api.get(API + "/registered-models/get", {"name": unique + "-nope"})
    body = api.error(r, 404, "RESOURCE_DOES_NOT_EXIST")
    assert body["message"] == f"Registered Model with name={unique}-nope not found"
    r = api.post(API + "/registered-models/create", {})
    api.error(r, 400, "INVALID_PARAMETER_VALUE")
    r = api.post(API + "/registered-models/create", {"name": "a/b"})
    body = api.error(r, 400, "INVALID_PARAMETER_VALUE")
    assert body["message"] == "Invalid model name 'a/b'. Names cannot contain '/' or ':'."


def test_update_rename_delete_model(client, api, unique):
    _model(client, unique, tags={"k": "v"})
    client.create_model_version(unique, "s3://bucket/m")
    client.set_model_version_tag(unique, "1", "vk", "vv")
    client.set_registered_model_alias(unique, "champ", "1")
    rm = client.update_registered_model(unique, description="new")
    assert rm.description == "new"
    client.rename_registered_model(unique, unique + "-renamed")
    got = client.get_registered_model(unique + "-renamed")
    assert got.tags == {"k": "v"}
    assert got.aliases == {"champ": "1"}
    mv = client.get_model_version(unique + "-renamed", "1")
    assert mv.tags == {"vk": "vv"}
    assert mv.aliases == ["champ"]
    assert client.get_model_version_by_alias(unique + "-renamed", "champ").version == "1"
    with pytest.raises(MlflowException) as ei:
        client.get_registered_model(unique)
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    # Rename onto a taken name.
    _model(client, unique + "-other")
    with pytest.raises(MlflowException) as ei:
        client.rename_registered_model(unique + "-renamed", unique + "-other")
    assert ei.value.error_code == "RESOURCE_ALREADY_EXISTS"
    # Delete cascades: a re-created model starts at version 1 with nothing attached.
    client.delete_registered_model(unique + "-renamed")
    with pytest.raises(MlflowException):
        client.get_registered_model(unique + "-renamed")
    _model(client, unique + "-renamed")
    mv = client.create_model_version(unique + "-renamed", "s3://bucket/m2")
    assert mv.version == "1" and mv.tags == {} and mv.aliases == []
    r = api.s.delete(api.base + API + "/registered-models/delete", json={"name": unique + "-renamed"})
    assert r.status_code == 200 and r.json() == {}


def test_model_version_lifecycle(client, unique):
    _model(client, unique)
    before = _now_ms()
    mv = client.create_model_version(
        unique, "s3://bucket/path", tags={"a": "b"}, description="first", run_link="http://x"
    )
    assert mv.name == unique and mv.version == "1"
    assert mv.source == "s3://bucket/path"
    assert mv.status == "READY"
    assert mv.current_stage == "None"
    assert mv.description == "first"
    assert mv.tags == {"a": "b"}
    assert mv.run_link == "http://x"
    assert before - 5 <= mv.creation_timestamp <= _now_ms() + 5
    mv2 = client.create_model_version(unique, "s3://bucket/path2")
    assert mv2.version == "2"
    got = client.get_model_version(unique, "2")
    assert got.source == "s3://bucket/path2"
    upd = client.update_model_version(unique, "2", description="second")
    assert upd.description == "second"
    assert client.get_model_version_download_uri(unique, "1") == "s3://bucket/path"
    rm = client.get_registered_model(unique)
    assert [v.version for v in rm.latest_versions] == ["2"]
    assert rm.last_updated_timestamp >= mv2.creation_timestamp
    client.delete_model_version(unique, "2")
    with pytest.raises(MlflowException) as ei:
        client.get_model_version(unique, "2")
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    # Numbers of deleted versions are not reused.
    assert client.create_model_version(unique, "s3://bucket/path3").version == "3"
    with pytest.raises(MlflowException) as ei:
        client.create_model_version(unique + "-missing", "s3://bucket/x")
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_version_errors_raw(client, api, unique):
    _model(client, unique)
    client.create_model_version(unique, "s3://b/p")
    r = api.get(API + "/model-versions/get", {"name": unique, "version": "9"})
    body = api.error(r, 404, "RESOURCE_DOES_NOT_EXIST")
    assert body["message"] == f"Model Version (name={unique}, version=9) not found"
    r = api.get(API + "/model-versions/get", {"name": unique, "version": "x"})
    body = api.error(r, 400, "INVALID_PARAMETER_VALUE")
    assert body["message"] == "Parameter 'version' must be an integer, got 'x'."
    r = api.get(API + "/model-versions/get", {"name": unique, "version": "1"})
    mv = r.json()["model_version"]
    assert mv["version"] == "1"  # string on the wire
    assert mv["description"] == "" and mv["run_id"] == "" and mv["run_link"] == ""
    assert isinstance(mv["creation_timestamp"], int)
    assert "aliases" not in mv and "tags" not in mv


def test_transition_stage_and_latest_versions(client, unique):
    _model(client, unique)
    for i in range(4):
        client.create_model_version(unique, f"s3://b/{i}")
    client.transition_model_version_stage(unique, "1", "Staging")
    client.transition_model_version_stage(unique, "2", "production")
    mv = client.transition_model_version_stage(
        unique, "3", "Production", archive_existing_versions=True
    )
    assert mv.current_stage == "Production"
    assert client.get_model_version(unique, "2").current_stage == "Archived"
    latest = {v.current_stage: v.version for v in client.get_latest_versions(unique)}
    assert latest == {"Staging": "1", "Archived": "2", "Production": "3", "None": "4"}
    assert [v.version for v in client.get_latest_versions(unique, stages=["production"])] == ["3"]
    with pytest.raises(MlflowException) as ei:
        client.transition_model_version_stage(unique, "4", "bogus")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as ei:
        client.transition_model_version_stage(unique, "4", "None", archive_existing_versions=True)
    assert ei.value.error_code == "INTERNAL_ERROR"


def test_tags(client, api, unique):
    _model(client, unique)
    client.create_model_version(unique, "s3://b/p")
    client.set_registered_model_tag(unique, "k", "1")
    client.set_registered_model_tag(unique, "k", "2")
    assert client.get_registered_model(unique).tags == {"k": "2"}
    client.delete_registered_model_tag(unique, "k")
    assert client.get_registered_model(unique).tags == {}
    client.set_model_version_tag(unique, "1", "vk", "vv")
    assert client.get_model_version(unique, "1").tags == {"vk": "vv"}
    client.delete_model_version_tag(unique, "1", "vk")
    assert client.get_model_version(unique, "1").tags == {}
    with pytest.raises(MlflowException) as ei:
        client.set_model_version_tag(unique, "5", "k", "v")
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    r = api.s.delete(
        api.base + API + "/registered-models/delete-tag", json={"name": unique, "key": "absent"}
    )
    assert r.status_code == 200


def test_aliases(client, api, unique):
    _model(client, unique)
    client.create_model_version(unique, "s3://b/1")
    client.create_model_version(unique, "s3://b/2")
    client.set_registered_model_alias(unique, "champion", "1")
    assert client.get_model_version_by_alias(unique, "champion").version == "1"
    assert client.get_model_version(unique, "1").aliases == ["champion"]
    client.set_registered_model_alias(unique, "champion", "2")  # move it
    assert client.get_model_version_by_alias(unique, "champion").version == "2"
    assert client.get_model_version(unique, "1").aliases == []
    assert client.get_registered_model(unique).aliases == {"champion": "2"}
    # "latest" is a reserved, virtual alias for the highest version.
    assert client.get_model_version_by_alias(unique, "latest").version == "2"
    with pytest.raises(MlflowException) as ei:
        client.set_registered_model_alias(unique, "latest", "1")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as ei:
        client.set_registered_model_alias(unique, "v1", "1")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    # Unknown alias: 400 INVALID_PARAMETER_VALUE (not 404), as official.
    r = api.get(API + "/registered-models/alias", {"name": unique, "alias": "nope"})
    body = api.error(r, 400, "INVALID_PARAMETER_VALUE")
    assert body["message"] == "Registered model alias nope not found."
    client.delete_registered_model_alias(unique, "champion")
    assert client.get_registered_model(unique).aliases == {}
    with pytest.raises(MlflowException) as ei:
        client.get_model_version_by_alias(unique, "champion")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"


def test_models_uri_with_alias(client, unique):
    """`models:/name@alias` resolution (loading the model itself needs artifacts: not covered)."""
    _model(client, unique)
    client.create_model_version(unique, "s3://bucket/one")
    client.create_model_version(unique, "s3://bucket/two")
    client.set_registered_model_alias(unique, "prod", "1")
    from mlflow.store.artifact.utils.models import get_model_name_and_version

    assert get_model_name_and_version(client, f"models:/{unique}@prod") == (unique, "1")
    assert get_model_name_and_version(client, f"models:/{unique}/latest") == (unique, "2")
    from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository

    assert ModelsArtifactRepository.get_underlying_uri(f"models:/{unique}@prod") == "s3://bucket/one"
    assert ModelsArtifactRepository.get_underlying_uri(f"models:/{unique}/2") == "s3://bucket/two"


def test_copy_model_version(client, unique):
    _model(client, unique)
    src = client.create_model_version(unique, "s3://bucket/src", tags={"t": "v"})
    client.set_registered_model_alias(unique, "a", src.version)
    copied = client.copy_model_version(f"models:/{unique}@a", unique + "-copy")
    assert copied.name == unique + "-copy" and copied.version == "1"
    assert copied.source == f"models:/{unique}/1"
    assert copied.tags == {"t": "v"}
    assert client.get_model_version_download_uri(unique + "-copy", "1") == "s3://bucket/src"


def test_register_model_from_runs_uri(client, unique, exp_id):
    run = client.create_run(exp_id)
    run_id = run.info.run_id
    _model(client, unique)
    mv = client.create_model_version(unique, f"runs:/{run_id}/model", run_id=run_id)
    assert mv.run_id == run_id
    assert mv.source == f"runs:/{run_id}/model"
    mv = client.create_model_version(unique, f"{run.info.artifact_uri}/model", run_id=run_id)
    assert mv.version == "2"


def test_source_validation(client, api, unique):
    _model(client, unique)
    cases = {
        "runs:/abc/model": "The run_id request parameter must identify the resource",
        "/tmp/some/where": "To use a local path as a model version source",
        "mlflow-artifacts:/0/x": "The run_id request parameter must identify the resource",
        "s3://b/../x": "without relative path references",
        "http://evil.example.com/x": "'source' cannot use the 'http' scheme",
    }
    for source, fragment in cases.items():
        r = api.post(API + "/model-versions/create", {"name": unique, "source": source})
        body = api.error(r, 400, "INVALID_PARAMETER_VALUE")
        assert fragment in body["message"], (source, body)
    r = api.post(
        API + "/model-versions/create",
        {"name": unique, "source": "models:/m-0123", "model_id": "m-0123"},
    )
    body = api.error(r, 500, "INTERNAL_ERROR")
    assert "Logged model with ID 'm-0123' not found." in body["message"]


def test_search_registered_models(client, unique):
    names = [f"{unique}-a", f"{unique}-b", f"{unique}-c"]
    for n in names:
        _model(client, n)
    client.set_registered_model_tag(names[1], "team", "x")
    got = client.search_registered_models(filter_string=f"name LIKE '{unique}-%'")
    assert [m.name for m in got] == sorted(names)
    got = client.search_registered_models(filter_string=f"name ILIKE '{unique.upper()}-B'")
    assert [m.name for m in got] == [names[1]]
    got = client.search_registered_models(filter_string=f"name = '{names[2]}'")
    assert [m.name for m in got] == [names[2]]
    got = client.search_registered_models(
        filter_string=f"name LIKE '{unique}%' AND tags.team = 'x'"
    )
    assert [m.name for m in got] == [names[1]]
    got = client.search_registered_models(
        filter_string=f"name IN ('{names[0]}', '{names[2]}')", order_by=["name DESC"]
    )
    assert [m.name for m in got] == [names[2], names[0]]
    page = client.search_registered_models(
        filter_string=f"name LIKE '{unique}%'", max_results=2
    )
    assert len(page) == 2 and page.token
    page2 = client.search_registered_models(
        filter_string=f"name LIKE '{unique}%'", max_results=2, page_token=page.token
    )
    assert len(page2) == 1 and not page2.token
    # timestamp order
    client.update_registered_model(names[0], description="touch")
    got = client.search_registered_models(
        filter_string=f"name LIKE '{unique}%'", order_by=["timestamp DESC"]
    )
    assert got[0].name == names[0]


def test_search_registered_models_errors(client, api):
    for flt in ["name = 'a' OR name = 'b'", "creation_timestamp > 1", "tags.t > 'a'"]:
        with pytest.raises(MlflowException) as ei:
            client.search_registered_models(filter_string=flt)
        assert ei.value.error_code == "INVALID_PARAMETER_VALUE", flt
    r = api.get(API + "/registered-models/search", {"max_results": "2000"})
    api.error(r, 400, "INVALID_PARAMETER_VALUE")
    r = api.get(API + "/registered-models/search", {"order_by": ["name", "name"]})
    body = api.error(r, 500, "INTERNAL_ERROR")
    assert body["message"] == "`order_by` contains duplicate fields: ['name', 'name']"
    r = api.get(API + "/registered-models/search", {"order_by": "foo"})
    body = api.error(r, 400, "INVALID_PARAMETER_VALUE")
    # The official message prints a Python set, whose order depends on the hash seed.
    assert body["message"].startswith("Invalid order by key 'foo' specified. Valid keys are '{")


def test_search_model_versions(client, api, unique, exp_id):
    a, b = unique + "-a", unique + "-b"
    _model(client, a)
    _model(client, b)
    run_id = client.create_run(exp_id).info.run_id
    for i in range(3):
        client.create_model_version(a, f"s3://bucket/{unique}/a{i}")
    client.create_model_version(b, f"runs:/{run_id}/model", run_id=run_id)
    client.set_model_version_tag(a, "2", "k", "v")
    got = client.search_model_versions(f"name = '{a}'", order_by=["version_number ASC"])
    assert [m.version for m in got] == ["1", "2", "3"]
    got = client.search_model_versions(f"name = '{a}'")
    assert [m.version for m in got] == ["3", "2", "1"]
    got = client.search_model_versions(f"name = '{a}' AND version_number >= 2")
    assert sorted(m.version for m in got) == ["2", "3"]
    got = client.search_model_versions(f"name = '{a}' AND tags.k = 'v'")
    assert [m.version for m in got] == ["2"]
    got = client.search_model_versions(f"run_id = '{run_id}'")
    assert [(m.name, m.version) for m in got] == [(b, "1")]
    got = client.search_model_versions(f"name IN ('{a}', '{b}') AND source_path LIKE 's3://bucket/{unique}/%'")
    assert len(got) == 3
    page = client.search_model_versions(f"name = '{a}'", max_results=2)
    assert len(page) == 2 and page.token
    rest = client.search_model_versions(f"name = '{a}'", max_results=2, page_token=page.token)
    assert len(rest) == 1
    with pytest.raises(MlflowException) as ei:
        client.search_model_versions("version_number = 'x'")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    r = api.get(API + "/model-versions/search", {"filter": "foo = '1'"})
    api.error(r, 400, "INVALID_PARAMETER_VALUE")
    r = api.get(API + "/model-versions/search", {"max_results": "0"})
    body = api.error(r, 400, "INVALID_PARAMETER_VALUE")
    assert body["message"] == "Invalid value for max_results. It must be a positive integer, but got 0"


def test_concurrent_versions(client, unique):
    _model(client, unique)
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        futures = [
            pool.submit(client.create_model_version, unique, f"s3://b/{i}") for i in range(16)
        ]
        versions = sorted(int(f.result().version) for f in futures)
    assert versions == list(range(1, 17))


def test_register_model_fluent_models_uri(client, unique):
    _model(client, unique)
    client.create_model_version(unique, "s3://bucket/base")
    client.set_registered_model_alias(unique, "champ", "1")
    mv = mlflow.register_model(f"models:/{unique}@champ", unique + "-promoted")
    assert mv.name == unique + "-promoted" and mv.version == "1"
    assert mv.source == f"models:/{unique}/1"


def test_ajax_mirror_and_delete_body(api, client, unique):
    _model(client, unique)
    r = api.get("/ajax-api/2.0/mlflow/registered-models/get", {"name": unique})
    assert r.status_code == 200 and r.json()["registered_model"]["name"] == unique
    r = api.s.patch(
        api.base + API + "/registered-models/update", json={"name": unique, "description": "d"}
    )
    assert r.status_code == 200
    assert r.json()["registered_model"]["description"] == "d"
