"""In-place compatibility: one server writes a database, the other opens the SAME database
and must show the client exactly the same data; then it writes more and the first server
must read that back too. Run in both directions (official → ours, ours → official), on the
backend chosen by COMPAT_BACKEND. Needs MLFLOW_RS_BIN (skipped otherwise)."""

import math
import uuid

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType

from compat_server import OFFICIAL, RUST, Database, Server, rs_bin

pytestmark = pytest.mark.skipif(
    not rs_bin(), reason="MLFLOW_RS_BIN is not set: the in-place test needs both the official server and ours"
)

FILTERS = [
    "",
    "metrics.loss < 0.5",
    "params.model = 'lr'",
    "tags.team ILIKE 'A%'",
    "attributes.status = 'FINISHED'",
    "attributes.run_name LIKE 'run-%'",
    "params.alpha IS NULL",
]
ORDERS = [None, ["metrics.loss ASC"], ["params.model DESC"], ["attributes.start_time ASC"], ["tags.team ASC"]]


def _norm(v):
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    return v


def write_data(url, tag):
    c = MlflowClient(url)
    p = f"inplace-{tag}-{uuid.uuid4().hex[:6]}"
    e1 = c.create_experiment(f"{p}-main", tags={"owner": "compat", "kind": tag})
    e2 = c.create_experiment(f"{p}-gone", artifact_location="/tmp/inplace/custom/loc")
    c.create_run(e2, run_name="in-deleted-exp")
    c.delete_experiment(e2)
    runs = {}
    for i, (model, team, loss) in enumerate([("lr", "Alpha", 0.1), ("rf", "beta", 0.9), ("lr", "alpha", float("nan"))]):
        r = c.create_run(e1, start_time=1_700_000_000_000 + i * 1000, run_name=f"run-{i}", tags={"team": team})
        rid = r.info.run_id
        runs[f"run-{i}"] = rid
        c.log_batch(
            rid,
            metrics=[Metric("loss", loss * (10 - s) / 10 if not math.isnan(loss) else loss, 1_700_000_000_000 + s, s)
                     for s in range(10)]
            + [Metric("acc", 0.5 + i / 10, 1_700_000_000_100, 3), Metric("big", float("inf"), 1, 0)],
            params=[Param("model", model), Param("idx", str(i))] + ([Param("alpha", "0.5")] if i == 0 else []),
            tags=[RunTag("mlflow.note.content", f"note {i}")],
        )
        c.log_metric(rid, "single", 42.0 + i, timestamp=1_700_000_000_200, step=0)
        if i < 2:
            c.set_terminated(rid, "FINISHED" if i == 0 else "FAILED", end_time=1_700_000_000_500 + i)
    child = c.create_run(e1, run_name="child", tags={"mlflow.parentRunId": runs["run-0"]}, start_time=1_700_000_005_000)
    runs["child"] = child.info.run_id
    c.log_param(child.info.run_id, "model", "lr")
    dead = c.create_run(e1, run_name="dead", start_time=1_700_000_006_000)
    runs["dead"] = dead.info.run_id
    c.log_metric(dead.info.run_id, "loss", 0.3)
    c.delete_run(dead.info.run_id)
    c.set_experiment_tag(e1, "later", "yes")
    return {"prefix": p, "exps": [e1, e2], "runs": runs}


def append_data(url, ids):
    """Writes done by the *second* server on the shared DB."""
    c = MlflowClient(url)
    e1 = ids["exps"][0]
    rid = ids["runs"]["run-2"]
    c.log_metric(rid, "loss", 0.05, timestamp=1_700_000_009_000, step=10)
    c.log_param(rid, "added", "by-second-server")
    c.set_tag(rid, "team", "gamma")
    c.delete_tag(rid, "mlflow.note.content")
    c.set_terminated(rid, "KILLED", end_time=1_700_000_009_999)
    new = c.create_run(e1, run_name="run-new", start_time=1_700_000_010_000)
    c.log_batch(new.info.run_id, metrics=[Metric("loss", 0.2, 1_700_000_010_001, 0)], params=[Param("model", "lr")])
    ids = {**ids, "runs": {**ids["runs"], "run-new": new.info.run_id}}
    e3 = c.create_experiment(ids["prefix"] + "-third", tags={"by": "second"})
    c.restore_experiment(ids["exps"][1])
    c.restore_run(ids["runs"]["dead"])
    c.rename_experiment(e1, ids["prefix"] + "-main-renamed")
    return {**ids, "exps": ids["exps"] + [e3]}


