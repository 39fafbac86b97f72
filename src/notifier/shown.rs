//! The desktop notifications kairos has on screen, kept across restarts: after one, a
//! popup whose proposals were decided meanwhile is closed, and the buttons of the others
//! work again. Only on the same notification server: its ids mean nothing to another (a
//! new session's server counts from 1 again, and could show another program's popup
//! under an old id).

use serde::{Deserialize, Serialize};

use super::compose::{Message, Notice, Revision, compose, digest};
use crate::proposal::{ProposalId, State};

/// One notification on screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shown {
    /// The server that showed it: the bus's id and the server's unique name on that bus
    /// (a bus never reuses a unique name).
    pub server: String,
    pub id: u32,
    /// The notices it was made from (to make it again, or know it is no longer true).
    pub made_from: Vec<Notice>,
    pub is_digest: bool,
}

impl Shown {
    pub fn of(server: &str, id: u32, message: &Message) -> Shown {
        Shown {
            server: server.to_owned(),
            id,
            made_from: message.made_from.clone(),
            is_digest: message.is_digest,
        }
    }

    /// The message it shows, made again from its notices.
    pub fn message(&self) -> Option<Message> {
        if self.is_digest {
            Some(digest(&self.made_from))
        } else {
            compose(&self.made_from).into_iter().next()
        }
    }

    /// Whether it still tells the truth, given what became of its proposals: the message
    /// to keep on screen, or `None` to close it. A popup that would need making again is
    /// closed instead: the user may have dismissed it while kairos was down, and making
    /// it again would bring it back uninvited.
    pub fn still_true(&self, state_of: impl Fn(ProposalId) -> Option<State>) -> Option<Message> {
        let message = self.message()?;
        for proposal in self.made_from.iter().filter_map(|n| n.proposal) {
            let state = state_of(proposal)?;
            if message.after(proposal, state) != Revision::Keep {
                return None;
            }
        }
        Some(message)
    }
}

/// Where the notifier keeps what is on screen, and how it learns what became of the
/// proposals meanwhile.
pub trait Keeper: Send + Sync {
    fn load(&self) -> Vec<Shown>;
    fn save(&self, shown: &[Shown]);
    /// A proposal's state now; `None` when there is no such proposal.
    fn state_of(&self, proposal: ProposalId) -> Option<State>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifier::NoticeKind;

    fn waiting(proposal: ProposalId) -> Notice {
        Notice {
            repo: "/src/api".into(),
            summary: format!("delete merged branch b{proposal}"),
            body: "merged".into(),
            proposal: Some(proposal),
            kind: NoticeKind::Waiting,
            risky: false,
        }
    }

    #[test]
    fn a_popup_is_kept_only_while_all_its_proposals_still_wait() {
        let message = compose(&[waiting(1), waiting(2)]).remove(0);
        let shown = Shown::of(":1.5@bus", 7, &message);
        let pending = |_| Some(State::Pending);
        assert_eq!(shown.still_true(pending), Some(message));
        let one_decided = |p| Some(if p == 2 { State::Applied } else { State::Pending });
        assert_eq!(shown.still_true(one_decided), None, "made again would bring it back");
        assert_eq!(shown.still_true(|_| None), None, "a proposal that is gone");
    }
}
