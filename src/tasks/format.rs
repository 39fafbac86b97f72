//! `format`: runs the formatter the project already uses, in a scratch copy, on the files
//! you changed since your branch was last pushed (committed or not), and proposes the
//! result for the files the project keeps formatted. A formatter is the project's
//! convention, not ours: a file counts as kept formatted when its content at the pushed
//! commit comes out of the same formatter unchanged (a new file: its nearest neighbour
//! of the same kind at that commit). Everything else is left alone, and the proposal
//! says what was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use git2::Repository;

use super::scratch::Scratch;
use super::{RunContext, TaskError, patch};
use crate::process;
use crate::proposal::{Draft, FileChange, Provenance};

/// A formatter found for this repository, and the files it takes.
struct Formatter {
    name: &'static str,
    argv: Vec<String>,
    extensions: &'static [&'static str],
}

const JS_EXTENSIONS: &[&str] = &[
    "js", "jsx", "mjs", "cjs", "ts", "tsx", "json", "css", "scss", "less", "md", "yaml", "yml",
    "html", "vue",
];

/// More changed files than this in one run are not formatted (a mass rename or a vendored
/// drop is not an edit to tidy up after).
const MAX_FILES: usize = 500;

pub fn run(ctx: &RunContext) -> Result<Vec<Draft>, TaskError> {
    let (repo, settings, root) = (ctx.repo, ctx.settings, ctx.root.to_owned());
    let base = Base::of(repo);
    let changed = changed_files(repo, base.tree.as_ref())?;
    if changed.is_empty() || changed.len() > MAX_FILES {
        return Ok(vec![]);
    }
    let formatters: Vec<Formatter> =
        settings.formatters.iter().filter_map(|name| detect(name, &root)).collect();
    let mut plan: Vec<(&Formatter, Vec<String>)> = Vec::new();
    let mut refused = Vec::new();
    let mut python_taken = false;
    for f in &formatters {
        // One Python formatter: the first configured one that is present.
        if matches!(f.name, "ruff" | "black") {
            if python_taken {
                continue;
            }
            python_taken = true;
        }
        let files: Vec<String> = changed
            .iter()
            .filter(|p| extension(p).is_some_and(|e| f.extensions.contains(&e)))
            .filter(|p| {
                let kind = super::file_kind(p);
                let rejected = ctx.rejected_kinds.contains(&kind);
                if rejected {
                    refused.push(format!(
                        "{} (you rejected formatting {kind} files here)",
                        p.display()
                    ));
                }
                !rejected
            })
            .filter_map(|p| p.to_str().map(str::to_owned))
            .collect();
        if !files.is_empty() {
            plan.push((f, files));
        }
    }
    if plan.is_empty() {
        return Ok(vec![]);
    }
    ctx.step("copying the working tree to scratch space");
    let scratch = Scratch::create(repo, ctx.scratch, settings.max_file_size)?;
    for (formatter, files) in &plan {
        let n = files.len();
        ctx.step(&format!("{} on {n} {}", formatter.name, if n == 1 { "file" } else { "files" }));
        format_in(&scratch.dir, formatter, files)?;
    }
    // Taken before the probe below writes the base's contents into the copy.
    let changes = scratch.changes(repo)?;
    let mut left_alone = Vec::new();
    let mut kept = Vec::new();
    ctx.step("checking which files the project keeps formatted");
    for (formatter, files) in &plan {
        let verdicts = kept_formatted(repo, &scratch.dir, &base, formatter, files);
        for file in files {
            match verdicts.get(file) {
                Some(Ok(())) => kept.push(file.clone()),
                Some(Err(why)) => left_alone.push((file.clone(), why.clone())),
                None => {}
            }
        }
    }
    // Only the files judged: a formatter that follows `mod` lines (rustfmt) also touches
    // files nobody changed.
    let files: Vec<FileChange> =
        changes.into_iter().filter(|c| kept.contains(&c.path.to_string())).collect();
    let untouched: Vec<String> =
        kept.iter().filter(|k| !files.iter().any(|f| f.path.to_string() == **k)).cloned().collect();
    // One proposal per kind of file: what a rejection teaches is then exactly that kind
    // (the changelog's Markdown, not the code beside it).
    let mut by_kind: BTreeMap<String, Vec<FileChange>> = BTreeMap::new();
    for file in files {
        by_kind.entry(super::file_kind(file.path.as_path())).or_default().push(file);
    }
    let of_kind = |kind: &str, file: &str| super::file_kind(Path::new(file)) == kind;
    let mut drafts = Vec::new();
    for (i, (kind, files)) in by_kind.into_iter().enumerate() {
        let names = plan
            .iter()
            .filter(|(_, judged)| judged.iter().any(|f| of_kind(&kind, f)))
            .map(|(f, _)| f.name)
            .collect::<Vec<_>>()
            .join(", ");
        let lines = patch::changed_lines(repo, &files);
        let mut why = format!(
            "{names} would reformat {} ({lines} {}), changed since {}",
            listed(files.iter().map(|f| f.path.to_string()), SHOWN),
            if lines == 1 { "line" } else { "lines" },
            base.name
        );
        let alone: Vec<String> = left_alone
            .iter()
            .filter(|(f, _)| of_kind(&kind, f))
            .map(|(file, reason)| format!("{file} ({reason})"))
            .collect();
        if !alone.is_empty() {
            why.push_str(&format!(
                "; left alone, as the project does not keep them formatted: {}",
                listed(alone.into_iter(), EVERY)
            ));
        }
        // What no proposal of its kind can tell: said by the first one.
        if i == 0 {
            let other: Vec<String> = left_alone
                .iter()
                .filter(|(f, _)| super::file_kind(Path::new(f)) != kind)
                .map(|(file, reason)| format!("{file} ({reason})"))
                .chain(refused.iter().cloned())
                .collect();
            if !other.is_empty() {
                why.push_str(&format!("; also left alone: {}", listed(other.into_iter(), EVERY)));
            }
            // Last, and short: usually these are simply clean, and many.
            let untouched = match untouched.len() {
                0 => None,
                n if n <= SHOWN => Some(untouched.join(", ")),
                n => Some(format!("{n} other changed files")),
            };
            if let Some(untouched) = untouched {
                why.push_str(&format!(
                    "; as they are (already formatted, or excluded by the formatter's own ignore file): {untouched}"
                ));
            }
        }
        let only = match files.as_slice() {
            [one] => Some(one.path.to_string()),
            _ => None,
        };
        drafts.extend(patch::draft_from(
            repo,
            files,
            super::FORMAT,
            |n| match only.as_deref() {
                // One file: its name says more than its kind, in a batch's list too.
                Some(path) => format!("format {path} ({names})"),
                None => format!("format {n} {kind} files ({names})"),
            },
            why,
            Provenance::BUILTIN,
        ));
    }
    Ok(drafts)
}

