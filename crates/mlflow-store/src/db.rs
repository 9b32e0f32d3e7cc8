//! Connection handling shared by every query: URI translation, dialect, pools, placeholders.
//!
//! We talk to SQLite, PostgreSQL and MySQL through sqlx's `Any` driver so that there is one
//! store implementation. `Any` does not translate placeholders, so all SQL in this crate is
//! written with `?` and [`Db::sql`] rewrites it to `$1..$n` for PostgreSQL.

use mlflow_domain::{Error, Result};
use mlflow_search::{Dialect, SqlValue};
use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Arguments, AssertSqlSafe, Row};
use std::borrow::Cow;
use std::time::Duration;

/// A database handle: a read pool and a write pool.
///
/// On SQLite the write pool has a single connection, so writers queue in-process instead of
/// fighting over the file lock (no "database is locked", and no busy-wait). On server
/// databases both handles are the same pool.
#[derive(Clone, Debug)]
pub struct Db {
    pub dialect: Dialect,
    pub read: AnyPool,
    pub write: AnyPool,
    /// Background tasks (the WAL checkpointer) stop once every clone of this handle is gone.
    _alive: std::sync::Arc<()>,
}

/// Translates an MLflow/SQLAlchemy backend URI into a sqlx URL and its dialect.
///
/// Accepts `sqlite:///relative.db`, `sqlite:////abs/path.db`, `sqlite://` (memory),
/// `postgresql[+driver]://...`, `postgres://...`, `mysql[+driver]://...`.
pub fn translate_uri(uri: &str) -> Result<(Dialect, String)> {
    let (scheme, rest) = uri
        .split_once("://")
        .ok_or_else(|| Error::invalid(format!("Invalid backend store URI '{uri}'")))?;
    let base = scheme
        .split('+')
        .next()
        .unwrap_or(scheme)
        .to_ascii_lowercase();
    match base.as_str() {
        "sqlite" => {
            // SQLAlchemy: sqlite:///rel.db -> "rel.db"; sqlite:////abs.db -> "/abs.db".
            let path = rest.strip_prefix('/').unwrap_or(rest);
            let (path, query) = path.split_once('?').unwrap_or((path, ""));
            if path.is_empty() || path == ":memory:" {
                return Ok((Dialect::Sqlite, "sqlite::memory:".into()));
            }
            let mut url = format!("sqlite://{path}?mode=rwc");
            if !query.is_empty() {
                url.push('&');
                url.push_str(query);
            }
            Ok((Dialect::Sqlite, url))
        }
        "postgresql" | "postgres" => Ok((Dialect::Postgres, format!("postgres://{rest}"))),
        "mysql" | "mariadb" => Ok((Dialect::MySql, format!("mysql://{rest}"))),
        other => Err(Error::invalid(format!(
            "Unsupported backend store URI scheme '{other}'. Supported: sqlite, postgresql, mysql"
        ))),
    }
}

