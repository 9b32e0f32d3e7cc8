//! `logged-models/search`: the filter grammar of `utils/search_logged_model_utils.py`, order_by
//! objects and the SQL of `SqlAlchemyStore.search_logged_models`.
//!
//! Grammar and validation (official order, per comparison): the filter is comparisons joined by
//! `AND` (no `OR`); the entity is `attributes` (default), `metrics`, `params` or `tags`; the
//! operator must be numeric (`< <= > >= = !=`) for metrics and the timestamp attributes, a
//! string operator (`= != LIKE ILIKE IN NOT IN`) otherwise; numeric values are floats. An
//! unprefixed attribute goes through the official aliases (`creation_time`,
//! `creation_timestamp` → `creation_timestamp_ms`, `last_updated_timestamp` →
//! `last_updated_timestamp_ms`). String values keep the official `value.strip("'")`: double
//! quotes stay part of the value.
//!
//! SQL shape: `SELECT lm.model_id FROM logged_models lm [sort joins] WHERE lm.lifecycle_stage
//! != 'deleted' AND lm.experiment_id IN (…) AND <clauses> ORDER BY … LIMIT ? OFFSET ?`.
//! Metric, param and tag clauses are correlated `EXISTS` (a metric clause matches when *any*
//! logged value of the metric satisfies it, restricted to the `datasets` when given, as the
//! official subquery join does). Sorting on a metric uses its latest value (timestamp, step
//! desc, run id asc), restricted to the order_by's dataset.

use crate::SearchError;
use crate::ast::{CompOp, Expr, Value};
use crate::parser::parse_filter;
use crate::sql::{Dialect, SqlBuilder, SqlQuery, SqlValue, StrOperand};

/// The `logged_models` columns (`getattr(SqlLoggedModel, key)` succeeds for these).
const COLUMNS: [&str; 11] = [
    "model_id",
    "experiment_id",
    "name",
    "artifact_location",
    "creation_timestamp_ms",
    "last_updated_timestamp_ms",
    "status",
    "lifecycle_stage",
    "model_type",
    "source_run_id",
    "status_message",
];

/// `SqlLoggedModel.ALIASES`.
fn alias(key: &str) -> &str {
    match key {
        "creation_time" | "creation_timestamp" => "creation_timestamp_ms",
        "last_updated_timestamp" => "last_updated_timestamp_ms",
        other => other,
    }
}

fn is_numeric_attribute(key: &str) -> bool {
    matches!(
        alias(key),
        "creation_timestamp_ms" | "last_updated_timestamp_ms"
    )
}

/// Integer columns compared with string operators in the official grammar.
fn is_int_attribute(key: &str) -> bool {
    matches!(key, "status" | "experiment_id")
}

/// Python's `repr(str)`.
fn py_repr(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityType {
    Attribute,
    Metric,
    Param,
    Tag,
}

impl EntityType {
    fn name(self) -> &'static str {
        match self {
            EntityType::Attribute => "attributes",
            EntityType::Metric => "metrics",
            EntityType::Param => "params",
            EntityType::Tag => "tags",
        }
    }
}

/// A typed right-hand side.
#[derive(Debug, Clone, PartialEq)]
pub enum LmValue {
    Number(f64),
    Text(String),
    List(Vec<String>),
}

/// One validated comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct LmClause {
    pub entity: EntityType,
    pub key: String,
    pub op: CompOp,
    pub value: LmValue,
}

/// One `order_by` object of the request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LmOrderBy {
    pub field_name: String,
    pub ascending: bool,
    pub dataset_name: Option<String>,
    pub dataset_digest: Option<String>,
}

/// One `datasets` entry of the request (`digest: None` matches metrics without a digest, as the
/// official handler passes `dataset_digest: None` and compares with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LmDataset {
    pub name: String,
    pub digest: Option<String>,
}

fn invalid_filter(filter: &str) -> SearchError {
    SearchError::new(format!(
        "Invalid filter string: {}. Expected a list of comparisons separated by 'AND' \
         (e.g. 'metrics.loss > 0.1 AND params.lr = 0.01').",
        py_repr(filter)
    ))
}

fn flatten_and<'a>(e: &'a Expr, out: &mut Vec<&'a crate::ast::Comparison>) -> bool {
    match e {
        Expr::And(xs) => xs.iter().all(|x| flatten_and(x, out)),
        Expr::Or(_) => false,
        Expr::Cmp(c) => {
            out.push(c);
            true
        }
    }
}

