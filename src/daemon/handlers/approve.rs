use std::path::Path;
use std::sync::Arc;

use chrono::Utc;

use crate::daemon::core::Core;
use crate::daemon::journaled;
use crate::daemon::policy;
use crate::policy::Subject;
use crate::policy::{Autonomy, Grant};
use crate::proposal::{Actor, Proposal, ProposalId, State, Step};
use crate::protocol::{Outcome, Response};
use crate::store::{LogEntry, LogKind};

pub async fn handle(
    core: &Arc<Core>,
    ids: Vec<ProposalId>,
    always: bool,
    for_secs: Option<u64>,
) -> Response {
    let mut outcomes = Vec::new();
    for id in ids {
        let mut outcome = approve_one(core, id).await;
        // A grant follows an approval that went through, not a refused or stale one.
        if always
            && outcome.ok
            && let Ok(p) = super::find(core, id)
        {
            outcome.message.push('\n');
            outcome.message.push_str(&grant_from(core, &p, for_secs).await);
        }
        outcomes.push(outcome);
    }
    Response::Outcomes { outcomes }
}

/// `approve --always`: a grant for changes like `p` (same action, task, repository and
/// paths), optionally expiring; says whether it can take effect.
async fn grant_from(core: &Arc<Core>, p: &Proposal, for_secs: Option<u64>) -> String {
    let expires_at = match for_secs {
        None => None,
        Some(secs) => match i64::try_from(secs)
            .ok()
            .and_then(chrono::TimeDelta::try_seconds)
            .and_then(|d| Utc::now().checked_add_signed(d))
        {
            Some(at) => Some(at),
            None => return "no grant was made: --for reaches past any date kairos can keep".into(),
        },
    };
    let Ok(n) = core.store.next_grant_id() else { return "the grant could not be saved".into() };
    let subject = Subject::of(p);
    let grant = Grant {
        id: format!("g{n}"),
        action: p.action.clone(),
        task: Some(p.task.clone()),
        repo: Some(p.repo.clone()),
        paths: subject.paths.clone(),
        created_at: Utc::now(),
        expires_at,
        from_proposal: Some(p.id),
    };
    if core.store.put_grant(&grant).is_err() || core.store.flush().await.is_err() {
        return "the grant could not be saved".into();
    }
    let until = grant
        .expires_at
        .map(|t| format!(" until {}", t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M")))
        .unwrap_or_default();
    let scope = format!("{} from {} in {}", p.action, p.task, p.repo);
    core.log(
        LogEntry::new(
            LogKind::Decision,
            Some(&p.repo),
            format!("grant {} created by user: {scope}{until}", grant.id),
        )
        .proposal(p.id),
    );
    let root = std::path::PathBuf::from(&p.repo);
    let (core2, g) = (core.clone(), grant.clone());
    let evaluation =
        tokio::task::spawn_blocking(move || policy::decide_with(&core2, &root, &subject, &[g]))
            .await;
    match evaluation {
        Ok(e) if e.autonomy == Autonomy::Auto => {
            format!(
                "grant {}: {scope} is now automatic{until}; `kairos policy revoke {}` takes it back",
                grant.id, grant.id
            )
        }
        Ok(e) => {
            let caps = e.caps.iter().map(|c| format!("capped at propose: {c}"));
            let why = e.notes.iter().cloned().chain(caps).collect::<Vec<_>>().join("; ");
            let why = if why.is_empty() { format!("decided by {}", e.decided_by) } else { why };
            format!("grant {} saved, but it cannot take effect: {why}", grant.id)
        }
        Err(_) => format!("grant {} saved", grant.id),
    }
}

async fn approve_one(core: &Arc<Core>, id: ProposalId) -> Outcome {
    let proposal = match super::find(core, id) {
        Ok(p) => p,
        Err(outcome) => return outcome,
    };
    core.act(Path::new(&proposal.repo), move |core| {
        // Read again under the lock: a task run may have changed it meanwhile.
        let mut p = match super::find(core, id) {
            Ok(p) => p,
            Err(outcome) => return outcome,
        };
        if let Err(e) = p.advance(Step::Approve, Actor::User, None, Utc::now()) {
            return super::failure(id, format!("#{id}: {e}"));
        }
        journaled::apply_approved(core, &mut p, Actor::User);
        let message = match p.state {
            State::Applied => format!("#{id} applied: {}; `kairos undo {id}` reverts it", p.title),
            state => format!(
                "#{id} {state}: {}",
                p.history.last().and_then(|h| h.note.clone()).unwrap_or_default()
            ),
        };
        // Done already (the user made the change): nothing was needed, nothing failed.
        if matches!(p.state, State::Applied | State::Done) {
            super::success(&p, message)
        } else {
            super::Outcome { ok: false, ..super::success(&p, message) }
        }
    })
    .await
    .unwrap_or_else(|e| super::failure(id, format!("the apply panicked: {e}")))
}
