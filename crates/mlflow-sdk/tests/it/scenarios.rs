//! Scenarios run against each server flavour.

use crate::common::{Flavor, Server, py, unique};
use futures::TryStreamExt;
use mlflow_sdk::*;
use serde_json::json;
use std::time::Duration;

pub async fn tracking(srv: &Server) {
    let c = srv.client();
    let name = unique("sdk-exp");
    let exp = c.get_or_create_experiment(&name).await.unwrap();
    assert_eq!(
        c.get_or_create_experiment(&name).await.unwrap(),
        exp,
        "idempotent"
    );
    let got = c.get_experiment(&exp).await.unwrap();
    assert_eq!(got.name, name);
    c.set_experiment_tag(&exp, "team", "rust").await.unwrap();
    assert_eq!(
        c.get_experiment(&exp).await.unwrap().tag("team"),
        Some("rust")
    );
    assert!(
        c.get_experiment_by_name(&unique("missing"))
            .await
            .unwrap()
            .is_none()
    );

    // Errors keep the server's code.
    let err = c
        .get_run("0123456789abcdef0123456789abcdef")
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some("RESOURCE_DOES_NOT_EXIST"), "{err}");
    assert_eq!(err.status(), Some(404));
    let err = c.create_experiment(&name, None, &[]).await.unwrap_err();
    assert_eq!(err.error_code(), Some("RESOURCE_ALREADY_EXISTS"), "{err}");

    let run = c
        .create_run(CreateRun::new(&exp).name("first").tag("k", "v"))
        .await
        .unwrap();
    let id = run.id().to_string();
    assert_eq!(run.info.status, RunStatus::Running);
    assert_eq!(run.info.run_name, "first");
    c.log_param(&id, "lr", "0.01").await.unwrap();
    c.log_metric(&id, "acc", 0.5, 0).await.unwrap();
    c.log_metric(&id, "weird", f64::NAN, 0).await.unwrap();
    c.set_tag(&id, "stage", "dev").await.unwrap();

    // 2500 metrics + 150 params: split into several log-batch calls.
    let metrics: Vec<Metric> = (0..2500)
        .map(|i| Metric::new("loss", 1.0 / (i + 1) as f64, i))
        .collect();
    let params: Vec<Param> = (0..150)
        .map(|i| Tag::new(format!("p{i}"), i.to_string()))
        .collect();
    c.log_batch(&id, &metrics, &params, &[Tag::new("batch", "yes")])
        .await
        .unwrap();

    let run = c.get_run(&id).await.unwrap();
    assert_eq!(run.param("lr"), Some("0.01"));
    assert_eq!(run.param("p149"), Some("149"));
    assert_eq!(run.tag("k"), Some("v"));
    assert_eq!(run.tag("stage"), Some("dev"));
    assert_eq!(run.tag("mlflow.runName"), Some("first"));
    assert!(run.metric("weird").unwrap().is_nan(), "NaN round-trips");
    assert_eq!(run.metric("loss"), Some(1.0 / 2500.0));

    let hist = c.get_metric_history(&id, "loss").await.unwrap();
    assert_eq!(hist.len(), 2500);

    let info = c.end_run(&id, RunStatus::Finished).await.unwrap();
    assert_eq!(info.status, RunStatus::Finished);
    assert!(info.end_time.is_some());

    // Paging: 5 more runs read back 2 per page.
    for i in 0..5 {
        let r = c
            .create_run(CreateRun::new(&exp).name(format!("r{i}")))
            .await
            .unwrap();
        c.log_metric(r.id(), "score", i as f64, 0).await.unwrap();
    }
    let q = SearchQuery::new()
        .max_results(2)
        .order_by("metrics.score DESC");
    let page = c
        .search_runs_page(std::slice::from_ref(&exp), &q)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(page.next_page_token.is_some());
    let all: Vec<Run> = c
        .search_runs(vec![exp.clone()], q.clone())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 6);
    let filtered: Vec<Run> = c
        .search_runs(
            vec![exp.clone()],
            SearchQuery::new()
                .filter("metrics.score >= 3")
                .max_results(1),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(filtered.len(), 2);
    assert_eq!(filtered[0].metric("score"), Some(4.0));

    c.delete_run(&id).await.unwrap();
    assert_eq!(
        c.get_run(&id).await.unwrap().info.lifecycle_stage,
        "deleted"
    );
    c.restore_run(&id).await.unwrap();

    let exps: Vec<Experiment> = c
        .search_experiments(SearchQuery::new().filter(format!("name = '{name}'")))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(exps.len(), 1);
    c.rename_experiment(&exp, &format!("{name}-renamed"))
        .await
        .unwrap();
    c.delete_experiment(&exp).await.unwrap();
    assert_eq!(
        c.get_experiment(&exp).await.unwrap().lifecycle_stage,
        "deleted"
    );
    assert!(
        c.get_or_create_experiment(&format!("{name}-renamed"))
            .await
            .is_err()
    );

    // Cross-check: the official client reads what we wrote.
    if let Some(v) = py(
        &srv.url,
        &format!(
            "import mlflow, json\n\
             r = mlflow.MlflowClient().get_run('{id}')\n\
             h = mlflow.MlflowClient().get_metric_history('{id}', 'loss')\n\
             print(json.dumps({{'lr': r.data.params['lr'], 'stage': r.data.tags['stage'], \
             'loss': r.data.metrics['loss'], 'n': len(h), 'status': r.info.status}}))"
        ),
    ) {
        assert_eq!(v["lr"], "0.01");
        assert_eq!(v["stage"], "dev");
        assert_eq!(v["loss"], json!(1.0 / 2500.0));
        assert_eq!(v["n"], 2500);
        assert_eq!(v["status"], "FINISHED");
    }
}

