//! The daemon's settings: built-in defaults, overridden by
//! `$XDG_CONFIG_HOME/kairos/config.toml`, with per-repository overrides in
//! `[repos."PATH".tasks.NAME]`. Every value is validated up front, and an error points
//! at the file, line and column, so the daemon can keep its last good settings and say
//! exactly what to fix.

mod duration;
mod effective;
mod llm;
mod origins;
mod raw;
mod task;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

pub use task::{
    Ages, CatchUp, CommandOutput, CommandSpec, DEFAULT_MAX_FILE_SIZE, FORMATTERS, FsTrigger,
    LockfileCommands, TaskSettings, Triggers, parse_size,
};

use crate::tasks;
use crate::watch::clock::{CronSchedule, Zone};
pub use duration::{MAX_DURATION, parse_duration};
pub use effective::{Origin, Setting};
pub use llm::{KeySource, LlmSettings, Provider, STREAM_SILENCE, Structured};
use raw::{RawConfig, RawTask};

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub daemon: DaemonSettings,
    pub notify: NotifySettings,
    /// The model kairos may talk to; `None`: no request is ever made.
    pub llm: Option<LlmSettings>,
    tasks: BTreeMap<String, TaskSettings>,
    /// Repository root → its full task table (the global one with its overrides laid on).
    repos: BTreeMap<PathBuf, BTreeMap<String, TaskSettings>>,
}

#[derive(Debug, Clone)]
pub struct DaemonSettings {
    /// Timezone for schedules that do not name their own.
    pub timezone: Zone,
    /// How long without file events before a repository counts as idle.
    pub idle: Duration,
    /// How many task runs may proceed at once across repositories.
    pub max_parallel_runs: usize,
    /// How long the objects an applied change's undo needs are kept from `git gc`
    /// (`refs/kairos/keep/`); after that, or once it is undone, they may be pruned.
    pub keep_undo_for: Duration,
}

/// `[notify]`: how kairos tells you.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    pub desktop: bool,
    pub batch: Duration,
    pub max_per_hour: usize,
    pub reconnect: Duration,
    pub webhook: Option<WebhookSettings>,
}

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub url: String,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
}

/// A configuration problem, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", path.display())]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Default for Config {
    fn default() -> Self {
        Config::parse("", Path::new("<built-in defaults>")).expect("built-in defaults are valid")
    }
}

impl Config {
    /// Reads the config file; a missing file means the built-in defaults.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let whole_file =
            |message: String| ConfigError { path: path.to_owned(), line: 1, column: 1, message };
        match crate::read::read_text(path, crate::read::SETTINGS_LIMIT) {
            Ok(text) => Config::parse(&text, path),
            Err(crate::read::ReadError::NotFound) => Ok(Config::default()),
            Err(e) => Err(whole_file(format!("cannot read the config: {e}"))),
        }
    }

    /// Parses and validates `text`, read from `path` (used in error messages).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let at = |(span, message): (std::ops::Range<usize>, String)| {
            let (line, column) = line_column(text, span.start);
            ConfigError { path: path.to_owned(), line, column, message }
        };
        let raw: RawConfig = toml::from_str(text)
            .map_err(|e| at((e.span().unwrap_or(0..0), e.message().trim().to_owned())))?;

        let timezone = match &raw.daemon.timezone {
            Some(tz) => Zone::parse(tz.get_ref()).map_err(|m| at((tz.span(), m)))?,
            None => Zone::Local,
        };
        let idle = match &raw.daemon.idle {
            Some(d) => parse_duration(d.get_ref()).map_err(|m| at((d.span(), m)))?,
            None => Duration::from_secs(5 * 60),
        };
        let max_parallel_runs = match &raw.daemon.max_parallel_runs {
            Some(n) if *n.get_ref() == 0 => {
                return Err(at((n.span(), "max_parallel_runs must be at least 1".into())));
            }
            Some(n) => *n.get_ref(),
            None => 2,
        };
        let keep_undo_for = match &raw.daemon.keep_undo_for {
            Some(d) => parse_duration(d.get_ref()).map_err(|m| at((d.span(), m)))?,
            None => Duration::from_secs(90 * 86_400),
        };
        let daemon = DaemonSettings { timezone, idle, max_parallel_runs, keep_undo_for };

        let mut global = builtin_tasks(&daemon);
        overlay_all(&mut global, &raw.tasks, timezone).map_err(at)?;
        let mut repos = BTreeMap::new();
        for (repo, overrides) in &raw.repos {
            let mut table = global.clone();
            overlay_all(&mut table, &overrides.tasks, timezone).map_err(at)?;
            repos.insert(expand_repo_path(repo.get_ref()), table);
        }
        let n = &raw.notify;
        let notify = NotifySettings {
            desktop: n.desktop.unwrap_or(true),
            batch: match &n.batch {
                Some(b) => parse_duration(b.get_ref()).map_err(|m| at((b.span(), m)))?,
                None => Duration::from_secs(5),
            },
            max_per_hour: match &n.max_per_hour {
                Some(max) if *max.get_ref() == 0 => {
                    return Err(at((max.span(), "max_per_hour must be at least 1 (set desktop = false to silence the desktop)".into())));
                }
                Some(max) => *max.get_ref(),
                None => 20,
            },
            reconnect: match &n.reconnect {
                Some(r) => {
                    let d = parse_duration(r.get_ref()).map_err(|m| at((r.span(), m)))?;
                    if d < Duration::from_millis(100) {
                        return Err(at((r.span(), "reconnect must be at least 100ms".into())));
                    }
                    d
                }
                None => Duration::from_secs(60),
            },
            webhook: match &n.webhook {
                None => None,
                Some(w) => {
                    let url = w.url.get_ref().trim();
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(at((
                            w.url.span(),
                            format!(
                                "the webhook url must start with http:// or https://, not {url:?}"
                            ),
                        )));
                    }
                    Some(WebhookSettings {
                        url: url.to_owned(),
                        token_env: w.token_env.clone(),
                        token_file: w.token_file.as_deref().map(expand_repo_path),
                    })
                }
            },
        };
        let llm = match &raw.llm {
            Some(section) => {
                Some(LlmSettings::parse(section.get_ref(), section.span()).map_err(at)?)
            }
            None => None,
        };
        Ok(Config { daemon, notify, llm, tasks: global, repos })
    }

    /// The settings of task `name` (built-in or command) everywhere.
    pub fn task(&self, name: &str) -> Option<&TaskSettings> {
        self.tasks.get(name)
    }

    /// The settings of task `name` in the repository at `root`, overrides included.
    pub fn task_for(&self, root: &Path, name: &str) -> Option<&TaskSettings> {
        self.tasks_for(root).get(name)
    }

    /// Every task (built-in and command) as it applies to the repository at `root`.
    pub fn tasks_for(&self, root: &Path) -> &BTreeMap<String, TaskSettings> {
        self.repos.get(root).unwrap_or(&self.tasks)
    }
}

