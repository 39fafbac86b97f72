//! What calls cost and what may still be spent: tokens as the provider reports them,
//! calls per hour and tokens per day against `[llm]`'s budgets. Pure: the store keeps
//! the records, this decides.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Tokens one call used, as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    /// Read from the provider's prompt cache (billed lower).
    #[serde(default)]
    pub cache_read: u64,
    /// Written to the prompt cache.
    #[serde(default)]
    pub cache_write: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input + self.output + self.cache_read + self.cache_write
    }

    pub fn add(&mut self, other: Usage) {
        self.input += other.input;
        self.output += other.output;
        self.cache_read += other.cache_read;
        self.cache_write += other.cache_write;
    }
}

/// One day's calls and tokens, per task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayUsage {
    pub day: Option<NaiveDate>,
    pub tasks: BTreeMap<String, TaskUsage>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskUsage {
    pub calls: u64,
    pub tokens: Usage,
    /// Suggested edits dropped because they broke the project's check, twice.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub broken_edits: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl DayUsage {
    pub fn record(&mut self, task: &str, usage: Usage) {
        let entry = self.tasks.entry(task.to_owned()).or_default();
        entry.calls += 1;
        entry.tokens.add(usage);
    }

    pub fn tokens(&self) -> u64 {
        self.tasks.values().map(|t| t.tokens.total()).sum()
    }

    pub fn calls(&self) -> u64 {
        self.tasks.values().map(|t| t.calls).sum()
    }
}

/// Why no call may be made now, and when one may be again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverBudget {
    pub why: String,
    pub until: DateTime<Utc>,
}

/// Whether a call may be made at `now`, given when the calls of the last hour were made
/// and what today used. The day is the UTC day.
pub fn check(
    max_calls_per_hour: u32,
    max_tokens_per_day: u64,
    calls: &[DateTime<Utc>],
    today: &DayUsage,
    now: DateTime<Utc>,
) -> Result<(), OverBudget> {
    let hour_ago = now - Duration::hours(1);
    let recent: Vec<&DateTime<Utc>> = calls.iter().filter(|t| **t > hour_ago).collect();
    if recent.len() >= max_calls_per_hour as usize {
        let oldest = recent.iter().min().map_or(now, |t| **t);
        return Err(OverBudget {
            why: format!(
                "{} calls in the last hour (max_calls_per_hour = {max_calls_per_hour})",
                recent.len()
            ),
            until: oldest + Duration::hours(1),
        });
    }
    let used = today.tokens();
    if used >= max_tokens_per_day {
        let tomorrow =
            (now.date_naive() + Duration::days(1)).and_hms_opt(0, 0, 0).expect("midnight");
        return Err(OverBudget {
            why: format!("{used} tokens today (max_tokens_per_day = {max_tokens_per_day})"),
            until: tomorrow.and_utc(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, m, 0).unwrap()
    }

    #[test]
    fn calls_per_hour_and_tokens_per_day_are_kept() {
        let none = DayUsage::default();
        assert!(check(2, 1000, &[], &none, at(10, 0)).is_ok());
        let calls = [at(9, 30), at(9, 50)];
        let over = check(2, 1000, &calls, &none, at(10, 0)).unwrap_err();
        assert_eq!(over.until, at(10, 30), "the oldest call of the hour leaves it then");
        assert!(check(2, 1000, &calls, &none, at(10, 31)).is_ok());

        let mut today = DayUsage::default();
        today.record("commit-message", Usage { input: 900, output: 150, ..Usage::default() });
        let over = check(30, 1000, &[], &today, at(10, 0)).unwrap_err();
        assert_eq!(over.until, Utc.with_ymd_and_hms(2026, 12, 2, 0, 0, 0).unwrap());
        assert!(over.why.contains("1050 tokens today"), "{}", over.why);
        assert_eq!((today.calls(), today.tokens()), (1, 1050));
    }
}
