use std::path::Path;
use std::sync::Arc;

use crate::daemon::core::Core;
use crate::daemon::journaled;
use crate::proposal::ProposalId;
use crate::protocol::{ErrorCode, Response};

pub async fn handle(core: &Arc<Core>, id: ProposalId) -> Response {
    let proposal = match super::find(core, id) {
        Ok(p) => p,
        Err(outcome) => return Response::error(ErrorCode::NotFound, outcome.message, None),
    };
    let result = core
        .act(Path::new(&proposal.repo), move |core| {
            let mut p = super::find(core, id).map_err(|o| o.message)?;
            journaled::undo_applied(core, &mut p, crate::proposal::Actor::User)
                .map(|()| p)
                .map_err(|e| e.to_string())
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
