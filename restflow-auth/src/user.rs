//! The user model: [`AuthUser`], the anonymous user, [`RequestUser`], and the
//! [`UserStore`] that loads users by id or username.

use std::fmt;
use std::future::Future;
use std::hash::Hash;

use crate::error::AuthError;

/// A user model that restflow-auth can authenticate.
///
/// Implement it with `#[derive(AuthUser)]`:
///
/// ```
/// use restflow_auth::AuthUser;
///
/// #[derive(Clone, Debug, AuthUser)]
/// struct User {
///     #[auth_user(id)]            id: i64,
///     #[auth_user(username)]      username: String,
///     #[auth_user(password_hash)] password: String,
///     #[auth_user(is_active)]     is_active: bool,
///     #[auth_user(is_staff)]      is_staff: bool,
/// }
///
/// let u = User { id: 7, username: "alice".into(), password: String::new(), is_active: true, is_staff: false };
/// assert_eq!(*u.id(), 7);
/// assert!(!u.is_superuser());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a restflow-auth user model",
    label = "this type does not implement `AuthUser`",
    note = "add `#[derive(AuthUser)]` to `{Self}` and mark its fields with `#[auth_user(id)]`, `#[auth_user(username)]`, `#[auth_user(password_hash)]`, `#[auth_user(is_active)]` and `#[auth_user(is_staff)]`"
)]
pub trait AuthUser: Clone + Send + Sync + 'static {
    /// The primary key type (`i64`, `u64`, `String` or `uuid::Uuid`).
    type Id: UserId;

    /// The primary key.
    fn id(&self) -> &Self::Id;
    /// The login name.
    fn username(&self) -> &str;
    /// The stored password hash (PHC string or Django's format).
    fn password_hash(&self) -> &str;
    /// Inactive users are always rejected by every authenticator.
    fn is_active(&self) -> bool;
    /// Staff users pass `IsAdminUser`.
    fn is_staff(&self) -> bool;
    /// Superusers (informational; permissions may use it).
    fn is_superuser(&self) -> bool {
        false
    }
}

/// A primary key type usable as a user id.
///
/// Conversions to and from JSON are those of the wire formats (JWT claims):
/// integers also accept decimal-digit strings, as djangorestframework-simplejwt
/// writes `"1"`; booleans and floats are never ids.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a user id",
    label = "use `i64`, `u64`, `String` or `uuid::Uuid` (feature `uuid`) here",
    note = "user ids must implement `restflow_auth::UserId`"
)]
pub trait UserId: Clone + Eq + Hash + fmt::Debug + fmt::Display + Send + Sync + 'static {
    /// The id as a JSON value.
    fn to_json(&self) -> serde_json::Value;
    /// Reads an id from a JSON value; `None` when it cannot name a user.
    fn from_json(value: &serde_json::Value) -> Option<Self>;
    /// Reads an id from text (a path segment, a session entry).
    fn parse_str(s: &str) -> Option<Self>;
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

macro_rules! int_id {
    ($($t:ty => $as:ident),*) => {$(
        impl UserId for $t {
            fn to_json(&self) -> serde_json::Value {
                serde_json::Value::from(*self)
            }
            fn from_json(value: &serde_json::Value) -> Option<Self> {
                match value {
                    serde_json::Value::Number(n) => n.$as(),
                    serde_json::Value::String(s) => Self::parse_str(s),
                    _ => None,
                }
            }
            fn parse_str(s: &str) -> Option<Self> {
                let digits = s.strip_prefix('-').unwrap_or(s);
                if all_digits(digits) { s.parse().ok() } else { None }
            }
        }
    )*};
}
int_id!(i64 => as_i64, u64 => as_u64);

impl UserId for String {
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(self.clone())
    }
    fn from_json(value: &serde_json::Value) -> Option<Self> {
        value.as_str().map(str::to_owned)
    }
    fn parse_str(s: &str) -> Option<Self> {
        Some(s.to_owned())
    }
}

#[cfg(feature = "uuid")]
#[cfg_attr(docsrs, doc(cfg(feature = "uuid")))]
impl UserId for uuid::Uuid {
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(self.hyphenated().to_string())
    }
    fn from_json(value: &serde_json::Value) -> Option<Self> {
        value.as_str().and_then(<Self as UserId>::parse_str)
    }
    fn parse_str(s: &str) -> Option<Self> {
        uuid::Uuid::try_parse(s).ok()
    }
}

/// One user as a store reads it (a SQL row, say); the user model is built
/// from it with `From<UserRecord<Id>>`, which `#[derive(AuthUser)]`
/// generates when every field of the struct has a role.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord<I> {
    /// The primary key.
    pub id: I,
    /// The login name.
    pub username: String,
    /// The password hash (Django's format).
    pub password: String,
    /// `is_active`.
    pub is_active: bool,
    /// `is_staff`.
    pub is_staff: bool,
    /// `is_superuser` (`false` when the table has no such column).
    pub is_superuser: bool,
}

impl<I: fmt::Debug> fmt::Debug for UserRecord<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The password hash is a secret: not printed.
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("is_active", &self.is_active)
            .field("is_staff", &self.is_staff)
            .field("is_superuser", &self.is_superuser)
            .finish_non_exhaustive()
    }
}

