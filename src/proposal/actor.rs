//! Who moved a proposal from one state to the next.

use serde::{Deserialize, Serialize};

use crate::policy::DecidedBy;

/// Who moved a proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    User,
    /// The task that proposed it.
    Task {
        name: String,
    },
    /// The policy, approving automatic work on its own: what decided it.
    Policy {
        decided_by: DecidedBy,
    },
    /// kairos itself: it saw the world move, or the apply fail.
    Kairos,
    /// kairos settling, at start, what a crash interrupted.
    Recovery,
}

impl Actor {
    pub fn task(name: &str) -> Actor {
        Actor::Task { name: name.to_owned() }
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::User => f.write_str("user"),
            Actor::Task { name } => f.write_str(name),
            Actor::Policy { decided_by } => write!(f, "policy ({decided_by})"),
            Actor::Kairos => f.write_str("kairos"),
            Actor::Recovery => f.write_str("kairos (recovery)"),
        }
    }
}
