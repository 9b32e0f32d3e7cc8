//! Nothing lost at exit: what the SDK still holds in memory when the process ends is sent
//! before it goes.
//!
//! The official client registers `atexit` handlers that end the active run and flush pending
//! traces; a Rust program gets the same from the C library's `atexit`, which runs when `main`
//! returns or `std::process::exit` is called (not on `abort`, a signal, or a panic that
//! aborts). The hook, registered the first time the SDK queues something:
//!
//! 1. waits for every trace exporter to send the traces already finished;
//! 2. sends the queued metrics;
//! 3. ends the active runs `FINISHED`, innermost first (runs whose [`crate::fluent::ActiveRun`]
//!    guard was leaked or never dropped, or started implicitly by logging without a run).
//!
//! It gives up after `MLFLOW_SDK_EXIT_TIMEOUT` seconds (default 60) so an unreachable server
//! cannot hang the exit forever, and prints what could not be sent to stderr, not silently.

use std::sync::Once;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::Duration;

/// Default bound on the exit flush.
const DEFAULT_TIMEOUT_SECS: f64 = 60.0;

/// Registers the exit hook once per process.
pub(crate) fn ensure_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The one `unsafe` in the SDK: libc's `atexit` has no safe wrapper in std.
        #[cfg(unix)]
        #[allow(unsafe_code)]
        // SAFETY: `atexit` only stores the function pointer; `on_exit` is `extern "C"`, takes
        // no arguments and never unwinds across the FFI boundary (it catches panics).
        unsafe {
            libc::atexit(on_exit);
        }
    });
}

#[cfg(unix)]
extern "C" fn on_exit() {
    let _ = std::panic::catch_unwind(run_with_timeout);
}

fn timeout() -> Duration {
    let secs = std::env::var("MLFLOW_SDK_EXIT_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(DEFAULT_TIMEOUT_SECS);
    Duration::from_secs_f64(secs)
}

/// Runs [`flush_everything`] on its own thread (the exiting thread may hold a runtime
/// context) and waits at most [`timeout`].
fn run_with_timeout() {
    let (tx, rx) = channel();
    let spawned = std::thread::Builder::new()
        .name("mlflow-exit-flush".into())
        .spawn(move || {
            let errors = flush_everything();
            let _ = tx.send(errors);
        });
    if spawned.is_err() {
        return;
    }
    let limit = timeout();
    match rx.recv_timeout(limit) {
        Ok(errors) => {
            for e in errors {
                eprintln!("mlflow-sdk: at exit: {e}");
            }
        }
        Err(RecvTimeoutError::Timeout) => eprintln!(
            "mlflow-sdk: at exit: gave up sending pending metrics/traces after {:.0} s \
             (MLFLOW_SDK_EXIT_TIMEOUT)",
            limit.as_secs_f64()
        ),
        Err(RecvTimeoutError::Disconnected) => {}
    }
}

/// Flushes traces and metrics and ends the active runs; returns what failed.
pub(crate) fn flush_everything() -> Vec<String> {
    let mut errors = Vec::new();
    for exporter in crate::tracing_layer::registered_exporters() {
        if let Err(e) = exporter.flush() {
            errors.push(format!("traces: {e}"));
        }
    }
    if let Err(e) = crate::fluent::flush_if_started() {
        errors.push(format!("metrics: {e}"));
    }
    errors.extend(crate::fluent::end_all_runs());
    errors
}
