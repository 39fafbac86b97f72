//! Where each key of the config file was written: its line, for `kairos config show`.
//! The typed `Config` keeps values, not positions; this reads the same text once more
//! with the TOML parser's own spans, so a key written as a table header
//! (`[tasks.format]`), a dotted key (`tasks.format.quiet = …`) or an inline table is
//! found the same way.

use std::collections::BTreeMap;

use toml::de::{DeTable, DeValue};

/// Key path (`["tasks", "format", "quiet"]`) → the 1-based line it was written on.
#[derive(Debug, Default)]
pub struct Origins {
    lines: BTreeMap<Vec<String>, usize>,
}

impl Origins {
    /// The keys of `text`; text that does not parse has none (its error is reported by
    /// `Config::parse`, which runs first).
    pub fn locate(text: &str) -> Origins {
        let mut origins = Origins::default();
        if let Ok(table) = DeTable::parse(text) {
            origins.walk(text, table.get_ref(), &mut Vec::new());
        }
        origins
    }

    fn walk(&mut self, text: &str, table: &DeTable<'_>, path: &mut Vec<String>) {
        for (key, value) in table {
            path.push(key.get_ref().to_string());
            let (line, _) = super::line_column(text, key.span().start);
            // A table may be named more than once (`[tasks.format]` after a dotted
            // `tasks.format.quiet`): the first mention is where the reader looks.
            self.lines.entry(path.clone()).or_insert(line);
            if let DeValue::Table(inner) = value.get_ref() {
                self.walk(text, inner, path);
            }
            path.pop();
        }
    }

    /// The line `key` was written on, if it was.
    pub fn line(&self, key: &[&str]) -> Option<usize> {
        let key: Vec<String> = key.iter().map(|s| s.to_string()).collect();
        self.lines.get(&key).copied()
    }

    /// The names directly under `prefix` that the file sets (`["repos"]` → each
    /// repository key as written).
    pub fn children(&self, prefix: &[&str]) -> Vec<String> {
        let mut names: Vec<String> = self
            .lines
            .keys()
            .filter(|k| k.len() == prefix.len() + 1 && k.iter().zip(prefix).all(|(a, b)| a == b))
            .map(|k| k[prefix.len()].clone())
            .collect();
        names.dedup();
        names
    }
}

/// A key path as TOML writes it: bare segments where allowed, quoted otherwise.
pub fn dotted(key: &[&str]) -> String {
    key.iter()
        .map(|segment| {
            let bare = !segment.is_empty()
                && segment.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if bare {
                segment.to_string()
            } else {
                serde_json::to_string(segment).expect("a string serialises")
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_on_their_lines_however_they_are_written() {
        let text = "\
tasks.format.quiet = \"5s\"

[daemon]
idle = \"10m\"

[tasks.lockfile]
env = { RUST_LOG = \"info\" }

[repos.\"~/src/api\".tasks.format]
enabled = false
";
        let origins = Origins::locate(text);
        assert_eq!(origins.line(&["daemon", "idle"]), Some(4));
        assert_eq!(origins.line(&["tasks", "format", "quiet"]), Some(1));
        assert_eq!(origins.line(&["tasks", "lockfile", "env"]), Some(7));
        assert_eq!(origins.line(&["tasks", "lockfile", "env", "RUST_LOG"]), Some(7));
        assert_eq!(origins.line(&["repos", "~/src/api", "tasks", "format", "enabled"]), Some(10));
        assert_eq!(origins.line(&["daemon", "timezone"]), None);
        assert_eq!(origins.children(&["repos"]), vec!["~/src/api".to_owned()]);
        assert_eq!(origins.children(&["tasks"]), vec!["format".to_owned(), "lockfile".to_owned()]);
    }

    #[test]
    fn keys_are_written_back_quoted_where_toml_needs_it() {
        assert_eq!(dotted(&["tasks", "prune-branches", "enabled"]), "tasks.prune-branches.enabled");
        assert_eq!(dotted(&["repos", "~/src/api", "tasks"]), "repos.\"~/src/api\".tasks");
    }
}
