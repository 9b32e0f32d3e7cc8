//! `runs/search`: identifier resolution, validation and SQL for runs.
//!
//! Validation is done in the official order so the *first* error reported is the same one:
//! (1) syntax for the whole string, (2) per clause identifier then value typing
//! (`SearchUtils.parse_search_filter`), (3) per clause operator checks
//! (`_get_sqlalchemy_filter_clauses`).
//!
//! SQL shape: every metric/param/tag/dataset clause is a correlated `EXISTS` on the
//! `(key, run_uuid)` primary key, which composes with OR/parentheses, never duplicates rows
//! (so no DISTINCT) and is a single index probe per run on SQLite (Postgres turns it into a
//! semi-join). Sorting on metrics/params/tags uses one `LEFT JOIN … AND key = ?` per term
//! (unique per run, so still no duplicates).

use crate::ast::{CompOp, Comparison, Filter};
use crate::common::{Number, number, py_list_repr, string_list, string_value};
use crate::parser::{parse_filter, parse_order_by};
use crate::sql::{Dialect, SqlBuilder, SqlQuery, SqlValue, StrOperand};
use crate::{SearchError, ViewType};

/// The run attributes that can be searched/ordered (after alias translation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunAttribute {
    RunId,
    RunName,
    Status,
    UserId,
    ArtifactUri,
    StartTime,
    EndTime,
}

impl RunAttribute {
    /// Resolves an attribute key, including the official aliases (`created`/`Created` →
    /// start_time, `run name`/`Run name`/`Run Name` → run_name). Exact case, as official.
    pub fn from_key(key: &str) -> Option<Self> {
        Some(match key {
            "run_id" => RunAttribute::RunId,
            "run_name" | "run name" | "Run name" | "Run Name" => RunAttribute::RunName,
            "status" => RunAttribute::Status,
            "user_id" => RunAttribute::UserId,
            "artifact_uri" => RunAttribute::ArtifactUri,
            "start_time" | "created" | "Created" => RunAttribute::StartTime,
            "end_time" => RunAttribute::EndTime,
            _ => return None,
        })
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, RunAttribute::StartTime | RunAttribute::EndTime)
    }

    /// The `runs` column. Note: *filtering* on run_name goes through the `mlflow.runName` tag
    /// like the official store (runs logged by MLflow <= 1.29 have an empty `name`), while
    /// *ordering* uses this column.
    pub fn column(self) -> &'static str {
        match self {
            RunAttribute::RunId => "runs.run_uuid",
            RunAttribute::RunName => "runs.name",
            RunAttribute::Status => "runs.status",
            RunAttribute::UserId => "runs.user_id",
            RunAttribute::ArtifactUri => "runs.artifact_uri",
            RunAttribute::StartTime => "runs.start_time",
            RunAttribute::EndTime => "runs.end_time",
        }
    }
}

/// `dataset.<key>` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetField {
    Name,
    Digest,
    /// The `mlflow.data.context` input tag.
    Context,
}

/// What a run filter/order_by identifier refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RunField {
    Metric(String),
    Param(String),
    Tag(String),
    Attribute(RunAttribute),
    Dataset(DatasetField),
}

impl RunField {
    fn type_name(&self) -> &'static str {
        match self {
            RunField::Metric(_) => "metric",
            RunField::Param(_) => "parameter",
            RunField::Tag(_) => "tag",
            RunField::Attribute(_) => "attribute",
            RunField::Dataset(_) => "dataset",
        }
    }
}

/// A typed right-hand side.
#[derive(Debug, Clone, PartialEq)]
pub enum RunValue {
    Text(String),
    List(Vec<String>),
    Int(i64),
    Float(f64),
    None,
}

/// A validated run clause.
#[derive(Debug, Clone, PartialEq)]
pub struct RunClause {
    pub field: RunField,
    pub op: CompOp,
    pub value: RunValue,
}

/// A validated order_by term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOrderBy {
    pub field: RunField,
    pub ascending: bool,
}

const ENTITY_TYPES: &str = "['metric', 'parameter', 'tag', 'attribute', 'dataset']";
const SEARCH_ATTRIBUTE_KEYS: &str = "{'Created', 'Run Name', 'Run name', 'artifact_uri', 'created', 'end_time', \
                                     'run name', 'run_id', 'run_name', 'start_time', 'status', 'user_id'}";
