//! Prompts, stored as the official client stores them: a registered model tagged
//! `mlflow.prompt.is_prompt=true`, one model version per prompt version, the template in the
//! `mlflow.prompt.text` tag and its kind in `_mlflow_prompt_type`.

use crate::client::{Client, SearchQuery};
use crate::error::{Error, Result};
use crate::registry::CreateModelVersion;
use crate::types::{ModelVersion, Page, Tag};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Registered-model and model-version tag marking a prompt.
///
/// ```
/// use mlflow_sdk::prompts::IS_PROMPT_TAG_KEY;
/// // The registered-model search filter that finds prompts only:
/// let filter = format!("tags.`{IS_PROMPT_TAG_KEY}` = 'true'");
/// assert_eq!(filter, "tags.`mlflow.prompt.is_prompt` = 'true'");
/// ```
pub const IS_PROMPT_TAG_KEY: &str = "mlflow.prompt.is_prompt";
/// Model-version tag holding the template.
///
/// ```no_run
/// use mlflow_sdk::prompts::PROMPT_TEXT_TAG_KEY;
/// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
/// let mv = client.get_model_version("qa", "1").await?;
/// println!("raw template: {:?}", mv.tag(PROMPT_TEXT_TAG_KEY));
/// # Ok(()) }
/// ```
pub const PROMPT_TEXT_TAG_KEY: &str = "mlflow.prompt.text";
/// Model-version tag holding `text` or `chat`.
///
/// ```no_run
/// use mlflow_sdk::prompts::PROMPT_TYPE_TAG_KEY;
/// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
/// let mv = client.get_model_version("qa", "1").await?;
/// assert!(matches!(mv.tag(PROMPT_TYPE_TAG_KEY), Some("text" | "chat")));
/// # Ok(()) }
/// ```
pub const PROMPT_TYPE_TAG_KEY: &str = "_mlflow_prompt_type";
/// Model-version tag holding the response format (JSON).
///
/// ```
/// use mlflow_sdk::prompts::RESPONSE_FORMAT_TAG_KEY;
/// assert_eq!(RESPONSE_FORMAT_TAG_KEY, "_mlflow_prompt_response_format");
/// ```
pub const RESPONSE_FORMAT_TAG_KEY: &str = "_mlflow_prompt_response_format";
/// Model-version tag holding the model config (JSON).
///
/// ```no_run
/// use mlflow_sdk::prompts::PROMPT_MODEL_CONFIG_TAG_KEY;
/// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
/// let mv = client.get_model_version("qa", "1").await?;
/// let config: Option<serde_json::Value> =
///     mv.tag(PROMPT_MODEL_CONFIG_TAG_KEY).and_then(|s| serde_json::from_str(s).ok());
/// println!("model config: {config:?}");
/// # Ok(()) }
/// ```
pub const PROMPT_MODEL_CONFIG_TAG_KEY: &str = "_mlflow_prompt_model_config";
/// Registered-model tag listing the experiments a prompt was used in (`,1,2,`).
///
/// ```no_run
/// use mlflow_sdk::prompts::PROMPT_EXPERIMENT_IDS_TAG_KEY;
/// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
/// let rm = client.get_registered_model("qa").await?;
/// let used_in: Vec<&str> = rm
///     .tag(PROMPT_EXPERIMENT_IDS_TAG_KEY)
///     .unwrap_or("")
///     .split(',')
///     .filter(|id| !id.is_empty())
///     .collect();
/// println!("prompt `qa` was used in experiments {used_in:?}");
/// # Ok(()) }
/// ```
pub const PROMPT_EXPERIMENT_IDS_TAG_KEY: &str = "_mlflow_experiment_ids";
/// The `source` the official client gives prompt versions.
///
/// ```no_run
/// use mlflow_sdk::prompts::PROMPT_SOURCE_PLACEHOLDER;
/// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
/// let mv = client.get_model_version("qa", "1").await?;
/// assert_eq!(mv.source.as_deref(), Some(PROMPT_SOURCE_PLACEHOLDER));
/// # Ok(()) }
/// ```
pub const PROMPT_SOURCE_PLACEHOLDER: &str = "dummy-source";
/// How long an alias resolution is cached (`MLFLOW_ALIAS_PROMPT_CACHE_TTL_SECONDS`, default 60).
const ALIAS_TTL: Duration = Duration::from_secs(60);