pub async fn python_writes_sdk_reads(srv: &Server) {
    let c = srv.client();
    let name = unique("py-exp");
    let Some(v) = py(
        &srv.url,
        &format!(
            "import mlflow, json\n\
             mlflow.set_experiment('{name}')\n\
             with mlflow.start_run(run_name='py') as r:\n\
             \x20   mlflow.log_param('alpha', 0.5)\n\
             \x20   mlflow.log_metrics({{'m': 1.5}}, step=3)\n\
             \x20   mlflow.set_tag('who', 'python')\n\
             print(json.dumps({{'run_id': r.info.run_id}}))"
        ),
    ) else {
        return;
    };
    let run = c.get_run(v["run_id"].as_str().unwrap()).await.unwrap();
    assert_eq!(run.param("alpha"), Some("0.5"));
    assert_eq!(run.tag("who"), Some("python"));
    assert_eq!(run.info.status, RunStatus::Finished);
    let h = c.get_metric_history(run.id(), "m").await.unwrap();
    assert_eq!((h.len(), h[0].step, h[0].value), (1, 3, 1.5));
    let exp = c.get_experiment_by_name(&name).await.unwrap().unwrap();
    assert_eq!(run.info.experiment_id, exp.experiment_id);
}

pub async fn artifacts(srv: &Server) {
    let c = srv.client();
    let exp = c.get_or_create_experiment(&unique("art")).await.unwrap();
    let run = c.create_run(CreateRun::new(&exp)).await.unwrap();
    let id = run.id();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("hello.txt"), "hello world").unwrap();
    std::fs::create_dir_all(src.path().join("dir/sub")).unwrap();
    std::fs::write(src.path().join("dir/a.json"), "{\"a\": 1}").unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(src.path().join("dir/sub/big.bin"), &big).unwrap();

    c.log_artifact(id, &src.path().join("hello.txt"), None)
        .await
        .unwrap();
    c.log_artifacts(id, &src.path().join("dir"), Some("data"))
        .await
        .unwrap();
    c.log_text(id, "some text", "notes/n.txt").await.unwrap();

    let mut root: Vec<String> = c
        .list_artifacts(id, None)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    root.sort();
    assert_eq!(root, vec!["data", "hello.txt", "notes"]);
    let data = c.list_artifacts(id, Some("data")).await.unwrap();
    assert!(
        data.iter().any(|f| f.path == "data/sub" && f.is_dir),
        "{data:?}"
    );
    assert!(
        data.iter()
            .any(|f| f.path == "data/a.json" && f.file_size == Some(8)),
        "{data:?}"
    );

    let dst = tempfile::tempdir().unwrap();
    let p = c.download_artifacts(id, "data", dst.path()).await.unwrap();
    assert_eq!(p, dst.path().join("data"));
    assert_eq!(
        std::fs::read(dst.path().join("data/sub/big.bin")).unwrap(),
        big
    );
    assert_eq!(
        std::fs::read_to_string(dst.path().join("data/a.json")).unwrap(),
        "{\"a\": 1}"
    );
    let f = c
        .download_artifacts(id, "hello.txt", dst.path())
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(f).unwrap(), "hello world");
    let all = tempfile::tempdir().unwrap();
    c.download_artifacts(id, "", all.path()).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(all.path().join("notes/n.txt")).unwrap(),
        "some text"
    );

    if let Some(v) = py(
        &srv.url,
        &format!(
            "import mlflow, json, tempfile, os\n\
             d = mlflow.artifacts.download_artifacts(run_id='{id}', artifact_path='data', dst_path=tempfile.mkdtemp())\n\
             print(json.dumps({{'size': os.path.getsize(os.path.join(d, 'sub', 'big.bin'))}}))"
        ),
    ) {
        assert_eq!(v["size"], 3_000_000);
    }
}

