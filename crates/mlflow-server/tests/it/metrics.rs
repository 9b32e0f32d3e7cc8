//! Metrics: log-metric, NaN/Infinity, history (paged), bulk-interval sampling, get-history-bulk.

use crate::common::*;
use serde_json::{Value, json};

const F64_MAX: f64 = 1.797_693_134_862_315_7e308;

fn steps(r: &Value) -> Vec<i64> {
    r["metrics"]
        .as_array()
        .map(|a| a.iter().map(|m| m["step"].as_i64().unwrap()).collect())
        .unwrap_or_default()
}

async fn log_metric_and_history(s: TestServer) {
    let id = s.create_run("0").await;
    s.post_ok(
        "runs/log-metric",
        json!({"run_id": id, "key": "m", "value": 1.5, "timestamp": 1700000000001i64, "step": 3}),
    )
    .await;
    s.post_ok(
        "runs/log-metric",
        json!({"run_id": id, "key": "m", "value": -2.25, "timestamp": 1700000000002i64, "step": 1}),
    )
    .await;
    // No step means step 0.
    s.post_ok(
        "runs/log-metric",
        json!({"run_id": id, "key": "m", "value": 7, "timestamp": 1700000000000i64}),
    )
    .await;
    let h = s
        .get_ok(
            "metrics/get-history",
            &[("run_id", &id), ("metric_key", "m")],
        )
        .await;
    assert_eq!(
        h,
        json!({"metrics": [
            {"key": "m", "value": 7.0, "timestamp": 1700000000000i64, "step": 0},
            {"key": "m", "value": 1.5, "timestamp": 1700000000001i64, "step": 3},
            {"key": "m", "value": -2.25, "timestamp": 1700000000002i64, "step": 1},
        ]})
    );
    // The run shows the latest value: highest step wins over a later timestamp.
    let run = s.get_run(&id).await;
    assert_eq!(
        run["data"]["metrics"],
        json!([{"key": "m", "value": 1.5, "timestamp": 1700000000001i64, "step": 3}])
    );

    // Unknown key: an empty message.
    let h = s
        .get_ok(
            "metrics/get-history",
            &[("run_id", &id), ("metric_key", "none")],
        )
        .await;
    assert_eq!(h, json!({}));
    let r = s
        .get(
            "metrics/get-history",
            &[("run_id", "nope"), ("metric_key", "m")],
        )
        .await;
    assert_error(
        &r,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Run with id=nope not found",
    );
    let r = s.get("metrics/get-history", &[("run_id", &id)]).await;
    assert_error(&r, 400, "INVALID_PARAMETER_VALUE", &missing("metric_key"));

    // Missing value / timestamp / key.
    let r = s
        .post(
            "runs/log-metric",
            json!({"run_id": id, "key": "m2", "timestamp": 1}),
        )
        .await;
    assert_error(&r, 400, "INVALID_PARAMETER_VALUE", &missing("value"));
    let r = s
        .post(
            "runs/log-metric",
            json!({"run_id": id, "key": "m2", "value": 1}),
        )
        .await;
    assert_error(&r, 400, "INVALID_PARAMETER_VALUE", &missing("timestamp"));
    let r = s
        .post(
            "runs/log-metric",
            json!({"run_id": id, "value": 1, "timestamp": 1}),
        )
        .await;
    assert_error(&r, 400, "INVALID_PARAMETER_VALUE", &missing("key"));
    let r = s
        .post(
            "runs/log-metric",
            json!({"run_id": id, "key": "m".repeat(251), "value": 1, "timestamp": 1}),
        )
        .await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "'Metric name' exceeds the maximum length of 250 characters",
    );
    let r = s
        .post(
            "runs/log-metric",
            json!({"run_id": "nope", "key": "m", "value": 1, "timestamp": 1}),
        )
        .await;
    assert_error(
        &r,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Run with id=nope not found",
    );
}

