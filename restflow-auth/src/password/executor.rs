//! The bounded executor every password check and hash runs on.
//!
//! A password hash is built to be expensive: Argon2id with the default
//! parameters holds 19 MiB for tens of milliseconds, Django's Argon2 100
//! MiB. Run on an unbounded pool, a flood of wrong passwords becomes a
//! flood of threads and memory. Here a fixed number of workers
//! (`password.max_concurrent`, default: the number of CPUs) each keep one
//! Argon2 working area and reuse it; at most `password.max_queued` checks
//! wait for a worker, and the next one is answered at once with 503 and
//! `Retry-After` instead of queueing. A worker idle for a second gives its
//! memory back. Requests that need no password never touch this pool.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::formats::{self, Scratch};
use super::{Hasher, PasswordSettings};
use crate::error::{AuthError, Rejection};

type Job = Box<dyn FnOnce(&mut Scratch) + Send>;

/// How long a worker keeps its memory without work.
const IDLE: Duration = Duration::from_secs(1);

struct Inner {
    tx: SyncSender<Job>,
    settings: PasswordSettings,
    /// The hash the dummy verification runs against (made on first need,
    /// with the configured hasher, so it costs what a real one costs).
    dummy: OnceLock<String>,
    cap_blocks: usize,
}

/// The password executor of an [`Auth`](crate::Auth) (`ctx.passwords()`):
/// verification and hashing, bounded, with async and blocking forms that
/// share one pool.
///
/// ```
/// use restflow_auth::password::{PasswordSettings, Passwords};
///
/// let passwords = Passwords::new(&PasswordSettings::default());
/// let hash = passwords.hash_blocking("correct horse").unwrap();
/// assert!(passwords.verify_blocking("correct horse", Some(&hash)).unwrap());
/// assert!(!passwords.verify_blocking("wrong", Some(&hash)).unwrap());
/// // No user: the same work against a dummy hash, and never a match.
/// assert!(!passwords.verify_blocking("correct horse", None).unwrap());
/// ```
#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

fn worker(rx: Arc<Mutex<Receiver<Job>>>, low_priority: bool) {
    if low_priority {
        // Niceness 10: password work yields the CPU to the requests that
        // need none (the crate maps its 0..=99 scale onto niceness 19..-20).
        let ten = thread_priority::ThreadPriorityValue::try_from(22u8).expect("in range");
        if let Err(e) = thread_priority::set_current_thread_priority(
            thread_priority::ThreadPriority::Crossplatform(ten),
        ) {
            tracing::debug!(error = ?e, "restflow-auth: could not lower a password worker's priority");
        }
    }
    let mut scratch = Scratch::default();
    loop {
        let next = {
            let rx = rx.lock().unwrap_or_else(|e| e.into_inner());
            match rx.recv_timeout(IDLE) {
                Ok(job) => Ok(job),
                Err(RecvTimeoutError::Timeout) => Err(true),
                Err(RecvTimeoutError::Disconnected) => Err(false),
            }
        };
        match next {
            Ok(job) => job(&mut scratch),
            // Idle: give the memory back, then wait without a timeout.
            Err(true) => {
                scratch.release();
                let job = {
                    let rx = rx.lock().unwrap_or_else(|e| e.into_inner());
                    rx.recv()
                };
                match job {
                    Ok(job) => job(&mut scratch),
                    Err(_) => return,
                }
            }
            Err(false) => return,
        }
    }
}

fn busy() -> AuthError {
    AuthError::new(Rejection::PasswordBusy).with_retry_after(1)
}

impl Passwords {
    /// Starts the workers (validate the settings first: `Settings::validate`).
    pub fn new(settings: &PasswordSettings) -> Self {
        let (tx, rx) = mpsc::sync_channel::<Job>(settings.max_queued);
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..settings.workers() {
            let rx = Arc::clone(&rx);
            let low = settings.low_priority;
            std::thread::Builder::new()
                .name(format!("restflow-password-{n}"))
                .spawn(move || worker(rx, low))
                .expect("spawn a password worker thread");
        }
        Passwords {
            inner: Arc::new(Inner {
                tx,
                settings: settings.clone(),
                dummy: OnceLock::new(),
                cap_blocks: usize::try_from(settings.max_memory_kib).unwrap_or(usize::MAX),
            }),
        }
    }

