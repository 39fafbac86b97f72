use std::sync::Arc;

use chrono::Utc;

use crate::daemon::core::Core;
use crate::proposal::{Actor, ProposalId, Step};
use crate::protocol::{Outcome, Response};
use crate::store::{LogEntry, LogKind};

pub async fn handle(core: &Arc<Core>, ids: Vec<ProposalId>, reason: Option<String>) -> Response {
    let mut outcomes = Vec::new();
    for id in ids {
        let repo = match super::find(core, id) {
            Ok(p) => p.repo,
            Err(outcome) => {
                outcomes.push(outcome);
                continue;
            }
        };
        // Under the repository's lock: an approval (a notification button) may be
        // applying it right now, and a rejection must not overwrite that.
        let reason = reason.clone();
        let outcome = core
            .act(std::path::Path::new(&repo), move |core| reject_one(core, id, reason))
            .await
            .unwrap_or_else(|e| super::failure(id, format!("the rejection panicked: {e}")));
        outcomes.push(outcome);
    }
    // Durable before the user hears "rejected": a kill -9 right after must not undo it.
    if let Err(e) = core.store.flush().await {
        return super::internal(format!("the decision could not be saved: {e}"));
    }
    Response::Outcomes { outcomes }
}

fn reject_one(core: &Core, id: ProposalId, reason: Option<String>) -> Outcome {
    let mut p = match super::find(core, id) {
        Ok(p) => p,
        Err(outcome) => return outcome,
    };
    if let Err(e) = p.advance(Step::Reject, Actor::User, reason.clone(), Utc::now()) {
        return super::failure(id, format!("#{id}: {e}"));
    }
    if let Err(e) = core.put_proposal(&p) {
        return super::failure(id, e.to_string());
    }
    let why = reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
    core.log(
        LogEntry::new(
            LogKind::Decision,
            Some(&p.repo),
            format!("#{id} rejected by user{why}: {}", p.title),
        )
        .task(&p.task)
        .proposal(id),
    );
    let mut message = format!("#{id} rejected; it will not be proposed again");
    if let Some(demoted) = crate::daemon::policy::note_rejection(core, &p) {
        message.push('\n');
        message.push_str(&demoted);
    }
    super::success(&p, message)
}