/// Python's `str(value)` of a filter value, for `float()` errors.
fn float_value(v: &Value) -> Result<f64, SearchError> {
    let raw = v.raw();
    raw.trim().parse::<f64>().map_err(|_| {
        SearchError::new(format!(
            "could not convert string to float: {}",
            py_repr(raw)
        ))
    })
}

fn string_value(v: &Value) -> Result<LmValue, SearchError> {
    Ok(match v {
        Value::List { items, raw } => {
            let items = items
                .as_ref()
                .ok_or_else(|| SearchError::new(format!("Invalid list value in filter: {raw}")))?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::Str { value, .. } => out.push(value.clone()),
                    Value::Num { raw, .. } => out.push(raw.clone()),
                    other => {
                        return Err(SearchError::new(format!(
                            "Invalid list value in filter: {}",
                            other.raw()
                        )));
                    }
                }
            }
            LmValue::List(out)
        }
        // `value.strip("'")`: only single quotes are removed.
        other => LmValue::Text(other.raw().trim_matches('\'').to_string()),
    })
}

/// `parse_filter_string` plus the attribute existence check of the SQL step.
pub fn parse_logged_models_filter(filter: &str) -> Result<Vec<LmClause>, SearchError> {
    let expr = match parse_filter(filter) {
        Ok(Some(e)) => e,
        Ok(None) => return Ok(Vec::new()),
        Err(_) => return Err(invalid_filter(filter)),
    };
    let mut comps = Vec::new();
    if !flatten_and(&expr, &mut comps) {
        return Err(invalid_filter(filter));
    }
    let mut out = Vec::with_capacity(comps.len());
    for c in comps {
        let (entity, key) = match c.ident.entity.as_deref() {
            None => (EntityType::Attribute, alias(&c.ident.key).to_string()),
            Some("attributes") => (EntityType::Attribute, c.ident.key.clone()),
            Some("metrics") => (EntityType::Metric, c.ident.key.clone()),
            Some("params") => (EntityType::Param, c.ident.key.clone()),
            Some("tags") => (EntityType::Tag, c.ident.key.clone()),
            Some(other) => {
                return Err(SearchError::new(format!(
                    "Invalid entity type: {}. Expected one of ['attributes', 'metrics', 'params', 'tags'].",
                    py_repr(other)
                )));
            }
        };
        if c.op.is_null_test() {
            return Err(SearchError::new(format!(
                "Invalid comparison: {}{}. Expected a comparison with 3 tokens.",
                c.ident.raw,
                c.op.symbol()
            )));
        }
        let numeric = entity == EntityType::Metric
            || (entity == EntityType::Attribute && is_numeric_attribute(&key));
        let op_ok = if numeric {
            matches!(
                c.op,
                CompOp::Lt | CompOp::Le | CompOp::Gt | CompOp::Ge | CompOp::Eq | CompOp::Ne
            )
        } else {
            matches!(
                c.op,
                CompOp::Eq | CompOp::Ne | CompOp::Like | CompOp::ILike | CompOp::In | CompOp::NotIn
            )
        };
        if !op_ok {
            let ops = if numeric {
                "('<', '<=', '>', '>=', '=', '!=')"
            } else {
                "('=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN')"
            };
            return Err(SearchError::new(format!(
                "Invalid comparison operator for {}.{key}: {}. Expected one of {ops}.",
                entity.name(),
                py_repr(c.op.symbol())
            )));
        }
        let value = if numeric {
            LmValue::Number(float_value(&c.value)?)
        } else {
            string_value(&c.value)?
        };
        out.push(LmClause {
            entity,
            key,
            op: c.op,
            value,
        });
    }
    for c in &out {
        if c.entity == EntityType::Attribute && !COLUMNS.contains(&c.key.as_str()) {
            return Err(SearchError::new(format!(
                "type object 'SqlLoggedModel' has no attribute {}",
                py_repr(&c.key)
            )));
        }
    }
    Ok(out)
}

