//! `maintenance`: keeps git's storage healthy, as `git maintenance` does — commit-graph,
//! loose objects, incremental repack, packed refs (storage only: automatic) — and
//! proposes `git gc` when git's own thresholds say it is needed (it prunes: never
//! automatic).

use git2::Repository;

use super::TaskError;
use crate::action::{Action, Maintenance};
use crate::proposal::{Change, Draft, Provenance};

pub fn run(repo: &Repository) -> Result<Vec<Draft>, TaskError> {
    if let Some(lock) = crate::git::held_lock(repo) {
        return Err(TaskError::Busy(format!("git's lock {lock} is held")));
    }
    let day = chrono::Utc::now().format("%Y-%m-%d");
    let storage = [
        Maintenance::CommitGraph,
        Maintenance::LooseObjects,
        Maintenance::IncrementalRepack,
        Maintenance::PackRefs,
    ];
    let mut drafts: Vec<Draft> = storage
        .into_iter()
        .map(|task| Draft {
            action: Action::Maintenance(task),
            changed_lines: 0,
            title: format!("maintenance: {task}"),
            why: "scheduled storage maintenance; objects and refs stay as they are".into(),
            fingerprint: format!("git.maintenance.{task}:{day}"),
            change: Change::Maintenance { task },
            provenance: Provenance::BUILTIN,
        })
        .collect();
    if let Some(why) = gc_needed(repo) {
        drafts.push(Draft {
            action: Action::Maintenance(Maintenance::Gc),
            changed_lines: 0,
            title: "maintenance: git gc".into(),
            why,
            fingerprint: format!("git.maintenance.gc:{day}"),
            change: Change::Maintenance { task: Maintenance::Gc },
            provenance: Provenance::BUILTIN,
        });
    }
    Ok(drafts)
}

/// git's own `gc --auto` rule: too many loose objects or too many packs.
fn gc_needed(repo: &Repository) -> Option<String> {
    let config = repo.config().ok()?;
    let loose_limit = config.get_i64("gc.auto").unwrap_or(6700);
    let pack_limit = config.get_i64("gc.autoPackLimit").unwrap_or(50);
    if loose_limit <= 0 {
        return None;
    }
    let objects = repo.path().join("objects");
    // git samples one fan-out directory (17) and scales by 256.
    let sample = std::fs::read_dir(objects.join("17")).map(|d| d.count()).unwrap_or(0) as i64;
    let loose = sample * 256;
    let packs = std::fs::read_dir(objects.join("pack"))
        .map(|d| d.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "pack")).count())
        .unwrap_or(0) as i64;
    if loose > loose_limit {
        return Some(format!("about {loose} loose objects (gc.auto = {loose_limit})"));
    }
    if pack_limit > 0 && packs > pack_limit {
        return Some(format!("{packs} packs (gc.autoPackLimit = {pack_limit})"));
    }
    None
}
