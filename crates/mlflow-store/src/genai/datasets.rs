//! Evaluation datasets: the official `SqlAlchemyStore` dataset methods on the same tables.

use super::{SearchDatasets, json_col, json_param, quoted, sha256_hex};
use crate::db::{RowExt, args_from, db_err};
use crate::{Page, SqlStore, decode_page_token, encode_page_token, placeholders};
use base64::Engine;
use mlflow_domain::genai::{
    DatasetRecord, EvaluationDataset, MLFLOW_USER, WRAPPED_OUTPUT_KEY, infer_field_type,
    normalize_source, parse_source_type, py_str, sort_keys,
};
use mlflow_domain::traces::PyValue;
use mlflow_domain::{Error, Result, now_ms};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

const DATASET_TYPE: &str = "evaluation_dataset";
const EXPERIMENT_TYPE: &str = "experiment";
/// `SEARCH_MAX_RESULTS_THRESHOLD`.
const MAX_SEARCH_RESULTS: i64 = 50000;

/// `_compute_dataset_digest`: the first 8 hex digits of `sha256(f"{name}:{time}")`.
fn dataset_digest(name: &str, last_update_time: i64) -> String {
    sha256_hex(&format!("{name}:{last_update_time}"))[..8].to_string()
}

fn not_found(dataset_id: &str) -> Error {
    Error::not_found(format!("Dataset '{dataset_id}' not found"))
}

/// A JSON column value as `json.dumps` writes it (SQLAlchemy stores Python `None` as `null`).
fn json_text(v: Option<&PyValue>) -> String {
    v.unwrap_or(&PyValue::Null).dumps(true)
}

fn dict_get_mut<'a>(d: &'a mut PyValue, key: &str) -> Option<&'a mut PyValue> {
    match d {
        PyValue::Dict(kv) => kv.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

fn dict_set(d: &mut PyValue, key: &str, value: PyValue) {
    if let PyValue::Dict(kv) = d {
        match kv.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => kv.push((key.to_string(), value)),
        }
    }
}

/// `dict.update`: existing keys keep their position.
fn dict_update(base: &mut PyValue, new: &PyValue) {
    if let PyValue::Dict(kv) = new {
        for (k, v) in kv {
            dict_set(base, k, v.clone());
        }
    }
}

/// Adds the inferred type of every key of `values` missing from `schema[section]`.
fn add_field_types(schema: &mut PyValue, section: &str, values: &PyValue) {
    let PyValue::Dict(kv) = values else {
        return;
    };
    if let Some(target @ PyValue::Dict(_)) = dict_get_mut(schema, section) {
        for (k, v) in kv {
            if target.get(k).is_none() {
                dict_set(target, k, PyValue::Str(infer_field_type(v).into()));
            }
        }
    }
}

/// `_update_dataset_schema`.
fn update_schema(existing: Option<&str>, records: &[PyValue]) -> Option<PyValue> {
    let existing = existing.filter(|s| !s.is_empty());
    if records.is_empty() && existing.is_none() {
        return None;
    }
    let mut schema = existing
        .and_then(PyValue::loads)
        .filter(|v| matches!(v, PyValue::Dict(_)))
        .unwrap_or_else(|| {
            PyValue::Dict(vec![
                ("inputs".into(), PyValue::Dict(Vec::new())),
                ("outputs".into(), PyValue::Dict(Vec::new())),
                ("expectations".into(), PyValue::Dict(Vec::new())),
                ("version".into(), PyValue::Str("1.0".into())),
            ])
        });
    for rec in records {
        if let Some(inputs) = rec.get("inputs").filter(|v| v.truthy()) {
            add_field_types(&mut schema, "inputs", inputs);
        }
        match rec.get("outputs") {
            None | Some(PyValue::Null) => {}
            Some(outputs @ PyValue::Dict(_)) => add_field_types(&mut schema, "outputs", outputs),
            Some(other) => {
                if !schema.get("outputs").is_some_and(PyValue::truthy) {
                    dict_set(
                        &mut schema,
                        "outputs",
                        PyValue::Str(infer_field_type(other).into()),
                    );
                }
            }
        }
        if let Some(exp) = rec.get("expectations").filter(|v| v.truthy()) {
            add_field_types(&mut schema, "expectations", exp);
        }
    }
    Some(schema)
}

