//! What the notifier has told, so nothing is said twice: bounded, for a daemon that runs
//! for months.

use std::collections::{HashSet, VecDeque};

use super::NoticeKind;
use crate::proposal::ProposalId;

/// The last `TOLD_KEPT` (proposal, kind) pairs told. Proposal ids only grow, so what is
/// forgotten is what is long decided: the set stays bounded on a daemon that runs for
/// months.
#[derive(Default)]
pub struct Told {
    set: HashSet<(ProposalId, NoticeKind)>,
    order: VecDeque<(ProposalId, NoticeKind)>,
}

const TOLD_KEPT: usize = 4096;

impl Told {
    /// False when it was told already.
    pub fn insert(&mut self, told: (ProposalId, NoticeKind)) -> bool {
        if !self.set.insert(told) {
            return false;
        }
        self.order.push_back(told);
        if self.order.len() > TOLD_KEPT
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_told_set_is_bounded_and_still_says_nothing_twice() {
        let mut told = Told::default();
        assert!(told.insert((1, NoticeKind::Waiting)));
        assert!(!told.insert((1, NoticeKind::Waiting)));
        assert!(told.insert((1, NoticeKind::Applied)));
        for id in 2..(TOLD_KEPT as u64 + 10) {
            told.insert((id, NoticeKind::Waiting));
        }
        assert_eq!(told.set.len(), TOLD_KEPT);
        assert_eq!(told.order.len(), TOLD_KEPT);
        assert!(!told.insert((TOLD_KEPT as u64, NoticeKind::Waiting)), "a recent one is kept");
    }
}
