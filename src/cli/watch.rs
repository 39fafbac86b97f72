use std::path::PathBuf;
use std::process::ExitCode;

use super::{CliResult, Failure, print_outcomes, unexpected};
use crate::client::{Client, ClientError};
use crate::paths::Paths;
use crate::protocol::{Request, Response};
use crate::registry::{Registry, resolve_repo};

pub async fn watch(paths: &Paths, targets: Vec<PathBuf>) -> CliResult {
    // Relative paths mean the user's directory, not the daemon's.
    let targets = absolute(targets)?;
    match Client::connect(paths).await {
        Ok(mut client) => match client.call(&Request::Watch { paths: targets }).await? {
            Response::Watched { outcomes } => print_outcomes(&outcomes),
            other => Err(unexpected(other)),
        },
        Err(ClientError::NotRunning(_)) => offline(paths, targets, true),
        Err(e) => Err(e.into()),
    }
}

pub async fn unwatch(paths: &Paths, targets: Vec<PathBuf>) -> CliResult {
    let targets = absolute(targets)?;
    match Client::connect(paths).await {
        Ok(mut client) => match client.call(&Request::Unwatch { paths: targets }).await? {
            Response::Watched { outcomes } => print_outcomes(&outcomes),
            other => Err(unexpected(other)),
        },
        Err(ClientError::NotRunning(_)) => offline(paths, targets, false),
        Err(e) => Err(e.into()),
    }
}

fn absolute(targets: Vec<PathBuf>) -> Result<Vec<PathBuf>, Failure> {
    targets
        .into_iter()
        .map(|p| std::path::absolute(&p).map_err(|e| Failure::new(format!("{}: {e}", p.display()))))
        .collect()
}

/// With no daemon running, edit the registry directly; the daemon reads it on start.
fn offline(paths: &Paths, targets: Vec<PathBuf>, add: bool) -> CliResult {
    let file = paths.repos_file();
    let mut failed = false;
    for target in targets {
        let root = if add {
            match resolve_repo(&target) {
                Ok(root) => root,
                Err(e) => {
                    eprintln!("error: {e}");
                    failed = true;
                    continue;
                }
            }
        } else {
            resolve_repo(&target).unwrap_or(target)
        };
        let changed = Registry::update(&file, |r| if add { r.add(&root) } else { r.remove(&root) })
            .map_err(|e| Failure::new(e.to_string()))?;
        let what = match (add, changed) {
            (true, true) => "registered; the daemon will watch it when it starts (`kairos daemon`)",
            (true, false) => "already registered",
            (false, true) => "no longer registered",
            (false, false) => {
                failed = true;
                "was not registered"
            }
        };
        crate::out!("{}: {what}", root.display());
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
