//! A task's validated settings: when it runs and, for command tasks, what it runs.

use std::collections::BTreeMap;
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::duration::parse_duration;
use crate::watch::clock::{CronSchedule, Zone};

use super::raw::RawTask;

/// The default for `max_file_size`.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 50 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct TaskSettings {
    pub enabled: bool,
    /// How long a repository must be quiet after matching file changes before the run.
    pub quiet: Duration,
    /// Files larger than this are left out of snapshots and scratch copies.
    pub max_file_size: u64,
    pub triggers: Triggers,
    /// Set for user-defined command tasks.
    pub command: Option<CommandSpec>,
    /// `format` only: the formatters it may use, in order of preference.
    pub formatters: Vec<String>,
    pub catch_up: CatchUp,
    pub when_idle: Option<Duration>,
    pub jitter: Duration,
    pub ages: Ages,
    pub lockfile: LockfileCommands,
    pub model: ModelTaskSettings,
}

/// What the model tasks (review, ask, tick) take.
#[derive(Debug, Clone)]
pub struct ModelTaskSettings {
    /// The most diff lines a prompt carries (the most-changed files first).
    pub max_diff_lines: usize,
    /// The check a suggested edit must pass in scratch space; `None`: `cargo check` for a
    /// Cargo project, none otherwise; empty: none.
    pub check: Option<Vec<String>>,
    /// `tick`: at most one look per this long.
    pub min_interval: Duration,
}

/// What happens to a scheduled run that was missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatchUp {
    /// Run once, however many runs were missed.
    Once,
    /// Record the miss and wait for the next scheduled time.
    Skip,
}

