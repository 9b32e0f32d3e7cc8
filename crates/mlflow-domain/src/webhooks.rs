//! Webhooks (`WebhookService`): entities, actions, the valid event table, wire shapes and the
//! official validation messages.
//!
//! Events travel by proto enum name on the wire (`{"entity":"REGISTERED_MODEL","action":"CREATED"}`)
//! and by lower-case value in the database and in delivered payloads (`registered_model.created`).

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $value:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The lower-case value stored in `webhook_events` and sent in payloads.
            pub fn value(self) -> &'static str {
                match self { $($name::$variant => $value),+ }
            }
            /// The proto enum name used on the wire.
            pub fn proto_name(self) -> String {
                self.value().to_ascii_uppercase()
            }
            /// Parses a proto name (`REGISTERED_MODEL`) or a stored value (`registered_model`).
            pub fn parse(s: &str) -> Option<Self> {
                let lower = s.to_ascii_lowercase();
                Self::ALL.iter().copied().find(|v| v.value() == lower)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.value())
            }
        }
    };
}

wire_enum!(
    /// `WebhookEntity`.
    WebhookEntity {
        RegisteredModel => "registered_model",
        ModelVersion => "model_version",
        ModelVersionTag => "model_version_tag",
        ModelVersionAlias => "model_version_alias",
        Prompt => "prompt",
        PromptVersion => "prompt_version",
        PromptTag => "prompt_tag",
        PromptVersionTag => "prompt_version_tag",
        PromptAlias => "prompt_alias",
        BudgetPolicy => "budget_policy",
    }
);

wire_enum!(
    /// `WebhookAction`.
    WebhookAction {
        Created => "created",
        Updated => "updated",
        Deleted => "deleted",
        Set => "set",
        Exceeded => "exceeded",
    }
);

/// `VALID_ENTITY_ACTIONS`.
pub fn valid_actions(entity: WebhookEntity) -> &'static [WebhookAction] {
    use WebhookAction::*;
    use WebhookEntity::*;
    match entity {
        RegisteredModel | ModelVersion | Prompt | PromptVersion => &[Created],
        ModelVersionTag | PromptTag | PromptVersionTag => &[Deleted, Set],
        ModelVersionAlias | PromptAlias => &[Created, Deleted],
        BudgetPolicy => &[Exceeded],
    }
}

/// One event a webhook subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WebhookEvent {
    pub entity: WebhookEntity,
    pub action: WebhookAction,
}

impl WebhookEvent {
    /// `WebhookEvent(entity, action)` with the official combination check.
    pub fn new(entity: WebhookEntity, action: WebhookAction) -> Result<Self> {
        let valid = valid_actions(entity);
        if !valid.contains(&action) {
            let mut names: Vec<&str> = valid.iter().map(|a| a.value()).collect();
            names.sort_unstable();
            let list = names
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::invalid(format!(
                "Invalid action '{action}' for entity '{entity}'. Valid actions are: [{list}]"
            )));
        }
        Ok(Self { entity, action })
    }

    /// Parses the wire form `{"entity": "...", "action": "..."}` (names or enum numbers).
    pub fn from_wire(w: &WebhookEventWire) -> Result<Self> {
        let entity = parse_enum(
            &w.entity,
            WebhookEntity::ALL,
            WebhookEntity::parse,
            "entity",
        )?;
        let action = parse_enum(
            &w.action,
            WebhookAction::ALL,
            WebhookAction::parse,
            "action",
        )?;
        Self::new(entity, action)
    }

    pub fn to_wire(self) -> WebhookEventWire {
        WebhookEventWire {
            entity: serde_json::Value::String(self.entity.proto_name()),
            action: serde_json::Value::String(self.action.proto_name()),
        }
    }
}

impl std::fmt::Display for WebhookEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.entity, self.action)
    }
}

/// Proto enums accept their name or their number (1-based; 0 is `*_UNSPECIFIED`).
fn parse_enum<T: Copy>(
    v: &serde_json::Value,
    all: &[T],
    by_name: fn(&str) -> Option<T>,
    field: &str,
) -> Result<T> {
    let found = match v {
        serde_json::Value::String(s) => by_name(s),
        serde_json::Value::Number(n) => n
            .as_u64()
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| all.get(i).copied()),
        _ => None,
    };
    found.ok_or_else(|| Error::invalid(format!("Invalid webhook event {field}: {v}")))
}

/// The wire shape of an event; enum values are kept raw so bad ones get a clear error.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct WebhookEventWire {
    pub entity: serde_json::Value,
    pub action: serde_json::Value,
}

