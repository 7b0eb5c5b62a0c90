use restflow_auth::AuthUser;

#[derive(Clone, AuthUser)]
struct User {
    #[auth_user(id)] id: i64,
    #[auth_user(username)] username: String,
    #[auth_user(password_hash)] password: String,
}

fn main() {}