pub async fn registry_and_prompts(srv: &Server) {
    let c = srv.client();
    let model = unique("model");
    let rm = c
        .create_registered_model(&model, &[Tag::new("t", "1")], Some("desc"))
        .await
        .unwrap();
    assert_eq!(rm.name, model);
    let exp = c.get_or_create_experiment(&unique("reg")).await.unwrap();
    let run = c.create_run(CreateRun::new(&exp)).await.unwrap();
    let mv = c
        .create_model_version(CreateModelVersion {
            name: model.clone(),
            source: format!("{}/model", run.info.artifact_uri),
            run_id: Some(run.id().to_string()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(mv.version, "1");
    c.set_registered_model_alias(&model, "champion", "1")
        .await
        .unwrap();
    let by_alias = c
        .get_model_version_by_alias(&model, "champion")
        .await
        .unwrap();
    assert_eq!(by_alias.version, "1");
    c.set_model_version_tag(&model, "1", "validated", "true")
        .await
        .unwrap();
    assert_eq!(
        c.get_model_version(&model, "1")
            .await
            .unwrap()
            .tag("validated"),
        Some("true")
    );
    let found: Vec<RegisteredModel> = c
        .search_registered_models(SearchQuery::new().filter(format!("name = '{model}'")))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].aliases[0].alias, "champion");
    let versions: Vec<ModelVersion> = c
        .search_model_versions(SearchQuery::new().filter(format!("name = '{model}'")))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(versions.len(), 1);
    c.delete_registered_model_alias(&model, "champion")
        .await
        .unwrap();
    assert!(
        c.get_model_version_by_alias(&model, "champion")
            .await
            .is_err()
    );

    // Prompts.
    let pname = unique("qa").replace('-', "_");
    let p1 = c
        .register_prompt(
            &pname,
            "Answer {{ question }} for {{name}}".into(),
            Some("v1"),
            &[Tag::new("lang", "en")],
        )
        .await
        .unwrap();
    assert_eq!(p1.version, "1");
    let chat = PromptTemplate::Chat(vec![
        ChatMessage::new("system", "You are a {{style}} assistant. Ünïcode ✓"),
        ChatMessage::new("user", "{{question}}"),
    ]);
    let p2 = c
        .register_prompt(&pname, chat.clone(), None, &[])
        .await
        .unwrap();
    assert_eq!(p2.version, "2");
    c.set_prompt_alias(&pname, "prod", "1").await.unwrap();

    let l1 = c.load_prompt(&format!("prompts:/{pname}/1")).await.unwrap();
    assert_eq!(
        l1.template,
        PromptTemplate::from("Answer {{ question }} for {{name}}")
    );
    assert_eq!(l1.commit_message.as_deref(), Some("v1"));
    assert_eq!(l1.tags, vec![Tag::new("lang", "en")]);
    let prod = c
        .load_prompt(&format!("prompts:/{pname}@prod"))
        .await
        .unwrap();
    assert_eq!(prod.version, "1");
    let latest = c
        .load_prompt(&format!("prompts:/{pname}@latest"))
        .await
        .unwrap();
    assert_eq!(latest.version, "2");
    assert_eq!(latest.template, chat);
    let text = l1.format(&[("question", "why?"), ("name", "Bob")]).unwrap();
    assert_eq!(text.as_text(), Some("Answer why? for Bob"));
    let msgs = latest
        .format(&[("style", "terse"), ("question", "2+2?")])
        .unwrap();
    assert_eq!(
        msgs.as_chat().unwrap()[0].content,
        "You are a terse assistant. Ünïcode ✓"
    );

    // A model is not a prompt, and prompts are hidden from model search.
    let err = c
        .register_prompt(&model, "x".into(), None, &[])
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some("INVALID_PARAMETER_VALUE"));
    let names = c
        .search_prompts_page(Some(&format!("name = '{pname}'")), None)
        .await
        .unwrap();
    assert_eq!(names.items, vec![pname.clone()]);

    if let Some(v) = py(
        &srv.url,
        &format!(
            "import mlflow, json\n\
             p1 = mlflow.genai.load_prompt('prompts:/{pname}/1')\n\
             p2 = mlflow.genai.load_prompt('prompts:/{pname}@latest')\n\
             print(json.dumps({{'t1': p1.template, 't2': p2.template, 'msg': p1.commit_message, \
             'f': p1.format(question='q', name='n'), 'chat': p2.is_text_prompt}}))"
        ),
    ) {
        assert_eq!(v["t1"], "Answer {{ question }} for {{name}}");
        assert_eq!(
            v["t2"][0]["content"],
            "You are a {{style}} assistant. Ünïcode ✓"
        );
        assert_eq!(v["msg"], "v1");
        assert_eq!(v["f"], "Answer q for n");
        assert_eq!(v["chat"], false);
    }
    // And the reverse: a prompt registered by Python loads here.
    let pyname = unique("pyprompt").replace('-', "_");
    if py(
        &srv.url,
        &format!(
            "import mlflow, json\n\
             mlflow.genai.register_prompt(name='{pyname}', template=[{{'role': 'user', 'content': 'Hi {{{{ who }}}}'}}])\n\
             print('{{}}')"
        ),
    )
    .is_some()
    {
        let p = c.load_prompt(&format!("prompts:/{pyname}/1")).await.unwrap();
        assert_eq!(p.template, PromptTemplate::Chat(vec![ChatMessage::new("user", "Hi {{ who }}")]));
    }
}

