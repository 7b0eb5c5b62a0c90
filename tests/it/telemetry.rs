//! The library's metrics and tracing on both paths, recorded by a recorder
//! and a subscriber local to the test's thread.

use std::sync::{Arc, Mutex};

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use restflow_auth::dispatch;
use restflow_auth::prelude::*;

use crate::common::{HeaderUser, User, auth};

type Chain = (HeaderUser,);
type Perms = (IsAuthenticated,);

/// Three requests: alice (found), nobody (anonymous, denied), mallory
/// (unknown: the chain fails). Returns what the recorder saw.
/// A recorded metric: its name, its sorted labels, its value.
type Seen = (String, Vec<(String, String)>, DebugValue);

fn three(path: &str, auth: &Auth<User>) -> Vec<Seen> {
    restflow_auth::telemetry::enable();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        for who in [Some("alice"), None, Some("mallory")] {
            let mut b = http::Request::builder().uri("/");
            if let Some(w) = who {
                b = b.header("x-user", w);
            }
            let (parts, ()) = b.body(()).unwrap().into_parts();
            let req = Request::new(&parts);
            let result = if path == "async" {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                rt.block_on(dispatch::authenticate::<User, Chain, Perms>(
                    &req,
                    auth.context(),
                ))
            } else {
                dispatch::authenticate_blocking::<User, Chain, Perms>(&req, auth.context())
            };
            if let Err(denial) = result {
                // Rendering is where a rejection is counted.
                let _ =
                    restflow_auth::error::Rejected::new(&denial, auth.context().messages(), None);
            }
        }
    });
    let mut seen: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<_> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            (key.name().to_owned(), labels, value)
        })
        .collect();
    seen.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    seen
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn metrics_name_the_scheme_result_store_and_reason_on_both_paths() {
    let auth = auth();
    for path in ["async", "blocking"] {
        let seen = three(path, &auth);
        let find = |name: &str, want: &[(&str, &str)]| {
            seen.iter()
                .find(|(n, l, _)| n == name && *l == labels(want))
                .map(|(_, _, v)| v)
                .unwrap_or_else(|| panic!("{path}: no {name} {want:?} in {seen:#?}"))
        };
        let histogram_len = |v: &DebugValue| match v {
            DebugValue::Histogram(h) => h.len(),
            other => panic!("not a histogram: {other:?}"),
        };
        let duration = "restflow_auth.authenticate.duration";
        for (result, n) in [("success", 1), ("none", 1), ("failure", 1)] {
            let v = find(duration, &[("result", result), ("scheme", "HeaderUser")]);
            assert_eq!(histogram_len(v), n, "{path} {result}");
        }
        // Two lookups by username (alice, mallory), both answered.
        let v = find(
            "restflow_auth.store.duration",
            &[
                ("operation", "find_by_username"),
                ("outcome", "ok"),
                ("store", "users"),
            ],
        );
        assert_eq!(histogram_len(v), 2, "{path}");
        // HeaderUser has a challenge: both denials are 401s.
        for reason in ["not_authenticated", "user_not_found"] {
            let v = find("restflow_auth.challenges", &[("reason", reason)]);
            assert!(
                matches!(v, DebugValue::Counter(1)),
                "{path} {reason}: {v:?}"
            );
        }
        assert!(
            seen.iter().all(|(_, l, _)| l
                .iter()
                .all(|(_, v)| !v.contains("alice") && !v.contains("mallory"))),
            "no user name in a label"
        );
    }
}

/// A writer collecting what the fmt subscriber prints.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One dispatch of alice under a fmt subscriber at `level` that logs span
/// closes: what it wrote.
fn dispatch_logged(level: tracing::Level) -> String {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_max_level(level)
        .with_ansi(false)
        .finish();
    let auth = auth();
    tracing::subscriber::with_default(subscriber, || {
        let (parts, ()) = http::Request::builder()
            .uri("/")
            .header("x-user", "alice")
            .body(())
            .unwrap()
            .into_parts();
        dispatch::authenticate_blocking::<User, Chain, Perms>(
            &Request::new(&parts),
            auth.context(),
        )
        .unwrap();
    });
    String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
}

// One test for both levels: two tests with scoped subscribers of different
// levels would share tracing's per-callsite interest cache in parallel.
#[test]
fn each_dispatch_runs_in_a_debug_span_with_the_user_id() {
    // At `info` (what a service usually logs at) no span is built.
    let text = dispatch_logged(tracing::Level::INFO);
    assert!(!text.contains("restflow_auth.authenticate"), "{text}");
    let text = dispatch_logged(tracing::Level::DEBUG);
    assert!(
        text.contains("restflow_auth.authenticate{enduser.id=1}"),
        "{text}"
    );
    assert!(
        !text.contains("alice"),
        "the username is not a field: {text}"
    );
}
