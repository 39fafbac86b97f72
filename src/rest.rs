//! Going back to rest after a burst of work: the memory it freed and the code it ran
//! are handed back to the system, so at rest the daemon holds only what rest needs.
//!
//! glibc keeps what a thread freed on its arena's free lists and returns pages only from
//! the top of a heap: after a walk of a 50,000-file tree (libgit2 reads the whole index
//! and stats every file, ≈ 13 MiB in small allocations) the daemon stayed that much
//! larger at rest although nothing used the memory. `malloc_trim(0)` gives every free
//! page of every arena back; it takes a few milliseconds, so it runs once the daemon
//! settles after a burst of work, never on the hot path.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::watch::wall_clock::sleep_until_instant;

/// Makes every thread allocate from one arena. glibc gives each new thread an arena of
/// its own (up to eight per core), and the daemon's short-lived blocking threads left
/// live blocks scattered over sixteen of them, which no trim can return: after eight
/// snapshots of a 50,000-file tree, 15.7 MiB resident instead of 5.0. The daemon does
/// little at once on few threads, so the shared arena costs no measurable contention.
/// Call it before the runtime starts its threads.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn use_one_arena() {
    // SAFETY: `mallopt` takes two integers and only changes glibc's own settings.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn use_one_arena() {}

/// Woken when work is done after a settling (or before the first).
static WORKED: tokio::sync::Notify = tokio::sync::Notify::const_new();
/// When work was last done, in milliseconds since `EPOCH`.
static LAST_WORK_MS: AtomicU64 = AtomicU64::new(0);
static EPOCH: OnceLock<Instant> = OnceLock::new();

/// How long after the last work the daemon settles.
const SETTLE_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

fn epoch() -> Instant {
    *EPOCH.get_or_init(Instant::now)
}

/// Says that a burst of work ended (a run, a walk, a client's request, a notification):
/// once nothing else happened for `SETTLE_AFTER`, the daemon settles. Cheap enough for
/// every file event of a storm: a store and a wake of a task that is usually awake.
pub fn work_done() {
    let ms = epoch().elapsed().as_millis() as u64;
    LAST_WORK_MS.store(ms, Ordering::Relaxed);
    WORKED.notify_one();
}

/// Settles after each burst of work, once: a storm settles after its last event (with
/// one timer per `SETTLE_AFTER` however many events came), and an idle daemon never
/// wakes for it. Ends when `shutdown` changes.
pub async fn settle_after_work(shutdown: tokio::sync::watch::Receiver<bool>) {
    // On this thread: a few milliseconds, and a blocking thread started for it would
    // wake again ten seconds later to exit.
    when_quiet(shutdown, SETTLE_AFTER, settle).await
}

/// Calls `action` once `quiet_for` has passed since the last `work_done`, once per
/// burst.
async fn when_quiet(
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    quiet_for: Duration,
    mut action: impl FnMut(),
) {
    let mut settled_for = None;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = WORKED.notified() => {}
        }
        // A wake left over from work the last settling already covered.
        if settled_for == Some(LAST_WORK_MS.load(Ordering::Relaxed)) {
            continue;
        }
        // Sleep until `quiet_for` past the last work; work done meanwhile moves it on.
        loop {
            let last_ms = LAST_WORK_MS.load(Ordering::Relaxed);
            let due = epoch() + Duration::from_millis(last_ms) + quiet_for;
            if Instant::now() >= due {
                settled_for = Some(last_ms);
                break;
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = sleep_until_instant(due) => {}
            }
        }
        action();
    }
}

/// Hands back the heap's free pages and the code that ran.
pub fn settle() {
    let trimmed = free_memory();
    let code_kib = unmap_idle_code();
    tracing::debug!(trimmed, code_kib, "memory handed back");
}

/// Returns the allocator's free pages to the system; whether any were returned.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn free_memory() -> bool {
    // SAFETY: `malloc_trim` takes no pointers and touches only glibc's own free lists,
    // which it locks arena by arena like any other allocator call.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Other allocators (musl's, macOS's) return large free blocks themselves.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn free_memory() -> bool {
    false
}

/// Drops this process's page-table entries for its own code and read-only data, where
/// every page is still exactly the file's: they stay in the page cache and come back on
/// the next touch with a minor fault. The kernel maps file pages 64 KiB around each
/// touched one and keeps them mapped until memory runs short, so a daemon that touched
/// its start-up code, a walk or a run kept ≈ 10 MiB of its binary resident at rest that
/// nothing at rest uses. A mapping with any page of its own (relocated data, a
/// debugger's breakpoint, a uprobe: `Anonymous` in smaps) is left as it is. Returns the
/// KiB that were resident in what was dropped.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn unmap_idle_code() -> u64 {
    let (Ok(exe), Ok(smaps)) =
        (std::fs::read_link("/proc/self/exe"), std::fs::read_to_string("/proc/self/smaps"))
    else {
        return 0;
    };
    let mut dropped = 0;
    for vma in clean_mappings_of(&smaps, &exe.to_string_lossy()) {
        // SAFETY: the range is one whole mapping of our own executable that cannot be
        // written (no `w`) and holds no page of its own (`Anonymous: 0`), so every page
        // reads back from the file exactly as it is now; MADV_DONTNEED on it only drops
        // page-table entries (no memory is freed or reused that anything points into).
        let done = unsafe {
            libc::madvise(vma.start as *mut libc::c_void, vma.end - vma.start, libc::MADV_DONTNEED)
        };
        if done == 0 {
            dropped += vma.rss_kib;
        }
    }
    dropped
}