pub async fn logged_models(srv: &Server) {
    let c = srv.client();
    let exp = c.get_or_create_experiment(&unique("lm")).await.unwrap();
    let run = c.create_run(CreateRun::new(&exp)).await.unwrap();
    let m = c
        .create_logged_model(CreateLoggedModel {
            experiment_id: exp.clone(),
            name: Some("agent".into()),
            model_type: Some("agent".into()),
            source_run_id: Some(run.id().into()),
            params: vec![Tag::new("temperature", "0.2")],
            tags: vec![Tag::new("a", "b")],
        })
        .await
        .unwrap();
    assert!(m.info.model_id.starts_with("m-"), "{m:?}");
    assert_eq!(m.info.status, "LOGGED_MODEL_PENDING");
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("MLmodel"), "flavors: {}\n").unwrap();
    c.upload_artifact_to(&m.info.artifact_uri, &src.path().join("MLmodel"), None)
        .await
        .unwrap();
    let m2 = c
        .finalize_logged_model(&m.info.model_id, "LOGGED_MODEL_READY")
        .await
        .unwrap();
    assert_eq!(m2.info.status, "LOGGED_MODEL_READY");
    c.set_logged_model_tags(&m.info.model_id, &[Tag::new("c", "d")])
        .await
        .unwrap();
    let got = c.get_logged_model(&m.info.model_id).await.unwrap();
    assert!(got.info.tags.contains(&Tag::new("c", "d")));
    assert_eq!(got.data.params, vec![Tag::new("temperature", "0.2")]);
    let found: Vec<LoggedModel> = c
        .search_logged_models(
            vec![exp.clone()],
            SearchQuery::new().filter("name = 'agent'"),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let bytes = c
        .read_artifact(&m.info.artifact_uri, "MLmodel")
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"flavors: {}\n");
    c.delete_logged_model_tag(&m.info.model_id, "c")
        .await
        .unwrap();
    c.delete_logged_model(&m.info.model_id).await.unwrap();
}

/// Whether the server has the 3.x trace endpoints (prints the reason when not).
pub async fn has_traces(srv: &Server) -> bool {
    let c = srv.client();
    match c
        .search_traces_page(&["0".to_string()], &SearchQuery::new())
        .await
    {
        Ok(_) => true,
        Err(e)
            if e.is_endpoint_not_found() || e.status() == Some(501) || e.status() == Some(404) =>
        {
            eprintln!("SKIP traces on {:?}: {e}", srv.flavor);
            false
        }
        Err(e) => panic!("{e}"),
    }
}

