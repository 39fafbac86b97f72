//! What the project's tests said about an update, beside what they said before it: a
//! suite that already fails 38 tests says nothing against the update unless it fails
//! more.

use std::collections::BTreeSet;

use crate::process::Finished;

/// One run of the test command, as far as it can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRun {
    pub passed: bool,
    /// The failing tests' names, when the output lists them (libtest, pytest).
    pub failures: BTreeSet<String>,
    /// The output's last line that counts results ("test result: …", "3 failed, …").
    pub summary: Option<String>,
    /// How many tests failed, as the output's last count says (mocha's "38 failing",
    /// jest's and pytest's "3 failed", TAP's "# fail 3"), for runners that name none.
    pub failed: Option<usize>,
}

/// Failure counts as test runners print them.
static FAILED_COUNT: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"(?i)(\d+)\s+(?:failing|failed)\b|#\s*fail\s+(\d+)|\bfail\s+(\d+)\s*$")
        .expect("built-in pattern")
});

impl TestRun {
    pub fn of(finished: &Finished) -> TestRun {
        let output = format!("{}\n{}", finished.stdout, finished.stderr);
        let mut failures = BTreeSet::new();
        let mut in_list = false;
        for line in output.lines() {
            // libtest: "test a::b ... FAILED", and the "failures:" list at the end.
            if let Some(name) =
                line.strip_prefix("test ").and_then(|l| l.strip_suffix(" ... FAILED"))
            {
                failures.insert(name.trim().to_owned());
            } else if let Some(name) = line.strip_prefix("FAILED ") {
                // pytest's short summary: "FAILED tests/test_a.py::test_b - AssertionError".
                let name = name.split(" - ").next().unwrap_or(name);
                failures.insert(name.trim().to_owned());
            } else if line == "failures:" {
                in_list = true;
            } else if in_list {
                match line.strip_prefix("    ") {
                    Some(name) if !name.contains(' ') && !name.is_empty() => {
                        failures.insert(name.to_owned());
                    }
                    _ if line.trim().is_empty() => {}
                    _ => in_list = false,
                }
            }
        }
        let summary = output
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| {
                let l = l.to_lowercase();
                (l.contains("passed") || l.contains("failed") || l.contains("failing"))
                    && l.chars().any(|c| c.is_ascii_digit())
            })
            .map(|l| l.chars().take(160).collect());
        let failed = output.lines().rev().find_map(|line| {
            let found = FAILED_COUNT.captures(line.trim())?;
            (1..=3).find_map(|i| found.get(i)).and_then(|n| n.as_str().parse().ok())
        });
        TestRun { passed: finished.success, failures, summary, failed }
    }
}

