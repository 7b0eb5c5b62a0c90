use restflow_auth::prelude::*;

#[derive(Clone, AuthUser)]
struct User {
    #[auth_user(id)] id: i64,
    #[auth_user(username)] username: String,
    #[auth_user(password_hash)] password: String,
    #[auth_user(is_active)] is_active: bool,
    #[auth_user(is_staff)] is_staff: bool,
}

#[derive(Default)]
struct Header;

#[restflow_auth::authenticator]
impl Authenticator<User> for Header {
    async fn authenticate(&self, _: &Request<'_>, _: &Context<User>) -> Outcome<User> {
        Ok(None)
    }
}

restflow_auth::config! {
    user: User,
    authentication: [Header],
    check_routes: "no",
}

fn main() {}
