//! `lockfile`: refreshes the lock file within the version ranges the manifest allows, as
//! a careful maintainer would: in scratch copies, keeping the lock file's format, with
//! every change of major version as a proposal of its own (a `*` or `"latest"` range is
//! no licence for a breaking jump) and the rest together; the new lock installed before
//! the project's tests run against it, and those tests compared with the same tests on
//! the current lock, so a proposal says "1 failure new with the update", not "FAILED".

mod changes;
mod outcome;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::scratch::Scratch;
use super::{RunContext, TaskError, patch};
use crate::config::TaskSettings;
use crate::process;
use crate::proposal::{Draft, FileChange, Provenance};
use changes::{Change, Locked};
use outcome::TestRun;

/// More proposals of a major version in one run than this wait for the next run.
const MAX_MAJOR: usize = 5;
/// Packages in one proposal at most, so it stays reviewable; more make several, up to
/// `MAX_GROUPS` a run (the rest waits for the next run).
const GROUP_SIZE: usize = 25;
const MAX_GROUPS: usize = 4;

/// How this project's lock file is refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ecosystem {
    Cargo,
    /// With the lock file's format (`lockfileVersion`), kept as it is.
    Npm(Option<u64>),
    /// The user's own `update = [...]`: run as given, one proposal.
    Custom,
}

struct Plan {
    ecosystem: Ecosystem,
    update: Vec<String>,
    test: Option<Vec<String>>,
}

fn argv(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// The update and test commands for this project: configured, or found from its files.
fn plan(root: &Path, settings: &TaskSettings) -> Option<Plan> {
    let test = settings.lockfile.test.clone();
    if let Some(update) = &settings.lockfile.update {
        return Some(Plan { ecosystem: Ecosystem::Custom, update: update.clone(), test });
    }
    if root.join("Cargo.lock").is_file() {
        return Some(Plan {
            ecosystem: Ecosystem::Cargo,
            update: argv(&["cargo", "update", "--quiet"]),
            test: test.or(Some(argv(&["cargo", "test", "--quiet"]))),
        });
    }
    if root.join("package-lock.json").is_file() {
        let format =
            read_lock(root, Ecosystem::Npm(None)).and_then(|text| changes::npm_lock_format(&text));
        let mut update = argv(&["npm", "update", "--package-lock-only", "--no-audit", "--no-fund"]);
        if let Some(format) = format {
            update.extend(["--lockfile-version".to_owned(), format.to_string()]);
        }
        return Some(Plan {
            ecosystem: Ecosystem::Npm(format),
            update,
            test: test.or(Some(argv(&["npm", "test", "--silent"]))),
        });
    }
    None
}

fn lock_name(ecosystem: Ecosystem) -> Option<&'static str> {
    match ecosystem {
        Ecosystem::Cargo => Some("Cargo.lock"),
        Ecosystem::Npm(_) => Some("package-lock.json"),
        Ecosystem::Custom => None,
    }
}

fn read_lock(dir: &Path, ecosystem: Ecosystem) -> Option<String> {
    let name = lock_name(ecosystem)?;
    crate::read::read_text(&dir.join(name), 256 << 20).ok()
}

fn locked(dir: &Path, ecosystem: Ecosystem) -> Option<Locked> {
    let text = read_lock(dir, ecosystem)?;
    match ecosystem {
        Ecosystem::Cargo => changes::cargo_lock(&text),
        Ecosystem::Npm(_) => changes::npm_lock(&text),
        Ecosystem::Custom => None,
    }
}

/// The update command for these packages only.
fn targeted(plan: &Plan, only: &[&Change]) -> Vec<String> {
    let mut update = plan.update.clone();
    for change in only {
        match plan.ecosystem {
            Ecosystem::Cargo => {
                update.push("-p".into());
                update.push(match change.before.as_slice() {
                    [one] => format!("{}@{one}", change.name),
                    _ => change.name.clone(),
                });
            }
            Ecosystem::Npm(_) => update.push(change.name.clone()),
            Ecosystem::Custom => {}
        }
    }
    update
}

/// One run's shared means: where the commands run, their environment and time limit.
struct Runner<'a> {
    ctx: &'a RunContext<'a>,
    env: BTreeMap<String, String>,
    timeout: Duration,
}

