//! HTTP integration tests of the tracking server: one binary (short link times), one module per
//! area. Store-backed tests run once per backend (`sqlite_*`, `postgres_*`, `mysql_*`); the
//! server backends run only when `MLFLOW_RS_TEST_POSTGRES` / `MLFLOW_RS_TEST_MYSQL` are set.

#[macro_use]
mod common;

mod concurrency;
mod experiments;
mod metrics;
mod runs;
mod search;
mod wire;
