//! Every parser kairos runs on input it does not control — config, policies, cron lines,
//! durations, globs, quiet-hour windows and the socket protocol's frames — fed arbitrary
//! and mutated input: none may panic, and every refusal must point inside the text.

use std::path::Path;

use kairos::config::Config;
use kairos::config::parse_duration;
use kairos::policy::{Layer, Window, parse as parse_policy};
use kairos::protocol::{MAX_REQUEST, Request, read_frame};
use kairos::watch::clock::{CronSchedule, Zone};
use proptest::prelude::*;

/// A config that uses every section, to mutate.
const CONFIG: &str = r#"
[daemon]
timezone = "Europe/Paris"
idle = "5m"
max_parallel_runs = 2

[notify]
desktop = true
batch = "5s"
max_per_hour = 20

[notify.webhook]
url = "https://ntfy.example.org/topic"
token_env = "TOKEN"

[tasks.snapshot]
quiet = "30s"
max_file_size = "50MiB"

[tasks.prune-branches]
schedule = "0 9 * * 1-5"
catch_up = "once"
when_idle = "5m"
jitter = "2m"

[tasks.clippy-fix]
run = ["cargo", "clippy", "--fix"]
on = ["fs:src/**/*.rs", "git:commit", "cron:0 9 * * 1-5", "idle:10m"]
output = "patch"
timeout = "5m"
env = { RUSTFLAGS = "-Dwarnings" }

[repos."~/src/legacy".tasks.format]
enabled = false
"#;

/// Every table and key a value can be written under, for the value property.
const CONFIG_KEYS: &[(&str, &str)] = &[
    ("notify", "batch"),
    ("notify", "max_per_hour"),
    ("notify", "reconnect"),
    ("tasks.snapshot", "quiet"),
    ("tasks.snapshot", "max_file_size"),
    ("tasks.prune-branches", "schedule"),
    ("tasks.prune-branches", "timezone"),
    ("tasks.maintenance", "catch_up"),
    ("tasks.maintenance", "when_idle"),
    ("tasks.fetch", "jitter"),
    ("tasks.stale-branches", "stale_after"),
    ("tasks.reminders", "stash_after"),
    ("tasks.format", "formatters"),
    ("tasks.mine", "run"),
    ("tasks.mine", "on"),
    ("tasks.mine", "output"),
    ("tasks.mine", "timeout"),
    ("tasks.mine", "env"),
];

/// Pieces that make mutations land on the grammar's edges.
const TOKENS: &[&str] = &[
    "[",
    "]",
    "[[",
    "]]",
    "\"",
    "'",
    "'''",
    "\"\"\"",
    "=",
    "\n",
    "#",
    "{",
    "}",
    ",",
    ".",
    "\\",
    "\\u{0}",
    "*",
    "/",
    "-",
    "~/",
    "@",
    "9999999999999999999999",
    "-1",
    "0",
    "true",
    "1970-01-01",
    "é",
    "\u{fffd}",
    "\t",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: String },
    Duplicate { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let text = prop_oneof![
        proptest::sample::select(TOKENS).prop_map(str::to_owned),
        "\\PC{0,12}",
        any::<String>(),
    ];
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), text).prop_map(|(at, text)| Mutation::Insert { at, text }),
        (any::<usize>(), 0usize..80).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
    ]
}

/// The nearest character boundary at or before `at` (modulo the length).
fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn mutate(base: &str, mutations: &[Mutation]) -> String {
    let mut text = base.to_owned();
    for m in mutations {
        match m {
            Mutation::Delete { at, len } => {
                let start = boundary(&text, *at);
                let end = boundary(&text, (start + len).min(text.len()));
                text.replace_range(start..end.max(start), "");
            }
            Mutation::Insert { at, text: piece } => {
                let at = boundary(&text, *at);
                text.insert_str(at, piece);
            }
            Mutation::Duplicate { at, len } => {
                let start = boundary(&text, *at);
                let end = boundary(&text, (start + len).min(text.len()));
                let piece = text[start..end.max(start)].to_owned();
                text.insert_str(end.max(start), &piece);
            }
        }
    }
    text
}

/// A located error must name a line and column inside (or just past) the text.
fn located(text: &str, line: usize, column: usize) -> Result<(), TestCaseError> {
    let lines = text.split('\n').count();
    prop_assert!(line >= 1 && line <= lines.max(1), "line {line} of {lines}");
    prop_assert!(column >= 1, "column {column}");
    let width = text.split('\n').nth(line - 1).map_or(0, |l| l.chars().count());
    prop_assert!(column <= width + 1, "column {column} past a line of {width}");
    Ok(())
}