/// One chat message of a chat template.
///
/// ```
/// use mlflow_sdk::ChatMessage;
/// use serde_json::json;
/// let m = ChatMessage::new("user", "Hi, I am {{ name }}.");
/// // Serialized as the official client stores chat templates.
/// let expected = json!({"role": "user", "content": "Hi, I am {{ name }}."});
/// assert_eq!(serde_json::to_value(&m)?, expected);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant`, …
    pub role: String,
    /// Content, with `{{ var }}` placeholders.
    pub content: String,
}

impl ChatMessage {
    /// A message.
    ///
    /// ```
    /// use mlflow_sdk::ChatMessage;
    /// let m = ChatMessage::new("system", "You are a {{ style }} assistant.");
    /// assert_eq!(m.role, "system");
    /// assert_eq!(m.content, "You are a {{ style }} assistant.");
    /// ```
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// A prompt template: text or a list of chat messages, with `{{ var }}` placeholders.
///
/// ```
/// use mlflow_sdk::{ChatMessage, PromptTemplate};
/// let text = PromptTemplate::from("Summarize: {{ document }}");
/// let chat = PromptTemplate::from(vec![
///     ChatMessage::new("system", "You are {{ persona }}."),
///     ChatMessage::new("user", "{{ question }}"),
/// ]);
/// assert!(matches!(text, PromptTemplate::Text(_)));
/// assert_eq!(chat.variables(), ["persona", "question"]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum PromptTemplate {
    /// A text template.
    Text(String),
    /// A chat template.
    Chat(Vec<ChatMessage>),
}

impl From<&str> for PromptTemplate {
    fn from(s: &str) -> Self {
        PromptTemplate::Text(s.to_string())
    }
}

impl From<String> for PromptTemplate {
    fn from(s: String) -> Self {
        PromptTemplate::Text(s)
    }
}

impl From<Vec<ChatMessage>> for PromptTemplate {
    fn from(m: Vec<ChatMessage>) -> Self {
        PromptTemplate::Chat(m)
    }
}

/// The result of formatting a template.
///
/// ```
/// use mlflow_sdk::prompts::Formatted;
/// use mlflow_sdk::{ChatMessage, PromptTemplate};
/// let chat = PromptTemplate::from(vec![ChatMessage::new("user", "Translate {{ word }}")]);
/// match chat.format(&[("word", "bonjour")], false)? {
///     Formatted::Chat(messages) => assert_eq!(messages[0].content, "Translate bonjour"),
///     Formatted::Text(_) => unreachable!("a chat template formats to messages"),
/// }
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Formatted {
    /// A formatted text prompt.
    Text(String),
    /// Formatted chat messages.
    Chat(Vec<ChatMessage>),
}

impl Formatted {
    /// The text, for text prompts.
    ///
    /// ```
    /// use mlflow_sdk::{ChatMessage, PromptTemplate};
    /// let f = PromptTemplate::from("Hi {{ name }}").format(&[("name", "Bob")], false)?;
    /// assert_eq!(f.as_text(), Some("Hi Bob"));
    /// let chat = PromptTemplate::from(vec![ChatMessage::new("user", "Hi")]);
    /// assert_eq!(chat.format::<&str, &str>(&[], false)?.as_text(), None);
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Formatted::Text(s) => Some(s),
            Formatted::Chat(_) => None,
        }
    }
    /// The messages, for chat prompts.
    ///
    /// ```
    /// use mlflow_sdk::{ChatMessage, PromptTemplate};
    /// let t = PromptTemplate::from(vec![
    ///     ChatMessage::new("system", "Answer in {{ lang }}."),
    ///     ChatMessage::new("user", "{{ question }}"),
    /// ]);
    /// let f = t.format(&[("lang", "French"), ("question", "How are you?")], false)?;
    /// let messages = f.as_chat().unwrap();
    /// assert_eq!(messages[0].content, "Answer in French.");
    /// assert_eq!(messages[1].role, "user");
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn as_chat(&self) -> Option<&[ChatMessage]> {
        match self {
            Formatted::Chat(m) => Some(m),
            Formatted::Text(_) => None,
        }
    }
}

