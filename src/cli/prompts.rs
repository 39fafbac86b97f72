//! `kairos prompts show [NAME]`: the prompt template in force and where it came from
//! (the shipped one, or yours in `$XDG_CONFIG_HOME/kairos/prompts/NAME.md`). No daemon
//! needed.

use std::process::ExitCode;

use super::{CliResult, Failure};
use crate::llm::prompt;
use crate::paths::Paths;

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Print a template (without NAME: list them).
    Show { name: Option<String> },
}

pub fn run(paths: &Paths, action: Action) -> CliResult {
    let Action::Show { name } = action;
    let dir = paths.config_dir.join("prompts");
    let Some(name) = name else {
        for name in prompt::names() {
            let template = prompt::template(&dir, name).map_err(Failure::new)?;
            let from = template.path.map_or("shipped".to_owned(), |p| p.display().to_string());
            crate::out!("{name:<16} {from}");
        }
        return Ok(ExitCode::SUCCESS);
    };
    let template = prompt::template(&dir, &name).map_err(Failure::new)?;
    match &template.path {
        Some(path) => eprintln!("# {name}: your {}", path.display()),
        None => eprintln!(
            "# {name}: the shipped prompts/{name}.md; to change it, copy it to {}",
            dir.join(format!("{name}.md")).display()
        ),
    }
    crate::out!("{}", template.source.trim_end());
    Ok(ExitCode::SUCCESS)
}
