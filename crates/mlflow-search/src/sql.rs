//! SQL building blocks shared by the per-entity compilers.
//!
//! Every value that comes from a user goes through [`SqlBuilder::bind`], which writes a `?`
//! placeholder and records the value; identifiers are only ever written from fixed strings in
//! this crate. Placeholders are always `?` whatever the dialect: the store rewrites them to
//! `$1..$n` for Postgres (there is never a `?` inside a string literal we emit).

use crate::ast::CompOp;

/// The database flavour the SQL is generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Sqlite,
    Postgres,
    MySql,
}

/// A bound parameter, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Text(String),
    Int(i64),
    Float(f64),
}

/// A complete statement: SQL text with `?` placeholders and the values to bind, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlQuery {
    pub sql: String,
    pub binds: Vec<SqlValue>,
}

/// Accumulates SQL text and binds together so their order can never diverge.
#[derive(Debug, Clone)]
pub struct SqlBuilder {
    pub dialect: Dialect,
    sql: String,
    binds: Vec<SqlValue>,
}

impl SqlBuilder {
    pub fn new(dialect: Dialect) -> Self {
        SqlBuilder {
            dialect,
            sql: String::new(),
            binds: Vec::new(),
        }
    }

    /// Appends trusted SQL text (never user input).
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a `?` placeholder bound to `value`.
    pub fn bind(&mut self, value: SqlValue) -> &mut Self {
        self.sql.push('?');
        self.binds.push(value);
        self
    }

    pub fn bind_text(&mut self, value: &str) -> &mut Self {
        self.bind(SqlValue::Text(value.to_owned()))
    }

    /// Appends another builder's text and binds (it must have been built for the same dialect).
    pub fn append(&mut self, other: SqlBuilder) -> &mut Self {
        self.sql.push_str(&other.sql);
        self.binds.extend(other.binds);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.sql.is_empty()
    }

    pub fn finish(self) -> SqlQuery {
        SqlQuery {
            sql: self.sql,
            binds: self.binds,
        }
    }

    /// `alias."key"` (or `` alias.`key` `` on MySQL): `key` is reserved on MySQL and the
    /// official schema always quotes it.
    pub fn key_column(&mut self, alias: &str) -> &mut Self {
        self.push(alias).push(".");
        match self.dialect {
            Dialect::MySql => self.push("`key`"),
            Dialect::Sqlite | Dialect::Postgres => self.push("\"key\""),
        }
    }

    /// A boolean literal for a BOOLEAN column (`is_nan`): Postgres needs `true`/`false`,
    /// SQLite and MySQL store 0/1.
    pub fn bool_literal(&mut self, value: bool) -> &mut Self {
        let lit = match (self.dialect, value) {
            (Dialect::Postgres, true) => "true",
            (Dialect::Postgres, false) => "false",
            (_, true) => "1",
            (_, false) => "0",
        };
        self.push(lit)
    }

