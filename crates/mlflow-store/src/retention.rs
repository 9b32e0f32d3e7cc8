//! Storage hygiene (an mlflow-rs extension; the official server has none of the retention
//! part): trace retention, `gc` of deleted runs/experiments, and the storage report.
//!
//! # Trace retention
//! Per experiment, set by experiment tags (they win) or by server-wide defaults:
//! - [`TAG_TTL`] `mlflow.trace.retention.ttl`: traces whose `timestamp_ms` is older than
//!   now - TTL are deleted. `30d`, `12h`, `90m`, `45s`, `2w`, or combined (`1d12h`).
//! - [`TAG_MAX_TRACES`] `mlflow.trace.retention.maxTraces`: keep at most N traces, deleting
//!   the oldest first.
//! - A tag value of `off`/`none`/`0` disables that rule for the experiment even when a server
//!   default is set.
//!
//! Deletion is in bounded batches ([`SWEEP_BATCH`] traces per transaction): each batch deletes
//! the traces' spans, span metrics, assessments, tags, request metadata, trace metrics and
//! entity associations, then the `trace_info` rows, in one transaction. Deletes are idempotent,
//! so replicas sweeping at the same time only repeat work; on PostgreSQL (advisory lock) and
//! MySQL (`GET_LOCK`) only one replica sweeps at a time.

use crate::db::{RowExt, db_err};
use crate::{SqlStore, placeholders};
use mlflow_domain::{Error, Result, now_ms};
use mlflow_search::Dialect;
use std::collections::BTreeMap;

/// Experiment tag: trace time-to-live.
pub const TAG_TTL: &str = "mlflow.trace.retention.ttl";
/// Experiment tag: maximum number of traces kept.
pub const TAG_MAX_TRACES: &str = "mlflow.trace.retention.maxTraces";
/// Traces deleted per transaction.
pub const SWEEP_BATCH: usize = 500;
/// The PostgreSQL advisory-lock key of the retention sweeper (`"mlflowrs"` in ASCII).
const PG_LOCK_KEY: i64 = 0x6d6c_666c_6f77_7273;

/// One retention rule set: `None` means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Time to live in milliseconds.
    pub ttl_ms: Option<i64>,
    /// Maximum number of traces.
    pub max_traces: Option<i64>,
}

impl RetentionPolicy {
    pub fn is_empty(&self) -> bool {
        self.ttl_ms.is_none() && self.max_traces.is_none()
    }
}

fn is_off(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "off" | "none" | "0" | "disabled" | "false"
    )
}

/// Parses a duration: `30d`, `12h`, `90m`, `45s`, `2w`, `1d12h`, `1.5h`; `off`/`none`/`0`
/// mean no limit (`Ok(None)`). A bare number is seconds.
pub fn parse_duration_ms(s: &str) -> Result<Option<i64>> {
    let t = s.trim();
    if t.is_empty() || is_off(t) {
        return Ok(None);
    }
    let bad = || {
        Error::invalid(format!(
            "Invalid duration '{s}'. Examples of valid values: '30d', '12h', '90m', '1d12h', 'off'"
        ))
    };
    if let Ok(secs) = t.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return Err(bad());
        }
        return Ok(Some((secs * 1000.0) as i64));
    }
    let mut total = 0f64;
    let mut num = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let unit_ms = match c.to_ascii_lowercase() {
            'w' => 7.0 * 86_400_000.0,
            'd' => 86_400_000.0,
            'h' => 3_600_000.0,
            'm' => 60_000.0,
            's' => 1000.0,
            _ => return Err(bad()),
        };
        let n: f64 = num.parse().map_err(|_| bad())?;
        total += n * unit_ms;
        num.clear();
    }
    if !num.is_empty() || !total.is_finite() {
        return Err(bad());
    }
    Ok((total > 0.0).then_some(total as i64))
}

