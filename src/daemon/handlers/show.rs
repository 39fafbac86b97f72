use crate::daemon::core::Core;
use crate::proposal::ProposalId;
use crate::protocol::{ErrorCode, Response};

pub fn handle(core: &Core, id: ProposalId) -> Response {
    match super::find(core, id) {
        Ok(p) => Response::Proposal { proposal: Box::new(p) },
        Err(outcome) => Response::error(ErrorCode::NotFound, outcome.message, None),
    }
}
