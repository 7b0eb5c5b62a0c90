//! Generates the `AuthUser` impl, with each field's type check spanned on
//! that field's type.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::attr::Model;
use crate::paths::krate;

pub(crate) fn impl_auth_user(
    input: &syn::DeriveInput,
    model: &Model<'_>,
    stub: bool,
) -> TokenStream {
    let krate = krate(model.krate.as_ref());
    let private = quote!(#krate::__private);
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();

    let id_ty = match model.get("id") {
        Some(f) => {
            let ty = f.ty;
            quote_spanned!(ty.span()=> #ty)
        }
        None => quote!(#private::core::primitive::i64),
    };

    let body = |role: &str, tokens: &dyn Fn(&syn::Member, &syn::Type) -> TokenStream| match model
        .get(role)
    {
        Some(f) if !stub => tokens(&f.member, f.ty),
        _ => quote!(#private::core::unreachable!()),
    };

    let id = body("id", &|m, ty| quote_spanned!(ty.span()=> &self.#m));
    let username = body(
        "username",
        &|m, ty| quote_spanned!(ty.span()=> #private::UsernameField::as_str(&self.#m)),
    );
    let password = body(
        "password_hash",
        &|m, ty| quote_spanned!(ty.span()=> #private::PasswordHashField::as_str(&self.#m)),
    );
    let flag = |role: &str| {
        body(
            role,
            &|m, ty| quote_spanned!(ty.span()=> #private::FlagField::get(&self.#m)),
        )
    };
    let is_active = flag("is_active");
    let is_staff = flag("is_staff");
    let is_superuser = match model.get("is_superuser") {
        Some(_) => {
            let b = flag("is_superuser");
            quote!(fn is_superuser(&self) -> bool { #b })
        }
        None => quote!(),
    };

    quote! {
        #[doc(hidden)]
        const _: () = {
        #[automatically_derived]
        #[allow(unreachable_code, clippy::all)]
        impl #impl_generics #private::AuthUser for #ident #ty_generics #where_clause {
            type Id = #id_ty;
            fn id(&self) -> &<Self as #private::AuthUser>::Id { #id }
            fn username(&self) -> &str { #username }
            fn password_hash(&self) -> &str { #password }
            fn is_active(&self) -> bool { #is_active }
            fn is_staff(&self) -> bool { #is_staff }
            #is_superuser
        }
        };
    }
}
