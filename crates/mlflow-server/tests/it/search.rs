//! runs/search: every filter operator per entity, OR/parentheses, order_by, paging, views.

use crate::common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Four runs with distinct metrics, params, tags, attributes and datasets:
///
/// | name | user | status   | start | m    | loss | p.lr  | p.opt | t.team | dataset (context) |
/// |------|------|----------|-------|------|------|-------|-------|--------|-------------------|
/// | a    | ann  | FINISHED | 1000  | 1.0  | 0.5  | 0.1   | adam  | red    | train-ds (train)  |
/// | b    | bob  | RUNNING  | 2000  | 2.0  | -    | 0.01  | sgd   | blue   | eval-ds (eval)    |
/// | c    | ann  | FAILED   | 3000  | 3.0  | NaN  | 0.001 | -     | Red    | -                 |
/// | d    | cy   | FINISHED | 4000  | -    | 0.1  | -     | adam  | -      | train-ds (train)  |
struct Fixture {
    exp: String,
    ids: BTreeMap<&'static str, String>,
}

async fn fixture(s: &TestServer) -> Fixture {
    let exp = s.create_experiment("search").await;
    let mut ids = BTreeMap::new();
    type Row = (
        &'static str,
        &'static str,
        &'static str,
        i64,
        Option<f64>,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Option<(&'static str, &'static str)>,
    );
    let rows: [Row; 4] = [
        (
            "a",
            "ann",
            "FINISHED",
            1000,
            Some(1.0),
            Some("0.5"),
            Some("0.1"),
            Some("adam"),
            Some("red"),
            Some(("train-ds", "train")),
        ),
        (
            "b",
            "bob",
            "RUNNING",
            2000,
            Some(2.0),
            None,
            Some("0.01"),
            Some("sgd"),
            Some("blue"),
            Some(("eval-ds", "eval")),
        ),
        (
            "c",
            "ann",
            "FAILED",
            3000,
            Some(3.0),
            Some("NaN"),
            Some("0.001"),
            None,
            Some("Red"),
            None,
        ),
        (
            "d",
            "cy",
            "FINISHED",
            4000,
            None,
            Some("0.1"),
            None,
            Some("adam"),
            None,
            Some(("train-ds", "train")),
        ),
    ];
    for (name, user, status, start, m, loss, lr, opt, team, ds) in rows {
        let id = s
            .create_run_with(
                json!({"experiment_id": exp, "run_name": name, "user_id": user,
                                    "start_time": start}),
            )
            .await;
        let mut metrics = Vec::new();
        if let Some(m) = m {
            metrics.push(json!({"key": "m", "value": m, "timestamp": start, "step": 0}));
        }
        if let Some(l) = loss {
            let v: Value = if l == "NaN" {
                json!("NaN")
            } else {
                json!(l.parse::<f64>().unwrap())
            };
            metrics.push(json!({"key": "loss", "value": v, "timestamp": start, "step": 0}));
        }
        let mut params = Vec::new();
        if let Some(lr) = lr {
            params.push(json!({"key": "lr", "value": lr}));
        }
        if let Some(o) = opt {
            params.push(json!({"key": "opt", "value": o}));
        }
        let mut tags = Vec::new();
        if let Some(t) = team {
            tags.push(json!({"key": "team", "value": t}));
        }
        s.post_ok(
            "runs/log-batch",
            json!({"run_id": id, "metrics": metrics, "params": params, "tags": tags}),
        )
        .await;
        if let Some((dname, ctx)) = ds {
            s.post_ok(
                "runs/log-inputs",
                json!({"run_id": id, "datasets": [{
                    "tags": [{"key": "mlflow.data.context", "value": ctx}],
                    "dataset": {"name": dname, "digest": format!("{dname}-digest"),
                                "source_type": "local", "source": "{}"}}]}),
            )
            .await;
        }
        s.post_ok(
            "runs/update",
            json!({"run_id": id, "status": status, "end_time": start + 500}),
        )
        .await;
        ids.insert(name, id);
    }
    Fixture { exp, ids }
}

impl Fixture {
    fn name_of(&self, id: &str) -> &'static str {
        self.ids
            .iter()
            .find(|(_, v)| v.as_str() == id)
            .map(|(k, _)| *k)
            .unwrap_or("?")
    }
}

async fn search_names(s: &TestServer, f: &Fixture, body: Value) -> Vec<&'static str> {
    let mut body = body;
    body["experiment_ids"] = json!([f.exp]);
    let r = s.post_ok("runs/search", body).await;
    run_names(f, &r)
}

