//! A hermetic environment per test: its own HOME, XDG directories, socket and git
//! repositories in a temporary directory, and the real `kairos` binary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const KAIROS: &str = env!("CARGO_BIN_EXE_kairos");
/// Generous: CI machines are shared and slow; polling returns as soon as it can.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub struct Env {
    pub dir: tempfile::TempDir,
    /// The session bus the daemon should use (none: no bus at all).
    pub bus: std::sync::Mutex<Option<String>>,
    /// Set by tests that start the daemon on a broken config on purpose; any other test
    /// fails when its config does not load (it would silently run on defaults).
    pub broken_config_expected: std::sync::atomic::AtomicBool,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::Builder::new().prefix("kairos-test").tempdir().expect("tempdir");
        for sub in ["home", "config", "data", "run"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        Env { dir, bus: std::sync::Mutex::new(None), broken_config_expected: Default::default() }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn config_file(&self) -> PathBuf {
        self.path("config/kairos/config.toml")
    }

    /// Writes `config.toml` (atomically, as editors do).
    pub fn write_config(&self, text: &str) {
        let file = self.config_file();
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let tmp = file.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(tmp, file).unwrap();
    }

    pub fn socket(&self) -> PathBuf {
        self.path("run/kairos/kairos.sock")
    }

    /// `kairos ARGS` in this environment, to spawn or tune before running.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(self.dir.path());
        cmd.args(args);
        cmd
    }

    fn command(&self, cwd: &Path) -> Command {
        let mut cmd = Command::new(KAIROS);
        cmd.current_dir(cwd)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_RUNTIME_DIR", self.path("run"))
            .env("KAIROS_LOG", "kairos=debug,info")
            .env("NO_COLOR", "1")
            .env("GIT_CONFIG_NOSYSTEM", "1");
        // Tools the tasks run (rustfmt through rustup) must find their toolchain even
        // though HOME is the test's own.
        let real_home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        cmd.env(
            "RUSTUP_HOME",
            std::env::var_os("RUSTUP_HOME").map(PathBuf::from).unwrap_or(real_home.join(".rustup")),
        );
        cmd.env(
            "CARGO_HOME",
            std::env::var_os("CARGO_HOME").map(PathBuf::from).unwrap_or(real_home.join(".cargo")),
        );
        if let Some(bus) = self.bus.lock().unwrap().as_ref() {
            cmd.env("DBUS_SESSION_BUS_ADDRESS", bus);
        } else {
            // No session bus unless a test gives one: never the developer's desktop.
            cmd.env(
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}", self.path("no-bus").display()),
            );
        }
        if let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") {
            cmd.env("RUSTUP_TOOLCHAIN", toolchain);
        }
        cmd
    }

    /// Runs `kairos ARGS` from the test's directory.
    pub fn kairos(&self, args: &[&str]) -> Output {
        self.kairos_in(self.dir.path(), args)
    }

    pub fn kairos_in(&self, cwd: &Path, args: &[&str]) -> Output {
        self.command(cwd).args(args).output().expect("run kairos")
    }

    /// Runs a command that must succeed and returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kairos(args);
        assert!(out.status.success(), "kairos {args:?} failed: {}{}", stdout(&out), stderr(&out));
        stdout(&out)
    }

    pub fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).expect("valid JSON")
    }

    /// Starts the daemon from the test's directory and waits until it answers.
    pub fn start_daemon(&self) -> Daemon {
        self.start_daemon_in(self.dir.path())
    }

    /// Starts the daemon with extra environment variables (an API key, say).
    pub fn start_daemon_with(&self, vars: &[(&str, &str)]) -> Daemon {
        self.launch(self.dir.path(), vars)
    }

    pub fn start_daemon_in(&self, cwd: &Path) -> Daemon {
        self.launch(cwd, &[])
    }

    fn launch(&self, cwd: &Path, vars: &[(&str, &str)]) -> Daemon {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("daemon.log"))
            .unwrap();
        let child = self
            .command(cwd)
            .envs(vars.iter().copied())
            .arg("daemon")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("start the daemon");
        let daemon = Daemon { child: Some(child), log: self.path("daemon.log") };
        wait_for(
            "the daemon to answer",
            || (self.kairos(&["status"]).status.success()).then_some(()),
            &daemon,
        );
        if !self.broken_config_expected.load(std::sync::atomic::Ordering::SeqCst) {
            let status = self.json(&["status", "--json"]);
            assert!(
                status["config_error"].is_null(),
                "the test's config does not load: {}",
                status["config_error"]
            );
        }
        daemon
    }

    /// Creates a git repository with one commit on `main`.
    pub fn repo(&self, name: &str) -> Repo {
        let repo = Repo { path: self.path(name), home: self.path("home") };
        std::fs::create_dir_all(&repo.path).unwrap();
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.name", "Test"]);
        repo.git(&["config", "user.email", "test@example.com"]);
        repo.write("README.md", "hello\n");
        repo.git(&["add", "-A"]);
        repo.git(&["commit", "-q", "-m", "initial"]);
        let path = repo.path.canonicalize().unwrap();
        Repo { path, ..repo }
    }

    /// A repository made some other way (a clone) at `path`, run with this home.
    pub fn existing_repo(&self, path: &Path) -> Repo {
        Repo { path: path.to_owned(), home: self.path("home") }
    }

    /// Queue entries as JSON.
    pub fn queue(&self, all: bool) -> Vec<Value> {
        let args: &[&str] = if all { &["queue", "--all", "--json"] } else { &["queue", "--json"] };
        self.json(args).as_array().cloned().unwrap_or_default()
    }
}

