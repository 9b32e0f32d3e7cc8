//! Experiments: create, read, search, rename, delete/restore, tags.

use crate::db::{RowExt, args_from, db_err, is_unique_violation};
use crate::{
    Page, SearchExperiments, SqlStore, append_to_uri_path, decode_page_token, encode_page_token,
    placeholders,
};
use mlflow_domain::tracking::{Experiment, Tag};
use mlflow_domain::validation::{
    MAX_EXPERIMENTS_PER_PAGE, parse_experiment_id, validate_experiment_name,
    validate_experiment_tag, validate_max_results,
};
use mlflow_domain::{Error, Result, now_ms};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Transaction};
use std::collections::HashMap;

const EXPERIMENT_COLS: &str = "experiment_id, name, artifact_location, lifecycle_stage, \
                               creation_time, last_update_time, workspace";

fn experiment_from_row(row: &AnyRow) -> Result<Experiment> {
    Ok(Experiment {
        experiment_id: row.i64_at(0)?.to_string(),
        name: row.str_at(1)?,
        artifact_location: row.opt_str_at(2)?,
        lifecycle_stage: row.opt_str_at(3)?,
        creation_time: row.opt_i64_at(4)?,
        last_update_time: row.opt_i64_at(5)?,
        tags: Vec::new(),
        workspace: row.opt_str_at(6)?,
    })
}

pub(crate) fn not_found(id: i64) -> Error {
    Error::not_found(format!("No Experiment with id={id} exists"))
}

pub(crate) fn check_active(exp_id: i64, stage: &str) -> Result<()> {
    if stage != "active" {
        return Err(Error::invalid(format!(
            "The experiment {exp_id} must be in the 'active' state. Current state is {stage}."
        )));
    }
    Ok(())
}

