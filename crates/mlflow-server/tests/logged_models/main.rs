//! HTTP integration tests of MLflow 3 logged models, model metrics, run outputs and the UI's
//! search-datasets. Same harness as `tests/it` (shared `common.rs`): SQLite always, PostgreSQL /
//! MySQL when `MLFLOW_RS_TEST_POSTGRES` / `MLFLOW_RS_TEST_MYSQL` are set, one fresh database per
//! test.

#[macro_use]
#[path = "../it/common.rs"]
#[allow(dead_code)]
mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const LM: &str = "logged-models";

/// A key/value list as the wire sends it.
fn kv(pairs: &[(&str, &str)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .map(|(k, v)| json!({ "key": k, "value": v }))
            .collect(),
    )
}

async fn create(s: &TestServer, body: Value) -> Value {
    s.post_ok(LM, body).await["model"].clone()
}

fn id_of(m: &Value) -> String {
    m["info"]["model_id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn send(s: &TestServer, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
    let r = s
        .request(
            method,
            &format!("/api/2.0/mlflow/{path}"),
            &[("Content-Type", "application/json")],
            Some(body.to_string().into_bytes()),
        )
        .await;
    (r.status, r.body)
}

async fn search(s: &TestServer, body: Value) -> (StatusCode, Value) {
    s.post("logged-models/search", body).await
}

async fn names(s: &TestServer, body: Value) -> Vec<String> {
    let (st, r) = search(s, body.clone()).await;
    assert_eq!(st, StatusCode::OK, "{body} -> {r}");
    r["models"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["info"]["name"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn create_get_finalize(s: TestServer) {
    let exp = s.create_experiment("lm").await;
    let m = create(
        &s,
        json!({"experiment_id": exp, "name": "m1", "model_type": "agent",
               "params": [{"key": "p", "value": "1"}], "tags": [{"key": "t", "value": "x"}]}),
    )
    .await;
    let id = id_of(&m);
    assert!(id.starts_with("m-") && id.len() == 34, "{id}");
    let info = &m["info"];
    assert_eq!(info["experiment_id"], exp);
    assert_eq!(info["name"], "m1");
    assert_eq!(info["status"], "LOGGED_MODEL_PENDING");
    assert_eq!(info["model_type"], "agent");
    assert_eq!(info["source_run_id"], "");
    assert_eq!(
        info["artifact_uri"],
        format!("mlflow-artifacts:/{exp}/models/{id}/artifacts")
    );
    assert_eq!(
        info["creation_timestamp_ms"],
        info["last_updated_timestamp_ms"]
    );
    assert_eq!(info["tags"], kv(&[("t", "x")]));
    assert_eq!(m["data"]["params"], kv(&[("p", "1")]));
    assert!(info.get("status_message").is_none());

    let got = s.get_ok(&format!("{LM}/{id}"), &[]).await["model"].clone();
    assert_eq!(got, m);
    // The /ajax-api mirror.
    let ajax = s
        .get_ok(&format!("/ajax-api/2.0/mlflow/{LM}/{id}"), &[])
        .await;
    assert_eq!(ajax["model"], m);

    // Unnamed: a random name; empty model_type/source_run_id come back as "".
    let anon = create(&s, json!({"experiment_id": exp})).await;
    let name = anon["info"]["name"].as_str().unwrap_or_default();
    assert_eq!(name.split('-').count(), 3, "{name}");
    assert_eq!(anon["info"]["model_type"], "");
    assert_eq!(anon["data"], json!({}));

    // Finalize: the body's model_id and status are required; names and numbers both work.
    let path = format!("{LM}/{id}");
    let r = send(
        &s,
        Method::PATCH,
        &path,
        json!({"status": "LOGGED_MODEL_READY"}),
    )
    .await;
    assert_error(&r, 400, "INVALID_PARAMETER_VALUE", &missing("model_id"));
    let r = send(&s, Method::PATCH, &path, json!({"model_id": id})).await;
    assert_error(&r, 400, "INVALID_PARAMETER_VALUE", &missing("status"));
    let (st, r) = send(
        &s,
        Method::PATCH,
        &path,
        json!({"model_id": id, "status": "LOGGED_MODEL_READY"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["model"]["info"]["status"], "LOGGED_MODEL_READY");
    assert!(
        r["model"]["info"]["last_updated_timestamp_ms"].as_i64()
            >= info["last_updated_timestamp_ms"].as_i64()
    );
    let (_, r) = send(
        &s,
        Method::PATCH,
        &path,
        json!({"model_id": id, "status": 3}),
    )
    .await;
    assert_eq!(r["model"]["info"]["status"], "LOGGED_MODEL_UPLOAD_FAILED");
    let (_, r) = send(
        &s,
        Method::PATCH,
        &path,
        json!({"model_id": id, "status": "BOGUS"}),
    )
    .await;
    assert_eq!(
        r["model"]["info"]["status"],
        "LOGGED_MODEL_STATUS_UNSPECIFIED"
    );
    let r = send(
        &s,
        Method::PATCH,
        &format!("{LM}/m-nope"),
        json!({"model_id": "m-nope", "status": 2}),
    )
    .await;
    assert_error(
        &r,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Logged model with ID 'm-nope' not found.",
    );
}

async fn create_errors(s: TestServer) {
    let exp = s.create_experiment("lm-err").await;
    let r = s.post(LM, json!({})).await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        &missing("experiment_id"),
    );
    let r = s.post(LM, json!({"experiment_id": "99"})).await;
    assert_error(
        &r,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "No Experiment with id=99 exists",
    );
    let r = s
        .post(LM, json!({"experiment_id": exp, "name": "a/b"}))
        .await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid model name ('a/b') provided. Model name must be a non-empty string and cannot \
         contain the following characters: ('/', ':', '.', '%', '\"', \"'\")",
    );
    let r = s
        .post(
            LM,
            json!({"experiment_id": exp, "params": [{"key": "p", "value": "1"}, {"key": "p", "value": "2"}]}),
        )
        .await;
    assert_error_prefix(&r, 400, "BAD_REQUEST", "UNIQUE constraint failed");
    let r = s.get(&format!("{LM}/m-nope"), &[]).await;
    assert_error(
        &r,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Logged model with ID 'm-nope' not found.",
    );
    // A deleted experiment takes no new models.
    s.post_ok("experiments/delete", json!({"experiment_id": exp}))
        .await;
    let r = s.post(LM, json!({"experiment_id": exp})).await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        &format!("The experiment {exp} must be in the 'active' state. Current state is deleted."),
    );
}

async fn tags_params_delete(s: TestServer) {
    let exp = s.create_experiment("lm-tags").await;
    let m = create(&s, json!({"experiment_id": exp, "name": "m"})).await;
    let id = id_of(&m);
    let (st, r) = send(
        &s,
        Method::PATCH,
        &format!("{LM}/{id}/tags"),
        json!({"tags": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}, {"key": "b"}]}),
    )
    .await;
    assert_eq!((st, r), (StatusCode::OK, json!({})));
    let got = s.get_ok(&format!("{LM}/{id}"), &[]).await;
    assert_eq!(got["model"]["info"]["tags"], kv(&[("a", "2"), ("b", "")]));
    let r = send(
        &s,
        Method::PATCH,
        &format!("{LM}/m-nope/tags"),
        json!({"tags": [{"key": "a", "value": "1"}]}),
    )
    .await;
    assert_error_prefix(&r, 404, "RESOURCE_DOES_NOT_EXIST", "Logged model with ID");

    let (st, _) = send(&s, Method::DELETE, &format!("{LM}/{id}/tags/a"), json!({})).await;
    assert_eq!(st, StatusCode::OK);
    let r = send(&s, Method::DELETE, &format!("{LM}/{id}/tags/a"), json!({})).await;
    assert_error(
        &r,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("No tag with key 'a' found for model with ID '{id}'."),
    );

    // Params: the body must name a model_id; the path's model gets the params.
    let r = s
        .post(
            &format!("{LM}/{id}/params"),
            json!({"params": [{"key": "q", "value": "1"}]}),
        )
        .await;
    assert_error(&r, 400, "INVALID_PARAMETER_VALUE", &missing("model_id"));
    s.post_ok(
        &format!("{LM}/{id}/params"),
        json!({"model_id": "x", "params": [{"key": "q", "value": "1"}]}),
    )
    .await;
    let r = s
        .post(
            &format!("{LM}/{id}/params"),
            json!({"model_id": id, "params": [{"key": "q", "value": "2"}]}),
        )
        .await;
    assert_error_prefix(&r, 400, "BAD_REQUEST", "UNIQUE constraint failed");
    let got = s.get_ok(&format!("{LM}/{id}"), &[]).await;
    assert_eq!(got["model"]["data"]["params"], kv(&[("q", "1")]));

    // Soft delete: hidden from get and search unless allow_deleted; still deletable twice.
    let (st, _) = send(&s, Method::DELETE, &format!("{LM}/{id}"), json!({})).await;
    assert_eq!(st, StatusCode::OK);
    let r = s.get(&format!("{LM}/{id}"), &[]).await;
    assert_error_prefix(&r, 404, "RESOURCE_DOES_NOT_EXIST", "Logged model with ID");
    let got = s
        .get_ok(&format!("{LM}/{id}"), &[("allow_deleted", "true")])
        .await;
    assert_eq!(got["model"]["info"]["model_id"], id);
    let (st, _) = send(&s, Method::DELETE, &format!("{LM}/{id}"), json!({})).await;
    assert_eq!(st, StatusCode::OK);
    assert!(names(&s, json!({"experiment_ids": [exp]})).await.is_empty());
}

async fn model_metrics_inputs_outputs(s: TestServer) {
    let exp = s.create_experiment("lm-metrics").await;
    let m = create(&s, json!({"experiment_id": exp, "name": "m"})).await;
    let id = id_of(&m);
    let run = s.create_run(&exp).await;
    s.post_ok(
        "runs/log-metric",
        json!({"run_id": run, "key": "acc", "value": 0.5, "timestamp": 10, "step": 1,
               "model_id": id, "dataset_name": "ds", "dataset_digest": "dg"}),
    )
    .await;
    // Re-logging the same point is a no-op on both tables.
    for _ in 0..2 {
        s.post_ok(
            "runs/log-metric",
            json!({"run_id": run, "key": "acc", "value": 0.7, "timestamp": 20, "step": 2, "model_id": id}),
        )
        .await;
    }
    s.post_ok(
        "runs/log-batch",
        json!({"run_id": run, "metrics": [
            {"key": "loss", "value": 1.5, "timestamp": 30, "step": 0, "model_id": id},
            {"key": "loss", "value": 1.5, "timestamp": 30, "step": 0, "model_id": id},
            {"key": "nan", "value": "NaN", "timestamp": 30, "step": 0, "model_id": id},
            {"key": "plain", "value": 1, "timestamp": 30, "step": 0}]}),
    )
    .await;
    // An unknown model fails the whole write (nothing of it is stored).
    let r = s
        .post(
            "runs/log-batch",
            json!({"run_id": run, "metrics": [
                {"key": "other", "value": 1, "timestamp": 40, "step": 0},
                {"key": "acc", "value": 1, "timestamp": 40, "step": 0, "model_id": "m-nope"}]}),
        )
        .await;
    assert_error_prefix(&r, 400, "BAD_REQUEST", "FOREIGN KEY constraint failed");

    let got = s.get_ok(&format!("{LM}/{id}"), &[]).await["model"].clone();
    let metrics = got["data"]["metrics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut seen: Vec<(String, f64, i64)> = metrics
        .iter()
        .map(|x| {
            assert_eq!(x["model_id"], id);
            assert_eq!(x["run_id"], run);
            (
                x["key"].as_str().unwrap_or_default().to_string(),
                x["value"].as_f64().unwrap_or(-1.0),
                x["step"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    seen.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    assert_eq!(
        seen,
        vec![
            ("acc".into(), 0.5, 1),
            ("acc".into(), 0.7, 2),
            ("loss".into(), 1.5, 0),
            // NaN is stored as 0 on the model, as official.
            ("nan".into(), 0.0, 0),
        ]
    );
    let with_ds = metrics
        .iter()
        .find(|x| x["step"] == 1)
        .cloned()
        .unwrap_or_default();
    assert_eq!(with_ds["dataset_name"], "ds");
    assert_eq!(with_ds["dataset_digest"], "dg");

    // Outputs and model inputs.
    let r = s.post("runs/outputs", json!({"run_id": run})).await;
    assert_error(&r, 400, "INVALID_PARAMETER_VALUE", &missing("models"));
    s.post_ok("runs/outputs", json!({"run_id": run, "models": []}))
        .await;
    s.post_ok(
        "runs/outputs",
        json!({"run_id": run, "models": [{"model_id": id, "step": 3}]}),
    )
    .await;
    let r = s
        .post(
            "runs/outputs",
            json!({"run_id": run, "models": [{"model_id": id, "step": 3}]}),
        )
        .await;
    assert_error_prefix(&r, 400, "BAD_REQUEST", "UNIQUE constraint failed");
    let r = s
        .post("runs/outputs", json!({"run_id": "nope", "models": []}))
        .await;
    assert_error(
        &r,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Run with id=nope not found",
    );
    s.post_ok(
        "runs/log-inputs",
        json!({"run_id": run, "models": [{"model_id": id}]}),
    )
    .await;
    let got = s.get_run(&run).await;
    assert_eq!(
        got["outputs"],
        json!({"model_outputs": [{"model_id": id, "step": 3}]})
    );
    assert_eq!(got["inputs"], json!({"model_inputs": [{"model_id": id}]}));
    let metric_keys: Vec<&str> = got["data"]["metrics"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["key"].as_str()).collect())
        .unwrap_or_default();
    assert!(!metric_keys.contains(&"other"), "{metric_keys:?}");
    let found = s
        .post_ok("runs/search", json!({"experiment_ids": [exp]}))
        .await;
    assert_eq!(found["runs"][0]["outputs"], got["outputs"]);
    // runs/search does not carry model inputs (official).
    assert!(found["runs"][0]["inputs"].get("model_inputs").is_none());
}

/// Three models with metrics/params/tags plus one bare model, created in this order.
async fn populate(s: &TestServer) -> (String, Vec<String>) {
    let exp = s.create_experiment("lm-search").await;
    let run = s.create_run(&exp).await;
    let mut ids = Vec::new();
    for (name, acc, lr, kind) in [
        ("alpha", 0.9, "0.1", "x"),
        ("beta", 0.5, "0.01", "y"),
        ("gamma", 0.7, "0.1", "x"),
    ] {
        let m = create(
            s,
            json!({"experiment_id": exp, "name": name, "model_type": "clf",
                   "params": [{"key": "lr", "value": lr}], "tags": [{"key": "kind", "value": kind}]}),
        )
        .await;
        let id = id_of(&m);
        s.post_ok(
            "runs/log-metric",
            json!({"run_id": run, "key": "acc", "value": acc, "timestamp": 1, "step": 0, "model_id": id}),
        )
        .await;
        ids.push(id);
    }
    // gamma's acc on a dataset (newer), beta's without digest.
    s.post_ok(
        "runs/log-metric",
        json!({"run_id": run, "key": "acc", "value": 0.1, "timestamp": 5, "step": 0,
               "model_id": ids[2], "dataset_name": "ds", "dataset_digest": "dg"}),
    )
    .await;
    s.post_ok(
        "runs/log-metric",
        json!({"run_id": run, "key": "acc", "value": 0.95, "timestamp": 5, "step": 0,
               "model_id": ids[1], "dataset_name": "ds"}),
    )
    .await;
    ids.push(id_of(
        &create(s, json!({"experiment_id": exp, "name": "nometric"})).await,
    ));
    (exp, ids)
}

async fn search_filters(s: TestServer) {
    let (exp, ids) = populate(&s).await;
    let f = |filter: &str| json!({"experiment_ids": [exp], "filter": filter});
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("", vec!["alpha", "beta", "gamma", "nometric"]),
        // Any logged value matches (beta logged 0.95 on a dataset).
        ("metrics.acc > 0.8", vec!["alpha", "beta"]),
        (
            "metrics.acc >= 0.5 AND params.lr = '0.1'",
            vec!["alpha", "gamma"],
        ),
        ("params.lr != '0.1'", vec!["beta"]),
        ("tags.kind LIKE 'y%'", vec!["beta"]),
        ("tags.kind ILIKE 'X'", vec!["alpha", "gamma"]),
        ("name = 'alpha'", vec!["alpha"]),
        ("attributes.name = 'alpha'", vec!["alpha"]),
        ("name = alpha", vec!["alpha"]),
        // Double quotes stay part of the value (`strip("'")`).
        ("name = \"alpha\"", vec![]),
        ("name LIKE 'A%'", vec![]),
        ("name ILIKE 'A%'", vec!["alpha"]),
        ("name IN ('alpha', 'beta')", vec!["alpha", "beta"]),
        ("name NOT IN ('alpha', 'beta')", vec!["gamma", "nometric"]),
        ("model_type = 'clf'", vec!["alpha", "beta", "gamma"]),
        (
            "creation_timestamp > 0 AND creation_time > 0",
            vec!["alpha", "beta", "gamma", "nometric"],
        ),
        (
            "last_updated_timestamp > 0",
            vec!["alpha", "beta", "gamma", "nometric"],
        ),
        ("status = 1", vec!["alpha", "beta", "gamma", "nometric"]),
        ("status = 'LOGGED_MODEL_READY'", vec![]),
        ("status != 1", vec![]),
    ];
    for (filter, want) in cases {
        let got = sorted(names(&s, f(filter)).await);
        assert_eq!(got, want, "filter {filter:?}");
    }
    let by_id = names(&s, f(&format!("model_id = '{}'", ids[1]))).await;
    assert_eq!(by_id, vec!["beta"]);

    // datasets: a name without a digest only matches metrics without a digest (official).
    let ds =
        |filter: &str, d: Value| json!({"experiment_ids": [exp], "filter": filter, "datasets": d});
    assert_eq!(
        names(
            &s,
            ds("", json!([{"dataset_name": "ds", "dataset_digest": "dg"}]))
        )
        .await,
        vec!["gamma"]
    );
    assert_eq!(
        names(&s, ds("", json!([{"dataset_name": "ds"}]))).await,
        vec!["beta"]
    );
    assert_eq!(
        names(
            &s,
            ds(
                "metrics.acc < 0.5",
                json!([{"dataset_name": "ds", "dataset_digest": "dg"}])
            )
        )
        .await,
        vec!["gamma"]
    );
    assert!(
        names(
            &s,
            ds(
                "metrics.acc > 0.5",
                json!([{"dataset_name": "ds", "dataset_digest": "dg"}])
            )
        )
        .await
        .is_empty()
    );
    let r = search(&s, ds("", json!([{"dataset_digest": "dg"}]))).await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "`dataset_name` in the `datasets` clause must be specified.",
    );
}

async fn search_errors(s: TestServer) {
    let exp = s.create_experiment("lm-search-err").await;
    let r = search(&s, json!({})).await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        &missing("experiment_ids"),
    );
    let r = search(&s, json!({"experiment_ids": ["x"]})).await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid experiment ID 'x'. Experiment ID must be a valid integer.",
    );
    let cases = [
        (
            "name = 'a' OR name = 'b'",
            "Invalid filter string: \"name = 'a' OR name = 'b'\". Expected a list of comparisons \
             separated by 'AND' (e.g. 'metrics.loss > 0.1 AND params.lr = 0.01').",
        ),
        (
            "name",
            "Invalid filter string: 'name'. Expected a list of comparisons separated by 'AND' \
             (e.g. 'metrics.loss > 0.1 AND params.lr = 0.01').",
        ),
        (
            "metric.acc > 1",
            "Invalid entity type: 'metric'. Expected one of ['attributes', 'metrics', 'params', 'tags'].",
        ),
        (
            "metrics.acc LIKE 1",
            "Invalid comparison operator for metrics.acc: 'LIKE'. Expected one of ('<', '<=', '>', '>=', '=', '!=').",
        ),
        (
            "name > 'a'",
            "Invalid comparison operator for attributes.name: '>'. Expected one of ('=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN').",
        ),
        (
            "last_updated_time > 0",
            "Invalid comparison operator for attributes.last_updated_time: '>'. Expected one of ('=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN').",
        ),
    ];
    for (filter, msg) in cases {
        let r = search(&s, json!({"experiment_ids": [exp], "filter": filter})).await;
        assert_error(&r, 400, "INVALID_PARAMETER_VALUE", msg);
    }
    let ob = |f: &str| json!({"experiment_ids": [exp], "order_by": [{"field_name": f}]});
    let r = search(&s, ob("params.p")).await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid order by field name: params.p. Only metrics are supported.",
    );
    let r = search(&s, ob("foo")).await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid order by field name: foo",
    );
}