    /// Case-sensitive comparison of a string column with a bound string, the way
    /// `SearchUtils.get_sql_comparison_func` makes it case-sensitive on every dialect:
    ///
    /// * `=`/`!=`/`LIKE`: plain on Postgres; MySQL adds a `BINARY` twin (its default
    ///   collation ignores case), keeping the non-binary test first so an index can be used.
    ///   SQLite `=` is already binary; SQLite `LIKE` ignores ASCII case unless
    ///   `PRAGMA case_sensitive_like` is on (the official server turns it on for every
    ///   session), so we rewrite the pattern to an equivalent `GLOB`, which is always
    ///   case-sensitive and needs no connection state.
    /// * `ILIKE`: native on Postgres, `LOWER(col) LIKE LOWER(?)` elsewhere (what SQLAlchemy
    ///   renders for `ilike`).
    /// * `IN`/`NOT IN`: MySQL compares `BINARY col`.
    /// * `RLIKE`: `~` on Postgres, `REGEXP` elsewhere (SQLite needs a registered `regexp`).
    ///
    /// `IS NULL`/`IS NOT NULL` never reach here: callers express them as (NOT) EXISTS.
    pub fn string_comparison(&mut self, column: &str, op: CompOp, value: &StrOperand<'_>) {
        let d = self.dialect;
        match (op, value) {
            (CompOp::In | CompOp::NotIn, StrOperand::List(items)) => {
                self.push("(");
                if d == Dialect::MySql {
                    self.push("BINARY ");
                }
                self.push(column);
                self.push(if op == CompOp::In {
                    " IN ("
                } else {
                    " NOT IN ("
                });
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.push(", ");
                    }
                    self.bind_text(item);
                }
                self.push("))");
            }
            (_, StrOperand::One(v)) => {
                let v: &str = v;
                match op {
                    CompOp::Eq | CompOp::Ne => {
                        let sym = if op == CompOp::Eq { " = " } else { " != " };
                        if d == Dialect::MySql {
                            let join = if op == CompOp::Eq { " AND " } else { " OR " };
                            self.push("(").push(column).push(sym).bind_text(v);
                            self.push(join).push("BINARY ").push(column).push(sym);
                            self.bind_text(v).push(")");
                        } else {
                            self.push(column).push(sym).bind_text(v);
                        }
                    }
                    CompOp::Like => match d {
                        Dialect::Sqlite => {
                            self.push(column).push(" GLOB ");
                            self.bind(SqlValue::Text(like_to_glob(v)));
                        }
                        Dialect::Postgres => {
                            self.push(column).push(" LIKE ").bind_text(v);
                        }
                        Dialect::MySql => {
                            self.push("(").push(column).push(" LIKE ").bind_text(v);
                            self.push(" AND BINARY ").push(column).push(" LIKE ");
                            self.bind_text(v).push(")");
                        }
                    },
                    CompOp::ILike => match d {
                        Dialect::Postgres => {
                            self.push(column).push(" ILIKE ").bind_text(v);
                        }
                        Dialect::Sqlite | Dialect::MySql => {
                            self.push("LOWER(").push(column).push(") LIKE LOWER(");
                            self.bind_text(v).push(")");
                        }
                    },
                    CompOp::RLike => match d {
                        Dialect::Postgres => {
                            self.push(column).push(" ~ ").bind_text(v);
                        }
                        Dialect::Sqlite => {
                            self.push(column).push(" REGEXP ").bind_text(v);
                        }
                        Dialect::MySql => {
                            self.push("(CAST(")
                                .push(column)
                                .push(" AS BINARY) REGEXP BINARY ");
                            self.bind_text(v).push(")");
                        }
                    },
                    CompOp::Lt | CompOp::Le | CompOp::Gt | CompOp::Ge => {
                        self.push(column).push(" ").push(op.symbol()).push(" ");
                        self.bind_text(v);
                    }
                    // Lists and NULL tests are rejected by validation before compiling.
                    CompOp::In | CompOp::NotIn | CompOp::IsNull | CompOp::IsNotNull => {
                        self.push("1 = 0");
                    }
                }
            }
            // A list with a scalar operator cannot pass validation; stay total anyway.
            (_, StrOperand::List(_)) => {
                self.push("1 = 0");
            }
        }
    }

    /// Numeric comparison `column op ?` (no case concerns).
    pub fn numeric_comparison(&mut self, column: &str, op: CompOp, value: SqlValue) {
        match op {
            CompOp::Eq | CompOp::Ne | CompOp::Lt | CompOp::Le | CompOp::Gt | CompOp::Ge => {
                self.push(column).push(" ").push(op.symbol()).push(" ");
                self.bind(value);
            }
            _ => {
                self.push("1 = 0");
            }
        }
    }

    /// Case-sensitive equality of a `key` column with a bound key (metric/param/tag key).
    pub fn key_equals(&mut self, alias: &str, key: &str) {
        let col = match self.dialect {
            Dialect::MySql => format!("{alias}.`key`"),
            Dialect::Sqlite | Dialect::Postgres => format!("{alias}.\"key\""),
        };
        self.string_comparison(&col, CompOp::Eq, &StrOperand::One(key));
    }
}

/// The right-hand side of a string comparison.
#[derive(Debug, Clone, Copy)]
pub enum StrOperand<'a> {
    One(&'a str),
    List(&'a [String]),
}

/// Translates a SQL LIKE pattern (no ESCAPE clause, as MLflow issues it on SQLite) into the
/// equivalent GLOB pattern: `%`→`*`, `_`→`?`, and GLOB's own metacharacters are wrapped in a
/// one-character class so they match literally.
pub fn like_to_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    for c in pattern.chars() {
        match c {
            '%' => out.push('*'),
            '_' => out.push('?'),
            '*' => out.push_str("[*]"),
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_translation() {
        assert_eq!(like_to_glob("a%b_c"), "a*b?c");
        assert_eq!(like_to_glob("*?[]"), "[*][?][[]]");
        assert_eq!(like_to_glob(""), "");
    }

    #[test]
    fn mysql_equality_is_binary_and_double_bound() {
        let mut b = SqlBuilder::new(Dialect::MySql);
        b.string_comparison("runs.status", CompOp::Eq, &StrOperand::One("X"));
        let q = b.finish();
        assert_eq!(q.sql, "(runs.status = ? AND BINARY runs.status = ?)");
        assert_eq!(q.binds.len(), 2);
    }

    #[test]
    fn list_comparisons() {
        let items = vec!["a".to_owned(), "b".to_owned()];
        let mut b = SqlBuilder::new(Dialect::Postgres);
        b.string_comparison("c", CompOp::NotIn, &StrOperand::List(&items));
        assert_eq!(b.finish().sql, "(c NOT IN (?, ?))");
        let mut b = SqlBuilder::new(Dialect::MySql);
        b.string_comparison("c", CompOp::In, &StrOperand::List(&items));
        assert_eq!(b.finish().sql, "(BINARY c IN (?, ?))");
    }
}