/// The `mlflow.user` tag of a record's `tags`, as Python would read it.
fn user_of(tags: Option<&PyValue>) -> Option<String> {
    tags.filter(|t| t.truthy())
        .and_then(|t| t.get(MLFLOW_USER))
        .map(py_str)
}

/// The record cursor: `base64("{created_time}:{dataset_record_id}")`, or a plain offset.
enum Cursor {
    After(i64, String),
    Offset(i64),
}

fn decode_cursor(token: &str) -> Result<Cursor> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    if let Some(text) = decoded
        && let Some((t, id)) = text.split_once(':')
        && let Ok(t) = t.trim().parse::<i64>()
    {
        return Ok(Cursor::After(t, id.to_string()));
    }
    token
        .trim()
        .parse::<i64>()
        .map(Cursor::Offset)
        .map_err(|_| Error::invalid(format!("Invalid page token '{token}'")))
}

fn record_from_row(row: &AnyRow) -> Result<DatasetRecord> {
    let json = |idx: usize| -> Result<Option<PyValue>> {
        Ok(row.opt_str_at(idx)?.and_then(|s| PyValue::loads(&s)))
    };
    Ok(DatasetRecord {
        dataset_record_id: row.str_at(0)?,
        dataset_id: row.str_at(1)?,
        inputs: json(2)?.unwrap_or(PyValue::Dict(Vec::new())),
        outputs: json(3)?,
        expectations: json(4)?,
        tags: json(5)?,
        source: json(6)?,
        source_id: row.opt_str_at(7)?,
        created_time: row.opt_i64_at(8)?.unwrap_or(0),
        last_update_time: row.opt_i64_at(9)?.unwrap_or(0),
        created_by: row.opt_str_at(10)?,
        last_updated_by: row.opt_str_at(11)?,
    })
}

impl SqlStore {
    fn dataset_cols(&self) -> String {
        format!(
            "dataset_id, name, {}, profile, digest, created_time, last_update_time, created_by, \
             last_updated_by",
            quoted(&self.db, "schema")
        )
    }

    fn record_cols(&self) -> String {
        let db = &self.db;
        format!(
            "dataset_record_id, dataset_id, {}, {}, {}, {}, {}, source_id, created_time, \
             last_update_time, created_by, last_updated_by",
            json_col(db, "inputs"),
            json_col(db, "outputs"),
            json_col(db, "expectations"),
            json_col(db, "tags"),
            json_col(db, "source"),
        )
    }

