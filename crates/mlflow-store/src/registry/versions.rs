//! Model versions: create (race-free numbering), read, update, stage transitions, soft delete,
//! download URI, search, tags and aliases.

use super::models::{latest_per_stage, model_version_from_row, search_err, version_num};
use super::{CreateModelVersion, PROTECTED_ALIAS_TAG_PREFIX, WORKSPACE};
use crate::db::{RowExt, args_from, db_err};
use crate::{Page, SqlStore, decode_page_token, encode_page_token};
use mlflow_domain::registry::{
    ModelVersion, PROMPT_SOURCE_PLACEHOLDERS, SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD,
    STAGE_ARCHIVED, STAGE_DELETED_INTERNAL, STAGE_NONE, STAGE_PRODUCTION, STAGE_STAGING,
    canonical_stage, parse_model_version, validate_alias_name, validate_alias_name_reserved,
    validate_model_name, validate_model_version_tag, validate_tag_name,
};
use mlflow_domain::tracking::Tag;
use mlflow_domain::{Error, Result, now_ms};
use mlflow_search::registry::{MODEL_VERSION_COLUMNS, search_model_versions_query};
use sqlx::{Any, Transaction};

pub(crate) fn mv_not_found(name: &str, version: impl std::fmt::Display) -> Error {
    Error::not_found(format!(
        "Model Version (name={name}, version={version}) not found"
    ))
}

