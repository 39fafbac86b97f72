//! `kairos policy check|explain|show|simulate|revoke|undemote`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::output::{BOLD, DIM, GREEN, RED, paint, print_json};
use super::{CliResult, Failure, call, print_outcomes, unexpected};
use crate::paths::Paths;
use crate::policy::{Layer, REPO_POLICY, Subject, layer_name, parse, user_files};
use crate::proposal::{Origin, Provenance};
use crate::protocol::{Request, Response};

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Validate policy files (default: the shipped one, yours, and this repository's)
    /// and run each rule's examples. Works without the daemon.
    Check { files: Vec<PathBuf> },
    /// Show the autonomy a change would get, the rule that decides, and why.
    Explain {
        #[arg(long)]
        action: String,
        #[arg(long)]
        task: Option<String>,
        /// Default: the repository you are in.
        #[arg(long)]
        repo: Option<PathBuf>,
        #[arg(long)]
        branch: Option<String>,
        /// A path the change touches (repeatable).
        #[arg(long = "path")]
        paths: Vec<String>,
        /// Lines added plus removed.
        #[arg(long, default_value_t = 0)]
        lines: u64,
        /// Where the change comes from: a built-in task, a command task, or a model.
        #[arg(long, value_enum, default_value_t = OriginArg::Builtin)]
        origin: OriginArg,
        /// The run that made it read text kairos does not trust.
        #[arg(long)]
        untrusted: bool,
        #[arg(long)]
        json: bool,
    },
    /// The rules in force, grants, demotions and load errors.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Replay recorded proposals through today's policy; list what would change.
    Simulate {
        #[arg(long, default_value = "7d", value_parser = crate::config::parse_duration)]
        since: std::time::Duration,
        #[arg(long)]
        json: bool,
    },
    /// Take back a grant made with `approve --always`.
    Revoke { grant: String },
    /// Lift the demotion of a task in a repository.
    Undemote {
        task: String,
        #[arg(long)]
        repo: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OriginArg {
    Builtin,
    Command,
    Model,
}

impl OriginArg {
    fn provenance(self, untrusted: bool) -> Provenance {
        let origin = match self {
            OriginArg::Builtin => Origin::Builtin,
            OriginArg::Command => Origin::Command,
            OriginArg::Model => Origin::Model { model: "(any model)".into() },
        };
        Provenance { origin, read_untrusted: untrusted }
    }
}

pub async fn run(paths: &Paths, action: Action) -> CliResult {
    match action {
        Action::Check { files } => check(paths, files),
        Action::Explain {
            action,
            task,
            repo,
            branch,
            paths: touched,
            lines,
            origin,
            untrusted,
            json,
        } => {
            let subject = Subject {
                task,
                branch,
                files: Some(touched.len() as u64),
                paths: touched,
                lines,
                provenance: origin.provenance(untrusted),
                ..Subject::action(action.as_str())
            };
            explain(paths, subject, repo, json).await
        }
        Action::Show { json } => show(paths, json).await,
        Action::Simulate { since, json } => {
            let changes =
                match call(paths, Request::PolicySimulate { since_secs: since.as_secs() }).await? {
                    Response::Simulated { changes } => changes,
                    other => return Err(unexpected(other)),
                };
            if json {
                print_json(&changes);
            } else if changes.is_empty() {
                crate::out!("today's policy decides every recorded proposal the same way");
            } else {
                for c in &changes {
                    crate::out!(
                        "#{:<5} {} → {}  {} (now decided by {})",
                        c.id,
                        c.then,
                        paint(&c.now, BOLD),
                        c.title,
                        c.decided_by
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Revoke { grant } => match call(paths, Request::PolicyRevoke { id: grant }).await? {
            Response::Outcomes { outcomes } => print_outcomes(&outcomes),
            other => Err(unexpected(other)),
        },
        Action::Undemote { task, repo } => {
            let repo = super::repo_or_cwd(repo)?;
            match call(paths, Request::PolicyUndemote { task, repo }).await? {
                Response::Outcomes { outcomes } => print_outcomes(&outcomes),
                other => Err(unexpected(other)),
            }
        }
    }
}

/// `kairos policy explain`: the subject as the user described it, in the repository
/// given (or the one they are in).
async fn explain(
    paths: &Paths,
    mut subject: Subject,
    repo: Option<PathBuf>,
    json: bool,
) -> CliResult {
    let repo = match repo {
        Some(r) => Some(super::repo_or_cwd(Some(r))?),
        None => super::repo_or_cwd(None).ok(),
    };
    subject.repo = repo.map(|r| r.to_string_lossy().into_owned());
    let explanation = match call(paths, Request::PolicyExplain { subject }).await? {
        Response::Explained { explanation } => explanation,
        other => return Err(unexpected(other)),
    };
    if json {
        print_json(&explanation);
        return Ok(ExitCode::SUCCESS);
    }
    crate::out!("autonomy:   {}", paint(&explanation.autonomy.to_string(), BOLD));
    crate::out!("decided by: {}", explanation.decided_by);
    if explanation.matched.is_empty() {
        crate::out!("matching rules: none");
    }
    for (rule, level) in &explanation.matched {
        crate::out!(
            "  matched {} → {level} ({}, {})",
            rule.id,
            layer_name(rule.layer),
            rule.file.display()
        );
    }
    for (rule, level) in &explanation.shadow {
        crate::out!("  shadow  {} would decide {level} ({})", rule.id, rule.file.display());
    }
    for cap in &explanation.caps {
        crate::out!("  cap: held at propose, {cap}");
    }
    for note in &explanation.notes {
        crate::out!("  note: {note}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `kairos policy show`.
async fn show(paths: &Paths, json: bool) -> CliResult {
    let report = match call(paths, Request::PolicyShow).await? {
        Response::PolicyReport { report } => report,
        other => return Err(unexpected(other)),
    };
    if json {
        print_json(&report);
        return Ok(ExitCode::SUCCESS);
    }
    for e in &report.errors {
        crate::out!("{} {e}", paint("error", RED));
    }
    if !report.errors.is_empty() {
        crate::out!("(the last good policy stays in force)\n");
    }
    crate::out!("{}", paint("rules", BOLD));
    for r in &report.rules {
        let shadow = if r.shadow { " (shadow)" } else { "" };
        crate::out!(
            "  {:<20} {:<8} {}{shadow}  {}",
            r.id,
            r.autonomy,
            layer_name(r.layer),
            paint(&r.file.display().to_string(), DIM)
        );
    }
    crate::out!(
        "quiet hours: {}; max_auto_per_hour: {}; demote after {} rejections in 30 days",
        report.quiet_hours.as_deref().unwrap_or("none"),
        report.max_auto_per_hour,
        report.demote_after_rejections
    );
    crate::out!("{}", paint("caps (no rule or grant lifts them)", BOLD));
    for cap in &report.caps {
        crate::out!("  held at propose: {cap}");
    }
    crate::out!("{}", paint("grants", BOLD));
    if report.grants.is_empty() {
        crate::out!("  none (`kairos approve ID --always` makes one)");
    }
    for g in &report.grants {
        let until = g
            .expires_at
            .map(|t| {
                format!(", until {}", t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M"))
            })
            .unwrap_or_default();
        crate::out!(
            "  {:<5} {} from {} in {}{until}  (`kairos policy revoke {}`)",
            g.id,
            g.action,
            g.task.as_deref().unwrap_or("any task"),
            g.repo.as_deref().unwrap_or("any repository"),
            g.id
        );
    }
    crate::out!("{}", paint("demotions", BOLD));
    if report.demotions.is_empty() {
        crate::out!("  none");
    }
    for d in &report.demotions {
        crate::out!(
            "  {} in {}: observe since {} ({} rejections); `kairos policy undemote {} --repo {}`",
            d.task,
            d.repo,
            d.since.with_timezone(&chrono::Local).format("%Y-%m-%d"),
            d.rejections,
            d.task,
            d.repo
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Validates policy files locally: no daemon needed.
fn check(paths: &Paths, files: Vec<PathBuf>) -> CliResult {
    let mut targets: Vec<(PathBuf, Layer)> = Vec::new();
    if files.is_empty() {
        targets.extend(user_files(&paths.policies_dir()).into_iter().map(|p| (p, Layer::User)));
        if let Ok(root) = super::repo_or_cwd(None) {
            let repo_file = root.join(REPO_POLICY);
            if repo_file.exists() {
                targets.push((repo_file, Layer::Repo));
            }
        }
        let shipped = parse(
            crate::policy::DEFAULT_POLICY,
            std::path::Path::new("<built-in policies/default.toml>"),
            Layer::Default,
        )
        .map_err(|e| Failure::new(e.to_string()))?;
        crate::out!(
            "{} {} ({} rules)",
            paint("ok", GREEN),
            shipped.path.display(),
            shipped.rules.len()
        );
    } else {
        for f in files {
            let layer = if f.ends_with(REPO_POLICY) { Layer::Repo } else { Layer::User };
            targets.push((f, layer));
        }
    }
    let mut failed = false;
    for (path, layer) in targets {
        let text = match crate::policy::read_policy(&path) {
            Ok(t) => t,
            Err(e) => {
                failed = true;
                eprintln!("{e}");
                continue;
            }
        };
        match parse(&text, &path, layer) {
            Ok(file) => crate::out!(
                "{} {} ({} rules, examples pass)",
                paint("ok", GREEN),
                path.display(),
                file.rules.len()
            ),
            Err(e) => {
                failed = true;
                eprintln!("{e}");
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
