//! Webhooks (`WebhookService`): CRUD and test endpoints, registry/prompt event emission, and
//! durable, signed, retried delivery.
//!
//! - Events are emitted by the registry handlers after a successful write
//!   ([`events`]); prompts fire the `prompt*` events instead of the model ones, as the official
//!   handlers decide it (request tags on create, the registered model's tag otherwise).
//! - An event is written to the `mlflow_rs_webhook_deliveries` queue (one row per subscribed
//!   `ACTIVE` webhook) before the registry request returns; the HTTP delivery happens on a
//!   background worker ([`Webhooks::start_worker`]) that claims rows with a lease, signs each
//!   attempt, and retries 429/500/502/503/504 and connection errors with exponential backoff.
//! - Every delivery's status, attempts, last status/error and timestamps stay in the table and
//!   are readable at `GET /api/3.0/mlflow/webhooks/{id}/deliveries` (mlflow-rs extension).

pub mod events;
pub mod payload;
pub mod ssrf;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::Msg;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use mlflow_domain::webhooks::{
    Webhook, WebhookEvent, WebhookEventWire, WebhookStatus, WebhookTestResult,
    validate_webhook_events, validate_webhook_name,
};
use mlflow_domain::{Error, now_ms};
use mlflow_store::webhooks::fernet::Fernet;
use mlflow_store::webhooks::{
    AttemptResult, ClaimedDelivery, NewDelivery, NewWebhook, WebhookStore, WebhookUpdate,
    sign_payload,
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};

type JsonResult = ApiResult<Json<Value>>;

/// Settings, from the official `MLFLOW_WEBHOOK_*` variables plus a few mlflow-rs knobs.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// `MLFLOW_WEBHOOK_ALLOWED_SCHEMES` (default `https`).
    pub allowed_schemes: Vec<String>,
    /// `MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS` (default false).
    pub allow_private_ips: bool,
    /// `MLFLOW_WEBHOOK_REQUEST_TIMEOUT` (default 30 s).
    pub request_timeout: Duration,
    /// `MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES` (default 3): attempts = 1 + retries.
    pub max_retries: u32,
    /// `MLFLOW_WEBHOOK_DELIVERY_MAX_WORKERS` (default 10): concurrent deliveries per process.
    pub max_workers: usize,
    /// `MLFLOW_WEBHOOK_CACHE_TTL` (default 60 s): how long the per-event subscriber list is
    /// cached. Changes made through this process invalidate it at once.
    pub cache_ttl: Duration,
    /// `MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY`: Fernet key for secrets at rest.
    pub encryption_key: Option<String>,
    /// Backoff before retry n: `base * 2^(n-1)` capped at `backoff_max`, plus up to
    /// `backoff_jitter` (urllib3's `backoff_factor=1`, `backoff_max=60`, `backoff_jitter=1`).
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub backoff_jitter: Duration,
    /// How often the worker looks for due deliveries written by other replicas or scheduled
    /// retries (`MLFLOW_RS_WEBHOOK_POLL_INTERVAL_MS`, default 1000).
    pub poll_interval: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            allowed_schemes: vec!["https".into()],
            allow_private_ips: false,
            request_timeout: Duration::from_secs(30),
            max_retries: 3,
            max_workers: 10,
            cache_ttl: Duration::from_secs(60),
            encryption_key: None,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            backoff_jitter: Duration::from_secs(1),
            poll_interval: Duration::from_secs(1),
        }
    }
}