impl Runner<'_> {
    fn copy(&self) -> Result<Scratch, TaskError> {
        self.ctx.step("copying the working tree to scratch space");
        Ok(Scratch::create(self.ctx.repo, self.ctx.scratch, self.ctx.settings.max_file_size)?)
    }

    /// Runs `argv` in `dir`, saying `why`.
    fn run(&self, why: &str, argv: &[String], dir: &Path) -> Result<process::Finished, TaskError> {
        self.ctx.step(&format!("{why}: `{}`", argv.join(" ")));
        process::run(argv, dir, &self.env, self.timeout).map_err(TaskError::Command)
    }

    /// Runs the update in a fresh copy: the copy, or why it failed.
    fn update(&self, argv: &[String]) -> Result<Scratch, TaskError> {
        let scratch = self.copy()?;
        let done = self.run("updating the lock file", argv, &scratch.dir)?;
        if !done.success {
            return Err(TaskError::Command(format!(
                "`{}` failed: {}",
                argv.join(" "),
                done.stderr.trim().lines().take(10).collect::<Vec<_>>().join("\n")
            )));
        }
        Ok(scratch)
    }

    /// Whether the update made in `scratch` was proposed before: it waits for the user,
    /// was decided, or failed lately (then it costs no tests, and no slot).
    fn proposed_already(&self, scratch: &Scratch) -> Result<bool, TaskError> {
        let files = lock_changes(self.ctx.repo, scratch)?;
        Ok(!files.is_empty() && (self.ctx.would_skip)(&patch::fingerprint(super::LOCKFILE, &files)))
    }

    /// Installs what the copy's lock file names, so the tests run the versions it names
    /// (`which`: "new" or "current", for the step shown).
    fn install(&self, plan: &Plan, dir: &Path, which: &str) -> Result<(), String> {
        if !matches!(plan.ecosystem, Ecosystem::Npm(_)) {
            // cargo builds what Cargo.lock says; a custom update installs what it needs.
            return Ok(());
        }
        // The copy links the user's node_modules: it must get its own, never write there.
        let modules = dir.join("node_modules");
        if modules.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) {
            std::fs::remove_file(&modules).map_err(|e| e.to_string())?;
        }
        // Install scripts of new package versions do not run on the user's machine.
        let ci = argv(&["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"]);
        match self.run(&format!("installing the {which} lock file"), &ci, dir) {
            Ok(done) if done.success => Ok(()),
            Ok(done) => Err(format!("`npm ci` failed: {}", npm_error(&done.stderr))),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The build directory the copies share, removed with the run.
struct BuildDir(std::path::PathBuf);

impl Drop for BuildDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What npm said went wrong: its first error lines, without the pointer to its log.
fn npm_error(stderr: &str) -> String {
    let said: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("npm error"))
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains("A complete log of this run"))
        .take(3)
        .collect();
    if said.is_empty() {
        return stderr.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").into();
    }
    said.join(" ")
}

