//! Integration tests: the SDK against our `mlflow-rs` server and the official MLflow server,
//! each started on a temp SQLite DB, with cross-checks through the official Python client.
//! One test binary (see docs/architecture.md).

mod common;
mod macro_usage;
mod multipart;
mod scenarios;
mod transport;
mod webhooks;

use common::{Server, py, unique};
use mlflow_sdk::fluent::{self, RunOptions};
use mlflow_sdk::tracing_layer::MlflowLayer;
use mlflow_sdk::{RunStatus, SearchQuery};
use serde::Serialize;
use std::sync::Mutex;
use tracing_subscriber::prelude::*;

/// The fluent API is process-wide state: its scenarios run one at a time.
static FLUENT: Mutex<()> = Mutex::new(());

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn ours_tracking() {
    let Some(srv) = Server::ours() else { return };
    rt().block_on(async {
        scenarios::tracking(&srv).await;
        scenarios::python_writes_sdk_reads(&srv).await;
    });
}

#[test]
fn ours_artifacts() {
    let Some(srv) = Server::ours() else { return };
    rt().block_on(scenarios::artifacts(&srv));
}

#[test]
fn ours_registry_and_prompts() {
    let Some(srv) = Server::ours() else { return };
    rt().block_on(scenarios::registry_and_prompts(&srv));
}

#[test]
fn ours_logged_models() {
    let Some(srv) = Server::ours() else { return };
    rt().block_on(scenarios::logged_models(&srv));
}

#[test]
fn ours_evaluate() {
    let Some(srv) = Server::ours() else { return };
    if !rt().block_on(scenarios::has_traces(&srv)) {
        return;
    }
    rt().block_on(scenarios::evaluation(&srv));
}

#[test]
fn ours_fluent() {
    let Some(srv) = Server::ours() else { return };
    fluent_scenario(&srv);
}

/// The child process of [`ours_exit_flush`]: logs without ending its run and exits through
/// `std::process::exit`. A no-op unless started by that test.
#[test]
fn exit_hook_child() {
    let Ok(url) = std::env::var("MLFLOW_SDK_EXIT_CHILD_URL") else {
        return;
    };
    fluent::set_config(mlflow_sdk::ClientConfig::new(&url)).unwrap();
    fluent::set_experiment_id(&std::env::var("MLFLOW_SDK_EXIT_CHILD_EXP").unwrap());
    // No start_run: logging starts a run implicitly, as in Python; nothing ends it.
    for i in 0..5000 {
        fluent::log_metric("loss", i as f64, i).unwrap();
    }
    println!("RUN_ID={}", fluent::active_run_id().unwrap());
    std::process::exit(0);
}

/// Metrics still queued and a run still active when the process exits are sent and ended
/// by the exit hook.
#[test]
fn ours_exit_flush() {
    let Some(srv) = Server::ours() else { return };
    let c = mlflow_sdk::blocking::Client::new(srv.config()).unwrap();
    let exp = c.get_or_create_experiment(&unique("exit")).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "exit_hook_child", "--nocapture"])
        .env("MLFLOW_SDK_EXIT_CHILD_URL", &srv.url)
        .env("MLFLOW_SDK_EXIT_CHILD_EXP", &exp)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run_id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RUN_ID="))
        .unwrap_or_else(|| panic!("no RUN_ID in {stdout}"));
    let run = c.get_run(run_id).unwrap();
    assert_eq!(run.info.status, RunStatus::Finished);
    assert_eq!(run.info.experiment_id, exp);
    let history = c.get_metric_history(run_id, "loss").unwrap();
    assert_eq!(history.len(), 5000);
    assert_eq!(run.metric("loss"), Some(4999.0));
}

#[test]
fn ours_tracing() {
    let Some(srv) = Server::ours() else { return };
    if !rt().block_on(scenarios::has_traces(&srv)) {
        return;
    }
    tracing_scenario(&srv);
}

