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

    let from_record = from_record(input, model, stub, &private);

    quote! {
        #from_record
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

/// `From<UserRecord<Id>>`, so that a store which reads rows (the SQL stores)
/// can build the model: only when every field has a role (the roles' types
/// are exactly the record's) and the struct has no generics. A model with
/// other fields writes its own `From`.
fn from_record(
    input: &syn::DeriveInput,
    model: &Model<'_>,
    stub: bool,
    private: &TokenStream,
) -> TokenStream {
    let syn::Data::Struct(data) = &input.data else {
        return quote!();
    };
    let roles = model.roles.iter().flatten().count();
    if stub || !input.generics.params.is_empty() || data.fields.len() != roles {
        return quote!();
    }
    // The record's types, written plainly; anything else already gets the
    // role's own error, which a second one here would only repeat.
    let is = |role: &str, name: &str| {
        model.get(role).is_none_or(|f| {
            matches!(f.ty, syn::Type::Path(p) if p.qself.is_none()
                && p.path.segments.last().is_some_and(|s| s.ident == name && s.arguments.is_none()))
        })
    };
    let plain = is("username", "String")
        && is("password_hash", "String")
        && ["is_active", "is_staff", "is_superuser"]
            .iter()
            .all(|r| is(r, "bool"));
    if !plain {
        return quote!();
    }
    let ident = &input.ident;
    let field = |role: &str, from: TokenStream| {
        model.get(role).map(|f| {
            let m = &f.member;
            quote!(#m: record.#from)
        })
    };
    let fields = [
        field("id", quote!(id)),
        field("username", quote!(username)),
        field("password_hash", quote!(password)),
        field("is_active", quote!(is_active)),
        field("is_staff", quote!(is_staff)),
        field("is_superuser", quote!(is_superuser)),
    ];
    let fields = fields.iter().flatten();
    quote! {
        #[automatically_derived]
        impl #private::core::convert::From<#private::UserRecord<<#ident as #private::AuthUser>::Id>> for #ident {
            fn from(record: #private::UserRecord<<#ident as #private::AuthUser>::Id>) -> Self {
                #ident { #(#fields),* }
            }
        }
    }
}
