use restflow_auth::AuthUser;

#[derive(Clone, AuthUser)]
enum User {
    Admin,
    Member,
}

fn main() {}
