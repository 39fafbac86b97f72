//! Striking the daemon: run a command against it, kill -9 it at a random moment while
//! the command may still be in flight, and start it again; plus the checks every
//! scenario makes after every restart.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

/// One scenario's run: its randomness, its budget and what it saw.
pub struct Chaos {
    name: &'static str,
    rng: fastrand::Rng,
    seed: u64,
    pub cycles: usize,
    tries: usize,
    in_flight: usize,
    started: Instant,
}

impl Chaos {
    /// `KAIROS_CHAOS_SEED` (default 2026) and `KAIROS_CHAOS_CYCLES` (default 25) choose
    /// the run; each scenario draws from its own stream of the seed.
    pub fn new(name: &'static str) -> Chaos {
        let number = |var: &str, default: u64| {
            std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
        };
        let seed = number("KAIROS_CHAOS_SEED", 2026);
        let salt = name.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        Chaos {
            name,
            rng: fastrand::Rng::with_seed(seed ^ salt),
            seed,
            cycles: number("KAIROS_CHAOS_CYCLES", 25) as usize,
            tries: 0,
            in_flight: 0,
            started: Instant::now(),
        }
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.rng.usize(..n.max(1))
    }

    /// Runs `commands` one after another against the daemon, and kills the daemon with
    /// SIGKILL after a random moment within `window`; then starts it again. Returns the
    /// new daemon and whether the kill cut the work off (some command had not finished).
    pub fn strike(
        &mut self,
        env: &Env,
        daemon: Daemon,
        commands: Vec<Vec<String>>,
        window: Duration,
    ) -> (Daemon, bool) {
        let mut daemon = daemon;
        let children: Vec<Command> = commands
            .iter()
            .map(|args| {
                let mut cmd = env.cmd(&args.iter().map(String::as_str).collect::<Vec<_>>());
                cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
                cmd
            })
            .collect();
        let worker = std::thread::spawn(move || {
            // Each command in turn; the first that fails (the daemon is gone) ends it.
            children.into_iter().all(|mut c| c.status().is_ok_and(|s| s.success()))
        });
        let delay = window.mul_f64(self.rng.f64());
        std::thread::sleep(delay);
        let cut_off = !worker.is_finished();
        daemon.kill9();
        let _ = worker.join();
        self.tries += 1;
        if cut_off {
            self.in_flight += 1;
        }
        drop(daemon);
        (env.start_daemon(), cut_off)
    }

    /// Says what the run did, and fails when no kill ever landed mid-work (the scenario
    /// would then prove nothing).
    pub fn report(&self) {
        eprintln!(
            "chaos {}: {} tries, {} kills during the work, 0 failures, {:.1} s (seed {})",
            self.name,
            self.tries,
            self.in_flight,
            self.started.elapsed().as_secs_f64(),
            self.seed
        );
        assert!(
            self.in_flight > 0,
            "no kill in {} tries landed while work was in flight",
            self.tries
        );
    }
}

/// How long `args` take undisturbed, to aim the kills inside the work.
pub fn time_of(env: &Env, args: &[&str]) -> Duration {
    let began = Instant::now();
    env.ok(args);
    began.elapsed()
}

/// The window kills are drawn from: the work's own length and a little beyond.
pub fn window_for(work: Duration) -> Duration {
    work.mul_f64(1.3).clamp(Duration::from_millis(30), Duration::from_secs(3))
}

/// Files a killed kairos (or libgit2 under it) could leave behind: lock files anywhere in
/// `.git`, private index copies, temporary objects, and temporary files in the tree.
pub fn leftovers(repo: &Repo) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![repo.path.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(path);
                continue;
            }
            let in_git = path.starts_with(repo.path.join(".git"));
            let stray = (in_git && (name.ends_with(".lock") || name.starts_with("kairos-index-")))
                || name.starts_with("tmp_object")
                || (name.starts_with(".kairos-") && name.ends_with(".tmp"));
            if stray {
                found.push(path);
            }
        }
    }
    found
}

/// The checks every restart must pass: nothing half-done is left (no proposal still
/// approved), no stray lock or temporary file, and git finds the repository sound.
pub fn check_settled(env: &Env, repo: &Repo) {
    let approved: Vec<u64> = env
        .queue(true)
        .iter()
        .filter(|p| p["state"] == "approved")
        .filter_map(|p| p["id"].as_u64())
        .collect();
    assert!(approved.is_empty(), "proposals left approved after recovery: {approved:?}");
    let stray = leftovers(repo);
    assert!(stray.is_empty(), "left behind: {stray:?}");
    fsck(&repo.path);
}

pub fn fsck(path: &Path) {
    let out = Command::new("git")
        .current_dir(path)
        .args(["fsck", "--strict", "--no-progress", "--no-dangling"])
        .output()
        .expect("run git fsck");
    assert!(out.status.success(), "git fsck: {}{}", stdout(&out), stderr(&out));
}

/// Proposals of `action`, every state.
pub fn proposals(env: &Env, action: &str) -> Vec<serde_json::Value> {
    env.queue(true).into_iter().filter(|p| p["action"] == action).collect()
}

pub fn id_of(p: &serde_json::Value) -> String {
    p["id"].as_u64().expect("an id").to_string()
}
