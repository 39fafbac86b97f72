//! `kairos doctor`: checks what kairos needs on this machine, one line per check, and
//! says how to fix what is wrong. Exit code 1 when a check finds a problem.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use super::CliResult;
use super::output::{GREEN, RED, YELLOW, paint, print_json};
use crate::client::{Client, ClientError};
use crate::paths::Paths;
use crate::protocol::{Request, Response, StatusReport};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Level {
    Ok,
    Warning,
    Problem,
}

#[derive(Debug, Serialize)]
struct Check {
    check: String,
    level: Level,
    detail: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

fn check(name: &str, level: Level, detail: impl Into<String>, fix: Option<&str>) -> Check {
    Check { check: name.into(), level, detail: detail.into(), fix: fix.map(str::to_owned) }
}

/// The oldest git whose behaviour kairos relies on (`for-each-ref`, `worktree`, `fetch`).
const GIT_AT_LEAST: (u32, u32) = (2, 25);

pub async fn run(paths: &Paths, json: bool) -> CliResult {
    let mut checks = Vec::new();
    let status = daemon(paths, &mut checks).await;
    checks.push(store(paths, status.is_some()));
    let config = config(paths, &mut checks);
    repositories(paths, status.as_ref(), &mut checks);
    checks.push(inotify(status.as_ref()));
    checks.push(desktop().await);
    checks.push(systemd());
    checks.push(git());
    if config.as_ref().is_some_and(|c| c.llm.is_some()) {
        checks.push(model(paths, status.is_some()).await);
    }
    if json {
        print_json(&checks);
    } else {
        for c in &checks {
            let level = match c.level {
                Level::Ok => paint("ok     ", GREEN),
                Level::Warning => paint("warning", YELLOW),
                Level::Problem => paint("problem", RED),
            };
            crate::out!("{level}  {:<14} {}", c.check, super::output::visible(&c.detail));
            if let Some(fix) = &c.fix {
                crate::out!("         {:<14} → {fix}", "");
            }
        }
    }
    let failed = checks.iter().any(|c| c.level == Level::Problem);
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Is the daemon running, and is it this build? Its status, when it answers.
async fn daemon(paths: &Paths, checks: &mut Vec<Check>) -> Option<StatusReport> {
    let mut client = match Client::connect(paths).await {
        Ok(client) => client,
        Err(ClientError::NotRunning(_)) => {
            checks.push(check(
                "daemon",
                Level::Problem,
                "not running",
                Some("start it: `kairos service install` (or `kairos daemon` in a terminal)"),
            ));
            return None;
        }
        Err(e) => {
            checks.push(check("daemon", Level::Problem, e.to_string(), e.hint().as_deref()));
            return None;
        }
    };
    let report = match client.call(&Request::Status).await {
        Ok(Response::Status { status }) => status,
        Ok(other) => {
            checks.push(check("daemon", Level::Problem, format!("answered {other:?}"), None));
            return None;
        }
        Err(e) => {
            checks.push(check("daemon", Level::Problem, e.to_string(), None));
            return None;
        }
    };
    if report.version == crate::VERSION {
        checks.push(check(
            "daemon",
            Level::Ok,
            format!("running (pid {}, version {})", report.pid, report.version),
            None,
        ));
    } else {
        checks.push(check(
            "daemon",
            Level::Warning,
            format!("version {} runs; this command is {}", report.version, crate::VERSION),
            Some("restart it to run this version: `systemctl --user restart kairos`"),
        ));
    }
    Some(report)
}

fn store(paths: &Paths, daemon_has_it: bool) -> Check {
    let dir = paths.store_dir();
    if !dir.exists() {
        return check("store", Level::Ok, "not created yet (the daemon makes it)", None);
    }
    let size = bytesize::ByteSize::b(dir_size(&dir));
    if daemon_has_it {
        return check(
            "store",
            Level::Ok,
            format!("{}, {size}, open in the daemon", dir.display()),
            None,
        );
    }
    match crate::store::Store::open(&dir) {
        Ok(_) => check(
            "store",
            Level::Ok,
            format!("{}, {size}, schema {}", dir.display(), crate::store::SCHEMA_VERSION),
            None,
        ),
        Err(e) => check("store", Level::Problem, e.to_string(), None),
    }
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn config(paths: &Paths, checks: &mut Vec<Check>) -> Option<crate::config::Config> {
    let file = paths.config_file();
    let config = match crate::config::Config::load(&file) {
        Ok(config) => {
            let detail = match file.exists() {
                true => format!("{} reads cleanly", file.display()),
                false => format!("built-in defaults ({} does not exist)", file.display()),
            };
            checks.push(check("config", Level::Ok, detail, None));
            Some(config)
        }
        Err(e) => {
            checks.push(check(
                "config",
                Level::Problem,
                e.to_string(),
                Some("fix the line shown; until then the daemon keeps the last good settings"),
            ));
            None
        }
    };
    match crate::policy::load_user(&paths.policies_dir()) {
        Ok(_) => checks.push(check("policies", Level::Ok, "every policy file reads cleanly", None)),
        Err(errors) => {
            for e in errors {
                checks.push(check(
                    "policies",
                    Level::Problem,
                    e.to_string(),
                    Some("fix it (`kairos policy check FILE`); until then the last good policy holds"),
                ));
            }
        }
    }
    config
}

fn repositories(paths: &Paths, status: Option<&StatusReport>, checks: &mut Vec<Check>) {
    let registered = match crate::registry::Registry::load(&paths.repos_file()) {
        Ok(registry) => registry.repos,
        Err(e) => {
            checks.push(check("repositories", Level::Problem, e.to_string(), None));
            return;
        }
    };
    if registered.is_empty() {
        checks.push(check(
            "repositories",
            Level::Warning,
            "none registered",
            Some("`kairos watch PATH` for each repository kairos should look after"),
        ));
    }
    for path in registered {
        let seen = status.and_then(|s| s.repos.iter().find(|r| r.path == path));
        let shown = path.display().to_string();
        let c = match (crate::git::open(&path), seen) {
            (Err(e), _) => check(
                "repository",
                Level::Problem,
                format!("{shown}: {}", e.message()),
                Some("bring it back, or `kairos unwatch PATH`"),
            ),
            (Ok(_), Some(r)) if r.state != "ok" => check(
                "repository",
                Level::Problem,
                format!("{shown}: {} {}", r.state, r.reason.clone().unwrap_or_default()),
                None,
            ),
            (Ok(_), Some(r)) if r.watch_problem.is_some() => check(
                "repository",
                Level::Warning,
                format!("{shown}: {}", r.watch_problem.clone().unwrap_or_default()),
                None,
            ),
            (Ok(_), Some(r)) => {
                let skipped = match r.skipped_dirs.len() {
                    0 => String::new(),
                    n => format!(
                        ", {n} ignored directories not entered ({})",
                        r.skipped_dirs.join(", ")
                    ),
                };
                check(
                    "repository",
                    Level::Ok,
                    format!("{shown}: {} directories watched{skipped}", r.watched_dirs),
                    None,
                )
            }
            (Ok(_), None) => {
                check("repository", Level::Ok, format!("{shown}: a git repository"), None)
            }
        };
        checks.push(c);
    }
}

fn inotify(status: Option<&StatusReport>) -> Check {
    let read = |name: &str| -> Option<usize> {
        std::fs::read_to_string(format!("/proc/sys/fs/inotify/{name}")).ok()?.trim().parse().ok()
    };
    let Some(limit) = read("max_user_watches") else {
        return check("inotify", Level::Warning, "cannot read fs.inotify.max_user_watches", None);
    };
    let Some(status) = status else {
        return check("inotify", Level::Ok, format!("max_user_watches {limit}"), None);
    };
    let used: usize = status.repos.iter().map(|r| r.watched_dirs).sum();
    let detail = format!(
        "kairos watches {used} directories of max_user_watches {limit} (shared with every program of yours)"
    );
    let raise = "raise it: `echo fs.inotify.max_user_watches=524288 | sudo tee /etc/sysctl.d/90-inotify.conf && sudo sysctl --system`";
    match used * 10 {
        n if n >= limit * 9 => check("inotify", Level::Problem, detail, Some(raise)),
        n if n >= limit * 5 => check("inotify", Level::Warning, detail, Some(raise)),
        _ => check("inotify", Level::Ok, detail, None),
    }
}

async fn desktop() -> Check {
    match tokio::time::timeout(Duration::from_secs(5), crate::notifier::desktop::probe()).await {
        Ok(Ok((owner, true))) => check(
            "notifications",
            Level::Ok,
            format!("notification server {owner}, with buttons"),
            None,
        ),
        Ok(Ok((owner, false))) => check(
            "notifications",
            Level::Warning,
            format!("notification server {owner} shows no buttons: approve from the command line"),
            None,
        ),
        Ok(Err(e)) => check(
            "notifications",
            Level::Warning,
            e,
            Some(
                "notifications go to the log (and a webhook, if set) until a desktop session runs",
            ),
        ),
        Err(_) => {
            check("notifications", Level::Warning, "the session bus did not answer in 5 s", None)
        }
    }
}

fn systemd() -> Check {
    let systemctl = |args: &[&str]| {
        let mut argv: Vec<String> = vec!["systemctl".into(), "--user".into()];
        argv.extend(args.iter().map(|a| a.to_string()));
        crate::process::run(&argv, Path::new("/"), &Default::default(), Duration::from_secs(5))
    };
    let unit = super::service::UNIT_NAME;
    let enabled = match systemctl(&["is-enabled", unit]) {
        Ok(done) => done.stdout.trim().to_owned(),
        Err(e) => return check("service", Level::Warning, format!("no systemctl: {e}"), None),
    };
    let active =
        systemctl(&["is-active", unit]).map(|d| d.stdout.trim().to_owned()).unwrap_or_default();
    match (enabled.as_str(), active.as_str()) {
        ("enabled", "active") => {
            check("service", Level::Ok, format!("{unit} enabled and running"), None)
        }
        ("enabled", state) => check(
            "service",
            Level::Warning,
            format!("{unit} enabled but {state}"),
            Some("`journalctl --user -u kairos` says why; `systemctl --user restart kairos`"),
        ),
        ("", _) => check(
            "service",
            Level::Warning,
            "the systemd user manager does not answer",
            Some("run `kairos daemon` from your session instead"),
        ),
        (state, _) => check(
            "service",
            Level::Warning,
            format!("{unit} is {state}"),
            Some("`kairos service install` starts kairos with your session"),
        ),
    }
}

fn git() -> Check {
    let argv = vec!["git".to_owned(), "--version".to_owned()];
    match crate::process::run(&argv, Path::new("/"), &Default::default(), Duration::from_secs(5)) {
        Ok(done) if done.success => {
            let shown = done.stdout.trim().to_owned();
            let version: Vec<u32> = shown
                .split_whitespace()
                .nth(2)
                .unwrap_or_default()
                .split('.')
                .take(2)
                .filter_map(|n| n.parse().ok())
                .collect();
            match version.as_slice() {
                [major, minor] if (*major, *minor) >= GIT_AT_LEAST => {
                    check("git", Level::Ok, shown, None)
                }
                _ => check(
                    "git",
                    Level::Warning,
                    format!(
                        "{shown}: kairos is tested with git {}.{} and later",
                        GIT_AT_LEAST.0, GIT_AT_LEAST.1
                    ),
                    Some("update git"),
                ),
            }
        }
        Ok(done) => check("git", Level::Problem, done.stderr.trim().to_owned(), None),
        Err(e) => check("git", Level::Problem, format!("no git: {e}"), Some("install git")),
    }
}

async fn model(paths: &Paths, daemon_runs: bool) -> Check {
    if !daemon_runs {
        return check("model", Level::Warning, "not checked: the daemon is not running", None);
    }
    let answer = async { Client::connect(paths).await?.call(&Request::LlmTest).await };
    match answer.await {
        Ok(Response::LlmTested { report }) => {
            let detail = format!(
                "{} {} answered in {} ms",
                report.provider, report.model, report.latency_ms
            );
            match report.broke_contract {
                None => check("model", Level::Ok, detail, None),
                Some(why) => check(
                    "model",
                    Level::Warning,
                    format!("{detail}, but its reply broke the contract: {why}"),
                    Some("try structured = \"tools\" or \"json_schema\" in [llm]"),
                ),
            }
        }
        Ok(other) => check("model", Level::Problem, format!("answered {other:?}"), None),
        Err(e) => check("model", Level::Problem, e.to_string(), e.hint().as_deref()),
    }
}
