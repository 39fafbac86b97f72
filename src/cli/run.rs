use std::path::PathBuf;

use super::{CliResult, call, print_outcomes, repo_or_cwd, unexpected};
use crate::paths::Paths;
use crate::protocol::{Request, Response};

pub async fn run(paths: &Paths, task: String, repo: Option<PathBuf>) -> CliResult {
    let repo = repo_or_cwd(repo)?;
    match call(paths, Request::Run { task, repo }).await? {
        Response::Outcomes { outcomes } => print_outcomes(&outcomes),
        other => Err(unexpected(other)),
    }
}