const ORDER_BY_ATTRIBUTE_KEYS: &str = "{'Created', 'artifact_uri', 'created', 'end_time', 'run_id', 'run_name', 'start_time', 'status', 'user_id'}";
const METRIC_COMPARATORS: &str = "{'!=', '<', '<=', '=', '>', '>='}";
const PARAM_TAG_COMPARATORS: &str = "{'!=', '=', 'ILIKE', 'IS NOT NULL', 'IS NULL', 'LIKE'}";
const STRING_ATTRIBUTE_COMPARATORS: &str = "{'!=', '=', 'ILIKE', 'IN', 'LIKE', 'NOT IN'}";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Entity {
    Metric,
    Param,
    Tag,
    Attribute,
    Dataset,
}

/// `SearchUtils._valid_entity_type`: exact-case names, backticks already trimmed.
fn entity(name: Option<&str>) -> Result<Entity, SearchError> {
    Ok(match name {
        None => Entity::Attribute,
        Some("metric" | "metrics") => Entity::Metric,
        Some("parameter" | "parameters" | "param" | "params") => Entity::Param,
        Some("tag" | "tags") => Entity::Tag,
        Some("attribute" | "attributes" | "attr" | "run") => Entity::Attribute,
        Some("dataset" | "datasets") => Entity::Dataset,
        Some(other) => {
            return Err(SearchError::new(format!(
                "Invalid entity type '{other}'. Valid values are {ENTITY_TYPES}"
            )));
        }
    })
}

/// `SearchUtils._get_identifier`. `for_order_by` selects the orderable attribute keys (no
/// `run name` aliases).
fn resolve_ident(ident: &crate::ast::Ident, for_order_by: bool) -> Result<RunField, SearchError> {
    let key = ident.key.clone();
    Ok(match entity(ident.entity.as_deref())? {
        Entity::Metric => RunField::Metric(key),
        Entity::Param => RunField::Param(key),
        Entity::Tag => RunField::Tag(key),
        Entity::Attribute => {
            let alias_ok =
                !for_order_by || !matches!(key.as_str(), "run name" | "Run name" | "Run Name");
            match RunAttribute::from_key(&key).filter(|_| alias_ok) {
                Some(a) => RunField::Attribute(a),
                None => {
                    let valid = if for_order_by {
                        ORDER_BY_ATTRIBUTE_KEYS
                    } else {
                        SEARCH_ATTRIBUTE_KEYS
                    };
                    return Err(SearchError::new(format!(
                        "Invalid attribute key '{key}' specified. Valid keys are '{valid}'"
                    )));
                }
            }
        }
        Entity::Dataset => RunField::Dataset(match key.as_str() {
            "name" => DatasetField::Name,
            "digest" => DatasetField::Digest,
            "context" => DatasetField::Context,
            _ => {
                return Err(SearchError::new(format!(
                    "Invalid dataset key '{key}' specified. Valid keys are '{{'context', 'digest', 'name'}}'"
                )));
            }
        }),
    })
}

