//! Event sources: the file system (inotify through notify), git refs, and the clock.

pub mod classify;
pub mod fs;
pub mod tree;
