//! Registered models: create, read, rename (cascading), update, delete (cascading), search,
//! tags, aliases and `latest_versions`.

use super::WORKSPACE;
use crate::db::{RowExt, args_from, db_err, is_unique_violation};
use crate::{Page, SqlStore, decode_page_token, encode_page_token, placeholders};
use mlflow_domain::registry::{
    IS_PROMPT_TAG_KEY, ModelVersion, RegisteredModel, RegisteredModelAlias,
    SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD, STAGE_DELETED_INTERNAL, validate_model_name,
    validate_model_renaming, validate_registered_model_tag, validate_tag_name,
};
use mlflow_domain::tracking::Tag;
use mlflow_domain::{Error, Result, now_ms};
use mlflow_search::registry::{MODEL_VERSION_COLUMNS, search_registered_models_query};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};
use std::collections::HashMap;

/// IN lists are chunked to stay far below every backend's bind limit.
const IN_CHUNK: usize = 500;

pub(crate) fn rm_not_found(name: &str) -> Error {
    Error::not_found(format!("Registered Model with name={name} not found"))
}

/// Maps a registry search error, keeping the official INTERNAL_ERROR ones.
pub(crate) fn search_err(e: mlflow_search::registry::RegistrySearchError) -> Error {
    if e.internal {
        Error::internal(e.message)
    } else {
        Error::invalid(e.message)
    }
}

/// A model version row (columns as [`MODEL_VERSION_COLUMNS`]), without tags and aliases.
pub(crate) fn model_version_from_row(row: &AnyRow) -> Result<ModelVersion> {
    Ok(ModelVersion {
        name: row.str_at(0)?,
        version: row.i64_at(1)?.to_string(),
        creation_timestamp: row.opt_i64_at(2)?.unwrap_or(0),
        last_updated_timestamp: row.opt_i64_at(3)?,
        description: row.opt_str_at(4)?,
        user_id: row.opt_str_at(5)?,
        current_stage: row.opt_str_at(6)?,
        source: row.opt_str_at(7)?,
        run_id: row.opt_str_at(8)?,
        status: row.opt_str_at(9)?.unwrap_or_else(|| "READY".into()),
        status_message: row.opt_str_at(10)?.filter(|m| !m.is_empty()),
        tags: Vec::new(),
        run_link: row.opt_str_at(11)?,
        aliases: Vec::new(),
    })
}

fn registered_model_from_row(row: &AnyRow) -> Result<RegisteredModel> {
    Ok(RegisteredModel {
        name: row.str_at(0)?,
        creation_timestamp: row.opt_i64_at(1)?,
        last_updated_timestamp: row.opt_i64_at(2)?.filter(|t| *t != 0),
        description: row.opt_str_at(3)?.filter(|d| !d.is_empty()),
        latest_versions: Vec::new(),
        tags: Vec::new(),
        aliases: Vec::new(),
    })
}

/// The latest version per stage, in order of the stages' first appearance by version
/// (what `SqlRegisteredModel.to_mlflow_entity` builds).
pub(crate) fn latest_per_stage(versions: Vec<ModelVersion>) -> Vec<ModelVersion> {
    let mut out: Vec<ModelVersion> = Vec::new();
    for mv in versions {
        let stage = mv.current_stage.clone().unwrap_or_default();
        if stage == STAGE_DELETED_INTERNAL {
            continue;
        }
        match out
            .iter_mut()
            .find(|o| o.current_stage.clone().unwrap_or_default() == stage)
        {
            Some(o) => {
                if version_num(o) < version_num(&mv) {
                    *o = mv;
                }
            }
            None => out.push(mv),
        }
    }
    out
}

pub(crate) fn version_num(mv: &ModelVersion) -> i64 {
    mv.version.parse().unwrap_or(0)
}

