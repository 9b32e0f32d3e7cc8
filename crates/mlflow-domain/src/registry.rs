//! Model-registry entities (registered models, model versions, aliases) in their wire shape,
//! the prompt-registry tag names, and the registry's request validation with the official
//! messages (`mlflow/utils/validation.py`, `model_registry/sqlalchemy_store.py`).
//!
//! Presence follows `RegisteredModel.to_proto` / `ModelVersion.to_proto`: a registered model
//! omits an empty description and a zero/absent `last_updated_timestamp`; a model version writes
//! every field that is not NULL in the database (so an empty description is `""`).

use crate::tracking::Tag;
use crate::validation::{
    exceeds_maximum_length, invalid_value, posix_normpath, py_json_str, py_repr,
    validate_experiment_tag,
};
use crate::{Error, Result};
use serde::Serialize;

fn is_empty<T>(v: &[T]) -> bool {
    v.is_empty()
}

/// Tag marking a registered model / model version as a prompt.
pub const IS_PROMPT_TAG_KEY: &str = "mlflow.prompt.is_prompt";
/// Model-version tag holding the prompt template.
pub const PROMPT_TEXT_TAG_KEY: &str = "mlflow.prompt.text";
/// Model-version tag holding `text` or `chat`.
pub const PROMPT_TYPE_TAG_KEY: &str = "_mlflow_prompt_type";
/// The only `source` values a prompt version may carry.
pub const PROMPT_SOURCE_PLACEHOLDERS: [&str; 2] = ["dummy-source", "prompt-template"];

pub const MAX_MODEL_REGISTRY_TAG_KEY_LENGTH: usize = 250;
pub const MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH: usize = 100_000;
pub const MAX_REGISTERED_MODEL_ALIAS_LENGTH: usize = 255;
/// `registered-models/search` max_results: default and maximum.
pub const SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT: i64 = 100;
pub const SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD: i64 = 1000;
/// `model-versions/search` max_results: proto default and maximum.
pub const SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT: i64 = 200_000;
pub const SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD: i64 = 200_000;

/// Model-version stages, canonical spelling.
pub const STAGE_NONE: &str = "None";
pub const STAGE_STAGING: &str = "Staging";
pub const STAGE_PRODUCTION: &str = "Production";
pub const STAGE_ARCHIVED: &str = "Archived";
/// Soft-deleted versions keep their row (and number) with this stage.
pub const STAGE_DELETED_INTERNAL: &str = "Deleted_Internal";
pub const ALL_STAGES: [&str; 4] = [STAGE_NONE, STAGE_STAGING, STAGE_PRODUCTION, STAGE_ARCHIVED];

/// `get_canonical_stage`: case-insensitive match of a stage name.
pub fn canonical_stage(stage: &str) -> Result<&'static str> {
    ALL_STAGES
        .iter()
        .find(|s| s.eq_ignore_ascii_case(stage))
        .copied()
        .ok_or_else(|| {
            Error::invalid(format!(
                "Invalid Model Version stage: {stage}. Value must be one of {}.",
                ALL_STAGES.join(", ")
            ))
        })
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RegisteredModelAlias {
    pub alias: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelVersion {
    pub name: String,
    pub version: String,
    pub creation_timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_stage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(skip_serializing_if = "is_empty")]
    pub tags: Vec<Tag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_link: Option<String>,
    #[serde(skip_serializing_if = "is_empty")]
    pub aliases: Vec<String>,
}

impl ModelVersion {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RegisteredModel {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "is_empty")]
    pub latest_versions: Vec<ModelVersion>,
    #[serde(skip_serializing_if = "is_empty")]
    pub tags: Vec<Tag>,
    #[serde(skip_serializing_if = "is_empty")]
    pub aliases: Vec<RegisteredModelAlias>,
}

impl RegisteredModel {
    /// `RegisteredModel._is_prompt()`: the `mlflow.prompt.is_prompt` tag is `"true"`.
    pub fn is_prompt(&self) -> bool {
        has_prompt_tag(&self.tags)
    }
}

/// `has_prompt_tag`: a `mlflow.prompt.is_prompt` tag with value `true` (case-insensitive).
pub fn has_prompt_tag(tags: &[Tag]) -> bool {
    tags.iter()
        .rev()
        .find(|t| t.key == IS_PROMPT_TAG_KEY)
        .is_some_and(|t| t.value.eq_ignore_ascii_case("true"))
}

