//! What a lock-file update changes: the packages' versions before and after, read from
//! `Cargo.lock` or `package-lock.json`, and which changes cross a major version (a
//! breaking change by semver: `1.x → 2.x`, and `0.2 → 0.3` below 1.0).

use std::collections::{BTreeMap, BTreeSet};

/// Every package in a lock file, by name, with the versions locked (a package can be
/// locked at several versions at once).
pub type Locked = BTreeMap<String, BTreeSet<String>>;

/// One package whose locked versions differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub name: String,
    pub before: Vec<String>,
    pub after: Vec<String>,
    /// It moves to a version outside the compatible range of every version it had.
    pub major: bool,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = |v: &[String]| if v.is_empty() { "none".to_owned() } else { v.join(", ") };
        match (self.before.is_empty(), self.after.is_empty()) {
            (true, _) => write!(f, "{} {} (new)", self.name, side(&self.after))?,
            (_, true) => write!(f, "{} {} (removed)", self.name, side(&self.before))?,
            _ => write!(f, "{} {} → {}", self.name, side(&self.before), side(&self.after))?,
        }
        if self.major { f.write_str(" (major)") } else { Ok(()) }
    }
}

/// The packages in a `Cargo.lock`; `None` if it does not parse.
pub fn cargo_lock(text: &str) -> Option<Locked> {
    let table: toml::Table = text.parse().ok()?;
    let mut locked = Locked::new();
    for package in table.get("package")?.as_array()? {
        let name = package.get("name")?.as_str()?;
        let version = package.get("version")?.as_str()?;
        locked.entry(name.to_owned()).or_default().insert(version.to_owned());
    }
    Some(locked)
}

/// The packages in a `package-lock.json` (format 1, 2 or 3); `None` if it does not parse.
pub fn npm_lock(text: &str) -> Option<Locked> {
    let json: serde_json::Value = serde_json::from_str(text).ok()?;
    let mut locked = Locked::new();
    if let Some(packages) = json.get("packages").and_then(|p| p.as_object()) {
        for (path, package) in packages {
            // "" is the project itself; "node_modules/a/node_modules/@s/b" is @s/b.
            let Some((_, name)) = path.rsplit_once("node_modules/") else { continue };
            if let Some(version) = package.get("version").and_then(|v| v.as_str()) {
                locked.entry(name.to_owned()).or_default().insert(version.to_owned());
            }
        }
    } else {
        npm_v1(json.get("dependencies")?, &mut locked);
    }
    Some(locked)
}

fn npm_v1(dependencies: &serde_json::Value, locked: &mut Locked) {
    let Some(dependencies) = dependencies.as_object() else { return };
    for (name, package) in dependencies {
        if let Some(version) = package.get("version").and_then(|v| v.as_str()) {
            locked.entry(name.clone()).or_default().insert(version.to_owned());
        }
        if let Some(nested) = package.get("dependencies") {
            npm_v1(nested, locked);
        }
    }
}

/// The lock-file format an npm lock file declares (`lockfileVersion`).
pub fn npm_lock_format(text: &str) -> Option<u64> {
    let json: serde_json::Value = serde_json::from_str(text).ok()?;
    json.get("lockfileVersion")?.as_u64()
}

/// What changed from `before` to `after`, by package name.
pub fn between(before: &Locked, after: &Locked) -> Vec<Change> {
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let none = BTreeSet::new();
    names
        .into_iter()
        .filter_map(|name| {
            let (old, new) = (before.get(name).unwrap_or(&none), after.get(name).unwrap_or(&none));
            if old == new {
                return None;
            }
            let old_lines: BTreeSet<String> = old.iter().filter_map(|v| line(v)).collect();
            let major = !old.is_empty()
                && new.iter().filter_map(|v| line(v)).any(|l| !old_lines.contains(&l));
            Some(Change {
                name: name.clone(),
                before: old.difference(new).cloned().collect(),
                after: new.difference(old).cloned().collect(),
                major,
            })
        })
        .collect()
}

/// The compatible line a version belongs to: `2` for 2.x.y, `0.3` for 0.3.y, `0.0.4`.
fn line(version: &str) -> Option<String> {
    let v = semver::Version::parse(version).ok()?;
    Some(match (v.major, v.minor) {
        (0, 0) => format!("0.0.{}", v.patch),
        (0, minor) => format!("0.{minor}"),
        (major, _) => major.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_changes_say_which_cross_a_major() {
        let before = cargo_lock(concat!(
            "version = 4\n\n",
            "[[package]]\nname = \"serde\"\nversion = \"1.0.1\"\n\n",
            "[[package]]\nname = \"old\"\nversion = \"0.2.9\"\n\n",
            "[[package]]\nname = \"syn\"\nversion = \"1.0.5\"\n\n",
            "[[package]]\nname = \"syn\"\nversion = \"2.0.1\"\n",
        ))
        .unwrap();
        let after = cargo_lock(concat!(
            "version = 4\n\n",
            "[[package]]\nname = \"serde\"\nversion = \"1.0.9\"\n\n",
            "[[package]]\nname = \"old\"\nversion = \"0.3.0\"\n\n",
            "[[package]]\nname = \"syn\"\nversion = \"1.0.5\"\n\n",
            "[[package]]\nname = \"syn\"\nversion = \"2.0.7\"\n\n",
            "[[package]]\nname = \"fresh\"\nversion = \"1.0.0\"\n",
        ))
        .unwrap();
        let changes: Vec<String> = between(&before, &after).iter().map(|c| c.to_string()).collect();
        assert_eq!(
            changes,
            [
                "fresh 1.0.0 (new)",
                "old 0.2.9 → 0.3.0 (major)",
                "serde 1.0.1 → 1.0.9",
                "syn 2.0.1 → 2.0.7",
            ]
        );
    }

    #[test]
    fn npm_locks_of_every_format_are_read_with_nested_and_scoped_packages() {
        let v3 = r#"{"lockfileVersion": 3, "packages": {
            "": {"name": "web"},
            "node_modules/prettier": {"version": "2.8.1"},
            "node_modules/a/node_modules/@s/b": {"version": "1.2.0"}}}"#;
        let locked = npm_lock(v3).unwrap();
        assert_eq!(locked["prettier"], BTreeSet::from(["2.8.1".to_owned()]));
        assert_eq!(locked["@s/b"], BTreeSet::from(["1.2.0".to_owned()]));
        assert_eq!(npm_lock_format(v3), Some(3));
        let v1 = r#"{"lockfileVersion": 1, "dependencies": {
            "a": {"version": "1.0.0", "dependencies": {"b": {"version": "2.0.0"}}}}}"#;
        let locked = npm_lock(v1).unwrap();
        assert_eq!(locked.len(), 2);
        let after = npm_lock(&v3.replace("2.8.1", "3.10.1")).unwrap();
        let change = &between(&npm_lock(v3).unwrap(), &after)[0];
        assert_eq!(change.to_string(), "prettier 2.8.1 → 3.10.1 (major)");
    }
}
