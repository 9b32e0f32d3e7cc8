//! A toy agent traced into MLflow through `tracing`.
//!
//! ```sh
//! MLFLOW_TRACKING_URI=http://127.0.0.1:5000 cargo run -p mlflow-sdk --example traced_agent
//! ```
//!
//! Each call of `answer` becomes one MLflow trace: `#[mlflow_sdk::trace]` records arguments and
//! return values, a hand-written `tracing` span marks the LLM call with token usage, and a
//! prompt is loaded from the registry.

use mlflow_sdk::tracing_layer::MlflowLayer;
use mlflow_sdk::{Client, PromptTemplate};
use serde::Serialize;
use tracing::Instrument;
use tracing_subscriber::prelude::*;

#[derive(Serialize, Debug)]
struct Question {
    text: String,
    user: String,
}

#[mlflow_sdk::trace(span_type = "RETRIEVER")]
fn retrieve(query: &str) -> Vec<String> {
    vec![format!("doc about {query}"), "an unrelated doc".to_string()]
}

/// A pretend LLM call: the span carries inputs, outputs and token counts.
async fn call_llm(prompt: String) -> String {
    let span = tracing::info_span!(
        "chat_completion",
        span_type = "LLM",
        inputs = prompt.as_str(),
        outputs = tracing::field::Empty,
        input_tokens = tracing::field::Empty,
        output_tokens = tracing::field::Empty,
        model = "toy-llm-1",
    );
    async {
        let out = format!(
            "Based on the context: {}",
            prompt.lines().last().unwrap_or("")
        );
        let span = tracing::Span::current();
        span.record("outputs", out.as_str());
        span.record("input_tokens", prompt.split_whitespace().count() as i64);
        span.record("output_tokens", out.split_whitespace().count() as i64);
        out
    }
    .instrument(span)
    .await
}

#[mlflow_sdk::trace(name = "agent", span_type = "AGENT", skip(client))]
async fn answer(client: &Client, q: Question) -> Result<String, mlflow_sdk::Error> {
    let prompt = client
        .load_prompt("prompts:/toy-agent-prompt@latest")
        .await?;
    let docs = retrieve(&q.text);
    let text = prompt.format(&[("context", docs.join("; ")), ("question", q.text.clone())])?;
    Ok(call_llm(text.as_text().unwrap_or_default().to_string()).await)
}

#[tokio::main]
async fn main() -> mlflow_sdk::Result<()> {
    let client = Client::from_env()?;
    let exp = client.get_or_create_experiment("rust-traced-agent").await?;
    client
        .register_prompt(
            "toy-agent-prompt",
            PromptTemplate::from("Context: {{ context }}\nQuestion: {{ question }}"),
            Some("example prompt"),
            &[],
        )
        .await?;

    let (layer, exporter) = MlflowLayer::builder().experiment_id(&exp).build()?;
    tracing_subscriber::registry().with(layer).init();

    for text in ["What is MLflow?", "Why Rust?"] {
        let out = answer(
            &client,
            Question {
                text: text.into(),
                user: "demo".into(),
            },
        )
        .await?;
        println!("{out}");
    }
    // The exporter sends traces in the background; wait for them before exiting.
    tokio::task::spawn_blocking(move || exporter.flush())
        .await
        .expect("flush task")?;
    println!("traces logged to experiment {exp}");
    Ok(())
}