/// `WebhookStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WebhookStatus {
    #[default]
    Active,
    Disabled,
}

impl WebhookStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookStatus::Active => "ACTIVE",
            WebhookStatus::Disabled => "DISABLED",
        }
    }
    /// Parses `ACTIVE`/`DISABLED` (or the enum numbers 1/2).
    pub fn parse(v: &serde_json::Value) -> Result<Self> {
        match v {
            serde_json::Value::String(s) if s.eq_ignore_ascii_case("ACTIVE") => Ok(Self::Active),
            serde_json::Value::String(s) if s.eq_ignore_ascii_case("DISABLED") => {
                Ok(Self::Disabled)
            }
            serde_json::Value::Number(n) if n.as_u64() == Some(1) => Ok(Self::Active),
            serde_json::Value::Number(n) if n.as_u64() == Some(2) => Ok(Self::Disabled),
            other => Err(Error::invalid(format!("Invalid webhook status: {other}"))),
        }
    }
}

impl Serialize for WebhookStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// `Webhook` as the API returns it. The secret is never part of it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Webhook {
    pub webhook_id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub url: String,
    #[serde(serialize_with = "events_wire")]
    pub events: Vec<WebhookEvent>,
    pub status: WebhookStatus,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
}

fn events_wire<S: serde::Serializer>(
    events: &[WebhookEvent],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(events.len()))?;
    for e in events {
        seq.serialize_element(&e.to_wire())?;
    }
    seq.end()
}

/// `WebhookTestResult`.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct WebhookTestResult {
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_status: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// One queued or finished delivery (mlflow-rs extension: the delivery log).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WebhookDelivery {
    pub delivery_id: String,
    pub webhook_id: String,
    /// `entity.action`, e.g. `model_version.created`.
    pub event: String,
    /// `PENDING` (queued or waiting for a retry), `SUCCEEDED`, `FAILED` or `CANCELLED`.
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub created_timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_timestamp: Option<i64>,
    /// The JSON body that is (or was) POSTed.
    pub payload: String,
}

/// `_validate_webhook_name`: 1-63 characters, letters/digits/`._-`, starting and ending with a
/// letter or digit.
pub fn validate_webhook_name(name: &str) -> Result<()> {
    let ok_mid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let chars: Vec<char> = name.chars().collect();
    let valid = !chars.is_empty()
        && chars.len() <= 63
        && chars.iter().all(|c| ok_mid(*c))
        && chars.first().is_some_and(char::is_ascii_alphanumeric)
        && chars.last().is_some_and(char::is_ascii_alphanumeric);
    if valid {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "Webhook name {} is invalid. It must start and end with a letter or digit, be less than \
         63 characters long, and contain only letters, digits, dots (.), underscores (_), and \
         hyphens (-).",
        crate::validation::py_repr(name)
    )))
}

/// `_validate_webhook_events` for an empty list.
pub fn validate_webhook_events(events: &[WebhookEvent]) -> Result<()> {
    if events.is_empty() {
        return Err(Error::invalid(
            "Webhook events must be a non-empty list of WebhookEvent objects: [].",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations() {
        let e = WebhookEvent::new(WebhookEntity::RegisteredModel, WebhookAction::Set).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid action 'set' for entity 'registered_model'. Valid actions are: ['created']"
        );
        let e = WebhookEvent::new(WebhookEntity::PromptAlias, WebhookAction::Set).unwrap_err();
        assert!(
            e.message.ends_with("['created', 'deleted']"),
            "{}",
            e.message
        );
        let w = WebhookEventWire {
            entity: serde_json::json!("MODEL_VERSION_TAG"),
            action: serde_json::json!(4),
        };
        let ev = WebhookEvent::from_wire(&w).unwrap();
        assert_eq!(ev.to_string(), "model_version_tag.set");
        assert_eq!(ev.to_wire().entity, "MODEL_VERSION_TAG");
    }

    #[test]
    fn names() {
        assert!(validate_webhook_name("a").is_ok());
        assert!(validate_webhook_name("my-hook.v1_2").is_ok());
        assert!(validate_webhook_name("-bad").is_err());
        assert!(validate_webhook_name("bad.").is_err());
        assert!(validate_webhook_name(&"a".repeat(64)).is_err());
        assert_eq!(
            validate_webhook_name("-bad").unwrap_err().message,
            "Webhook name '-bad' is invalid. It must start and end with a letter or digit, be \
             less than 63 characters long, and contain only letters, digits, dots (.), \
             underscores (_), and hyphens (-)."
        );
    }
}
