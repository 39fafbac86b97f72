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
    println!(
        "{} {} — pid {}, up {}",
        paint("kairos daemon", BOLD),
        status.version,
        status.pid,
        humantime::format_duration(std::time::Duration::from_secs(status.uptime_secs))
    );
    match &status.config_error {
        Some(e) => println!(
            "config: {} {}\n  (the last good settings stay in force)",
            paint("error", RED),
            e
        ),
        None => println!("config: {}", status.config_file.display()),
    }
    if status.repos.is_empty() {
        println!("repositories: none — add one with `kairos watch PATH`");
    }
    for repo in &status.repos {
        let state = match repo.state.as_str() {
            "ok" => paint("ok", GREEN),
            other => paint(other, RED),
        };
        let note = if repo.registered {
            ""
        } else {
            " (started here; not registered)"
        };
        println!(
            "\n{} {state}{note}",
            paint(&repo.path.display().to_string(), BOLD)
        );
        if let Some(reason) = &repo.reason {
            println!("  why: {reason}");
        }
        match &repo.last_event {
            Some(e) => println!("  last event: {} — {}", relative(e.at), e.text),
            None => println!("  last event: {}", paint("none yet", DIM)),
        }
        for next in &repo.next_runs {
            println!(
                "  next {}: {} ({}, schedule {})",
                next.task,
                relative(next.at),
                next.at
                    .with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M"),
                next.schedule
            );
        }
    }
    let counts: Vec<String> = status
        .queue
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    println!(
        "\nqueue: {}",
        if counts.is_empty() {
            "empty".to_owned()
        } else {
            counts.join(", ")
        }
    );
    println!("notifier: {}", status.notifier.join(", "));
    Ok(ExitCode::SUCCESS)
}
