//! Group commit for `log-batch` on SQLite.
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

use crate::SqlStore;
use crate::db::db_err;
use mlflow_domain::tracking::{Metric, Tag};
use mlflow_domain::{Error, Result};
use sqlx::Acquire;
use tokio::sync::{mpsc, oneshot};

/// Batches written in one transaction at most.
pub(crate) const MAX_GROUP: usize = 32;

/// One `log-batch` (or `log-param`) request waiting for the writer.
struct BatchJob {
    run_id: String,
    metrics: Vec<Metric>,
    params: Vec<Tag>,
    tags: Vec<Tag>,
    single_param: bool,
    reply: oneshot::Sender<Result<()>>,
}

/// The handle requests send their batches to.
#[derive(Clone, Debug)]
pub(crate) struct GroupCommit {
    tx: mpsc::Sender<BatchJob>,
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
        let (reply, rx) = oneshot::channel();
        let job = BatchJob {
            run_id: run_id.to_string(),
            metrics,
            params,
            tags,
            single_param,
            reply,
        };
        self.tx
            .send(job)
            .await
            .map_err(|_| Error::internal("the SQLite batch writer stopped"))?;
        rx.await
            .map_err(|_| Error::internal("the SQLite batch writer dropped a batch"))?
    }
}

async fn writer(store: SqlStore, mut rx: mpsc::Receiver<BatchJob>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        write_group(&store, jobs).await;
    }
}

/// Writes `jobs` in one transaction, one savepoint each, and answers every caller.
async fn write_group(store: &SqlStore, jobs: Vec<BatchJob>) {
    let mut results: Vec<Result<()>> = Vec::with_capacity(jobs.len());
    let outcome: Result<()> = async {
        let mut tx = store.db.begin_write().await?;
        for job in &jobs {
            let mut sp = (&mut tx).begin().await.map_err(db_err)?;
            let r = store
                .log_batch_in(
                    &mut sp,
                    &job.run_id,
                    &job.metrics,
                    &job.params,
                    &job.tags,
                    job.single_param,
                )
                .await;
            match r {
                Ok(()) => sp.commit().await.map_err(db_err)?,
                Err(_) => sp.rollback().await.map_err(db_err)?,
            }
            results.push(r);
        }
        tx.commit().await.map_err(db_err)
    }
    .await;
    for (i, job) in jobs.into_iter().enumerate() {
        let r = match &outcome {
            // Committed: each batch has its own outcome.
            Ok(()) => results
                .get(i)
                .cloned()
                .unwrap_or_else(|| Err(Error::internal("the SQLite batch writer lost a result"))),
            // Nothing of the group was written: every batch fails with the cause.
            Err(e) => Err(e.clone()),
        };
        let _ = job.reply.send(r);
    }
}