async fn nan_and_infinity(s: TestServer) {
    let id = s.create_run("0").await;
    for (key, value) in [("nan", "NaN"), ("inf", "Infinity"), ("ninf", "-Infinity")] {
        s.post_ok(
            "runs/log-metric",
            json!({"run_id": id, "key": key, "value": value, "timestamp": 1700000000001i64}),
        )
        .await;
    }
    s.post_ok(
        "runs/log-batch",
        json!({"run_id": id, "metrics": [
            {"key": "bnan", "value": "NaN", "timestamp": 5, "step": 1},
            {"key": "binf", "value": "Infinity", "timestamp": 5, "step": 1},
            {"key": "huge", "value": F64_MAX, "timestamp": 5, "step": 1},
            {"key": "tiny", "value": 5e-324, "timestamp": 5, "step": 1},
        ]}),
    )
    .await;
    let hist = |key: &'static str| {
        let s = s.clone();
        let id = id.clone();
        async move {
            s.get_ok(
                "metrics/get-history",
                &[("run_id", &id), ("metric_key", key)],
            )
            .await["metrics"][0]["value"]
                .clone()
        }
    };
    assert_eq!(hist("nan").await, json!("NaN"));
    assert_eq!(hist("bnan").await, json!("NaN"));
    // The SQL store clamps infinities to ±f64::MAX, as the official one does.
    assert_eq!(hist("inf").await.as_f64(), Some(F64_MAX));
    assert_eq!(hist("binf").await.as_f64(), Some(F64_MAX));
    assert_eq!(hist("ninf").await.as_f64(), Some(-F64_MAX));
    assert_eq!(hist("huge").await.as_f64(), Some(F64_MAX));
    assert_eq!(hist("tiny").await.as_f64(), Some(5e-324));
    let run = s.get_run(&id).await;
    let m = &run["data"]["metrics"];
    assert_eq!(kv_get(m, "nan"), Some(&json!("NaN")));
    assert_eq!(kv_get(m, "inf").and_then(Value::as_f64), Some(F64_MAX));
    assert_eq!(kv_get(m, "ninf").and_then(Value::as_f64), Some(-F64_MAX));
}

async fn latest_metric_rules(s: TestServer) {
    let id = s.create_run("0").await;
    // Same step and timestamp: the larger value wins; NaN does not replace a number.
    s.post_ok(
        "runs/log-batch",
        json!({"run_id": id, "metrics": [
            {"key": "a", "value": 1, "timestamp": 10, "step": 2},
            {"key": "a", "value": 3, "timestamp": 10, "step": 2},
            {"key": "a", "value": 2, "timestamp": 10, "step": 2},
            {"key": "b", "value": 9, "timestamp": 99, "step": 1},
            {"key": "b", "value": 1, "timestamp": 1, "step": 2},
        ]}),
    )
    .await;
    s.post_ok(
        "runs/log-metric",
        json!({"run_id": id, "key": "a", "value": 100, "timestamp": 5, "step": 1}),
    )
    .await;
    let run = s.get_run(&id).await;
    let mut m = run["data"]["metrics"].as_array().unwrap().clone();
    m.sort_by_key(|x| x["key"].as_str().unwrap().to_string());
    assert_eq!(
        m,
        vec![
            json!({"key": "a", "value": 3.0, "timestamp": 10, "step": 2}),
            json!({"key": "b", "value": 1.0, "timestamp": 1, "step": 2}),
        ]
    );
    // Exact duplicates are stored once.
    let h = s
        .get_ok(
            "metrics/get-history",
            &[("run_id", &id), ("metric_key", "a")],
        )
        .await;
    assert_eq!(h["metrics"].as_array().unwrap().len(), 4);
    s.post_ok(
        "runs/log-metric",
        json!({"run_id": id, "key": "a", "value": 100, "timestamp": 5, "step": 1}),
    )
    .await;
    let h = s
        .get_ok(
            "metrics/get-history",
            &[("run_id", &id), ("metric_key", "a")],
        )
        .await;
    assert_eq!(h["metrics"].as_array().unwrap().len(), 4);
}

