use crate::daemon::core::Core;
use crate::proposal::State;
use crate::protocol::Response;

pub fn handle(core: &Core, all: bool) -> Response {
    let mut proposals = Vec::new();
    for p in core.store.proposals() {
        match p {
            Ok(p) if all || p.state == State::Pending => proposals.push(p),
            Ok(_) => {}
            Err(e) => return super::internal(e),
        }
    }
    Response::Proposals { proposals }
}
