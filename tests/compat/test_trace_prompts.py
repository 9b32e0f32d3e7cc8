"""Prompt versions linked to traces through the official client: the explicit
`TracingClient.link_prompt_versions_to_trace` (POST /traces/link-prompts, then the client's own
`mlflow.linkedPrompts` tag) and the automatic link when `load_prompt` runs inside a traced
function. The server's part is the trace -> prompt_version entity associations, which
`search_traces(filter_string="prompt = 'name/version'")` reads.

The client swallows a failing link-prompts call (it only logs it) and sets the tag anyway, so
the tag alone proves nothing about the server: every test also checks the prompt search."""

import json
import time

import mlflow
import pytest
from mlflow.tracing.client import TracingClient

API = "/api/2.0/mlflow"


@pytest.fixture
def exp(server, exp_id):
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def _prompt_search(exp_id, name, version):
    return [
        t.info.trace_id
        for t in mlflow.search_traces(
            locations=[exp_id], filter_string=f"prompt = '{name}/{version}'", return_type="list"
        )
    ]


def _wait_prompt_search(exp_id, name, version, expected, timeout=30):
    deadline = time.time() + timeout
    while True:
        got = _prompt_search(exp_id, name, version)
        if got == expected or time.time() > deadline:
            return got
        time.sleep(0.3)


def _linked(trace_id):
    tags = mlflow.get_trace(trace_id).info.tags
    return json.loads(tags["mlflow.linkedPrompts"]) if "mlflow.linkedPrompts" in tags else None


def test_link_prompt_versions_to_trace(exp, unique):
    pv1 = mlflow.genai.register_prompt(name=unique, template="Hello {{ x }}")
    pv2 = mlflow.genai.register_prompt(name=unique, template="Hi {{ x }}")

    @mlflow.trace
    def f(x):
        return x + 1

    f(1)
    f(2)
    mlflow.flush_trace_async_logging()
    traces = mlflow.search_traces(locations=[exp], return_type="list")
    assert len(traces) == 2
    tid, other = traces[0].info.trace_id, traces[1].info.trace_id
    assert _linked(tid) is None

    client = TracingClient()
    client.link_prompt_versions_to_trace(tid, [pv1, pv2])
    assert _linked(tid) == [{"name": unique, "version": "1"}, {"name": unique, "version": "2"}]
    assert _prompt_search(exp, unique, 1) == [tid]
    assert _prompt_search(exp, unique, 2) == [tid]
    assert _prompt_search(exp, unique, 3) == []

    # Linking again is a no-op: same tag, the trace found once.
    client.link_prompt_versions_to_trace(tid, [pv1])
    assert _linked(tid) == [{"name": unique, "version": "1"}, {"name": unique, "version": "2"}]
    assert _prompt_search(exp, unique, 1) == [tid]
    assert _linked(other) is None


def test_link_prompts_wire(exp, unique, api):
    @mlflow.trace
    def f(x):
        return x

    f(1)
    mlflow.flush_trace_async_logging()
    tid = mlflow.get_last_active_trace_id()

    r = api.post(f"{API}/traces/link-prompts", json={"trace_id": tid, "prompt_versions": [{"name": unique, "version": "4"}]})
    assert r.status_code == 200, r.text
    assert r.json() == {}
    # The server leaves the tag to the client.
    assert _linked(tid) is None
    assert _prompt_search(exp, unique, 4) == [tid]
    r = api.post("/ajax-api/2.0/mlflow/traces/link-prompts", json={"trace_id": tid, "prompt_versions": []})
    assert r.status_code == 200 and r.json() == {}, r.text

    body = api.error(
        api.post(f"{API}/traces/link-prompts", json={"trace_id": "tr-missing", "prompt_versions": [{"name": unique, "version": "1"}]}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert body["message"] == "Trace with ID 'tr-missing' not found."
    body = api.error(
        api.post(f"{API}/traces/link-prompts", json={"prompt_versions": []}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert body["message"] == (
        "Missing value for required parameter 'trace_id'. "
        "See the API docs for more information about request parameters."
    )
    body = api.error(api.post(f"{API}/traces/link-prompts", json={"trace_id": tid}), 400, "INVALID_PARAMETER_VALUE")
    assert body["message"] == (
        "Missing value for required parameter 'prompt_versions'. "
        "See the API docs for more information about request parameters."
    )


def test_load_prompt_inside_trace_links_it(exp, unique):
    mlflow.genai.register_prompt(name=unique, template="Hello {{ x }}")

    @mlflow.trace
    def predict(x):
        prompt = mlflow.genai.load_prompt(f"prompts:/{unique}/1")
        return prompt.format(x=x)

    assert predict("you") == "Hello you"
    mlflow.flush_trace_async_logging()
    tid = mlflow.get_last_active_trace_id()
    assert tid is not None
    # The exporter links the prompt in a background thread after the trace is logged.
    assert _wait_prompt_search(exp, unique, 1, [tid]) == [tid]
    assert _linked(tid) == [{"name": unique, "version": "1"}]
