use crate::daemon::core::Core;
use crate::proposal::State;
use crate::protocol::Response;

pub fn handle(core: &Core, all: bool) -> Response {
    let listed = if all {
        core.store.proposals().collect::<Result<Vec<_>, _>>()
    } else {
        core.store.proposals_in(State::Pending)
    };
    match listed {
        Ok(proposals) => Response::Proposals { proposals },
        Err(e) => super::internal(e),
    }
}
