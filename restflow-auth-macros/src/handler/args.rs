//! The grammars of `#[authenticate(...)]` and `#[permissions(...)]`,
//! parsed without stopping at the first mistake.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;

use crate::ctxt::Ctxt;

/// `#[authenticate]`, `#[authenticate(A, B)]`, `#[authenticate(none)]`,
/// plus `user = Type` and `crate = path`.
#[derive(Default)]
pub(crate) struct AuthArgs {
    /// Empty with `defaults` when no list was given.
    pub(crate) schemes: Vec<syn::Path>,
    pub(crate) none: Option<Span>,
    pub(crate) user: Option<syn::Type>,
    pub(crate) krate: Option<syn::Path>,
}

impl AuthArgs {
    pub(crate) fn uses_defaults(&self) -> bool {
        self.schemes.is_empty() && self.none.is_none()
    }
}

/// `#[permissions(P, Q & !R)]` plus `crate = path`.
#[derive(Default)]
pub(crate) struct PermArgs {
    pub(crate) list: Vec<PermExpr>,
    pub(crate) krate: Option<syn::Path>,
}

/// `#[throttle]`, `#[throttle(A, B)]`, `#[throttle(none)]`, plus
/// `scope = "name"` and `crate = path`.
#[derive(Default)]
pub(crate) struct ThrottleArgs {
    pub(crate) list: Vec<syn::Path>,
    pub(crate) none: Option<Span>,
    pub(crate) scope: Option<syn::LitStr>,
    pub(crate) krate: Option<syn::Path>,
}

/// A permission expression.
pub(crate) enum PermExpr {
    Leaf(syn::Path),
    And(Box<PermExpr>, Box<PermExpr>),
    Or(Box<PermExpr>, Box<PermExpr>),
    Not(Box<PermExpr>),
}

