//! The `kairos` binary: parse the command line, set up tracing, dispatch, and turn a
//! failure into one clear message, a hint and an exit code.

use std::process::ExitCode;

use clap::Parser;
use kairos::cli::{Cli, Command, dispatch};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose, matches!(cli.command, Command::Daemon));
    let runtime = match &cli.command {
        Command::Daemon => {
            kairos::rest::use_one_arena();
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
        }
        _ => tokio::runtime::Builder::new_current_thread().enable_all().build(),
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            if let Some(hint) = failure.hint {
                eprintln!("  hint: {hint}");
            }
            ExitCode::from(failure.code)
        }
    }
}

/// One tracing setup: stderr (journald captures it), `-v` for more, `KAIROS_LOG` to
/// override with a filter such as `kairos=debug`.
fn init_tracing(verbose: u8, daemon: bool) {
    let default = match (daemon, verbose) {
        (_, 2..) => "kairos=trace,info",
        (_, 1) => "kairos=debug,info",
        (true, 0) => "info",
        (false, 0) => "warn",
    };
    let filter = EnvFilter::try_from_env("KAIROS_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
