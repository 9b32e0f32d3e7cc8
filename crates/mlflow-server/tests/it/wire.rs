//! Wire contract: health/version/server-info, routing (ajax mirror, static prefix, 404/405),
//! content types, request decoding (camelCase, int64 strings, repeated keys, double-encoded
//! JSON), error bodies, Host-header and CORS checks.

use crate::common::*;
use mlflow_server::ServerConfig;
use reqwest::Method;
use serde_json::json;

const NOT_FOUND_HTML: &str = "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n";

async fn sqlite() -> TestServer {
    TestServer::start(Backend::Sqlite)
        .await
        .expect("sqlite always runs")
}

#[tokio::test]
async fn health_version_server_info() {
    let s = sqlite().await;
    let r = s.get_full("/health", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type(), "text/plain; charset=utf-8");
    assert_eq!(r.body, "OK");

    let r = s.get_full("/version", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type(), "text/html; charset=utf-8");
    assert_eq!(r.body, "3.17.2");

    for path in [
        "/api/3.0/mlflow/server-info",
        "/ajax-api/3.0/mlflow/server-info",
    ] {
        let r = s.get_full(path, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(r.content_type().starts_with("application/json"));
        let b = &r.body;
        assert_eq!(b["store_type"], "SqlStore");
        assert_eq!(b["workspaces_enabled"], false);
        assert_eq!(b["trace_archival_enabled"], false);
        assert_eq!(b["multipart_uploads_enabled"], false);
        assert_eq!(b["multipart_downloads_enabled"], false);
        assert!(b["presigned_upload_run_id_supported"].is_boolean());
        assert!(b["presigned_upload_model_id_supported"].is_boolean());
        assert!(b["features_enabled"].is_object());
    }
}

#[tokio::test]
async fn unknown_routes_are_flask_html_404() {
    let s = sqlite().await;
    for (method, path) in [
        (Method::GET, "/api/2.0/mlflow/nope"),
        (Method::POST, "/api/2.0/mlflow/nope"),
        (Method::GET, "/nothing/here"),
        (Method::GET, "/api/2.0/mlflow/experiments/get/extra"),
        (Method::GET, "/ajax-api/2.0/mlflow/nope"),
    ] {
        let r = s
            .request(
                method.clone(),
                path,
                &[("content-type", "application/json")],
                Some(b"{}".to_vec()),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(r.content_type(), "text/html; charset=utf-8");
        assert_eq!(r.body, NOT_FOUND_HTML);
    }
    // A known path with the wrong method is 405, not 404.
    let r = s
        .request(Method::GET, "/api/2.0/mlflow/runs/create", &[], None)
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let r = s
        .request(
            Method::POST,
            "/api/2.0/mlflow/runs/get",
            &[("content-type", "application/json")],
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    // No tracking RPC is a DELETE (deletes are POSTs with a JSON body): DELETE with a body on
    // a POST route is refused and changes nothing.
    let r = s
        .request(
            Method::DELETE,
            "/api/2.0/mlflow/experiments/delete",
            &[("content-type", "application/json")],
            Some(br#"{"experiment_id": "0"}"#.to_vec()),
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(s.get_experiment("0").await["lifecycle_stage"], "active");
}

#[tokio::test]
async fn content_type_and_body_decoding() {
    let s = sqlite().await;
    let path = "/api/2.0/mlflow/experiments/create";
    let bad_ct = "Bad Request. Content-Type must be one of ['application/json'].";
    for headers in [
        vec![],
        vec![("content-type", "text/plain")],
        vec![("content-type", "application/x-www-form-urlencoded")],
    ] {
        let r = s
            .request(
                Method::POST,
                path,
                &headers,
                Some(br#"{"name": "ct"}"#.to_vec()),
            )
            .await;
        assert_error(&(r.status, r.body), 400, "INVALID_PARAMETER_VALUE", bad_ct);
    }
    // Charset is allowed; case of the media type does not matter.
    let r = s
        .request(
            Method::POST,
            path,
            &[("content-type", "Application/JSON; charset=utf-8")],
            Some(br#"{"name": "ct"}"#.to_vec()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Empty JSON body means `{}`.
    let r = s
        .request(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            None,
        )
        .await;
    assert_error(
        &(r.status, r.body),
        400,
        "INVALID_PARAMETER_VALUE",
        &missing("name"),
    );
    // Double-encoded JSON (old clients) is decoded twice.
    let r = s
        .request(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            Some(serde_json::to_vec(&json!("{\"name\": \"double\"}")).unwrap()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let e = s
        .get_ok("experiments/get-by-name", &[("experiment_name", "double")])
        .await;
    assert_eq!(e["experiment"]["experiment_id"], r.body["experiment_id"]);
    // Malformed JSON is a 400 JSON error, not a 5xx or HTML.
    let r = s
        .request(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            Some(b"{\"name\": ".to_vec()),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error_code"], "INVALID_PARAMETER_VALUE");
    // Unknown fields are ignored.
    let r = s
        .post(
            "experiments/create",
            json!({"name": "extra", "no_such_field": [1, 2, {"x": 1}]}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    // Error bodies carry the 3.x fields.
    let r = s
        .get("experiments/get", &[("experiment_id", "123456")])
        .await;
    assert_eq!(
        r.1,
        json!({"error_code": "RESOURCE_DOES_NOT_EXIST",
               "message": "No Experiment with id=123456 exists",
               "sqlstate": "KAM00", "error_class": "RESOURCE_NOT_FOUND"})
    );
}

#[tokio::test]
async fn ajax_mirror_serves_every_tracking_route() {
    let s = sqlite().await;
    let a = |p: &str| format!("/ajax-api/2.0/mlflow/{p}");
    let exp = s
        .post_ok(&a("experiments/create"), json!({"name": "ajax"}))
        .await["experiment_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Visible through the public API and vice versa.
    assert_eq!(s.get_experiment(&exp).await["name"], "ajax");
    let e = s
        .get_ok(&a("experiments/get"), &[("experiment_id", &exp)])
        .await;
    assert_eq!(e["experiment"]["name"], "ajax");
    s.get_ok(
        &a("experiments/get-by-name"),
        &[("experiment_name", "ajax")],
    )
    .await;
    s.get_ok(&a("experiments/search"), &[("max_results", "5")])
        .await;
    s.post_ok(&a("experiments/search"), json!({"max_results": 5}))
        .await;
    s.post_ok(
        &a("experiments/update"),
        json!({"experiment_id": exp, "new_name": "ajax2"}),
    )
    .await;
    s.post_ok(
        &a("experiments/set-experiment-tag"),
        json!({"experiment_id": exp, "key": "k", "value": "v"}),
    )
    .await;
    s.post_ok(
        &a("experiments/delete-experiment-tag"),
        json!({"experiment_id": exp, "key": "k"}),
    )
    .await;
    let run = s
        .post_ok(&a("runs/create"), json!({"experiment_id": exp}))
        .await["run"]["info"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    s.post_ok(
        &a("runs/log-metric"),
        json!({"run_id": run, "key": "m", "value": 1, "timestamp": 1}),
    )
    .await;
    s.post_ok(
        &a("runs/log-parameter"),
        json!({"run_id": run, "key": "p", "value": "v"}),
    )
    .await;
    s.post_ok(
        &a("runs/set-tag"),
        json!({"run_id": run, "key": "t", "value": "v"}),
    )
    .await;
    s.post_ok(&a("runs/delete-tag"), json!({"run_id": run, "key": "t"}))
        .await;
    s.post_ok(
        &a("runs/log-batch"),
        json!({"run_id": run, "metrics": [{"key": "m", "value": 2, "timestamp": 2, "step": 1}]}),
    )
    .await;
    s.post_ok(
        &a("runs/log-inputs"),
        json!({"run_id": run, "datasets": [{"dataset": {"name": "d", "digest": "x",
               "source_type": "local", "source": "{}"}}]}),
    )
    .await;
    let model =
        json!({"artifact_path": "m", "flavors": {}, "utc_time_created": "t", "run_id": run});
    s.post_ok(
        &a("runs/log-model"),
        json!({"run_id": run, "model_json": model.to_string()}),
    )
    .await;
    s.post_ok(
        &a("runs/update"),
        json!({"run_id": run, "status": "FINISHED"}),
    )
    .await;
    let got = s.get_ok(&a("runs/get"), &[("run_id", &run)]).await;
    assert_eq!(got["run"]["info"]["status"], "FINISHED");
    assert_eq!(got["run"], s.get_run(&run).await);
    let h = s
        .get_ok(
            &a("metrics/get-history"),
            &[("run_id", &run), ("metric_key", "m")],
        )
        .await;
    assert_eq!(h["metrics"].as_array().unwrap().len(), 2);
    let r = s
        .post_ok(&a("runs/search"), json!({"experiment_ids": [exp]}))
        .await;
    assert_eq!(r["runs"][0]["info"]["run_id"], run);
    s.post_ok(&a("runs/delete"), json!({"run_id": run})).await;
    s.post_ok(&a("runs/restore"), json!({"run_id": run})).await;
    s.post_ok(&a("experiments/delete"), json!({"experiment_id": exp}))
        .await;
    s.post_ok(&a("experiments/restore"), json!({"experiment_id": exp}))
        .await;
    assert_eq!(s.get_experiment(&exp).await["name"], "ajax2");
}

#[tokio::test]
async fn static_prefix_routing() {
    let config = ServerConfig {
        static_prefix: "/mlflow".into(),
        ..default_config()
    };
    let s = TestServer::start_with(Backend::Sqlite, config)
        .await
        .unwrap();
    let r = s.get_full("/mlflow/health", &[]).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, Some("OK")));
    let r = s.get_full("/mlflow/version", &[]).await;
    assert_eq!(r.body, "3.17.2");
    let r = s.get_full("/mlflow/api/3.0/mlflow/server-info", &[]).await;
    assert_eq!(r.body["store_type"], "SqlStore");
    let r = s
        .get_full(
            "/mlflow/api/2.0/mlflow/experiments/get",
            &[("experiment_id", "0")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["experiment"]["name"], "Default");
    let r = s
        .post_full(
            "/mlflow/ajax-api/2.0/mlflow/experiments/create",
            &json!({"name": "prefixed"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = s
        .get_full(
            "/mlflow/ajax-api/2.0/mlflow/metrics/get-history-bulk",
            &[("metric_key", "m")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "routed under the prefix");
    // Without the prefix nothing is served.
    for path in [
        "/health",
        "/version",
        "/api/2.0/mlflow/experiments/get?experiment_id=0",
    ] {
        let r = s.request(Method::GET, path, &[], None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.body, NOT_FOUND_HTML);
    }
}

#[tokio::test]
async fn host_header_guard() {
    let s = sqlite().await;
    let r = s
        .request(
            Method::GET,
            "/api/2.0/mlflow/experiments/get?experiment_id=0",
            &[("host", "evil.example.com")],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.body
            .as_str()
            .unwrap_or_default()
            .contains("Invalid Host header"),
        "{}",
        r.body
    );
    // Also for writes: nothing may be created through a rebinding host.
    let r = s
        .request(
            Method::POST,
            "/api/2.0/mlflow/experiments/create",
            &[
                ("host", "evil.example.com:5000"),
                ("content-type", "application/json"),
            ],
            Some(br#"{"name": "rebound"}"#.to_vec()),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = s
        .get("experiments/get-by-name", &[("experiment_name", "rebound")])
        .await;
    assert_eq!(r.0, StatusCode::NOT_FOUND);
    for host in [
        "localhost:5000",
        "127.0.0.1",
        "[::1]:5000",
        "10.0.0.7:80",
        "192.168.1.2",
    ] {
        let r = s
            .request(Method::GET, "/health", &[("host", host)], None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{host}");
    }

    // An explicit allow-list replaces the defaults.
    let config = ServerConfig {
        allowed_hosts: Some(vec!["mlflow.example.com".into(), "*.corp.net".into()]),
        ..default_config()
    };
    let s = TestServer::start_with(Backend::Sqlite, config)
        .await
        .unwrap();
    for (host, ok) in [
        ("mlflow.example.com", true),
        ("mlflow.example.com:443", true),
        ("a.corp.net", true),
        ("evil.example.com", false),
        ("localhost", false),
    ] {
        let r = s
            .request(Method::GET, "/health", &[("host", host)], None)
            .await;
        let want = if ok {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(r.status, want, "{host}");
    }
}

#[tokio::test]
async fn cors_defaults() {
    let s = sqlite().await;
    let preflight = |origin: &'static str| {
        let s = s.clone();
        async move {
            s.request(
                Method::OPTIONS,
                "/api/2.0/mlflow/experiments/create",
                &[
                    ("origin", origin),
                    ("access-control-request-method", "POST"),
                    ("access-control-request-headers", "content-type"),
                ],
                None,
            )
            .await
        }
    };
    let r = preflight("http://localhost:3000").await;
    assert!(r.status.is_success(), "{}", r.status);
    assert_eq!(
        r.headers
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("http://localhost:3000")
    );
    let r = preflight("https://evil.example.com").await;
    assert!(r.headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn artifacts_only_disables_tracking() {
    let config = ServerConfig {
        artifacts_only: true,
        ..default_config()
    };
    let s = TestServer::start_with(Backend::Sqlite, config)
        .await
        .unwrap();
    let r = s.get_full("/health", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    // The official server answers 503 with a text body on every tracking route.
    let r = s
        .get_full("/api/2.0/mlflow/experiments/get", &[("experiment_id", "0")])
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(
        r.body
            .as_str()
            .unwrap_or_default()
            .contains("disabled due to the mlflow server running in `--artifacts-only` mode"),
        "{}",
        r.body
    );
    let r = s.post_full("/api/2.0/mlflow/runs/create", &json!({})).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
}

// ------------------------------------------------------------ per-backend decoding

async fn camel_case_and_int64_strings(s: TestServer) {
    let exp = s
        .post_ok(
            "experiments/create",
            json!({"name": "camel", "artifactLocation": "file:///tmp/camel"}),
        )
        .await["experiment_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        s.get_experiment(&exp).await["artifact_location"],
        "file:///tmp/camel"
    );
    // Numeric experiment id and string int64s.
    let exp_num: i64 = exp.parse().unwrap();
    let r = s
        .post_ok(
            "runs/create",
            json!({"experimentId": exp_num, "runName": "cc", "startTime": "1700000000000",
                   "userId": "camel-user"}),
        )
        .await;
    let info = &r["run"]["info"];
    assert_eq!(info["experiment_id"], exp);
    assert_eq!(
        info["start_time"], 1700000000000i64,
        "int64 is written as a number"
    );
    assert_eq!(info["user_id"], "camel-user");
    assert_eq!(info["run_name"], "cc");
    let run = info["run_id"].as_str().unwrap().to_string();

    s.post_ok(
        "runs/log-metric",
        json!({"runId": run, "key": "m", "value": "2.5", "timestamp": "1700000000123", "step": "7"}),
    )
    .await;
    s.post_ok(
        "runs/update",
        json!({"runId": run, "status": "KILLED", "endTime": "1700000009999"}),
    )
    .await;
    s.post_ok(
        "runs/log-batch",
        json!({"runId": run, "metrics": [{"key": "b", "value": 1, "timestamp": "5", "step": "6"}]}),
    )
    .await;
    let got = s.get_run(&run).await;
    assert_eq!(got["info"]["status"], "KILLED");
    assert_eq!(got["info"]["end_time"], 1700000009999i64);
    let mut metrics = got["data"]["metrics"].as_array().unwrap().clone();
    metrics.sort_by_key(|m| m["key"].as_str().unwrap().to_string());
    assert_eq!(
        metrics,
        vec![
            json!({"key": "b", "value": 1.0, "timestamp": 5, "step": 6}),
            json!({"key": "m", "value": 2.5, "timestamp": 1700000000123i64, "step": 7}),
        ]
    );
    // camelCase on GET.
    let h = s
        .get_ok(
            "metrics/get-history",
            &[("runId", &run), ("metricKey", "m")],
        )
        .await;
    assert_eq!(h["metrics"][0]["step"], 7);
    let r = s
        .get_ok(
            "experiments/search",
            &[
                ("maxResults", "1"),
                ("filter", "name = 'camel'"),
                ("viewType", "ALL"),
            ],
        )
        .await;
    assert_eq!(r["experiments"][0]["experiment_id"], exp);
    let r = s
        .post_ok(
            "experiments/search",
            json!({"maxResults": "5", "orderBy": ["name DESC"], "filter": "name LIKE 'c%'"}),
        )
        .await;
    assert_eq!(r["experiments"][0]["name"], "camel");
    let r = s
        .post_ok(
            "experiments/set-experiment-tag",
            json!({"experimentId": exp, "key": "k", "value": "v"}),
        )
        .await;
    assert_eq!(r, json!({}));
    let r = s
        .post(
            "runs/create",
            json!({"experiment_id": exp, "start_time": "soon"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::BAD_REQUEST, "{}", r.1);
    assert_eq!(r.1["error_code"], "INVALID_PARAMETER_VALUE");
}

async fn get_query_decoding(s: TestServer) {
    let r1 = s.create_run("0").await;
    let r2 = s.create_run("0").await;
    for r in [&r1, &r2] {
        s.post_ok(
            "runs/log-metric",
            json!({"run_id": r, "key": "k", "value": 1, "timestamp": 1}),
        )
        .await;
    }
    // Repeated keys are lists; a single value is a one-element list.
    let r = s
        .get_ok(
            "metrics/get-history-bulk-interval",
            &[("run_ids", &r1), ("run_ids", &r2), ("metric_key", "k")],
        )
        .await;
    let mut ids: Vec<&str> = r["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["run_id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut want = vec![r1.as_str(), r2.as_str()];
    want.sort();
    assert_eq!(ids, want);
    let r = s
        .get_ok(
            "metrics/get-history-bulk-interval",
            &[("run_ids", &r1), ("metric_key", "k")],
        )
        .await;
    assert_eq!(r["metrics"].as_array().unwrap().len(), 1);
    // The client sends both run_uuid and run_id on run-scoped GETs, and Python bools as
    // `True`/`False`; unknown parameters are ignored.
    let r = s
        .get_ok(
            "runs/get",
            &[
                ("run_uuid", &r1),
                ("run_id", &r1),
                ("include_everything", "True"),
            ],
        )
        .await;
    assert_eq!(r["run"]["info"]["run_id"], r1);
    let r = s
        .get_ok(
            "experiments/search",
            &[
                ("max_results", "10"),
                ("order_by", "name ASC"),
                ("order_by", "creation_time DESC"),
                ("verbose", "False"),
            ],
        )
        .await;
    assert_eq!(r["experiments"][0]["name"], "Default");
    // A repeated order_by key on GET is a list of clauses.
    let r = s
        .get(
            "experiments/search",
            &[
                ("max_results", "10"),
                ("order_by", "bogus ASC"),
                ("order_by", "name ASC"),
            ],
        )
        .await;
    assert_eq!(r.0, StatusCode::BAD_REQUEST, "{}", r.1);
    // Numeric enum values, as ParseDict accepts.
    let r = s
        .get_ok(
            "experiments/search",
            &[("max_results", "10"), ("view_type", "3")],
        )
        .await;
    assert_eq!(r["experiments"].as_array().unwrap().len(), 1);
    // A non-integer int64 is a 400.
    let r = s
        .get(
            "metrics/get-history",
            &[
                ("run_id", &r1),
                ("metric_key", "k"),
                ("max_results", "many"),
            ],
        )
        .await;
    assert_eq!(r.0, StatusCode::BAD_REQUEST, "{}", r.1);
    assert_eq!(r.1["error_code"], "INVALID_PARAMETER_VALUE");
}

backend_tests!(camel_case_and_int64_strings, get_query_decoding);
