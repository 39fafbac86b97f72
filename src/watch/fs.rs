//! One inotify watcher for every watched directory. The notify callback never blocks:
//! it routes each event to its repository's bounded channel with `try_send`, and when a
//! channel is full (or the kernel queue overflowed) it raises that repository's
//! overflow flag so the repository is rescanned instead of losing a change silently.
//!
//! Repositories are watched one directory at a time (see `tree`): each route lists the
//! directories it placed a watch on, with their identity (device and inode), so a
//! directory replaced under the same name is watched anew. A directory that appears is
//! reported as `NewDir` for its repository to judge and watch.
//!
//! Locking: the `watcher` mutex is taken first and held across each decision and the
//! notify calls that carry it out, so two routes never interleave; the `routes` lock is
//! never held while notify is called, because notify's event thread takes it in the
//! callback and `watch` waits for that thread.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use notify::event::{CreateKind, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// What a watched directory's channel carries.
#[derive(Debug)]
pub enum RawFs {
    Paths(Vec<PathBuf>),
    /// A directory was created or moved in: nothing inside it is watched yet.
    NewDir(PathBuf),
    /// Events were lost; look at everything again.
    Rescan,
}

/// The receiving side for one watched directory.
pub struct Subscription {
    /// Identifies the route, so removing it never removes a newer one for the same root.
    pub id: u64,
    pub rx: mpsc::Receiver<RawFs>,
    pub overflow: Arc<AtomicBool>,
}

/// A directory's identity: the same path may name a new directory later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirId {
    pub dev: u64,
    pub ino: u64,
}

struct Route {
    id: u64,
    root: PathBuf,
    tx: mpsc::Sender<RawFs>,
    overflow: Arc<AtomicBool>,
    /// The directories watched one by one for this route.
    dirs: HashMap<PathBuf, DirId>,
    /// Git directories outside `root` whose events belong here too (a linked worktree's
    /// own git dir and the common one it shares with the main working tree).
    git_dirs: Vec<PathBuf>,
}

/// What `place` did with a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// A watch was placed just now: what is inside may not have been seen.
    New,
    /// It was watched already.
    Known,
    /// Not this route's to watch (another route's repository), or gone.
    Elsewhere,
}

pub struct FsWatcher {
    watcher: Mutex<notify::RecommendedWatcher>,
    routes: Arc<RwLock<Vec<Route>>>,
}

/// How many raw events a directory may have waiting before it falls back to a rescan.
const CHANNEL_DEPTH: usize = 4096;

