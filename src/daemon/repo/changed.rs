//! What changed for a task since it last ran: paths one by one, directories when a
//! burst is too large to list, or "anything" when events were lost.

use std::path::PathBuf;

/// The files changed for one task since it last ran for them.
#[derive(Debug, Default)]
pub(super) struct Changed {
    pub(super) paths: std::collections::BTreeSet<PathBuf>,
    /// Directories whose whole content counts as changed (paths past `MAX`, collapsed).
    pub(super) dirs: std::collections::BTreeSet<PathBuf>,
    /// Events were lost (or too many to keep even as directories): anything may have
    /// changed.
    pub(super) rescanned: bool,
}

impl Changed {
    /// How many paths (and, after that, directories) are kept; past it, paths collapse
    /// to their directories, and past that the run is told anything may have changed.
    const MAX: usize = 10_000;

    pub(super) fn add(&mut self, paths: Option<&[PathBuf]>) {
        let Some(paths) = paths.filter(|_| !self.rescanned) else {
            self.lost();
            return;
        };
        for path in paths {
            if !self.dirs.iter().any(|d| path.starts_with(d)) {
                self.paths.insert(path.clone());
            }
        }
        if self.paths.len() > Self::MAX {
            self.collapse();
        }
    }

    /// Each path becomes its directory. A changed ignore file changes what every
    /// directory holds, and a file at the root has no directory but the whole tree:
    /// then anything may have changed.
    fn collapse(&mut self) {
        for path in std::mem::take(&mut self.paths) {
            match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() && !path.ends_with(".gitignore") => {
                    self.dirs.insert(dir.to_owned());
                }
                _ => return self.lost(),
            }
        }
        // A directory inside another is covered by it.
        let dirs: Vec<PathBuf> = self.dirs.iter().cloned().collect();
        self.dirs.retain(|d| !dirs.iter().any(|outer| outer != d && d.starts_with(outer)));
        if self.dirs.len() > Self::MAX {
            self.lost();
        }
    }

    fn lost(&mut self) {
        self.paths.clear();
        self.dirs.clear();
        self.rescanned = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_collapses_to_its_directories_and_an_ignore_file_to_everything() {
        let mut changed = Changed::default();
        let burst: Vec<PathBuf> = (0..Changed::MAX + 1)
            .map(|i| PathBuf::from(format!("burst/{}/{i}.txt", i % 7)))
            .collect();
        changed.add(Some(&burst));
        assert!(changed.paths.is_empty() && !changed.rescanned);
        assert_eq!(changed.dirs.len(), 7);
        // Later files in those directories are covered; others are kept one by one.
        changed.add(Some(&[PathBuf::from("burst/3/again.txt"), PathBuf::from("src/main.rs")]));
        assert_eq!(changed.paths.iter().collect::<Vec<_>>(), [&PathBuf::from("src/main.rs")]);

        let mut with_rules = Changed::default();
        let mut burst = burst;
        burst.push(PathBuf::from("burst/.gitignore"));
        with_rules.add(Some(&burst));
        assert!(with_rules.rescanned);
        let mut at_root = Changed::default();
        let files: Vec<PathBuf> =
            (0..Changed::MAX + 1).map(|i| PathBuf::from(format!("{i}.txt"))).collect();
        at_root.add(Some(&files));
        assert!(at_root.rescanned);
    }
}
