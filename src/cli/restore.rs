use std::path::PathBuf;

use super::{CliResult, Failure, call, print_outcomes, repo_or_cwd, unexpected};
use crate::paths::Paths;
use crate::protocol::{Request, Response};

pub async fn run(
    paths: &Paths,
    snapshot: String,
    targets: Vec<PathBuf>,
    repo: Option<PathBuf>,
) -> CliResult {
    let repo = repo_or_cwd(repo)?;
    let targets = targets
        .into_iter()
        .map(|p| std::path::absolute(&p).map_err(|e| Failure::new(format!("{}: {e}", p.display()))))
        .collect::<Result<Vec<_>, _>>()?;
    match call(paths, Request::Restore { repo, snapshot, paths: targets }).await? {
        Response::Outcomes { outcomes } => print_outcomes(&outcomes),
        other => Err(unexpected(other)),
    }
}
