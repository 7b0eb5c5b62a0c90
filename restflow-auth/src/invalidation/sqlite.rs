//! The SQLite feed: `PRAGMA data_version` read every heartbeat on a
//! connection of its own. It changes when any other connection commits
//! (another process on the file, or another connection of this one), and
//! the process then drops every cached answer; each read that finds it
//! unchanged vouches for what is cached.

use std::time::Instant;

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use super::cache::Channel;

pub(super) async fn watch(channel: &Channel, options: &SqliteConnectOptions) -> Result<(), String> {
    let limit = channel.patience();
    let options = options.clone().create_if_missing(false);
    let mut conn = tokio::time::timeout(limit, SqliteConnection::connect_with(&options))
        .await
        .map_err(|_| "connecting timed out".to_owned())?
        .map_err(|e| format!("connecting: {e}"))?;
    let mut seen: Option<i64> = None;
    loop {
        let sent = Instant::now();
        let (version,): (i64,) = tokio::time::timeout(
            limit,
            sqlx::query_as("PRAGMA data_version").fetch_one(&mut conn),
        )
        .await
        .map_err(|_| "reading data_version timed out".to_owned())?
        .map_err(|e| format!("reading data_version: {e}"))?;
        match seen {
            Some(v) if v == version => channel.vouch(sent, false),
            Some(_) => {
                channel.flush();
                channel.vouch(sent, false);
            }
            None => channel.vouch(sent, true),
        }
        seen = Some(version);
        tokio::time::sleep_until((sent + channel.heartbeat()).into()).await;
    }
}
