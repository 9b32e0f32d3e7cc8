//! An LLM agent traced into MLflow end to end through `tracing`.
//!
//! ```sh
//! MLFLOW_TRACKING_URI=http://127.0.0.1:5000 cargo run -p mlflow-sdk --example traced_agent
//! ```
//!
//! The example starts a small OpenAI-compatible chat server on 127.0.0.1 (a stand-in for a
//! real provider; point `call_llm` at any `/v1/chat/completions` endpoint instead). Each call
//! of `answer` becomes one MLflow trace: `#[mlflow_sdk::trace]` records arguments and return
//! values, a hand-written `tracing` span records the chat request, response and the token usage
//! the server reported, and the prompt loaded from the registry is linked to the trace
//! (`mlflow.linkedPrompts`, searchable with `prompt = 'toy-agent-prompt/1'`).

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

/// A chat completion against an OpenAI-compatible endpoint (`POST {base}/v1/chat/completions`);
/// the span carries inputs, outputs, the model and the token usage the server reported.
async fn call_llm(http: &reqwest::Client, base: &str, prompt: String) -> String {
    let span = tracing::info_span!(
        "chat_completion",
        span_type = "CHAT_MODEL",
        inputs = tracing::field::Empty,
        outputs = tracing::field::Empty,
        input_tokens = tracing::field::Empty,
        output_tokens = tracing::field::Empty,
        total_tokens = tracing::field::Empty,
        model = "toy-llm-1",
    );
    async {
        let request = serde_json::json!({
            "model": "toy-llm-1",
            "messages": [{"role": "user", "content": prompt}],
        });
        let span = tracing::Span::current();
        span.record("inputs", request.to_string().as_str());
        let response: serde_json::Value = match http
            .post(format!("{base}/v1/chat/completions"))
            .json(&request)
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(e) => {
                span.record("error", e.to_string().as_str());
                return String::new();
            }
        };
        span.record("outputs", response.to_string().as_str());
        for k in ["prompt_tokens", "completion_tokens", "total_tokens"] {
            if let Some(n) = response["usage"][k].as_i64() {
                let field = match k {
                    "prompt_tokens" => "input_tokens",
                    "completion_tokens" => "output_tokens",
                    _ => "total_tokens",
                };
                span.record(field, n);
            }
        }
        response["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    .instrument(span)
    .await
}

/// A minimal OpenAI-compatible chat server on 127.0.0.1 (the example's stand-in for a real
/// provider): answers `POST /v1/chat/completions` in the OpenAI response format, counting
/// whitespace-separated words as tokens.
async fn start_toy_llm() -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head, then Content-Length bytes of body.
                let (head_end, len) = loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (i + 4, len);
                    }
                };
                while buf.len() < head_end + len {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let req: serde_json::Value =
                    serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or_default();
                let prompt = req["messages"][0]["content"].as_str().unwrap_or_default();
                let answer = format!(
                    "Based on the context: {}",
                    prompt.lines().last().unwrap_or("")
                );
                let (pt, ct) = (
                    prompt.split_whitespace().count(),
                    answer.split_whitespace().count(),
                );
                let body = serde_json::json!({
                    "id": "chatcmpl-toy",
                    "object": "chat.completion",
                    "model": req["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": answer}}],
                    "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
                })
                .to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    Ok(base)
}

#[mlflow_sdk::trace(name = "agent", span_type = "AGENT", skip(client, http, llm))]
async fn answer(
    client: &Client,
    http: &reqwest::Client,
    llm: &str,
    q: Question,
) -> Result<String, mlflow_sdk::Error> {
    let prompt = client
        .load_prompt("prompts:/toy-agent-prompt@latest")
        .await?;
    let docs = retrieve(&q.text);
    let text = prompt.format(&[("context", docs.join("; ")), ("question", q.text.clone())])?;
    Ok(call_llm(http, llm, text.as_text().unwrap_or_default().to_string()).await)
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
    // Our spans only: not reqwest's/hyper's own.
    let ours = tracing_subscriber::filter::filter_fn(|m| {
        m.target() == "mlflow" || m.target().starts_with("traced_agent")
    });
    tracing_subscriber::registry()
        .with(layer.with_filter(ours))
        .init();
    let llm = start_toy_llm()
        .await
        .map_err(|e| mlflow_sdk::Error::Background(format!("starting the toy LLM: {e}")))?;
    let http = reqwest::Client::new();

    for text in ["What is MLflow?", "Why Rust?"] {
        let out = answer(
            &client,
            &http,
            &llm,
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
