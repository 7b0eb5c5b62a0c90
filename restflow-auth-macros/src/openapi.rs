//! `openapi_routes!(auth, handler, ...)`, re-exported as
//! `restflow_auth::openapi::routes!`.
//!
//! Each handler's routes come from `utoipa_axum::routes!(handler)`; then the
//! hidden `__restflow_auth_policy_<handler>` item that `#[authenticate]` /
//! `#[permissions]` put beside it (whatever the order of the attributes,
//! `#[utoipa::path]` included) patches that handler's operations. The
//! triples are merged into one, as `utoipa_axum::routes!` gives.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;

use crate::paths::krate;

struct Input {
    auth: syn::Expr,
    handlers: Vec<syn::Path>,
}

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let auth: syn::Expr = input.parse()?;
        input.parse::<syn::Token![,]>().map_err(|e| {
            syn::Error::new(
                e.span(),
                "write `routes!(auth, handler, ...)`: the `Auth` first, then the handlers",
            )
        })?;
        let handlers = Punctuated::<syn::Path, syn::Token![,]>::parse_terminated(input)?;
        if handlers.is_empty() {
            return Err(input.error("name at least one handler after the `Auth`"));
        }
        Ok(Input {
            auth,
            handlers: handlers.into_iter().collect(),
        })
    }
}

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let Input { auth, handlers } = match syn::parse2::<Input>(input) {
        Ok(i) => i,
        Err(e) => return e.into_compile_error(),
    };
    let krate = krate(None);
    let private = quote!(#krate::__private);
    let parts = handlers.iter().map(|h| {
        let mut policy = h.clone();
        if let Some(last) = policy.segments.last_mut() {
            last.ident = format_ident!("__restflow_auth_policy_{}", last.ident);
            last.arguments = syn::PathArguments::None;
        }
        let name = quote!(#h).to_string().replace(' ', "");
        quote! {{
            let mut __part = ::utoipa_axum::routes!(#h);
            let __applied = <#policy as #private::HandlerPolicy>::openapi(__auth, &mut __part.0, &mut __part.1);
            ::core::assert!(
                __applied,
                "restflow_auth::openapi::routes!: `{}` could not be documented: pass the `Auth` of its user model by name (`routes!(auth, ..)`, not a reference or an `Arc`), and use the utoipa version restflow-auth's `openapi` feature uses",
                #name
            );
            __part
        }}
    });
    quote! {{
        let __auth: &dyn ::core::any::Any = &#auth;
        let mut __parts = ::std::vec![#(#parts),*].into_iter();
        let mut __all = __parts.next().expect("one handler at least");
        for (__schemas, __paths, __router) in __parts {
            __all.0.extend(__schemas);
            __all.1.merge(__paths);
            __all.2 = __all.2.merge(__router);
        }
        __all
    }}
}
