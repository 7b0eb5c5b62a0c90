//! Procedural macros of [restflow-auth](https://docs.rs/restflow-auth).
//!
//! An implementation detail: depend on `restflow-auth`, which re-exports
//! these macros and documents them. Set `RESTFLOW_AUTH_MACROS_DEBUG=1` at
//! build time to print every expansion to stderr.

use proc_macro::TokenStream;

mod auth_user;
mod authenticator;
mod config;
mod ctxt;
mod handler;
mod openapi;
mod paths;
mod symbol;

fn debug(name: &str, out: proc_macro2::TokenStream) -> TokenStream {
    if std::env::var_os("RESTFLOW_AUTH_MACROS_DEBUG").is_some() {
        eprintln!("---- restflow-auth: {name} ----\n{out}\n");
    }
    out.into()
}

/// Implements `restflow_auth::AuthUser` from `#[auth_user(...)]` field
/// attributes. See `restflow_auth::AuthUser`.
#[proc_macro_derive(AuthUser, attributes(auth_user))]
pub fn derive_auth_user(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    debug("derive(AuthUser)", auth_user::expand(&input))
}

/// Declares a handler's chain of authenticators. See
/// `restflow_auth::authenticate`.
#[proc_macro_attribute]
pub fn authenticate(args: TokenStream, item: TokenStream) -> TokenStream {
    debug(
        "#[authenticate]",
        handler::expand(handler::Origin::Authenticate, args.into(), item.into()),
    )
}

/// Declares a handler's throttles. See `restflow_auth::throttle`.
#[proc_macro_attribute]
pub fn throttle(args: TokenStream, item: TokenStream) -> TokenStream {
    debug(
        "#[throttle]",
        handler::expand(handler::Origin::Throttle, args.into(), item.into()),
    )
}

/// Declares a handler's permissions. See `restflow_auth::permissions`.
#[proc_macro_attribute]
pub fn permissions(args: TokenStream, item: TokenStream) -> TokenStream {
    debug(
        "#[permissions]",
        handler::expand(handler::Origin::Permissions, args.into(), item.into()),
    )
}

/// Generates the blocking twin of an async `authenticate`. See
/// `restflow_auth::authenticator`.
#[proc_macro_attribute]
pub fn authenticator(args: TokenStream, item: TokenStream) -> TokenStream {
    debug(
        "#[authenticator]",
        authenticator::expand(args.into(), item.into()),
    )
}

/// Sets the project defaults. See `restflow_auth::config`.
#[proc_macro]
pub fn config(input: TokenStream) -> TokenStream {
    debug("config!", config::expand(input.into()))
}

/// `restflow_auth::openapi::routes!(auth, handler, ...)`: `utoipa_axum::routes!`
/// with each operation's security requirements and rejections.
#[proc_macro]
pub fn openapi_routes(input: TokenStream) -> TokenStream {
    openapi::expand(input.into()).into()
}
