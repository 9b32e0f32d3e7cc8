"""GenAI tracing through the official client: @mlflow.trace export (OTLP + StartTraceV3),
get_trace round-trips, search_traces filters, tags, deletes, assessments, and a plain
OpenTelemetry SDK exporter."""

import time

import pytest

import mlflow
from mlflow.entities import AssessmentError, AssessmentSource, SpanEvent, SpanType


def _trace_one(x, tag="prod"):
    @mlflow.trace(span_type=SpanType.LLM, attributes={"k": "v", "n": 3, "f": 1.5, "b": True})
    def child(v):
        s = mlflow.get_current_active_span()
        s.add_event(SpanEvent("evt", attributes={"a": 1, "b": "two", "c": [1, 2], "f": 0.5}))
        s.set_attribute("mlflow.chat.tokenUsage", {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15})
        return {"y": v * 2, "s": "héllo ✓"}

    @mlflow.trace
    def bad():
        raise ValueError("boom")

    @mlflow.trace(name="root_fn")
    def root(v, y=1.5):
        mlflow.update_current_trace(
            tags={"env": tag}, metadata={"mlflow.trace.session": "sess-1", "mlflow.trace.user": "alice"}
        )
        out = child(v)
        try:
            bad()
        except ValueError:
            pass
        return out

    root(x)
    mlflow.flush_trace_async_logging()
    return mlflow.get_last_active_trace_id()


def _wait_spans(trace_id, n, timeout=30):
    deadline = time.time() + timeout
    while True:
        t = mlflow.get_trace(trace_id)
        if t is not None and len(t.data.spans) >= n:
            return t
        if time.time() > deadline:
            raise AssertionError(f"trace {trace_id} has {0 if t is None else len(t.data.spans)} spans")
        time.sleep(0.3)


