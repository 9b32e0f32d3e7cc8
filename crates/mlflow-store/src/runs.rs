//! Runs: create, read (with metrics/params/tags/inputs), update, delete/restore, logging, search.

use crate::db::{RowExt, args_from, db_err};
use crate::experiments::{check_active, dedup_tags, insert_ignore_sql, not_found, upsert_sql};
use crate::{
    CreateRun, Page, SearchRuns, SqlStore, decode_page_token, encode_page_token, placeholders,
};
use mlflow_domain::tracking::{
    Dataset, DatasetInput, Metric, ModelInput, Run, RunData, RunInfo, RunInputs, RunOutputs, Tag,
};
use mlflow_domain::validation::{MAX_RUNS_PER_SEARCH, parse_experiment_id, validate_max_results};
use mlflow_domain::{Error, Result, now_ms};
use sqlx::{Any, Executor, Transaction};
use std::collections::HashMap;

pub(crate) const RUN_NAME_TAG: &str = "mlflow.runName";
/// SQLite's default limit on bound parameters is 32766; stay well below it.
const IN_CHUNK: usize = 900;

fn run_not_found(run_id: &str) -> Error {
    Error::not_found(format!("Run with id={run_id} not found"))
}

fn check_run_active(run_id: &str, stage: &str) -> Result<()> {
    if stage != "active" {
        return Err(Error::invalid(format!(
            "The run {run_id} must be in the 'active' state. Current state is {stage}."
        )));
    }
    Ok(())
}

/// Runs with the same status validation as the `RunStatus` proto enum.
fn validate_status(status: &str) -> Result<()> {
    if mlflow_domain::tracking::RUN_STATUSES.contains(&status) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "Invalid value '{status}' for parameter 'status'. Valid values are {:?}",
            mlflow_domain::tracking::RUN_STATUSES
        )))
    }
}

/// A random `predicate-noun-NNN` name like the official `_generate_random_name`.
pub(crate) fn random_run_name() -> String {
    const PREDICATES: &[&str] = &[
        "able",
        "agreeable",
        "amazing",
        "ambitious",
        "blushing",
        "bold",
        "brave",
        "bright",
        "calm",
        "capable",
        "carefree",
        "casual",
        "charming",
        "classy",
        "clean",
        "clever",
        "colorful",
        "crawling",
        "dashing",
        "delicate",
        "enchanting",
        "fearless",
        "funny",
        "gentle",
        "gifted",
        "glamorous",
        "gregarious",
        "handsome",
        "honorable",
        "incongruous",
        "indecisive",
        "invincible",
        "judicious",
        "learned",
        "luminous",
        "magnificent",
        "marvelous",
        "melodic",
        "nimble",
        "omniscient",
        "peaceful",
        "polite",
        "powerful",
        "redolent",
        "resilient",
        "rogue",
        "salty",
        "secretive",
        "selective",
        "sincere",
        "skillful",
        "smiling",
        "spiffy",
        "stately",
        "suave",
        "thoughtful",
        "traveling",
        "trusting",
        "unequaled",
        "upbeat",
        "valuable",
        "victorious",
        "vaunted",
        "wise",
    ];
    const NOUNS: &[&str] = &[
        "ant", "ape", "asp", "auk", "bass", "bat", "bear", "bee", "bird", "boar", "bug", "calf",
        "carp", "cat", "chimp", "cod", "colt", "conch", "cow", "crab", "crane", "croc", "crow",
        "cub", "deer", "doe", "dog", "dolphin", "donkey", "dove", "duck", "eel", "elk", "fawn",
        "finch", "fish", "flea", "fly", "foal", "fowl", "fox", "frog", "gnat", "gnu", "goat",
        "goose", "grouse", "grub", "gull", "hare", "hawk", "hen", "hog", "horse", "hound", "jay",
        "kit", "kite", "koi", "lamb", "lark", "loon", "lynx", "mare", "midge", "mink", "mole",
        "moose", "moth", "mouse", "mule", "newt", "owl", "ox", "panda", "penguin", "perch", "pig",
        "pug", "quail", "ram", "rat", "ray", "robin", "roo", "rook", "seal", "shad", "shark",
        "sheep", "shoat", "shrew", "shrike", "shrimp", "skink", "skunk", "sloth", "slug", "smelt",
        "snail", "snake", "snipe", "sow", "sponge", "squid", "squirrel", "stag", "steed", "stoat",
        "stork", "swan", "tern", "toad", "trout", "turtle", "vole", "wasp", "whale", "wolf",
        "worm", "wren", "yak", "zebra",
    ];
    let b = *uuid::Uuid::new_v4().as_bytes();
    let p = PREDICATES[usize::from(b[0]) % PREDICATES.len()];
    let n = NOUNS[usize::from(b[1]) % NOUNS.len()];
    let num = u16::from_le_bytes([b[2], b[3]]) % 1000;
    format!("{p}-{n}-{num}")
}

