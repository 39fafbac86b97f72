//! One inotify watcher for every watched directory. The notify callback never blocks:
//! it routes each event to its repository's bounded channel with `try_send`, and when a
//! channel is full (or the kernel queue overflowed) it raises that repository's
//! overflow flag so the repository is rescanned instead of losing a change silently.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// What a watched directory's channel carries.
#[derive(Debug)]
pub enum RawFs {
    Paths(Vec<PathBuf>),
    /// Events were lost; look at everything again.
    Rescan,
}

/// The receiving side for one watched directory.
pub struct Subscription {
    /// Identifies the route, so removing it never removes a newer one for the same root.
    pub id: u64,
    pub rx: mpsc::Receiver<RawFs>,
    pub overflow: Arc<AtomicBool>,
    /// Directories whose events are dropped in the callback: ignored build output
    /// (`target/`, `node_modules/`) would otherwise flood the channel during a build.
    pub skip: Arc<RwLock<Vec<PathBuf>>>,
}

struct Route {
    id: u64,
    root: PathBuf,
    tx: mpsc::Sender<RawFs>,
    overflow: Arc<AtomicBool>,
    skip: Arc<RwLock<Vec<PathBuf>>>,
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

    /// Routes events under `root` to a new subscription (call `watch` to start them).
    pub fn add_route(&self, root: &Path) -> Subscription {
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        let overflow = Arc::new(AtomicBool::new(false));
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let skip: Arc<RwLock<Vec<PathBuf>>> = Arc::default();
        self.routes.write().unwrap_or_else(|e| e.into_inner()).push(Route {
            id,
            root: root.to_owned(),
            tx,
            overflow: overflow.clone(),
            skip: skip.clone(),
        });
        Subscription { id, rx, overflow, skip }
    }

    /// Starts (or restarts, after the directory was replaced) watching `root`.
    pub fn watch(&self, root: &Path, recursive: bool) -> notify::Result<()> {
        let mode = if recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
        let mut watcher = self.watcher.lock().unwrap_or_else(|e| e.into_inner());
        let _ = watcher.unwatch(root);
        watcher.watch(root, mode)
    }

    pub fn unwatch(&self, root: &Path) {
        let _ = self.watcher.lock().unwrap_or_else(|e| e.into_inner()).unwatch(root);
    }

    /// Removes the route `id`; the directory stays watched while another route needs it.
    pub fn remove(&self, id: u64) {
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        let Some(gone) = routes.iter().position(|r| r.id == id).map(|i| routes.remove(i)) else {
            return;
        };
        if !routes.iter().any(|r| r.root == gone.root) {
            let _ = self.watcher.lock().unwrap_or_else(|e| e.into_inner()).unwatch(&gone.root);
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
    for path in event.paths {
        let Some(route) = routes
            .iter()
            .filter(|r| path.starts_with(&r.root))
            .max_by_key(|r| r.root.as_os_str().len())
        else {
            continue;
        };
        if route.skip.read().unwrap_or_else(|e| e.into_inner()).iter().any(|d| path.starts_with(d))
        {
            continue;
        }
        if route.tx.try_send(RawFs::Paths(vec![path])).is_err() {
            route.overflow.store(true, Ordering::SeqCst);
        }
    }
}
