//! `start_trace` (StartTraceV3) and `log_spans` (OTLP ingest).

use super::{SpanRow, aggregate_nodes};
use crate::db::{RowExt, db_err};
use crate::experiments::{check_active, upsert_sql};
use crate::{SqlStore, append_to_uri_path};
use mlflow_domain::traces::{
    COST_COLUMNS, PyValue, TOKEN_COLUMNS, TraceAnalytics, TraceInfo, finite_float, keys,
    token_count,
};
use mlflow_domain::{Error, Result};
use sqlx::{Any, Transaction};
use std::collections::BTreeMap;

pub(crate) const TOKEN_KEYS: [&str; 3] = ["input_tokens", "output_tokens", "total_tokens"];
pub(crate) const CACHE_KEYS: [&str; 3] = [
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation_input_tokens_above_1hr",
];
pub(crate) const COST_KEYS: [&str; 3] = ["input_cost", "output_cost", "total_cost"];

type Tx = Transaction<'static, Any>;

const PROMOTED: [&str; 3] = [keys::TRACE_SESSION, keys::TOKEN_USAGE, keys::COST];

impl SqlStore {
    async fn trace_experiment(&self, experiment_id: &str) -> Result<(i64, String, String)> {
        let e = self.get_experiment_impl(experiment_id).await?;
        let id: i64 = e
            .experiment_id
            .parse()
            .map_err(|_| Error::internal("bad experiment id"))?;
        Ok((
            id,
            e.artifact_location.unwrap_or_default(),
            e.lifecycle_stage.unwrap_or_else(|| "active".into()),
        ))
    }

    /// `(id, artifact root, lifecycle stage)` in one small read, with `get_experiment`'s
    /// errors.
    async fn trace_experiment_light(&self, experiment_id: &str) -> Result<(i64, String, String)> {
        let id = mlflow_domain::validation::parse_experiment_id(experiment_id)?;
        let row = sqlx::query(self.db.sql(
            "SELECT artifact_location, lifecycle_stage FROM experiments WHERE experiment_id = ?",
        ))
        .bind(id)
        .fetch_optional(&self.db.read)
        .await
        .map_err(db_err)?
        .ok_or_else(|| crate::experiments::not_found(id))?;
        Ok((
            id,
            row.opt_str_at(0)?.unwrap_or_default(),
            row.opt_str_at(1)?.unwrap_or_else(|| "active".into()),
        ))
    }

    pub(crate) async fn upsert_kv(
        &self,
        tx: &mut Tx,
        table: &str,
        trace_id: &str,
        items: &[(String, String)],
    ) -> Result<()> {
        let db = &self.db;
        let k = db.key_col();
        for chunk in items.chunks(200) {
            if chunk.is_empty() {
                continue;
            }
            let sql = upsert_sql(
                db.dialect,
                table,
                &[k, "value", "request_id"],
                &[k, "request_id"],
                &["value"],
                chunk.len(),
            );
            let mut q = sqlx::query(db.sql(&sql));
            for (key, value) in chunk {
                q = q
                    .bind(key.clone())
                    .bind(value.clone())
                    .bind(trace_id.to_owned());
            }
            q.execute(&mut **tx).await.map_err(db_err)?;
        }
        Ok(())
    }

