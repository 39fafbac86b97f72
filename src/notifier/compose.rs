//! What the user sees, composed from notices: one notification per notice, a batch for
//! several at once, a digest after quiet hours. Pure, so it is tested on its own.

use std::path::Path;

use crate::proposal::{ProposalId, State};

/// Something the user should hear about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Notice {
    pub repo: String,
    pub summary: String,
    pub body: String,
    pub proposal: Option<ProposalId>,
    pub kind: NoticeKind,
    /// The change cannot be undone or something failed: the notification is urgent.
    pub risky: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum NoticeKind {
    /// A proposal waits for approve / reject.
    Waiting,
    /// kairos changed something on its own; it can be undone.
    Applied,
    /// A task failed.
    Failure,
    /// A task reported something.
    Info,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Urgency {
    Low,
    Normal,
    Critical,
}

/// One notification, ready for any sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub summary: String,
    pub body: String,
    /// (action key, button label); keys are `approve`, `reject`, `show`, `undo`.
    pub actions: Vec<(&'static str, &'static str)>,
    pub urgency: Urgency,
    /// The proposals the buttons act on.
    pub proposals: Vec<ProposalId>,
    /// The notices it was made from, so it can be made again when some are no longer
    /// true (their proposal was decided elsewhere).
    pub made_from: Vec<Notice>,
    /// Made by `digest` rather than `compose`.
    pub is_digest: bool,
}

impl Notice {
    /// Whether this notice still tells the truth now that its proposal is in `state`:
    /// "waits for you" only while it waits, "applied (undo)" only while it is applied.
    pub fn true_in(&self, proposal: ProposalId, state: State) -> bool {
        if self.proposal != Some(proposal) {
            return true;
        }
        match self.kind {
            NoticeKind::Waiting => state == State::Pending,
            NoticeKind::Applied => state == State::Applied,
            NoticeKind::Info => state != State::Rejected,
            NoticeKind::Failure => true,
        }
    }
}

impl Message {
    /// The message once `proposal` reached `state`: unchanged (`Keep`), made again from
    /// the notices still true (`Replace`), or nothing left to say (`Close`).
    pub fn after(&self, proposal: ProposalId, state: State) -> Revision {
        if self.made_from.iter().all(|n| n.true_in(proposal, state)) {
            return Revision::Keep;
        }
        let left: Vec<Notice> =
            self.made_from.iter().filter(|n| n.true_in(proposal, state)).cloned().collect();
        if self.is_digest {
            // What failed while you were away is still news once the proposals are
            // decided: the digest goes only when nothing in it is left.
            return if left.is_empty() {
                Revision::Close
            } else {
                Revision::Replace(digest(&left))
            };
        }
        if !left.iter().any(|n| n.proposal.is_some()) {
            return Revision::Close;
        }
        // The members share a repository and a kind: they make one message again.
        match compose(&left).into_iter().next() {
            Some(message) => Revision::Replace(message),
            None => Revision::Close,
        }
    }
}

/// What becomes of a shown notification when one of its proposals is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revision {
    Keep,
    Replace(Message),
    Close,
}

fn repo_name(repo: &str) -> String {
    Path::new(repo)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| repo.to_owned())
}

fn urgency(notices: &[&Notice]) -> Urgency {
    if notices.iter().any(|n| n.risky || n.kind == NoticeKind::Failure) {
        Urgency::Critical
    } else if notices.iter().all(|n| matches!(n.kind, NoticeKind::Applied | NoticeKind::Info)) {
        Urgency::Low
    } else {
        Urgency::Normal
    }
}