async fn search_order_and_paging(s: TestServer) {
    let (exp, _) = populate(&s).await;
    let ob = |o: Value| json!({"experiment_ids": [exp], "order_by": o});
    // Default: newest first.
    assert_eq!(
        names(&s, json!({"experiment_ids": [exp]})).await,
        vec!["nometric", "gamma", "beta", "alpha"]
    );
    // Latest value per model (gamma 0.1 @ts5, beta 0.95 @ts5), NULLs last either way.
    assert_eq!(
        names(
            &s,
            ob(json!([{"field_name": "metrics.acc", "ascending": false}]))
        )
        .await,
        vec!["beta", "alpha", "gamma", "nometric"]
    );
    assert_eq!(
        names(&s, ob(json!([{"field_name": "metrics.acc"}]))).await,
        vec!["gamma", "alpha", "beta", "nometric"]
    );
    assert_eq!(
        names(
            &s,
            ob(
                json!([{"field_name": "metrics.acc", "dataset_name": "ds", "dataset_digest": "dg"}])
            )
        )
        .await,
        vec!["gamma", "nometric", "beta", "alpha"]
    );
    assert_eq!(
        names(&s, ob(json!([{"field_name": "name", "ascending": false}]))).await,
        vec!["nometric", "gamma", "beta", "alpha"]
    );
    assert_eq!(
        names(&s, ob(json!([{"field_name": "creation_time"}]))).await,
        vec!["alpha", "beta", "gamma", "nometric"]
    );

    // Paging: the token is base64 JSON bound to the search parameters.
    let body = json!({"experiment_ids": [exp], "max_results": 3, "filter": "name != 'zzz'",
                      "order_by": [{"field_name": "name"}]});
    let (_, p1) = search(&s, body.clone()).await;
    assert_eq!(p1["models"].as_array().map(Vec::len), Some(3));
    let token = p1["next_page_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut next = body.clone();
    next["page_token"] = json!(token);
    let (_, p2) = search(&s, next.clone()).await;
    assert_eq!(p2["models"][0]["info"]["name"], "nometric");
    assert!(p2.get("next_page_token").is_none());

    let mut changed = next.clone();
    changed["filter"] = json!("name != 'yyy'");
    let r = search(&s, changed).await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "Filter string in the page token does not match the requested filter string. \
         Expected: name != 'yyy'. Found: name != 'zzz'",
    );
    let mut changed = next.clone();
    changed["order_by"] = json!([{"field_name": "model_id"}]);
    let r = search(&s, changed).await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "Order by in the page token does not match the requested order by. Expected: \
         [{'field_name': 'model_id', 'ascending': True, 'dataset_name': None, 'dataset_digest': None}]. \
         Found: [{'field_name': 'name', 'ascending': True, 'dataset_name': None, 'dataset_digest': None}]",
    );
    let mut changed = next;
    changed["experiment_ids"] = json!([exp, "0"]);
    let r = search(&s, changed).await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        &format!(
            "Experiment IDs in the page token do not match the requested experiment IDs. \
             Expected: ['{exp}', '0']. Found: ['{exp}']"
        ),
    );
}

