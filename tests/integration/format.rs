//! `format` proposes only what the project keeps formatted, judged with the project's own
//! formatter (rustfmt; prettier from the npm registry) at what was last pushed.

use crate::common::*;

fn format_proposals(env: &Env) -> Vec<serde_json::Value> {
    env.queue(false).into_iter().filter(|p| p["task"] == "format").collect()
}

fn paths(p: &serde_json::Value) -> Vec<String> {
    let files = p["change"]["files"].as_array().unwrap();
    files.iter().map(|f| f["path"].as_str().unwrap().to_owned()).collect()
}

const QUICK: &str = "[tasks.format]\nquiet = \"300ms\"\n\n[tasks.snapshot]\nenabled = false\n";

/// A Cargo project whose `src/main.rs` is formatted and whose `src/legacy.rs` is not.
fn rust_project(env: &Env) -> Repo {
    let repo = env.repo("crate");
    repo.write(
        "Cargo.toml",
        "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    repo.write("src/main.rs", "mod legacy;\n\nfn main() {\n    legacy::run();\n}\n");
    repo.write("src/legacy.rs", "pub fn run(){let a=1;\n  let _b=a;}\n");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "crate"]);
    env.write_config(QUICK);
    repo
}

#[test]
fn only_files_the_project_keeps_formatted_are_proposed_and_the_rest_is_named() {
    let env = Env::new();
    let repo = rust_project(&env);
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    repo.write(
        "src/main.rs",
        "mod legacy;\nmod fresh;\n\nfn main(){legacy::run();\n  fresh::go();}\n",
    );
    repo.write("src/legacy.rs", "pub fn run(){let a=2;\n  let _b=a;}\n");
    // New, with formatted neighbours: the project's convention covers it.
    repo.write("src/fresh.rs", "pub fn go(){}\n");
    let p = wait_for("a format proposal", || format_proposals(&env).into_iter().next(), &daemon);
    assert_eq!(paths(&p), ["src/fresh.rs", "src/main.rs"], "{p}");
    let why = p["why"].as_str().unwrap();
    assert!(why.starts_with("rustfmt would reformat src/fresh.rs and src/main.rs ("), "{why}");
    assert!(why.contains("changed since HEAD"), "{why}");
    assert!(
        why.contains("left alone, as the project does not keep them formatted: src/legacy.rs (not formatted at HEAD)"),
        "{why}"
    );
    let shown = env.ok(&["show", &p["id"].to_string()]);
    assert!(shown.contains("src/legacy.rs (not formatted at HEAD)"), "{shown}");
    env.ok(&["approve", &p["id"].to_string()]);
    assert_eq!(repo.read("src/legacy.rs").unwrap(), "pub fn run(){let a=2;\n  let _b=a;}\n");
    assert!(repo.read("src/main.rs").unwrap().contains("    fresh::go();\n"));
}

#[test]
fn a_file_that_did_not_parse_at_head_does_not_hide_the_others() {
    let env = Env::new();
    let repo = rust_project(&env);
    repo.commit_file("src/half.rs", "pub fn half( {\n", "half-written");
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    // The user finishes it (unformatted) and edits main.rs.
    repo.write("src/half.rs", "pub fn half(){}\n");
    repo.write("src/main.rs", "mod legacy;\n\nfn main(){legacy::run();}\n");
    let p = wait_for("a format proposal", || format_proposals(&env).into_iter().next(), &daemon);
    assert_eq!(paths(&p), ["src/main.rs"], "{p}");
    let why = p["why"].as_str().unwrap();
    assert!(why.contains("src/half.rs (rustfmt could not format it at HEAD)"), "{why}");
}

#[test]
fn what_was_committed_but_not_pushed_is_formatted_on_the_working_tree() {
    let env = Env::new();
    let repo = rust_project(&env);
    let remote = env.path("origin.git");
    let status = std::process::Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(&remote)
        .status()
        .unwrap();
    assert!(status.success());
    repo.git(&["remote", "add", "origin", remote.to_str().unwrap()]);
    repo.git(&["push", "-q", "-u", "origin", "main"]);
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    // Saved and committed before kairos's quiet period was over: nothing is uncommitted.
    repo.commit_file("src/main.rs", "mod legacy;\n\nfn main(){legacy::run();}\n", "call it");
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    let p = wait_for("a format proposal", || format_proposals(&env).into_iter().next(), &daemon);
    assert_eq!(paths(&p), ["src/main.rs"]);
    assert!(p["why"].as_str().unwrap().contains("changed since origin/main"), "{p}");
    env.ok(&["approve", &p["id"].to_string()]);
    assert_eq!(repo.git(&["status", "--porcelain"]), " M src/main.rs", "on the working tree");
    assert!(repo.read("src/main.rs").unwrap().contains("    legacy::run();\n"));
}

/// prettier 3.10.1 from the npm registry, installed by `.ci/run` (or
/// `npm install --prefix ~/.cache/kairos-test-prettier prettier@3.10.1`).
fn prettier_modules() -> std::path::PathBuf {
    let dir = std::env::var_os("KAIROS_TEST_PRETTIER")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(&std::env::var_os("HOME").unwrap())
                .join(".cache/kairos-test-prettier")
        });
    let modules = dir.join("node_modules");
    assert!(
        modules.join(".bin/prettier").exists(),
        "prettier is not installed at {}: run .ci/run, or npm install --prefix {} prettier@3.10.1",
        modules.display(),
        dir.display()
    );
    modules
}

