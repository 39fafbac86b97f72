//! Finding and reading policy files: the shipped default (embedded), the user's
//! `$XDG_CONFIG_HOME/kairos/policies/*.toml`, and a repository's `.kairos/policy.toml`.

use std::path::{Path, PathBuf};

use super::evaluate::{Defaults, PolicySet};
use super::rules::{Layer, PolicyError, PolicyFile, parse};

/// `policies/default.toml`, shipped in the binary.
pub const DEFAULT_POLICY: &str = include_str!("../../policies/default.toml");

/// Where a repository keeps its own (tightening-only) policy.
pub const REPO_POLICY: &str = ".kairos/policy.toml";

/// Loads the shipped default and every user file; any error means the whole set is
/// refused (the caller keeps the last good one).
pub fn load_user(dir: &Path) -> Result<PolicySet, Vec<PolicyError>> {
    let mut files = vec![
        parse(DEFAULT_POLICY, Path::new("<built-in policies/default.toml>"), Layer::Default)
            .map_err(|e| vec![e])?,
    ];
    let mut errors = Vec::new();
    for path in user_files(dir) {
        match read_policy(&path) {
            Ok(text) => match parse(&text, &path, Layer::User) {
                Ok(file) => files.push(file),
                Err(e) => errors.push(e),
            },
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(merge(files))
}

/// The user's policy files, in name order.
pub fn user_files(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
}

/// Reads a policy file: a regular file (or a link to one) of at most 1 MiB.
pub fn read_policy(path: &Path) -> Result<String, PolicyError> {
    crate::read::read_text(path, crate::read::SETTINGS_LIMIT).map_err(|e| PolicyError {
        path: path.to_owned(),
        line: 1,
        column: 1,
        message: format!("cannot read the policy: {e}"),
    })
}

/// A repository's own policy, if it has one. The repository is untrusted input (a
/// clone): its policy must be a regular file inside it, not a link to elsewhere.
pub fn load_repo(root: &Path) -> Result<Option<PolicyFile>, PolicyError> {
    let path = root.join(REPO_POLICY);
    let refuse = |message: String| PolicyError { path: path.clone(), line: 1, column: 1, message };
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        // `.kairos` itself may be a link, or not a directory.
        Err(e) => return Err(refuse(format!("cannot read the policy: {e}"))),
        Ok(_) => {}
    }
    let inside = match (path.canonicalize(), root.canonicalize()) {
        (Ok(real), Ok(root)) => real.starts_with(&root),
        _ => false,
    };
    if !inside {
        return Err(refuse(
            "it leads outside the repository (a link); a repository's policy must be a \
             regular file inside it"
                .into(),
        ));
    }
    let text = read_policy(&path)?;
    parse(&text, &path, Layer::Repo).map(Some)
}

/// Merges `[defaults]`: the user's quiet hours replace the shipped ones; limits take the
/// strictest value any file gives.
pub fn merge(files: Vec<PolicyFile>) -> PolicySet {
    let mut defaults =
        Defaults { quiet_hours: None, max_auto_per_hour: 20, demote_after_rejections: 3 };
    for file in &files {
        if file.defaults.quiet_hours.is_some() {
            defaults.quiet_hours = file.defaults.quiet_hours.clone();
        }
        if let Some(n) = file.defaults.max_auto_per_hour {
            defaults.max_auto_per_hour = defaults.max_auto_per_hour.min(n);
        }
        if let Some(n) = file.defaults.demote_after_rejections {
            defaults.demote_after_rejections = defaults.demote_after_rejections.min(n.max(1));
        }
    }
    PolicySet { files, defaults }
}
