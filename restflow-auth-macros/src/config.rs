//! `config! { user: User, authentication: [..], permissions: [..],
//! throttles: [..], throttle_rates: { scope: "rate" } }`: the project
//! defaults, emitted as a hidden type at the crate root that a bare
//! `#[authenticate]` and a handler without `#[permissions]` name, and the
//! default throttles and rates, registered for startup (`inventory`).

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;

use crate::ctxt::Ctxt;
use crate::paths::krate;

const KEYS: &str = "`user`, `authentication`, `permissions`, `throttles`, `throttle_rates`, `check_routes` and `crate`";

#[derive(Default)]
struct Config {
    user: Option<syn::Type>,
    authentication: Option<Vec<syn::Path>>,
    permissions: Option<(Span, Vec<syn::Path>)>,
    throttles: Option<Vec<syn::Path>>,
    rates: Option<Vec<(syn::Ident, syn::LitStr)>>,
    check_routes: Option<syn::LitBool>,
    krate: Option<syn::Path>,
}

/// A rate as restflow-auth reads it (`N/period`: `s`, `m`, `h`, `d` by the
/// first letter, or a count before it, `5/10m`); checked here so that a
/// typo fails the build. Mirrors `throttle::Rate::parse`.
fn valid_rate(rate: &str) -> bool {
    let Some((num, period)) = rate.split_once('/') else {
        return false;
    };
    let period = period.trim();
    let digits = period.bytes().take_while(u8::is_ascii_digit).count();
    num.trim().parse::<u64>().is_ok()
        && (digits == 0 || period[..digits].parse::<u64>().is_ok_and(|c| c > 0))
        && matches!(
            period.as_bytes().get(digits),
            Some(b's' | b'm' | b'h' | b'd')
        )
}

/// `{ anon: "3/min", user: "5/min" }`.
fn rates(cx: &Ctxt, input: ParseStream<'_>) -> syn::Result<Vec<(syn::Ident, syn::LitStr)>> {
    let content;
    syn::braced!(content in input);
    let mut out: Vec<(syn::Ident, syn::LitStr)> = Vec::new();
    while !content.is_empty() {
        let scope: syn::Ident = content.parse()?;
        content.parse::<syn::Token![:]>()?;
        let rate: syn::LitStr = content.parse()?;
        if !valid_rate(&rate.value()) {
            cx.error_spanned_by(
                &rate,
                format!(
                    "`{}` is not a rate such as `\"100/day\"`, `\"3/min\"` or `\"5/10m\"` (period s, m, h or d)",
                    rate.value()
                ),
            );
        }
        if out.iter().any(|(s, _)| *s == scope) {
            cx.error_spanned_by(&scope, format!("the rate of `{scope}` is given twice"));
        }
        out.push((scope, rate));
        if content.is_empty() {
            break;
        }
        content.parse::<syn::Token![,]>()?;
    }
    Ok(out)
}

fn list(input: ParseStream<'_>) -> syn::Result<(Span, Vec<syn::Path>)> {
    let content;
    let bracket = syn::bracketed!(content in input);
    let items =
        content.parse_terminated(<syn::Path as syn::parse::Parse>::parse, syn::Token![,])?;
    Ok((bracket.span.join(), items.into_iter().collect()))
}

