//! Metrics: batched inserts with the `latest_metrics` roll-up, history reads, sampled bulk reads.

use crate::db::{RowExt, db_err};
use crate::experiments::{insert_ignore_sql, upsert_sql};
use crate::{Page, SqlStore, decode_page_token, encode_page_token, placeholders};
use mlflow_domain::tracking::Metric;
use mlflow_domain::{Error, Result};
use sqlx::{Any, Transaction};
use std::collections::HashMap;

/// Rows per multi-row INSERT: 6 columns x 500 stays under every backend's bind limit.
const METRIC_CHUNK: usize = 500;

/// A metric as stored: NaN becomes `value 0, is_nan true`; infinities are clamped to ±f64::MAX
/// exactly as the official SQL store does.
#[derive(Debug, Clone, PartialEq)]
struct StoredMetric<'a> {
    key: &'a str,
    value: f64,
    timestamp: i64,
    step: i64,
    is_nan: bool,
}

impl<'a> StoredMetric<'a> {
    fn from(m: &'a Metric) -> Self {
        let (value, is_nan) = if m.value.is_nan() {
            (0.0, true)
        } else if m.value.is_infinite() {
            (if m.value > 0.0 { f64::MAX } else { f64::MIN }, false)
        } else {
            (m.value, false)
        };
        Self {
            key: &m.key,
            value,
            timestamp: m.timestamp,
            step: m.step,
            is_nan,
        }
    }

    /// The official "is newer" order for `latest_metrics`: (step, timestamp, value).
    fn newer_than(&self, step: i64, timestamp: i64, value: f64) -> bool {
        (self.step, self.timestamp) > (step, timestamp)
            || ((self.step, self.timestamp) == (step, timestamp) && self.value > value)
    }
}

fn metric_from_stored(key: String, value: f64, timestamp: i64, step: i64, is_nan: bool) -> Metric {
    Metric::new(key, if is_nan { f64::NAN } else { value }, timestamp, step)
}

impl SqlStore {
    pub(crate) async fn insert_metrics(
        &self,
        tx: &mut Transaction<'_, Any>,
        run_id: &str,
        metrics: &[Metric],
    ) -> Result<()> {
        if metrics.is_empty() {
            return Ok(());
        }
        let db = &self.db;
        let kc = db.key_col();
        let stored: Vec<StoredMetric> = metrics.iter().map(StoredMetric::from).collect();
        for chunk in stored.chunks(METRIC_CHUNK) {
            let sql = insert_ignore_sql(
                db.dialect,
                "metrics",
                &[kc, "value", "timestamp", "step", "is_nan", "run_uuid"],
                chunk.len(),
            );
            let mut q = sqlx::query(db.sql(&sql));
            for m in chunk {
                q = q
                    .bind(m.key.to_string())
                    .bind(m.value)
                    .bind(m.timestamp)
                    .bind(m.step)
                    .bind(m.is_nan)
                    .bind(run_id.to_string());
            }
            q.execute(&mut **tx).await.map_err(db_err)?;
        }
        // Newest value per key within the batch, then compare with what is stored.
        let mut best: HashMap<&str, &StoredMetric> = HashMap::new();
        for m in &stored {
            match best.get(m.key) {
                Some(b) if !m.newer_than(b.step, b.timestamp, b.value) => {}
                _ => {
                    best.insert(m.key, m);
                }
            }
        }
        let keys: Vec<&str> = best.keys().copied().collect();
        let mut current: HashMap<String, (i64, i64, f64)> = HashMap::new();
        for chunk in keys.chunks(METRIC_CHUNK) {
            let mut q = sqlx::query(db.sql(&format!(
                "SELECT {kc}, step, timestamp, value FROM latest_metrics WHERE run_uuid = ? AND {kc} IN ({})",
                placeholders(chunk.len())
            )))
            .bind(run_id.to_string());
            for k in chunk {
                q = q.bind(k.to_string());
            }
            for row in q.fetch_all(&mut **tx).await.map_err(db_err)? {
                current.insert(
                    row.str_at(0)?,
                    (
                        row.i64_at(1)?,
                        row.opt_i64_at(2)?.unwrap_or(0),
                        row.f64_at(3)?,
                    ),
                );
            }
        }
        let updates: Vec<&StoredMetric> = best
            .values()
            .copied()
            .filter(|m| match current.get(m.key) {
                Some(&(step, ts, value)) => m.newer_than(step, ts, value),
                None => true,
            })
            .collect();
        for chunk in updates.chunks(METRIC_CHUNK) {
            let sql = upsert_sql(
                db.dialect,
                "latest_metrics",
                &[kc, "value", "timestamp", "step", "is_nan", "run_uuid"],
                &[kc, "run_uuid"],
                &["value", "timestamp", "step", "is_nan"],
                chunk.len(),
            );
            let mut q = sqlx::query(db.sql(&sql));
            for m in chunk {
                q = q
                    .bind(m.key.to_string())
                    .bind(m.value)
                    .bind(m.timestamp)
                    .bind(m.step)
                    .bind(m.is_nan)
                    .bind(run_id.to_string());
            }
            q.execute(&mut **tx).await.map_err(db_err)?;
        }
        // Metrics that name a logged model are recorded on the model too.
        self.insert_logged_model_metrics(tx, run_id, metrics)
            .await?;
        Ok(())
    }