/// Parses a max-trace count; `off`/`none`/`0` mean no limit.
pub fn parse_max_traces(s: &str) -> Result<Option<i64>> {
    let t = s.trim();
    if t.is_empty() || is_off(t) {
        return Ok(None);
    }
    match t.parse::<i64>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(Error::invalid(format!(
            "Invalid maximum trace count '{s}': expected a positive integer or 'off'"
        ))),
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepStats {
    /// False when another replica held the sweep lock (nothing was done).
    pub ran: bool,
    pub experiments_checked: usize,
    pub traces_deleted: u64,
    /// Per experiment id: traces deleted.
    pub per_experiment: BTreeMap<String, u64>,
    /// Experiments skipped because of an unparsable tag, with the reason.
    pub errors: Vec<String>,
}

/// Storage used by one experiment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExperimentStorage {
    pub experiment_id: String,
    pub name: String,
    pub lifecycle_stage: String,
    pub traces: i64,
    pub spans: i64,
    /// Bytes of the stored span JSON (`spans.content`).
    pub span_bytes: i64,
    pub assessments: i64,
    pub oldest_trace_ms: Option<i64>,
    pub newest_trace_ms: Option<i64>,
    /// The retention tags as set on the experiment.
    pub retention_ttl: Option<String>,
    pub retention_max_traces: Option<String>,
}

/// `mlflow gc` arguments.
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// `--older-than` as milliseconds (0: any age), and the original text for messages.
    pub older_than_ms: i64,
    pub older_than: Option<String>,
    pub run_ids: Option<Vec<String>>,
    pub experiment_ids: Option<Vec<String>>,
}

/// What `gc` will delete: runs (with their artifact URIs) and experiments.
#[derive(Debug, Clone, Default)]
pub struct GcPlan {
    pub runs: Vec<(String, Option<String>)>,
    pub experiments: Vec<String>,
}

/// Parses `mlflow gc --older-than`: `^((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?$` with decimals.
pub fn parse_older_than(s: &str) -> Result<i64> {
    let bad = || {
        Error::invalid(format!(
            "Could not parse any time information from '{s}'. Examples of valid strings: '8h', \
             '2d8h5m20s', '2m4s'"
        ))
    };
    let mut total = 0f64;
    let mut num = String::new();
    let order = ['d', 'h', 'm', 's'];
    let mut next_unit = 0usize;
    for c in s.chars() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let pos = order.iter().position(|u| *u == c).ok_or_else(bad)?;
        if pos < next_unit || num.is_empty() {
            return Err(bad());
        }
        next_unit = pos + 1;
        let n: f64 = num.parse().map_err(|_| bad())?;
        total += n * [86_400_000.0, 3_600_000.0, 60_000.0, 1000.0][pos];
        num.clear();
    }
    if !num.is_empty() {
        return Err(bad());
    }
    Ok(total as i64)
}

impl SqlStore {
    /// Deletes these traces and everything hanging off them, in one transaction. Unknown ids
    /// are ignored (idempotent); returns how many `trace_info` rows went.
    pub async fn delete_trace_batch(&self, ids: &[String]) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        let mut deleted = 0u64;
        for chunk in ids.chunks(SWEEP_BATCH) {
            let marks = placeholders(chunk.len());
            let stmts = [
                format!("DELETE FROM span_metrics WHERE trace_id IN ({marks})"),
                format!("DELETE FROM spans WHERE trace_id IN ({marks})"),
                format!("DELETE FROM assessments WHERE trace_id IN ({marks})"),
                format!("DELETE FROM trace_tags WHERE request_id IN ({marks})"),
                format!("DELETE FROM trace_request_metadata WHERE request_id IN ({marks})"),
                format!("DELETE FROM trace_metrics WHERE request_id IN ({marks})"),
                format!(
                    "DELETE FROM entity_associations WHERE source_type = 'trace' AND source_id IN ({marks})"
                ),
                format!(
                    "DELETE FROM entity_associations WHERE destination_type = 'trace' AND destination_id IN ({marks})"
                ),
                format!("DELETE FROM trace_info WHERE request_id IN ({marks})"),
            ];
            let last = stmts.len() - 1;
            for (i, sql) in stmts.iter().enumerate() {
                let mut q = sqlx::query(db.sql(sql)).persistent(false);
                for id in chunk {
                    q = q.bind(id.clone());
                }
                let n = q.execute(&mut *tx).await.map_err(db_err)?.rows_affected();
                if i == last {
                    deleted += n;
                }
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(deleted)
    }

    async fn trace_ids_page(
        &self,
        sql: &str,
        exp: i64,
        arg: Option<i64>,
        limit: i64,
    ) -> Result<Vec<String>> {
        let db = &self.db;
        let mut q = sqlx::query(db.sql(sql)).bind(exp);
        if let Some(a) = arg {
            q = q.bind(a);
        }
        q.bind(limit)
            .fetch_all(&db.read)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| r.str_at(0))
            .collect()
    }

