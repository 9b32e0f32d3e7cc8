//! `registered-models/search` and `model-versions/search`: identifier resolution, validation
//! and SQL (`SearchModelUtils`, `SearchModelVersionUtils` and the SQL store's
//! `_get_search_registered_model_filter_query` / `_get_search_model_versions_filter_clauses`).
//!
//! Grammar: `clause AND clause ...` only (OR is rejected as the official parser does).
//! Attributes: registered models `name`; model versions `name`, `run_id`, `source_path`,
//! `version_number`. Tags (`tag.`/`tags.`) support `= != LIKE ILIKE`.
//!
//! **Prompts.** Prompts are registered models carrying the tag `mlflow.prompt.is_prompt=true`.
//! Unless the first `mlflow.prompt.is_prompt` clause asks for prompts (`= 'true'` or
//! `!= 'false'`, value case-insensitive), every clause on that tag is dropped and prompts are
//! excluded with an anti-join, as the official store does.
//!
//! SQL shape: each tag key is one correlated `EXISTS` holding all conditions on that key (the
//! official GROUP BY/HAVING over `(key, name)` rows is equivalent since the key is part of the
//! tag primary key). Every user value is bound.

use crate::SearchError;
use crate::ast::{CompOp, Comparison, Expr, Ident, Value};
use crate::common::{Number, not_quoted, number, py_float_str, py_list_repr, string_list};
use crate::parser::{parse_filter, parse_order_by};
use crate::sql::{Dialect, SqlBuilder, SqlQuery, SqlValue, StrOperand};

/// The prompt marker tag.
pub const IS_PROMPT_TAG_KEY: &str = "mlflow.prompt.is_prompt";

/// A registry search error: user errors are `INVALID_PARAMETER_VALUE`; the official store
/// raises a few with the default code `INTERNAL_ERROR` (`internal = true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySearchError {
    pub message: String,
    pub internal: bool,
}

impl From<SearchError> for RegistrySearchError {
    fn from(e: SearchError) -> Self {
        Self {
            message: e.message,
            internal: false,
        }
    }
}

fn invalid(message: impl Into<String>) -> RegistrySearchError {
    RegistrySearchError {
        message: message.into(),
        internal: false,
    }
}

/// Which registry table is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryEntity {
    RegisteredModels,
    ModelVersions,
}

impl RegistryEntity {
    fn table(self) -> &'static str {
        match self {
            RegistryEntity::RegisteredModels => "registered_models",
            RegistryEntity::ModelVersions => "model_versions",
        }
    }
    fn tag_table(self) -> &'static str {
        match self {
            RegistryEntity::RegisteredModels => "registered_model_tags",
            RegistryEntity::ModelVersions => "model_version_tags",
        }
    }
    /// Python's repr of `VALID_SEARCH_ATTRIBUTE_KEYS` (set order as a 3.17.2 server printed it).
    fn search_keys_repr(self) -> &'static str {
        match self {
            RegistryEntity::RegisteredModels => "{'name'}",
            RegistryEntity::ModelVersions => "{'version_number', 'name', 'run_id', 'source_path'}",
        }
    }
    fn list_keys(self) -> &'static [&'static str] {
        match self {
            RegistryEntity::RegisteredModels => &["name"],
            RegistryEntity::ModelVersions => &["name", "run_id"],
        }
    }
}

const MV_NUMERIC_ATTRIBUTES_REPR: &str =
    "{'last_updated_timestamp', 'version_number', 'creation_timestamp'}";
const MV_ORDER_KEYS_REPR: &str =
    "{'last_updated_timestamp', 'version_number', 'name', 'creation_timestamp'}";
const RM_ORDER_KEYS_REPR: &str = "{'timestamp', 'name'}";

/// A searchable registry attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryAttribute {
    Name,
    RunId,
    SourcePath,
    VersionNumber,
}

