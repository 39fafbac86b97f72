//! `tick`: the proactive look. When a repository that was active goes quiet (`idle`),
//! and something changed since the last look (files, refs, a failed run, a new proposal),
//! the model gets a compact picture — what happened, the queue, `git status`, the
//! uncommitted work, the notes, the time and how long you have been away — and most of the
//! time says nothing. At most one look per `min_interval`; never in quiet hours; no timer
//! ever wakes it when nothing happened.

use chrono::{Local, Utc};

use super::model::ask_with_edits;
use super::prompts::{self, Data, Prompt};
use super::{RunContext, TaskError, Trigger};
use crate::llm::{Question, material};
use crate::proposal::Draft;
use crate::store::{LastLook, LogEntry, LogKind};

pub fn run(ctx: &RunContext) -> Result<Vec<Draft>, TaskError> {
    let (Some(model), Some(memory)) = (ctx.model, ctx.memory) else { return Ok(vec![]) };
    let manual = ctx.trigger.asked_by_user();
    if !manual && *ctx.trigger != Trigger::Idle {
        return Ok(vec![]);
    }
    if !manual && memory.quiet_hours_now() {
        return Ok(vec![]);
    }
    let now = Utc::now();
    let last = memory.last_look();
    let interval = chrono::TimeDelta::from_std(ctx.settings.model.min_interval)
        .unwrap_or(chrono::TimeDelta::MAX);
    if !manual && last.as_ref().is_some_and(|l| now - l.at < interval) {
        return Ok(vec![]);
    }
    let since = last.as_ref().map_or(now - chrono::TimeDelta::days(1), |l| l.at);
    let events: Vec<LogEntry> =
        memory.log_since(since, 200).into_iter().filter(worth_a_look).collect();
    // File events say where the user worked; whether the files changed is for their
    // content to say: a save of the same bytes, or an edit undone, is no news.
    let news = events.iter().any(|e| e.paths.is_empty());
    let repo = ctx.repo;
    let status_now = status(repo);
    let head = repo.head().ok().and_then(|h| h.target());
    let (work, _) = crate::git::snapshot_tree(repo, model.max_file_size())?;
    let worktree = Some(format!("{}:{work}", head.map(|h| h.to_string()).unwrap_or_default()));
    let edited = last.as_ref().is_none_or(|l| l.worktree != worktree);
    if !news && !edited && !manual {
        // Nothing happened since the last look: nothing to ask about.
        return Ok(vec![]);
    }
    memory.put_last_look(&LastLook { at: now, worktree });
    let idle = chrono::TimeDelta::from_std(ctx.settings.triggers.idle.unwrap_or_default())
        .unwrap_or_default();
    let away = events.last().map_or(idle, |e| (now - e.at).max(idle));
    let shown: Vec<String> = events
        .iter()
        .rev()
        .take(40)
        .rev()
        .map(|e| {
            format!(
                "{} {}",
                e.at.with_timezone(&Local).format("%H:%M"),
                e.message.lines().next().unwrap_or("")
            )
        })
        .collect();
    let head_tree = repo.head().ok().and_then(|h| h.peel_to_tree().ok()).map(|t| t.id());
    let diff = material::tree_diff(
        repo,
        head_tree,
        work,
        model.max_file_size(),
        ctx.settings.model.max_diff_lines,
    )?;
    let name = ctx.root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let user = prompts::Tick {
        repo: Data::new(&name),
        away: away_for(away),
        now: Local::now().format("%A %H:%M").to_string(),
        notes: Data::new(&memory.notes_for_prompt(750).join("\n")),
        lessons: Data::new(&memory.lessons(10).join("\n")),
        events: Data::new(&shown.join("\n")),
        queue: Data::new(&or_none(memory.pending().join("\n"))),
        status: Data::new(&or_none(status_now)),
        uncommitted: (&diff).into(),
    }
    .render(model)?;
    let question =
        Question { user, fields: &["notes", "edits", "edit_title", "remember"], max_tokens: 1024 };
    let what = format!("a look at {}", Local::now().format("%H:%M"));
    ask_with_edits(ctx, question, &what, "suggested fix")
}

/// Whether a log entry is news worth a look: not the look itself, and of the decisions
/// only what was queued or applied.
fn worth_a_look(e: &LogEntry) -> bool {
    let decided_elsewhere = e.kind == LogKind::Decision
        && !(e.message.contains("queued") || e.message.contains("applied"));
    e.is_news() && e.task.as_deref() != Some(super::TICK) && !decided_elsewhere
}

/// `git status --short`, as a developer (and a model) knows it: the index's column, the
/// working tree's, the path. At most 50 lines.
fn status(repo: &git2::Repository) -> String {
    use git2::Status;
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).include_ignored(false);
    let Ok(statuses) = repo.statuses(Some(&mut opts)) else { return String::new() };
    let column = |s: Status, new, modified, deleted, renamed, typechange| {
        if s.intersects(new) {
            'A'
        } else if s.intersects(modified) {
            'M'
        } else if s.intersects(deleted) {
            'D'
        } else if s.intersects(renamed) {
            'R'
        } else if s.intersects(typechange) {
            'T'
        } else {
            ' '
        }
    };
    statuses
        .iter()
        .take(50)
        .map(|entry| {
            let s = entry.status();
            let path = String::from_utf8_lossy(entry.path_bytes());
            if s.is_wt_new() && !s.intersects(Status::INDEX_NEW) {
                return format!("?? {path}");
            }
            if s.is_conflicted() {
                return format!("UU {path}");
            }
            let index = column(
                s,
                Status::INDEX_NEW,
                Status::INDEX_MODIFIED,
                Status::INDEX_DELETED,
                Status::INDEX_RENAMED,
                Status::INDEX_TYPECHANGE,
            );
            let tree = column(
                s,
                Status::empty(),
                Status::WT_MODIFIED,
                Status::WT_DELETED,
                Status::WT_RENAMED,
                Status::WT_TYPECHANGE,
            );
            format!("{index}{tree} {path}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn or_none(text: String) -> String {
    if text.trim().is_empty() { "(nothing)".into() } else { text }
}

/// How long the user has been away, as people say it.
fn away_for(away: chrono::TimeDelta) -> String {
    match away.num_minutes().max(1) {
        1 => "a minute".into(),
        m if m < 120 => format!("{m} minutes"),
        m => format!("{} hours", m / 60),
    }
}