async fn history_paging(s: TestServer) {
    let id = s.create_run("0").await;
    let metrics: Vec<Value> = (0..25)
        .map(|i| json!({"key": "loss", "value": i, "timestamp": 100 + i, "step": i}))
        .collect();
    s.post_ok("runs/log-batch", json!({"run_id": id, "metrics": metrics}))
        .await;
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut q = vec![
            ("run_id", id.as_str()),
            ("metric_key", "loss"),
            ("max_results", "10"),
        ];
        if let Some(t) = &token {
            q.push(("page_token", t.as_str()));
        }
        let r = s.get_ok("metrics/get-history", &q).await;
        pages += 1;
        if pages == 1 {
            assert_eq!(r["next_page_token"], "eyJvZmZzZXQiOiAxMH0=");
        }
        all.extend(steps(&r));
        match r.get("next_page_token").and_then(Value::as_str) {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    assert_eq!(all, (0..25).collect::<Vec<_>>());
    let r = s
        .get(
            "metrics/get-history",
            &[
                ("run_id", &id),
                ("metric_key", "loss"),
                ("max_results", "0"),
            ],
        )
        .await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer.",
    );
}

async fn bulk_interval(s: TestServer) {
    let r1 = s.create_run("0").await;
    let r2 = s.create_run("0").await;
    let metrics: Vec<Value> = (0..100)
        .map(|i| json!({"key": "acc", "value": i as f64 / 100.0, "timestamp": 1000 + i, "step": i}))
        .collect();
    s.post_ok("runs/log-batch", json!({"run_id": r1, "metrics": metrics}))
        .await;
    let metrics: Vec<Value> = (0..5)
        .map(|i| json!({"key": "acc", "value": i, "timestamp": 2000 + i, "step": i * 10}))
        .collect();
    s.post_ok("runs/log-batch", json!({"run_id": r2, "metrics": metrics}))
        .await;

    // Everything when max_results covers it (default 2500), tagged with run ids.
    let r = s
        .get_ok(
            "metrics/get-history-bulk-interval",
            &[("run_ids", &r1), ("run_ids", &r2), ("metric_key", "acc")],
        )
        .await;
    let ms = r["metrics"].as_array().unwrap();
    assert_eq!(ms.len(), 105);
    assert!(ms[..100].iter().all(|m| m["run_id"] == r1.as_str()));
    assert!(ms[100..].iter().all(|m| m["run_id"] == r2.as_str()));
    assert_eq!(
        ms[100],
        json!({"key": "acc", "value": 0.0, "timestamp": 2000, "step": 0, "run_id": r2})
    );

    // Sampling: at most max_results points per run, first and last step included, ordered.
    let r = s
        .get_ok(
            "metrics/get-history-bulk-interval",
            &[
                ("run_ids", &r1),
                ("metric_key", "acc"),
                ("max_results", "10"),
            ],
        )
        .await;
    let st = steps(&r);
    assert!(st.len() <= 10 && st.len() >= 9, "{st:?}");
    assert_eq!(st.first(), Some(&0));
    assert_eq!(st.last(), Some(&99));
    assert!(st.windows(2).all(|w| w[0] < w[1]), "{st:?}");

    // A step window.
    let r = s
        .get_ok(
            "metrics/get-history-bulk-interval",
            &[
                ("run_ids", &r1),
                ("metric_key", "acc"),
                ("start_step", "10"),
                ("end_step", "19"),
            ],
        )
        .await;
    assert_eq!(steps(&r), (10..20).collect::<Vec<_>>());
    let r = s
        .get_ok(
            "metrics/get-history-bulk-interval",
            &[
                ("run_ids", &r2),
                ("metric_key", "acc"),
                ("start_step", "5"),
                ("end_step", "25"),
                ("max_results", "1"),
            ],
        )
        .await;
    let st = steps(&r);
    assert!(
        !st.is_empty() && st.iter().all(|s| (5..=25).contains(s)),
        "{st:?}"
    );

    // Unknown key: empty.
    let r = s
        .get_ok(
            "metrics/get-history-bulk-interval",
            &[("run_ids", &r1), ("metric_key", "nope")],
        )
        .await;
    assert_eq!(r, json!({}));

    // Errors.
    let base = [("run_ids", r1.as_str()), ("metric_key", "acc")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut q = base.to_vec();
        q.extend_from_slice(extra);
        q
    };
    let r = s
        .get(
            "metrics/get-history-bulk-interval",
            &with(&[("start_step", "20"), ("end_step", "10")]),
        )
        .await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "end_step must be greater than start_step. Found start_step=20 and end_step=10.",
    );
    let r = s
        .get(
            "metrics/get-history-bulk-interval",
            &with(&[("start_step", "20")]),
        )
        .await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "If either start step or end step are specified, both must be specified.",
    );
    for bad in ["0", "2501"] {
        let r = s
            .get(
                "metrics/get-history-bulk-interval",
                &with(&[("max_results", bad)]),
            )
            .await;
        assert_error_prefix(
            &r,
            400,
            "INVALID_PARAMETER_VALUE",
            "max_results must be between 1 and 2500.",
        );
    }
    let r = s
        .get(
            "metrics/get-history-bulk-interval",
            &[("metric_key", "acc")],
        )
        .await;
    assert_error(&r, 400, "INVALID_PARAMETER_VALUE", &missing("run_ids"));
    let r = s
        .get("metrics/get-history-bulk-interval", &[("run_ids", &r1)])
        .await;
    assert_error(&r, 400, "INVALID_PARAMETER_VALUE", &missing("metric_key"));
    let many: Vec<String> = (0..101).map(|i| format!("r{i}")).collect();
    let mut q: Vec<(&str, &str)> = many.iter().map(|r| ("run_ids", r.as_str())).collect();
    q.push(("metric_key", "acc"));
    let r = s.get("metrics/get-history-bulk-interval", &q).await;
    assert_error_prefix(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "GetMetricHistoryBulkInterval request must specify at most 100 run_ids. Received 101 run_ids.",
    );
    let r = s
        .get(
            "metrics/get-history-bulk-interval",
            &[("run_ids", "nope"), ("metric_key", "acc")],
        )
        .await;
    assert_error(
        &r,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Run with id=nope not found",
    );

    // The ajax mirror answers the same.
    let r = s
        .get_ok(
            "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
            &[("run_ids", &r2), ("metric_key", "acc")],
        )
        .await;
    assert_eq!(steps(&r), vec![0, 10, 20, 30, 40]);
}