    pub(crate) async fn start_trace_impl(&self, info: TraceInfo) -> Result<TraceInfo> {
        let trace_id = info.trace_id.clone();
        if trace_id.is_empty() {
            return Err(Error::missing("trace_id"));
        }
        let (exp_id, artifact_root, stage) = self.trace_experiment(&info.experiment_id).await?;
        check_active(exp_id, &stage)?;
        let artifact_location =
            append_to_uri_path(&artifact_root, &format!("traces/{trace_id}/artifacts"));
        let trace_name = info.tags.get(keys::TRACE_NAME).cloned();
        let (analytics, given) = TraceAnalytics::from_metadata(&info.trace_metadata);
        let mut metadata: Vec<(String, String)> = info
            .trace_metadata
            .iter()
            .filter(|(k, _)| !PROMOTED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        metadata.push((keys::INFO_FINALIZED.into(), "true".into()));
        metadata.sort();
        let mut tags: Vec<(String, String)> = info
            .tags
            .iter()
            .filter(|(k, _)| k.as_str() != keys::TRACE_NAME)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        tags.push((keys::ARTIFACT_LOCATION.into(), artifact_location));

        let db = &self.db;
        let mut tx = db.begin_write().await?;
        let exists = sqlx::query(db.sql("SELECT 1 FROM trace_info WHERE request_id = ?"))
            .bind(trace_id.clone())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .is_some();
        if !exists {
            let sql = "INSERT INTO trace_info (request_id, experiment_id, timestamp_ms, \
                       execution_time_ms, status, client_request_id, request_preview, \
                       response_preview, trace_name, session_id, input_tokens, output_tokens, \
                       total_tokens, cache_read_input_tokens, cache_creation_input_tokens, \
                       cache_creation_input_tokens_above_1hr, input_cost, output_cost, total_cost) \
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
            let mut q = sqlx::query(db.sql(sql))
                .persistent(false)
                .bind(trace_id.clone())
                .bind(exp_id)
                .bind(info.request_time)
                .bind(info.execution_duration)
                .bind(info.state.clone())
                .bind(info.client_request_id.clone())
                .bind(info.request_preview.clone())
                .bind(info.response_preview.clone())
                .bind(trace_name.clone())
                .bind(analytics.session_id.clone());
            for t in analytics.tokens {
                q = q.bind(t);
            }
            for c in analytics.costs {
                q = q.bind(c);
            }
            q.execute(&mut *tx).await.map_err(db_err)?;
        } else {
            let mut sets = vec![
                "experiment_id = ?",
                "timestamp_ms = ?",
                "execution_time_ms = ?",
                "status = ?",
                "client_request_id = ?",
            ];
            if trace_name.is_some() {
                sets.push("trace_name = ?");
            }
            if given[0] {
                sets.push("session_id = ?");
            }
            let token_sets: Vec<String> = TOKEN_COLUMNS
                .iter()
                .map(|(_, c)| format!("{c} = ?"))
                .collect();
            let cost_sets: Vec<String> = COST_COLUMNS
                .iter()
                .map(|(_, c)| format!("{c} = ?"))
                .collect();
            let mut sets: Vec<String> = sets.into_iter().map(str::to_owned).collect();
            if given[1] {
                sets.extend(token_sets);
            }
            if given[2] {
                sets.extend(cost_sets);
            }
            if info.request_preview.is_some() {
                sets.push("request_preview = ?".into());
            }
            if info.response_preview.is_some() {
                sets.push("response_preview = ?".into());
            }
            let sql = format!(
                "UPDATE trace_info SET {} WHERE request_id = ?",
                sets.join(", ")
            );
            let mut q = sqlx::query(db.sql(&sql))
                .persistent(false)
                .bind(exp_id)
                .bind(info.request_time)
                .bind(info.execution_duration)
                .bind(info.state.clone())
                .bind(info.client_request_id.clone());
            if let Some(n) = &trace_name {
                q = q.bind(n.clone());
            }
            if given[0] {
                q = q.bind(analytics.session_id.clone());
            }
            if given[1] {
                for t in analytics.tokens {
                    q = q.bind(t);
                }
            }
            if given[2] {
                for c in analytics.costs {
                    q = q.bind(c);
                }
            }
            if let Some(p) = &info.request_preview {
                q = q.bind(p.clone());
            }
            if let Some(p) = &info.response_preview {
                q = q.bind(p.clone());
            }
            q.bind(trace_id.clone())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            sqlx::query(db.sql("UPDATE spans SET experiment_id = ? WHERE trace_id = ?"))
                .bind(exp_id)
                .bind(trace_id.clone())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            sqlx::query(db.sql(
                "UPDATE assessments SET experiment_id = ?, trace_timestamp_ms = ? WHERE trace_id = ?",
            ))
            .bind(exp_id)
            .bind(info.request_time)
            .bind(trace_id.clone())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        self.upsert_kv(&mut tx, "trace_tags", &trace_id, &tags)
            .await?;
        self.upsert_kv(&mut tx, "trace_request_metadata", &trace_id, &metadata)
            .await?;
        for a in &info.assessments {
            let mut a = a.clone();
            a.trace_id = trace_id.clone();
            self.insert_assessment(&mut tx, &a, Some(exp_id), Some(info.request_time), true)
                .await?;
        }
        tx.commit().await.map_err(db_err)?;
        self.get_trace_info_impl(&trace_id).await
    }

    pub(crate) async fn log_spans_impl(&self, location: &str, spans: Vec<SpanRow>) -> Result<()> {
        if spans.is_empty() {
            return Ok(());
        }
        // Look the experiment up before taking the write lock (a read, so it does not hold
        // up other writers); its error only matters if some trace is new (as official).
        let experiment = self.trace_experiment_light(location).await;
        if let Some(group) = &self.group {
            return group.submit_spans(spans, experiment).await;
        }
        let mut tx = self.db.begin_write().await?;
        self.log_spans_in(&mut tx, spans, &experiment).await?;
        tx.commit().await.map_err(db_err)
    }

    /// The writes of one OTLP/`log_spans` request, inside the caller's transaction.
    pub(crate) async fn log_spans_in(
        &self,
        tx: &mut Tx,
        spans: Vec<SpanRow>,
        experiment: &Result<(i64, String, String)>,
    ) -> Result<()> {
        let mut by_trace: BTreeMap<String, Vec<SpanRow>> = BTreeMap::new();
        for s in spans {
            by_trace.entry(s.trace_id.clone()).or_default().push(s);
        }
        let db = &self.db;
        for (trace_id, group) in &by_trace {
            let row = sqlx::query(db.sql(
                "SELECT experiment_id, timestamp_ms, execution_time_ms, status, request_preview, \
                 response_preview, session_id, input_tokens, output_tokens, total_tokens, \
                 cache_read_input_tokens, cache_creation_input_tokens, \
                 cache_creation_input_tokens_above_1hr, input_cost, output_cost, total_cost \
                 FROM trace_info WHERE request_id = ?",
            ))
            .bind(trace_id.clone())
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?;

            let min_start_ms = group.iter().map(|s| s.start_time_ns).min().unwrap_or(0) / 1_000_000;
            let max_end_ms = group
                .iter()
                .filter_map(|s| s.end_time_ns)
                .max()
                .map(|e| e / 1_000_000);
            let root = group.iter().find(|s| s.parent_span_id.is_none());
            let root_status = root.map(|r| if r.status == "ERROR" { "ERROR" } else { "OK" });

            let mut artifact_location: Option<String> = None;
            let (exp_id, existing, created) = match row {
                Some(r) => {
                    let existing = Existing {
                        timestamp_ms: r.i64_at(1)?,
                        execution_time_ms: r.opt_i64_at(2)?,
                        status: r.str_at(3)?,
                        request_preview: r.opt_str_at(4)?,
                        response_preview: r.opt_str_at(5)?,
                        session_id: r.opt_str_at(6)?,
                        any_token: (7..13)
                            .map(|i| r.opt_i64_at(i))
                            .collect::<Result<Vec<_>>>()?
                            .iter()
                            .any(Option::is_some),
                        any_cost: (13..16)
                            .map(|i| r.opt_i64_at(i).or(Ok::<_, Error>(Some(0))))
                            .collect::<Result<Vec<_>>>()?
                            .iter()
                            .any(Option::is_some),
                    };
                    (r.i64_at(0)?, existing, false)
                }
                None => {
                    let (exp_id, root_uri, _) = experiment.clone()?;
                    let status = root_status.unwrap_or("IN_PROGRESS");
                    let exec = max_end_ms.map(|e| e - min_start_ms);
                    sqlx::query(db.sql(
                        "INSERT INTO trace_info (request_id, experiment_id, timestamp_ms, \
                         execution_time_ms, status) VALUES (?, ?, ?, ?, ?)",
                    ))
                    .bind(trace_id.clone())
                    .bind(exp_id)
                    .bind(min_start_ms)
                    .bind(exec)
                    .bind(status.to_owned())
                    .execute(&mut **tx)
                    .await
                    .map_err(db_err)?;
                    // Written with the other tags below (one statement).
                    artifact_location = Some(append_to_uri_path(
                        &root_uri,
                        &format!("traces/{trace_id}/artifacts"),
                    ));
                    let existing = Existing {
                        timestamp_ms: min_start_ms,
                        execution_time_ms: exec,
                        status: status.into(),
                        ..Default::default()
                    };
                    (exp_id, existing, true)
                }
            };

            self.upsert_spans(tx, exp_id, group).await?;

            let finalized = !created
                && sqlx::query(db.sql(&format!(
                    "SELECT 1 FROM trace_request_metadata WHERE request_id = ? AND {} = ?",
                    db.key_col()
                )))
                .bind(trace_id.clone())
                .bind(keys::INFO_FINALIZED)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_err)?
                .is_some();

            let mut sets: Vec<String> = Vec::new();
            let mut binds: Vec<Bind> = Vec::new();
            let mut new_ts = existing.timestamp_ms;
            if !finalized && !created {
                new_ts = existing.timestamp_ms.min(min_start_ms);
                sets.push("timestamp_ms = ?".into());
                binds.push(Bind::I(Some(new_ts)));
                if let Some(max_end) = max_end_ms {
                    let old_end = existing
                        .execution_time_ms
                        .map(|e| existing.timestamp_ms + e);
                    let end = match old_end {
                        Some(o) if o > max_end => o,
                        _ => max_end,
                    };
                    sets.push("execution_time_ms = ?".into());
                    binds.push(Bind::I(Some(end - new_ts)));
                }
            }
            if matches!(
                existing.status.as_str(),
                "IN_PROGRESS" | "STATE_UNSPECIFIED"
            ) && let Some(st) = root_status
                && !created
            {
                sets.push("status = ?".into());
                binds.push(Bind::S(Some(st.into())));
            }
            if let Some(r) = root {
                if existing.request_preview.is_none() && r.request_preview.is_some() {
                    sets.push("request_preview = ?".into());
                    binds.push(Bind::S(r.request_preview.clone()));
                }
                if existing.response_preview.is_none() && r.response_preview.is_some() {
                    sets.push("response_preview = ?".into());
                    binds.push(Bind::S(r.response_preview.clone()));
                }
                if let Some((_, n)) = r.trace_tags.iter().find(|(k, _)| k == keys::TRACE_NAME) {
                    sets.push("trace_name = ?".into());
                    binds.push(Bind::S(Some(n.clone())));
                }
            }
            let has_usage = group.iter().any(|s| s.usage.is_some());
            let has_cost = group.iter().any(|s| s.cost.is_some());
            if (has_usage && !(finalized && existing.any_token))
                || (has_cost && !(finalized && existing.any_cost))
            {
                let nodes = self.stored_nodes(tx, trace_id).await?;
                if has_usage && !(finalized && existing.any_token) {
                    let usage: Vec<_> = nodes
                        .iter()
                        .map(|n| (n.0.clone(), n.1.clone(), n.2.clone()))
                        .collect();
                    if let Some(tot) =
                        aggregate_nodes(&usage, &TOKEN_KEYS, &CACHE_KEYS, PyValue::Int(0))
                    {
                        for (k, col) in TOKEN_COLUMNS {
                            if let Some(v) = tot
                                .iter()
                                .find(|(tk, _)| tk == k)
                                .and_then(|(_, v)| token_count(v))
                            {
                                sets.push(format!("{col} = ?"));
                                binds.push(Bind::I(Some(v)));
                            }
                        }
                    }
                }
                if has_cost && !(finalized && existing.any_cost) {
                    let cost: Vec<_> = nodes
                        .iter()
                        .map(|n| (n.0.clone(), n.1.clone(), n.3.clone()))
                        .collect();
                    if let Some(tot) = aggregate_nodes(&cost, &COST_KEYS, &[], PyValue::Float(0.0))
                    {
                        for (k, col) in COST_COLUMNS {
                            if let Some(v) = tot
                                .iter()
                                .find(|(tk, _)| tk == k)
                                .and_then(|(_, v)| finite_float(v))
                            {
                                sets.push(format!("{col} = ?"));
                                binds.push(Bind::F(Some(v)));
                            }
                        }
                    }
                }
            }
            if existing.session_id.is_none()
                && let Some(sess) = group.iter().find_map(|s| s.session_id.clone())
            {
                sets.push("session_id = ?".into());
                binds.push(Bind::S(Some(sess)));
            }
            if !sets.is_empty() {
                let sql = format!(
                    "UPDATE trace_info SET {} WHERE request_id = ?",
                    sets.join(", ")
                );
                let mut q = sqlx::query(db.sql(&sql)).persistent(false);
                for b in binds {
                    q = match b {
                        Bind::I(v) => q.bind(v),
                        Bind::F(v) => q.bind(v),
                        Bind::S(v) => q.bind(v),
                    };
                }
                q.bind(trace_id.clone())
                    .execute(&mut **tx)
                    .await
                    .map_err(db_err)?;
            }
            if new_ts != existing.timestamp_ms {
                sqlx::query(
                    db.sql("UPDATE assessments SET trace_timestamp_ms = ? WHERE trace_id = ?"),
                )
                .bind(new_ts)
                .bind(trace_id.clone())
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
            }
            if let Some(user) = group.iter().find_map(|s| s.user_id.clone()) {
                let has_user = sqlx::query(db.sql(&format!(
                    "SELECT 1 FROM trace_request_metadata WHERE request_id = ? AND {} = ?",
                    db.key_col()
                )))
                .bind(trace_id.clone())
                .bind(keys::TRACE_USER)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_err)?
                .is_some();
                if !has_user {
                    self.upsert_kv(
                        tx,
                        "trace_request_metadata",
                        trace_id,
                        &[(keys::TRACE_USER.into(), user)],
                    )
                    .await?;
                }
            }
            let mut tags: Vec<(String, String)> = Vec::new();
            if let Some(loc) = artifact_location {
                tags.push((keys::ARTIFACT_LOCATION.into(), loc));
            }
            tags.push((keys::SPANS_LOCATION.into(), "TRACKING_STORE".into()));
            if let Some(s) = group.iter().find(|s| !s.resource_tags.is_empty()) {
                tags.extend(s.resource_tags.iter().cloned());
            }
            if let Some(r) = root {
                tags.extend(
                    r.trace_tags
                        .iter()
                        .filter(|(k, _)| k != keys::TRACE_NAME)
                        .cloned(),
                );
            }
            // Later entries win (user tags over resource attributes), one row per key.
            let mut dedup: BTreeMap<String, String> = BTreeMap::new();
            for (k, v) in tags {
                dedup.insert(k, v);
            }
            let tags: Vec<(String, String)> = dedup.into_iter().collect();
            self.upsert_kv(tx, "trace_tags", trace_id, &tags).await?;
        }
        Ok(())
    }

