//! Trace tags, deletes, run and prompt links, and assessments.

use super::AssessmentUpdate;
use super::read::{assessment_cols, assessment_from_row};
use crate::db::{db_err, is_unique_violation};
use crate::experiments::{insert_ignore_sql, upsert_sql};
use crate::{SqlStore, placeholders};
use mlflow_domain::traces::{Assessment, AssessmentValue, keys, new_assessment_id};
use mlflow_domain::{Error, Result, now_ms};
use sqlx::{Any, Transaction};

const MAX_TRACE_LINKS: usize = 100;

impl SqlStore {
    async fn trace_row(&self, trace_id: &str) -> Result<(i64, i64)> {
        use crate::db::RowExt;
        let r = sqlx::query(
            self.db
                .sql("SELECT experiment_id, timestamp_ms FROM trace_info WHERE request_id = ?"),
        )
        .bind(trace_id.to_owned())
        .fetch_optional(&self.db.read)
        .await
        .map_err(db_err)?
        .ok_or_else(|| Error::not_found(format!("Trace with ID '{trace_id}' not found.")))?;
        Ok((r.i64_at(0)?, r.i64_at(1)?))
    }

    pub(crate) async fn set_trace_tag_impl(
        &self,
        trace_id: &str,
        key: &str,
        value: &str,
    ) -> Result<()> {
        self.trace_row(trace_id).await?;
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        if key == keys::TRACE_NAME {
            sqlx::query(db.sql("UPDATE trace_info SET trace_name = ? WHERE request_id = ?"))
                .bind(value.to_owned())
                .bind(trace_id.to_owned())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        } else {
            self.upsert_kv(
                &mut tx,
                "trace_tags",
                trace_id,
                &[(key.to_owned(), value.to_owned())],
            )
            .await?;
        }
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn delete_trace_tag_impl(&self, trace_id: &str, key: &str) -> Result<()> {
        self.trace_row(trace_id).await?;
        let db = &self.db;
        let affected = if key == keys::TRACE_NAME {
            sqlx::query(db.sql(
                "UPDATE trace_info SET trace_name = NULL WHERE request_id = ? AND trace_name IS NOT NULL",
            ))
            .bind(trace_id.to_owned())
            .execute(&db.write)
            .await
            .map_err(db_err)?
            .rows_affected()
        } else {
            sqlx::query(db.sql(&format!(
                "DELETE FROM trace_tags WHERE request_id = ? AND {} = ?",
                db.key_col()
            )))
            .bind(trace_id.to_owned())
            .bind(key.to_owned())
            .execute(&db.write)
            .await
            .map_err(db_err)?
            .rows_affected()
        };
        if affected == 0 {
            return Err(Error::not_found(format!(
                "No trace tag with key '{key}' for trace with ID '{trace_id}'"
            )));
        }
        Ok(())
    }

    pub(crate) async fn delete_traces_impl(
        &self,
        experiment_id: &str,
        max_timestamp_millis: Option<i64>,
        max_traces: Option<i64>,
        trace_ids: &[String],
    ) -> Result<i64> {
        use crate::db::RowExt;
        if max_timestamp_millis.is_none() && trace_ids.is_empty() {
            return Err(Error::invalid(
                "Either `max_timestamp_millis` or `trace_ids` must be specified.",
            ));
        }
        if max_timestamp_millis.is_some() && !trace_ids.is_empty() {
            return Err(Error::invalid(
                "Only one of `max_timestamp_millis` and `trace_ids` can be specified.",
            ));
        }
        if max_traces.is_some() && !trace_ids.is_empty() {
            return Err(Error::invalid(
                "`max_traces` can't be specified if `trace_ids` is specified.",
            ));
        }
        if let Some(m) = max_traces
            && m <= 0
        {
            return Err(Error::invalid(format!(
                "`max_traces` must be a positive integer, received {m}."
            )));
        }
        let exp: i64 = experiment_id
            .parse()
            .map_err(|_| Error::invalid(format!("Invalid experiment ID '{experiment_id}'")))?;
        let db = &self.db;
        let ids: Vec<String> = if let Some(ts) = max_timestamp_millis {
            let mut sql =
                "SELECT request_id FROM trace_info WHERE experiment_id = ? AND timestamp_ms <= ? \
                           ORDER BY timestamp_ms ASC, request_id ASC"
                    .to_owned();
            if max_traces.is_some() {
                sql.push_str(" LIMIT ?");
            }
            let mut q = sqlx::query(db.sql(&sql)).bind(exp).bind(ts);
            if let Some(m) = max_traces {
                q = q.bind(m);
            }
            q.fetch_all(&db.read)
                .await
                .map_err(db_err)?
                .iter()
                .map(|r| r.str_at(0))
                .collect::<Result<_>>()?
        } else {
            trace_ids.to_vec()
        };
        // Only traces of this experiment; each batch (spans, assessments, tags, metadata,
        // trace metrics, entity associations, trace_info) goes in one transaction.
        let mut deleted = 0i64;
        for chunk in ids.chunks(crate::retention::SWEEP_BATCH) {
            let marks = placeholders(chunk.len());
            let mut q = sqlx::query(db.sql(&format!(
                "SELECT request_id FROM trace_info WHERE experiment_id = ? AND request_id IN ({marks})"
            )))
            .persistent(false)
            .bind(exp);
            for id in chunk {
                q = q.bind(id.clone());
            }
            let mine: Vec<String> = q
                .fetch_all(&db.read)
                .await
                .map_err(db_err)?
                .iter()
                .map(|r| r.str_at(0))
                .collect::<Result<_>>()?;
            deleted += self.delete_trace_batch(&mine).await? as i64;
        }
        Ok(deleted)
    }

    pub(crate) async fn link_traces_to_run_impl(
        &self,
        trace_ids: &[String],
        run_id: &str,
    ) -> Result<()> {
        use crate::db::RowExt;
        if trace_ids.is_empty() {
            return Ok(());
        }
        if trace_ids.len() > MAX_TRACE_LINKS {
            return Err(Error::invalid(format!(
                "Cannot link more than {MAX_TRACE_LINKS} traces to a run in a single request. \
                 Provided {} traces.",
                trace_ids.len()
            )));
        }
        self.get_run_impl(run_id).await?;
        let db = &self.db;
        let marks = placeholders(trace_ids.len());
        let mut q = sqlx::query(db.sql(&format!(
            "SELECT request_id FROM trace_info WHERE request_id IN ({marks})"
        )))
        .persistent(false);
        for id in trace_ids {
            q = q.bind(id.clone());
        }
        let existing: Vec<String> = q
            .fetch_all(&db.read)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| r.str_at(0))
            .collect::<Result<_>>()?;
        if existing.is_empty() {
            return Ok(());
        }
        let sql = insert_ignore_sql(
            db.dialect,
            "entity_associations",
            &[
                "association_id",
                "source_type",
                "source_id",
                "destination_type",
                "destination_id",
                "created_time",
            ],
            existing.len(),
        );
        let mut q = sqlx::query(db.sql(&sql)).persistent(false);
        let now = now_ms();
        for id in &existing {
            q = q
                .bind(uuid::Uuid::new_v4().simple().to_string())
                .bind("trace")
                .bind(id.clone())
                .bind("run")
                .bind(run_id.to_owned())
                .bind(now);
        }
        q.execute(&db.write).await.map_err(db_err)?;
        Ok(())
    }

