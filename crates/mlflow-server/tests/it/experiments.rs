//! Experiments: create/get/get-by-name/update/delete/restore, tags, and experiments/search.

use crate::common::*;
use serde_json::json;

async fn default_experiment_exists(s: TestServer) {
    let e = s.get_experiment("0").await;
    assert_eq!(e["experiment_id"], "0");
    assert_eq!(e["name"], "Default");
    assert_eq!(e["artifact_location"], "mlflow-artifacts:/0");
    assert_eq!(e["lifecycle_stage"], "active");
    assert_eq!(e["workspace"], "default");
    assert!(e["creation_time"].is_i64());
    assert!(e["last_update_time"].is_i64());
    assert!(e.get("tags").is_none(), "no tags means no key: {e}");
    let by_name = s
        .get_ok("experiments/get-by-name", &[("experiment_name", "Default")])
        .await;
    assert_eq!(by_name["experiment"], e);
}

async fn create_and_get(s: TestServer) {
    let before = mlflow_domain::now_ms();
    let r = s
        .post_ok(
            "experiments/create",
            json!({"name": "cap1", "tags": [{"key": "a", "value": "b"}, {"key": "c", "value": ""}]}),
        )
        .await;
    let id = r["experiment_id"]
        .as_str()
        .expect("id is a string")
        .to_string();
    assert_eq!(r.as_object().unwrap().len(), 1, "{r}");
    assert!(id.parse::<i64>().unwrap() > 0);
    let e = s.get_experiment(&id).await;
    assert_eq!(e["experiment_id"], id);
    assert_eq!(e["name"], "cap1");
    assert_eq!(e["artifact_location"], format!("mlflow-artifacts:/{id}"));
    assert_eq!(e["lifecycle_stage"], "active");
    assert_eq!(e["workspace"], "default");
    let ct = e["creation_time"].as_i64().unwrap();
    assert!(ct >= before - 5_000, "creation_time {ct} vs {before}");
    assert_eq!(e["last_update_time"], e["creation_time"]);
    assert_eq!(
        kv_pairs(&e["tags"]),
        vec![("a".into(), "b".into()), ("c".into(), "".into())]
    );

    let by_name = s
        .get_ok("experiments/get-by-name", &[("experiment_name", "cap1")])
        .await;
    assert_eq!(by_name["experiment"], e);

    // An explicit artifact location is kept as given.
    let (st, r) = s
        .post(
            "experiments/create",
            json!({"name": "custom-loc", "artifact_location": "s3://bucket/some/path"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let e = s.get_experiment(r["experiment_id"].as_str().unwrap()).await;
    assert_eq!(e["artifact_location"], "s3://bucket/some/path");
}

async fn create_errors(s: TestServer) {
    s.create_experiment("dup").await;
    let r = s.post("experiments/create", json!({"name": "dup"})).await;
    assert_error_prefix(
        &r,
        400,
        "RESOURCE_ALREADY_EXISTS",
        "Experiment(name=dup) already exists.",
    );
    let r = s.post("experiments/create", json!({})).await;
    assert_error(&r, 400, "INVALID_PARAMETER_VALUE", &missing("name"));
    let r = s.post("experiments/create", json!({"name": ""})).await;
    assert_error(&r, 400, "INVALID_PARAMETER_VALUE", &missing("name"));
    let r = s
        .post("experiments/create", json!({"name": "x".repeat(501)}))
        .await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "'name' exceeds the maximum length of 500 characters",
    );
    // A failed create leaves nothing behind.
    let r = s
        .get("experiments/get-by-name", &[("experiment_name", "x")])
        .await;
    assert_eq!(r.0, StatusCode::NOT_FOUND);
}

async fn get_errors(s: TestServer) {
    let r = s.get("experiments/get", &[("experiment_id", "9999")]).await;
    assert_error(
        &r,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "No Experiment with id=9999 exists",
    );
    let r = s.get("experiments/get", &[("experiment_id", "abc")]).await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid experiment ID 'abc'. Experiment ID must be a valid integer.",
    );
    let r = s.get("experiments/get", &[]).await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        &missing("experiment_id"),
    );
    let r = s
        .get(
            "experiments/get-by-name",
            &[("experiment_name", "nonexist")],
        )
        .await;
    assert_error(
        &r,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Could not find experiment with name 'nonexist'",
    );
    let r = s.get("experiments/get-by-name", &[]).await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        &missing("experiment_name"),
    );
}