/// Groups what arrived within one batching window: per repository and kind, one
/// notification for one notice, one summarising notification for several.
pub fn compose(batch: &[Notice]) -> Vec<Message> {
    let mut groups: Vec<(&str, NoticeKind, Vec<&Notice>)> = Vec::new();
    for n in batch {
        match groups.iter_mut().find(|(repo, kind, _)| *repo == n.repo && *kind == n.kind) {
            Some((_, _, members)) => members.push(n),
            None => groups.push((&n.repo, n.kind, vec![n])),
        }
    }
    groups
        .into_iter()
        .map(|(repo, kind, members)| {
            let proposals: Vec<ProposalId> = members.iter().filter_map(|n| n.proposal).collect();
            let has_proposals = !proposals.is_empty();
            if let [one] = members.as_slice() {
                let actions = match (kind, has_proposals) {
                    (NoticeKind::Waiting, true) => {
                        vec![("approve", "Approve"), ("reject", "Reject"), ("show", "Show")]
                    }
                    (NoticeKind::Applied, true) => vec![("undo", "Undo"), ("show", "Show")],
                    // A told notice: rejecting it says it was not worth telling.
                    (NoticeKind::Info, true) => vec![("reject", "Not useful"), ("show", "Show")],
                    _ => vec![],
                };
                return Message {
                    summary: one.summary.clone(),
                    body: one.body.clone(),
                    actions,
                    urgency: urgency(&members),
                    proposals,
                    made_from: vec![(*one).clone()],
                    is_digest: false,
                };
            }
            let name = repo_name(repo);
            let n = members.len();
            let (summary, actions) = match kind {
                NoticeKind::Waiting => (
                    format!("{n} proposals in {name}"),
                    vec![("approve", "Approve all"), ("reject", "Reject all"), ("show", "Show")],
                ),
                NoticeKind::Applied => (
                    format!("{n} changes applied in {name}"),
                    vec![("undo", "Undo all"), ("show", "Show")],
                ),
                NoticeKind::Failure => (format!("{n} failures in {name}"), vec![]),
                NoticeKind::Info if has_proposals => (
                    format!("{n} messages from {name}"),
                    vec![("reject", "Not useful"), ("show", "Show")],
                ),
                NoticeKind::Info => (format!("{n} messages from {name}"), vec![]),
            };
            let body =
                members.iter().map(|m| format!("• {}", m.summary)).collect::<Vec<_>>().join("\n");
            Message {
                summary,
                body,
                actions,
                urgency: urgency(&members),
                proposals,
                made_from: members.into_iter().cloned().collect(),
                is_digest: false,
            }
        })
        .collect()
}

