//! `#[derive(AuthUser)]`: parse the struct and its `#[auth_user]`
//! attributes ([`attr`]), check the roles, then generate ([`expand`]).

mod attr;
mod expand;

use proc_macro2::TokenStream;

use crate::ctxt::Ctxt;

pub(crate) fn expand(input: &syn::DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let model = attr::Model::from_ast(&cx, input);
    let errors = cx.check().err();
    match errors {
        None => expand::impl_auth_user(input, &model, false),
        Some(e) => {
            // Keep the type usable, so that only the real errors show.
            let mut out = expand::impl_auth_user(input, &model, true);
            out.extend(e.into_compile_error());
            out
        }
    }
}
