//! `#[trace]` on the shapes of functions people write: methods, generics, `?` in async bodies,
//! `impl Trait` returns, arguments that are neither `Serialize` nor `Debug`, `skip`.

use serde::Serialize;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;

/// Records (span name, field, value) for every `mlflow.*`/`error` field.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(String, String, String)>>>);

struct V<'a>(&'a Capture, String);
impl Visit for V<'_> {
    fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
        self.0
            .0
            .lock()
            .unwrap()
            .push((self.1.clone(), f.name().into(), format!("{v:?}")));
    }
    fn record_str(&mut self, f: &Field, v: &str) {
        self.0
            .0
            .lock()
            .unwrap()
            .push((self.1.clone(), f.name().into(), v.into()));
    }
}

impl<S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>>
    tracing_subscriber::Layer<S> for Capture
{
    fn on_new_span(
        &self,
        a: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: Context<'_, S>,
    ) {
        a.record(&mut V(self, a.metadata().name().into()));
    }
    fn on_record(
        &self,
        id: &tracing::span::Id,
        r: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        let name = ctx.span(id).unwrap().name().to_string();
        r.record(&mut V(self, name));
    }
}

impl Capture {
    fn get(&self, span: &str, field: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(s, f, _)| s == span && f == field)
            .map(|(_, _, v)| v.clone())
    }
}

struct Opaque; // neither Serialize nor Debug

#[derive(Debug)]
struct DebugOnly(u8);

struct Model {
    scale: u32,
}

impl Model {
    #[mlflow_sdk::trace]
    fn scale(&self, x: u32) -> u32 {
        x * self.scale
    }

    #[mlflow_sdk::trace(name = "parse_async", span_type = "PARSER")]
    async fn parse(&self, s: &str) -> Result<u32, std::num::ParseIntError> {
        let v: u32 = s.parse()?;
        Ok(v * self.scale)
    }
}

#[mlflow_sdk::trace]
fn generic<T: Serialize + std::fmt::Debug>(t: T, _o: &Opaque, d: DebugOnly) -> String {
    format!("{t:?}/{}", d.0)
}

#[mlflow_sdk::trace(skip(secret))]
fn evens(n: u32, secret: &str) -> impl Iterator<Item = u32> {
    let _ = secret;
    (0..n).filter(|x| x % 2 == 0)
}

#[mlflow_sdk::trace]
fn early_return(x: i32) -> i32 {
    if x < 0 {
        return 0;
    }
    x
}

#[test]
fn trace_macro_shapes() {
    let cap = Capture::default();
    let subscriber = tracing_subscriber::registry().with(cap.clone());
    tracing::subscriber::with_default(subscriber, || {
        let m = Model { scale: 2 };
        assert_eq!(m.scale(21), 42);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(m.parse("4")).unwrap(), 8);
        assert!(rt.block_on(m.parse("x")).is_err());
        assert_eq!(generic(vec![1, 2], &Opaque, DebugOnly(7)), "[1, 2]/7");
        assert_eq!(evens(5, "hunter2").collect::<Vec<_>>(), vec![0, 2, 4]);
        assert_eq!(early_return(-5), 0);
    });
    assert_eq!(
        cap.get("scale", "mlflow.spanInputs").as_deref(),
        Some(r#"{"x":21}"#)
    );
    assert_eq!(
        cap.get("scale", "mlflow.spanOutputs").as_deref(),
        Some("42")
    );
    assert_eq!(
        cap.get("parse_async", "mlflow.spanType").as_deref(),
        Some("PARSER")
    );
    assert_eq!(
        cap.get("parse_async", "mlflow.spanInputs").as_deref(),
        Some(r#"{"s":"x"}"#)
    );
    assert_eq!(
        cap.get("parse_async", "error").as_deref(),
        Some("invalid digit found in string")
    );
    let g = cap.get("generic", "mlflow.spanInputs").unwrap();
    assert!(
        g.contains(r#""t":[1,2]"#) && g.contains(r#""d":"DebugOnly(7)""#) && g.contains("Opaque"),
        "{g}"
    );
    let e = cap.get("evens", "mlflow.spanInputs").unwrap();
    assert_eq!(e, r#"{"n":5}"#, "secret is skipped");
    assert_eq!(
        cap.get("early_return", "mlflow.spanOutputs").as_deref(),
        Some("0")
    );
}