/// Pass 2 of validation: identifier + value typing (`SearchUtils._get_comparison`).
fn resolve_comparison(c: &Comparison) -> Result<RunClause, SearchError> {
    let field = resolve_ident(&c.ident, false)?;
    let raw = c.value.raw();
    if c.op.is_null_test() {
        if !matches!(field, RunField::Param(_) | RunField::Tag(_)) {
            return Err(SearchError::new(format!(
                "IS NULL / IS NOT NULL is only supported for tags and params, not for '{}' '{}'",
                field.type_name(),
                c.ident.key
            )));
        }
        return Ok(RunClause {
            field,
            op: c.op,
            value: RunValue::None,
        });
    }
    let value = match &field {
        RunField::Metric(_) => match &c.value {
            crate::ast::Value::Num { raw, .. } => {
                RunValue::Float(raw.parse::<f64>().unwrap_or(f64::NAN))
            }
            _ => {
                return Err(SearchError::new(format!(
                    "Expected numeric value type for metric. Found {raw}"
                )));
            }
        },
        RunField::Param(_) | RunField::Tag(_) => match string_value(&c.value) {
            Ok(s) => RunValue::Text(s),
            Err(Some(e)) => return Err(e),
            Err(None) => {
                return Err(SearchError::new(format!(
                    "Expected a quoted string value for {} (e.g. 'my-value'). Got value {raw}",
                    field.type_name()
                )));
            }
        },
        RunField::Attribute(a) if a.is_numeric() => match &c.value {
            crate::ast::Value::Num { raw, is_int } => match number(raw, *is_int) {
                Number::Int(i) => RunValue::Int(i),
                Number::Float(f) => RunValue::Float(f),
            },
            _ => {
                return Err(SearchError::new(format!(
                    "Expected numeric value type for numeric attribute: {}. Found {raw}",
                    c.ident.key
                )));
            }
        },
        RunField::Attribute(_) => match &c.value {
            crate::ast::Value::List { .. } => {
                if c.ident.key != "run_id" {
                    return Err(SearchError::new(
                        "Only ['run_id'] attributes support comparison with a list of quoted string values.",
                    ));
                }
                RunValue::List(string_list(&c.value)?)
            }
            v => match string_value(v) {
                Ok(s) => RunValue::Text(s),
                Err(Some(e)) => return Err(e),
                Err(None) => {
                    return Err(SearchError::new(format!(
                        "Expected a quoted string value for attributes. Got value {raw}"
                    )));
                }
            },
        },
        RunField::Dataset(_) => match &c.value {
            crate::ast::Value::List { .. } => RunValue::List(string_list(&c.value)?),
            v => match string_value(v) {
                Ok(s) => RunValue::Text(s),
                Err(Some(e)) => return Err(e),
                Err(None) => {
                    return Err(SearchError::new(format!(
                        "Expected a quoted string value for dataset attributes. Got value {raw}"
                    )));
                }
            },
        },
    };
    Ok(RunClause {
        field,
        op: c.op,
        value,
    })
}

/// Pass 3: operator checks, with the official texts (including their unbalanced quotes).
fn check_comparator(clause: &RunClause) -> Result<(), SearchError> {
    use CompOp::*;
    let op = clause.op;
    let sym = op.symbol();
    let (ok, set, close) = match &clause.field {
        RunField::Attribute(a) if !a.is_numeric() => (
            matches!(op, Eq | Ne | Like | ILike | In | NotIn),
            STRING_ATTRIBUTE_COMPARATORS,
            "'",
        ),
        RunField::Attribute(_) => (
            matches!(op, Eq | Ne | Lt | Le | Gt | Ge),
            STRING_ATTRIBUTE_COMPARATORS,
            "",
        ),
        RunField::Metric(_) => (
            matches!(op, Eq | Ne | Lt | Le | Gt | Ge),
            METRIC_COMPARATORS,
            "",
        ),
        RunField::Param(_) => (
            matches!(op, Eq | Ne | Like | ILike | IsNull | IsNotNull),
            PARAM_TAG_COMPARATORS,
            "'",
        ),
        RunField::Tag(_) => (
            matches!(op, Eq | Ne | Like | ILike | IsNull | IsNotNull),
            PARAM_TAG_COMPARATORS,
            "",
        ),
        RunField::Dataset(_) => (
            matches!(op, Eq | Ne | Like | ILike | In | NotIn),
            STRING_ATTRIBUTE_COMPARATORS,
            "",
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(SearchError::new(format!(
            "Invalid comparator '{sym}' not one of '{set}{close}"
        )))
    }
}

/// Parses and validates a runs filter. `Ok(None)` for an empty filter.
pub fn parse_runs_filter(filter: &str) -> Result<Option<Filter<RunClause>>, SearchError> {
    let Some(expr) = parse_filter(filter).map_err(|e| SearchError::new(e.runs_message()))? else {
        return Ok(None);
    };
    let resolved = expr.try_map(&mut |c| resolve_comparison(c))?;
    for clause in resolved.clauses() {
        check_comparator(clause)?;
    }
    Ok(Some(resolved))
}

/// Parses and validates runs order_by entries (`_get_orderby_clauses`), rejecting duplicates
/// after alias translation (`created` == `start_time`).
pub fn parse_runs_order_by(order_by: &[String]) -> Result<Vec<RunOrderBy>, SearchError> {
    let mut out: Vec<RunOrderBy> = Vec::with_capacity(order_by.len());
    for entry in order_by {
        let term = parse_order_by(entry).map_err(SearchError::new)?;
        let field = resolve_ident(&term.ident, true)?;
        if let RunField::Dataset(_) = field {
            return Err(SearchError::new("Invalid identifier type 'dataset'"));
        }
        if out.iter().any(|o| o.field == field) {
            return Err(SearchError::new(format!(
                "`order_by` contains duplicate fields: {}",
                py_list_repr(order_by)
            )));
        }
        out.push(RunOrderBy {
            field,
            ascending: term.ascending,
        });
    }
    Ok(out)
}

fn lifecycle_condition(view: ViewType) -> &'static str {
    match view {
        ViewType::ActiveOnly => "runs.lifecycle_stage IN ('active')",
        ViewType::DeletedOnly => "runs.lifecycle_stage IN ('deleted')",
        ViewType::All => "runs.lifecycle_stage IN ('active', 'deleted')",
    }
}