    /// Applies `policy` to one experiment (at time `now`), in batches; returns traces deleted.
    pub async fn apply_retention(
        &self,
        experiment_id: i64,
        policy: RetentionPolicy,
        now: i64,
    ) -> Result<u64> {
        let mut deleted = 0u64;
        if let Some(ttl) = policy.ttl_ms {
            let cutoff = now.saturating_sub(ttl);
            loop {
                let ids = self
                    .trace_ids_page(
                        "SELECT request_id FROM trace_info WHERE experiment_id = ? \
                         AND timestamp_ms < ? ORDER BY timestamp_ms ASC, request_id ASC LIMIT ?",
                        experiment_id,
                        Some(cutoff),
                        SWEEP_BATCH as i64,
                    )
                    .await?;
                if ids.is_empty() {
                    break;
                }
                deleted += self.delete_trace_batch(&ids).await?;
                if ids.len() < SWEEP_BATCH {
                    break;
                }
            }
        }
        if let Some(max) = policy.max_traces {
            let count = sqlx::query(
                self.db
                    .sql("SELECT COUNT(*) FROM trace_info WHERE experiment_id = ?"),
            )
            .bind(experiment_id)
            .fetch_one(&self.db.read)
            .await
            .map_err(db_err)?
            .i64_at(0)?;
            let mut excess = count - max;
            while excess > 0 {
                let take = excess.min(SWEEP_BATCH as i64);
                let ids = self
                    .trace_ids_page(
                        "SELECT request_id FROM trace_info WHERE experiment_id = ? \
                         ORDER BY timestamp_ms ASC, request_id ASC LIMIT ?",
                        experiment_id,
                        None,
                        take,
                    )
                    .await?;
                if ids.is_empty() {
                    break;
                }
                excess -= ids.len() as i64;
                deleted += self.delete_trace_batch(&ids).await?;
            }
        }
        Ok(deleted)
    }

    /// The retention tags of every experiment that has one: id -> (ttl, maxTraces) texts.
    async fn retention_tags(&self) -> Result<BTreeMap<i64, (Option<String>, Option<String>)>> {
        let db = &self.db;
        let rows = sqlx::query(db.sql(&format!(
            "SELECT experiment_id, {k}, value FROM experiment_tags WHERE {k} IN (?, ?)",
            k = db.key_col()
        )))
        .bind(TAG_TTL)
        .bind(TAG_MAX_TRACES)
        .fetch_all(&db.read)
        .await
        .map_err(db_err)?;
        let mut out: BTreeMap<i64, (Option<String>, Option<String>)> = BTreeMap::new();
        for r in rows {
            let e = out.entry(r.i64_at(0)?).or_default();
            let v = r.opt_str_at(2)?;
            if r.str_at(1)? == TAG_TTL {
                e.0 = v;
            } else {
                e.1 = v;
            }
        }
        Ok(out)
    }

    /// The effective policy of each experiment that has one (tags over `defaults`).
    pub async fn retention_policies(
        &self,
        defaults: RetentionPolicy,
    ) -> Result<(BTreeMap<i64, RetentionPolicy>, Vec<String>)> {
        let tags = self.retention_tags().await?;
        let mut ids: Vec<i64> = tags.keys().copied().collect();
        if !defaults.is_empty() {
            ids = sqlx::query("SELECT experiment_id FROM experiments")
                .fetch_all(&self.db.read)
                .await
                .map_err(db_err)?
                .iter()
                .map(|r| r.i64_at(0))
                .collect::<Result<_>>()?;
        }
        let mut out = BTreeMap::new();
        let mut errors = Vec::new();
        for id in ids {
            let mut p = defaults;
            if let Some((ttl, max)) = tags.get(&id) {
                if let Some(t) = ttl {
                    match parse_duration_ms(t) {
                        Ok(v) => p.ttl_ms = v,
                        Err(e) => {
                            errors.push(format!("experiment {id}: tag {TAG_TTL}: {}", e.message));
                            continue;
                        }
                    }
                }
                if let Some(m) = max {
                    match parse_max_traces(m) {
                        Ok(v) => p.max_traces = v,
                        Err(e) => {
                            errors.push(format!(
                                "experiment {id}: tag {TAG_MAX_TRACES}: {}",
                                e.message
                            ));
                            continue;
                        }
                    }
                }
            }
            if !p.is_empty() {
                out.insert(id, p);
            }
        }
        Ok((out, errors))
    }

