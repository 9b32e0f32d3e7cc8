//! The model registry (registered models, model versions, tags, aliases) and, through reserved
//! tags, the prompt registry, on MLflow's own registry tables.
//!
//! # Layout
//! - [`RegistryStore`]: the operations the HTTP layer needs; [`crate::SqlStore`] implements them.
//! - `models.rs`: registered models, their tags and aliases.
//! - `versions.rs`: model versions, their tags, stages, searches.
//! - `source.rs`: `CreateModelVersion` source validation and lineage resolution, as the
//!   official handler does it (`runs:/`, `models:/`, local paths, `mlflow-artifacts`).
//!
//! Every row lives in the `default` workspace (workspaces disabled, as the official server by
//! default). Version numbers are `max(version) + 1` over *all* rows of a model, deleted ones
//! included, computed inside a write transaction that holds the registered model's row lock
//! (`SELECT … FOR UPDATE` on PostgreSQL/MySQL; on SQLite the single-connection write pool and
//! `BEGIN IMMEDIATE` serialize writers), so concurrent creations never collide.

mod models;
mod source;
mod versions;

use crate::{Page, SqlStore};
use async_trait::async_trait;
use mlflow_domain::Result;
use mlflow_domain::registry::{ModelVersion, RegisteredModel};
use mlflow_domain::tracking::Tag;

/// The only workspace used while workspaces are disabled.
pub(crate) const WORKSPACE: &str = "default";

/// Arguments of `model-versions/create`. `None` means the field was absent from the request
/// (the official handler distinguishes `HasField` for `run_id` and `model_id`).
#[derive(Debug, Clone, Default)]
pub struct CreateModelVersion {
    pub name: String,
    pub source: String,
    pub run_id: Option<String>,
    pub tags: Vec<Tag>,
    pub run_link: Option<String>,
    pub description: Option<String>,
    pub model_id: Option<String>,
}

/// Everything the registry API needs from storage.
/// Registered-model tag prefix that protects an alias (our opt-in extension): with the tag
/// `mlflow-rs.protected_alias.<alias>` = `true` on a model, that alias cannot be moved to another
/// version or deleted unless the request sets `override_protection`. The official client never
/// sets such tags, so it never trips over this.
pub const PROTECTED_ALIAS_TAG_PREFIX: &str = "mlflow-rs.protected_alias.";

#[async_trait]
pub trait RegistryStore: Send + Sync + 'static {
    async fn create_registered_model(
        &self,
        name: &str,
        tags: &[Tag],
        description: Option<&str>,
    ) -> Result<RegisteredModel>;
    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel>;
    async fn update_registered_model(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<RegisteredModel>;
    async fn rename_registered_model(&self, name: &str, new_name: &str) -> Result<RegisteredModel>;
    async fn delete_registered_model(&self, name: &str) -> Result<()>;
    async fn search_registered_models(
        &self,
        filter: &str,
        max_results: i64,
        order_by: &[String],
        page_token: Option<&str>,
    ) -> Result<Page<RegisteredModel>>;
    async fn get_latest_versions(&self, name: &str, stages: &[String])
    -> Result<Vec<ModelVersion>>;
    async fn set_registered_model_tag(&self, name: &str, key: &str, value: &str) -> Result<()>;
    async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()>;

    async fn create_model_version(&self, req: CreateModelVersion) -> Result<ModelVersion>;
    async fn get_model_version(&self, name: &str, version: &str) -> Result<ModelVersion>;
    async fn update_model_version(
        &self,
        name: &str,
        version: &str,
        description: Option<&str>,
    ) -> Result<ModelVersion>;
    async fn transition_model_version_stage(
        &self,
        name: &str,
        version: &str,
        stage: &str,
        archive_existing_versions: bool,
    ) -> Result<ModelVersion>;
    async fn delete_model_version(&self, name: &str, version: &str) -> Result<()>;
    async fn get_model_version_download_uri(&self, name: &str, version: &str) -> Result<String>;
    async fn search_model_versions(
        &self,
        filter: &str,
        max_results: i64,
        order_by: &[String],
        page_token: Option<&str>,
    ) -> Result<Page<ModelVersion>>;
    async fn set_model_version_tag(
        &self,
        name: &str,
        version: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<()>;
    async fn delete_model_version_tag(&self, name: &str, version: &str, key: &str) -> Result<()>;

    /// Sets (or moves) an alias. A protected alias (see [`PROTECTED_ALIAS_TAG_PREFIX`]) that
    /// already points at another version moves only with `override_protection`.
    async fn set_registered_model_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
        override_protection: bool,
    ) -> Result<()>;
    /// Deletes an alias; a protected one only with `override_protection`.
    async fn delete_registered_model_alias(
        &self,
        name: &str,
        alias: &str,
        override_protection: bool,
    ) -> Result<()>;
    async fn get_model_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion>;
}