/// Builds the whole `SELECT runs.run_uuid …` statement. See the crate docs for the bind order.
pub fn search_runs_query(
    dialect: Dialect,
    experiment_ids: &[i64],
    view: ViewType,
    filter: &str,
    order_by: &[String],
    limit: i64,
    offset: i64,
) -> Result<SqlQuery, SearchError> {
    let filter = parse_runs_filter(filter)?;
    let order = parse_runs_order_by(order_by)?;

    let mut b = SqlBuilder::new(dialect);
    b.push("SELECT runs.run_uuid FROM runs");

    // Sort joins (their binds come first: they precede WHERE in the text).
    let mut order_sql = SqlBuilder::new(dialect);
    let mut has_start_time = false;
    for (i, term) in order.iter().enumerate() {
        let alias = format!("ob{}", i + 1);
        let dir = if term.ascending { " ASC" } else { " DESC" };
        let table = match &term.field {
            RunField::Metric(_) => "latest_metrics",
            RunField::Param(_) => "params",
            RunField::Tag(_) => "tags",
            RunField::Attribute(_) | RunField::Dataset(_) => "",
        };
        if !order_sql.is_empty() {
            order_sql.push(", ");
        }
        match &term.field {
            RunField::Metric(key) | RunField::Param(key) | RunField::Tag(key) => {
                b.push(" LEFT OUTER JOIN ")
                    .push(table)
                    .push(" ")
                    .push(&alias);
                b.push(" ON ")
                    .push(&alias)
                    .push(".run_uuid = runs.run_uuid AND ");
                b.key_equals(&alias, key);
                let value = format!("{alias}.value");
                // Nulls (and NaN for metrics, before nulls) always sort last, whatever the
                // direction: the official CASE sort key.
                if matches!(term.field, RunField::Metric(_)) {
                    order_sql.push("CASE WHEN ").push(&alias).push(".is_nan = ");
                    order_sql.bool_literal(true);
                    order_sql
                        .push(" THEN 1 WHEN ")
                        .push(&value)
                        .push(" IS NULL THEN 2 ELSE 0 END, ");
                } else {
                    order_sql
                        .push("CASE WHEN ")
                        .push(&value)
                        .push(" IS NULL THEN 1 ELSE 0 END, ");
                }
                order_sql.push(&value).push(dir);
            }
            RunField::Attribute(a) => {
                has_start_time |= *a == RunAttribute::StartTime;
                let col = a.column();
                order_sql
                    .push("CASE WHEN ")
                    .push(col)
                    .push(" IS NULL THEN 1 ELSE 0 END, ");
                order_sql.push(col).push(dir);
            }
            RunField::Dataset(_) => {}
        }
    }
    if !has_start_time {
        if !order_sql.is_empty() {
            order_sql.push(", ");
        }
        order_sql.push("runs.start_time DESC");
    }
    if !order_sql.is_empty() {
        order_sql.push(", ");
    }
    order_sql.push("runs.run_uuid ASC");

    b.push(" WHERE ");
    if experiment_ids.is_empty() {
        b.push("1 = 0");
    } else {
        b.push("runs.experiment_id IN (");
        for (i, id) in experiment_ids.iter().enumerate() {
            if i > 0 {
                b.push(", ");
            }
            b.bind(SqlValue::Int(*id));
        }
        b.push(")");
    }
    b.push(" AND ").push(lifecycle_condition(view));
    if let Some(f) = &filter {
        b.push(" AND ");
        compile_filter(&mut b, f);
    }
    b.push(" ORDER BY ").append(order_sql);
    b.push(" LIMIT ").bind(SqlValue::Int(limit));
    b.push(" OFFSET ").bind(SqlValue::Int(offset));
    Ok(b.finish())
}

