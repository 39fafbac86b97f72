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
}

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
        TestRun { passed: finished.success, failures, summary }
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
            format!("`{command}` fails, as it did before the update")
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
            "`npm test` fails, as it did before the update"
        );
    }
}