const RUN_COLS: &str = "run_uuid, name, user_id, status, start_time, end_time, artifact_uri, \
                        lifecycle_stage, experiment_id";

impl SqlStore {
    /// Reads a run's lifecycle stage inside a write transaction (refusing unknown runs).
    async fn run_stage(&self, tx: &mut Transaction<'_, Any>, run_id: &str) -> Result<String> {
        let row = sqlx::query(
            self.db
                .sql("SELECT lifecycle_stage FROM runs WHERE run_uuid = ?"),
        )
        .bind(run_id.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
        row.ok_or_else(|| run_not_found(run_id))?.str_at(0)
    }

    async fn require_active_run(&self, tx: &mut Transaction<'_, Any>, run_id: &str) -> Result<()> {
        let stage = self.run_stage(tx, run_id).await?;
        check_run_active(run_id, &stage)
    }

    /// Loads full runs by id, keeping the order of `ids` and skipping unknown ids.
    pub(crate) async fn load_runs(&self, ids: &[String]) -> Result<Vec<Run>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            out.extend(self.load_runs_chunk(chunk).await?);
        }
        Ok(out)
    }

    async fn fetch_in(&self, sql: &str, ids: &[String]) -> Result<Vec<sqlx::any::AnyRow>> {
        let mut q = sqlx::query(self.db.sql(sql));
        for id in ids {
            q = q.bind(id.clone());
        }
        q.fetch_all(&self.db.read).await.map_err(db_err)
    }

    async fn load_runs_chunk(&self, ids: &[String]) -> Result<Vec<Run>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let db = &self.db;
        let marks = placeholders(ids.len());
        let kc = db.key_col();
        let mut runs: HashMap<String, Run> = HashMap::with_capacity(ids.len());
        for row in self
            .fetch_in(
                &format!("SELECT {RUN_COLS} FROM runs WHERE run_uuid IN ({marks})"),
                ids,
            )
            .await?
        {
            let run_id = row.str_at(0)?;
            let info = RunInfo {
                run_uuid: run_id.clone(),
                experiment_id: row
                    .opt_i64_at(8)?
                    .map(|i| i.to_string())
                    .unwrap_or_default(),
                run_name: row.str_at(1)?,
                user_id: row.str_at(2)?,
                status: row.str_at(3)?,
                start_time: row.opt_i64_at(4)?,
                end_time: row.opt_i64_at(5)?,
                artifact_uri: row.str_at(6)?,
                lifecycle_stage: row.str_at(7)?,
                run_id: run_id.clone(),
            };
            runs.insert(
                run_id,
                Run {
                    info,
                    data: RunData::default(),
                    inputs: RunInputs::default(),
                    outputs: Some(RunOutputs::default()),
                },
            );
        }
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let nan = db.bool_read("is_nan");
        for row in self
            .fetch_in(
                &format!(
                    "SELECT run_uuid, {kc}, value, timestamp, step, {nan} FROM latest_metrics \
                     WHERE run_uuid IN ({marks})"
                ),
                ids,
            )
            .await?
        {
            if let Some(run) = runs.get_mut(&row.str_at(0)?) {
                let is_nan = row.i64_at(5)? != 0;
                let value = if is_nan { f64::NAN } else { row.f64_at(2)? };
                run.data.metrics.push(Metric::new(
                    row.str_at(1)?,
                    value,
                    row.opt_i64_at(3)?.unwrap_or(0),
                    row.i64_at(4)?,
                ));
            }
        }
        for row in self
            .fetch_in(
                &format!("SELECT run_uuid, {kc}, value FROM params WHERE run_uuid IN ({marks})"),
                ids,
            )
            .await?
        {
            if let Some(run) = runs.get_mut(&row.str_at(0)?) {
                run.data.params.push(Tag {
                    key: row.str_at(1)?,
                    value: row.str_at(2)?,
                });
            }
        }
        for row in self
            .fetch_in(
                &format!("SELECT run_uuid, {kc}, value FROM tags WHERE run_uuid IN ({marks})"),
                ids,
            )
            .await?
        {
            if let Some(run) = runs.get_mut(&row.str_at(0)?) {
                run.data.tags.push(Tag {
                    key: row.str_at(1)?,
                    value: row.str_at(2)?,
                });
            }
        }
        self.load_dataset_inputs(ids, &marks, &mut runs).await?;
        for (run_id, outputs) in self.load_model_outputs(ids).await? {
            if let Some(run) = runs.get_mut(&run_id) {
                run.outputs = Some(RunOutputs {
                    model_outputs: outputs,
                });
            }
        }
        Ok(ids.iter().filter_map(|id| runs.remove(id)).collect())
    }

    async fn load_dataset_inputs(
        &self,
        ids: &[String],
        marks: &str,
        runs: &mut HashMap<String, Run>,
    ) -> Result<()> {
        let rows = self
            .fetch_in(
                &format!(
                    "SELECT i.destination_id, i.input_uuid, d.name, d.digest, d.dataset_source_type, \
                     d.dataset_source, d.dataset_schema, d.dataset_profile \
                     FROM inputs i JOIN datasets d ON d.dataset_uuid = i.source_id \
                     WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' \
                     AND i.destination_id IN ({marks})"
                ),
                ids,
            )
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut inputs: Vec<(String, String, DatasetInput)> = Vec::with_capacity(rows.len());
        for row in &rows {
            inputs.push((
                row.str_at(0)?,
                row.str_at(1)?,
                DatasetInput {
                    tags: Vec::new(),
                    dataset: Dataset {
                        name: row.str_at(2)?,
                        digest: row.str_at(3)?,
                        source_type: row.str_at(4)?,
                        source: row.str_at(5)?,
                        schema: row.opt_str_at(6)?,
                        profile: row.opt_str_at(7)?,
                    },
                },
            ));
        }
        let input_ids: Vec<String> = inputs.iter().map(|(_, i, _)| i.clone()).collect();
        let mut tags: HashMap<String, Vec<Tag>> = HashMap::new();
        for chunk in input_ids.chunks(IN_CHUNK) {
            let marks = placeholders(chunk.len());
            for row in self
                .fetch_in(
                    &format!("SELECT input_uuid, name, value FROM input_tags WHERE input_uuid IN ({marks})"),
                    chunk,
                )
                .await?
            {
                tags.entry(row.str_at(0)?)
                    .or_default()
                    .push(Tag { key: row.str_at(1)?, value: row.str_at(2)? });
            }
        }
        for (run_id, input_id, mut input) in inputs {
            input.tags = tags.remove(&input_id).unwrap_or_default();
            if let Some(run) = runs.get_mut(&run_id) {
                run.inputs.dataset_inputs.push(input);
            }
        }
        Ok(())
    }

    pub(crate) async fn create_run_impl(&self, req: CreateRun) -> Result<Run> {
        let exp_id = parse_experiment_id(&req.experiment_id)?;
        let mut tags: Vec<Tag> = Vec::with_capacity(req.tags.len() + 1);
        for (i, t) in req.tags.iter().enumerate() {
            let (key, value) = mlflow_domain::validation::validate_tag(
                Some(&t.key),
                Some(t.value.clone()),
                &format!("tags[{i}]"),
            )?;
            tags.push(Tag { key, value });
        }
        let tag_name = tags
            .iter()
            .rev()
            .find(|t| t.key == RUN_NAME_TAG)
            .map(|t| t.value.clone());
        let run_name = req.run_name.filter(|n| !n.is_empty());
        if let (Some(n), Some(t)) = (&run_name, &tag_name)
            && n != t
        {
            return Err(Error::invalid(format!(
                "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with \
                 different values (run_name='{n}', mlflow.runName='{t}')."
            )));
        }
        let run_name = run_name
            .or(tag_name.clone())
            .unwrap_or_else(random_run_name);
        if tag_name.is_none() {
            tags.push(Tag {
                key: RUN_NAME_TAG.into(),
                value: run_name.clone(),
            });
        }
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        let row = sqlx::query(db.sql(
            "SELECT lifecycle_stage, artifact_location FROM experiments WHERE experiment_id = ?",
        ))
        .bind(exp_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .ok_or_else(|| not_found(exp_id))?;
        check_active(exp_id, &row.str_at(0)?)?;
        let location = row.str_at(1)?;
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        let artifact_uri = crate::append_to_uri_path(&location, &format!("{run_id}/artifacts"));
        let user_id = req.user_id.unwrap_or_default();
        let start_time = req.start_time.unwrap_or(0);
        sqlx::query(db.sql(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, \
             status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, \
             experiment_id, deleted_time) \
             VALUES (?, ?, 'UNKNOWN', '', '', ?, 'RUNNING', ?, NULL, '', 'active', ?, ?, NULL)",
        ))
        .bind(run_id.clone())
        .bind(run_name.clone())
        .bind(user_id.clone())
        .bind(start_time)
        .bind(artifact_uri.clone())
        .bind(exp_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let tags: Vec<Tag> = dedup_tags(&tags).into_iter().cloned().collect();
        self.upsert_tags(&mut tx, &run_id, &tags).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(Run {
            info: RunInfo {
                run_uuid: run_id.clone(),
                experiment_id: exp_id.to_string(),
                run_name,
                user_id,
                status: "RUNNING".into(),
                start_time: Some(start_time),
                end_time: None,
                artifact_uri,
                lifecycle_stage: "active".into(),
                run_id,
            },
            data: RunData {
                tags,
                ..Default::default()
            },
            inputs: RunInputs::default(),
            outputs: None,
        })
    }

    async fn upsert_tags(
        &self,
        tx: &mut Transaction<'_, Any>,
        run_id: &str,
        tags: &[Tag],
    ) -> Result<()> {
        if tags.is_empty() {
            return Ok(());
        }
        let db = &self.db;
        let kc = db.key_col();
        let sql = upsert_sql(
            db.dialect,
            "tags",
            &[kc, "value", "run_uuid"],
            &[kc, "run_uuid"],
            &["value"],
            tags.len(),
        );
        let mut q = sqlx::query(db.sql(&sql));
        for t in tags {
            q = q
                .bind(t.key.clone())
                .bind(t.value.clone())
                .bind(run_id.to_string());
        }
        q.execute(&mut **tx).await.map_err(db_err)?;
        // The run name lives in two places; keep them in step as the official store does.
        if let Some(t) = tags.iter().rev().find(|t| t.key == RUN_NAME_TAG) {
            sqlx::query(db.sql("UPDATE runs SET name = ? WHERE run_uuid = ?"))
                .bind(t.value.clone())
                .bind(run_id.to_string())
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    pub(crate) async fn get_run_impl(&self, run_id: &str) -> Result<Run> {
        let mut run = self
            .load_runs(&[run_id.to_string()])
            .await?
            .pop()
            .ok_or_else(|| run_not_found(run_id))?;
        // Model inputs come back on runs/get only (not on runs/search), as official.
        run.inputs.model_inputs = self.load_model_inputs(run_id).await?;
        Ok(run)
    }

    pub(crate) async fn update_run_impl(
        &self,
        run_id: &str,
        status: Option<&str>,
        end_time: Option<i64>,
        run_name: Option<&str>,
    ) -> Result<RunInfo> {
        if let Some(s) = status {
            validate_status(s)?;
        }
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        self.require_active_run(&mut tx, run_id).await?;
        if let Some(s) = status {
            sqlx::query(db.sql("UPDATE runs SET status = ? WHERE run_uuid = ?"))
                .bind(s.to_string())
                .bind(run_id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        if let Some(t) = end_time {
            sqlx::query(db.sql("UPDATE runs SET end_time = ? WHERE run_uuid = ?"))
                .bind(t)
                .bind(run_id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        if let Some(name) = run_name.filter(|n| !n.is_empty()) {
            self.upsert_tags(
                &mut tx,
                run_id,
                &[Tag {
                    key: RUN_NAME_TAG.into(),
                    value: name.into(),
                }],
            )
            .await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(self.get_run_impl(run_id).await?.info)
    }

    pub(crate) async fn set_run_lifecycle(&self, run_id: &str, deleted: bool) -> Result<()> {
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        self.run_stage(&mut tx, run_id).await?;
        let (stage, time) = if deleted {
            ("deleted", Some(now_ms()))
        } else {
            ("active", None)
        };
        sqlx::query(
            db.sql("UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_uuid = ?"),
        )
        .bind(stage)
        .bind(time)
        .bind(run_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn log_batch_impl(
        &self,
        run_id: &str,
        metrics: Vec<Metric>,
        params: Vec<Tag>,
        tags: Vec<Tag>,
        single_param: bool,
    ) -> Result<()> {
        if let Some(group) = &self.group {
            return group
                .submit(run_id, metrics, params, tags, single_param)
                .await;
        }
        // PostgreSQL/MySQL: concurrent batches on one run can deadlock on the index locks of
        // `metrics`/`latest_metrics`; the database aborts one of them (nothing written), and
        // it is run again rather than surfacing a 500.
        let mut attempt = 0u64;
        loop {
            let r = async {
                let mut tx = self.db.begin_write().await?;
                self.log_batch_in(&mut tx, run_id, &metrics, &params, &tags, single_param)
                    .await?;
                tx.commit().await.map_err(db_err)
            }
            .await;
            match r {
                Err(e) if attempt < 8 && crate::db::is_retryable_conflict_error(&e) => {
                    attempt += 1;
                    let jitter = (now_ms().unsigned_abs() % 7) + 1;
                    tokio::time::sleep(std::time::Duration::from_millis(5 * attempt * jitter))
                        .await;
                }
                other => return other,
            }
        }
    }

    /// The writes of one `log-batch`, inside the caller's transaction (or savepoint).
    pub(crate) async fn log_batch_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        run_id: &str,
        metrics: &[Metric],
        params: &[Tag],
        tags: &[Tag],
        single_param: bool,
    ) -> Result<()> {
        self.require_active_run(tx, run_id).await?;
        self.insert_params(tx, run_id, params, single_param).await?;
        self.insert_metrics(tx, run_id, metrics).await?;
        let tags: Vec<Tag> = dedup_tags(tags).into_iter().cloned().collect();
        self.upsert_tags(tx, run_id, &tags).await
    }

    /// Inserts params; re-logging the same value is a no-op, a different value is refused.
    async fn insert_params(
        &self,
        tx: &mut Transaction<'_, Any>,
        run_id: &str,
        params: &[Tag],
        single: bool,
    ) -> Result<()> {
        if params.is_empty() {
            return Ok(());
        }
        let db = &self.db;
        let kc = db.key_col();
        let marks = placeholders(params.len());
        let mut q = sqlx::query(db.sql(&format!(
            "SELECT {kc}, value FROM params WHERE run_uuid = ? AND {kc} IN ({marks})"
        )))
        .bind(run_id.to_string());
        for p in params {
            q = q.bind(p.key.clone());
        }
        let mut existing: HashMap<String, String> = HashMap::new();
        for row in q.fetch_all(&mut **tx).await.map_err(db_err)? {
            existing.insert(row.str_at(0)?, row.str_at(1)?);
        }
        let mut conflicts = Vec::new();
        let mut new: Vec<&Tag> = Vec::new();
        for p in params {
            match existing.get(&p.key) {
                Some(old) if *old != p.value => conflicts.push((p, old.clone())),
                Some(_) => {}
                None => new.push(p),
            }
        }
        if let Some((p, old)) = conflicts.first() {
            if single {
                return Err(Error::invalid(format!(
                    "Changing param values is not allowed. Param with key='{}' was already logged \
                     with value='{old}' for run ID='{run_id}'. Attempted logging new value '{}'.",
                    p.key, p.value
                )));
            }
            let listed: Vec<String> = conflicts
                .iter()
                .map(|(p, old)| {
                    format!(
                        "{{'key': {}, 'old_value': {}, 'new_value': {}}}",
                        mlflow_domain::validation::py_repr(&p.key),
                        mlflow_domain::validation::py_repr(old),
                        mlflow_domain::validation::py_repr(&p.value)
                    )
                })
                .collect();
            return Err(Error::invalid(format!(
                "Changing param values is not allowed. Params were already logged='[{}]' for run ID='{run_id}'.",
                listed.join(", ")
            )));
        }
        if new.is_empty() {
            return Ok(());
        }
        let sql = insert_ignore_sql(db.dialect, "params", &[kc, "value", "run_uuid"], new.len());
        let mut q = sqlx::query(db.sql(&sql));
        for p in new {
            q = q
                .bind(p.key.clone())
                .bind(p.value.clone())
                .bind(run_id.to_string());
        }
        q.execute(&mut **tx).await.map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn delete_tag_impl(&self, run_id: &str, key: &str) -> Result<()> {
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        self.require_active_run(&mut tx, run_id).await?;
        let kc = db.key_col();
        let done =
            sqlx::query(db.sql(&format!("DELETE FROM tags WHERE run_uuid = ? AND {kc} = ?")))
                .bind(run_id.to_string())
                .bind(key.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found(format!(
                "No tag with name: {key} in run with id {run_id}"
            )));
        }
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn log_inputs_impl(
        &self,
        run_id: &str,
        datasets: Vec<DatasetInput>,
        models: Vec<ModelInput>,
    ) -> Result<()> {
        use mlflow_domain::validation as v;
        for d in &datasets {
            let ds = &d.dataset;
            for (what, len, max) in [
                ("name", ds.name.chars().count(), v::MAX_DATASET_NAME_SIZE),
                (
                    "digest",
                    ds.digest.chars().count(),
                    v::MAX_DATASET_DIGEST_SIZE,
                ),
                (
                    "source",
                    ds.source.chars().count(),
                    v::MAX_DATASET_SOURCE_SIZE,
                ),
                (
                    "schema",
                    ds.schema.as_deref().map_or(0, |s| s.chars().count()),
                    v::MAX_DATASET_SCHEMA_SIZE,
                ),
                (
                    "profile",
                    ds.profile.as_deref().map_or(0, |s| s.chars().count()),
                    v::MAX_DATASET_PROFILE_SIZE,
                ),
            ] {
                if len > max {
                    return Err(Error::invalid(format!(
                        "Dataset {what} exceeds the maximum length of {max}"
                    )));
                }
            }
            for t in &d.tags {
                if t.key.chars().count() > v::MAX_INPUT_TAG_KEY_SIZE {
                    return Err(v::exceeds_maximum_length("key", v::MAX_INPUT_TAG_KEY_SIZE));
                }
                if t.value.chars().count() > v::MAX_INPUT_TAG_VALUE_SIZE {
                    return Err(v::exceeds_maximum_length(
                        "value",
                        v::MAX_INPUT_TAG_VALUE_SIZE,
                    ));
                }
            }
        }
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        self.require_active_run(&mut tx, run_id).await?;
        let exp_id = sqlx::query(db.sql("SELECT experiment_id FROM runs WHERE run_uuid = ?"))
            .bind(run_id.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?
            .i64_at(0)?;
        for d in datasets {
            let ds = &d.dataset;
            let existing = sqlx::query(db.sql(
                "SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND name = ? AND digest = ?",
            ))
            .bind(exp_id)
            .bind(ds.name.clone())
            .bind(ds.digest.clone())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            let dataset_uuid = match existing {
                Some(row) => row.str_at(0)?,
                None => {
                    let id = uuid::Uuid::new_v4().simple().to_string();
                    sqlx::query(db.sql(
                        "INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, \
                         dataset_source_type, dataset_source, dataset_schema, dataset_profile) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    ))
                    .bind(id.clone())
                    .bind(exp_id)
                    .bind(ds.name.clone())
                    .bind(ds.digest.clone())
                    .bind(ds.source_type.clone())
                    .bind(ds.source.clone())
                    .bind(ds.schema.clone())
                    .bind(ds.profile.clone())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    id
                }
            };
            let linked = sqlx::query(db.sql(
                "SELECT input_uuid FROM inputs WHERE source_type = 'DATASET' AND source_id = ? \
                 AND destination_type = 'RUN' AND destination_id = ?",
            ))
            .bind(dataset_uuid.clone())
            .bind(run_id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            if linked.is_some() {
                continue;
            }
            let input_uuid = uuid::Uuid::new_v4().simple().to_string();
            sqlx::query(db.sql(
                "INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, destination_id, step) \
                 VALUES (?, 'DATASET', ?, 'RUN', ?, 0)",
            ))
            .bind(input_uuid.clone())
            .bind(dataset_uuid)
            .bind(run_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            for t in dedup_tags(&d.tags) {
                tx.execute(
                    sqlx::query(
                        db.sql("INSERT INTO input_tags (input_uuid, name, value) VALUES (?, ?, ?)"),
                    )
                    .bind(input_uuid.clone())
                    .bind(t.key.clone())
                    .bind(t.value.clone()),
                )
                .await
                .map_err(db_err)?;
            }
        }
        self.insert_model_inputs(&mut tx, run_id, &models).await?;
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn search_runs_impl(&self, req: &SearchRuns) -> Result<Page<Run>> {
        validate_max_results(req.max_results, MAX_RUNS_PER_SEARCH)?;
        let offset = decode_page_token(req.page_token.as_deref())?;
        let exp_ids = req
            .experiment_ids
            .iter()
            .map(|id| parse_experiment_id(id))
            .collect::<Result<Vec<_>>>()?;
        let q = mlflow_search::search_runs_query(
            self.db.dialect,
            &exp_ids,
            crate::to_search_view(req.view),
            &req.filter,
            &req.order_by,
            req.max_results + 1,
            offset,
        )
        .map_err(|e| Error::invalid(e.message))?;
        if exp_ids.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next_page_token: None,
            });
        }
        let rows = sqlx::query_with(self.db.sql(&q.sql), args_from(&q.binds)?)
            .persistent(false)
            .fetch_all(&self.db.read)
            .await
            .map_err(db_err)?;
        let mut ids = rows
            .iter()
            .map(|r| r.str_at(0))
            .collect::<Result<Vec<_>>>()?;
        let next_page_token = if ids.len() as i64 > req.max_results {
            ids.truncate(req.max_results as usize);
            Some(encode_page_token(offset + req.max_results))
        } else {
            None
        };
        Ok(Page {
            items: self.load_runs(&ids).await?,
            next_page_token,
        })
    }
}
