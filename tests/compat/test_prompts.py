"""Prompt registry through the official client (`mlflow.genai.*`, MlflowClient prompt methods).

OSS prompts are registered models / model versions with reserved tags; these tests drive them
only through the client and check what lands in the registry."""

import json

import mlflow
import pytest
from mlflow.exceptions import MlflowException

API = "/api/2.0/mlflow"


@pytest.fixture(autouse=True)
def _fresh_prompt_cache():
    # load_prompt caches by URI; names are unique per test anyway, but keep tests independent.
    yield


def test_register_and_load_by_version_and_uri(unique):
    pv = mlflow.genai.register_prompt(
        name=unique, template="Hello {{ name }}!", commit_message="first", tags={"team": "qa"}
    )
    assert pv.name == unique and pv.version == 1
    assert pv.template == "Hello {{ name }}!"
    assert pv.commit_message == "first"
    assert pv.tags.get("team") == "qa"
    pv2 = mlflow.genai.register_prompt(name=unique, template="Hi {{ name }}, {{ day }}")
    assert pv2.version == 2
    loaded = mlflow.genai.load_prompt(f"prompts:/{unique}/1")
    assert loaded.template == "Hello {{ name }}!"
    assert loaded.version == 1
    loaded = mlflow.genai.load_prompt(unique, version=2)
    assert loaded.template == "Hi {{ name }}, {{ day }}"
    assert loaded.variables == {"name", "day"}
    assert loaded.format(name="Ann", day="Monday") == "Hi Ann, Monday"
    with pytest.raises(Exception):
        loaded.format(name="Ann")
    assert loaded.format(allow_partial=True, name="Ann").template == "Hi Ann, {{ day }}"


def test_prompt_storage_matches_official_layout(client, api, unique):
    mlflow.genai.register_prompt(name=unique, template="T {{ x }}", commit_message="msg")
    rm = api.get(API + "/registered-models/get", {"name": unique}).json()["registered_model"]
    tags = {t["key"]: t["value"] for t in rm["tags"]}
    assert tags["mlflow.prompt.is_prompt"] == "true"
    mv = api.get(API + "/model-versions/get", {"name": unique, "version": "1"}).json()[
        "model_version"
    ]
    vtags = {t["key"]: t["value"] for t in mv["tags"]}
    assert vtags["mlflow.prompt.is_prompt"] == "true"
    assert vtags["mlflow.prompt.text"] == "T {{ x }}"
    assert vtags["_mlflow_prompt_type"] == "text"
    assert mv["source"] == "dummy-source"
    assert mv["description"] == "msg"
    assert mv["status"] == "READY"


def test_load_by_alias_and_latest(unique):
    mlflow.genai.register_prompt(name=unique, template="v1")
    mlflow.genai.register_prompt(name=unique, template="v2")
    mlflow.genai.set_prompt_alias(unique, alias="production", version=1)
    assert mlflow.genai.load_prompt(f"prompts:/{unique}@production").template == "v1"
    # Move the alias.
    mlflow.genai.set_prompt_alias(unique, alias="production", version=2)
    assert (
        mlflow.genai.load_prompt(f"prompts:/{unique}@production", cache_ttl_seconds=0).template
        == "v2"
    )
    assert mlflow.genai.load_prompt(f"prompts:/{unique}@latest").template == "v2"
    mlflow.genai.delete_prompt_alias(unique, alias="production")
    with pytest.raises(MlflowException):
        mlflow.genai.load_prompt(f"prompts:/{unique}@production", cache_ttl_seconds=0)


def test_chat_prompt_and_response_format(unique):
    template = [
        {"role": "system", "content": "You are a {{ style }} assistant."},
        {"role": "user", "content": "{{ question }}"},
    ]
    response_format = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
    }
    model_config = {"model_name": "gpt-4o-mini", "temperature": 0.2}
    pv = mlflow.genai.register_prompt(
        name=unique,
        template=template,
        response_format=response_format,
        model_config=model_config,
    )
    assert pv.is_text_prompt is False
    loaded = mlflow.genai.load_prompt(f"prompts:/{unique}/1")
    assert loaded.template == template
    assert loaded.response_format == response_format
    assert loaded.model_config["model_name"] == "gpt-4o-mini"
    assert loaded.model_config["temperature"] == 0.2
    msgs = loaded.format(style="terse", question="Why?")
    assert msgs == [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Why?"},
    ]


