//! Integration tests: the real `kairos` binary, real git repositories, real inotify, in
//! a temporary home per test.

mod brain;
mod bus;
mod cli;
mod common;
mod daemon;
mod format;
mod hostile;
mod llm;
mod llm_real;
mod llm_server;
mod llm_wire;
mod look;
mod maintenance;
mod memory;
mod notify;
mod npm_registry;
mod patch;
mod policy;
mod prune;
mod recovery;
mod snapshot;
mod store_compat;
mod watching;