fn check_config(text: &str) -> Result<(), TestCaseError> {
    if let Err(e) = Config::parse(text, Path::new("config.toml")) {
        located(text, e.line, e.column)?;
        prop_assert!(!e.message.trim().is_empty());
    }
    Ok(())
}

fn check_policy(text: &str) -> Result<(), TestCaseError> {
    for layer in [Layer::User, Layer::Repo] {
        if let Err(e) = parse_policy(text, Path::new("p.toml"), layer) {
            located(text, e.line, e.column)?;
            prop_assert!(!e.message.trim().is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn config_mutations_never_panic_and_errors_are_located(m in proptest::collection::vec(mutation(), 1..6)) {
        check_config(&mutate(CONFIG, &m))?;
    }

    #[test]
    fn arbitrary_config_text_never_panics(text in any::<String>()) {
        check_config(&text)?;
    }

    #[test]
    fn config_values_of_any_kind_are_taken_or_refused_in_place(
        key in proptest::sample::select(CONFIG_KEYS),
        value in prop_oneof![
            "\\PC{0,24}".prop_map(|s| format!("{s:?}")),
            any::<i64>().prop_map(|n| n.to_string()),
            Just("true".to_owned()),
            Just("[]".to_owned()),
            Just("{}".to_owned()),
        ],
    ) {
        let (table, name) = key;
        let text = format!("[daemon]\nidle = \"1m\"\n\n[{table}]\n{name} = {value}\n");
        check_config(&text)?;
        // A refused value is pointed at: its line, or its table's (a task without `run`).
        if let Err(e) = Config::parse(&text, Path::new("config.toml")) {
            prop_assert!(e.line == 4 || e.line == 5, "{e}");
        }
    }

    #[test]
    fn policy_mutations_never_panic_and_errors_are_located(m in proptest::collection::vec(mutation(), 1..6)) {
        check_policy(&mutate(kairos::policy::DEFAULT_POLICY, &m))?;
    }

    #[test]
    fn rules_with_arbitrary_values_are_parsed_or_refused_in_place(
        action in "\\PC{0,16}",
        paths in proptest::collection::vec("\\PC{0,16}", 0..4),
        branch in "\\PC{0,16}",
        repo in "\\PC{0,16}",
        window in "\\PC{0,20}",
        max_lines in any::<i64>(),
    ) {
        let text = format!(
            "[defaults]\nquiet_hours = {window:?}\n\n[[rule]]\nid = \"r\"\naction = {action:?}\n\
             paths = {paths:?}\nbranch = {branch:?}\nrepo = {repo:?}\nwindow = {window:?}\n\
             max_changed_lines = {max_lines}\nautonomy = \"auto\"\n"
        );
        check_policy(&text)?;
    }

    #[test]
    fn cron_lines_durations_and_windows_never_panic(text in "\\PC{0,40}", fields in proptest::collection::vec("[0-9*/,\\-A-Za-z?#LW]{1,6}", 1..8)) {
        let line = fields.join(" ");
        for expr in [text.as_str(), line.as_str()] {
            if let Ok(schedule) = CronSchedule::parse(expr, Zone::Local) {
                // A schedule that parses fires some day.
                prop_assert!(schedule.next_after(chrono::Utc::now()).is_some());
            }
            let _ = parse_duration(expr);
            let _ = Window::parse(expr);
        }
    }

    #[test]
    fn frames_of_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), json in "\\PC{0,80}") {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            for input in [bytes.clone(), format!("{{\"request\":{json}}}\n").into_bytes()] {
                let mut reader = tokio::io::BufReader::new(&input[..]);
                // Read until the input ends or is refused; nothing may panic.
                while let Ok(Some(_)) = read_frame::<_, Request>(&mut reader, MAX_REQUEST).await {}
            }
        });
    }
}

#[test]
fn a_frame_past_the_limit_is_refused_without_reading_it_all() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let input = vec![b'x'; MAX_REQUEST * 4];
    let mut reader = tokio::io::BufReader::new(&input[..]);
    let result = runtime.block_on(read_frame::<_, Request>(&mut reader, MAX_REQUEST));
    assert!(matches!(result, Err(kairos::protocol::FrameError::TooLong(_))), "{result:?}");
}

#[test]
fn the_samples_are_valid_to_begin_with() {
    Config::parse(CONFIG, Path::new("config.toml")).unwrap();
    parse_policy(kairos::policy::DEFAULT_POLICY, Path::new("p.toml"), Layer::User).unwrap();
}
