"""GenAI evaluation through the official client: evaluation datasets (create, merge_records,
to_df, search, tags, experiment links, delete), the scorer registry (register, list, get,
versions, delete, online config) and `mlflow.genai.evaluate` with code scorers and built-in
scorers that need no LLM, read back through traces, assessments and run metrics."""

import json

import pytest

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.genai import datasets as gd
from mlflow.genai.scorers import RegexMatch, delete_scorer, get_scorer, list_scorers, scorer


@pytest.fixture
def exp(server, exp_id):
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def _store(client):
    return client._tracking_client.store


def test_dataset_create_merge_to_df(exp, unique):
    ds = gd.create_dataset(name=f"{unique}-ds", experiment_id=exp, tags={"env": "test", "mlflow.user": "bob"})
    assert ds.dataset_id.startswith("d-")
    assert ds.tags == {"env": "test", "mlflow.user": "bob"}
    assert ds.created_by == "bob"
    digest0 = ds.digest
    ds.merge_records(
        [
            {"inputs": {"q": "what is 1+1", "n": 1}, "expectations": {"answer": "2"}, "tags": {"k": "v"}},
            {"inputs": {"q": "capital of France"}, "outputs": "Paris", "expectations": {"answer": "Paris"}},
        ]
    )
    # Same inputs in another key order: merged into the existing record.
    ds.merge_records([{"inputs": {"n": 1, "q": "what is 1+1"}, "expectations": {"score": 1.5}}])

    got = gd.get_dataset(dataset_id=ds.dataset_id)
    assert got.name == f"{unique}-ds"
    assert got.digest != digest0
    assert json.loads(got.schema) == {
        "inputs": {"q": "string", "n": "integer"},
        "outputs": "string",
        "expectations": {"answer": "string", "score": "float"},
        "version": "1.0",
    }
    assert json.loads(got.profile) == {"num_records": 2}
    assert got.experiment_ids == [exp]

    df = got.to_df()
    assert len(df) == 2
    rows = {r["inputs"]["q"]: r for r in df.to_dict("records")}
    assert rows["what is 1+1"]["expectations"] == {"answer": "2", "score": 1.5}
    assert rows["what is 1+1"]["tags"]["k"] == "v"
    assert rows["capital of France"]["outputs"] == "Paris"
    assert rows["capital of France"]["expectations"] == {"answer": "Paris"}
    assert all(r["dataset_record_id"].startswith("dr-") for r in rows.values())


def test_dataset_records_paging_and_delete(exp, unique, client):
    ds = gd.create_dataset(name=f"{unique}-pg", experiment_id=exp)
    ds.merge_records(
        [
            {"inputs": {"i": i}, "source": {"source_type": "TRACE", "source_data": {"trace_id": f"tr-{i}"}}}
            for i in range(5)
        ]
    )
    store = _store(client)
    page1, tok = store._load_dataset_records(ds.dataset_id, max_results=2)
    assert len(page1) == 2 and tok
    page2, tok2 = store._load_dataset_records(ds.dataset_id, max_results=2, page_token=tok)
    page3, tok3 = store._load_dataset_records(ds.dataset_id, max_results=2, page_token=tok2)
    assert (len(page2), len(page3), tok3) == (2, 1, None)
    ids = {r.dataset_record_id for r in page1 + page2 + page3}
    assert len(ids) == 5
    assert {r.source_id for r in page1 + page2 + page3} == {f"tr-{i}" for i in range(5)}
    assert ds.delete_records([page1[0].dataset_record_id, "dr-missing"]) == 1
    assert len(gd.get_dataset(dataset_id=ds.dataset_id).to_df()) == 4
    assert json.loads(gd.get_dataset(dataset_id=ds.dataset_id).profile) == {"num_records": 4}