/// A JavaScript project with the project's own prettier (linked as its node_modules),
/// not yet committed.
fn web_project(env: &Env) -> Repo {
    let repo = env.repo("web");
    std::os::unix::fs::symlink(prettier_modules(), repo.path.join("node_modules")).unwrap();
    repo.write(".gitignore", "node_modules\n");
    repo.write("package.json", "{\n  \"name\": \"web\",\n  \"private\": true\n}\n");
    repo
}

#[test]
fn prettier_formats_the_code_the_project_formats_not_its_changelog_or_vendored_pages() {
    let env = Env::new();
    let repo = web_project(&env);
    repo.write(".prettierignore", "vendor/\n");
    repo.write("src/app.js", "export function add(a, b) {\n  return a + b;\n}\n");
    // The changelog is hand-written (star bullets), the vendored page is someone else's.
    repo.write("CHANGELOG.md", "# Changes\n\n* first\n");
    repo.write("vendor/page.html", "<html><body><p>hi</p></body></html>\n");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "web"]);
    env.write_config(QUICK);
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();

    repo.write("src/app.js", "export function add(a,b){\nreturn a+b}\n");
    repo.write("CHANGELOG.md", "# Changes\n\n* first\n* second\n");
    repo.write("vendor/page.html", "<html><body><p>hello</p></body></html>\n");
    let p = wait_for("a format proposal", || format_proposals(&env).into_iter().next(), &daemon);
    assert_eq!(paths(&p), ["src/app.js"], "{p}");
    let why = p["why"].as_str().unwrap();
    assert!(why.starts_with("prettier would reformat src/app.js ("), "{why}");
    assert!(why.contains("CHANGELOG.md (not formatted at HEAD)"), "{why}");
    assert!(
        why.contains("as they are (already formatted, or excluded by the formatter's own ignore file): vendor/page.html"),
        "prettier's own ignore file covers it, and the proposal says so: {why}"
    );
    env.ok(&["approve", &p["id"].to_string()]);
    assert_eq!(
        repo.read("src/app.js").unwrap(),
        "export function add(a, b) {\n  return a + b;\n}\n"
    );
    assert_eq!(repo.read("CHANGELOG.md").unwrap(), "# Changes\n\n* first\n* second\n");
}

#[test]
fn rejected_markdown_formatting_leaves_markdown_alone_and_code_still_formatted() {
    let env = Env::new();
    let repo = web_project(&env);
    repo.write("README.md", "# Web\n\n- one\n");
    repo.write("src/app.js", "export const one = 1;\n");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "web"]);
    env.write_config(QUICK);
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    let mut said = String::new();
    for round in 1..=3 {
        // Star bullets prettier would turn into dashes: the user wants them.
        repo.write("README.md", &format!("# Web\n\n- one\n* note {round}\n"));
        let p = wait_for(
            "a markdown proposal",
            || format_proposals(&env).into_iter().find(|p| paths(p) == ["README.md"]),
            &daemon,
        );
        said = env.ok(&["reject", &p["id"].to_string(), "--reason", "my bullets"]);
    }
    assert!(said.contains("format was rejected 3 times in 30 days for *.md files"), "{said}");
    assert!(said.contains("kairos policy undemote 'format:*.md' --repo"), "{said}");

    repo.write("README.md", "# Web\n\n- one\n* note 4\n");
    repo.write("src/app.js", "export const one=1\n");
    let p = wait_for("a code proposal", || format_proposals(&env).into_iter().next(), &daemon);
    assert_eq!(paths(&p), ["src/app.js"], "{p}");
    let why = p["why"].as_str().unwrap();
    assert!(
        why.contains("left alone: README.md (you rejected formatting *.md files here)"),
        "{why}"
    );
    let shown = env.json(&["policy", "show", "--json"]);
    assert_eq!(shown["demotions"][0]["task"], "format:*.md", "{shown}");
    let queued = env.queue(false);
    assert!(
        queued.iter().all(|p| p["decision"]["autonomy"] == "propose"),
        "the task is not demoted"
    );
}

#[test]
fn files_of_different_kinds_are_proposed_apart_so_a_rejection_teaches_one_kind() {
    let env = Env::new();
    let repo = web_project(&env);
    repo.write("README.md", "# Web\n\n- one\n");
    repo.write("src/app.js", "export const one = 1;\n");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "web"]);
    env.write_config(QUICK);
    env.ok(&["watch", repo.str()]);
    let daemon = env.start_daemon();
    repo.write("README.md", "# Web\n\n* one\n");
    repo.write("src/app.js", "export const one=1\n");
    let proposals = wait_for(
        "a proposal per kind of file",
        || Some(format_proposals(&env)).filter(|p| p.len() == 2),
        &daemon,
    );
    let mut titles: Vec<(String, Vec<String>)> =
        proposals.iter().map(|p| (p["title"].as_str().unwrap().to_owned(), paths(p))).collect();
    titles.sort();
    assert_eq!(
        titles,
        [
            ("format README.md (prettier)".to_owned(), vec!["README.md".to_owned()]),
            ("format src/app.js (prettier)".to_owned(), vec!["src/app.js".to_owned()]),
        ]
    );
}
