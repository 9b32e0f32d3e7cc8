//! HTTP tests of the GenAI evaluation API: evaluation datasets (CRUD, tags, record upsert and
//! paging, experiment links, search grammar and page tokens) and the scorer registry with online
//! scoring configs. Each runs once per configured backend (the harness is shared with `it`).

#[path = "../it/common.rs"]
#[macro_use]
#[allow(dead_code)]
mod common;

use common::{StatusCode, TestServer, assert_error, assert_error_prefix, missing};
use reqwest::Method;
use serde_json::{Value, json};

const V3: &str = "/api/3.0/mlflow";

fn p(path: &str) -> String {
    format!("{V3}{path}")
}

async fn call(
    srv: &TestServer,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (headers, bytes): (&[(&str, &str)], _) = match &body {
        Some(b) => (
            &[("content-type", "application/json")],
            Some(b.to_string().into_bytes()),
        ),
        None => (&[], None),
    };
    let r = srv.request(method, &p(path), headers, bytes).await;
    (r.status, r.body)
}

async fn ok(srv: &TestServer, method: Method, path: &str, body: Option<Value>) -> Value {
    let (st, v) = call(srv, method.clone(), path, body).await;
    assert_eq!(st, StatusCode::OK, "{method} {path}: {v}");
    v
}

fn parse(s: &Value) -> Value {
    serde_json::from_str(s.as_str().unwrap_or("null")).unwrap_or(Value::Null)
}

async fn records(
    srv: &TestServer,
    id: &str,
    query: &[(&str, &str)],
) -> (Vec<Value>, Option<String>) {
    let r = srv
        .get_full(&p(&format!("/datasets/{id}/records")), query)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let recs = parse(&r.body["records"])
        .as_array()
        .cloned()
        .unwrap_or_default();
    (recs, r.body["next_page_token"].as_str().map(str::to_owned))
}