/// The user of a request: authenticated, or Django's `AnonymousUser`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestUser<U> {
    /// An authenticator recognised the request.
    Authenticated(U),
    /// No authenticator did (DRF's `AnonymousUser`).
    Anonymous,
}

impl<U: AuthUser> RequestUser<U> {
    /// DRF's `is_authenticated`.
    pub fn is_authenticated(&self) -> bool {
        matches!(self, RequestUser::Authenticated(_))
    }
    /// DRF's `is_staff` (false for the anonymous user).
    pub fn is_staff(&self) -> bool {
        matches!(self, RequestUser::Authenticated(u) if u.is_staff())
    }
    /// DRF's `is_superuser` (false for the anonymous user).
    pub fn is_superuser(&self) -> bool {
        matches!(self, RequestUser::Authenticated(u) if u.is_superuser())
    }
    /// The user, if authenticated.
    pub fn user(&self) -> Option<&U> {
        match self {
            RequestUser::Authenticated(u) => Some(u),
            RequestUser::Anonymous => None,
        }
    }
    /// The username, `""` for the anonymous user (as Django's).
    pub fn username(&self) -> &str {
        self.user().map_or("", AuthUser::username)
    }
}

/// Where users come from. Every lookup has an async and a blocking form with
/// the same results; `Ok(None)` means no such row, `Err` means the store
/// could not answer (the request then fails closed with 503).
///
/// The blocking forms must not be called from inside an async runtime's
/// worker thread when they block on I/O.
pub trait UserStore<U: AuthUser>: Send + Sync + 'static {
    /// The user with this primary key.
    fn find_by_id(&self, id: &U::Id) -> impl Future<Output = StoreResult<Option<U>>> + Send;
    /// The user with this username (exact, case-sensitive).
    fn find_by_username(
        &self,
        username: &str,
    ) -> impl Future<Output = StoreResult<Option<U>>> + Send;
    /// Blocking twin of [`find_by_id`](UserStore::find_by_id).
    fn find_by_id_blocking(&self, id: &U::Id) -> StoreResult<Option<U>>;
    /// Blocking twin of [`find_by_username`](UserStore::find_by_username).
    fn find_by_username_blocking(&self, username: &str) -> StoreResult<Option<U>>;

    /// Creates (or returns) a user with this username and no usable
    /// password, as Django's `RemoteUserBackend` does for unknown remote
    /// users. `Ok(None)` when the store does not create users (the default).
    fn create_remote_user(
        &self,
        username: &str,
    ) -> impl Future<Output = StoreResult<Option<U>>> + Send {
        let _ = username;
        std::future::ready(Ok(None))
    }

    /// Blocking twin of [`create_remote_user`](UserStore::create_remote_user).
    fn create_remote_user_blocking(&self, username: &str) -> StoreResult<Option<U>> {
        let _ = username;
        Ok(None)
    }

    /// Replaces the stored password hash of the user `id` with `new` if
    /// it is still `old` (a rehash on login, `password.rehash_on_login`:
    /// a password set meanwhile, by Django for one, is never overwritten
    /// with a hash of the old password). `Ok(true)` when replaced;
    /// `Ok(false)` when it had changed, or the store does not write
    /// passwords (the default).
    fn set_password_hash(
        &self,
        id: &U::Id,
        old: &str,
        new: &str,
    ) -> impl Future<Output = StoreResult<bool>> + Send {
        let _ = (id, old, new);
        std::future::ready(Ok(false))
    }

    /// Blocking twin of [`set_password_hash`](UserStore::set_password_hash).
    fn set_password_hash_blocking(&self, id: &U::Id, old: &str, new: &str) -> StoreResult<bool> {
        let _ = (id, old, new);
        Ok(false)
    }

    /// Whether the blocking calls answer from this process's memory and
    /// never wait (the memory store): the async path then makes them
    /// directly, without a boxed future per call. `false` (the default)
    /// for a store that does I/O, where a blocking call would stall the
    /// runtime.
    fn answers_from_memory(&self) -> bool {
        false
    }

    /// Where this store's changes are told, so that each process may keep
    /// user rows in memory ([`invalidation`](crate::invalidation)); `None`
    /// (the default): every request reads the store. The SQL stores have
    /// one.
    fn feed(&self) -> Option<crate::invalidation::Feed> {
        None
    }
}

/// A store's answer: `Err` is an [`AuthError`] (usually 503 from
/// [`AuthError::unavailable`]).
pub type StoreResult<T> = Result<T, AuthError>;

#[cfg(feature = "memory")]
pub use memory::MemoryUserStore;

#[cfg(feature = "memory")]
mod memory {
    use std::collections::HashMap;
    use std::sync::{Arc, RwLock};

    use super::{AuthUser, StoreResult, UserStore};

