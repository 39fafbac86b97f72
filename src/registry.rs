//! The repositories registered with `kairos watch`, kept in a small JSON file beside the
//! store. It is a file, not part of the store, because the CLI must be able to register
//! a repository while the daemon (which owns the store) is not running.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registry {
    pub repos: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is damaged ({source}); fix or delete it, then run `kairos watch` again")]
    Damaged { path: PathBuf, source: serde_json::Error },
}

impl Registry {
    pub fn load(file: &Path) -> Result<Registry, RegistryError> {
        match fs::read(file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| RegistryError::Damaged { path: file.to_owned(), source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Registry::default()),
            Err(source) => Err(RegistryError::Io { path: file.to_owned(), source }),
        }
    }

    /// Loads, changes and saves the registry under an exclusive lock, so that the CLI
    /// and the daemon never lose each other's changes.
    pub fn update<T>(
        file: &Path,
        change: impl FnOnce(&mut Registry) -> T,
    ) -> Result<T, RegistryError> {
        let io = |source| RegistryError::Io { path: file.to_owned(), source };
        let dir = file.parent().expect("registry file has a parent");
        fs::create_dir_all(dir).map_err(io)?;
        let lock = fs::File::create(dir.join("repos.lock")).map_err(io)?;
        lock.lock().map_err(io)?;
        let mut registry = Registry::load(file)?;
        let result = change(&mut registry);
        let tmp = file.with_extension("json.tmp");
        let mut out = fs::File::create(&tmp).map_err(io)?;
        out.write_all(&serde_json::to_vec_pretty(&registry).expect("serialisable"))
            .and_then(|_| out.sync_all())
            .map_err(io)?;
        fs::rename(&tmp, file).map_err(io)?;
        Ok(result)
    }

    /// Adds `root`; false when it was already there.
    pub fn add(&mut self, root: &Path) -> bool {
        if self.repos.iter().any(|r| r == root) {
            return false;
        }
        self.repos.push(root.to_owned());
        true
    }

    /// Removes `root`; false when it was not there.
    pub fn remove(&mut self, root: &Path) -> bool {
        let before = self.repos.len();
        self.repos.retain(|r| r != root);
        self.repos.len() != before
    }
}

/// Resolves what the user typed to a repository root that can be watched.
pub fn resolve_repo(path: &Path) -> Result<PathBuf, String> {
    let abs = std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !abs.exists() {
        return Err(format!("{} does not exist", abs.display()));
    }
    let root = crate::git::discover_root(&abs)?;
    if root.to_str().is_none() {
        return Err(format!(
            "{} is not a UTF-8 path; kairos can only watch repositories whose path is UTF-8",
            root.display()
        ));
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_are_persisted_and_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kairos/repos.json");
        assert!(Registry::update(&file, |r| r.add(Path::new("/a"))).unwrap());
        assert!(!Registry::update(&file, |r| r.add(Path::new("/a"))).unwrap());
        assert!(Registry::update(&file, |r| r.add(Path::new("/b"))).unwrap());
        assert!(Registry::update(&file, |r| r.remove(Path::new("/a"))).unwrap());
        assert_eq!(Registry::load(&file).unwrap().repos, vec![PathBuf::from("/b")]);
    }

    #[test]
    fn a_damaged_file_is_reported_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("repos.json");
        fs::write(&file, "{nope").unwrap();
        let err = Registry::update(&file, |r| r.add(Path::new("/a"))).unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
        assert_eq!(fs::read_to_string(&file).unwrap(), "{nope");
    }

    #[test]
    fn a_plain_directory_is_not_a_repository() {
        let dir = tempfile::tempdir().unwrap();
        let err = resolve_repo(dir.path()).unwrap_err();
        assert!(err.contains("not inside a git repository"), "{err}");
    }
}
