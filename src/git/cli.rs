//! Running the git command line where git2 cannot do the job (fetch with the user's
//! credential helpers, repacking, commit-graph): never interactive, always with a timeout.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Runs `git -C root ARGS`, failing with git's own words.
pub fn git(root: &Path, args: &[&str], timeout: Duration) -> Result<String, String> {
    let mut argv = vec!["git".to_owned(), "-C".to_owned(), root.to_string_lossy().into_owned()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let env = BTreeMap::from([
        // Never wait for a password or a host-key question: fail and say so instead.
        ("GIT_TERMINAL_PROMPT".to_owned(), "0".to_owned()),
        ("GIT_ASKPASS".to_owned(), "true".to_owned()),
        ("SSH_ASKPASS".to_owned(), "true".to_owned()),
        ("GIT_SSH_COMMAND".to_owned(), "ssh -o BatchMode=yes -o ConnectTimeout=20".to_owned()),
    ]);
    let done = crate::process::run(&argv, root, &env, timeout)?;
    if done.success {
        Ok(done.stdout)
    } else {
        let words = done.stderr.trim();
        Err(format!(
            "`git {}` failed: {}",
            args.join(" "),
            if words.is_empty() { "no message" } else { words }
        ))
    }
}

/// The lock file of git's that is held in this repository, if any: work that needs the
/// index, refs or object store must wait for it.
pub fn held_lock(repo: &git2::Repository) -> Option<String> {
    let git_dir = repo.path();
    ["index.lock", "HEAD.lock", "packed-refs.lock", "objects/maintenance.lock", "gc.pid"]
        .iter()
        .map(|name| git_dir.join(name))
        .find(|path| path.exists())
        .map(|path| path.display().to_string())
}
