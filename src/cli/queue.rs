use std::process::ExitCode;

use super::output::{DIM, paint, print_json, relative, state_colour};
use super::{CliResult, call, unexpected};
use crate::paths::Paths;
use crate::protocol::{Request, Response};

pub async fn run(paths: &Paths, all: bool, json: bool) -> CliResult {
    let proposals = match call(paths, Request::Queue { all }).await? {
        Response::Proposals { proposals } => proposals,
        other => return Err(unexpected(other)),
    };
    if json {
        print_json(&proposals);
        return Ok(ExitCode::SUCCESS);
    }
    if proposals.is_empty() {
        crate::out!("{}", if all { "no proposals yet" } else { "nothing waits for you" });
        return Ok(ExitCode::SUCCESS);
    }
    for p in &proposals {
        let repo = std::path::Path::new(&p.repo)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.repo.clone());
        crate::out!(
            "{:>5}  {:<8}  {:<16}  {:<18}  {}  {}",
            format!("#{}", p.id),
            paint(p.state.as_str(), state_colour(p.state)),
            repo,
            p.action,
            super::output::visible(&p.title),
            paint(&relative(p.created_at), DIM)
        );
    }
    if !all {
        crate::out!(
            "\n`kairos show ID` for details; `kairos approve ID` or `kairos reject ID` to decide"
        );
    }
    Ok(ExitCode::SUCCESS)
}
