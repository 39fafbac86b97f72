//! One inotify watcher for every watched directory. The notify callback never blocks:
//! it routes each event to its repository's bounded channel with `try_send`, and when a
//! channel is full (or the kernel queue overflowed) it raises that repository's
//! overflow flag so the repository is rescanned instead of losing a change silently.
//!
//! Repositories are watched one directory at a time (see `tree`), so a directory that
//! appears is reported as `NewDir` for its repository to judge and watch.

use std::collections::HashSet;
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

struct Route {
    id: u64,
    root: PathBuf,
    tx: mpsc::Sender<RawFs>,
    overflow: Arc<AtomicBool>,
    /// The directories watched one by one for this route.
    dirs: HashSet<PathBuf>,
}

pub struct FsWatcher {
    watcher: Mutex<notify::RecommendedWatcher>,
    routes: Arc<RwLock<Vec<Route>>>,
}

/// How `watch_dirs` treats the directories it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// More directories for the route (one that just appeared), each watched anew.
    Add,
    /// The route's whole set: directories no longer listed lose their watch, new ones
    /// get one.
    Sync,
    /// The whole set, every watch placed again: after events were lost, a directory
    /// deleted and recreated unseen has lost its watch though it is still listed.
    Renew,
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

    /// Routes events under `root` to a new subscription (call `watch` or `watch_dirs`
    /// to start them).
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
            dirs: HashSet::new(),
        });
        Subscription { id, rx, overflow }
    }

    /// Starts (or restarts, after the directory was replaced) watching `root`.
    pub fn watch(&self, root: &Path, recursive: bool) -> notify::Result<()> {
        let mode = if recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
        let mut watcher = self.watcher.lock().unwrap_or_else(|e| e.into_inner());
        let _ = watcher.unwatch(root);
        watcher.watch(root, mode)
    }

    /// Watches each of `dirs` on its own for route `id`, as `how` says.
    pub fn watch_dirs(&self, id: u64, dirs: &[PathBuf], how: Placement) -> notify::Result<()> {
        // The routes lock is never held while talking to notify: its event thread takes
        // the lock in the callback, and `watch` waits for that thread.
        let (dropped, added) = {
            let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
            let Some(route) = routes.iter_mut().find(|r| r.id == id) else { return Ok(()) };
            let dropped: Vec<PathBuf> = if how == Placement::Add {
                vec![]
            } else {
                let wanted: HashSet<&PathBuf> = dirs.iter().collect();
                route.dirs.iter().filter(|d| !wanted.contains(d)).cloned().collect()
            };
            for dir in &dropped {
                route.dirs.remove(dir);
            }
            let added: Vec<&PathBuf> = dirs
                .iter()
                // Listed is not watched for a directory that appeared again (its old
                // watch went with it), so only `Sync` trusts the list.
                .filter(|d| route.dirs.insert((*d).clone()) || how != Placement::Sync)
                .collect();
            (dropped, added)
        };
        let mut watcher = self.watcher.lock().unwrap_or_else(|e| e.into_inner());
        for dir in dropped {
            let _ = watcher.unwatch(&dir);
        }
        for dir in added {
            match watcher.watch(dir, RecursiveMode::NonRecursive) {
                // Gone again already: its removal is an event of its own.
                Err(e) if matches!(e.kind, notify::ErrorKind::PathNotFound) => {}
                other => other?,
            }
        }
        Ok(())
    }

    /// Stops watching `root` and every directory watched one by one for route `id`.
    pub fn unwatch(&self, id: u64, root: &Path) {
        let dirs = {
            let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
            routes.iter_mut().find(|r| r.id == id).map(|r| std::mem::take(&mut r.dirs))
        };
        let mut watcher = self.watcher.lock().unwrap_or_else(|e| e.into_inner());
        let _ = watcher.unwatch(root);
        for dir in dirs.into_iter().flatten() {
            let _ = watcher.unwatch(&dir);
        }
    }

    /// Removes the route `id`; a directory stays watched while another route needs it.
    pub fn remove(&self, id: u64) {
        let unneeded: Vec<PathBuf> = {
            let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
            let Some(gone) = routes.iter().position(|r| r.id == id).map(|i| routes.remove(i))
            else {
                return;
            };
            let needed = |dir: &Path| routes.iter().any(|r| r.root == dir || r.dirs.contains(dir));
            gone.dirs.into_iter().chain([gone.root]).filter(|d| !needed(d)).collect()
        };
        let mut watcher = self.watcher.lock().unwrap_or_else(|e| e.into_inner());
        for dir in unneeded {
            let _ = watcher.unwatch(&dir);
        }
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
        let Some(route) = routes
            .iter()
            .filter(|r| path.starts_with(&r.root))
            .max_by_key(|r| r.root.as_os_str().len())
        else {
            continue;
        };
        let sent = if appeared {
            route
                .tx
                .try_send(RawFs::Paths(vec![path.clone()]))
                .and_then(|()| route.tx.try_send(RawFs::NewDir(path)))
        } else {
            route.tx.try_send(RawFs::Paths(vec![path]))
        };
        if sent.is_err() {
            route.overflow.store(true, Ordering::SeqCst);
        }
    }
}
