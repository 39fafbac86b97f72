use chrono::{TimeDelta, Utc};

use super::*;
use crate::action::Action;
use crate::apply::Settled;
use crate::proposal::{RETRY_FAILED_AFTER, Step};

const LEVELS: [Autonomy; 5] =
    [Autonomy::Off, Autonomy::Observe, Autonomy::Notify, Autonomy::Propose, Autonomy::Auto];

fn limits(quiet: bool, capped: bool) -> Limits {
    Limits {
        quiet_hours: quiet.then(|| "22:00-07:30".to_owned()),
        applied_last_hour: if capped { 20 } else { 3 },
        max_auto_per_hour: 20,
    }
}

/// Every combination of what the store knows, the level, the limits, the action and who
/// asked, with the rules the intake must keep in each.
#[test]
fn every_combination_keeps_the_rules() {
    let now = Utc::now();
    let mut knowns = vec![Known::default(), Known { latest: None, told: true }];
    for state in State::ALL {
        for age in [TimeDelta::minutes(5), RETRY_FAILED_AFTER + TimeDelta::minutes(1)] {
            for told in [false, true] {
                knowns.push(Known { latest: Some((state, now - age)), told });
            }
        }
    }
    let mut cases = 0;
    for known in &knowns {
        for autonomy in LEVELS {
            for action in Action::known() {
                for (quiet, capped) in [(false, false), (true, false), (false, true), (true, true)]
                {
                    for asked in [false, true] {
                        let limits = limits(quiet, capped);
                        let effect = take_in(&action, *known, autonomy, &limits, asked, now);
                        check(&action, *known, autonomy, &limits, asked, now, &effect);
                        cases += 1;
                    }
                }
            }
        }
    }
    assert!(cases > 10_000, "{cases}");
}

fn check(
    action: &Action,
    known: Known,
    autonomy: Autonomy,
    limits: &Limits,
    asked: bool,
    now: chrono::DateTime<Utc>,
    effect: &Effect,
) {
    let case = format!("{action} {known:?} {autonomy} {limits:?} asked={asked}: {effect:?}");
    let blocked = known.latest.is_some_and(|(s, _)| s.blocks_repeat());
    let failed_recently =
        known.latest.is_some_and(|(s, at)| s == State::Failed && now - at < RETRY_FAILED_AFTER);
    // A change the user has to decide, approved, rejected or undone never comes back.
    if blocked {
        assert!(matches!(effect, Effect::Skip(Skip::Repeat(_))), "{case}");
        return;
    }
    if failed_recently && !asked {
        assert_eq!(*effect, Effect::Skip(Skip::FailedRecently), "{case}");
        return;
    }
    // Nothing is applied that the policy did not make automatic.
    if matches!(effect, Effect::ApplyNow | Effect::Defer(_)) {
        assert_eq!(autonomy, Autonomy::Auto, "{case}");
    }
    match autonomy {
        Autonomy::Off => assert_eq!(*effect, Effect::Skip(Skip::Off), "{case}"),
        // Told once: never twice, never queued.
        Autonomy::Observe | Autonomy::Notify if known.told => {
            assert_eq!(*effect, Effect::Skip(Skip::Told), "{case}")
        }
        Autonomy::Observe => assert_eq!(*effect, Effect::Tell { notify: false }, "{case}"),
        Autonomy::Notify => assert_eq!(*effect, Effect::Tell { notify: true }, "{case}"),
        Autonomy::Propose => assert_eq!(*effect, Effect::Queue, "{case}"),
        // Routine work never waits; other automatic work waits for quiet hours and the cap.
        Autonomy::Auto if action.routine() => assert_eq!(*effect, Effect::ApplyNow, "{case}"),
        Autonomy::Auto => {
            let must_wait = limits.quiet_hours.is_some()
                || limits.applied_last_hour >= limits.max_auto_per_hour;
            assert_eq!(matches!(effect, Effect::Defer(_)), must_wait, "{case}");
            if !must_wait {
                assert_eq!(*effect, Effect::ApplyNow, "{case}");
            }
        }
    }
}

