use super::{CliResult, call, print_outcomes, unexpected};
use crate::paths::Paths;
use crate::protocol::{Request, Response};

pub async fn run(paths: &Paths, id: u64) -> CliResult {
    match call(paths, Request::Undo { id }).await? {
        Response::Outcomes { outcomes } => print_outcomes(&outcomes),
        other => Err(unexpected(other)),
    }
}
