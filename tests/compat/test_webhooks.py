"""Webhooks through the official client (`MlflowClient().create_webhook/...`), with deliveries
to a receiver on 127.0.0.1 and signatures verified by the mlflow package's own code.

The session server runs with `MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https`,
`MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true`, `MLFLOW_WEBHOOK_CACHE_TTL=1` and a fixed
`MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY` (see compat_server.Server.start)."""

import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import mlflow
import pytest
import requests
from compat_server import RUST
from mlflow.entities.webhook import WebhookEvent, WebhookStatus
from mlflow.exceptions import MlflowException
from mlflow.webhooks.constants import (
    WEBHOOK_DELIVERY_ID_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
)
from mlflow.webhooks.delivery import _generate_hmac_signature


class Receiver:
    """Records POSTs; answers with scripted statuses, then 200."""

    def __init__(self, script=None):
        self.seen = []
        self.script = list(script or [])
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n).decode()
                with outer.lock:
                    # HTTP header names are case-insensitive; keep the Message for lookups.
                    outer.seen.append((self.headers, body))
                    code = outer.script.pop(0) if outer.script else 200
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(f"answer {code}".encode())

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait(self, n, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.seen) >= n:
                    return list(self.seen)
            time.sleep(0.05)
        with self.lock:
            return list(self.seen)

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def hooks(client):
    """Webhooks created by a test, deleted afterwards (the session database is shared)."""
    created = []
    yield created
    for wid in created:
        try:
            client.delete_webhook(wid)
        except MlflowException:
            pass


def _verify(headers, body, secret):
    """Recompute the signature with the official implementation and compare in constant time."""
    expected = _generate_hmac_signature(
        secret, headers[WEBHOOK_DELIVERY_ID_HEADER], headers[WEBHOOK_TIMESTAMP_HEADER], body
    )
    return hmac.compare_digest(expected, headers.get(WEBHOOK_SIGNATURE_HEADER, ""))


def _events(seen):
    bodies = sorted((json.loads(b) for _, b in seen), key=lambda b: b["timestamp"])
    return bodies, [f"{b['entity']}.{b['action']}" for b in bodies]


def test_crud_round_trip(client, unique, hooks, receiver):
    wh = client.create_webhook(
        name=f"{unique}-hook",
        url=receiver.url,
        events=["registered_model.created", "model_version.created"],
        description="my hook",
        secret="s3cr3t",
    )
    hooks.append(wh.webhook_id)
    assert wh.name == f"{unique}-hook"
    assert wh.url == receiver.url
    assert wh.description == "my hook"
    assert wh.status == WebhookStatus.ACTIVE
    assert wh.secret is None  # never returned
    assert {str(e) for e in wh.events} == {"registered_model.created", "model_version.created"}
    assert wh.creation_timestamp == wh.last_updated_timestamp > 0

    got = client.get_webhook(wh.webhook_id)
    assert got.webhook_id == wh.webhook_id and got.description == "my hook"
    assert [str(e) for e in got.events] == [str(e) for e in wh.events]

    listed = client.list_webhooks(max_results=1000)
    assert wh.webhook_id in [w.webhook_id for w in listed]

    upd = client.update_webhook(
        wh.webhook_id, description="changed", status="DISABLED", events=["prompt.created"]
    )
    assert upd.description == "changed"
    assert upd.status == WebhookStatus.DISABLED
    assert [str(e) for e in upd.events] == ["prompt.created"]
    assert upd.last_updated_timestamp >= wh.last_updated_timestamp
    assert client.get_webhook(wh.webhook_id).status == WebhookStatus.DISABLED

    client.delete_webhook(wh.webhook_id)
    with pytest.raises(MlflowException) as e:
        client.get_webhook(wh.webhook_id)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert f"Webhook with ID {wh.webhook_id} not found." in e.value.message
    assert wh.webhook_id not in [w.webhook_id for w in client.list_webhooks(max_results=1000)]


