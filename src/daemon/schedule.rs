//! Scheduled runs, as pure functions of the wall clock: when a task runs next (with a
//! small per-repository jitter so repositories do not all fetch at the same second), and
//! how many runs were missed while the machine slept or the daemon was down.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::TaskSettings;

/// How late a scheduled run may be before it counts as missed rather than just late.
pub const GRACE: Duration = Duration::from_secs(5 * 60);

/// A stable delay in `[0, max)` for this repository and task.
pub fn jitter(repo: &str, task: &str, max: Duration) -> chrono::Duration {
    if max.is_zero() {
        return chrono::Duration::zero();
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (repo, task).hash(&mut hasher);
    let millis = (max.as_millis() as u64).max(1);
    chrono::Duration::milliseconds((hasher.finish() % millis) as i64)
}

/// The next run after `now`, jitter included, and the schedule that gives it.
pub fn next_run(
    settings: &TaskSettings,
    now: DateTime<Utc>,
    jitter: chrono::Duration,
) -> Option<(DateTime<Utc>, String)> {
    settings
        .triggers
        .schedules
        .iter()
        // Counted from `now - jitter`, so a run inside its jitter delay is not skipped.
        .filter_map(|s| s.next_after(now - jitter).map(|at| (at + jitter, s.source().to_owned())))
        .min_by_key(|(at, _)| *at)
}

/// How many scheduled times fell in `(since, until]` (at most 10,000 are counted).
pub fn missed_runs(settings: &TaskSettings, since: DateTime<Utc>, until: DateTime<Utc>) -> usize {
    let mut count = 0;
    for schedule in &settings.triggers.schedules {
        let mut at = since;
        while let Some(next) = schedule.next_after(at) {
            if next > until || count >= 10_000 {
                break;
            }
            count += 1;
            at = next;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use chrono::TimeZone;

    fn hourly() -> TaskSettings {
        let config = Config::parse(
            "[daemon]\ntimezone = \"UTC\"\n[tasks.fetch]\nschedule = \"0 * * * *\"\n",
            std::path::Path::new("c.toml"),
        )
        .unwrap();
        config.task("fetch").unwrap().clone()
    }

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, m, 0).unwrap()
    }

    #[test]
    fn jitter_is_stable_per_repository_and_bounded() {
        let max = Duration::from_secs(120);
        let a = jitter("/src/a", "fetch", max);
        assert_eq!(a, jitter("/src/a", "fetch", max));
        assert!(a >= chrono::Duration::zero() && a < chrono::Duration::seconds(120));
        assert_ne!(jitter("/src/a", "fetch", max), jitter("/src/b", "fetch", max));
    }

    #[test]
    fn the_next_run_keeps_its_jitter_and_is_not_skipped_inside_it() {
        let j = chrono::Duration::seconds(90);
        assert_eq!(
            next_run(&hourly(), at(10, 0), j).unwrap().0,
            at(10, 1) + chrono::Duration::seconds(30)
        );
        // At 10:00:30 the 10:00 run (due at 10:01:30) is still ahead.
        assert_eq!(
            next_run(&hourly(), at(10, 0) + chrono::Duration::seconds(30), j).unwrap().0,
            at(10, 1) + chrono::Duration::seconds(30)
        );
    }

    #[test]
    fn missed_runs_are_counted_across_a_long_sleep() {
        assert_eq!(missed_runs(&hourly(), at(1, 30), at(1, 59)), 0);
        assert_eq!(missed_runs(&hourly(), at(1, 30), at(5, 0)), 4);
        let three_days = at(1, 0) + chrono::Duration::days(3);
        assert_eq!(missed_runs(&hourly(), at(1, 0), three_days), 72);
    }
}
