//! Concurrent writers: 16 log-batch writers and 16 create_run callers at once must all
//! succeed (no "database is locked" on SQLite) and everything must read back.

use crate::common::*;
use serde_json::{Value, json};

const WRITERS: usize = 16;
const CREATORS: usize = 16;
const BATCHES: usize = 5;
const METRICS_PER_BATCH: usize = 100;

async fn concurrent_log_batch_and_create_run(s: TestServer) {
    let exp = s.create_experiment("concurrency").await;
    let shared = s.create_run(&exp).await;
    let mut writer_runs = Vec::new();
    for _ in 0..WRITERS {
        writer_runs.push(s.create_run(&exp).await);
    }

    let mut tasks = Vec::new();
    for (w, run) in writer_runs.iter().enumerate() {
        let s = s.clone();
        let run = run.clone();
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            for b in 0..BATCHES {
                let metrics: Vec<Value> = (0..METRICS_PER_BATCH)
                    .map(|i| {
                        let step = (b * METRICS_PER_BATCH + i) as i64;
                        json!({"key": "loss", "value": step as f64 * 0.5, "timestamp": 1000 + step, "step": step})
                    })
                    .collect();
                let params: Vec<Value> = (0..10)
                    .map(|i| json!({"key": format!("p{b}_{i}"), "value": format!("{w}")}))
                    .collect();
                let tags: Vec<Value> = (0..10)
                    .map(|i| json!({"key": format!("t{i}"), "value": format!("{b}")}))
                    .collect();
                let (st, body) = s
                    .post(
                        "runs/log-batch",
                        json!({"run_id": run, "metrics": metrics, "params": params, "tags": tags}),
                    )
                    .await;
                assert_eq!(st, StatusCode::OK, "writer {w} batch {b}: {body}");
                // Everyone also writes into one shared run.
                let (st, body) = s
                    .post(
                        "runs/log-batch",
                        json!({"run_id": shared, "metrics": [
                            {"key": "shared", "value": w as f64, "timestamp": b as i64, "step": (w * BATCHES + b) as i64}
                        ], "tags": [{"key": format!("w{w}"), "value": format!("{b}")}]}),
                    )
                    .await;
                assert_eq!(st, StatusCode::OK, "writer {w} shared batch {b}: {body}");
            }
            None::<String>
        }));
    }
    for c in 0..CREATORS {
        let s = s.clone();
        let exp = exp.clone();
        tasks.push(tokio::spawn(async move {
            let (st, body) = s
                .post(
                    "runs/create",
                    json!({"experiment_id": exp, "run_name": format!("created-{c}"),
                           "tags": [{"key": "creator", "value": format!("{c}")}]}),
                )
                .await;
            assert_eq!(st, StatusCode::OK, "creator {c}: {body}");
            Some(body["run"]["info"]["run_id"].as_str().unwrap().to_string())
        }));
    }
    let mut created = Vec::new();
    for t in tasks {
        if let Some(id) = t.await.expect("task panicked") {
            created.push(id);
        }
    }
    assert_eq!(created.len(), CREATORS);

    // Everything reads back.
    for (w, run) in writer_runs.iter().enumerate() {
        let got = s.get_run(run).await;
        let params = got["data"]["params"].as_array().unwrap();
        assert_eq!(params.len(), BATCHES * 10, "writer {w}");
        assert!(params.iter().all(|p| p["value"] == format!("{w}")));
        assert_eq!(
            kv_get(&got["data"]["tags"], "t3"),
            Some(&json!(format!("{}", BATCHES - 1)))
        );
        let last = (BATCHES * METRICS_PER_BATCH - 1) as i64;
        assert_eq!(
            got["data"]["metrics"],
            json!([{"key": "loss", "value": last as f64 * 0.5, "timestamp": 1000 + last, "step": last}])
        );
        let h = s
            .get_ok(
                "metrics/get-history",
                &[("run_id", run), ("metric_key", "loss")],
            )
            .await;
        assert_eq!(
            h["metrics"].as_array().unwrap().len(),
            BATCHES * METRICS_PER_BATCH
        );
    }
    let h = s
        .get_ok(
            "metrics/get-history",
            &[("run_id", &shared), ("metric_key", "shared")],
        )
        .await;
    let mut shared_steps: Vec<i64> = h["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["step"].as_i64().unwrap())
        .collect();
    shared_steps.sort();
    assert_eq!(
        shared_steps,
        (0..(WRITERS * BATCHES) as i64).collect::<Vec<_>>()
    );
    let got = s.get_run(&shared).await;
    for w in 0..WRITERS {
        assert_eq!(
            kv_get(&got["data"]["tags"], &format!("w{w}")),
            Some(&json!(format!("{}", BATCHES - 1)))
        );
    }
    for (c, id) in created.iter().enumerate() {
        let run = s.get_run(id).await;
        assert_eq!(run["info"]["experiment_id"], exp);
        assert!(
            run["info"]["run_name"]
                .as_str()
                .unwrap()
                .starts_with("created-")
        );
        let _ = c;
    }
    let r = s
        .post_ok(
            "runs/search",
            json!({"experiment_ids": [exp], "max_results": 1000}),
        )
        .await;
    assert_eq!(r["runs"].as_array().unwrap().len(), 1 + WRITERS + CREATORS);
    let r = s
        .post_ok(
            "runs/search",
            json!({"experiment_ids": [exp], "filter": "attributes.run_name LIKE 'created-%'"}),
        )
        .await;
    let mut names: Vec<String> = r["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["info"]["run_name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    let mut want: Vec<String> = (0..CREATORS).map(|c| format!("created-{c}")).collect();
    want.sort();
    assert_eq!(names, want);
}

/// Concurrent batches where every other one fails (a changed param, or a deleted run): on
/// SQLite they share group commits, and a failing batch must roll back alone, with its own
/// error, while the others in the same transaction are kept.
async fn concurrent_batches_fail_alone(s: TestServer) {
    let exp = s.create_experiment("group-commit").await;
    let deleted = s.create_run(&exp).await;
    s.post_ok("runs/delete", json!({"run_id": deleted})).await;
    let mut runs = Vec::new();
    for _ in 0..8 {
        let run = s.create_run(&exp).await;
        s.post_ok(
            "runs/log-batch",
            json!({"run_id": run, "params": [{"key": "fixed", "value": "1"}]}),
        )
        .await;
        runs.push(run);
    }
    let mut tasks = Vec::new();
    for round in 0..6i64 {
        for (w, run) in runs.iter().enumerate() {
            let s = s.clone();
            let run = run.clone();
            let deleted = deleted.clone();
            tasks.push(tokio::spawn(async move {
                let metrics: Vec<Value> = (0..50)
                    .map(|i| json!({"key": format!("m{i}"), "value": round as f64, "timestamp": round, "step": round}))
                    .collect();
                let kind = (w + round as usize) % 3;
                let body = match kind {
                    // Good: new metrics and a tag.
                    0 => json!({"run_id": run, "metrics": metrics, "tags": [{"key": format!("ok{round}"), "value": "y"}]}),
                    // Bad: the param changes value; nothing of the batch may land.
                    1 => json!({"run_id": run, "metrics": metrics, "params": [{"key": "fixed", "value": "2"}],
                                "tags": [{"key": format!("bad{round}"), "value": "n"}]}),
                    // Bad: the run is deleted.
                    _ => json!({"run_id": deleted, "metrics": metrics}),
                };
                let (st, resp) = s.post("runs/log-batch", body).await;
                (run, round, kind, st, resp)
            }));
        }
    }
    let mut good = std::collections::HashMap::<String, Vec<i64>>::new();
    for t in tasks {
        let (run, round, kind, st, resp) = t.await.expect("task panicked");
        match kind {
            0 => {
                assert_eq!(st, StatusCode::OK, "{resp}");
                good.entry(run).or_default().push(round);
            }
            1 => {
                assert_eq!(st, StatusCode::BAD_REQUEST, "{resp}");
                assert_eq!(resp["error_code"], "INVALID_PARAMETER_VALUE", "{resp}");
            }
            _ => {
                assert_eq!(st, StatusCode::BAD_REQUEST, "{resp}");
                assert_eq!(resp["error_code"], "INVALID_PARAMETER_VALUE", "{resp}");
                assert!(
                    resp["message"]
                        .as_str()
                        .unwrap()
                        .contains("must be in the 'active' state"),
                    "{resp}"
                );
            }
        }
    }
    for run in &runs {
        let got = s.get_run(run).await;
        let rounds = good.get(run).cloned().unwrap_or_default();
        assert_eq!(
            kv_get(&got["data"]["params"], "fixed").and_then(Value::as_str),
            Some("1")
        );
        for round in 0..6i64 {
            let ok = rounds.contains(&round);
            assert_eq!(
                kv_get(&got["data"]["tags"], &format!("ok{round}")).is_some(),
                ok,
                "{got}"
            );
            assert!(
                kv_get(&got["data"]["tags"], &format!("bad{round}")).is_none(),
                "{got}"
            );
        }
        // Metric history holds exactly the good rounds' points.
        let (st, h) = s
            .get(
                "metrics/get-history",
                &[("run_id", run.as_str()), ("metric_key", "m7")],
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{h}");
        let mut steps: Vec<i64> = h["metrics"]
            .as_array()
            .map(|a| a.iter().map(|m| m["step"].as_i64().unwrap()).collect())
            .unwrap_or_default();
        steps.sort();
        let mut want = rounds.clone();
        want.sort();
        assert_eq!(steps, want, "{run}");
    }
}

backend_tests!(concurrent_log_batch_and_create_run);
backend_tests!(concurrent_batches_fail_alone);
