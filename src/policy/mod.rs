//! The minimal policy step: a built-in autonomy per action, with irreversible actions
//! capped at `propose`. The full rule engine replaces `decide` without changing callers.

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

/// The autonomy a proposal was given and who gave it (`default`, `cap`, `user`, a rule id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub autonomy: Autonomy,
    pub decided_by: String,
    pub at: DateTime<Utc>,
}

/// Actions that cannot be undone; they are never applied without the user.
pub fn is_reversible(action: &str) -> bool {
    !(action == "git.maintenance.gc"
        || action.starts_with("git.reflog.expire")
        || action.contains("force"))
}

/// The built-in autonomy of an action when no rule speaks about it.
pub fn default_autonomy(action: &str) -> Autonomy {
    match action {
        "git.snapshot" => Autonomy::Auto,
        "notice" => Autonomy::Notify,
        _ => Autonomy::Propose,
    }
}

/// Decides the autonomy of a proposal with `action`. Pure.
pub fn decide(action: &str, at: DateTime<Utc>) -> Decision {
    let wanted = default_autonomy(action);
    if wanted == Autonomy::Auto && !is_reversible(action) {
        return Decision { autonomy: Autonomy::Propose, decided_by: "cap".into(), at };
    }
    Decision { autonomy: wanted, decided_by: "default".into(), at }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_order_from_off_to_auto() {
        assert!(Autonomy::Off < Autonomy::Observe);
        assert!(Autonomy::Observe < Autonomy::Notify);
        assert!(Autonomy::Notify < Autonomy::Propose);
        assert!(Autonomy::Propose < Autonomy::Auto);
    }

    #[test]
    fn snapshots_are_automatic_and_deletions_wait() {
        let now = Utc::now();
        assert_eq!(decide("git.snapshot", now).autonomy, Autonomy::Auto);
        assert_eq!(decide("git.branch.delete", now).autonomy, Autonomy::Propose);
        assert_eq!(decide("something.new", now).decided_by, "default");
    }

    #[test]
    fn irreversible_actions_are_never_auto() {
        for action in ["git.maintenance.gc", "git.reflog.expire", "git.push.force"] {
            assert!(!is_reversible(action));
            assert!(decide(action, Utc::now()).autonomy <= Autonomy::Propose);
        }
    }
}
