//! Tracing workloads: OTLP span ingest, end-to-end trace logging as the official client does
//! it (OTLP spans + `StartTraceV3`), `search_traces` with a tag filter, and `traces/get` of a
//! 1,000-span trace. OTLP bodies are protobuf, built with `opentelemetry-proto` + `prost`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use serde_json::{Value, json};

use crate::client::{self, Api, run_clients};
use crate::workloads::{Ctx, Measure, Outcome, thousands};

const P_OTLP: &str = "/v1/traces";
const P_START_TRACE: &str = "/api/3.0/mlflow/traces";
const P_SEARCH_TRACES: &str = "/api/3.0/mlflow/traces/search";
const P_GET_TRACE: &str = "/api/3.0/mlflow/traces/get";
const P_CREATE_EXP: &str = "/api/2.0/mlflow/experiments/create";

/// Spans per trace in the ingest workloads.
pub const SPANS_PER_TRACE: u64 = 10;
/// Spans of the trace read by get_trace.
pub const GET_TRACE_SPANS: u64 = 1000;
/// Traces per OTLP request when loading the search_traces data (untimed).
const SEARCH_LOAD_BATCH: usize = 100;
/// The search_traces filter; a quarter of the traces match.
pub const SEARCH_FILTER: &str = "tags.env = 'prod'";
const ENVS: [&str; 4] = ["prod", "dev", "staging", "test"];

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

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default()
}

/// A process-unique 16-byte trace id: run nonce + counter.
fn new_trace_id(nonce: u64, n: u64) -> Vec<u8> {
    let mut t = Vec::with_capacity(16);
    t.extend_from_slice(&nonce.to_be_bytes());
    t.extend_from_slice(&n.to_be_bytes());
    t
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The spans of one trace like `@mlflow.trace` makes: a CHAIN root with inputs/outputs and
/// `spans - 1` children (LLM/TOOL/RETRIEVER) with small inputs/outputs.
fn trace_spans(trace_id: &[u8], spans: u64, start_ns: u64, tags: &[(&str, &str)]) -> Vec<Span> {
    let kinds = ["LLM", "TOOL", "RETRIEVER"];
    (0..spans)
        .map(|i| {
            let mut attributes = vec![
                kv(
                    "mlflow.spanType",
                    s(if i == 0 {
                        "CHAIN"
                    } else {
                        kinds[(i % 3) as usize]
                    }),
                ),
                kv(
                    "mlflow.spanInputs",
                    s(&format!(
                        "{{\"question\": \"what is span {i}?\", \"k\": {i}}}"
                    )),
                ),
                kv(
                    "mlflow.spanOutputs",
                    s(&format!("\"answer {i}: lorem ipsum dolor sit amet\"")),
                ),
            ];
            if i == 0 {
                for (k, v) in tags {
                    attributes.push(kv(&format!("mlflow.traceTag.{k}"), s(v)));
                }
            }
            Span {
                trace_id: trace_id.to_vec(),
                span_id: (i + 1).to_be_bytes().to_vec(),
                parent_span_id: if i == 0 {
                    Vec::new()
                } else {
                    1u64.to_be_bytes().to_vec()
                },
                name: if i == 0 {
                    "agent".into()
                } else {
                    format!("step_{i}")
                },
                start_time_unix_nano: start_ns + i * 1_000,
                end_time_unix_nano: start_ns + i * 1_000 + if i == 0 { 5_000_000 } else { 900 },
                attributes,
                status: Some(Status {
                    code: 1,
                    message: String::new(),
                }),
                ..Default::default()
            }
        })
        .collect()
}

fn request(spans: Vec<Span>) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s("mlflow-bench"))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