impl SqlStore {
    /// `(workspace, name)` exists; the registered model's row (for `FOR UPDATE` callers).
    pub(crate) async fn require_registered_model(
        &self,
        tx: &mut Transaction<'_, Any>,
        name: &str,
        lock: bool,
    ) -> Result<()> {
        validate_model_name(name)?;
        let lock_clause = match self.db.dialect {
            mlflow_search::Dialect::Sqlite => "",
            _ if lock => " FOR UPDATE",
            _ => "",
        };
        let row = sqlx::query(self.db.sql(&format!(
            "SELECT name FROM registered_models WHERE workspace = ? AND name = ?{lock_clause}"
        )))
        .bind(WORKSPACE)
        .bind(name.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
        row.map(|_| ()).ok_or_else(|| rm_not_found(name))
    }

    /// Model-version tags keyed by `(name, version)`, for the given model names.
    pub(crate) async fn load_version_tags(
        &self,
        names: &[String],
    ) -> Result<HashMap<(String, i64), Vec<Tag>>> {
        let mut out: HashMap<(String, i64), Vec<Tag>> = HashMap::new();
        let kc = self.db.key_col();
        for chunk in names.chunks(IN_CHUNK) {
            let mut q = sqlx::query(self.db.sql(&format!(
                "SELECT name, version, {kc}, value FROM model_version_tags \
                 WHERE workspace = ? AND name IN ({}) ORDER BY {kc}",
                placeholders(chunk.len())
            )))
            .persistent(false)
            .bind(WORKSPACE);
            for n in chunk {
                q = q.bind(n.clone());
            }
            for row in q.fetch_all(&self.db.read).await.map_err(db_err)? {
                out.entry((row.str_at(0)?, row.i64_at(1)?))
                    .or_default()
                    .push(Tag {
                        key: row.str_at(2)?,
                        value: row.str_at(3)?,
                    });
            }
        }
        Ok(out)
    }

    /// Aliases of the given models: name -> [(alias, version)].
    pub(crate) async fn load_aliases(
        &self,
        names: &[String],
    ) -> Result<HashMap<String, Vec<(String, i64)>>> {
        let mut out: HashMap<String, Vec<(String, i64)>> = HashMap::new();
        for chunk in names.chunks(IN_CHUNK) {
            let mut q = sqlx::query(self.db.sql(&format!(
                "SELECT name, alias, version FROM registered_model_aliases \
                 WHERE workspace = ? AND name IN ({}) ORDER BY alias",
                placeholders(chunk.len())
            )))
            .persistent(false)
            .bind(WORKSPACE);
            for n in chunk {
                q = q.bind(n.clone());
            }
            for row in q.fetch_all(&self.db.read).await.map_err(db_err)? {
                out.entry(row.str_at(0)?)
                    .or_default()
                    .push((row.str_at(1)?, row.i64_at(2)?));
            }
        }
        Ok(out)
    }

    /// All non-deleted versions of the given models, by version ascending, with tags.
    pub(crate) async fn load_live_versions(
        &self,
        names: &[String],
    ) -> Result<HashMap<String, Vec<ModelVersion>>> {
        let mut out: HashMap<String, Vec<ModelVersion>> = HashMap::new();
        for chunk in names.chunks(IN_CHUNK) {
            let mut q = sqlx::query(self.db.sql(&format!(
                "SELECT {MODEL_VERSION_COLUMNS} FROM model_versions WHERE model_versions.workspace = ? \
                 AND model_versions.name IN ({}) AND model_versions.current_stage != ? \
                 ORDER BY model_versions.version",
                placeholders(chunk.len())
            )))
            .persistent(false)
            .bind(WORKSPACE);
            for n in chunk {
                q = q.bind(n.clone());
            }
            q = q.bind(STAGE_DELETED_INTERNAL);
            for row in q.fetch_all(&self.db.read).await.map_err(db_err)? {
                let mv = model_version_from_row(&row)?;
                out.entry(mv.name.clone()).or_default().push(mv);
            }
        }
        let tags = self.load_version_tags(names).await?;
        for versions in out.values_mut() {
            for mv in versions.iter_mut() {
                if let Some(t) = tags.get(&(mv.name.clone(), version_num(mv))) {
                    mv.tags = t.clone();
                }
            }
        }
        Ok(out)
    }

    /// Completes registered-model rows with tags, aliases and latest versions.
    async fn complete_models(
        &self,
        mut models: Vec<RegisteredModel>,
    ) -> Result<Vec<RegisteredModel>> {
        if models.is_empty() {
            return Ok(models);
        }
        let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
        let kc = self.db.key_col();
        let mut tags: HashMap<String, Vec<Tag>> = HashMap::new();
        for chunk in names.chunks(IN_CHUNK) {
            let mut q = sqlx::query(self.db.sql(&format!(
                "SELECT name, {kc}, value FROM registered_model_tags \
                 WHERE workspace = ? AND name IN ({}) ORDER BY {kc}",
                placeholders(chunk.len())
            )))
            .persistent(false)
            .bind(WORKSPACE);
            for n in chunk {
                q = q.bind(n.clone());
            }
            for row in q.fetch_all(&self.db.read).await.map_err(db_err)? {
                tags.entry(row.str_at(0)?).or_default().push(Tag {
                    key: row.str_at(1)?,
                    value: row.str_at(2)?,
                });
            }
        }
        let mut aliases = self.load_aliases(&names).await?;
        let mut versions = self.load_live_versions(&names).await?;
        for m in models.iter_mut() {
            m.tags = tags.remove(&m.name).unwrap_or_default();
            m.aliases = aliases
                .remove(&m.name)
                .unwrap_or_default()
                .into_iter()
                .map(|(alias, version)| RegisteredModelAlias {
                    alias,
                    version: version.to_string(),
                })
                .collect();
            m.latest_versions = latest_per_stage(versions.remove(&m.name).unwrap_or_default());
        }
        Ok(models)
    }

    async fn fetch_registered_model(&self, name: &str) -> Result<Option<RegisteredModel>> {
        let row = sqlx::query(self.db.sql(
            "SELECT name, creation_time, last_updated_time, description FROM registered_models \
             WHERE workspace = ? AND name = ?",
        ))
        .bind(WORKSPACE)
        .bind(name.to_string())
        .fetch_optional(&self.db.read)
        .await
        .map_err(db_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let m = registered_model_from_row(&row)?;
        Ok(self.complete_models(vec![m]).await?.pop())
    }

    pub(crate) async fn get_registered_model_impl(&self, name: &str) -> Result<RegisteredModel> {
        validate_model_name(name)?;
        self.fetch_registered_model(name)
            .await?
            .ok_or_else(|| rm_not_found(name))
    }

    pub(crate) async fn create_registered_model_impl(
        &self,
        name: &str,
        tags: &[Tag],
        description: Option<&str>,
    ) -> Result<RegisteredModel> {
        validate_model_name(name)?;
        for t in tags {
            validate_registered_model_tag(&t.key, &t.value)?;
        }
        // Duplicate keys collapse, the last value winning (a dict in the official store).
        let mut unique: Vec<&Tag> = Vec::new();
        for t in tags {
            match unique.iter_mut().find(|u| u.key == t.key) {
                Some(u) => *u = t,
                None => unique.push(t),
            }
        }
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let inserted = sqlx::query(self.db.sql(
            "INSERT INTO registered_models (workspace, name, creation_time, last_updated_time, description) \
             VALUES (?, ?, ?, ?, ?)",
        ))
        .bind(WORKSPACE)
        .bind(name.to_string())
        .bind(now)
        .bind(now)
        .bind(description.unwrap_or("").to_string())
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            if is_unique_violation(&e) {
                drop(tx);
                let existing = self.get_registered_model_impl(name).await?;
                let old_prompt = existing.tags.iter().any(|t| t.key == IS_PROMPT_TAG_KEY);
                let new_prompt = tags.iter().any(|t| t.key == IS_PROMPT_TAG_KEY);
                return Err(already_exists(name, old_prompt, new_prompt));
            }
            return Err(db_err(e));
        }
        let kc = self.db.key_col();
        for t in unique {
            sqlx::query(self.db.sql(&format!(
                "INSERT INTO registered_model_tags (workspace, name, {kc}, value) VALUES (?, ?, ?, ?)"
            )))
            .bind(WORKSPACE)
            .bind(name.to_string())
            .bind(t.key.clone())
            .bind(t.value.clone())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        self.get_registered_model_impl(name).await
    }

    pub(crate) async fn update_registered_model_impl(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<RegisteredModel> {
        let mut tx = self.db.begin_write().await?;
        self.require_registered_model(&mut tx, name, false).await?;
        sqlx::query(self.db.sql(
            "UPDATE registered_models SET description = ?, last_updated_time = ? \
             WHERE workspace = ? AND name = ?",
        ))
        .bind(description.unwrap_or("").to_string())
        .bind(now_ms())
        .bind(WORKSPACE)
        .bind(name.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        self.get_registered_model_impl(name).await
    }

    pub(crate) async fn rename_registered_model_impl(
        &self,
        name: &str,
        new_name: &str,
    ) -> Result<RegisteredModel> {
        validate_model_renaming(new_name)?;
        let mut tx = self.db.begin_write().await?;
        self.require_registered_model(&mut tx, name, true).await?;
        let taken = |e: String| {
            Error::already_exists(format!(
                "Registered Model (name={new_name}) already exists. Error: {e}"
            ))
        };
        if name != new_name {
            let exists = sqlx::query(
                self.db
                    .sql("SELECT name FROM registered_models WHERE workspace = ? AND name = ?"),
            )
            .bind(WORKSPACE)
            .bind(new_name.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            if exists.is_some() {
                return Err(taken(
                    "UNIQUE constraint failed: registered_models.name".into(),
                ));
            }
        }
        let now = now_ms();
        // Versions, tags and aliases follow through ON UPDATE CASCADE foreign keys.
        let r = sqlx::query(self.db.sql(
            "UPDATE registered_models SET name = ?, last_updated_time = ? WHERE workspace = ? AND name = ?",
        ))
        .bind(new_name.to_string())
        .bind(now)
        .bind(WORKSPACE)
        .bind(name.to_string())
        .execute(&mut *tx)
        .await;
        if let Err(e) = r {
            if is_unique_violation(&e) {
                return Err(taken(e.to_string()));
            }
            return Err(db_err(e));
        }
        sqlx::query(self.db.sql(
            "UPDATE model_versions SET last_updated_time = ? WHERE workspace = ? AND name = ?",
        ))
        .bind(now)
        .bind(WORKSPACE)
        .bind(new_name.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        self.get_registered_model_impl(new_name).await
    }

    pub(crate) async fn delete_registered_model_impl(&self, name: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        self.require_registered_model(&mut tx, name, true).await?;
        for table in [
            "model_version_tags",
            "model_versions",
            "registered_model_tags",
            "registered_model_aliases",
            "registered_models",
        ] {
            sqlx::query(self.db.sql(&format!(
                "DELETE FROM {table} WHERE workspace = ? AND name = ?"
            )))
            .bind(WORKSPACE)
            .bind(name.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn search_registered_models_impl(
        &self,
        filter: &str,
        max_results: i64,
        order_by: &[String],
        page_token: Option<&str>,
    ) -> Result<Page<RegisteredModel>> {
        if max_results > SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD {
            return Err(Error::invalid(format!(
                "Invalid value for request parameter max_results. It must be at most \
                 {SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD}, but got value {max_results}"
            )));
        }
        let offset = decode_page_token(page_token)?;
        let max_results = max_results.max(0);
        let q = search_registered_models_query(
            self.db.dialect,
            WORKSPACE,
            filter,
            order_by,
            max_results + 1,
            offset,
        )
        .map_err(search_err)?;
        let rows = sqlx::query_with(self.db.sql(&q.sql), args_from(&q.binds)?)
            .persistent(false)
            .fetch_all(&self.db.read)
            .await
            .map_err(db_err)?;
        let next_page_token =
            (rows.len() as i64 == max_results + 1).then(|| encode_page_token(offset + max_results));
        let models = rows
            .iter()
            .take(max_results as usize)
            .map(registered_model_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items: self.complete_models(models).await?,
            next_page_token,
        })
    }

    async fn upsert_tag(
        &self,
        tx: &mut Transaction<'_, Any>,
        table: &str,
        version: Option<i64>,
        name: &str,
        key: &str,
        value: &str,
    ) -> Result<()> {
        let kc = self.db.key_col();
        let version_cond = if version.is_some() {
            " AND version = ?"
        } else {
            ""
        };
        let mut q = sqlx::query(self.db.sql(&format!(
            "UPDATE {table} SET value = ? WHERE workspace = ? AND name = ?{version_cond} AND {kc} = ?"
        )))
        .persistent(false)
        .bind(value.to_string())
        .bind(WORKSPACE)
        .bind(name.to_string());
        if let Some(v) = version {
            q = q.bind(v);
        }
        let updated = q
            .bind(key.to_string())
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        if updated.rows_affected() > 0 {
            return Ok(());
        }
        let (cols, marks) = if version.is_some() {
            ("workspace, name, version", "?, ?, ?")
        } else {
            ("workspace, name", "?, ?")
        };
        let mut q = sqlx::query(self.db.sql(&format!(
            "INSERT INTO {table} ({cols}, {kc}, value) VALUES ({marks}, ?, ?)"
        )))
        .persistent(false)
        .bind(WORKSPACE)
        .bind(name.to_string());
        if let Some(v) = version {
            q = q.bind(v);
        }
        q.bind(key.to_string())
            .bind(value.to_string())
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn set_tag_row(
        &self,
        tx: &mut Transaction<'_, Any>,
        version: Option<i64>,
        name: &str,
        key: &str,
        value: &str,
    ) -> Result<()> {
        let table = if version.is_some() {
            "model_version_tags"
        } else {
            "registered_model_tags"
        };
        self.upsert_tag(tx, table, version, name, key, value).await
    }

    pub(crate) async fn delete_tag_row(
        &self,
        tx: &mut Transaction<'_, Any>,
        version: Option<i64>,
        name: &str,
        key: &str,
    ) -> Result<()> {
        let kc = self.db.key_col();
        let (table, version_cond) = match version {
            Some(_) => ("model_version_tags", " AND version = ?"),
            None => ("registered_model_tags", ""),
        };
        let mut q = sqlx::query(self.db.sql(&format!(
            "DELETE FROM {table} WHERE workspace = ? AND name = ?{version_cond} AND {kc} = ?"
        )))
        .persistent(false)
        .bind(WORKSPACE)
        .bind(name.to_string());
        if let Some(v) = version {
            q = q.bind(v);
        }
        q.bind(key.to_string())
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn set_registered_model_tag_impl(
        &self,
        name: &str,
        key: &str,
        value: &str,
    ) -> Result<()> {
        validate_model_name(name)?;
        validate_registered_model_tag(key, value)?;
        let mut tx = self.db.begin_write().await?;
        self.require_registered_model(&mut tx, name, false).await?;
        self.set_tag_row(&mut tx, None, name, key, value).await?;
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn delete_registered_model_tag_impl(
        &self,
        name: &str,
        key: &str,
    ) -> Result<()> {
        validate_model_name(name)?;
        validate_tag_name(key)?;
        let mut tx = self.db.begin_write().await?;
        self.require_registered_model(&mut tx, name, false).await?;
        self.delete_tag_row(&mut tx, None, name, key).await?;
        tx.commit().await.map_err(db_err)
    }
}

/// `handle_resource_already_exist_error`.
fn already_exists(name: &str, old_is_prompt: bool, new_is_prompt: bool) -> Error {
    let entity = |p: bool| if p { "Prompt" } else { "Registered Model" };
    let (old, new) = (entity(old_is_prompt), entity(new_is_prompt));
    if old != new {
        return Error::already_exists(format!(
            "Tried to create a {} with name {}, but the name is already taken by a {}. MLflow \
             does not allow creating a model and a prompt with the same name.",
            new.to_lowercase(),
            mlflow_domain::validation::py_repr(name),
            old.to_lowercase()
        ));
    }
    Error::already_exists(format!("{new} (name={name}) already exists."))
}