pub struct Daemon {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Daemon {
    /// SIGKILL: no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait for a clean exit; returns whether it exited successfully.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        false
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the daemon is running").id()
    }

    /// The daemon's peak resident memory so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Polls `check` until it returns `Some`, failing with the daemon's log after the deadline.
pub fn wait_for<T>(what: &str, check: impl FnMut() -> Option<T>, daemon: &Daemon) -> T {
    wait_longer(what, DEADLINE, check, daemon)
}

/// Waits until `kairos log` says `needle`; the log's text then.
pub fn wait_log(env: &Env, needle: &str, daemon: &Daemon) -> String {
    wait_for(
        &format!("the log to say {needle:?}"),
        || Some(env.ok(&["log", "-n", "500"])).filter(|log| log.contains(needle)),
        daemon,
    )
}

/// `wait_for` with a deadline of its own (a real model on a loaded machine is slow).
pub fn wait_longer<T>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> Option<T>,
    daemon: &Daemon,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}\n--- daemon log ---\n{}", daemon.log_text());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub struct Repo {
    pub path: PathBuf,
    home: PathBuf,
}

impl Repo {
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(&self.path)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(args)
            .output()
            .expect("run git");
        assert!(out.status.success(), "git {args:?} failed: {}", stderr(&out));
        stdout(&out).trim_end().to_owned()
    }

    /// The commit `rev` names, or `None` when it does not exist.
    pub fn rev(&self, rev: &str) -> Option<String> {
        let out = Command::new("git")
            .current_dir(&self.path)
            .env("HOME", &self.home)
            .args(["rev-parse", "--verify", "-q", rev])
            .output()
            .expect("run git");
        out.status.success().then(|| stdout(&out).trim().to_owned())
    }

    pub fn write(&self, rel: &str, content: &str) {
        let path = self.path.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.path.join(rel)).ok()
    }

    pub fn commit_file(&self, rel: &str, content: &str, message: &str) {
        self.write(rel, content);
        self.git(&["add", rel]);
        self.git(&["commit", "-q", "-m", message]);
    }

    /// Creates `branch` with one commit and merges it into main (a merge commit).
    pub fn merged_branch(&self, branch: &str) -> String {
        self.git(&["checkout", "-q", "-b", branch]);
        self.commit_file(&format!("{branch}.txt"), branch, &format!("work on {branch}"));
        let tip = self.rev("HEAD").unwrap();
        self.git(&["checkout", "-q", "main"]);
        self.git(&["merge", "-q", "--no-ff", branch, "-m", &format!("merge {branch}")]);
        tip
    }

    pub fn str(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

/// Writes the user's policy file `name` (atomically, as editors do).
pub fn write_policy(env: &Env, name: &str, text: &str) {
    let dir = env.path("config/kairos/policies");
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, dir.join(name)).unwrap();
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Finds `program` on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(program)).find(|p| p.is_file())
}
