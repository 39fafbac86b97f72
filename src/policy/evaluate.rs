//! The decision, as a pure function: rules, grants and demotions in, an autonomy and
//! the reason for it out. No I/O, so it is tested exhaustively.
//!
//! 1. Rules from the shipped default and the user's files: the strictest matching rule
//!    wins; no matching rule means `propose`.
//! 2. A grant (`approve --always`) lifts its scope to `auto`, but never above a stricter
//!    rule the user wrote.
//! 3. A repository's own rules can only tighten.
//! 4. A task demoted for repeated rejections is held at `observe`.
//! 5. Capped at `propose`, whatever a rule or grant says: irreversible actions, what a
//!    model suggested or an untrusted run produced, and anything but routine work while
//!    a policy file is broken and no good version of it is known.
//!
//! Shadow rules take no part; their would-be effect is reported.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Autonomy;
use super::rules::{Layer, PolicyFile, RuleRef};
use super::subject::Subject;
use super::window::{LocalTime, Window};
use crate::action::Action;

/// The policy in force: the shipped default and the user's files, merged defaults.
#[derive(Debug, Clone)]
pub struct PolicySet {
    pub files: Vec<PolicyFile>,
    pub defaults: Defaults,
}

#[derive(Debug, Clone)]
pub struct Defaults {
    pub quiet_hours: Option<Window>,
    pub max_auto_per_hour: u32,
    pub demote_after_rejections: u32,
}

/// A user's standing approval for one kind of change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: String,
    pub action: Action,
    pub task: Option<String>,
    pub repo: Option<String>,
    /// When not empty, the grant covers only proposals touching these paths.
    #[serde(default)]
    pub paths: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The proposal it was made from.
    pub from_proposal: Option<u64>,
}

impl Grant {
    pub fn covers(&self, subject: &Subject, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|t| t > now)
            && self.action == subject.action
            && (self.task.is_none() || self.task == subject.task)
            && (self.repo.is_none() || self.repo == subject.repo)
            && (self.paths.is_empty()
                || (!subject.paths.is_empty()
                    && subject.paths.iter().all(|p| self.paths.contains(p))))
    }
}

/// A task held at `observe` in one repository after repeated rejections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Demotion {
    pub repo: String,
    pub task: String,
    pub since: DateTime<Utc>,
    pub rejections: usize,
}

/// What decided a proposal's autonomy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DecidedBy {
    Rule {
        id: String,
        file: std::path::PathBuf,
        layer: Layer,
    },
    /// No rule matched.
    Default,
    Grant {
        id: String,
    },
    /// The task was rejected repeatedly in this repository.
    Demotion,
    /// A limit no rule or grant can lift.
    Cap {
        cap: Cap,
    },
    /// The user, directly (`kairos restore`).
    User,
}

/// The limits that hold a proposal at `propose`, whatever a rule or grant says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cap {
    /// It cannot be undone (`git gc`, unknown actions).
    Irreversible,
    /// It came from a model, or from a run that read text kairos does not trust.
    Untrusted,
    /// A policy file is broken and no good version of it is known yet.
    BrokenPolicy,
}

impl Cap {
    pub const ALL: [Cap; 3] = [Cap::Irreversible, Cap::Untrusted, Cap::BrokenPolicy];

    /// Why the cap holds, as `kairos policy explain` and `show` say it.
    pub fn reason(self) -> &'static str {
        match self {
            Cap::Irreversible => "actions that cannot be undone are never automatic",
            Cap::Untrusted => {
                "what a model suggested, or a run that read untrusted text produced, only waits \
                 for you"
            }
            Cap::BrokenPolicy => {
                "a policy file is broken and no good version of it is known yet: nothing is \
                 automatic until it is fixed"
            }
        }
    }
}

impl std::fmt::Display for Cap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::fmt::Display for DecidedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecidedBy::Rule { id, file, layer } => {
                write!(f, "rule {id} ({}, {})", layer_name(*layer), file.display())
            }
            DecidedBy::Default => f.write_str("default (no rule matched)"),
            DecidedBy::Grant { id } => write!(f, "grant {id}"),
            DecidedBy::Demotion => f.write_str("demotion (rejected repeatedly)"),
            DecidedBy::Cap { cap } => write!(f, "cap ({cap})"),
            DecidedBy::User => f.write_str("user"),
        }
    }
}

