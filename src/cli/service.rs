//! `kairos service install|uninstall`: put the systemd user unit in place and enable it,
//! the way `git maintenance start` does, or print the commands when systemctl is not
//! usable here.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use super::{CliResult, Failure};

/// The unit shipped in `systemd/kairos.service`; `ExecStart` is pointed at this binary.
const UNIT: &str = include_str!("../../systemd/kairos.service");
pub const UNIT_NAME: &str = "kairos.service";

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Write the unit to ~/.config/systemd/user and enable it now.
    Install,
    /// Disable the service and remove the unit.
    Uninstall,
}

pub fn run(action: Action) -> CliResult {
    let dir = unit_dir();
    let unit_path = dir.join(UNIT_NAME);
    match action {
        Action::Install => {
            let exe = std::env::current_exe()
                .map_err(|e| Failure::new(format!("cannot find this binary: {e}")))?;
            std::fs::create_dir_all(&dir)
                .map_err(|e| Failure::new(format!("{}: {e}", dir.display())))?;
            std::fs::write(&unit_path, render(&exe))
                .map_err(|e| Failure::new(format!("{}: {e}", unit_path.display())))?;
            crate::out!("wrote {}", unit_path.display());
            systemctl(&[&["daemon-reload"], &["enable", "--now", UNIT_NAME]])
        }
        Action::Uninstall => {
            let result = systemctl(&[&["disable", "--now", UNIT_NAME]]);
            match std::fs::remove_file(&unit_path) {
                Ok(()) => crate::out!("removed {}", unit_path.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    crate::out!("{} was not installed", unit_path.display())
                }
                Err(e) => return Err(Failure::new(format!("{}: {e}", unit_path.display()))),
            }
            let _ = systemctl(&[&["daemon-reload"]]);
            result
        }
    }
}

fn unit_dir() -> PathBuf {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".config")
        });
    config.join("systemd/user")
}

/// The shipped unit with `ExecStart` pointing at `exe`.
fn render(exe: &Path) -> String {
    UNIT.lines()
        .map(|line| {
            if line.starts_with("ExecStart=") {
                format!("ExecStart={} daemon", exe.display())
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Runs `systemctl --user` for each argument list; if systemctl is missing or cannot
/// reach the user manager, prints the commands to run instead.
fn systemctl(calls: &[&[&str]]) -> CliResult {
    let program = std::env::var("KAIROS_SYSTEMCTL").unwrap_or_else(|_| "systemctl".into());
    for args in calls {
        let status = Command::new(&program).arg("--user").args(*args).status();
        let ok = matches!(status, Ok(s) if s.success());
        if !ok {
            // No systemctl at all is expected (containers, other init systems): the unit
            // is in place and the commands are printed. systemctl failing is a failure.
            let (why, code) = match status {
                Err(e) => (format!("{program} could not be run ({e})"), ExitCode::SUCCESS),
                Ok(s) => (
                    format!("`{program} --user {}` failed ({s})", args.join(" ")),
                    ExitCode::FAILURE,
                ),
            };
            crate::out!("{why}; run these yourself where a systemd user session is available:");
            for args in calls {
                crate::out!("  systemctl --user {}", args.join(" "));
            }
            return Ok(code);
        }
    }
    crate::out!(
        "kairos is running as a systemd user service; `journalctl --user -u kairos` shows its log"
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rendered_unit_runs_this_binary() {
        let unit = render(Path::new("/opt/kairos/bin/kairos"));
        assert!(unit.contains("ExecStart=/opt/kairos/bin/kairos daemon\n"), "{unit}");
        assert!(unit.contains("Type=notify"));
        assert!(unit.contains("WatchdogSec="));
        assert!(unit.contains("Restart=on-failure"));
    }
}