    /// An in-memory [`UserStore`], for tests, examples and single-process
    /// services. Cloning shares the same users.
    ///
    /// ```
    /// # use restflow_auth::{AuthUser, MemoryUserStore, UserStore};
    /// # #[derive(Clone, Debug, AuthUser)]
    /// # struct User { #[auth_user(id)] id: i64, #[auth_user(username)] name: String,
    /// #   #[auth_user(password_hash)] pw: String, #[auth_user(is_active)] active: bool,
    /// #   #[auth_user(is_staff)] staff: bool }
    /// let store = MemoryUserStore::new();
    /// store.insert(User { id: 1, name: "alice".into(), pw: String::new(), active: true, staff: false });
    /// assert_eq!(store.find_by_username_blocking("alice").unwrap().unwrap().id, 1);
    /// assert!(store.find_by_id_blocking(&2).unwrap().is_none());
    /// ```
    pub struct MemoryUserStore<U: AuthUser> {
        users: Arc<RwLock<HashMap<U::Id, U>>>,
        factory: Option<Factory<U>>,
    }

    type Factory<U> = Arc<dyn Fn(&str) -> U + Send + Sync>;

    impl<U: AuthUser> Clone for MemoryUserStore<U> {
        fn clone(&self) -> Self {
            MemoryUserStore {
                users: Arc::clone(&self.users),
                factory: self.factory.clone(),
            }
        }
    }

    impl<U: AuthUser> Default for MemoryUserStore<U> {
        fn default() -> Self {
            MemoryUserStore {
                users: Arc::default(),
                factory: None,
            }
        }
    }

    impl<U: AuthUser> std::fmt::Debug for MemoryUserStore<U> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            // Users carry password hashes: print only the count.
            f.debug_struct("MemoryUserStore")
                .field("users", &self.len())
                .finish()
        }
    }

    impl<U: AuthUser> MemoryUserStore<U> {
        /// An empty store.
        pub fn new() -> Self {
            Self::default()
        }
        /// Lets the store create users for unknown remote users (the
        /// function makes a user from a username; it must set no usable
        /// password).
        pub fn with_user_factory(
            mut self,
            make: impl Fn(&str) -> U + Send + Sync + 'static,
        ) -> Self {
            self.factory = Some(Arc::new(make));
            self
        }

        /// Adds or replaces a user (by id).
        pub fn insert(&self, user: U) {
            self.write().insert(user.id().clone(), user);
        }
        /// Removes a user; returns it if it was there.
        pub fn remove(&self, id: &U::Id) -> Option<U> {
            self.write().remove(id)
        }
        /// How many users the store holds.
        pub fn len(&self) -> usize {
            self.read().len()
        }
        /// Whether the store is empty.
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }
        fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<U::Id, U>> {
            self.users
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }
        fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<U::Id, U>> {
            self.users
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }
    }

    impl<U: AuthUser> UserStore<U> for MemoryUserStore<U> {
        fn answers_from_memory(&self) -> bool {
            true
        }
        async fn find_by_id(&self, id: &U::Id) -> StoreResult<Option<U>> {
            self.find_by_id_blocking(id)
        }
        async fn find_by_username(&self, username: &str) -> StoreResult<Option<U>> {
            self.find_by_username_blocking(username)
        }
        fn find_by_id_blocking(&self, id: &U::Id) -> StoreResult<Option<U>> {
            Ok(self.read().get(id).cloned())
        }
        fn find_by_username_blocking(&self, username: &str) -> StoreResult<Option<U>> {
            Ok(self
                .read()
                .values()
                .find(|u| u.username() == username)
                .cloned())
        }
        async fn create_remote_user(&self, username: &str) -> StoreResult<Option<U>> {
            UserStore::create_remote_user_blocking(self, username)
        }
        fn create_remote_user_blocking(&self, username: &str) -> StoreResult<Option<U>> {
            let Some(make) = &self.factory else {
                return Ok(None);
            };
            let mut users = self.write();
            if let Some(existing) = users.values().find(|u| u.username() == username) {
                return Ok(Some(existing.clone()));
            }
            let user = make(username);
            users.insert(user.id().clone(), user.clone());
            Ok(Some(user))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::UserId;
    use serde_json::json;

    #[test]
    fn integer_ids_accept_numbers_and_digit_strings_only() {
        assert_eq!(i64::from_json(&json!(7)), Some(7));
        assert_eq!(i64::from_json(&json!("7")), Some(7));
        assert_eq!(i64::from_json(&json!("-7")), Some(-7));
        assert_eq!(u64::from_json(&json!(-7)), None);
        for bad in [
            json!(true),
            json!(1.0),
            json!("7.0"),
            json!(" 7"),
            json!("+7"),
            json!([1]),
            json!(null),
        ] {
            assert_eq!(i64::from_json(&bad), None, "{bad}");
        }
        assert_eq!(String::from_json(&json!("alice")), Some("alice".into()));
        assert_eq!(String::from_json(&json!(1)), None);
        assert_eq!(7i64.to_json(), json!(7));
    }

    #[cfg(feature = "uuid")]
    #[test]
    fn uuid_ids() {
        let u = uuid::Uuid::from_u128(0x1234);
        assert_eq!(uuid::Uuid::from_json(&u.to_json()), Some(u));
        assert_eq!(uuid::Uuid::from_json(&json!("not-a-uuid")), None);
    }
}
