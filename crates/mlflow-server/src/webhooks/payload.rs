//! Delivered bodies, byte-for-byte in the official shape: Python `json.dumps` separators
//! (`", "`, `": "`), ASCII escaping, key order as the official dicts, `timestamp` as
//! `datetime.now(timezone.utc).isoformat()`.

use mlflow_domain::validation::py_json_str;
use mlflow_domain::webhooks::{WebhookAction as A, WebhookEntity as E, WebhookEvent};

/// A payload value: only strings, nulls and string maps occur in registry payloads.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Str(String),
    Null,
    Map(Vec<(String, String)>),
}

impl Val {
    pub fn opt(s: Option<&str>) -> Self {
        s.map_or(Val::Null, |s| Val::Str(s.to_string()))
    }
    fn dump(&self, out: &mut String) {
        match self {
            Val::Str(s) => out.push_str(&py_json_str(s)),
            Val::Null => out.push_str("null"),
            Val::Map(kvs) => {
                out.push('{');
                for (i, (k, v)) in kvs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&py_json_str(k));
                    out.push_str(": ");
                    out.push_str(&py_json_str(v));
                }
                out.push('}');
            }
        }
    }
}

pub fn s(v: &str) -> Val {
    Val::Str(v.to_string())
}

/// An ordered `data` object.
pub type Data = Vec<(&'static str, Val)>;

/// A Python dict built from `(key, value)` pairs: the last value wins, the first position stays.
pub fn dict<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in pairs {
        match out.iter_mut().find(|(ek, _)| ek == k) {
            Some(e) => e.1 = v.to_string(),
            None => out.push((k.to_string(), v.to_string())),
        }
    }
    out
}

/// The whole body: `{"entity", "action", "timestamp", "data"}`.
pub fn envelope(event: WebhookEvent, timestamp: &str, data: &Data) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("{\"entity\": ");
    out.push_str(&py_json_str(event.entity.value()));
    out.push_str(", \"action\": ");
    out.push_str(&py_json_str(event.action.value()));
    out.push_str(", \"timestamp\": ");
    out.push_str(&py_json_str(timestamp));
    out.push_str(", \"data\": {");
    for (i, (k, v)) in data.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&py_json_str(k));
        out.push_str(": ");
        v.dump(&mut out);
    }
    out.push_str("}}");
    out
}

/// `datetime.fromtimestamp(us / 1e6, timezone.utc).isoformat()` (no fraction when it is 0).
pub fn iso_utc_micros(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, mi, se) = (sod / 3600, (sod % 3600) / 60, sod % 60);
    if micros == 0 {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{se:02}+00:00")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{se:02}.{micros:06}+00:00")
    }
}

/// Now, as the official payload timestamp.
pub fn now_iso() -> String {
    let us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    iso_utc_micros(us)
}

fn ex_tags() -> Val {
    Val::Map(vec![("example_key".into(), "example_value".into())])
}

/// `get_example_payload_for_event` (what `TestWebhook` sends).
pub fn example(event: WebhookEvent) -> Data {
    let model = || s("example_model");
    let prompt = || s("example_prompt");
    match (event.entity, event.action) {
        (E::RegisteredModel, _) => vec![
            ("name", model()),
            ("tags", ex_tags()),
            ("description", s("An example registered model")),
        ],
        (E::ModelVersion, _) => vec![
            ("name", model()),
            ("version", s("1")),
            ("source", s("models:/123")),
            ("run_id", s("abcd1234abcd5678")),
            ("tags", ex_tags()),
            ("description", s("An example model version")),
        ],
        (E::ModelVersionTag, A::Set) => vec![
            ("name", model()),
            ("version", s("1")),
            ("key", s("example_key")),
            ("value", s("example_value")),
        ],
        (E::ModelVersionTag, _) => vec![
            ("name", model()),
            ("version", s("1")),
            ("key", s("example_key")),
        ],
        (E::ModelVersionAlias, A::Created) => vec![
            ("name", model()),
            ("alias", s("example_alias")),
            ("version", s("1")),
        ],
        (E::ModelVersionAlias, _) => vec![("name", model()), ("alias", s("example_alias"))],
        (E::Prompt, _) => vec![
            ("name", prompt()),
            ("tags", ex_tags()),
            ("description", s("An example prompt")),
        ],
        (E::PromptVersion, _) => vec![
            ("name", prompt()),
            ("version", s("1")),
            ("template", s("Hello {{name}}!")),
            ("tags", ex_tags()),
            ("description", s("An example prompt version")),
        ],
        (E::PromptTag, A::Set) => vec![
            ("name", prompt()),
            ("key", s("example_key")),
            ("value", s("example_value")),
        ],
        (E::PromptTag, _) => vec![("name", prompt()), ("key", s("example_key"))],
        (E::PromptVersionTag, A::Set) => vec![
            ("name", prompt()),
            ("version", s("1")),
            ("key", s("example_key")),
            ("value", s("example_value")),
        ],
        (E::PromptVersionTag, _) => vec![
            ("name", prompt()),
            ("version", s("1")),
            ("key", s("example_key")),
        ],
        (E::PromptAlias, A::Created) => vec![
            ("name", prompt()),
            ("alias", s("example_alias")),
            ("version", s("1")),
        ],
        (E::PromptAlias, _) => vec![("name", prompt()), ("alias", s("example_alias"))],
        (E::BudgetPolicy, _) => vec![
            ("budget_policy_id", s("bp-abc123")),
            ("budget_unit", s("USD")),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(iso_utc_micros(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(
            iso_utc_micros(1_795_371_451_109_268),
            "2026-11-22T18:17:31.109268+00:00"
        );
        assert_eq!(
            iso_utc_micros(951_782_400_000_001),
            "2000-02-29T00:00:00.000001+00:00"
        );
    }

    #[test]
    fn official_body_shape() {
        let ev = WebhookEvent::new(E::PromptVersion, A::Created).unwrap();
        let body = envelope(
            ev,
            "2026-11-22T18:17:31.273192+00:00",
            &vec![
                ("name", s("p1")),
                ("version", s("2")),
                ("template", s("Hi {{x}}")),
                ("tags", Val::Map(dict([("z", "1")]))),
                ("description", s("dd")),
            ],
        );
        assert_eq!(
            body,
            r#"{"entity": "prompt_version", "action": "created", "timestamp": "2026-11-22T18:17:31.273192+00:00", "data": {"name": "p1", "version": "2", "template": "Hi {{x}}", "tags": {"z": "1"}, "description": "dd"}}"#
        );
        let d = dict([("a", "1"), ("b", "2"), ("a", "3")]);
        assert_eq!(d, vec![("a".into(), "3".into()), ("b".into(), "2".into())]);
        assert_eq!(
            envelope(ev, "t", &vec![("x", Val::Null), ("é", s("ü"))]),
            r#"{"entity": "prompt_version", "action": "created", "timestamp": "t", "data": {"x": null, "\u00e9": "\u00fc"}}"#
        );
    }
}