#[test]
fn the_common_cases_read_as_a_table() {
    let now = Utc::now();
    let fresh = Known::default();
    let open = limits(false, false);
    let rows: Vec<(Action, Known, Autonomy, Limits, bool, Effect)> = vec![
        (Action::BranchDelete, fresh, Autonomy::Propose, open.clone(), false, Effect::Queue),
        (Action::Snapshot, fresh, Autonomy::Auto, limits(true, true), false, Effect::ApplyNow),
        (
            Action::Patch,
            fresh,
            Autonomy::Auto,
            limits(true, false),
            false,
            Effect::Defer(Wait::QuietHours("22:00-07:30".into())),
        ),
        (
            Action::Fetch,
            fresh,
            Autonomy::Auto,
            limits(false, true),
            false,
            Effect::Defer(Wait::HourlyCap { applied: 20, max: 20 }),
        ),
        (
            Action::Notice,
            fresh,
            Autonomy::Notify,
            open.clone(),
            false,
            Effect::Tell { notify: true },
        ),
        (
            Action::Notice,
            Known { latest: None, told: true },
            Autonomy::Notify,
            open.clone(),
            false,
            Effect::Skip(Skip::Told),
        ),
        (
            Action::BranchDelete,
            Known { latest: Some((State::Rejected, now - TimeDelta::days(300))), told: false },
            Autonomy::Auto,
            open.clone(),
            true,
            Effect::Skip(Skip::Repeat(State::Rejected)),
        ),
        (
            Action::BranchDelete,
            Known { latest: Some((State::Failed, now - TimeDelta::minutes(1))), told: false },
            Autonomy::Auto,
            open.clone(),
            false,
            Effect::Skip(Skip::FailedRecently),
        ),
        (
            Action::BranchDelete,
            Known { latest: Some((State::Failed, now - TimeDelta::minutes(1))), told: false },
            Autonomy::Auto,
            open.clone(),
            true,
            Effect::ApplyNow,
        ),
        (
            Action::Patch,
            Known { latest: Some((State::Stale, now)), told: false },
            Autonomy::Propose,
            open.clone(),
            false,
            Effect::Queue,
        ),
    ];
    for (action, known, autonomy, limits, asked, expected) in rows {
        assert_eq!(take_in(&action, known, autonomy, &limits, asked, now), expected, "{action}");
    }
}

#[test]
fn waiting_work_is_released_when_nothing_holds_it_and_only_if_still_automatic() {
    let open = limits(false, false);
    assert_eq!(release(&Action::Patch, Autonomy::Auto, &open), Release::Apply);
    assert_eq!(release(&Action::Patch, Autonomy::Propose, &open), Release::ForTheUser);
    assert!(matches!(
        release(&Action::Patch, Autonomy::Auto, &limits(true, false)),
        Release::StillWaits(Wait::QuietHours(_))
    ));
    assert_eq!(release(&Action::Snapshot, Autonomy::Auto, &limits(true, true)), Release::Apply);
}

#[test]
fn every_settlement_is_a_step_the_proposal_can_take() {
    use crate::proposal::State;
    let causes = [Cause::Error("boom".into()), Cause::Crash];
    let outcomes = [Ok(Settled::Completed), Ok(Settled::RolledBack), Err("stuck".to_owned())];
    for direction in [Direction::Apply, Direction::Undo] {
        // An apply is settled from `approved`, an undo from `applied`.
        let from = if direction == Direction::Apply { State::Approved } else { State::Applied };
        for cause in &causes {
            for outcome in &outcomes {
                for action in [Action::Patch, Action::Restore, Action::BranchDelete] {
                    for by_user in [false, true] {
                        let s = settlement(direction, cause, outcome.clone(), &action, by_user);
                        let case = format!("{direction:?} {cause:?} {outcome:?} {action}: {s:?}");
                        if let Some(step) = s.step {
                            assert!(from.after(step).is_ok(), "{case}");
                        }
                        // Settling that failed keeps the intent for the next start.
                        assert_eq!(s.keep_intent, outcome.is_err(), "{case}");
                        assert!(!s.note.is_empty(), "{case}");
                    }
                }
            }
        }
    }
}

#[test]
fn a_crash_gives_the_users_approval_back_and_fails_the_rest() {
    let crash = |action: Action, by_user| {
        settlement(Direction::Apply, &Cause::Crash, Ok(Settled::RolledBack), &action, by_user).step
    };
    assert_eq!(crash(Action::Patch, true), Some(Step::Interrupt));
    assert_eq!(crash(Action::Patch, false), Some(Step::Fail));
    assert_eq!(crash(Action::Restore, true), Some(Step::Fail));
    let done =
        settlement(Direction::Undo, &Cause::Crash, Ok(Settled::Completed), &Action::Patch, true);
    assert_eq!(done.step, Some(Step::Undo));
    let error = Cause::Error("disk full".into());
    let rolled =
        settlement(Direction::Apply, &error, Ok(Settled::RolledBack), &Action::Patch, true);
    assert_eq!(rolled.step, Some(Step::Fail));
    assert!(rolled.note.contains("disk full; rolled back, nothing was changed"), "{rolled:?}");
}
