//! What a proposal becomes once an apply or undo that did not finish normally — it
//! reported an error after its plan was journaled, or a crash cut it off — has been
//! settled (finished or rolled back, see `apply::settle`). One mapping for the pipeline,
//! which settles after an error, and for recovery, which settles after a crash.

use crate::action::Action;
use crate::apply::Settled;
use crate::proposal::Step;

/// Which way the operation went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Apply,
    Undo,
}

/// Why it did not finish normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// It reported this error, after its plan was journaled.
    Error(String),
    /// A crash cut it off; the daemon settles it at its next start.
    Crash,
}

/// The step to record (none: the proposal stays as it is), the note that says why, and
/// whether the intent must stay journaled (settling failed: tried again at next start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    pub step: Option<Step>,
    pub note: String,
    pub keep_intent: bool,
}

/// Maps how an interrupted operation on a proposal of `action` was settled (or why it
/// could not be) to what the proposal becomes. `approved_by_user`: the approval being
/// applied was the user's (not the policy's).
pub fn settlement(
    direction: Direction,
    cause: &Cause,
    settled: Result<Settled, String>,
    action: &Action,
    approved_by_user: bool,
) -> Settlement {
    let what = match direction {
        Direction::Apply => "apply",
        Direction::Undo => "undo",
    };
    let done = |step, note: String| Settlement { step, note, keep_intent: false };
    match (settled, cause) {
        (Ok(Settled::Completed), Cause::Error(e)) => {
            done(Some(finished(direction)), format!("completed, though it reported: {e}"))
        }
        (Ok(Settled::Completed), Cause::Crash) => {
            done(Some(finished(direction)), format!("the {what} had completed before a crash"))
        }
        (Ok(Settled::RolledBack), Cause::Error(e)) => match direction {
            Direction::Apply => {
                done(Some(Step::Fail), format!("{e}; rolled back, nothing was changed"))
            }
            Direction::Undo => {
                done(None, format!("undo failed ({e}); rolled back, nothing was changed"))
            }
        },
        (Ok(Settled::RolledBack), Cause::Crash) => match direction {
            Direction::Apply => {
                let note = format!("the {what} was interrupted by a crash and rolled back");
                interrupted(action, approved_by_user, note)
            }
            // Still applied, as before the undo began.
            Direction::Undo => {
                done(None, format!("the {what} was interrupted by a crash and rolled back"))
            }
        },
        (Err(again), Cause::Error(e)) => Settlement {
            step: (direction == Direction::Apply).then_some(Step::Fail),
            note: format!(
                "{e}; rolling back failed too ({again}); kairos retries at its next start"
            ),
            keep_intent: true,
        },
        (Err(again), Cause::Crash) => Settlement {
            step: None,
            note: format!("cannot settle the interrupted {what}: {again}; left in the journal"),
            keep_intent: true,
        },
    }
}

fn finished(direction: Direction) -> Step {
    match direction {
        Direction::Apply => Step::Apply,
        Direction::Undo => Step::Undo,
    }
}

/// An approved apply that a crash cut off before it took effect. A queue proposal the
/// user approved waits for them again; a restore the user ran is not a queue item, so it
/// fails and says to run it again; automatic work fails and its task does it anew.
pub fn interrupted(action: &Action, approved_by_user: bool, note: String) -> Settlement {
    let (step, note) = if *action == Action::Restore {
        (Step::Fail, format!("{note}; run `kairos restore` again"))
    } else if approved_by_user {
        (Step::Interrupt, note)
    } else {
        (Step::Fail, note)
    };
    Settlement { step: Some(step), note, keep_intent: false }
}
