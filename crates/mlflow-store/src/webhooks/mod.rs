//! Webhooks on MLflow's own `webhooks` / `webhook_events` tables, plus mlflow-rs's durable
//! delivery queue `mlflow_rs_webhook_deliveries` (created by [`ensure_schema`]; the official
//! server ignores it).
//!
//! Secrets arrive here already encrypted (Fernet text, see [`fernet`]); the store never sees
//! plaintext and the API types never carry the secret.
//!
//! # Delivery queue
//! One row per (event, subscribed webhook). A worker claims due rows with a lease
//! (`UPDATE … WHERE delivery_id = ? AND status = 'PENDING' AND lease expired`), so replicas
//! sharing the database never deliver the same row at the same time; a replica that dies
//! mid-delivery leaves a lease that expires and another replica picks the row up
//! (at-least-once). Results (`SUCCEEDED` / `FAILED` / retry scheduled) are written back only by
//! the lease holder.

pub mod fernet;

use crate::db::{Db, RowExt, db_err};
use crate::{Page, SqlStore, decode_page_token, encode_page_token};
use async_trait::async_trait;
use mlflow_domain::webhooks::{
    Webhook, WebhookAction, WebhookDelivery, WebhookEntity, WebhookEvent, WebhookStatus,
};
use mlflow_domain::{Error, Result, now_ms};
use mlflow_search::Dialect;
use sqlx::Executor;
use sqlx::any::AnyRow;

const WORKSPACE: &str = "default";
const DELIVERIES: &str = "mlflow_rs_webhook_deliveries";

/// Arguments of `CreateWebhook` (secret already encrypted).
#[derive(Debug, Clone, Default)]
pub struct NewWebhook {
    pub name: String,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub description: Option<String>,
    pub encrypted_secret: Option<String>,
    pub status: WebhookStatus,
}

/// Arguments of `UpdateWebhook`: `None` leaves a field unchanged.
#[derive(Debug, Clone, Default)]
pub struct WebhookUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub events: Option<Vec<WebhookEvent>>,
    pub encrypted_secret: Option<String>,
    pub status: Option<WebhookStatus>,
}

/// A delivery to enqueue.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub delivery_id: String,
    pub webhook_id: String,
    pub event: WebhookEvent,
    pub payload: String,
    pub max_attempts: i64,
}

/// A claimed delivery, with what is needed to send it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub delivery_id: String,
    pub webhook_id: String,
    pub payload: String,
    pub attempts: i64,
    pub max_attempts: i64,
    /// `None` when the webhook no longer exists (deleted).
    pub target: Option<DeliveryTarget>,
}

/// The webhook's current URL and encrypted secret.
#[derive(Debug, Clone)]
pub struct DeliveryTarget {
    pub url: String,
    pub encrypted_secret: Option<String>,
}

/// The outcome of one attempt, written back by the lease holder.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub status_code: Option<i64>,
    pub error: Option<String>,
    /// `Some(t)`: retry at `t` (ms); `None`: final.
    pub retry_at: Option<i64>,
    /// Final status when `retry_at` is `None`: `SUCCEEDED`, `FAILED` or `CANCELLED`.
    pub final_status: &'static str,
}

#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    async fn create_webhook(&self, w: NewWebhook) -> Result<Webhook>;
    async fn get_webhook(&self, webhook_id: &str) -> Result<Webhook>;
    /// The webhook and its encrypted secret (for `TestWebhook`).
    async fn get_webhook_with_secret(&self, webhook_id: &str) -> Result<(Webhook, Option<String>)>;
    async fn list_webhooks(
        &self,
        max_results: i64,
        page_token: Option<&str>,
    ) -> Result<Page<Webhook>>;
    /// Every non-deleted webhook subscribed to `event` (any status).
    async fn list_webhooks_by_event(&self, event: WebhookEvent) -> Result<Vec<Webhook>>;
    async fn update_webhook(&self, webhook_id: &str, u: WebhookUpdate) -> Result<Webhook>;
    async fn delete_webhook(&self, webhook_id: &str) -> Result<()>;

    async fn enqueue_deliveries(&self, deliveries: &[NewDelivery]) -> Result<()>;
    /// Claims up to `limit` due deliveries for `owner` until `now + lease_ms`.
    async fn claim_deliveries(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedDelivery>>;
    /// Records an attempt; false when the lease was lost (another replica took over).
    async fn record_attempt(
        &self,
        delivery_id: &str,
        owner: &str,
        result: &AttemptResult,
    ) -> Result<bool>;
    async fn list_deliveries(
        &self,
        webhook_id: &str,
        max_results: i64,
        page_token: Option<&str>,
    ) -> Result<Page<WebhookDelivery>>;
    /// The earliest `next_attempt_at` of a pending delivery, if any.
    async fn next_due_delivery(&self) -> Result<Option<i64>>;
}

