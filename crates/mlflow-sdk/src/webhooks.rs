//! Webhooks (MLflow 3.x `WebhookService`): subscriptions to model-registry and prompt events,
//! under `/api/2.0/mlflow/webhooks`.
//!
//! Events travel as proto enum names on the wire (`{"entity":"MODEL_VERSION","action":"CREATED"}`);
//! [`WebhookEvent`] holds the lower-case values the official client shows
//! (`model_version.created`) and converts in both directions. A webhook's secret is write-only:
//! it is sent on create/update and never returned.

use crate::client::{Client, paginate};
use crate::error::{Error, Result};
use crate::types::Page;
use crate::util::de_i64;
use futures::Stream;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};
use std::fmt;
use std::str::FromStr;

const P: &str = "/api/2.0/mlflow/webhooks";

/// Characters escaped in a webhook id used as a path segment (ids are UUIDs; this only guards
/// against `/` and friends).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// One event a webhook subscribes to: an entity and an action, in the official client's
/// lower-case spelling (`entity: "model_version", action: "created"`).
///
/// Valid pairs in MLflow 3.17.2: `registered_model.created`, `model_version.created`,
/// `model_version_tag.{set,deleted}`, `model_version_alias.{created,deleted}`,
/// `prompt.created`, `prompt_version.created`, `prompt_tag.{set,deleted}`,
/// `prompt_version_tag.{set,deleted}`, `prompt_alias.{created,deleted}` and
/// `budget_policy.exceeded`. The server validates the pair (`INVALID_PARAMETER_VALUE`).
///
/// ```
/// use mlflow_sdk::WebhookEvent;
/// let e = WebhookEvent::model_version_created();
/// assert_eq!(e, WebhookEvent::new("model_version", "created"));
/// assert_eq!(e.to_string(), "model_version.created");
/// assert_eq!("model_version.created".parse::<WebhookEvent>()?, e);
/// // On the wire: proto enum names.
/// assert_eq!(
///     serde_json::to_value(&e).unwrap(),
///     serde_json::json!({"entity": "MODEL_VERSION", "action": "CREATED"})
/// );
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct WebhookEvent {
    /// Entity, e.g. `model_version`, `prompt_alias`.
    pub entity: String,
    /// Action, e.g. `created`, `set`, `deleted`.
    pub action: String,
}

macro_rules! event_ctors {
    ($( $fn_name:ident => $entity:literal, $action:literal; )*) => {
        $(
            #[doc = concat!("The `", $entity, ".", $action, "` event.")]
            ///
            /// ```
            #[doc = concat!(
                "assert_eq!(mlflow_sdk::WebhookEvent::", stringify!($fn_name),
                "().to_string(), \"", $entity, ".", $action, "\");"
            )]
            /// ```
            pub fn $fn_name() -> Self {
                WebhookEvent::new($entity, $action)
            }
        )*
    };
}

impl WebhookEvent {
    /// An event from its entity and action (either case; stored lower-case).
    ///
    /// ```
    /// use mlflow_sdk::WebhookEvent;
    /// let e = WebhookEvent::new("PROMPT_ALIAS", "Deleted");
    /// assert_eq!((e.entity.as_str(), e.action.as_str()), ("prompt_alias", "deleted"));
    /// ```
    pub fn new(entity: impl Into<String>, action: impl Into<String>) -> Self {
        WebhookEvent {
            entity: entity.into().to_ascii_lowercase(),
            action: action.into().to_ascii_lowercase(),
        }
    }

    event_ctors! {
        registered_model_created => "registered_model", "created";
        model_version_created => "model_version", "created";
        model_version_tag_set => "model_version_tag", "set";
        model_version_tag_deleted => "model_version_tag", "deleted";
        model_version_alias_created => "model_version_alias", "created";
        model_version_alias_deleted => "model_version_alias", "deleted";
        prompt_created => "prompt", "created";
        prompt_version_created => "prompt_version", "created";
        prompt_tag_set => "prompt_tag", "set";
        prompt_tag_deleted => "prompt_tag", "deleted";
        prompt_version_tag_set => "prompt_version_tag", "set";
        prompt_version_tag_deleted => "prompt_version_tag", "deleted";
        prompt_alias_created => "prompt_alias", "created";
        prompt_alias_deleted => "prompt_alias", "deleted";
        budget_policy_exceeded => "budget_policy", "exceeded";
    }
}

impl fmt::Display for WebhookEvent {
    /// `entity.action`, as `str(WebhookEvent)` in Python.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.entity, self.action)
    }
}

