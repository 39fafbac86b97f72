//! Moving a store written by an older kairos to this build's layout, when it is opened
//! and before anything reads it. Each step is idempotent: a crash part-way leaves the
//! old version number, and the step runs again over what it already converted.

use serde_json::Value;

use super::StoreError;
use crate::policy::{DecidedBy, Layer};
use crate::proposal::Actor;

/// Brings the trees from schema `from` up to `super::SCHEMA_VERSION`.
pub fn run(proposals: &sled::Tree, from: u64) -> Result<(), StoreError> {
    if from < 2 {
        typed_deciders(proposals)?;
    }
    if from < 3 {
        complete_records(proposals)?;
    }
    // Schema 4 adds the state `told`: nothing to rewrite, but a build that knows schema 3
    // could not read such a record, so it is refused the store instead.
    Ok(())
}

/// Schema 3 lists stored proposals as they are (`Store::proposals_json`), so every
/// record must hold every field this build writes: each is read and written again,
/// filling fields added since it was stored with their defaults.
fn complete_records(proposals: &sled::Tree) -> Result<(), StoreError> {
    for entry in proposals.iter() {
        let (key, value) = entry?;
        let proposal: crate::proposal::Proposal = serde_json::from_slice(&value)?;
        let again = serde_json::to_vec(&proposal)?;
        if again != *value {
            proposals.insert(key, again)?;
        }
    }
    Ok(())
}

/// Schema 2 records who moved a proposal and what decided its autonomy as typed values;
/// schema 1 kept the strings kairos 0.1.0 printed ("user", "policy (rule x (user, f))").
fn typed_deciders(proposals: &sled::Tree) -> Result<(), StoreError> {
    for entry in proposals.iter() {
        let (key, value) = entry?;
        let mut json: Value = serde_json::from_slice(&value)?;
        let mut changed = false;
        if let Some(history) = json.get_mut("history").and_then(Value::as_array_mut) {
            for step in history {
                if let Some(by) = step.get("by").and_then(Value::as_str) {
                    step["by"] = serde_json::to_value(actor_v1(by))?;
                    changed = true;
                }
            }
        }
        if let Some(decision) = json.get_mut("decision").filter(|d| d.is_object())
            && let Some(text) = decision.get("decided_by").and_then(Value::as_str)
        {
            decision["decided_by"] = serde_json::to_value(decided_by_v1(text))?;
            changed = true;
        }
        if changed {
            proposals.insert(key, serde_json::to_vec(&json)?)?;
        }
    }
    Ok(())
}

/// Who a schema-1 history entry names.
fn actor_v1(by: &str) -> Actor {
    match by {
        "user" => Actor::User,
        "kairos" => Actor::Kairos,
        "kairos (recovery)" => Actor::Recovery,
        _ => match by.strip_prefix("policy (").and_then(|r| r.strip_suffix(')')) {
            Some(decided_by) => Actor::Policy { decided_by: decided_by_v1(decided_by) },
            // Tasks named themselves.
            None => Actor::task(by),
        },
    }
}

/// What a schema-1 decision names, as `DecidedBy`'s display wrote it.
fn decided_by_v1(text: &str) -> DecidedBy {
    if text == "user" {
        return DecidedBy::User;
    }
    if text.starts_with("default") {
        return DecidedBy::Default;
    }
    if text.starts_with("demotion") {
        return DecidedBy::Demotion;
    }
    if text.starts_with("cap") {
        let cap = if text.contains("broken") {
            crate::policy::Cap::BrokenPolicy
        } else {
            crate::policy::Cap::Irreversible
        };
        return DecidedBy::Cap { cap };
    }
    if let Some(id) = text.strip_prefix("grant ") {
        return DecidedBy::Grant { id: id.to_owned() };
    }
    // "rule ID (LAYER, FILE)"; the id may hold spaces and parentheses, the layer is one
    // of three words.
    let body = text.strip_prefix("rule ").unwrap_or(text);
    for (layer, word) in [(Layer::Default, "default"), (Layer::User, "user"), (Layer::Repo, "repo")]
    {
        let marker = format!(" ({word}, ");
        if let Some(at) = body.find(&marker)
            && let Some(file) = body[at + marker.len()..].strip_suffix(')')
        {
            return DecidedBy::Rule { id: body[..at].to_owned(), file: file.into(), layer };
        }
    }
    DecidedBy::Rule { id: body.to_owned(), file: "<unknown>".into(), layer: Layer::User }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_1_strings_become_typed_deciders() {
        let rule = DecidedBy::Rule {
            id: "snapshots".into(),
            file: "<built-in policies/default.toml>".into(),
            layer: Layer::Default,
        };
        assert_eq!(
            actor_v1("policy (rule snapshots (default, <built-in policies/default.toml>))"),
            Actor::Policy { decided_by: rule.clone() }
        );
        // Today's display of each reads back as what it shows.
        for decided_by in [
            rule,
            DecidedBy::Rule {
                id: "odd (id)".into(),
                file: "/home/me/.config/kairos/policies/my, rules.toml".into(),
                layer: Layer::User,
            },
            DecidedBy::Default,
            DecidedBy::Grant { id: "g3".into() },
            DecidedBy::Demotion,
            DecidedBy::Cap { cap: crate::policy::Cap::Irreversible },
            DecidedBy::Cap { cap: crate::policy::Cap::BrokenPolicy },
            DecidedBy::User,
        ] {
            assert_eq!(decided_by_v1(&decided_by.to_string()), decided_by);
        }
        for actor in [Actor::User, Actor::Kairos, Actor::Recovery, Actor::task("prune-branches")] {
            assert_eq!(actor_v1(&actor.to_string()), actor);
        }
    }

    #[test]
    fn records_from_before_a_field_existed_are_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let tree = db.open_tree("proposals").unwrap();
        // As kairos 0.1.0 stored it: no changed_lines, history or provenance.
        let old = r#"{"id":1,"repo":"/r","task":"snapshot","action":"git.snapshot","title":"t",
            "why":"w","state":"pending","created_at":"2026-01-01T00:00:00Z",
            "updated_at":"2026-01-01T00:00:00Z","fingerprint":"f",
            "change":{"kind":"restore","snapshot":"s","paths":[]}}"#;
        tree.insert(1u64.to_be_bytes(), old.as_bytes()).unwrap();
        complete_records(&tree).unwrap();
        let stored: Value =
            serde_json::from_slice(&tree.get(1u64.to_be_bytes()).unwrap().unwrap()).unwrap();
        for field in ["changed_lines", "history", "provenance"] {
            assert!(stored.get(field).is_some(), "{field} missing from {stored}");
        }
    }
}
