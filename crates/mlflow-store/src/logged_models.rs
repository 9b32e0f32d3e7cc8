//! MLflow 3 logged models (`logged_models`, `logged_model_params|tags|metrics`), run outputs
//! (`inputs` rows `RUN_OUTPUT → MODEL_OUTPUT`), model inputs (`RUN_INPUT → MODEL_INPUT`) and
//! the dataset summaries of `experiments/search-datasets`, as `SqlAlchemyStore` stores them.

use crate::db::{RowExt, args_from, db_err};
use crate::experiments::{check_active, dedup_tags, insert_ignore_sql, upsert_sql};
use crate::{Page, SqlStore, append_to_uri_path, placeholders};
use async_trait::async_trait;
use base64::Engine;
use mlflow_domain::logged_models::{
    DatasetSummary, LoggedModel, LoggedModelData, LoggedModelInfo, status_name,
};
use mlflow_domain::tracking::{Metric, ModelInput, ModelOutput, Tag};
use mlflow_domain::validation::parse_experiment_id;
use mlflow_domain::{Error, ErrorCode, Result, now_ms};
pub use mlflow_search::logged_models::{LmDataset, LmOrderBy};
use serde_json::Value;
use sqlx::{Any, Transaction};
use std::collections::{HashMap, HashSet};

/// `SEARCH_LOGGED_MODEL_MAX_RESULTS_DEFAULT`.
pub const SEARCH_LOGGED_MODELS_DEFAULT_MAX_RESULTS: i64 = 100;
const IN_CHUNK: usize = 900;
const MODEL_METRIC_CHUNK: usize = 300;

/// Arguments of `POST logged-models`.
#[derive(Debug, Clone, Default)]
pub struct CreateLoggedModel {
    pub experiment_id: String,
    /// `None` (or empty) gets a random `adjective-noun-NNN` name.
    pub name: Option<String>,
    pub model_type: Option<String>,
    pub source_run_id: Option<String>,
    pub params: Vec<Tag>,
    pub tags: Vec<Tag>,
}

/// Arguments of `POST logged-models/search`.
#[derive(Debug, Clone, Default)]
pub struct SearchLoggedModels {
    pub experiment_ids: Vec<String>,
    pub filter: Option<String>,
    pub datasets: Vec<LmDataset>,
    pub max_results: Option<i64>,
    pub order_by: Vec<LmOrderBy>,
    pub page_token: Option<String>,
}

/// Logged models, run outputs and dataset summaries.
#[async_trait]
pub trait LoggedModelStore: Send + Sync {
    async fn create_logged_model(&self, req: CreateLoggedModel) -> Result<LoggedModel>;
    async fn get_logged_model(&self, model_id: &str, allow_deleted: bool) -> Result<LoggedModel>;
    /// Sets the status (0..=3) and bumps `last_updated_timestamp_ms`.
    async fn finalize_logged_model(&self, model_id: &str, status: i64) -> Result<LoggedModel>;
    /// Soft delete (`lifecycle_stage = 'deleted'`).
    async fn delete_logged_model(&self, model_id: &str) -> Result<()>;
    async fn set_logged_model_tags(&self, model_id: &str, tags: Vec<Tag>) -> Result<()>;
    async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()>;
    async fn log_logged_model_params(&self, model_id: &str, params: Vec<Tag>) -> Result<()>;
    async fn search_logged_models(&self, req: &SearchLoggedModels) -> Result<Page<LoggedModel>>;
    /// `runs/outputs`: links a run to the models it produced.
    async fn log_outputs(&self, run_id: &str, models: Vec<ModelOutput>) -> Result<()>;
    /// `experiments/search-datasets` (UI).
    async fn search_datasets(&self, experiment_ids: &[String]) -> Result<Vec<DatasetSummary>>;
}

fn model_not_found(model_id: &str) -> Error {
    Error::not_found(format!("Logged model with ID '{model_id}' not found."))
}

fn bad_request(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::BadRequest, message)
}

/// `_validate_logged_model_name`.
fn validate_name(name: &str) -> Result<()> {
    const BAD: [char; 6] = ['/', ':', '.', '%', '"', '\''];
    if name.is_empty() || name.contains(BAD) {
        return Err(Error::invalid(format!(
            "Invalid model name ({}) provided. Model name must be a non-empty string and cannot \
             contain the following characters: ('/', ':', '.', '%', '\"', \"'\")",
            mlflow_domain::validation::py_repr(name)
        )));
    }
    Ok(())
}