pub fn run(ctx: &RunContext) -> Result<Vec<Draft>, TaskError> {
    let Some(plan) = plan(ctx.root, ctx.settings) else { return Ok(vec![]) };
    let timeout = ctx.settings.command.as_ref().map_or(Duration::from_secs(30 * 60), |c| c.timeout);
    // The copies share one build directory: the dependencies are built once, not per copy.
    let target = BuildDir(ctx.scratch.join(format!(
        "lockfile-target-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )));
    let env =
        BTreeMap::from([("CARGO_TARGET_DIR".to_owned(), target.0.to_string_lossy().into_owned())]);
    let runner = Runner { ctx, env, timeout };

    let before = locked(ctx.root, plan.ecosystem);
    let everything = runner.update(&plan.update)?;
    let all = match (&before, locked(&everything.dir, plan.ecosystem)) {
        (Some(before), Some(after)) => changes::between(before, &after),
        _ => vec![],
    };
    if plan.ecosystem != Ecosystem::Custom && all.is_empty() {
        return Ok(vec![]);
    }
    let (majors, minors): (Vec<&Change>, Vec<&Change>) = all.iter().partition(|c| c.major);
    let mut updates: Vec<(Scratch, Option<&Change>)> = Vec::new();
    if plan.ecosystem == Ecosystem::Custom || (majors.is_empty() && minors.len() <= GROUP_SIZE) {
        updates.push((everything, None));
    } else {
        drop(everything);
        // An update proposed before (waiting, or decided against) takes no slot: the
        // next ones get their turn, so the first groups never hold the rest back.
        for group in minors.chunks(GROUP_SIZE) {
            if updates.len() == MAX_GROUPS {
                break;
            }
            let scratch = runner.update(&targeted(&plan, group))?;
            if !runner.proposed_already(&scratch)? {
                updates.push((scratch, None));
            }
        }
        let mut majors_taken = 0;
        for major in &majors {
            if majors_taken == MAX_MAJOR {
                break;
            }
            let scratch = runner.update(&targeted(&plan, &[major]))?;
            if !runner.proposed_already(&scratch)? {
                updates.push((scratch, Some(*major)));
                majors_taken += 1;
            }
        }
    }
    // The tests on the current lock, once, to compare each update with.
    let baseline = match &plan.test {
        Some(test) => {
            let mut current = runner.copy()?;
            // Installed as each update is, so a difference in the tests is the update's,
            // not that of a fresh install beside the user's own node_modules.
            if let Err(why) = runner.install(&plan, &current.dir, "current") {
                tracing::warn!(
                    "the current lock file does not install ({why}): its tests run on the installed modules"
                );
                current = runner.copy()?;
            }
            Some(TestRun::of(&runner.run(
                "the tests on the current lock file",
                test,
                &current.dir,
            )?))
        }
        None => None,
    };
    let mut drafts = Vec::new();
    let mut unusable = Vec::new();
    for (scratch, major) in updates {
        match propose(&runner, &plan, &scratch, major, before.as_ref(), &baseline)? {
            Proposed::Draft(draft) => drafts.push(*draft),
            Proposed::Nothing => {}
            Proposed::Unusable(why) => unusable.push(why),
        }
    }
    // A lock file the package manager itself refuses to install is no proposal; when that
    // is all there is, it is the run's failure (reported once).
    match unusable.first() {
        Some(why) if drafts.is_empty() => Err(TaskError::Command(why.clone())),
        _ => {
            for why in &unusable {
                tracing::warn!("a lock-file update was not proposed: {why}");
            }
            Ok(drafts)
        }
    }
}

/// What the update in `scratch` changes: its lock files only (an update must not carry
/// other changes in).
fn lock_changes(repo: &git2::Repository, scratch: &Scratch) -> Result<Vec<FileChange>, TaskError> {
    let mut files = scratch.changes(repo)?;
    files.retain(|f| is_lock_file(f.path.as_path()));
    Ok(files)
}

/// What one update in scratch space became.
enum Proposed {
    Draft(Box<Draft>),
    Nothing,
    /// The new lock cannot be installed: why.
    Unusable(String),
}

/// The proposal for the update made in `scratch`, with what changed and what the tests
/// said beside `baseline`.
fn propose(
    runner: &Runner,
    plan: &Plan,
    scratch: &Scratch,
    major: Option<&Change>,
    before: Option<&Locked>,
    baseline: &Option<TestRun>,
) -> Result<Proposed, TaskError> {
    let repo = runner.ctx.repo;
    // Taken before the tests run, so nothing they leave behind is in it.
    let files = lock_changes(repo, scratch)?;
    let names: Vec<String> = files.iter().map(|f| f.path.to_string()).collect();
    let changed = match (before, locked(&scratch.dir, plan.ecosystem)) {
        (Some(before), Some(after)) => changes::between(before, &after),
        _ => vec![],
    };
    let title = match (major, changed.len()) {
        (Some(m), _) => format!("update {m} ({})", names.join(", ")),
        (None, 0) => format!("update dependencies within their ranges ({})", names.join(", ")),
        (None, 1) => format!("update {} ({})", changed[0], names.join(", ")),
        (None, n) => format!("update {n} dependencies within their ranges ({})", names.join(", ")),
    };
    if files.is_empty() {
        return Ok(Proposed::Nothing);
    }
    if let Err(e) = runner.install(plan, &scratch.dir, "new") {
        return Ok(Proposed::Unusable(format!("{title}: the new lock cannot be installed: {e}")));
    }
    let tests = match (&plan.test, baseline) {
        (Some(test), Some(baseline)) => {
            match runner.run(&format!("the tests with {title}"), test, &scratch.dir) {
                Ok(done) => outcome::compare(&test.join(" "), baseline, &TestRun::of(&done)),
                Err(e) => format!("could not run: {e}"),
            }
        }
        _ => "no test command".to_owned(),
    };
    let what = if changed.is_empty() {
        "the lock file changes".to_owned()
    } else {
        let shown: Vec<String> = changed.iter().take(8).map(ToString::to_string).collect();
        let more = changed.len().saturating_sub(shown.len());
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        format!("{}{more}", shown.join(", "))
    };
    let draft = patch::draft_from(
        repo,
        files,
        super::LOCKFILE,
        |_| title,
        format!("{what}; tests: {tests}"),
        Provenance::BUILTIN,
    );
    Ok(match draft {
        Some(mut d) => {
            d.action = crate::action::Action::DepsUpdate;
            Proposed::Draft(Box::new(d))
        }
        None => Proposed::Nothing,
    })
}

fn is_lock_file(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        matches!(
            n,
            "Cargo.lock"
                | "package-lock.json"
                | "yarn.lock"
                | "pnpm-lock.yaml"
                | "poetry.lock"
                | "uv.lock"
                | "go.sum"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_npm_update_keeps_the_lock_files_format() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("package-lock.json"), r#"{"lockfileVersion": 2}"#).unwrap();
        let settings = TaskSettings::new(Duration::from_secs(1), Default::default());
        let plan = plan(dir.path(), &settings).unwrap();
        assert_eq!(plan.ecosystem, Ecosystem::Npm(Some(2)));
        assert!(plan.update.ends_with(&["--lockfile-version".to_owned(), "2".to_owned()]));
        let change =
            Change { name: "a".into(), before: vec!["1.0.0".into()], after: vec![], major: false };
        let only = targeted(&plan, &[&change]);
        assert_eq!(only.last().map(String::as_str), Some("a"));
    }

    #[test]
    fn a_cargo_update_names_the_version_it_moves_from() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Cargo.lock"), "version = 4\n").unwrap();
        let settings = TaskSettings::new(Duration::from_secs(1), Default::default());
        let plan = plan(dir.path(), &settings).unwrap();
        let change =
            Change { name: "syn".into(), before: vec!["1.0.5".into()], after: vec![], major: true };
        assert_eq!(targeted(&plan, &[&change])[3..], ["-p".to_owned(), "syn@1.0.5".to_owned()]);
    }
}