fn builtin_tasks(daemon: &DaemonSettings) -> BTreeMap<String, TaskSettings> {
    let mut tasks = BTreeMap::new();
    for info in tasks::BUILTIN {
        let quiet = parse_duration(info.default_quiet).expect("built-in quiet is valid");
        let mut triggers = Triggers {
            schedules: info
                .default_schedule
                .map(|s| {
                    CronSchedule::parse(s, daemon.timezone).expect("built-in schedule is valid")
                })
                .into_iter()
                .collect(),
            ..Triggers::default()
        };
        match info.name {
            tasks::SNAPSHOT | tasks::FORMAT => triggers.fs = Some(FsTrigger::Any),
            tasks::PRUNE_BRANCHES => {
                triggers.git_refs = true;
                triggers.idle = Some(daemon.idle);
            }
            tasks::FAST_FORWARD => triggers.git_refs = true,
            tasks::COMMIT_MESSAGE => triggers.git_index = true,
            tasks::REVIEW => triggers.git_commit = true,
            tasks::ASK => triggers.fs = Some(FsTrigger::Any),
            tasks::TICK => triggers.idle = Some(Duration::from_secs(5 * 60)),
            _ => {}
        }
        let mut settings = TaskSettings::new(quiet, triggers);
        settings.catch_up = if info.catch_up_once { CatchUp::Once } else { CatchUp::Skip };
        settings.when_idle =
            info.when_idle.map(|d| parse_duration(d).expect("built-in duration is valid"));
        tasks.insert(info.name.to_owned(), settings);
    }
    tasks
}

fn overlay_all(
    table: &mut BTreeMap<String, TaskSettings>,
    raw: &BTreeMap<Spanned<String>, RawTask>,
    zone: Zone,
) -> Result<(), (std::ops::Range<usize>, String)> {
    for (name, task) in raw {
        let builtin = tasks::info(name.get_ref()).is_some();
        if !table.contains_key(name.get_ref()) {
            if task.run.is_none() {
                let known: Vec<&str> = tasks::BUILTIN.iter().map(|t| t.name).collect();
                return Err((
                    name.span(),
                    format!(
                        "unknown task {:?}; built-in tasks: {}; to define a command task, give it `run = [\"program\", \"arg\"]`",
                        name.get_ref(),
                        known.join(", ")
                    ),
                ));
            }
            table.insert(
                name.get_ref().clone(),
                TaskSettings::new(Duration::from_secs(2), Triggers::default()),
            );
        }
        let settings = table.get_mut(name.get_ref()).expect("just ensured");
        settings.overlay(task, builtin, zone)?;
    }
    Ok(())
}

/// `~/src/api` → `/home/me/src/api`, canonical when it exists.
fn expand_repo_path(text: &str) -> PathBuf {
    let expanded = match text.strip_prefix("~/") {
        Some(rest) => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(rest),
        None => PathBuf::from(text),
    };
    expanded.canonicalize().unwrap_or(expanded)
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests;