async fn datasets_crud(srv: TestServer) {
    let exp = srv.create_experiment("ds-exp").await;
    let exp2 = srv.create_experiment("ds-exp2").await;
    let created = ok(
        &srv,
        Method::POST,
        "/datasets/create",
        Some(json!({"name": "ds1", "experiment_ids": [exp], "tags": "{\"env\": \"test\", \"mlflow.user\": \"bob\"}"})),
    )
    .await["dataset"]
        .clone();
    let id = created["dataset_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("d-") && id.len() == 34, "{id}");
    assert_eq!(created["experiment_ids"], json!([exp]));
    assert_eq!(created["created_by"], "bob");
    assert_eq!(created["last_updated_by"], "bob");
    assert_eq!(
        parse(&created["tags"]),
        json!({"env": "test", "mlflow.user": "bob"})
    );
    assert_eq!(created["digest"].as_str().unwrap().len(), 8);
    assert!(created.get("schema").is_none() && created.get("profile").is_none());

    let got = ok(&srv, Method::GET, &format!("/datasets/{id}"), None).await["dataset"].clone();
    assert_eq!(got["name"], "ds1");
    assert!(got.get("experiment_ids").is_none(), "{got}");

    // Upsert: two inserts, then a record with the same inputs (other key order) merges.
    let recs = json!([
        {"inputs": {"q": "what is 1+1", "n": 1}, "expectations": {"answer": "2"}, "tags": {"k": "v", "mlflow.user": "root"}},
        {"inputs": {"q": "capital of France"}, "outputs": "Paris", "expectations": {"answer": "Paris"},
         "source": {"source_type": "trace", "source_data": {"trace_id": "tr-123"}}},
    ]);
    let r = ok(
        &srv,
        Method::POST,
        &format!("/datasets/{id}/records"),
        Some(json!({"records": recs.to_string()})),
    )
    .await;
    assert_eq!(r, json!({"inserted_count": 2, "updated_count": 0}));
    let r = ok(
        &srv,
        Method::POST,
        &format!("/datasets/{id}/records"),
        Some(json!({"records": json!([{"inputs": {"n": 1, "q": "what is 1+1"}, "expectations": {"score": 1.5}}]).to_string()})),
    )
    .await;
    assert_eq!(r, json!({"inserted_count": 0, "updated_count": 1}));

    let ds = ok(&srv, Method::GET, &format!("/datasets/{id}"), None).await["dataset"].clone();
    assert_eq!(
        parse(&ds["schema"]),
        json!({"inputs": {"q": "string", "n": "integer"}, "outputs": "string",
               "expectations": {"answer": "string", "score": "float"}, "version": "1.0"})
    );
    assert_eq!(ds["profile"], "{\"num_records\": 2}");
    assert_ne!(ds["digest"], created["digest"]);
    // The last upsert had no mlflow.user tag: last_updated_by is cleared, as official.
    assert!(ds.get("last_updated_by").is_none(), "{ds}");

    let (all, next) = records(&srv, &id, &[]).await;
    assert!(next.is_none());
    assert_eq!(all.len(), 2);
    let merged = all
        .iter()
        .find(|r| r["inputs"]["q"] == "what is 1+1")
        .unwrap();
    assert_eq!(merged["expectations"], json!({"answer": "2", "score": 1.5}));
    assert_eq!(merged["tags"], json!({"k": "v", "mlflow.user": "root"}));
    assert_eq!(merged["outputs"], json!({}));
    assert_eq!(merged["created_by"], "root");
    assert!(merged.get("source").is_none());
    let paris = all
        .iter()
        .find(|r| r["inputs"]["q"] == "capital of France")
        .unwrap();
    assert_eq!(paris["outputs"], "Paris");
    assert_eq!(
        paris["source"],
        json!({"source_type": "TRACE", "source_data": {"trace_id": "tr-123"}})
    );
    assert_eq!(paris["source_id"], "tr-123");
    assert_eq!(paris["source_type"], "TRACE");
    assert_eq!(paris["tags"], json!({}));
    assert!(
        paris["dataset_record_id"]
            .as_str()
            .unwrap()
            .starts_with("dr-")
    );

    // Cursor paging.
    let (page1, tok) = records(&srv, &id, &[("max_results", "1")]).await;
    let tok = tok.expect("next page token");
    let (page2, tok2) = records(&srv, &id, &[("max_results", "1"), ("page_token", &tok)]).await;
    assert_eq!(page1.len() + page2.len(), 2);
    assert_ne!(page1[0]["dataset_record_id"], page2[0]["dataset_record_id"]);
    assert!(tok2.is_none());

    // Invalid source type.
    let (st, body) = call(
        &srv,
        Method::POST,
        &format!("/datasets/{id}/records"),
        Some(json!({"records": json!([{"inputs": {"z": 1}, "source": {"source_type": "nope"}}]).to_string()})),
    )
    .await;
    assert_error(
        &(st, body),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid dataset record source type: NOPE. Valid source types: ['UNSPECIFIED', 'TRACE', 'HUMAN', 'DOCUMENT', 'CODE']",
    );

    // Tags.
    ok(
        &srv,
        Method::PATCH,
        &format!("/datasets/{id}/tags"),
        Some(json!({"tags": "{\"a\": \"1\", \"b\": 2, \"c\": null}"})),
    )
    .await;
    ok(
        &srv,
        Method::DELETE,
        &format!("/datasets/{id}/tags/env"),
        None,
    )
    .await;
    ok(
        &srv,
        Method::DELETE,
        &format!("/datasets/{id}/tags/missing"),
        None,
    )
    .await;
    let ds = ok(&srv, Method::GET, &format!("/datasets/{id}"), None).await["dataset"].clone();
    assert_eq!(
        parse(&ds["tags"]),
        json!({"mlflow.user": "bob", "a": "1", "b": "2"})
    );

    // Experiment links.
    let linked = ok(
        &srv,
        Method::POST,
        &format!("/datasets/{id}/add-experiments"),
        Some(json!({"experiment_ids": [exp2, exp]})),
    )
    .await;
    assert!(linked["dataset"].get("experiment_ids").is_none());
    let ids = ok(
        &srv,
        Method::GET,
        &format!("/datasets/{id}/experiment-ids"),
        None,
    )
    .await;
    let mut got: Vec<String> = serde_json::from_value(ids["experiment_ids"].clone()).unwrap();
    got.sort();
    let mut want = vec![exp.clone(), exp2.clone()];
    want.sort();
    assert_eq!(got, want);
    let resp = call(
        &srv,
        Method::POST,
        &format!("/datasets/{id}/add-experiments"),
        Some(json!({"experiment_ids": ["424242"]})),
    )
    .await;
    assert_error(
        &resp,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "No Experiment with id=424242",
    );
    ok(
        &srv,
        Method::POST,
        &format!("/datasets/{id}/remove-experiments"),
        Some(json!({"experiment_ids": [exp, "999"]})),
    )
    .await;
    let ids = ok(
        &srv,
        Method::GET,
        &format!("/datasets/{id}/experiment-ids"),
        None,
    )
    .await;
    assert_eq!(ids["experiment_ids"], json!([exp2]));

    // Delete records: the profile count follows; "null" when empty (as official).
    let rid = all[0]["dataset_record_id"].as_str().unwrap().to_string();
    let d = ok(
        &srv,
        Method::DELETE,
        &format!("/datasets/{id}/records"),
        Some(json!({"dataset_record_ids": [rid, "dr-none"]})),
    )
    .await;
    assert_eq!(d, json!({"deleted_count": 1}));
    let ds = ok(&srv, Method::GET, &format!("/datasets/{id}"), None).await["dataset"].clone();
    assert_eq!(ds["profile"], "{\"num_records\": 1}");
    let rid2 = all[1]["dataset_record_id"].as_str().unwrap().to_string();
    ok(
        &srv,
        Method::DELETE,
        &format!("/datasets/{id}/records"),
        Some(json!({"dataset_record_ids": [rid2]})),
    )
    .await;
    let ds = ok(&srv, Method::GET, &format!("/datasets/{id}"), None).await["dataset"].clone();
    assert_eq!(ds["profile"], "null");

    // Delete is idempotent and cascades.
    ok(&srv, Method::DELETE, &format!("/datasets/{id}"), None).await;
    ok(&srv, Method::DELETE, &format!("/datasets/{id}"), None).await;
    let resp = call(&srv, Method::GET, &format!("/datasets/{id}"), None).await;
    assert_error(
        &resp,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("Evaluation dataset with id '{id}' not found"),
    );
    let (recs_left, _) = records(&srv, &id, &[]).await;
    assert!(recs_left.is_empty());
    let ids = ok(
        &srv,
        Method::GET,
        &format!("/datasets/{id}/experiment-ids"),
        None,
    )
    .await;
    assert_eq!(ids, json!({}));

    // Errors on unknown datasets and bad payloads.
    let resp = call(
        &srv,
        Method::PATCH,
        "/datasets/d-nope/tags",
        Some(json!({"tags": "{}"})),
    )
    .await;
    assert_error(
        &resp,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Could not find evaluation dataset with ID d-nope",
    );
    let resp = call(
        &srv,
        Method::POST,
        "/datasets/d-nope/remove-experiments",
        Some(json!({"experiment_ids": ["1"]})),
    )
    .await;
    assert_error(
        &resp,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Dataset 'd-nope' not found",
    );
    let resp = call(&srv, Method::POST, "/datasets/create", Some(json!({}))).await;
    assert_error(&resp, 400, "INVALID_PARAMETER_VALUE", &missing("name"));
    let resp = call(
        &srv,
        Method::POST,
        "/datasets/create",
        Some(json!({"name": "x", "tags": "nope"})),
    )
    .await;
    assert_error_prefix(
        &resp,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value for parameter 'tags'",
    );
    let resp = call(
        &srv,
        Method::POST,
        "/datasets/d-nope/records",
        Some(json!({})),
    )
    .await;
    assert_error(&resp, 400, "INVALID_PARAMETER_VALUE", &missing("records"));
    // The ajax mirror answers too.
    let r = srv
        .get_full("/ajax-api/3.0/mlflow/datasets/d-nope/records", &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"records": "[]"}));
}