def capture(url, ids):
    c = MlflowClient(url)
    out = {"default": _exp(c.get_experiment("0"))}
    for e in ids["exps"]:
        exp = c.get_experiment(e)
        out[f"exp:{e}"] = _exp(exp)
        out[f"exp-by-name:{e}"] = _exp(c.get_experiment_by_name(exp.name))
    out["search_experiments"] = [
        _exp(x)
        for x in c.search_experiments(view_type=ViewType.ALL, filter_string=f"name LIKE '{ids['prefix']}%'",
                                      order_by=["name ASC"])
    ]
    for name, rid in sorted(ids["runs"].items()):
        run = c.get_run(rid)
        out[f"run:{name}"] = _run(run)
        for key in sorted(run.data.metrics):
            hist = c.get_metric_history(rid, key)
            out[f"hist:{name}:{key}"] = sorted((_norm([m.step, m.timestamp, m.value]) for m in hist), key=repr)
    exp_ids = ids["exps"][:1]
    combos = [(f, None) for f in FILTERS] + [("", o) for o in ORDERS[1:]] + [(FILTERS[2], ORDERS[1])]
    for flt, order in combos:
        for vt in (ViewType.ACTIVE_ONLY, ViewType.ALL):
            res = c.search_runs(exp_ids, filter_string=flt, order_by=order, run_view_type=vt)
            out[f"search:{flt}:{order}:{vt}"] = [r.info.run_id for r in res]
    page = c.search_runs(exp_ids, max_results=2, order_by=["attributes.start_time ASC"])
    page2 = c.search_runs(exp_ids, max_results=2, order_by=["attributes.start_time ASC"], page_token=page.token)
    out["paged"] = [r.info.run_id for r in page] + [r.info.run_id for r in page2]
    return out


def _exp(e):
    return {
        "experiment_id": e.experiment_id,
        "name": e.name,
        "artifact_location": e.artifact_location,
        "lifecycle_stage": e.lifecycle_stage,
        "tags": dict(e.tags),
        "creation_time": e.creation_time,
        "last_update_time": e.last_update_time,
    }


def _run(r):
    i = r.info
    return _norm(
        {
            "run_id": i.run_id,
            "experiment_id": i.experiment_id,
            "run_name": i.run_name,
            "user_id": i.user_id,
            "status": i.status,
            "start_time": i.start_time,
            "end_time": i.end_time,
            "artifact_uri": i.artifact_uri,
            "lifecycle_stage": i.lifecycle_stage,
            "metrics": dict(r.data.metrics),
            "params": dict(r.data.params),
            "tags": dict(r.data.tags),
            "inputs": sorted(
                (d.dataset.name, d.dataset.digest, sorted((t.key, t.value) for t in d.tags))
                for d in (r.inputs.dataset_inputs if r.inputs else [])
            ),
        }
    )


def _diff(a, b):
    lines = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            lines.append(f"{k}:\n   first : {a.get(k)!r}\n   second: {b.get(k)!r}")
    return "\n".join(lines[:30])


@pytest.mark.parametrize("writer,reader", [(OFFICIAL, RUST), (RUST, OFFICIAL)], ids=["official-then-rs", "rs-then-official"])
def test_inplace(writer, reader):
    db = Database.create(prefix="inplace")
    try:
        with Server(writer, db) as s:
            ids = write_data(s.url, writer)
            first = capture(s.url, ids)
        with Server(reader, db) as s:
            second = capture(s.url, ids)
            assert second == first, f"{reader} reads a {writer}-written DB differently:\n" + _diff(first, second)
            ids = append_data(s.url, ids)
            third = capture(s.url, ids)
        with Server(writer, db) as s:
            fourth = capture(s.url, ids)
        assert fourth == third, f"{writer} reads {reader}'s writes differently:\n" + _diff(third, fourth)
        # sanity: the appended writes are visible
        assert third[f"run:run-2"]["params"]["added"] == "by-second-server"
        assert third[f"run:run-2"]["status"] == "KILLED"
        assert third[f"exp:{ids['exps'][1]}"]["lifecycle_stage"] == "active"
    finally:
        db.drop()