impl PermExpr {
    pub(crate) fn to_type(&self, private: &TokenStream) -> TokenStream {
        match self {
            PermExpr::Leaf(p) => p.to_token_stream(),
            PermExpr::And(a, b) => {
                let (a, b) = (a.to_type(private), b.to_type(private));
                quote!(#private::And<#a, #b>)
            }
            PermExpr::Or(a, b) => {
                let (a, b) = (a.to_type(private), b.to_type(private));
                quote!(#private::Or<#a, #b>)
            }
            PermExpr::Not(a) => {
                let a = a.to_type(private);
                quote!(#private::Not<#a>)
            }
        }
    }

    pub(crate) fn leaves<'a>(&'a self, out: &mut Vec<&'a syn::Path>) {
        match self {
            PermExpr::Leaf(p) => out.push(p),
            PermExpr::And(a, b) | PermExpr::Or(a, b) => {
                a.leaves(out);
                b.leaves(out);
            }
            PermExpr::Not(a) => a.leaves(out),
        }
    }
}

fn path_key(p: &syn::Path) -> String {
    p.to_token_stream().to_string()
}

/// Reports a literal or other non-path where a type was expected, and skips it.
fn expect_path(
    cx: &Ctxt,
    input: ParseStream<'_>,
    what: &str,
    example: &str,
) -> syn::Result<Option<syn::Path>> {
    if input.peek(syn::Lit) {
        let lit: syn::Lit = input.parse()?;
        cx.error_spanned_by(
            &lit,
            format!("expected {what} type such as `{example}`, found a literal; write the type name without quotes"),
        );
        return Ok(None);
    }
    match input.parse::<syn::Path>() {
        Ok(p) => Ok(Some(p)),
        Err(_) => {
            let tt: proc_macro2::TokenTree = input.parse()?;
            cx.error_spanned_by(&tt, format!("expected {what} type such as `{example}`"));
            Ok(None)
        }
    }
}

/// After an item: a comma or the end. Returns false to stop parsing.
fn separator(cx: &Ctxt, input: ParseStream<'_>, what: &str) -> bool {
    if input.is_empty() {
        return false;
    }
    if input.peek(syn::Token![,]) {
        let _ = input.parse::<syn::Token![,]>();
        return true;
    }
    let rest: TokenStream = input.parse().unwrap_or_default();
    cx.error_spanned_by(&rest, format!("expected `,` between {what}"));
    false
}

fn crate_key(
    cx: &Ctxt,
    input: ParseStream<'_>,
    key: &syn::Path,
    slot: &mut Option<syn::Path>,
) -> syn::Result<()> {
    let value: syn::Path = input.parse()?;
    if slot.is_some() {
        cx.error_spanned_by(key, "duplicate `crate = ...`");
    }
    *slot = Some(value);
    Ok(())
}

pub(crate) fn parse_auth(cx: &Ctxt, args: TokenStream) -> AuthArgs {
    let mut out = AuthArgs::default();
    let parser = |input: ParseStream<'_>| -> syn::Result<()> {
        while !input.is_empty() {
            let Some(path) = expect_path(cx, input, "an authenticator", "Jwt")? else {
                if !separator(cx, input, "authenticators") {
                    break;
                }
                continue;
            };
            if input.peek(syn::Token![=]) {
                input.parse::<syn::Token![=]>()?;
                if path.is_ident("user") {
                    let ty: syn::Type = input.parse()?;
                    if out.user.is_some() {
                        cx.error_spanned_by(&path, "duplicate `user = ...`");
                    }
                    out.user = Some(ty);
                } else if path.is_ident("crate") {
                    crate_key(cx, input, &path, &mut out.krate)?;
                } else {
                    let hint = if path.is_ident("users") || path.is_ident("model") {
                        "; did you mean `user`?"
                    } else if path.is_ident("permissions") {
                        "; declare permissions with their own attribute: `#[permissions(IsAuthenticated)]`"
                    } else {
                        ""
                    };
                    cx.error_spanned_by(
                        &path,
                        format!("unknown key `{}`{hint}; `#[authenticate]` takes authenticator types and the keys `user = Type` and `crate = path`", path_key(&path)),
                    );
                    let _: syn::Expr = input.parse()?;
                }
            } else if path.is_ident("none") {
                if out.none.is_some() {
                    cx.error_spanned_by(&path, "`none` is listed twice");
                }
                out.none = Some(path.span());
            } else if out.schemes.iter().any(|p| path_key(p) == path_key(&path)) {
                cx.error_spanned_by(
                    &path,
                    format!("`{}` appears twice in this chain; each authenticator runs once, remove one", path_key(&path)),
                );
            } else {
                out.schemes.push(path);
            }
            if !separator(cx, input, "authenticators") {
                break;
            }
        }
        Ok(())
    };
    if let Err(e) = parser.parse2(args) {
        cx.syn_error(e);
    }
    if let (Some(span), false) = (out.none, out.schemes.is_empty()) {
        cx.error_at(
            span,
            "`none` means no authenticators and cannot be combined with others; remove `none` or the other entries",
        );
    }
    out
}

/// `attr` is the sibling attribute's tokens, or empty for the macro's own.
pub(crate) fn parse_perms(cx: &Ctxt, args: TokenStream, attr: TokenStream) -> PermArgs {
    let mut out = PermArgs::default();
    if args.is_empty() {
        cx.error_spanned_by(
            attr,
            "`#[permissions]` needs at least one permission, e.g. `#[permissions(IsAuthenticated)]`; write `#[permissions(AllowAny)]` to let every request in, or remove the attribute for the project defaults",
        );
        return out;
    }
    let parser = |input: ParseStream<'_>| -> syn::Result<()> {
        while !input.is_empty() {
            if input.peek(syn::Token![crate]) && input.peek2(syn::Token![=]) {
                let key: syn::Path = input.parse()?;
                input.parse::<syn::Token![=]>()?;
                crate_key(cx, input, &key, &mut out.krate)?;
            } else if input.peek(syn::Ident)
                && input.peek2(syn::Token![=])
                && !input.peek2(syn::Token![==])
            {
                let key: syn::Ident = input.parse()?;
                cx.error_spanned_by(
                    &key,
                    format!("unknown key `{key}`; `#[permissions]` takes permission types, `&`, `|`, `!` and the key `crate = path`"),
                );
                input.parse::<syn::Token![=]>()?;
                let _: syn::Expr = input.parse()?;
            } else if let Some(expr) = parse_or(cx, input)? {
                if let PermExpr::Leaf(p) = &expr {
                    let dup = out
                        .list
                        .iter()
                        .any(|e| matches!(e, PermExpr::Leaf(q) if path_key(q) == path_key(p)));
                    if dup {
                        cx.error_spanned_by(p, format!("`{}` is listed twice", path_key(p)));
                    }
                }
                out.list.push(expr);
            }
            if !separator(cx, input, "permissions") {
                break;
            }
        }
        Ok(())
    };
    if let Err(e) = parser.parse2(args) {
        cx.syn_error(e);
    }
    out
}

fn parse_or(cx: &Ctxt, input: ParseStream<'_>) -> syn::Result<Option<PermExpr>> {
    let Some(mut left) = parse_and(cx, input)? else {
        return Ok(None);
    };
    while input.peek(syn::Token![|]) && !input.peek(syn::Token![||]) {
        input.parse::<syn::Token![|]>()?;
        let Some(right) = parse_and(cx, input)? else {
            return Ok(None);
        };
        left = PermExpr::Or(Box::new(left), Box::new(right));
    }
    if input.peek(syn::Token![||]) || input.peek(syn::Token![&&]) {
        let tt: proc_macro2::TokenTree = input.parse()?;
        cx.error_spanned_by(
            &tt,
            "use `|` and `&` to combine permissions (as DRF), not `||` and `&&`",
        );
        // The rest cannot be read reliably: skip it.
        let _: TokenStream = input.parse()?;
        return Ok(None);
    }
    Ok(Some(left))
}

