//! Event sources: the file system (inotify through notify), git refs, and the clock.

pub mod classify;
pub mod clock;
pub mod fs;
pub mod git;
pub mod tree;
pub mod wall_clock;
