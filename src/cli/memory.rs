//! `kairos memory show|search|add|forget|export|undo`: what kairos remembers of each
//! repository (and globally), where each note came from, and the way back from a
//! consolidation.

use std::path::PathBuf;
use std::process::ExitCode;

use super::output::{BOLD, DIM, paint, print_json};
use super::{CliResult, call, print_outcomes, unexpected};
use crate::paths::Paths;
use crate::protocol::{RepoNotes, Request, Response};

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// The notes of a repository (default: every one, and the global notes).
    Show {
        #[arg(long)]
        repo: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Notes containing TEXT, in every repository.
    Search {
        text: String,
        #[arg(long)]
        json: bool,
    },
    /// Add a note of your own (to `--repo`, default: the global notes); models get it in
    /// their prompts like the others.
    Add {
        text: String,
        #[arg(long)]
        repo: Option<PathBuf>,
    },
    /// Forget note ID (of `--repo`, default: the global notes).
    Forget {
        id: u64,
        #[arg(long)]
        repo: Option<PathBuf>,
    },
    /// The notes as Markdown, for people and other tools.
    Export {
        #[arg(long)]
        repo: Option<PathBuf>,
    },
    /// Put back the notes from before the last nightly consolidation.
    Undo {
        #[arg(long)]
        repo: Option<PathBuf>,
    },
}

pub async fn run(paths: &Paths, action: Action) -> CliResult {
    match action {
        Action::Show { repo, json } => {
            let repo = repo.map(|r| super::repo_or_cwd(Some(r))).transpose()?;
            print(fetch(paths, Request::MemoryShow { repo }).await?, json)
        }
        Action::Search { text, json } => {
            print(fetch(paths, Request::MemorySearch { text }).await?, json)
        }
        Action::Forget { id, repo } => {
            let repo = repo.map(|r| super::repo_or_cwd(Some(r))).transpose()?;
            outcomes(call(paths, Request::MemoryForget { repo, id }).await?)
        }
        Action::Add { text, repo } => {
            let repo = repo.map(|r| super::repo_or_cwd(Some(r))).transpose()?;
            outcomes(call(paths, Request::MemoryAdd { repo, text }).await?)
        }
        Action::Export { repo } => {
            let repo = repo.map(|r| super::repo_or_cwd(Some(r))).transpose()?;
            for RepoNotes { repo, notes } in fetch(paths, Request::MemoryShow { repo }).await? {
                let title = if repo.is_empty() {
                    "kairos: global notes".to_owned()
                } else {
                    format!("kairos: notes on {repo}")
                };
                crate::out!("{}", notes.markdown(&title));
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Undo { repo } => {
            let repo = super::repo_or_cwd(repo)?;
            outcomes(call(paths, Request::MemoryUndo { repo }).await?)
        }
    }
}

async fn fetch(paths: &Paths, request: Request) -> Result<Vec<RepoNotes>, super::Failure> {
    match call(paths, request).await? {
        Response::Memory { memory } => Ok(memory),
        other => Err(unexpected(other)),
    }
}

fn outcomes(response: Response) -> CliResult {
    match response {
        Response::Outcomes { outcomes } => print_outcomes(&outcomes),
        other => Err(unexpected(other)),
    }
}

fn print(memory: Vec<RepoNotes>, json: bool) -> CliResult {
    if json {
        print_json(&memory);
        return Ok(ExitCode::SUCCESS);
    }
    for RepoNotes { repo, notes } in &memory {
        let title = if repo.is_empty() { "global".to_owned() } else { repo.clone() };
        crate::out!("{}", paint(&title, BOLD));
        if notes.notes.is_empty() {
            crate::out!("  (no notes)");
        }
        for n in &notes.notes {
            crate::out!(
                "  #{:<4} {}  {}",
                n.id,
                super::output::visible(&n.text),
                paint(&format!("({}, {})", n.source, n.added_at.format("%Y-%m-%d")), DIM)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