/// Ages for `stale-branches` and `reminders`.
#[derive(Debug, Clone)]
pub struct Ages {
    pub stale_after: Duration,
    pub uncommitted_after: Duration,
    pub unpushed_after: Duration,
    pub stash_after: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct LockfileCommands {
    pub update: Option<Vec<String>>,
    pub test: Option<Vec<String>>,
}

/// What makes a task run (besides `kairos run`).
#[derive(Debug, Clone, Default)]
pub struct Triggers {
    pub fs: Option<FsTrigger>,
    pub schedules: Vec<CronSchedule>,
    /// HEAD or a branch moved, a branch appeared or went.
    pub git_refs: bool,
    /// HEAD moved to another commit.
    pub git_commit: bool,
    /// The index changed (something was staged or unstaged).
    pub git_index: bool,
    /// No file changes for this long.
    pub idle: Option<Duration>,
}

#[derive(Debug, Clone)]
pub enum FsTrigger {
    Any,
    Globs { set: GlobSet, sources: Vec<String> },
}

impl FsTrigger {
    /// Whether a change to repository-relative `path` concerns this trigger.
    pub fn matches(&self, path: &std::path::Path) -> bool {
        match self {
            FsTrigger::Any => true,
            FsTrigger::Globs { set, .. } => set.is_match(path),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutput {
    Patch,
    Notice,
}

#[derive(Debug, Clone)]
pub struct CommandSpec {
    pub argv: Vec<String>,
    pub output: CommandOutput,
    pub timeout: Duration,
    pub env: BTreeMap<String, String>,
}

/// Every formatter the `format` task knows, in the order it tries them.
pub const FORMATTERS: &[&str] = &["rustfmt", "prettier", "ruff", "black", "gofmt"];

/// An error message anchored at a byte range of the config text.
pub type Located = (std::ops::Range<usize>, String);

impl TaskSettings {
    pub fn new(quiet: Duration, triggers: Triggers) -> TaskSettings {
        TaskSettings {
            enabled: true,
            quiet,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            triggers,
            command: None,
            formatters: FORMATTERS.iter().map(|s| s.to_string()).collect(),
            catch_up: CatchUp::Once,
            when_idle: None,
            jitter: Duration::from_secs(120),
            ages: Ages {
                stale_after: Duration::from_secs(90 * 86_400),
                uncommitted_after: Duration::from_secs(8 * 3600),
                unpushed_after: Duration::from_secs(24 * 3600),
                stash_after: Duration::from_secs(14 * 86_400),
            },
            lockfile: LockfileCommands::default(),
            model: ModelTaskSettings {
                max_diff_lines: 1500,
                check: None,
                min_interval: Duration::from_secs(30 * 60),
            },
        }
    }

    /// Lays what the user wrote over these settings.
    pub fn overlay(&mut self, raw: &RawTask, builtin: bool, zone: Zone) -> Result<(), Located> {
        if let Some(enabled) = raw.enabled {
            self.enabled = enabled;
        }
        if let Some(q) = &raw.quiet {
            self.quiet = parse_duration(q.get_ref()).map_err(|m| (q.span(), m))?;
        }
        if let Some(size) = &raw.max_file_size {
            self.max_file_size = parse_size(size.get_ref()).map_err(|m| (size.span(), m))?;
        }
        let zone = match &raw.timezone {
            Some(tz) => Zone::parse(tz.get_ref()).map_err(|m| (tz.span(), m))?,
            None => zone,
        };
        if let Some(s) = &raw.schedule {
            let text = s.get_ref().trim();
            self.triggers.schedules = if text.is_empty() || text == "never" {
                Vec::new()
            } else {
                vec![CronSchedule::parse(text, zone).map_err(|m| (s.span(), m))?]
            };
        } else if raw.timezone.is_some() {
            let sources: Vec<String> =
                self.triggers.schedules.iter().map(|s| s.source().to_owned()).collect();
            self.triggers.schedules = sources
                .iter()
                .map(|s| CronSchedule::parse(s, zone).expect("already valid"))
                .collect();
        }
        if let Some(c) = &raw.catch_up {
            self.catch_up = match c.get_ref().as_str() {
                "once" => CatchUp::Once,
                "skip" => CatchUp::Skip,
                other => {
                    return Err((
                        c.span(),
                        format!("catch_up is \"once\" or \"skip\", not {other:?}"),
                    ));
                }
            };
        }
        let duration = |d: &Option<toml::Spanned<String>>| -> Result<Option<Duration>, Located> {
            d.as_ref().map(|d| parse_duration(d.get_ref()).map_err(|m| (d.span(), m))).transpose()
        };
        if let Some(d) = duration(&raw.when_idle)? {
            self.when_idle = Some(d);
        }
        if let Some(d) = duration(&raw.jitter)? {
            self.jitter = d;
        }
        if let Some(d) = duration(&raw.stale_after)? {
            self.ages.stale_after = d;
        }
        if let Some(d) = duration(&raw.uncommitted_after)? {
            self.ages.uncommitted_after = d;
        }
        if let Some(d) = duration(&raw.unpushed_after)? {
            self.ages.unpushed_after = d;
        }
        if let Some(d) = duration(&raw.stash_after)? {
            self.ages.stash_after = d;
        }
        if let Some(n) = &raw.max_diff_lines {
            if *n.get_ref() < 10 {
                return Err((n.span(), "max_diff_lines must be at least 10".into()));
            }
            self.model.max_diff_lines = *n.get_ref();
        }
        if let Some(check) = &raw.check {
            self.model.check = Some(check.clone());
        }
        if let Some(d) = duration(&raw.min_interval)? {
            self.model.min_interval = d;
        }
        if let Some(d) = duration(&raw.idle)? {
            self.triggers.idle = Some(d);
        }
        if let Some(update) = &raw.update {
            self.lockfile.update = Some(update.clone());
        }
        if let Some(test) = &raw.test {
            self.lockfile.test = Some(test.clone());
        }
        if let Some(list) = &raw.formatters {
            let mut chosen = Vec::new();
            for f in list {
                if !FORMATTERS.contains(&f.get_ref().as_str()) {
                    return Err((
                        f.span(),
                        format!(
                            "unknown formatter {:?}; known: {}",
                            f.get_ref(),
                            FORMATTERS.join(", ")
                        ),
                    ));
                }
                chosen.push(f.get_ref().clone());
            }
            self.formatters = chosen;
        }
        self.overlay_command(raw, builtin, zone)
    }

    fn overlay_command(&mut self, raw: &RawTask, builtin: bool, zone: Zone) -> Result<(), Located> {
        if let Some(run) = &raw.run {
            if builtin {
                return Err((
                    run.span(),
                    "this is a built-in task; give your command task another name".into(),
                ));
            }
            if run.get_ref().is_empty() || run.get_ref()[0].trim().is_empty() {
                return Err((
                    run.span(),
                    "`run` needs a program, e.g. run = [\"cargo\", \"fmt\"]".into(),
                ));
            }
            let command = self.command.get_or_insert(CommandSpec {
                argv: Vec::new(),
                output: CommandOutput::Patch,
                timeout: Duration::from_secs(600),
                env: BTreeMap::new(),
            });
            command.argv = run.get_ref().clone();
        }
        let needs_command = |span: std::ops::Range<usize>, key: &str| -> Located {
            (span, format!("`{key}` is for command tasks; add `run = [\"program\", \"arg\"]`"))
        };
        if let Some(on) = &raw.on {
            if builtin {
                return Err(needs_command(on[0].span(), "on"));
            }
            self.triggers = parse_triggers(on, zone)?;
        }
        if let Some(output) = &raw.output {
            let value = match output.get_ref().as_str() {
                "patch" => CommandOutput::Patch,
                "notice" => CommandOutput::Notice,
                other => {
                    return Err((
                        output.span(),
                        format!("output is \"patch\" or \"notice\", not {other:?}"),
                    ));
                }
            };
            match self.command.as_mut() {
                Some(c) => c.output = value,
                None => return Err(needs_command(output.span(), "output")),
            }
        }
        if let Some(t) = &raw.timeout {
            let timeout = parse_duration(t.get_ref()).map_err(|m| (t.span(), m))?;
            match self.command.as_mut() {
                Some(c) => c.timeout = timeout,
                None => return Err(needs_command(t.span(), "timeout")),
            }
        }
        if let Some(env) = &raw.env {
            match self.command.as_mut() {
                Some(c) => c.env.extend(env.get_ref().clone()),
                None => return Err(needs_command(env.span(), "env")),
            }
        }
        Ok(())
    }
}

fn parse_triggers(on: &[toml::Spanned<String>], zone: Zone) -> Result<Triggers, Located> {
    let mut triggers = Triggers::default();
    let mut globs = GlobSetBuilder::new();
    let mut sources = Vec::new();
    for item in on {
        let text = item.get_ref().trim();
        let (kind, arg) = text.split_once(':').unwrap_or((text, ""));
        match (kind, arg) {
            ("fs", glob) if !glob.is_empty() => {
                let g = Glob::new(glob)
                    .map_err(|e| (item.span(), format!("invalid glob {glob:?}: {e}")))?;
                globs.add(g);
                sources.push(glob.to_owned());
            }
            ("cron", expr) => triggers
                .schedules
                .push(CronSchedule::parse(expr, zone).map_err(|m| (item.span(), m))?),
            ("git", "commit") => triggers.git_commit = true,
            ("git", "refs") => triggers.git_refs = true,
            ("idle", duration) => {
                triggers.idle = Some(parse_duration(duration).map_err(|m| (item.span(), m))?)
            }
            _ => {
                return Err((
                    item.span(),
                    format!(
                        "unknown trigger {text:?}; write \"fs:GLOB\", \"cron:EXPR\", \"git:commit\", \"git:refs\" or \"idle:DURATION\""
                    ),
                ));
            }
        }
    }
    if !sources.is_empty() {
        let set = globs.build().map_err(|e| (on[0].span(), e.to_string()))?;
        triggers.fs = Some(FsTrigger::Globs { set, sources });
    }
    Ok(triggers)
}

/// Parses a size as users write it: "50MiB", "2 GB", "800k".
pub fn parse_size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| format!("invalid size {text:?} ({e}); write a size like \"50MiB\" or \"2GB\""))
}
