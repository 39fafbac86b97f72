use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("config.toml"))
}

#[test]
fn defaults_are_valid_and_sensible() {
    let c = Config::default();
    assert_eq!(c.task("snapshot").unwrap().quiet, Duration::from_secs(30));
    assert_eq!(c.task("prune-branches").unwrap().triggers.schedules.len(), 1);
    assert!(c.task("prune-branches").unwrap().triggers.git_refs);
    assert!(c.task("format").unwrap().triggers.fs.is_some());
    assert_eq!(c.daemon.max_parallel_runs, 2);
}

#[test]
fn task_settings_override_defaults() {
    let c = parse("[tasks.snapshot]\nquiet = \"2s\"\n\n[tasks.prune-branches]\nschedule = \"0 9 * * 1-5\"\ntimezone = \"Europe/Paris\"\n").unwrap();
    assert_eq!(c.task("snapshot").unwrap().quiet, Duration::from_secs(2));
    assert_eq!(c.task("prune-branches").unwrap().triggers.schedules[0].source(), "0 9 * * 1-5");
}

#[test]
fn a_bad_duration_points_at_its_value() {
    let err = parse("[tasks.snapshot]\nquiet = \"soon\"\n").unwrap_err();
    assert_eq!((err.line, err.column), (2, 9));
    assert!(err.to_string().starts_with("config.toml:2:9: invalid duration \"soon\""), "{err}");
}

#[test]
fn a_bad_cron_expression_points_at_its_value() {
    let err = parse("[tasks.prune-branches]\n  schedule = \"99 * * * *\"\n").unwrap_err();
    assert_eq!((err.line, err.column), (2, 14));
    assert!(err.message.contains("invalid cron expression"), "{err}");
}

#[test]
fn unknown_keys_and_tasks_are_errors() {
    let err = parse("[tasks.snapshot]\nquite = \"2s\"\n").unwrap_err();
    assert_eq!(err.line, 2);
    assert!(err.message.contains("quite"), "{err}");
    let err = parse("[tasks.snapshots]\n").unwrap_err();
    assert_eq!(err.line, 1);
    assert!(err.message.contains("built-in tasks: snapshot, prune-branches, format"), "{err}");
    assert!(err.message.contains("run = "), "{err}");
}

#[test]
fn sizes_parse_and_bad_ones_are_located() {
    let c = parse("[tasks.snapshot]\nmax_file_size = \"2MiB\"\n").unwrap();
    assert_eq!(c.task("snapshot").unwrap().max_file_size, 2 * 1024 * 1024);
    let err = parse("[tasks.snapshot]\nmax_file_size = \"huge\"\n").unwrap_err();
    assert_eq!((err.line, err.column), (2, 17));
    assert!(err.message.contains("invalid size"), "{err}");
}

#[test]
fn command_tasks_are_defined_with_run_and_triggers() {
    let c = parse(
        "[tasks.fix]\nrun = [\"cargo\", \"clippy\", \"--fix\"]\non = [\"fs:src/**/*.rs\", \"cron:0 9 * * *\", \"git:commit\", \"idle:5m\"]\noutput = \"patch\"\ntimeout = \"2m\"\nenv = { RUST_LOG = \"warn\" }\n",
    )
    .unwrap();
    let task = c.task("fix").unwrap();
    let command = task.command.as_ref().unwrap();
    assert_eq!(command.argv, ["cargo", "clippy", "--fix"]);
    assert_eq!(command.timeout, Duration::from_secs(120));
    assert_eq!(command.env["RUST_LOG"], "warn");
    assert_eq!(command.output, CommandOutput::Patch);
    let fs = task.triggers.fs.as_ref().unwrap();
    assert!(fs.matches(Path::new("src/deep/a.rs")));
    assert!(!fs.matches(Path::new("README.md")));
    assert!(task.triggers.git_commit);
    assert_eq!(task.triggers.idle, Some(Duration::from_secs(300)));
    assert_eq!(task.triggers.schedules.len(), 1);
}

#[test]
fn command_task_mistakes_are_located() {
    let err =
        parse("[tasks.fix]\nrun = [\"x\"]\non = [\"fs:src/**\", \"when:later\"]\n").unwrap_err();
    assert_eq!((err.line, err.column), (3, 20));
    assert!(err.message.contains("unknown trigger"), "{err}");
    let err = parse("[tasks.fix]\nrun = [\"x\"]\noutput = \"diff\"\n").unwrap_err();
    assert_eq!(err.line, 3);
    let err = parse("[tasks.snapshot]\nrun = [\"x\"]\n").unwrap_err();
    assert!(err.message.contains("built-in task"), "{err}");
    let err = parse("[tasks.snapshot]\ntimeout = \"1m\"\n").unwrap_err();
    assert!(err.message.contains("for command tasks"), "{err}");
    let err = parse("[tasks.fix]\nrun = []\n").unwrap_err();
    assert!(err.message.contains("needs a program"), "{err}");
    let err = parse("[tasks.format]\nformatters = [\"rustfmt\", \"astyle\"]\n").unwrap_err();
    assert_eq!((err.line, err.column), (2, 26));
}

#[test]
fn repositories_can_override_tasks() {
    let c = parse(
        "[tasks.format]\nquiet = \"20s\"\n\n[repos.\"/srv/api\".tasks.format]\nenabled = false\n",
    )
    .unwrap();
    assert!(c.task("format").unwrap().enabled);
    assert!(!c.task_for(Path::new("/srv/api"), "format").unwrap().enabled);
    assert_eq!(c.task_for(Path::new("/srv/api"), "format").unwrap().quiet, Duration::from_secs(20));
    assert!(c.task_for(Path::new("/srv/other"), "format").unwrap().enabled);
}

#[test]
fn syntax_errors_are_located() {
    let err = parse("[daemon]\nidle = 5m\n").unwrap_err();
    assert_eq!(err.line, 2);
}

#[test]
fn line_column_counts_characters() {
    assert_eq!(line_column("ab\ncé d", 7), (2, 4));
}
