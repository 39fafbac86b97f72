//! The daemon's settings: built-in defaults, overridden by
//! `$XDG_CONFIG_HOME/kairos/config.toml`. Every value is validated up front, and an
//! error points at the file, line and column with a hint, so the daemon can keep its
//! last good settings and say exactly what to fix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::schedule::{CronSchedule, Zone, parse_duration};
use crate::tasks;

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub daemon: DaemonSettings,
    tasks: BTreeMap<String, TaskSettings>,
}

#[derive(Debug, Clone)]
pub struct DaemonSettings {
    /// Timezone for schedules that do not name their own.
    pub timezone: Zone,
    /// How long without file events before a repository counts as idle.
    pub idle: Duration,
    /// How many task runs may proceed at once across repositories.
    pub max_parallel_runs: usize,
}

#[derive(Debug, Clone)]
pub struct TaskSettings {
    pub enabled: bool,
    /// How long a repository must be quiet after file changes before the task runs.
    pub quiet: Duration,
    pub schedule: Option<CronSchedule>,
    /// Files larger than this are left out of snapshots (data sets, build artefacts
    /// that are not ignored); they are counted in the snapshot's message.
    pub max_file_size: u64,
}

/// The default for `max_file_size`.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 50 * 1024 * 1024;

/// A configuration problem, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", path.display())]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    daemon: RawDaemon,
    #[serde(default)]
    tasks: BTreeMap<Spanned<String>, RawTask>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    timezone: Option<Spanned<String>>,
    idle: Option<Spanned<String>>,
    max_parallel_runs: Option<Spanned<usize>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    enabled: Option<bool>,
    quiet: Option<Spanned<String>>,
    schedule: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    max_file_size: Option<Spanned<String>>,
}

impl Default for Config {
    fn default() -> Self {
        Config::parse("", Path::new("<built-in defaults>")).expect("built-in defaults are valid")
    }
}

impl Config {
    /// Reads the config file; a missing file means the built-in defaults.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|e| ConfigError {
                    path: path.to_owned(),
                    line: 1,
                    column: 1,
                    message: format!("the file is not valid UTF-8 ({e}); save it as UTF-8"),
                })?;
                Config::parse(&text, path)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(ConfigError {
                path: path.to_owned(),
                line: 1,
                column: 1,
                message: format!("cannot read the file: {e}"),
            }),
        }
    }

    /// Parses and validates `text`, read from `path` (used in error messages).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let at = |span: std::ops::Range<usize>, message: String| {
            let (line, column) = line_column(text, span.start);
            ConfigError { path: path.to_owned(), line, column, message }
        };
        let raw: RawConfig = toml::from_str(text)
            .map_err(|e| at(e.span().unwrap_or(0..0), e.message().trim().to_owned()))?;

        let timezone = match &raw.daemon.timezone {
            Some(tz) => Zone::parse(tz.get_ref()).map_err(|m| at(tz.span(), m))?,
            None => Zone::Local,
        };
        let idle = match &raw.daemon.idle {
            Some(d) => parse_duration(d.get_ref()).map_err(|m| at(d.span(), m))?,
            None => Duration::from_secs(5 * 60),
        };
        let max_parallel_runs = match &raw.daemon.max_parallel_runs {
            Some(n) if *n.get_ref() == 0 => {
                return Err(at(n.span(), "max_parallel_runs must be at least 1".into()));
            }
            Some(n) => *n.get_ref(),
            None => 2,
        };
        let daemon = DaemonSettings { timezone, idle, max_parallel_runs };

        let mut tasks = BTreeMap::new();
        for info in tasks::BUILTIN {
            let quiet = parse_duration(info.default_quiet).expect("built-in quiet is valid");
            let schedule = info
                .default_schedule
                .map(|s| CronSchedule::parse(s, timezone).expect("built-in schedule is valid"));
            tasks.insert(
                info.name.to_owned(),
                TaskSettings {
                    enabled: true,
                    quiet,
                    schedule,
                    max_file_size: DEFAULT_MAX_FILE_SIZE,
                },
            );
        }
        for (name, task) in &raw.tasks {
            let Some(settings) = tasks.get_mut(name.get_ref().as_str()) else {
                let known: Vec<&str> = tasks::BUILTIN.iter().map(|t| t.name).collect();
                return Err(at(
                    name.span(),
                    format!("unknown task {:?}; known tasks: {}", name.get_ref(), known.join(", ")),
                ));
            };
            if let Some(enabled) = task.enabled {
                settings.enabled = enabled;
            }
            if let Some(q) = &task.quiet {
                settings.quiet = parse_duration(q.get_ref()).map_err(|m| at(q.span(), m))?;
            }
            if let Some(size) = &task.max_file_size {
                settings.max_file_size =
                    parse_size(size.get_ref()).map_err(|m| at(size.span(), m))?;
            }
            let zone = match &task.timezone {
                Some(tz) => Zone::parse(tz.get_ref()).map_err(|m| at(tz.span(), m))?,
                None => timezone,
            };
            if let Some(s) = &task.schedule {
                settings.schedule = if s.get_ref().trim().is_empty() || s.get_ref() == "never" {
                    None
                } else {
                    Some(CronSchedule::parse(s.get_ref(), zone).map_err(|m| at(s.span(), m))?)
                };
            } else if task.timezone.is_some()
                && let Some(current) = &settings.schedule
            {
                let source = current.source().to_owned();
                settings.schedule = Some(CronSchedule::parse(&source, zone).expect("valid"));
            }
        }
        Ok(Config { daemon, tasks })
    }

    /// The settings of a built-in task.
    pub fn task(&self, name: &str) -> Option<&TaskSettings> {
        self.tasks.get(name)
    }
}