pub async fn wait_for_traces(c: &Client, exp: &str, n: usize) -> Vec<TraceInfo> {
    for _ in 0..100 {
        let t: Vec<TraceInfo> = c
            .search_traces(vec![exp.to_string()], SearchQuery::new())
            .try_collect()
            .await
            .unwrap();
        if t.len() >= n {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("traces did not show up");
}

pub async fn assessments(srv: &Server, trace_id: &str) {
    let c = srv.client();
    let a = c
        .create_assessment(&Assessment::feedback(
            trace_id,
            "correct",
            json!(true),
            AssessmentSource::human("bob"),
        ))
        .await
        .unwrap();
    let id = a.assessment_id.clone().unwrap();
    assert!(id.starts_with("a-"), "{a:?}");
    let e = c
        .create_assessment(&Assessment::expectation(
            trace_id,
            "expected",
            json!({"answer": 3}),
            AssessmentSource::human("bob"),
        ))
        .await
        .unwrap();
    let got = c.get_assessment(trace_id, &id).await.unwrap();
    assert_eq!(got.feedback.as_ref().unwrap().value, json!(true));
    let mut upd = got.clone();
    upd.rationale = Some("because".into());
    let upd = c.update_assessment(&upd, "rationale").await.unwrap();
    assert_eq!(upd.rationale.as_deref(), Some("because"));
    let info = c.get_trace_info(trace_id).await.unwrap();
    assert_eq!(info.assessments.len(), 2, "{info:?}");
    c.delete_assessment(trace_id, e.assessment_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(
        c.get_trace_info(trace_id).await.unwrap().assessments.len(),
        1
    );
}

#[allow(dead_code)]
pub fn is_official(srv: &Server) -> bool {
    srv.flavor == Flavor::Official
}

pub async fn evaluation(srv: &Server) {
    use mlflow_sdk::evaluate::{EvalRecord, Scorer, evaluate};
    let c = srv.client();
    let exp = c.get_or_create_experiment(&unique("eval")).await.unwrap();
    let data = vec![
        EvalRecord::new(json!({"question": "2+2"})).expect(json!("4")),
        EvalRecord::new(json!({"question": "capital of France"})).expect(json!("Paris")),
        EvalRecord::new(json!({"question": "boom"})),
    ];
    let scorers = vec![
        Scorer::exact_match(),
        Scorer::contains(),
        Scorer::regex("^[0-9]+$").unwrap(),
        Scorer::latency(),
        Scorer::from_fn("is_short", |s| {
            json!(if s.outputs.to_string().len() < 20 {
                "yes"
            } else {
                "no"
            })
        }),
    ];
    let result = evaluate(
        &c,
        &exp,
        &data,
        |inputs| match inputs["question"].as_str() {
            Some("2+2") => Ok(json!("4")),
            Some("boom") => Err("predict failed".into()),
            _ => Ok(json!("It is Paris.")),
        },
        &scorers,
    )
    .await
    .unwrap();
    assert_eq!(result.rows.len(), 3);
    assert_eq!(
        result.metrics["exact_match/mean"], 0.5,
        "{:?}",
        result.metrics
    );
    assert_eq!(result.metrics["contains/mean"], 1.0);
    assert!((result.metrics["regex_match/mean"] - 1.0 / 3.0).abs() < 1e-9);
    assert!(result.metrics.contains_key("latency/mean"));
    let run = c.get_run(&result.run_id).await.unwrap();
    assert_eq!(run.info.status, RunStatus::Finished);
    assert_eq!(run.metric("exact_match/mean"), Some(0.5));
    let info = c.get_trace_info(&result.rows[0].trace_id).await.unwrap();
    assert_eq!(
        info.trace_metadata.get("mlflow.sourceRun"),
        Some(&result.run_id)
    );
    // 1 expectation + 5 feedbacks.
    assert_eq!(info.assessments.len(), 6, "{:?}", info.assessments);
    let em = info
        .assessments
        .iter()
        .find(|a| a.assessment_name == "exact_match")
        .unwrap();
    assert_eq!(em.feedback.as_ref().unwrap().value, json!(true));
    let failed = c.get_trace_info(&result.rows[2].trace_id).await.unwrap();
    assert_eq!(failed.state, "ERROR");
    let runs: Vec<TraceInfo> = c
        .search_traces(
            vec![exp.clone()],
            SearchQuery::new().filter(format!("attributes.run_id = '{}'", result.run_id)),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(runs.len(), 3);
}
