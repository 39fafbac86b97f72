//! kairos — an always-on assistant for a developer's machine.
//!
//! The daemon watches repositories (`watch`), turns what it sees into events that
//! trigger tasks (`tasks`), and each task run returns proposals: typed, replayable
//! changes with their preconditions (`proposal`). A policy (`policy`) decides whether a
//! proposal is applied at once or waits in the queue for the user. Applies go through
//! an intent journal and leave an undo record (`apply`). Everything is remembered in
//! sled (`store`), the user is told through the notifier (`notifier`), and the CLI
//! (`cli`) talks to the daemon (`daemon`) over a Unix socket (`protocol`, `client`).

pub mod action;
pub mod apply;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod diff;
pub mod git;
pub mod intake;
pub mod notifier;
pub mod paths;
pub mod policy;
pub mod process;
pub mod proposal;
pub mod protocol;
pub mod read;
pub mod registry;
pub mod store;
pub mod tasks;
pub mod watch;

/// The version of this build, shown by `kairos status` and exchanged in the hello.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