#[test]
fn ours_webhooks() {
    let Some(srv) = Server::ours() else { return };
    rt().block_on(webhooks::webhooks(&srv));
}

/// Everything against the official server (one process: it is slow to start).
#[test]
fn official_server_suite() {
    let Some(srv) = Server::official() else {
        return;
    };
    rt().block_on(async {
        scenarios::tracking(&srv).await;
        scenarios::python_writes_sdk_reads(&srv).await;
        scenarios::artifacts(&srv).await;
        scenarios::registry_and_prompts(&srv).await;
        scenarios::logged_models(&srv).await;
        scenarios::evaluation(&srv).await;
        webhooks::webhooks(&srv).await;
    });
    fluent_scenario(&srv);
    tracing_scenario(&srv);
}

fn fluent_scenario(srv: &Server) {
    let _lock = FLUENT.lock().unwrap_or_else(|e| e.into_inner());
    let c = mlflow_sdk::blocking::Client::new(srv.config()).unwrap();
    fluent::set_config(srv.config()).unwrap();
    let exp = fluent::set_experiment(&unique("fluent")).unwrap();
    assert_eq!(fluent::active_experiment_id().unwrap(), exp);

    let run = fluent::start_run(RunOptions::new().name("outer")).unwrap();
    let outer = run.id().to_string();
    assert!(
        fluent::start_run(RunOptions::new()).is_err(),
        "non-nested while active"
    );
    fluent::log_param("lr", 0.1).unwrap();
    fluent::set_tag("phase", "train").unwrap();
    let t0 = std::time::Instant::now();
    for i in 0..2500 {
        fluent::log_metric("loss", 1.0 / (i + 1) as f64, i).unwrap();
    }
    let enqueue = t0.elapsed();
    fluent::log_metrics(&[("a", 1.0), ("b", 2.0)], 7).unwrap();
    {
        let child = fluent::start_run(RunOptions::new().name("inner").nested()).unwrap();
        assert_eq!(fluent::active_run_id().as_deref(), Some(child.id()));
        fluent::log_metric("child_m", 3.0, 0).unwrap();
        let child_id = child.id().to_string();
        child.end().unwrap();
        let cr = c.get_run(&child_id).unwrap();
        assert_eq!(cr.tag("mlflow.parentRunId"), Some(outer.as_str()));
        assert_eq!(cr.metric("child_m"), Some(3.0));
        assert_eq!(cr.info.status, RunStatus::Finished);
    }
    assert_eq!(fluent::active_run_id().as_deref(), Some(outer.as_str()));

    // An outage is retried, then reported by flush(); the metric stays queued and is sent once
    // the server is reachable again.
    fluent::set_config(
        mlflow_sdk::ClientConfig::new("http://127.0.0.1:9")
            .with_max_retries(1)
            .with_backoff(
                std::time::Duration::from_millis(10),
                std::time::Duration::ZERO,
            ),
    )
    .unwrap();
    fluent::log_metric("during_outage", 42.0, 0).unwrap();
    let err = fluent::flush().unwrap_err();
    assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
    fluent::set_config(srv.config()).unwrap();
    fluent::flush().unwrap();

    run.end().unwrap();
    assert!(fluent::active_run_id().is_none());
    let r = c.get_run(&outer).unwrap();
    assert_eq!(r.info.status, RunStatus::Finished);
    assert_eq!(r.param("lr"), Some("0.1"));
    assert_eq!(r.tag("phase"), Some("train"));
    assert_eq!(r.metric("during_outage"), Some(42.0));
    assert_eq!(r.metric("b"), Some(2.0));
    assert_eq!(c.get_metric_history(&outer, "loss").unwrap().len(), 2500);
    eprintln!("fluent: 2500 log_metric calls took {enqueue:?} on the caller's thread");

    // A panicking thread ends its run FAILED.
    let id = std::sync::Arc::new(Mutex::new(String::new()));
    let id2 = id.clone();
    let joined = std::thread::spawn(move || {
        let run = fluent::start_run(RunOptions::new().name("boom")).unwrap();
        *id2.lock().unwrap() = run.id().to_string();
        fluent::log_metric("before_panic", 1.0, 0).unwrap();
        panic!("training diverged");
    })
    .join();
    assert!(joined.is_err());
    let failed = c.get_run(&id.lock().unwrap()).unwrap();
    assert_eq!(failed.info.status, RunStatus::Failed);
    assert_eq!(failed.metric("before_panic"), Some(1.0));
}