impl RegistryAttribute {
    fn from_key(entity: RegistryEntity, key: &str) -> Option<Self> {
        match (entity, key) {
            (_, "name") => Some(Self::Name),
            (RegistryEntity::ModelVersions, "run_id") => Some(Self::RunId),
            (RegistryEntity::ModelVersions, "source_path") => Some(Self::SourcePath),
            (RegistryEntity::ModelVersions, "version_number") => Some(Self::VersionNumber),
            _ => None,
        }
    }
    fn key(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::RunId => "run_id",
            Self::SourcePath => "source_path",
            Self::VersionNumber => "version_number",
        }
    }
    fn column(self, entity: RegistryEntity) -> &'static str {
        match (entity, self) {
            (RegistryEntity::RegisteredModels, _) => "registered_models.name",
            (_, Self::Name) => "model_versions.name",
            (_, Self::RunId) => "model_versions.run_id",
            (_, Self::SourcePath) => "model_versions.source",
            (_, Self::VersionNumber) => "model_versions.version",
        }
    }
}

/// A validated filter clause.
#[derive(Debug, Clone, PartialEq)]
pub enum RegistryClause {
    Text {
        attribute: RegistryAttribute,
        op: CompOp,
        value: String,
    },
    List {
        attribute: RegistryAttribute,
        op: CompOp,
        values: Vec<String>,
    },
    Int {
        attribute: RegistryAttribute,
        op: CompOp,
        value: i64,
    },
    Tag {
        key: String,
        op: CompOp,
        value: String,
    },
}

/// A value after `_get_value`.
enum Typed {
    Str(String),
    List(Vec<String>),
    Int(i64),
    Float(f64),
}

fn resolve_ident(
    entity: RegistryEntity,
    ident: &Ident,
) -> Result<Option<RegistryAttribute>, RegistrySearchError> {
    let is_tag = match ident.entity.as_deref() {
        None | Some("attribute") => false,
        Some("tag" | "tags") => true,
        Some(other) => {
            return Err(invalid(format!(
                "Invalid entity type '{other}'. Valid entity types are ('attribute', 'tag', 'tags')"
            )));
        }
    };
    if is_tag {
        return Ok(None);
    }
    RegistryAttribute::from_key(entity, &ident.key)
        .map(Some)
        .ok_or_else(|| {
            invalid(format!(
                "Invalid attribute key '{}' specified. Valid keys are '{}'",
                ident.key,
                entity.search_keys_repr()
            ))
        })
}

/// `_get_value` of the two utils classes.
fn type_value(
    entity: RegistryEntity,
    attribute: Option<RegistryAttribute>,
    key: &str,
    value: &Value,
) -> Result<Typed, RegistrySearchError> {
    match (attribute, value) {
        (_, Value::Str { value, .. }) => Ok(Typed::Str(value.clone())),
        (_, Value::Bare { raw }) => Err(not_quoted(raw).into()),
        (None, other) => Err(invalid(format!(
            "Expected a quoted string value for tag (e.g. 'my-value'). Got value {}",
            other.raw()
        ))),
        (Some(_), Value::List { .. }) => {
            if !entity.list_keys().contains(&key) {
                let keys: Vec<String> = entity.list_keys().iter().map(|s| s.to_string()).collect();
                return Err(invalid(format!(
                    "Only {} attributes support comparison with a list of quoted string values.",
                    py_list_repr(&keys)
                )));
            }
            Ok(Typed::List(string_list(value)?))
        }
        (Some(_), Value::Num { raw, is_int }) if entity == RegistryEntity::ModelVersions => {
            if key != "version_number" {
                return Err(invalid(format!(
                    "Only the '{MV_NUMERIC_ATTRIBUTES_REPR}' attributes support comparison with numeric values."
                )));
            }
            Ok(match number(raw, *is_int) {
                Number::Int(i) => Typed::Int(i),
                Number::Float(f) => Typed::Float(f),
            })
        }
        (Some(_), other) => Err(invalid(format!(
            "Expected a quoted string value or a list of quoted string values for attributes. Got value {}",
            other.raw()
        ))),
    }
}

