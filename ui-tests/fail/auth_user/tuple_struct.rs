use restflow_auth::AuthUser;

#[derive(Clone, AuthUser)]
struct User(i64, String);

fn main() {}