async fn create_experiment(api: &Api, what: &str) -> Result<String> {
    let name = format!("bench-{what}-{}-{}", std::process::id(), now_ns());
    let resp = api.post(P_CREATE_EXP, &json!({ "name": name })).await?;
    resp.get("experiment_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("experiments/create: no experiment_id in {resp}"))
}

fn nonce() -> u64 {
    // Distinct per workload run, so both servers (and reruns) never see the same trace id.
    static N: AtomicU64 = AtomicU64::new(0);
    now_ns() ^ (u64::from(std::process::id()) << 32) ^ N.fetch_add(1, Ordering::Relaxed)
}

/// `POST /v1/traces` with the protobuf body.
async fn export(api: &Api, exp: &str, body: Vec<u8>) -> Result<()> {
    api.post_bytes(
        P_OTLP,
        &[
            ("content-type", "application/x-protobuf"),
            ("x-mlflow-experiment-id", exp),
        ],
        body,
    )
    .await
}

fn rate(phase: &client::Phase, per_op: f64) -> Measure {
    Measure::Rate {
        per_s: phase.per_sec() * per_op,
        p50: phase.p(50.0),
        p99: phase.p(99.0),
    }
}

/// OTLP ingest: each call exports one trace of 10 spans; spans/s.
pub async fn otlp_ingest(ctx: &Ctx<'_>) -> Result<Outcome> {
    let s = ctx.sizes;
    let exp: Arc<str> = create_experiment(&Api::new(ctx.base, ctx.mode)?, "otlp")
        .await?
        .into();
    let n = nonce();
    let exp2 = exp.clone();
    let phase = run_clients(
        Api::many(ctx.base, ctx.mode, s.clients)?,
        s.warmup,
        s.trace_ingest_per_client,
        move |api, ci, i| {
            let exp = exp2.clone();
            async move {
                let id = new_trace_id(n, (ci as u64) << 32 | i as u64);
                let body = request(trace_spans(&id, SPANS_PER_TRACE, now_ns(), &[]));
                export(&api, &exp, body).await
            }
        },
    )
    .await?;
    eprintln!(
        "[{}] otlp_ingest: {} traces in {:.2} s",
        ctx.tag,
        phase.ops(),
        phase.elapsed.as_secs_f64()
    );
    // Check the last trace of client 0 landed with all its spans.
    let mut notes = Vec::new();
    let last = new_trace_id(n, (s.warmup + s.trace_ingest_per_client - 1) as u64);
    let got = Api::new(ctx.base, ctx.mode)?
        .get(P_GET_TRACE, &[("trace_id", &format!("tr-{}", hex(&last)))])
        .await?;
    let spans = got
        .pointer("/trace/spans")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if spans as u64 != SPANS_PER_TRACE {
        notes.push(format!(
            "WRONG RESULT: a trace read back with {spans} spans, expected {SPANS_PER_TRACE}"
        ));
    }
    Ok(Outcome {
        measure: rate(&phase, SPANS_PER_TRACE as f64),
        notes,
    })
}

/// End to end, as the official client's exporter: OTLP spans, then `StartTraceV3` with the
/// trace info; traces/s.
pub async fn trace_e2e(ctx: &Ctx<'_>) -> Result<Outcome> {
    let s = ctx.sizes;
    let exp: Arc<str> = create_experiment(&Api::new(ctx.base, ctx.mode)?, "e2e")
        .await?
        .into();
    let n = nonce();
    let phase = run_clients(
        Api::many(ctx.base, ctx.mode, s.clients)?,
        s.warmup,
        s.trace_ingest_per_client,
        move |api, ci, i| {
            let exp = exp.clone();
            async move {
                let id = new_trace_id(n, (ci as u64) << 32 | i as u64);
                let start = now_ns();
                let body = request(trace_spans(&id, SPANS_PER_TRACE, start, &[]));
                export(&api, &exp, body).await?;
                let secs = start / 1_000_000_000;
                let millis = (start / 1_000_000) % 1000;
                let info = json!({"trace": {"trace_info": {
                    "trace_id": format!("tr-{}", hex(&id)),
                    "trace_location": {"type": "MLFLOW_EXPERIMENT",
                        "mlflow_experiment": {"experiment_id": &*exp}},
                    "request_time": rfc3339(secs, millis),
                    "execution_duration": "0.005s",
                    "state": "OK",
                    "request_preview": "{\"question\": \"what is span 0?\", \"k\": 0}",
                    "response_preview": "\"answer 0: lorem ipsum dolor sit amet\"",
                    "trace_metadata": {"mlflow.trace_schema.version": "3",
                        "mlflow.user": "bench", "mlflow.source.name": "mlflow-bench",
                        "mlflow.source.type": "LOCAL"},
                    "tags": {"mlflow.traceName": "agent", "mlflow.user": "bench"},
                }}});
                api.post(P_START_TRACE, &info).await.map(drop)
            }
        },
    )
    .await?;
    eprintln!(
        "[{}] trace_e2e: {} traces in {:.2} s",
        ctx.tag,
        phase.ops(),
        phase.elapsed.as_secs_f64()
    );
    Ok(Outcome {
        measure: rate(&phase, 1.0),
        notes: vec![],
    })
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (civil-from-days).
fn rfc3339(secs: u64, millis: u64) -> String {
    let secs = secs as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// search_traces over N traces (1 span each, tag `env` in prod/dev/staging/test), filter
/// `tags.env = 'prod'`, max 100, 1 client: p50/p99 ms.
pub async fn search_traces(ctx: &Ctx<'_>) -> Result<Outcome> {
    let s = ctx.sizes;
    let setup = Api::new(ctx.base, ctx.mode)?;
    let exp: Arc<str> = create_experiment(&setup, "search_traces").await?.into();
    let total = s.search_traces;
    let batches = total.div_ceil(SEARCH_LOAD_BATCH);
    let n = nonce();
    let base_ns = now_ns() - total as u64 * 1_000_000;
    let progress = Arc::new(AtomicUsize::new(0));
    let (exp2, tag, progress2) = (exp.clone(), ctx.tag.to_string(), progress.clone());
    let load = client::for_each_concurrent(
        Api::many(
            ctx.base,
            crate::client::ConnMode::KeepAlive,
            s.setup_clients,
        )?,
        batches,
        move |api, b| {
            let (exp, tag, progress) = (exp2.clone(), tag.clone(), progress2.clone());
            async move {
                let mut spans = Vec::with_capacity(SEARCH_LOAD_BATCH);
                for k in b * SEARCH_LOAD_BATCH..((b + 1) * SEARCH_LOAD_BATCH).min(total) {
                    let id = new_trace_id(n, k as u64);
                    let env = ENVS[k % ENVS.len()];
                    // One millisecond apart, so the default order (newest first) is total.
                    spans.extend(trace_spans(
                        &id,
                        1,
                        base_ns + k as u64 * 1_000_000,
                        &[("env", env)],
                    ));
                }
                export(&api, &exp, request(spans)).await?;
                let done = progress.fetch_add(1, Ordering::Relaxed) + 1;
                if done % 100 == 0 {
                    eprintln!(
                        "[{tag}] search_traces setup: {}/{total} traces",
                        done * SEARCH_LOAD_BATCH
                    );
                }
                Ok(())
            }
        },
    )
    .await?;
    eprintln!(
        "[{}] search_traces: loaded {total} traces in {:.1} s",
        ctx.tag,
        load.as_secs_f64()
    );
    let expected = (0..total).filter(|k| k % ENVS.len() == 0).count();
    let mut notes = vec![format!(
        "setup: {} traces (1 span each, {} per OTLP request) in {:.1} s ({} traces/s, {} clients); {expected} match the filter",
        thousands(total as f64),
        SEARCH_LOAD_BATCH,
        load.as_secs_f64(),
        thousands(total as f64 / load.as_secs_f64().max(1e-9)),
        s.setup_clients
    )];
    let body = Arc::new(json!({
        "locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": &*exp}}],
        "filter": SEARCH_FILTER,
        "max_results": 100,
    }));
    let first = setup.post(P_SEARCH_TRACES, &body).await?;
    if let Some(problem) = verify_search(&first, expected, n, total) {
        notes.push(problem);
    }
    let phase = run_clients(
        Api::many(ctx.base, ctx.mode, 1)?,
        s.warmup,
        s.search_queries,
        move |api, _, _| {
            let body = body.clone();
            async move { api.post(P_SEARCH_TRACES, &body).await.map(drop) }
        },
    )
    .await?;
    eprintln!(
        "[{}] search_traces: {} queries, p50 {:.1} ms",
        ctx.tag,
        phase.ops(),
        phase.p(50.0)
    );
    Ok(Outcome {
        measure: Measure::Latency {
            p50: phase.p(50.0),
            p99: phase.p(99.0),
        },
        notes,
    })
}

