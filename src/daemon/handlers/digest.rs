//! `kairos digest [--date D] [--repo PATH]`: the day's digest of each repository, as the
//! `digest` task wrote it, or assembled now from the log when it has not run.

use std::path::PathBuf;
use std::sync::Arc;

use crate::daemon::core::Core;
use crate::daemon::memory::DaemonMemory;
use crate::protocol::{DigestReport, ErrorCode, Response};

pub async fn handle(
    core: &Arc<Core>,
    repo: Option<PathBuf>,
    date: Option<chrono::NaiveDate>,
) -> Response {
    let date = date.unwrap_or_else(|| chrono::Local::now().date_naive());
    let roots: Vec<PathBuf> = match repo {
        Some(repo) => match crate::registry::resolve_repo(&repo) {
            Ok(root) => vec![root],
            Err(e) => return Response::error(ErrorCode::BadRequest, e, None),
        },
        None => core.repos.lock().await.keys().cloned().collect(),
    };
    let core = core.clone();
    let digests = tokio::task::spawn_blocking(move || {
        roots
            .into_iter()
            .map(|root| {
                let key = root.to_string_lossy().into_owned();
                let stored = core.store.digest(&key, date).ok().flatten().map(|d| d.text);
                let text = stored.or_else(|| {
                    let repo = crate::git::open(&root).ok()?;
                    let memory = DaemonMemory { core: &core, repo: key.clone() };
                    crate::tasks::digest::compose(&repo, &memory, date)
                });
                DigestReport { repo: key, date, text }
            })
            .collect()
    })
    .await;
    match digests {
        Ok(digests) => Response::Digests { digests },
        Err(e) => super::internal(e),
    }
}
