//! Trace-info loading, get / batch-get with spans, and search.

use super::{SearchTraces, TraceWithSpans};
use crate::db::{RowExt, args_from, db_err};
use crate::{Page, SqlStore, decode_page_token, encode_page_token, placeholders};
use mlflow_domain::traces::{
    Assessment, AssessmentError, AssessmentValue, COST_COLUMNS, PyValue, TOKEN_COLUMNS,
    TraceAnalytics, TraceInfo, keys,
};
use mlflow_domain::{Error, Result};
use sqlx::any::AnyRow;
use std::collections::{BTreeMap, HashMap};

const CHUNK: usize = 500;

pub(crate) fn assessment_cols(db: &crate::Db) -> String {
    format!(
        "assessment_id, trace_id, name, assessment_type, value, error, created_timestamp, \
         last_updated_timestamp, source_type, source_id, run_id, span_id, rationale, overrides, \
         {}, assessment_metadata",
        db.bool_read("valid")
    )
}

pub(crate) fn assessment_from_row(r: &AnyRow) -> Result<Assessment> {
    let kind = r.str_at(3)?;
    let raw = r.str_at(4)?;
    let value = PyValue::loads(&raw).unwrap_or(PyValue::Null);
    let value = match kind.as_str() {
        "feedback" => AssessmentValue::Feedback {
            value,
            error: r
                .opt_str_at(5)?
                .and_then(|e| AssessmentError::from_column(&e)),
        },
        "expectation" => AssessmentValue::Expectation { value },
        _ => AssessmentValue::Issue {
            issue_name: value
                .get("issue_name")
                .and_then(PyValue::as_str)
                .unwrap_or_default()
                .to_owned(),
        },
    };
    let metadata = r.opt_str_at(15)?.and_then(|m| {
        let v = PyValue::loads(&m)?;
        match v {
            PyValue::Dict(kv) => Some(
                kv.into_iter()
                    .map(|(k, v)| {
                        let s = match v {
                            PyValue::Str(s) => s,
                            other => other.dumps(false),
                        };
                        (k, s)
                    })
                    .collect::<BTreeMap<_, _>>(),
            ),
            _ => None,
        }
    });
    Ok(Assessment {
        assessment_id: r.str_at(0)?,
        trace_id: r.str_at(1)?,
        name: r.str_at(2)?,
        value,
        create_time_ms: r.opt_i64_at(6)?,
        last_update_time_ms: r.opt_i64_at(7)?,
        source_type: r.str_at(8)?,
        source_id: r.opt_str_at(9)?,
        run_id: r.opt_str_at(10)?,
        span_id: r.opt_str_at(11)?,
        rationale: r.opt_str_at(12)?,
        overrides: r.opt_str_at(13)?,
        valid: Some(r.i64_at(14)? != 0),
        metadata,
    })
}

impl SqlStore {
    async fn fetch_by_ids(&self, sql: &str, ids: &[String]) -> Result<Vec<AnyRow>> {
        let mut q = sqlx::query(self.db.sql(sql)).persistent(false);
        for id in ids {
            q = q.bind(id.clone());
        }
        q.fetch_all(&self.db.read).await.map_err(db_err)
    }

