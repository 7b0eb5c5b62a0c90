//! `#[authenticate(...)]` and `#[permissions(...)]` on an axum handler.
//!
//! Whichever of the two attributes expands first reads the other one too,
//! removes it, and adds one guard argument in front of the handler's own:
//! `__restflow_auth_guard: ::restflow_auth::__private::Guard<User, (A, B), (P,)>`.
//! The function is otherwise kept exactly as written. Each scheme and
//! permission also gets a hidden assertion spanned on its own token, so a
//! type that is not an authenticator is reported where it is named.

mod args;

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;

use self::args::{AuthArgs, PermArgs, ThrottleArgs};
use crate::ctxt::Ctxt;
use crate::paths::krate;
use crate::symbol::{AUTHENTICATE, PERMISSIONS, THROTTLE};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Authenticate,
    Permissions,
    Throttle,
}

impl Origin {
    fn name(self) -> &'static str {
        match self {
            Origin::Authenticate => AUTHENTICATE,
            Origin::Permissions => PERMISSIONS,
            Origin::Throttle => THROTTLE,
        }
    }
}

/// Never lose the item: on any error, the original tokens plus the errors.
fn with_errors(item: TokenStream, err: syn::Error) -> TokenStream {
    let mut out = item;
    out.extend(err.into_compile_error());
    out
}

fn item_keyword(item: &syn::Item) -> (Span, &'static str) {
    match item {
        syn::Item::Struct(i) => (i.struct_token.span, "a struct"),
        syn::Item::Enum(i) => (i.enum_token.span, "an enum"),
        syn::Item::Impl(i) => (i.impl_token.span, "an impl block"),
        syn::Item::Trait(i) => (i.trait_token.span, "a trait"),
        syn::Item::Mod(i) => (i.mod_token.span, "a module"),
        syn::Item::Const(i) => (i.const_token.span, "a const"),
        syn::Item::Static(i) => (i.static_token.span, "a static"),
        syn::Item::Type(i) => (i.type_token.span, "a type alias"),
        other => (other.span(), "this item"),
    }
}

/// The `T` of `CurrentUser<T>`, `MaybeUser<T>`, `Identity<T>` (also inside `Option<..>`).
fn user_from_param(ty: &syn::Type) -> Option<&syn::Type> {
    let syn::Type::Path(tp) = ty else { return None };
    let last = tp.path.segments.last()?;
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let inner = args.args.iter().find_map(|a| match a {
        syn::GenericArgument::Type(t) => Some(t),
        _ => None,
    })?;
    match last.ident.to_string().as_str() {
        "CurrentUser" | "MaybeUser" | "Identity" => Some(inner),
        "Option" => user_from_param(inner),
        _ => None,
    }
}