def test_list_pagination(client, unique, hooks, receiver):
    for i in range(3):
        hooks.append(
            client.create_webhook(
                name=f"{unique}-{i}", url=receiver.url, events=["prompt_alias.deleted"]
            ).webhook_id
        )
    seen, token = [], None
    while True:
        page = client.list_webhooks(max_results=2, page_token=token)
        assert len(page) <= 2
        seen += [w.webhook_id for w in page]
        token = page.token
        if not token:
            break
    assert set(hooks) <= set(seen)
    assert len(seen) == len(set(seen))


def test_validation_errors(client, unique, receiver):
    with pytest.raises(MlflowException) as e:
        client.create_webhook(name=f"{unique}", url="ftp://example.com", events=["prompt.created"])
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Invalid webhook URL scheme: 'ftp'. Allowed schemes are: http, https." in e.value.message
    with pytest.raises(MlflowException) as e:
        client.create_webhook(name="-bad-", url=receiver.url, events=["prompt.created"])
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Webhook name '-bad-' is invalid." in e.value.message
    with pytest.raises(MlflowException) as e:
        client.update_webhook("does-not-exist", description="x")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as e:
        client.delete_webhook("does-not-exist")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_test_webhook_sends_signed_example(client, unique, hooks, receiver):
    wh = client.create_webhook(
        name=unique,
        url=receiver.url,
        events=["model_version_tag.set", "prompt_version.created"],
        secret="t0p-secret",
    )
    hooks.append(wh.webhook_id)
    res = client.test_webhook(wh.webhook_id)
    assert res.success is True
    assert res.response_status == 200
    assert res.response_body == "answer 200"
    assert res.error_message is None
    res = client.test_webhook(wh.webhook_id, event="prompt_version.created")
    assert res.success is True
    seen = receiver.wait(2)
    assert len(seen) == 2
    for headers, body in seen:
        assert headers["Content-Type"] == "application/json"
        assert _verify(headers, body, "t0p-secret")
        assert not _verify(headers, body, "wrong")
    first, second = json.loads(seen[0][1]), json.loads(seen[1][1])
    assert (first["entity"], first["action"]) == ("model_version_tag", "set")
    assert first["data"] == {
        "name": "example_model",
        "version": "1",
        "key": "example_key",
        "value": "example_value",
    }
    assert second["data"]["template"] == "Hello {{name}}!"
    assert first["timestamp"].endswith("+00:00")


def test_test_webhook_reports_failures(client, unique, hooks):
    r = Receiver(script=[500])
    try:
        wh = client.create_webhook(name=unique, url=r.url, events=["prompt.created"])
        hooks.append(wh.webhook_id)
        res = client.test_webhook(wh.webhook_id, event=WebhookEvent("prompt", "created"))
        # The official client retries 500s inside the test call; either way the final
        # answer is reported and nothing raises.
        assert res.response_status in (200, 500)
        assert res.success is (res.response_status == 200)
    finally:
        r.close()


def test_registry_events_delivered_and_signed(client, unique, hooks, receiver):
    wh = client.create_webhook(
        name=unique,
        url=receiver.url,
        events=[
            "registered_model.created",
            "model_version.created",
            "model_version_tag.set",
            "model_version_tag.deleted",
            "model_version_alias.created",
            "model_version_alias.deleted",
        ],
        secret="s3cr3t",
    )
    hooks.append(wh.webhook_id)
    time.sleep(1.2)  # MLFLOW_WEBHOOK_CACHE_TTL=1 on the official server
    name = f"{unique}-model"
    client.create_registered_model(name, tags={"team": "qa"}, description="d")
    client.create_model_version(name, source="s3://bucket/path/model", description="v1")
    client.set_model_version_tag(name, "1", "k", "v")
    client.delete_model_version_tag(name, "1", "k")
    client.set_registered_model_alias(name, "champion", "1")
    client.delete_registered_model_alias(name, "champion")
    seen = receiver.wait(6)
    assert len(seen) == 6, seen
    for headers, body in seen:
        assert _verify(headers, body, "s3cr3t"), headers
        assert abs(int(headers[WEBHOOK_TIMESTAMP_HEADER]) - time.time()) < 120
    bodies, events = _events(seen)
    assert events == [
        "registered_model.created",
        "model_version.created",
        "model_version_tag.set",
        "model_version_tag.deleted",
        "model_version_alias.created",
        "model_version_alias.deleted",
    ]
    assert bodies[0]["data"] == {"name": name, "tags": {"team": "qa"}, "description": "d"}
    assert bodies[1]["data"] == {
        "name": name,
        "version": "1",
        "source": "s3://bucket/path/model",
        "run_id": None,
        "tags": {},
        "description": "v1",
    }
    assert bodies[2]["data"] == {"name": name, "version": "1", "key": "k", "value": "v"}
    assert bodies[4]["data"] == {"name": name, "alias": "champion", "version": "1"}
    assert bodies[5]["data"] == {"name": name, "alias": "champion"}


