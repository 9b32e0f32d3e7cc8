//! `experiments/search`: identifier resolution, validation and SQL for experiments
//! (`SearchExperimentsUtils` + `_get_search_experiments_filter_clauses` /
//! `_get_search_experiments_order_by_clauses`).
//!
//! Workspaces: with workspaces disabled (the default) the official store adds no workspace
//! condition at all, so [`search_experiments_query`] does not either. A workspace-aware store
//! uses [`search_experiments_query_in_workspace`].

use crate::ast::{CompOp, Comparison, Filter, Ident, Value};
use crate::common::{Number, number, py_float_str, string_list, string_value};
use crate::parser::{parse_filter, parse_order_by};
use crate::sql::{Dialect, SqlBuilder, SqlQuery, SqlValue, StrOperand};
use crate::{SearchError, ViewType};

/// Searchable / orderable experiment attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExperimentAttribute {
    Name,
    ExperimentId,
    CreationTime,
    LastUpdateTime,
}

impl ExperimentAttribute {
    pub fn from_key(key: &str) -> Option<Self> {
        Some(match key {
            "name" => ExperimentAttribute::Name,
            "experiment_id" => ExperimentAttribute::ExperimentId,
            "creation_time" => ExperimentAttribute::CreationTime,
            "last_update_time" => ExperimentAttribute::LastUpdateTime,
            _ => return None,
        })
    }

