use super::{CliResult, call, print_outcomes, unexpected};
use crate::paths::Paths;
use crate::protocol::{Request, Response};

pub async fn run(
    paths: &Paths,
    ids: Vec<u64>,
    always: bool,
    for_duration: Option<std::time::Duration>,
) -> CliResult {
    let request = Request::Approve { ids, always, for_secs: for_duration.map(|d| d.as_secs()) };
    match call(paths, request).await? {
        Response::Outcomes { outcomes } => print_outcomes(&outcomes),
        other => Err(unexpected(other)),
    }
}