/// Finds `{{ name }}` placeholders (names like `a`, `a.b`), calling `f(start, end, name)`.
fn scan_vars(s: &str, mut f: impl FnMut(usize, usize, &str)) {
    let b = s.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'{' && b[i + 1] == b'{' {
            let mut j = i + 2;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            let start = j;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.') {
                j += 1;
            }
            let name = &s[start..j];
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            let valid = !name.is_empty()
                && name.split('.').all(|p| {
                    p.chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                });
            if valid && j + 1 < b.len() && b[j] == b'}' && b[j + 1] == b'}' {
                f(i, j + 2, name);
                i = j + 2;
                continue;
            }
        }
        i += 1;
    }
}

fn format_str(s: &str, vars: &HashMap<String, String>, missing: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    scan_vars(s, |start, end, name| {
        out.push_str(&s[last..start]);
        match vars.get(name) {
            Some(v) => out.push_str(v),
            None => {
                out.push_str(&s[start..end]);
                if !missing.iter().any(|m| m == name) {
                    missing.push(name.to_string());
                }
            }
        }
        last = end;
    });
    out.push_str(&s[last..]);
    out
}

impl PromptTemplate {
    /// The variables the template uses, in order of first appearance.
    ///
    /// ```
    /// use mlflow_sdk::PromptTemplate;
    /// let t = PromptTemplate::from("{{ greeting }}, {{user.name}}! {{ greeting }}; {not_a_var}");
    /// assert_eq!(t.variables(), ["greeting", "user.name"]);
    /// ```
    pub fn variables(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |s: &str| {
            scan_vars(s, |_, _, n| {
                if !out.iter().any(|o| o == n) {
                    out.push(n.to_string());
                }
            })
        };
        match self {
            PromptTemplate::Text(t) => add(t),
            PromptTemplate::Chat(ms) => ms.iter().for_each(|m| add(&m.content)),
        }
        out
    }