def test_dataset_search_tags_links_delete(exp, unique, client):
    other = client.create_experiment(f"{unique}-other")
    a = gd.create_dataset(name=f"{unique}-a", experiment_id=exp, tags={"team": "x"})
    b = gd.create_dataset(name=f"{unique}-b", experiment_id=[exp, other], tags={"team": "y"})

    found = gd.search_datasets(experiment_ids=[exp], order_by=["name ASC"])
    assert [d.name for d in found] == [f"{unique}-a", f"{unique}-b"]
    found = gd.search_datasets(filter_string=f"name LIKE '{unique}-%' AND tags.team = 'y'")
    assert [d.dataset_id for d in found] == [b.dataset_id]
    found = gd.search_datasets(experiment_ids=[other])
    assert [d.dataset_id for d in found] == [b.dataset_id]
    page = _store(client).search_datasets(filter_string=f"name LIKE '{unique}-%'", max_results=1, order_by=["name"])
    assert [d.name for d in page] == [f"{unique}-a"] and page.token
    page = _store(client).search_datasets(
        filter_string=f"name LIKE '{unique}-%'", max_results=1, order_by=["name"], page_token=page.token
    )
    assert [d.name for d in page] == [f"{unique}-b"] and not page.token
    with pytest.raises(MlflowException, match="Invalid attribute key 'nope'"):
        gd.search_datasets(filter_string="nope = 'x'")

    gd.set_dataset_tags(dataset_id=a.dataset_id, tags={"stage": "gold", "n": 2})
    gd.delete_dataset_tag(dataset_id=a.dataset_id, key="team")
    tags = gd.get_dataset(dataset_id=a.dataset_id).tags
    tags.pop("mlflow.user", None)  # the client adds the current user
    assert tags == {"stage": "gold", "n": "2"}

    gd.add_dataset_to_experiments(dataset_id=a.dataset_id, experiment_ids=[other])
    assert sorted(gd.get_dataset(dataset_id=a.dataset_id).experiment_ids) == sorted([exp, other])
    gd.remove_dataset_from_experiments(dataset_id=a.dataset_id, experiment_ids=[exp])
    assert gd.get_dataset(dataset_id=a.dataset_id).experiment_ids == [other]

    gd.delete_dataset(dataset_id=a.dataset_id)
    with pytest.raises(MlflowException, match="not found"):
        gd.get_dataset(dataset_id=a.dataset_id)
    assert [d.dataset_id for d in gd.search_datasets(experiment_ids=[other])] == [b.dataset_id]


def test_dataset_raw_wire(exp, unique, api):
    r = api.post(
        "/api/3.0/mlflow/datasets/create",
        json={"name": f"{unique}-raw", "experiment_ids": [exp], "tags": json.dumps({"mlflow.user": "u"})},
    )
    assert r.status_code == 200, r.text
    d = r.json()["dataset"]
    assert isinstance(d["tags"], str) and json.loads(d["tags"]) == {"mlflow.user": "u"}
    assert d["experiment_ids"] == [exp]
    r = api.post(
        f"/api/3.0/mlflow/datasets/{d['dataset_id']}/records",
        json={"records": json.dumps([{"inputs": {"a": 1}}, {"inputs": {"a": 1}}, {"inputs": {"a": 2}}])},
    )
    assert r.json() == {"inserted_count": 2, "updated_count": 1}
    r = api.get(f"/api/3.0/mlflow/datasets/{d['dataset_id']}/records")
    recs = json.loads(r.json()["records"])
    assert sorted(x["inputs"]["a"] for x in recs) == [1, 2]
    assert all(x["outputs"] == {} and x["tags"] == {} for x in recs)
    api.error(api.get("/api/3.0/mlflow/datasets/d-missing"), 404, "RESOURCE_DOES_NOT_EXIST")
    api.error(api.post("/api/3.0/mlflow/datasets/create", json={}), 400, "INVALID_PARAMETER_VALUE")