impl FromStr for WebhookEvent {
    type Err = Error;

    /// Parses `entity.action` (`WebhookEvent.from_str` in Python); only the format is checked
    /// here, the pair itself by the server.
    fn from_str(s: &str) -> Result<Self> {
        match s.split_once('.') {
            Some((e, a)) if !e.is_empty() && !a.is_empty() && !a.contains('.') => {
                Ok(WebhookEvent::new(e, a))
            }
            _ => Err(Error::invalid(format!(
                "Invalid event string format: {s}. Expected format: 'entity.action' \
                 (e.g., 'registered_model.created')"
            ))),
        }
    }
}

impl Serialize for WebhookEvent {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        json!({
            "entity": self.entity.to_ascii_uppercase(),
            "action": self.action.to_ascii_uppercase(),
        })
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for WebhookEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Wire {
            entity: String,
            action: String,
        }
        let w = Wire::deserialize(d)?;
        Ok(WebhookEvent::new(w.entity, w.action))
    }
}

/// Whether a webhook receives deliveries.
///
/// ```
/// use mlflow_sdk::WebhookStatus;
/// assert_eq!(WebhookStatus::default(), WebhookStatus::Active);
/// assert_eq!(serde_json::to_value(WebhookStatus::Disabled).unwrap(), "DISABLED");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WebhookStatus {
    /// Events are delivered.
    #[default]
    Active,
    /// No deliveries; the webhook is kept.
    Disabled,
}

/// A webhook as the server returns it (the secret is never returned).
///
/// ```no_run
/// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
/// let hook: mlflow_sdk::Webhook = client.get_webhook("0b7c…").await?;
/// println!("{} -> {} ({:?}), events {:?}", hook.name, hook.url, hook.status, hook.events);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Webhook {
    /// Server-assigned id (a UUID).
    pub webhook_id: String,
    /// Name.
    pub name: String,
    /// Description; `None` when empty (as `Webhook.from_proto` in Python).
    #[serde(
        deserialize_with = "de_non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    /// Endpoint deliveries are POSTed to.
    pub url: String,
    /// Subscribed events.
    pub events: Vec<WebhookEvent>,
    /// `ACTIVE` or `DISABLED`.
    pub status: WebhookStatus,
    /// Epoch ms of creation.
    #[serde(deserialize_with = "de_i64")]
    pub creation_timestamp: i64,
    /// Epoch ms of the last update.
    #[serde(deserialize_with = "de_i64")]
    pub last_updated_timestamp: i64,
    /// Workspace, when the server reports one (MLflow 3.17.2's `Webhook` message has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
}

fn de_non_empty<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

/// The outcome of [`Client::test_webhook`]: one synchronous delivery of an example payload.
///
/// An unreachable endpoint is not an error of the call: it comes back as `success: false` with
/// `error_message` set.
///
/// ```no_run
/// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
/// let r = client.test_webhook("0b7c…", None).await?;
/// if !r.success {
///     eprintln!("status {:?}: {:?}", r.response_status, r.error_message);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookTestResult {
    /// True when the endpoint answered with a status below 400.
    pub success: bool,
    /// The endpoint's HTTP status, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_status: Option<i32>,
    /// The endpoint's response body, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    /// Why the delivery failed (connection, TLS, SSRF refusal, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// Parameters of [`Client::create_webhook`].
///
/// ```no_run
/// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
/// use mlflow_sdk::{CreateWebhook, WebhookEvent, WebhookStatus};
/// let hook = client
///     .create_webhook(
///         CreateWebhook::new("ci", "https://ci.example.com/mlflow", [WebhookEvent::model_version_created()])
///             .event(WebhookEvent::model_version_alias_created())
///             .description("retrain on new versions")
///             .secret("hmac-key")
///             .status(WebhookStatus::Active),
///     )
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct CreateWebhook {
    /// Name (letters, digits, `.`, `_`, `-`, spaces; must start and end alphanumerically).
    pub name: String,
    /// Endpoint URL (`https` unless the server allows other schemes).
    pub url: String,
    /// Events to subscribe to (at least one).
    pub events: Vec<WebhookEvent>,
    /// Description.
    pub description: Option<String>,
    /// HMAC-SHA256 signing secret; write-only.
    pub secret: Option<String>,
    /// Initial status (server default `ACTIVE`).
    pub status: Option<WebhookStatus>,
}

impl fmt::Debug for CreateWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateWebhook")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("description", &self.description)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("status", &self.status)
            .finish()
    }
}