async fn history_bulk_ajax(s: TestServer) {
    let r1 = s.create_run("0").await;
    let r2 = s.create_run("0").await;
    for (run, n) in [(&r1, 3), (&r2, 2)] {
        let metrics: Vec<Value> = (0..n)
            .map(|i| json!({"key": "x", "value": i, "timestamp": i, "step": i}))
            .collect();
        s.post_ok("runs/log-batch", json!({"run_id": run, "metrics": metrics}))
            .await;
    }
    let path = "/ajax-api/2.0/mlflow/metrics/get-history-bulk";
    let r = s
        .get_ok(
            path,
            &[("run_id", &r1), ("run_id", &r2), ("metric_key", "x")],
        )
        .await;
    let ms = r["metrics"].as_array().unwrap();
    assert_eq!(ms.len(), 5);
    let per_run: Vec<(String, i64)> = ms
        .iter()
        .map(|m| {
            (
                m["run_id"].as_str().unwrap().to_string(),
                m["step"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        per_run,
        vec![
            (r1.clone(), 0),
            (r1.clone(), 1),
            (r1.clone(), 2),
            (r2.clone(), 0),
            (r2.clone(), 1)
        ]
    );
    let r = s
        .get_ok(
            path,
            &[
                ("run_id", &r1),
                ("run_id", &r2),
                ("metric_key", "x"),
                ("max_results", "4"),
            ],
        )
        .await;
    assert_eq!(r["metrics"].as_array().unwrap().len(), 4);
    let r = s.get(path, &[("metric_key", "x")]).await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "GetMetricHistoryBulk request must specify at least one run_id.",
    );
    // Only the UI path exists; the public API has no get-history-bulk.
    let r = s
        .get_full(
            "/api/2.0/mlflow/metrics/get-history-bulk",
            &[("run_id", &r1), ("metric_key", "x")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

backend_tests!(
    log_metric_and_history,
    nan_and_infinity,
    latest_metric_rules,
    history_paging,
    bulk_interval,
    history_bulk_ajax,
);