    /// Replaces `{{ var }}` placeholders. Every variable must be given unless `allow_partial`,
    /// in which case unknown placeholders are left as they are.
    ///
    /// ```
    /// use mlflow_sdk::PromptTemplate;
    /// let t = PromptTemplate::from("Hello, {{ title }} {{name}}!");
    /// let out = t.format(&[("title", "Ms"), ("name", "Alice")], false).unwrap();
    /// assert_eq!(out.as_text(), Some("Hello, Ms Alice!"));
    /// assert!(t.format(&[("title", "Ms")], false).is_err());
    /// ```
    pub fn format<K: AsRef<str>, V: ToString>(
        &self,
        vars: &[(K, V)],
        allow_partial: bool,
    ) -> Result<Formatted> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.as_ref().to_string(), v.to_string()))
            .collect();
        let mut missing = Vec::new();
        let out = match self {
            PromptTemplate::Text(t) => Formatted::Text(format_str(t, &map, &mut missing)),
            PromptTemplate::Chat(ms) => Formatted::Chat(
                ms.iter()
                    .map(|m| ChatMessage {
                        role: m.role.clone(),
                        content: format_str(&m.content, &map, &mut missing),
                    })
                    .collect(),
            ),
        };
        if !missing.is_empty() && !allow_partial {
            return Err(Error::invalid(format!(
                "Missing variables: {{{}}}. To partially format the prompt, set `allow_partial=True`.",
                missing
                    .iter()
                    .map(|m| format!("'{m}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(out)
    }

    fn type_tag(&self) -> &'static str {
        match self {
            PromptTemplate::Text(_) => "text",
            PromptTemplate::Chat(_) => "chat",
        }
    }

    /// The `mlflow.prompt.text` tag value: the text, or Python's `json.dumps` of the messages.
    fn text_tag(&self) -> String {
        match self {
            PromptTemplate::Text(t) => t.clone(),
            // Built by hand: `{"role", "content"}` in that order, as Python's dicts keep it.
            PromptTemplate::Chat(ms) => {
                let items: Vec<String> = ms
                    .iter()
                    .map(|m| {
                        format!(
                            "{{\"role\": {}, \"content\": {}}}",
                            py_json_dumps(&Value::String(m.role.clone())),
                            py_json_dumps(&Value::String(m.content.clone()))
                        )
                    })
                    .collect();
                format!("[{}]", items.join(", "))
            }
        }
    }
}

/// `json.dumps` with Python's defaults (`", "`/`": "` separators, ASCII-only output), so the tag
/// is byte-identical to what the official client writes.
pub(crate) fn py_json_dumps(v: &Value) -> String {
    fn s(out: &mut String, st: &str) {
        out.push('"');
        for c in st.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{08}' => out.push_str("\\b"),
                '\u{0c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                    let mut buf = [0u16; 2];
                    for u in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{u:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
    fn go(out: &mut String, v: &Value) {
        match v {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::String(st) => s(out, st),
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    go(out, x);
                }
                out.push(']');
            }
            Value::Object(m) => {
                out.push('{');
                for (i, (k, x)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    s(out, k);
                    out.push_str(": ");
                    go(out, x);
                }
                out.push('}');
            }
        }
    }
    let mut out = String::new();
    go(&mut out, v);
    out
}

/// A prompt version.
///
/// ```no_run
/// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
/// let p = client.load_prompt("prompts:/qa@production").await?;
/// println!("{} (version {}) needs {:?}", p.uri(), p.version, p.template.variables());
/// if let Some(msg) = &p.commit_message {
///     println!("commit message: {msg}");
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Prompt {
    /// Prompt name.
    pub name: String,
    /// Version number.
    pub version: String,
    /// The template.
    pub template: PromptTemplate,
    /// Commit message (the model version's description).
    pub commit_message: Option<String>,
    /// User tags (reserved tags removed).
    pub tags: Vec<Tag>,
    /// Aliases pointing at this version.
    pub aliases: Vec<String>,
    /// Response format, when registered with one.
    pub response_format: Option<Value>,
}

impl Prompt {
    /// The `prompts:/name/version` URI.
    ///
    /// ```
    /// use mlflow_sdk::Prompt;
    /// let p = Prompt {
    ///     name: "qa".into(),
    ///     version: "3".into(),
    ///     template: "Q: {{ question }}".into(),
    ///     commit_message: None,
    ///     tags: vec![],
    ///     aliases: vec!["production".into()],
    ///     response_format: None,
    /// };
    /// assert_eq!(p.uri(), "prompts:/qa/3");
    /// ```
    pub fn uri(&self) -> String {
        format!("prompts:/{}/{}", self.name, self.version)
    }

    /// Formats the template (see [`PromptTemplate::format`]).
    ///
    /// ```
    /// use mlflow_sdk::Prompt;
    /// let p = Prompt {
    ///     name: "qa".into(),
    ///     version: "1".into(),
    ///     template: "Q: {{ question }}\nA:".into(),
    ///     commit_message: None,
    ///     tags: vec![],
    ///     aliases: vec![],
    ///     response_format: None,
    /// };
    /// assert_eq!(p.format(&[("question", "2+2?")])?.as_text(), Some("Q: 2+2?\nA:"));
    /// assert!(p.format::<&str, &str>(&[]).is_err()); // every variable is required
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn format<K: AsRef<str>, V: ToString>(&self, vars: &[(K, V)]) -> Result<Formatted> {
        self.template.format(vars, false)
    }

    fn from_version(mv: &ModelVersion) -> Result<Prompt> {
        if mv.tag(IS_PROMPT_TAG_KEY) != Some("true") {
            return Err(Error::invalid(format!(
                "Name `{}` is registered as a model, not a prompt. MLflow does not allow \
                 registering a prompt with the same name as an existing model.",
                mv.name
            )));
        }
        let text = mv.tag(PROMPT_TEXT_TAG_KEY).unwrap_or_default();
        let template = match mv.tag(PROMPT_TYPE_TAG_KEY) {
            Some("chat") => PromptTemplate::Chat(
                serde_json::from_str(text)
                    .map_err(|e| Error::invalid(format!("bad chat prompt: {e}")))?,
            ),
            _ => PromptTemplate::Text(text.to_string()),
        };
        Ok(Prompt {
            name: mv.name.clone(),
            version: mv.version.clone(),
            template,
            commit_message: mv.description.clone().filter(|d| !d.is_empty()),
            tags: mv
                .tags
                .iter()
                .filter(|t| {
                    ![
                        IS_PROMPT_TAG_KEY,
                        PROMPT_TEXT_TAG_KEY,
                        PROMPT_TYPE_TAG_KEY,
                        RESPONSE_FORMAT_TAG_KEY,
                        PROMPT_MODEL_CONFIG_TAG_KEY,
                    ]
                    .contains(&t.key.as_str())
                })
                .cloned()
                .collect(),
            aliases: mv.aliases.clone(),
            response_format: mv
                .tag(RESPONSE_FORMAT_TAG_KEY)
                .and_then(|s| serde_json::from_str(s).ok()),
        })
    }
}

/// What to load: a `prompts:/` URI or a name with a version or alias.
#[derive(Clone, Debug, PartialEq)]
enum PromptRef {
    Version(String, String),
    Alias(String, String),
}

fn parse_prompt_uri(uri: &str) -> Result<PromptRef> {
    let rest = uri.strip_prefix("prompts:/").ok_or_else(|| {
        Error::invalid(format!("Invalid prompt URI '{uri}': expected prompts:/<name>/<version> or prompts:/<name>@<alias>"))
    })?;
    let rest = rest.trim_start_matches('/');
    if let Some((name, alias)) = rest.split_once('@') {
        return Ok(PromptRef::Alias(name.to_string(), alias.to_string()));
    }
    match rest.rsplit_once('/') {
        Some((name, v)) if !name.is_empty() && !v.is_empty() => {
            if v.eq_ignore_ascii_case("latest") {
                Ok(PromptRef::Alias(name.to_string(), "latest".into()))
            } else {
                Ok(PromptRef::Version(name.to_string(), v.to_string()))
            }
        }
        _ if !rest.is_empty() => Ok(PromptRef::Alias(rest.to_string(), "latest".into())),
        _ => Err(Error::invalid(format!("Invalid prompt URI '{uri}'"))),
    }
}

type CacheKey = (String, String, PromptRefKind);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum PromptRefKind {
    Version,
    Alias,
}

fn cache() -> &'static Mutex<HashMap<CacheKey, (Instant, Prompt)>> {
    static C: OnceLock<Mutex<HashMap<CacheKey, (Instant, Prompt)>>> = OnceLock::new();
    C.get_or_init(Default::default)
}

fn validate_name(name: &str) -> Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return Err(Error::invalid(format!(
            "Prompt name can only contain alphanumeric characters, hyphens, underscores, and dots. Got: '{name}'"
        )));
    }
    Ok(())
}

