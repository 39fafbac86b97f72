//! `ask`: a comment you add in your uncommitted changes with `kairos:` and a request
//! (`// kairos: extract this loop into a function`) is asked of the model once the file
//! is quiet, with that file as context; the edits come back as a proposal that also
//! removes the comment. Only comments in the working tree's diff against HEAD count: one
//! that arrives in a pulled commit is committed text, and never triggers anything.

use std::path::PathBuf;

use super::model::{answer, may_send};
use super::prompts::{self, Data, Prompt};
use super::{RunContext, TaskError};
use crate::llm::Question;
use crate::proposal::Draft;

/// The marker a request starts with.
pub const MARKER: &str = "kairos:";
/// The most requests one run asks.
const MAX_REQUESTS: usize = 3;

/// A request found in an added line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub path: PathBuf,
    pub line: usize,
    /// The whole line, as it is in the file.
    pub text: String,
    /// What follows the marker.
    pub request: String,
}

pub fn run(ctx: &RunContext) -> Result<Vec<Draft>, TaskError> {
    let Some(model) = ctx.model else { return Ok(vec![]) };
    let mut drafts = Vec::new();
    for found in requests(ctx.repo, ctx.trigger)?.into_iter().take(MAX_REQUESTS) {
        let digest = git2::Oid::hash_object(git2::ObjectType::Blob, found.text.as_bytes())
            .map(|o| o.to_string())
            .unwrap_or_default();
        let fingerprint = format!("ask:{}:{digest}", found.path.display());
        if (ctx.would_skip)(&fingerprint) || !may_send(ctx, &found.path) {
            continue;
        }
        let Ok(content) =
            crate::read::read_text(&ctx.root.join(&found.path), model.max_file_size())
        else {
            continue;
        };
        let notes = ctx.memory.map(|m| m.notes_for_prompt(500).join("\n")).unwrap_or_default();
        let lessons = ctx.memory.map(|m| m.lessons(10).join("\n")).unwrap_or_default();
        let path = found.path.display().to_string();
        let user = prompts::Ask {
            path: Data::new(&path),
            line: found.line,
            request: Data::new(&found.request),
            notes: Data::new(&notes),
            lessons: Data::new(&lessons),
            content: Data::new(&content),
        }
        .render(model)?;
        let question =
            Question { user, fields: &["notes", "edits", "edit_title"], max_tokens: 4096 };
        let what = format!("asked in {path}:{}", found.line);
        let remove = [(path.clone(), found.text.clone())];
        for mut draft in answer(ctx, question, &what, "kairos", &remove)? {
            // The request, not the model's words, identifies the proposal: one per comment.
            if draft.action == crate::action::Action::Patch {
                draft.fingerprint = fingerprint.clone();
                draft.why =
                    format!("you asked: {} ({path}:{}); {}", found.request, found.line, draft.why);
            }
            drafts.push(draft);
        }
    }
    Ok(drafts)
}

/// The `kairos:` requests in lines your uncommitted changes add (tracked files changed
/// against HEAD, and new files), in the files that changed when the trigger says which.
pub fn requests(
    repo: &git2::Repository,
    trigger: &super::Trigger,
) -> Result<Vec<Request>, git2::Error> {
    let only: Option<Vec<PathBuf>> = match trigger {
        super::Trigger::FilesQuiet { paths, dirs, rescanned: false } if dirs.is_empty() => {
            Some(paths.clone())
        }
        _ => None,
    };
    let head = repo.head().ok().and_then(|h| h.peel_to_tree().ok());
    let mut opts = git2::DiffOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .show_untracked_content(true)
        .context_lines(0);
    if let Some(paths) = &only {
        // Only the files that changed are diffed, taken literally (not as patterns).
        opts.disable_pathspec_match(true);
        for path in paths {
            opts.pathspec(path);
        }
    }
    let diff = repo.diff_tree_to_workdir_with_index(head.as_ref(), Some(&mut opts))?;
    let mut found = Vec::new();
    diff.foreach(
        &mut |_, _| true,
        None,
        None,
        Some(&mut |delta, _, line| {
            if line.origin() != '+' {
                return true;
            }
            let Some(path) = delta.new_file().path() else { return true };
            if only.as_ref().is_some_and(|o| !o.iter().any(|p| p == path)) {
                return true;
            }
            let text =
                String::from_utf8_lossy(line.content()).trim_end_matches(['\n', '\r']).to_owned();
            if let Some(request) = request_in(&text) {
                found.push(Request {
                    path: path.to_owned(),
                    line: line.new_lineno().unwrap_or(0) as usize,
                    text,
                    request,
                });
            }
            true
        }),
    )?;
    Ok(found)
}

/// The request in a comment line: what follows `kairos:` after a comment marker.
fn request_in(line: &str) -> Option<String> {
    let at = line.find(MARKER)?;
    let before = line[..at].trim_end();
    let commented =
        ["//", "#", "--", "/*", ";", "%", "<!--", "*"].iter().any(|m| before.ends_with(m))
            || before.is_empty();
    if !commented {
        return None;
    }
    let request =
        line[at + MARKER.len()..].trim().trim_end_matches("*/").trim_end_matches("-->").trim();
    (!request.is_empty()).then(|| request.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn requests_are_read_from_comments_only() {
        assert_eq!(
            request_in("    // kairos: extract this loop").as_deref(),
            Some("extract this loop")
        );
        assert_eq!(
            request_in("# kairos: add a test for the empty case").as_deref(),
            Some("add a test for the empty case")
        );
        assert_eq!(
            request_in("/* kairos: name this better */").as_deref(),
            Some("name this better")
        );
        assert_eq!(request_in("let x = \"kairos: not a comment\";"), None);
        assert_eq!(request_in("// kairos:"), None);
        assert_eq!(
            request_in("<!-- kairos: shorten this section -->").as_deref(),
            Some("shorten this section")
        );
    }

    #[test]
    fn only_added_lines_in_the_working_tree_count() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let root = dir.path();
        std::fs::write(root.join("old.rs"), "// kairos: committed long ago\nfn a() {}\n").unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new("old.rs")).unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@t").unwrap();
        repo.commit(Some("HEAD"), &sig, &sig, "c", &tree, &[]).unwrap();
        std::fs::write(
            root.join("old.rs"),
            "// kairos: committed long ago\nfn a() {\n    // kairos: make this faster\n}\n",
        )
        .unwrap();
        std::fs::write(root.join("new.py"), "# kairos: write this module\n").unwrap();
        let mut found = requests(&repo, &crate::tasks::Trigger::Manual).unwrap();
        found.sort_by(|a, b| a.path.cmp(&b.path));
        let got: Vec<(&str, usize, &str)> =
            found.iter().map(|r| (r.path.to_str().unwrap(), r.line, r.request.as_str())).collect();
        assert_eq!(got, [("new.py", 1, "write this module"), ("old.rs", 3, "make this faster")]);
    }
}