/// The one notification shown when quiet hours end: what happened, what waits, what was
/// applied.
pub fn digest(held: &[Notice]) -> Message {
    let count = |k: NoticeKind| held.iter().filter(|n| n.kind == k).count();
    let mut parts = Vec::new();
    for (k, word) in [
        (NoticeKind::Waiting, "waiting for you"),
        (NoticeKind::Applied, "applied"),
        (NoticeKind::Failure, "failed"),
        (NoticeKind::Info, "to know"),
    ] {
        if count(k) > 0 {
            parts.push(format!("{} {word}", count(k)));
        }
    }
    let body = held.iter().map(|n| format!("• {}", n.summary)).collect::<Vec<_>>().join("\n");
    let waiting: Vec<ProposalId> =
        held.iter().filter(|n| n.kind == NoticeKind::Waiting).filter_map(|n| n.proposal).collect();
    Message {
        summary: format!("While you were away: {}", parts.join(", ")),
        body,
        actions: vec![("show", "Show")],
        urgency: if held.iter().any(|n| n.kind == NoticeKind::Failure) {
            Urgency::Critical
        } else {
            Urgency::Normal
        },
        proposals: waiting,
        made_from: held.to_vec(),
        is_digest: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(repo: &str, id: u64) -> Notice {
        Notice {
            repo: repo.into(),
            summary: format!("change {id}"),
            body: "why".into(),
            proposal: Some(id),
            kind: NoticeKind::Waiting,
            risky: false,
        }
    }

    #[test]
    fn one_proposal_gets_the_three_buttons() {
        let m = compose(&[waiting("/src/api", 7)]);
        assert_eq!(m.len(), 1);
        assert_eq!(
            m[0].actions.iter().map(|a| a.0).collect::<Vec<_>>(),
            ["approve", "reject", "show"]
        );
        assert_eq!(m[0].proposals, [7]);
        assert_eq!(m[0].urgency, Urgency::Normal);
    }

    #[test]
    fn several_in_one_repository_become_one_notification() {
        let m = compose(&[
            waiting("/src/api-server", 1),
            waiting("/src/api-server", 2),
            waiting("/src/web", 3),
        ]);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].summary, "2 proposals in api-server");
        assert_eq!(m[0].proposals, [1, 2]);
        assert!(m[0].body.contains("• change 1\n• change 2"));
    }

    #[test]
    fn urgency_follows_risk() {
        let mut risky = waiting("/r", 1);
        risky.risky = true;
        assert_eq!(compose(&[risky])[0].urgency, Urgency::Critical);
        let mut applied = waiting("/r", 2);
        applied.kind = NoticeKind::Applied;
        assert_eq!(compose(&[applied])[0].urgency, Urgency::Low);
    }

    #[test]
    fn a_decided_proposal_leaves_its_batch_and_closes_its_own_popup() {
        let batch = &compose(&[waiting("/r", 1), waiting("/r", 2), waiting("/r", 3)])[0];
        assert_eq!(batch.after(2, State::Pending), Revision::Keep);
        assert_eq!(batch.after(9, State::Rejected), Revision::Keep, "not a member");
        let Revision::Replace(fewer) = batch.after(2, State::Approved) else { panic!() };
        assert_eq!(fewer.summary, "2 proposals in r");
        assert_eq!(fewer.proposals, [1, 3]);
        let Revision::Replace(one) = fewer.after(1, State::Stale) else { panic!() };
        assert_eq!(one.summary, "change 3");
        assert_eq!(one.actions.len(), 3, "one proposal gets its own buttons back");
        assert_eq!(one.after(3, State::Rejected), Revision::Close);

        let mut applied = waiting("/r", 4);
        applied.kind = NoticeKind::Applied;
        let applied = &compose(&[applied])[0];
        assert_eq!(applied.after(4, State::Applied), Revision::Keep);
        assert_eq!(applied.after(4, State::Undone), Revision::Close, "its undo button is spent");

        let d = digest(&[waiting("/r", 5), waiting("/r", 6)]);
        let Revision::Replace(d) = d.after(5, State::Rejected) else { panic!() };
        assert_eq!(d.summary, "While you were away: 1 waiting for you");
        assert!(d.is_digest);

        // What failed is still news once the proposal beside it is decided.
        let mut failed = waiting("/r", 0);
        (failed.proposal, failed.kind) = (None, NoticeKind::Failure);
        let d = digest(&[waiting("/r", 7), failed]);
        let Revision::Replace(d) = d.after(7, State::Applied) else { panic!("{d:?}") };
        assert!(d.summary.contains("1 failed"), "{}", d.summary);
        assert_eq!(d.after(8, State::Applied), Revision::Keep);
    }

    #[test]
    fn a_told_notice_can_be_called_not_useful_and_leaves_when_it_is() {
        let mut note = waiting("/r", 8);
        note.kind = NoticeKind::Info;
        let m = &compose(&[note])[0];
        assert_eq!(m.actions, [("reject", "Not useful"), ("show", "Show")]);
        assert_eq!(m.after(8, State::Told), Revision::Keep);
        assert_eq!(m.after(8, State::Rejected), Revision::Close);
    }

    #[test]
    fn the_digest_counts_what_happened() {
        let mut applied = waiting("/r", 2);
        applied.kind = NoticeKind::Applied;
        let d = digest(&[waiting("/r", 1), applied, waiting("/r", 3)]);
        assert_eq!(d.summary, "While you were away: 2 waiting for you, 1 applied");
        assert_eq!(d.proposals, [1, 3]);
    }
}
