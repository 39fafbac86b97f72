//! `format`: runs the formatter the project already uses on the files you changed, in a
//! scratch copy, and proposes the result.

use std::path::{Path, PathBuf};
use std::time::Duration;

use git2::Repository;

use super::scratch::Scratch;
use super::{RunContext, TaskError, patch};
use crate::process;
use crate::proposal::{Draft, Provenance};

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

pub fn run(ctx: &RunContext) -> Result<Vec<Draft>, TaskError> {
    let (repo, settings, root) = (ctx.repo, ctx.settings, ctx.root.to_owned());
    let changed = changed_files(repo)?;
    if changed.is_empty() {
        return Ok(vec![]);
    }
    let formatters: Vec<Formatter> =
        settings.formatters.iter().filter_map(|name| detect(name, &root)).collect();
    let mut plan: Vec<(&Formatter, Vec<String>)> = Vec::new();
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
            .filter(|p| {
                p.extension().and_then(|e| e.to_str()).is_some_and(|e| f.extensions.contains(&e))
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
    let scratch = Scratch::create(repo, ctx.scratch, settings.max_file_size)?;
    let mut used = Vec::new();
    for (formatter, files) in &plan {
        let mut argv = formatter.argv.clone();
        argv.extend(files.iter().cloned());
        let done = process::run(&argv, &scratch.dir, &Default::default(), Duration::from_secs(120))
            .map_err(TaskError::Command)?;
        if !done.success {
            return Err(TaskError::Command(format!(
                "{} failed (exit {}): {}",
                formatter.name,
                done.code.map_or("signal".into(), |c| c.to_string()),
                done.stderr.lines().take(10).collect::<Vec<_>>().join("\n")
            )));
        }
        used.push(formatter.name);
    }
    let names = used.join(", ");
    let draft = patch::draft(
        repo,
        &scratch,
        super::FORMAT,
        |n| format!("format {n} {} ({names})", if n == 1 { "file" } else { "files" }),
        format!("{names} would reformat files you changed"),
        Provenance::BUILTIN,
    )?;
    Ok(draft.into_iter().collect())
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
                argv: vec![local_or_path(".venv/bin/ruff", "ruff")?, "format".into()],
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

/// Files with uncommitted changes (staged, unstaged or new) that still exist.
fn changed_files(repo: &Repository) -> Result<Vec<PathBuf>, git2::Error> {
    use git2::Status;
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).include_ignored(false);
    let wanted = Status::WT_NEW
        | Status::WT_MODIFIED
        | Status::WT_RENAMED
        | Status::INDEX_NEW
        | Status::INDEX_MODIFIED
        | Status::INDEX_RENAMED;
    let root = repo.workdir().expect("checked by the caller").to_owned();
    let mut files = Vec::new();
    for entry in repo.statuses(Some(&mut opts))?.iter() {
        if entry.status().intersects(wanted) {
            let rel =
                crate::proposal::RepoPath::from_bytes(entry.path_bytes()).as_path().to_owned();
            // Regular files only: a formatter must never write through a symlink.
            if std::fs::symlink_metadata(root.join(&rel)).is_ok_and(|m| m.is_file()) {
                files.push(rel);
            }
        }
    }
    Ok(files)
}

/// A project file kairos looks into (Cargo.toml, pyproject.toml): the repository is
/// untrusted, so a pipe or a huge file in its place is not read.
fn read_manifest(path: &Path) -> Option<String> {
    crate::read::read_text(path, crate::read::SETTINGS_LIMIT).ok()
}