impl Client {
    /// Registers a new prompt version (creating the prompt on first use), exactly as
    /// `mlflow.genai.register_prompt` does.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let p = client
    ///     .register_prompt("qa", "Answer: {{ question }}".into(), Some("first"), &[])
    ///     .await?;
    /// let again = client.load_prompt("prompts:/qa/1").await?;
    /// assert_eq!(p.template, again.template);
    /// # Ok(()) }
    /// ```
    pub async fn register_prompt(
        &self,
        name: &str,
        template: PromptTemplate,
        commit_message: Option<&str>,
        tags: &[Tag],
    ) -> Result<Prompt> {
        validate_name(name)?;
        let rm = match self.get_registered_model(name).await {
            Ok(rm) => {
                if rm.tag(IS_PROMPT_TAG_KEY) != Some("true") {
                    return Err(Error::invalid(format!(
                        "Model '{name}' exists with the same name. MLflow does not allow \
                         registering a prompt with the same name as an existing model."
                    )));
                }
                rm
            }
            Err(e) if e.is_not_found() => {
                self.create_registered_model(name, &[Tag::new(IS_PROMPT_TAG_KEY, "true")], None)
                    .await?
            }
            Err(e) => return Err(e),
        };
        self.note_prompt_experiment(&rm).await;
        let mut vtags: Vec<Tag> = tags.to_vec();
        vtags.push(Tag::new(IS_PROMPT_TAG_KEY, "true"));
        vtags.push(Tag::new(PROMPT_TYPE_TAG_KEY, template.type_tag()));
        vtags.push(Tag::new(PROMPT_TEXT_TAG_KEY, template.text_tag()));
        let mut mv = self
            .create_model_version(CreateModelVersion {
                name: name.to_string(),
                source: PROMPT_SOURCE_PLACEHOLDER.to_string(),
                tags: vtags,
                description: commit_message.map(str::to_string),
                ..Default::default()
            })
            .await?;
        for _ in 0..60 {
            if mv.status.as_deref() != Some("PENDING_REGISTRATION") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            mv = self.get_model_version(name, &mv.version).await?;
        }
        Prompt::from_version(&mv)
    }