async fn search(srv: &TestServer, body: Value) -> (StatusCode, Value) {
    call(srv, Method::POST, "/datasets/search", Some(body)).await
}

fn names(v: &Value) -> Vec<String> {
    v["datasets"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| d["name"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn datasets_search(srv: TestServer) {
    let exp = srv.create_experiment("search-exp").await;
    for (name, env) in [("alpha", "prod"), ("beta", "dev"), ("gamma", "prod")] {
        ok(
            &srv,
            Method::POST,
            "/datasets/create",
            Some(json!({"name": name, "experiment_ids": if name == "beta" { json!([exp]) } else { json!([]) },
                        "tags": json!({"env": env}).to_string()})),
        )
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // Default order: created_time DESC.
    let (_, v) = search(&srv, json!({})).await;
    assert_eq!(names(&v), ["gamma", "beta", "alpha"]);
    let (_, v) = search(&srv, json!({"order_by": ["name ASC"]})).await;
    assert_eq!(names(&v), ["alpha", "beta", "gamma"]);
    let (_, v) = search(
        &srv,
        json!({"filter_string": "tags.env = 'prod'", "order_by": ["name"]}),
    )
    .await;
    assert_eq!(names(&v), ["alpha", "gamma"]);
    let (_, v) = search(&srv, json!({"filter_string": "name ILIKE 'G%'"})).await;
    assert_eq!(names(&v), ["gamma"]);
    let (_, v) = search(&srv, json!({"filter_string": "name LIKE 'G%'"})).await;
    assert!(names(&v).is_empty());
    assert_eq!(v, json!({}));
    let (_, v) = search(
        &srv,
        json!({"filter_string": "name IN ('alpha', 'beta')", "order_by": ["name DESC"]}),
    )
    .await;
    assert_eq!(names(&v), ["beta", "alpha"]);
    let (_, v) = search(&srv, json!({"experiment_ids": [exp]})).await;
    assert_eq!(names(&v), ["beta"]);
    let (_, v) = search(
        &srv,
        json!({"filter_string": "created_time > 0 AND tags.env != 'prod'"}),
    )
    .await;
    assert_eq!(names(&v), ["beta"]);
    // GET with query parameters.
    let r = srv
        .get_full(
            &p("/datasets/search"),
            &[("filter_string", "name = 'alpha'"), ("max_results", "5")],
        )
        .await;
    assert_eq!(names(&r.body), ["alpha"]);

    // Page tokens are the official base64 offsets.
    let (_, v) = search(&srv, json!({"max_results": 2, "order_by": ["name ASC"]})).await;
    assert_eq!(names(&v), ["alpha", "beta"]);
    assert_eq!(v["next_page_token"], "eyJvZmZzZXQiOiAyfQ==");
    let (_, v) = search(
        &srv,
        json!({"max_results": 2, "order_by": ["name ASC"], "page_token": "eyJvZmZzZXQiOiAyfQ=="}),
    )
    .await;
    assert_eq!(names(&v), ["gamma"]);
    assert!(v.get("next_page_token").is_none());

    // Errors, with the official messages.
    let bad = [
        (
            json!({"filter_string": "foo = 'a'"}),
            "Invalid attribute key 'foo' specified. Valid keys are: {",
        ),
        (
            json!({"filter_string": "foo.bar = 'a'"}),
            "Invalid identifier token 'foo' specified",
        ),
        (
            json!({"filter_string": "created_time > 'abc'"}),
            "Expected numeric value type for numeric attribute: created_time. Found 'abc'",
        ),
        (
            json!({"filter_string": "created_time > 1.5"}),
            "Invalid value for numeric attribute 'created_time': '1.5'",
        ),
        (
            json!({"filter_string": "created_time LIKE 1"}),
            "Invalid comparator for numeric attribute: LIKE",
        ),
        (
            json!({"filter_string": "tags.a > 'x'"}),
            "Invalid comparator for tag: >",
        ),
        (
            json!({"filter_string": "created_by IN ('a','b')"}),
            "Only ['name'] attributes support comparison with a list of quoted string values.",
        ),
        (
            json!({"order_by": ["digest ASC"]}),
            "Invalid attribute key 'digest' specified. Valid keys are: {",
        ),
        (
            json!({"order_by": ["tags.a ASC"]}),
            "Invalid order_by entity: tag",
        ),
        (
            json!({"max_results": 0}),
            "Invalid value None for parameter 'max_results' supplied. It must be a positive integer",
        ),
        (
            json!({"max_results": 100000}),
            "Invalid value 100000 for parameter 'max_results' supplied. It must be at most 50000",
        ),
        (json!({"page_token": "bad"}), "Invalid page token"),
    ];
    for (body, prefix) in bad {
        let resp = search(&srv, body.clone()).await;
        assert_error_prefix(&resp, 400, "INVALID_PARAMETER_VALUE", prefix);
    }
}

fn serialized(pattern: &str) -> String {
    json!({
        "name": "has_paris", "aggregations": null, "description": "regex", "is_session_level_scorer": false,
        "timeout": 0, "mlflow_version": "3.17.2", "serialization_version": 1, "builtin_scorer_class": "RegexMatch",
        "builtin_scorer_pydantic_data": {"name": "has_paris", "pattern": pattern, "required_columns": ["outputs"]},
        "call_source": null, "call_signature": null, "original_func_name": null,
        "instructions_judge_pydantic_data": null, "memory_augmented_judge_data": null,
        "third_party_scorer_data": null, "ensemble_scorer_data": null
    })
    .to_string()
}

async fn scorers(srv: TestServer) {
    let exp = srv.create_experiment("scorer-exp").await;
    let reg =
        |s: String| json!({"experiment_id": exp, "name": "has_paris", "serialized_scorer": s});
    let v1 = ok(
        &srv,
        Method::POST,
        "/scorers/register",
        Some(reg(serialized("Paris"))),
    )
    .await;
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["experiment_id"], exp.as_str());
    assert_eq!(v1["name"], "has_paris");
    assert_eq!(v1["serialized_scorer"], serialized("Paris"));
    let scorer_id = v1["scorer_id"].as_str().unwrap().to_string();
    assert_eq!(scorer_id.len(), 36);
    let v2 = ok(
        &srv,
        Method::POST,
        "/scorers/register",
        Some(reg(serialized("P.*"))),
    )
    .await;
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["scorer_id"], scorer_id.as_str());
    let other = json!({"experiment_id": exp, "name": "another", "serialized_scorer": "{\"b\": 1, \"a\": 2.0}"});
    ok(&srv, Method::POST, "/scorers/register", Some(other)).await;

    let list = srv
        .get_full(&p("/scorers/list"), &[("experiment_id", &exp)])
        .await
        .body;
    let listed = list["scorers"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["scorer_name"], "another");
    assert_eq!(listed[1]["scorer_name"], "has_paris");
    assert_eq!(listed[1]["scorer_version"], 2);
    assert_eq!(listed[1]["experiment_id"], exp.parse::<i64>().unwrap());
    let list = srv
        .get_full(
            &p("/scorers/list"),
            &[("experiment_ids", &exp), ("experiment_ids", "123456")],
        )
        .await
        .body;
    assert_eq!(list["scorers"].as_array().unwrap().len(), 2);
    let all = srv.get_full(&p("/scorers/list"), &[]).await.body;
    assert!(all["scorers"].as_array().unwrap().len() >= 2);
    let resp = srv
        .get(
            &p("/scorers/list"),
            &[("experiment_id", &exp), ("experiment_ids", &exp)],
        )
        .await;
    assert_error_prefix(
        &resp,
        400,
        "INVALID_PARAMETER_VALUE",
        "Cannot specify both 'experiment_id' and 'experiment_ids'.",
    );
    let resp = srv
        .get(&p("/scorers/list"), &[("experiment_ids", "x")])
        .await;
    assert_error(
        &resp,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid experiment ID 'x'. Experiment ID must be a valid integer.",
    );

    let got = srv
        .get_ok(
            &p("/scorers/get"),
            &[("experiment_id", &exp), ("name", "has_paris")],
        )
        .await;
    assert_eq!(got["scorer"]["scorer_version"], 2);
    let got = srv
        .get_ok(
            &p("/scorers/get"),
            &[
                ("experiment_id", &exp),
                ("name", "has_paris"),
                ("version", "1"),
            ],
        )
        .await;
    assert_eq!(got["scorer"]["serialized_scorer"], serialized("Paris"));
    let versions = srv
        .get_ok(
            &p("/scorers/versions"),
            &[("experiment_id", &exp), ("name", "has_paris")],
        )
        .await;
    let vs: Vec<i64> = versions["scorers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["scorer_version"].as_i64().unwrap())
        .collect();
    assert_eq!(vs, [1, 2]);

    let resp = srv
        .get(
            &p("/scorers/get"),
            &[("experiment_id", &exp), ("name", "nope")],
        )
        .await;
    assert_error(
        &resp,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("Scorer with name 'nope' not found for experiment {exp}."),
    );
    let resp = srv
        .get(
            &p("/scorers/get"),
            &[
                ("experiment_id", &exp),
                ("name", "has_paris"),
                ("version", "9"),
            ],
        )
        .await;
    assert_error(
        &resp,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("Scorer with name 'has_paris' and version 9 not found for experiment {exp}."),
    );
    let resp = srv
        .get(
            &p("/scorers/get"),
            &[
                ("experiment_id", &exp),
                ("name", "has_paris"),
                ("version", "abc"),
            ],
        )
        .await;
    assert_error_prefix(
        &resp,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value \"abc\" for parameter 'version' supplied:",
    );

    // Registration errors.
    let cases = [
        (
            json!({"experiment_id": "424242", "name": "a", "serialized_scorer": "{}"}),
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "No Experiment with id=424242 exists".to_string(),
        ),
        (
            json!({"experiment_id": exp, "name": " ", "serialized_scorer": "{}"}),
            400,
            "INVALID_PARAMETER_VALUE",
            "Scorer name cannot be empty or contain only whitespace.".to_string(),
        ),
        (
            json!({"experiment_id": exp, "name": "a", "serialized_scorer": "nope"}),
            400,
            "INVALID_PARAMETER_VALUE",
            "serialized_scorer must be valid JSON".to_string(),
        ),
        (
            json!({"experiment_id": exp, "name": "a"}),
            400,
            "INVALID_PARAMETER_VALUE",
            missing("serialized_scorer"),
        ),
        (
            json!({"experiment_id": exp, "name": "gw", "serialized_scorer": "{\"instructions_judge_pydantic_data\": {\"model\": \"gateway:/myep\"}}"}),
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "GatewayEndpoint not found (name='myep')".to_string(),
        ),
        (
            json!({"experiment_id": exp, "name": "bm", "serialized_scorer": "{\"instructions_judge_pydantic_data\": {\"model\": \" \"}}"}),
            400,
            "INVALID_PARAMETER_VALUE",
            "Scorer model cannot be empty or contain only whitespace.".to_string(),
        ),
    ];
    for (body, status, code, msg) in cases {
        let resp = call(&srv, Method::POST, "/scorers/register", Some(body)).await;
        assert_error(&resp, status, code, &msg);
    }
    let resp = call(
        &srv,
        Method::POST,
        "/scorers/register",
        Some(json!({"experiment_id": exp, "name": "deco", "serialized_scorer": "{\"call_source\": \"return 1\"}"})),
    )
    .await;
    assert_error_prefix(
        &resp,
        400,
        "INVALID_PARAMETER_VALUE",
        "Custom scorer registration (using @scorer decorator) is disabled",
    );

    // Online scoring configs.
    let put = |body: Value| call(&srv, Method::PUT, "/scorers/online-config", Some(body));
    let (st, c1) = put(json!({"experiment_id": exp, "name": "has_paris", "sample_rate": 0})).await;
    assert_eq!(st, StatusCode::OK, "{c1}");
    assert_eq!(c1["config"]["scorer_id"], scorer_id.as_str());
    assert_eq!(c1["config"]["sample_rate"], 0.0);
    assert_eq!(c1["config"]["experiment_id"], exp.as_str());
    assert!(c1["config"].get("filter_string").is_none());
    let (_, c2) = put(json!({"experiment_id": exp, "name": "has_paris", "sample_rate": 0, "filter_string": "trace.status = 'OK'"})).await;
    assert_ne!(
        c2["config"]["online_scoring_config_id"],
        c1["config"]["online_scoring_config_id"]
    );
    let resp = put(json!({"experiment_id": exp, "name": "has_paris", "sample_rate": 0.5})).await;
    assert_error(
        &resp,
        400,
        "INVALID_PARAMETER_VALUE",
        "Scorer 'has_paris' does not use a gateway model. Automatic evaluation is only supported for scorers that use gateway models.",
    );
    let resp = put(json!({"experiment_id": exp, "name": "has_paris", "sample_rate": 2})).await;
    assert_error(
        &resp,
        400,
        "INVALID_PARAMETER_VALUE",
        "sample_rate must be between 0.0 and 1.0, got 2.0",
    );
    let resp = put(json!({"experiment_id": exp, "name": "has_paris"})).await;
    assert_error(
        &resp,
        400,
        "INVALID_PARAMETER_VALUE",
        &missing("sample_rate"),
    );
    let resp = put(
        json!({"experiment_id": exp, "name": "has_paris", "sample_rate": 0, "filter_string": 5}),
    )
    .await;
    assert_error(
        &resp,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value 5 for parameter 'filter_string' supplied: Value was of type 'int'. Expected type 'str' or None.",
    );
    let configs = srv
        .get_ok(
            &p("/scorers/online-configs"),
            &[("scorer_ids", &scorer_id), ("scorer_ids", "zzz")],
        )
        .await;
    let cs = configs["configs"].as_array().unwrap();
    assert_eq!(cs.len(), 1);
    assert_eq!(cs[0]["filter_string"], "trace.status = 'OK'");
    let resp = srv.get(&p("/scorers/online-configs"), &[]).await;
    assert_error(
        &resp,
        400,
        "INVALID_PARAMETER_VALUE",
        &missing("scorer_ids"),
    );

    // Deletes: one version, then all (the scorer and its configs go too).
    let del = |body: Value| call(&srv, Method::DELETE, "/scorers/delete", Some(body));
    let (st, _) = del(json!({"experiment_id": exp, "name": "has_paris", "version": 1})).await;
    assert_eq!(st, StatusCode::OK);
    let resp = del(json!({"experiment_id": exp, "name": "has_paris", "version": 1})).await;
    assert_error(
        &resp,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("Scorer with name 'has_paris' and version 1 not found for experiment {exp}."),
    );
    let versions = srv
        .get_ok(
            &p("/scorers/versions"),
            &[("experiment_id", &exp), ("name", "has_paris")],
        )
        .await;
    assert_eq!(versions["scorers"].as_array().unwrap().len(), 1);
    let (st, _) = del(json!({"experiment_id": exp, "name": "has_paris"})).await;
    assert_eq!(st, StatusCode::OK);
    let resp = del(json!({"experiment_id": exp, "name": "has_paris"})).await;
    assert_error(
        &resp,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("Scorer with name 'has_paris' not found for experiment {exp}."),
    );
    let configs = srv
        .get_ok(&p("/scorers/online-configs"), &[("scorer_ids", &scorer_id)])
        .await;
    assert_eq!(configs, json!({"configs": []}));
    // Re-registering starts again at version 1 with a new id.
    let again = ok(
        &srv,
        Method::POST,
        "/scorers/register",
        Some(reg(serialized("x"))),
    )
    .await;
    assert_eq!(again["version"], 1);
    assert_ne!(again["scorer_id"], scorer_id.as_str());

    // A deleted experiment refuses scorer operations.
    srv.post_ok("experiments/delete", json!({"experiment_id": exp}))
        .await;
    let resp = srv
        .get(&p("/scorers/list"), &[("experiment_id", &exp)])
        .await;
    assert_error(
        &resp,
        400,
        "INVALID_PARAMETER_VALUE",
        &format!("The experiment {exp} must be in the 'active' state. Current state is deleted."),
    );
}

backend_tests!(datasets_crud, datasets_search, scorers);