/// The first page must be the 100 newest `prod` traces, newest first.
fn verify_search(resp: &Value, expected: usize, n: u64, total: usize) -> Option<String> {
    let traces = resp.get("traces").and_then(Value::as_array)?;
    let want = expected.min(100);
    if traces.len() != want {
        return Some(format!(
            "WRONG RESULT: {} traces returned, expected {want}",
            traces.len()
        ));
    }
    let newest: Vec<String> = (0..total)
        .rev()
        .filter(|k| k % ENVS.len() == 0)
        .take(want)
        .map(|k| format!("tr-{}", hex(&new_trace_id(n, k as u64))))
        .collect();
    let got: Vec<String> = traces
        .iter()
        .map(|t| {
            t.get("trace_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    (got != newest).then(|| "WRONG RESULT: not the newest matching traces in order".to_string())
}

/// `GET traces/get` of one 1,000-span trace, 1 client: p50/p99 ms.
pub async fn get_trace(ctx: &Ctx<'_>) -> Result<Outcome> {
    let s = ctx.sizes;
    let setup = Api::new(ctx.base, ctx.mode)?;
    let exp = create_experiment(&setup, "get_trace").await?;
    let id = new_trace_id(nonce(), 7);
    export(
        &setup,
        &exp,
        request(trace_spans(&id, GET_TRACE_SPANS, now_ns(), &[])),
    )
    .await?;
    let trace_id: Arc<str> = format!("tr-{}", hex(&id)).into();
    let first = setup.get(P_GET_TRACE, &[("trace_id", &trace_id)]).await?;
    let spans = first
        .pointer("/trace/spans")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let mut notes = Vec::new();
    if spans as u64 != GET_TRACE_SPANS {
        notes.push(format!(
            "WRONG RESULT: {spans} spans returned, expected {GET_TRACE_SPANS}"
        ));
    }
    let phase = run_clients(
        Api::many(ctx.base, ctx.mode, 1)?,
        s.warmup,
        s.get_trace_reps,
        move |api, _, _| {
            let id = trace_id.clone();
            async move {
                let v = api.get(P_GET_TRACE, &[("trace_id", &id)]).await?;
                if v.pointer("/trace/spans").is_none() {
                    bail!("traces/get: no spans in the answer");
                }
                Ok(())
            }
        },
    )
    .await
    .context("get_trace")?;
    eprintln!(
        "[{}] get_trace: {} reads, p50 {:.1} ms",
        ctx.tag,
        phase.ops(),
        phase.p(50.0)
    );
    Ok(Outcome {
        measure: Measure::Latency {
            p50: phase.p(50.0),
            p99: phase.p(99.0),
        },
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(1_700_000_000, 123), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn ids_are_unique_and_hex() {
        let a = new_trace_id(1, 2);
        assert_eq!(a.len(), 16);
        assert_eq!(hex(&a).len(), 32);
        assert_ne!(new_trace_id(1, 2), new_trace_id(1, 3));
    }

    #[test]
    fn spans_encode() {
        let id = new_trace_id(9, 9);
        let body = request(trace_spans(&id, 10, 1, &[("env", "prod")]));
        let back = ExportTraceServiceRequest::decode(body.as_slice()).expect("decode");
        let spans = &back.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), 10);
        assert!(spans[0].parent_span_id.is_empty());
        assert_eq!(spans[3].parent_span_id, 1u64.to_be_bytes().to_vec());
    }
}