def test_prompt_events_instead_of_model_events(client, unique, hooks, receiver):
    wh = client.create_webhook(
        name=unique,
        url=receiver.url,
        events=[
            "registered_model.created",
            "model_version.created",
            "prompt.created",
            "prompt_version.created",
            "prompt_tag.set",
            "prompt_alias.created",
        ],
    )
    hooks.append(wh.webhook_id)
    time.sleep(1.2)
    name = f"{unique}-prompt"
    mlflow.genai.register_prompt(name=name, template="Hi {{ x }}", commit_message="c1")
    mlflow.genai.set_prompt_alias(name, alias="prod", version=1)
    client.set_prompt_tag(name, "owner", "me")
    seen = receiver.wait(4)
    time.sleep(0.5)
    seen = receiver.wait(len(receiver.seen))
    bodies, events = _events(seen)
    # No model events for prompts; register_prompt itself may also set prompt tags.
    assert set(events) == {"prompt.created", "prompt_version.created", "prompt_alias.created", "prompt_tag.set"}, events
    assert events.index("prompt.created") < events.index("prompt_version.created")
    assert all(WEBHOOK_SIGNATURE_HEADER not in h for h, _ in seen)
    by_event = {}
    for b, e in zip(bodies, events):
        by_event.setdefault(e, []).append(b["data"])
    assert by_event["prompt.created"][0]["name"] == name
    pv = by_event["prompt_version.created"][0]
    assert pv["template"] == "Hi {{ x }}" and pv["version"] == "1" and pv["name"] == name
    assert "mlflow.prompt.is_prompt" not in pv["tags"] and "mlflow.prompt.text" not in pv["tags"]
    assert by_event["prompt_alias.created"] == [{"name": name, "alias": "prod", "version": "1"}]
    assert {"name": name, "key": "owner", "value": "me"} in by_event["prompt_tag.set"]


def test_disabled_webhook_gets_nothing(client, unique, hooks, receiver):
    wh = client.create_webhook(
        name=unique, url=receiver.url, events=["registered_model.created"], status="DISABLED"
    )
    hooks.append(wh.webhook_id)
    time.sleep(1.2)
    client.create_registered_model(f"{unique}-m")
    time.sleep(1.5)
    assert receiver.seen == []


def test_delivery_log_extension(server, client, unique, hooks):
    """mlflow-rs extension: the durable delivery log (retry after two failures)."""
    if server.kind != RUST:
        pytest.skip("delivery log is an mlflow-rs extension")
    r = Receiver(script=[500, 503])
    try:
        wh = client.create_webhook(
            name=unique, url=r.url, events=["registered_model.created"], secret="k"
        )
        hooks.append(wh.webhook_id)
        client.create_registered_model(f"{unique}-m")
        seen = r.wait(3, timeout=60)
        assert len(seen) == 3
        assert len({h[WEBHOOK_DELIVERY_ID_HEADER] for h, _ in seen}) == 1
        assert all(_verify(h, b, "k") for h, b in seen)
        url = f"{server.url}/api/3.0/mlflow/webhooks/{wh.webhook_id}/deliveries"
        deadline = time.time() + 30
        while True:
            log = requests.get(url, timeout=30).json()["deliveries"]
            if log and log[0]["status"] == "SUCCEEDED" or time.time() > deadline:
                break
            time.sleep(0.1)
        assert len(log) == 1
        d = log[0]
        assert d["status"] == "SUCCEEDED" and d["attempts"] == 3 and d["last_status_code"] == 200
        assert d["event"] == "registered_model.created"
        assert d["delivery_id"] == seen[0][0][WEBHOOK_DELIVERY_ID_HEADER]
    finally:
        r.close()