#[derive(Serialize, Debug)]
struct Question {
    text: String,
}

#[mlflow_sdk::trace(span_type = "TOOL")]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

async fn llm(prompt: &str) -> String {
    use tracing::Instrument;
    let span = tracing::info_span!(
        "chat_model",
        span_type = "LLM",
        inputs = prompt,
        outputs = tracing::field::Empty,
        input_tokens = 10,
        output_tokens = 5,
        total_tokens = 15,
        model = "tiny-llm",
    );
    async {
        tracing::info!(temperature = 0.1, "calling the model");
        let out = format!("echo: {prompt}");
        tracing::Span::current().record("outputs", out.as_str());
        out
    }
    .instrument(span)
    .await
}

#[mlflow_sdk::trace(name = "agent", span_type = "AGENT")]
async fn agent(q: Question, attempt: u32) -> Result<String, String> {
    let sum = add(2, 3);
    let answer = llm(&q.text).await;
    if q.text == "fail" {
        return Err(format!("agent failed after {attempt} attempt(s)"));
    }
    Ok(format!("{answer} ({sum})"))
}

/// Loads a prompt inside a trace: the export links the prompt version to the trace.
#[mlflow_sdk::trace(span_type = "CHAIN", skip(client))]
async fn prompted(client: &mlflow_sdk::Client, uri: String) -> String {
    use mlflow_sdk::tracing_layer::{TraceUpdate, update_current_trace};
    assert!(update_current_trace(
        TraceUpdate::new()
            .tag("channel", "slack")
            .metadata("mlflow.trace.session", "s-42")
            .client_request_id("req-7")
    ));
    let p = client.load_prompt(&uri).await.unwrap();
    p.version
}