fn py_str_repr(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// Identifier and value typing (the utils class), then the store's operator checks.
fn resolve_comparison(
    entity: RegistryEntity,
    c: &Comparison,
) -> Result<RegistryClause, RegistrySearchError> {
    use CompOp::*;
    let attribute = resolve_ident(entity, &c.ident)?;
    let key = c.ident.key.as_str();
    if c.op.is_null_test() {
        let what = if attribute.is_some() {
            "attribute"
        } else {
            "tag"
        };
        return Err(invalid(format!(
            "Invalid comparator for {what}: {}",
            c.op.symbol()
        )));
    }
    let typed = type_value(entity, attribute, key, &c.value)?;
    let op = c.op;
    let sym = op.symbol();
    let Some(attribute) = attribute else {
        if !matches!(op, Eq | Ne | Like | ILike) {
            return Err(invalid(format!("Invalid comparator for tag: {sym}")));
        }
        let Typed::Str(value) = typed else {
            return Err(invalid(format!("Invalid comparator for tag: {sym}")));
        };
        return Ok(RegistryClause::Tag {
            key: key.to_string(),
            op,
            value,
        });
    };
    if attribute == RegistryAttribute::VersionNumber {
        if !matches!(op, Eq | Ne | Lt | Le | Gt | Ge) {
            return Err(invalid(format!(
                "Invalid comparator for attribute {key}: {sym}"
            )));
        }
        let value = match typed {
            Typed::Int(i) => i,
            Typed::Float(f) => {
                return Err(invalid(format!(
                    "Invalid value for numeric attribute '{key}': {}",
                    py_float_str(f)
                )));
            }
            Typed::Str(s) => s.trim().parse::<i64>().map_err(|_| {
                invalid(format!(
                    "Invalid value for numeric attribute '{key}': {}",
                    py_str_repr(&s)
                ))
            })?,
            Typed::List(_) => {
                return Err(invalid(format!(
                    "Invalid comparator for attribute {key}: {sym}"
                )));
            }
        };
        return Ok(RegistryClause::Int {
            attribute,
            op,
            value,
        });
    }
    let list_ok = entity.list_keys().contains(&attribute.key());
    match (op, typed) {
        (Eq | Ne | Like | ILike, Typed::Str(value)) => Ok(RegistryClause::Text {
            attribute,
            op,
            value,
        }),
        (In | NotIn, Typed::List(values)) if list_ok => Ok(RegistryClause::List {
            attribute,
            op,
            values,
        }),
        _ => Err(invalid(format!("Invalid comparator for attribute: {sym}"))),
    }
}

/// A parsed registry filter: an AND-list of clauses plus the prompt decision.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryFilter {
    pub clauses: Vec<RegistryClause>,
    /// True when the filter asks for prompts (`_is_querying_prompt`).
    pub querying_prompts: bool,
}

fn flatten<'a>(e: &'a Expr, out: &mut Vec<&'a Comparison>) -> Result<(), RegistrySearchError> {
    match e {
        Expr::Cmp(c) => out.push(c),
        Expr::And(xs) => {
            for x in xs {
                flatten(x, out)?;
            }
        }
        Expr::Or(_) => return Err(invalid("Invalid clause(s) in filter string: OR")),
    }
    Ok(())
}

