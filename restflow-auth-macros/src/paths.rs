//! The path generated code uses to reach the runtime crate.

use proc_macro2::TokenStream;
use quote::quote;

/// `::restflow_auth`, or the `crate = path` override.
pub(crate) fn krate(overridden: Option<&syn::Path>) -> TokenStream {
    match overridden {
        Some(p) => quote!(#p),
        None => quote!(::restflow_auth),
    }
}