/// Creates the delivery-queue table and indexes if they are missing (idempotent, every dialect).
pub async fn ensure_schema(db: &Db) -> Result<()> {
    let (payload_type, text_type) = match db.dialect {
        Dialect::MySql => ("MEDIUMTEXT", "TEXT"),
        _ => ("TEXT", "TEXT"),
    };
    let mysql_indexes = if db.dialect == Dialect::MySql {
        ",\n INDEX idx_mlflow_rs_whd_due (status, next_attempt_at),\n \
         INDEX idx_mlflow_rs_whd_webhook (webhook_id, created_at)"
    } else {
        ""
    };
    let create = format!(
        "CREATE TABLE IF NOT EXISTS {DELIVERIES} (
 delivery_id VARCHAR(64) NOT NULL PRIMARY KEY,
 webhook_id VARCHAR(256) NOT NULL,
 workspace VARCHAR(63) NOT NULL DEFAULT 'default',
 entity VARCHAR(50) NOT NULL,
 action VARCHAR(50) NOT NULL,
 payload {payload_type} NOT NULL,
 status VARCHAR(20) NOT NULL,
 attempts INTEGER NOT NULL DEFAULT 0,
 max_attempts INTEGER NOT NULL,
 next_attempt_at BIGINT NOT NULL,
 lease_owner VARCHAR(64),
 lease_expires_at BIGINT,
 last_status_code INTEGER,
 last_error {text_type},
 created_at BIGINT NOT NULL,
 last_attempt_at BIGINT,
 finished_at BIGINT{mysql_indexes}
)"
    );
    let mut conn = db.write.acquire().await.map_err(db_err)?;
    conn.execute(sqlx::AssertSqlSafe(create))
        .await
        .map_err(db_err)?;
    if db.dialect != Dialect::MySql {
        for stmt in [
            "CREATE INDEX IF NOT EXISTS idx_mlflow_rs_whd_due ON mlflow_rs_webhook_deliveries (status, next_attempt_at)",
            "CREATE INDEX IF NOT EXISTS idx_mlflow_rs_whd_webhook ON mlflow_rs_webhook_deliveries (webhook_id, created_at)",
        ] {
            conn.execute(stmt).await.map_err(db_err)?;
        }
    }
    Ok(())
}

fn not_found(webhook_id: &str) -> Error {
    Error::not_found(format!("Webhook with ID {webhook_id} not found."))
}

const WEBHOOK_COLS: &str =
    "webhook_id, name, description, url, status, creation_timestamp, last_updated_timestamp";

fn webhook_from_row(row: &AnyRow) -> Result<Webhook> {
    let status = match row.str_at(4)?.as_str() {
        "DISABLED" => WebhookStatus::Disabled,
        _ => WebhookStatus::Active,
    };
    Ok(Webhook {
        webhook_id: row.str_at(0)?,
        name: row.str_at(1)?,
        description: row.opt_str_at(2)?.filter(|d| !d.is_empty()),
        url: row.str_at(3)?,
        events: Vec::new(),
        status,
        creation_timestamp: row.opt_i64_at(5)?.unwrap_or(0),
        last_updated_timestamp: row.opt_i64_at(6)?.unwrap_or(0),
    })
}

fn event_from_strs(entity: &str, action: &str) -> Option<WebhookEvent> {
    Some(WebhookEvent {
        entity: WebhookEntity::parse(entity)?,
        action: WebhookAction::parse(action)?,
    })
}