    async fn upsert_spans(&self, tx: &mut Tx, exp_id: i64, spans: &[SpanRow]) -> Result<()> {
        const COLS: [&str; 15] = [
            "trace_id",
            "experiment_id",
            "span_id",
            "parent_span_id",
            "name",
            "type",
            "status",
            "start_time_unix_nano",
            "end_time_unix_nano",
            "content",
            "input_cost",
            "output_cost",
            "total_cost",
            "model_name",
            "model_provider",
        ];
        let db = &self.db;
        // Last write wins for a span re-sent within one batch.
        let mut uniq: BTreeMap<&str, &SpanRow> = BTreeMap::new();
        for s in spans {
            uniq.insert(s.span_id.as_str(), s);
        }
        let rows: Vec<&SpanRow> = uniq.into_values().collect();
        for chunk in rows.chunks(100) {
            let sql = upsert_sql(
                db.dialect,
                "spans",
                &COLS,
                &["trace_id", "span_id"],
                &COLS[1..],
                chunk.len(),
            );
            let mut q = sqlx::query(db.sql(&sql));
            for s in chunk {
                q = q
                    .bind(s.trace_id.clone())
                    .bind(exp_id)
                    .bind(s.span_id.clone())
                    .bind(s.parent_span_id.clone())
                    .bind(s.name.clone())
                    .bind(s.span_type.clone())
                    .bind(s.status.clone())
                    .bind(s.start_time_ns)
                    .bind(s.end_time_ns)
                    .bind(s.content.clone())
                    .bind(s.input_cost)
                    .bind(s.output_cost)
                    .bind(s.total_cost)
                    .bind(s.model_name.clone())
                    .bind(s.model_provider.clone());
            }
            q.execute(&mut **tx).await.map_err(db_err)?;
        }
        Ok(())
    }