@pytest.fixture
def exp(server, exp_id):
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def test_trace_round_trip(exp):
    tid = _trace_one(3)
    t = _wait_spans(tid, 3)
    info = t.info
    assert info.trace_id == tid
    assert info.experiment_id == exp
    assert info.state.value == "OK"
    assert info.tags["env"] == "prod"
    assert info.tags["mlflow.traceName"] == "root_fn"
    assert info.tags["mlflow.artifactLocation"].endswith(f"/traces/{tid}/artifacts")
    assert info.trace_metadata["mlflow.trace.session"] == "sess-1"
    assert info.trace_metadata["mlflow.trace.user"] == "alice"
    assert info.trace_metadata["mlflow.trace.infoFinalized"] == "true"
    assert info.token_usage == {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    assert info.request_preview == '{"v": 3, "y": 1.5}'
    spans = {s.name: s for s in t.data.spans}
    assert set(spans) == {"root_fn", "child", "bad"}
    root, child, bad = spans["root_fn"], spans["child"], spans["bad"]
    assert root.parent_id is None
    assert child.parent_id == root.span_id and bad.parent_id == root.span_id
    assert root.inputs == {"v": 3, "y": 1.5}
    assert root.outputs == {"y": 6, "s": "héllo ✓"}
    assert child.span_type == "LLM"
    assert child.attributes["k"] == "v" and child.attributes["n"] == 3
    assert child.attributes["f"] == 1.5 and child.attributes["b"] is True
    assert child.events[0].name == "evt"
    assert child.events[0].attributes == {"a": 1, "b": "two", "c": [1, 2], "f": 0.5}
    assert bad.status.status_code.value == "ERROR"
    assert bad.status.description == "ValueError: boom"
    exc = [e for e in bad.events if e.name == "exception"][0]
    assert exc.attributes["exception.message"] == "boom"
    assert exc.attributes["exception.type"] == "ValueError"
    assert child.start_time_ns < child.end_time_ns


def test_search_filters(exp, client):
    a = _trace_one(1, tag="prod")
    b = _trace_one(2, tag="dev")
    _wait_spans(a, 3)
    _wait_spans(b, 3)

    def ids(f, **kw):
        return {t.info.trace_id for t in mlflow.search_traces(locations=[exp], filter_string=f, return_type="list", **kw)}

    assert ids(None) == {a, b}
    assert ids("trace.status = 'OK'") == {a, b}
    assert ids("tags.env = 'prod'") == {a}
    assert ids("tag.`env` != 'prod'") == {b}
    assert ids("metadata.`mlflow.trace.user` = 'alice'") == {a, b}
    assert ids("trace.name = 'root_fn'") == {a, b}
    assert ids("trace.name = 'nope'") == set()
    assert ids("span.type = 'LLM'") == {a, b}
    assert ids("span.name = 'bad' AND span.type = 'LLM'") == set()
    assert ids("span.name LIKE 'chi%'") == {a, b}
    ti = client.get_trace(a).info
    assert ids(f"trace.timestamp_ms >= {ti.request_time}") >= {a}
    assert ids("trace.execution_time_ms >= 0") == {a, b}
    assert ids(f"trace.request_id = '{a}'") == {a}
    mlflow.log_feedback(trace_id=a, name="quality", value="good")
    mlflow.log_feedback(trace_id=b, name="score", value=0.9)
    mlflow.log_expectation(trace_id=b, name="expected", value="42")
    assert ids("feedback.quality = 'good'") == {a}
    assert ids("feedback.score > 0.5") == {b}
    assert ids("feedback.score < 0.5") == set()
    assert ids("expectation.expected = '42'") == {b}
    assert ids("feedback.quality IS NULL") == {b}
    # order_by and pagination
    ordered = mlflow.search_traces(locations=[exp], order_by=["timestamp_ms ASC"], return_type="list")
    assert [t.info.trace_id for t in ordered] == [a, b]
    page = client.search_traces(locations=[exp], max_results=1)
    assert len(page) == 1 and page.token
    page2 = client.search_traces(locations=[exp], max_results=1, page_token=page.token)
    assert {page[0].info.trace_id, page2[0].info.trace_id} == {a, b}
    with pytest.raises(mlflow.exceptions.MlflowException, match="Invalid"):
        mlflow.search_traces(locations=[exp], filter_string="nope.x = 'y'")


def test_run_link_and_tags_and_delete(exp, client):
    with mlflow.start_run() as run:
        a = _trace_one(5)
    b = _trace_one(6)
    _wait_spans(a, 3)
    _wait_spans(b, 3)
    found = mlflow.search_traces(locations=[exp], run_id=run.info.run_id, return_type="list")
    assert [t.info.trace_id for t in found] == [a]
    client.link_traces_to_run([b], run_id=run.info.run_id)
    found = mlflow.search_traces(locations=[exp], run_id=run.info.run_id, return_type="list")
    assert {t.info.trace_id for t in found} == {a, b}

    mlflow.set_trace_tag(a, "t1", "v1")
    assert mlflow.get_trace(a).info.tags["t1"] == "v1"
    mlflow.delete_trace_tag(a, "t1")
    assert "t1" not in mlflow.get_trace(a).info.tags

    assert client.delete_traces(exp, trace_ids=[a]) == 1
    assert mlflow.get_trace(a) is None
    assert client.delete_traces(exp, max_timestamp_millis=int(time.time() * 1000) + 1000, max_traces=10) == 1
    assert mlflow.search_traces(locations=[exp], return_type="list") == []


def test_assessments(exp, client):
    tid = _trace_one(7)
    _wait_spans(tid, 3)
    fb = mlflow.log_feedback(
        trace_id=tid, name="correctness", value="yes", rationale="r",
        source=AssessmentSource("HUMAN", "me"), metadata={"m": "1"},
    )
    assert fb.assessment_id.startswith("a-")
    ex = mlflow.log_expectation(trace_id=tid, name="expected", value={"a": [1, 2]})
    num = mlflow.log_feedback(trace_id=tid, name="score", value=0.5)
    err = mlflow.log_feedback(trace_id=tid, name="err", error=AssessmentError(error_code="E", error_message="m"))
    got = mlflow.get_assessment(tid, ex.assessment_id)
    assert got.value == {"a": [1, 2]}
    assert mlflow.get_assessment(tid, num.assessment_id).value == 0.5
    e2 = mlflow.get_assessment(tid, err.assessment_id)
    assert e2.error.error_code == "E" and e2.error.error_message == "m"
    g = mlflow.get_assessment(tid, fb.assessment_id)
    assert (g.value, g.rationale, g.source.source_type, g.source.source_id, g.metadata) == ("yes", "r", "HUMAN", "me", {"m": "1"})

    upd = mlflow.update_assessment(
        trace_id=tid, assessment_id=fb.assessment_id,
        assessment=mlflow.entities.Feedback(name="correctness", value="no"),
    )
    assert upd.value == "no"
    new = mlflow.override_feedback(trace_id=tid, assessment_id=fb.assessment_id, value="maybe", rationale="rr")
    info = mlflow.get_trace(tid).info
    by_id = {a.assessment_id: a for a in info.assessments}
    assert by_id[fb.assessment_id].valid is False
    assert by_id[new.assessment_id].overrides == fb.assessment_id and by_id[new.assessment_id].valid is True
    mlflow.delete_assessment(trace_id=tid, assessment_id=new.assessment_id)
    info = mlflow.get_trace(tid).info
    by_id = {a.assessment_id: a for a in info.assessments}
    assert new.assessment_id not in by_id and by_id[fb.assessment_id].valid is True
    mlflow.delete_assessment(trace_id=tid, assessment_id=ex.assessment_id)
    with pytest.raises(mlflow.exceptions.MlflowException, match="not found"):
        mlflow.get_assessment(tid, ex.assessment_id)
    for source_type in ("HUMAN", "LLM_JUDGE", "CODE"):
        a = mlflow.log_feedback(trace_id=tid, name=f"s_{source_type}", value=True, source=AssessmentSource(source_type, "x"))
        assert mlflow.get_assessment(tid, a.assessment_id).source.source_type == source_type


def test_plain_otel_sdk_exporter(exp, base_url):
    otlp = pytest.importorskip("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    exporter = otlp.OTLPSpanExporter(endpoint=f"{base_url}/v1/traces", headers={"x-mlflow-experiment-id": exp})
    provider = TracerProvider(resource=Resource.create({"service.name": "plain-svc"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("compat")
    with tracer.start_as_current_span("outer") as outer:
        outer.set_attribute("gen_ai.operation.name", "chat")
        outer.set_attribute("gen_ai.usage.input_tokens", 7)
        outer.set_attribute("gen_ai.usage.output_tokens", 3)
        outer.set_attribute("session.id", "otel-sess")
        with tracer.start_as_current_span("inner") as inner:
            inner.set_attribute("x", "y")
        trace_hex = format(outer.get_span_context().trace_id, "032x")
    provider.shutdown()
    tid = f"tr-{trace_hex}"
    found = mlflow.search_traces(locations=[exp], return_type="list")
    assert [t.info.trace_id for t in found] == [tid]
    t = _wait_spans(tid, 2)
    assert t.info.tags["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    assert t.info.tags["service.name"] == "plain-svc"
    assert t.info.token_usage == {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
    assert t.info.trace_metadata["mlflow.trace.session"] == "otel-sess"
    spans = {s.name: s for s in t.data.spans}
    assert spans["outer"].span_type == "CHAT_MODEL"
    assert spans["inner"].attributes["x"] == "y"
    assert spans["inner"].parent_id == spans["outer"].span_id