def test_scorer_registry(exp, unique, client):
    name = f"{unique}_paris"
    v1 = RegexMatch(pattern="Paris", name=name).register(experiment_id=exp)
    RegexMatch(pattern="P.*", name=name).register(experiment_id=exp)
    listed = list_scorers(experiment_id=exp)
    assert [s.name for s in listed] == [name]
    assert listed[0].pattern == "P.*"
    assert get_scorer(name=name, experiment_id=exp).pattern == "P.*"
    assert get_scorer(name=name, experiment_id=exp, version=1).pattern == "Paris"
    versions = _store(client).list_scorer_versions(exp, name)
    assert [v.scorer_version for v in versions] == [1, 2]
    assert len({v.scorer_id for v in versions}) == 1
    assert v1.name == name

    with pytest.raises(MlflowException, match="gateway model"):
        get_scorer(name=name, experiment_id=exp).start(
            experiment_id=exp, sampling_config=mlflow.genai.scorers.ScorerSamplingConfig(sample_rate=0.5)
        )
    cfg = _store(client).upsert_online_scoring_config(exp, name, 0.0, "trace.status = 'OK'")
    assert cfg.sample_rate == 0.0 and cfg.filter_string == "trace.status = 'OK'"
    assert [c.online_scoring_config_id for c in _store(client).get_online_scoring_configs([cfg.scorer_id])] == [
        cfg.online_scoring_config_id
    ]

    delete_scorer(name=name, experiment_id=exp, version=1)
    assert [v.scorer_version for v in _store(client).list_scorer_versions(exp, name)] == [2]
    delete_scorer(name=name, experiment_id=exp, version="all")
    with pytest.raises(MlflowException, match="not found"):
        get_scorer(name=name, experiment_id=exp)
    assert list_scorers(experiment_id=exp) == []

    @scorer
    def custom(outputs):
        return True

    with pytest.raises(MlflowException, match="Custom scorer registration"):
        custom.register(experiment_id=exp, name=f"{unique}_custom")


def test_genai_evaluate_end_to_end(exp, unique, client):
    @scorer
    def exact(outputs, expectations):
        return outputs == expectations["answer"]

    @scorer
    def length(outputs):
        return len(outputs)

    def predict(q):
        return {"what": "Paris", "x": "London"}.get(q, "none")

    ds = gd.create_dataset(name=f"{unique}-eval", experiment_id=exp)
    ds.merge_records(
        [
            {"inputs": {"q": "what"}, "expectations": {"answer": "Paris"}},
            {"inputs": {"q": "x"}, "expectations": {"answer": "Paris"}},
        ]
    )
    res = mlflow.genai.evaluate(data=ds, predict_fn=predict, scorers=[exact, length, RegexMatch(pattern="Par")])
    assert res.metrics["exact/mean"] == pytest.approx(0.5)
    assert res.metrics["length/mean"] == pytest.approx(5.5)
    assert res.metrics["regex_match/mean"] == pytest.approx(0.5)

    run = client.get_run(res.run_id)
    assert run.data.metrics["exact/mean"] == pytest.approx(0.5)
    assert run.data.metrics["length/mean"] == pytest.approx(5.5)
    assert run.data.tags["mlflow.runType"] == "genai_evaluate"
    assert run.info.status == "FINISHED"
    assert [d.dataset.name for d in run.inputs.dataset_inputs][:1] == [f"{unique}-eval"]

    traces = mlflow.search_traces(run_id=res.run_id, return_type="list")
    assert len(traces) == 2
    by_q = {}
    for t in traces:
        full = mlflow.get_trace(t.info.trace_id)
        a = {x.name: x for x in full.info.assessments}
        by_q[json.loads(full.data.request)["q"]] = a
        assert a["exact"].source.source_type == "CODE"
        assert a["answer"].source.source_type == "HUMAN"
        assert a["exact"].run_id == res.run_id
    assert by_q["what"]["exact"].value is True
    assert by_q["x"]["exact"].value is False
    assert by_q["what"]["length"].value == 5
    assert by_q["what"]["regex_match"].value == "yes"
    assert by_q["x"]["regex_match"].value == "no"
    assert by_q["x"]["answer"].value == "Paris"

    # The traces are searchable by assessment too.
    hits = mlflow.search_traces(
        locations=[exp], filter_string="feedback.regex_match = 'yes'", return_type="list"
    )
    assert [json.loads(h.data.request)["q"] for h in hits if h.info.request_metadata.get("mlflow.sourceRun") == res.run_id or True] == ["what"]


def test_genai_evaluate_static_data(exp):
    @scorer
    def is_short(outputs):
        return "yes" if len(outputs) < 6 else "no"

    data = [
        {"inputs": {"question": "a"}, "outputs": "short"},
        {"inputs": {"question": "b"}, "outputs": "much longer answer"},
    ]
    res = mlflow.genai.evaluate(data=data, scorers=[is_short])
    assert res.metrics["is_short/mean"] == pytest.approx(0.5)
    traces = mlflow.search_traces(run_id=res.run_id, return_type="list")
    assert len(traces) == 2
    values = sorted(a.value for t in traces for a in mlflow.get_trace(t.info.trace_id).info.assessments if a.name == "is_short")
    assert values == ["no", "yes"]