impl SqlStore {
    /// A live (not deleted) version row with tags, no aliases.
    async fn fetch_model_version(&self, name: &str, version: i64) -> Result<Option<ModelVersion>> {
        let row = sqlx::query(self.db.sql(&format!(
            "SELECT {MODEL_VERSION_COLUMNS} FROM model_versions WHERE model_versions.workspace = ? \
             AND model_versions.name = ? AND model_versions.version = ? \
             AND model_versions.current_stage != ?"
        )))
        .bind(WORKSPACE)
        .bind(name.to_string())
        .bind(version)
        .bind(STAGE_DELETED_INTERNAL)
        .fetch_optional(&self.db.read)
        .await
        .map_err(db_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut mv = model_version_from_row(&row)?;
        let kc = self.db.key_col();
        let rows = sqlx::query(self.db.sql(&format!(
            "SELECT {kc}, value FROM model_version_tags WHERE workspace = ? AND name = ? \
             AND version = ? ORDER BY {kc}"
        )))
        .bind(WORKSPACE)
        .bind(name.to_string())
        .bind(version)
        .fetch_all(&self.db.read)
        .await
        .map_err(db_err)?;
        for r in rows {
            mv.tags.push(Tag {
                key: r.str_at(0)?,
                value: r.str_at(1)?,
            });
        }
        Ok(Some(mv))
    }

    /// `_populate_model_version_aliases`.
    async fn with_aliases(&self, mut mv: ModelVersion) -> Result<ModelVersion> {
        let aliases = self.load_aliases(std::slice::from_ref(&mv.name)).await?;
        let v = version_num(&mv);
        mv.aliases = aliases
            .get(&mv.name)
            .map(|a| {
                a.iter()
                    .filter(|(_, ver)| *ver == v)
                    .map(|(alias, _)| alias.clone())
                    .collect()
            })
            .unwrap_or_default();
        Ok(mv)
    }

    /// `_get_sql_model_version` + entity with tags and aliases.
    pub(crate) async fn get_model_version_impl(
        &self,
        name: &str,
        version: &str,
    ) -> Result<ModelVersion> {
        validate_model_name(name)?;
        let v = parse_model_version(version)?;
        let mv = self
            .fetch_model_version(name, v)
            .await?
            .ok_or_else(|| mv_not_found(name, v))?;
        self.with_aliases(mv).await
    }

    /// Checks inside a write transaction that a live version exists.
    async fn require_version(
        &self,
        tx: &mut Transaction<'_, Any>,
        name: &str,
        version: i64,
    ) -> Result<()> {
        let row = sqlx::query(self.db.sql(
            "SELECT version FROM model_versions WHERE workspace = ? AND name = ? AND version = ? \
             AND current_stage != ?",
        ))
        .bind(WORKSPACE)
        .bind(name.to_string())
        .bind(version)
        .bind(STAGE_DELETED_INTERNAL)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
        row.map(|_| ()).ok_or_else(|| mv_not_found(name, version))
    }

    pub(crate) async fn create_model_version_impl(
        &self,
        req: CreateModelVersion,
    ) -> Result<ModelVersion> {
        let is_prompt = req
            .tags
            .iter()
            .rev()
            .find(|t| t.key == mlflow_domain::registry::IS_PROMPT_TAG_KEY)
            .is_some_and(|t| t.value.eq_ignore_ascii_case("true"));
        if is_prompt && !PROMPT_SOURCE_PLACEHOLDERS.contains(&req.source.as_str()) {
            return Err(Error::invalid(format!(
                "Invalid prompt source: '{}'. Prompt sources must use an MLflow placeholder.",
                req.source
            )));
        }
        super::source::check_host_addressed(&req.source)?;
        let mut source = req.source.clone();
        let mut run_id = req.run_id.clone().unwrap_or_default();
        let mut model_id = req.model_id.clone().unwrap_or_default();
        if !is_prompt {
            (source, run_id, model_id) = self
                .resolve_source_lineage(
                    &source,
                    run_id,
                    model_id,
                    req.run_id.is_some(),
                    req.model_id.is_some(),
                )
                .await?;
            if model_id.is_empty() {
                self.validate_source_run(&source, &run_id).await?;
            } else {
                self.validate_source_model(&source, &model_id).await?;
            }
        }

        // SqlAlchemyStore.create_model_version
        validate_model_name(&req.name)?;
        for t in &req.tags {
            validate_model_version_tag(&t.key, Some(&t.value))?;
        }
        let storage_location = self
            .storage_location_for(&source, &mut run_id, &model_id)
            .await?;
        if run_id.is_empty() && !model_id.is_empty() {
            let (_, source_run_id) = self.logged_model_location(&model_id).await?;
            run_id = source_run_id.unwrap_or_default();
        }
        let mut tags: Vec<&Tag> = Vec::new();
        for t in &req.tags {
            match tags.iter_mut().find(|u| u.key == t.key) {
                Some(u) => *u = t,
                None => tags.push(t),
            }
        }

        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        // Locks the registered model's row: concurrent creators for one model queue here.
        self.require_registered_model(&mut tx, &req.name, true)
            .await?;
        sqlx::query(self.db.sql(
            "UPDATE registered_models SET last_updated_time = ? WHERE workspace = ? AND name = ?",
        ))
        .bind(now)
        .bind(WORKSPACE)
        .bind(req.name.clone())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let row = sqlx::query(
            self.db
                .sql("SELECT MAX(version) FROM model_versions WHERE workspace = ? AND name = ?"),
        )
        .bind(WORKSPACE)
        .bind(req.name.clone())
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let version = row.opt_i64_at(0)?.unwrap_or(0) + 1;
        sqlx::query(self.db.sql(
            "INSERT INTO model_versions (workspace, name, version, creation_time, last_updated_time, \
             description, user_id, current_stage, source, storage_location, run_id, run_link, \
             status, status_message) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, 'READY', NULL)",
        ))
        .bind(WORKSPACE)
        .bind(req.name.clone())
        .bind(version)
        .bind(now)
        .bind(now)
        .bind(req.description.clone().unwrap_or_default())
        .bind(STAGE_NONE)
        .bind(source.clone())
        .bind(storage_location)
        .bind(run_id)
        .bind(req.run_link.clone().unwrap_or_default())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        for t in tags {
            self.set_tag_row(&mut tx, Some(version), &req.name, &t.key, &t.value)
                .await?;
        }
        tx.commit().await.map_err(db_err)?;
        if !is_prompt && !model_id.is_empty() {
            self.add_model_version_to_logged_model(&model_id, &req.name, version)
                .await?;
        }
        let mv = self
            .fetch_model_version(&req.name, version)
            .await?
            .ok_or_else(|| mv_not_found(&req.name, version))?;
        self.with_aliases(mv).await
    }

    pub(crate) async fn update_model_version_impl(
        &self,
        name: &str,
        version: &str,
        description: Option<&str>,
    ) -> Result<ModelVersion> {
        validate_model_name(name)?;
        let v = parse_model_version(version)?;
        let mut tx = self.db.begin_write().await?;
        self.require_version(&mut tx, name, v).await?;
        sqlx::query(self.db.sql(
            "UPDATE model_versions SET description = ?, last_updated_time = ? \
             WHERE workspace = ? AND name = ? AND version = ?",
        ))
        .bind(description.map(str::to_string))
        .bind(now_ms())
        .bind(WORKSPACE)
        .bind(name.to_string())
        .bind(v)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        self.get_model_version_impl(name, version).await
    }

    pub(crate) async fn transition_stage_impl(
        &self,
        name: &str,
        version: &str,
        stage: &str,
        archive_existing_versions: bool,
    ) -> Result<ModelVersion> {
        let canonical = canonical_stage(stage)?;
        let active = canonical == STAGE_STAGING || canonical == STAGE_PRODUCTION;
        if archive_existing_versions && !active {
            return Err(Error::internal(format!(
                "Model version transition cannot archive existing model versions because \
                 '{stage}' is not an Active stage. Valid stages are ['Staging', 'Production']"
            )));
        }
        validate_model_name(name)?;
        let v = parse_model_version(version)?;
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        if archive_existing_versions {
            sqlx::query(self.db.sql(
                "UPDATE model_versions SET current_stage = ?, last_updated_time = ? \
                 WHERE workspace = ? AND name = ? AND version != ? AND current_stage = ?",
            ))
            .bind(STAGE_ARCHIVED)
            .bind(now)
            .bind(WORKSPACE)
            .bind(name.to_string())
            .bind(v)
            .bind(canonical)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        self.require_version(&mut tx, name, v).await?;
        sqlx::query(self.db.sql(
            "UPDATE model_versions SET current_stage = ?, last_updated_time = ? \
             WHERE workspace = ? AND name = ? AND version = ?",
        ))
        .bind(canonical)
        .bind(now)
        .bind(WORKSPACE)
        .bind(name.to_string())
        .bind(v)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(self.db.sql(
            "UPDATE registered_models SET last_updated_time = ? WHERE workspace = ? AND name = ?",
        ))
        .bind(now)
        .bind(WORKSPACE)
        .bind(name.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        self.get_model_version_impl(name, version).await
    }

    /// Soft delete: the row keeps its number (never reused) with redacted fields and the
    /// internal `Deleted_Internal` stage; its aliases are removed; its tags are kept.
    pub(crate) async fn delete_model_version_impl(&self, name: &str, version: &str) -> Result<()> {
        let v = parse_model_version(version)?;
        validate_model_name(name)?;
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        self.require_version(&mut tx, name, v).await?;
        let db = &self.db;
        sqlx::query(db.sql(
            "UPDATE registered_models SET last_updated_time = ? WHERE workspace = ? AND name = ?",
        ))
        .bind(now)
        .bind(WORKSPACE)
        .bind(name.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(db.sql(
            "DELETE FROM registered_model_aliases WHERE workspace = ? AND name = ? AND version = ?",
        ))
        .bind(WORKSPACE)
        .bind(name.to_string())
        .bind(v)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(db.sql(
            "UPDATE model_versions SET current_stage = ?, last_updated_time = ?, description = NULL, \
             user_id = NULL, source = 'REDACTED-SOURCE-PATH', run_id = 'REDACTED-RUN-ID', \
             run_link = 'REDACTED-RUN-LINK', status_message = NULL \
             WHERE workspace = ? AND name = ? AND version = ?",
        ))
        .bind(STAGE_DELETED_INTERNAL)
        .bind(now)
        .bind(WORKSPACE)
        .bind(name.to_string())
        .bind(v)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn get_download_uri_impl(&self, name: &str, version: &str) -> Result<String> {
        validate_model_name(name)?;
        let v = parse_model_version(version)?;
        let row = sqlx::query(self.db.sql(
            "SELECT storage_location, source FROM model_versions WHERE workspace = ? AND name = ? \
             AND version = ? AND current_stage != ?",
        ))
        .bind(WORKSPACE)
        .bind(name.to_string())
        .bind(v)
        .bind(STAGE_DELETED_INTERNAL)
        .fetch_optional(&self.db.read)
        .await
        .map_err(db_err)?
        .ok_or_else(|| mv_not_found(name, v))?;
        Ok(row
            .opt_str_at(0)?
            .filter(|s| !s.is_empty())
            .or(row.opt_str_at(1)?)
            .unwrap_or_default())
    }

    pub(crate) async fn search_model_versions_impl(
        &self,
        filter: &str,
        max_results: i64,
        order_by: &[String],
        page_token: Option<&str>,
    ) -> Result<Page<ModelVersion>> {
        if max_results < 1 {
            return Err(Error::invalid(format!(
                "Invalid value for max_results. It must be a positive integer, but got {max_results}"
            )));
        }
        if max_results > SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD {
            return Err(Error::invalid(format!(
                "Invalid value for request parameter max_results. It must be at most \
                 {SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD}, but got value {max_results}"
            )));
        }
        let q = search_model_versions_query(
            self.db.dialect,
            WORKSPACE,
            filter,
            order_by,
            max_results + 1,
            decode_page_token(page_token)?,
        )
        .map_err(search_err)?;
        let offset = decode_page_token(page_token)?;
        let rows = sqlx::query_with(self.db.sql(&q.sql), args_from(&q.binds)?)
            .persistent(false)
            .fetch_all(&self.db.read)
            .await
            .map_err(db_err)?;
        let next_page_token =
            (rows.len() as i64 == max_results + 1).then(|| encode_page_token(offset + max_results));
        let mut items = rows
            .iter()
            .take(max_results as usize)
            .map(model_version_from_row)
            .collect::<Result<Vec<_>>>()?;
        let mut names: Vec<String> = items.iter().map(|m| m.name.clone()).collect();
        names.sort();
        names.dedup();
        let tags = self.load_version_tags(&names).await?;
        for mv in items.iter_mut() {
            if let Some(t) = tags.get(&(mv.name.clone(), version_num(mv))) {
                mv.tags = t.clone();
            }
        }
        Ok(Page {
            items,
            next_page_token,
        })
    }

    pub(crate) async fn get_latest_versions_impl(
        &self,
        name: &str,
        stages: &[String],
    ) -> Result<Vec<ModelVersion>> {
        validate_model_name(name)?;
        let model = self.get_registered_model_impl(name).await?;
        let wanted: Vec<&str> = if stages.is_empty() {
            mlflow_domain::registry::ALL_STAGES.to_vec()
        } else {
            stages
                .iter()
                .map(|s| canonical_stage(s))
                .collect::<Result<_>>()?
        };
        let versions = self
            .load_live_versions(std::slice::from_ref(&model.name))
            .await?
            .remove(&model.name)
            .unwrap_or_default();
        let mut out: Vec<ModelVersion> = latest_per_stage(versions)
            .into_iter()
            .filter(|mv| wanted.contains(&mv.current_stage.as_deref().unwrap_or_default()))
            .collect();
        for mv in out.iter_mut() {
            let v = mv.version.clone();
            mv.aliases = model
                .aliases
                .iter()
                .filter(|a| a.version == v)
                .map(|a| a.alias.clone())
                .collect();
        }
        Ok(out)
    }

    pub(crate) async fn set_model_version_tag_impl(
        &self,
        name: &str,
        version: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<()> {
        validate_model_name(name)?;
        let v = parse_model_version(version)?;
        validate_model_version_tag(key, value)?;
        let mut tx = self.db.begin_write().await?;
        self.require_version(&mut tx, name, v).await?;
        self.set_tag_row(&mut tx, Some(v), name, key, value.unwrap_or_default())
            .await?;
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn delete_model_version_tag_impl(
        &self,
        name: &str,
        version: &str,
        key: &str,
    ) -> Result<()> {
        validate_model_name(name)?;
        let v = parse_model_version(version)?;
        validate_tag_name(key)?;
        let mut tx = self.db.begin_write().await?;
        self.require_version(&mut tx, name, v).await?;
        self.delete_tag_row(&mut tx, Some(v), name, key).await?;
        tx.commit().await.map_err(db_err)
    }

    /// Refuses to move or delete a protected alias unless overridden. `new_version` is the
    /// target of a move (`None` for a delete); re-pointing an alias at its current version and
    /// the first assignment of a protected alias are always allowed.
    async fn check_alias_protection(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        name: &str,
        alias: &str,
        new_version: Option<i64>,
        override_protection: bool,
    ) -> Result<()> {
        if override_protection {
            return Ok(());
        }
        let kc = self.db.key_col();
        let tag = format!("{PROTECTED_ALIAS_TAG_PREFIX}{alias}");
        let protected = sqlx::query(self.db.sql(&format!(
            "SELECT value FROM registered_model_tags WHERE workspace = ? AND name = ? AND {kc} = ?"
        )))
        .bind(WORKSPACE)
        .bind(name.to_string())
        .bind(tag.clone())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?
        .map(|r| r.str_at(0))
        .transpose()?
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if !protected {
            return Ok(());
        }
        let current = sqlx::query(self.db.sql(
            "SELECT version FROM registered_model_aliases WHERE workspace = ? AND name = ? AND alias = ?",
        ))
        .bind(WORKSPACE)
        .bind(name.to_string())
        .bind(alias.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?
        .map(|r| r.i64_at(0))
        .transpose()?;
        match (current, new_version) {
            (None, _) => Ok(()),
            (Some(cur), Some(new)) if cur == new => Ok(()),
            (Some(cur), _) => Err(Error::invalid(format!(
                "Alias '{alias}' of registered model '{name}' is protected (tag '{tag}' = 'true') \
                 and points at version {cur}; pass override_protection=true to {} it.",
                if new_version.is_some() {
                    "move"
                } else {
                    "delete"
                }
            ))),
        }
    }

    pub(crate) async fn set_alias_impl(
        &self,
        name: &str,
        alias: &str,
        version: &str,
        override_protection: bool,
    ) -> Result<()> {
        validate_model_name(name)?;
        validate_alias_name(alias)?;
        validate_alias_name_reserved(alias)?;
        let v = parse_model_version(version)?;
        let mut tx = self.db.begin_write().await?;
        self.require_version(&mut tx, name, v).await?;
        self.check_alias_protection(&mut tx, name, alias, Some(v), override_protection)
            .await?;
        let updated = sqlx::query(self.db.sql(
            "UPDATE registered_model_aliases SET version = ? WHERE workspace = ? AND name = ? AND alias = ?",
        ))
        .bind(v)
        .bind(WORKSPACE)
        .bind(name.to_string())
        .bind(alias.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if updated.rows_affected() == 0 {
            sqlx::query(self.db.sql(
                "INSERT INTO registered_model_aliases (workspace, name, alias, version) VALUES (?, ?, ?, ?)",
            ))
            .bind(WORKSPACE)
            .bind(name.to_string())
            .bind(alias.to_string())
            .bind(v)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn delete_alias_impl(
        &self,
        name: &str,
        alias: &str,
        override_protection: bool,
    ) -> Result<()> {
        validate_model_name(name)?;
        validate_alias_name(alias)?;
        let mut tx = self.db.begin_write().await?;
        self.require_registered_model(&mut tx, name, false).await?;
        self.check_alias_protection(&mut tx, name, alias, None, override_protection)
            .await?;
        sqlx::query(self.db.sql(
            "DELETE FROM registered_model_aliases WHERE workspace = ? AND name = ? AND alias = ?",
        ))
        .bind(WORKSPACE)
        .bind(name.to_string())
        .bind(alias.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn get_model_version_by_alias_impl(
        &self,
        name: &str,
        alias: &str,
    ) -> Result<ModelVersion> {
        validate_model_name(name)?;
        validate_alias_name(alias)?;
        if alias.eq_ignore_ascii_case("latest") {
            let versions = self.get_latest_versions_impl(name, &[]).await?;
            return versions.into_iter().max_by_key(version_num).ok_or_else(|| {
                Error::not_found(format!("Latest version not found for model {name}."))
            });
        }
        let model = self.get_registered_model_impl(name).await?;
        let Some(found) = model.aliases.iter().find(|a| a.alias == alias) else {
            return Err(Error::invalid(format!(
                "Registered model alias {alias} not found."
            )));
        };
        self.get_model_version_impl(name, &found.version).await
    }
}
