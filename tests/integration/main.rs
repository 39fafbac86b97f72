//! Integration tests: the real `kairos` binary, real git repositories, real inotify, in
//! a temporary home per test.

mod common;
mod daemon;
mod maintenance;
mod patch;
mod policy;
mod prune;
mod recovery;
mod snapshot;
