//! The model of a `#[derive(AuthUser)]` input: which field plays which
//! role, read without stopping at the first mistake.

use crate::ctxt::Ctxt;
use crate::symbol::{AUTH_USER, ROLE_HINTS, ROLES};

/// A field and the attribute that gave it its role.
pub(crate) struct RoleField<'a> {
    pub(crate) member: syn::Member,
    pub(crate) ty: &'a syn::Type,
}

#[derive(Default)]
pub(crate) struct Model<'a> {
    pub(crate) krate: Option<syn::Path>,
    /// Indexed like [`ROLES`].
    pub(crate) roles: [Option<RoleField<'a>>; 6],
}

impl<'a> Model<'a> {
    pub(crate) fn get(&self, role: &str) -> Option<&RoleField<'a>> {
        let i = ROLES.iter().position(|r| *r == role).expect("known role");
        self.roles[i].as_ref()
    }

    pub(crate) fn from_ast(cx: &Ctxt, input: &'a syn::DeriveInput) -> Model<'a> {
        let mut model = Model::default();
        for attr in input.attrs.iter().filter(|a| a.path().is_ident(AUTH_USER)) {
            let r = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("crate") {
                    let path: syn::Path = meta.value()?.parse()?;
                    if model.krate.is_some() {
                        cx.error_spanned_by(&meta.path, "duplicate `crate` in `#[auth_user(...)]`");
                    }
                    model.krate = Some(path);
                } else {
                    cx.error_spanned_by(
                        &meta.path,
                        "unknown container key; `#[auth_user(...)]` on the struct takes only `crate = path`; put roles such as `#[auth_user(id)]` on fields",
                    );
                }
                Ok(())
            });
            if let Err(e) = r {
                cx.syn_error(e);
            }
        }

        let fields = match &input.data {
            syn::Data::Struct(s) => match &s.fields {
                syn::Fields::Named(named) => named,
                syn::Fields::Unnamed(f) => {
                    cx.error_spanned_by(
                        f,
                        "`#[derive(AuthUser)]` needs named fields: a tuple struct has no field names to mark with `#[auth_user(...)]`",
                    );
                    return model;
                }
                syn::Fields::Unit => {
                    cx.error_spanned_by(
                        &input.ident,
                        "`#[derive(AuthUser)]` needs a struct with named fields (id, username, password hash, is_active, is_staff)",
                    );
                    return model;
                }
            },
            syn::Data::Enum(e) => {
                cx.error_spanned_by(
                    e.enum_token,
                    "`#[derive(AuthUser)]` works on structs only: a user model is one row with named fields",
                );
                return model;
            }
            syn::Data::Union(u) => {
                cx.error_spanned_by(
                    u.union_token,
                    "`#[derive(AuthUser)]` works on structs only, not unions",
                );
                return model;
            }
        };

        for field in &fields.named {
            for attr in field.attrs.iter().filter(|a| a.path().is_ident(AUTH_USER)) {
                let r = attr.parse_nested_meta(|meta| {
                    let Some(ident) = meta.path.get_ident() else {
                        cx.error_spanned_by(&meta.path, format!("expected one of {}", ROLES.join(", ")));
                        return Ok(());
                    };
                    let key = ident.to_string();
                    let Some(i) = ROLES.iter().position(|r| *r == key) else {
                        let hint = ROLE_HINTS
                            .iter()
                            .find(|(w, _)| *w == key)
                            .map(|(_, r)| format!("; did you mean `{r}`?"))
                            .unwrap_or_default();
                        cx.error_spanned_by(
                            ident,
                            format!("unknown `auth_user` role `{key}`{hint} expected one of: {}", ROLES.join(", ")),
                        );
                        return Ok(());
                    };
                    if meta.input.peek(syn::Token![=]) || meta.input.peek(syn::token::Paren) {
                        cx.error_spanned_by(ident, format!("`{key}` takes no value: write `#[auth_user({key})]`"));
                        // Consume the value so parsing can go on.
                        if meta.input.peek(syn::Token![=]) {
                            let _: syn::Expr = meta.value()?.parse()?;
                        } else {
                            let _ = meta.parse_nested_meta(|_| Ok(()));
                        }
                        return Ok(());
                    }
                    if let Some(prev) = &model.roles[i] {
                        let prev_name = match &prev.member {
                            syn::Member::Named(n) => n.to_string(),
                            syn::Member::Unnamed(i) => i.index.to_string(),
                        };
                        cx.error_spanned_by(
                            ident,
                            format!("duplicate `#[auth_user({key})]`: field `{prev_name}` already has it; one field per role"),
                        );
                        return Ok(());
                    }
                    let member = syn::Member::Named(field.ident.clone().expect("named field"));
                    model.roles[i] = Some(RoleField { member, ty: &field.ty });
                    Ok(())
                });
                if let Err(e) = r {
                    cx.syn_error(e);
                }
            }
        }

        for (i, role) in ROLES.iter().enumerate() {
            if *role == "is_superuser" || model.roles[i].is_some() {
                continue;
            }
            cx.error_at(
                input.ident.span(),
                format!(
                    "missing `#[auth_user({role})]`: mark the field that holds the {}",
                    match *role {
                        "id" => "primary key (i64, u64, String or Uuid)",
                        "username" => "login name (String)",
                        "password_hash" => "stored password hash (String)",
                        "is_active" => "active flag (bool)",
                        _ => "staff flag (bool)",
                    }
                ),
            );
        }
        model
    }
}