    /// Datasets (with tags) by id, in the order of `ids`; unknown ids are skipped.
    async fn load_datasets(&self, ids: &[String]) -> Result<Vec<EvaluationDataset>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let db = &self.db;
        let marks = placeholders(ids.len());
        let mut q = sqlx::query(db.sql(&format!(
            "SELECT {} FROM evaluation_datasets WHERE dataset_id IN ({marks})",
            self.dataset_cols()
        )))
        .persistent(false);
        for id in ids {
            q = q.bind(id.clone());
        }
        let rows = q.fetch_all(&db.read).await.map_err(db_err)?;
        let mut found = Vec::with_capacity(rows.len());
        for r in &rows {
            found.push(EvaluationDataset {
                dataset_id: r.str_at(0)?,
                name: r.str_at(1)?,
                schema: r.opt_str_at(2)?,
                profile: r.opt_str_at(3)?,
                digest: r.opt_str_at(4)?,
                created_time: r.opt_i64_at(5)?,
                last_update_time: r.opt_i64_at(6)?,
                created_by: r.opt_str_at(7)?,
                last_updated_by: r.opt_str_at(8)?,
                ..Default::default()
            });
        }
        let mut q = sqlx::query(db.sql(&format!(
            "SELECT dataset_id, {}, value FROM evaluation_dataset_tags WHERE dataset_id IN ({marks})",
            db.key_col()
        )))
        .persistent(false);
        for id in ids {
            q = q.bind(id.clone());
        }
        for r in q.fetch_all(&db.read).await.map_err(db_err)? {
            let id = r.str_at(0)?;
            if let Some(d) = found.iter_mut().find(|d| d.dataset_id == id) {
                d.tags.push((r.str_at(1)?, r.opt_str_at(2)?));
            }
        }
        let mut out = Vec::with_capacity(found.len());
        for id in ids {
            if let Some(pos) = found.iter().position(|d| &d.dataset_id == id) {
                out.push(found.swap_remove(pos));
            }
        }
        Ok(out)
    }

    async fn dataset_exists(&self, tx: &mut Transaction<'static, Any>, id: &str) -> Result<bool> {
        Ok(sqlx::query(
            self.db
                .sql("SELECT dataset_id FROM evaluation_datasets WHERE dataset_id = ?"),
        )
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?
        .is_some())
    }

    async fn touch_dataset(&self, tx: &mut Transaction<'static, Any>, id: &str) -> Result<()> {
        sqlx::query(
            self.db
                .sql("UPDATE evaluation_datasets SET last_update_time = ? WHERE dataset_id = ?"),
        )
        .bind(now_ms())
        .bind(id.to_string())
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn create_dataset_impl(
        &self,
        name: &str,
        tags: Option<Vec<(String, PyValue)>>,
        experiment_ids: &[String],
    ) -> Result<EvaluationDataset> {
        let db = &self.db;
        let dataset_id = format!("d-{}", uuid::Uuid::new_v4().simple());
        let now = now_ms();
        let tags = tags.unwrap_or_default();
        let user = tags
            .iter()
            .find(|(k, _)| k == MLFLOW_USER)
            .and_then(|(_, v)| (*v != PyValue::Null).then(|| py_str(v)));
        let mut tx = db.begin_write().await?;
        sqlx::query(db.sql(&format!(
            "INSERT INTO evaluation_datasets (dataset_id, workspace, name, {}, profile, digest, \
             created_time, last_update_time, created_by, last_updated_by) \
             VALUES (?, 'default', ?, NULL, NULL, ?, ?, ?, ?, ?)",
            quoted(db, "schema")
        )))
        .bind(dataset_id.clone())
        .bind(name.to_string())
        .bind(dataset_digest(name, now))
        .bind(now)
        .bind(now)
        .bind(user.clone())
        .bind(user)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        for (k, v) in &tags {
            sqlx::query(db.sql(&format!(
                "INSERT INTO evaluation_dataset_tags (dataset_id, {}, value) VALUES (?, ?, ?)",
                db.key_col()
            )))
            .bind(dataset_id.clone())
            .bind(k.clone())
            .bind((*v != PyValue::Null).then(|| py_str(v)))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        let mut seen: Vec<&String> = Vec::new();
        for exp in experiment_ids {
            if seen.contains(&exp) {
                continue;
            }
            seen.push(exp);
            sqlx::query(db.sql(
                "INSERT INTO entity_associations (association_id, source_type, source_id, \
                 destination_type, destination_id, created_time) VALUES (?, ?, ?, ?, ?, ?)",
            ))
            .bind(format!("a-{}", uuid::Uuid::new_v4().simple()))
            .bind(DATASET_TYPE)
            .bind(dataset_id.clone())
            .bind(EXPERIMENT_TYPE)
            .bind(exp.clone())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        let mut ds = self.get_dataset_impl(&dataset_id).await?;
        ds.experiment_ids = Some(experiment_ids.to_vec());
        Ok(ds)
    }

    pub(crate) async fn get_dataset_impl(&self, dataset_id: &str) -> Result<EvaluationDataset> {
        self.load_datasets(&[dataset_id.to_string()])
            .await?
            .pop()
            .ok_or_else(|| {
                Error::not_found(format!(
                    "Evaluation dataset with id '{dataset_id}' not found"
                ))
            })
    }

    pub(crate) async fn delete_dataset_impl(&self, dataset_id: &str) -> Result<()> {
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        if !self.dataset_exists(&mut tx, dataset_id).await? {
            tracing::warn!("Evaluation dataset with id '{dataset_id}' not found.");
            return Ok(());
        }
        for sql in [
            "DELETE FROM evaluation_dataset_tags WHERE dataset_id = ?",
            "DELETE FROM evaluation_dataset_records WHERE dataset_id = ?",
        ] {
            sqlx::query(db.sql(sql))
                .bind(dataset_id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        sqlx::query(db.sql(
            "DELETE FROM entity_associations WHERE (destination_type = ? AND destination_id = ?) \
             OR (source_type = ? AND source_id = ?)",
        ))
        .bind(DATASET_TYPE)
        .bind(dataset_id.to_string())
        .bind(DATASET_TYPE)
        .bind(dataset_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(db.sql("DELETE FROM evaluation_datasets WHERE dataset_id = ?"))
            .bind(dataset_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn search_datasets_impl(
        &self,
        req: &SearchDatasets,
    ) -> Result<Page<EvaluationDataset>> {
        let max_results = match req.max_results {
            Some(n) if n >= 1 => n,
            other => {
                let shown = other.map_or("None".to_string(), |n| n.to_string());
                return Err(Error::invalid(format!(
                    "Invalid value {shown} for parameter 'max_results' supplied. It must be a \
                     positive integer"
                )));
            }
        };
        if max_results > MAX_SEARCH_RESULTS {
            return Err(Error::invalid(format!(
                "Invalid value {max_results} for parameter 'max_results' supplied. It must be at \
                 most {MAX_SEARCH_RESULTS}"
            )));
        }
        let offset = decode_page_token(req.page_token.as_deref())?;
        let q = mlflow_search::datasets::search_datasets_query(
            self.db.dialect,
            req.experiment_ids.as_deref(),
            &req.filter,
            &req.order_by,
            max_results + 1,
            offset,
        )
        .map_err(|e| Error::invalid(e.message))?;
        let rows = sqlx::query_with(self.db.sql(&q.sql), args_from(&q.binds)?)
            .persistent(false)
            .fetch_all(&self.db.read)
            .await
            .map_err(db_err)?;
        let mut ids: Vec<String> = rows.iter().map(|r| r.str_at(0)).collect::<Result<_>>()?;
        let next_page_token = if ids.len() as i64 > max_results {
            ids.truncate(max_results as usize);
            Some(encode_page_token(offset + max_results))
        } else {
            None
        };
        Ok(Page {
            items: self.load_datasets(&ids).await?,
            next_page_token,
        })
    }

    pub(crate) async fn set_dataset_tags_impl(
        &self,
        dataset_id: &str,
        tags: Vec<(String, PyValue)>,
    ) -> Result<()> {
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        if !self.dataset_exists(&mut tx, dataset_id).await? {
            return Err(Error::not_found(format!(
                "Could not find evaluation dataset with ID {dataset_id}"
            )));
        }
        let key = db.key_col();
        for (k, v) in tags {
            if v == PyValue::Null {
                continue;
            }
            let value = py_str(&v);
            let exists = sqlx::query(db.sql(&format!(
                "SELECT dataset_id FROM evaluation_dataset_tags WHERE dataset_id = ? AND {key} = ?"
            )))
            .bind(dataset_id.to_string())
            .bind(k.clone())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .is_some();
            let sql = if exists {
                format!(
                    "UPDATE evaluation_dataset_tags SET value = ? WHERE dataset_id = ? AND {key} = ?"
                )
            } else {
                format!(
                    "INSERT INTO evaluation_dataset_tags (value, dataset_id, {key}) VALUES (?, ?, ?)"
                )
            };
            sqlx::query(db.sql(&sql))
                .bind(value)
                .bind(dataset_id.to_string())
                .bind(k)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn delete_dataset_tag_impl(&self, dataset_id: &str, key: &str) -> Result<()> {
        let db = &self.db;
        sqlx::query(db.sql(&format!(
            "DELETE FROM evaluation_dataset_tags WHERE dataset_id = ? AND {} = ?",
            db.key_col()
        )))
        .bind(dataset_id.to_string())
        .bind(key.to_string())
        .execute(&db.write)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn upsert_dataset_records_impl(
        &self,
        dataset_id: &str,
        records: Vec<PyValue>,
    ) -> Result<(i64, i64)> {
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        let Some(row) = sqlx::query(db.sql(&format!(
            "SELECT name, {} FROM evaluation_datasets WHERE dataset_id = ?",
            quoted(db, "schema")
        )))
        .bind(dataset_id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        else {
            return Err(Error::not_found(format!(
                "Evaluation dataset with id '{dataset_id}' not found"
            )));
        };
        let name = row.str_at(0)?;
        let existing_schema = row.opt_str_at(1)?;
        let now = now_ms();
        let (mut inserted, mut updated) = (0i64, 0i64);
        let mut updated_by: Option<String> = None;
        let jp = json_param(db);
        for rec in &records {
            if !matches!(rec, PyValue::Dict(_)) {
                return Err(Error::invalid(format!(
                    "Each dataset record must be a JSON object, got: {}",
                    rec.dumps(true)
                )));
            }
            let inputs = match rec.get("inputs") {
                None => PyValue::Dict(Vec::new()),
                Some(PyValue::Null) => return Err(Error::invalid("inputs must be provided")),
                Some(v) => v.clone(),
            };
            let input_hash = sha256_hex(&sort_keys(&inputs).dumps(true));
            let tags = rec.get("tags").filter(|t| **t != PyValue::Null);
            if let Some(u) = user_of(tags) {
                updated_by = Some(u);
            }
            let existing = sqlx::query(db.sql(&format!(
                "SELECT dataset_record_id, {}, {} FROM evaluation_dataset_records \
                 WHERE dataset_id = ? AND input_hash = ?",
                json_col(db, "expectations"),
                json_col(db, "tags"),
            )))
            .bind(dataset_id.to_string())
            .bind(input_hash.clone())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            if let Some(row) = existing {
                // `SqlEvaluationDatasetRecord.merge`.
                let record_id = row.str_at(0)?;
                let mut expectations = row.opt_str_at(1)?.and_then(|s| PyValue::loads(&s));
                let mut rec_tags = row.opt_str_at(2)?.and_then(|s| PyValue::loads(&s));
                let merge = |slot: &mut Option<PyValue>, new: Option<&PyValue>| {
                    if let Some(new) = new.filter(|n| n.truthy()) {
                        match slot {
                            Some(base @ PyValue::Dict(_)) if matches!(new, PyValue::Dict(_)) => {
                                dict_update(base, new)
                            }
                            _ => *slot = Some(new.clone()),
                        }
                    }
                };
                merge(&mut expectations, rec.get("expectations"));
                merge(&mut rec_tags, tags);
                let mut sets = vec![
                    format!("expectations = {jp}"),
                    format!("tags = {jp}"),
                    "last_update_time = ?".to_string(),
                ];
                let outputs = rec.get("outputs").map(|o| {
                    (*o != PyValue::Null)
                        .then(|| PyValue::Dict(vec![(WRAPPED_OUTPUT_KEY.into(), o.clone())]))
                });
                if outputs.is_some() {
                    sets.push(format!("outputs = {jp}"));
                }
                let new_user = user_of(tags);
                if new_user.is_some() {
                    sets.push("last_updated_by = ?".to_string());
                }
                let mut q = sqlx::query(db.sql(&format!(
                    "UPDATE evaluation_dataset_records SET {} WHERE dataset_record_id = ?",
                    sets.join(", ")
                )))
                .persistent(false)
                .bind(json_text(expectations.as_ref()))
                .bind(json_text(rec_tags.as_ref()))
                .bind(now);
                if let Some(o) = &outputs {
                    q = q.bind(json_text(o.as_ref()));
                }
                if let Some(u) = new_user {
                    q = q.bind(u);
                }
                q.bind(record_id).execute(&mut *tx).await.map_err(db_err)?;
                updated += 1;
                continue;
            }
            let created_by = user_of(tags);
            let source = match rec.get("source").filter(|s| s.truthy()) {
                None => None,
                Some(s @ PyValue::Dict(_)) => {
                    let ty = s
                        .get("source_type")
                        .and_then(PyValue::as_str)
                        .ok_or_else(|| {
                            Error::invalid("Dataset record source requires a 'source_type'")
                        })?;
                    parse_source_type(ty)?;
                    let norm = normalize_source(s);
                    if !matches!(norm.get("source_data"), Some(PyValue::Dict(_))) {
                        return Err(Error::invalid(
                            "Dataset record source_data must be a JSON object",
                        ));
                    }
                    Some(norm)
                }
                Some(other) => {
                    return Err(Error::invalid(format!(
                        "Invalid dataset record source: {}",
                        other.dumps(true)
                    )));
                }
            };
            let source_type = source
                .as_ref()
                .and_then(|s| s.get("source_type"))
                .and_then(PyValue::as_str)
                .map(str::to_owned);
            let source_id = source.as_ref().and_then(|s| {
                let key = if source_type.as_deref() == Some("TRACE") {
                    "trace_id"
                } else {
                    "source_id"
                };
                s.get("source_data")?
                    .get(key)
                    .filter(|v| **v != PyValue::Null)
                    .map(py_str)
            });
            let outputs = match rec.get("outputs") {
                None => Some(PyValue::Dict(vec![(
                    WRAPPED_OUTPUT_KEY.into(),
                    PyValue::Dict(Vec::new()),
                )])),
                Some(PyValue::Null) => None,
                Some(o) => Some(PyValue::Dict(vec![(WRAPPED_OUTPUT_KEY.into(), o.clone())])),
            };
            sqlx::query(db.sql(&format!(
                "INSERT INTO evaluation_dataset_records (dataset_record_id, dataset_id, inputs, \
                 outputs, expectations, tags, source, source_id, source_type, created_time, \
                 last_update_time, created_by, last_updated_by, input_hash) \
                 VALUES (?, ?, {jp}, {jp}, {jp}, {jp}, {jp}, ?, ?, ?, ?, ?, ?, ?)"
            )))
            .persistent(false)
            .bind(format!("dr-{}", uuid::Uuid::new_v4().simple()))
            .bind(dataset_id.to_string())
            .bind(inputs.dumps(true))
            .bind(json_text(outputs.as_ref()))
            .bind(json_text(rec.get("expectations")))
            .bind(json_text(tags))
            .bind(json_text(source.as_ref()))
            .bind(source_id)
            .bind(source_type)
            .bind(now)
            .bind(now)
            .bind(created_by.clone())
            .bind(created_by)
            .bind(input_hash)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            inserted += 1;
        }
        let schema = update_schema(existing_schema.as_deref(), &records);
        let count = sqlx::query(
            db.sql("SELECT COUNT(*) FROM evaluation_dataset_records WHERE dataset_id = ?"),
        )
        .bind(dataset_id.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?
        .i64_at(0)?;
        let mut sets = vec![
            "last_update_time = ?".to_string(),
            "last_updated_by = ?".to_string(),
            "digest = ?".to_string(),
        ];
        if schema.is_some() {
            sets.push(format!("{} = ?", quoted(db, "schema")));
        }
        if count > 0 {
            sets.push("profile = ?".to_string());
        }
        let mut q = sqlx::query(db.sql(&format!(
            "UPDATE evaluation_datasets SET {} WHERE dataset_id = ?",
            sets.join(", ")
        )))
        .persistent(false)
        .bind(now)
        .bind(updated_by)
        .bind(dataset_digest(&name, now));
        if let Some(s) = &schema {
            q = q.bind(s.dumps(true));
        }
        if count > 0 {
            q = q.bind(format!("{{\"num_records\": {count}}}"));
        }
        q.bind(dataset_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok((inserted, updated))
    }

    pub(crate) async fn get_dataset_records_impl(
        &self,
        dataset_id: &str,
        max_results: i64,
        page_token: Option<&str>,
    ) -> Result<(Vec<DatasetRecord>, Option<String>)> {
        let db = &self.db;
        let cursor = match page_token.filter(|t| !t.is_empty()) {
            Some(t) => Some(decode_cursor(t)?),
            None => None,
        };
        let mut sql = format!(
            "SELECT {} FROM evaluation_dataset_records WHERE dataset_id = ?",
            self.record_cols()
        );
        if let Some(Cursor::After(..)) = &cursor {
            sql.push_str(" AND (created_time > ? OR (created_time = ? AND dataset_record_id > ?))");
        }
        sql.push_str(" ORDER BY created_time, dataset_record_id LIMIT ?");
        if let Some(Cursor::Offset(_)) = &cursor {
            sql.push_str(" OFFSET ?");
        }
        let mut q = sqlx::query(db.sql(&sql))
            .persistent(false)
            .bind(dataset_id.to_string());
        if let Some(Cursor::After(t, id)) = &cursor {
            q = q.bind(*t).bind(*t).bind(id.clone());
        }
        q = q.bind(max_results + 1);
        if let Some(Cursor::Offset(o)) = &cursor {
            q = q.bind(*o);
        }
        let rows = q.fetch_all(&db.read).await.map_err(db_err)?;
        let mut records: Vec<DatasetRecord> =
            rows.iter().map(record_from_row).collect::<Result<_>>()?;
        let next = if records.len() as i64 > max_results {
            records.truncate(max_results as usize);
            records.last().map(|r| {
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", r.created_time, r.dataset_record_id))
            })
        } else {
            None
        };
        Ok((records, next))
    }

    pub(crate) async fn delete_dataset_records_impl(
        &self,
        dataset_id: &str,
        record_ids: &[String],
    ) -> Result<i64> {
        if record_ids.is_empty() {
            return Ok(0);
        }
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        let mut q = sqlx::query(db.sql(&format!(
            "DELETE FROM evaluation_dataset_records WHERE dataset_id = ? AND dataset_record_id IN ({})",
            placeholders(record_ids.len())
        )))
        .persistent(false)
        .bind(dataset_id.to_string());
        for id in record_ids {
            q = q.bind(id.clone());
        }
        let deleted = q.execute(&mut *tx).await.map_err(db_err)?.rows_affected() as i64;
        if deleted == 0 {
            return Ok(0);
        }
        if let Some(row) =
            sqlx::query(db.sql("SELECT profile FROM evaluation_datasets WHERE dataset_id = ?"))
                .bind(dataset_id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
        {
            let before = row
                .opt_str_at(0)?
                .and_then(|p| PyValue::loads(&p))
                .and_then(|p| match p.get("num_records") {
                    Some(PyValue::Int(n)) => Some(*n),
                    _ => None,
                })
                .unwrap_or(0);
            let left = (before - deleted).max(0);
            // `json.dumps({"num_records": n} if n > 0 else None)`: "null" when empty.
            let profile = if left > 0 {
                format!("{{\"num_records\": {left}}}")
            } else {
                "null".to_string()
            };
            sqlx::query(db.sql("UPDATE evaluation_datasets SET profile = ? WHERE dataset_id = ?"))
                .bind(profile)
                .bind(dataset_id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(deleted)
    }

    pub(crate) async fn get_dataset_experiment_ids_impl(
        &self,
        dataset_id: &str,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(self.db.sql(
            "SELECT destination_id FROM entity_associations WHERE source_type = ? \
             AND source_id = ? AND destination_type = ? ORDER BY created_time, destination_id",
        ))
        .bind(DATASET_TYPE)
        .bind(dataset_id.to_string())
        .bind(EXPERIMENT_TYPE)
        .fetch_all(&self.db.read)
        .await
        .map_err(db_err)?;
        rows.iter().map(|r| r.str_at(0)).collect()
    }

    pub(crate) async fn add_dataset_to_experiments_impl(
        &self,
        dataset_id: &str,
        experiment_ids: &[String],
    ) -> Result<EvaluationDataset> {
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        if !self.dataset_exists(&mut tx, dataset_id).await? {
            return Err(not_found(dataset_id));
        }
        for exp in experiment_ids {
            let found = match exp.trim().parse::<i64>() {
                Ok(id) => sqlx::query(
                    db.sql("SELECT experiment_id FROM experiments WHERE experiment_id = ?"),
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .is_some(),
                Err(_) => false,
            };
            if !found {
                return Err(Error::not_found(format!("No Experiment with id={exp}")));
            }
        }
        let existing = self
            .get_dataset_experiment_ids_tx(&mut tx, dataset_id)
            .await?;
        let mut added: Vec<&String> = Vec::new();
        for exp in experiment_ids {
            if existing.contains(exp) || added.contains(&exp) {
                continue;
            }
            added.push(exp);
            sqlx::query(db.sql(
                "INSERT INTO entity_associations (association_id, source_type, source_id, \
                 destination_type, destination_id, created_time) VALUES (?, ?, ?, ?, ?, ?)",
            ))
            .bind(uuid::Uuid::new_v4().simple().to_string())
            .bind(DATASET_TYPE)
            .bind(dataset_id.to_string())
            .bind(EXPERIMENT_TYPE)
            .bind(exp.clone())
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        self.touch_dataset(&mut tx, dataset_id).await?;
        tx.commit().await.map_err(db_err)?;
        self.get_dataset_impl(dataset_id).await
    }

    async fn get_dataset_experiment_ids_tx(
        &self,
        tx: &mut Transaction<'static, Any>,
        dataset_id: &str,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(self.db.sql(
            "SELECT destination_id FROM entity_associations WHERE source_type = ? \
             AND source_id = ? AND destination_type = ?",
        ))
        .bind(DATASET_TYPE)
        .bind(dataset_id.to_string())
        .bind(EXPERIMENT_TYPE)
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err)?;
        rows.iter().map(|r| r.str_at(0)).collect()
    }

    pub(crate) async fn remove_dataset_from_experiments_impl(
        &self,
        dataset_id: &str,
        experiment_ids: &[String],
    ) -> Result<EvaluationDataset> {
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        if !self.dataset_exists(&mut tx, dataset_id).await? {
            return Err(not_found(dataset_id));
        }
        let existing = self
            .get_dataset_experiment_ids_tx(&mut tx, dataset_id)
            .await?;
        let to_remove: Vec<&String> = existing
            .iter()
            .filter(|e| experiment_ids.contains(e))
            .collect();
        for exp in experiment_ids {
            if !existing.contains(exp) {
                tracing::warn!("Dataset '{dataset_id}' was not associated with experiment '{exp}'");
            }
        }
        if !to_remove.is_empty() {
            let mut q = sqlx::query(db.sql(&format!(
                "DELETE FROM entity_associations WHERE source_id = ? AND source_type = ? \
                 AND destination_type = ? AND destination_id IN ({})",
                placeholders(to_remove.len())
            )))
            .persistent(false)
            .bind(dataset_id.to_string())
            .bind(DATASET_TYPE)
            .bind(EXPERIMENT_TYPE);
            for e in &to_remove {
                q = q.bind((*e).clone());
            }
            q.execute(&mut *tx).await.map_err(db_err)?;
            self.touch_dataset(&mut tx, dataset_id).await?;
        }
        tx.commit().await.map_err(db_err)?;
        self.get_dataset_impl(dataset_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_python() {
        // hashlib.sha256(b"ds1:1795370604024").hexdigest()[:8]
        assert_eq!(dataset_digest("ds1", 1795370604024), "7c5dcc46");
    }

    #[test]
    fn schema_inference() {
        let recs = vec![
            PyValue::loads(r#"{"inputs": {"q": "a", "n": 1}, "expectations": {"x": 1.5}}"#)
                .unwrap(),
            PyValue::loads(r#"{"inputs": {"q": "b"}, "outputs": "Paris"}"#).unwrap(),
        ];
        assert_eq!(
            update_schema(None, &recs).unwrap().dumps(true),
            r#"{"inputs": {"q": "string", "n": "integer"}, "outputs": "string", "expectations": {"x": "float"}, "version": "1.0"}"#
        );
        assert!(update_schema(None, &[]).is_none());
    }

    #[test]
    fn cursors() {
        let t = base64::engine::general_purpose::STANDARD.encode("17:dr-a");
        assert!(matches!(decode_cursor(&t).unwrap(), Cursor::After(17, ref id) if id == "dr-a"));
        assert!(matches!(decode_cursor("5").unwrap(), Cursor::Offset(5)));
        assert!(decode_cursor("!!").is_err());
    }
}
