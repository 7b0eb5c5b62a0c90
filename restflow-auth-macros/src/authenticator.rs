//! `#[authenticator]` on `impl Authenticator<U> for X`: the async
//! `authenticate` is written once, and `authenticate_blocking` is generated
//! from the same body with every `recv.method(args).await` turned into
//! `recv.method_blocking(args)` (and `path::f(args).await` into
//! `path::f_blocking(args)`), so both paths run the same logic against the
//! twin methods of the stores.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote};
use syn::visit_mut::VisitMut;

use crate::ctxt::Ctxt;

const METHOD: &str = "authenticate";
const BLOCKING: &str = "authenticate_blocking";

struct Blocking<'a> {
    cx: &'a Ctxt,
}

impl VisitMut for Blocking<'_> {
    fn visit_expr_mut(&mut self, expr: &mut syn::Expr) {
        match expr {
            syn::Expr::Await(aw) => {
                let mut base = (*aw.base).clone();
                match &mut base {
                    syn::Expr::MethodCall(mc) => {
                        mc.method = format_ident!("{}_blocking", mc.method, span = mc.method.span());
                    }
                    syn::Expr::Call(call) => match &mut *call.func {
                        syn::Expr::Path(p) => {
                            let last = p.path.segments.last_mut().expect("non-empty path");
                            last.ident = format_ident!("{}_blocking", last.ident, span = last.ident.span());
                        }
                        other => self.cx.error_spanned_by(
                            &*other,
                            "cannot derive the blocking twin of awaiting this call; await a named function or method that has a `_blocking` twin, or write `authenticate_blocking` by hand",
                        ),
                    },
                    other => self.cx.error_spanned_by(
                        aw.await_token,
                        format!(
                            "cannot derive the blocking twin of `{}.await`: await a method or function call that has a `_blocking` twin, or write `authenticate_blocking` by hand",
                            other.to_token_stream()
                        ),
                    ),
                }
                *expr = base;
                self.visit_expr_mut(expr);
            }
            syn::Expr::Async(a) => {
                self.cx.error_spanned_by(
                    a.async_token,
                    "an `async` block has no blocking twin; write `authenticate_blocking` by hand",
                );
            }
            syn::Expr::Closure(c) if c.asyncness.is_some() => {
                self.cx.error_spanned_by(
                    c.asyncness,
                    "an async closure has no blocking twin; write `authenticate_blocking` by hand",
                );
            }
            _ => syn::visit_mut::visit_expr_mut(self, expr),
        }
    }

    // Items nested in the body keep their own async code.
    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let fail = |item: TokenStream, e: syn::Error| {
        let mut out = item;
        out.extend(e.into_compile_error());
        out
    };
    if !args.is_empty() {
        return fail(
            item,
            syn::Error::new_spanned(args, "`#[authenticator]` takes no arguments"),
        );
    }
    let mut imp: syn::ItemImpl = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Impl(i)) => i,
        Ok(other) => {
            return fail(
                item,
                syn::Error::new_spanned(
                    other,
                    "`#[authenticator]` goes on `impl Authenticator<User> for YourType { async fn authenticate(..) }`",
                ),
            );
        }
        Err(e) => return fail(item, e),
    };
    if imp.trait_.is_none() {
        return fail(
            imp.to_token_stream(),
            syn::Error::new_spanned(
                imp.self_ty.clone(),
                "`#[authenticator]` goes on a trait impl: `impl Authenticator<User> for YourType`",
            ),
        );
    }

    let cx = Ctxt::new();
    let has_blocking = imp
        .items
        .iter()
        .any(|i| matches!(i, syn::ImplItem::Fn(f) if f.sig.ident == BLOCKING));
    let method = imp.items.iter().find_map(|i| match i {
        syn::ImplItem::Fn(f) if f.sig.ident == METHOD => Some(f.clone()),
        _ => None,
    });
    let Some(method) = method else {
        cx.error_spanned_by(
            imp.self_ty.clone(),
            "this impl has no `async fn authenticate(&self, req: &Request<'_>, ctx: &Context<User>) -> Outcome<User>`",
        );
        return fail(imp.to_token_stream(), cx.check().unwrap_err());
    };
    if method.sig.asyncness.is_none() {
        cx.error_spanned_by(
            method.sig.fn_token,
            "`#[authenticator]` expects `async fn authenticate`; its blocking twin is generated from it",
        );
    }
    if has_blocking {
        let span = imp
            .items
            .iter()
            .find_map(|i| match i {
                syn::ImplItem::Fn(f) if f.sig.ident == BLOCKING => Some(f.sig.ident.clone()),
                _ => None,
            })
            .expect("found above");
        cx.error_spanned_by(
            span,
            "`authenticate_blocking` is generated by `#[authenticator]`; remove this one, or remove the attribute to write both by hand",
        );
    }

    let mut twin = method.clone();
    twin.sig.asyncness = None;
    twin.sig.ident = format_ident!("{}", BLOCKING, span = method.sig.ident.span());
    twin.attrs
        .retain(|a| a.path().is_ident("allow") || a.path().is_ident("cfg"));
    Blocking { cx: &cx }.visit_block_mut(&mut twin.block);

    if let Err(e) = cx.check() {
        // Keep the impl complete so that only the real errors show: the
        // method async, and a twin that is never reached.
        for item in &mut imp.items {
            if let syn::ImplItem::Fn(f) = item
                && f.sig.ident == METHOD
            {
                f.sig.asyncness = Some(Default::default());
            }
        }
        if !has_blocking {
            twin.block = syn::parse_quote!({ ::core::unreachable!() });
            twin.attrs
                .push(syn::parse_quote!(#[allow(unused_variables, unreachable_code)]));
            imp.items.push(syn::ImplItem::Fn(twin));
        }
        return fail(imp.to_token_stream(), e);
    }
    imp.items.push(syn::ImplItem::Fn(twin));
    quote!(#imp)
}
