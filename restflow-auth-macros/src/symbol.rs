//! Keyword names of the macros' grammars.

pub(crate) const AUTH_USER: &str = "auth_user";
pub(crate) const AUTHENTICATE: &str = "authenticate";
pub(crate) const PERMISSIONS: &str = "permissions";
pub(crate) const THROTTLE: &str = "throttle";

/// The roles of `#[auth_user(...)]` field attributes.
pub(crate) const ROLES: &[&str] = &[
    "id",
    "username",
    "password_hash",
    "is_active",
    "is_staff",
    "is_superuser",
];

/// Words users try for a role, and the role they mean.
pub(crate) const ROLE_HINTS: &[(&str, &str)] = &[
    ("pk", "id"),
    ("user_id", "id"),
    ("password", "password_hash"),
    ("hash", "password_hash"),
    ("name", "username"),
    ("login", "username"),
    ("active", "is_active"),
    ("staff", "is_staff"),
    ("admin", "is_staff"),
    ("superuser", "is_superuser"),
];
