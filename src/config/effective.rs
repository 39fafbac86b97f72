//! The settings in force, one row per key as it would be written in `config.toml`,
//! with where each value came from: for `kairos config show`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use super::origins::{Origins, dotted};
use super::{CatchUp, CommandOutput, Config, FsTrigger, KeySource, TaskSettings};
use crate::tasks;

/// One effective setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Setting {
    /// The key as the file writes it: `tasks.format.quiet`.
    pub key: String,
    /// For a per-repository override: the repository it applies to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo: Option<PathBuf>,
    /// The value as TOML would carry it (`null`: not set, kairos decides).
    pub value: Value,
    pub origin: Origin,
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "from")]
pub enum Origin {
    /// Not in the file: kairos's built-in value.
    Default,
    /// Written in the file, on this line.
    File { line: usize },
    /// Written for one repository (`[repos."PATH".tasks.NAME]`), on this line.
    Override { line: usize },
}

impl Config {
    /// Every setting in force, the global ones first, then each repository's overrides;
    /// `text` is the file these settings were parsed from.
    pub fn settings(&self, text: &str) -> Vec<Setting> {
        let origins = Origins::locate(text);
        let mut rows = Vec::new();
        // A value not written may follow one that is: `prune-branches` waits for
        // `daemon.idle`.
        let mut push_from = |key: &[&str], from: &[&str], value: Value| {
            let line = origins.line(key).or_else(|| origins.line(from));
            let origin = line.map_or(Origin::Default, |line| Origin::File { line });
            rows.push(Setting { key: dotted(key), repo: None, value, origin });
        };
        let mut push = |key: &[&str], value: Value| push_from(key, key, value);

        let d = &self.daemon;
        push(&["daemon", "timezone"], d.timezone.name().into());
        push(&["daemon", "idle"], duration(d.idle));
        push(&["daemon", "max_parallel_runs"], d.max_parallel_runs.into());
        push(&["daemon", "keep_undo_for"], duration(d.keep_undo_for));

        let n = &self.notify;
        push(&["notify", "desktop"], n.desktop.into());
        push(&["notify", "batch"], duration(n.batch));
        push(&["notify", "max_per_hour"], n.max_per_hour.into());
        push(&["notify", "reconnect"], duration(n.reconnect));
        if let Some(w) = &n.webhook {
            push(&["notify", "webhook", "url"], w.url.clone().into());
            push(&["notify", "webhook", "token_env"], w.token_env.clone().into());
            let file = w.token_file.as_ref().map(|p| p.display().to_string());
            push(&["notify", "webhook", "token_file"], file.into());
        }

        match &self.llm {
            None => push(&["llm"], Value::Null),
            Some(llm) => {
                push(&["llm", "provider"], llm.provider.name().into());
                push(&["llm", "base_url"], llm.base_url.clone().into());
                push(&["llm", "model"], llm.model.clone().into());
                // The key's source, never the key.
                match &llm.key {
                    KeySource::None => push(&["llm", "api_key_env"], Value::Null),
                    KeySource::Env(name) => push(&["llm", "api_key_env"], name.clone().into()),
                    KeySource::File(path) => {
                        push(&["llm", "api_key_file"], path.display().to_string().into())
                    }
                }
                push(&["llm", "timeout"], duration(llm.timeout));
                push(&["llm", "max_calls_per_hour"], llm.max_calls_per_hour.into());
                push(&["llm", "max_tokens_per_day"], llm.max_tokens_per_day.into());
                let structured = match llm.structured {
                    super::Structured::Tools => "tools",
                    super::Structured::JsonSchema => "json_schema",
                    super::Structured::Auto => "auto",
                };
                push(&["llm", "structured"], structured.into());
                push(&["llm", "max_file_size"], size(llm.max_file_size));
                push(&["llm", "stream"], llm.stream.into());
                push(&["llm", "max_reply_tokens"], llm.max_reply_tokens.into());
            }
        }

        for (name, settings) in &self.tasks {
            for (key, value, applies) in task_entries(name, settings) {
                let path = ["tasks", name.as_str(), key];
                let from: &[&str] = match (name.as_str(), key) {
                    (tasks::PRUNE_BRANCHES, "idle") => &["daemon", "idle"],
                    _ => &path,
                };
                if applies || origins.line(&path).is_some() {
                    push_from(&path, from, value);
                }
            }
        }

        for written in origins.children(&["repos"]) {
            let root = super::expand_repo_path(&written);
            let Some(table) = self.repos.get(&root) else { continue };
            for name in origins.children(&["repos", &written, "tasks"]) {
                let Some(settings) = table.get(&name) else { continue };
                for (key, value, _) in task_entries(&name, settings) {
                    let Some(line) = origins.line(&["repos", &written, "tasks", &name, key]) else {
                        continue;
                    };
                    rows.push(Setting {
                        key: dotted(&["tasks", &name, key]),
                        repo: Some(root.clone()),
                        value,
                        origin: Origin::Override { line },
                    });
                }
            }
        }
        rows
    }
}

