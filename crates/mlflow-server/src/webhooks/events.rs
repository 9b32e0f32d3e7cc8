//! Registry and prompt events, fired by the registry handlers after a successful write with
//! the official payloads (`mlflow/server/handlers.py`). Nothing here can fail the request:
//! without subscribers it returns before touching the database, and queueing errors are logged.

use super::Webhooks;
use super::payload::{Data, Val, dict, s};
use crate::AppState;
use mlflow_domain::registry::{
    IS_PROMPT_TAG_KEY, ModelVersion, PROMPT_TEXT_TAG_KEY, PROMPT_TYPE_TAG_KEY, has_prompt_tag,
};
use mlflow_domain::tracking::Tag;
use mlflow_domain::webhooks::{WebhookAction as A, WebhookEntity as E, WebhookEvent};
use std::sync::Arc;

fn ev(entity: E, action: A) -> WebhookEvent {
    WebhookEvent { entity, action }
}

fn svc(s: &AppState) -> Option<&Arc<Webhooks>> {
    s.config.webhooks.as_ref()
}

/// `_is_prompt(name)`, looked up only when someone listens to the prompt or the model event.
async fn is_prompt_model(
    st: &AppState,
    w: &Webhooks,
    name: &str,
    prompt: E,
    model: E,
    a: A,
) -> Option<bool> {
    if w.subscribers(ev(prompt, a)).await.is_empty() && w.subscribers(ev(model, a)).await.is_empty()
    {
        return None;
    }
    match st.registry.get_registered_model(name).await {
        Ok(rm) => Some(rm.is_prompt()),
        Err(e) => {
            tracing::warn!(name, error = %e, "webhook event skipped: registered model lookup failed");
            None
        }
    }
}

fn tag_map<'a>(tags: &'a [Tag], skip: &'a [&str]) -> Val {
    Val::Map(dict(
        tags.iter()
            .filter(|t| !skip.contains(&t.key.as_str()))
            .map(|t| (t.key.as_str(), t.value.as_str())),
    ))
}

/// `registered_model.created` / `prompt.created` (prompt decided by the request tags).
pub async fn registered_model_created(
    st: &AppState,
    name: &str,
    tags: &[Tag],
    description: Option<&str>,
) {
    let Some(w) = svc(st) else { return };
    let description = s_or_empty(description);
    if has_prompt_tag(tags) {
        let data: Data = vec![
            ("name", s(name)),
            (
                "tags",
                tag_map(tags, &[IS_PROMPT_TAG_KEY, PROMPT_TYPE_TAG_KEY]),
            ),
            ("description", description),
        ];
        w.emit(ev(E::Prompt, A::Created), &data).await;
    } else {
        let data: Data = vec![
            ("name", s(name)),
            ("tags", tag_map(tags, &[])),
            ("description", description),
        ];
        w.emit(ev(E::RegisteredModel, A::Created), &data).await;
    }
}

/// Proto string fields default to `""` when absent.
fn s_or_empty(v: Option<&str>) -> Val {
    s(v.unwrap_or(""))
}

/// `model_version.created` / `prompt_version.created`.
pub async fn model_version_created(
    st: &AppState,
    mv: &ModelVersion,
    req_tags: &[Tag],
    description: Option<&str>,
) {
    let Some(w) = svc(st) else { return };
    let description = Val::opt(description.filter(|d| !d.is_empty()));
    if has_prompt_tag(req_tags) {
        let template = req_tags
            .iter()
            .rev()
            .find(|t| t.key == PROMPT_TEXT_TAG_KEY)
            .map(|t| t.value.as_str());
        let data: Data = vec![
            ("name", s(&mv.name)),
            ("version", s(&mv.version)),
            ("template", Val::opt(template)),
            (
                "tags",
                tag_map(
                    req_tags,
                    &[PROMPT_TEXT_TAG_KEY, IS_PROMPT_TAG_KEY, PROMPT_TYPE_TAG_KEY],
                ),
            ),
            ("description", description),
        ];
        w.emit(ev(E::PromptVersion, A::Created), &data).await;
    } else {
        let data: Data = vec![
            ("name", s(&mv.name)),
            ("version", s(&mv.version)),
            ("source", s(mv.source.as_deref().unwrap_or(""))),
            (
                "run_id",
                Val::opt(mv.run_id.as_deref().filter(|r| !r.is_empty())),
            ),
            ("tags", tag_map(req_tags, &[])),
            ("description", description),
        ];
        w.emit(ev(E::ModelVersion, A::Created), &data).await;
    }
}

/// `prompt_tag.set` / `prompt_tag.deleted` (registered-model tags fire only for prompts).
pub async fn registered_model_tag(st: &AppState, name: &str, key: &str, value: Option<&str>) {
    let Some(w) = svc(st) else { return };
    let action = if value.is_some() { A::Set } else { A::Deleted };
    let event = ev(E::PromptTag, action);
    if w.subscribers(event).await.is_empty() {
        return;
    }
    let Ok(rm) = st.registry.get_registered_model(name).await else {
        return;
    };
    if !rm.is_prompt() {
        return;
    }
    let mut data: Data = vec![("name", s(name)), ("key", s(key))];
    if let Some(v) = value {
        data.push(("value", s(v)));
    }
    w.emit(event, &data).await;
}

/// `model_version_tag.*` / `prompt_version_tag.*`; `value: None` means deleted.
pub async fn model_version_tag(
    st: &AppState,
    name: &str,
    version: &str,
    key: &str,
    value: Option<&str>,
) {
    let Some(w) = svc(st) else { return };
    let action = if value.is_some() { A::Set } else { A::Deleted };
    let Some(prompt) =
        is_prompt_model(st, w, name, E::PromptVersionTag, E::ModelVersionTag, action).await
    else {
        return;
    };
    let entity = if prompt {
        E::PromptVersionTag
    } else {
        E::ModelVersionTag
    };
    let mut data: Data = vec![("name", s(name)), ("version", s(version)), ("key", s(key))];
    if let Some(v) = value {
        data.push(("value", s(v)));
    }
    w.emit(ev(entity, action), &data).await;
}

/// `model_version_alias.*` / `prompt_alias.*`; `version: None` means deleted.
pub async fn alias(st: &AppState, name: &str, alias: &str, version: Option<&str>) {
    let Some(w) = svc(st) else { return };
    let action = if version.is_some() {
        A::Created
    } else {
        A::Deleted
    };
    let Some(prompt) =
        is_prompt_model(st, w, name, E::PromptAlias, E::ModelVersionAlias, action).await
    else {
        return;
    };
    let entity = if prompt {
        E::PromptAlias
    } else {
        E::ModelVersionAlias
    };
    let mut data: Data = vec![("name", s(name)), ("alias", s(alias))];
    if let Some(v) = version {
        data.push(("version", s(v)));
    }
    w.emit(ev(entity, action), &data).await;
}