    async fn ensure_run_exists(&self, run_id: &str) -> Result<()> {
        let row = sqlx::query(self.db.sql("SELECT run_uuid FROM runs WHERE run_uuid = ?"))
            .bind(run_id.to_string())
            .fetch_optional(&self.db.read)
            .await
            .map_err(db_err)?;
        if row.is_none() {
            return Err(Error::not_found(format!("Run with id={run_id} not found")));
        }
        Ok(())
    }

    pub(crate) async fn get_metric_history_impl(
        &self,
        run_id: &str,
        key: &str,
        max_results: Option<i64>,
        page_token: Option<&str>,
    ) -> Result<Page<Metric>> {
        if let Some(m) = max_results
            && m <= 0
        {
            return Err(Error::invalid(format!(
                "Invalid value {m} for parameter 'max_results' supplied. It must be a positive integer."
            )));
        }
        self.ensure_run_exists(run_id).await?;
        let db = &self.db;
        let kc = db.key_col();
        let offset = decode_page_token(page_token)?;
        let nan = db.bool_read("is_nan");
        let mut sql = format!(
            "SELECT value, timestamp, step, {nan} FROM metrics WHERE run_uuid = ? AND {kc} = ? \
             ORDER BY timestamp, step, value"
        );
        let limit = max_results.map(|m| m + 1).unwrap_or(i64::MAX);
        sql.push_str(" LIMIT ? OFFSET ?");
        let rows = sqlx::query(db.sql(&sql))
            .bind(run_id.to_string())
            .bind(key.to_string())
            .bind(limit)
            .bind(offset)
            .fetch_all(&db.read)
            .await
            .map_err(db_err)?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            items.push(metric_from_stored(
                key.to_string(),
                row.f64_at(0)?,
                row.i64_at(1)?,
                row.i64_at(2)?,
                row.i64_at(3)? != 0,
            ));
        }
        let next_page_token = match max_results {
            Some(m) if items.len() as i64 > m => {
                items.truncate(m as usize);
                Some(encode_page_token(offset + m))
            }
            _ => None,
        };
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// Up to `max_results` points per run, evenly sampled over the run's ordered history
    /// (NTILE buckets, first row of each) plus the last point, as the official SQL store does.
    pub(crate) async fn get_metric_history_bulk_interval_impl(
        &self,
        run_ids: &[String],
        key: &str,
        max_results: i64,
        steps: Option<(i64, i64)>,
    ) -> Result<Vec<Metric>> {
        let max_results = max_results.max(1);
        for run_id in run_ids {
            self.ensure_run_exists(run_id).await?;
        }
        let db = &self.db;
        let kc = db.key_col();
        let nan = db.bool_read("is_nan");
        let step_filter = if steps.is_some() {
            " AND step >= ? AND step <= ?"
        } else {
            ""
        };
        let sampled_sql = format!(
            "SELECT value, timestamp, step, n FROM (\
               SELECT value, timestamp, step, n, ROW_NUMBER() OVER (PARTITION BY bucket \
                 ORDER BY step, timestamp, value, n) AS rn FROM (\
                 SELECT value, timestamp, step, {nan} AS n, NTILE(?) OVER (ORDER BY step, timestamp, value, is_nan) AS bucket \
                 FROM metrics WHERE run_uuid = ? AND {kc} = ?{step_filter}) b) r \
             WHERE rn = 1 ORDER BY step, timestamp, value, n"
        );
        let last_sql = format!(
            "SELECT value, timestamp, step, {nan} FROM metrics WHERE run_uuid = ? AND {kc} = ?{step_filter} \
             ORDER BY step DESC, timestamp DESC, value DESC, is_nan DESC LIMIT 1"
        );
        let mut out = Vec::new();
        for run_id in run_ids {
            // NTILE takes a 32-bit integer on PostgreSQL; the handler caps max_results at 2500.
            let buckets = i32::try_from(max_results).unwrap_or(i32::MAX);
            let mut q = sqlx::query(db.sql(&sampled_sql))
                .bind(buckets)
                .bind(run_id.clone())
                .bind(key.to_string());
            let mut lq = sqlx::query(db.sql(&last_sql))
                .bind(run_id.clone())
                .bind(key.to_string());
            if let Some((s, e)) = steps {
                q = q.bind(s).bind(e);
                lq = lq.bind(s).bind(e);
            }
            let mut rows = Vec::new();
            for row in q.fetch_all(&db.read).await.map_err(db_err)? {
                rows.push((
                    row.f64_at(0)?,
                    row.i64_at(1)?,
                    row.i64_at(2)?,
                    row.i64_at(3)? != 0,
                ));
            }
            if let Some(row) = lq.fetch_optional(&db.read).await.map_err(db_err)? {
                let last = (
                    row.f64_at(0)?,
                    row.i64_at(1)?,
                    row.i64_at(2)?,
                    row.i64_at(3)? != 0,
                );
                if rows.last() != Some(&last) {
                    if rows.len() as i64 >= max_results {
                        if let Some(slot) = rows.last_mut() {
                            *slot = last;
                        }
                    } else {
                        rows.push(last);
                    }
                }
            }
            for (value, ts, step, is_nan) in rows {
                let mut m = metric_from_stored(key.to_string(), value, ts, step, is_nan);
                m.run_id = Some(run_id.clone());
                out.push(m);
            }
        }
        Ok(out)
    }
}