impl SqlStore {
    /// Loads experiments (with tags) by id, keeping the order of `ids`.
    async fn load_experiments(&self, ids: &[i64]) -> Result<Vec<Experiment>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let db = &self.db;
        let marks = placeholders(ids.len());
        let mut q = sqlx::query(db.sql(&format!(
            "SELECT {EXPERIMENT_COLS} FROM experiments WHERE experiment_id IN ({marks})"
        )))
        .persistent(false);
        for id in ids {
            q = q.bind(*id);
        }
        let rows = q.fetch_all(&db.read).await.map_err(db_err)?;
        let mut by_id: HashMap<String, Experiment> = HashMap::new();
        for row in &rows {
            let e = experiment_from_row(row)?;
            by_id.insert(e.experiment_id.clone(), e);
        }
        let kc = db.key_col();
        let mut q = sqlx::query(db.sql(&format!(
            "SELECT experiment_id, {kc}, value FROM experiment_tags WHERE experiment_id IN ({marks})"
        )))
        .persistent(false);
        for id in ids {
            q = q.bind(*id);
        }
        for row in q.fetch_all(&db.read).await.map_err(db_err)? {
            let id = row.i64_at(0)?.to_string();
            if let Some(e) = by_id.get_mut(&id) {
                e.tags.push(Tag {
                    key: row.str_at(1)?,
                    value: row.str_at(2)?,
                });
            }
        }
        Ok(ids
            .iter()
            .filter_map(|id| by_id.remove(&id.to_string()))
            .collect())
    }

    pub(crate) async fn experiment_stage(
        tx: &mut Transaction<'_, Any>,
        db: &crate::Db,
        exp_id: i64,
    ) -> Result<Option<String>> {
        let row =
            sqlx::query(db.sql("SELECT lifecycle_stage FROM experiments WHERE experiment_id = ?"))
                .bind(exp_id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_err)?;
        row.map(|r| r.str_at(0)).transpose()
    }

    async fn require_experiment(
        &self,
        tx: &mut Transaction<'_, Any>,
        exp_id: i64,
    ) -> Result<String> {
        Self::experiment_stage(tx, &self.db, exp_id)
            .await?
            .ok_or_else(|| not_found(exp_id))
    }

    async fn name_taken(&self, tx: &mut Transaction<'_, Any>, name: &str) -> Result<bool> {
        let row = sqlx::query(
            self.db
                .sql("SELECT experiment_id FROM experiments WHERE name = ?"),
        )
        .bind(name.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
        Ok(row.is_some())
    }

    pub(crate) async fn create_experiment_impl(
        &self,
        name: &str,
        artifact_location: Option<&str>,
        tags: &[Tag],
    ) -> Result<String> {
        validate_experiment_name(name)?;
        for t in tags {
            validate_experiment_tag(&t.key, &t.value)?;
        }
        let db = &self.db;
        let already = || Error::already_exists(format!("Experiment(name={name}) already exists."));
        let mut tx = db.begin_write().await?;
        if self.name_taken(&mut tx, name).await? {
            return Err(already());
        }
        let now = now_ms();
        let row = sqlx::query(db.sql(
            "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, \
             last_update_time, workspace) VALUES (?, ?, 'active', ?, ?, 'default') RETURNING experiment_id",
        ))
        .bind(name.to_string())
        .bind(artifact_location.unwrap_or("").to_string())
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| if is_unique_violation(&e) { already() } else { db_err(e) })?;
        let id = row.i64_at(0)?;
        if artifact_location.is_none_or(str::is_empty) {
            let loc = append_to_uri_path(&self.artifact_root, &id.to_string());
            sqlx::query(
                db.sql("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?"),
            )
            .bind(loc)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        let kc = db.key_col();
        for t in dedup_tags(tags) {
            sqlx::query(db.sql(&format!(
                "INSERT INTO experiment_tags ({kc}, value, experiment_id) VALUES (?, ?, ?)"
            )))
            .bind(t.key.clone())
            .bind(t.value.clone())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(id.to_string())
    }

    pub(crate) async fn get_experiment_impl(&self, experiment_id: &str) -> Result<Experiment> {
        let id = parse_experiment_id(experiment_id)?;
        self.load_experiments(&[id])
            .await?
            .pop()
            .ok_or_else(|| not_found(id))
    }

    pub(crate) async fn get_experiment_by_name_impl(&self, name: &str) -> Result<Experiment> {
        let row = sqlx::query(
            self.db
                .sql("SELECT experiment_id FROM experiments WHERE name = ?"),
        )
        .bind(name.to_string())
        .fetch_optional(&self.db.read)
        .await
        .map_err(db_err)?;
        let not_found =
            || Error::not_found(format!("Could not find experiment with name '{name}'"));
        let id = row.ok_or_else(not_found)?.i64_at(0)?;
        self.load_experiments(&[id])
            .await?
            .pop()
            .ok_or_else(not_found)
    }

    pub(crate) async fn search_experiments_impl(
        &self,
        req: &SearchExperiments,
    ) -> Result<Page<Experiment>> {
        validate_max_results(req.max_results, MAX_EXPERIMENTS_PER_PAGE)?;
        let offset = decode_page_token(req.page_token.as_deref())?;
        let q = mlflow_search::search_experiments_query(
            self.db.dialect,
            crate::to_search_view(req.view),
            &req.filter,
            &req.order_by,
            req.max_results + 1,
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
            .map(|r| r.i64_at(0))
            .collect::<Result<Vec<_>>>()?;
        let next_page_token = if ids.len() as i64 > req.max_results {
            ids.truncate(req.max_results as usize);
            Some(encode_page_token(offset + req.max_results))
        } else {
            None
        };
        Ok(Page {
            items: self.load_experiments(&ids).await?,
            next_page_token,
        })
    }

    pub(crate) async fn rename_experiment_impl(
        &self,
        experiment_id: &str,
        new_name: &str,
    ) -> Result<()> {
        validate_experiment_name(new_name)?;
        let id = parse_experiment_id(experiment_id)?;
        let mut tx = self.db.begin_write().await?;
        let stage = self.require_experiment(&mut tx, id).await?;
        if stage != "active" {
            return Err(Error::new(
                mlflow_domain::ErrorCode::InvalidState,
                "Cannot rename a non-active experiment.",
            ));
        }
        // The official store surfaces this unique-constraint violation as BAD_REQUEST (400).
        let already = || {
            Error::new(
                mlflow_domain::ErrorCode::BadRequest,
                format!("Experiment(name={new_name}) already exists."),
            )
        };
        if self.name_taken(&mut tx, new_name).await? {
            return Err(already());
        }
        sqlx::query(
            self.db.sql(
                "UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?",
            ),
        )
        .bind(new_name.to_string())
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                already()
            } else {
                db_err(e)
            }
        })?;
        tx.commit().await.map_err(db_err)
    }

    /// Deletes (`deleted = true`) or restores an experiment and, as the official store does,
    /// all of its runs with it.
    pub(crate) async fn set_experiment_lifecycle(
        &self,
        experiment_id: &str,
        deleted: bool,
    ) -> Result<()> {
        let id = parse_experiment_id(experiment_id)?;
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        let stage = self.require_experiment(&mut tx, id).await?;
        let expected = if deleted { "active" } else { "deleted" };
        if stage != expected {
            return Err(not_found(id));
        }
        let now = now_ms();
        let (new_stage, deleted_time) = if deleted {
            ("deleted", Some(now))
        } else {
            ("active", None)
        };
        sqlx::query(db.sql(
            "UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? WHERE experiment_id = ?",
        ))
        .bind(new_stage)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            db.sql("UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE experiment_id = ?"),
        )
        .bind(new_stage)
        .bind(deleted_time)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn set_experiment_tag_impl(
        &self,
        experiment_id: &str,
        key: &str,
        value: &str,
    ) -> Result<()> {
        validate_experiment_tag(key, value)?;
        let id = parse_experiment_id(experiment_id)?;
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        let stage = self.require_experiment(&mut tx, id).await?;
        check_active(id, &stage)?;
        let kc = db.key_col();
        let sql = upsert_sql(
            db.dialect,
            "experiment_tags",
            &[kc, "value", "experiment_id"],
            &[kc, "experiment_id"],
            &["value"],
            1,
        );
        tx.execute(
            sqlx::query(db.sql(&sql))
                .bind(key.to_string())
                .bind(value.to_string())
                .bind(id),
        )
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn delete_experiment_tag_impl(
        &self,
        experiment_id: &str,
        key: &str,
    ) -> Result<()> {
        let id = parse_experiment_id(experiment_id)?;
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        let stage = self.require_experiment(&mut tx, id).await?;
        check_active(id, &stage)?;
        let kc = db.key_col();
        let done = sqlx::query(db.sql(&format!(
            "DELETE FROM experiment_tags WHERE experiment_id = ? AND {kc} = ?"
        )))
        .bind(id)
        .bind(key.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found(format!(
                "No tag with name: {key} in experiment with id {id}"
            )));
        }
        tx.commit().await.map_err(db_err)
    }
}

