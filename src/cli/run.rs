use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{CliResult, call, print_outcomes, repo_or_cwd, unexpected};
use crate::paths::Paths;
use crate::protocol::{Request, Response};

pub async fn run(paths: &Paths, task: String, repo: Option<PathBuf>) -> CliResult {
    let repo = repo_or_cwd(repo)?;
    let doing = format!(
        "running {task} in {}",
        repo.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    );
    let answer = call(paths, Request::Run { task, repo });
    let answer = if std::io::stderr().is_terminal() {
        with_progress(&doing, answer).await
    } else {
        answer.await
    };
    match answer? {
        Response::Outcomes { outcomes } => print_outcomes(&outcomes),
        other => Err(unexpected(other)),
    }
}

/// Awaits `work`, saying on the terminal what runs and for how long (a task that runs a
/// test suite in scratch space takes minutes); the line is cleared at the end.
async fn with_progress<T>(doing: &str, work: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tokio::pin!(work);
    let mut shown = false;
    loop {
        tokio::select! {
            done = &mut work => {
                if shown {
                    eprint!("\r\x1b[2K");
                }
                return done;
            }
            _ = tick.tick() => {
                // The first second shows nothing: most runs are done by then.
                let elapsed = started.elapsed().as_secs();
                if elapsed >= 1 {
                    eprint!("\r\x1b[2K{doing}… {}", super::output::span(elapsed));
                    let _ = std::io::stderr().flush();
                    shown = true;
                }
            }
        }
    }
}