fn delivery_from_row(row: &AnyRow) -> Result<WebhookDelivery> {
    Ok(WebhookDelivery {
        delivery_id: row.str_at(0)?,
        webhook_id: row.str_at(1)?,
        event: format!("{}.{}", row.str_at(2)?, row.str_at(3)?),
        status: row.str_at(4)?,
        attempts: row.i64_at(5)?,
        max_attempts: row.i64_at(6)?,
        last_status_code: row.opt_i64_at(7)?,
        last_error: row.opt_str_at(8)?,
        created_timestamp: row.i64_at(9)?,
        last_attempt_timestamp: row.opt_i64_at(10)?,
        next_attempt_timestamp: row.opt_i64_at(11)?,
        finished_timestamp: row.opt_i64_at(12)?,
        payload: row.str_at(13)?,
    })
}

impl SqlStore {
    /// Loads the events of `webhooks` (ordered by entity, action as the official relationship).
    async fn attach_events(&self, webhooks: &mut [Webhook]) -> Result<()> {
        if webhooks.is_empty() {
            return Ok(());
        }
        let db = self.db();
        let marks = vec!["?"; webhooks.len()].join(", ");
        let sql = format!(
            "SELECT webhook_id, entity, action FROM webhook_events WHERE webhook_id IN ({marks}) \
             ORDER BY webhook_id, entity, action"
        );
        let mut q = sqlx::query(db.sql(&sql));
        for w in webhooks.iter() {
            q = q.bind(w.webhook_id.clone());
        }
        let rows = q.fetch_all(&db.read).await.map_err(db_err)?;
        for row in rows {
            let id = row.str_at(0)?;
            if let Some(ev) = event_from_strs(&row.str_at(1)?, &row.str_at(2)?)
                && let Some(w) = webhooks.iter_mut().find(|w| w.webhook_id == id)
            {
                w.events.push(ev);
            }
        }
        Ok(())
    }

    async fn fetch_webhook(&self, webhook_id: &str) -> Result<(Webhook, Option<String>)> {
        let db = self.db();
        let sql = format!(
            "SELECT {WEBHOOK_COLS}, secret FROM webhooks WHERE webhook_id = ? AND workspace = ? \
             AND deleted_timestamp IS NULL"
        );
        let row = sqlx::query(db.sql(&sql))
            .bind(webhook_id.to_string())
            .bind(WORKSPACE)
            .fetch_optional(&db.read)
            .await
            .map_err(db_err)?
            .ok_or_else(|| not_found(webhook_id))?;
        let mut w = [webhook_from_row(&row)?];
        let secret = row.opt_str_at(7)?;
        self.attach_events(&mut w).await?;
        let [w] = w;
        Ok((w, secret))
    }
}