    /// Loads trace infos (tags, metadata, assessments) keeping the order of `ids`; unknown ids
    /// are skipped.
    pub(crate) async fn load_trace_infos(&self, ids: &[String]) -> Result<Vec<TraceInfo>> {
        let mut by_id: HashMap<String, TraceInfo> = HashMap::new();
        let k = self.db.key_col();
        for chunk in ids.chunks(CHUNK) {
            if chunk.is_empty() {
                continue;
            }
            let marks = placeholders(chunk.len());
            let rows = self
                .fetch_by_ids(
                    &format!(
                        "SELECT request_id, experiment_id, timestamp_ms, execution_time_ms, status, \
                         client_request_id, request_preview, response_preview, trace_name, session_id, \
                         input_tokens, output_tokens, total_tokens, cache_read_input_tokens, \
                         cache_creation_input_tokens, cache_creation_input_tokens_above_1hr, \
                         input_cost, output_cost, total_cost FROM trace_info WHERE request_id IN ({marks})"
                    ),
                    chunk,
                )
                .await?;
            for r in rows {
                let mut a = TraceAnalytics {
                    session_id: r.opt_str_at(9)?,
                    ..Default::default()
                };
                for i in 0..TOKEN_COLUMNS.len() {
                    a.tokens[i] = r.opt_i64_at(10 + i)?;
                }
                for i in 0..COST_COLUMNS.len() {
                    a.costs[i] = opt_f64(&r, 16 + i)?;
                }
                let mut info = TraceInfo {
                    trace_id: r.str_at(0)?,
                    experiment_id: r.i64_at(1)?.to_string(),
                    request_time: r.i64_at(2)?,
                    execution_duration: r.opt_i64_at(3)?,
                    state: r.str_at(4)?,
                    client_request_id: r.opt_str_at(5)?,
                    request_preview: r.opt_str_at(6)?,
                    response_preview: r.opt_str_at(7)?,
                    ..Default::default()
                };
                if let Some(n) = r.opt_str_at(8)? {
                    info.tags.insert(keys::TRACE_NAME.into(), n);
                }
                a.to_metadata(&mut info.trace_metadata);
                by_id.insert(info.trace_id.clone(), info);
            }
            for r in self
                .fetch_by_ids(
                    &format!(
                        "SELECT request_id, {k}, value FROM trace_tags WHERE request_id IN ({marks})"
                    ),
                    chunk,
                )
                .await?
            {
                let key = r.str_at(1)?;
                if key == keys::TRACE_NAME {
                    continue;
                }
                if let Some(t) = by_id.get_mut(&r.str_at(0)?) {
                    t.tags.insert(key, r.str_at(2)?);
                }
            }
            for r in self
                .fetch_by_ids(
                    &format!(
                        "SELECT request_id, {k}, value FROM trace_request_metadata WHERE request_id IN ({marks})"
                    ),
                    chunk,
                )
                .await?
            {
                let key = r.str_at(1)?;
                if [keys::TRACE_SESSION, keys::TOKEN_USAGE, keys::COST].contains(&key.as_str()) {
                    continue;
                }
                if let Some(t) = by_id.get_mut(&r.str_at(0)?) {
                    t.trace_metadata.insert(key, r.str_at(2)?);
                }
            }
            let cols = assessment_cols(&self.db);
            for r in self
                .fetch_by_ids(
                    &format!(
                        "SELECT {cols} FROM assessments WHERE trace_id IN ({marks}) \
                         ORDER BY created_timestamp, assessment_id"
                    ),
                    chunk,
                )
                .await?
            {
                let a = assessment_from_row(&r)?;
                if let Some(t) = by_id.get_mut(&a.trace_id) {
                    t.assessments.push(a);
                }
            }
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    pub(crate) async fn get_trace_info_impl(&self, trace_id: &str) -> Result<TraceInfo> {
        self.load_trace_infos(&[trace_id.to_owned()])
            .await?
            .pop()
            .ok_or_else(|| Error::not_found(format!("Trace with ID '{trace_id}' not found.")))
    }

    async fn span_contents(&self, ids: &[String]) -> Result<HashMap<String, Vec<String>>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            if chunk.is_empty() {
                continue;
            }
            let marks = placeholders(chunk.len());
            for r in self
                .fetch_by_ids(
                    &format!(
                        "SELECT trace_id, content FROM spans WHERE trace_id IN ({marks}) \
                         ORDER BY trace_id, start_time_unix_nano, span_id"
                    ),
                    chunk,
                )
                .await?
            {
                out.entry(r.str_at(0)?).or_default().push(r.str_at(1)?);
            }
        }
        Ok(out)
    }

    pub(crate) async fn get_trace_impl(&self, trace_id: &str) -> Result<TraceWithSpans> {
        let info = self.get_trace_info_impl(trace_id).await?;
        let mut spans = self.span_contents(&[trace_id.to_owned()]).await?;
        Ok(TraceWithSpans {
            info,
            spans: spans.remove(trace_id).unwrap_or_default(),
        })
    }

