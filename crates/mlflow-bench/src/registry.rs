//! Model-registry workloads: registered-model creation and model-version creation with
//! concurrent clients, `search_model_versions` over a loaded registry, and prompt loading by
//! alias (what `mlflow.genai.load_prompt("prompts:/name@alias")` asks the server).
//!
//! Sizes follow the shared [`Sizes`](crate::workloads::Sizes): versions loaded for the search =
//! `search_runs` (10,000 full, 1,000 quick), creations per client = `create_run_per_client`,
//! timed reads = `search_queries` (prompt loads: 5x that).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Result, anyhow, bail};
use serde_json::{Value, json};

use crate::client::{self, Api, ConnMode, run_clients};
use crate::workloads::{Ctx, Measure, Outcome, thousands};

const P_RM_CREATE: &str = "/api/2.0/mlflow/registered-models/create";
const P_MV_CREATE: &str = "/api/2.0/mlflow/model-versions/create";
const P_MV_SEARCH: &str = "/api/2.0/mlflow/model-versions/search";
const P_ALIAS: &str = "/api/2.0/mlflow/registered-models/alias";

/// Versions per model in the search data set (the query reads one model's versions).
pub const VERSIONS_PER_MODEL: usize = 100;
const SOURCE: &str = "s3://bench-bucket/models/model";

fn nonce() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    )
}

async fn create_model(api: &Api, name: &str, tags: Value) -> Result<()> {
    api.post(P_RM_CREATE, &json!({"name": name, "tags": tags}))
        .await
        .map(drop)
}

async fn create_version(api: &Api, name: &str, tags: Value) -> Result<String> {
    // Prompt versions must use the client's placeholder source.
    let is_prompt = tags.to_string().contains("mlflow.prompt.is_prompt");
    let source = if is_prompt { "dummy-source" } else { SOURCE };
    let resp = api
        .post(
            P_MV_CREATE,
            &json!({"name": name, "source": source, "tags": tags}),
        )
        .await?;
    resp.pointer("/model_version/version")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("model-versions/create: no version in {resp}"))
}

fn rate(phase: &client::Phase) -> Measure {
    Measure::Rate {
        per_s: phase.per_sec(),
        p50: phase.p(50.0),
        p99: phase.p(99.0),
    }
}

pub fn label_rm_create(clients: usize) -> String {
    format!("registered-model create, {clients} clients: models/s (p50 / p99 ms)")
}

pub fn label_mv_create(clients: usize) -> String {
    format!("model-version create on one model, {clients} clients: versions/s (p50 / p99 ms)")
}

pub fn label_mv_search(versions: usize) -> String {
    format!(
        "search_model_versions `name = '…'` at {} versions ({} per model), max 100, 1 client: p50 / p99 ms",
        thousands(versions as f64),
        VERSIONS_PER_MODEL
    )
}

pub fn label_prompt_alias() -> String {
    "prompt load by alias (`registered-models/alias` GET), 1 client: p50 / p99 ms".to_string()
}

pub async fn rm_create(ctx: &Ctx<'_>) -> Result<Outcome> {
    let s = ctx.sizes;
    let prefix: Arc<str> = format!("bench-rm-{}", nonce()).into();
    let phase = run_clients(
        Api::many(ctx.base, ctx.mode, s.clients)?,
        s.warmup,
        s.create_run_per_client,
        move |api, ci, i| {
            let prefix = prefix.clone();
            async move { create_model(&api, &format!("{prefix}-{ci}-{i}"), json!([])).await }
        },
    )
    .await?;
    eprintln!(
        "[{}] rm_create: {} models in {:.2} s",
        ctx.tag,
        phase.ops(),
        phase.elapsed.as_secs_f64()
    );
    Ok(Outcome {
        measure: rate(&phase),
        notes: vec![],
    })
}