/// Resolved order_by term.
#[derive(Debug, Clone, PartialEq)]
enum Sort<'a> {
    Column(&'static str, bool),
    Metric(&'a LmOrderBy, String),
}

fn resolve_order_by(order_by: &[LmOrderBy]) -> Result<Vec<Sort<'_>>, SearchError> {
    let mut out = Vec::with_capacity(order_by.len());
    for ob in order_by {
        let field = ob.field_name.as_str();
        match field.split_once('.') {
            None => {
                let name = alias(field);
                let col = COLUMNS.iter().find(|c| **c == name).ok_or_else(|| {
                    SearchError::new(format!("Invalid order by field name: {field}"))
                })?;
                out.push(Sort::Column(col, ob.ascending));
            }
            Some(("metrics", key)) => out.push(Sort::Metric(ob, key.to_string())),
            Some(_) => {
                return Err(SearchError::new(format!(
                    "Invalid order by field name: {field}. Only metrics are supported."
                )));
            }
        }
    }
    Ok(out)
}

/// Status filter values may be the enum name or its number.
fn status_number(s: &str) -> Option<i64> {
    const NAMES: [&str; 4] = [
        "LOGGED_MODEL_STATUS_UNSPECIFIED",
        "LOGGED_MODEL_PENDING",
        "LOGGED_MODEL_READY",
        "LOGGED_MODEL_UPLOAD_FAILED",
    ];
    NAMES
        .iter()
        .position(|n| *n == s)
        .map(|i| i as i64)
        .or_else(|| s.trim().parse::<i64>().ok())
}

fn int_of(key: &str, s: &str) -> Option<i64> {
    if key == "status" {
        status_number(s)
    } else {
        s.trim().parse::<i64>().ok()
    }
}

fn text_cast(dialect: Dialect, col: &str) -> String {
    match dialect {
        Dialect::MySql => format!("CAST({col} AS CHAR)"),
        _ => format!("CAST({col} AS VARCHAR(64))"),
    }
}

/// An integer column under string operators: numbers compare as integers, other values match
/// nothing (`=`, `IN`) or everything (`!=`, `NOT IN`), pattern operators see the text form.
fn int_attribute_clause(b: &mut SqlBuilder, key: &str, col: &str, op: CompOp, value: &LmValue) {
    match (op, value) {
        (CompOp::Eq | CompOp::Ne, LmValue::Text(s)) => match int_of(key, s) {
            Some(i) => b.numeric_comparison(col, op, SqlValue::Int(i)),
            None if op == CompOp::Eq => {
                b.push("1 = 0");
            }
            None => {
                b.push(col).push(" IS NOT NULL");
            }
        },
        (CompOp::In | CompOp::NotIn, LmValue::List(items)) => {
            let ints: Vec<i64> = items.iter().filter_map(|s| int_of(key, s)).collect();
            if ints.is_empty() {
                b.push(if op == CompOp::In { "1 = 0" } else { "1 = 1" });
                return;
            }
            b.push(col).push(if op == CompOp::In {
                " IN ("
            } else {
                " NOT IN ("
            });
            for (i, v) in ints.iter().enumerate() {
                if i > 0 {
                    b.push(", ");
                }
                b.bind(SqlValue::Int(*v));
            }
            b.push(")");
        }
        (_, LmValue::Text(s)) => {
            let cast = text_cast(b.dialect, col);
            b.string_comparison(&cast, op, &StrOperand::One(s));
        }
        _ => {
            b.push("1 = 0");
        }
    }
}

fn str_operand(v: &LmValue) -> StrOperand<'_> {
    match v {
        LmValue::Text(s) => StrOperand::One(s),
        LmValue::List(xs) => StrOperand::List(xs),
        LmValue::Number(_) => StrOperand::One(""),
    }
}

fn dataset_filter(b: &mut SqlBuilder, alias: &str, datasets: &[LmDataset]) {
    b.push("(");
    for (i, d) in datasets.iter().enumerate() {
        if i > 0 {
            b.push(" OR ");
        }
        b.push("(").push(alias).push(".dataset_name = ");
        b.bind_text(&d.name);
        match &d.digest {
            Some(dg) => {
                b.push(" AND ").push(alias).push(".dataset_digest = ");
                b.bind_text(dg);
            }
            None => {
                b.push(" AND ").push(alias).push(".dataset_digest IS NULL");
            }
        }
        b.push(")");
    }
    b.push(")");
}

