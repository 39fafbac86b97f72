use crate::daemon::core::Core;
use crate::proposal::State;
use crate::protocol::{Response, listing_frame};

/// The `queue` answer as a frame of text: the stored proposals passed through.
pub fn frame(core: &Core, all: bool) -> String {
    match core.store.proposals_json((!all).then_some(State::Pending)) {
        Ok(array) => listing_frame(&array),
        Err(e) => {
            let error: Response = super::internal(e);
            serde_json::to_string(&error).expect("an error response encodes")
        }
    }
}