pub async fn mv_create(ctx: &Ctx<'_>) -> Result<Outcome> {
    let s = ctx.sizes;
    let name: Arc<str> = format!("bench-mv-{}", nonce()).into();
    create_model(&Api::new(ctx.base, ctx.mode)?, &name, json!([])).await?;
    let (name2, created) = (name.clone(), Arc::new(AtomicUsize::new(0)));
    let created2 = created.clone();
    let phase = run_clients(
        Api::many(ctx.base, ctx.mode, s.clients)?,
        s.warmup,
        s.create_run_per_client,
        move |api, _, _| {
            let (name, created) = (name2.clone(), created2.clone());
            async move {
                create_version(&api, &name, json!([])).await?;
                created.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        },
    )
    .await?;
    eprintln!(
        "[{}] mv_create: {} versions in {:.2} s",
        ctx.tag,
        phase.ops(),
        phase.elapsed.as_secs_f64()
    );
    // Concurrent creations must yield distinct, gap-free version numbers.
    let mut notes = vec![];
    let latest = Api::new(ctx.base, ConnMode::KeepAlive)?
        .get(
            P_MV_SEARCH,
            &[
                ("filter", &format!("name = '{name}'")),
                ("max_results", "1"),
                ("order_by", "version_number DESC"),
            ],
        )
        .await?;
    let top = latest
        .pointer("/model_versions/0/version")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    let total = created.load(Ordering::Relaxed);
    if top != total.to_string() {
        notes.push(format!(
            "mv_create: {total} versions created but the highest version is {top}"
        ));
    }
    Ok(Outcome {
        measure: rate(&phase),
        notes,
    })
}

pub async fn mv_search(ctx: &Ctx<'_>) -> Result<Outcome> {
    let s = ctx.sizes;
    let total = s.search_runs.max(VERSIONS_PER_MODEL);
    let models = total.div_ceil(VERSIONS_PER_MODEL);
    let prefix: Arc<str> = format!("bench-search-{}", nonce()).into();
    let setup = Api::many(ctx.base, ConnMode::KeepAlive, s.setup_clients)?;
    let first = setup
        .first()
        .cloned()
        .ok_or_else(|| anyhow!("no setup client"))?;
    for m in 0..models {
        create_model(&first, &format!("{prefix}-{m}"), json!([])).await?;
    }
    // Each model's versions are created by one client in order (versions are per model).
    let (prefix2, tag, progress) = (
        prefix.clone(),
        ctx.tag.to_string(),
        Arc::new(AtomicUsize::new(0)),
    );
    let load = client::for_each_concurrent(setup, models, move |api, m| {
        let (prefix, tag, progress) = (prefix2.clone(), tag.clone(), progress.clone());
        async move {
            for v in 0..VERSIONS_PER_MODEL {
                create_version(
                    &api,
                    &format!("{prefix}-{m}"),
                    json!([{"key": "stage", "value": if v % 2 == 0 { "a" } else { "b" }}]),
                )
                .await?;
            }
            let done =
                progress.fetch_add(VERSIONS_PER_MODEL, Ordering::Relaxed) + VERSIONS_PER_MODEL;
            if done.is_multiple_of(1000) {
                eprintln!("[{tag}] mv_search setup: {done}/{total} versions");
            }
            Ok(())
        }
    })
    .await?;
    let loaded = models * VERSIONS_PER_MODEL;
    eprintln!(
        "[{}] mv_search: loaded {loaded} versions in {:.1} s",
        ctx.tag,
        load.as_secs_f64()
    );
    let mut notes = vec![format!(
        "setup: {} model versions over {models} models in {:.1} s ({} versions/s, {} clients)",
        thousands(loaded as f64),
        load.as_secs_f64(),
        thousands(loaded as f64 / load.as_secs_f64().max(1e-9)),
        s.setup_clients
    )];
    let target: Arc<str> = format!("{prefix}-{}", models / 2).into();
    let filter: Arc<str> = format!("name = '{target}'").into();
    let check = first
        .get(P_MV_SEARCH, &[("filter", &filter), ("max_results", "100")])
        .await?;
    let n = check
        .get("model_versions")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if n != VERSIONS_PER_MODEL.min(100) {
        notes.push(format!("mv_search: expected 100 versions, got {n}"));
    }
    let phase = run_clients(
        Api::many(ctx.base, ctx.mode, 1)?,
        s.warmup,
        s.search_queries,
        move |api, _, _| {
            let filter = filter.clone();
            async move {
                api.get(P_MV_SEARCH, &[("filter", &filter), ("max_results", "100")])
                    .await
                    .map(drop)
            }
        },
    )
    .await?;
    eprintln!(
        "[{}] mv_search: {} queries, p50 {:.1} ms",
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

pub async fn prompt_alias(ctx: &Ctx<'_>) -> Result<Outcome> {
    let s = ctx.sizes;
    let api = Api::new(ctx.base, ctx.mode)?;
    let name: Arc<str> = format!("bench-prompt-{}", nonce()).into();
    let prompt_tag = json!({"key": "mlflow.prompt.is_prompt", "value": "true"});
    create_model(&api, &name, json!([prompt_tag])).await?;
    let mut version = String::new();
    for i in 0..3 {
        version = create_version(
            &api,
            &name,
            json!([prompt_tag,
                   {"key": "mlflow.prompt.text", "value": format!("Hello {{{{name}}}}, v{i}")},
                   {"key": "_mlflow_prompt_type", "value": "text"}]),
        )
        .await?;
    }
    api.post(
        P_ALIAS,
        &json!({"name": &*name, "alias": "production", "version": version}),
    )
    .await?;
    let phase = run_clients(
        Api::many(ctx.base, ctx.mode, 1)?,
        s.warmup,
        s.search_queries * 5,
        move |api, _, _| {
            let name = name.clone();
            async move {
                let r = api
                    .get(P_ALIAS, &[("name", &name), ("alias", "production")])
                    .await?;
                if r.pointer("/model_version/version").and_then(Value::as_str) != Some("3") {
                    bail!("alias lookup returned {r}");
                }
                Ok(())
            }
        },
    )
    .await?;
    eprintln!(
        "[{}] prompt_alias: {} loads, p50 {:.1} ms",
        ctx.tag,
        phase.ops(),
        phase.p(50.0)
    );
    Ok(Outcome {
        measure: Measure::Latency {
            p50: phase.p(50.0),
            p99: phase.p(99.0),
        },
        notes: vec![],
    })
}