/// Last value wins for repeated keys, as with the official ORM merge.
pub(crate) fn dedup_tags(tags: &[Tag]) -> Vec<&Tag> {
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, t) in tags.iter().enumerate() {
        last.insert(t.key.as_str(), i);
    }
    tags.iter()
        .enumerate()
        .filter(|(i, t)| last.get(t.key.as_str()) == Some(i))
        .map(|(_, t)| t)
        .collect()
}

/// Multi-row upsert SQL for the dialect: `rows` rows of `cols`, replacing `update` columns on a
/// conflict over `conflict` columns.
pub(crate) fn upsert_sql(
    dialect: mlflow_search::Dialect,
    table: &str,
    cols: &[&str],
    conflict: &[&str],
    update: &[&str],
    rows: usize,
) -> String {
    let row = format!("({})", placeholders(cols.len()));
    let values = vec![row; rows].join(", ");
    let cols_sql = cols.join(", ");
    match dialect {
        mlflow_search::Dialect::MySql => {
            let set: Vec<String> = update
                .iter()
                .map(|c| format!("{c} = VALUES({c})"))
                .collect();
            format!(
                "INSERT INTO {table} ({cols_sql}) VALUES {values} ON DUPLICATE KEY UPDATE {}",
                set.join(", ")
            )
        }
        _ => {
            let set: Vec<String> = update
                .iter()
                .map(|c| format!("{c} = excluded.{c}"))
                .collect();
            format!(
                "INSERT INTO {table} ({cols_sql}) VALUES {values} ON CONFLICT ({}) DO UPDATE SET {}",
                conflict.join(", "),
                set.join(", ")
            )
        }
    }
}

/// Multi-row insert that skips rows already present.
pub(crate) fn insert_ignore_sql(
    dialect: mlflow_search::Dialect,
    table: &str,
    cols: &[&str],
    rows: usize,
) -> String {
    let row = format!("({})", placeholders(cols.len()));
    let values = vec![row; rows].join(", ");
    let cols_sql = cols.join(", ");
    match dialect {
        mlflow_search::Dialect::MySql => {
            format!("INSERT IGNORE INTO {table} ({cols_sql}) VALUES {values}")
        }
        _ => format!("INSERT INTO {table} ({cols_sql}) VALUES {values} ON CONFLICT DO NOTHING"),
    }
}