async fn rename(s: TestServer) {
    let id = s.create_experiment("old").await;
    let other = s.create_experiment("taken").await;
    let created = s.get_experiment(&id).await;
    s.post_ok(
        "experiments/update",
        json!({"experiment_id": id, "new_name": "new"}),
    )
    .await;
    let e = s.get_experiment(&id).await;
    assert_eq!(e["name"], "new");
    assert!(e["last_update_time"].as_i64() >= created["last_update_time"].as_i64());
    let r = s
        .get("experiments/get-by-name", &[("experiment_name", "old")])
        .await;
    assert_eq!(r.0, StatusCode::NOT_FOUND);
    let r = s
        .post(
            "experiments/update",
            json!({"experiment_id": id, "new_name": "taken"}),
        )
        .await;
    // The official store turns the unique-constraint violation into BAD_REQUEST here.
    assert_error_prefix(
        &r,
        400,
        "BAD_REQUEST",
        "Experiment(name=taken) already exists.",
    );
    assert_eq!(s.get_experiment(&other).await["name"], "taken");
    assert_eq!(s.get_experiment(&id).await["name"], "new");
    let r = s
        .post(
            "experiments/update",
            json!({"experiment_id": "424242", "new_name": "zzz"}),
        )
        .await;
    assert_error(
        &r,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "No Experiment with id=424242 exists",
    );
}

async fn tags(s: TestServer) {
    let id = s.create_experiment("tagged").await;
    s.post_ok(
        "experiments/set-experiment-tag",
        json!({"experiment_id": id, "key": "k1", "value": "v1"}),
    )
    .await;
    s.post_ok(
        "experiments/set-experiment-tag",
        json!({"experiment_id": id, "key": "k2", "value": "v2"}),
    )
    .await;
    // Overwrite.
    s.post_ok(
        "experiments/set-experiment-tag",
        json!({"experiment_id": id, "key": "k1", "value": "v1b"}),
    )
    .await;
    let e = s.get_experiment(&id).await;
    assert_eq!(
        kv_pairs(&e["tags"]),
        vec![("k1".into(), "v1b".into()), ("k2".into(), "v2".into())]
    );
    s.post_ok(
        "experiments/delete-experiment-tag",
        json!({"experiment_id": id, "key": "k1"}),
    )
    .await;
    let e = s.get_experiment(&id).await;
    assert_eq!(kv_pairs(&e["tags"]), vec![("k2".into(), "v2".into())]);
    let r = s
        .post(
            "experiments/delete-experiment-tag",
            json!({"experiment_id": id, "key": "k1"}),
        )
        .await;
    assert_error(
        &r,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("No tag with name: k1 in experiment with id {id}"),
    );
    let r = s
        .post(
            "experiments/set-experiment-tag",
            json!({"experiment_id": id, "value": "v"}),
        )
        .await;
    assert_error(&r, 400, "INVALID_PARAMETER_VALUE", &missing("key"));
    let r = s
        .post(
            "experiments/set-experiment-tag",
            json!({"experiment_id": "31337", "key": "k", "value": "v"}),
        )
        .await;
    assert_error(
        &r,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "No Experiment with id=31337 exists",
    );
    // Experiment tag values longer than 20000 characters are refused, not truncated.
    let r = s
        .post(
            "experiments/set-experiment-tag",
            json!({"experiment_id": id, "key": "big", "value": "v".repeat(20001)}),
        )
        .await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "'value' exceeds the maximum length of 20000 characters",
    );
}

