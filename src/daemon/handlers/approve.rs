use std::path::Path;
use std::sync::Arc;

use chrono::Utc;

use crate::daemon::core::Core;
use crate::daemon::pipeline;
use crate::proposal::{ProposalId, State, Step};
use crate::protocol::{Outcome, Response};

pub async fn handle(core: &Arc<Core>, ids: Vec<ProposalId>) -> Response {
    let mut outcomes = Vec::new();
    for id in ids {
        outcomes.push(approve_one(core, id).await);
    }
    Response::Outcomes { outcomes }
}

async fn approve_one(core: &Arc<Core>, id: ProposalId) -> Outcome {
    let proposal = match super::find(core, id) {
        Ok(p) => p,
        Err(outcome) => return outcome,
    };
    let lock = core.repo_lock(Path::new(&proposal.repo));
    let _guard = lock.lock().await;
    let core = core.clone();
    tokio::task::spawn_blocking(move || {
        // Read again under the lock: a task run may have changed it meanwhile.
        let mut p = match super::find(&core, id) {
            Ok(p) => p,
            Err(outcome) => return outcome,
        };
        if let Err(e) = p.advance(Step::Approve, "user", None, Utc::now()) {
            return super::failure(id, format!("#{id}: {e}"));
        }
        pipeline::apply_approved(&core, &mut p, "user");
        let message = match p.state {
            State::Applied => format!("#{id} applied: {}; `kairos undo {id}` reverts it", p.title),
            state => format!(
                "#{id} {state}: {}",
                p.history.last().and_then(|h| h.note.clone()).unwrap_or_default()
            ),
        };
        if p.state == State::Applied {
            super::success(&p, message)
        } else {
            super::Outcome { ok: false, ..super::success(&p, message) }
        }
    })
    .await
    .unwrap_or_else(|e| super::failure(id, format!("the apply panicked: {e}")))
}
