//! The command line: one file per command. Each command maps to one request to the
//! daemon (except `daemon` and `service`), and prints for people or, with `--json`, for
//! programs.

mod approve;
mod daemon;
mod digest;
mod doctor;
mod llm;
mod log;
mod memory;
mod output;
mod policy;
mod prompts;
mod queue;
mod reject;
mod restore;
mod review;
mod run;
mod service;
mod settings;
mod shell;
mod show;
mod snapshots;
mod status;
mod undo;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::client::{Client, ClientError};
use crate::paths::Paths;
use crate::protocol::{Outcome, Request, Response};

#[derive(Debug, Parser)]
#[command(
    name = "kairos",
    version,
    about = "An always-on assistant for your repositories: it watches, snapshots your uncommitted work, proposes clean-ups, and keeps everything undoable."
)]
pub struct Cli {
    /// More detail in the daemon's log (-v: debug, -vv: trace); KAIROS_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Colour: on a terminal (auto, unless NO_COLOR is set), always, or never.
    #[arg(long, global = true, value_enum, default_value_t = output::ColorChoice::Auto)]
    pub color: output::ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon in the foreground (what the systemd service runs).
    Daemon,
    /// Show the daemon, its repositories, next scheduled runs and queue counts.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// List proposals waiting for a decision.
    Queue {
        /// Every proposal, whatever its state.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Walk through what waits, one proposal at a time (a, A, r, s, d, u, q, ?).
    Review,
    /// Show one proposal: what it changes, why, its decision and history.
    Show {
        id: u64,
        #[arg(long)]
        json: bool,
    },
    /// Approve proposals: each is applied now if its preconditions still hold.
    Approve {
        #[arg(required = true)]
        ids: Vec<u64>,
        /// Also let changes of the same kind (action, task, repository, paths) apply
        /// automatically from now on: a grant, visible in `kairos policy show`.
        #[arg(long)]
        always: bool,
        /// With --always: the grant expires after this long (e.g. 7d, 12h).
        #[arg(long = "for", requires = "always", value_parser = crate::config::parse_duration)]
        for_duration: Option<std::time::Duration>,
    },
    /// Reject proposals: they will not be proposed again.
    Reject {
        #[arg(required = true)]
        ids: Vec<u64>,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Undo an applied proposal, restoring exactly what was there before.
    Undo { id: u64 },
    /// Show what kairos saw, ran and decided.
    Log {
        /// How many entries.
        #[arg(short = 'n', default_value_t = 20)]
        n: usize,
        /// Keep printing new entries.
        #[arg(short, long)]
        follow: bool,
        /// Only this repository's entries.
        #[arg(long)]
        repo: Option<PathBuf>,
        /// Only this task's entries (snapshot, format, review, …).
        #[arg(long)]
        task: Option<String>,
        /// Only entries of these kinds (repeat, or separate with commas).
        #[arg(long, value_enum, value_delimiter = ',')]
        kind: Vec<crate::store::LogKind>,
        /// Only entries from this long ago on (e.g. 2h, 30m, 1d).
        #[arg(long, value_parser = crate::config::parse_duration)]
        since: Option<std::time::Duration>,
        #[arg(long)]
        json: bool,
    },
    /// Run a task now (snapshot, prune-branches).
    Run {
        task: String,
        /// The repository (default: the one you are in).
        #[arg(long)]
        repo: Option<PathBuf>,
    },
    /// Register repositories to watch (kept across restarts).
    Watch {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Stop watching repositories.
    Unwatch {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// List snapshots of uncommitted work.
    Snapshots {
        /// Only this repository (default: the one you are in, else all).
        #[arg(long)]
        repo: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Bring files back from a snapshot (undoable; the current state is snapshotted first).
    Restore {
        snapshot: String,
        /// Only these paths (default: every file).
        paths: Vec<PathBuf>,
        #[arg(long)]
        repo: Option<PathBuf>,
    },
    /// The settings in force (`config.toml`) and where each came from.
    Config {
        #[command(subcommand)]
        action: settings::Action,
    },
    /// Check, explain and inspect the autonomy policy.
    Policy {
        #[command(subcommand)]
        action: policy::Action,
    },
    /// The model (`[llm]` in the config).
    Llm {
        #[command(subcommand)]
        action: llm::Action,
    },
    /// What kairos remembers of your repositories.
    Memory {
        #[command(subcommand)]
        action: memory::Action,
    },
    /// What happened in a day, per repository.
    Digest {
        /// The day (YYYY-MM-DD; default: today).
        #[arg(long)]
        date: Option<chrono::NaiveDate>,
        #[arg(long)]
        repo: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// The prompt templates the model is given.
    Prompts {
        #[command(subcommand)]
        action: prompts::Action,
    },
    /// Desktop and webhook notifications.
    Notify {
        #[command(subcommand)]
        action: NotifyAction,
    },
    /// Install or remove the systemd user service.
    Service {
        #[command(subcommand)]
        action: service::Action,
    },
    /// Check what kairos needs on this machine, and say how to fix what is wrong.
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// Print a completion script for your shell (see the README for where it goes).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (`kairos man > ~/.local/share/man/man1/kairos.1`).
    Man,
}

#[derive(Debug, Subcommand)]
pub enum NotifyAction {
    /// Send a test notification through every configured sink.
    Test,
}

/// A failure the CLI reports: the message, what to do, and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub hint: Option<String>,
    pub code: u8,
}

/// Exit code when the daemon is not running.
pub const EXIT_NOT_RUNNING: u8 = 3;

impl Failure {
    pub fn new(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), hint: None, code: 1 }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        let code = match &e {
            ClientError::NotRunning(_) => EXIT_NOT_RUNNING,
            ClientError::Daemon(body) => body.code.exit_code(),
            _ => 1,
        };
        Failure { hint: e.hint(), message: e.to_string(), code }
    }
}

pub type CliResult = Result<ExitCode, Failure>;

pub async fn dispatch(cli: Cli) -> CliResult {
    let paths = Paths::from_env();
    output::set_color(cli.color);
    match cli.command {
        Command::Daemon => daemon::run(paths).await,
        Command::Status { json } => status::run(&paths, json).await,
        Command::Queue { all, json } => queue::run(&paths, all, json).await,
        Command::Review => review::run(&paths).await,
        Command::Show { id, json } => show::run(&paths, id, json).await,
        Command::Approve { ids, always, for_duration } => {
            approve::run(&paths, ids, always, for_duration).await
        }
        Command::Reject { ids, reason } => reject::run(&paths, ids, reason).await,
        Command::Undo { id } => undo::run(&paths, id).await,
        Command::Log { n, follow, repo, task, kind, since, json } => {
            let filter = log::filter(repo, task, kind, since)?;
            log::run(&paths, n, follow, filter, json).await
        }
        Command::Run { task, repo } => run::run(&paths, task, repo).await,
        Command::Watch { paths: targets } => watch::watch(&paths, targets).await,
        Command::Unwatch { paths: targets } => watch::unwatch(&paths, targets).await,
        Command::Snapshots { repo, json } => snapshots::run(&paths, repo, json).await,
        Command::Restore { snapshot, paths: targets, repo } => {
            restore::run(&paths, snapshot, targets, repo).await
        }
        Command::Service { action } => service::run(action),
        Command::Doctor { json } => doctor::run(&paths, json).await,
        Command::Completions { shell } => shell::completions(shell),
        Command::Man => shell::man(),
        Command::Config { action } => settings::run(&paths, action),
        Command::Policy { action } => policy::run(&paths, action).await,
        Command::Llm { action } => llm::run(&paths, action).await,
        Command::Prompts { action } => prompts::run(&paths, action),
        Command::Memory { action } => memory::run(&paths, action).await,
        Command::Digest { date, repo, json } => digest::run(&paths, date, repo, json).await,
        Command::Notify { action: NotifyAction::Test } => {
            match call(&paths, Request::NotifyTest).await? {
                Response::Outcomes { outcomes } => print_outcomes(&outcomes),
                other => Err(unexpected(other)),
            }
        }
    }
}

/// Connects, sends one request, returns the response.
async fn call(paths: &Paths, request: Request) -> Result<Response, Failure> {
    let mut client = Client::connect(paths).await?;
    Ok(client.call(&request).await?)
}

/// The repository the user means: `--repo`, else the one the current directory is in.
fn repo_or_cwd(repo: Option<PathBuf>) -> Result<PathBuf, Failure> {
    let path = match repo {
        Some(p) => p,
        None => std::env::current_dir().map_err(|e| Failure::new(e.to_string()))?,
    };
    crate::registry::resolve_repo(&path).map_err(|e| Failure::new(e).hint("pass --repo PATH"))
}

/// Prints per-target outcomes; fails when any target failed.
fn print_outcomes(outcomes: &[Outcome]) -> CliResult {
    let mut failed = false;
    for o in outcomes {
        if o.ok {
            crate::out!("{}", o.message);
        } else {
            failed = true;
            eprintln!("{}: {}", output::paint("error", output::RED), o.message);
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn unexpected(response: Response) -> Failure {
    Failure::new(format!("unexpected answer from the daemon: {response:?}"))
}
