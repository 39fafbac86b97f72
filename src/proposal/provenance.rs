//! Where a draft came from, and so how far it may be trusted.

use serde::{Deserialize, Serialize};

/// Where a draft came from, which decides how far it may be trusted: what a model
/// suggested, or what a run produced after reading text kairos does not trust, is
/// capped at `propose` by the policy, whatever a rule or grant says.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Provenance {
    pub origin: Origin,
    /// The run read text kairos does not trust (file contents, commit messages, a
    /// model's reply) and its output depends on it.
    #[serde(default)]
    pub read_untrusted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// A built-in task's own logic.
    #[default]
    Builtin,
    /// A command task the user configured.
    Command,
    /// A language model's reply.
    Model { model: String },
}

impl Provenance {
    pub const BUILTIN: Provenance = Provenance { origin: Origin::Builtin, read_untrusted: false };
    pub const COMMAND: Provenance = Provenance { origin: Origin::Command, read_untrusted: false };

    /// Whether drafts of this provenance may only be proposed.
    pub fn untrusted(&self) -> bool {
        self.read_untrusted || matches!(self.origin, Origin::Model { .. })
    }
}

impl std::fmt::Display for Provenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.origin {
            Origin::Builtin => f.write_str("built-in task")?,
            Origin::Command => f.write_str("command task")?,
            Origin::Model { model } => write!(f, "suggested by the model {model}")?,
        }
        if self.read_untrusted {
            f.write_str(", after reading untrusted text")?;
        }
        Ok(())
    }
}
