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
    permissions: [IsAuthenticated],
    throttles: [AnonRateThrottle],
    throttle_rates: { anon: "100/day", user: "5/min", uploads: "10/10m" },
}

#[authenticate]
async fn defaults(user: CurrentUser<User>) -> String { user.username.clone() }

// Generated code must not pick up the caller's names.
#[allow(dead_code)]
struct Option;
#[allow(dead_code)]
struct Result;

#[authenticate(Header)]
#[permissions(IsAuthenticatedOrReadOnly | IsAdminUser)]
async fn composed(_: MaybeUser<User>) {}

#[authenticate(none)]
#[permissions(AllowAny)]
async fn open() {}

#[restflow_auth::permissions(AllowAny)]
async fn qualified(_: MaybeUser<User>) {}

fn main() {
    let _ = (defaults, composed, open, qualified, throttled, scoped, unthrottled, default_throttles);
}

#[authenticate(Header)]
#[throttle(AnonRateThrottle, UserRateThrottle)]
#[permissions(AllowAny)]
async fn throttled(_: MaybeUser<User>) {}

#[throttle(ScopedRateThrottle, scope = "uploads")]
async fn scoped(_: MaybeUser<User>) {}

#[throttle(none)]
#[authenticate(Header)]
async fn unthrottled(_: MaybeUser<User>) {}

#[throttle]
async fn default_throttles(_: MaybeUser<User>) {}
