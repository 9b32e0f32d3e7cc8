//! The load generator: a tiny JSON API client over reqwest and the concurrent runners.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

/// How each simulated client talks to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConnMode {
    /// One keep-alive HTTP/1.1 connection per client, reused for every request (what the
    /// official Python client does).
    KeepAlive,
    /// A new TCP connection for every request.
    NewPerRequest,
}

impl ConnMode {
    pub fn describe(self) -> &'static str {
        match self {
            ConnMode::KeepAlive => "one keep-alive HTTP/1.1 connection per client",
            ConnMode::NewPerRequest => "a new TCP connection per request (HTTP/1.1)",
        }
    }
}

/// One simulated client: its own connection pool, so its own connection.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: Arc<str>,
}

impl Api {
    pub fn new(base: &str, mode: ConnMode) -> Result<Self> {
        let idle = match mode {
            ConnMode::KeepAlive => 1,
            ConnMode::NewPerRequest => 0,
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(idle)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(600))
            .build()
            .context("building HTTP client")?;
        Ok(Self {
            client,
            base: Arc::from(base.trim_end_matches('/')),
        })
    }

    pub fn many(base: &str, mode: ConnMode, n: usize) -> Result<Vec<Self>> {
        (0..n).map(|_| Self::new(base, mode)).collect()
    }

    async fn finish(resp: reqwest::Response, what: &str) -> Result<Value> {
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .with_context(|| format!("{what}: reading body"))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            let snippet: String = text.chars().take(400).collect();
            bail!("{what}: HTTP {status}: {snippet}");
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).with_context(|| format!("{what}: response is not JSON"))
    }

    /// `POST {base}{path}` with a JSON body; the decoded JSON answer.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        Self::finish(resp, path).await
    }

    /// `POST {base}{path}` with a raw body and headers (OTLP protobuf); success or the error.
    pub async fn post_bytes(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<()> {
        let mut req = self.client.post(format!("{}{path}", self.base)).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.with_context(|| format!("POST {path}"))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .with_context(|| format!("{path}: reading body"))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            let snippet: String = text.chars().take(400).collect();
            bail!("{path}: HTTP {status}: {snippet}");
        }
        Ok(())
    }

    /// `GET {base}{path}?query`; the decoded JSON answer.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value> {
        let qs = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        let resp = self
            .client
            .get(format!("{}{path}?{qs}", self.base))
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        Self::finish(resp, path).await
    }

    /// `GET {base}{path}` as text (for `/version`).
    pub async fn get_text(&self, path: &str) -> Result<String> {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("GET {path}: HTTP {status}");
        }
        Ok(text)
    }
}

/// Latencies and wall time of one measured phase.
#[derive(Debug, Clone)]
pub struct Phase {
    /// Per-request latency in ms, sorted ascending.
    pub latencies_ms: Vec<f64>,
    pub elapsed: Duration,
}

impl Phase {
    pub fn ops(&self) -> usize {
        self.latencies_ms.len()
    }

    pub fn per_sec(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 { self.ops() as f64 / s } else { 0.0 }
    }

    pub fn p(&self, pct: f64) -> f64 {
        percentile(&self.latencies_ms, pct)
    }
}

/// Nearest-rank percentile of an ascending slice (0 for an empty one).
pub fn percentile(sorted: &[f64], pct: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn sort_ms(v: &mut [f64]) {
    v.sort_by(|a, b| a.total_cmp(b));
}

/// Run `per_client` timed calls of `op` on every client concurrently, after `warmup` untimed
/// calls each. All clients start the timed part together; the phase ends when the last one
/// finishes. `op(api, client_index, call_index)`: call indices run `0..warmup+per_client`, so
/// they are unique per client. The first error aborts the phase.
pub async fn run_clients<F, Fut>(
    apis: Vec<Api>,
    warmup: usize,
    per_client: usize,
    op: F,
) -> Result<Phase>
where
    F: Fn(Api, usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let barrier = Arc::new(Barrier::new(apis.len() + 1));
    let mut set = JoinSet::new();
    for (ci, api) in apis.into_iter().enumerate() {
        let op = op.clone();
        let barrier = barrier.clone();
        set.spawn(async move {
            let mut warm = Ok(());
            for i in 0..warmup {
                warm = op(api.clone(), ci, i).await;
                if warm.is_err() {
                    break;
                }
            }
            // Everyone reaches the barrier, even after a failed warm-up, so nobody hangs.
            barrier.wait().await;
            warm.context("warm-up")?;
            let mut lat = Vec::with_capacity(per_client);
            for i in warmup..warmup + per_client {
                let t = Instant::now();
                op(api.clone(), ci, i).await?;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
            Ok::<_, anyhow::Error>(lat)
        });
    }
    barrier.wait().await;
    let start = Instant::now();
    let mut all = Vec::new();
    while let Some(joined) = set.join_next().await {
        let lat = joined.map_err(|e| anyhow!("client task failed: {e}"))??;
        all.extend(lat);
    }
    let elapsed = start.elapsed();
    sort_ms(&mut all);
    Ok(Phase {
        latencies_ms: all,
        elapsed,
    })
}

/// Untimed setup work: run `op(api, index)` for every index in `0..total`, spread over the
/// clients (each takes the next index when it is free).
pub async fn for_each_concurrent<F, Fut>(apis: Vec<Api>, total: usize, op: F) -> Result<Duration>
where
    F: Fn(Api, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut set = JoinSet::new();
    for api in apis {
        let op = op.clone();
        let next = next.clone();
        set.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, anyhow::Error>(());
                }
                op(api.clone(), i).await?;
            }
        });
    }
    while let Some(joined) = set.join_next().await {
        joined.map_err(|e| anyhow!("setup task failed: {e}"))??;
    }
    Ok(start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 0.0), 1.0);
    }
}
