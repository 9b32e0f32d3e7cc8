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