pub(crate) fn expand(origin: Origin, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut func: syn::ItemFn = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(f)) => f,
        Ok(other) => {
            let (span, what) = item_keyword(&other);
            let msg = format!(
                "`#[{}]` goes on an async handler function, not on {what}; for a whole router use `auth.policy::<Chain, Permissions>()` as a route layer",
                origin.name()
            );
            return with_errors(item, syn::Error::new(span, msg));
        }
        Err(e) => return with_errors(item, e),
    };

    let cx = Ctxt::new();
    let mut auth: Option<AuthArgs> = None;
    let mut perms: Option<PermArgs> = None;
    let mut throttles: Option<ThrottleArgs> = None;
    match origin {
        Origin::Authenticate => auth = Some(args::parse_auth(&cx, args)),
        Origin::Permissions => perms = Some(args::parse_perms(&cx, args, TokenStream::new())),
        Origin::Throttle => throttles = Some(args::parse_throttle(&cx, args)),
    }

    // The sibling attributes: read, check for repeats, and remove.
    let mut kept = Vec::with_capacity(func.attrs.len());
    for attr in std::mem::take(&mut func.attrs) {
        let last = attr
            .path()
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        let tokens = match &attr.meta {
            syn::Meta::Path(_) => TokenStream::new(),
            syn::Meta::List(l) => l.tokens.clone(),
            syn::Meta::NameValue(nv) => {
                if last == AUTHENTICATE || last == PERMISSIONS || last == THROTTLE {
                    cx.error_spanned_by(
                        nv,
                        format!("write `#[{last}(...)]`, not `#[{last} = ...]`"),
                    );
                    continue;
                }
                kept.push(attr);
                continue;
            }
        };
        if last == AUTHENTICATE {
            if auth.is_some() {
                cx.error_spanned_by(
                    &attr,
                    "conflicting `#[authenticate]`: a handler has one chain; merge the lists into one attribute",
                );
            } else {
                auth = Some(args::parse_auth(&cx, tokens));
            }
        } else if last == PERMISSIONS {
            if perms.is_some() {
                cx.error_spanned_by(
                    &attr,
                    "conflicting `#[permissions]`: list every permission in one attribute (they must all pass), or combine them with `&`, `|`, `!`",
                );
            } else {
                perms = Some(args::parse_perms(&cx, tokens, attr.to_token_stream()));
            }
        } else if last == THROTTLE {
            if throttles.is_some() {
                cx.error_spanned_by(
                    &attr,
                    "conflicting `#[throttle]`: list every throttle in one attribute (they all run)",
                );
            } else {
                throttles = Some(args::parse_throttle(&cx, tokens));
            }
        } else {
            kept.push(attr);
        }
    }
    func.attrs = kept;

    let sig = &func.sig;
    if sig.asyncness.is_none() {
        cx.error_at(
            sig.fn_token.span,
            format!(
                "`#[{}]` needs an `async fn`: axum handlers are async; write `async fn {}`",
                origin.name(),
                sig.ident
            ),
        );
    }
    if let Some(recv) = sig.receiver() {
        cx.error_spanned_by(
            recv,
            "handlers cannot take `self`; use a free async function",
        );
    }

    let explicit_krate = auth
        .as_ref()
        .and_then(|a| a.krate.clone())
        .or_else(|| perms.as_ref().and_then(|p| p.krate.clone()))
        .or_else(|| throttles.as_ref().and_then(|t| t.krate.clone()));
    let krate = krate(explicit_krate.as_ref());
    let private = quote!(#krate::__private);
    let defaults = quote_spanned!(Span::call_site()=> crate::__RestflowAuthProject);

    // The user model.
    let from_params = sig.inputs.iter().find_map(|a| match a {
        syn::FnArg::Typed(pt) => user_from_param(&pt.ty),
        syn::FnArg::Receiver(_) => None,
    });
    let explicit_user = auth.as_ref().and_then(|a| a.user.as_ref());
    if let (Some(explicit), Some(param)) = (explicit_user, from_params)
        && explicit.to_token_stream().to_string() != param.to_token_stream().to_string()
    {
        cx.error_spanned_by(
            param,
            format!(
                "conflicting user models: `user = {}` in `#[authenticate]`, but this argument reads `{}`",
                explicit.to_token_stream(),
                param.to_token_stream()
            ),
        );
    }
    let user = match explicit_user.or(from_params) {
        Some(t) => t.to_token_stream(),
        None => quote!(<#defaults as #private::ProjectDefaults>::User),
    };

    let chain = match &auth {
        Some(a) if !a.uses_defaults() => {
            let s = &a.schemes;
            quote!((#(#s,)*))
        }
        _ => quote!(<#defaults as #private::ProjectDefaults>::Authenticators),
    };
    let permissions = match &perms {
        Some(p) if !p.list.is_empty() => {
            let types = p.list.iter().map(|e| e.to_type(&private));
            quote!((#(#types,)*))
        }
        _ => quote!(<#defaults as #private::ProjectDefaults>::Permissions),
    };

    // DRF's DEFAULT_THROTTLE_CLASSES unless the handler names its own.
    let mut scope_item = quote!();
    let mut scope_type = quote!(#private::NoScope);
    let throttle_set = match &throttles {
        Some(t) if t.none.is_some() => quote!(()),
        Some(t) if !t.list.is_empty() => {
            let l = &t.list;
            match &t.scope {
                None => quote!((#(#l,)*)),
                Some(scope) => {
                    let name = quote::format_ident!("__RestflowAuthScope_{}", sig.ident);
                    scope_item = quote! {
                        #[doc(hidden)]
                        #[allow(non_camel_case_types, dead_code, unreachable_pub)]
                        struct #name;
                        impl #private::ThrottleScope for #name {
                            const SCOPE: ::core::option::Option<&'static str> = ::core::option::Option::Some(#scope);
                        }
                    };
                    scope_type = quote!(#name);
                    quote!(#private::Scoped<(#(#l,)*), #name>)
                }
            }
        }
        _ => quote!(#private::ProjectThrottles),
    };

    if let Err(e) = cx.check() {
        return with_errors(func.into_token_stream(), e);
    }

    // Assertions spanned on each named type, and the requirements the
    // startup check of the wiring reads (AuthBuilder::build). Each scheme
    // and throttle is checked once, by its requirement, spanned on its
    // name. Generic handlers cannot name one instantiation: neither.
    let mut asserts = Vec::new();
    let mut register = quote!();
    if func.sig.generics.params.is_empty() {
        let mut requires = Vec::new();
        match &auth {
            Some(a) if !a.uses_defaults() => {
                for s in &a.schemes {
                    requires.push(
                        quote_spanned!(s.span()=> #private::requires::authenticator::<#user, #s>),
                    );
                }
            }
            _ => requires.push(quote!(#private::requires::chain::<#user, #chain>)),
        }
        match &throttles {
            Some(t) if t.none.is_some() => {}
            Some(t) if !t.list.is_empty() => {
                for l in &t.list {
                    requires.push(
                        quote_spanned!(l.span()=> #private::requires::throttle::<#user, #l, #scope_type>),
                    );
                }
            }
            _ => requires.push(quote!(#private::requires::throttles::<#user, #throttle_set>)),
        }
        if let Some(p) = &perms {
            let mut leaves = Vec::new();
            for e in &p.list {
                e.leaves(&mut leaves);
            }
            for l in leaves {
                asserts
                    .push(quote_spanned!(l.span()=> #private::assert_permission::<#user, #l>();));
            }
        }
        let name = func.sig.ident.to_string();
        register = quote! {
            #private::inventory::submit! {
                #private::Route::new::<#user>(
                    ::core::concat!(::core::module_path!(), "::", #name),
                    ::core::file!(),
                    ::core::line!(),
                    &[#(#requires as #private::Check),*],
                )
            }
        };
    }

    // The declaration as a type, for the OpenAPI document
    // (`restflow_auth::openapi::routes!` names it from the handler's path).
    let mut policy_item = quote!();
    if func.sig.generics.params.is_empty() {
        let name = quote::format_ident!("__restflow_auth_policy_{}", func.sig.ident);
        // The handler's visibility; the types stay in the body, so private
        // project defaults and scopes do not leak.
        let vis = &func.vis;
        policy_item = quote! {
            #[doc(hidden)]
            #[allow(non_camel_case_types, dead_code, unreachable_pub, missing_docs, missing_debug_implementations)]
            #vis struct #name;
            impl #private::HandlerPolicy for #name {
                fn openapi(
                    auth: &dyn ::core::any::Any,
                    schemas: &mut dyn ::core::any::Any,
                    paths: &mut dyn ::core::any::Any,
                ) -> bool {
                    #[allow(unused_imports)]
                    use #private::{ViaFallback as _, ViaPolicy as _};
                    (&#private::Probe::<#user, #chain, #permissions, #throttle_set>::new())
                        .openapi_patch(auth, schemas, paths)
                }
            }
        };
    }

    let guard: syn::FnArg = syn::parse_quote!(
        __restflow_auth_guard: #private::Guard<#user, #chain, #permissions, #throttle_set>
    );
    func.sig.inputs.insert(0, guard);

    let checks = if asserts.is_empty() {
        quote!()
    } else {
        quote! {
            #[allow(warnings, clippy::all)]
            const _: () = { #(#asserts)* };
        }
    };
    quote! {
        #func
        #scope_item
        #policy_item
        #checks
        #register
    }
}
