//! Caller-thread cost of a `#[trace]` span, without a server (the exporter's sends fail fast
//! against a closed port on another thread). For profiling: `perf record` this binary.
//!
//! ```sh
//! cargo build --release -p mlflow-sdk --example span_cost
//! target/release/examples/span_cost [calls]
//! ```

use mlflow_sdk::ClientConfig;
use mlflow_sdk::tracing_layer::MlflowLayer;
use std::hint::black_box;
use std::time::Instant;
use tracing_subscriber::prelude::*;

#[mlflow_sdk::trace(span_type = "TOOL")]
#[inline(never)]
fn work_traced(x: u64) -> u64 {
    black_box(x).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let calls: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let (layer, _exporter) = MlflowLayer::builder()
        .config(ClientConfig::new("http://127.0.0.1:9").with_max_retries(0))
        .experiment_id("0")
        .build()?;
    tracing_subscriber::registry().with(layer).init();
    let t0 = Instant::now();
    for chunk in 0..calls.div_ceil(10_000) {
        let root = tracing::info_span!("root", chunk);
        let _g = root.enter();
        for i in 0..10_000 {
            black_box(work_traced(i as u64));
        }
    }
    let d = t0.elapsed();
    println!(
        "{calls} #[trace] child spans: {:.0} ns per call (wall, including root closes)",
        d.as_nanos() as f64 / calls as f64
    );
    Ok(())
}
