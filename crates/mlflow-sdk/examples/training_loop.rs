//! A training loop logging to MLflow with the fluent API.
//!
//! ```sh
//! MLFLOW_TRACKING_URI=http://127.0.0.1:5000 cargo run -p mlflow-sdk --example training_loop
//! ```
//!
//! `log_metric` only enqueues: a background thread sends `log-batch` calls of up to 1000
//! metrics, so the loop never waits on the network. `run.end()` flushes and reports anything
//! that could not be sent.

use mlflow_sdk::fluent::{self, RunOptions};
use std::time::Instant;

fn main() -> mlflow_sdk::Result<()> {
    let exp = fluent::set_experiment("rust-training-loop")?;
    println!("experiment {exp}");

    let run = fluent::start_run(
        RunOptions::new()
            .name("sgd-baseline")
            .tag("framework", "none"),
    )?;
    println!("run {}", run.id());
    let (lr, epochs, steps_per_epoch) = (0.05, 5, 2_000);
    fluent::log_params(&[("lr", lr.to_string()), ("epochs", epochs.to_string())])?;

    // Fit y = 3x + 1 with plain SGD.
    let (mut w, mut b) = (0.0f64, 0.0f64);
    let started = Instant::now();
    let mut step = 0i64;
    for epoch in 0..epochs {
        // A nested run per epoch (tagged mlflow.parentRunId).
        let child = fluent::start_run(RunOptions::new().name(format!("epoch-{epoch}")).nested())?;
        let mut epoch_loss = 0.0;
        for i in 0..steps_per_epoch {
            let x = (i as f64 / steps_per_epoch as f64) * 2.0 - 1.0;
            let err = (w * x + b) - (3.0 * x + 1.0);
            w -= lr * err * x;
            b -= lr * err;
            epoch_loss += err * err;
            // Logged on the child run (the innermost active run).
            fluent::log_metric("loss", err * err, step)?;
            step += 1;
        }
        child.end()?;
        fluent::log_metrics(
            &[
                ("epoch_loss", epoch_loss / steps_per_epoch as f64),
                ("w", w),
                ("b", b),
            ],
            epoch,
        )?;
    }
    println!(
        "{step} steps logged in {:?} (w = {w:.3}, b = {b:.3})",
        started.elapsed()
    );
    run.end()?; // flush + FINISHED
    Ok(())
}
