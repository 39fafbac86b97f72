use std::process::ExitCode;

use super::output::{DIM, RED, paint};
use super::{CliResult, Failure, unexpected};
use crate::client::Client;
use crate::paths::Paths;
use crate::protocol::{Request, Response};
use crate::store::{LogEntry, LogFilter, LogKind};

/// The filter `kairos log`'s options ask for; `--repo` names a registered repository.
pub fn filter(
    repo: Option<std::path::PathBuf>,
    task: Option<String>,
    kinds: Vec<LogKind>,
    since: Option<std::time::Duration>,
) -> Result<LogFilter, Failure> {
    let repo = match repo {
        Some(path) => Some(
            crate::registry::resolve_repo(&path)
                .map_err(|e| Failure::new(e).hint("pass the path of a repository kairos watches"))?
                .to_string_lossy()
                .into_owned(),
        ),
        None => None,
    };
    let since = match since {
        Some(ago) => Some(
            chrono::Utc::now()
                - chrono::Duration::from_std(ago)
                    .map_err(|_| Failure::new("--since: too long ago"))?,
        ),
        None => None,
    };
    Ok(LogFilter { repo, task, kinds, since })
}

pub async fn run(
    paths: &Paths,
    n: usize,
    follow: bool,
    filter: LogFilter,
    json: bool,
) -> CliResult {
    let mut client = Client::connect(paths).await?;
    let first = client.call(&Request::Log { limit: n, follow, filter }).await?;
    if !follow {
        let Response::Log { entries } = first else {
            return Err(unexpected(first));
        };
        for entry in &entries {
            print_entry(entry, json);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut next = Some(first);
    while let Some(response) = next {
        match response {
            Response::LogEntry { entry } => print_entry(&entry, json),
            Response::LogEnd => return Ok(ExitCode::SUCCESS),
            other => return Err(unexpected(other)),
        }
        next = client.next().await.map_err(Failure::from)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_entry(entry: &LogEntry, json: bool) {
    if json {
        crate::out!("{}", serde_json::to_string(entry).expect("serialisable"));
        return;
    }
    let at = entry.at.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S");
    // Padded before colouring: escapes do not count as width.
    let kind = match entry.kind {
        LogKind::Error => paint("error   ", RED),
        k => format!("{:<8}", k.as_str()),
    };
    let repo = entry
        .repo
        .as_deref()
        .and_then(|r| std::path::Path::new(r).file_name())
        .map(|n| format!("{} ", n.to_string_lossy()))
        .unwrap_or_default();
    let message = super::output::visible(&entry.message);
    crate::out!("{} {kind} {repo}{message}", paint(&at.to_string(), DIM));
}
