//! Where kairos keeps its files, following the XDG base directory specification.

use std::path::{Path, PathBuf};

/// The directories kairos uses: configuration, data (the store) and runtime (the socket).
#[derive(Debug, Clone)]
pub struct Paths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    pub runtime_dir: PathBuf,
    /// Scratch copies where tasks compute their changes.
    pub cache_dir: PathBuf,
}

impl Paths {
    /// Resolves the directories from `XDG_*` variables, falling back to the defaults the
    /// specification gives (`~/.config`, `~/.local/share`) and, for the runtime
    /// directory, to a per-user folder under the temporary directory.
    pub fn from_env() -> Self {
        let home =
            std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"));
        let xdg = |var: &str, fallback: PathBuf| {
            std::env::var_os(var).map(PathBuf::from).filter(|p| p.is_absolute()).unwrap_or(fallback)
        };
        let uid = rustix::process::geteuid().as_raw();
        let runtime_base =
            xdg("XDG_RUNTIME_DIR", std::env::temp_dir().join(format!("kairos-runtime-{uid}")));
        Paths {
            config_dir: xdg("XDG_CONFIG_HOME", home.join(".config")).join("kairos"),
            data_dir: xdg("XDG_DATA_HOME", home.join(".local/share")).join("kairos"),
            runtime_dir: runtime_base.join("kairos"),
            cache_dir: xdg("XDG_CACHE_HOME", home.join(".cache")).join("kairos"),
        }
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }

    /// The user's policy files.
    pub fn policies_dir(&self) -> PathBuf {
        self.config_dir.join("policies")
    }

    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }

    /// The list of repositories registered with `kairos watch`.
    pub fn repos_file(&self) -> PathBuf {
        self.data_dir.join("repos.json")
    }

    pub fn scratch_dir(&self) -> PathBuf {
        self.cache_dir.join("scratch")
    }

    pub fn socket(&self) -> PathBuf {
        self.runtime_dir.join("kairos.sock")
    }
}

/// Shows a path to a person, even when it is not valid UTF-8.
pub fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}