#[cfg(not(target_os = "linux"))]
pub fn unmap_idle_code() -> u64 {
    0
}

/// A mapping from `/proc/self/smaps`.
#[derive(Debug, PartialEq, Eq)]
struct Mapping {
    start: usize,
    end: usize,
    rss_kib: u64,
}

/// The read-only, private mappings of `path` none of whose pages are the process's own.
fn clean_mappings_of(smaps: &str, path: &str) -> Vec<Mapping> {
    let mut found = Vec::new();
    // (mapping, whether it qualifies so far) for the header being read.
    let mut current: Option<(Mapping, bool)> = None;
    let mut finish = |current: &mut Option<(Mapping, bool)>| {
        if let Some((mapping, true)) = current.take() {
            found.push(mapping);
        }
    };
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if let Some((start, end)) = first.split_once('-') {
            let (Ok(start), Ok(end)) =
                (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16))
            else {
                continue;
            };
            finish(&mut current);
            let perms = fields.next().unwrap_or_default();
            // offset, device, inode; then the path, which may hold spaces.
            let name = line.splitn(6, char::is_whitespace).nth(5).unwrap_or_default().trim();
            let wanted =
                name == path && perms.len() == 4 && !perms.contains('w') && perms.ends_with('p');
            current = Some((Mapping { start, end, rss_kib: 0 }, wanted));
            continue;
        }
        let Some((mapping, wanted)) = current.as_mut() else { continue };
        let kib = || fields.clone().next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        match first {
            "Rss:" => mapping.rss_kib = kib(),
            "Anonymous:" if kib() > 0 => *wanted = false,
            _ => {}
        }
    }
    finish(&mut current);
    found
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_burst_of_work_settles_once_after_it() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let settled = Arc::new(AtomicUsize::new(0));
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let count = settled.clone();
        let quiet_for = std::time::Duration::from_millis(100);
        let task = tokio::spawn(super::when_quiet(shutdown, quiet_for, move || {
            count.fetch_add(1, Ordering::SeqCst);
        }));
        for _ in 0..200 {
            super::work_done();
            tokio::task::yield_now().await;
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while settled.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // Once for the burst (another test's daemon parts may add a settling of their own).
        let after_burst = settled.load(Ordering::SeqCst);
        assert!((1..=3).contains(&after_burst), "settled {after_burst} times for one burst");
        stop.send(true).unwrap();
        task.await.unwrap();
    }

    #[test]
    fn only_clean_read_only_mappings_of_the_program_are_dropped() {
        let smaps = "\
55d0a0000000-55d0a0300000 r--p 00000000 fd:01 42 /usr/bin/kairos
Rss:                2048 kB
Anonymous:             0 kB
55d0a0300000-55d0a0900000 r-xp 00300000 fd:01 42 /usr/bin/kairos
Rss:                6784 kB
Anonymous:             0 kB
55d0a0900000-55d0a0a00000 r--p 00900000 fd:01 42 /usr/bin/kairos
Rss:                 400 kB
Anonymous:           400 kB
55d0a0a00000-55d0a0a10000 rw-p 00a00000 fd:01 42 /usr/bin/kairos
Rss:                  64 kB
Anonymous:            64 kB
7f0000000000-7f0000100000 r-xp 00000000 fd:01 7 /usr/lib/libc.so.6
Rss:                1100 kB
Anonymous:             0 kB
";
        let found = super::clean_mappings_of(smaps, "/usr/bin/kairos");
        let starts: Vec<(usize, u64)> = found.iter().map(|m| (m.start, m.rss_kib)).collect();
        // Not the relocated read-only data, not the writable data, not another file.
        assert_eq!(starts, vec![(0x55d0a0000000, 2048), (0x55d0a0300000, 6784)]);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn dropped_code_comes_back_when_it_runs() {
        let dropped = super::unmap_idle_code();
        assert!(dropped > 0, "the test binary's own code was resident");
        // Still runs: the pages came back from the file.
        assert_eq!(format!("{}", 6 * 7), "42");
        assert!(super::unmap_idle_code() > 0);
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn freed_memory_is_given_back() {
        // Many small blocks freed below one that stays: glibc cannot shrink its heap
        // from the top, only `malloc_trim` returns the pages in between.
        let blocks: Vec<Vec<u8>> = (0..20_000).map(|i| vec![i as u8; 1000]).collect();
        let keep = vec![1u8; 1000];
        drop(blocks);
        assert!(super::free_memory(), "nothing was given back");
        assert_eq!(keep[0], 1);
    }
}