/// Parses and validates a registered-model or model-version filter.
pub fn parse_registry_filter(
    entity: RegistryEntity,
    filter: &str,
) -> Result<RegistryFilter, RegistrySearchError> {
    let expr = parse_filter(filter).map_err(|e| invalid(e.plain_message()))?;
    let mut comparisons = Vec::new();
    if let Some(e) = &expr {
        flatten(e, &mut comparisons)?;
    }
    let clauses = comparisons
        .into_iter()
        .map(|c| resolve_comparison(entity, c))
        .collect::<Result<Vec<_>, _>>()?;
    let querying_prompts = clauses
        .iter()
        .find_map(|c| match c {
            RegistryClause::Tag { key, op, value } if key == IS_PROMPT_TAG_KEY => Some(
                (*op == CompOp::Eq && value.eq_ignore_ascii_case("true"))
                    || (*op == CompOp::Ne && value.eq_ignore_ascii_case("false")),
            ),
            _ => None,
        })
        .unwrap_or(false);
    Ok(RegistryFilter {
        clauses,
        querying_prompts,
    })
}

/// An ORDER BY term: a fixed column and a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryOrderBy {
    pub column: &'static str,
    pub ascending: bool,
}

fn duplicate(order_by: &[String]) -> RegistrySearchError {
    RegistrySearchError {
        message: format!(
            "`order_by` contains duplicate fields: {}",
            py_list_repr(order_by)
        ),
        internal: true,
    }
}

/// `_parse_search_registered_models_order_by`: `name`, `timestamp`/`last_updated_timestamp`
/// (both sort by `last_updated_time`), `name ASC` appended unless present.
pub fn parse_registered_models_order_by(
    order_by: &[String],
) -> Result<Vec<RegistryOrderBy>, RegistrySearchError> {
    let mut out: Vec<RegistryOrderBy> = Vec::new();
    for entry in order_by {
        let term = parse_order_by(entry).map_err(invalid)?;
        let token = if term.ident.entity.is_some() {
            term.ident.raw.as_str()
        } else {
            term.ident.key.as_str()
        };
        let column = match token {
            "name" => "registered_models.name",
            "timestamp" | "last_updated_timestamp" => "registered_models.last_updated_time",
            other => {
                return Err(invalid(format!(
                    "Invalid order by key '{other}' specified. Valid keys are '{RM_ORDER_KEYS_REPR}'"
                )));
            }
        };
        if out.iter().any(|o| o.column == column) {
            return Err(duplicate(order_by));
        }
        out.push(RegistryOrderBy {
            column,
            ascending: term.ascending,
        });
    }
    if !out.iter().any(|o| o.column == "registered_models.name") {
        out.push(RegistryOrderBy {
            column: "registered_models.name",
            ascending: true,
        });
    }
    Ok(out)
}

/// `_parse_search_model_versions_order_by`; an empty list means the official default
/// `last_updated_timestamp DESC, name ASC, version_number DESC`.
pub fn parse_model_versions_order_by(
    order_by: &[String],
) -> Result<Vec<RegistryOrderBy>, RegistrySearchError> {
    let defaults: Vec<String>;
    let order_by = if order_by.is_empty() {
        defaults = vec![
            "last_updated_timestamp DESC".into(),
            "name ASC".into(),
            "version_number DESC".into(),
        ];
        &defaults[..]
    } else {
        order_by
    };
    let mut out: Vec<RegistryOrderBy> = Vec::new();
    for entry in order_by {
        let term = parse_order_by(entry).map_err(invalid)?;
        let is_tag = match term.ident.entity.as_deref() {
            None | Some("attribute") => false,
            Some("tag" | "tags") => true,
            Some(other) => {
                return Err(invalid(format!(
                    "Invalid entity type '{other}'. Valid entity types are ('attribute', 'tag', 'tags')"
                )));
            }
        };
        let key = term.ident.key.as_str();
        let column = match key {
            "name" => Some("model_versions.name"),
            "version_number" => Some("model_versions.version"),
            "creation_timestamp" => Some("model_versions.creation_time"),
            "last_updated_timestamp" => Some("model_versions.last_updated_time"),
            _ => None,
        };
        let column = match (is_tag, column) {
            (false, Some(c)) => c,
            (false, None) => {
                return Err(invalid(format!(
                    "Invalid attribute key '{key}' specified. Valid keys are '{MV_ORDER_KEYS_REPR}'"
                )));
            }
            (true, _) => {
                return Err(invalid(format!(
                    "Invalid order by key '{key}' specified. Valid keys are {MV_ORDER_KEYS_REPR}"
                )));
            }
        };
        if out.iter().any(|o| o.column == column) {
            return Err(duplicate(order_by));
        }
        out.push(RegistryOrderBy {
            column,
            ascending: term.ascending,
        });
    }
    for (column, ascending) in [
        ("model_versions.name", true),
        ("model_versions.version", false),
    ] {
        if !out.iter().any(|o| o.column == column) {
            out.push(RegistryOrderBy { column, ascending });
        }
    }
    Ok(out)
}

