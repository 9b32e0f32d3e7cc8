//! HTTP tests of the tracing API: OTLP ingest (protobuf and JSON, gzip), StartTraceV3 merge,
//! get / batchGet, search filters, tags, deletes, run and prompt links, and assessments. Each
//! runs once per configured backend (the harness is shared with the `it` target).

#[path = "../it/common.rs"]
#[macro_use]
#[allow(dead_code)]
mod common;

use common::{StatusCode, TestServer};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, KeyValueList, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prost::Message;
use reqwest::Method;
use serde_json::{Value, json};

fn s(v: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(v.into())),
    }
}

fn kv(k: &str, v: AnyValue) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(v),
        ..Default::default()
    }
}

fn trace_bytes(n: u8) -> Vec<u8> {
    let mut t = vec![0xab; 16];
    t[15] = n;
    t
}

fn trace_id(n: u8) -> String {
    format!(
        "tr-{}",
        trace_bytes(n)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// A root span (with inputs/outputs, token usage) and an erroring child, like `@mlflow.trace`.
fn request(n: u8, start_ms: u64) -> ExportTraceServiceRequest {
    let t = trace_bytes(n);
    let base = start_ms * 1_000_000;
    let inputs = AnyValue {
        value: Some(any_value::Value::KvlistValue(KeyValueList {
            values: vec![
                kv(
                    "x",
                    AnyValue {
                        value: Some(any_value::Value::IntValue(3)),
                    },
                ),
                kv(
                    "y",
                    AnyValue {
                        value: Some(any_value::Value::DoubleValue(1.5)),
                    },
                ),
            ],
        })),
    };
    let usage = AnyValue {
        value: Some(any_value::Value::KvlistValue(KeyValueList {
            values: vec![
                kv(
                    "input_tokens",
                    AnyValue {
                        value: Some(any_value::Value::IntValue(10)),
                    },
                ),
                kv(
                    "output_tokens",
                    AnyValue {
                        value: Some(any_value::Value::IntValue(5)),
                    },
                ),
                kv(
                    "total_tokens",
                    AnyValue {
                        value: Some(any_value::Value::IntValue(15)),
                    },
                ),
            ],
        })),
    };
    let root = Span {
        trace_id: t.clone(),
        span_id: vec![1, 2, 3, 4, 5, 6, 7, n],
        name: "root".into(),
        start_time_unix_nano: base,
        end_time_unix_nano: base + 50_000_000,
        attributes: vec![
            kv("mlflow.spanType", s("CHAIN")),
            kv("mlflow.spanInputs", inputs),
            kv("mlflow.spanOutputs", s("héllo")),
            kv("mlflow.traceTag.team", s("search")),
            kv("session.id", s("sess-9")),
        ],
        status: Some(Status {
            code: 1,
            message: String::new(),
        }),
        ..Default::default()
    };
    let child = Span {
        trace_id: t,
        span_id: vec![9, 9, 9, 9, 9, 9, 9, n],
        parent_span_id: vec![1, 2, 3, 4, 5, 6, 7, n],
        name: "llm".into(),
        start_time_unix_nano: base + 1_000_000,
        end_time_unix_nano: base + 40_000_000,
        attributes: vec![
            kv("mlflow.spanType", s("LLM")),
            kv("mlflow.chat.tokenUsage", usage),
        ],
        events: vec![span::Event {
            time_unix_nano: base + 2_000_000,
            name: "exception".into(),
            attributes: vec![kv("exception.message", s("boom"))],
            ..Default::default()
        }],
        status: Some(Status {
            code: 2,
            message: "ValueError: boom".into(),
        }),
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", s("svc")),
                    kv("telemetry.sdk.name", s("x")),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![root, child],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

async fn export(srv: &TestServer, exp: &str, req: &ExportTraceServiceRequest) {
    let r = srv
        .request(
            Method::POST,
            "/v1/traces",
            &[
                ("content-type", "application/x-protobuf"),
                ("x-mlflow-experiment-id", exp),
            ],
            Some(req.encode_to_vec()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

async fn ingest_and_get(srv: TestServer) {
    let exp = srv.create_experiment("traces-ingest").await;
    export(&srv, &exp, &request(1, 1_700_000_000_000)).await;
    let id = trace_id(1);
    let info = srv
        .get_ok(&format!("/api/3.0/mlflow/traces/{id}"), &[])
        .await;
    let ti = &info["trace"]["trace_info"];
    assert_eq!(ti["state"], "OK");
    assert_eq!(ti["request_time"], "2023-11-14T22:13:20Z");
    assert_eq!(ti["execution_duration"], "0.050s");
    assert_eq!(ti["tags"]["mlflow.trace.spansLocation"], "TRACKING_STORE");
    assert_eq!(ti["tags"]["team"], "search");
    assert_eq!(ti["tags"]["service.name"], "svc");
    assert!(ti["tags"].get("telemetry.sdk.name").is_none());
    assert_eq!(ti["trace_metadata"]["mlflow.trace.session"], "sess-9");
    assert_eq!(
        ti["trace_metadata"]["mlflow.trace.tokenUsage"],
        "{\"input_tokens\": 10, \"output_tokens\": 5, \"total_tokens\": 15}"
    );
    assert_eq!(ti["request_preview"], "{\"x\": 3, \"y\": 1.5}");
    assert_eq!(ti["response_preview"], "\"h\u{e9}llo\"");

    let t = srv
        .get_ok(
            "/api/3.0/mlflow/traces/get",
            &[("trace_id", &id), ("allow_partial", "False")],
        )
        .await;
    let spans = t["trace"]["spans"].as_array().expect("spans");
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0]["name"], "root");
    assert!(spans[0].get("parent_span_id").is_none());
    assert_eq!(spans[1]["parent_span_id"], spans[0]["span_id"]);
    assert_eq!(spans[1]["status"]["code"], "STATUS_CODE_ERROR");
    assert_eq!(spans[1]["status"]["message"], "ValueError: boom");
    let attrs = spans[0]["attributes"].as_array().expect("attrs");
    let inputs = attrs
        .iter()
        .find(|a| a["key"] == "mlflow.spanInputs")
        .expect("inputs");
    assert_eq!(
        inputs["value"],
        json!({"kvlist_value": {"values": [{"key": "x", "value": {"int_value": 3}}, {"key": "y", "value": {"double_value": 1.5}}]}})
    );
    assert_eq!(spans[1]["events"][0]["name"], "exception");

    // The UI artifact: the stored span dicts, byte-compatible with the official store.
    let art = srv
        .request(
            Method::GET,
            &format!("/ajax-api/2.0/mlflow/get-trace-artifact?request_id={id}"),
            &[],
            None,
        )
        .await;
    let root = &art.body["spans"][0];
    assert_eq!(root["trace_id"], "q6urq6urq6urq6urq6urAQ==");
    assert_eq!(
        root["attributes"]["mlflow.spanInputs"],
        "{\"x\": 3, \"y\": 1.5}"
    );
    assert_eq!(
        root["attributes"]["mlflow.traceRequestId"],
        format!("\"{id}\"")
    );
    assert_eq!(
        root["status"],
        json!({"code": "STATUS_CODE_OK", "message": ""})
    );

    // StartTraceV3 merges: client values win, span-derived tags stay.
    let body = json!({"trace": {"trace_info": {
        "trace_id": id,
        "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}},
        "request_time": "2023-11-14T22:13:20.001Z", "execution_duration": "0.049s", "state": "OK",
        "trace_metadata": {"mlflow.trace_schema.version": "3", "mlflow.user": "me"},
        "tags": {"mlflow.traceName": "root", "env": "prod"},
        "request_preview": "rp"}}});
    let out = srv.post_ok("/api/3.0/mlflow/traces", body).await;
    let ti = &out["trace"]["trace_info"];
    assert_eq!(ti["request_time"], "2023-11-14T22:13:20.001Z");
    assert_eq!(ti["execution_duration"], "0.049s");
    assert_eq!(ti["trace_metadata"]["mlflow.trace.infoFinalized"], "true");
    assert_eq!(ti["trace_metadata"]["mlflow.user"], "me");
    assert_eq!(ti["tags"]["mlflow.traceName"], "root");
    assert_eq!(ti["tags"]["mlflow.trace.spansLocation"], "TRACKING_STORE");
    assert_eq!(ti["request_preview"], "rp");
    assert!(
        ti["tags"]["mlflow.artifactLocation"]
            .as_str()
            .unwrap_or_default()
            .ends_with(&format!("/{exp}/traces/{id}/artifacts"))
    );
    // batchGet and v2 info
    let b = srv
        .get_ok(
            "/api/3.0/mlflow/traces/batchGet",
            &[("trace_ids", &id), ("trace_ids", "tr-nope")],
        )
        .await;
    assert_eq!(b["traces"].as_array().map(Vec::len), Some(1));
    let v2 = srv
        .get_ok(&format!("/api/2.0/mlflow/traces/{id}/info"), &[])
        .await;
    assert_eq!(v2["trace_info"]["request_id"], json!(id));
    let (st, err) = srv.get("/api/3.0/mlflow/traces/tr-missing", &[]).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(err["error_code"], "RESOURCE_DOES_NOT_EXIST");
}

async fn otlp_json_gzip_and_errors(srv: TestServer) {
    use std::io::Write;
    let exp = srv.create_experiment("traces-json").await;
    let body = json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "0102030405060708",
        "name": "j", "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000",
        "attributes": [{"key": "n", "value": {"intValue": "7"}}, {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}],
        "status": {"code": 1}}]}]}]});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(body.to_string().as_bytes()).expect("gzip");
    let r = srv
        .request(
            Method::POST,
            "/v1/traces",
            &[
                ("content-type", "application/json; charset=utf-8"),
                ("content-encoding", "gzip"),
                ("x-mlflow-experiment-id", &exp),
            ],
            Some(gz.finish().expect("gzip")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let t = srv
        .get_ok(
            "/api/3.0/mlflow/traces/get",
            &[("trace_id", "tr-0102030405060708090a0b0c0d0e0f10")],
        )
        .await;
    let attrs = t["trace"]["spans"][0]["attributes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ty = attrs
        .iter()
        .find(|a| a["key"] == "mlflow.spanType")
        .expect("type");
    assert_eq!(ty["value"]["string_value"], "CHAT_MODEL");

    let post = |ct: &'static str, hdr: bool, body: Vec<u8>| {
        let exp = exp.clone();
        let srv = &srv;
        async move {
            let mut h = vec![("content-type", ct)];
            if hdr {
                h.push(("x-mlflow-experiment-id", exp.as_str()));
            }
            srv.request(Method::POST, "/v1/traces", &h, Some(body))
                .await
        }
    };
    let r = post("text/plain", true, b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Invalid Content-Type")
    );
    let r = post("application/x-protobuf", false, Vec::new()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = post("application/x-protobuf", true, Vec::new()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body["detail"],
        "Invalid OpenTelemetry format - no spans found"
    );
    let r = post("application/x-protobuf", true, vec![0xff, 0xff, 0xff]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = post(
        "application/json",
        true,
        b"{\"resourceSpans\": [{\"scopeSpans\": [{\"spans\": [{\"traceId\": \"zz\"}]}]}]}".to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

async fn ids(srv: &TestServer, exp: &str, filter: &str) -> Vec<String> {
    let (st, out) = srv
        .post(
            "/api/3.0/mlflow/traces/search",
            json!({"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}], "filter": filter, "max_results": 100}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{filter}: {out}");
    let mut v: Vec<String> = out["traces"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    v.sort();
    v
}

async fn search_and_assessments(srv: TestServer) {
    let exp = srv.create_experiment("traces-search").await;
    export(&srv, &exp, &request(2, 1_700_000_000_000)).await;
    export(&srv, &exp, &request(3, 1_700_000_100_000)).await;
    let (a, b) = (trace_id(2), trace_id(3));
    srv.request(
        Method::PATCH,
        &format!("/api/2.0/mlflow/traces/{a}/tags"),
        &[("content-type", "application/json")],
        Some(br#"{"key": "env", "value": "prod"}"#.to_vec()),
    )
    .await;
    assert_eq!(ids(&srv, &exp, "").await, vec![a.clone(), b.clone()]);
    assert_eq!(ids(&srv, &exp, "tags.env = 'prod'").await, vec![a.clone()]);
    assert_eq!(ids(&srv, &exp, "tags.env IS NULL").await, vec![b.clone()]);
    assert_eq!(
        ids(&srv, &exp, "trace.timestamp_ms > 1700000050000").await,
        vec![b.clone()]
    );
    assert_eq!(ids(&srv, &exp, "execution_time_ms = 50").await.len(), 2);
    assert_eq!(
        ids(&srv, &exp, "span.type = 'LLM' AND span.status = 'ERROR'")
            .await
            .len(),
        2
    );
    assert_eq!(
        ids(&srv, &exp, "span.type = 'LLM' AND span.name = 'root'")
            .await
            .len(),
        0
    );
    assert_eq!(
        ids(&srv, &exp, "span.attributes.mlflow.spanType LIKE '%CHAIN%'")
            .await
            .len(),
        2
    );
    assert_eq!(
        ids(&srv, &exp, "metadata.`mlflow.trace.session` = 'sess-9'")
            .await
            .len(),
        2
    );
    assert_eq!(
        ids(&srv, &exp, "trace.status IN ('OK', 'ERROR')")
            .await
            .len(),
        2
    );
    let (st, e) = srv
        .post(
            "/api/3.0/mlflow/traces/search",
            json!({"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}], "filter": "foo.x = 'y'"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(e["error_code"], "INVALID_PARAMETER_VALUE");
    // pagination, default order timestamp DESC
    let page = srv
        .post_ok(
            "/api/3.0/mlflow/traces/search",
            json!({"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}], "max_results": 1}),
        )
        .await;
    assert_eq!(page["traces"][0]["trace_id"], json!(b));
    let tok = page["next_page_token"].as_str().expect("token").to_owned();
    let page2 = srv
        .post_ok(
            "/api/3.0/mlflow/traces/search",
            json!({"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}], "max_results": 1, "page_token": tok}),
        )
        .await;
    assert_eq!(page2["traces"][0]["trace_id"], json!(a));

    // assessments
    let base = format!("/api/3.0/mlflow/traces/{a}/assessments");
    let fb = srv
        .post_ok(
            &base,
            json!({"assessment": {"assessment_name": "quality", "trace_id": a,
                "source": {"source_type": "HUMAN", "source_id": "me"},
                "create_time": "2024-01-01T00:00:00.123Z", "last_update_time": "2024-01-01T00:00:00.123Z",
                "feedback": {"value": "yes"}, "rationale": "r", "metadata": {"k": "v"}}}),
        )
        .await;
    let fid = fb["assessment"]["assessment_id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert!(fid.starts_with("a-"));
    assert_eq!(fb["assessment"]["valid"], true);
    assert_eq!(fb["assessment"]["create_time"], "2024-01-01T00:00:00.123Z");
    srv.post_ok(
        &format!("/api/3.0/mlflow/traces/{b}/assessments"),
        json!({"assessment": {"assessment_name": "score", "source": {"source_type": "CODE"},
            "feedback": {"value": 0.75}}}),
    )
    .await;
    let ex = srv
        .post_ok(
            &base,
            json!({"assessment": {"assessment_name": "exp", "source": {"source_type": "HUMAN"},
                "expectation": {"serialized_value": {"serialization_format": "JSON_FORMAT", "value": "{\"a\": [1, 2]}"}}}}),
        )
        .await;
    assert_eq!(
        ex["assessment"]["expectation"]["serialized_value"]["value"],
        "{\"a\": [1, 2]}"
    );
    assert_eq!(
        ids(&srv, &exp, "feedback.quality = 'yes'").await,
        vec![a.clone()]
    );
    assert_eq!(
        ids(&srv, &exp, "feedback.score >= 0.5").await,
        vec![b.clone()]
    );
    assert_eq!(
        ids(&srv, &exp, "feedback.quality IS NULL").await,
        vec![b.clone()]
    );
    assert_eq!(
        ids(&srv, &exp, "expectation.exp IS NOT NULL").await,
        vec![a.clone()]
    );

    let r = srv
        .request(
            Method::PATCH,
            &format!("{base}/{fid}"),
            &[("content-type", "application/json")],
            Some(
                json!({"assessment": {"assessment_id": fid, "trace_id": a, "feedback": {"value": "no"}, "rationale": "ignored"}, "update_mask": "feedback"})
                    .to_string()
                    .into_bytes(),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["assessment"]["feedback"]["value"], "no");
    assert_eq!(r.body["assessment"]["rationale"], "r");
    let over = srv
        .post_ok(
            &base,
            json!({"assessment": {"assessment_name": "quality", "source": {"source_type": "LLM_JUDGE", "source_id": "j"},
                "feedback": {"value": null, "error": {"error_code": "E", "error_message": "m"}}, "overrides": fid}}),
        )
        .await;
    let oid = over["assessment"]["assessment_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let got = srv.get_ok(&format!("{base}/{fid}"), &[]).await;
    assert_eq!(got["assessment"]["valid"], false);
    let info = srv
        .get_ok(&format!("/api/3.0/mlflow/traces/{a}"), &[])
        .await;
    assert_eq!(
        info["trace"]["trace_info"]["assessments"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    let r = srv
        .request(
            Method::DELETE,
            &format!("{base}/{oid}"),
            &[("content-type", "application/json")],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let got = srv.get_ok(&format!("{base}/{fid}"), &[]).await;
    assert_eq!(got["assessment"]["valid"], true);
    let (st, e) = srv.get(&format!("{base}/{oid}"), &[]).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{e}");

    // run links, deletes
    let run = srv.create_run(&exp).await;
    srv.post_ok(
        "/api/2.0/mlflow/traces/link-to-run",
        json!({"trace_ids": [b], "run_id": run}),
    )
    .await;
    assert_eq!(
        ids(&srv, &exp, &format!("run_id = '{run}'")).await,
        vec![b.clone()]
    );
    let d = srv
        .post_ok(
            "/api/2.0/mlflow/traces/delete-traces",
            json!({"experiment_id": exp, "request_ids": [a]}),
        )
        .await;
    assert_eq!(d["traces_deleted"], 1);
    let d = srv
        .post_ok(
            "/api/2.0/mlflow/traces/delete-traces",
            json!({"experiment_id": exp, "max_timestamp_millis": 1_800_000_000_000i64, "max_traces": 5}),
        )
        .await;
    assert_eq!(d["traces_deleted"], 1);
    assert!(ids(&srv, &exp, "").await.is_empty());
}

async fn link_prompts(srv: TestServer) {
    let exp = srv.create_experiment("traces-prompts").await;
    export(&srv, &exp, &request(4, 1_700_000_000_000)).await;
    export(&srv, &exp, &request(5, 1_700_000_100_000)).await;
    // Trace 5 stays unlinked, so the prompt filters below must pick trace 4 only.
    let a = trace_id(4);
    const PATH: &str = "/api/2.0/mlflow/traces/link-prompts";
    let body = json!({"trace_id": a, "prompt_versions": [
        {"name": "qa", "version": "1"}, {"name": "qa", "version": "2"}]});
    assert_eq!(srv.post_ok(PATH, body.clone()).await, json!({}));
    assert_eq!(ids(&srv, &exp, "prompt = 'qa/1'").await, vec![a.clone()]);
    assert_eq!(ids(&srv, &exp, "prompt = 'qa/2'").await, vec![a.clone()]);
    assert!(ids(&srv, &exp, "prompt = 'qa/3'").await.is_empty());
    // Idempotent: the same links again, and "01" is the same version as "1" (`int(version)`).
    assert_eq!(srv.post_ok(PATH, body.clone()).await, json!({}));
    srv.post_ok(
        PATH,
        json!({"trace_id": a, "prompt_versions": [{"name": "qa", "version": "01"}]}),
    )
    .await;
    assert_eq!(ids(&srv, &exp, "prompt = 'qa/1'").await, vec![a.clone()]);
    // Concurrent duplicate links all succeed (the primary key absorbs the race).
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (srv, a) = (srv.clone(), a.clone());
            tokio::spawn(async move {
                srv.post(
                    "/ajax-api/2.0/mlflow/traces/link-prompts",
                    json!({"traceId": a, "promptVersions": [{"name": "race", "version": "3"}]}),
                )
                .await
            })
        })
        .collect();
    for t in tasks {
        let (st, out) = t.await.expect("join");
        assert_eq!(st, StatusCode::OK, "{out}");
        assert_eq!(out, json!({}));
    }
    assert_eq!(ids(&srv, &exp, "prompt = 'race/3'").await, vec![a.clone()]);
    assert_eq!(
        ids(&srv, &exp, "prompt = 'qa/1' AND prompt = 'race/3'").await,
        vec![a.clone()]
    );
    assert_eq!(ids(&srv, &exp, "").await.len(), 2);
    // The server does not set the linkedPrompts tag (the client does).
    let info = srv
        .get_ok(&format!("/api/3.0/mlflow/traces/{a}"), &[])
        .await;
    assert!(
        info["trace"]["trace_info"]["tags"]
            .get("mlflow.linkedPrompts")
            .is_none(),
        "{info}"
    );
    // Empty list: a no-op, even for a trace that does not exist.
    assert_eq!(
        srv.post_ok(PATH, json!({"trace_id": "tr-nope", "prompt_versions": []}))
            .await,
        json!({})
    );
    assert_eq!(ids(&srv, &exp, "prompt = 'qa/1'").await, vec![a.clone()]);

    common::assert_error(
        &srv.post(
            PATH,
            json!({"trace_id": "tr-nope", "prompt_versions": [{"name": "qa", "version": "1"}]}),
        )
        .await,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Trace with ID 'tr-nope' not found.",
    );
    common::assert_error(
        &srv.post(
            PATH,
            json!({"prompt_versions": [{"name": "qa", "version": "1"}]}),
        )
        .await,
        400,
        "INVALID_PARAMETER_VALUE",
        &common::missing("trace_id"),
    );
    common::assert_error(
        &srv.post(PATH, json!({"trace_id": "", "prompt_versions": []}))
            .await,
        400,
        "INVALID_PARAMETER_VALUE",
        &common::missing("trace_id"),
    );
    common::assert_error(
        &srv.post(PATH, json!({"trace_id": a})).await,
        400,
        "INVALID_PARAMETER_VALUE",
        &common::missing("prompt_versions"),
    );
    common::assert_error(
        &srv.post(PATH, json!({"trace_id": 7, "prompt_versions": []}))
            .await,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value 7 for parameter 'trace_id' supplied:  Hint: Value was of type 'int'. \
         See the API docs for more information about request parameters.",
    );
    common::assert_error(
        &srv.post(PATH, json!({"trace_id": a, "prompt_versions": "qa/1"}))
            .await,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value \"qa/1\" for parameter 'prompt_versions' supplied:  Hint: Value was of \
         type 'str'. See the API docs for more information about request parameters.",
    );
    let (st, e) = srv
        .post(
            PATH,
            json!({"trace_id": a, "prompt_versions": [{"name": "qa", "version": "v1"}]}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error_code"], "INVALID_PARAMETER_VALUE");
    assert!(ids(&srv, &exp, "prompt = 'qa/v1'").await.is_empty());
}

backend_tests!(
    ingest_and_get,
    otlp_json_gzip_and_errors,
    search_and_assessments,
    link_prompts
);

#[allow(dead_code)]
fn _unused(_: Value) {}
