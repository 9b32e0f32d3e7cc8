//! `datasets/search` (SearchEvaluationDatasets): identifier resolution, validation and SQL for
//! GenAI evaluation datasets (`SearchEvaluationDatasetsUtils` +
//! `_get_search_datasets_filter_clauses` / `_get_search_datasets_order_by_clauses`).
//!
//! Grammar: attributes `name created_time last_update_time created_by last_updated_by`
//! (unprefixed) and `tags.<key>`; order_by `name created_time last_update_time` (default
//! `created_time DESC`, tie-break `dataset_id DESC`). Validation runs in the official order:
//! identifiers and value types for every comparison first (parse), then operators per clause
//! (store). `OR` and parentheses are accepted as an extension, as for experiments.
//!
//! SQL: `SELECT d.dataset_id FROM evaluation_datasets d WHERE 1 = 1 [AND d.dataset_id IN
//! (<datasets linked to the experiments>)] [AND <filter>] ORDER BY … LIMIT ? OFFSET ?`; a tag
//! clause is a correlated `EXISTS` on `evaluation_dataset_tags` (the official inner join on a
//! one-row-per-key table). Binds are in text order.

use crate::SearchError;
use crate::ast::{CompOp, Comparison, Filter, Ident, Value};
use crate::common::{Number, number, py_float_str, string_list, string_value};
use crate::parser::{parse_filter, parse_order_by};
use crate::sql::{Dialect, SqlBuilder, SqlQuery, SqlValue, StrOperand};

const SEARCH_KEYS: &str =
    "{'name', 'created_time', 'last_update_time', 'created_by', 'last_updated_by'}";
const ORDER_BY_KEYS: &str = "{'name', 'created_time', 'last_update_time'}";

/// A searchable dataset column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetAttribute {
    Name,
    CreatedTime,
    LastUpdateTime,
    CreatedBy,
    LastUpdatedBy,
}

impl DatasetAttribute {
    fn from_key(key: &str) -> Option<Self> {
        Some(match key {
            "name" => Self::Name,
            "created_time" => Self::CreatedTime,
            "last_update_time" => Self::LastUpdateTime,
            "created_by" => Self::CreatedBy,
            "last_updated_by" => Self::LastUpdatedBy,
            _ => return None,
        })
    }