/// Every key a task takes, its value, and whether it means anything for this task (a
/// key that does not is listed only when the file sets it).
fn task_entries(name: &str, s: &TaskSettings) -> Vec<(&'static str, Value, bool)> {
    use tasks::{ASK, COMMIT_MESSAGE, FORMAT, LOCKFILE, REMINDERS, REVIEW, SNAPSHOT, TICK};
    let builtin = tasks::info(name).is_some();
    let t = &s.triggers;
    let scheduled = !t.schedules.is_empty();
    let model = matches!(name, COMMIT_MESSAGE | REVIEW | ASK | TICK);
    let edits = matches!(name, REVIEW | ASK | TICK);
    let copies = !builtin || edits || matches!(name, SNAPSHOT | FORMAT | LOCKFILE);
    let schedule = match t.schedules.first() {
        Some(first) => first.source().into(),
        None => "never".into(),
    };
    let commands = |list: &Option<Vec<String>>| list.clone().map_or(Value::Null, Value::from);
    let mut entries = vec![
        ("enabled", s.enabled.into(), true),
        ("quiet", duration(s.quiet), t.fs.is_some() || t.git_index),
        ("schedule", schedule, builtin),
        ("timezone", t.schedules.first().map(|c| c.zone().name()).into(), false),
        ("catch_up", if s.catch_up == CatchUp::Once { "once" } else { "skip" }.into(), scheduled),
        ("jitter", duration(s.jitter), scheduled),
        ("when_idle", s.when_idle.map_or(Value::Null, duration), scheduled),
        ("idle", t.idle.map_or(Value::Null, duration), builtin && t.idle.is_some()),
        ("max_file_size", size(s.max_file_size), copies),
        ("formatters", s.formatters.clone().into(), name == FORMAT),
        ("stale_after", duration(s.ages.stale_after), name == tasks::STALE_BRANCHES),
        ("uncommitted_after", duration(s.ages.uncommitted_after), name == REMINDERS),
        ("unpushed_after", duration(s.ages.unpushed_after), name == REMINDERS),
        ("stash_after", duration(s.ages.stash_after), name == REMINDERS),
        ("update", commands(&s.lockfile.update), name == LOCKFILE),
        ("test", commands(&s.lockfile.test), name == LOCKFILE),
        ("max_diff_lines", s.model.max_diff_lines.into(), model),
        ("check", commands(&s.model.check), edits),
        ("min_interval", duration(s.model.min_interval), name == TICK),
    ];
    if let Some(command) = &s.command {
        let output = match command.output {
            CommandOutput::Patch => "patch",
            CommandOutput::Notice => "notice",
        };
        // Values in `env` may be tokens: their names are shown, not what they hold.
        let env: serde_json::Map<String, Value> =
            command.env.keys().map(|k| (k.clone(), "(hidden)".into())).collect();
        entries.extend([
            ("run", command.argv.clone().into(), true),
            ("on", Value::from(trigger_sources(s)), true),
            ("output", output.into(), true),
            ("timeout", duration(command.timeout), true),
            ("env", Value::Object(env), !command.env.is_empty()),
        ]);
    }
    entries
}

/// A command task's triggers as `on = [...]` writes them.
fn trigger_sources(s: &TaskSettings) -> Vec<String> {
    let t = &s.triggers;
    let mut on = Vec::new();
    if let Some(FsTrigger::Globs { sources, .. }) = &t.fs {
        on.extend(sources.iter().map(|g| format!("fs:{g}")));
    }
    on.extend(t.schedules.iter().map(|c| format!("cron:{}", c.source())));
    if t.git_commit {
        on.push("git:commit".into());
    }
    if t.git_refs {
        on.push("git:refs".into());
    }
    if let Some(idle) = t.idle {
        on.push(format!("idle:{}", duration_text(idle)));
    }
    on
}

fn duration(d: Duration) -> Value {
    duration_text(d).into()
}

