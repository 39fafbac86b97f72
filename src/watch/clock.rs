//! The clock as an event source: cron schedules as users write them (5 fields,
//! `@daily`, numeric day-of-week with 0 = Sunday, translated for the cron crate's 6 fields
//! and 1 = Sunday) with a timezone, and, as pure functions of the wall clock, when a task
//! runs next (with a small per-repository jitter, so repositories do not all fetch at the
//! same second) and how many runs were missed while the machine slept or the daemon was
//! down. The repository actor sleeps until the next of these deadlines.

use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::config::TaskSettings;

/// A parsed schedule and the timezone its times are meant in.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    source: String,
    schedule: cron::Schedule,
    zone: Zone,
}

/// The timezone of a schedule: the machine's local time or a named IANA zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    Local,
    Named(Tz),
}

impl Zone {
    /// Parses `local` or an IANA name such as `Europe/Paris`.
    pub fn parse(text: &str) -> Result<Zone, String> {
        if text.eq_ignore_ascii_case("local") {
            return Ok(Zone::Local);
        }
        Tz::from_str(text).map(Zone::Named).map_err(|_| {
            format!("unknown timezone {text:?}; write \"local\" or an IANA name such as \"Europe/Paris\"")
        })
    }

    /// As the config writes it: `local` or the IANA name.
    pub fn name(&self) -> String {
        match self {
            Zone::Local => "local".into(),
            Zone::Named(tz) => tz.name().into(),
        }
    }
}

impl CronSchedule {
    /// Parses a cron expression in the user's terms; the error says what to write.
    pub fn parse(expr: &str, zone: Zone) -> Result<CronSchedule, String> {
        let translated = translate(expr)?;
        let schedule = cron::Schedule::from_str(&translated).map_err(|e| {
            format!(
                "invalid cron expression {expr:?} ({e}); write 5 fields \"minute hour day-of-month month day-of-week\", e.g. \"0 9 * * 1-5\", or @hourly, @daily, @weekly"
            )
        })?;
        let parsed = CronSchedule { source: expr.trim().to_owned(), schedule, zone };
        // A date that does not exist (30 February) parses, and would silently never run.
        if parsed.next_after(Utc::now()).is_none() {
            return Err(format!(
                "{expr:?} never fires: no date matches it (such as 30 February or 31 April); \
                 check the day-of-month and month fields"
            ));
        }
        Ok(parsed)
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn zone(&self) -> Zone {
        self.zone
    }

    /// The first time strictly after `after` at which the schedule fires.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.zone {
            Zone::Local => self
                .schedule
                .after(&after.with_timezone(&chrono::Local))
                .next()
                .map(|t| t.with_timezone(&Utc)),
            Zone::Named(tz) => {
                self.schedule.after(&after.with_timezone(&tz)).next().map(|t| t.with_timezone(&Utc))
            }
        }
    }
}

/// Translates a user's cron line into the cron crate's dialect.
fn translate(expr: &str) -> Result<String, String> {
    let expr = expr.trim();
    if expr.starts_with('@') {
        return match expr {
            "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight"
            | "@hourly" => Ok(if expr == "@midnight" { "@daily".into() } else { expr.into() }),
            _ => Err(format!(
                "unknown cron shorthand {expr:?}; use @hourly, @daily, @weekly, @monthly or @yearly"
            )),
        };
    }
    let fields: Vec<&str> = expr.split_whitespace().collect();
    match fields.len() {
        5 => {
            let dow = translate_day_of_week(fields[4])?;
            Ok(format!("0 {} {} {} {} {}", fields[0], fields[1], fields[2], fields[3], dow))
        }
        // Six or seven fields: the seconds-first form the cron crate speaks natively.
        6 | 7 => Ok(expr.to_owned()),
        n => Err(format!(
            "a cron expression has 5 fields \"minute hour day-of-month month day-of-week\" (e.g. \"*/15 * * * *\"); {expr:?} has {n}"
        )),
    }
}

