import os
import sys
import uuid

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))

from compat_server import Database, Server, backend_name, default_kind  # noqa: E402

# Fail fast instead of retrying 5xx answers for minutes, and never phone home.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "120")
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"


def pytest_report_header(config):
    return f"compat: server={default_kind()} backend={backend_name()} rs_bin={os.environ.get('MLFLOW_RS_BIN')}"


@pytest.fixture(scope="session")
def server():
    db = Database.create(prefix="compat")
    srv = Server(default_kind(), db)
    try:
        srv.start()
        old = os.environ.get("MLFLOW_TRACKING_URI")
        os.environ["MLFLOW_TRACKING_URI"] = srv.url
        import mlflow

        mlflow.set_tracking_uri(srv.url)
        yield srv
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old
    finally:
        srv.stop()
        db.drop()


@pytest.fixture(scope="session")
def base_url(server):
    return server.url


@pytest.fixture(scope="session")
def client(server):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=server.url)


@pytest.fixture
def unique():
    """A unique name prefix for this test."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def exp_id(client, unique):
    return client.create_experiment(f"{unique}-exp")


@pytest.fixture(autouse=True)
def _no_active_run(request):
    if "server" in request.fixturenames:
        srv = request.getfixturevalue("server")
        if srv.proc is None or srv.proc.poll() is not None:
            pytest.fail(f"the {srv.kind} server under test is no longer running; log tail:\n{srv.log_tail(30)}")
    yield
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()


class Api:
    """Raw HTTP access for wire details the client hides."""

    def __init__(self, base):
        self.base = base
        self.s = requests.Session()

    def get(self, path, params=None, **kw):
        return self.s.get(self.base + path, params=params, timeout=60, **kw)

    def post(self, path, json=None, **kw):
        return self.s.post(self.base + path, json=json, timeout=120, **kw)

    def error(self, resp, status, code):
        assert resp.status_code == status, (resp.status_code, resp.text[:500])
        body = resp.json()
        assert body["error_code"] == code, body
        assert isinstance(body.get("message"), str) and body["message"], body
        return body


@pytest.fixture(scope="session")
def api(server):
    return Api(server.url)
