//! `kairos config show [--json]`: every setting in force and where it came from (built
//! in, a line of `config.toml`, or a per-repository override). It reads the file the
//! daemon reads, so it works without the daemon; a file with an error is reported as
//! the daemon reports it, which keeps its last good settings meanwhile.

use std::path::Path;
use std::process::ExitCode;

use serde_json::Value;

use super::output::{CYAN, DIM, paint};
use super::{CliResult, Failure};
use crate::config::{Config, Origin, Setting};
use crate::paths::Paths;
use crate::read::{ReadError, SETTINGS_LIMIT, read_text};

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// The effective settings, each with where it came from.
    Show {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(paths: &Paths, action: Action) -> CliResult {
    let Action::Show { json } = action;
    let path = paths.config_file();
    let (text, exists) = match read_text(&path, SETTINGS_LIMIT) {
        Ok(text) => (text, true),
        Err(ReadError::NotFound) => (String::new(), false),
        Err(e) => return Err(Failure::new(format!("cannot read {}: {e}", path.display()))),
    };
    let config = Config::parse(&text, &path).map_err(|e| {
        Failure::new(e.to_string()).hint(
            "fix that line; until then the daemon keeps its last good settings (`kairos status` shows the error too)",
        )
    })?;
    let settings = config.settings(&text);
    if json {
        super::output::print_json(&serde_json::json!({
            "file": path,
            "exists": exists,
            "settings": settings,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    print_human(&path, exists, &settings);
    Ok(ExitCode::SUCCESS)
}

fn print_human(path: &Path, exists: bool, settings: &[Setting]) {
    let file_name = path.file_name().map_or("config.toml".into(), |n| n.to_string_lossy());
    let rows: Vec<(String, String, String)> = settings
        .iter()
        .map(|s| {
            let origin = match s.origin {
                Origin::Default => paint("built-in default", DIM),
                Origin::File { line } => paint(&format!("{file_name}:{line}"), CYAN),
                Origin::Override { line } => {
                    paint(&format!("{file_name}:{line} (this repository)"), CYAN)
                }
            };
            (s.key.clone(), render(&s.value), origin)
        })
        .collect();
    let key_width = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let value_width = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0).min(24);
    let line = |(key, value, origin): &(String, String, String)| {
        crate::out!("{key:<key_width$}  {value:<value_width$}  {origin}");
    };

    let state = if exists { "" } else { " (not found: every value is built in)" };
    crate::out!("{}", paint(&format!("# {}{state}", path.display()), DIM));
    let mut current_repo = None;
    for (setting, row) in settings.iter().zip(&rows) {
        if setting.repo.is_some() && setting.repo != current_repo {
            current_repo = setting.repo.clone();
            let repo = setting.repo.as_deref().expect("checked").display();
            crate::out!("");
            crate::out!("{}", paint(&format!("# in {repo} (everything else as above)"), DIM));
        }
        line(row);
    }
}

/// A value as it would be written in the file; `null` is a setting left to kairos.
fn render(value: &Value) -> String {
    let text = match value {
        Value::Null => "(not set)".to_owned(),
        Value::String(s) => serde_json::to_string(s).expect("a string serialises"),
        Value::Array(items) => {
            format!("[{}]", items.iter().map(render).collect::<Vec<_>>().join(", "))
        }
        Value::Object(map) => {
            let fields: Vec<String> =
                map.iter().map(|(k, v)| format!("{k} = {}", render(v))).collect();
            format!("{{ {} }}", fields.join(", "))
        }
        other => other.to_string(),
    };
    super::output::visible(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_as_toml_writes_them() {
        assert_eq!(render(&serde_json::json!("5m")), "\"5m\"");
        assert_eq!(render(&serde_json::json!(["cargo", "check"])), "[\"cargo\", \"check\"]");
        assert_eq!(render(&serde_json::json!({"A": "(hidden)"})), "{ A = \"(hidden)\" }");
        assert_eq!(render(&serde_json::json!(false)), "false");
        assert_eq!(render(&Value::Null), "(not set)");
    }
}