fn parse(cx: &Ctxt, input: ParseStream<'_>) -> syn::Result<Config> {
    let mut cfg = Config::default();
    while !input.is_empty() {
        let key: syn::Ident = if input.peek(syn::Token![crate]) {
            let k: syn::Token![crate] = input.parse()?;
            syn::Ident::new("crate", k.span)
        } else {
            input.parse()?
        };
        input.parse::<syn::Token![:]>()?;
        let dup = |present: bool| {
            if present {
                cx.error_spanned_by(&key, format!("duplicate key `{key}`"));
            }
        };
        match key.to_string().as_str() {
            "user" => {
                dup(cfg.user.is_some());
                cfg.user = Some(input.parse()?);
            }
            "authentication" => {
                dup(cfg.authentication.is_some());
                let (_, items) = list(input)?;
                let mut seen: Vec<String> = Vec::new();
                for p in &items {
                    let k = quote!(#p).to_string();
                    if seen.contains(&k) {
                        cx.error_spanned_by(p, format!("`{k}` appears twice in the default chain"));
                    }
                    seen.push(k);
                }
                cfg.authentication = Some(items);
            }
            "permissions" => {
                dup(cfg.permissions.is_some());
                let (span, items) = list(input)?;
                if items.is_empty() {
                    cx.error_at(span, "an empty default permission list; write `[AllowAny]` to let every request in, or e.g. `[IsAuthenticated]`");
                }
                cfg.permissions = Some((span, items));
            }
            "throttles" => {
                dup(cfg.throttles.is_some());
                cfg.throttles = Some(list(input)?.1);
            }
            "throttle_rates" => {
                dup(cfg.rates.is_some());
                cfg.rates = Some(rates(cx, input)?);
            }
            "check_routes" => {
                dup(cfg.check_routes.is_some());
                cfg.check_routes = Some(input.parse()?);
            }
            "crate" => {
                dup(cfg.krate.is_some());
                cfg.krate = Some(input.parse()?);
            }
            other => {
                let hint = match other {
                    "authenticators" | "authentication_classes" | "auth" => {
                        "; did you mean `authentication`?"
                    }
                    "permission_classes" | "permission" => "; did you mean `permissions`?",
                    "user_model" | "model" => "; did you mean `user`?",
                    "throttle_classes" | "throttle" => "; did you mean `throttles`?",
                    "rates" | "throttle_rate" | "default_throttle_rates" => {
                        "; did you mean `throttle_rates`?"
                    }
                    "check_wiring" | "check" | "checks" => "; did you mean `check_routes`?",
                    _ => "",
                };
                cx.error_spanned_by(
                    &key,
                    format!("unknown key `{other}`{hint}; `config!` takes {KEYS}"),
                );
                let _: TokenStream = input.step(|c| {
                    let mut rest = *c;
                    while let Some((tt, next)) = rest.token_tree() {
                        if matches!(&tt, proc_macro2::TokenTree::Punct(p) if p.as_char() == ',') {
                            return Ok((TokenStream::new(), rest));
                        }
                        rest = next;
                    }
                    Ok((TokenStream::new(), rest))
                })?;
            }
        }
        if input.is_empty() {
            break;
        }
        input.parse::<syn::Token![,]>()?;
    }
    Ok(cfg)
}

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let cfg = match (|i: ParseStream<'_>| parse(&cx, i)).parse2(input) {
        Ok(c) => c,
        Err(e) => {
            cx.syn_error(e);
            Config::default()
        }
    };
    if cfg.user.is_none() && !cx.has_errors() {
        cx.error_at(
            Span::call_site(),
            "missing `user: YourUserType` in `config!`",
        );
    }
    if let Err(e) = cx.check() {
        return e.into_compile_error();
    }
    let krate = krate(cfg.krate.as_ref());
    let private = quote!(#krate::__private);
    let user = cfg.user.expect("checked");
    let chain = cfg.authentication.unwrap_or_default();
    let (perms_span, perms) = cfg.permissions.unwrap_or_else(|| {
        (
            Span::call_site(),
            vec![syn::parse_quote!(#krate::permissions::AllowAny)],
        )
    });
    let _ = perms_span;
    let throttles = cfg.throttles.unwrap_or_default();
    let asserts = chain
        .iter()
        .map(|a| quote_spanned!(a.span()=> #private::assert_authenticator::<#user, #a>();))
        .chain(
            perms
                .iter()
                .map(|p| quote_spanned!(p.span()=> #private::assert_permission::<#user, #p>();)),
        )
        .chain(
            throttles
                .iter()
                .map(|t| quote_spanned!(t.span()=> #private::assert_throttle::<#user, #t>();)),
        );
    let register_throttles = if throttles.is_empty() {
        quote!()
    } else {
        quote! {
            #private::inventory::submit! {
                #private::DefaultThrottles::new::<#user, (#(#throttles,)*)>()
            }
        }
    };
    let (scopes, rate_values): (Vec<String>, Vec<syn::LitStr>) = cfg
        .rates
        .unwrap_or_default()
        .into_iter()
        .map(|(s, r)| (s.to_string(), r))
        .unzip();
    let register_rates = if scopes.is_empty() {
        quote!()
    } else {
        quote! {
            #private::inventory::submit! {
                #private::ProjectRates { rates: &[#((#scopes, #rate_values)),*] }
            }
        }
    };
    let register_options = match &cfg.check_routes {
        Some(b) => quote! {
            #private::inventory::submit! {
                #private::ProjectOptions::new::<#user>(#b)
            }
        },
        None => quote!(),
    };
    quote! {
        /// The project defaults of restflow-auth, set by `restflow_auth::config!`.
        #[doc(hidden)]
        #[allow(dead_code, unreachable_pub)]
        pub(crate) struct __RestflowAuthProject;

        impl #private::ProjectDefaults for __RestflowAuthProject {
            type User = #user;
            type Authenticators = (#(#chain,)*);
            type Permissions = (#(#perms,)*);
        }

        #[allow(warnings, clippy::all)]
        const _: () = { #(#asserts)* };

        #register_throttles
        #register_rates
        #register_options
    }
}