    pub fn column(self) -> &'static str {
        match self {
            ExperimentAttribute::Name => "experiments.name",
            ExperimentAttribute::ExperimentId => "experiments.experiment_id",
            ExperimentAttribute::CreationTime => "experiments.creation_time",
            ExperimentAttribute::LastUpdateTime => "experiments.last_update_time",
        }
    }

    fn is_numeric(self) -> bool {
        matches!(
            self,
            ExperimentAttribute::CreationTime | ExperimentAttribute::LastUpdateTime
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExperimentField {
    Attribute(ExperimentAttribute),
    Tag(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExperimentValue {
    Text(String),
    Int(i64),
    IntList(Vec<i64>),
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentClause {
    pub field: ExperimentField,
    pub op: CompOp,
    pub value: ExperimentValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExperimentOrderBy {
    pub attribute: ExperimentAttribute,
    pub ascending: bool,
}

const ATTRIBUTE_KEYS: &str = "{'creation_time', 'experiment_id', 'last_update_time', 'name'}";
const STRING_ATTRIBUTE_COMPARATORS: &str = "{'!=', '=', 'ILIKE', 'IN', 'LIKE', 'NOT IN'}";

/// `SearchExperimentsUtils._get_identifier`.
fn resolve_ident(ident: &Ident) -> Result<ExperimentField, SearchError> {
    let is_tag = match ident.entity.as_deref() {
        None | Some("attribute") => false,
        Some("tag" | "tags") => true,
        Some(other) => {
            return Err(SearchError::new(format!(
                "Invalid entity type '{other}'. Valid entity types are ('attribute', 'tag', 'tags')"
            )));
        }
    };
    if is_tag {
        return Ok(ExperimentField::Tag(ident.key.clone()));
    }
    ExperimentAttribute::from_key(&ident.key)
        .map(ExperimentField::Attribute)
        .ok_or_else(|| {
            SearchError::new(format!(
                "Invalid attribute key '{}' specified. Valid keys are '{ATTRIBUTE_KEYS}'",
                ident.key
            ))
        })
}

/// Identifier + value typing (`SearchExperimentsUtils._get_comparison`), then the store's
/// operator/value checks. The latter are applied in a second pass by [`parse_experiments_filter`].
fn resolve_comparison(c: &Comparison) -> Result<(ExperimentField, CompOp, Value), SearchError> {
    let field = resolve_ident(&c.ident)?;
    let raw = c.value.raw();
    if c.op.is_null_test() {
        if let ExperimentField::Attribute(_) = field {
            return Err(SearchError::new(format!(
                "IS NULL / IS NOT NULL is only supported for tags, not for attribute '{}'",
                c.ident.key
            )));
        }
        return Ok((field, c.op, Value::Null));
    }
    // Value typing errors (SearchUtils._get_value with the experiments key sets).
    match &field {
        ExperimentField::Tag(_) => match string_value(&c.value) {
            Ok(_) => {}
            Err(Some(e)) => return Err(e),
            Err(None) => {
                return Err(SearchError::new(format!(
                    "Expected a quoted string value for tag (e.g. 'my-value'). Got value {raw}"
                )));
            }
        },
        ExperimentField::Attribute(a) if a.is_numeric() => {
            if !matches!(c.value, Value::Num { .. }) {
                return Err(SearchError::new(format!(
                    "Expected numeric value type for numeric attribute: {}. Found {raw}",
                    c.ident.key
                )));
            }
        }
        ExperimentField::Attribute(a) => match &c.value {
            Value::List { .. } => {
                if *a != ExperimentAttribute::ExperimentId {
                    return Err(SearchError::new(
                        "Only ['experiment_id'] attributes support comparison with a list of quoted string values.",
                    ));
                }
                string_list(&c.value)?;
            }
            v => match string_value(v) {
                Ok(_) => {}
                Err(Some(e)) => return Err(e),
                Err(None) => {
                    return Err(SearchError::new(format!(
                        "Expected a quoted string value for attributes. Got value {raw}"
                    )));
                }
            },
        },
    }
    Ok((field, c.op, c.value.clone()))
}

fn parse_experiment_id(s: &str) -> Result<i64, SearchError> {
    s.trim().parse::<i64>().map_err(|_| {
        SearchError::new(format!(
            "Invalid experiment ID '{s}'. Experiment ID must be a valid integer."
        ))
    })
}

/// The store-side checks and conversions (`_get_search_experiments_filter_clauses`).
fn finish_clause(
    (field, op, value): &(ExperimentField, CompOp, Value),
) -> Result<ExperimentClause, SearchError> {
    use CompOp::*;
    let op = *op;
    let sym = op.symbol();
    let value = match field {
        ExperimentField::Attribute(ExperimentAttribute::ExperimentId) => {
            if !matches!(op, Eq | Ne | In | NotIn) {
                return Err(SearchError::new(format!(
                    "Invalid comparator for experiment_id: {sym}"
                )));
            }
            match value {
                Value::List { .. } => ExperimentValue::IntList(
                    string_list(value)?
                        .iter()
                        .map(|s| parse_experiment_id(s))
                        .collect::<Result<_, _>>()?,
                ),
                _ => ExperimentValue::Int(parse_experiment_id(
                    &string_value(value).unwrap_or_default(),
                )?),
            }
        }
        ExperimentField::Attribute(a) if a.is_numeric() => {
            if !matches!(op, Eq | Ne | Lt | Le | Gt | Ge) {
                return Err(SearchError::new(format!(
                    "Invalid comparator '{sym}' not one of '{STRING_ATTRIBUTE_COMPARATORS}"
                )));
            }
            let Value::Num { raw, is_int } = value else {
                return Err(SearchError::new(format!(
                    "Invalid value for numeric attribute '{}': {}",
                    key_of(field),
                    value.raw()
                )));
            };
            match number(raw, *is_int) {
                Number::Int(i) => ExperimentValue::Int(i),
                Number::Float(f) => {
                    return Err(SearchError::new(format!(
                        "Invalid value for numeric attribute '{}': '{}'",
                        key_of(field),
                        py_float_str(f)
                    )));
                }
            }
        }
        ExperimentField::Attribute(_) => {
            if !matches!(op, Eq | Ne | Like | ILike | In | NotIn) {
                return Err(SearchError::new(format!(
                    "Invalid comparator '{sym}' not one of '{STRING_ATTRIBUTE_COMPARATORS}'"
                )));
            }
            if matches!(op, In | NotIn) {
                return Err(SearchError::new(format!(
                    "Invalid comparator for string attribute: {sym}"
                )));
            }
            ExperimentValue::Text(string_value(value).unwrap_or_default())
        }
        ExperimentField::Tag(_) => {
            if op.is_null_test() {
                ExperimentValue::None
            } else if !matches!(op, Eq | Ne | Like | ILike) {
                return Err(SearchError::new(format!(
                    "Invalid comparator for tag: {sym}"
                )));
            } else {
                ExperimentValue::Text(string_value(value).unwrap_or_default())
            }
        }
    };
    Ok(ExperimentClause {
        field: field.clone(),
        op,
        value,
    })
}

fn key_of(field: &ExperimentField) -> &str {
    match field {
        ExperimentField::Attribute(a) => a.column().trim_start_matches("experiments."),
        ExperimentField::Tag(k) => k,
    }
}

/// Parses and validates an experiments filter. `Ok(None)` for an empty filter.
pub fn parse_experiments_filter(
    filter: &str,
) -> Result<Option<Filter<ExperimentClause>>, SearchError> {
    let Some(expr) = parse_filter(filter).map_err(|e| SearchError::new(e.plain_message()))? else {
        return Ok(None);
    };
    let typed = expr.try_map(&mut |c| resolve_comparison(c))?;
    let finished = map_filter(&typed, &mut |t| finish_clause(t))?;
    Ok(Some(finished))
}

fn map_filter<T, U>(
    f: &Filter<T>,
    g: &mut impl FnMut(&T) -> Result<U, SearchError>,
) -> Result<Filter<U>, SearchError> {
    Ok(match f {
        Filter::And(xs) => Filter::And(
            xs.iter()
                .map(|x| map_filter(x, g))
                .collect::<Result<_, _>>()?,
        ),
        Filter::Or(xs) => Filter::Or(
            xs.iter()
                .map(|x| map_filter(x, g))
                .collect::<Result<_, _>>()?,
        ),
        Filter::Clause(c) => Filter::Clause(g(c)?),
    })
}

/// Parses experiments order_by entries; an empty list means the official default
/// `creation_time DESC, experiment_id ASC`. A term list without `experiment_id` gets the
/// official tie-breaker `experiment_id DESC` (sic: descending).
pub fn parse_experiments_order_by(
    order_by: &[String],
) -> Result<Vec<ExperimentOrderBy>, SearchError> {
    if order_by.is_empty() {
        return Ok(vec![
            ExperimentOrderBy {
                attribute: ExperimentAttribute::CreationTime,
                ascending: false,
            },
            ExperimentOrderBy {
                attribute: ExperimentAttribute::ExperimentId,
                ascending: true,
            },
        ]);
    }
    let mut out = Vec::with_capacity(order_by.len() + 1);
    for entry in order_by {
        let term = parse_order_by(entry).map_err(SearchError::new)?;
        match resolve_ident(&term.ident)? {
            ExperimentField::Attribute(attribute) => out.push(ExperimentOrderBy {
                attribute,
                ascending: term.ascending,
            }),
            ExperimentField::Tag(_) => {
                return Err(SearchError::new("Invalid order_by entity: tag"));
            }
        }
    }
    if !out
        .iter()
        .any(|o| o.attribute == ExperimentAttribute::ExperimentId)
    {
        out.push(ExperimentOrderBy {
            attribute: ExperimentAttribute::ExperimentId,
            ascending: false,
        });
    }
    Ok(out)
}

/// `SELECT experiments.experiment_id FROM experiments WHERE <lifecycle> [AND <filter>]
/// ORDER BY … LIMIT ? OFFSET ?`, with no workspace condition (workspaces disabled).
pub fn search_experiments_query(
    dialect: Dialect,
    view: ViewType,
    filter: &str,
    order_by: &[String],
    limit: i64,
    offset: i64,
) -> Result<SqlQuery, SearchError> {
    build(dialect, None, view, filter, order_by, limit, offset)
}

/// Like [`search_experiments_query`] but restricted to one workspace
/// (`AND experiments.workspace = ?`, bound right after the lifecycle condition, before the
/// filter's binds).
pub fn search_experiments_query_in_workspace(
    dialect: Dialect,
    workspace: &str,
    view: ViewType,
    filter: &str,
    order_by: &[String],
    limit: i64,
    offset: i64,
) -> Result<SqlQuery, SearchError> {
    build(
        dialect,
        Some(workspace),
        view,
        filter,
        order_by,
        limit,
        offset,
    )
}

fn build(
    dialect: Dialect,
    workspace: Option<&str>,
    view: ViewType,
    filter: &str,
    order_by: &[String],
    limit: i64,
    offset: i64,
) -> Result<SqlQuery, SearchError> {
    let filter = parse_experiments_filter(filter)?;
    let order = parse_experiments_order_by(order_by)?;
    let mut b = SqlBuilder::new(dialect);
    b.push("SELECT experiments.experiment_id FROM experiments WHERE ");
    b.push(match view {
        ViewType::ActiveOnly => "experiments.lifecycle_stage IN ('active')",
        ViewType::DeletedOnly => "experiments.lifecycle_stage IN ('deleted')",
        ViewType::All => "experiments.lifecycle_stage IN ('active', 'deleted')",
    });
    if let Some(ws) = workspace {
        b.push(" AND experiments.workspace = ").bind_text(ws);
    }
    if let Some(f) = &filter {
        b.push(" AND ");
        compile_filter(&mut b, f);
    }
    // Plain ORDER BY: the official store adds no null handling here, so NULL times sort per
    // the database's default (first on SQLite/MySQL ASC, last on Postgres ASC).
    b.push(" ORDER BY ");
    for (i, o) in order.iter().enumerate() {
        if i > 0 {
            b.push(", ");
        }
        b.push(o.attribute.column())
            .push(if o.ascending { " ASC" } else { " DESC" });
    }
    b.push(" LIMIT ").bind(SqlValue::Int(limit));
    b.push(" OFFSET ").bind(SqlValue::Int(offset));
    Ok(b.finish())
}

/// Writes an experiments filter tree (parenthesised).
pub fn compile_filter(b: &mut SqlBuilder, f: &Filter<ExperimentClause>) {
    match f {
        Filter::And(xs) | Filter::Or(xs) => {
            let sep = if matches!(f, Filter::And(_)) {
                " AND "
            } else {
                " OR "
            };
            b.push("(");
            for (i, x) in xs.iter().enumerate() {
                if i > 0 {
                    b.push(sep);
                }
                compile_filter(b, x);
            }
            b.push(")");
        }
        Filter::Clause(c) => compile_clause(b, c),
    }
}

fn compile_clause(b: &mut SqlBuilder, c: &ExperimentClause) {
    match (&c.field, &c.value) {
        (ExperimentField::Attribute(a), ExperimentValue::IntList(ids)) => {
            b.push("(").push(a.column());
            b.push(if c.op == CompOp::NotIn {
                " NOT IN ("
            } else {
                " IN ("
            });
            for (i, id) in ids.iter().enumerate() {
                if i > 0 {
                    b.push(", ");
                }
                b.bind(SqlValue::Int(*id));
            }
            b.push("))");
        }
        (ExperimentField::Attribute(a), ExperimentValue::Int(v)) => {
            b.numeric_comparison(a.column(), c.op, SqlValue::Int(*v));
        }
        (ExperimentField::Attribute(a), ExperimentValue::Text(s)) => {
            b.string_comparison(a.column(), c.op, &StrOperand::One(s));
        }
        (ExperimentField::Tag(key), value) => {
            if c.op == CompOp::IsNull {
                b.push("NOT ");
            }
            b.push("EXISTS (SELECT 1 FROM experiment_tags et WHERE et.experiment_id = experiments.experiment_id AND ");
            b.key_equals("et", key);
            if let ExperimentValue::Text(s) = value {
                b.push(" AND ");
                b.string_comparison("et.value", c.op, &StrOperand::One(s));
            }
            b.push(")");
        }
        (ExperimentField::Attribute(_), ExperimentValue::None) => {
            b.push("1 = 0");
        }
    }
}