#[async_trait]
impl RegistryStore for SqlStore {
    async fn create_registered_model(
        &self,
        name: &str,
        tags: &[Tag],
        description: Option<&str>,
    ) -> Result<RegisteredModel> {
        self.create_registered_model_impl(name, tags, description)
            .await
    }
    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        self.get_registered_model_impl(name).await
    }
    async fn update_registered_model(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<RegisteredModel> {
        self.update_registered_model_impl(name, description).await
    }
    async fn rename_registered_model(&self, name: &str, new_name: &str) -> Result<RegisteredModel> {
        self.rename_registered_model_impl(name, new_name).await
    }
    async fn delete_registered_model(&self, name: &str) -> Result<()> {
        self.delete_registered_model_impl(name).await
    }
    async fn search_registered_models(
        &self,
        filter: &str,
        max_results: i64,
        order_by: &[String],
        page_token: Option<&str>,
    ) -> Result<Page<RegisteredModel>> {
        self.search_registered_models_impl(filter, max_results, order_by, page_token)
            .await
    }
    async fn get_latest_versions(
        &self,
        name: &str,
        stages: &[String],
    ) -> Result<Vec<ModelVersion>> {
        self.get_latest_versions_impl(name, stages).await
    }
    async fn set_registered_model_tag(&self, name: &str, key: &str, value: &str) -> Result<()> {
        self.set_registered_model_tag_impl(name, key, value).await
    }
    async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()> {
        self.delete_registered_model_tag_impl(name, key).await
    }
    async fn create_model_version(&self, req: CreateModelVersion) -> Result<ModelVersion> {
        self.create_model_version_impl(req).await
    }
    async fn get_model_version(&self, name: &str, version: &str) -> Result<ModelVersion> {
        self.get_model_version_impl(name, version).await
    }
    async fn update_model_version(
        &self,
        name: &str,
        version: &str,
        description: Option<&str>,
    ) -> Result<ModelVersion> {
        self.update_model_version_impl(name, version, description)
            .await
    }
    async fn transition_model_version_stage(
        &self,
        name: &str,
        version: &str,
        stage: &str,
        archive_existing_versions: bool,
    ) -> Result<ModelVersion> {
        self.transition_stage_impl(name, version, stage, archive_existing_versions)
            .await
    }
    async fn delete_model_version(&self, name: &str, version: &str) -> Result<()> {
        self.delete_model_version_impl(name, version).await
    }
    async fn get_model_version_download_uri(&self, name: &str, version: &str) -> Result<String> {
        self.get_download_uri_impl(name, version).await
    }
    async fn search_model_versions(
        &self,
        filter: &str,
        max_results: i64,
        order_by: &[String],
        page_token: Option<&str>,
    ) -> Result<Page<ModelVersion>> {
        self.search_model_versions_impl(filter, max_results, order_by, page_token)
            .await
    }
    async fn set_model_version_tag(
        &self,
        name: &str,
        version: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<()> {
        self.set_model_version_tag_impl(name, version, key, value)
            .await
    }
    async fn delete_model_version_tag(&self, name: &str, version: &str, key: &str) -> Result<()> {
        self.delete_model_version_tag_impl(name, version, key).await
    }
    async fn set_registered_model_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
        override_protection: bool,
    ) -> Result<()> {
        self.set_alias_impl(name, alias, version, override_protection)
            .await
    }
    async fn delete_registered_model_alias(
        &self,
        name: &str,
        alias: &str,
        override_protection: bool,
    ) -> Result<()> {
        self.delete_alias_impl(name, alias, override_protection)
            .await
    }
    async fn get_model_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        self.get_model_version_by_alias_impl(name, alias).await
    }
}