/// Rejects the same key twice in one insert (the official store hits the primary key).
fn unique_keys(table: &str, key_col: &str, items: &[Tag]) -> Result<()> {
    let mut seen = HashSet::new();
    for t in items {
        if !seen.insert(t.key.as_str()) {
            return Err(bad_request(format!(
                "UNIQUE constraint failed: {table}.model_id, {table}.{key_col} (key '{}')",
                t.key
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- page tokens

/// Python `json.dumps` of a string (ASCII only, `\uXXXX` escapes).
fn py_json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn py_json_opt(s: Option<&str>) -> String {
    s.map_or_else(|| "null".to_string(), py_json_str)
}

fn py_repr_opt(s: Option<&str>) -> String {
    s.map_or_else(|| "None".to_string(), mlflow_domain::validation::py_repr)
}

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

fn order_by_json(ob: &LmOrderBy) -> String {
    format!(
        "{{\"field_name\": {}, \"ascending\": {}, \"dataset_name\": {}, \"dataset_digest\": {}}}",
        py_json_str(&ob.field_name),
        ob.ascending,
        py_json_opt(ob.dataset_name.as_deref()),
        py_json_opt(ob.dataset_digest.as_deref())
    )
}

fn order_by_repr(ob: &LmOrderBy) -> String {
    format!(
        "{{'field_name': {}, 'ascending': {}, 'dataset_name': {}, 'dataset_digest': {}}}",
        mlflow_domain::validation::py_repr(&ob.field_name),
        py_bool(ob.ascending),
        py_repr_opt(ob.dataset_name.as_deref()),
        py_repr_opt(ob.dataset_digest.as_deref())
    )
}

/// Python `repr` of a decoded JSON value (for token mismatch messages).
fn py_value_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(b) => py_bool(*b).into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => mlflow_domain::validation::py_repr(s),
        Value::Array(xs) => format!(
            "[{}]",
            xs.iter().map(py_value_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => {
            // The official token always holds order_by dicts in this key order.
            let known = ["field_name", "ascending", "dataset_name", "dataset_digest"];
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by_key(|k| known.iter().position(|x| x == k).unwrap_or(known.len()));
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}: {}",
                        mlflow_domain::validation::py_repr(k),
                        py_value_repr(&m[k])
                    )
                })
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

fn order_by_value(ob: &LmOrderBy) -> Value {
    serde_json::json!({
        "field_name": ob.field_name,
        "ascending": ob.ascending,
        "dataset_name": ob.dataset_name,
        "dataset_digest": ob.dataset_digest,
    })
}

/// `SearchLoggedModelsPaginationToken.encode`: `base64(json.dumps(asdict(token)))`.
fn encode_token(
    experiment_ids: &[String],
    filter: Option<&str>,
    order_by: &[LmOrderBy],
    offset: i64,
) -> String {
    let ids: Vec<String> = experiment_ids.iter().map(|s| py_json_str(s)).collect();
    let ob = if order_by.is_empty() {
        "null".to_string()
    } else {
        format!(
            "[{}]",
            order_by
                .iter()
                .map(order_by_json)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let json = format!(
        "{{\"experiment_ids\": [{}], \"filter_string\": {}, \"order_by\": {ob}, \"offset\": {offset}}}",
        ids.join(", "),
        py_json_opt(filter)
    );
    base64::engine::general_purpose::STANDARD.encode(json)
}

/// Decodes a token and checks it was issued for the same search (`validate`); returns the
/// offset.
fn decode_token(
    token: &str,
    experiment_ids: &[String],
    filter: Option<&str>,
    order_by: &[LmOrderBy],
) -> Result<i64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|e| Error::invalid(format!("Invalid page token: {token}. {e}")))?;
    let json: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid(format!("Invalid page token: {token}. {e}")))?;
    let truthy = |v: Option<&Value>| -> Option<Value> {
        match v {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::Array(a)) if a.is_empty() => None,
            Some(v) => Some(v.clone()),
        }
    };
    let tok_ids = json.get("experiment_ids").cloned().unwrap_or(Value::Null);
    let want_ids = Value::Array(
        experiment_ids
            .iter()
            .map(|s| Value::String(s.clone()))
            .collect(),
    );
    if tok_ids != want_ids {
        return Err(Error::invalid(format!(
            "Experiment IDs in the page token do not match the requested experiment IDs. \
             Expected: {}. Found: {}",
            py_value_repr(&want_ids),
            py_value_repr(&tok_ids)
        )));
    }
    let tok_filter = truthy(json.get("filter_string"));
    let want_filter = filter.map(|f| Value::String(f.to_string()));
    if tok_filter != want_filter {
        return Err(Error::invalid(format!(
            "Filter string in the page token does not match the requested filter string. \
             Expected: {}. Found: {}",
            filter.unwrap_or("None"),
            match &tok_filter {
                Some(Value::String(s)) => s.clone(),
                Some(v) => py_value_repr(v),
                None => "None".into(),
            }
        )));
    }
    let tok_ob = truthy(json.get("order_by"));
    let want_ob = if order_by.is_empty() {
        None
    } else {
        Some(Value::Array(order_by.iter().map(order_by_value).collect()))
    };
    if tok_ob != want_ob {
        let expected = if order_by.is_empty() {
            "None".to_string()
        } else {
            format!(
                "[{}]",
                order_by
                    .iter()
                    .map(order_by_repr)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err(Error::invalid(format!(
            "Order by in the page token does not match the requested order by. \
             Expected: {expected}. Found: {}",
            tok_ob.as_ref().map_or_else(|| "None".into(), py_value_repr)
        )));
    }
    let offset = json.get("offset").and_then(Value::as_i64).unwrap_or(0);
    if offset < 0 {
        return Err(Error::invalid(format!(
            "Invalid page token, offset must be non-negative: {offset}"
        )));
    }
    Ok(offset)
}

// ---------------------------------------------------------------- implementation

/// A `logged_model_params` / `logged_model_tags` style table.
#[derive(Debug, Clone, Copy)]
struct KvTable {
    table: &'static str,
    key_col: &'static str,
    value_col: &'static str,
}

const PARAMS: KvTable = KvTable {
    table: "logged_model_params",
    key_col: "param_key",
    value_col: "param_value",
};
const TAGS: KvTable = KvTable {
    table: "logged_model_tags",
    key_col: "tag_key",
    value_col: "tag_value",
};

const MODEL_COLS: &str = "model_id, experiment_id, name, artifact_location, creation_timestamp_ms, \
     last_updated_timestamp_ms, status, model_type, source_run_id, status_message, lifecycle_stage";

impl SqlStore {
    async fn fetch_in_lm(&self, sql: &str, ids: &[String]) -> Result<Vec<sqlx::any::AnyRow>> {
        let mut q = sqlx::query(self.db.sql(sql)).persistent(false);
        for id in ids {
            q = q.bind(id.clone());
        }
        q.fetch_all(&self.db.read).await.map_err(db_err)
    }

    /// Loads full models by id, keeping the order of `ids` and skipping unknown ids.
    async fn load_logged_models(&self, ids: &[String]) -> Result<Vec<LoggedModel>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            out.extend(self.load_logged_models_chunk(chunk).await?);
        }
        Ok(out)
    }

    async fn load_logged_models_chunk(&self, ids: &[String]) -> Result<Vec<LoggedModel>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks = placeholders(ids.len());
        let mut models: HashMap<String, LoggedModel> = HashMap::with_capacity(ids.len());
        for row in self
            .fetch_in_lm(
                &format!("SELECT {MODEL_COLS} FROM logged_models WHERE model_id IN ({marks})"),
                ids,
            )
            .await?
        {
            let model_id = row.str_at(0)?;
            let info = LoggedModelInfo {
                model_id: model_id.clone(),
                experiment_id: row.i64_at(1)?.to_string(),
                name: row.str_at(2)?,
                artifact_uri: row.str_at(3)?,
                creation_timestamp_ms: row.i64_at(4)?,
                last_updated_timestamp_ms: row.i64_at(5)?,
                status: status_name(row.i64_at(6)?),
                model_type: row.opt_str_at(7)?,
                source_run_id: row.opt_str_at(8)?,
                status_message: row.opt_str_at(9)?,
                tags: Vec::new(),
            };
            models.insert(
                model_id,
                LoggedModel {
                    info,
                    data: LoggedModelData::default(),
                },
            );
        }
        if models.is_empty() {
            return Ok(Vec::new());
        }
        for row in self
            .fetch_in_lm(
                &format!(
                    "SELECT model_id, tag_key, tag_value FROM logged_model_tags \
                     WHERE model_id IN ({marks}) ORDER BY model_id, tag_key"
                ),
                ids,
            )
            .await?
        {
            if let Some(m) = models.get_mut(&row.str_at(0)?) {
                m.info.tags.push(Tag {
                    key: row.str_at(1)?,
                    value: row.str_at(2)?,
                });
            }
        }
        for row in self
            .fetch_in_lm(
                &format!(
                    "SELECT model_id, param_key, param_value FROM logged_model_params \
                     WHERE model_id IN ({marks}) ORDER BY model_id, param_key"
                ),
                ids,
            )
            .await?
        {
            if let Some(m) = models.get_mut(&row.str_at(0)?) {
                m.data.params.push(Tag {
                    key: row.str_at(1)?,
                    value: row.str_at(2)?,
                });
            }
        }
        for row in self
            .fetch_in_lm(
                &format!(
                    "SELECT model_id, metric_name, COALESCE(metric_value, 0.0), metric_timestamp_ms, metric_step, \
                     run_id, dataset_name, dataset_digest FROM logged_model_metrics \
                     WHERE model_id IN ({marks}) \
                     ORDER BY model_id, metric_timestamp_ms, metric_step, metric_name, run_id"
                ),
                ids,
            )
            .await?
        {
            let model_id = row.str_at(0)?;
            if let Some(m) = models.get_mut(&model_id) {
                let mut metric = Metric::new(
                    row.str_at(1)?,
                    row.f64_at(2)?,
                    row.i64_at(3)?,
                    row.i64_at(4)?,
                );
                metric.run_id = row.opt_str_at(5)?;
                metric.dataset_name = row.opt_str_at(6)?;
                metric.dataset_digest = row.opt_str_at(7)?;
                metric.model_id = Some(model_id);
                m.data.metrics.push(metric);
            }
        }
        Ok(ids.iter().filter_map(|id| models.remove(id)).collect())
    }

    /// `_get_logged_model_record` inside a write transaction: the experiment id of any model,
    /// deleted or not.
    async fn model_experiment(&self, tx: &mut Transaction<'_, Any>, model_id: &str) -> Result<i64> {
        let row = sqlx::query(
            self.db
                .sql("SELECT experiment_id FROM logged_models WHERE model_id = ?"),
        )
        .bind(model_id.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
        row.ok_or_else(|| model_not_found(model_id))?.i64_at(0)
    }

    async fn insert_model_kv(
        &self,
        tx: &mut Transaction<'_, Any>,
        kv: KvTable,
        model_id: &str,
        experiment_id: i64,
        items: &[Tag],
        upsert: bool,
    ) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let db = &self.db;
        let KvTable {
            table,
            key_col,
            value_col,
        } = kv;
        let cols = ["model_id", "experiment_id", key_col, value_col];
        for chunk in items.chunks(IN_CHUNK / 4) {
            let sql = if upsert {
                upsert_sql(
                    db.dialect,
                    table,
                    &cols,
                    &["model_id", key_col],
                    &[value_col],
                    chunk.len(),
                )
            } else {
                format!(
                    "INSERT INTO {table} ({}) VALUES {}",
                    cols.join(", "),
                    vec![format!("({})", placeholders(4)); chunk.len()].join(", ")
                )
            };
            let mut q = sqlx::query(db.sql(&sql)).persistent(false);
            for t in chunk {
                q = q
                    .bind(model_id.to_string())
                    .bind(experiment_id)
                    .bind(t.key.clone())
                    .bind(t.value.clone());
            }
            q.execute(&mut **tx).await.map_err(|e| {
                if crate::db::is_unique_violation(&e) {
                    bad_request(format!(
                        "UNIQUE constraint failed: {table}.model_id, {table}.{key_col}"
                    ))
                } else {
                    db_err(e)
                }
            })?;
        }
        Ok(())
    }

    /// The `logged_model_metrics` half of metric logging (`_log_model_metrics`): every metric
    /// carrying a `model_id` is also recorded on that model, with the run's experiment id.
    /// Called from `insert_metrics`, inside the run's write transaction.
    pub(crate) async fn insert_logged_model_metrics(
        &self,
        tx: &mut Transaction<'_, Any>,
        run_id: &str,
        metrics: &[Metric],
    ) -> Result<()> {
        let with_model: Vec<&Metric> = metrics.iter().filter(|m| m.model_id.is_some()).collect();
        if with_model.is_empty() {
            return Ok(());
        }
        let db = &self.db;
        let exp_id = sqlx::query(db.sql("SELECT experiment_id FROM runs WHERE run_uuid = ?"))
            .bind(run_id.to_string())
            .fetch_one(&mut **tx)
            .await
            .map_err(db_err)?
            .i64_at(0)?;
        // The foreign key to logged_models: refuse unknown models up front (the official
        // server fails on the constraint with BAD_REQUEST).
        let mut wanted: Vec<String> = with_model
            .iter()
            .filter_map(|m| m.model_id.clone())
            .collect();
        wanted.sort();
        wanted.dedup();
        let mut q = sqlx::query(db.sql(&format!(
            "SELECT model_id FROM logged_models WHERE model_id IN ({})",
            placeholders(wanted.len())
        )))
        .persistent(false);
        for id in &wanted {
            q = q.bind(id.clone());
        }
        let mut found = HashSet::new();
        for row in q.fetch_all(&mut **tx).await.map_err(db_err)? {
            found.insert(row.str_at(0)?);
        }
        if let Some(missing) = wanted.iter().find(|id| !found.contains(*id)) {
            return Err(bad_request(format!(
                "FOREIGN KEY constraint failed: no logged model with ID '{missing}'"
            )));
        }
        let cols = [
            "model_id",
            "metric_name",
            "metric_timestamp_ms",
            "metric_step",
            "metric_value",
            "experiment_id",
            "run_id",
            "dataset_uuid",
            "dataset_name",
            "dataset_digest",
        ];
        for chunk in with_model.chunks(MODEL_METRIC_CHUNK) {
            let sql = insert_ignore_sql(db.dialect, "logged_model_metrics", &cols, chunk.len());
            let mut q = sqlx::query(db.sql(&sql)).persistent(false);
            for m in chunk {
                // sanitize_metric_value: NaN is stored as 0, infinities as ±max.
                let value = if m.value.is_nan() {
                    0.0
                } else if m.value.is_infinite() {
                    if m.value > 0.0 { f64::MAX } else { f64::MIN }
                } else {
                    m.value
                };
                q = q
                    .bind(m.model_id.clone())
                    .bind(m.key.clone())
                    .bind(m.timestamp)
                    .bind(m.step)
                    .bind(value)
                    .bind(exp_id)
                    .bind(run_id.to_string())
                    .bind(None::<String>)
                    .bind(m.dataset_name.clone())
                    .bind(m.dataset_digest.clone());
            }
            q.execute(&mut **tx).await.map_err(db_err)?;
        }
        Ok(())
    }

    /// Model inputs of `runs/log-inputs` (`RUN_INPUT → MODEL_INPUT` rows); an existing link is
    /// kept as is.
    pub(crate) async fn insert_model_inputs(
        &self,
        tx: &mut Transaction<'_, Any>,
        run_id: &str,
        models: &[ModelInput],
    ) -> Result<()> {
        if models.is_empty() {
            return Ok(());
        }
        let db = &self.db;
        let sql = insert_ignore_sql(
            db.dialect,
            "inputs",
            &[
                "input_uuid",
                "source_type",
                "source_id",
                "destination_type",
                "destination_id",
                "step",
            ],
            models.len(),
        );
        let mut q = sqlx::query(db.sql(&sql)).persistent(false);
        for m in models {
            q = q
                .bind(uuid::Uuid::new_v4().simple().to_string())
                .bind("RUN_INPUT")
                .bind(run_id.to_string())
                .bind("MODEL_INPUT")
                .bind(m.model_id.clone())
                .bind(0i64);
        }
        q.execute(&mut **tx).await.map_err(db_err)?;
        Ok(())
    }

    /// Model inputs of one run (`_get_model_inputs`), for `runs/get`.
    pub(crate) async fn load_model_inputs(&self, run_id: &str) -> Result<Vec<ModelInput>> {
        let rows = sqlx::query(self.db.sql(
            "SELECT destination_id FROM inputs WHERE source_type = 'RUN_INPUT' \
             AND source_id = ? AND destination_type = 'MODEL_INPUT'",
        ))
        .bind(run_id.to_string())
        .fetch_all(&self.db.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(ModelInput {
                    model_id: r.str_at(0)?,
                })
            })
            .collect()
    }

    /// Model outputs of several runs (`_get_model_outputs_bulk`), keyed by run id.
    pub(crate) async fn load_model_outputs(
        &self,
        run_ids: &[String],
    ) -> Result<HashMap<String, Vec<ModelOutput>>> {
        let mut out: HashMap<String, Vec<ModelOutput>> = HashMap::new();
        if run_ids.is_empty() {
            return Ok(out);
        }
        let rows = self
            .fetch_in_lm(
                &format!(
                    "SELECT source_id, destination_id, step FROM inputs WHERE source_type = 'RUN_OUTPUT' \
                     AND destination_type = 'MODEL_OUTPUT' AND source_id IN ({})",
                    placeholders(run_ids.len())
                ),
                run_ids,
            )
            .await?;
        for r in rows {
            out.entry(r.str_at(0)?).or_default().push(ModelOutput {
                model_id: r.str_at(1)?,
                step: r.opt_i64_at(2)?.unwrap_or(0),
            });
        }
        Ok(out)
    }

    async fn require_active_run_lm(
        &self,
        tx: &mut Transaction<'_, Any>,
        run_id: &str,
    ) -> Result<()> {
        let row = sqlx::query(
            self.db
                .sql("SELECT lifecycle_stage FROM runs WHERE run_uuid = ?"),
        )
        .bind(run_id.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
        let stage = row
            .ok_or_else(|| Error::not_found(format!("Run with id={run_id} not found")))?
            .str_at(0)?;
        if stage != "active" {
            return Err(Error::invalid(format!(
                "The run {run_id} must be in the 'active' state. Current state is {stage}."
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl LoggedModelStore for SqlStore {
    async fn create_logged_model(&self, req: CreateLoggedModel) -> Result<LoggedModel> {
        let name = req.name.filter(|n| !n.is_empty());
        if let Some(n) = &name {
            validate_name(n)?;
        }
        let exp = self.get_experiment_impl(&req.experiment_id).await?;
        let exp_id = parse_experiment_id(&req.experiment_id)?;
        check_active(exp_id, exp.lifecycle_stage.as_deref().unwrap_or("active"))?;
        unique_keys("logged_model_params", "param_key", &req.params)?;
        unique_keys("logged_model_tags", "tag_key", &req.tags)?;
        let model_id = format!("m-{}", uuid::Uuid::new_v4().simple());
        let artifact_location = append_to_uri_path(
            exp.artifact_location.as_deref().unwrap_or_default(),
            &format!("models/{model_id}/artifacts"),
        );
        let name = name.unwrap_or_else(crate::runs::random_run_name);
        let now = now_ms();
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        sqlx::query(db.sql(
            "INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, \
             creation_timestamp_ms, last_updated_timestamp_ms, status, lifecycle_stage, model_type, \
             source_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)",
        ))
        .bind(model_id.clone())
        .bind(exp_id)
        .bind(name)
        .bind(artifact_location)
        .bind(now)
        .bind(now)
        .bind(1i32)
        .bind(req.model_type.unwrap_or_default())
        .bind(req.source_run_id.unwrap_or_default())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        self.insert_model_kv(&mut tx, PARAMS, &model_id, exp_id, &req.params, false)
            .await?;
        self.insert_model_kv(&mut tx, TAGS, &model_id, exp_id, &req.tags, false)
            .await?;
        tx.commit().await.map_err(db_err)?;
        self.get_logged_model(&model_id, true).await
    }

    async fn get_logged_model(&self, model_id: &str, allow_deleted: bool) -> Result<LoggedModel> {
        let row = sqlx::query(
            self.db
                .sql("SELECT lifecycle_stage FROM logged_models WHERE model_id = ?"),
        )
        .bind(model_id.to_string())
        .fetch_optional(&self.db.read)
        .await
        .map_err(db_err)?;
        match row {
            None => return Err(model_not_found(model_id)),
            Some(r) if !allow_deleted && r.opt_str_at(0)?.as_deref() == Some("deleted") => {
                return Err(model_not_found(model_id));
            }
            Some(_) => {}
        }
        self.load_logged_models(&[model_id.to_string()])
            .await?
            .pop()
            .ok_or_else(|| model_not_found(model_id))
    }

    async fn finalize_logged_model(&self, model_id: &str, status: i64) -> Result<LoggedModel> {
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        self.model_experiment(&mut tx, model_id).await?;
        sqlx::query(db.sql(
            "UPDATE logged_models SET status = ?, last_updated_timestamp_ms = ? WHERE model_id = ?",
        ))
        .bind(i32::try_from(status).unwrap_or(0))
        .bind(now_ms())
        .bind(model_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        self.get_logged_model(model_id, true).await
    }

    async fn delete_logged_model(&self, model_id: &str) -> Result<()> {
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        self.model_experiment(&mut tx, model_id).await?;
        sqlx::query(db.sql(
            "UPDATE logged_models SET lifecycle_stage = 'deleted', last_updated_timestamp_ms = ? \
             WHERE model_id = ?",
        ))
        .bind(now_ms())
        .bind(model_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn set_logged_model_tags(&self, model_id: &str, tags: Vec<Tag>) -> Result<()> {
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        let exp_id = self.model_experiment(&mut tx, model_id).await?;
        let tags: Vec<Tag> = dedup_tags(&tags).into_iter().cloned().collect();
        self.insert_model_kv(&mut tx, TAGS, model_id, exp_id, &tags, true)
            .await?;
        tx.commit().await.map_err(db_err)
    }

    async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()> {
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        self.model_experiment(&mut tx, model_id).await?;
        let done =
            sqlx::query(db.sql("DELETE FROM logged_model_tags WHERE model_id = ? AND tag_key = ?"))
                .bind(model_id.to_string())
                .bind(key.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found(format!(
                "No tag with key {} found for model with ID {}.",
                mlflow_domain::validation::py_repr(key),
                mlflow_domain::validation::py_repr(model_id)
            )));
        }
        tx.commit().await.map_err(db_err)
    }

    async fn log_logged_model_params(&self, model_id: &str, params: Vec<Tag>) -> Result<()> {
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        let exp_id = self.model_experiment(&mut tx, model_id).await?;
        unique_keys("logged_model_params", "param_key", &params)?;
        self.insert_model_kv(&mut tx, PARAMS, model_id, exp_id, &params, false)
            .await?;
        tx.commit().await.map_err(db_err)
    }

    async fn search_logged_models(&self, req: &SearchLoggedModels) -> Result<Page<LoggedModel>> {
        if req.datasets.iter().any(|d| d.name.is_empty()) {
            return Err(Error::invalid(
                "`dataset_name` in the `datasets` clause must be specified.",
            ));
        }
        let filter = req.filter.as_deref().filter(|f| !f.is_empty());
        let offset = match req.page_token.as_deref().filter(|t| !t.is_empty()) {
            Some(t) => decode_token(t, &req.experiment_ids, filter, &req.order_by)?,
            None => 0,
        };
        let max_results = match req.max_results {
            None | Some(0) => SEARCH_LOGGED_MODELS_DEFAULT_MAX_RESULTS,
            Some(m) if m < 0 => {
                return Err(Error::invalid(format!(
                    "Invalid value {m} for parameter 'max_results' supplied. It must be a positive integer."
                )));
            }
            Some(m) => m,
        };
        let exp_ids = req
            .experiment_ids
            .iter()
            .map(|id| parse_experiment_id(id))
            .collect::<Result<Vec<_>>>()?;
        let q = mlflow_search::logged_models::search_logged_models_query(
            self.db.dialect,
            &exp_ids,
            filter.unwrap_or_default(),
            &req.datasets,
            &req.order_by,
            max_results.saturating_add(1),
            offset,
        )
        .map_err(|e| Error::invalid(e.message))?;
        let rows = sqlx::query_with(self.db.sql(&q.sql), args_from(&q.binds)?)
            .persistent(false)
            .fetch_all(&self.db.read)
            .await
            .map_err(db_err)?;
        let mut ids = rows
            .iter()
            .map(|r| r.str_at(0))
            .collect::<Result<Vec<_>>>()?;
        let next_page_token = if ids.len() as i64 > max_results {
            ids.truncate(max_results as usize);
            Some(encode_token(
                &req.experiment_ids,
                filter,
                &req.order_by,
                offset + max_results,
            ))
        } else {
            None
        };
        Ok(Page {
            items: self.load_logged_models(&ids).await?,
            next_page_token,
        })
    }

    async fn log_outputs(&self, run_id: &str, models: Vec<ModelOutput>) -> Result<()> {
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        self.require_active_run_lm(&mut tx, run_id).await?;
        if !models.is_empty() {
            let sql = format!(
                "INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, \
                 destination_id, step) VALUES {}",
                vec!["(?, 'RUN_OUTPUT', ?, 'MODEL_OUTPUT', ?, ?)"; models.len()].join(", ")
            );
            let mut q = sqlx::query(db.sql(&sql)).persistent(false);
            for m in &models {
                q = q
                    .bind(uuid::Uuid::new_v4().simple().to_string())
                    .bind(run_id.to_string())
                    .bind(m.model_id.clone())
                    .bind(m.step);
            }
            q.execute(&mut *tx).await.map_err(|e| {
                if crate::db::is_unique_violation(&e) {
                    bad_request(
                        "UNIQUE constraint failed: inputs.source_type, inputs.source_id, \
                         inputs.destination_type, inputs.destination_id",
                    )
                } else {
                    db_err(e)
                }
            })?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn search_datasets(&self, experiment_ids: &[String]) -> Result<Vec<DatasetSummary>> {
        let ids = experiment_ids
            .iter()
            .map(|id| parse_experiment_id(id))
            .collect::<Result<Vec<_>>>()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT DISTINCT d.experiment_id, d.name, d.digest, it.value FROM datasets d \
             JOIN inputs i ON i.source_id = d.dataset_uuid \
             LEFT OUTER JOIN input_tags it ON it.input_uuid = i.input_uuid AND it.name = ? \
             WHERE d.experiment_id IN ({}) LIMIT 1000",
            placeholders(ids.len())
        );
        let mut q = sqlx::query(self.db.sql(&sql))
            .persistent(false)
            .bind("mlflow.data.context");
        for id in ids {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&self.db.read).await.map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(DatasetSummary {
                    experiment_id: r.i64_at(0)?.to_string(),
                    name: r.str_at(1)?,
                    digest: r.str_at(2)?,
                    context: r.opt_str_at(3)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_byte_identical_to_official() {
        // Captured from the official 3.17.2 server.
        assert_eq!(
            encode_token(&["1".into()], None, &[], 2),
            "eyJleHBlcmltZW50X2lkcyI6IFsiMSJdLCAiZmlsdGVyX3N0cmluZyI6IG51bGwsICJvcmRlcl9ieSI6IG51bGwsICJvZmZzZXQiOiAyfQ=="
        );
        let ob = [LmOrderBy {
            field_name: "name".into(),
            ascending: true,
            dataset_name: None,
            dataset_digest: None,
        }];
        let t = encode_token(&["1".into()], Some("name != 'z'"), &ob, 2);
        assert_eq!(
            t,
            "eyJleHBlcmltZW50X2lkcyI6IFsiMSJdLCAiZmlsdGVyX3N0cmluZyI6ICJuYW1lICE9ICd6JyIsICJvcmRlcl9ieSI6IFt7ImZpZWxkX25hbWUiOiAibmFtZSIsICJhc2NlbmRpbmciOiB0cnVlLCAiZGF0YXNldF9uYW1lIjogbnVsbCwgImRhdGFzZXRfZGlnZXN0IjogbnVsbH1dLCAib2Zmc2V0IjogMn0="
        );
        assert_eq!(
            decode_token(&t, &["1".into()], Some("name != 'z'"), &ob).unwrap(),
            2
        );
        assert_eq!(
            decode_token(&t, &["1".into()], None, &ob)
                .unwrap_err()
                .message,
            "Filter string in the page token does not match the requested filter string. \
             Expected: None. Found: name != 'z'"
        );
        let other = [LmOrderBy {
            field_name: "model_id".into(),
            ascending: true,
            ..Default::default()
        }];
        assert_eq!(
            decode_token(&t, &["1".into()], Some("name != 'z'"), &other)
                .unwrap_err()
                .message,
            "Order by in the page token does not match the requested order by. Expected: \
             [{'field_name': 'model_id', 'ascending': True, 'dataset_name': None, 'dataset_digest': None}]. \
             Found: [{'field_name': 'name', 'ascending': True, 'dataset_name': None, 'dataset_digest': None}]"
        );
        assert_eq!(
            decode_token(&t, &["1".into(), "0".into()], Some("name != 'z'"), &ob)
                .unwrap_err()
                .message,
            "Experiment IDs in the page token do not match the requested experiment IDs. \
             Expected: ['1', '0']. Found: ['1']"
        );
        assert!(decode_token("e30=", &["1".into()], None, &[]).is_err());
    }

    #[test]
    fn names() {
        assert!(validate_name("ok-name_1").is_ok());
        assert_eq!(
            validate_name("a/b").unwrap_err().message,
            "Invalid model name ('a/b') provided. Model name must be a non-empty string and \
             cannot contain the following characters: ('/', ':', '.', '%', '\"', \"'\")"
        );
    }
}
