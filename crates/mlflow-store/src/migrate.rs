//! Creates MLflow's own schema, or verifies an existing one, so databases move freely between
//! the official server and ours.
//!
//! The DDL files are the exact schema the official `mlflow server` 3.17.2 creates (alembic head
//! `dc11669786a5`), one per dialect, statements separated by a `--@@` line.

use crate::db::{Db, db_err};
use mlflow_domain::{Error, Result};
use mlflow_search::Dialect;
use sqlx::{Executor, Row};

/// The revision we create and stamp: MLflow 3.17.2's alembic head.
pub const SCHEMA_REVISION: &str = "dc11669786a5";
/// Revisions whose tracking tables we read and write unchanged (3.17.2 and the 3.18 head).
pub const COMPATIBLE_REVISIONS: &[&str] = &[SCHEMA_REVISION, "f4a9b2c7d1e6"];

const SQLITE_DDL: &str = include_str!("../migrations/sqlite.sql");
const POSTGRES_DDL: &str = include_str!("../migrations/postgres.sql");
const MYSQL_DDL: &str = include_str!("../migrations/mysql.sql");

fn ddl(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => SQLITE_DDL,
        Dialect::Postgres => POSTGRES_DDL,
        Dialect::MySql => MYSQL_DDL,
    }
}

/// Splits a DDL file into statements on `--@@` separator lines.
pub fn statements(ddl: &str) -> impl Iterator<Item = &str> {
    ddl.split("\n--@@")
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.starts_with("--@@"))
}

async fn table_exists(db: &Db, conn: &mut sqlx::AnyConnection, name: &str) -> Result<bool> {
    let sql = match db.dialect {
        Dialect::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?",
        Dialect::Postgres => {
            "SELECT CAST(tablename AS TEXT) FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?"
        }
        Dialect::MySql => {
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = ?"
        }
    };
    let row = sqlx::query(db.sql(sql))
        .bind(name.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(row.is_some())
}

/// Reads the stamped alembic revision, if the database has one.
pub async fn current_revision(db: &Db) -> Result<Option<String>> {
    let mut conn = db.write.acquire().await.map_err(db_err)?;
    revision_on(db, &mut conn).await
}

async fn revision_on(db: &Db, conn: &mut sqlx::AnyConnection) -> Result<Option<String>> {
    if !table_exists(db, conn, "alembic_version").await? {
        return Ok(None);
    }
    let row = sqlx::query("SELECT version_num FROM alembic_version")
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    row.map(|r| r.try_get::<String, _>(0).map_err(db_err))
        .transpose()
}

/// Creates the schema on an empty database, or checks that an existing one is compatible,
/// then adds mlflow-rs's own tables (idempotent `CREATE TABLE IF NOT EXISTS`; the official
/// server ignores them).
///
/// `default_artifact_root` is where the `Default` experiment (id 0) keeps its artifacts.
pub async fn migrate(db: &Db, default_artifact_root: &str) -> Result<()> {
    migrate_official(db, default_artifact_root).await?;
    crate::webhooks::ensure_schema(db).await
}

async fn migrate_official(db: &Db, default_artifact_root: &str) -> Result<()> {
    let mut conn = db.write.acquire().await.map_err(db_err)?;
    if let Some(rev) = revision_on(db, &mut conn).await? {
        return check_revision(&rev);
    }
    if table_exists(db, &mut conn, "experiments").await? {
        return Err(Error::new(
            mlflow_domain::ErrorCode::InvalidState,
            "The database has MLflow tables but no alembic_version stamp; refusing to touch it",
        ));
    }
    // Serialize concurrent replicas starting on the same server database.
    match db.dialect {
        Dialect::Postgres => {
            conn.execute("SELECT pg_advisory_lock(4242424242)")
                .await
                .map_err(db_err)?;
        }
        Dialect::MySql => {
            conn.execute("SELECT GET_LOCK('mlflow_rs_migrate', 60)")
                .await
                .map_err(db_err)?;
        }
        Dialect::Sqlite => {}
    }
    let result = create_schema(db, &mut conn, default_artifact_root).await;
    match db.dialect {
        Dialect::Postgres => {
            let _ = conn.execute("SELECT pg_advisory_unlock(4242424242)").await;
        }
        Dialect::MySql => {
            let _ = conn
                .execute("SELECT RELEASE_LOCK('mlflow_rs_migrate')")
                .await;
        }
        Dialect::Sqlite => {}
    }
    result
}

fn check_revision(rev: &str) -> Result<()> {
    if COMPATIBLE_REVISIONS.contains(&rev) {
        Ok(())
    } else {
        Err(Error::new(
            mlflow_domain::ErrorCode::InvalidState,
            format!(
                "Database schema is at alembic revision '{rev}'; mlflow-rs supports {COMPATIBLE_REVISIONS:?}. \
                 Upgrade it first with the official `mlflow db upgrade <uri>` (MLflow 3.17.2)."
            ),
        ))
    }
}

async fn create_schema(
    db: &Db,
    conn: &mut sqlx::pool::PoolConnection<sqlx::Any>,
    default_artifact_root: &str,
) -> Result<()> {
    // Another replica may have finished while we waited for the lock.
    if let Some(rev) = revision_on(db, &mut *conn).await? {
        return check_revision(&rev);
    }
    let mut tx = sqlx::Connection::begin(&mut **conn).await.map_err(db_err)?;
    for stmt in statements(ddl(db.dialect)) {
        tx.execute(stmt).await.map_err(|e| {
            tracing::error!(statement = stmt, "schema statement failed");
            db_err(e)
        })?;
    }
    tx.execute(
        sqlx::query(db.sql("INSERT INTO alembic_version (version_num) VALUES (?)"))
            .bind(SCHEMA_REVISION),
    )
    .await
    .map_err(db_err)?;
    tx.execute(
        "INSERT INTO workspaces (name, description) VALUES ('default', 'Default workspace for legacy resources')",
    )
    .await
    .map_err(db_err)?;
    if db.dialect == Dialect::MySql {
        tx.execute("SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_AUTO_VALUE_ON_ZERO')")
            .await
            .map_err(db_err)?;
    }
    let now = mlflow_domain::now_ms();
    let location = crate::append_to_uri_path(default_artifact_root, "0");
    tx.execute(
        sqlx::query(db.sql(
            "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, \
             creation_time, last_update_time, workspace) VALUES (0, 'Default', ?, 'active', ?, ?, 'default')",
        ))
        .bind(location)
        .bind(now)
        .bind(now),
    )
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    tracing::info!(revision = SCHEMA_REVISION, "created MLflow schema");
    Ok(())
}
