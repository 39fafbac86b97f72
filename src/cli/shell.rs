//! `kairos completions SHELL` and `kairos man`: generated from the command line's own
//! definition, so they never fall behind it.

use std::process::ExitCode;

use clap::CommandFactory;

use super::{Cli, CliResult, Failure};

pub fn completions(shell: clap_complete::Shell) -> CliResult {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "kairos", &mut script);
    print(&script)
}

/// The man page (roff) for `kairos` and each of its commands, one after the other.
pub fn man() -> CliResult {
    let command = Cli::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page).map_err(write_failed)?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub = sub.clone().name(format!("kairos-{}", sub.get_name()));
        clap_mangen::Man::new(sub).render(&mut page).map_err(write_failed)?;
    }
    print(&page)
}

/// Writes `text` out; a reader that went away (`| head`) ends it quietly.
fn print(text: &[u8]) -> CliResult {
    match std::io::Write::write_all(&mut std::io::stdout().lock(), text) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(write_failed(e)),
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn write_failed(e: std::io::Error) -> Failure {
    Failure::new(format!("writing the page: {e}"))
}
