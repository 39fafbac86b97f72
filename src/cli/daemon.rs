use std::process::ExitCode;

use super::{CliResult, Failure};
use crate::paths::Paths;

pub async fn run(paths: Paths) -> CliResult {
    crate::daemon::run(paths).await.map_err(|e| {
        let failure = Failure::new(e.to_string());
        match e {
            crate::daemon::DaemonError::Socket(crate::daemon::SocketError::InUse(_)) => {
                failure.hint("`kairos status` shows it; stop it first to start another")
            }
            _ => failure,
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