/// Parses a size as users write it: "50MiB", "2 GB", "800k".
fn parse_size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| format!("invalid size {text:?} ({e}); write a size like \"50MiB\" or \"2GB\""))
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("config.toml"))
    }

    #[test]
    fn defaults_are_valid_and_sensible() {
        let c = Config::default();
        assert_eq!(c.task("snapshot").unwrap().quiet, Duration::from_secs(30));
        assert!(c.task("prune-branches").unwrap().schedule.is_some());
        assert_eq!(c.daemon.max_parallel_runs, 2);
    }

    #[test]
    fn task_settings_override_defaults() {
        let c = parse("[tasks.snapshot]\nquiet = \"2s\"\n\n[tasks.prune-branches]\nschedule = \"0 9 * * 1-5\"\ntimezone = \"Europe/Paris\"\n").unwrap();
        assert_eq!(c.task("snapshot").unwrap().quiet, Duration::from_secs(2));
        assert_eq!(
            c.task("prune-branches").unwrap().schedule.as_ref().unwrap().source(),
            "0 9 * * 1-5"
        );
    }

    #[test]
    fn a_bad_duration_points_at_its_value() {
        let err = parse("[tasks.snapshot]\nquiet = \"soon\"\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 9));
        assert!(err.to_string().starts_with("config.toml:2:9: invalid duration \"soon\""), "{err}");
    }

    #[test]
    fn a_bad_cron_expression_points_at_its_value() {
        let err = parse("[tasks.prune-branches]\n  schedule = \"99 * * * *\"\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 14));
        assert!(err.message.contains("invalid cron expression"), "{err}");
    }

    #[test]
    fn unknown_keys_and_tasks_are_errors() {
        let err = parse("[tasks.snapshot]\nquite = \"2s\"\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("quite"), "{err}");
        let err = parse("[tasks.snapshots]\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.message.contains("known tasks: snapshot, prune-branches"), "{err}");
    }

    #[test]
    fn sizes_parse_and_bad_ones_are_located() {
        let c = parse("[tasks.snapshot]\nmax_file_size = \"2MiB\"\n").unwrap();
        assert_eq!(c.task("snapshot").unwrap().max_file_size, 2 * 1024 * 1024);
        let err = parse("[tasks.snapshot]\nmax_file_size = \"huge\"\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 17));
        assert!(err.message.contains("invalid size"), "{err}");
    }

    #[test]
    fn syntax_errors_are_located() {
        let err = parse("[daemon]\nidle = 5m\n").unwrap_err();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("ab\ncé d", 7), (2, 4));
    }
}