/// Columns selected by [`search_registered_models_query`], in this order.
pub const REGISTERED_MODEL_COLUMNS: &str = "registered_models.name, registered_models.creation_time, \
     registered_models.last_updated_time, registered_models.description";

/// Columns selected by [`search_model_versions_query`], in this order.
pub const MODEL_VERSION_COLUMNS: &str = "model_versions.name, model_versions.version, \
     model_versions.creation_time, model_versions.last_updated_time, model_versions.description, \
     model_versions.user_id, model_versions.current_stage, model_versions.source, \
     model_versions.run_id, model_versions.status, model_versions.status_message, \
     model_versions.run_link";

/// `SELECT <REGISTERED_MODEL_COLUMNS> FROM registered_models WHERE workspace = ? AND … ORDER BY
/// … LIMIT ? OFFSET ?`.
pub fn search_registered_models_query(
    dialect: Dialect,
    workspace: &str,
    filter: &str,
    order_by: &[String],
    limit: i64,
    offset: i64,
) -> Result<SqlQuery, RegistrySearchError> {
    let filter = parse_registry_filter(RegistryEntity::RegisteredModels, filter)?;
    let order = parse_registered_models_order_by(order_by)?;
    Ok(build(
        dialect,
        RegistryEntity::RegisteredModels,
        workspace,
        &filter,
        &order,
        limit,
        offset,
    ))
}

/// `SELECT <MODEL_VERSION_COLUMNS> FROM model_versions WHERE workspace = ?
/// AND current_stage != 'Deleted_Internal' AND … ORDER BY … LIMIT ? OFFSET ?`.
pub fn search_model_versions_query(
    dialect: Dialect,
    workspace: &str,
    filter: &str,
    order_by: &[String],
    limit: i64,
    offset: i64,
) -> Result<SqlQuery, RegistrySearchError> {
    let filter = parse_registry_filter(RegistryEntity::ModelVersions, filter)?;
    let order = parse_model_versions_order_by(order_by)?;
    Ok(build(
        dialect,
        RegistryEntity::ModelVersions,
        workspace,
        &filter,
        &order,
        limit,
        offset,
    ))
}

fn tag_exists(b: &mut SqlBuilder, entity: RegistryEntity, key: &str, conds: &[(CompOp, &str)]) {
    let t = entity.table();
    b.push("EXISTS (SELECT 1 FROM ")
        .push(entity.tag_table())
        .push(" rt WHERE rt.workspace = ")
        .push(t)
        .push(".workspace AND rt.name = ")
        .push(t)
        .push(".name");
    if entity == RegistryEntity::ModelVersions {
        b.push(" AND rt.version = model_versions.version");
    }
    b.push(" AND ");
    b.key_equals("rt", key);
    for (op, value) in conds {
        b.push(" AND ");
        b.string_comparison("rt.value", *op, &StrOperand::One(value));
    }
    b.push(")");
}

