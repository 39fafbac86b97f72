//! The one structured reply every model call asks for, and its contract. Missing fields
//! mean empty, and an empty reply means "nothing to say". A reply is parsed and checked,
//! never executed: an edit must name a file inside the repository that kairos may send
//! (not ignored, not secret, not under `.git`) and an `old` text found there exactly once.

use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub notes: Vec<Note>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub edits: Vec<Edit>,
    #[serde(default)]
    pub edit_title: Option<String>,
    #[serde(default)]
    pub commit_message: Option<CommitMessage>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub remember: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub line: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit {
    pub path: String,
    pub old: String,
    pub new: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitMessage {
    pub subject: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub body: String,
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Why a reply breaks the contract; sent back to the model once, in these words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    #[error("the reply is not the JSON object asked for: {0}")]
    NotJson(String),
    #[error("edit {index}: {path:?} {why}")]
    Edit { index: usize, path: String, why: String },
    #[error("the commit message has an empty subject")]
    EmptySubject,
    #[error(
        "the reply was cut off at its limit of {0} tokens (max_reply_tokens, or the task's own)"
    )]
    Truncated(u32),
}

impl Reply {
    /// Parses the reply's JSON; an empty text is the empty reply.
    pub fn parse(text: &str) -> Result<Reply, ContractError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Reply::default());
        }
        // Some servers wrap the object in a Markdown fence.
        let text = text
            .strip_prefix("```json")
            .or_else(|| text.strip_prefix("```"))
            .and_then(|t| t.strip_suffix("```"))
            .unwrap_or(text)
            .trim();
        serde_json::from_str(text).map_err(|e| ContractError::NotJson(e.to_string()))
    }

    /// Whether the model said nothing.
    pub fn is_empty(&self) -> bool {
        self.notes.is_empty()
            && self.edits.is_empty()
            && self.commit_message.as_ref().is_none_or(|m| m.subject.trim().is_empty())
            && self.remember.is_empty()
    }

    /// Checks the reply against the repository at `root`. `may_send(path)` says whether a
    /// file could have been shown to the model (not ignored, not secret).
    pub fn check(
        &self,
        root: &Path,
        may_send: impl Fn(&Path) -> bool,
    ) -> Result<(), ContractError> {
        if let Some(message) = &self.commit_message
            && message.subject.trim().is_empty()
            && !message.body.trim().is_empty()
        {
            return Err(ContractError::EmptySubject);
        }
        for (index, edit) in self.edits.iter().enumerate() {
            let refuse = |why: &str| ContractError::Edit {
                index,
                path: edit.path.clone(),
                why: why.to_owned(),
            };
            let full = crate::apply::safe_path(root, Path::new(&edit.path))
                .map_err(|_| refuse("is not a path inside the repository"))?;
            if !may_send(Path::new(&edit.path)) {
                return Err(refuse("is a file kairos does not send (ignored or secret)"));
            }
            let text = crate::read::read_text(&full, 4 << 20)
                .map_err(|_| refuse("is not a text file kairos can read"))?;
            if edit.old.is_empty() {
                return Err(refuse("has an empty `old`: quote the exact text to replace"));
            }
            match text.matches(edit.old.as_str()).count() {
                1 => {}
                0 => return Err(refuse("does not contain `old` exactly as quoted")),
                n => {
                    return Err(refuse(&format!(
                        "contains `old` {n} times; quote more of it so it is found once"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The fields of the reply, as the schema names them.
pub const FIELDS: &[&str] = &["notes", "edits", "edit_title", "commit_message", "remember"];

/// The JSON schema of the reply, with the `fields` a task asks for (all when empty): as a
/// tool's input (`strict`: false) or for OpenAI's strict `response_format`, where every
/// property is required and optional ones are nullable. A task that wants one field asks
/// for that one only, which keeps small models from wandering.
pub fn schema(strict: bool, fields: &[&str]) -> serde_json::Value {
    use serde_json::json;
    let nullable = |t: serde_json::Value| {
        if strict { json!({ "anyOf": [t, { "type": "null" }] }) } else { t }
    };
    let object = |properties: serde_json::Value, required: &[&str]| {
        let all: Vec<&str> = properties
            .as_object()
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        json!({
            "type": "object",
            "properties": properties,
            "required": if strict { all } else { required.to_vec() },
            "additionalProperties": false,
        })
    };
    let note = object(
        json!({
            "title": { "type": "string" },
            "body": { "type": "string" },
            "path": nullable(json!({ "type": "string" })),
            "line": nullable(json!({ "type": "integer" })),
        }),
        &["title"],
    );
    let edit = object(
        json!({
            "path": { "type": "string" },
            "old": { "type": "string" },
            "new": { "type": "string" },
        }),
        &["path", "old", "new"],
    );
    let message = object(
        json!({ "subject": { "type": "string" }, "body": { "type": "string" } }),
        &["subject"],
    );
    let mut all = json!({
        "notes": { "type": "array", "items": note },
        "edits": { "type": "array", "items": edit },
        "edit_title": nullable(json!({ "type": "string" })),
        "commit_message": nullable(message),
        "remember": { "type": "array", "items": { "type": "string" } },
    });
    if let Some(properties) = all.as_object_mut()
        && !fields.is_empty()
    {
        properties.retain(|name, _| fields.contains(&name.as_str()));
    }
    object(all, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_null_fields_mean_empty() {
        assert!(Reply::parse("").unwrap().is_empty());
        assert!(Reply::parse("{}").unwrap().is_empty());
        let nulls = r#"{"notes":null,"edits":null,"edit_title":null,"commit_message":null,"remember":null}"#;
        assert!(Reply::parse(nulls).unwrap().is_empty());
        let fenced =
            "```json\n{\"commit_message\":{\"subject\":\"Fix the parser\",\"body\":null}}\n```";
        let reply = Reply::parse(fenced).unwrap();
        assert_eq!(reply.commit_message.unwrap().subject, "Fix the parser");
        assert!(matches!(Reply::parse("{\"notes\": [}"), Err(ContractError::NotJson(_))));
    }

    #[test]
    fn edits_must_point_at_text_found_once_in_a_file_that_may_be_sent() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("lib.rs"), "fn a() {}\nfn b() {}\nfn b() {}\n").unwrap();
        let edit = |path: &str, old: &str| Reply {
            edits: vec![Edit { path: path.into(), old: old.into(), new: "x".into() }],
            ..Reply::default()
        };
        let all = |_: &Path| true;
        assert!(edit("lib.rs", "fn a() {}").check(dir.path(), all).is_ok());
        let why = |r: Reply, may: &dyn Fn(&Path) -> bool| {
            r.check(dir.path(), may).unwrap_err().to_string()
        };
        assert!(why(edit("lib.rs", "fn b() {}"), &all).contains("2 times"));
        assert!(why(edit("lib.rs", "fn c()"), &all).contains("exactly as quoted"));
        assert!(why(edit("../etc/passwd", "root"), &all).contains("inside the repository"));
        assert!(why(edit(".git/config", "x"), &all).contains("inside the repository"));
        assert!(why(edit("lib.rs", "fn a"), &|_: &Path| false).contains("does not send"));
    }

    #[test]
    fn the_strict_schema_requires_every_property() {
        let strict = schema(true, &[]);
        let required = strict["required"].as_array().unwrap();
        assert_eq!(required.len(), FIELDS.len());
        assert_eq!(required.len(), strict["properties"].as_object().unwrap().len());
        assert_eq!(strict["additionalProperties"], false);
        let loose = schema(false, &[]);
        assert!(loose["required"].as_array().unwrap().is_empty());
        let one = schema(true, &["commit_message"]);
        assert_eq!(one["required"], serde_json::json!(["commit_message"]));
    }
}