    /// `LinkPromptsToTrace`: one `entity_associations` row per prompt version
    /// (`trace` → `prompt_version`, destination `name/version`); links that already exist,
    /// including ones a concurrent request inserted first, are left alone.
    pub(crate) async fn link_prompts_to_trace_impl(
        &self,
        trace_id: &str,
        prompt_versions: &[(String, i64)],
    ) -> Result<()> {
        if prompt_versions.is_empty() {
            return Ok(());
        }
        let db = &self.db;
        let mut ids: Vec<String> = Vec::with_capacity(prompt_versions.len());
        for (name, version) in prompt_versions {
            let id = format!("{name}/{version}");
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        // `destination_id` is VARCHAR(36): PostgreSQL rejects a longer value and MySQL's
        // INSERT IGNORE would silently truncate it, so refuse it up front (the official server
        // answers BAD_REQUEST with the driver's error; SQLite does not enforce the length).
        if db.dialect != mlflow_search::Dialect::Sqlite
            && let Some(long) = ids.iter().find(|id| id.chars().count() > 36)
        {
            return Err(Error::new(
                mlflow_domain::ErrorCode::BadRequest,
                format!(
                    "Cannot link prompt version '{long}' to a trace: the prompt version ID \
                     (name/version) exceeds 36 characters, the size of \
                     entity_associations.destination_id."
                ),
            ));
        }
        let mut tx = db.begin_write().await?;
        let found = sqlx::query(db.sql("SELECT request_id FROM trace_info WHERE request_id = ?"))
            .bind(trace_id.to_owned())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if found.is_none() {
            return Err(Error::not_found(format!(
                "Trace with ID '{trace_id}' not found."
            )));
        }
        let now = now_ms();
        for chunk in ids.chunks(500) {
            let sql = insert_ignore_sql(
                db.dialect,
                "entity_associations",
                &[
                    "association_id",
                    "source_type",
                    "source_id",
                    "destination_type",
                    "destination_id",
                    "created_time",
                ],
                chunk.len(),
            );
            let mut q = sqlx::query(db.sql(&sql)).persistent(false);
            for id in chunk {
                q = q
                    .bind(uuid::Uuid::new_v4().simple().to_string())
                    .bind("trace")
                    .bind(trace_id.to_owned())
                    .bind("prompt_version")
                    .bind(id.clone())
                    .bind(now);
            }
            q.execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    /// Inserts (or with `upsert`, replaces) one assessment row.
    pub(crate) async fn insert_assessment(
        &self,
        tx: &mut Transaction<'static, Any>,
        a: &Assessment,
        experiment_id: Option<i64>,
        trace_timestamp_ms: Option<i64>,
        upsert: bool,
    ) -> Result<Assessment> {
        let mut a = a.clone();
        if a.assessment_id.is_empty() {
            a.assessment_id = new_assessment_id(&uuid::Uuid::new_v4().simple().to_string());
        }
        let now = now_ms();
        a.create_time_ms = Some(a.create_time_ms.filter(|t| *t != 0).unwrap_or(now));
        a.last_update_time_ms = Some(a.last_update_time_ms.filter(|t| *t != 0).unwrap_or(now));
        a.valid = Some(true);
        let (agg, numeric) = a.value.aggregate();
        let error = match &a.value {
            AssessmentValue::Feedback { error: Some(e), .. } => Some(e.to_column()),
            _ => None,
        };
        const COLS: [&str; 20] = [
            "assessment_id",
            "trace_id",
            "name",
            "assessment_type",
            "value",
            "error",
            "created_timestamp",
            "last_updated_timestamp",
            "source_type",
            "source_id",
            "run_id",
            "span_id",
            "rationale",
            "overrides",
            "valid",
            "assessment_metadata",
            "experiment_id",
            "trace_timestamp_ms",
            "aggregate_value",
            "is_numeric_value",
        ];
        let sql = if upsert {
            upsert_sql(
                self.db.dialect,
                "assessments",
                &COLS,
                &["assessment_id"],
                &COLS[1..],
                1,
            )
        } else {
            format!(
                "INSERT INTO assessments ({}) VALUES ({})",
                COLS.join(", "),
                placeholders(COLS.len())
            )
        };
        sqlx::query(self.db.sql(&sql))
            .persistent(false)
            .bind(a.assessment_id.clone())
            .bind(a.trace_id.clone())
            .bind(a.name.clone())
            .bind(a.value.kind())
            .bind(a.value.value_column())
            .bind(error)
            .bind(a.create_time_ms)
            .bind(a.last_update_time_ms)
            .bind(a.source_type.clone())
            .bind(a.source_id.clone())
            .bind(a.run_id.clone())
            .bind(a.span_id.clone())
            .bind(a.rationale.clone())
            .bind(a.overrides.clone())
            .bind(true)
            .bind(a.metadata_column())
            .bind(experiment_id)
            .bind(trace_timestamp_ms)
            .bind(agg)
            .bind(numeric)
            .execute(&mut **tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::already_exists(format!(
                        "Assessment with ID '{}' already exists",
                        a.assessment_id
                    ))
                } else {
                    db_err(e)
                }
            })?;
        Ok(a)
    }

    pub(crate) async fn create_assessment_impl(&self, a: Assessment) -> Result<Assessment> {
        let (exp, ts) = self.trace_row(&a.trace_id).await?;
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        if let Some(over) = &a.overrides {
            let n = sqlx::query(db.sql(&format!(
                "UPDATE assessments SET valid = {} WHERE trace_id = ? AND assessment_id = ?",
                db.bool_lit(false)
            )))
            .bind(a.trace_id.clone())
            .bind(over.clone())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
            if n == 0 {
                return Err(Error::not_found(format!(
                    "Assessment with ID '{over}' not found for trace '{}'",
                    a.trace_id
                )));
            }
        }
        let created = self
            .insert_assessment(&mut tx, &a, Some(exp), Some(ts), false)
            .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(created)
    }

    pub(crate) async fn get_assessment_impl(
        &self,
        trace_id: &str,
        assessment_id: &str,
    ) -> Result<Assessment> {
        let db = &self.db;
        let row = sqlx::query(db.sql(&format!(
            "SELECT {} FROM assessments WHERE trace_id = ? AND assessment_id = ?",
            assessment_cols(db)
        )))
        .persistent(false)
        .bind(trace_id.to_owned())
        .bind(assessment_id.to_owned())
        .fetch_optional(&db.read)
        .await
        .map_err(db_err)?;
        match row {
            Some(r) => assessment_from_row(&r),
            None => {
                if self.trace_row(trace_id).await.is_err() {
                    Err(Error::not_found(format!(
                        "Trace with request_id '{trace_id}' not found"
                    )))
                } else {
                    Err(Error::not_found(format!(
                        "Assessment with ID '{assessment_id}' not found for trace '{trace_id}'"
                    )))
                }
            }
        }
    }

    pub(crate) async fn update_assessment_impl(
        &self,
        trace_id: &str,
        assessment_id: &str,
        u: AssessmentUpdate,
    ) -> Result<Assessment> {
        let mut a = self.get_assessment_impl(trace_id, assessment_id).await?;
        if u.expectation.is_some() && u.feedback.is_some() {
            return Err(Error::invalid(
                "Cannot specify both `expectation` and `feedback` parameters.",
            ));
        }
        let is_expectation = matches!(a.value, AssessmentValue::Expectation { .. });
        if u.expectation.is_some() && !is_expectation {
            return Err(Error::invalid(
                "Cannot update expectation value on a Feedback assessment.",
            ));
        }
        if u.feedback.is_some() && !matches!(a.value, AssessmentValue::Feedback { .. }) {
            return Err(Error::invalid(
                "Cannot update feedback value on an Expectation assessment.",
            ));
        }
        if let Some(md) = u.metadata {
            let mut merged = a.metadata.clone().unwrap_or_default();
            merged.extend(md);
            a.metadata = Some(merged);
        }
        if let Some(n) = u.name {
            a.name = n;
        }
        if let Some(v) = u.expectation {
            a.value = AssessmentValue::Expectation { value: v };
        }
        if let Some((value, error)) = u.feedback {
            a.value = AssessmentValue::Feedback { value, error };
        }
        if !is_expectation && let Some(r) = u.rationale {
            a.rationale = Some(r);
        }
        if is_expectation {
            // The official update rebuilds an Expectation without a rationale.
            a.rationale = None;
        }
        a.last_update_time_ms = Some(now_ms());
        let (agg, numeric) = a.value.aggregate();
        let error = match &a.value {
            AssessmentValue::Feedback { error: Some(e), .. } => Some(e.to_column()),
            _ => None,
        };
        let db = &self.db;
        sqlx::query(db.sql(
            "UPDATE assessments SET name = ?, value = ?, error = ?, last_updated_timestamp = ?, \
             rationale = ?, assessment_metadata = ?, aggregate_value = ?, is_numeric_value = ? \
             WHERE trace_id = ? AND assessment_id = ?",
        ))
        .persistent(false)
        .bind(a.name.clone())
        .bind(a.value.value_column())
        .bind(error)
        .bind(a.last_update_time_ms)
        .bind(a.rationale.clone())
        .bind(a.metadata_column())
        .bind(agg)
        .bind(numeric)
        .bind(trace_id.to_owned())
        .bind(assessment_id.to_owned())
        .execute(&db.write)
        .await
        .map_err(db_err)?;
        Ok(a)
    }

    pub(crate) async fn delete_assessment_impl(
        &self,
        trace_id: &str,
        assessment_id: &str,
    ) -> Result<()> {
        self.trace_row(trace_id).await?;
        let a = match self.get_assessment_impl(trace_id, assessment_id).await {
            Ok(a) => a,
            Err(_) => return Ok(()),
        };
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        if let Some(over) = &a.overrides {
            sqlx::query(db.sql(&format!(
                "UPDATE assessments SET valid = {} WHERE assessment_id = ?",
                db.bool_lit(true)
            )))
            .bind(over.clone())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        sqlx::query(db.sql("DELETE FROM assessments WHERE trace_id = ? AND assessment_id = ?"))
            .bind(trace_id.to_owned())
            .bind(assessment_id.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }
}
