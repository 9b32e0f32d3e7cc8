//! Prompt registry from Rust: register versions, move an alias, load by alias and version,
//! format text and chat templates.
//!
//! ```sh
//! MLFLOW_TRACKING_URI=http://127.0.0.1:5000 cargo run -p mlflow-sdk --example prompts
//! ```
//!
//! Prompts are stored exactly as the official client stores them, so
//! `mlflow.genai.load_prompt("prompts:/rust-summarizer@production")` in Python returns the same
//! template.

use mlflow_sdk::blocking::Client;
use mlflow_sdk::{ChatMessage, PromptTemplate, Tag};

fn main() -> mlflow_sdk::Result<()> {
    let client = Client::from_env()?;

    // Two versions of a text prompt; `production` points at the first, then moves.
    let v1 = client.register_prompt(
        "rust-summarizer",
        PromptTemplate::from("Summarize in {{ n }} words: {{ text }}"),
        Some("first draft"),
        &[Tag::new("team", "docs")],
    )?;
    client.set_prompt_alias("rust-summarizer", "production", &v1.version)?;
    let v2 = client.register_prompt(
        "rust-summarizer",
        PromptTemplate::from("Summarize in at most {{ n }} words, plainly: {{ text }}"),
        Some("shorter, plainer"),
        &[],
    )?;

    let prod = client.load_prompt("prompts:/rust-summarizer@production")?;
    println!(
        "production is version {}: {:?}",
        prod.version, prod.template
    );
    client.set_prompt_alias("rust-summarizer", "production", &v2.version)?;
    // Alias resolutions are cached for 60 s; a version URI is exact.
    let latest = client.load_prompt(&format!("prompts:/rust-summarizer/{}", v2.version))?;
    let text = latest.format(&[("n", "10"), ("text", "MLflow tracks experiments.")])?;
    println!("{}", text.as_text().unwrap_or_default());

    // A chat prompt: every message is formatted.
    client.register_prompt(
        "rust-chat",
        PromptTemplate::Chat(vec![
            ChatMessage::new("system", "You are a {{ style }} assistant."),
            ChatMessage::new("user", "{{ question }}"),
        ]),
        None,
        &[],
    )?;
    let chat = client.load_prompt("prompts:/rust-chat@latest")?;
    let messages = chat.format(&[("style", "terse"), ("question", "What is a run?")])?;
    for m in messages.as_chat().unwrap_or_default() {
        println!("{}: {}", m.role, m.content);
    }
    // A missing variable is an error, not a silent blank.
    assert!(chat.format(&[("style", "terse")]).is_err());
    Ok(())
}