async fn insert_events(
    db: &Db,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    webhook_id: &str,
    events: &[WebhookEvent],
) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for ev in events {
        if !seen.insert(*ev) {
            continue;
        }
        sqlx::query(
            db.sql("INSERT INTO webhook_events (webhook_id, entity, action) VALUES (?, ?, ?)"),
        )
        .bind(webhook_id.to_string())
        .bind(ev.entity.value())
        .bind(ev.action.value())
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

#[async_trait]
impl WebhookStore for SqlStore {
    async fn create_webhook(&self, w: NewWebhook) -> Result<Webhook> {
        let db = self.db();
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let mut tx = db.begin_write().await?;
        sqlx::query(db.sql(
            "INSERT INTO webhooks (webhook_id, name, description, url, status, secret, \
             creation_timestamp, last_updated_timestamp, workspace) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(id.clone())
        .bind(w.name.clone())
        .bind(w.description.clone())
        .bind(w.url.clone())
        .bind(w.status.as_str())
        .bind(w.encrypted_secret.clone())
        .bind(now)
        .bind(now)
        .bind(WORKSPACE)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        insert_events(db, &mut tx, &id, &w.events).await?;
        tx.commit().await.map_err(db_err)?;
        // As read back from the table: ordered by (entity, action) values.
        let mut events = w.events;
        events.sort_by_key(|e| (e.entity.value(), e.action.value()));
        events.dedup();
        Ok(Webhook {
            webhook_id: id,
            name: w.name,
            description: w.description.filter(|d| !d.is_empty()),
            url: w.url,
            events,
            status: w.status,
            creation_timestamp: now,
            last_updated_timestamp: now,
        })
    }

    async fn get_webhook(&self, webhook_id: &str) -> Result<Webhook> {
        Ok(self.fetch_webhook(webhook_id).await?.0)
    }

    async fn get_webhook_with_secret(&self, webhook_id: &str) -> Result<(Webhook, Option<String>)> {
        self.fetch_webhook(webhook_id).await
    }

    async fn list_webhooks(
        &self,
        max_results: i64,
        page_token: Option<&str>,
    ) -> Result<Page<Webhook>> {
        let max_results = if max_results == 0 { 100 } else { max_results };
        if !(1..=1000).contains(&max_results) {
            return Err(Error::invalid("max_results must be between 1 and 1000."));
        }
        let offset = decode_page_token(page_token)?;
        let db = self.db();
        let sql = format!(
            "SELECT {WEBHOOK_COLS} FROM webhooks WHERE workspace = ? AND deleted_timestamp IS NULL \
             ORDER BY creation_timestamp DESC, webhook_id LIMIT ? OFFSET ?"
        );
        let rows = sqlx::query(db.sql(&sql))
            .bind(WORKSPACE)
            .bind(max_results + 1)
            .bind(offset)
            .fetch_all(&db.read)
            .await
            .map_err(db_err)?;
        let mut items = rows
            .iter()
            .map(webhook_from_row)
            .collect::<Result<Vec<_>>>()?;
        let next_page_token = if items.len() as i64 > max_results {
            items.truncate(max_results as usize);
            Some(encode_page_token(offset + max_results))
        } else {
            None
        };
        self.attach_events(&mut items).await?;
        Ok(Page {
            items,
            next_page_token,
        })
    }

    async fn list_webhooks_by_event(&self, event: WebhookEvent) -> Result<Vec<Webhook>> {
        let db = self.db();
        let sql = "SELECT w.webhook_id, w.name, w.description, w.url, w.status, \
                   w.creation_timestamp, w.last_updated_timestamp FROM webhooks w \
                   JOIN webhook_events e ON e.webhook_id = w.webhook_id \
                   WHERE w.workspace = ? AND w.deleted_timestamp IS NULL AND e.entity = ? \
                   AND e.action = ? ORDER BY w.creation_timestamp DESC";
        let rows = sqlx::query(db.sql(sql))
            .bind(WORKSPACE)
            .bind(event.entity.value())
            .bind(event.action.value())
            .fetch_all(&db.read)
            .await
            .map_err(db_err)?;
        let mut items = rows
            .iter()
            .map(webhook_from_row)
            .collect::<Result<Vec<_>>>()?;
        self.attach_events(&mut items).await?;
        Ok(items)
    }

    async fn update_webhook(&self, webhook_id: &str, u: WebhookUpdate) -> Result<Webhook> {
        let db = self.db();
        let mut tx = db.begin_write().await?;
        let exists = sqlx::query(db.sql(
            "SELECT webhook_id FROM webhooks WHERE webhook_id = ? AND workspace = ? \
             AND deleted_timestamp IS NULL",
        ))
        .bind(webhook_id.to_string())
        .bind(WORKSPACE)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if exists.is_none() {
            return Err(not_found(webhook_id));
        }
        let mut sets: Vec<&str> = Vec::new();
        let mut vals: Vec<Option<String>> = Vec::new();
        if let Some(n) = u.name {
            sets.push("name = ?");
            vals.push(Some(n));
        }
        if let Some(url) = u.url {
            sets.push("url = ?");
            vals.push(Some(url));
        }
        if let Some(d) = u.description {
            sets.push("description = ?");
            vals.push(Some(d));
        }
        if let Some(s) = u.encrypted_secret {
            sets.push("secret = ?");
            vals.push(Some(s));
        }
        if let Some(st) = u.status {
            sets.push("status = ?");
            vals.push(Some(st.as_str().to_string()));
        }
        sets.push("last_updated_timestamp = ?");
        let sql = format!(
            "UPDATE webhooks SET {} WHERE webhook_id = ? AND workspace = ?",
            sets.join(", ")
        );
        let mut q = sqlx::query(db.sql(&sql));
        for v in vals {
            q = q.bind(v);
        }
        q.bind(now_ms())
            .bind(webhook_id.to_string())
            .bind(WORKSPACE)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if let Some(events) = u.events {
            sqlx::query(db.sql("DELETE FROM webhook_events WHERE webhook_id = ?"))
                .bind(webhook_id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            insert_events(db, &mut tx, webhook_id, &events).await?;
        }
        tx.commit().await.map_err(db_err)?;
        self.get_webhook(webhook_id).await
    }

    async fn delete_webhook(&self, webhook_id: &str) -> Result<()> {
        let db = self.db();
        let now = now_ms();
        let res = sqlx::query(db.sql(
            "UPDATE webhooks SET deleted_timestamp = ?, last_updated_timestamp = ? \
             WHERE webhook_id = ? AND workspace = ? AND deleted_timestamp IS NULL",
        ))
        .bind(now)
        .bind(now)
        .bind(webhook_id.to_string())
        .bind(WORKSPACE)
        .execute(&db.write)
        .await
        .map_err(db_err)?;
        if res.rows_affected() == 0 {
            return Err(not_found(webhook_id));
        }
        Ok(())
    }

    async fn enqueue_deliveries(&self, deliveries: &[NewDelivery]) -> Result<()> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let db = self.db();
        let now = now_ms();
        let mut tx = db.begin_write().await?;
        for d in deliveries {
            sqlx::query(db.sql(&format!(
                "INSERT INTO {DELIVERIES} (delivery_id, webhook_id, workspace, entity, action, \
                 payload, status, attempts, max_attempts, next_attempt_at, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?, 'PENDING', 0, ?, ?, ?)"
            )))
            .bind(d.delivery_id.clone())
            .bind(d.webhook_id.clone())
            .bind(WORKSPACE)
            .bind(d.event.entity.value())
            .bind(d.event.action.value())
            .bind(d.payload.clone())
            .bind(d.max_attempts)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedDelivery>> {
        let db = self.db();
        let now = now_ms();
        let candidates = sqlx::query(db.sql(&format!(
            "SELECT delivery_id FROM {DELIVERIES} WHERE status = 'PENDING' AND next_attempt_at <= ? \
             AND (lease_expires_at IS NULL OR lease_expires_at < ?) \
             ORDER BY next_attempt_at, created_at LIMIT ?"
        )))
        .bind(now)
        .bind(now)
        .bind(limit)
        .fetch_all(&db.read)
        .await
        .map_err(db_err)?;
        let mut claimed = Vec::new();
        for row in candidates {
            let id = row.str_at(0)?;
            let res = sqlx::query(db.sql(&format!(
                "UPDATE {DELIVERIES} SET lease_owner = ?, lease_expires_at = ? \
                 WHERE delivery_id = ? AND status = 'PENDING' \
                 AND (lease_expires_at IS NULL OR lease_expires_at < ?)"
            )))
            .bind(owner.to_string())
            .bind(now + lease_ms)
            .bind(id.clone())
            .bind(now)
            .execute(&db.write)
            .await
            .map_err(db_err)?;
            if res.rows_affected() != 1 {
                continue; // another replica won the race
            }
            let row = sqlx::query(db.sql(&format!(
                "SELECT d.delivery_id, d.webhook_id, d.payload, d.attempts, d.max_attempts, \
                 w.url, w.secret, w.deleted_timestamp, w.webhook_id FROM {DELIVERIES} d \
                 LEFT JOIN webhooks w ON w.webhook_id = d.webhook_id WHERE d.delivery_id = ?"
            )))
            .bind(id)
            .fetch_one(&db.write)
            .await
            .map_err(db_err)?;
            let target = match (row.opt_str_at(8)?, row.opt_i64_at(7)?) {
                (Some(_), None) => Some(DeliveryTarget {
                    url: row.str_at(5)?,
                    encrypted_secret: row.opt_str_at(6)?,
                }),
                _ => None,
            };
            claimed.push(ClaimedDelivery {
                delivery_id: row.str_at(0)?,
                webhook_id: row.str_at(1)?,
                payload: row.str_at(2)?,
                attempts: row.i64_at(3)?,
                max_attempts: row.i64_at(4)?,
                target,
            });
        }
        Ok(claimed)
    }

    async fn record_attempt(
        &self,
        delivery_id: &str,
        owner: &str,
        r: &AttemptResult,
    ) -> Result<bool> {
        let db = self.db();
        let now = now_ms();
        let (status, next, finished) = match r.retry_at {
            Some(t) => ("PENDING", Some(t), None),
            None => (r.final_status, None, Some(now)),
        };
        let error = r
            .error
            .as_ref()
            .map(|e| e.chars().take(4000).collect::<String>());
        let res = sqlx::query(db.sql(&format!(
            "UPDATE {DELIVERIES} SET status = ?, attempts = attempts + 1, last_status_code = ?, \
             last_error = ?, last_attempt_at = ?, next_attempt_at = COALESCE(?, next_attempt_at), \
             finished_at = ?, lease_owner = NULL, lease_expires_at = NULL \
             WHERE delivery_id = ? AND lease_owner = ?"
        )))
        .bind(status)
        .bind(r.status_code)
        .bind(error)
        .bind(now)
        .bind(next)
        .bind(finished)
        .bind(delivery_id.to_string())
        .bind(owner.to_string())
        .execute(&db.write)
        .await
        .map_err(db_err)?;
        Ok(res.rows_affected() == 1)
    }

    async fn list_deliveries(
        &self,
        webhook_id: &str,
        max_results: i64,
        page_token: Option<&str>,
    ) -> Result<Page<WebhookDelivery>> {
        let max_results = if max_results == 0 { 100 } else { max_results };
        if !(1..=1000).contains(&max_results) {
            return Err(Error::invalid("max_results must be between 1 and 1000."));
        }
        // The webhook must exist (deleted ones keep their log but are not addressable).
        self.get_webhook(webhook_id).await?;
        let offset = decode_page_token(page_token)?;
        let db = self.db();
        let rows = sqlx::query(db.sql(&format!(
            "SELECT delivery_id, webhook_id, entity, action, status, attempts, max_attempts, \
             last_status_code, last_error, created_at, last_attempt_at, \
             CASE WHEN status = 'PENDING' THEN next_attempt_at ELSE NULL END, finished_at, payload \
             FROM {DELIVERIES} WHERE webhook_id = ? ORDER BY created_at DESC, delivery_id \
             LIMIT ? OFFSET ?"
        )))
        .bind(webhook_id.to_string())
        .bind(max_results + 1)
        .bind(offset)
        .fetch_all(&db.read)
        .await
        .map_err(db_err)?;
        let mut items = rows
            .iter()
            .map(delivery_from_row)
            .collect::<Result<Vec<_>>>()?;
        let next_page_token = if items.len() as i64 > max_results {
            items.truncate(max_results as usize);
            Some(encode_page_token(offset + max_results))
        } else {
            None
        };
        Ok(Page {
            items,
            next_page_token,
        })
    }

    async fn next_due_delivery(&self) -> Result<Option<i64>> {
        let db = self.db();
        let row = sqlx::query(db.sql(&format!(
            "SELECT MIN(next_attempt_at) FROM {DELIVERIES} WHERE status = 'PENDING'"
        )))
        .fetch_one(&db.read)
        .await
        .map_err(db_err)?;
        row.opt_i64_at(0)
    }
}

/// `X-MLflow-Signature`: `v1,` + base64(HMAC-SHA256(secret, `{delivery_id}.{timestamp}.{payload}`)).
pub fn sign_payload(secret: &str, delivery_id: &str, timestamp: &str, payload: &str) -> String {
    use base64::Engine;
    use hmac::Mac;
    let mut mac = match hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes any key length"),
    };
    mac.update(delivery_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("v1,{sig}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_official_delivery() {
        // Captured from the official server (secret "s3cr3t").
        let body = r#"{"entity": "prompt_tag", "action": "set", "timestamp": "2026-11-22T18:17:31.109268+00:00", "data": {"name": "p1", "key": "k", "value": "v"}}"#;
        assert_eq!(
            super::sign_payload(
                "s3cr3t",
                "64862874-1b13-4c44-a70b-e59ec4ddace2",
                "1795371451",
                body
            ),
            "v1,SQy2Pvz3UmpdNYOa+b8jj5CdgkvWrBg0Z12MuXjJpmQ="
        );
    }
}
