use std::sync::Arc;

use tokio::io::AsyncWrite;

use crate::daemon::core::Core;
use crate::protocol::{FrameError, Response, write_frame};
use crate::store::LogFilter;

pub fn handle(core: &Core, limit: usize, filter: &LogFilter) -> Response {
    match core.store.log_tail_matching(limit, filter) {
        Ok(entries) => Response::Log { entries },
        Err(e) => super::internal(e),
    }
}

/// Streams the last `limit` entries, then every new one until the client hangs up or
/// the daemon stops.
pub async fn follow<W: AsyncWrite + Unpin>(
    core: &Arc<Core>,
    limit: usize,
    filter: &LogFilter,
    w: &mut W,
) -> Result<(), FrameError> {
    // Subscribe first so nothing logged between the tail and the stream is missed.
    let mut rx = core.subscribe_log();
    let tail = core.store.log_tail_matching(limit, filter).unwrap_or_default();
    let mut last = tail.last().map(|e| e.seq).unwrap_or(0);
    for entry in tail {
        write_frame(w, &Response::LogEntry { entry }).await?;
    }
    let mut shutdown = core.shutdown.clone();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            entry = rx.recv() => match entry {
                Ok(entry) if entry.seq > last => {
                    last = entry.seq;
                    if filter.matches(&entry) {
                        write_frame(w, &Response::LogEntry { entry }).await?;
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("a log follower fell {n} entries behind");
                }
                Err(_) => break,
            }
        }
    }
    write_frame(w, &Response::LogEnd).await
}
