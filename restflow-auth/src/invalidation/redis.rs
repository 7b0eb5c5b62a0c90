//! The Redis feed: `SUBSCRIBE restflow:invalidation` on a connection of its
//! own, with a heartbeat on that connection.
//!
//! The Redis stores publish `<kind>:<key>` in the same `MULTI`/`EXEC` as
//! every write, so a write and its message are one step for Redis. The
//! heartbeat is a `PING` on the subscribed connection: Redis runs commands
//! one at a time and answers on a connection in order, so the answer to a
//! ping sent at `t` comes after every message published before `t`, and
//! its return vouches for every write committed before then. A closed
//! stream, an error or a ping that does not come back in time ends the
//! connection's life: the cache is dropped and the feed connects afresh.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_core::Stream;

use super::REDIS_CHANNEL;
use super::cache::Channel;

/// One connection's life: returns why it ended.
pub(super) async fn listen(channel: &Channel, client: &redis::Client) -> Result<(), String> {
    let limit = channel.patience();
    let mut pubsub = tokio::time::timeout(limit, async {
        let mut p = client.get_async_pubsub().await?;
        p.subscribe(REDIS_CHANNEL).await?;
        Ok::<_, redis::RedisError>(p)
    })
    .await
    .map_err(|_| "connecting timed out".to_owned())?
    .map_err(|e| format!("connecting: {e}"))?;
    let mut first = true;
    loop {
        let sent = Instant::now();
        tokio::time::timeout(limit, pubsub.ping_message::<redis::Value>("restflow"))
            .await
            .map_err(|_| "the heartbeat did not come back".to_owned())?
            .map_err(|e| format!("the heartbeat: {e}"))?;
        // Every message published before the ping is received by now.
        let mut messages = pubsub.on_message();
        let mut stream = Pin::new(&mut messages);
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        loop {
            match stream.as_mut().poll_next(&mut cx) {
                Poll::Ready(Some(m)) => apply(channel, &m),
                Poll::Ready(None) => return Err("the connection was lost".into()),
                Poll::Pending => break,
            }
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
            let got = tokio::time::timeout(
                left,
                std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)),
            )
            .await;
            match got {
                Err(_) => break,
                Ok(Some(m)) => apply(channel, &m),
                Ok(None) => return Err("the connection was lost".into()),
            }
        }
    }
}

fn apply(channel: &Channel, m: &redis::Msg) {
    match m.get_payload::<String>() {
        Ok(payload) => channel.message(&payload),
        // Not ours to read: whatever it named is dropped with the rest.
        Err(_) => channel.flush(),
    }
}
