//! `#[trace]`: record a function call as an MLflow span (see `mlflow_sdk::trace`).

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{ToTokens, quote};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{FnArg, Ident, ItemFn, LitStr, Pat, ReturnType, Token, Type};

#[derive(Default)]
struct Args {
    name: Option<LitStr>,
    span_type: Option<LitStr>,
    skip: Vec<Ident>,
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            if key == "skip" {
                let content;
                syn::parenthesized!(content in input);
                let names: Punctuated<Ident, Token![,]> = Punctuated::parse_terminated(&content)?;
                args.skip.extend(names);
            } else {
                input.parse::<Token![=]>()?;
                let value: LitStr = input.parse()?;
                match key.to_string().as_str() {
                    "name" => args.name = Some(value),
                    "span_type" => args.span_type = Some(value),
                    other => {
                        return Err(syn::Error::new(
                            key.span(),
                            format!("unknown argument `{other}` (expected name, span_type, skip)"),
                        ));
                    }
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

/// Records each call of the function as an MLflow span: the arguments (serialized with serde,
/// else `Debug`) as `mlflow.spanInputs`, the return value as `mlflow.spanOutputs`, an `Err`
/// return as the span's error. Works on sync and async functions.
///
/// Arguments: `name = "..."` (span name, default the function's), `span_type = "LLM"` (default
/// `UNKNOWN`), `skip(arg, ...)` (arguments not to record; `self` is never recorded).
///
/// Spans use the `tracing` target `mlflow` and reach MLflow through
/// `mlflow_sdk::tracing_layer::MlflowLayer`; without a subscriber that enables them, the function
/// runs unchanged and nothing is serialized.
///
/// # Example
///
/// (Marked `ignore` here because this proc-macro crate cannot link `mlflow_sdk`; the same
/// example is compiled as a doc test of `mlflow_sdk::tracing_layer`.)
///
/// ```ignore
/// use mlflow_sdk::trace;
/// use mlflow_sdk::tracing_layer::MlflowLayer;
/// use tracing_subscriber::prelude::*;
///
/// #[derive(Debug, serde::Serialize)]
/// struct Doc {
///     id: u32,
///     text: String,
/// }
///
/// // Sync: span "retrieve" of type RETRIEVER; inputs {"query": ..., "k": ...}, outputs the
/// // documents (serialized with serde).
/// #[trace(span_type = "RETRIEVER")]
/// fn retrieve(query: &str, k: usize) -> Vec<Doc> {
///     (0..k as u32).map(|id| Doc { id, text: format!("about {query}") }).collect()
/// }
///
/// // Async, with its own span name; `api_key` is not recorded. An `Err` return marks the span
/// // failed with the error's `Display` text.
/// #[trace(name = "chat_completion", span_type = "LLM", skip(api_key))]
/// async fn complete(prompt: String, api_key: &str) -> Result<String, std::io::Error> {
///     let _ = api_key; // a real client would send it
///     Ok(format!("answer to: {prompt}"))
/// }
///
/// // The root span: the calls above become its children in one trace.
/// #[trace(name = "agent", span_type = "AGENT", skip(api_key))]
/// async fn answer(question: String, api_key: &str) -> Result<String, std::io::Error> {
///     let docs = retrieve(&question, 2);
///     complete(format!("{question}\ncontext: {docs:?}"), api_key).await
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let (layer, exporter) = MlflowLayer::builder().experiment_id("1").build()?;
///     tracing_subscriber::registry().with(layer).init();
///     let rt = tokio::runtime::Runtime::new()?;
///     let reply = rt.block_on(answer("What is MLflow?".into(), "sk-secret"))?;
///     println!("{reply}");
///     exporter.flush()?; // the trace agent -> (retrieve, chat_completion) is on the server
///     Ok(())
/// }
/// ```
#[proc_macro_attribute]
pub fn trace(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(attr as Args);
    let func = syn::parse_macro_input!(item as ItemFn);
    expand(args, func).into()
}

fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
        _ => false,
    }
}

fn has_impl_trait(ty: &Type) -> bool {
    ty.to_token_stream()
        .into_iter()
        .any(|t| matches!(t, proc_macro2::TokenTree::Ident(i) if i == "impl"))
}

fn expand(args: Args, func: ItemFn) -> TokenStream2 {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let fn_name = sig.ident.to_string();
    let name = args
        .name
        .map(|l| l.value())
        .unwrap_or_else(|| fn_name.clone());
    let span_type = args
        .span_type
        .map(|l| l.value())
        .unwrap_or_else(|| "UNKNOWN".to_string());
    let p = quote!(::mlflow_sdk::__private);

    let mut inserts = Vec::new();
    for input in &sig.inputs {
        if let FnArg::Typed(pt) = input
            && let Pat::Ident(pi) = &*pt.pat
        {
            let ident = &pi.ident;
            if args.skip.iter().any(|s| s == ident) {
                continue;
            }
            let key = ident.to_string();
            inserts.push(quote! {
                __mlflow_args.push((#key, {
                    #[allow(unused_imports)]
                    use #p::{ViaSerialize as _, ViaDebug as _, ViaTypeName as _};
                    (&&&#p::Wrap(&#ident)).__mlflow_json()
                }));
            });
        }
    }

    let (ret_annot, record_out) = match &sig.output {
        ReturnType::Default => (quote!(), quote!()),
        ReturnType::Type(_, ty) => {
            let annot = if has_impl_trait(ty) {
                quote!()
            } else {
                quote!(: #ty)
            };
            let out = if is_result(ty) {
                quote! {
                    match &__mlflow_ret {
                        ::core::result::Result::Ok(__v) => {
                            #[allow(unused_imports)]
                            use #p::{ViaSerialize as _, ViaDebug as _, ViaTypeName as _};
                            let __j = (&&&#p::Wrap(__v)).__mlflow_json();
                            #p::record_json(&__mlflow_span, "mlflow.spanOutputs", __j);
                        }
                        ::core::result::Result::Err(__e) => {
                            #[allow(unused_imports)]
                            use #p::{ErrViaDisplay as _, ErrViaDebug as _, ErrViaTypeName as _};
                            let __m = (&&&#p::ErrWrap(__e)).__mlflow_msg();
                            __mlflow_span.record("error", __m.as_str());
                        }
                    }
                }
            } else {
                quote! {
                    {
                        #[allow(unused_imports)]
                        use #p::{ViaSerialize as _, ViaDebug as _, ViaTypeName as _};
                        let __j = (&&&#p::Wrap(&__mlflow_ret)).__mlflow_json();
                        #p::record_json(&__mlflow_span, "mlflow.spanOutputs", __j);
                    }
                }
            };
            (annot, out)
        }
    };

    let n_args = inserts.len();
    // The arguments are serialized inside the `span!` field list, which `tracing` evaluates
    // only when some subscriber enables the span; they reach `MlflowLayer` through a
    // thread-local hand-off (no JSON text round trip, no extra `record` call).
    let make_span = quote! {
        let __mlflow_span = #p::tracing::span!(
            target: "mlflow",
            #p::tracing::Level::INFO,
            #name,
            mlflow.spanInputs = #p::stash_call(
                {
                    #[allow(unused_mut)]
                    let mut __mlflow_args = ::std::vec::Vec::with_capacity(#n_args);
                    #(#inserts)*
                    __mlflow_args
                },
                #span_type,
                #fn_name,
            ),
            mlflow.spanOutputs = #p::tracing::field::Empty,
            // For other layers; `MlflowLayer` already has both from the hand-off.
            mlflow.spanType = #span_type,
            mlflow.spanFunctionName = #fn_name,
            error = #p::tracing::field::Empty,
        );
        #p::clear_handoff();
    };

    let body = if sig.asyncness.is_some() {
        quote! {
            #make_span
            let __mlflow_ret #ret_annot = #p::tracing::Instrument::instrument(
                async move #block,
                __mlflow_span.clone(),
            ).await;
            if !__mlflow_span.is_disabled() {
                #record_out
            }
            __mlflow_ret
        }
    } else {
        quote! {
            #make_span
            let __mlflow_ret #ret_annot = {
                let __mlflow_guard = __mlflow_span.enter();
                #[allow(clippy::redundant_closure_call)]
                let __r = (move || #block)();
                drop(__mlflow_guard);
                __r
            };
            if !__mlflow_span.is_disabled() {
                #record_out
            }
            __mlflow_ret
        }
    };

    quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    }
}
