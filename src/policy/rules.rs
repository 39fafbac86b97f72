//! Policy files: `[defaults]` and `[[rule]]`s, parsed with the position of every value so
//! an error names file, line and column, and checked against their own examples.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobMatcher};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::Autonomy;
use super::subject::Subject;
use super::window::{LocalTime, Window};

/// Where a rule comes from; a repository's own file can only tighten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// `policies/default.toml`, shipped in the binary.
    Default,
    /// `$XDG_CONFIG_HOME/kairos/policies/*.toml`.
    User,
    /// A repository's `.kairos/policy.toml`.
    Repo,
}

/// Which rule: its id, file and layer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RuleRef {
    pub id: String,
    pub file: PathBuf,
    pub layer: Layer,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub at: RuleRef,
    pub autonomy: Autonomy,
    pub shadow: bool,
    action: Option<GlobMatcher>,
    task: Option<String>,
    repo: Option<GlobMatcher>,
    branch: Vec<GlobMatcher>,
    paths: Option<Gitignore>,
    max_changed_lines: Option<u64>,
    max_files: Option<u64>,
    window: Option<Window>,
}

/// `[defaults]` of a policy file.
#[derive(Debug, Clone, Default)]
pub struct FileDefaults {
    pub quiet_hours: Option<Window>,
    pub max_auto_per_hour: Option<u32>,
    pub demote_after_rejections: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct PolicyFile {
    pub path: PathBuf,
    pub defaults: FileDefaults,
    pub rules: Vec<Rule>,
}

/// A problem in a policy file, located, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", path.display())]
pub struct PolicyError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    defaults: Option<RawDefaults>,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    quiet_hours: Option<Spanned<String>>,
    max_auto_per_hour: Option<u32>,
    demote_after_rejections: Option<u32>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    // Plain strings: toml cannot carry positions through an untagged enum.
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    autonomy: Spanned<String>,
    action: Option<Spanned<String>>,
    task: Option<String>,
    repo: Option<Spanned<String>>,
    branch: Option<OneOrMany>,
    paths: Option<Vec<Spanned<String>>>,
    max_changed_lines: Option<u64>,
    max_files: Option<u64>,
    window: Option<Spanned<String>>,
    mode: Option<Spanned<String>>,
    examples: Option<Spanned<RawExamples>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExamples {
    #[serde(default, rename = "match")]
    matches: Vec<Subject>,
    #[serde(default)]
    not_match: Vec<Subject>,
}

impl Rule {
    /// Whether the rule speaks about `subject` at `now`.
    pub fn matches(&self, subject: &Subject, now: LocalTime) -> bool {
        if self.action.as_ref().is_some_and(|g| !g.is_match(subject.action.name())) {
            return false;
        }
        if self.task.as_ref().is_some_and(|t| subject.task.as_deref() != Some(t)) {
            return false;
        }
        if let Some(repo) = &self.repo
            && !subject.repo.as_ref().is_some_and(|r| repo.is_match(r))
        {
            return false;
        }
        if !self.branch.is_empty()
            && !subject.branch.as_ref().is_some_and(|b| self.branch.iter().any(|g| g.is_match(b)))
        {
            return false;
        }
        if let Some(paths) = &self.paths {
            // Every touched path must be covered; a proposal touching no path is not.
            if subject.paths.is_empty()
                || !subject.paths.iter().all(|p| {
                    // The matcher wants repository-relative paths; anything else cannot match.
                    let rel = Path::new(p);
                    !rel.has_root()
                        && rel.components().all(|c| matches!(c, std::path::Component::Normal(_)))
                        && paths.matched_path_or_any_parents(rel, false).is_ignore()
                })
            {
                return false;
            }
        }
        if self.max_changed_lines.is_some_and(|max| subject.lines > max) {
            return false;
        }
        if self.max_files.is_some_and(|max| subject.file_count() > max) {
            return false;
        }
        if self.window.as_ref().is_some_and(|w| !w.contains(subject.local_time(now))) {
            return false;
        }
        true
    }
}

/// Parses the policy file `text` read from `path`, in `layer`, and runs its examples.
pub fn parse(text: &str, path: &Path, layer: Layer) -> Result<PolicyFile, PolicyError> {
    let at = |span: std::ops::Range<usize>, message: String| {
        let (line, column) = crate::config::line_column(text, span.start);
        PolicyError { path: path.to_owned(), line, column, message }
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        at(
            e.span().unwrap_or(0..0),
            format!(
                "{}; `kairos policy check` explains the format, policies/default.toml shows it",
                e.message().trim()
            ),
        )
    })?;
    let mut defaults = FileDefaults::default();
    if let Some(d) = raw.defaults {
        if let Some(q) = d.quiet_hours {
            defaults.quiet_hours = Some(Window::parse(q.get_ref()).map_err(|m| at(q.span(), m))?);
        }
        defaults.max_auto_per_hour = d.max_auto_per_hour;
        defaults.demote_after_rejections = d.demote_after_rejections;
    }
    let mut rules = Vec::new();
    let mut seen_ids: Vec<String> = Vec::new();
    for r in raw.rule {
        let id = r.id.get_ref().clone();
        if seen_ids.contains(&id) {
            return Err(at(
                r.id.span(),
                format!("a second rule with id {id:?}; ids must be unique in a file"),
            ));
        }
        seen_ids.push(id.clone());
        let autonomy: Autonomy =
            r.autonomy.get_ref().parse().map_err(|m| at(r.autonomy.span(), m))?;
        let glob = |s: &Spanned<String>| {
            Glob::new(s.get_ref())
                .map(|g| g.compile_matcher())
                .map_err(|e| at(s.span(), format!("invalid glob {:?}: {e}", s.get_ref())))
        };
        let repo = r
            .repo
            .as_ref()
            .map(|s| {
                let expanded = expand_home(s.get_ref());
                Glob::new(&expanded)
                    .map(|g| g.compile_matcher())
                    .map_err(|e| at(s.span(), format!("invalid path glob {:?}: {e}", s.get_ref())))
            })
            .transpose()?;
        let branch_globs = match r.branch {
            None => vec![],
            Some(OneOrMany::One(s)) => vec![s],
            Some(OneOrMany::Many(list)) => list,
        };
        let branch = branch_globs
            .iter()
            .map(|b| {
                Glob::new(b).map(|g| g.compile_matcher()).map_err(|e| {
                    at(r.id.span(), format!("rule {id:?}: invalid branch glob {b:?}: {e}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let paths = match &r.paths {
            None => None,
            Some(list) => {
                let mut builder = GitignoreBuilder::new("");
                for p in list {
                    let invalid = |e: &dyn std::fmt::Display| {
                        at(p.span(), format!("invalid path pattern {:?}: {e}", p.get_ref()))
                    };
                    // The gitignore matcher takes `src/[abc` literally; the pattern's
                    // author meant a glob, so an unclosed class is an error.
                    let glob = p.get_ref().trim_start_matches('!').trim_start_matches('/');
                    Glob::new(glob.trim_end_matches('/')).map_err(|e| invalid(&e))?;
                    builder.add_line(None, p.get_ref()).map_err(|e| invalid(&e))?;
                }
                Some(builder.build().map_err(|e| at(list[0].span(), e.to_string()))?)
            }
        };
        let shadow = match &r.mode {
            None => false,
            Some(m) if m.get_ref() == "shadow" => true,
            Some(m) if m.get_ref() == "enforce" => false,
            Some(m) => {
                return Err(at(
                    m.span(),
                    format!(
                        "mode is \"shadow\" (log what it would decide) or \"enforce\", not {:?}",
                        m.get_ref()
                    ),
                ));
            }
        };
        let rule = Rule {
            at: RuleRef { id: id.clone(), file: path.to_owned(), layer },
            autonomy,
            shadow,
            action: r.action.as_ref().map(glob).transpose()?,
            task: r.task,
            repo,
            branch,
            paths,
            max_changed_lines: r.max_changed_lines,
            max_files: r.max_files,
            window: r
                .window
                .as_ref()
                .map(|w| Window::parse(w.get_ref()).map_err(|m| at(w.span(), m)))
                .transpose()?,
        };
        if let Some(examples) = &r.examples {
            let now = LocalTime { weekday: chrono::Weekday::Wed, minute: 12 * 60 };
            for s in &examples.get_ref().matches {
                if !rule.matches(s, now) {
                    return Err(at(
                        examples.span(),
                        format!("rule {id:?} does not match its example {}", describe(s)),
                    ));
                }
            }
            for s in &examples.get_ref().not_match {
                if rule.matches(s, now) {
                    return Err(at(
                        examples.span(),
                        format!("rule {id:?} matches its not_match example {}", describe(s)),
                    ));
                }
            }
        }
        rules.push(rule);
    }
    Ok(PolicyFile { path: path.to_owned(), defaults, rules })
}

fn describe(s: &Subject) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn expand_home(text: &str) -> String {
    match text.strip_prefix("~/") {
        Some(rest) => {
            format!("{}/{rest}", std::env::var("HOME").unwrap_or_default().trim_end_matches('/'))
        }
        None => text.to_owned(),
    }
}