    /// Loads a prompt by `prompts:/name/version`, `prompts:/name@alias` or `prompts:/name`
    /// (latest). Versions are cached for the process lifetime (they are immutable), aliases
    /// for 60 s.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let v2 = client.load_prompt("prompts:/qa/2").await?; // a version
    /// let prod = client.load_prompt("prompts:/qa@production").await?; // an alias
    /// let latest = client.load_prompt("prompts:/qa").await?; // the highest version
    /// assert_eq!(v2.version, "2");
    /// println!("production is v{}, latest v{}", prod.version, latest.version);
    /// # Ok(()) }
    /// ```
    pub async fn load_prompt(&self, uri: &str) -> Result<Prompt> {
        match parse_prompt_uri(uri)? {
            PromptRef::Version(n, v) => self.load_prompt_version(&n, &v).await,
            PromptRef::Alias(n, a) => self.load_prompt_alias(&n, &a).await,
        }
    }

    /// Loads version `version` of prompt `name` (cached). Inside a trace recorded by
    /// [`crate::tracing_layer::MlflowLayer`], the version is linked to that trace.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let p = client.load_prompt_version("qa", "2").await?;
    /// let text = p.format(&[("question", "What is MLflow?")])?;
    /// println!("{}", text.as_text().unwrap_or_default());
    /// # Ok(()) }
    /// ```
    pub async fn load_prompt_version(&self, name: &str, version: &str) -> Result<Prompt> {
        let p = self.load_prompt_version_cached(name, version).await?;
        crate::tracing_layer::note_prompt_in_current_trace(&p.name, &p.version);
        Ok(p)
    }

