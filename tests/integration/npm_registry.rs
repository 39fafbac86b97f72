//! `lockfile` on an npm project against a registry the test serves (packuments and
//! tarballs over HTTP, as registry.npmjs.org does), with the real npm.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::common::*;

/// Published versions: package name → version → tarball bytes.
type Published = Arc<Mutex<BTreeMap<String, BTreeMap<String, Vec<u8>>>>>;

struct Registry {
    url: String,
    published: Published,
    dir: PathBuf,
}

impl Registry {
    fn start(dir: PathBuf) -> Registry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let published = Published::default();
        let (shared, base) = (published.clone(), url.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (shared, base) = (shared.clone(), base.clone());
                std::thread::spawn(move || serve(stream, &shared, &base));
            }
        });
        Registry { url, published, dir }
    }

    /// Publishes `name@version`, whose `value()` returns `value`.
    fn publish(&self, name: &str, version: &str, value: u32) {
        let root = self.dir.join(format!("{name}-{version}"));
        let package = root.join("package");
        std::fs::create_dir_all(&package).unwrap();
        std::fs::write(
            package.join("package.json"),
            format!(
                "{{\"name\": \"{name}\", \"version\": \"{version}\", \"main\": \"index.js\"}}\n"
            ),
        )
        .unwrap();
        std::fs::write(package.join("index.js"), format!("exports.value = () => {value};\n"))
            .unwrap();
        let tgz = root.join("package.tgz");
        let tar = std::process::Command::new("tar")
            .args(["-czf", tgz.to_str().unwrap(), "package"])
            .current_dir(&root)
            .status()
            .unwrap();
        assert!(tar.success());
        let bytes = std::fs::read(tgz).unwrap();
        let mut published = self.published.lock().unwrap();
        published.entry(name.into()).or_default().insert(version.into(), bytes);
    }
}

fn serve(stream: std::net::TcpStream, published: &Published, base: &str) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let published = published.lock().unwrap();
    let (status, body, kind) = if let Some(file) = path.strip_prefix("/-/") {
        // /-/NAME/VERSION.tgz
        let found = file
            .strip_suffix(".tgz")
            .and_then(|f| f.rsplit_once('/'))
            .and_then(|(name, version)| published.get(name).and_then(|v| v.get(version)).cloned());
        match found {
            Some(bytes) => ("200 OK", bytes, "application/octet-stream"),
            None => ("404 Not Found", b"{}".to_vec(), "application/json"),
        }
    } else {
        let name = path.trim_start_matches('/');
        match published.get(name) {
            Some(versions) => {
                let latest = versions.keys().max_by_key(|v| semver_key(v)).unwrap().clone();
                let listed: serde_json::Map<String, serde_json::Value> = versions
                    .keys()
                    .map(|v| {
                        let meta = serde_json::json!({
                            "name": name,
                            "version": v,
                            "dist": { "tarball": format!("{base}/-/{name}/{v}.tgz") },
                        });
                        (v.clone(), meta)
                    })
                    .collect();
                let packument = serde_json::json!({
                    "name": name,
                    "dist-tags": { "latest": latest },
                    "versions": listed,
                });
                ("200 OK", packument.to_string().into_bytes(), "application/json")
            }
            None => ("404 Not Found", b"{}".to_vec(), "application/json"),
        }
    };
    let mut stream = stream;
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

fn semver_key(v: &str) -> Vec<u64> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

fn npm(repo: &Path, env: &Env, args: &[&str]) {
    let out = std::process::Command::new("npm")
        .args(args)
        .current_dir(repo)
        .env("HOME", env.path("home"))
        .env("npm_config_cache", env.path("home/.npm"))
        .output()
        .expect("npm must be installed (.ci/run installs it)");
    assert!(out.status.success(), "npm {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// An npm project on `registry` depending on helper ^1 and tool "latest", installed
/// with a lock file of `format`; then newer versions of both are published.
fn project(env: &Env, registry: &Registry, format: &str) -> (Repo, String) {
    registry.publish("tool", "2.0.0", 2);
    registry.publish("helper", "1.0.0", 1);
    let repo = env.repo("web");
    repo.write(".npmrc", &format!("registry={}/\n", registry.url));
    repo.write(".gitignore", "node_modules\n");
    repo.write(
        "package.json",
        concat!(
            "{\n  \"name\": \"web\",\n  \"version\": \"1.0.0\",\n  \"private\": true,\n",
            "  \"scripts\": { \"test\": \"node test.js\" },\n",
            "  \"dependencies\": { \"helper\": \"^1.0.0\" },\n",
            "  \"devDependencies\": { \"tool\": \"latest\" }\n}\n"
        ),
    );
    // Holds only while tool is 2.x: a test that a breaking update breaks.
    repo.write(
        "test.js",
        "const assert = require('assert');\nassert.strictEqual(require('tool').value(), 2);\nassert.strictEqual(require('helper').value(), 1);\n",
    );
    npm(&repo.path, env, &["install", "--lockfile-version", format, "--no-audit", "--no-fund"]);
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "web"]);
    let lock = repo.read("package-lock.json").unwrap();
    assert!(lock.contains(&format!("\"lockfileVersion\": {format}")), "{lock}");
    registry.publish("tool", "3.0.0", 3);
    registry.publish("helper", "1.1.0", 1);
    env.write_config("[tasks.snapshot]\nenabled = false\n\n[tasks.format]\nenabled = false\n");
    env.ok(&["watch", repo.str()]);
    (repo, lock)
}