    pub fn key(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::CreatedTime => "created_time",
            Self::LastUpdateTime => "last_update_time",
            Self::CreatedBy => "created_by",
            Self::LastUpdatedBy => "last_updated_by",
        }
    }

    fn is_numeric(self) -> bool {
        matches!(self, Self::CreatedTime | Self::LastUpdateTime)
    }

    fn orderable(self) -> bool {
        matches!(self, Self::Name | Self::CreatedTime | Self::LastUpdateTime)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetField {
    Attribute(DatasetAttribute),
    Tag(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum DatasetValue {
    Text(String),
    List(Vec<String>),
    Int(i64),
}

/// One validated comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetClause {
    pub field: DatasetField,
    pub op: CompOp,
    pub value: DatasetValue,
}

/// One validated order_by term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetOrderBy {
    pub attribute: DatasetAttribute,
    pub ascending: bool,
}

/// `SearchEvaluationDatasetsUtils._get_identifier`.
fn resolve_ident(ident: &Ident, order_by: bool) -> Result<DatasetField, SearchError> {
    match ident.entity.as_deref() {
        None => {
            let attr = DatasetAttribute::from_key(&ident.key)
                .filter(|a| !order_by || a.orderable())
                .ok_or_else(|| {
                    SearchError::new(format!(
                        "Invalid attribute key '{}' specified. Valid keys are: {}",
                        ident.key,
                        if order_by { ORDER_BY_KEYS } else { SEARCH_KEYS }
                    ))
                })?;
            Ok(DatasetField::Attribute(attr))
        }
        Some("tags") => Ok(DatasetField::Tag(ident.key.clone())),
        Some(other) => Err(SearchError::new(format!(
            "Invalid identifier token '{other}' specified"
        ))),
    }
}

/// Parse phase: identifier and value typing (`SearchUtils._get_comparison` / `_get_value`
/// plus the datasets list check).
fn resolve_comparison(c: &Comparison) -> Result<(DatasetField, CompOp, DatasetValue), SearchError> {
    let field = resolve_ident(&c.ident, false)?;
    let raw = c.value.raw();
    if c.op.is_null_test() {
        if let DatasetField::Attribute(a) = field {
            return Err(SearchError::new(format!(
                "IS NULL / IS NOT NULL is only supported for tags and params, not for 'attribute' '{}'",
                a.key()
            )));
        }
        return Ok((field, c.op, DatasetValue::Text(String::new())));
    }
    let value = match &field {
        DatasetField::Tag(_) => match string_value(&c.value) {
            Ok(s) => DatasetValue::Text(s),
            Err(Some(e)) => return Err(e),
            Err(None) => {
                return Err(SearchError::new(format!(
                    "Expected a quoted string value for tag (e.g. 'my-value'). Got value {raw}"
                )));
            }
        },
        DatasetField::Attribute(a) if a.is_numeric() => {
            let Value::Num { raw: n, is_int } = &c.value else {
                return Err(SearchError::new(format!(
                    "Expected numeric value type for numeric attribute: {}. Found {raw}",
                    a.key()
                )));
            };
            match number(n, *is_int) {
                Number::Int(i) => DatasetValue::Int(i),
                Number::Float(f) => {
                    // Checked after the operator in the store phase; carried as text.
                    DatasetValue::Text(py_float_str(f))
                }
            }
        }
        DatasetField::Attribute(a) => match &c.value {
            Value::List { .. } => {
                if *a != DatasetAttribute::Name {
                    return Err(SearchError::new(
                        "Only ['name'] attributes support comparison with a list of quoted string values.",
                    ));
                }
                DatasetValue::List(string_list(&c.value)?)
            }
            v => match string_value(v) {
                Ok(s) => DatasetValue::Text(s),
                Err(Some(e)) => return Err(e),
                Err(None) => {
                    return Err(SearchError::new(format!(
                        "Expected a quoted string value for attributes. Got value {raw}"
                    )));
                }
            },
        },
    };
    if matches!(value, DatasetValue::List(_)) && c.op != CompOp::In {
        return Err(SearchError::new(
            "List values for 'name' are only supported with the IN comparator.",
        ));
    }
    Ok((field, c.op, value))
}

/// Store phase: operator checks (`_get_search_datasets_filter_clauses`).
fn finish_clause(
    (field, op, value): &(DatasetField, CompOp, DatasetValue),
) -> Result<DatasetClause, SearchError> {
    use CompOp::*;
    let sym = op.symbol();
    match field {
        DatasetField::Attribute(a) if a.is_numeric() => {
            if !matches!(op, Eq | Ne | Lt | Le | Gt | Ge) {
                return Err(SearchError::new(format!(
                    "Invalid comparator for numeric attribute: {sym}"
                )));
            }
            if let DatasetValue::Text(f) = value {
                return Err(SearchError::new(format!(
                    "Invalid value for numeric attribute '{}': '{f}'",
                    a.key()
                )));
            }
        }
        DatasetField::Attribute(a) => {
            let string_op = matches!(op, Eq | Ne | Like | ILike | In | NotIn);
            let allowed =
                matches!(op, Eq | Ne | Like | ILike) || (*a == DatasetAttribute::Name && *op == In);
            // The official store lets other operators (`<`, `>`) through to SQL; RLIKE has no
            // SQL mapping there (a 500), so it is refused here.
            if (string_op && !allowed) || *op == RLike {
                return Err(SearchError::new(format!(
                    "Invalid comparator for string attribute: {sym}"
                )));
            }
        }
        DatasetField::Tag(_) => {
            if !matches!(op, Eq | Ne | Like | ILike) {
                return Err(SearchError::new(format!(
                    "Invalid comparator for tag: {sym}"
                )));
            }
        }
    }
    Ok(DatasetClause {
        field: field.clone(),
        op: *op,
        value: value.clone(),
    })
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

/// Parses and validates a datasets filter. `Ok(None)` for an empty filter.
pub fn parse_datasets_filter(filter: &str) -> Result<Option<Filter<DatasetClause>>, SearchError> {
    let Some(expr) = parse_filter(filter).map_err(|e| SearchError::new(e.plain_message()))? else {
        return Ok(None);
    };
    let typed = expr.try_map(&mut |c| resolve_comparison(c))?;
    Ok(Some(map_filter(&typed, &mut |t| finish_clause(t))?))
}

/// Parses order_by entries; empty means `created_time DESC`.
pub fn parse_datasets_order_by(order_by: &[String]) -> Result<Vec<DatasetOrderBy>, SearchError> {
    if order_by.is_empty() {
        return Ok(vec![DatasetOrderBy {
            attribute: DatasetAttribute::CreatedTime,
            ascending: false,
        }]);
    }
    let mut out = Vec::with_capacity(order_by.len());
    for entry in order_by {
        let term = parse_order_by(entry).map_err(SearchError::new)?;
        match resolve_ident(&term.ident, true)? {
            DatasetField::Attribute(attribute) => out.push(DatasetOrderBy {
                attribute,
                ascending: term.ascending,
            }),
            DatasetField::Tag(_) => return Err(SearchError::new("Invalid order_by entity: tag")),
        }
    }
    Ok(out)
}

fn compile_filter(b: &mut SqlBuilder, f: &Filter<DatasetClause>) {
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

fn compile_clause(b: &mut SqlBuilder, c: &DatasetClause) {
    match (&c.field, &c.value) {
        (DatasetField::Attribute(a), DatasetValue::Int(i)) => {
            let col = format!("d.{}", a.key());
            b.numeric_comparison(&col, c.op, SqlValue::Int(*i));
        }
        (DatasetField::Attribute(a), DatasetValue::Text(s)) => {
            let col = format!("d.{}", a.key());
            b.string_comparison(&col, c.op, &StrOperand::One(s));
        }
        (DatasetField::Attribute(a), DatasetValue::List(items)) => {
            let col = format!("d.{}", a.key());
            b.string_comparison(&col, c.op, &StrOperand::List(items));
        }
        (DatasetField::Tag(key), value) => {
            b.push(
                "EXISTS (SELECT 1 FROM evaluation_dataset_tags t WHERE t.dataset_id = d.dataset_id AND ",
            );
            b.key_equals("t", key);
            b.push(" AND ");
            match value {
                DatasetValue::Text(s) => b.string_comparison("t.value", c.op, &StrOperand::One(s)),
                _ => {
                    b.push("1 = 0");
                }
            }
            b.push(")");
        }
    }
}

/// The whole search statement. `experiment_ids: Some` restricts to datasets associated with
/// those experiments (`entity_associations`).
pub fn search_datasets_query(
    dialect: Dialect,
    experiment_ids: Option<&[String]>,
    filter: &str,
    order_by: &[String],
    limit: i64,
    offset: i64,
) -> Result<SqlQuery, SearchError> {
    let filter = parse_datasets_filter(filter)?;
    let order = parse_datasets_order_by(order_by)?;
    let mut b = SqlBuilder::new(dialect);
    b.push("SELECT d.dataset_id FROM evaluation_datasets d WHERE 1 = 1");
    if let Some(ids) = experiment_ids {
        b.push(
            " AND d.dataset_id IN (SELECT ea.source_id FROM entity_associations ea \
             WHERE ea.source_type = 'evaluation_dataset' AND ea.destination_type = 'experiment' \
             AND ea.destination_id IN (",
        );
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                b.push(", ");
            }
            b.bind_text(id);
        }
        if ids.is_empty() {
            b.push("NULL");
        }
        b.push("))");
    }
    if let Some(f) = &filter {
        b.push(" AND ");
        compile_filter(&mut b, f);
    }
    b.push(" ORDER BY ");
    for o in &order {
        b.push("d.")
            .push(o.attribute.key())
            .push(if o.ascending { " ASC, " } else { " DESC, " });
    }
    b.push("d.dataset_id DESC");
    b.push(" LIMIT ").bind(SqlValue::Int(limit));
    b.push(" OFFSET ").bind(SqlValue::Int(offset));
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(f: &str) -> String {
        parse_datasets_filter(f).unwrap_err().message
    }

    #[test]
    fn grammar() {
        let f = parse_datasets_filter(
            "name = 'a' AND tags.env LIKE 'p%' AND created_time > 5 AND name IN ('x', 'y')",
        )
        .unwrap()
        .unwrap();
        let cs = f.clauses();
        assert_eq!(cs.len(), 4);
        assert_eq!(cs[2].value, DatasetValue::Int(5));
        assert_eq!(
            cs[3].value,
            DatasetValue::List(vec!["x".into(), "y".into()])
        );
        assert!(parse_datasets_filter(" ").unwrap().is_none());
        assert!(parse_datasets_filter("name > 'a'").is_ok());
    }

    #[test]
    fn messages() {
        assert!(
            err("foo = 'a'")
                .starts_with("Invalid attribute key 'foo' specified. Valid keys are: {")
        );
        assert_eq!(
            err("foo.bar = 'a'"),
            "Invalid identifier token 'foo' specified"
        );
        assert_eq!(
            err("created_time > 'abc'"),
            "Expected numeric value type for numeric attribute: created_time. Found 'abc'"
        );
        assert_eq!(
            err("created_time > 1.5"),
            "Invalid value for numeric attribute 'created_time': '1.5'"
        );
        assert_eq!(
            err("created_time LIKE 1"),
            "Invalid comparator for numeric attribute: LIKE"
        );
        assert_eq!(err("tags.a > 'x'"), "Invalid comparator for tag: >");
        assert_eq!(
            err("created_by IN ('a','b')"),
            "Only ['name'] attributes support comparison with a list of quoted string values."
        );
        assert_eq!(
            err("name NOT IN ('a')"),
            "List values for 'name' are only supported with the IN comparator."
        );
        assert_eq!(
            err("name = 'a' AND x"),
            "Invalid clause(s) in filter string: x"
        );
    }

    #[test]
    fn order_by() {
        let q = |o: &str| {
            parse_datasets_order_by(&[o.to_string()])
                .unwrap_err()
                .message
        };
        assert!(q("digest ASC").starts_with("Invalid attribute key 'digest' specified."));
        assert_eq!(q("tags.a ASC"), "Invalid order_by entity: tag");
        assert_eq!(
            parse_datasets_order_by(&["name".into()]).unwrap()[0].attribute,
            DatasetAttribute::Name
        );
    }

    #[test]
    fn sql_binds_match_placeholders() {
        let q = search_datasets_query(
            Dialect::Postgres,
            Some(&["1".into(), "2".into()]),
            "tags.a = 'x' AND name ILIKE 'd%'",
            &["name ASC".into()],
            11,
            5,
        )
        .unwrap();
        assert_eq!(q.sql.matches('?').count(), q.binds.len());
        assert_eq!(q.binds[0], SqlValue::Text("1".into()));
        assert_eq!(*q.binds.last().unwrap(), SqlValue::Int(5));
        assert!(q.sql.contains("ORDER BY d.name ASC, d.dataset_id DESC"));
    }
}
