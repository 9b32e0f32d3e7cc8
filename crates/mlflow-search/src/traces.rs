//! `traces/search` (SearchTracesV3): identifier resolution, validation and SQL for traces.
//!
//! Mirrors `SearchTraceUtils` + `SqlAlchemyStore._get_filter_clauses_for_search_traces`:
//! attributes are `trace_info` columns (`name` is the `trace_name` column, `end_time_ms` is
//! `timestamp_ms + execution_time_ms`), tags/metadata are correlated `EXISTS` on their key,
//! `run_id = 'x'` matches the `mlflow.sourceRun` metadata *or* a trace→run association,
//! `span.*` clauses of one top-level conjunction are combined in one `EXISTS` over `spans`
//! (so they must hold on the same span, as official), and `feedback.*`/`expectation.*`
//! match valid assessments by name and JSON value.
//!
//! Binds are in text order: sort joins first, then experiment ids, filter values, LIMIT, OFFSET.

use crate::SearchError;
use crate::ast::{CompOp, Comparison, Filter, Value};
use crate::common::{Number, number, py_list_repr, string_list};
use crate::parser::{parse_filter, parse_order_by};
use crate::sql::{Dialect, SqlBuilder, SqlQuery, SqlValue, StrOperand};

const VALID_IDENTIFIERS: &str = "{'tag', 'request_metadata', 'attribute', 'span', 'feedback', 'expectation', 'issue', 'tags', 'attributes', 'trace', 'metadata'}";
const SEARCH_ATTRIBUTE_KEYS: &str = "{'request_id', 'timestamp', 'timestamp_ms', 'execution_time', 'execution_time_ms', 'end_time', 'end_time_ms', 'status', 'client_request_id', 'name', 'run_id', 'prompt', 'text'}";
const ORDER_BY_ATTRIBUTE_KEYS: &str = "{'experiment_id', 'timestamp', 'timestamp_ms', 'execution_time', 'execution_time_ms', 'end_time', 'end_time_ms', 'status', 'request_id', 'name', 'run_id'}";
const TAG_COMPARATORS: &str = "{'!=', '=', 'LIKE', 'ILIKE', 'RLIKE', 'IS NULL', 'IS NOT NULL'}";
const STRING_ATTR_COMPARATORS: &str = "{'!=', '=', 'IN', 'NOT IN', 'LIKE', 'ILIKE', 'RLIKE'}";
const NUMERIC_COMPARATORS: &str = "{'!=', '<', '<=', '=', '>', '>='}";
const ASSESSMENT_COMPARATORS: &str =
    "{'!=', '=', '>', '>=', '<', '<=', 'LIKE', 'ILIKE', 'RLIKE', 'IS NULL', 'IS NOT NULL'}";
const IN_KEYS: &str = "{'name', 'status', 'request_id', 'run_id', 'client_request_id'}";
const NUMERIC_KEYS: &str = "{'timestamp_ms', 'timestamp', 'execution_time_ms', 'execution_time', 'end_time_ms', 'end_time'}";

