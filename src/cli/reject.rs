use super::{CliResult, call, print_outcomes, unexpected};
use crate::paths::Paths;
use crate::protocol::{Request, Response};

pub async fn run(paths: &Paths, ids: Vec<u64>, reason: Option<String>) -> CliResult {
    match call(paths, Request::Reject { ids, reason }).await? {
        Response::Outcomes { outcomes } => print_outcomes(&outcomes),
        other => Err(unexpected(other)),
    }
}