fn run_names(f: &Fixture, r: &Value) -> Vec<&'static str> {
    r["runs"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|run| f.name_of(run["info"]["run_id"].as_str().unwrap()))
                .collect()
        })
        .unwrap_or_default()
}

async fn check_filters(s: &TestServer, f: &Fixture, cases: &[(&str, &[&str])]) {
    for (filter, expected) in cases {
        let mut got = search_names(s, f, json!({ "filter": filter })).await;
        got.sort();
        assert_eq!(&got, expected, "filter: {filter}");
    }
}

async fn filter_metrics(s: TestServer) {
    let f = fixture(&s).await;
    check_filters(
        &s,
        &f,
        &[
            ("metrics.m > 1", &["b", "c"]),
            ("metrics.m >= 2", &["b", "c"]),
            ("metrics.m = 2", &["b"]),
            ("metrics.m != 2", &["a", "c"]),
            ("metrics.m < 2", &["a"]),
            ("metrics.m <= 2.0", &["a", "b"]),
            ("metric.m > 0", &["a", "b", "c"]),
            ("metrics.loss < 1", &["a", "d"]),
            // NaN never satisfies a numeric test, except `!=`.
            ("metrics.loss != 0.5", &["c", "d"]),
            ("metrics.loss >= 0", &["a", "d"]),
            ("metrics.m > 1 AND metrics.m < 3", &["b"]),
            ("metrics.`m` = 3", &["c"]),
            ("metrics.nope > 0", &[]),
        ],
    )
    .await;
    let r = s
        .post(
            "runs/search",
            json!({"experiment_ids": [f.exp], "filter": "metrics.m > 'x'"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::BAD_REQUEST, "{}", r.1);
    assert_eq!(r.1["error_code"], "INVALID_PARAMETER_VALUE");
}

async fn filter_params_and_tags(s: TestServer) {
    let f = fixture(&s).await;
    check_filters(
        &s,
        &f,
        &[
            ("params.lr = '0.01'", &["b"]),
            ("params.lr != '0.01'", &["a", "c"]),
            ("params.opt LIKE 'ad%'", &["a", "d"]),
            ("params.opt LIKE 'AD%'", &[]),
            ("params.opt ILIKE 'AD%'", &["a", "d"]),
            ("param.lr = \"0.1\"", &["a"]),
            ("parameters.`lr` LIKE '0.0%'", &["b", "c"]),
            ("params.opt IS NULL", &["c"]),
            ("params.opt IS NOT NULL", &["a", "b", "d"]),
            ("tags.team = 'red'", &["a"]),
            ("tags.team != 'red'", &["b", "c"]),
            ("tags.team LIKE 'R%'", &["c"]),
            ("tags.team ILIKE 'r%'", &["a", "c"]),
            ("tag.team = 'blue'", &["b"]),
            ("tags.team IS NULL", &["d"]),
            ("tags.team IS NOT NULL", &["a", "b", "c"]),
            ("tags.`mlflow.runName` = 'c'", &["c"]),
            ("params.opt = 'adam' AND tags.team = 'red'", &["a"]),
        ],
    )
    .await;
}

async fn filter_attributes(s: TestServer) {
    let f = fixture(&s).await;
    let a = f.ids["a"].clone();
    let b = f.ids["b"].clone();
    let in_filter = format!("attributes.run_id IN ('{a}', '{b}')");
    let not_in = format!("attribute.run_id NOT IN ('{a}', '{b}')");
    let eq = format!("run_id = '{a}'");
    check_filters(
        &s,
        &f,
        &[
            ("attributes.status = 'FINISHED'", &["a", "d"]),
            ("attributes.status != 'FINISHED'", &["b", "c"]),
            ("status LIKE 'F%'", &["a", "c", "d"]),
            ("attributes.run_name = 'b'", &["b"]),
            ("run_name ILIKE 'C'", &["c"]),
            ("attributes.user_id = 'ann'", &["a", "c"]),
            ("attributes.start_time > 2000", &["c", "d"]),
            ("attributes.start_time <= 2000", &["a", "b"]),
            ("attributes.end_time = 1500", &["a"]),
            ("attributes.created >= 3000", &["c", "d"]),
            (
                "attributes.artifact_uri LIKE '%artifacts'",
                &["a", "b", "c", "d"],
            ),
            (&in_filter, &["a", "b"]),
            (&not_in, &["c", "d"]),
            (&eq, &["a"]),
            ("run.user_id = 'cy'", &["d"]),
        ],
    )
    .await;
    let r = s
        .post(
            "runs/search",
            json!({"experiment_ids": [f.exp], "filter": "attributes.nope = 'x'"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::BAD_REQUEST, "{}", r.1);
}

async fn filter_datasets(s: TestServer) {
    let f = fixture(&s).await;
    check_filters(
        &s,
        &f,
        &[
            ("datasets.name = 'train-ds'", &["a", "d"]),
            ("dataset.name != 'train-ds'", &["b"]),
            ("datasets.name LIKE 'eval%'", &["b"]),
            ("datasets.name ILIKE 'EVAL%'", &["b"]),
            ("datasets.digest IN ('eval-ds-digest', 'nope')", &["b"]),
            ("datasets.digest NOT IN ('eval-ds-digest')", &["a", "d"]),
            ("datasets.context = 'train'", &["a", "d"]),
            ("datasets.context = 'eval'", &["b"]),
            (
                "datasets.name = 'train-ds' AND datasets.context = 'train'",
                &["a", "d"],
            ),
        ],
    )
    .await;
}

async fn filter_or_and_parentheses(s: TestServer) {
    let f = fixture(&s).await;
    check_filters(
        &s,
        &f,
        &[
            ("metrics.m = 1 OR metrics.m = 3", &["a", "c"]),
            ("params.opt = 'sgd' OR tags.team = 'Red'", &["b", "c"]),
            // AND binds tighter than OR.
            (
                "metrics.m = 1 OR metrics.m > 1 AND params.opt = 'sgd'",
                &["a", "b"],
            ),
            (
                "(metrics.m = 1 OR metrics.m > 1) AND params.opt = 'sgd'",
                &["b"],
            ),
            (
                "(attributes.user_id = 'ann' AND metrics.m > 2) OR (tags.team IS NULL)",
                &["c", "d"],
            ),
            ("((params.opt = 'adam'))", &["a", "d"]),
            (
                "datasets.name = 'eval-ds' OR metrics.loss < 0.2",
                &["b", "d"],
            ),
        ],
    )
    .await;
    let r = s
        .post(
            "runs/search",
            json!({"experiment_ids": [f.exp], "filter": "(metrics.m = 1"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::BAD_REQUEST, "{}", r.1);
}

async fn order_by(s: TestServer) {
    let f = fixture(&s).await;
    let cases: &[(&[&str], &[&str])] = &[
        // Default: start_time DESC.
        (&[], &["d", "c", "b", "a"]),
        (&["metrics.m DESC"], &["c", "b", "a", "d"]),
        // Missing values sort last whatever the direction.
        (&["metrics.m ASC"], &["a", "b", "c", "d"]),
        (&["metrics.m"], &["a", "b", "c", "d"]),
        // NaN sorts after numbers and before missing, both ways.
        (&["metrics.loss ASC"], &["d", "a", "c", "b"]),
        (&["metrics.loss DESC"], &["a", "d", "c", "b"]),
        (&["params.lr ASC"], &["c", "b", "a", "d"]),
        (&["params.lr DESC"], &["a", "b", "c", "d"]),
        (
            &["params.opt ASC", "attributes.start_time DESC"],
            &["d", "a", "b", "c"],
        ),
        (&["attributes.start_time ASC"], &["a", "b", "c", "d"]),
        (&["attributes.run_name DESC"], &["d", "c", "b", "a"]),
        (&["status ASC", "start_time ASC"], &["c", "a", "d", "b"]),
        (
            &["attributes.user_id ASC", "start_time DESC"],
            &["c", "a", "b", "d"],
        ),
    ];
    for (order, expected) in cases {
        let got = search_names(&s, &f, json!({ "order_by": order })).await;
        assert_eq!(&got, expected, "order_by {order:?}");
    }
    // Tags: where "Red" sorts depends on the collation, but a missing tag is always last.
    for dir in ["ASC", "DESC"] {
        let got = search_names(&s, &f, json!({ "order_by": [format!("tags.team {dir}")] })).await;
        assert_eq!(got.len(), 4);
        assert_eq!(got[3], "d", "tags.team {dir}: {got:?}");
    }
    let r = s
        .post(
            "runs/search",
            json!({"experiment_ids": [f.exp], "order_by": ["metrics.m SIDEWAYS"]}),
        )
        .await;
    assert_eq!(r.0, StatusCode::BAD_REQUEST, "{}", r.1);
}

async fn paging_and_limits(s: TestServer) {
    let f = fixture(&s).await;
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut body = json!({"experiment_ids": [f.exp], "max_results": 1,
                              "order_by": ["start_time ASC"]});
        if let Some(t) = &token {
            body["page_token"] = json!(t);
        }
        let r = s.post_ok("runs/search", body).await;
        pages += 1;
        if pages == 1 {
            assert_eq!(r["next_page_token"], "eyJvZmZzZXQiOiAxfQ==");
        }
        seen.extend(run_names(&f, &r));
        match r.get("next_page_token").and_then(Value::as_str) {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(seen, ["a", "b", "c", "d"]);
    assert!(pages == 4 || pages == 5, "{pages}");

    // A page with results carries full runs.
    let r = s
        .post_ok(
            "runs/search",
            json!({"experiment_ids": [f.exp], "filter": "attributes.run_name = 'a'"}),
        )
        .await;
    let run = &r["runs"][0];
    assert_eq!(run["info"]["status"], "FINISHED");
    assert_eq!(run["info"]["end_time"], 1500);
    assert_eq!(
        kv_get(&run["data"]["metrics"], "m").and_then(Value::as_f64),
        Some(1.0)
    );
    assert_eq!(kv_get(&run["data"]["params"], "lr"), Some(&json!("0.1")));
    assert_eq!(kv_get(&run["data"]["tags"], "team"), Some(&json!("red")));
    assert_eq!(
        run["inputs"]["dataset_inputs"][0]["dataset"]["name"],
        "train-ds"
    );
    assert_eq!(run, &s.get_run(&f.ids["a"]).await);

    // max_results bounds.
    let r = s
        .post(
            "runs/search",
            json!({"experiment_ids": [f.exp], "max_results": 50000}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK);
    assert_eq!(r.1["runs"].as_array().unwrap().len(), 4);
    let r = s
        .post(
            "runs/search",
            json!({"experiment_ids": [f.exp], "max_results": 50001}),
        )
        .await;
    assert_error_prefix(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value 50001 for parameter 'max_results' supplied",
    );
    let r = s
        .post(
            "runs/search",
            json!({"experiment_ids": [f.exp], "max_results": 0}),
        )
        .await;
    assert_eq!(r.0, StatusCode::BAD_REQUEST, "{}", r.1);
    let r = s
        .post(
            "runs/search",
            json!({"experiment_ids": [f.exp], "page_token": "%%%"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::BAD_REQUEST, "{}", r.1);
    assert_eq!(r.1["error_code"], "INVALID_PARAMETER_VALUE");

    // No experiments: nothing, not an error.
    let r = s.post_ok("runs/search", json!({})).await;
    assert_eq!(r, json!({}));
    // Several experiments.
    let other = s.create_experiment("other").await;
    s.create_run(&other).await;
    let r = s
        .post_ok("runs/search", json!({"experiment_ids": [f.exp, other]}))
        .await;
    assert_eq!(r["runs"].as_array().unwrap().len(), 5);
    let r = s
        .post("runs/search", json!({"experiment_ids": ["x"]}))
        .await;
    assert_eq!(r.0, StatusCode::BAD_REQUEST, "{}", r.1);
    let r = s
        .post(
            "runs/search",
            json!({"experiment_ids": [f.exp], "filter": "foo.bar = 1"}),
        )
        .await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid entity type 'foo'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']",
    );
}

async fn view_types(s: TestServer) {
    let f = fixture(&s).await;
    s.post_ok("runs/delete", json!({"run_id": f.ids["b"]}))
        .await;
    let cases: &[(Option<&str>, &[&str])] = &[
        (None, &["a", "c", "d"]),
        (Some("ACTIVE_ONLY"), &["a", "c", "d"]),
        (Some("DELETED_ONLY"), &["b"]),
        (Some("ALL"), &["a", "b", "c", "d"]),
    ];
    for (view, expected) in cases {
        let mut body = json!({});
        if let Some(v) = view {
            body["run_view_type"] = json!(v);
        }
        let mut got = search_names(&s, &f, body).await;
        got.sort();
        assert_eq!(&got, expected, "view {view:?}");
    }
    // camelCase spelling of the same request.
    let r = s
        .post_ok(
            "runs/search",
            json!({"experimentIds": [f.exp], "runViewType": "DELETED_ONLY", "maxResults": "10",
                   "orderBy": ["start_time DESC"]}),
        )
        .await;
    assert_eq!(run_names(&f, &r), ["b"]);
    let r = s
        .post(
            "runs/search",
            json!({"experiment_ids": [f.exp], "run_view_type": "NOPE"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::BAD_REQUEST, "{}", r.1);
}

backend_tests!(
    filter_metrics,
    filter_params_and_tags,
    filter_attributes,
    filter_datasets,
    filter_or_and_parentheses,
    order_by,
    paging_and_limits,
    view_types,
);