impl FsWatcher {
    pub fn new() -> notify::Result<FsWatcher> {
        let routes: Arc<RwLock<Vec<Route>>> = Arc::default();
        let callback_routes = routes.clone();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let routes = callback_routes.read().unwrap_or_else(|e| e.into_inner());
            match res {
                Ok(event) => route_event(&routes, event),
                Err(e) => {
                    tracing::warn!("file watcher error: {e}; rescanning");
                    for route in routes.iter() {
                        raise(route);
                    }
                }
            }
        })?;
        Ok(FsWatcher { watcher: Mutex::new(watcher), routes })
    }

    /// Routes events under `root` to a new subscription (call `watch` or `place` to
    /// start them).
    pub fn add_route(&self, root: &Path) -> Subscription {
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        let overflow = Arc::new(AtomicBool::new(false));
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        self.routes.write().unwrap_or_else(|e| e.into_inner()).push(Route {
            id,
            root: root.to_owned(),
            tx,
            overflow: overflow.clone(),
            dirs: HashMap::new(),
            git_dirs: Vec::new(),
        });
        Subscription { id, rx, overflow }
    }

    /// Starts (or restarts, after the directory was replaced) watching `root` as a whole.
    pub fn watch(&self, root: &Path, recursive: bool) -> notify::Result<()> {
        let mode = if recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
        let mut watcher = self.watcher.lock().unwrap_or_else(|e| e.into_inner());
        let _ = watcher.unwatch(root);
        watcher.watch(root, mode)
    }

    /// Watches `dir` (identified by `id`) for route `route`. A directory already watched
    /// under the same identity is left as it is unless `renew`: after a directory moved
    /// away and back, or events were lost, the list cannot be trusted.
    pub fn place(&self, route: u64, dir: &Path, id: DirId, renew: bool) -> notify::Result<Placed> {
        let mut watcher = self.watcher.lock().unwrap_or_else(|e| e.into_inner());
        let listed = {
            let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
            let Some(this) = routes.iter().find(|r| r.id == route) else {
                return Ok(Placed::Elsewhere);
            };
            // A repository inside this one, or the config directory, has its own route:
            // its events go there, and one notify entry per path must not be shared.
            let elsewhere = routes.iter().any(|r| {
                r.id != route
                    && r.root != this.root
                    && r.root.starts_with(&this.root)
                    && dir.starts_with(&r.root)
            });
            if elsewhere {
                return Ok(Placed::Elsewhere);
            }
            this.dirs.get(dir).copied()
        };
        if listed == Some(id) && !renew {
            return Ok(Placed::Known);
        }
        if listed.is_some() {
            // Drop the old watch first: notify keeps one entry per path, and the old
            // directory (moved away) would go on reporting under this name.
            let _ = watcher.unwatch(dir);
        }
        let placed = watcher.watch(dir, RecursiveMode::NonRecursive);
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        let Some(this) = routes.iter_mut().find(|r| r.id == route) else {
            return Ok(Placed::Elsewhere);
        };
        match placed {
            Ok(()) => {
                this.dirs.insert(dir.to_owned(), id);
                Ok(Placed::New)
            }
            Err(e) => {
                this.dirs.remove(dir);
                if is_gone(&e) { Ok(Placed::Elsewhere) } else { Err(e) }
            }
        }
    }

    /// Stops watching the directories of route `route` that are not in `keep` (those
    /// that are gone or now ignored), unless another route watches them too.
    pub fn retain(&self, route: u64, keep: &HashSet<PathBuf>) {
        let mut watcher = self.watcher.lock().unwrap_or_else(|e| e.into_inner());
        let dropped = {
            let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
            let Some(this) = routes.iter_mut().find(|r| r.id == route) else { return };
            let dropped: Vec<PathBuf> =
                this.dirs.keys().filter(|d| !keep.contains(*d)).cloned().collect();
            for dir in &dropped {
                this.dirs.remove(dir);
            }
            unneeded(&routes, dropped)
        };
        for dir in dropped {
            let _ = watcher.unwatch(&dir);
        }
    }

    /// Stops watching everything route `route` watches; the route stays (for a
    /// repository that may come back).
    pub fn unwatch(&self, route: u64) {
        self.retain(route, &HashSet::new());
    }

    /// Removes the route `route` and the watches only it needed.
    pub fn remove(&self, route: u64) {
        let mut watcher = self.watcher.lock().unwrap_or_else(|e| e.into_inner());
        let dropped = {
            let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
            let Some(gone) = routes.iter().position(|r| r.id == route).map(|i| routes.remove(i))
            else {
                return;
            };
            unneeded(&routes, gone.dirs.into_keys().chain([gone.root]).collect())
        };
        for dir in dropped {
            let _ = watcher.unwatch(&dir);
        }
    }

    /// Routes events under `dirs` (outside the route's root) to route `route` as well.
    pub fn set_git_dirs(&self, route: u64, dirs: Vec<PathBuf>) {
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        if let Some(this) = routes.iter_mut().find(|r| r.id == route) {
            this.git_dirs = dirs;
        }
    }

    /// How many directories route `route` watches.
    pub fn watched(&self, route: u64) -> usize {
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        routes.iter().find(|r| r.id == route).map_or(0, |r| r.dirs.len())
    }
}

/// The directories of `dirs` that no remaining route watches or is rooted at.
fn unneeded(routes: &[Route], dirs: Vec<PathBuf>) -> Vec<PathBuf> {
    dirs.into_iter()
        .filter(|d| !routes.iter().any(|r| r.root == *d || r.dirs.contains_key(d)))
        .collect()
}

/// Whether a failed watch only means the directory is no longer there.
fn is_gone(e: &notify::Error) -> bool {
    match &e.kind {
        notify::ErrorKind::PathNotFound => true,
        notify::ErrorKind::Io(io) => io.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}

fn raise(route: &Route) {
    route.overflow.store(true, Ordering::SeqCst);
    let _ = route.tx.try_send(RawFs::Rescan);
}

fn route_event(routes: &[Route], event: notify::Event) {
    if event.need_rescan() {
        for route in routes {
            raise(route);
        }
        return;
    }
    // notify reports its own directory walk, and every read, as access events.
    if matches!(event.kind, EventKind::Access(_)) {
        return;
    }
    let appeared = match event.kind {
        EventKind::Create(CreateKind::Folder) => true,
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
            event.paths.first().is_some_and(|p| p.symlink_metadata().is_ok_and(|m| m.is_dir()))
        }
        _ => false,
    };
    for path in event.paths {
        // The innermost repository owns a path in its tree (a nested repository's files
        // are not its parent's); a shared git directory belongs to every worktree of it.
        let owner = routes
            .iter()
            .filter(|r| path.starts_with(&r.root))
            .max_by_key(|r| r.root.as_os_str().len());
        let sharing = routes.iter().filter(|r| r.git_dirs.iter().any(|g| path.starts_with(g)));
        let mut told = HashSet::new();
        for route in owner.into_iter().chain(sharing) {
            if !told.insert(route.id) {
                continue;
            }
            let sent = if appeared {
                route
                    .tx
                    .try_send(RawFs::Paths(vec![path.clone()]))
                    .and_then(|()| route.tx.try_send(RawFs::NewDir(path.clone())))
            } else {
                route.tx.try_send(RawFs::Paths(vec![path.clone()]))
            };
            if sent.is_err() {
                route.overflow.store(true, Ordering::SeqCst);
            }
        }
    }
}
