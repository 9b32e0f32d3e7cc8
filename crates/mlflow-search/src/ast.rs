//! Entity-agnostic syntax tree for MLflow filter strings.
//!
//! The parser only knows the shape `ident op value`; what an identifier means (metric, tag,
//! attribute, …) and which operators and value types it accepts is decided by the per-entity
//! resolvers ([`crate::runs`], [`crate::experiments`], later registered models, traces, …), so
//! they can each reproduce the official validation order and messages.

/// A boolean combination of comparisons. `And`/`Or` always hold at least two children
/// (single children are unwrapped by the parser).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Cmp(Comparison),
}

impl Expr {
    /// All comparisons in source order (depth-first, left to right).
    pub fn comparisons(&self) -> Vec<&Comparison> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Comparison>) {
        match self {
            Expr::And(xs) | Expr::Or(xs) => xs.iter().for_each(|x| x.collect(out)),
            Expr::Cmp(c) => out.push(c),
        }
    }

    /// Maps every comparison to a resolved clause, keeping the boolean structure. The first
    /// error (in source order) wins, as with the official sequential clause processing.
    pub fn try_map<T, E>(
        &self,
        f: &mut impl FnMut(&Comparison) -> Result<T, E>,
    ) -> Result<Filter<T>, E> {
        Ok(match self {
            Expr::And(xs) => {
                Filter::And(xs.iter().map(|x| x.try_map(f)).collect::<Result<_, _>>()?)
            }
            Expr::Or(xs) => Filter::Or(xs.iter().map(|x| x.try_map(f)).collect::<Result<_, _>>()?),
            Expr::Cmp(c) => Filter::Clause(f(c)?),
        })
    }
}

/// A boolean tree over resolved (entity-specific) clauses.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter<T> {
    And(Vec<Filter<T>>),
    Or(Vec<Filter<T>>),
    Clause(T),
}

impl<T> Filter<T> {
    /// All clauses in source order.
    pub fn clauses(&self) -> Vec<&T> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a T>) {
        match self {
            Filter::And(xs) | Filter::Or(xs) => xs.iter().for_each(|x| x.collect(out)),
            Filter::Clause(c) => out.push(c),
        }
    }
}

/// One `ident op value` (or `ident IS [NOT] NULL`, with `value == Value::Null`).
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub ident: Ident,
    pub op: CompOp,
    pub value: Value,
}

/// `[entity.]key`, as written.
///
/// Mirrors `SearchUtils._get_identifier`: the text is split at the first dot; the entity
/// loses surrounding backticks, the key loses one level of quotes/backticks. A key written
/// unquoted with more dots (`tags.mlflow.runName`) keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    /// The entity prefix (`metrics`, `tag`, …) without backticks, `None` if there was no dot.
    pub entity: Option<String>,
    pub key: String,
    /// Source text, for error messages.
    pub raw: String,
}

/// Comparison operators. `<>` and `==` are accepted as `!=` and `=` (an extension: the
/// official parser lexes them but then rejects them as invalid comparators).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    ILike,
    RLike,
    In,
    NotIn,
    IsNull,
    IsNotNull,
}

impl CompOp {
    /// The canonical (upper-case) spelling used in SQL and in error messages.
    pub fn symbol(self) -> &'static str {
        match self {
            CompOp::Eq => "=",
            CompOp::Ne => "!=",
            CompOp::Lt => "<",
            CompOp::Le => "<=",
            CompOp::Gt => ">",
            CompOp::Ge => ">=",
            CompOp::Like => "LIKE",
            CompOp::ILike => "ILIKE",
            CompOp::RLike => "RLIKE",
            CompOp::In => "IN",
            CompOp::NotIn => "NOT IN",
            CompOp::IsNull => "IS NULL",
            CompOp::IsNotNull => "IS NOT NULL",
        }
    }

    pub fn is_null_test(self) -> bool {
        matches!(self, CompOp::IsNull | CompOp::IsNotNull)
    }
}

/// The right-hand side, kept close to the source so each entity can apply its own typing
/// rules and quote the offending text verbatim in errors.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A quoted string. `value` is the text between the quotes, *not* unescaped: the
    /// official parser keeps `''` and `\'` as written, and so do we for identical matches.
    Str { value: String, raw: String },
    /// A numeric literal (`5`, `-1.5e3`, `.5`, `5.`), as written.
    Num { raw: String, is_int: bool },
    /// An unquoted word or malformed number in value position (always an error later, but
    /// the message depends on the entity).
    Bare { raw: String },
    /// A parenthesised list (only after IN / NOT IN). `items` is `None` when the list is not
    /// a comma-separated sequence of literals.
    List {
        raw: String,
        items: Option<Vec<Value>>,
    },
    /// No value (`IS NULL` / `IS NOT NULL`).
    Null,
}

impl Value {
    /// Source text of the value.
    pub fn raw(&self) -> &str {
        match self {
            Value::Str { raw, .. }
            | Value::Num { raw, .. }
            | Value::Bare { raw }
            | Value::List { raw, .. } => raw,
            Value::Null => "None",
        }
    }
}