fn compile_clause(b: &mut SqlBuilder, c: &LmClause, datasets: &[LmDataset]) {
    match c.entity {
        EntityType::Attribute => {
            let col = format!("lm.{}", c.key);
            if is_int_attribute(&c.key) {
                int_attribute_clause(b, &c.key, &col, c.op, &c.value);
            } else if let LmValue::Number(f) = c.value {
                b.numeric_comparison(&col, c.op, SqlValue::Float(f));
            } else {
                b.string_comparison(&col, c.op, &str_operand(&c.value));
            }
        }
        EntityType::Metric => {
            b.push(
                "EXISTS (SELECT 1 FROM logged_model_metrics m WHERE m.model_id = lm.model_id \
                 AND m.metric_name = ",
            );
            b.bind_text(&c.key).push(" AND ");
            let v = match c.value {
                LmValue::Number(f) => f,
                _ => f64::NAN,
            };
            b.numeric_comparison("m.metric_value", c.op, SqlValue::Float(v));
            if !datasets.is_empty() {
                b.push(" AND ");
                dataset_filter(b, "m", datasets);
            }
            b.push(")");
        }
        EntityType::Param | EntityType::Tag => {
            let (table, k, v) = if c.entity == EntityType::Param {
                ("logged_model_params", "p.param_key", "p.param_value")
            } else {
                ("logged_model_tags", "p.tag_key", "p.tag_value")
            };
            b.push("EXISTS (SELECT 1 FROM ")
                .push(table)
                .push(" p WHERE p.model_id = lm.model_id AND ");
            b.string_comparison(k, CompOp::Eq, &StrOperand::One(&c.key));
            b.push(" AND ");
            b.string_comparison(v, c.op, &str_operand(&c.value));
            b.push(")");
        }
    }
}