impl WebhookConfig {
    /// Reads the environment (invalid values are errors, as the official server raises).
    pub fn from_env() -> Result<Self, String> {
        let mut c = Self::default();
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let num = |k: &str| -> Result<Option<u64>, String> {
            var(k)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map_err(|_| format!("{k} must be a non-negative integer, got {v:?}"))
                })
                .transpose()
        };
        if let Some(v) = var("MLFLOW_WEBHOOK_ALLOWED_SCHEMES") {
            c.allowed_schemes = v
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
        if let Some(v) = var("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS") {
            c.allow_private_ips = match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(format!(
                        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS must be one of true/false/1/0, got {v:?}"
                    ));
                }
            };
        }
        if let Some(n) = num("MLFLOW_WEBHOOK_REQUEST_TIMEOUT")? {
            c.request_timeout = Duration::from_secs(n.max(1));
        }
        if let Some(n) = num("MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES")? {
            c.max_retries = u32::try_from(n).unwrap_or(u32::MAX).min(100);
        }
        if let Some(n) = num("MLFLOW_WEBHOOK_DELIVERY_MAX_WORKERS")? {
            c.max_workers = usize::try_from(n).unwrap_or(1).clamp(1, 1000);
        }
        if let Some(n) = num("MLFLOW_WEBHOOK_CACHE_TTL")? {
            c.cache_ttl = Duration::from_secs(n);
        }
        if let Some(n) = num("MLFLOW_RS_WEBHOOK_POLL_INTERVAL_MS")? {
            c.poll_interval = Duration::from_millis(n.max(10));
        }
        c.encryption_key = var("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY");
        Ok(c)
    }

    fn max_attempts(&self) -> i64 {
        i64::from(self.max_retries) + 1
    }

    /// How long a claimed delivery stays leased: the request timeout plus a margin.
    fn lease(&self) -> Duration {
        self.request_timeout + Duration::from_secs(30)
    }
}

/// Subscribers per event, with the time they were loaded (`MLFLOW_WEBHOOK_CACHE_TTL`).
type SubscriberCache = Mutex<HashMap<WebhookEvent, (Instant, Arc<Vec<Webhook>>)>>;

/// The webhook service: store access, secret cipher, HTTP client, delivery worker.
pub struct Webhooks {
    store: Arc<dyn WebhookStore>,
    config: WebhookConfig,
    cipher: Fernet,
    client: reqwest::Client,
    notify: Notify,
    cache: SubscriberCache,
    owner: String,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("config", &self.config)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// What one HTTP attempt produced.
struct SendOutcome {
    status: u16,
    body: String,
    retry_after: Option<Duration>,
}

enum SendError {
    /// Connection/timeout errors: retried.
    Transient(String),
    /// Validation or SSRF refusals: final.
    Fatal(String),
}

impl Webhooks {
    /// Builds the service. Without an encryption key a random per-process key is used, as the
    /// official server does (secrets written then cannot be read after a restart).
    pub fn new(store: Arc<dyn WebhookStore>, config: WebhookConfig) -> Result<Arc<Self>, String> {
        let cipher = match &config.encryption_key {
            Some(k) => Fernet::new(k).map_err(|e| {
                format!("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY is not a valid Fernet key: {e}")
            })?,
            None => {
                tracing::warn!(
                    "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY is not set: webhook secrets are \
                     encrypted with a random per-process key and cannot be read after a restart"
                );
                Fernet::generate().map_err(|e| e.to_string())?
            }
        };
        let mut builder = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("mlflow-rs-webhooks/", env!("CARGO_PKG_VERSION")));
        if !config.allow_private_ips {
            builder = builder.dns_resolver(ssrf::PublicOnlyResolver);
        }
        let client = builder
            .build()
            .map_err(|e| format!("building the webhook HTTP client: {e}"))?;
        Ok(Arc::new(Self {
            store,
            config,
            cipher,
            client,
            notify: Notify::new(),
            cache: Mutex::new(HashMap::new()),
            owner: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
        }))
    }

    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    fn invalidate_cache(&self) {
        if let Ok(mut c) = self.cache.lock() {
            c.clear();
        }
    }

    /// The `ACTIVE` webhooks subscribed to `event` (cached for `cache_ttl`).
    pub async fn subscribers(&self, event: WebhookEvent) -> Arc<Vec<Webhook>> {
        if let Ok(c) = self.cache.lock()
            && let Some((at, list)) = c.get(&event)
            && at.elapsed() < self.config.cache_ttl
        {
            return list.clone();
        }
        let list = match self.store.list_webhooks_by_event(event).await {
            Ok(ws) => Arc::new(
                ws.into_iter()
                    .filter(|w| w.status == WebhookStatus::Active)
                    .collect::<Vec<_>>(),
            ),
            Err(e) => {
                tracing::error!(%event, error = %e, "listing webhooks for an event failed");
                return Arc::new(Vec::new());
            }
        };
        if let Ok(mut c) = self.cache.lock() {
            c.insert(event, (Instant::now(), list.clone()));
        }
        list
    }

