//! `kairos digest [--date D] [--repo PATH]`: what happened in a day, per repository.

use std::path::PathBuf;
use std::process::ExitCode;

use super::output::{BOLD, paint, print_json};
use super::{CliResult, call, unexpected};
use crate::paths::Paths;
use crate::protocol::{Request, Response};

pub async fn run(
    paths: &Paths,
    date: Option<chrono::NaiveDate>,
    repo: Option<PathBuf>,
    json: bool,
) -> CliResult {
    let repo = repo.map(|r| super::repo_or_cwd(Some(r))).transpose()?;
    let digests = match call(paths, Request::Digest { repo, date }).await? {
        Response::Digests { digests } => digests,
        other => return Err(unexpected(other)),
    };
    if json {
        print_json(&digests);
        return Ok(ExitCode::SUCCESS);
    }
    for d in &digests {
        crate::out!("{} — {}", paint(&d.repo, BOLD), d.date);
        match &d.text {
            Some(text) => crate::out!("{}\n", super::output::visible(text)),
            None => crate::out!("nothing happened\n"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