def test_search_prompts_and_hidden_from_models(client, unique):
    for i in range(3):
        mlflow.genai.register_prompt(name=f"{unique}-p{i}", template=f"t{i}", tags={"grp": unique})
    client.create_registered_model(f"{unique}-model")
    found = mlflow.genai.search_prompts(filter_string=f"name LIKE '{unique}-%'")
    assert sorted(p.name for p in found) == [f"{unique}-p{i}" for i in range(3)]
    found = mlflow.genai.search_prompts(filter_string=f"tags.grp = '{unique}'", max_results=2)
    assert len(found) == 2
    # Registered-model and model-version searches hide prompts.
    models = client.search_registered_models(filter_string=f"name LIKE '{unique}-%'")
    assert [m.name for m in models] == [f"{unique}-model"]
    versions = client.search_model_versions(f"name = '{unique}-p0'")
    assert list(versions) == []
    # ... unless they ask for them.
    versions = client.search_model_versions(
        f"name = '{unique}-p0' AND tags.`mlflow.prompt.is_prompt` = 'true'"
    )
    assert [v.version for v in versions] == ["1"]


def test_prompt_versions_and_tags(client, unique):
    mlflow.genai.register_prompt(name=unique, template="a")
    mlflow.genai.register_prompt(name=unique, template="b")
    versions = client.search_prompt_versions(unique)
    assert sorted(int(v.version) for v in versions) == [1, 2]
    mlflow.genai.set_prompt_tag(unique, "owner", "me")
    assert client.get_prompt(unique).tags.get("owner") == "me"
    mlflow.genai.delete_prompt_tag(unique, "owner")
    assert "owner" not in client.get_prompt(unique).tags
    mlflow.genai.set_prompt_version_tag(unique, 1, "vk", "vv")
    assert client.get_prompt_version(unique, 1).tags.get("vk") == "vv"
    mlflow.genai.delete_prompt_version_tag(unique, 1, "vk")
    assert "vk" not in client.get_prompt_version(unique, 1).tags
    client.delete_prompt_version(unique, "1")
    with pytest.raises(MlflowException):
        mlflow.genai.load_prompt(f"prompts:/{unique}/1", cache_ttl_seconds=0)
    assert mlflow.genai.load_prompt(f"prompts:/{unique}/2").template == "b"


def test_prompt_and_model_names_conflict(client, unique):
    client.create_registered_model(unique)
    with pytest.raises(MlflowException):
        mlflow.genai.register_prompt(name=unique, template="x")
    mlflow.genai.register_prompt(name=unique + "-p", template="x")
    with pytest.raises(MlflowException) as ei:
        client.create_registered_model(unique + "-p")
    assert ei.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_load_missing_prompt(unique):
    with pytest.raises(MlflowException):
        mlflow.genai.load_prompt(f"prompts:/{unique}/1")
    assert mlflow.genai.load_prompt(f"prompts:/{unique}/1", allow_missing=True) is None


def test_link_prompt_to_run(client, unique):
    pv = mlflow.genai.register_prompt(name=unique, template="Hello {{ x }}")
    mlflow.set_experiment(unique)
    with mlflow.start_run() as run:
        client.link_prompt_version_to_run(run.info.run_id, pv)
    tags = client.get_run(run.info.run_id).data.tags
    linked = json.loads(tags["mlflow.linkedPrompts"])
    assert linked == [{"name": unique, "version": "1"}]


def test_load_prompt_inside_run_links_it(client, unique):
    mlflow.genai.register_prompt(name=unique, template="Hello {{ x }}")
    mlflow.set_experiment(unique)
    with mlflow.start_run() as run:
        mlflow.genai.load_prompt(f"prompts:/{unique}/1")
    # Linking happens in the background on the client; wait briefly for it.
    import time

    for _ in range(50):
        tags = client.get_run(run.info.run_id).data.tags
        if "mlflow.linkedPrompts" in tags:
            break
        time.sleep(0.1)
    assert json.loads(tags["mlflow.linkedPrompts"]) == [{"name": unique, "version": "1"}]