#[test]
fn an_npm_update_keeps_the_lock_format_splits_the_major_and_tests_the_new_lock() {
    let env = Env::new();
    let registry = Registry::start(env.path("registry"));
    let (repo, lock) = project(&env, &registry, "2");
    let _daemon = env.start_daemon();
    env.ok(&["run", "lockfile", "--repo", repo.str()]);

    let updates: Vec<serde_json::Value> =
        env.queue(false).into_iter().filter(|p| p["action"] == "deps.update").collect();
    let find = |title: &str| {
        updates.iter().find(|p| p["title"] == title).cloned().unwrap_or_else(|| {
            panic!("no {title:?} in {:?}", updates.iter().map(|p| &p["title"]).collect::<Vec<_>>())
        })
    };
    let minor = find("update helper 1.0.0 → 1.1.0 (package-lock.json)");
    let major = find("update tool 2.0.0 → 3.0.0 (major) (package-lock.json)");
    assert_eq!(updates.len(), 2);
    let why = minor["why"].as_str().unwrap();
    assert!(why.contains("`npm test --silent` passes, as it did before the update"), "{why}");
    // The tests ran on the new lock, installed in the copy: tool 3 fails them.
    let why = major["why"].as_str().unwrap();
    assert!(why.contains("`npm test --silent` fails after the update (it passed before)"), "{why}");
    // The user's node_modules was never written: tool is still 2.0.0 there.
    let installed = repo.read("node_modules/tool/package.json").unwrap();
    assert!(installed.contains("\"2.0.0\""), "{installed}");
    assert_eq!(repo.read("package-lock.json").unwrap(), lock);

    env.ok(&["approve", &minor["id"].to_string()]);
    let updated = repo.read("package-lock.json").unwrap();
    assert!(updated.contains("\"lockfileVersion\": 2"), "the format changed: {updated}");
    assert!(
        updated.contains("helper/-/helper/1.1.0.tgz") || updated.contains("\"1.1.0\""),
        "{updated}"
    );
    assert!(!updated.contains("3.0.0"), "the major jump came in with the rest: {updated}");
}

#[test]
fn the_tests_before_the_update_run_on_the_current_lock_installed_not_on_stale_modules() {
    let env = Env::new();
    let registry = Registry::start(env.path("registry"));
    let (repo, _) = project(&env, &registry, "3");
    // The user's node_modules has drifted from the lock (a hand edit, a half install):
    // the tests fail on it, and would have blamed the old lock for it.
    repo.write("node_modules/helper/index.js", "exports.value = () => 99;\n");
    let _daemon = env.start_daemon();
    env.ok(&["run", "lockfile", "--repo", repo.str()]);
    let minor = env
        .queue(false)
        .into_iter()
        .find(|p| p["title"] == "update helper 1.0.0 → 1.1.0 (package-lock.json)")
        .expect("the minor update");
    let why = minor["why"].as_str().unwrap();
    assert!(why.contains("`npm test --silent` passes, as it did before the update"), "{why}");
    assert_eq!(repo.read("node_modules/helper/index.js").unwrap(), "exports.value = () => 99;\n");
}

#[test]
fn a_lock_npm_itself_cannot_install_is_not_proposed_and_says_why() {
    let env = Env::new();
    let registry = Registry::start(env.path("registry"));
    // npm 10 writes a format-1 lock that `npm ci` then refuses as out of sync.
    let (repo, lock) = project(&env, &registry, "1");
    let daemon = env.start_daemon();
    env.kairos(&["run", "lockfile", "--repo", repo.str()]);
    let log = wait_log(&env, "lockfile (kairos run): failed", &daemon);
    assert!(log.contains("the new lock cannot be installed: `npm ci` failed"), "{log}");
    assert!(env.queue(false).iter().all(|p| p["action"] != "deps.update"));
    assert_eq!(repo.read("package-lock.json").unwrap(), lock);
}