    /// One page of a trace's spans (stored JSON text) in `(start_time, span_id)` order, by
    /// keyset: memory stays O(page) however large the trace is. The token is opaque
    /// (`base64({"start": ns, "span_id": id})`).
    pub(crate) async fn span_page_impl(
        &self,
        trace_id: &str,
        page_token: Option<&str>,
        max_results: i64,
    ) -> Result<Page<String>> {
        use base64::Engine;
        let limit = max_results.clamp(1, 10_000);
        let after: Option<(i64, String)> = match page_token.filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => {
                let bad = || Error::invalid(format!("Invalid span page token '{t}'"));
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(t.trim_end_matches('='))
                    .map_err(|_| bad())?;
                let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
                let start = v.get("start").and_then(serde_json::Value::as_i64);
                let span = v.get("span_id").and_then(serde_json::Value::as_str);
                match (start, span) {
                    (Some(st), Some(sp)) => Some((st, sp.to_owned())),
                    _ => return Err(bad()),
                }
            }
        };
        let db = &self.db;
        let rows = match &after {
            None => sqlx::query(db.sql(
                "SELECT start_time_unix_nano, span_id, content FROM spans WHERE trace_id = ? \
                 ORDER BY start_time_unix_nano, span_id LIMIT ?",
            ))
            .bind(trace_id.to_owned())
            .bind(limit)
            .fetch_all(&db.read)
            .await
            .map_err(db_err)?,
            Some((st, sp)) => sqlx::query(db.sql(
                "SELECT start_time_unix_nano, span_id, content FROM spans WHERE trace_id = ? \
                 AND (start_time_unix_nano > ? OR (start_time_unix_nano = ? AND span_id > ?)) \
                 ORDER BY start_time_unix_nano, span_id LIMIT ?",
            ))
            .bind(trace_id.to_owned())
            .bind(*st)
            .bind(*st)
            .bind(sp.clone())
            .bind(limit)
            .fetch_all(&db.read)
            .await
            .map_err(db_err)?,
        };
        let mut last = None;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            last = Some((r.i64_at(0)?, r.str_at(1)?));
            items.push(r.str_at(2)?);
        }
        let next_page_token = match last {
            Some((st, sp)) if items.len() as i64 == limit => Some(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(serde_json::json!({"start": st, "span_id": sp}).to_string()),
            ),
            _ => None,
        };
        Ok(Page {
            items,
            next_page_token,
        })
    }

    pub(crate) async fn batch_get_traces_impl(
        &self,
        trace_ids: &[String],
    ) -> Result<Vec<TraceWithSpans>> {
        let infos = self.load_trace_infos(trace_ids).await?;
        let ids: Vec<String> = infos.iter().map(|i| i.trace_id.clone()).collect();
        let mut spans = self.span_contents(&ids).await?;
        Ok(infos
            .into_iter()
            .map(|info| {
                let s = spans.remove(&info.trace_id).unwrap_or_default();
                TraceWithSpans { info, spans: s }
            })
            .collect())
    }

    pub(crate) async fn search_traces_impl(&self, req: &SearchTraces) -> Result<Page<TraceInfo>> {
        let max = if req.max_results <= 0 {
            100
        } else {
            req.max_results
        };
        if max > 50_000 {
            return Err(Error::invalid(format!(
                "Invalid value {max} for parameter 'max_results' supplied. It must be at most 50000"
            )));
        }
        let offset = decode_page_token(req.page_token.as_deref())?;
        let mut exp_ids = Vec::new();
        for e in &req.experiment_ids {
            if let Ok(i) = e.parse::<i64>() {
                exp_ids.push(i);
            }
        }
        let q = mlflow_search::traces::search_traces_query(
            self.db.dialect,
            &exp_ids,
            &req.filter,
            &req.order_by,
            max,
            offset,
        )
        .map_err(|e| Error::invalid(e.message))?;
        let rows = sqlx::query_with(self.db.sql(&q.sql), args_from(&q.binds)?)
            .persistent(false)
            .fetch_all(&self.db.read)
            .await
            .map_err(db_err)?;
        let ids: Vec<String> = rows.iter().map(|r| r.str_at(0)).collect::<Result<_>>()?;
        let items = self.load_trace_infos(&ids).await?;
        let next_page_token = (ids.len() as i64 == max).then(|| encode_page_token(offset + max));
        Ok(Page {
            items,
            next_page_token,
        })
    }
}

fn opt_f64(r: &AnyRow, i: usize) -> Result<Option<f64>> {
    use sqlx::Row;
    match r.try_get::<Option<f64>, _>(i) {
        Ok(v) => Ok(v),
        Err(_) => Ok(r.opt_i64_at(i)?.map(|v| v as f64)),
    }
}