impl CreateWebhook {
    /// A webhook named `name` POSTing `events` to `url`.
    ///
    /// ```
    /// use mlflow_sdk::{CreateWebhook, WebhookEvent};
    /// let req = CreateWebhook::new("ci", "https://ci.example.com/hook", [WebhookEvent::prompt_created()]);
    /// assert_eq!(req.events.len(), 1);
    /// ```
    pub fn new(
        name: impl Into<String>,
        url: impl Into<String>,
        events: impl IntoIterator<Item = WebhookEvent>,
    ) -> Self {
        CreateWebhook {
            name: name.into(),
            url: url.into(),
            events: events.into_iter().collect(),
            ..Default::default()
        }
    }

    /// Adds an event.
    ///
    /// ```
    /// use mlflow_sdk::{CreateWebhook, WebhookEvent};
    /// let req = CreateWebhook::new("ci", "https://ci.example.com/hook", [])
    ///     .event(WebhookEvent::model_version_tag_set());
    /// assert_eq!(req.events, [WebhookEvent::model_version_tag_set()]);
    /// ```
    pub fn event(mut self, event: WebhookEvent) -> Self {
        self.events.push(event);
        self
    }

    /// Sets the description.
    ///
    /// ```
    /// let req = mlflow_sdk::CreateWebhook::new("ci", "https://ci.example.com/hook", []).description("d");
    /// assert_eq!(req.description.as_deref(), Some("d"));
    /// ```
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the signing secret (sent once, never returned).
    ///
    /// ```
    /// let req = mlflow_sdk::CreateWebhook::new("ci", "https://ci.example.com/hook", []).secret("k");
    /// assert!(!format!("{req:?}").contains("\"k\""), "Debug redacts the secret");
    /// ```
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// Sets the initial status.
    ///
    /// ```
    /// use mlflow_sdk::{CreateWebhook, WebhookStatus};
    /// let req = CreateWebhook::new("ci", "https://ci.example.com/hook", []).status(WebhookStatus::Disabled);
    /// assert_eq!(req.status, Some(WebhookStatus::Disabled));
    /// ```
    pub fn status(mut self, status: WebhookStatus) -> Self {
        self.status = Some(status);
        self
    }

    fn body(&self) -> Value {
        let mut body = json!({"name": self.name, "url": self.url, "events": self.events});
        if let Some(d) = &self.description {
            body["description"] = json!(d);
        }
        if let Some(s) = &self.secret {
            body["secret"] = json!(s);
        }
        if let Some(s) = self.status {
            body["status"] = json!(s);
        }
        body
    }
}

/// Parameters of [`Client::update_webhook`]: only the fields that are set change.
///
/// ```no_run
/// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
/// use mlflow_sdk::{UpdateWebhook, WebhookStatus};
/// let hook = client
///     .update_webhook("0b7c…", UpdateWebhook::new().name("ci-paused").status(WebhookStatus::Disabled))
///     .await?;
/// assert_eq!(hook.status, WebhookStatus::Disabled);
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct UpdateWebhook {
    /// New name.
    pub name: Option<String>,
    /// New description (`Some("")` clears it).
    pub description: Option<String>,
    /// New endpoint URL.
    pub url: Option<String>,
    /// New event list, replacing the old one (an empty list leaves it unchanged).
    pub events: Option<Vec<WebhookEvent>>,
    /// New signing secret (`Some("")` removes it).
    pub secret: Option<String>,
    /// New status.
    pub status: Option<WebhookStatus>,
}

impl fmt::Debug for UpdateWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdateWebhook")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("status", &self.status)
            .finish()
    }
}

impl UpdateWebhook {
    /// An update that changes nothing yet.
    ///
    /// ```
    /// let u = mlflow_sdk::UpdateWebhook::new();
    /// assert!(u.name.is_none() && u.status.is_none());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Renames the webhook.
    ///
    /// ```
    /// let u = mlflow_sdk::UpdateWebhook::new().name("ci-2");
    /// assert_eq!(u.name.as_deref(), Some("ci-2"));
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the description (`""` clears it).
    ///
    /// ```
    /// let u = mlflow_sdk::UpdateWebhook::new().description("");
    /// assert_eq!(u.description.as_deref(), Some(""));
    /// ```
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Points the webhook at another URL.
    ///
    /// ```
    /// let u = mlflow_sdk::UpdateWebhook::new().url("https://ci.example.com/v2");
    /// assert!(u.url.is_some());
    /// ```
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Replaces the subscribed events.
    ///
    /// ```
    /// use mlflow_sdk::{UpdateWebhook, WebhookEvent};
    /// let u = UpdateWebhook::new().events([WebhookEvent::prompt_alias_created()]);
    /// assert_eq!(u.events.unwrap().len(), 1);
    /// ```
    pub fn events(mut self, events: impl IntoIterator<Item = WebhookEvent>) -> Self {
        self.events = Some(events.into_iter().collect());
        self
    }