async fn delete_cascades_and_restore(s: TestServer) {
    let id = s.create_experiment("doomed").await;
    let r1 = s.create_run(&id).await;
    let r2 = s.create_run(&id).await;
    s.post_ok("experiments/delete", json!({"experiment_id": id}))
        .await;
    let e = s.get_experiment(&id).await;
    assert_eq!(e["lifecycle_stage"], "deleted");
    assert_eq!(e["name"], "doomed");
    for r in [&r1, &r2] {
        assert_eq!(s.get_run(r).await["info"]["lifecycle_stage"], "deleted");
    }
    // Still found by name, but hidden from the default search.
    let by_name = s
        .get_ok("experiments/get-by-name", &[("experiment_name", "doomed")])
        .await;
    assert_eq!(by_name["experiment"]["lifecycle_stage"], "deleted");
    let r = s
        .post_ok("experiments/search", json!({"filter": "name = 'doomed'"}))
        .await;
    assert!(r.get("experiments").is_none(), "{r}");
    let r = s
        .post_ok(
            "experiments/search",
            json!({"filter": "name = 'doomed'", "view_type": "DELETED_ONLY"}),
        )
        .await;
    assert_eq!(r["experiments"][0]["experiment_id"], id);

    // Writes into a deleted experiment are refused.
    let r = s.post("runs/create", json!({"experiment_id": id})).await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        &format!("The experiment {id} must be in the 'active' state. Current state is deleted."),
    );
    let r = s
        .post(
            "experiments/set-experiment-tag",
            json!({"experiment_id": id, "key": "k", "value": "v"}),
        )
        .await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        &format!("The experiment {id} must be in the 'active' state. Current state is deleted."),
    );
    // Deleting twice: the experiment is no longer an active one.
    let r = s
        .post("experiments/delete", json!({"experiment_id": id}))
        .await;
    assert_error(
        &r,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("No Experiment with id={id} exists"),
    );

    s.post_ok("experiments/restore", json!({"experiment_id": id}))
        .await;
    assert_eq!(s.get_experiment(&id).await["lifecycle_stage"], "active");
    for r in [&r1, &r2] {
        assert_eq!(s.get_run(r).await["info"]["lifecycle_stage"], "active");
    }
    let r = s
        .post("experiments/restore", json!({"experiment_id": id}))
        .await;
    assert_error(
        &r,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("No Experiment with id={id} exists"),
    );
    let r = s
        .post("experiments/delete", json!({"experiment_id": "777"}))
        .await;
    assert_error(
        &r,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "No Experiment with id=777 exists",
    );
    let r = s.post("experiments/delete", json!({})).await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        &missing("experiment_id"),
    );
}