    /// The process-wide executor with default settings, which the free
    /// functions of [`password`](crate::password) use.
    pub fn global() -> &'static Passwords {
        static GLOBAL: OnceLock<Passwords> = OnceLock::new();
        GLOBAL.get_or_init(|| Passwords::new(&PasswordSettings::default()))
    }

    /// The settings in force.
    pub fn settings(&self) -> &PasswordSettings {
        &self.inner.settings
    }

    /// Queues `f`, or refuses at once when the queue is full.
    fn submit(
        &self,
        f: impl FnOnce(&Inner, &mut Scratch) + Send + 'static,
    ) -> Result<(), AuthError> {
        let inner = Arc::clone(&self.inner);
        let job: Job = Box::new(move |scratch| f(&inner, scratch));
        match self.inner.tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(busy()),
            Err(TrySendError::Disconnected(_)) => {
                Err(AuthError::internal("the password workers have stopped"))
            }
        }
    }

    /// Whether `password` matches `stored`; with `None` (no such user) or
    /// an unusable password the same work runs against a dummy hash of
    /// the configured hasher and the answer is `false`. 503 with
    /// `Retry-After` when every worker is busy and the queue is full.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, AuthError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(move |inner, scratch| {
            // The request may have gone while it waited: skip the work.
            if !tx.is_closed() {
                let _ = tx.send(check(inner, &password, stored.as_deref(), scratch));
            }
        })?;
        rx.await
            .map_err(|_| AuthError::internal("a password worker stopped"))
    }

    /// Blocking twin of [`verify`](Passwords::verify).
    pub fn verify_blocking(&self, password: &str, stored: Option<&str>) -> Result<bool, AuthError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let (password, stored) = (password.to_owned(), stored.map(str::to_owned));
        self.submit(move |inner, scratch| {
            let _ = tx.send(check(inner, &password, stored.as_deref(), scratch));
        })?;
        rx.recv()
            .map_err(|_| AuthError::internal("a password worker stopped"))
    }

    /// Hashes `password` with the configured hasher (`password.hasher`).
    pub async fn hash(&self, password: String) -> Result<String, AuthError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(move |inner, scratch| {
            let _ = tx.send(make(inner, &password, scratch));
        })?;
        rx.await
            .map_err(|_| AuthError::internal("a password worker stopped"))?
            .map_err(AuthError::internal)
    }

    /// Blocking twin of [`hash`](Passwords::hash).
    pub fn hash_blocking(&self, password: &str) -> Result<String, AuthError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let password = password.to_owned();
        self.submit(move |inner, scratch| {
            let _ = tx.send(make(inner, &password, scratch));
        })?;
        rx.recv()
            .map_err(|_| AuthError::internal("a password worker stopped"))?
            .map_err(AuthError::internal)
    }
}

fn make(inner: &Inner, password: &str, scratch: &mut Scratch) -> Result<String, String> {
    let s = &inner.settings;
    match s.hasher {
        Hasher::Argon2id => formats::argon2_phc(
            password,
            &formats::RESTFLOW_ARGON2,
            scratch,
            inner.cap_blocks,
        ),
        Hasher::DjangoArgon2 => {
            formats::argon2_phc(password, &formats::DJANGO_ARGON2, scratch, inner.cap_blocks)
                .map(|phc| format!("argon2{phc}"))
        }
        Hasher::Pbkdf2Sha256 => Ok(formats::pbkdf2_sha256(
            password,
            &formats::random_salt(22),
            s.iterations,
        )),
    }
}

fn check(inner: &Inner, password: &str, stored: Option<&str>, scratch: &mut Scratch) -> bool {
    match stored.filter(|s| formats::known(s)) {
        Some(s) => formats::verify(password, s, scratch, inner.cap_blocks),
        None => {
            let dummy = inner.dummy.get_or_init(|| {
                make(inner, &formats::random_salt(16), scratch).unwrap_or_default()
            });
            let _ = formats::verify(password, dummy, scratch, inner.cap_blocks);
            false
        }
    }
}