/// Standard cron numbers days 0–7 with 0 and 7 both Sunday; the cron crate numbers them
/// 1–7 with 1 = Sunday. Numeric items are expanded to explicit lists so that ranges
/// crossing Sunday stay correct; names pass through unchanged.
fn translate_day_of_week(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok(field.to_owned());
    }
    let mut out: Vec<String> = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("invalid step {s:?} in day-of-week {field:?}"))?,
            ),
            None => (item, 1),
        };
        let bounds = if range == "*" {
            Some((0, 6))
        } else if let Some((a, b)) = range.split_once('-') {
            a.parse::<u32>().ok().zip(b.parse::<u32>().ok())
        } else {
            range.parse::<u32>().ok().map(|n| (n, n))
        };
        let Some((start, end)) = bounds else {
            // A name (MON, Tue-Fri…) which the cron crate reads as it is.
            out.push(item.to_owned());
            continue;
        };
        if start > 7 || end > 7 || start > end {
            return Err(format!(
                "invalid day-of-week {item:?}: days are 0-7 (0 and 7 are Sunday) or names like MON-FRI"
            ));
        }
        for day in (start..=end).step_by(step as usize) {
            let crate_day = (day % 7) + 1;
            let text = crate_day.to_string();
            if !out.contains(&text) {
                out.push(text);
            }
        }
    }
    Ok(out.join(","))
}

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

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn five_field_lines_fire_on_the_minute() {
        let s = CronSchedule::parse("*/15 * * * *", Zone::Named(chrono_tz::UTC)).unwrap();
        assert_eq!(s.next_after(utc(2026, 11, 25, 10, 7)), Some(utc(2026, 11, 25, 10, 15)));
    }

    #[test]
    fn six_field_lines_are_accepted_as_they_are() {
        let s = CronSchedule::parse("0 30 9 * * *", Zone::Named(chrono_tz::UTC)).unwrap();
        assert_eq!(s.next_after(utc(2026, 11, 25, 10, 0)), Some(utc(2026, 11, 26, 9, 30)));
    }

    #[test]
    fn numeric_weekdays_use_zero_for_sunday() {
        // 2026-11-25 is a Wednesday; the next Sunday is the 29th.
        let sunday = CronSchedule::parse("0 9 * * 0", Zone::Named(chrono_tz::UTC)).unwrap();
        assert_eq!(sunday.next_after(utc(2026, 11, 25, 10, 0)), Some(utc(2026, 11, 29, 9, 0)));
        let seven = CronSchedule::parse("0 9 * * 7", Zone::Named(chrono_tz::UTC)).unwrap();
        assert_eq!(seven.next_after(utc(2026, 11, 25, 10, 0)), Some(utc(2026, 11, 29, 9, 0)));
        let weekdays = CronSchedule::parse("0 9 * * 1-5", Zone::Named(chrono_tz::UTC)).unwrap();
        assert_eq!(weekdays.next_after(utc(2026, 11, 27, 10, 0)), Some(utc(2026, 11, 30, 9, 0)));
        let weekend = CronSchedule::parse("0 9 * * 6-7", Zone::Named(chrono_tz::UTC)).unwrap();
        assert_eq!(weekend.next_after(utc(2026, 11, 25, 10, 0)), Some(utc(2026, 11, 28, 9, 0)));
        assert_eq!(weekend.next_after(utc(2026, 11, 28, 10, 0)), Some(utc(2026, 11, 29, 9, 0)));
    }

    #[test]
    fn names_and_shorthands_work() {
        let s = CronSchedule::parse("0 9 * * MON-FRI", Zone::Named(chrono_tz::UTC)).unwrap();
        assert_eq!(s.next_after(utc(2026, 11, 28, 10, 0)), Some(utc(2026, 11, 30, 9, 0)));
        let daily = CronSchedule::parse("@daily", Zone::Named(chrono_tz::UTC)).unwrap();
        assert_eq!(daily.next_after(utc(2026, 11, 25, 10, 0)), Some(utc(2026, 11, 26, 0, 0)));
    }

    #[test]
    fn timezones_shift_the_firing_time() {
        let paris = Zone::parse("Europe/Paris").unwrap();
        let s = CronSchedule::parse("0 9 * * *", paris).unwrap();
        // 09:00 in Paris in November (UTC+1) is 08:00 UTC.
        assert_eq!(s.next_after(utc(2026, 11, 25, 0, 0)), Some(utc(2026, 11, 25, 8, 0)));
    }

    #[test]
    fn bad_expressions_say_what_to_write() {
        let err = CronSchedule::parse("* * *", Zone::Local).unwrap_err();
        assert!(err.contains("5 fields"), "{err}");
        let err = CronSchedule::parse("61 * * * *", Zone::Local).unwrap_err();
        assert!(err.contains("invalid cron expression"), "{err}");
        let err = CronSchedule::parse("0 9 * * 8", Zone::Local).unwrap_err();
        assert!(err.contains("day-of-week"), "{err}");
        assert!(CronSchedule::parse("@fortnightly", Zone::Local).is_err());
        assert!(Zone::parse("Mars/Olympus").unwrap_err().contains("IANA"));
    }

    #[test]
    fn dates_that_never_come_are_refused() {
        let err = CronSchedule::parse("0 0 30 2 *", Zone::Local).unwrap_err();
        assert!(err.contains("never fires") && err.contains("30 February"), "{err}");
        assert!(CronSchedule::parse("0 0 31 4 *", Zone::Local).is_err());
        // Once every four years is rare, not never.
        let leap = CronSchedule::parse("0 0 29 2 *", Zone::Named(chrono_tz::UTC)).unwrap();
        assert_eq!(leap.next_after(utc(2026, 12, 1, 0, 0)), Some(utc(2028, 2, 29, 0, 0)));
    }

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