    /// Sets a new signing secret.
    ///
    /// ```
    /// let u = mlflow_sdk::UpdateWebhook::new().secret("rotated");
    /// assert!(u.secret.is_some());
    /// ```
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// Enables or disables the webhook.
    ///
    /// ```
    /// use mlflow_sdk::{UpdateWebhook, WebhookStatus};
    /// let u = UpdateWebhook::new().status(WebhookStatus::Active);
    /// assert_eq!(u.status, Some(WebhookStatus::Active));
    /// ```
    pub fn status(mut self, status: WebhookStatus) -> Self {
        self.status = Some(status);
        self
    }

    fn body(&self) -> Value {
        let mut body = json!({});
        if let Some(v) = &self.name {
            body["name"] = json!(v);
        }
        if let Some(v) = &self.description {
            body["description"] = json!(v);
        }
        if let Some(v) = &self.url {
            body["url"] = json!(v);
        }
        if let Some(v) = self.events.as_ref().filter(|e| !e.is_empty()) {
            body["events"] = json!(v);
        }
        if let Some(v) = &self.secret {
            body["secret"] = json!(v);
        }
        if let Some(v) = self.status {
            body["status"] = json!(v);
        }
        body
    }
}

fn webhook_path(webhook_id: &str, suffix: &str) -> Result<String> {
    if webhook_id.is_empty() {
        return Err(Error::invalid("webhook_id must not be empty"));
    }
    Ok(format!(
        "{P}/{}{suffix}",
        utf8_percent_encode(webhook_id, SEGMENT)
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WebhookResp {
    webhook: Webhook,
}

impl Client {
    /// `POST /api/2.0/mlflow/webhooks`: creates a webhook.
    ///
    /// The server checks the name, the URL (scheme allow-list, public address) and every
    /// event pair; failures are `INVALID_PARAMETER_VALUE`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use mlflow_sdk::{CreateWebhook, WebhookEvent};
    /// let hook = client
    ///     .create_webhook(CreateWebhook::new("ci", "https://ci.example.com/hook", [WebhookEvent::model_version_created()]))
    ///     .await?;
    /// println!("created {}", hook.webhook_id);
    /// # Ok(()) }
    /// ```
    pub async fn create_webhook(&self, req: CreateWebhook) -> Result<Webhook> {
        let r: WebhookResp = self.post(P, req.body()).await?;
        Ok(r.webhook)
    }

    /// `GET /api/2.0/mlflow/webhooks/{id}`: one webhook (`RESOURCE_DOES_NOT_EXIST` when absent
    /// or deleted).
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// match client.get_webhook("0b7c…").await {
    ///     Ok(hook) => println!("{}: {:?}", hook.name, hook.status),
    ///     Err(e) if e.is_not_found() => println!("gone"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_webhook(&self, webhook_id: &str) -> Result<Webhook> {
        let r: WebhookResp = self.get(&webhook_path(webhook_id, "")?, json!({})).await?;
        Ok(r.webhook)
    }

    /// `GET /api/2.0/mlflow/webhooks`: one page of webhooks (`max_results` defaults to the
    /// server's page size).
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let page = client.list_webhooks_page(Some(10), None).await?;
    /// for hook in &page.items {
    ///     println!("{} {}", hook.webhook_id, hook.name);
    /// }
    /// if let Some(token) = page.next_page_token {
    ///     let _next = client.list_webhooks_page(Some(10), Some(token)).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_webhooks_page(
        &self,
        max_results: Option<i64>,
        page_token: Option<String>,
    ) -> Result<Page<Webhook>> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct R {
            webhooks: Vec<Webhook>,
            next_page_token: Option<String>,
        }
        let mut q = json!({});
        if let Some(n) = max_results {
            q["max_results"] = json!(n);
        }
        if let Some(t) = page_token.filter(|t| !t.is_empty()) {
            q["page_token"] = json!(t);
        }
        let r: R = self.get(P, q).await?;
        Ok(Page {
            items: r.webhooks,
            next_page_token: r.next_page_token.filter(|t| !t.is_empty()),
        })
    }

    /// All webhooks, fetched lazily `page_size` at a time (server default when `None`).
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use futures::TryStreamExt;
    /// let hooks: Vec<mlflow_sdk::Webhook> = client.list_webhooks(Some(100)).try_collect().await?;
    /// # Ok(()) }
    /// ```
    pub fn list_webhooks(
        &self,
        page_size: Option<i64>,
    ) -> impl Stream<Item = Result<Webhook>> + '_ {
        paginate(
            move |token| async move { self.list_webhooks_page(page_size, token).await },
            None,
        )
    }

    /// `PATCH /api/2.0/mlflow/webhooks/{id}`: changes the fields set in `req`; returns the
    /// updated webhook.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use mlflow_sdk::{UpdateWebhook, WebhookStatus};
    /// client.update_webhook("0b7c…", UpdateWebhook::new().status(WebhookStatus::Disabled)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn update_webhook(&self, webhook_id: &str, req: UpdateWebhook) -> Result<Webhook> {
        let r: WebhookResp = self
            .patch(&webhook_path(webhook_id, "")?, req.body())
            .await?;
        Ok(r.webhook)
    }

    /// `DELETE /api/2.0/mlflow/webhooks/{id}`: deletes a webhook.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// client.delete_webhook("0b7c…").await?;
    /// assert!(client.get_webhook("0b7c…").await.unwrap_err().is_not_found());
    /// # Ok(()) }
    /// ```
    pub async fn delete_webhook(&self, webhook_id: &str) -> Result<()> {
        let _: Value = self
            .delete(&webhook_path(webhook_id, "")?, json!({}))
            .await?;
        Ok(())
    }

    /// `POST /api/2.0/mlflow/webhooks/{id}/test`: delivers an example payload for `event` (the
    /// webhook's first event when `None`) synchronously and reports the outcome. A failed
    /// delivery is `Ok` with `success: false`; a missing webhook or an invalid event is an
    /// error.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use mlflow_sdk::WebhookEvent;
    /// let r = client.test_webhook("0b7c…", Some(WebhookEvent::model_version_created())).await?;
    /// println!("success={} status={:?} body={:?}", r.success, r.response_status, r.response_body);
    /// # Ok(()) }
    /// ```
    pub async fn test_webhook(
        &self,
        webhook_id: &str,
        event: Option<WebhookEvent>,
    ) -> Result<WebhookTestResult> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct R {
            result: WebhookTestResult,
        }
        let mut body = json!({});
        if let Some(e) = event {
            body["event"] = json!(e);
        }
        let r: R = self.post(&webhook_path(webhook_id, "/test")?, body).await?;
        Ok(r.result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_wire_roundtrip() {
        let e = WebhookEvent::model_version_alias_deleted();
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            json!({"entity": "MODEL_VERSION_ALIAS", "action": "DELETED"})
        );
        assert_eq!(serde_json::from_value::<WebhookEvent>(v).unwrap(), e);
        assert!("model_version".parse::<WebhookEvent>().is_err());
        assert!("a.b.c".parse::<WebhookEvent>().is_err());
    }

    #[test]
    fn webhook_from_official_json() {
        let w: Webhook = serde_json::from_value(json!({
            "webhook_id": "61994f60-dc8b-41c1-a557-f70a139d669b",
            "name": "h1",
            "url": "https://1.1.1.1/hook",
            "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}],
            "status": "DISABLED",
            "creation_timestamp": 1795378218421i64,
            "last_updated_timestamp": "1795378218422"
        }))
        .unwrap();
        assert_eq!(w.events, [WebhookEvent::model_version_created()]);
        assert_eq!(w.status, WebhookStatus::Disabled);
        assert_eq!(w.description, None);
        assert_eq!(w.last_updated_timestamp, 1795378218422);
    }

    #[test]
    fn bodies_send_only_what_is_set() {
        let c = CreateWebhook::new("n", "https://x", [WebhookEvent::prompt_created()]);
        assert_eq!(
            c.body(),
            json!({"name": "n", "url": "https://x",
                   "events": [{"entity": "PROMPT", "action": "CREATED"}]})
        );
        let u = UpdateWebhook::new()
            .status(WebhookStatus::Disabled)
            .events([]);
        assert_eq!(u.body(), json!({"status": "DISABLED"}));
        assert_eq!(
            webhook_path("a/b", "/test").unwrap(),
            "/api/2.0/mlflow/webhooks/a%2Fb/test"
        );
        assert!(webhook_path("", "").is_err());
    }
}