/// `command` after the update beside before it, in a sentence.
pub fn compare(command: &str, before: &TestRun, after: &TestRun) -> String {
    let names = |set: &BTreeSet<String>| {
        let shown: Vec<&str> = set.iter().take(5).map(String::as_str).collect();
        let more = set.len().saturating_sub(shown.len());
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        format!("{}{more}", shown.join(", "))
    };
    let failures = |n: usize| format!("{n} {}", if n == 1 { "failure" } else { "failures" });
    match (before.passed, after.passed) {
        (true, true) => format!("`{command}` passes, as it did before the update"),
        (false, true) => format!("`{command}` passes (it failed before the update)"),
        (true, false) if !after.failures.is_empty() => format!(
            "`{command}` fails after the update (it passed before): {}: {}",
            failures(after.failures.len()),
            names(&after.failures)
        ),
        (true, false) => format!(
            "`{command}` fails after the update (it passed before){}",
            after.summary.as_ref().map(|s| format!(": {s}")).unwrap_or_default()
        ),
        (false, false) if after.failures.is_empty() || before.failures.is_empty() => {
            match (before.failed, after.failed) {
                (Some(b), Some(a)) if a == b => {
                    format!("`{command}` fails as before the update: the same {}", failures(a))
                }
                (Some(b), Some(a)) if a > b => format!(
                    "`{command}`: {} with the update, {b} before ({} more)",
                    failures(a),
                    a - b
                ),
                (Some(b), Some(a)) => format!(
                    "`{command}`: {} with the update, {b} before ({} fewer)",
                    failures(a),
                    b - a
                ),
                _ => format!("`{command}` fails, as it did before the update"),
            }
        }
        (false, false) => {
            let new: BTreeSet<String> =
                after.failures.difference(&before.failures).cloned().collect();
            let fewer = before.failures.len().saturating_sub(after.failures.len());
            if new.is_empty() && fewer == 0 {
                format!(
                    "`{command}` fails as before the update: the same {}",
                    failures(before.failures.len())
                )
            } else if new.is_empty() {
                format!(
                    "`{command}`: {}, all failing before the update too ({fewer} fewer)",
                    failures(after.failures.len())
                )
            } else {
                format!(
                    "`{command}`: {} new with the update ({}), {} as before",
                    failures(new.len()),
                    names(&new),
                    after.failures.len() - new.len()
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(success: bool, stdout: &str) -> Finished {
        Finished {
            success,
            code: Some(if success { 0 } else { 101 }),
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }

    const BEFORE: &str = "test a ... ok\ntest tz::one ... FAILED\ntest tz::two ... FAILED\n\nfailures:\n    tz::one\n    tz::two\n\ntest result: FAILED. 1 passed; 2 failed";

    #[test]
    fn the_same_failures_as_before_say_nothing_against_the_update() {
        let before = TestRun::of(&finished(false, BEFORE));
        assert_eq!(before.failures.len(), 2);
        assert_eq!(before.summary.as_deref(), Some("test result: FAILED. 1 passed; 2 failed"));
        let said = compare("cargo test", &before, &before.clone());
        assert_eq!(said, "`cargo test` fails as before the update: the same 2 failures");
    }

    #[test]
    fn new_failures_are_named_and_counted() {
        let before = TestRun::of(&finished(false, BEFORE));
        let after = TestRun::of(&finished(false, &format!("test api::parse ... FAILED\n{BEFORE}")));
        assert_eq!(
            compare("cargo test", &before, &after),
            "`cargo test`: 1 failure new with the update (api::parse), 2 as before"
        );
        let passing = TestRun::of(&finished(true, "test result: ok. 3 passed"));
        assert_eq!(
            compare("npm test", &passing, &after),
            "`npm test` fails after the update (it passed before): 3 failures: api::parse, tz::one, tz::two"
        );
        assert_eq!(
            compare("npm test", &before, &passing),
            "`npm test` passes (it failed before the update)"
        );
    }

    #[test]
    fn a_suite_that_names_nothing_is_judged_by_its_exit_and_summary() {
        let passing = TestRun::of(&finished(true, "ok"));
        let failing = TestRun::of(&finished(false, "  38 failing\n"));
        assert_eq!(
            compare("npm test", &passing, &failing),
            "`npm test` fails after the update (it passed before): 38 failing"
        );
        assert_eq!(
            compare("npm test", &failing, &failing),
            "`npm test` fails as before the update: the same 38 failures"
        );
        let more = TestRun::of(&finished(false, "  2 passing (40ms)\n  41 failing\n"));
        assert_eq!(
            compare("npm test", &failing, &more),
            "`npm test`: 41 failures with the update, 38 before (3 more)"
        );
        let unreadable = TestRun::of(&finished(false, "Error: boom"));
        assert_eq!(
            compare("npm test", &failing, &unreadable),
            "`npm test` fails, as it did before the update"
        );
    }

    #[test]
    fn failure_counts_are_read_as_runners_print_them() {
        for (output, n) in [
            ("  12 passing (2s)\n  38 failing\n\n  1) tz\n", 38),
            ("Tests:       3 failed, 10 passed, 13 total\n", 3),
            ("==== 2 failed, 5 passed in 0.12s ====", 2),
            ("# tests 9\n# pass 7\n# fail 2\n", 2),
            ("ℹ tests 9\nℹ pass 8\nℹ fail 1\n", 1),
            (" Tests  4 failed | 20 passed (24)\n", 4),
        ] {
            assert_eq!(TestRun::of(&finished(false, output)).failed, Some(n), "{output}");
        }
    }
}
