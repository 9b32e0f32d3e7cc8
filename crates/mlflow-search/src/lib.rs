//! MLflow's search grammar (`filter` / `order_by` strings) as a lexer, a typed AST, per-entity
//! validation with the official error texts, and a compiler to parameterised SQL.
//!
//! Layers, so other searches (registered models, model versions, logged models, traces) can
//! reuse the bottom two with their own entity tables:
//!
//! * [`lexer`] – tokens (never fails);
//! * [`parser`] – entity-agnostic [`ast::Expr`] (AND/OR/parentheses) and order_by terms;
//! * [`runs`], [`experiments`] – identifier resolution, official validation order and
//!   messages, SQL generation;
//! * [`sql`] – dialects, bound values and the builder that keeps text and binds in step.
//!
//! **SQL contract.** Every user value is a bind; placeholders are always `?` (the store
//! rewrites them to `$n` for Postgres — no `?` ever appears inside a literal we emit), and
//! `binds` are in placeholder order, i.e. text order: for runs, sort-join keys first, then
//! experiment ids, then filter values, then LIMIT and OFFSET.

pub mod ast;
mod common;
pub mod datasets;
pub mod experiments;
pub mod lexer;
pub mod logged_models;
pub mod parser;
pub mod registry;
pub mod runs;
pub mod sql;
pub mod traces;

pub use experiments::{search_experiments_query, search_experiments_query_in_workspace};
pub use runs::search_runs_query;
pub use sql::{Dialect, SqlQuery, SqlValue};

/// Lifecycle filter of a search (`run_view_type` / `view_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ViewType {
    #[default]
    ActiveOnly,
    DeletedOnly,
    All,
}

/// A user error in a filter or order_by. The store returns it as `INVALID_PARAMETER_VALUE`
/// with `message` as the error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SearchError {
    pub message: String,
}

impl SearchError {
    pub fn new(message: impl Into<String>) -> Self {
        SearchError {
            message: message.into(),
        }
    }
}