fn parse_and(cx: &Ctxt, input: ParseStream<'_>) -> syn::Result<Option<PermExpr>> {
    let Some(mut left) = parse_unary(cx, input)? else {
        return Ok(None);
    };
    while input.peek(syn::Token![&]) && !input.peek(syn::Token![&&]) {
        input.parse::<syn::Token![&]>()?;
        let Some(right) = parse_unary(cx, input)? else {
            return Ok(None);
        };
        left = PermExpr::And(Box::new(left), Box::new(right));
    }
    Ok(Some(left))
}

fn parse_unary(cx: &Ctxt, input: ParseStream<'_>) -> syn::Result<Option<PermExpr>> {
    if input.peek(syn::Token![!]) {
        input.parse::<syn::Token![!]>()?;
        return Ok(parse_unary(cx, input)?.map(|e| PermExpr::Not(Box::new(e))));
    }
    if input.peek(syn::Token![~]) {
        let tilde: syn::Token![~] = input.parse()?;
        cx.error_spanned_by(
            tilde,
            "`~` is Python's negation; write `!` (e.g. `!IsAdminUser`)",
        );
        return Ok(parse_unary(cx, input)?.map(|e| PermExpr::Not(Box::new(e))));
    }
    if input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in input);
        let inner = parse_or(cx, &content)?;
        if !content.is_empty() {
            let rest: TokenStream = content.parse()?;
            cx.error_spanned_by(&rest, "unexpected tokens in parentheses");
        }
        return Ok(inner);
    }
    Ok(expect_path(cx, input, "a permission", "IsAuthenticated")?.map(PermExpr::Leaf))
}

pub(crate) fn parse_throttle(cx: &Ctxt, args: TokenStream) -> ThrottleArgs {
    let mut out = ThrottleArgs::default();
    let parser = |input: ParseStream<'_>| -> syn::Result<()> {
        while !input.is_empty() {
            if input.peek(syn::Token![crate]) && input.peek2(syn::Token![=]) {
                let key: syn::Path = input.parse()?;
                input.parse::<syn::Token![=]>()?;
                crate_key(cx, input, &key, &mut out.krate)?;
            } else if input.peek(syn::Ident) && input.peek2(syn::Token![=]) {
                let key: syn::Ident = input.parse()?;
                input.parse::<syn::Token![=]>()?;
                if key == "scope" {
                    let lit: syn::LitStr = match input.parse() {
                        Ok(l) => l,
                        Err(e) => {
                            cx.error_spanned_by(
                                &key,
                                "`scope` takes a string: `scope = \"uploads\"`",
                            );
                            return Err(e);
                        }
                    };
                    let v = lit.value();
                    if v.is_empty()
                        || !v
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    {
                        cx.error_spanned_by(&lit, "a throttle scope is a word of letters, digits, `_` and `-`, such as `\"uploads\"`");
                    }
                    if out.scope.is_some() {
                        cx.error_spanned_by(&key, "duplicate `scope = ...`");
                    }
                    out.scope = Some(lit);
                } else {
                    let hint = if key == "rate" || key == "rates" {
                        "; rates are set in `config!`'s `throttle_rates` or `[throttle] rates`, by scope"
                    } else {
                        ""
                    };
                    cx.error_spanned_by(
                        &key,
                        format!("unknown key `{key}`{hint}; `#[throttle]` takes throttle types and the keys `scope = \"name\"` and `crate = path`"),
                    );
                    let _: syn::Expr = input.parse()?;
                }
            } else if let Some(path) = expect_path(cx, input, "a throttle", "AnonRateThrottle")? {
                if path.is_ident("none") {
                    if out.none.is_some() {
                        cx.error_spanned_by(&path, "`none` is listed twice");
                    }
                    out.none = Some(path.span());
                } else if out.list.iter().any(|p| path_key(p) == path_key(&path)) {
                    cx.error_spanned_by(&path, format!("`{}` is listed twice", path_key(&path)));
                } else {
                    out.list.push(path);
                }
            }
            if !separator(cx, input, "throttles") {
                break;
            }
        }
        Ok(())
    };
    if let Err(e) = parser.parse2(args) {
        cx.syn_error(e);
    }
    if let (Some(span), false) = (out.none, out.list.is_empty()) {
        cx.error_at(
            span,
            "`none` means no throttles and cannot be combined with others; remove `none` or the other entries",
        );
    }
    if let (Some(scope), true) = (&out.scope, out.list.is_empty()) {
        cx.error_spanned_by(
            scope,
            "`scope = ...` is read by the listed throttles; name them, e.g. `#[throttle(ScopedRateThrottle, scope = \"uploads\")]`",
        );
    }
    out
}