fn names(r: &serde_json::Value) -> Vec<String> {
    r["experiments"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn search(s: TestServer) {
    let mut ids = Vec::new();
    for (name, team) in [
        ("alpha", "red"),
        ("beta", "blue"),
        ("Gamma", "red"),
        ("delta", "green"),
    ] {
        let id = s.create_experiment(name).await;
        s.post_ok(
            "experiments/set-experiment-tag",
            json!({"experiment_id": id, "key": "team", "value": team}),
        )
        .await;
        ids.push(id);
        // Distinct creation times for a stable default order.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // Default: everything active, newest first, Default (id 0) last.
    let r = s.post_ok("experiments/search", json!({})).await;
    assert_eq!(names(&r), ["delta", "Gamma", "beta", "alpha", "Default"]);
    assert!(r.get("next_page_token").is_none());

    let cases: &[(&str, &[&str])] = &[
        ("name = 'alpha'", &["alpha"]),
        ("name != 'alpha'", &["Default", "Gamma", "beta", "delta"]),
        ("name LIKE '%a'", &["Gamma", "alpha", "beta", "delta"]),
        ("name LIKE 'g%'", &[]),
        ("name ILIKE 'g%'", &["Gamma"]),
        ("tags.team = 'red'", &["Gamma", "alpha"]),
        ("tags.team != 'red'", &["beta", "delta"]),
        ("tags.team LIKE 'gr%'", &["delta"]),
        ("tags.team ILIKE 'RE%'", &["Gamma", "alpha"]),
        ("tags.team = 'red' AND name ILIKE 'a%'", &["alpha"]),
        ("tags.missing IS NULL AND name = 'beta'", &["beta"]),
        (
            "tags.team IS NOT NULL",
            &["Gamma", "alpha", "beta", "delta"],
        ),
        ("creation_time >= 0 AND name = 'beta'", &["beta"]),
        ("experiment_id = '0'", &["Default"]),
    ];
    for (filter, expected) in cases {
        let r = s
            .post_ok("experiments/search", json!({ "filter": filter }))
            .await;
        let mut got = names(&r);
        got.sort();
        assert_eq!(&got, expected, "filter {filter}: {r}");
    }
    let in_filter = format!("experiment_id IN ('{}', '{}')", ids[0], ids[2]);
    let mut got = names(
        &s.post_ok("experiments/search", json!({ "filter": in_filter }))
            .await,
    );
    got.sort();
    assert_eq!(got, ["Gamma", "alpha"]);

    // order_by.
    let r = s
        .post_ok(
            "experiments/search",
            json!({"order_by": ["name ASC"], "filter": "name != 'Default'"}),
        )
        .await;
    let mut expected = vec!["Gamma", "alpha", "beta", "delta"];
    let got = names(&r);
    // Collation decides where "Gamma" goes relative to lower case; compare case-insensitively
    // only on the backends that sort case-insensitively.
    if got.first().map(String::as_str) != Some("Gamma") {
        expected = vec!["alpha", "beta", "delta", "Gamma"];
    }
    assert_eq!(got, expected);
    let r = s
        .post_ok(
            "experiments/search",
            json!({"order_by": ["experiment_id DESC"]}),
        )
        .await;
    let got: Vec<&str> = r["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["experiment_id"].as_str().unwrap())
        .collect();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.push("0");
    want.sort_by_key(|id| std::cmp::Reverse(id.parse::<i64>().unwrap()));
    assert_eq!(got, want);
    let r = s
        .post_ok(
            "experiments/search",
            json!({"order_by": ["creation_time ASC"], "max_results": 2}),
        )
        .await;
    assert_eq!(names(&r), ["Default", "alpha"]);

    // Errors.
    let r = s
        .post("experiments/search", json!({"filter": "bad filter ("}))
        .await;
    assert_eq!(r.0, StatusCode::BAD_REQUEST, "{}", r.1);
    assert_eq!(r.1["error_code"], "INVALID_PARAMETER_VALUE");
    let r = s
        .post("experiments/search", json!({"order_by": ["nope DESC"]}))
        .await;
    assert_eq!(r.0, StatusCode::BAD_REQUEST, "{}", r.1);
    let r = s
        .post("experiments/search", json!({"max_results": 100000}))
        .await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value 100000 for parameter 'max_results' supplied. It must be at most 50000",
    );
    let r = s
        .post("experiments/search", json!({"max_results": 0}))
        .await;
    assert_error(
        &r,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer",
    );
    let r = s
        .post("experiments/search", json!({"max_results": 50000}))
        .await;
    assert_eq!(r.0, StatusCode::OK);
    let r = s
        .post("experiments/search", json!({"view_type": "SOMETIMES"}))
        .await;
    assert_eq!(r.0, StatusCode::BAD_REQUEST, "{}", r.1);
}

async fn search_paging_and_views(s: TestServer) {
    let mut all = vec!["Default".to_string()];
    for i in 0..5 {
        let name = format!("exp-{i}");
        s.create_experiment(&name).await;
        all.push(name);
    }
    let deleted = s.create_experiment("gone").await;
    s.post_ok("experiments/delete", json!({"experiment_id": deleted}))
        .await;

    // Page through with max_results=2 (POST) and check the official token format.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut body = json!({"max_results": 2, "order_by": ["name ASC"]});
        if let Some(t) = &token {
            body["page_token"] = json!(t);
        }
        let r = s.post_ok("experiments/search", body).await;
        if pages == 0 {
            assert_eq!(r["next_page_token"], "eyJvZmZzZXQiOiAyfQ==");
        }
        seen.extend(names(&r));
        pages += 1;
        match r.get("next_page_token").and_then(|t| t.as_str()) {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    let mut sorted = seen.clone();
    sorted.sort();
    let mut expected = all.clone();
    expected.sort();
    assert_eq!(sorted, expected, "every active experiment exactly once");

    // GET with the official offset token and string max_results.
    let r = s
        .get_ok(
            "experiments/search",
            &[
                ("max_results", "1"),
                ("page_token", "eyJvZmZzZXQiOiAxfQ=="),
                ("order_by", "name ASC"),
            ],
        )
        .await;
    assert_eq!(names(&r).len(), 1);
    assert_eq!(r["next_page_token"], "eyJvZmZzZXQiOiAyfQ==");
    assert_eq!(names(&r)[0], seen[1]);

    let r = s
        .get_ok(
            "experiments/search",
            &[("view_type", "DELETED_ONLY"), ("max_results", "10")],
        )
        .await;
    assert_eq!(names(&r), ["gone"]);
    let r = s
        .get_ok(
            "experiments/search",
            &[("view_type", "ALL"), ("max_results", "100")],
        )
        .await;
    assert_eq!(names(&r).len(), all.len() + 1);
    let r = s
        .get_ok(
            "experiments/search",
            &[("view_type", "ACTIVE_ONLY"), ("max_results", "100")],
        )
        .await;
    assert_eq!(names(&r).len(), all.len());

    let r = s
        .post(
            "experiments/search",
            json!({"page_token": "not a token!", "max_results": 1}),
        )
        .await;
    assert_eq!(r.0, StatusCode::BAD_REQUEST, "{}", r.1);
    assert_eq!(r.1["error_code"], "INVALID_PARAMETER_VALUE");
}

backend_tests!(
    default_experiment_exists,
    create_and_get,
    create_errors,
    get_errors,
    rename,
    tags,
    delete_cascades_and_restore,
    search,
    search_paging_and_views,
);
