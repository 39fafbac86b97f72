use std::path::Path;
use std::sync::Arc;

use crate::daemon::core::Core;
use crate::daemon::pipeline;
use crate::proposal::ProposalId;
use crate::protocol::{ErrorCode, Response};

pub async fn handle(core: &Arc<Core>, id: ProposalId) -> Response {
    let proposal = match super::find(core, id) {
        Ok(p) => p,
        Err(outcome) => return Response::error(ErrorCode::NotFound, outcome.message, None),
    };
    let lock = core.repo_lock(Path::new(&proposal.repo));
    let _guard = lock.lock().await;
    let core = core.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut p = super::find(&core, id).map_err(|o| o.message)?;
        pipeline::undo_applied(&core, &mut p, crate::proposal::Actor::User).map(|()| p)
    })
    .await
    .unwrap_or_else(|e| Err(format!("the undo panicked: {e}")));
    match result {
        Ok(p) => Response::Outcomes {
            outcomes: vec![super::success(&p, format!("#{id} undone: {}", p.title))],
        },
        Err(why) => {
            Response::error(ErrorCode::Failed, format!("#{id} was not undone: {why}"), None)
        }
    }
}