    /// Queues `data` for every subscriber of `event`. Failures are logged, never returned.
    pub async fn emit(&self, event: WebhookEvent, data: &payload::Data) {
        let subs = self.subscribers(event).await;
        if subs.is_empty() {
            return;
        }
        let body = payload::envelope(event, &payload::now_iso(), data);
        let deliveries: Vec<NewDelivery> = subs
            .iter()
            .map(|w| NewDelivery {
                delivery_id: uuid::Uuid::new_v4().to_string(),
                webhook_id: w.webhook_id.clone(),
                event,
                payload: body.clone(),
                max_attempts: self.config.max_attempts(),
            })
            .collect();
        match self.store.enqueue_deliveries(&deliveries).await {
            Ok(()) => self.notify.notify_one(),
            Err(e) => tracing::error!(%event, error = %e, "queueing webhook deliveries failed"),
        }
    }

    fn encrypt(&self, secret: &str) -> Result<String, Error> {
        self.cipher.encrypt(secret.as_bytes())
    }

    async fn validate_url(&self, url: &str) -> Result<(), Error> {
        ssrf::validate_webhook_url(
            url,
            &self.config.allowed_schemes,
            self.config.allow_private_ips,
        )
        .await
        .map(|_| ())
    }

    /// One signed POST.
    async fn send(
        &self,
        url: &str,
        secret: Option<&str>,
        delivery_id: &str,
        body: &str,
    ) -> Result<SendOutcome, SendError> {
        self.validate_url(url)
            .await
            .map_err(|e| SendError::Fatal(e.message))?;
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            .to_string();
        let mut req = self
            .client
            .post(url)
            .header("Content-Type", "application/json")
            .header("X-MLflow-Delivery-Id", delivery_id)
            .header("X-MLflow-Timestamp", &ts)
            .body(body.to_string());
        if let Some(secret) = secret.filter(|s| !s.is_empty()) {
            req = req.header(
                "X-MLflow-Signature",
                sign_payload(secret, delivery_id, &ts, body),
            );
        }
        let resp = req.send().await.map_err(|e| {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            if msg.contains("Webhook connection blocked") {
                SendError::Fatal(msg)
            } else {
                SendError::Transient(msg)
            }
        })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = resp.text().await.unwrap_or_default();
        Ok(SendOutcome {
            status,
            body,
            retry_after,
        })
    }

    fn decrypt_secret(&self, enc: Option<&str>) -> Result<Option<String>, String> {
        match enc {
            None => Ok(None),
            Some(t) => self
                .cipher
                .decrypt(t)
                .map(|b| Some(String::from_utf8_lossy(&b).into_owned()))
                .map_err(|_| {
                    "cannot decrypt the webhook secret: MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY \
                     differs from the key it was written with"
                        .to_string()
                }),
        }
    }