/// Writes a boolean filter tree (always parenthesised so it can be AND-ed to anything).
pub fn compile_filter(b: &mut SqlBuilder, f: &Filter<RunClause>) {
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

fn str_operand(v: &RunValue) -> StrOperand<'_> {
    match v {
        RunValue::Text(s) => StrOperand::One(s),
        RunValue::List(xs) => StrOperand::List(xs),
        RunValue::Int(_) | RunValue::Float(_) | RunValue::None => StrOperand::One(""),
    }
}

fn compile_clause(b: &mut SqlBuilder, c: &RunClause) {
    match &c.field {
        RunField::Metric(key) => {
            b.push("EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_uuid = runs.run_uuid AND ");
            b.key_equals("m", key);
            b.push(" AND ");
            let v = match c.value {
                RunValue::Float(f) => SqlValue::Float(f),
                RunValue::Int(i) => SqlValue::Float(i as f64),
                _ => SqlValue::Float(f64::NAN),
            };
            // NaN is stored as value 0 + is_nan: it must never satisfy a numeric test, and
            // always satisfies `!=` (official `_get_sqlalchemy_filter_clauses`).
            if c.op == CompOp::Ne {
                b.push("(");
                b.numeric_comparison("m.value", c.op, v);
                b.push(" OR m.is_nan = ").bool_literal(true).push(")");
            } else {
                b.numeric_comparison("m.value", c.op, v);
                b.push(" AND m.is_nan = ").bool_literal(false);
            }
            b.push(")");
        }
        RunField::Param(key) | RunField::Tag(key) => {
            let (table, alias) = if matches!(c.field, RunField::Param(_)) {
                ("params", "p")
            } else {
                ("tags", "t")
            };
            if c.op == CompOp::IsNull {
                b.push("NOT ");
            }
            b.push("EXISTS (SELECT 1 FROM ")
                .push(table)
                .push(" ")
                .push(alias);
            b.push(" WHERE ")
                .push(alias)
                .push(".run_uuid = runs.run_uuid AND ");
            b.key_equals(alias, key);
            if !c.op.is_null_test() {
                b.push(" AND ");
                b.string_comparison(&format!("{alias}.value"), c.op, &str_operand(&c.value));
            }
            b.push(")");
        }
        RunField::Attribute(RunAttribute::RunName) => {
            b.push("EXISTS (SELECT 1 FROM tags t WHERE t.run_uuid = runs.run_uuid AND ");
            b.key_equals("t", "mlflow.runName");
            b.push(" AND ");
            b.string_comparison("t.value", c.op, &str_operand(&c.value));
            b.push(")");
        }
        RunField::Attribute(a) if a.is_numeric() => {
            let v = match c.value {
                RunValue::Int(i) => SqlValue::Int(i),
                RunValue::Float(f) => SqlValue::Float(f),
                _ => SqlValue::Int(0),
            };
            b.numeric_comparison(a.column(), c.op, v);
        }
        RunField::Attribute(a) => b.string_comparison(a.column(), c.op, &str_operand(&c.value)),
        RunField::Dataset(field) => {
            b.push(
                "EXISTS (SELECT 1 FROM inputs i JOIN datasets d ON d.dataset_uuid = i.source_id",
            );
            if *field == DatasetField::Context {
                b.push(" JOIN input_tags it ON it.input_uuid = i.input_uuid");
            }
            b.push(
                " WHERE i.destination_id = runs.run_uuid AND i.destination_type = 'RUN' \
                 AND i.source_type = 'DATASET' AND ",
            );
            let column = match field {
                DatasetField::Name => "d.name",
                DatasetField::Digest => "d.digest",
                DatasetField::Context => {
                    b.push("it.name = ")
                        .bind_text("mlflow.data.context")
                        .push(" AND ");
                    "it.value"
                }
            };
            b.string_comparison(column, c.op, &str_operand(&c.value));
            b.push(")");
        }
    }
}