/// `_validate_model_name`.
pub fn validate_model_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid(
            "Missing value for required parameter 'name'.",
        ));
    }
    if name.contains('/') || name.contains(':') {
        return Err(Error::invalid(format!(
            "Invalid model name '{name}'. Names cannot contain '/' or ':'."
        )));
    }
    let norm = posix_normpath(name);
    if norm != name || norm == "." || norm.starts_with("..") || norm.starts_with('/') {
        return Err(invalid_value(
            "name",
            &py_json_str(name),
            Some(&format!(
                "Names may be treated as files in certain cases, and must not resolve to other \
                 names when treated as such. This name would resolve to {}",
                py_repr(&norm)
            )),
        ));
    }
    Ok(())
}

/// `_validate_model_renaming`.
pub fn validate_model_renaming(new_name: &str) -> Result<()> {
    if new_name.trim().is_empty() {
        return Err(Error::invalid(
            "Missing value for required parameter 'new_name'.",
        ));
    }
    validate_model_name(new_name)
}

/// `_validate_model_version`: the version must be an integer.
pub fn parse_model_version(version: &str) -> Result<i64> {
    version.trim().parse::<i64>().map_err(|_| {
        Error::invalid(format!(
            "Parameter 'version' must be an integer, got '{version}'."
        ))
    })
}

/// `_validate_registered_model_tag`.
pub fn validate_registered_model_tag(key: &str, value: &str) -> Result<()> {
    validate_experiment_tag(key, "")?;
    if value.chars().count() > MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH {
        return Err(exceeds_maximum_length(
            "value",
            MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH,
        ));
    }
    Ok(())
}

/// `_validate_model_version_tag`.
pub fn validate_model_version_tag(key: &str, value: Option<&str>) -> Result<()> {
    validate_experiment_tag(key, "")?;
    let Some(value) = value else {
        return Err(Error::invalid("Tag value cannot be None"));
    };
    let len = value.chars().count();
    if key == PROMPT_TEXT_TAG_KEY && len > MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH {
        return Err(Error::invalid(format!(
            "Prompt text exceeds max length of {MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH} characters."
        )));
    }
    if len > MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH {
        return Err(exceeds_maximum_length(
            "value",
            MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH,
        ));
    }
    Ok(())
}

/// `_validate_tag_name` for tag deletion.
pub fn validate_tag_name(key: &str) -> Result<()> {
    validate_experiment_tag(key, "")
}

/// `_validate_model_alias_name`.
pub fn validate_alias_name(alias: &str) -> Result<()> {
    if alias.is_empty() {
        return Err(Error::invalid(
            "Registered model alias name cannot be empty.",
        ));
    }
    if !alias
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return Err(Error::invalid(format!(
            "Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores (_), \
             and dashes (-)."
        )));
    }
    if alias.chars().count() > MAX_REGISTERED_MODEL_ALIAS_LENGTH {
        return Err(exceeds_maximum_length(
            "Registered model alias name",
            MAX_REGISTERED_MODEL_ALIAS_LENGTH,
        ));
    }
    Ok(())
}

/// `_validate_model_alias_name_reserved`: `latest` and `v<digits>` are reserved.
pub fn validate_alias_name_reserved(alias: &str) -> Result<()> {
    if alias.eq_ignore_ascii_case("latest") {
        return Err(Error::invalid(
            "'latest' alias name (case insensitive) is reserved.",
        ));
    }
    let mut chars = alias.chars();
    if matches!(chars.next(), Some('v' | 'V'))
        && alias.len() > 1
        && chars.all(|c| c.is_ascii_digit())
    {
        return Err(Error::invalid(format!(
            "Version alias name '{alias}' is reserved."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_model_name("ok-name_1.2 x").is_ok());
        assert!(validate_model_name("").is_err());
        assert!(validate_model_name("a/b").is_err());
        assert!(validate_model_name("a:b").is_err());
        assert!(validate_model_name("..").is_err());
        assert!(validate_model_name("a/./b").is_err());
    }

    #[test]
    fn aliases() {
        assert!(validate_alias_name("champion-1_x").is_ok());
        assert!(validate_alias_name("bad alias").is_err());
        assert!(validate_alias_name("").is_err());
        assert!(validate_alias_name_reserved("Latest").is_err());
        assert!(validate_alias_name_reserved("v12").is_err());
        assert!(validate_alias_name_reserved("v").is_ok());
        assert!(validate_alias_name_reserved("v1a").is_ok());
    }

    #[test]
    fn stages() {
        assert_eq!(canonical_stage("production").unwrap(), "Production");
        assert_eq!(canonical_stage("none").unwrap(), "None");
        assert!(canonical_stage("bogus").is_err());
    }

    #[test]
    fn prompt_tag() {
        let t = |k: &str, v: &str| Tag {
            key: k.into(),
            value: v.into(),
        };
        assert!(has_prompt_tag(&[t(IS_PROMPT_TAG_KEY, "TRUE")]));
        assert!(!has_prompt_tag(&[t(IS_PROMPT_TAG_KEY, "false")]));
        assert!(!has_prompt_tag(&[]));
    }
}