    /// (span_id, parent, usage dict, cost dict) of every stored span of a trace.
    async fn stored_nodes(
        &self,
        tx: &mut Tx,
        trace_id: &str,
    ) -> Result<Vec<(String, Option<String>, Option<PyValue>, Option<PyValue>)>> {
        let db = &self.db;
        let rows = sqlx::query(
            db.sql("SELECT span_id, parent_span_id, content FROM spans WHERE trace_id = ?"),
        )
        .bind(trace_id.to_owned())
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let content = r.str_at(2)?;
            let attrs = PyValue::loads(&content).and_then(|c| c.get("attributes").cloned());
            let pick = |key: &str| -> Option<PyValue> {
                let v = attrs.as_ref()?.get(key)?;
                match v {
                    PyValue::Str(s) => PyValue::loads(s).filter(|d| matches!(d, PyValue::Dict(_))),
                    d @ PyValue::Dict(_) => Some(d.clone()),
                    _ => None,
                }
            };
            out.push((
                r.str_at(0)?,
                r.opt_str_at(1)?,
                pick("mlflow.chat.tokenUsage"),
                pick("mlflow.llm.cost"),
            ));
        }
        Ok(out)
    }
}

#[derive(Default)]
struct Existing {
    timestamp_ms: i64,
    execution_time_ms: Option<i64>,
    status: String,
    request_preview: Option<String>,
    response_preview: Option<String>,
    session_id: Option<String>,
    any_token: bool,
    any_cost: bool,
}

enum Bind {
    I(Option<i64>),
    F(Option<f64>),
    S(Option<String>),
}