fn tracing_scenario(srv: &Server) {
    let c = srv.client();
    let runtime = rt();
    let exp = runtime
        .block_on(c.get_or_create_experiment(&unique("traces")))
        .unwrap();
    let pname = unique("traced-prompt");
    runtime
        .block_on(c.register_prompt(&pname, "Answer {{q}}".into(), None, &[]))
        .unwrap();
    let (layer, exporter) = MlflowLayer::builder()
        .config(srv.config())
        .experiment_id(&exp)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let local = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let ok = local.block_on(agent(Question { text: "hi".into() }, 1));
        assert_eq!(ok.unwrap(), "echo: hi (5)");
        let err = local.block_on(agent(
            Question {
                text: "fail".into(),
            },
            2,
        ));
        assert!(err.is_err());
        assert_eq!(add(40, 2), 42); // a root span of its own: a third trace
        // A fourth: a prompt loaded inside it is linked to it.
        let version = local.block_on(prompted(&c, format!("prompts:/{pname}/1")));
        assert_eq!(version, "1");

        // evaluate() under the layer: the predict function's own spans (an LLM call with
        // token usage) become each row's trace, and token-count scorers read that usage.
        use mlflow_sdk::evaluate::{EvalRecord, Scorer, evaluate};
        let eval_exp = local
            .block_on(c.get_or_create_experiment(&unique("traced-eval")))
            .unwrap();
        let data = vec![
            EvalRecord::new(serde_json::json!({"q": "hi"})).expect(serde_json::json!("echo: hi")),
            EvalRecord::new(serde_json::json!({"q": "yo"})).expect(serde_json::json!("nope")),
        ];
        let mut scorers = Scorer::token_counts();
        scorers.push(Scorer::exact_match());
        let result = local
            .block_on(evaluate(
                &c,
                &eval_exp,
                &data,
                |inputs| {
                    let q = inputs["q"].as_str().unwrap_or_default().to_string();
                    let span = tracing::info_span!(
                        "chat_model",
                        span_type = "LLM",
                        input_tokens = 7,
                        output_tokens = 3,
                    );
                    let _g = span.enter();
                    Ok(serde_json::json!(format!("echo: {q}")))
                },
                &scorers,
            ))
            .unwrap();
        assert_eq!(
            result.metrics["total_tokens/mean"], 10.0,
            "{:?}",
            result.metrics
        );
        assert_eq!(result.metrics["input_tokens/mean"], 7.0);
        assert_eq!(result.metrics["output_tokens/mean"], 3.0);
        assert_eq!(result.metrics["exact_match/mean"], 0.5);
        let row = &result.rows[0];
        let info = local.block_on(c.get_trace_info(&row.trace_id)).unwrap();
        assert_eq!(info.experiment_id(), Some(eval_exp.as_str()));
        assert_eq!(
            info.trace_metadata.get("mlflow.sourceRun"),
            Some(&result.run_id)
        );
        // 1 expectation + 4 feedbacks, on the layer-recorded trace.
        assert_eq!(info.assessments.len(), 5, "{:?}", info.assessments);
        let trace = local.block_on(c.get_trace(&row.trace_id)).unwrap();
        let names: Vec<&str> = trace["spans"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["name"].as_str())
            .collect();
        assert!(
            names.contains(&"predict") && names.contains(&"chat_model"),
            "{names:?}"
        );
    });
    exporter.flush().unwrap();
    assert_eq!(exporter.stats().exported, 6);

    let traces = runtime.block_on(scenarios::wait_for_traces(&c, &exp, 4));
    assert_eq!(traces.len(), 4);
    let linked = traces
        .iter()
        .find(|t| t.tags.get("mlflow.traceName").map(String::as_str) == Some("prompted"))
        .expect("the prompted trace");
    // update_current_trace: tag, metadata and client request id.
    assert_eq!(
        linked.tags.get("channel").map(String::as_str),
        Some("slack")
    );
    assert_eq!(
        linked
            .trace_metadata
            .get("mlflow.trace.session")
            .map(String::as_str),
        Some("s-42")
    );
    assert_eq!(linked.client_request_id.as_deref(), Some("req-7"));
    let expected_tag = format!(r#"[{{"name": "{pname}", "version": "1"}}]"#);
    assert_eq!(
        linked.tags.get("mlflow.linkedPrompts").map(String::as_str),
        Some(expected_tag.as_str())
    );
    // The association is searchable (`prompt = 'name/version'`).
    let by_prompt = runtime
        .block_on(c.search_traces_page(
            std::slice::from_ref(&exp),
            &SearchQuery::new().filter(format!("prompt = '{pname}/1'")),
        ))
        .unwrap();
    let ids: Vec<&str> = by_prompt
        .items
        .iter()
        .map(|t| t.trace_id.as_str())
        .collect();
    assert_eq!(ids, vec![linked.trace_id.as_str()]);
    // The explicit call is idempotent and keeps the tag as it is.
    runtime
        .block_on(c.link_prompts_to_trace(&linked.trace_id, &[(pname.clone(), "1".into())]))
        .unwrap();
    let again = runtime
        .block_on(c.get_trace_info(&linked.trace_id))
        .unwrap();
    assert_eq!(
        again.tags.get("mlflow.linkedPrompts").map(String::as_str),
        Some(expected_tag.as_str())
    );
    let ok = traces
        .iter()
        .find(|t| {
            t.tags.get("mlflow.traceName").map(String::as_str) == Some("agent") && t.state == "OK"
        })
        .expect("the successful agent trace");
    assert!(traces.iter().any(|t| t.state == "ERROR"));
    // Environment metadata as the official client records it (git commit of the checkout).
    for (k, v) in mlflow_sdk::git_metadata() {
        assert_eq!(ok.trace_metadata.get(*k), Some(v), "{k}");
    }
    assert!(
        ok.request_preview.as_deref().unwrap_or("").contains("hi"),
        "{ok:?}"
    );
    let page = runtime
        .block_on(c.search_traces_page(
            std::slice::from_ref(&exp),
            &SearchQuery::new().max_results(1),
        ))
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(page.next_page_token.is_some());

    // The official client reads the spans back.
    let tid = ok.trace_id.clone();
    if let Some(v) = py(
        &srv.url,
        &format!(
            "import mlflow, json\n\
             t = mlflow.get_trace('{tid}')\n\
             spans = {{s.name: {{'type': s.span_type, 'inputs': s.inputs, 'outputs': s.outputs, \
             'status': s.status.status_code.value, 'parent': s.parent_id is not None, \
             'attrs': {{k: v for k, v in s.attributes.items() if not k.startswith('mlflow.')}}, \
             'events': [e.name for e in s.events]}} for s in t.data.spans}}\n\
             print(json.dumps({{'spans': spans, 'usage': t.info.token_usage, 'state': t.info.state.value}}))"
        ),
    ) {
        let spans = &v["spans"];
        assert_eq!(spans["agent"]["type"], "AGENT");
        assert_eq!(
            spans["agent"]["inputs"],
            serde_json::json!({"q": {"text": "hi"}, "attempt": 1})
        );
        assert_eq!(spans["agent"]["outputs"], "echo: hi (5)");
        assert_eq!(spans["agent"]["parent"], false);
        assert_eq!(spans["add"]["type"], "TOOL");
        assert_eq!(spans["add"]["inputs"], serde_json::json!({"a": 2, "b": 3}));
        assert_eq!(spans["add"]["outputs"], 5);
        assert_eq!(spans["add"]["parent"], true);
        assert_eq!(spans["chat_model"]["type"], "LLM");
        assert_eq!(spans["chat_model"]["inputs"], "hi");
        assert_eq!(spans["chat_model"]["outputs"], "echo: hi");
        assert_eq!(spans["chat_model"]["attrs"]["model"], "tiny-llm");
        assert_eq!(
            spans["chat_model"]["events"],
            serde_json::json!(["calling the model"])
        );
        assert_eq!(v["usage"]["input_tokens"], 10);
        assert_eq!(v["usage"]["total_tokens"], 15);
        assert_eq!(v["state"], "OK");
    }
    runtime.block_on(scenarios::assessments(srv, &tid));

    // The reverse: a trace written by the official client reads back here.
    let py_exp = runtime
        .block_on(c.get_or_create_experiment(&unique("pytraces")))
        .unwrap();
    if let Some(v) = py(
        &srv.url,
        &format!(
            "import mlflow, json\n\
             mlflow.set_experiment(experiment_id='{py_exp}')\n\
             @mlflow.trace(span_type='TOOL')\n\
             def double(x):\n\
             \x20   return x * 2\n\
             double(21)\n\
             mlflow.flush_trace_async_logging()\n\
             print(json.dumps({{'id': mlflow.get_last_active_trace_id()}}))"
        ),
    ) {
        let id = v["id"].as_str().unwrap().to_string();
        let info = runtime.block_on(c.get_trace_info(&id)).unwrap();
        assert_eq!(info.state, "OK");
        assert_eq!(
            info.tags.get("mlflow.traceName").map(String::as_str),
            Some("double")
        );
        assert_eq!(info.experiment_id(), Some(py_exp.as_str()));
        let trace = runtime.block_on(c.get_trace(&id)).unwrap();
        let spans = trace["spans"].as_array().expect("spans");
        assert_eq!(spans.len(), 1, "{trace}");
        assert_eq!(spans[0]["name"], "double");
    }
}
