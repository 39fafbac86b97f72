//! One handler per request. Each takes the shared core and the request's fields and
//! returns the response; `log --follow` and `run` with progress stream, and are
//! handled by the server.

mod approve;
mod digest;
mod llm;
mod log;
mod memory;
mod policy;
mod queue;
mod reject;
mod restore;
mod run;
mod show;
mod snapshots;
mod status;
mod undo;
mod watch;

use std::sync::Arc;

use super::core::Core;
use crate::proposal::{Proposal, ProposalId};
use crate::protocol::{ErrorCode, Outcome, Request, Response};

pub use log::follow as follow_log;
pub use queue::frame as queue_frame;
pub use run::stream as run_streaming;

pub async fn handle(core: &Arc<Core>, request: Request) -> Response {
    match request {
        Request::Status => status::handle(core).await,
        // Answered as text by the server (`queue_frame`); never reaches here.
        Request::Queue { all } => Response::error(
            ErrorCode::BadRequest,
            format!("queue (all: {all}) is answered as a listing"),
            None,
        ),
        Request::Show { id } => show::handle(core, id).await,
        Request::Approve { ids, always, for_secs } => {
            approve::handle(core, ids, always, for_secs).await
        }
        Request::Reject { ids, reason } => reject::handle(core, ids, reason).await,
        Request::Undo { id } => undo::handle(core, id).await,
        Request::Log { limit, filter, .. } => log::handle(core, limit, &filter),
        Request::Run { task, repo, .. } => run::handle(core, task, repo, None).await,
        Request::Watch { paths } => watch::watch(core, paths).await,
        Request::Unwatch { paths } => watch::unwatch(core, paths).await,
        Request::Snapshots { repo } => snapshots::handle(core, repo).await,
        Request::PolicyExplain { subject } => policy::explain(core, subject).await,
        Request::PolicyShow => policy::show(core),
        Request::NotifyTest => {
            let lines = core.notifier.test().await;
            Response::Outcomes {
                outcomes: lines
                    .into_iter()
                    .map(|l| Outcome {
                        ok: !l.contains("not sent"),
                        target: "notify".into(),
                        id: None,
                        state: None,
                        message: l,
                    })
                    .collect(),
            }
        }
        Request::PolicySimulate { since_secs } => policy::simulate(core, since_secs).await,
        Request::PolicyRevoke { id } => policy::revoke(core, id).await,
        Request::PolicyUndemote { task, repo } => policy::undemote(core, task, repo).await,
        Request::LlmTest => llm::test(core).await,
        Request::MemoryShow { repo } => memory::show(core, repo).await,
        Request::MemorySearch { text } => memory::search(core, text).await,
        Request::MemoryForget { repo, id } => memory::forget(core, repo, id).await,
        Request::MemoryUndo { repo } => memory::undo(core, repo).await,
        Request::MemoryAdd { repo, text } => memory::add(core, repo, text).await,
        Request::Digest { repo, date } => digest::handle(core, repo, date).await,
        Request::Restore { repo, snapshot, paths } => {
            restore::handle(core, repo, snapshot, paths).await
        }
    }
}

/// Approve, as the CLI does it (for notification buttons).
pub async fn approve(core: &Arc<Core>, ids: Vec<ProposalId>) -> Response {
    approve::handle(core, ids, false, None).await
}

/// Reject, as the CLI does it (for notification buttons).
pub async fn reject(core: &Arc<Core>, ids: Vec<ProposalId>) -> Response {
    reject::handle(core, ids, Some("rejected from a notification".into())).await
}

/// Undo, as the CLI does it (for notification buttons).
pub async fn undo(core: &Arc<Core>, id: ProposalId) -> Response {
    undo::handle(core, id).await
}

/// Loads a proposal or says clearly that there is none with that id.
fn find(core: &Core, id: ProposalId) -> Result<Proposal, Outcome> {
    match core.store.proposal(id) {
        Ok(Some(p)) => Ok(p),
        Ok(None) => {
            Err(failure(id, format!("there is no proposal #{id}; `kairos queue --all` lists them")))
        }
        Err(e) => Err(failure(id, e.to_string())),
    }
}

fn failure(id: ProposalId, message: String) -> Outcome {
    Outcome { target: format!("#{id}"), ok: false, id: Some(id), state: None, message }
}

fn success(p: &Proposal, message: String) -> Outcome {
    Outcome {
        target: format!("#{}", p.id),
        ok: true,
        id: Some(p.id),
        state: Some(p.state),
        message,
    }
}

fn internal(e: impl std::fmt::Display) -> Response {
    Response::error(ErrorCode::Failed, e.to_string(), None)
}
