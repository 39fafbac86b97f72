use crate::daemon::core::Core;
use crate::proposal::State;
use crate::protocol::{RawJson, Response};

pub fn handle(core: &Core, all: bool) -> Response {
    match core.store.proposals_json((!all).then_some(State::Pending)) {
        Ok(proposals) => Response::Proposals { proposals: RawJson(proposals) },
        Err(e) => super::internal(e),
    }
}