/// Builds the whole search statement. Binds are in text order: sort joins, experiment ids,
/// filter values, LIMIT, OFFSET.
#[allow(clippy::too_many_arguments)]
pub fn search_logged_models_query(
    dialect: Dialect,
    experiment_ids: &[i64],
    filter: &str,
    datasets: &[LmDataset],
    order_by: &[LmOrderBy],
    limit: i64,
    offset: i64,
) -> Result<SqlQuery, SearchError> {
    let clauses = parse_logged_models_filter(filter)?;
    let sorts = resolve_order_by(order_by)?;

    let mut b = SqlBuilder::new(dialect);
    b.push("SELECT lm.model_id FROM logged_models lm");
    let mut order = SqlBuilder::new(dialect);
    let mut has_creation = false;
    let mut has_model_id = false;
    for (i, s) in sorts.iter().enumerate() {
        if i > 0 {
            order.push(", ");
        }
        match s {
            Sort::Column(col, asc) => {
                has_creation |= *col == "creation_timestamp_ms";
                has_model_id |= *col == "model_id";
                let c = format!("lm.{col}");
                order
                    .push("CASE WHEN ")
                    .push(&c)
                    .push(" IS NULL THEN 1 ELSE 0 END, ")
                    .push(&c)
                    .push(if *asc { " ASC" } else { " DESC" });
            }
            Sort::Metric(ob, key) => {
                let a = format!("ob{}", i + 1);
                b.push(" LEFT OUTER JOIN (SELECT model_id, metric_value FROM (SELECT model_id, metric_value, \
                        ROW_NUMBER() OVER (PARTITION BY model_id, metric_name ORDER BY metric_timestamp_ms DESC, \
                        metric_step DESC, run_id ASC) AS row_num FROM logged_model_metrics WHERE metric_name = ");
                b.bind_text(key);
                if let Some(n) = &ob.dataset_name {
                    b.push(" AND dataset_name = ").bind_text(n);
                }
                if let Some(d) = &ob.dataset_digest {
                    b.push(" AND dataset_digest = ").bind_text(d);
                }
                b.push(") lat WHERE row_num = 1) ")
                    .push(&a)
                    .push(" ON ")
                    .push(&a)
                    .push(".model_id = lm.model_id");
                let v = format!("{a}.metric_value");
                order
                    .push("CASE WHEN ")
                    .push(&v)
                    .push(" IS NULL THEN 1 ELSE 0 END, ")
                    .push(&v)
                    .push(if ob.ascending { " ASC" } else { " DESC" });
            }
        }
    }
    if !has_creation {
        if !order.is_empty() {
            order.push(", ");
        }
        order.push("lm.creation_timestamp_ms DESC");
    }
    if !has_model_id {
        if !order.is_empty() {
            order.push(", ");
        }
        order.push("lm.model_id ASC");
    }

    b.push(" WHERE lm.lifecycle_stage != 'deleted' AND ");
    if experiment_ids.is_empty() {
        b.push("1 = 0");
    } else {
        b.push("lm.experiment_id IN (");
        for (i, id) in experiment_ids.iter().enumerate() {
            if i > 0 {
                b.push(", ");
            }
            b.bind(SqlValue::Int(*id));
        }
        b.push(")");
    }
    let has_metric = clauses.iter().any(|c| c.entity == EntityType::Metric);
    for c in &clauses {
        b.push(" AND ");
        compile_clause(&mut b, c, datasets);
    }
    if !datasets.is_empty() && !has_metric {
        b.push(
            " AND EXISTS (SELECT 1 FROM logged_model_metrics dm WHERE dm.model_id = lm.model_id AND ",
        );
        dataset_filter(&mut b, "dm", datasets);
        b.push(")");
    }
    b.push(" ORDER BY ").append(order);
    b.push(" LIMIT ").bind(SqlValue::Int(limit));
    b.push(" OFFSET ").bind(SqlValue::Int(offset));
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(f: &str) -> String {
        parse_logged_models_filter(f).unwrap_err().message
    }

    #[test]
    fn grammar() {
        let c =
            parse_logged_models_filter("metrics.acc > 0.5 AND name = 'm1' AND creation_time > 1")
                .unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].value, LmValue::Number(0.5));
        assert_eq!(c[1].value, LmValue::Text("m1".into()));
        assert_eq!(c[2].key, "creation_timestamp_ms");
        let c = parse_logged_models_filter("name IN ('a', 'b')").unwrap();
        assert_eq!(c[0].value, LmValue::List(vec!["a".into(), "b".into()]));
        let c = parse_logged_models_filter("name = \"m1\"").unwrap();
        assert_eq!(c[0].value, LmValue::Text("\"m1\"".into()));
        assert!(parse_logged_models_filter("  ").unwrap().is_empty());
    }

    #[test]
    fn messages() {
        assert_eq!(
            err("name = 'a' OR name = 'b'"),
            "Invalid filter string: \"name = 'a' OR name = 'b'\". Expected a list of comparisons \
             separated by 'AND' (e.g. 'metrics.loss > 0.1 AND params.lr = 0.01')."
        );
        assert_eq!(
            err("metric.acc > 1"),
            "Invalid entity type: 'metric'. Expected one of ['attributes', 'metrics', 'params', 'tags']."
        );
        assert_eq!(
            err("metrics.acc LIKE 1"),
            "Invalid comparison operator for metrics.acc: 'LIKE'. Expected one of ('<', '<=', '>', '>=', '=', '!=')."
        );
        assert_eq!(
            err("name > 'a'"),
            "Invalid comparison operator for attributes.name: '>'. Expected one of ('=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN')."
        );
        assert_eq!(
            err("last_updated_time > 0"),
            "Invalid comparison operator for attributes.last_updated_time: '>'. Expected one of ('=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN')."
        );
        assert_eq!(
            err("foo = 'x'"),
            "type object 'SqlLoggedModel' has no attribute 'foo'"
        );
        assert_eq!(
            err("metrics.acc > abc"),
            "could not convert string to float: 'abc'"
        );
    }

    #[test]
    fn order_by_errors() {
        let ob = |f: &str| LmOrderBy {
            field_name: f.into(),
            ascending: true,
            ..Default::default()
        };
        let q = |o: LmOrderBy| {
            search_logged_models_query(Dialect::Sqlite, &[1], "", &[], &[o], 10, 0)
                .unwrap_err()
                .message
        };
        assert_eq!(q(ob("foo")), "Invalid order by field name: foo");
        assert_eq!(
            q(ob("params.p")),
            "Invalid order by field name: params.p. Only metrics are supported."
        );
    }

    #[test]
    fn sql_binds_in_order() {
        let q = search_logged_models_query(
            Dialect::Postgres,
            &[1, 2],
            "metrics.acc >= 1 AND params.p = 'x'",
            &[LmDataset {
                name: "ds".into(),
                digest: None,
            }],
            &[LmOrderBy {
                field_name: "metrics.acc".into(),
                ascending: false,
                dataset_name: Some("ds".into()),
                dataset_digest: None,
            }],
            11,
            0,
        )
        .unwrap();
        assert_eq!(q.sql.matches('?').count(), q.binds.len());
        assert_eq!(q.binds[0], SqlValue::Text("acc".into()));
        assert_eq!(q.binds[1], SqlValue::Text("ds".into()));
        assert_eq!(q.binds[2], SqlValue::Int(1));
        assert_eq!(*q.binds.last().unwrap(), SqlValue::Int(0));
    }
}
