use restflow_auth::prelude::*;

#[derive(Clone, AuthUser)]
struct User {
    #[auth_user(id)] id: i64,
    #[auth_user(username)] username: String,
    #[auth_user(password_hash)] password: String,
    #[auth_user(is_active)] is_active: bool,
    #[auth_user(is_staff)] is_staff: bool,
}

struct Keys;
impl Keys {
    async fn find(&self, _: &str) -> Option<i64> { None }
}

#[derive(Default)]
struct ApiKey;

#[restflow_auth::authenticator]
impl Authenticator<User> for ApiKey {
    async fn authenticate(&self, _: &Request<'_>, ctx: &Context<User>) -> Outcome<User> {
        let keys = ctx.store::<Keys>().unwrap();
        let _ = keys.find("k").await;
        Ok(None)
    }
}

fn main() {}
