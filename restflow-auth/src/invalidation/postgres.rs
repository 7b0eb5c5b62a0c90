//! The PostgreSQL feed: `LISTEN restflow_invalidation` on a connection of
//! its own, with a heartbeat through the database.
//!
//! sqlx's `PgListener` reconnects silently and loses what was sent
//! meanwhile; here every loss (an error, `try_recv` answering `None`, a
//! heartbeat that does not come back in time) drops the listener, drops
//! every cached answer, and connects afresh. The heartbeat is a
//! `pg_notify` on a channel of this process's own (so that instances do
//! not hear each other's), sent on the listening connection itself: its
//! return proves the connection works both ways and, a session's
//! notifications on all its channels being delivered in commit order, that
//! every change committed before it was heard.

use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

use super::CHANNEL;
use super::cache::Channel;

/// The arguments of a table's `restflow_invalidate` trigger, as
/// `encode(tgargs, 'escape')` spells them (each followed by `\000`).
const TRIGGER: &str = "SELECT encode(tgargs, 'escape') FROM pg_trigger \
     WHERE tgrelid = to_regclass($1) AND tgname = 'restflow_invalidate' AND tgenabled = 'A'";

/// One connection's life: returns why it ended.
pub(super) async fn listen(channel: &Channel, options: &PgConnectOptions) -> Result<(), String> {
    let limit = channel.patience();
    // A pool of one, for PgListener; no reconnect is left to it.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy_with(options.clone());
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| format!("no randomness: {e}"))?;
    let own = format!("restflow_ping_{:016x}", u64::from_le_bytes(nonce));
    let mut listener = tokio::time::timeout(limit, async {
        let mut l = PgListener::connect_with(&pool).await?;
        l.eager_reconnect(false);
        l.listen_all([CHANNEL, own.as_str()]).await?;
        Ok::<_, sqlx::Error>(l)
    })
    .await
    .map_err(|_| "connecting timed out".to_owned())?
    .map_err(|e| format!("connecting: {e}"))?;
    channel.recheck();
    let mut checked = Instant::now();
    let mut first = true;
    let mut number = 0u64;
    loop {
        number += 1;
        let ping = format!("ping:{number}");
        let sent = Instant::now();
        tokio::time::timeout(
            limit,
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(&own)
                .bind(&ping)
                .execute(&mut listener),
        )
        .await
        .map_err(|_| "the heartbeat timed out".to_owned())?
        .map_err(|e| format!("the heartbeat: {e}"))?;
        // Read until our ping comes back; everything before it is applied.
        let deadline = sent + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let n = tokio::time::timeout(left, listener.try_recv())
                .await
                .map_err(|_| "the heartbeat did not come back".to_owned())?
                .map_err(|e| format!("receiving: {e}"))?
                .ok_or_else(|| "the connection was lost".to_owned())?;
            if n.channel() == own {
                if n.payload() == ping {
                    break;
                }
                continue;
            }
            channel.message(n.payload());
        }
        // Slots new since the last heartbeat (or since the connect) serve
        // once their table's trigger is found; every second each trigger
        // is looked for again (one dropped or disabled since stops its
        // slot and drops what it held; one made by a later migrate starts
        // it).
        let all = checked.elapsed() >= Duration::from_secs(1);
        if all {
            checked = Instant::now();
        }
        for slot in channel.unchecked(all) {
            let Some(w) = slot.watch() else { continue };
            let args: Option<String> = tokio::time::timeout(
                limit,
                sqlx::query_scalar(TRIGGER)
                    .bind(&w.table)
                    .fetch_optional(&mut listener),
            )
            .await
            .map_err(|_| "checking a trigger timed out".to_owned())?
            .map_err(|e| format!("checking a trigger: {e}"))?;
            slot.arm(channel, args.as_deref() == Some(w.args.as_str()));
        }
        channel.vouch(sent, first);
        first = false;
        // Between heartbeats, apply what comes.
        let next = sent + channel.heartbeat();
        loop {
            let left = next.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match tokio::time::timeout(left, listener.try_recv()).await {
                Err(_) => break,
                Ok(Ok(Some(n))) if n.channel() == own => {}
                Ok(Ok(Some(n))) => channel.message(n.payload()),
                Ok(Ok(None)) => return Err("the connection was lost".into()),
                Ok(Err(e)) => return Err(format!("receiving: {e}")),
            }
        }
    }
}
