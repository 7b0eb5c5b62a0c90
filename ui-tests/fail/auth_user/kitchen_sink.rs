use restflow_auth::AuthUser;

// Three mistakes, three errors, in one compile.
#[derive(Clone, AuthUser)]
struct User {
    #[auth_user(id)] id: i64,
    #[auth_user(name)] username: String,
    #[auth_user(password_hash = "argon2")] password: String,
    #[auth_user(is_active)] is_active: bool,
    #[auth_user(is_active)] enabled: bool,
    #[auth_user(is_staff)] is_staff: bool,
}

fn main() {}