pub fn layer_name(layer: Layer) -> &'static str {
    match layer {
        Layer::Default => "default",
        Layer::User => "user",
        Layer::Repo => "repo",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    pub autonomy: Autonomy,
    pub decided_by: DecidedBy,
    /// Every enforcing rule that matched, with its autonomy.
    pub matched: Vec<(RuleRef, Autonomy)>,
    /// Shadow rules that matched, and what the decision would have been with them.
    pub shadow: Vec<(RuleRef, Autonomy)>,
    /// The caps that held the decision down.
    pub caps: Vec<Cap>,
    pub notes: Vec<String>,
}

/// Everything besides the rules that a decision depends on.
pub struct Context<'a> {
    pub grants: &'a [Grant],
    pub demoted: bool,
    /// A policy file is broken and no good version of it is known: the shipped default
    /// alone might be looser than what the user wrote.
    pub broken_policy: bool,
    pub now: LocalTime,
    pub now_utc: DateTime<Utc>,
}

pub fn evaluate(
    set: &PolicySet,
    repo_file: Option<&PolicyFile>,
    subject: &Subject,
    ctx: &Context,
) -> Evaluation {
    let mut matched: Vec<(RuleRef, Autonomy)> = Vec::new();
    let mut shadow_rules: Vec<(RuleRef, Autonomy)> = Vec::new();
    for file in set.files.iter().chain(repo_file) {
        for rule in &file.rules {
            if rule.matches(subject, ctx.now) {
                let entry = (rule.at.clone(), rule.autonomy);
                if rule.shadow { shadow_rules.push(entry) } else { matched.push(entry) }
            }
        }
    }
    // Deterministic whatever the order of files and rules.
    matched.sort_by(|a, b| {
        (a.1, &a.0.layer, &a.0.file, &a.0.id).cmp(&(b.1, &b.0.layer, &b.0.file, &b.0.id))
    });
    shadow_rules.sort_by(|a, b| (&a.0.file, &a.0.id).cmp(&(&b.0.file, &b.0.id)));
    let strictest =
        |layers: &[Layer]| matched.iter().find(|(r, _)| layers.contains(&r.layer)).cloned();
    let mut notes = Vec::new();
    let mut caps = Vec::new();

    let (mut level, mut by) = match strictest(&[Layer::Default, Layer::User]) {
        Some((rule, level)) => (level, rule_decided(&rule)),
        None => (Autonomy::Propose, DecidedBy::Default),
    };
    if let Some(grant) = ctx.grants.iter().find(|g| g.covers(subject, ctx.now_utc)) {
        match strictest(&[Layer::User]) {
            Some((rule, user_level)) if user_level < Autonomy::Auto => notes.push(format!(
                "grant {} is not in effect: rule {} ({}) is stricter ({user_level})",
                grant.id,
                rule.id,
                rule.file.display()
            )),
            _ => {
                level = Autonomy::Auto;
                by = DecidedBy::Grant { id: grant.id.clone() };
            }
        }
    }
    if let Some((rule, repo_level)) = strictest(&[Layer::Repo]) {
        if repo_level < level {
            level = repo_level;
            by = rule_decided(&rule);
        } else if repo_level > level {
            notes.push(format!(
                "repository rule {} asks for {repo_level}; a repository's policy can only tighten",
                rule.id
            ));
        }
    }
    if ctx.demoted && level > Autonomy::Observe {
        level = Autonomy::Observe;
        by = DecidedBy::Demotion;
    }
    let mut cap = |cap: Cap, level: &mut Autonomy, by: &mut DecidedBy| {
        if *level > Autonomy::Propose {
            caps.push(cap);
            *level = Autonomy::Propose;
            *by = DecidedBy::Cap { cap };
        }
    };
    if !subject.action.reversible() {
        cap(Cap::Irreversible, &mut level, &mut by);
    }
    if subject.provenance.untrusted() {
        cap(Cap::Untrusted, &mut level, &mut by);
    }
    // Routine work (snapshots) touches nothing of the user's: a broken file never stops it.
    if ctx.broken_policy && !subject.action.routine() {
        cap(Cap::BrokenPolicy, &mut level, &mut by);
    }
    let shadow = shadow_rules.into_iter().map(|(r, a)| (r, a.min(level))).collect();
    Evaluation { autonomy: level, decided_by: by, matched, shadow, caps, notes }
}

fn rule_decided(rule: &RuleRef) -> DecidedBy {
    DecidedBy::Rule { id: rule.id.clone(), file: rule.file.clone(), layer: rule.layer }
}