/// A trace filter/order_by target after alias translation.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceField {
    /// `timestamp_ms`, `execution_time_ms`, `end_time_ms`.
    Numeric(&'static str),
    /// `request_id`, `status`, `client_request_id`, `experiment_id` (order_by only).
    Str(&'static str),
    /// `name` → the `trace_name` column.
    Name,
    Tag(String),
    Metadata(String),
    /// `prompt = 'name/version'` through entity associations.
    Prompt,
    /// `span.name|type|status`.
    SpanColumn(&'static str),
    SpanAttribute(String),
    /// `span.content` / `text`.
    SpanContent,
    Assessment {
        kind: &'static str,
        name: String,
    },
    Issue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TraceValue {
    Text(String),
    List(Vec<String>),
    Int(i64),
    Float(f64),
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TraceClause {
    pub field: TraceField,
    pub op: CompOp,
    pub value: TraceValue,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Entity {
    Attribute,
    Tag,
    Metadata,
    Span,
    Feedback,
    Expectation,
    Issue,
}

fn entity(name: Option<&str>) -> Result<Entity, SearchError> {
    Ok(match name {
        None | Some("attribute" | "attributes" | "trace") => Entity::Attribute,
        Some("tag" | "tags") => Entity::Tag,
        Some("request_metadata" | "metadata") => Entity::Metadata,
        Some("span") => Entity::Span,
        Some("feedback") => Entity::Feedback,
        Some("expectation") => Entity::Expectation,
        Some("issue") => Entity::Issue,
        Some(other) => {
            return Err(SearchError::new(format!(
                "Invalid entity type '{other}'. Valid values are {VALID_IDENTIFIERS}"
            )));
        }
    })
}

fn invalid_comparator(op: CompOp, set: &str) -> SearchError {
    SearchError::new(format!(
        "Invalid comparator '{}' not one of '{set}'",
        op.symbol()
    ))
}

fn quoted(v: &Value, what: &str) -> Result<String, SearchError> {
    match v {
        Value::Str { value, .. } => Ok(value.clone()),
        Value::Bare { raw } => Err(crate::common::not_quoted(raw)),
        other => Err(SearchError::new(format!(
            "Expected a quoted string value for {what} (e.g. 'my-value'). Got value {}",
            other.raw()
        ))),
    }
}

fn resolve(c: &Comparison) -> Result<TraceClause, SearchError> {
    use CompOp::*;
    let op = c.op;
    let key = c.ident.key.clone();
    let ent = entity(c.ident.entity.as_deref())?;
    let value_of = |what: &str| -> Result<TraceValue, SearchError> {
        if op.is_null_test() {
            return Ok(TraceValue::None);
        }
        match &c.value {
            Value::List { .. } => Ok(TraceValue::List(string_list(&c.value)?)),
            v => quoted(v, what).map(TraceValue::Text),
        }
    };
    match ent {
        Entity::Attribute => {
            let lower = key.to_lowercase();
            match lower.as_str() {
                "name" | "run_id" | "prompt" | "text" => {}
                _ if !matches!(
                    key.as_str(),
                    "request_id"
                        | "timestamp"
                        | "timestamp_ms"
                        | "execution_time"
                        | "execution_time_ms"
                        | "end_time"
                        | "end_time_ms"
                        | "status"
                        | "client_request_id"
                ) =>
                {
                    return Err(SearchError::new(format!(
                        "Invalid attribute key '{key}' specified. Valid keys are '{SEARCH_ATTRIBUTE_KEYS}'"
                    )));
                }
                _ => {}
            }
            // Value typing (`_get_value` for attributes).
            let value = match &c.value {
                Value::List { .. } => {
                    if !matches!(
                        key.as_str(),
                        "name" | "status" | "request_id" | "run_id" | "client_request_id"
                    ) {
                        return Err(SearchError::new(format!(
                            "Only attributes in {IN_KEYS} supports comparison with a list of quoted string values."
                        )));
                    }
                    TraceValue::List(string_list(&c.value)?)
                }
                Value::Num { raw, is_int } => {
                    if !matches!(
                        key.as_str(),
                        "timestamp_ms"
                            | "timestamp"
                            | "execution_time_ms"
                            | "execution_time"
                            | "end_time_ms"
                            | "end_time"
                    ) {
                        return Err(SearchError::new(format!(
                            "Only the '{NUMERIC_KEYS}' attributes support comparison with numeric values."
                        )));
                    }
                    match number(raw, *is_int) {
                        Number::Int(i) => TraceValue::Int(i),
                        Number::Float(f) => TraceValue::Float(f),
                    }
                }
                Value::Str { value, .. } => TraceValue::Text(value.clone()),
                Value::Null => TraceValue::None,
                Value::Bare { raw } => {
                    return Err(SearchError::new(format!(
                        "Expected a quoted string value or a list of quoted string values for attributes. Got value {raw}"
                    )));
                }
            };
            // Mapped keys (`_replace_key_to_tag_or_metadata`).
            let field = match lower.as_str() {
                "name" => {
                    if !matches!(
                        op,
                        Eq | Ne | Like | ILike | RLike | IsNull | IsNotNull | In | NotIn
                    ) {
                        return Err(invalid_comparator(op, TAG_COMPARATORS));
                    }
                    TraceField::Name
                }
                "prompt" => {
                    if op != Eq {
                        return Err(SearchError::new(format!(
                            "Invalid comparator '{}' for prompts filter. Only '=' is supported with format: prompt = \"name/version\"",
                            op.symbol()
                        )));
                    }
                    if let TraceValue::Text(v) = &value
                        && v.matches('/').count() != 1
                    {
                        return Err(SearchError::new(format!(
                            "Invalid prompts filter value '{v}'. Expected format: prompt = \"name/version\""
                        )));
                    }
                    TraceField::Prompt
                }
                "run_id" => TraceField::Metadata("mlflow.sourceRun".into()),
                "text" => TraceField::SpanContent,
                _ => match key.as_str() {
                    "timestamp" | "timestamp_ms" => TraceField::Numeric("timestamp_ms"),
                    "execution_time" | "execution_time_ms" => {
                        TraceField::Numeric("execution_time_ms")
                    }
                    "end_time" | "end_time_ms" => TraceField::Numeric("end_time_ms"),
                    "request_id" => TraceField::Str("request_id"),
                    "status" => TraceField::Str("status"),
                    _ => TraceField::Str("client_request_id"),
                },
            };
            match &field {
                TraceField::Numeric(_) => {
                    if !matches!(op, Eq | Ne | Lt | Le | Gt | Ge) {
                        return Err(invalid_comparator(op, NUMERIC_COMPARATORS));
                    }
                    if matches!(value, TraceValue::Text(_)) {
                        return Err(SearchError::new(format!(
                            "Expected numeric value type for numeric attribute: {key}. Found {}",
                            c.value.raw()
                        )));
                    }
                }
                TraceField::Str(_)
                    if !matches!(op, Eq | Ne | In | NotIn | Like | ILike | RLike) =>
                {
                    return Err(invalid_comparator(op, STRING_ATTR_COMPARATORS));
                }
                TraceField::Metadata(_)
                    if !matches!(
                        op,
                        Eq | Ne | Like | ILike | RLike | IsNull | IsNotNull | In | NotIn
                    ) =>
                {
                    return Err(invalid_comparator(op, TAG_COMPARATORS));
                }
                TraceField::SpanContent if !matches!(op, Like | ILike) => {
                    return Err(SearchError::new(format!(
                        "span.content comparator '{}' not one of '{{'LIKE', 'ILIKE'}}'",
                        op.symbol()
                    )));
                }
                _ => {}
            }
            Ok(TraceClause { field, op, value })
        }
        Entity::Tag => {
            let value = value_of("tag")?;
            if !matches!(op, Eq | Ne | Like | ILike | RLike | IsNull | IsNotNull) {
                return Err(invalid_comparator(op, TAG_COMPARATORS));
            }
            let field = if key.to_lowercase() == "name" || key == "mlflow.traceName" {
                TraceField::Name
            } else {
                TraceField::Tag(key)
            };
            Ok(TraceClause { field, op, value })
        }
        Entity::Metadata => {
            let value = value_of("request_metadata")?;
            if matches!(value, TraceValue::List(_)) {
                return Err(SearchError::new(format!(
                    "Expected a quoted string value for request_metadata (e.g. 'my-value'). Got value {}",
                    c.value.raw()
                )));
            }
            if !matches!(op, Eq | Ne | Like | ILike | RLike | IsNull | IsNotNull) {
                return Err(invalid_comparator(op, TAG_COMPARATORS));
            }
            Ok(TraceClause {
                field: TraceField::Metadata(key),
                op,
                value,
            })
        }
        Entity::Span => {
            let value = value_of("span")?;
            let span_set = STRING_ATTR_COMPARATORS;
            let field = if let Some(attr) = key.strip_prefix("attributes.") {
                if attr.is_empty() {
                    return Err(SearchError::new(
                        "Span attribute name cannot be empty after 'attributes.'",
                    ));
                }
                if !matches!(op, Eq | Ne | In | NotIn | Like | ILike | RLike) {
                    return Err(SearchError::new(format!(
                        "span.{key} comparator '{}' not one of '{span_set}'",
                        op.symbol()
                    )));
                }
                TraceField::SpanAttribute(attr.trim_matches('`').to_owned())
            } else if let Some(col) = match key.as_str() {
                "name" => Some("name"),
                "type" => Some("type"),
                "status" => Some("status"),
                _ => None,
            } {
                if !matches!(op, Eq | Ne | In | NotIn | Like | ILike | RLike) {
                    return Err(SearchError::new(format!(
                        "span.{key} comparator '{}' not one of '{span_set}'",
                        op.symbol()
                    )));
                }
                TraceField::SpanColumn(col)
            } else if key == "content" {
                if !matches!(op, Like | ILike) {
                    return Err(SearchError::new(format!(
                        "span.{key} comparator '{}' not one of '{{'LIKE', 'ILIKE'}}'",
                        op.symbol()
                    )));
                }
                TraceField::SpanContent
            } else {
                return Err(SearchError::new(format!(
                    "Invalid span attribute '{key}'. Supported attributes: name, status, type, attributes.<attribute_name>."
                )));
            };
            Ok(TraceClause { field, op, value })
        }
        Entity::Feedback | Entity::Expectation => {
            let kind = if ent == Entity::Feedback {
                "feedback"
            } else {
                "expectation"
            };
            let value = if op.is_null_test() {
                TraceValue::None
            } else {
                match &c.value {
                    Value::Str { value, .. } => TraceValue::Text(value.clone()),
                    Value::Num { raw, is_int } => match number(raw, *is_int) {
                        Number::Int(i) => TraceValue::Int(i),
                        Number::Float(f) => TraceValue::Float(f),
                    },
                    Value::Bare { raw } => return Err(crate::common::not_quoted(raw)),
                    other => {
                        return Err(SearchError::new(format!(
                            "Expected a quoted string value or numeric value for {kind} (e.g. 'my-value' or 0.8). Got value {}",
                            other.raw()
                        )));
                    }
                }
            };
            if key.is_empty() {
                return Err(SearchError::new("Assessment field name cannot be empty"));
            }
            if !matches!(
                op,
                Eq | Ne | Lt | Le | Gt | Ge | Like | ILike | RLike | IsNull | IsNotNull
            ) {
                return Err(SearchError::new(format!(
                    "assessment.{key} comparator '{}' not one of '{ASSESSMENT_COMPARATORS}'",
                    op.symbol()
                )));
            }
            Ok(TraceClause {
                field: TraceField::Assessment { kind, name: key },
                op,
                value,
            })
        }
        Entity::Issue => {
            let value = value_of("issue")?;
            if key != "id" {
                return Err(SearchError::new(format!(
                    "Invalid issue attribute '{key}'. Supported attributes: id"
                )));
            }
            if op != Eq {
                return Err(SearchError::new(format!(
                    "issue.{key} comparator '{}' not one of '{{'='}}'",
                    op.symbol()
                )));
            }
            Ok(TraceClause {
                field: TraceField::Issue,
                op,
                value,
            })
        }
    }
}

/// Parses and validates a traces filter. `Ok(None)` for an empty filter.
pub fn parse_traces_filter(filter: &str) -> Result<Option<Filter<TraceClause>>, SearchError> {
    let Some(expr) = parse_filter(filter).map_err(|e| SearchError::new(e.runs_message()))? else {
        return Ok(None);
    };
    Ok(Some(expr.try_map(&mut |c| resolve(c))?))
}

/// A validated order_by term.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceOrderBy {
    pub field: TraceField,
    pub ascending: bool,
}

/// `parse_order_by_for_search_traces` + the store's checks.
pub fn parse_traces_order_by(order_by: &[String]) -> Result<Vec<TraceOrderBy>, SearchError> {
    let mut out: Vec<TraceOrderBy> = Vec::new();
    for entry in order_by {
        let term = parse_order_by(entry).map_err(SearchError::new)?;
        let key = term.ident.key.clone();
        let field = match entity(term.ident.entity.as_deref())? {
            Entity::Attribute => match key.to_lowercase().as_str() {
                "name" => TraceField::Name,
                "run_id" => TraceField::Metadata("mlflow.sourceRun".into()),
                _ => match key.as_str() {
                    "experiment_id" => TraceField::Str("experiment_id"),
                    "timestamp" | "timestamp_ms" => TraceField::Numeric("timestamp_ms"),
                    "execution_time" | "execution_time_ms" => {
                        TraceField::Numeric("execution_time_ms")
                    }
                    "end_time" | "end_time_ms" => TraceField::Numeric("end_time_ms"),
                    "status" => TraceField::Str("status"),
                    "request_id" => TraceField::Str("request_id"),
                    _ => {
                        return Err(SearchError::new(format!(
                            "Invalid attribute key '{key}' specified. Valid keys are '{ORDER_BY_ATTRIBUTE_KEYS}'"
                        )));
                    }
                },
            },
            Entity::Tag if key == "mlflow.traceName" => TraceField::Name,
            Entity::Tag => TraceField::Tag(key),
            Entity::Metadata => {
                if key == "mlflow.trace.tokenUsage" || key == "mlflow.trace.cost" {
                    return Err(SearchError::new(format!(
                        "Ordering by reserved metadata '{key}' is not supported because it is represented by multiple columns."
                    )));
                }
                TraceField::Metadata(key)
            }
            _ => {
                let t = term.ident.entity.clone().unwrap_or_default();
                return Err(SearchError::new(format!("Invalid identifier type '{t}'")));
            }
        };
        if out.iter().any(|o| o.field == field) {
            return Err(SearchError::new(format!(
                "`order_by` contains duplicate fields: {}",
                py_list_repr(order_by)
            )));
        }
        out.push(TraceOrderBy {
            field,
            ascending: term.ascending,
        });
    }
    Ok(out)
}

fn numeric_column(name: &str) -> &'static str {
    match name {
        "timestamp_ms" => "trace_info.timestamp_ms",
        "execution_time_ms" => "trace_info.execution_time_ms",
        _ => "(trace_info.timestamp_ms + COALESCE(trace_info.execution_time_ms, 0))",
    }
}

fn str_column(name: &str) -> &'static str {
    match name {
        "request_id" => "trace_info.request_id",
        "status" => "trace_info.status",
        "experiment_id" => "trace_info.experiment_id",
        _ => "trace_info.client_request_id",
    }
}

/// Builds `SELECT trace_info.request_id FROM trace_info … LIMIT ? OFFSET ?`.
pub fn search_traces_query(
    dialect: Dialect,
    experiment_ids: &[i64],
    filter: &str,
    order_by: &[String],
    limit: i64,
    offset: i64,
) -> Result<SqlQuery, SearchError> {
    let filter = parse_traces_filter(filter)?;
    let order = parse_traces_order_by(order_by)?;
    let mut b = SqlBuilder::new(dialect);
    b.push("SELECT trace_info.request_id FROM trace_info");
    let mut order_sql = SqlBuilder::new(dialect);
    let (mut has_ts, mut has_id) = (false, false);
    for (i, term) in order.iter().enumerate() {
        let dir = if term.ascending { " ASC" } else { " DESC" };
        if !order_sql.is_empty() {
            order_sql.push(", ");
        }
        let (col, nullable) = match &term.field {
            TraceField::Numeric(n) => {
                has_ts |= *n == "timestamp_ms";
                (numeric_column(n).to_owned(), *n != "timestamp_ms")
            }
            TraceField::Str(n) => {
                has_id |= *n == "request_id";
                (str_column(n).to_owned(), *n == "client_request_id")
            }
            TraceField::Name => ("trace_info.trace_name".to_owned(), true),
            TraceField::Metadata(k) if k == "mlflow.trace.session" => {
                ("trace_info.session_id".to_owned(), true)
            }
            TraceField::Tag(k) | TraceField::Metadata(k) => {
                let table = if matches!(term.field, TraceField::Tag(_)) {
                    "trace_tags"
                } else {
                    "trace_request_metadata"
                };
                let alias = format!("ob{}", i + 1);
                b.push(" LEFT OUTER JOIN ")
                    .push(table)
                    .push(" ")
                    .push(&alias)
                    .push(" ON ")
                    .push(&alias)
                    .push(".request_id = trace_info.request_id AND ");
                b.key_equals(&alias, k);
                (format!("{alias}.value"), true)
            }
            _ => continue,
        };
        if nullable {
            order_sql
                .push("CASE WHEN ")
                .push(&col)
                .push(" IS NULL THEN 1 ELSE 0 END, ");
        }
        order_sql.push(&col).push(dir);
    }
    if !has_ts {
        if !order_sql.is_empty() {
            order_sql.push(", ");
        }
        order_sql.push("trace_info.timestamp_ms DESC");
    }
    if !has_id {
        order_sql.push(", trace_info.request_id ASC");
    }
    b.push(" WHERE ");
    if experiment_ids.is_empty() {
        b.push("1 = 0");
    } else {
        b.push("trace_info.experiment_id IN (");
        for (i, id) in experiment_ids.iter().enumerate() {
            if i > 0 {
                b.push(", ");
            }
            b.bind(SqlValue::Int(*id));
        }
        b.push(")");
    }
    if let Some(f) = &filter {
        b.push(" AND ");
        compile_top(&mut b, f);
    }
    b.push(" ORDER BY ").append(order_sql);
    b.push(" LIMIT ").bind(SqlValue::Int(limit));
    b.push(" OFFSET ").bind(SqlValue::Int(offset));
    Ok(b.finish())
}

fn is_span_clause(c: &TraceClause) -> bool {
    matches!(
        c.field,
        TraceField::SpanColumn(_) | TraceField::SpanAttribute(_) | TraceField::SpanContent
    )
}

/// The top level: span clauses of a conjunction share one EXISTS (same span), as official.
fn compile_top(b: &mut SqlBuilder, f: &Filter<TraceClause>) {
    let parts: Vec<&Filter<TraceClause>> = match f {
        Filter::And(xs) => xs.iter().collect(),
        other => vec![other],
    };
    let (span, rest): (Vec<_>, Vec<_>) = parts
        .into_iter()
        .partition(|x| matches!(x, Filter::Clause(c) if is_span_clause(c)));
    b.push("(");
    let mut first = true;
    for x in rest {
        if !first {
            b.push(" AND ");
        }
        first = false;
        compile_filter(b, x);
    }
    if !span.is_empty() {
        if !first {
            b.push(" AND ");
        }
        let clauses: Vec<&TraceClause> = span
            .iter()
            .filter_map(|x| match x {
                Filter::Clause(c) => Some(c),
                _ => None,
            })
            .collect();
        span_exists(b, &clauses);
    }
    b.push(")");
}

fn compile_filter(b: &mut SqlBuilder, f: &Filter<TraceClause>) {
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
        Filter::Clause(c) if is_span_clause(c) => span_exists(b, &[c]),
        Filter::Clause(c) => compile_clause(b, c),
    }
}

fn operand(v: &TraceValue) -> (StrOperand<'_>, String) {
    match v {
        TraceValue::Text(s) => (StrOperand::One(s), String::new()),
        TraceValue::List(xs) => (StrOperand::List(xs), String::new()),
        TraceValue::Int(i) => (StrOperand::One(""), i.to_string()),
        TraceValue::Float(f) => (StrOperand::One(""), crate::common::py_float_str(*f)),
        TraceValue::None => (StrOperand::One(""), String::new()),
    }
}

fn str_cmp(b: &mut SqlBuilder, col: &str, op: CompOp, v: &TraceValue) {
    let (o, num) = operand(v);
    if !num.is_empty() {
        b.string_comparison(col, op, &StrOperand::One(&num));
    } else {
        b.string_comparison(col, op, &o);
    }
}

fn span_exists(b: &mut SqlBuilder, clauses: &[&TraceClause]) {
    b.push(
        "EXISTS (SELECT 1 FROM spans sp WHERE sp.trace_id = trace_info.request_id \
         AND sp.experiment_id = trace_info.experiment_id",
    );
    for c in clauses {
        b.push(" AND ");
        match &c.field {
            TraceField::SpanColumn(col) => str_cmp(b, &format!("sp.{col}"), c.op, &c.value),
            TraceField::SpanContent => str_cmp(b, "sp.content", c.op, &c.value),
            TraceField::SpanAttribute(attr) => {
                let v = match &c.value {
                    TraceValue::Text(s) => s.clone(),
                    _ => String::new(),
                };
                let pattern = if c.op == CompOp::RLike {
                    let (mut body, prefix) = match v.strip_prefix('^') {
                        Some(rest) => (rest.to_owned(), "\"\\\\\""),
                        None => (v.clone(), "\"\\\\\".*"),
                    };
                    let suffix = if body.ends_with('$') {
                        body.pop();
                        "\\\\\""
                    } else {
                        ""
                    };
                    format!("\"{attr}\": {prefix}{body}{suffix}")
                } else {
                    format!("%\"{attr}\"{v}%")
                };
                match &c.value {
                    TraceValue::List(xs) => {
                        let items: Vec<String> =
                            xs.iter().map(|x| format!("%\"{attr}\"{x}%")).collect();
                        b.string_comparison("sp.content", c.op, &StrOperand::List(&items));
                    }
                    _ => b.string_comparison("sp.content", c.op, &StrOperand::One(&pattern)),
                }
            }
            _ => {
                b.push("1 = 1");
            }
        }
    }
    b.push(")");
}

fn kv_exists(b: &mut SqlBuilder, table: &str, key: &str, op: CompOp, v: &TraceValue) {
    if op == CompOp::IsNull {
        b.push("NOT ");
    }
    b.push("EXISTS (SELECT 1 FROM ")
        .push(table)
        .push(" kv WHERE kv.request_id = trace_info.request_id AND ");
    b.key_equals("kv", key);
    if !op.is_null_test() {
        b.push(" AND ");
        str_cmp(b, "kv.value", op, v);
    }
    b.push(")");
}

fn compile_clause(b: &mut SqlBuilder, c: &TraceClause) {
    use CompOp::*;
    match &c.field {
        TraceField::Numeric(n) => {
            let v = match c.value {
                TraceValue::Int(i) => SqlValue::Int(i),
                TraceValue::Float(f) => SqlValue::Float(f),
                _ => SqlValue::Int(0),
            };
            b.numeric_comparison(numeric_column(n), c.op, v);
        }
        TraceField::Str(n) => str_cmp(b, str_column(n), c.op, &c.value),
        TraceField::Name => match c.op {
            IsNull => {
                b.push("trace_info.trace_name IS NULL");
            }
            IsNotNull => {
                b.push("trace_info.trace_name IS NOT NULL");
            }
            op => str_cmp(b, "trace_info.trace_name", op, &c.value),
        },
        TraceField::Tag(k) => kv_exists(b, "trace_tags", k, c.op, &c.value),
        TraceField::Metadata(k) if k == "mlflow.trace.session" => match c.op {
            IsNull => {
                b.push("trace_info.session_id IS NULL");
            }
            IsNotNull => {
                b.push("trace_info.session_id IS NOT NULL");
            }
            op => str_cmp(b, "trace_info.session_id", op, &c.value),
        },
        TraceField::Metadata(k) if k == "mlflow.trace.tokenUsage" || k == "mlflow.trace.cost" => {
            let cols: &[&str] = if k == "mlflow.trace.cost" {
                &["input_cost", "output_cost", "total_cost"]
            } else {
                &[
                    "input_tokens",
                    "output_tokens",
                    "total_tokens",
                    "cache_read_input_tokens",
                    "cache_creation_input_tokens",
                    "cache_creation_input_tokens_above_1hr",
                ]
            };
            let exists = cols
                .iter()
                .map(|c| format!("trace_info.{c} IS NOT NULL"))
                .collect::<Vec<_>>()
                .join(" OR ");
            match c.op {
                IsNull => {
                    b.push("NOT (").push(&exists).push(")");
                }
                Ne | IsNotNull => {
                    b.push("(").push(&exists).push(")");
                }
                _ => {
                    b.push("1 = 0");
                }
            }
        }
        TraceField::Metadata(k) if k == "mlflow.sourceRun" && c.op == Eq => {
            b.push(
                "(EXISTS (SELECT 1 FROM entity_associations ea WHERE ea.source_id = trace_info.request_id \
                 AND ea.source_type = 'trace' AND ea.destination_type = 'run' AND ea.destination_id = ",
            );
            str_bind(b, &c.value);
            b.push(") OR EXISTS (SELECT 1 FROM trace_request_metadata rm WHERE rm.request_id = trace_info.request_id AND ");
            b.key_equals("rm", "mlflow.sourceRun");
            b.push(" AND ");
            str_cmp(b, "rm.value", Eq, &c.value);
            b.push("))");
        }
        TraceField::Metadata(k) => kv_exists(b, "trace_request_metadata", k, c.op, &c.value),
        TraceField::Prompt => {
            b.push(
                "EXISTS (SELECT 1 FROM entity_associations ea WHERE ea.source_id = trace_info.request_id \
                 AND ea.source_type = 'trace' AND ea.destination_type = 'prompt_version' AND ea.destination_id = ",
            );
            str_bind(b, &c.value);
            b.push(")");
        }
        TraceField::Issue => {
            b.push("EXISTS (SELECT 1 FROM assessments ai WHERE ai.trace_id = trace_info.request_id AND ai.assessment_type = 'issue' AND ai.name = ");
            str_bind(b, &c.value);
            b.push(")");
        }
        TraceField::Assessment { kind, name } => {
            if c.op == IsNull {
                b.push("NOT ");
            }
            b.push("EXISTS (SELECT 1 FROM assessments asm WHERE asm.trace_id = trace_info.request_id AND asm.assessment_type = ");
            b.bind_text(kind);
            b.push(" AND asm.name = ");
            b.bind_text(name);
            b.push(" AND asm.valid = ").bool_literal(true);
            match c.op {
                IsNull | IsNotNull => {}
                Lt | Le | Gt | Ge => {
                    b.push(" AND asm.is_numeric_value = ").bool_literal(true);
                    b.push(" AND ");
                    let v = match c.value {
                        TraceValue::Int(i) => SqlValue::Float(i as f64),
                        TraceValue::Float(f) => SqlValue::Float(f),
                        TraceValue::Text(ref s) => SqlValue::Float(s.parse().unwrap_or(f64::NAN)),
                        _ => SqlValue::Float(f64::NAN),
                    };
                    b.numeric_comparison("asm.aggregate_value", c.op, v);
                }
                Eq | Ne => {
                    let (raw, dumped) = match &c.value {
                        TraceValue::Text(s) => (s.clone(), py_json_str(s)),
                        TraceValue::Int(i) => (i.to_string(), i.to_string()),
                        TraceValue::Float(f) => {
                            let s = crate::common::py_float_str(*f);
                            (s.clone(), s)
                        }
                        _ => (String::new(), String::new()),
                    };
                    b.push(" AND ");
                    if c.op == Ne {
                        b.push("NOT ");
                    }
                    b.push("(");
                    b.string_comparison("asm.value", Eq, &StrOperand::One(&raw));
                    b.push(" OR ");
                    b.string_comparison("asm.value", Eq, &StrOperand::One(&dumped));
                    b.push(")");
                }
                op => {
                    b.push(" AND ");
                    str_cmp(b, "asm.value", op, &c.value);
                }
            }
            b.push(")");
        }
        TraceField::SpanColumn(_) | TraceField::SpanAttribute(_) | TraceField::SpanContent => {
            span_exists(b, &[c]);
        }
    }
}

fn str_bind(b: &mut SqlBuilder, v: &TraceValue) {
    match v {
        TraceValue::Text(s) => b.bind_text(s),
        _ => b.bind_text(""),
    };
}

/// `json.dumps(str)` (ASCII-escaped, Python separators).
fn py_json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn q(filter: &str) -> SqlQuery {
        search_traces_query(Dialect::Sqlite, &[1], filter, &[], 10, 0).unwrap()
    }

    #[test]
    fn compiles_each_kind() {
        for f in [
            "trace.status = 'OK'",
            "timestamp_ms > 5 AND execution_time < 3.5",
            "tags.`env` = 'prod'",
            "metadata.`mlflow.sourceRun` = 'r'",
            "run_id = 'r'",
            "name LIKE 'a%'",
            "span.type = 'LLM' AND span.name = 'x'",
            "span.attributes.k LIKE '%v%'",
            "feedback.correctness = 'yes'",
            "feedback.score >= 0.5",
            "expectation.e IS NULL",
            "request_id IN ('a', 'b')",
            "text LIKE '%hello%'",
            "issue.id = 'i'",
            "prompt = 'p/1'",
            "trace.end_time_ms <= 10",
        ] {
            let query = q(f);
            assert_eq!(
                query.sql.matches('?').count(),
                query.binds.len(),
                "{f}: {}",
                query.sql
            );
        }
    }

    #[test]
    fn errors() {
        let e = |f: &str| search_traces_query(Dialect::Sqlite, &[1], f, &[], 10, 0).unwrap_err();
        assert!(
            e("foo.bar = 'x'")
                .message
                .starts_with("Invalid entity type 'foo'")
        );
        assert!(
            e("trace.nope = 'x'")
                .message
                .starts_with("Invalid attribute key 'nope'")
        );
        assert!(
            e("span.foo = 'x'")
                .message
                .starts_with("Invalid span attribute 'foo'")
        );
        assert!(
            e("tags.a > 'x'")
                .message
                .starts_with("Invalid comparator '>'")
        );
    }

    #[test]
    fn order_by() {
        let q = search_traces_query(
            Dialect::Postgres,
            &[1],
            "",
            &["tags.a DESC".into(), "timestamp_ms ASC".into()],
            10,
            0,
        )
        .unwrap();
        assert!(
            q.sql.contains("LEFT OUTER JOIN trace_tags ob1"),
            "{}",
            q.sql
        );
        assert!(
            q.sql
                .contains("trace_info.timestamp_ms ASC, trace_info.request_id ASC")
        );
    }
}
