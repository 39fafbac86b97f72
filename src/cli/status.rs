use std::process::ExitCode;

use super::output::{BOLD, DIM, GREEN, RED, paint, print_json, relative};
use super::{CliResult, call, unexpected};
use crate::paths::Paths;
use crate::protocol::{Request, Response};

pub async fn run(paths: &Paths, json: bool) -> CliResult {
    let status = match call(paths, Request::Status).await? {
        Response::Status { status } => status,
        other => return Err(unexpected(other)),
    };
    if json {
        print_json(&status);
        return Ok(ExitCode::SUCCESS);
    }
    crate::out!(
        "{} {} — pid {}, up {}",
        paint("kairos daemon", BOLD),
        status.version,
        status.pid,
        humantime::format_duration(std::time::Duration::from_secs(status.uptime_secs))
    );
    match &status.config_error {
        Some(e) => crate::out!(
            "config: {} {}\n  (the last good settings stay in force)",
            paint("error", RED),
            e
        ),
        None => crate::out!("config: {}", status.config_file.display()),
    }
    for error in &status.policy_errors {
        crate::out!(
            "policy: {} {error}\n  (the last good policy stays in force)",
            paint("error", RED)
        );
    }
    if let Some(llm) = &status.llm {
        let state = match &llm.off {
            Some(why) => format!("{} {why}", paint("off:", RED)),
            None => format!(
                "{}/{} calls this hour, {}/{} tokens today",
                llm.calls_last_hour,
                llm.max_calls_per_hour,
                llm.tokens_today,
                llm.max_tokens_per_day
            ),
        };
        crate::out!("model: {} ({}, {}) — {state}", llm.model, llm.provider, llm.base_url);
        let over = llm.calls_last_hour >= llm.max_calls_per_hour
            || llm.tokens_today >= llm.max_tokens_per_day;
        if over && llm.off.is_none() {
            crate::out!("  over the budget: model tasks wait until it resets");
        }
        for (task, used) in &llm.today {
            crate::out!("  today, {task}: {}", task_usage(used));
        }
    }
    if let Some(problem) = &status.reload_problem {
        crate::out!("settings: {} {problem}", paint("warning", RED));
    }
    if status.repos.is_empty() {
        crate::out!("repositories: none — add one with `kairos watch PATH`");
    }
    for repo in &status.repos {
        let state = match repo.state.as_str() {
            "ok" => paint("ok", GREEN),
            other => paint(other, RED),
        };
        let note = if repo.registered { "" } else { " (started here; not registered)" };
        crate::out!("\n{} {state}{note}", paint(&repo.path.display().to_string(), BOLD));
        if let Some(reason) = &repo.reason {
            crate::out!("  why: {reason}");
        }
        match &repo.last_event {
            Some(e) => crate::out!("  last event: {} — {}", relative(e.at), e.text),
            None => crate::out!("  last event: {}", paint("none yet", DIM)),
        }
        if repo.watched_dirs > 0 {
            crate::out!(
                "  watching: {} {}",
                repo.watched_dirs,
                plural(repo.watched_dirs, "directory", "directories")
            );
        }
        if let Some(problem) = &repo.watch_problem {
            crate::out!("  {} {problem}", paint("watching:", RED));
        }
        if !repo.skipped_dirs.is_empty() {
            const SHOWN: usize = 5;
            let mut names =
                repo.skipped_dirs.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
            if repo.skipped_dirs.len() > SHOWN {
                names.push_str(&format!(" and {} more", repo.skipped_dirs.len() - SHOWN));
            }
            crate::out!("  not entered (ignored by git): {names}");
        }
        for next in &repo.next_runs {
            crate::out!(
                "  next {}: {} ({}, schedule {})",
                next.task,
                relative(next.at),
                next.at.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M"),
                next.schedule
            );
        }
    }
    let counts: Vec<String> = status.queue.iter().map(|(s, n)| format!("{n} {s}")).collect();
    crate::out!(
        "\nqueue: {}",
        if counts.is_empty() { "empty".to_owned() } else { counts.join(", ") }
    );
    crate::out!("notifier: {}", status.notifier.join(", "));
    Ok(ExitCode::SUCCESS)
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// One task's calls and tokens today, the cache's share named when there is one.
fn task_usage(used: &crate::llm::TaskUsage) -> String {
    let t = &used.tokens;
    let calls = if used.calls == 1 { "call" } else { "calls" };
    let mut text = format!("{} {calls}, {} in / {} out tokens", used.calls, t.input, t.output);
    if t.cache_read + t.cache_write > 0 {
        text.push_str(&format!(" (cache: {} read, {} written)", t.cache_read, t.cache_write));
    }
    match used.broken_edits {
        0 => {}
        1 => text.push_str("; 1 suggested edit broke the check and was dropped"),
        n => text.push_str(&format!("; {n} suggested edits broke the check and were dropped")),
    }
    text
}
