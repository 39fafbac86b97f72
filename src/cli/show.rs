use std::process::ExitCode;

use super::output::{BOLD, CYAN, DIM, GREEN, RED, paint, print_json, relative, state_colour};
use super::{CliResult, call, unexpected};
use crate::paths::Paths;
use crate::proposal::{Change, Proposal};
use crate::protocol::{Request, Response};

pub async fn run(paths: &Paths, id: u64, json: bool) -> CliResult {
    let (proposal, diff) = match call(paths, Request::Show { id }).await? {
        Response::Proposal { proposal, diff } => (proposal, diff),
        other => return Err(unexpected(other)),
    };
    if json {
        let mut value = serde_json::to_value(&proposal).expect("serialisable");
        if let Some(diff) = &diff {
            value["diff"] = serde_json::Value::String(diff.clone());
        }
        print_json(&value);
    } else {
        print_human(&proposal);
        if let Some(diff) = &diff {
            print_diff(diff);
        }
        print_next_steps(&proposal);
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a unified diff, coloured on a terminal.
pub(super) fn print_diff(diff: &str) {
    crate::out!("");
    for line in diff.lines() {
        let line = &super::output::visible(line);
        let colour =
            if line.starts_with("diff ") || line.starts_with("--- ") || line.starts_with("+++ ") {
                BOLD
            } else if line.starts_with("@@") {
                CYAN
            } else if line.starts_with('+') {
                GREEN
            } else if line.starts_with('-') {
                RED
            } else {
                ""
            };
        if colour.is_empty() {
            crate::out!("{line}");
        } else {
            crate::out!("{}", paint(line, colour));
        }
    }
}

pub(super) fn print_human(p: &Proposal) {
    crate::out!("{} {}", paint(&format!("#{}", p.id), BOLD), super::output::visible(&p.title));
    crate::out!("state:   {}", paint(p.state.as_str(), state_colour(p.state)));
    crate::out!("repo:    {}", p.repo);
    crate::out!("task:    {}   action: {}", p.task, p.action);
    crate::out!("from:    {}", super::output::visible(&p.provenance.to_string()));
    crate::out!("why:     {}", super::output::visible(&p.why));
    if let Some(d) = &p.decision {
        crate::out!("policy:  {} (decided by {})", d.autonomy, d.decided_by);
    }
    crate::out!("change:");
    match &p.change {
        Change::Snapshot { reference, old, new, files_changed, .. } => {
            crate::out!("  move {reference}");
            crate::out!("    from {}", old.as_deref().unwrap_or("(none)"));
            crate::out!("    to   {new} ({files_changed} files changed)");
        }
        Change::BranchDelete { branch, target, upstream } => {
            crate::out!("  delete branch {branch} at {target}");
            if let Some(up) = upstream {
                crate::out!(
                    "  (its upstream {}/{} is restored on undo)",
                    up.remote,
                    up.merge.trim_start_matches("refs/heads/")
                );
            }
        }
        Change::Patch { files } => {
            let created = files.iter().filter(|f| f.before.is_none()).count();
            let deleted = files.iter().filter(|f| f.after.is_none()).count();
            crate::out!(
                "  {} files: {} changed, {created} created, {deleted} deleted",
                files.len(),
                files.len() - created - deleted
            );
        }
        Change::Refs { updates } => {
            for u in updates {
                let short = |id: &Option<String>| {
                    id.as_deref().map_or("(none)".to_owned(), |i| i.chars().take(10).collect())
                };
                crate::out!("  {}: {} → {}", u.name, short(&u.old), short(&u.new));
            }
        }
        Change::WorktreeFastForward { branch, old, new } => {
            crate::out!(
                "  fast-forward {branch} (checked out) and the working tree from {old} to {new}"
            );
        }
        Change::Maintenance { task } => crate::out!("  git maintenance: {task}"),
        Change::Notice { text } => crate::out!("  {text}"),
        Change::Restore { snapshot, paths } => {
            let scope = if paths.is_empty() {
                "every file".to_owned()
            } else {
                paths.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
            };
            crate::out!("  restore {scope} from {snapshot}");
        }
        Change::Commit { branch, parent, message, .. } => {
            let on: String = parent
                .as_deref()
                .map_or("(its first commit)".into(), |p| p.chars().take(10).collect());
            crate::out!("  commit the staged changes on {branch} (after {on}) with the message:");
            for line in message.lines() {
                crate::out!("    {}", super::output::visible(line));
            }
        }
    }
    crate::out!("history:");
    for h in &p.history {
        let note = h.note.as_deref().map(|n| format!(" — {n}")).unwrap_or_default();
        crate::out!("  {} {} by {}{}", paint(&relative(h.at), DIM), h.state, h.by, note);
    }
}

/// What the user can do with it next.
fn print_next_steps(p: &Proposal) {
    match p.state {
        crate::proposal::State::Pending => {
            crate::out!("\n`kairos approve {}` or `kairos reject {}`", p.id, p.id)
        }
        crate::proposal::State::Applied if p.undo.is_some() => {
            crate::out!("\n`kairos undo {}` reverts it", p.id)
        }
        _ => {}
    }
}