/// How many files a popup-sized list names before "and N more".
const SHOWN: usize = 3;
/// How many a list of reasons names (`kairos show` has the room).
const EVERY: usize = 50;

/// "a, b, c and 4 more", naming at most `shown`.
fn listed(items: impl Iterator<Item = String>, shown: usize) -> String {
    let items: Vec<String> = items.collect();
    match items.as_slice() {
        [] => "nothing".into(),
        [one] => one.clone(),
        _ if items.len() > shown + 1 => {
            format!("{} and {} more", items[..shown].join(", "), items.len() - shown)
        }
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn extension(path: &Path) -> Option<&str> {
    path.extension().and_then(|e| e.to_str())
}

fn format_in(dir: &Path, formatter: &Formatter, files: &[String]) -> Result<(), TaskError> {
    let mut argv = formatter.argv.clone();
    argv.extend(files.iter().cloned());
    let done = process::run(&argv, dir, &Default::default(), Duration::from_secs(120))
        .map_err(TaskError::Command)?;
    if !done.success {
        return Err(TaskError::Command(format!(
            "{} failed (exit {}): {}",
            formatter.name,
            done.code.map_or("signal".into(), |c| c.to_string()),
            done.stderr.lines().take(10).collect::<Vec<_>>().join("\n")
        )));
    }
    Ok(())
}

/// Where the project's formatting is judged and changes are counted from: the commit
/// the branch has in common with its upstream (what was pushed), else HEAD.
struct Base<'r> {
    tree: Option<git2::Tree<'r>>,
    name: String,
}

impl<'r> Base<'r> {
    fn of(repo: &'r Repository) -> Base<'r> {
        let head = repo.head().ok();
        let head_commit = head.as_ref().and_then(|h| h.peel_to_commit().ok());
        let pushed = head
            .as_ref()
            .filter(|h| h.is_branch())
            .and_then(|h| h.shorthand().ok().map(str::to_owned))
            .and_then(|name| repo.find_branch(&name, git2::BranchType::Local).ok())
            .and_then(|branch| branch.upstream().ok())
            .and_then(|upstream| {
                let name = upstream.name().ok().flatten()?.to_owned();
                let merge_base =
                    repo.merge_base(head_commit.as_ref()?.id(), upstream.get().target()?).ok()?;
                Some((name, repo.find_commit(merge_base).ok()?))
            });
        match pushed {
            Some((name, commit)) => Base { tree: commit.tree().ok(), name },
            None => Base { tree: head_commit.and_then(|c| c.tree().ok()), name: "HEAD".into() },
        }
    }

    /// The content of a regular file at the base.
    fn blob(&self, repo: &Repository, path: &str) -> Option<Vec<u8>> {
        let entry = self.tree.as_ref()?.get_path(Path::new(path)).ok()?;
        is_regular(&entry).then_some(())?;
        Some(repo.find_blob(entry.id()).ok()?.content().to_vec())
    }

    /// Up to `NEIGHBOURS` files at the base with the extension of `path`, from its
    /// directory, else from the closest parent that has some.
    fn neighbours(&self, repo: &Repository, path: &str) -> Vec<String> {
        self.neighbours_of(repo, path).unwrap_or_default()
    }

    fn neighbours_of(&self, repo: &Repository, path: &str) -> Option<Vec<String>> {
        let tree = self.tree.as_ref()?;
        let ext = extension(Path::new(path))?;
        let mut dir = Path::new(path).parent();
        while let Some(d) = dir {
            let listing = if d.as_os_str().is_empty() {
                Some(tree.clone())
            } else {
                tree.get_path(d).ok().and_then(|e| repo.find_tree(e.id()).ok())
            };
            let found: Vec<String> = listing
                .iter()
                .flat_map(|t| t.iter())
                .filter(is_regular)
                .filter_map(|e| e.name().ok().map(|n| d.join(n)))
                .filter(|p| extension(p) == Some(ext))
                .filter_map(|p| p.to_str().map(str::to_owned))
                .take(NEIGHBOURS)
                .collect();
            if !found.is_empty() {
                return Some(found);
            }
            dir = d.parent();
        }
        None
    }
}

/// After a failed batch, how many files are tried one by one.
const ONE_BY_ONE: usize = 20;

/// How many files like it a new file is judged by.
const NEIGHBOURS: usize = 5;

fn is_regular(entry: &git2::TreeEntry) -> bool {
    matches!(entry.filemode(), 0o100644 | 0o100755)
}

/// For each of `files`: `Ok` when the project keeps it formatted with `formatter`, or why
/// not. The base's contents are written over the copy in `dir` and formatted there.
fn kept_formatted(
    repo: &Repository,
    dir: &Path,
    base: &Base,
    formatter: &Formatter,
    files: &[String],
) -> BTreeMap<String, Result<(), String>> {
    let mut verdicts = BTreeMap::new();
    // The files each one is judged by (itself, or its neighbours when it is new), and
    // their content at the base.
    let mut probes: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut judged_by: Vec<(String, Vec<String>)> = Vec::new();
    for file in files {
        let by = match base.blob(repo, file) {
            Some(content) => {
                probes.insert(file.clone(), content);
                vec![file.clone()]
            }
            None => {
                let mut by = Vec::new();
                for n in base.neighbours(repo, file) {
                    if let Some(content) = base.blob(repo, &n) {
                        probes.insert(n.clone(), content);
                        by.push(n);
                    }
                }
                by
            }
        };
        if by.is_empty() {
            verdicts
                .insert(file.clone(), Err(format!("new, and no file like it at {}", base.name)));
        } else {
            judged_by.push((file.clone(), by));
        }
    }
    let mut written = Vec::new();
    for (path, content) in &probes {
        let at = dir.join(path);
        // Never through a link, never over a directory the user made there since.
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => continue,
            Ok(m) if m.file_type().is_symlink() => {
                let _ = std::fs::remove_file(&at);
            }
            _ => {}
        }
        if at.parent().is_some_and(|p| std::fs::create_dir_all(p).is_ok())
            && std::fs::write(&at, content).is_ok()
        {
            written.push(path.clone());
        }
    }
    // One file the formatter cannot parse at the base fails the whole batch: then each
    // is tried on its own (a few), so one broken file does not hide the others.
    let mut failed: Vec<String> = Vec::new();
    if format_in(dir, formatter, &written).is_err() {
        for (tried, path) in written.iter().enumerate() {
            if tried >= ONE_BY_ONE || format_in(dir, formatter, std::slice::from_ref(path)).is_err()
            {
                failed.push(path.clone());
            }
        }
    }
    let clean = |path: &String| {
        written.contains(path) && std::fs::read(dir.join(path)).ok().as_ref() == probes.get(path)
    };
    for (file, by) in judged_by {
        let formatted = by.iter().filter(|p| clean(p)).count();
        let verdict = if by.iter().any(|p| failed.contains(p)) {
            Err(format!("{} could not format it at {}", formatter.name, base.name))
        } else if by == [file.clone()] {
            if formatted == 1 { Ok(()) } else { Err(format!("not formatted at {}", base.name)) }
        } else if 2 * formatted >= by.len() {
            // A new file follows the files like it: most of them formatted, it is too.
            Ok(())
        } else {
            Err(format!(
                "new, and {} of {} files like it are not formatted at {}",
                by.len() - formatted,
                by.len(),
                base.name
            ))
        };
        verdicts.insert(file, verdict);
    }
    verdicts
}

/// Finds formatter `name` if this project uses it.
fn detect(name: &str, root: &Path) -> Option<Formatter> {
    let exists = |rel: &str| root.join(rel).exists();
    let file_mentions = |rel: &str, needle: &str| {
        read_manifest(&root.join(rel)).is_some_and(|text| text.contains(needle))
    };
    let local_or_path = |venv_rel: &str, program: &str| -> Option<String> {
        if root.join(venv_rel).is_file() {
            return Some(root.join(venv_rel).to_string_lossy().into_owned());
        }
        process::which(program).map(|p| p.to_string_lossy().into_owned())
    };
    match name {
        "rustfmt" if exists("Cargo.toml") => {
            let rustfmt = process::which("rustfmt")?;
            Some(Formatter {
                name: "rustfmt",
                argv: vec![
                    rustfmt.to_string_lossy().into_owned(),
                    "--edition".into(),
                    rust_edition(root),
                ],
                extensions: &["rs"],
            })
        }
        // Only the project's own prettier: a global one may disagree with its settings.
        "prettier" if exists("node_modules/.bin/prettier") => Some(Formatter {
            name: "prettier",
            argv: vec!["node_modules/.bin/prettier".into(), "--write".into()],
            extensions: JS_EXTENSIONS,
        }),
        "ruff"
            if exists("ruff.toml")
                || exists(".ruff.toml")
                || file_mentions("pyproject.toml", "[tool.ruff") =>
        {
            Some(Formatter {
                name: "ruff",
                argv: vec![
                    local_or_path(".venv/bin/ruff", "ruff")?,
                    "format".into(),
                    // Its `exclude` holds for files named on the command line too.
                    "--force-exclude".into(),
                ],
                extensions: &["py", "pyi"],
            })
        }
        "black" if file_mentions("pyproject.toml", "[tool.black") => Some(Formatter {
            name: "black",
            argv: vec![local_or_path(".venv/bin/black", "black")?, "-q".into()],
            extensions: &["py", "pyi"],
        }),
        "gofmt" if exists("go.mod") => Some(Formatter {
            name: "gofmt",
            argv: vec![process::which("gofmt")?.to_string_lossy().into_owned(), "-w".into()],
            extensions: &["go"],
        }),
        _ => None,
    }
}

/// The edition in Cargo.toml (`[package]` or `[workspace.package]`), else 2021.
fn rust_edition(root: &Path) -> String {
    let manifest: Option<toml::Table> =
        read_manifest(&root.join("Cargo.toml")).and_then(|t| t.parse().ok());
    let edition = manifest.as_ref().and_then(|m| {
        m.get("package")
            .and_then(|p| p.get("edition"))
            .or_else(|| {
                m.get("workspace").and_then(|w| w.get("package")).and_then(|p| p.get("edition"))
            })
            .and_then(|e| e.as_str())
            .map(str::to_owned)
    });
    edition.unwrap_or_else(|| "2021".into())
}

/// Files that differ from `base` in the working tree (committed since, staged, unstaged
/// or new; not ignored) and still exist as regular files.
fn changed_files(
    repo: &Repository,
    base: Option<&git2::Tree>,
) -> Result<Vec<PathBuf>, git2::Error> {
    let mut opts = git2::DiffOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).include_ignored(false);
    let diff = repo.diff_tree_to_workdir_with_index(base, Some(&mut opts))?;
    let root = crate::git::workdir(repo)?;
    let mut files = Vec::new();
    for delta in diff.deltas() {
        if delta.status() == git2::Delta::Deleted {
            continue;
        }
        let Some(bytes) = delta.new_file().path_bytes() else { continue };
        let rel = crate::proposal::RepoPath::from_bytes(bytes).as_path().to_owned();
        // Regular files only: a formatter must never write through a symlink.
        if std::fs::symlink_metadata(root.join(&rel)).is_ok_and(|m| m.is_file()) {
            files.push(rel);
        }
    }
    Ok(files)
}

/// A project file kairos looks into (Cargo.toml, pyproject.toml): the repository is
/// untrusted, so a pipe or a huge file in its place is not read.
fn read_manifest(path: &Path) -> Option<String> {
    crate::read::read_text(path, crate::read::SETTINGS_LIMIT).ok()
}
