use restflow_auth::AuthUser;

#[derive(Clone, AuthUser)]
struct User {
    #[auth_user(id)] id: i64,
    #[auth_user(username)] username: u32,
    #[auth_user(password_hash)] password: String,
    #[auth_user(is_active)] is_active: u8,
    #[auth_user(is_staff)] is_staff: bool,
}

fn main() {}
