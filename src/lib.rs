//! kairos — an always-on assistant for a developer's machine.
//!
//! The loop, as the modules follow it: event sources (`watch`: the file system through
//! inotify, git refs, the clock) wake tasks (`tasks`), which compute in scratch space
//! and return drafts — typed changes (`proposal`) with an `action`, preconditions and
//! where they came from. The intake (`intake`) decides, as a pure function of the draft,
//! what the store knows of it, the policy's evaluation (`policy`, pure too) and the
//! limits in force, whether it is skipped, told once, queued, deferred or applied now.
//! The daemon (`daemon`) carries that out: applies go through an intent journal and
//! leave an undo record (`apply`), everything is remembered in sled (`store`), the user
//! is told through the notifier (`notifier`), and the CLI (`cli`) talks to the daemon
//! over a Unix socket (`protocol`, `client`). Settings come from `config`; programs
//! kairos runs go through `process`; files it is told to trust are read with `read`; after each burst of work the daemon
//! goes back to rest (`rest`).

pub mod action;
pub mod apply;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod diff;
pub mod git;
pub mod intake;
pub mod llm;
pub mod memory;
pub mod notifier;
pub mod paths;
pub mod policy;
pub mod process;
pub mod proposal;
pub mod protocol;
pub mod read;
pub mod registry;
pub mod rest;
pub mod store;
pub mod tasks;
pub mod watch;

/// The version of this build, shown by `kairos status` and exchanged in the hello.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
