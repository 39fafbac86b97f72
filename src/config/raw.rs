//! The config file as written, with the position of every value for error messages.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub daemon: RawDaemon,
    #[serde(default)]
    pub tasks: BTreeMap<Spanned<String>, RawTask>,
    /// Per-repository overrides: `[repos."~/src/api".tasks.format]`.
    #[serde(default)]
    pub repos: BTreeMap<Spanned<String>, RawRepo>,
    #[serde(default)]
    pub notify: RawNotify,
    /// The model, when one is configured.
    pub llm: Option<Spanned<super::llm::RawLlm>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    pub desktop: Option<bool>,
    pub batch: Option<Spanned<String>>,
    pub max_per_hour: Option<Spanned<usize>>,
    /// How often to try the desktop again while it is unavailable.
    pub reconnect: Option<Spanned<String>>,
    pub webhook: Option<RawWebhook>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub url: Spanned<String>,
    /// The environment variable holding the token.
    pub token_env: Option<String>,
    /// A file (mode 0600) holding the token.
    pub token_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDaemon {
    pub timezone: Option<Spanned<String>>,
    pub idle: Option<Spanned<String>>,
    pub max_parallel_runs: Option<Spanned<usize>>,
    /// How long what undo needs is kept from `git gc` after a change is applied.
    pub keep_undo_for: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRepo {
    #[serde(default)]
    pub tasks: BTreeMap<Spanned<String>, RawTask>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTask {
    pub enabled: Option<bool>,
    pub quiet: Option<Spanned<String>>,
    pub schedule: Option<Spanned<String>>,
    pub timezone: Option<Spanned<String>>,
    pub max_file_size: Option<Spanned<String>>,
    /// `format` only: which formatters may be used.
    pub formatters: Option<Vec<Spanned<String>>>,
    /// Command tasks: the program and its arguments (no shell).
    pub run: Option<Spanned<Vec<String>>>,
    /// Command tasks: `fs:GLOB`, `cron:EXPR`, `git:commit`, `git:refs`, `idle:DURATION`.
    pub on: Option<Vec<Spanned<String>>>,
    /// Command tasks: `patch` (propose the files it changed) or `notice` (report its output).
    pub output: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    /// After a missed schedule (machine asleep, daemon down): `once` or `skip`.
    pub catch_up: Option<Spanned<String>>,
    /// Scheduled runs wait until no file changed for this long.
    pub when_idle: Option<Spanned<String>>,
    /// Upper bound of the per-repository delay added to scheduled runs.
    pub jitter: Option<Spanned<String>>,
    /// `stale-branches`: how long a branch may go without commits.
    pub stale_after: Option<Spanned<String>>,
    /// `reminders`: ages that deserve a reminder.
    pub uncommitted_after: Option<Spanned<String>>,
    pub unpushed_after: Option<Spanned<String>>,
    pub stash_after: Option<Spanned<String>>,
    /// `lockfile`: the update command and the project's test command.
    pub update: Option<Vec<String>>,
    pub test: Option<Vec<String>>,
    pub env: Option<Spanned<BTreeMap<String, String>>>,
    /// Model tasks: how many diff lines a prompt may carry.
    pub max_diff_lines: Option<Spanned<usize>>,
    /// Model tasks: the check a suggested edit must pass in scratch space.
    pub check: Option<Vec<String>>,
    /// `tick`: the least time between two looks, and how long the repository must be
    /// quiet after activity.
    pub min_interval: Option<Spanned<String>>,
    pub idle: Option<Spanned<String>>,
}
