//! `review`: when HEAD moves forward to commits of the user's not yet reviewed, send
//! their messages and diff (filtered, bounded) to the model; its notes become notices
//! with `path:line`, its edits a verified `fs.patch` proposal "suggested fix: …". A
//! rebased or amended commit whose change was reviewed already is not reviewed again;
//! the history before kairos came is taken as seen.

use git2::{Oid, Repository};

use super::model::ask_with_edits;
use super::prompts::{self, Data, Prompt};
use super::{RunContext, TaskError};
use crate::llm::{Question, material};
use crate::store::Reviewed;

/// The most commits one review looks at.
const MAX_COMMITS: usize = 20;
/// How many reviewed ids are remembered.
const KEEP: usize = 5000;

pub fn run(ctx: &RunContext) -> Result<Vec<super::Draft>, TaskError> {
    let (Some(_), Some(memory)) = (ctx.model, ctx.memory) else { return Ok(vec![]) };
    let repo = ctx.repo;
    let Some(branch) = crate::git::current_branch(repo) else { return Ok(vec![]) };
    let Ok(head) = repo.head().and_then(|h| h.peel_to_commit()) else { return Ok(vec![]) };
    let mut reviewed = memory.reviewed();
    if !reviewed.baseline {
        // First sight: the history already there is not news. At start nothing is
        // reviewed; after a commit (or when asked), that commit alone.
        reviewed.baseline = true;
        reviewed.since = Some(head.committer().when().seconds());
        for parent in head.parent_ids() {
            remember(&mut reviewed, parent, None);
        }
        if *ctx.trigger == super::Trigger::Start {
            remember(&mut reviewed, head.id(), None);
            memory.put_reviewed(&reviewed);
            return Ok(vec![]);
        }
    }
    let fresh = new_commits(repo, head.id(), &reviewed)?;
    if fresh.is_empty() {
        return Ok(vec![]);
    }
    let oldest = repo.find_commit(fresh[0].0)?;
    let base = oldest.parent(0).ok().map(|p| p.tree_id());
    let diff = material::tree_diff(
        repo,
        base,
        head.tree_id(),
        ctx.model.map_or(0, |m| m.max_file_size()),
        ctx.settings.model.max_diff_lines,
    )?;
    let commits: Vec<String> = fresh
        .iter()
        .filter_map(|(id, _)| repo.find_commit(*id).ok())
        .map(|c| format!("{} {}", &c.id().to_string()[..10], c.message().unwrap_or("").trim()))
        .collect();
    let model = ctx.model.expect("checked above");
    let user = prompts::Review {
        branch: Data::new(&branch),
        notes: Data::new(&memory.notes_for_prompt(1000).join("\n")),
        lessons: Data::new(&memory.lessons(10).join("\n")),
        commits: Data::new(&commits.join("\n\n")),
        changes: (&diff).into(),
    }
    .render(model)?;
    let question =
        Question { user, fields: &["notes", "edits", "edit_title", "remember"], max_tokens: 2048 };
    let head_short = head.id().to_string()[..10].to_owned();
    let mut what = format!("review of {head_short}");
    if !diff.left_out.is_empty() {
        // Said with every note, so a clean review of part of a change is not read as a
        // clean review of all of it.
        what.push_str(&format!("; not reviewed: {}", diff.left_out.join(", ")));
    }
    let drafts = ask_with_edits(ctx, question, &what, "suggested fix")?;
    for (id, patch) in &fresh {
        remember(&mut reviewed, *id, patch.clone());
    }
    memory.put_reviewed(&reviewed);
    Ok(drafts)
}

/// The commits reachable from `head` and not reviewed, oldest first, each with its patch
/// id; only the user's own (a pull brings others' work, theirs to review), none from
/// before kairos first looked, and not those whose change was reviewed under another id
/// (a rebase, an amend). Newest first, so a long history is never walked.
fn new_commits(
    repo: &Repository,
    head: Oid,
    reviewed: &Reviewed,
) -> Result<Vec<(Oid, Option<String>)>, git2::Error> {
    let me = repo.config().ok().and_then(|c| c.get_string("user.email").ok());
    let mut walk = repo.revwalk()?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)?;
    walk.push(head)?;
    for id in &reviewed.commits {
        if let Ok(oid) = Oid::from_str(id)
            && repo.find_commit(oid).is_ok()
        {
            walk.hide(oid)?;
        }
    }
    let mut fresh = Vec::new();
    for id in walk.take(MAX_COMMITS * 10) {
        let commit = repo.find_commit(id?)?;
        let before_us = reviewed.since.is_some_and(|t| commit.committer().when().seconds() < t);
        let theirs =
            me.as_ref().is_some_and(|me| commit.author().email().ok() != Some(me.as_str()));
        if commit.parent_count() > 1 || before_us || theirs {
            continue;
        }
        let patch = patch_id(repo, &commit);
        if patch.as_ref().is_some_and(|p| reviewed.patches.contains(p)) {
            continue;
        }
        fresh.push((commit.id(), patch));
        if fresh.len() == MAX_COMMITS {
            break;
        }
    }
    fresh.reverse();
    Ok(fresh)
}

fn patch_id(repo: &Repository, commit: &git2::Commit) -> Option<String> {
    let parent = commit.parent(0).ok().and_then(|p| p.tree().ok());
    let diff = repo.diff_tree_to_tree(parent.as_ref(), commit.tree().ok().as_ref(), None).ok()?;
    diff.patchid(None).ok().map(|id| id.to_string())
}

fn remember(reviewed: &mut Reviewed, commit: Oid, patch: Option<String>) {
    reviewed.commits.insert(commit.to_string());
    if let Some(patch) = patch {
        reviewed.patches.insert(patch);
    }
    while reviewed.commits.len() > KEEP {
        let first = reviewed.commits.iter().next().cloned().expect("not empty");
        reviewed.commits.remove(&first);
    }
    while reviewed.patches.len() > KEEP {
        let first = reviewed.patches.iter().next().cloned().expect("not empty");
        reviewed.patches.remove(&first);
    }
}
