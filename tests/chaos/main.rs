//! The chaos suite: the daemon is killed with SIGKILL at random moments while it deletes
//! branches, undoes, restores, snapshots and patches files; after every kill it is
//! started again and the repository and the store are checked: every proposal's state
//! matches the repository, nothing is left half done, no lock or temporary file stays
//! behind, `git fsck --strict` is clean, and at the end every change is undone to the
//! exact refs and bytes it started from.
//!
//! Seeded and bounded: `KAIROS_CHAOS_SEED` (default 2026) and `KAIROS_CHAOS_CYCLES`
//! (kills per scenario, default 25). `cargo test --test chaos -- --nocapture` prints
//! each scenario's tries, kills that landed mid-work, and time.

#[allow(dead_code)]
#[path = "../integration/common.rs"]
mod common;

mod branches;
mod files;
mod harness;
mod snapshots;