    async fn load_prompt_version_cached(&self, name: &str, version: &str) -> Result<Prompt> {
        let key = (
            name.to_string(),
            version.to_string(),
            PromptRefKind::Version,
        );
        if let Some((_, p)) = cache().lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(p.clone());
        }
        self.ensure_prompt(name).await?;
        let mv = self.get_model_version(name, version).await?;
        let p = Prompt::from_version(&mv)?;
        cache()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (Instant::now(), p.clone()));
        Ok(p)
    }

    /// Loads the version `alias` points at (cached for 60 s). `latest` is the highest version.
    /// Inside a traced span, the version is linked to the trace (see
    /// [`Client::load_prompt_version`]).
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let prod = client.load_prompt_alias("qa", "production").await?;
    /// let latest = client.load_prompt_alias("qa", "latest").await?;
    /// assert!(prod.aliases.iter().any(|a| a == "production"));
    /// println!("production: v{}, latest: v{}", prod.version, latest.version);
    /// # Ok(()) }
    /// ```
    pub async fn load_prompt_alias(&self, name: &str, alias: &str) -> Result<Prompt> {
        let p = self.load_prompt_alias_cached(name, alias).await?;
        crate::tracing_layer::note_prompt_in_current_trace(&p.name, &p.version);
        Ok(p)
    }

    async fn load_prompt_alias_cached(&self, name: &str, alias: &str) -> Result<Prompt> {
        let key = (name.to_string(), alias.to_string(), PromptRefKind::Alias);
        if let Some((at, p)) = cache().lock().unwrap_or_else(|e| e.into_inner()).get(&key)
            && at.elapsed() < ALIAS_TTL
        {
            return Ok(p.clone());
        }
        self.ensure_prompt(name).await?;
        let mv = if alias.eq_ignore_ascii_case("latest") {
            self.latest_prompt_version(name).await?
        } else {
            self.get_model_version_by_alias(name, alias).await?
        };
        let p = Prompt::from_version(&mv)?;
        cache()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (Instant::now(), p.clone()));
        Ok(p)
    }

    async fn latest_prompt_version(&self, name: &str) -> Result<ModelVersion> {
        let q = SearchQuery::new()
            .filter(format!(
                "name='{name}' AND tag.`{IS_PROMPT_TAG_KEY}`='true'"
            ))
            .order_by("version_number DESC")
            .max_results(1);
        let page = self.search_model_versions_page(&q).await?;
        page.items.into_iter().next().ok_or_else(|| Error::Api {
            status: 404,
            error_code: "RESOURCE_DOES_NOT_EXIST".into(),
            message: format!("Prompt '{name}' has no versions"),
        })
    }

    async fn ensure_prompt(&self, name: &str) -> Result<()> {
        let rm = self.get_registered_model(name).await?;
        if rm.tag(IS_PROMPT_TAG_KEY) != Some("true") {
            return Err(Error::invalid(format!(
                "Prompt '{name}' does not exist (it is a registered model)"
            )));
        }
        self.note_prompt_experiment(&rm).await;
        Ok(())
    }

    /// Adds the active experiment to the prompt's `_mlflow_experiment_ids` tag (`,1,2,`), as the
    /// official client does when a prompt is registered or loaded inside an experiment.
    /// Best-effort, like the official background update.
    async fn note_prompt_experiment(&self, rm: &crate::types::RegisteredModel) {
        let Some(exp) = crate::fluent::experiment_hint() else {
            return;
        };
        let current = rm.tag(PROMPT_EXPERIMENT_IDS_TAG_KEY).unwrap_or("");
        if current.split(',').any(|e| e == exp) {
            return;
        }
        let value = if current.is_empty() {
            format!(",{exp},")
        } else {
            format!("{current}{exp},")
        };
        let _ = self
            .set_registered_model_tag(&rm.name, PROMPT_EXPERIMENT_IDS_TAG_KEY, &value)
            .await;
    }

    /// Points `alias` at `version` of prompt `name`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// client.set_prompt_alias("qa", "production", "2").await?;
    /// // Not served from a stale cache:
    /// let p = client.load_prompt("prompts:/qa@production").await?;
    /// assert_eq!(p.version, "2");
    /// # Ok(()) }
    /// ```
    pub async fn set_prompt_alias(&self, name: &str, alias: &str, version: &str) -> Result<()> {
        self.ensure_prompt(name).await?;
        self.set_registered_model_alias(name, alias, version)
            .await?;
        self.forget_alias(name, alias);
        Ok(())
    }

    /// Removes `alias` from prompt `name`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// client.delete_prompt_alias("qa", "staging").await?;
    /// assert!(client.load_prompt("prompts:/qa@staging").await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn delete_prompt_alias(&self, name: &str, alias: &str) -> Result<()> {
        self.delete_registered_model_alias(name, alias).await?;
        self.forget_alias(name, alias);
        Ok(())
    }

    fn forget_alias(&self, name: &str, alias: &str) {
        cache().lock().unwrap_or_else(|e| e.into_inner()).remove(&(
            name.to_string(),
            alias.to_string(),
            PromptRefKind::Alias,
        ));
    }

    /// One page of prompts (registered models tagged as prompts); `filter` is an extra clause
    /// such as `name LIKE 'qa%'`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let mut names = Vec::new();
    /// let mut token = None;
    /// loop {
    ///     let page = client.search_prompts_page(Some("name LIKE 'qa%'"), token).await?;
    ///     names.extend(page.items);
    ///     match page.next_page_token {
    ///         Some(t) => token = Some(t),
    ///         None => break,
    ///     }
    /// }
    /// println!("{} prompts: {names:?}", names.len());
    /// # Ok(()) }
    /// ```
    pub async fn search_prompts_page(
        &self,
        filter: Option<&str>,
        page_token: Option<String>,
    ) -> Result<Page<String>> {
        let mut f = format!("tags.`{IS_PROMPT_TAG_KEY}` = 'true'");
        if let Some(extra) = filter {
            f = format!("{f} AND {extra}");
        }
        let mut q = SearchQuery::new().filter(f).max_results(100);
        q.page_token = page_token;
        let page = self.search_registered_models_page(&q).await?;
        Ok(Page {
            items: page.items.into_iter().map(|m| m.name).collect(),
            next_page_token: page.next_page_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(
            parse_prompt_uri("prompts:/qa/3").unwrap(),
            PromptRef::Version("qa".into(), "3".into())
        );
        assert_eq!(
            parse_prompt_uri("prompts:/qa@prod").unwrap(),
            PromptRef::Alias("qa".into(), "prod".into())
        );
        assert_eq!(
            parse_prompt_uri("prompts:/qa").unwrap(),
            PromptRef::Alias("qa".into(), "latest".into())
        );
        assert!(parse_prompt_uri("models:/x/1").is_err());
    }

    #[test]
    fn formatting() {
        let t = PromptTemplate::Chat(vec![
            ChatMessage::new("system", "You are a {{style}} assistant."),
            ChatMessage::new("user", "{{ question }} {{ user.name }}"),
        ]);
        assert_eq!(t.variables(), vec!["style", "question", "user.name"]);
        let f = t
            .format(&[("style", "friendly"), ("question", "Hi?")], true)
            .unwrap();
        assert_eq!(f.as_chat().unwrap()[1].content, "Hi? {{ user.name }}");
        assert!(t.format(&[("style", "x")], false).is_err());
        // Not a placeholder: stays.
        let t = PromptTemplate::from("{{ 1x }} {x} {{y}}");
        assert_eq!(
            t.format(&[("y", 2)], false).unwrap().as_text(),
            Some("{{ 1x }} {x} 2")
        );
    }

    #[test]
    fn python_json() {
        let t = PromptTemplate::Chat(vec![ChatMessage::new("user", "héllo \"x\"\n")]);
        assert_eq!(
            t.text_tag(),
            r#"[{"role": "user", "content": "h\u00e9llo \"x\"\n"}]"#
        );
        assert_eq!(
            py_json_dumps(&serde_json::json!({"a": [1, true]})),
            r#"{"a": [1, true]}"#
        );
    }
}