/// "1h 30m", "90d", "500ms": a duration as a user would write it, exactly.
pub fn duration_text(d: Duration) -> String {
    const UNITS: [(u64, &str); 4] = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let mut rest = d.as_secs();
    let mut parts = Vec::new();
    for (size, unit) in UNITS {
        if rest >= size {
            parts.push(format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    if d.subsec_millis() > 0 {
        parts.push(format!("{}ms", d.subsec_millis()));
    }
    if parts.is_empty() { "0s".into() } else { parts.join(" ") }
}

/// "50MiB", "256KiB", "1000B": a size in the largest unit that holds it exactly.
fn size(bytes: u64) -> Value {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    let text = UNITS
        .iter()
        .find(|(unit, _)| bytes >= *unit && bytes.is_multiple_of(*unit))
        .map_or(format!("{bytes}B"), |(unit, name)| format!("{}{name}", bytes / unit));
    json!(text)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn find<'a>(rows: &'a [Setting], key: &str, repo: Option<&Path>) -> &'a Setting {
        rows.iter()
            .find(|r| r.key == key && r.repo.as_deref() == repo)
            .unwrap_or_else(|| panic!("no {key} for {repo:?} in {rows:#?}"))
    }

    #[test]
    fn every_value_says_where_it_came_from() {
        let repo = tempfile::tempdir().unwrap();
        let root = repo.path().canonicalize().unwrap();
        let text = format!(
            "[daemon]\nidle = \"90s\"\n\n[tasks.format]\nquiet = \"5s\"\n\n\
             [repos.{:?}.tasks.format]\nenabled = false\n",
            root.display().to_string()
        );
        let config = Config::parse(&text, Path::new("config.toml")).unwrap();
        let rows = config.settings(&text);

        let idle = find(&rows, "daemon.idle", None);
        assert_eq!((idle.value.clone(), idle.origin), (json!("1m 30s"), Origin::File { line: 2 }));
        let zone = find(&rows, "daemon.timezone", None);
        assert_eq!((zone.value.clone(), zone.origin), (json!("local"), Origin::Default));
        assert_eq!(find(&rows, "tasks.format.quiet", None).origin, Origin::File { line: 5 });
        assert_eq!(find(&rows, "tasks.format.enabled", None).value, json!(true));
        let over = find(&rows, "tasks.format.enabled", Some(&root));
        assert_eq!((over.value.clone(), over.origin), (json!(false), Origin::Override { line: 8 }));
        assert_eq!(find(&rows, "llm", None).value, Value::Null);
        let waits = find(&rows, "tasks.prune-branches.idle", None);
        assert_eq!(
            (waits.value.clone(), waits.origin),
            (json!("1m 30s"), Origin::File { line: 2 })
        );
        assert_eq!(find(&rows, "tasks.maintenance.schedule", None).origin, Origin::Default);
        // Keys that mean nothing for a task are not listed unless written.
        assert!(!rows.iter().any(|r| r.key == "tasks.snapshot.formatters"));
    }

    #[test]
    fn a_command_task_shows_its_command_and_hides_its_environment() {
        let text = "[tasks.lint]\nrun = [\"cargo\", \"clippy\"]\non = [\"fs:**/*.rs\", \
                    \"cron:0 9 * * 1\"]\nenv = { TOKEN = \"s3cret\" }\n";
        let config = Config::parse(text, Path::new("config.toml")).unwrap();
        let rows = config.settings(text);
        assert_eq!(find(&rows, "tasks.lint.run", None).value, json!(["cargo", "clippy"]));
        assert_eq!(
            find(&rows, "tasks.lint.on", None).value,
            json!(["fs:**/*.rs", "cron:0 9 * * 1"])
        );
        assert_eq!(find(&rows, "tasks.lint.env", None).origin, Origin::File { line: 4 });
        assert!(!serde_json::to_string(&rows).unwrap().contains("s3cret"));
    }

    #[test]
    fn values_read_back_as_the_same_settings() {
        for text in ["0s", "500ms", "90s", "1h 30m", "90d", "2d 3h 4m 5s 6ms"] {
            let d = super::super::parse_duration(text).unwrap();
            assert_eq!(super::super::parse_duration(&duration_text(d)).unwrap(), d, "{text}");
        }
        for bytes in [1000, 1 << 10, 256 << 10, 50 << 20, 3 << 30, (1 << 20) + 1] {
            let text = size(bytes);
            assert_eq!(super::super::parse_size(text.as_str().unwrap()).unwrap(), bytes);
        }
    }
}