    fn backoff(&self, attempt: i64, retry_after: Option<Duration>) -> Duration {
        let exp = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(31)
            .min(31);
        let base = self
            .config
            .backoff_base
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.config.backoff_max);
        let jitter_ms = self.config.backoff_jitter.as_millis() as u64;
        let jitter = if jitter_ms == 0 {
            Duration::ZERO
        } else {
            let r = u64::from_le_bytes(
                uuid::Uuid::new_v4().as_bytes()[..8]
                    .try_into()
                    .unwrap_or([0; 8]),
            );
            Duration::from_millis(r % jitter_ms)
        };
        let d = base + jitter;
        match retry_after {
            Some(ra) => d.max(ra.min(Duration::from_secs(300))),
            None => d,
        }
    }

    async fn deliver(&self, d: ClaimedDelivery) {
        let attempt = d.attempts + 1;
        let last = attempt >= d.max_attempts;
        let result = match &d.target {
            None => AttemptResult {
                status_code: None,
                error: Some("the webhook was deleted".into()),
                retry_at: None,
                final_status: "CANCELLED",
            },
            Some(t) => match self.decrypt_secret(t.encrypted_secret.as_deref()) {
                Err(e) => AttemptResult {
                    status_code: None,
                    error: Some(e),
                    retry_at: None,
                    final_status: "FAILED",
                },
                Ok(secret) => {
                    match self
                        .send(&t.url, secret.as_deref(), &d.delivery_id, &d.payload)
                        .await
                    {
                        Ok(o) if o.status < 400 => AttemptResult {
                            status_code: Some(i64::from(o.status)),
                            error: None,
                            retry_at: None,
                            final_status: "SUCCEEDED",
                        },
                        Ok(o) => {
                            let retryable = matches!(o.status, 429 | 500 | 502 | 503 | 504);
                            let snippet: String = o.body.chars().take(500).collect();
                            AttemptResult {
                                status_code: Some(i64::from(o.status)),
                                error: Some(format!("HTTP {}: {snippet}", o.status)),
                                retry_at: (retryable && !last).then(|| {
                                    now_ms()
                                        + self.backoff(attempt, o.retry_after).as_millis() as i64
                                }),
                                final_status: "FAILED",
                            }
                        }
                        Err(SendError::Transient(e)) => AttemptResult {
                            status_code: None,
                            error: Some(e),
                            retry_at: (!last)
                                .then(|| now_ms() + self.backoff(attempt, None).as_millis() as i64),
                            final_status: "FAILED",
                        },
                        Err(SendError::Fatal(e)) => AttemptResult {
                            status_code: None,
                            error: Some(e),
                            retry_at: None,
                            final_status: "FAILED",
                        },
                    }
                }
            },
        };
        if result.retry_at.is_none() && result.final_status != "SUCCEEDED" {
            tracing::error!(
                delivery_id = %d.delivery_id,
                webhook_id = %d.webhook_id,
                attempts = attempt,
                error = ?result.error,
                "webhook delivery failed"
            );
        }
        match self
            .store
            .record_attempt(&d.delivery_id, &self.owner, &result)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                delivery_id = %d.delivery_id,
                "webhook delivery lease was lost before the result was recorded"
            ),
            Err(e) => tracing::error!(delivery_id = %d.delivery_id, error = %e,
                "recording a webhook delivery attempt failed"),
        }
    }

    /// Starts the delivery worker on the current runtime. Abort the handle to stop it; a
    /// delivery in flight is then retried by whichever replica holds the queue after its
    /// lease expires.
    pub fn start_worker(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move { this.run_worker().await })
    }

    async fn run_worker(self: Arc<Self>) {
        let sem = Arc::new(Semaphore::new(self.config.max_workers));
        let lease_ms = self.config.lease().as_millis() as i64;
        loop {
            if sem.available_permits() == 0 {
                // Wait for a slot to free up.
                if let Ok(p) = sem.clone().acquire_owned().await {
                    drop(p);
                }
                continue;
            }
            let limit = sem.available_permits() as i64;
            match self
                .store
                .claim_deliveries(&self.owner, lease_ms, limit)
                .await
            {
                Ok(batch) if !batch.is_empty() => {
                    for d in batch {
                        let Ok(permit) = sem.clone().acquire_owned().await else {
                            return;
                        };
                        let this = self.clone();
                        tokio::spawn(async move {
                            this.deliver(d).await;
                            drop(permit);
                        });
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "claiming webhook deliveries failed"),
            }
            tokio::select! {
                _ = self.notify.notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }

    /// `TestWebhook`: one synchronous signed POST of the example payload.
    async fn test(&self, webhook: &Webhook, secret: Option<&str>, event: WebhookEvent) -> Value {
        let body = payload::envelope(event, &payload::now_iso(), &payload::example(event));
        let delivery_id = uuid::Uuid::new_v4().to_string();
        let secret = match self.decrypt_secret(secret) {
            Ok(s) => s,
            Err(e) => {
                return json!(WebhookTestResult {
                    success: false,
                    error_message: Some(format!("Failed to test webhook: {e}")),
                    ..Default::default()
                });
            }
        };
        let result = match self
            .send(&webhook.url, secret.as_deref(), &delivery_id, &body)
            .await
        {
            Ok(o) => WebhookTestResult {
                success: o.status < 400,
                response_status: Some(i64::from(o.status)),
                response_body: Some(o.body).filter(|b| !b.is_empty()),
                error_message: None,
            },
            Err(SendError::Transient(e) | SendError::Fatal(e)) => WebhookTestResult {
                success: false,
                error_message: Some(format!("Failed to test webhook: {e}")),
                ..Default::default()
            },
        };
        json!(result)
    }
}

// ---------------------------------------------------------------- HTTP handlers

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateWebhookReq {
    pub name: Option<String>,
    pub url: Option<String>,
    pub events: Option<Vec<WebhookEventWire>>,
    pub description: Option<String>,
    pub secret: Option<String>,
    pub status: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpdateWebhookReq {
    pub name: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub events: Option<Vec<WebhookEventWire>>,
    pub secret: Option<String>,
    pub status: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListReq {
    #[serde(alias = "maxResults")]
    pub max_results: Option<Value>,
    #[serde(alias = "pageToken")]
    pub page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TestReq {
    pub event: Option<WebhookEventWire>,
}

fn service(s: &AppState) -> Result<&Arc<Webhooks>, ApiError> {
    s.config.webhooks.as_ref().ok_or_else(|| {
        ApiError(Error::new(
            mlflow_domain::ErrorCode::NotImplemented,
            "Webhooks are not enabled on this server.",
        ))
    })
}

fn parse_events(wire: &[WebhookEventWire]) -> Result<Vec<WebhookEvent>, ApiError> {
    wire.iter()
        .map(|w| WebhookEvent::from_wire(w).map_err(ApiError))
        .collect()
}

fn int_param(raw: &Option<Value>, name: &str) -> Result<i64, ApiError> {
    let bad = |v: &Value| {
        ApiError(Error::invalid(format!(
            "Invalid value {v} for parameter '{name}' supplied."
        )))
    };
    match raw {
        None | Some(Value::Null) => Ok(0),
        Some(v @ Value::Number(n)) => n.as_i64().ok_or_else(|| bad(v)),
        Some(v @ Value::String(s)) => s.trim().parse::<i64>().map_err(|_| bad(v)),
        Some(v) => Err(bad(v)),
    }
}

/// `CreateWebhook`
pub async fn create_webhook(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<CreateWebhookReq>,
) -> JsonResult {
    let svc = service(&s)?;
    let name = crate::extract::required(&r.name, "name")?;
    let url = crate::extract::required(&r.url, "url")?;
    let Some(events_wire) = &r.events else {
        return Err(ApiError(Error::missing("events")));
    };
    let events = parse_events(events_wire)?;
    validate_webhook_name(name)?;
    svc.validate_url(url).await?;
    validate_webhook_events(&events)?;
    let status = match &r.status {
        None | Some(Value::Null) => WebhookStatus::Active,
        Some(v) => WebhookStatus::parse(v)?,
    };
    let encrypted_secret = match r.secret.as_deref().filter(|s| !s.is_empty()) {
        Some(sec) => Some(svc.encrypt(sec)?),
        None => None,
    };
    let w = svc
        .store
        .create_webhook(NewWebhook {
            name: name.to_string(),
            url: url.to_string(),
            events,
            description: r.description.clone().filter(|d| !d.is_empty()),
            encrypted_secret,
            status,
        })
        .await?;
    svc.invalidate_cache();
    Ok(Json(json!({ "webhook": w })))
}

/// `ListWebhooks`
pub async fn list_webhooks(
    State(s): State<AppState>,
    Msg { value: r, .. }: Msg<ListReq>,
) -> JsonResult {
    let svc = service(&s)?;
    let max = int_param(&r.max_results, "max_results")?;
    let page = svc
        .store
        .list_webhooks(max, r.page_token.as_deref().filter(|t| !t.is_empty()))
        .await?;
    let mut out = json!({});
    if !page.items.is_empty() {
        out["webhooks"] = json!(page.items);
    }
    if let Some(t) = page.next_page_token {
        out["next_page_token"] = json!(t);
    }
    Ok(Json(out))
}

/// `GetWebhook`
pub async fn get_webhook(State(s): State<AppState>, Path(id): Path<String>) -> JsonResult {
    let w = service(&s)?.store.get_webhook(&id).await?;
    Ok(Json(json!({ "webhook": w })))
}

/// `UpdateWebhook`
pub async fn update_webhook(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Msg { value: r, .. }: Msg<UpdateWebhookReq>,
) -> JsonResult {
    let svc = service(&s)?;
    // 404 first, as the official store looks the webhook up before validating fields.
    svc.store.get_webhook(&id).await?;
    let name = r.name.filter(|n| !n.is_empty());
    if let Some(n) = &name {
        validate_webhook_name(n)?;
    }
    let url = r.url.filter(|u| !u.is_empty());
    if let Some(u) = &url {
        svc.validate_url(u).await?;
    }
    let events = match r.events.as_deref() {
        Some(w) if !w.is_empty() => Some(parse_events(w)?),
        _ => None,
    };
    let status = match &r.status {
        None | Some(Value::Null) => None,
        Some(v) => Some(WebhookStatus::parse(v)?),
    };
    let encrypted_secret = match &r.secret {
        Some(sec) => Some(svc.encrypt(sec)?),
        None => None,
    };
    let w = svc
        .store
        .update_webhook(
            &id,
            WebhookUpdate {
                name,
                description: r.description,
                url,
                events,
                encrypted_secret,
                status,
            },
        )
        .await?;
    svc.invalidate_cache();
    Ok(Json(json!({ "webhook": w })))
}

/// `DeleteWebhook` (soft delete, as the official store).
pub async fn delete_webhook(State(s): State<AppState>, Path(id): Path<String>) -> JsonResult {
    let svc = service(&s)?;
    svc.store.delete_webhook(&id).await?;
    svc.invalidate_cache();
    Ok(Json(json!({})))
}

/// `TestWebhook`
pub async fn test_webhook(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Msg { value: r, .. }: Msg<TestReq>,
) -> JsonResult {
    let svc = service(&s)?;
    let event = match &r.event {
        Some(w) => Some(WebhookEvent::from_wire(w)?),
        None => None,
    };
    let (w, secret) = svc.store.get_webhook_with_secret(&id).await?;
    let Some(event) = event.or_else(|| w.events.first().copied()) else {
        return Err(ApiError(Error::invalid("Webhook events cannot be empty")));
    };
    let result = svc.test(&w, secret.as_deref(), event).await;
    Ok(Json(json!({ "result": result })))
}

/// `GET /api/3.0/mlflow/webhooks/{id}/deliveries` (mlflow-rs extension): the delivery log,
/// newest first, `{deliveries: [...], next_page_token}`.
pub async fn list_deliveries(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Msg { value: r, .. }: Msg<ListReq>,
) -> JsonResult {
    let svc = service(&s)?;
    let max = int_param(&r.max_results, "max_results")?;
    let page = svc
        .store
        .list_deliveries(&id, max, r.page_token.as_deref().filter(|t| !t.is_empty()))
        .await?;
    let mut out = json!({ "deliveries": page.items });
    if let Some(t) = page.next_page_token {
        out["next_page_token"] = json!(t);
    }
    Ok(Json(out))
}

/// The `WebhookService` RPCs, relative to `/api/2.0/mlflow` (and its `/ajax-api` mirror).
pub fn webhook_routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks", post(create_webhook).get(list_webhooks))
        .route(
            "/webhooks/{webhook_id}",
            get(get_webhook)
                .patch(update_webhook)
                .delete(delete_webhook),
        )
        .route("/webhooks/{webhook_id}/test", post(test_webhook))
}

/// mlflow-rs extensions, relative to `/api/3.0/mlflow`.
pub fn v3_routes() -> Router<AppState> {
    Router::new().route("/webhooks/{webhook_id}/deliveries", get(list_deliveries))
}
