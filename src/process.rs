//! Running a tool: no shell, a fixed environment, a timeout that kills the whole
//! process group, and output captured (the tail kept) for reports.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt;

/// Environment variables that hold kairos's own secrets (the webhook token): tools and
/// command tasks never see them.
static HIDDEN: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Keeps `vars` out of every process kairos starts, from now on. The list only grows:
/// a variable named once (then renamed in the config) may still hold the secret.
pub fn hide_from_children(vars: Vec<String>) {
    let mut hidden = HIDDEN.write().unwrap_or_else(|e| e.into_inner());
    for var in vars {
        if !hidden.contains(&var) {
            hidden.push(var);
        }
    }
}

/// Removes the hidden variables from `command`'s environment.
pub fn without_secrets(command: &mut Command) -> &mut Command {
    for var in HIDDEN.read().unwrap_or_else(|e| e.into_inner()).iter() {
        command.env_remove(var);
    }
    command
}

/// How much of stdout and stderr is kept for reports.
const KEEP: usize = 16 * 1024;

#[derive(Debug)]
pub struct Finished {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `argv` in `dir` and waits for it, at most `timeout`.
pub fn run(
    argv: &[String],
    dir: &Path,
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<Finished, String> {
    let (program, args) = argv.split_first().ok_or("no program to run")?;
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(dir)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    without_secrets(&mut command);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn().map_err(|e| format!("cannot run {program:?}: {e}"))?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let pid = rustix::process::Pid::from_child(&child);
    let status = match child.wait_timeout(timeout).map_err(|e| e.to_string())? {
        Some(status) => {
            // Whatever it left running in the background would hold the output pipes
            // open (and the repository busy) forever: the tool's work ends with it.
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            status
        }
        None => {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            let _ = child.wait();
            return Err(format!(
                "`{}` did not finish within {}; it was stopped",
                argv.join(" "),
                humantime::format_duration(timeout)
            ));
        }
    };
    Ok(Finished {
        success: status.success(),
        code: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// Reads a pipe to its end on its own thread (so a chatty tool never blocks), keeping
/// the last `KEEP` bytes.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        if let Some(mut pipe) = pipe {
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * KEEP {
                    kept.drain(..kept.len() - KEEP);
                }
            }
        }
        let start = kept.len().saturating_sub(KEEP);
        String::from_utf8_lossy(&kept[start..]).into_owned()
    })
}

/// Finds `program` on PATH.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn output_and_exit_code_are_captured() {
        let dir = tempfile::tempdir().unwrap();
        let env = BTreeMap::from([("GREETING".to_string(), "hi".to_string())]);
        let done = run(
            &argv(&["sh", "-c", "echo $GREETING; echo oops >&2; exit 3"]),
            dir.path(),
            &env,
            Duration::from_secs(10),
        )
        .unwrap();
        assert!(!done.success);
        assert_eq!(done.code, Some(3));
        assert_eq!(done.stdout, "hi\n");
        assert_eq!(done.stderr, "oops\n");
    }

    #[test]
    fn a_tool_that_hangs_is_stopped_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        let err = run(
            &argv(&["sh", "-c", "sleep 30 & sleep 30"]),
            dir.path(),
            &BTreeMap::new(),
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert!(err.contains("did not finish"), "{err}");
        // The grandchild held the pipes open; killing the group lets us return.
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn what_a_finished_tool_left_running_does_not_hold_it_up() {
        let dir = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        let done = run(
            &argv(&["sh", "-c", "sleep 60 & echo started it"]),
            dir.path(),
            &BTreeMap::new(),
            Duration::from_secs(120),
        )
        .unwrap();
        assert!(done.success && done.stdout.contains("started it"), "{done:?}");
        // The background sleep held stdout open; it went with the tool.
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn a_missing_program_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let err = run(
            &argv(&["no-such-program-kairos"]),
            dir.path(),
            &BTreeMap::new(),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(err.contains("cannot run"), "{err}");
    }
}