    /// One retention sweep over every experiment (see the module docs). On PostgreSQL and
    /// MySQL a session lock makes concurrent replicas skip (`ran == false`).
    pub async fn sweep_traces(&self, defaults: RetentionPolicy) -> Result<SweepStats> {
        let db = &self.db;
        let mut lock_conn = None;
        match db.dialect {
            Dialect::Postgres | Dialect::MySql => {
                let mut conn = db.write.acquire().await.map_err(db_err)?;
                let sql = if db.dialect == Dialect::Postgres {
                    "SELECT CAST(pg_try_advisory_lock(?) AS INTEGER)"
                } else {
                    "SELECT COALESCE(GET_LOCK(CONCAT('mlflow_rs_retention_', ?), 0), 0)"
                };
                let got = sqlx::query(db.sql(sql))
                    .bind(PG_LOCK_KEY)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err)?
                    .i64_at(0)?;
                if got == 0 {
                    return Ok(SweepStats::default());
                }
                lock_conn = Some(conn);
            }
            Dialect::Sqlite => {}
        }
        let result = self.sweep_unlocked(defaults).await;
        if let Some(mut conn) = lock_conn {
            let sql = if db.dialect == Dialect::Postgres {
                "SELECT CAST(pg_advisory_unlock(?) AS INTEGER)"
            } else {
                "SELECT COALESCE(RELEASE_LOCK(CONCAT('mlflow_rs_retention_', ?)), 0)"
            };
            if let Err(e) = sqlx::query(db.sql(sql))
                .bind(PG_LOCK_KEY)
                .fetch_one(&mut *conn)
                .await
            {
                // Dropping the connection from the pool releases the session lock.
                tracing::warn!(error = %e, "releasing the retention lock failed; closing the connection");
                let _ = conn.detach();
            }
        }
        result
    }

    async fn sweep_unlocked(&self, defaults: RetentionPolicy) -> Result<SweepStats> {
        let (policies, errors) = self.retention_policies(defaults).await?;
        let mut stats = SweepStats {
            ran: true,
            experiments_checked: policies.len(),
            errors,
            ..Default::default()
        };
        let now = now_ms();
        for (id, p) in policies {
            let n = self.apply_retention(id, p, now).await?;
            if n > 0 {
                stats.traces_deleted += n;
                stats.per_experiment.insert(id.to_string(), n);
            }
        }
        Ok(stats)
    }

    /// Per-experiment storage use; all experiments when `experiment_ids` is empty.
    pub async fn storage_report(
        &self,
        experiment_ids: &[String],
    ) -> Result<Vec<ExperimentStorage>> {
        let db = &self.db;
        let mut ids = Vec::new();
        for e in experiment_ids {
            ids.push(
                e.parse::<i64>()
                    .map_err(|_| Error::invalid(format!("Invalid experiment ID '{e}'")))?,
            );
        }
        let filter = if ids.is_empty() {
            String::new()
        } else {
            format!(" WHERE experiment_id IN ({})", placeholders(ids.len()))
        };
        let fetch = |sql: String| {
            let ids = ids.clone();
            async move {
                let mut q = sqlx::query(db.sql(&sql)).persistent(false);
                for id in &ids {
                    q = q.bind(*id);
                }
                q.fetch_all(&db.read).await.map_err(db_err)
            }
        };
        let mut out: BTreeMap<i64, ExperimentStorage> = BTreeMap::new();
        for r in fetch(format!(
            "SELECT experiment_id, name, lifecycle_stage FROM experiments{filter}"
        ))
        .await?
        {
            let id = r.i64_at(0)?;
            out.insert(
                id,
                ExperimentStorage {
                    experiment_id: id.to_string(),
                    name: r.str_at(1)?,
                    lifecycle_stage: r.opt_str_at(2)?.unwrap_or_else(|| "active".into()),
                    ..Default::default()
                },
            );
        }
        if !ids.is_empty()
            && let Some(missing) = ids.iter().find(|i| !out.contains_key(i))
        {
            return Err(crate::experiments::not_found(*missing));
        }
        for r in fetch(format!(
            "SELECT experiment_id, COUNT(*), MIN(timestamp_ms), MAX(timestamp_ms) FROM trace_info{filter} \
             GROUP BY experiment_id"
        ))
        .await?
        {
            if let Some(e) = out.get_mut(&r.i64_at(0)?) {
                e.traces = r.i64_at(1)?;
                e.oldest_trace_ms = r.opt_i64_at(2)?;
                e.newest_trace_ms = r.opt_i64_at(3)?;
            }
        }
        let (len, int) = match db.dialect {
            Dialect::Sqlite => ("LENGTH(CAST(content AS BLOB))", "INTEGER"),
            Dialect::Postgres => ("OCTET_LENGTH(content)", "BIGINT"),
            Dialect::MySql => ("LENGTH(content)", "SIGNED"),
        };
        for r in fetch(format!(
            "SELECT experiment_id, COUNT(*), CAST(COALESCE(SUM({len}), 0) AS {int}) FROM spans{filter} \
             GROUP BY experiment_id"
        ))
        .await?
        {
            if let Some(e) = out.get_mut(&r.i64_at(0)?) {
                e.spans = r.i64_at(1)?;
                e.span_bytes = r.i64_at(2)?;
            }
        }
        for r in fetch(format!(
            "SELECT experiment_id, COUNT(*) FROM assessments{filter} GROUP BY experiment_id"
        ))
        .await?
        {
            if let Some(id) = r.opt_i64_at(0)?
                && let Some(e) = out.get_mut(&id)
            {
                e.assessments = r.i64_at(1)?;
            }
        }
        for (id, (ttl, max)) in self.retention_tags().await? {
            if let Some(e) = out.get_mut(&id) {
                e.retention_ttl = ttl;
                e.retention_max_traces = max;
            }
        }
        Ok(out.into_values().collect())
    }

    // ------------------------------------------------------------------ gc

    /// Works out what `mlflow gc` deletes, with the official checks and messages.
    pub async fn gc_plan(&self, opts: &GcOptions) -> Result<GcPlan> {
        let db = &self.db;
        let now = now_ms();
        let threshold = now - opts.older_than_ms;
        let deleted_older: Vec<String> = sqlx::query(db.sql(
            "SELECT run_uuid FROM runs WHERE lifecycle_stage = 'deleted' AND deleted_time <= ?",
        ))
        .bind(threshold)
        .fetch_all(&db.read)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| r.str_at(0))
        .collect::<Result<_>>()?;
        let mut run_ids: Vec<String> = opts
            .run_ids
            .clone()
            .unwrap_or_else(|| deleted_older.clone());

        let experiments: Vec<String> = match &opts.experiment_ids {
            Some(ids) if !ids.is_empty() => {
                let mut active = Vec::new();
                let mut young = Vec::new();
                for id in ids {
                    let e = self.get_experiment_impl(id).await?;
                    if e.lifecycle_stage.as_deref() != Some("deleted") {
                        active.push(e.experiment_id.clone());
                    }
                    if e.last_update_time.is_none_or(|t| t >= threshold) {
                        young.push(e.experiment_id.clone());
                    }
                }
                if !active.is_empty() {
                    return Err(Error::invalid(format!(
                        "Experiments {} are not in the deleted lifecycle stage. Only experiments \
                         in the deleted lifecycle stage can be hard-deleted.",
                        py_list(&active)
                    )));
                }
                if let Some(o) = &opts.older_than
                    && !young.is_empty()
                {
                    return Err(Error::invalid(format!(
                        "Experiments {} are not older than the required age. Only experiments \
                         older than {o} can be deleted.",
                        py_list(&young)
                    )));
                }
                ids.clone()
            }
            _ => {
                let mut sql =
                    "SELECT experiment_id FROM experiments WHERE lifecycle_stage = 'deleted'"
                        .to_owned();
                if opts.older_than.is_some() {
                    sql.push_str(" AND last_update_time < ?");
                }
                sql.push_str(" ORDER BY experiment_id");
                let mut q = sqlx::query(db.sql(&sql));
                if opts.older_than.is_some() {
                    q = q.bind(threshold);
                }
                q.fetch_all(&db.read)
                    .await
                    .map_err(db_err)?
                    .iter()
                    .map(|r| r.i64_at(0).map(|i| i.to_string()))
                    .collect::<Result<_>>()?
            }
        };
        if !experiments.is_empty() {
            let ids: Vec<i64> = experiments.iter().filter_map(|e| e.parse().ok()).collect();
            for chunk in ids.chunks(500) {
                let mut q = sqlx::query(db.sql(&format!(
                    "SELECT run_uuid FROM runs WHERE lifecycle_stage = 'deleted' \
                     AND experiment_id IN ({})",
                    placeholders(chunk.len())
                )))
                .persistent(false);
                for id in chunk {
                    q = q.bind(*id);
                }
                for r in q.fetch_all(&db.read).await.map_err(db_err)? {
                    run_ids.push(r.str_at(0)?);
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        run_ids.retain(|r| seen.insert(r.clone()));
        let mut runs = Vec::new();
        for id in run_ids {
            let row = sqlx::query(
                db.sql("SELECT lifecycle_stage, artifact_uri FROM runs WHERE run_uuid = ?"),
            )
            .bind(id.clone())
            .fetch_optional(&db.read)
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::not_found(format!("Run with id={id} not found")))?;
            if row.opt_str_at(0)?.as_deref() != Some("deleted") {
                return Err(Error::invalid(format!(
                    "Run {id} is not in `deleted` lifecycle stage. Only runs in `deleted` \
                     lifecycle stage can be deleted."
                )));
            }
            if let Some(o) = &opts.older_than
                && !deleted_older.contains(&id)
            {
                return Err(Error::invalid(format!(
                    "Run {id} is not older than the required age. Only runs older than {o} can \
                     be deleted."
                )));
            }
            runs.push((id, row.opt_str_at(1)?));
        }
        Ok(GcPlan { runs, experiments })
    }

    /// Permanently deletes a run and its metrics, params, tags, inputs and trace links.
    pub async fn hard_delete_run(&self, run_id: &str) -> Result<()> {
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        let stmts = [
            "DELETE FROM metrics WHERE run_uuid = ?",
            "DELETE FROM latest_metrics WHERE run_uuid = ?",
            "DELETE FROM params WHERE run_uuid = ?",
            "DELETE FROM tags WHERE run_uuid = ?",
            "DELETE FROM input_tags WHERE input_uuid IN (SELECT input_uuid FROM inputs \
             WHERE destination_type = 'RUN' AND destination_id = ?)",
            "DELETE FROM inputs WHERE destination_type = 'RUN' AND destination_id = ?",
            "DELETE FROM inputs WHERE source_type = 'RUN_OUTPUT' AND source_id = ?",
            "DELETE FROM entity_associations WHERE destination_type = 'run' AND destination_id = ?",
            "DELETE FROM entity_associations WHERE source_type = 'run' AND source_id = ?",
            "DELETE FROM logged_model_metrics WHERE run_id = ?",
            "DELETE FROM runs WHERE run_uuid = ?",
        ];
        for sql in stmts {
            sqlx::query(db.sql(sql))
                .bind(run_id.to_owned())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    /// Permanently deletes a `deleted` experiment with everything in it: traces (in batches),
    /// runs, logged models, scorers, tags.
    pub async fn hard_delete_experiment(&self, experiment_id: &str) -> Result<()> {
        let e = self.get_experiment_impl(experiment_id).await?;
        if e.lifecycle_stage.as_deref() != Some("deleted") {
            return Err(Error::invalid(format!(
                "Experiment {experiment_id} is not in the deleted lifecycle stage."
            )));
        }
        let exp: i64 = e
            .experiment_id
            .parse()
            .map_err(|_| Error::internal("bad experiment id"))?;
        loop {
            let ids = self
                .trace_ids_page(
                    "SELECT request_id FROM trace_info WHERE experiment_id = ? LIMIT ?",
                    exp,
                    None,
                    SWEEP_BATCH as i64,
                )
                .await?;
            if ids.is_empty() {
                break;
            }
            self.delete_trace_batch(&ids).await?;
        }
        let runs: Vec<String> = sqlx::query(
            self.db
                .sql("SELECT run_uuid FROM runs WHERE experiment_id = ?"),
        )
        .bind(exp)
        .fetch_all(&self.db.read)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| r.str_at(0))
        .collect::<Result<_>>()?;
        for r in &runs {
            self.hard_delete_run(r).await?;
        }
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        let stmts = [
            "DELETE FROM spans WHERE experiment_id = ?",
            "DELETE FROM assessments WHERE experiment_id = ?",
            "DELETE FROM logged_model_metrics WHERE experiment_id = ?",
            "DELETE FROM logged_model_params WHERE experiment_id = ?",
            "DELETE FROM logged_model_tags WHERE experiment_id = ?",
            "DELETE FROM logged_models WHERE experiment_id = ?",
            "DELETE FROM online_scoring_configs WHERE experiment_id = ?",
            "DELETE FROM scorer_versions WHERE scorer_id IN (SELECT scorer_id FROM scorers WHERE experiment_id = ?)",
            "DELETE FROM scorers WHERE experiment_id = ?",
            "DELETE FROM datasets WHERE experiment_id = ?",
            "DELETE FROM experiment_tags WHERE experiment_id = ?",
            "DELETE FROM sql_trace_rollup_rebuild_queue WHERE experiment_id = ?",
            "DELETE FROM sql_trace_metric_daily_rollups WHERE experiment_id = ?",
            "DELETE FROM sql_span_cost_daily_rollups WHERE experiment_id = ?",
            "DELETE FROM sql_assessment_daily_rollups WHERE experiment_id = ?",
            "UPDATE endpoints SET experiment_id = NULL WHERE experiment_id = ?",
            "DELETE FROM experiments WHERE experiment_id = ? AND lifecycle_stage = 'deleted'",
        ];
        for sql in stmts {
            sqlx::query(db.sql(sql))
                .bind(exp)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }
}

/// Python's `str(list_of_str)`: `['1', '2']`.
fn py_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", inner.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("30d").unwrap(), Some(30 * 86_400_000));
        assert_eq!(parse_duration_ms("12h").unwrap(), Some(12 * 3_600_000));
        assert_eq!(parse_duration_ms("90m").unwrap(), Some(90 * 60_000));
        assert_eq!(parse_duration_ms("1d12h").unwrap(), Some(36 * 3_600_000));
        assert_eq!(parse_duration_ms("2w").unwrap(), Some(14 * 86_400_000));
        assert_eq!(parse_duration_ms("off").unwrap(), None);
        assert_eq!(parse_duration_ms("0").unwrap(), None);
        assert_eq!(parse_duration_ms("45").unwrap(), Some(45_000));
        assert!(parse_duration_ms("3x").is_err());
        assert!(parse_duration_ms("d").is_err());
        assert!(parse_duration_ms("12").is_ok());
        assert!(parse_duration_ms("12h5").is_err());
    }

    #[test]
    fn max_traces() {
        assert_eq!(parse_max_traces("1000").unwrap(), Some(1000));
        assert_eq!(parse_max_traces("off").unwrap(), None);
        assert!(parse_max_traces("-3").is_err());
        assert!(parse_max_traces("many").is_err());
    }

    #[test]
    fn older_than() {
        assert_eq!(parse_older_than("8h").unwrap(), 8 * 3_600_000);
        assert_eq!(
            parse_older_than("2d8h5m20s").unwrap(),
            2 * 86_400_000 + 8 * 3_600_000 + 5 * 60_000 + 20_000
        );
        assert_eq!(parse_older_than("").unwrap(), 0);
        assert!(parse_older_than("5m2h").is_err());
        assert!(parse_older_than("1y").is_err());
        assert_eq!(
            parse_older_than("x").unwrap_err().message,
            "Could not parse any time information from 'x'. Examples of valid strings: '8h', '2d8h5m20s', '2m4s'"
        );
    }
}
