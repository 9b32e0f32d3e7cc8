//! Webhooks through the SDK, against each server flavour: create/get/list/update/delete/test,
//! the error codes, the blocking facade, and the official Python client reading what the SDK
//! wrote.
//!
//! Both servers resolve webhook hosts and refuse non-public addresses unless configured
//! otherwise, and the test environment may have no DNS: the URLs are public IP literals
//! (`1.1.1.1`). No delivery is expected to succeed; `test_webhook` is checked for its shape.

use crate::common::{Server, py, unique};
use futures::TryStreamExt;
use mlflow_sdk::{
    CreateWebhook, Error, UpdateWebhook, Webhook, WebhookEvent, WebhookStatus, blocking,
};
use serde_json::json;

const URL: &str = "https://1.1.1.1/mlflow-sdk-webhook-test";

/// Events as a sorted list: servers return them in storage order, not request order.
fn sorted(events: &[WebhookEvent]) -> Vec<String> {
    let mut v: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    v.sort();
    v
}

fn assert_code(err: &Error, code: &str) {
    assert_eq!(err.error_code(), Some(code), "{err}");
}

pub async fn webhooks(srv: &Server) {
    let c = srv.client();
    let flavor = srv.flavor;

    // ------------------------------------------------------------------ create / get
    let name = unique("sdk-hook");
    let events = vec![
        WebhookEvent::model_version_created(),
        WebhookEvent::prompt_version_created(),
        WebhookEvent::model_version_tag_set(),
        WebhookEvent::model_version_alias_created(),
    ];
    let created = c
        .create_webhook(
            CreateWebhook::new(&name, URL, events.clone())
                .description("created by the Rust SDK")
                .secret("s3cr3t")
                .status(WebhookStatus::Active),
        )
        .await
        .unwrap();
    assert!(!created.webhook_id.is_empty(), "{flavor:?}");
    assert_eq!(created.name, name);
    assert_eq!(created.url, URL);
    assert_eq!(sorted(&created.events), sorted(&events));
    assert_eq!(
        created.description.as_deref(),
        Some("created by the Rust SDK")
    );
    assert_eq!(created.status, WebhookStatus::Active);
    assert!(created.creation_timestamp > 0);
    assert_eq!(created.last_updated_timestamp, created.creation_timestamp);
    let got = c.get_webhook(&created.webhook_id).await.unwrap();
    assert_eq!(got, created, "{flavor:?}: get returns what create returned");

    // Defaults: no description, status as given.
    let second = c
        .create_webhook(CreateWebhook::new(
            unique("sdk-hook-b"),
            URL,
            [WebhookEvent::registered_model_created()],
        ))
        .await
        .unwrap();
    assert_eq!(second.status, WebhookStatus::Active, "server default");
    assert_eq!(second.description, None);
    let third = c
        .create_webhook(
            CreateWebhook::new(unique("sdk-hook-c"), URL, [])
                .event(WebhookEvent::prompt_alias_deleted())
                .status(WebhookStatus::Disabled),
        )
        .await
        .unwrap();
    assert_eq!(third.status, WebhookStatus::Disabled);
    assert_eq!(
        c.get_webhook(&third.webhook_id).await.unwrap().events,
        [WebhookEvent::prompt_alias_deleted()]
    );

    // ------------------------------------------------------------------ list (paged)
    let page = c.list_webhooks_page(Some(1), None).await.unwrap();
    assert_eq!(page.items.len(), 1, "{flavor:?}");
    assert!(page.next_page_token.is_some(), "{flavor:?}: more pages");
    let all: Vec<Webhook> = c.list_webhooks(Some(1)).try_collect().await.unwrap();
    for w in [&created, &second, &third] {
        let listed = all
            .iter()
            .find(|l| l.webhook_id == w.webhook_id)
            .unwrap_or_else(|| panic!("{flavor:?}: {} not listed in {all:?}", w.webhook_id));
        assert_eq!(listed, w);
    }
    let ids: std::collections::HashSet<_> = all.iter().map(|w| &w.webhook_id).collect();
    assert_eq!(ids.len(), all.len(), "{flavor:?}: paging repeats no item");
    let one_page: Vec<Webhook> = c.list_webhooks(None).try_collect().await.unwrap();
    assert_eq!(one_page.len(), all.len());

    // ------------------------------------------------------------------ test
    let r = c.test_webhook(&created.webhook_id, None).await.unwrap();
    assert!(!r.success, "{flavor:?}: nothing answers at {URL}: {r:?}");
    assert!(
        r.error_message.as_deref().is_some_and(|m| !m.is_empty())
            || r.response_status.is_some_and(|s| s >= 400),
        "{flavor:?}: a failure is explained: {r:?}"
    );
    let r = c
        .test_webhook(
            &created.webhook_id,
            Some(WebhookEvent::model_version_alias_created()),
        )
        .await
        .unwrap();
    assert!(!r.success, "{r:?}");
    let err = c
        .test_webhook(
            &created.webhook_id,
            Some(WebhookEvent::new("model_version", "set")),
        )
        .await
        .unwrap_err();
    assert_code(&err, "INVALID_PARAMETER_VALUE");

    // ------------------------------------------------------------------ update
    let new_name = unique("sdk-hook-renamed");
    let updated = c
        .update_webhook(
            &created.webhook_id,
            UpdateWebhook::new()
                .name(&new_name)
                .status(WebhookStatus::Disabled),
        )
        .await
        .unwrap();
    assert_eq!(updated.name, new_name);
    assert_eq!(updated.status, WebhookStatus::Disabled);
    let got = c.get_webhook(&created.webhook_id).await.unwrap();
    assert_eq!(got, updated, "{flavor:?}");
    assert_eq!(got.url, URL, "unchanged");
    assert_eq!(sorted(&got.events), sorted(&events), "unchanged");
    assert_eq!(got.description, created.description, "unchanged");
    assert_eq!(got.creation_timestamp, created.creation_timestamp);
    assert!(got.last_updated_timestamp >= created.last_updated_timestamp);

    let updated = c
        .update_webhook(
            &created.webhook_id,
            UpdateWebhook::new()
                .description("")
                .events([WebhookEvent::prompt_tag_deleted()])
                .status(WebhookStatus::Active)
                .secret("rotated"),
        )
        .await
        .unwrap();
    assert_eq!(updated.description, None, "{flavor:?}: \"\" clears it");
    assert_eq!(updated.events, [WebhookEvent::prompt_tag_deleted()]);
    assert_eq!(updated.status, WebhookStatus::Active);
    assert_eq!(c.get_webhook(&created.webhook_id).await.unwrap(), updated);

    // ------------------------------------------------------------------ errors
    let err = c
        .create_webhook(CreateWebhook::new(
            unique("sdk-hook-bad"),
            URL,
            [WebhookEvent::new("model_version", "set")],
        ))
        .await
        .unwrap_err();
    assert_code(&err, "INVALID_PARAMETER_VALUE");
    let err = c
        .create_webhook(CreateWebhook::new(unique("sdk-hook-bad"), URL, []))
        .await
        .unwrap_err();
    assert_code(&err, "INVALID_PARAMETER_VALUE");
    let err = c
        .create_webhook(CreateWebhook::new(
            unique("sdk-hook-bad"),
            "ftp://1.1.1.1/hook",
            [WebhookEvent::prompt_created()],
        ))
        .await
        .unwrap_err();
    assert_code(&err, "INVALID_PARAMETER_VALUE");
    let err = c
        .update_webhook(
            &created.webhook_id,
            UpdateWebhook::new().events([WebhookEvent::new("registered_model", "deleted")]),
        )
        .await
        .unwrap_err();
    assert_code(&err, "INVALID_PARAMETER_VALUE");
    let missing = "00000000-0000-0000-0000-000000000000";
    let err = c.get_webhook(missing).await.unwrap_err();
    assert_code(&err, "RESOURCE_DOES_NOT_EXIST");
    assert!(err.is_not_found());
    assert_eq!(err.status(), Some(404));
    assert!(c.get_webhook("").await.is_err(), "empty id refused locally");

    // ------------------------------------------------------------------ the official client reads it
    if let Some(v) = py(
        &srv.url,
        &format!(
            r#"
import json
from mlflow import MlflowClient
w = MlflowClient().get_webhook({id:?})
print(json.dumps({{"name": w.name, "url": w.url, "status": str(w.status),
                  "events": [str(e) for e in w.events], "description": w.description}}))
"#,
            id = created.webhook_id
        ),
    ) {
        assert_eq!(
            v,
            json!({"name": new_name, "url": URL, "status": "ACTIVE",
                   "events": ["prompt_tag.deleted"], "description": null})
        );
    }

    // ------------------------------------------------------------------ blocking facade
    let b = blocking::Client::new(srv.config()).unwrap();
    let listed = b.list_webhooks(Some(2)).unwrap();
    assert_eq!(listed.len(), all.len());
    let via_blocking = b
        .update_webhook(
            &third.webhook_id,
            UpdateWebhook::new().name("blocking-renamed"),
        )
        .unwrap();
    assert_eq!(
        b.get_webhook(&third.webhook_id).unwrap().name,
        "blocking-renamed"
    );
    assert_eq!(via_blocking.name, "blocking-renamed");
    assert!(!b.test_webhook(&third.webhook_id, None).unwrap().success);

    // ------------------------------------------------------------------ delete
    c.delete_webhook(&created.webhook_id).await.unwrap();
    let err = c.get_webhook(&created.webhook_id).await.unwrap_err();
    assert_code(&err, "RESOURCE_DOES_NOT_EXIST");
    assert_code(
        &c.delete_webhook(&created.webhook_id).await.unwrap_err(),
        "RESOURCE_DOES_NOT_EXIST",
    );
    assert_code(
        &c.test_webhook(&created.webhook_id, None).await.unwrap_err(),
        "RESOURCE_DOES_NOT_EXIST",
    );
    assert_code(
        &c.update_webhook(&created.webhook_id, UpdateWebhook::new().name("x"))
            .await
            .unwrap_err(),
        "RESOURCE_DOES_NOT_EXIST",
    );
    let left: Vec<Webhook> = c.list_webhooks(None).try_collect().await.unwrap();
    assert!(left.iter().all(|w| w.webhook_id != created.webhook_id));
    assert_eq!(left.len(), all.len() - 1);
    b.delete_webhook(&second.webhook_id).unwrap();
    b.delete_webhook(&third.webhook_id).unwrap();
    assert!(b.get_webhook(&third.webhook_id).unwrap_err().is_not_found());
}
