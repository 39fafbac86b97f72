//! `kairos run TASK`: runs a task now. On a terminal it says what the run is doing, step
//! by step as the daemon reports them, and for how long (a task that runs a test suite
//! in scratch space takes minutes); piped, only the outcome.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{CliResult, Failure, print_outcomes, repo_or_cwd, unexpected};
use crate::client::Client;
use crate::paths::Paths;
use crate::protocol::{Request, Response};

pub async fn run(paths: &Paths, task: String, repo: Option<PathBuf>) -> CliResult {
    let repo = repo_or_cwd(repo)?;
    let doing = format!(
        "running {task} in {}",
        repo.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    );
    let progress = std::io::stderr().is_terminal();
    let mut client = Client::connect(paths).await?;
    let first = client.call(&Request::Run { task, repo, progress }).await?;
    let answer = if progress { with_progress(&doing, first, &mut client).await? } else { first };
    match answer {
        Response::Outcomes { outcomes } => print_outcomes(&outcomes),
        other => Err(unexpected(other)),
    }
}

/// Reads steps until the outcome arrives, keeping one line on the terminal up to date:
/// what runs, its current step, and how long it has been running. The line is cleared
/// at the end.
async fn with_progress(
    doing: &str,
    first: Response,
    client: &mut Client,
) -> Result<Response, Failure> {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut step: Option<String>;
    let mut shown = false;
    let mut frame = first;
    loop {
        match frame {
            Response::Step { step: now } => step = Some(now),
            outcome => {
                if shown {
                    eprint!("\r\x1b[2K");
                }
                return Ok(outcome);
            }
        }
        // One read per frame, kept across ticks: a read dropped halfway would lose
        // the rest of its frame.
        let read = client.next();
        tokio::pin!(read);
        frame = loop {
            tokio::select! {
                next = &mut read => {
                    break next?.ok_or_else(|| Failure::new("the daemon hung up during the run"))?;
                }
                _ = tick.tick() => {
                    // The first second shows nothing: most runs are done by then.
                    let elapsed = started.elapsed().as_secs();
                    if elapsed >= 1 {
                        show(&line(doing, step.as_deref(), elapsed));
                        shown = true;
                    }
                }
            }
        };
    }
}

/// "running lockfile in api: the tests on the current lock file: `cargo test`… 2 minutes"
fn line(doing: &str, step: Option<&str>, elapsed: u64) -> String {
    let step = step.map(|s| format!(": {}", super::output::visible(s))).unwrap_or_default();
    format!("{doing}{step}… {}", super::output::span(elapsed))
}

/// Redraws the progress line, cut to the terminal's width so it never wraps (a wrapped
/// line would not be cleared by the next redraw).
fn show(text: &str) {
    let width = console::Term::stderr().size().1 as usize;
    let text: String = text.chars().take(width.saturating_sub(1).max(20)).collect();
    eprint!("\r\x1b[2K{text}");
    let _ = std::io::stderr().flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_what_runs_its_step_and_for_how_long() {
        assert_eq!(line("running fmt in api", None, 1), "running fmt in api… 1 second");
        assert_eq!(
            line("running lockfile in api", Some("updating: `cargo update`\x1b[2J"), 130),
            "running lockfile in api: updating: `cargo update`\\u{1b}[2J… 2 minutes"
        );
    }
}
