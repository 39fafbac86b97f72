use std::process::ExitCode;

use super::CliResult;
use super::output::{DIM, paint, relative, state_colour};
use crate::paths::Paths;
use crate::protocol::Request;

pub async fn run(paths: &Paths, all: bool, json: bool) -> CliResult {
    let listed =
        crate::client::Client::connect(paths).await?.call_listing(&Request::Queue { all }).await?;
    if json {
        // As the daemon recorded them: nothing to decode to print them.
        crate::out!("{listed}");
        return Ok(ExitCode::SUCCESS);
    }
    // Only what the table shows is decoded.
    let proposals: Vec<Row> = serde_json::from_str(&listed).map_err(|e| {
        super::Failure::new(format!("the daemon sent a listing that is not proposals: {e}"))
    })?;
    if proposals.is_empty() {
        crate::out!("{}", if all { "no proposals yet" } else { "nothing waits for you" });
        return Ok(ExitCode::SUCCESS);
    }
    let repo_name = |p: &Row| {
        std::path::Path::new(&p.repo)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.repo.clone())
    };
    // Columns as wide as what they hold; padded before colouring, so escapes do not
    // count as width.
    let width = |f: &dyn Fn(&Row) -> usize| proposals.iter().map(f).max().unwrap_or(0);
    let id_width = width(&|p| p.id.to_string().len() + 1);
    let state_width = width(&|p| p.state.as_str().len());
    let repo_width = width(&|p| repo_name(p).chars().count());
    let action_width = width(&|p| p.action.to_string().len());
    for p in &proposals {
        crate::out!(
            "{:>id_width$}  {}  {:<repo_width$}  {:<action_width$}  {}  {}",
            format!("#{}", p.id),
            paint(&format!("{:<state_width$}", p.state.as_str()), state_colour(p.state)),
            repo_name(p),
            p.action.to_string(),
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

/// A proposal's line in the table.
#[derive(serde::Deserialize)]
struct Row {
    id: crate::proposal::ProposalId,
    repo: String,
    action: crate::action::Action,
    title: String,
    state: crate::proposal::State,
    created_at: chrono::DateTime<chrono::Utc>,
}