impl Db {
    /// Opens pools for `uri` (an MLflow backend-store URI).
    pub async fn connect(uri: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (dialect, url) = translate_uri(uri)?;
        match dialect {
            Dialect::Sqlite => {
                let memory = url.starts_with("sqlite::memory:");
                let pragma = |opts: AnyPoolOptions| {
                    opts.after_connect(|conn, _| {
                        Box::pin(async move {
                            use sqlx::Executor;
                            conn.execute("PRAGMA busy_timeout = 30000").await?;
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            // Commits never pay for a checkpoint: `spawn_checkpointer` does it
                            // in the background (see there).
                            conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
                            Ok(())
                        })
                    })
                };
                // An in-memory database exists per connection, so it gets one shared pool.
                let write = pragma(AnyPoolOptions::new().max_connections(1).min_connections(1))
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect(&url)
                    .await
                    .map_err(db_err)?;
                let alive = std::sync::Arc::new(());
                let read = if memory {
                    write.clone()
                } else {
                    let read = pragma(AnyPoolOptions::new().max_connections(8))
                        .connect(&url)
                        .await
                        .map_err(db_err)?;
                    spawn_checkpointer(read.clone(), std::sync::Arc::downgrade(&alive));
                    read
                };
                Ok(Self {
                    dialect,
                    read,
                    write,
                    _alive: alive,
                })
            }
            Dialect::Postgres | Dialect::MySql => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(&url)
                    .await
                    .map_err(db_err)?;
                Ok(Self {
                    dialect,
                    read: pool.clone(),
                    write: pool,
                    _alive: std::sync::Arc::new(()),
                })
            }
        }
    }

    /// Prepares SQL text for the dialect (rewriting `?` placeholders outside literals).
    ///
    /// Every SQL string in this crate is built from fixed fragments and `?` placeholders;
    /// user values are always bound, never spliced, which is what `AssertSqlSafe` asserts.
    pub fn sql(&self, sql: &str) -> AssertSqlSafe<String> {
        AssertSqlSafe(rewrite_placeholders(self.dialect, sql).into_owned())
    }

    /// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken
    /// up front, so a transaction never fails half-way when another process (a second replica
    /// on the same file) committed in between; `busy_timeout` makes it wait instead.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let tx = match self.dialect {
            Dialect::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await,
            _ => self.write.begin().await,
        };
        tx.map_err(db_err)
    }

    /// SQL for a boolean literal (`is_nan = TRUE` vs `= 1`).
    pub fn bool_lit(&self, b: bool) -> &'static str {
        match (self.dialect, b) {
            (Dialect::Postgres, true) => "TRUE",
            (Dialect::Postgres, false) => "FALSE",
            (_, true) => "1",
            (_, false) => "0",
        }
    }

    /// The quoted `key` column name (a reserved word on MySQL).
    pub fn key_col(&self) -> &'static str {
        match self.dialect {
            Dialect::MySql => "`key`",
            _ => "\"key\"",
        }
    }

    /// An expression that reads a BOOLEAN column as an integer. sqlx's `Any` driver cannot
    /// decode a SQLite column declared `BOOLEAN`, so every boolean is read through this.
    pub fn bool_read(&self, col: &str) -> String {
        match self.dialect {
            Dialect::Postgres => format!("CAST({col} AS INTEGER)"),
            Dialect::Sqlite => format!("({col} + 0)"),
            Dialect::MySql => format!("({col} + 0)"),
        }
    }
}

/// Checkpoints the SQLite WAL in the background.
///
/// With SQLite's default auto-checkpoint, the commit that pushes the WAL past 1000 pages copies
/// them into the database and fsyncs it, inside the writer's critical section. A log-batch of
/// 100 metric keys dirties a few hundred index pages, so every third commit paid for a
/// checkpoint. Instead, connections run with `wal_autocheckpoint = 0` and this task runs a
/// PASSIVE checkpoint (never blocks readers or the writer) every 250 ms, coalescing the pages of
/// many commits. It stops when the store is dropped or the pool is closed.
fn spawn_checkpointer(pool: AnyPool, alive: std::sync::Weak<()>) {
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if pool.is_closed() || alive.strong_count() == 0 {
                // Last checkpoint so the WAL does not outlive the store.
                let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(&pool)
                    .await;
                pool.close().await;
                break;
            }
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                tracing::debug!(error = %e, "background WAL checkpoint failed");
            }
        }
    });
}

/// Rewrites `?` to `$n` for PostgreSQL, skipping quoted strings and identifiers.
pub fn rewrite_placeholders(dialect: Dialect, sql: &str) -> Cow<'_, str> {
    if dialect != Dialect::Postgres || !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    out.push(c);
                }
                '?' => {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                }
                c => out.push(c),
            },
        }
    }
    Cow::Owned(out)
}

/// Builds sqlx arguments from search-compiler values.
pub fn args_from(values: &[SqlValue]) -> Result<AnyArguments> {
    let mut args = AnyArguments::default();
    for v in values {
        let r = match v {
            SqlValue::Text(s) => args.add(s.clone()),
            SqlValue::Int(i) => args.add(*i),
            SqlValue::Float(f) => args.add(*f),
        };
        r.map_err(|e| Error::internal(format!("failed to bind a query argument: {e}")))?;
    }
    Ok(args)
}

/// Maps a database error to an INTERNAL_ERROR without leaking SQL to the client.
pub fn db_err(e: sqlx::Error) -> Error {
    tracing::error!(error = %e, "database error");
    Error::internal(format!("Database error: {}", short_db_message(&e)))
}

fn short_db_message(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => d.message().to_string(),
        sqlx::Error::PoolTimedOut => "timed out waiting for a database connection".into(),
        other => other.to_string(),
    }
}