async fn search_datasets_and_artifacts(s: TestServer) {
    let exp = s.create_experiment("lm-ds").await;
    let run = s.create_run(&exp).await;
    s.post_ok(
        "runs/log-inputs",
        json!({"run_id": run, "datasets": [
            {"dataset": {"name": "ds", "digest": "dg", "source_type": "local", "source": "x"},
             "tags": [{"key": "mlflow.data.context", "value": "train"}]},
            {"dataset": {"name": "ds2", "digest": "d2", "source_type": "local", "source": "y"}}]}),
    )
    .await;
    let path = "/ajax-api/2.0/mlflow/experiments/search-datasets";
    let r = s.post_ok(path, json!({"experiment_ids": [exp]})).await;
    let mut got: Vec<Value> = r["dataset_summaries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    got.sort_by_key(|v| v["name"].as_str().unwrap_or_default().to_string());
    assert_eq!(
        got,
        vec![
            json!({"experiment_id": exp, "name": "ds", "digest": "dg", "context": "train"}),
            json!({"experiment_id": exp, "name": "ds2", "digest": "d2"}),
        ]
    );
    let r = s.post(path, json!({})).await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "SearchDatasets request must specify at least one experiment_id.",
    );
    let ids: Vec<String> = (0..21).map(|i| i.to_string()).collect();
    let r = s.post(path, json!({"experiment_ids": ids})).await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "SearchDatasets request cannot specify more than 20 experiment_ids. Received 21 experiment_ids.",
    );
    let (st, _) = s
        .post(
            "experiments/search-datasets",
            json!({"experiment_ids": [exp]}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "UI-only route");

    let r = s
        .get(&format!("{LM}/m-nope/artifacts/directories"), &[])
        .await;
    assert_error_prefix(&r, 404, "RESOURCE_DOES_NOT_EXIST", "Logged model with ID");
    let m = create(&s, json!({"experiment_id": exp})).await;
    let r = s
        .get(
            &format!("{LM}/{}/artifacts/directories", id_of(&m)),
            &[("artifact_directory_path", "../x")],
        )
        .await;
    assert_error(&r, 400, "INVALID_PARAMETER_VALUE", "Invalid path");
}

backend_tests!(
    create_get_finalize,
    create_errors,
    tags_params_delete,
    model_metrics_inputs_outputs,
    search_filters,
    search_errors,
    search_order_and_paging,
    search_datasets_and_artifacts,
);