fn build(
    dialect: Dialect,
    entity: RegistryEntity,
    workspace: &str,
    filter: &RegistryFilter,
    order: &[RegistryOrderBy],
    limit: i64,
    offset: i64,
) -> SqlQuery {
    let t = entity.table();
    let mut b = SqlBuilder::new(dialect);
    b.push("SELECT ").push(match entity {
        RegistryEntity::RegisteredModels => REGISTERED_MODEL_COLUMNS,
        RegistryEntity::ModelVersions => MODEL_VERSION_COLUMNS,
    });
    b.push(" FROM ")
        .push(t)
        .push(" WHERE ")
        .push(t)
        .push(".workspace = ");
    b.bind_text(workspace);
    if entity == RegistryEntity::ModelVersions {
        b.push(" AND model_versions.current_stage != 'Deleted_Internal'");
    }
    // Tag conditions grouped by key, in first-seen order.
    let mut tag_groups: Vec<(&str, Vec<(CompOp, &str)>)> = Vec::new();
    for c in &filter.clauses {
        match c {
            RegistryClause::Text {
                attribute,
                op,
                value,
            } => {
                b.push(" AND ");
                b.string_comparison(attribute.column(entity), *op, &StrOperand::One(value));
            }
            RegistryClause::List {
                attribute,
                op,
                values,
            } => {
                b.push(" AND ");
                b.string_comparison(attribute.column(entity), *op, &StrOperand::List(values));
            }
            RegistryClause::Int {
                attribute,
                op,
                value,
            } => {
                b.push(" AND ");
                b.numeric_comparison(attribute.column(entity), *op, SqlValue::Int(*value));
            }
            RegistryClause::Tag { key, op, value } => {
                if !filter.querying_prompts && key == IS_PROMPT_TAG_KEY {
                    continue;
                }
                match tag_groups.iter_mut().find(|(k, _)| k == key) {
                    Some((_, conds)) => conds.push((*op, value)),
                    None => tag_groups.push((key, vec![(*op, value)])),
                }
            }
        }
    }
    for (key, conds) in &tag_groups {
        b.push(" AND ");
        tag_exists(&mut b, entity, key, conds);
    }
    if !filter.querying_prompts {
        // Anti-join on the prompt marker; for versions the official subquery reads the
        // *version* tags and joins on the model name only.
        b.push(" AND NOT EXISTS (SELECT 1 FROM ")
            .push(entity.tag_table())
            .push(" pt WHERE pt.workspace = ")
            .push(t)
            .push(".workspace AND pt.name = ")
            .push(t)
            .push(".name AND ");
        b.key_equals("pt", IS_PROMPT_TAG_KEY);
        b.push(" AND ");
        b.string_comparison("pt.value", CompOp::Eq, &StrOperand::One("true"));
        b.push(")");
    }
    b.push(" ORDER BY ");
    for (i, o) in order.iter().enumerate() {
        if i > 0 {
            b.push(", ");
        }
        b.push(o.column)
            .push(if o.ascending { " ASC" } else { " DESC" });
    }
    b.push(" LIMIT ").bind(SqlValue::Int(limit));
    b.push(" OFFSET ").bind(SqlValue::Int(offset));
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rm_err(filter: &str) -> String {
        search_registered_models_query(Dialect::Sqlite, "default", filter, &[], 10, 0)
            .unwrap_err()
            .message
    }

    fn mv_err(filter: &str) -> String {
        search_model_versions_query(Dialect::Sqlite, "default", filter, &[], 10, 0)
            .unwrap_err()
            .message
    }

    #[test]
    fn registered_model_filters() {
        let q = search_registered_models_query(
            Dialect::Sqlite,
            "default",
            "name LIKE 'a%' AND tags.t = 'x' AND tags.t != 'y'",
            &[],
            10,
            0,
        )
        .unwrap();
        assert!(q.sql.contains("registered_models.name GLOB ?"));
        assert_eq!(
            q.sql
                .matches("EXISTS (SELECT 1 FROM registered_model_tags rt")
                .count(),
            1
        );
        assert!(
            q.sql
                .contains("NOT EXISTS (SELECT 1 FROM registered_model_tags pt")
        );
        assert!(
            q.sql
                .ends_with("ORDER BY registered_models.name ASC LIMIT ? OFFSET ?")
        );
        // workspace, glob, key, 2 values, prompt key, 'true', limit, offset
        assert_eq!(q.binds.len(), 9);
        assert_eq!(q.binds[0], SqlValue::Text("default".into()));
    }

    #[test]
    fn prompt_filters() {
        let f = parse_registry_filter(
            RegistryEntity::RegisteredModels,
            "tags.`mlflow.prompt.is_prompt` = 'TRUE'",
        )
        .unwrap();
        assert!(f.querying_prompts);
        let f = parse_registry_filter(
            RegistryEntity::ModelVersions,
            "name = 'x' AND tag.`mlflow.prompt.is_prompt` != 'false'",
        )
        .unwrap();
        assert!(f.querying_prompts);
        let f = parse_registry_filter(
            RegistryEntity::RegisteredModels,
            "tags.`mlflow.prompt.is_prompt` = 'false'",
        )
        .unwrap();
        assert!(!f.querying_prompts);
        let q = search_registered_models_query(
            Dialect::Postgres,
            "default",
            "tags.`mlflow.prompt.is_prompt` = 'true'",
            &[],
            10,
            0,
        )
        .unwrap();
        assert!(!q.sql.contains("NOT EXISTS"));
        assert!(
            q.sql
                .contains("EXISTS (SELECT 1 FROM registered_model_tags rt")
        );
        let q = search_registered_models_query(
            Dialect::Sqlite,
            "default",
            "tags.`mlflow.prompt.is_prompt` = 'false'",
            &[],
            10,
            0,
        )
        .unwrap();
        assert!(!q.sql.contains("rt."));
        assert!(q.sql.contains("NOT EXISTS"));
    }

    #[test]
    fn model_version_filters() {
        let q = search_model_versions_query(
            Dialect::Postgres,
            "default",
            "name IN ('a','b') AND version_number >= 2 AND run_id = 'r' AND source_path LIKE 's3%'",
            &[],
            10,
            0,
        )
        .unwrap();
        assert!(q.sql.contains("(model_versions.name IN (?, ?))"));
        assert!(q.sql.contains("model_versions.version >= ?"));
        assert!(q.sql.contains("model_versions.source LIKE ?"));
        assert!(q.sql.contains("current_stage != 'Deleted_Internal'"));
        assert!(q.sql.contains(
            "ORDER BY model_versions.last_updated_time DESC, model_versions.name ASC, model_versions.version DESC"
        ));
        assert!(
            search_model_versions_query(
                Dialect::Sqlite,
                "default",
                "version_number = '3'",
                &[],
                1,
                0
            )
            .is_ok()
        );
    }

    #[test]
    fn official_messages() {
        assert_eq!(
            rm_err("creation_timestamp > 1"),
            "Invalid attribute key 'creation_timestamp' specified. Valid keys are '{'name'}'"
        );
        assert_eq!(
            rm_err("name = 'a' OR name = 'b'"),
            "Invalid clause(s) in filter string: OR"
        );
        assert_eq!(
            rm_err("name = 5"),
            "Expected a quoted string value or a list of quoted string values for attributes. Got value 5"
        );
        assert_eq!(
            rm_err("tags.t = 5"),
            "Expected a quoted string value for tag (e.g. 'my-value'). Got value 5"
        );
        assert_eq!(rm_err("name > 'a'"), "Invalid comparator for attribute: >");
        assert_eq!(rm_err("tags.t > 'a'"), "Invalid comparator for tag: >");
        assert_eq!(
            rm_err("foo.x = 'a'"),
            "Invalid entity type 'foo'. Valid entity types are ('attribute', 'tag', 'tags')"
        );
        assert_eq!(
            mv_err("run_id = 5"),
            "Only the '{'last_updated_timestamp', 'version_number', 'creation_timestamp'}' attributes support comparison with numeric values."
        );
        assert_eq!(
            mv_err("version_number = 'a'"),
            "Invalid value for numeric attribute 'version_number': 'a'"
        );
        assert_eq!(
            mv_err("version_number = 1.5"),
            "Invalid value for numeric attribute 'version_number': 1.5"
        );
        assert_eq!(
            mv_err("version_number LIKE '1'"),
            "Invalid comparator for attribute version_number: LIKE"
        );
        assert_eq!(
            mv_err("foo = '1'"),
            "Invalid attribute key 'foo' specified. Valid keys are '{'version_number', 'name', 'run_id', 'source_path'}'"
        );
        assert_eq!(
            mv_err("source_path IN ('a')"),
            "Only ['name', 'run_id'] attributes support comparison with a list of quoted string values."
        );
    }

    #[test]
    fn order_by() {
        let o = parse_registered_models_order_by(&["timestamp DESC".into()]).unwrap();
        assert_eq!(o[0].column, "registered_models.last_updated_time");
        assert!(!o[0].ascending);
        assert_eq!(o[1].column, "registered_models.name");
        let e = parse_registered_models_order_by(&["name".into(), "name".into()]).unwrap_err();
        assert!(e.internal);
        assert_eq!(
            e.message,
            "`order_by` contains duplicate fields: ['name', 'name']"
        );
        assert_eq!(
            parse_registered_models_order_by(&["foo".into()])
                .unwrap_err()
                .message,
            "Invalid order by key 'foo' specified. Valid keys are '{'timestamp', 'name'}'"
        );
        let o = parse_model_versions_order_by(&["version_number ASC".into()]).unwrap();
        assert_eq!(o.len(), 2);
        assert_eq!(o[1].column, "model_versions.name");
        assert_eq!(
            parse_model_versions_order_by(&["foo".into()])
                .unwrap_err()
                .message,
            "Invalid attribute key 'foo' specified. Valid keys are '{'last_updated_timestamp', 'version_number', 'name', 'creation_timestamp'}'"
        );
    }

    #[tokio::test]
    async fn queries_run_on_sqlite() {
        use sqlx::{Arguments, Row};
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        for stmt in [
            "CREATE TABLE registered_models (name TEXT, workspace TEXT, last_updated_time BIGINT, creation_time BIGINT, description TEXT)",
            "CREATE TABLE registered_model_tags (\"key\" TEXT, value TEXT, name TEXT, workspace TEXT)",
            "INSERT INTO registered_models VALUES ('m1','default',1,1,NULL), ('p1','default',2,2,NULL), ('m2','default',3,3,NULL)",
            "INSERT INTO registered_model_tags VALUES ('mlflow.prompt.is_prompt','true','p1','default'), ('t','x','m2','default')",
        ] {
            sqlx::query(stmt).execute(&pool).await.unwrap();
        }
        async fn names(pool: &sqlx::AnyPool, filter: &str) -> Vec<String> {
            let q = search_registered_models_query(Dialect::Sqlite, "default", filter, &[], 10, 0)
                .unwrap();
            let mut args = sqlx::any::AnyArguments::default();
            for v in &q.binds {
                match v {
                    SqlValue::Text(s) => args.add(s.clone()).unwrap(),
                    SqlValue::Int(i) => args.add(*i).unwrap(),
                    SqlValue::Float(f) => args.add(*f).unwrap(),
                }
            }
            sqlx::query_with(sqlx::AssertSqlSafe(q.sql), args)
                .fetch_all(pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>(0))
                .collect()
        }
        assert_eq!(names(&pool, "").await, vec!["m1", "m2"]);
        assert_eq!(
            names(&pool, "tags.`mlflow.prompt.is_prompt` = 'true'").await,
            vec!["p1"]
        );
        assert_eq!(names(&pool, "tags.t = 'x'").await, vec!["m2"]);
        assert_eq!(names(&pool, "name ILIKE 'M%'").await, vec!["m1", "m2"]);
    }
}
