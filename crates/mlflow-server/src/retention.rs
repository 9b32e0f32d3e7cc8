//! mlflow-rs extensions for storage hygiene: the storage report endpoint and the background
//! trace-retention sweeper. See `mlflow_store::retention` for the rules and tag names.

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::Msg;
use axum::Json;
use axum::extract::State;
use mlflow_domain::serde_util::string_list;
use mlflow_store::TraceStore;
use mlflow_store::retention::{ExperimentStorage, RetentionPolicy};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StorageReportReq {
    #[serde(
        alias = "experimentId",
        alias = "experiment_ids",
        deserialize_with = "string_list"
    )]
    experiment_id: Vec<String>,
}

fn experiment_json(e: &ExperimentStorage) -> Value {
    let mut v = json!({
        "experiment_id": e.experiment_id,
        "name": e.name,
        "lifecycle_stage": e.lifecycle_stage,
        "traces": e.traces,
        "spans": e.spans,
        "span_bytes": e.span_bytes,
        "assessments": e.assessments,
    });
    if let Some(t) = e.oldest_trace_ms {
        v["oldest_trace_timestamp_ms"] = json!(t);
    }
    if let Some(t) = e.newest_trace_ms {
        v["newest_trace_timestamp_ms"] = json!(t);
    }
    let mut retention = serde_json::Map::new();
    if let Some(t) = &e.retention_ttl {
        retention.insert("ttl".into(), json!(t));
    }
    if let Some(m) = &e.retention_max_traces {
        retention.insert("max_traces".into(), json!(m));
    }
    if !retention.is_empty() {
        v["retention"] = Value::Object(retention);
    }
    v
}

/// The report as JSON: `{"experiments": [...], "totals": {...}}`.
pub fn report_json(rows: &[ExperimentStorage]) -> Value {
    let sum = |f: fn(&ExperimentStorage) -> i64| rows.iter().map(f).sum::<i64>();
    json!({
        "experiments": rows.iter().map(experiment_json).collect::<Vec<_>>(),
        "totals": {
            "experiments": rows.len(),
            "traces": sum(|e| e.traces),
            "spans": sum(|e| e.spans),
            "span_bytes": sum(|e| e.span_bytes),
            "assessments": sum(|e| e.assessments),
        },
    })
}

/// `GET /api/3.0/mlflow/storage-report[?experiment_id=1&experiment_id=2]` (mlflow-rs
/// extension): traces, spans, span bytes, assessments and oldest/newest trace per experiment.
pub async fn storage_report(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<StorageReportReq>,
) -> ApiResult<Json<Value>> {
    let rows = s.traces.storage_report(&r.experiment_id).await?;
    Ok(Json(report_json(&rows)))
}

/// Settings of the background sweeper.
#[derive(Debug, Clone, Copy)]
pub struct SweeperConfig {
    /// Server-wide defaults; experiment tags override them.
    pub defaults: RetentionPolicy,
    /// Time between sweeps.
    pub interval: Duration,
}

/// Runs a retention sweep every `interval` until the task is aborted. Each sweep deletes in
/// bounded batches (short transactions) and is idempotent, so every replica can run one; on
/// PostgreSQL/MySQL a session lock lets only one replica sweep at a time.
pub fn spawn_sweeper(
    traces: Arc<dyn TraceStore>,
    config: SweeperConfig,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(config.interval.max(Duration::from_secs(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match traces.sweep_traces(config.defaults).await {
                Ok(s) if !s.ran => {
                    tracing::debug!("trace retention: another replica holds the sweep lock");
                }
                Ok(s) => {
                    for e in &s.errors {
                        tracing::warn!("trace retention: {e}");
                    }
                    if s.traces_deleted > 0 {
                        tracing::info!(
                            traces_deleted = s.traces_deleted,
                            experiments = ?s.per_experiment,
                            "trace retention sweep"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "trace retention sweep failed"),
            }
        }
    })
}
