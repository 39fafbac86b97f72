//! The decisions at the heart of kairos, as pure functions of values: what becomes of a
//! task's draft (`take_in`), what an automatic proposal that waited does now (`release`),
//! and what a proposal becomes once an interrupted apply or undo is settled
//! (`settle::settlement`). The daemon gathers the facts (the store, the policy, the
//! clock) and carries the effects out; nothing here does I/O, so every case is tested.

pub mod settle;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};

pub use settle::{Cause, Direction, Settlement, settlement};

use crate::action::Action;
use crate::policy::Autonomy;
use crate::proposal::{Proposal, State};

/// What the store knows of a draft's fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Known {
    /// The latest proposal made with it: its state, and when that state was reached.
    pub latest: Option<(State, DateTime<Utc>)>,
    /// Whether it was told already (at `observe` or `notify`, which queue nothing).
    pub told: bool,
}

impl Known {
    pub fn of(latest: Option<&Proposal>, told: bool) -> Known {
        Known { latest: latest.map(|p| (p.state, p.updated_at)), told }
    }
}

/// The limits on automatic work in force now, in one repository.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Limits {
    /// The quiet hours (as written) when they are in effect now.
    pub quiet_hours: Option<String>,
    /// Changes the policy applied on its own here in the last hour, and the most it may.
    pub applied_last_hour: usize,
    pub max_auto_per_hour: usize,
}

/// What becomes of a draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Skip(Skip),
    /// Told once — logged, and shown by the notifier at `notify` — and never queued.
    Tell {
        notify: bool,
    },
    /// Waits in the queue for the user.
    Queue,
    /// Applied at once, by the policy.
    ApplyNow,
    /// Automatic, but it must wait; it is queued with the reason and applied later.
    Defer(Wait),
}

/// Why a draft is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The policy says `off`.
    Off,
    /// The same change waits for the user, was approved, or was rejected or undone.
    Repeat(State),
    /// The same change failed within `RETRY_FAILED_AFTER`.
    FailedRecently,
    /// Already told.
    Told,
}

/// Why automatic work waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    QuietHours(String),
    HourlyCap { applied: usize, max: usize },
}

impl std::fmt::Display for Wait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Wait::QuietHours(hours) => {
                write!(f, "automatic, waiting for quiet hours ({hours}) to end")
            }
            Wait::HourlyCap { applied, max } => write!(
                f,
                "automatic, but {applied} changes were already applied here in the last hour \
                 (max_auto_per_hour = {max}); waits for you"
            ),
        }
    }
}

/// Decides what becomes of a draft of `action`. `asked_by_user`: the run was `kairos run`,
/// which tries a recently failed change again (the user may have fixed the cause).
pub fn take_in(
    action: &Action,
    known: Known,
    autonomy: Autonomy,
    limits: &Limits,
    asked_by_user: bool,
    now: DateTime<Utc>,
) -> Effect {
    if let Some(skip) = repeat(Known { told: false, ..known }, asked_by_user, now) {
        return Effect::Skip(skip);
    }
    match autonomy {
        Autonomy::Off => Effect::Skip(Skip::Off),
        Autonomy::Observe | Autonomy::Notify if known.told => Effect::Skip(Skip::Told),
        Autonomy::Observe => Effect::Tell { notify: false },
        Autonomy::Notify => Effect::Tell { notify: true },
        Autonomy::Propose => Effect::Queue,
        Autonomy::Auto => match wait(action, limits) {
            Some(why) => Effect::Defer(why),
            None => Effect::ApplyNow,
        },
    }
}

/// Why the same change would be dropped as a repeat, whatever the policy says: one that
/// waits for the user, was decided, failed lately (unless the user asked), or was told.
/// Tasks ask this before they spend a model call on a change.
pub fn repeat(known: Known, asked_by_user: bool, now: DateTime<Utc>) -> Option<Skip> {
    if let Some((state, at)) = known.latest {
        if state.blocks_repeat() {
            return Some(Skip::Repeat(state));
        }
        let recently = now - at < crate::proposal::RETRY_FAILED_AFTER;
        if state == State::Failed && recently && !asked_by_user {
            return Some(Skip::FailedRecently);
        }
    }
    known.told.then_some(Skip::Told)
}

/// Why automatic work of `action` must wait now, if it must. Routine work (snapshots)
/// never waits: it touches nothing of the user's and protects their work.
pub fn wait(action: &Action, limits: &Limits) -> Option<Wait> {
    if action.routine() {
        return None;
    }
    if let Some(hours) = &limits.quiet_hours {
        return Some(Wait::QuietHours(hours.clone()));
    }
    (limits.applied_last_hour >= limits.max_auto_per_hour).then_some(Wait::HourlyCap {
        applied: limits.applied_last_hour,
        max: limits.max_auto_per_hour,
    })
}

/// What a pending automatic proposal that waited does now, decided again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    Apply,
    StillWaits(Wait),
    /// Today's policy no longer makes it automatic: it stays in the queue for the user.
    ForTheUser,
}

pub fn release(action: &Action, autonomy: Autonomy, limits: &Limits) -> Release {
    if autonomy != Autonomy::Auto {
        return Release::ForTheUser;
    }
    match wait(action, limits) {
        Some(why) => Release::StillWaits(why),
        None => Release::Apply,
    }
}
