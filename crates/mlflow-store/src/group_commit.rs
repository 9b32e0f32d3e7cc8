//! Group commit for `log-batch` and span ingestion (OTLP, `log_spans`) on SQLite.
//!
//! SQLite has one writer, so concurrent `log-batch` requests queue for the write connection,
//! and each pays a whole transaction: at commit every page it dirtied is appended to the WAL,
//! and batches of the same metric keys dirty the same index pages over and over. Here a
//! single task takes every batch already waiting (up to [`MAX_GROUP`]) and writes them in one
//! transaction, each inside its own `SAVEPOINT`: a batch that fails (inactive run, changed
//! param) is rolled back to its savepoint and gets its own error, the others commit together.
//! A lone request goes through at once (no waiting for company), so latency at low load is
//! unchanged. If the shared `COMMIT` fails, every batch of the group gets the error and
//! nothing of it is written, so each caller's outcome is still all-or-nothing.
//!
//! PostgreSQL and MySQL have concurrent writers and row locks: they keep one transaction per
//! request.
//!
//! Savepoints are plain `SAVEPOINT`/`RELEASE`/`ROLLBACK TO` statements on the group's
//! transaction (not sqlx's nested transactions), so the per-request code runs against the same
//! `Transaction<'static, Any>` it uses outside a group.

use crate::SqlStore;
use crate::db::db_err;
use crate::traces::SpanRow;
use mlflow_domain::tracking::{Metric, Tag};
use mlflow_domain::{Error, Result};
use tokio::sync::{mpsc, oneshot};

/// Batches written in one transaction at most.
pub(crate) const MAX_GROUP: usize = 32;

/// One request waiting for the writer.
struct Job {
    work: Work,
    reply: oneshot::Sender<Result<()>>,
}

enum Work {
    /// `log-batch` (or `log-param`).
    Batch {
        run_id: String,
        metrics: Vec<Metric>,
        params: Vec<Tag>,
        tags: Vec<Tag>,
        single_param: bool,
    },
    /// Spans of one OTLP / `log_spans` request, with its experiment looked up beforehand.
    Spans {
        spans: Vec<SpanRow>,
        experiment: Result<(i64, String, String)>,
    },
}

/// The handle requests send their batches to.
#[derive(Clone, Debug)]
pub(crate) struct GroupCommit {
    tx: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts the writer task for `store` (a copy without a group-commit handle of its own,
    /// so the task ends when the last real handle is dropped). `None` outside a runtime.
    pub(crate) fn start(store: SqlStore) -> Option<GroupCommit> {
        let rt = tokio::runtime::Handle::try_current().ok()?;
        let (tx, rx) = mpsc::channel(1024);
        rt.spawn(writer(store, rx));
        Some(GroupCommit { tx })
    }

    /// Queues a batch and waits for its outcome.
    pub(crate) async fn submit(
        &self,
        run_id: &str,
        metrics: Vec<Metric>,
        params: Vec<Tag>,
        tags: Vec<Tag>,
        single_param: bool,
    ) -> Result<()> {
        self.run(Work::Batch {
            run_id: run_id.to_string(),
            metrics,
            params,
            tags,
            single_param,
        })
        .await
    }

    /// Queues the spans of one ingestion request and waits for its outcome.
    pub(crate) async fn submit_spans(
        &self,
        spans: Vec<SpanRow>,
        experiment: Result<(i64, String, String)>,
    ) -> Result<()> {
        self.run(Work::Spans { spans, experiment }).await
    }

    async fn run(&self, work: Work) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { work, reply })
            .await
            .map_err(|_| Error::internal("the SQLite group writer stopped"))?;
        rx.await
            .map_err(|_| Error::internal("the SQLite group writer dropped a request"))?
    }
}

async fn writer(store: SqlStore, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        // Its own task: a panic there (a bug) fails this group's callers (their reply
        // channels drop) instead of stopping the writer for good.
        let store = store.clone();
        if let Err(e) = tokio::spawn(async move { write_group(&store, jobs).await }).await {
            tracing::error!(error = %e, "SQLite group writer task failed");
        }
    }
}

/// Runs one SQL statement on the group's transaction.
async fn exec(tx: &mut sqlx::Transaction<'static, sqlx::Any>, sql: &'static str) -> Result<()> {
    sqlx::query(sql)
        .execute(&mut **tx)
        .await
        .map(|_| ())
        .map_err(db_err)
}

/// Writes `jobs` in one transaction, one savepoint each, and answers every caller.
async fn write_group(store: &SqlStore, jobs: Vec<Job>) {
    let mut results: Vec<Result<()>> = Vec::with_capacity(jobs.len());
    let mut replies = Vec::with_capacity(jobs.len());
    let outcome: Result<()> = async {
        let mut tx = store.db.begin_write().await?;
        for job in jobs {
            replies.push(job.reply);
            exec(&mut tx, "SAVEPOINT mlflow_rs_group").await?;
            let r = match job.work {
                Work::Batch {
                    run_id,
                    metrics,
                    params,
                    tags,
                    single_param,
                } => {
                    store
                        .log_batch_in(&mut tx, &run_id, &metrics, &params, &tags, single_param)
                        .await
                }
                Work::Spans { spans, experiment } => {
                    store.log_spans_in(&mut tx, spans, &experiment).await
                }
            };
            if r.is_err() {
                exec(&mut tx, "ROLLBACK TO SAVEPOINT mlflow_rs_group").await?;
            }
            exec(&mut tx, "RELEASE SAVEPOINT mlflow_rs_group").await?;
            results.push(r);
        }
        tx.commit().await.map_err(db_err)
    }
    .await;
    for (i, reply) in replies.into_iter().enumerate() {
        let r = match &outcome {
            // Committed: each request has its own outcome.
            Ok(()) => results
                .get(i)
                .cloned()
                .unwrap_or_else(|| Err(Error::internal("the SQLite group writer lost a result"))),
            // Nothing of the group was written: every request fails with the cause.
            Err(e) => Err(e.clone()),
        };
        let _ = reply.send(r);
    }
}
