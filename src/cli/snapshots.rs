use std::path::PathBuf;
use std::process::ExitCode;

use super::output::{DIM, paint, print_json, relative};
use super::{CliResult, call, unexpected};
use crate::paths::Paths;
use crate::protocol::{Request, Response};

pub async fn run(paths: &Paths, repo: Option<PathBuf>, json: bool) -> CliResult {
    // Default to the repository the user is in; outside any, list every watched one.
    let repo = match repo {
        Some(r) => Some(super::repo_or_cwd(Some(r))?),
        None => super::repo_or_cwd(None).ok(),
    };
    let snapshots = match call(paths, Request::Snapshots { repo }).await? {
        Response::Snapshots { snapshots } => snapshots,
        other => return Err(unexpected(other)),
    };
    if json {
        print_json(&snapshots);
        return Ok(ExitCode::SUCCESS);
    }
    if snapshots.is_empty() {
        crate::out!("no snapshots yet; kairos takes one after your edits go quiet");
        return Ok(ExitCode::SUCCESS);
    }
    for s in &snapshots {
        let repo = s.repo.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        crate::out!(
            "{}  {:<16} {:<20} {}  {}",
            &s.commit[..12],
            repo,
            s.branch,
            s.summary,
            paint(&relative(s.at), DIM)
        );
    }
    crate::out!("\n`kairos restore COMMIT [PATH...]` brings files back (undoable)");
    Ok(ExitCode::SUCCESS)
}