/// True when a store error came from a unique/primary-key violation (after [`db_err`] turned
/// it into an INTERNAL_ERROR), for callers that retry a transaction that lost an insert race.
pub fn is_unique_violation_error(e: &Error) -> bool {
    e.code == mlflow_domain::ErrorCode::InternalError
        && (e.message.contains("UNIQUE constraint failed")
            || e.message
                .contains("duplicate key value violates unique constraint")
            || e.message.contains("Duplicate entry"))
}

/// True when a store error is a lock conflict the database resolved by aborting this
/// transaction (MySQL/MariaDB "Deadlock found", PostgreSQL "deadlock detected" or a
/// serialization failure): nothing of it was written, and running it again is safe.
pub fn is_retryable_conflict_error(e: &Error) -> bool {
    e.code == mlflow_domain::ErrorCode::InternalError
        && (e.message.contains("Deadlock found")
            || e.message.contains("deadlock detected")
            || e.message.contains("could not serialize access")
            || e.message.contains("Lock wait timeout exceeded"))
}

/// True when the error is a unique/primary-key violation.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            matches!(d.kind(), sqlx::error::ErrorKind::UniqueViolation)
                || d.message().contains("UNIQUE constraint failed")
                || d.message().contains("Duplicate entry")
        }
        _ => false,
    }
}

/// Row readers that tolerate the per-backend type differences seen through `Any`.
pub trait RowExt {
    fn i64_at(&self, idx: usize) -> Result<i64>;
    fn opt_i64_at(&self, idx: usize) -> Result<Option<i64>>;
    fn f64_at(&self, idx: usize) -> Result<f64>;
    fn str_at(&self, idx: usize) -> Result<String>;
    fn opt_str_at(&self, idx: usize) -> Result<Option<String>>;
}

fn decode_err(idx: usize, e: sqlx::Error) -> Error {
    Error::internal(format!("failed to decode column {idx}: {e}"))
}

impl RowExt for AnyRow {
    fn i64_at(&self, idx: usize) -> Result<i64> {
        self.opt_i64_at(idx)?
            .ok_or_else(|| Error::internal(format!("unexpected NULL in column {idx}")))
    }
    fn opt_i64_at(&self, idx: usize) -> Result<Option<i64>> {
        match self.try_get::<Option<i64>, _>(idx) {
            Ok(v) => Ok(v),
            Err(e) => match self.try_get::<Option<bool>, _>(idx) {
                Ok(b) => Ok(b.map(i64::from)),
                Err(_) => match self.try_get::<Option<f64>, _>(idx) {
                    Ok(f) => Ok(f.map(|f| f as i64)),
                    Err(_) => Err(decode_err(idx, e)),
                },
            },
        }
    }
    fn f64_at(&self, idx: usize) -> Result<f64> {
        match self.try_get::<f64, _>(idx) {
            Ok(v) => Ok(v),
            Err(e) => match self.try_get::<i64, _>(idx) {
                Ok(i) => Ok(i as f64),
                Err(_) => Err(decode_err(idx, e)),
            },
        }
    }
    fn str_at(&self, idx: usize) -> Result<String> {
        Ok(self.opt_str_at(idx)?.unwrap_or_default())
    }
    fn opt_str_at(&self, idx: usize) -> Result<Option<String>> {
        self.try_get::<Option<String>, _>(idx)
            .map_err(|e| decode_err(idx, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(
            translate_uri("sqlite:///mlflow.db").unwrap(),
            (Dialect::Sqlite, "sqlite://mlflow.db?mode=rwc".into())
        );
        assert_eq!(
            translate_uri("sqlite:////tmp/x.db").unwrap(),
            (Dialect::Sqlite, "sqlite:///tmp/x.db?mode=rwc".into())
        );
        assert_eq!(
            translate_uri("postgresql+psycopg2://u@h:5432/d").unwrap(),
            (Dialect::Postgres, "postgres://u@h:5432/d".into())
        );
        assert_eq!(
            translate_uri("mysql+pymysql://root@h/d").unwrap().0,
            Dialect::MySql
        );
        assert!(translate_uri("nonsense").is_err());
    }

    #[test]
    fn placeholders() {
        assert_eq!(
            rewrite_placeholders(Dialect::Postgres, "a = ? AND b = '?' AND c = ?"),
            "a = $1 AND b = '?' AND c = $2"
        );
        assert_eq!(rewrite_placeholders(Dialect::Sqlite, "a = ?"), "a = ?");
    }
}
