//! Autonomy policies: rules the user writes (`rules`), read from their files (`load`),
//! and the pure decision over them (`evaluate`).

mod evaluate;
mod load;
mod rules;
mod subject;
mod window;

pub use evaluate::{
    Cap, Context, DecidedBy, Defaults, Demotion, Evaluation, Grant, PolicySet, evaluate, layer_name,
};
pub use load::{DEFAULT_POLICY, REPO_POLICY, load_repo, load_user, merge, read_policy, user_files};
pub use rules::{Layer, PolicyError, PolicyFile, RuleRef, parse};
pub use subject::Subject;
pub use window::{LocalTime, Window};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How much kairos may do on its own, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Autonomy {
    Off,
    Observe,
    Notify,
    Propose,
    Auto,
}

impl std::fmt::Display for Autonomy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Autonomy::Off => "off",
            Autonomy::Observe => "observe",
            Autonomy::Notify => "notify",
            Autonomy::Propose => "propose",
            Autonomy::Auto => "auto",
        })
    }
}

/// The autonomy a proposal was given and what gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub autonomy: Autonomy,
    pub decided_by: DecidedBy,
    pub at: DateTime<Utc>,
}

impl std::str::FromStr for Autonomy {
    type Err = String;

    fn from_str(text: &str) -> Result<Autonomy, String> {
        match text {
            "off" => Ok(Autonomy::Off),
            "observe" => Ok(Autonomy::Observe),
            "notify" => Ok(Autonomy::Notify),
            "propose" => Ok(Autonomy::Propose),
            "auto" => Ok(Autonomy::Auto),
            other => Err(format!(
                "unknown autonomy {other:?}; use off, observe, notify, propose or auto"
            )),
        }
    }
}

#[cfg(test)]
mod tests;
