use std::path::Path;

use chrono::{Utc, Weekday};
use proptest::prelude::*;

use super::*;

const NOON: LocalTime = LocalTime { weekday: Weekday::Wed, minute: 12 * 60 };

fn file(text: &str, name: &str, layer: Layer) -> PolicyFile {
    parse(text, Path::new(name), layer).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn decide(
    files: Vec<PolicyFile>,
    repo: Option<&PolicyFile>,
    subject: &Subject,
    grants: &[Grant],
) -> Evaluation {
    let set = merge(files);
    let ctx =
        Context { grants, demoted: false, broken_policy: false, now: NOON, now_utc: Utc::now() };
    evaluate(&set, repo, subject, &ctx)
}

fn shipped() -> PolicyFile {
    file(DEFAULT_POLICY, "default.toml", Layer::Default)
}

fn patch(task: &str, paths: &[&str], lines: u64) -> Subject {
    Subject {
        task: Some(task.into()),
        paths: paths.iter().map(|p| p.to_string()).collect(),
        lines,
        repo: Some("/home/me/src/api".into()),
        branch: Some("feature".into()),
        ..Subject::action("fs.patch")
    }
}

#[test]
fn the_shipped_policy_parses_and_makes_snapshots_automatic() {
    let e = decide(vec![shipped()], None, &Subject::action("git.snapshot"), &[]);
    assert_eq!(e.autonomy, Autonomy::Auto);
    assert!(matches!(e.decided_by, DecidedBy::Rule { ref id, .. } if id == "snapshots"));
    let e = decide(vec![shipped()], None, &Subject::action("git.branch.delete"), &[]);
    assert_eq!((e.autonomy, e.decided_by), (Autonomy::Propose, DecidedBy::Default));
}

#[test]
fn the_strictest_matching_rule_wins() {
    let user = file(
        r#"
[[rule]]
id = "format-small"
action = "fs.patch"
task = "format"
paths = ["src/**"]
max_changed_lines = 200
autonomy = "auto"

[[rule]]
id = "protect-main"
branch = ["main", "master"]
action = "fs.patch"
autonomy = "propose"
"#,
        "mine.toml",
        Layer::User,
    );
    let small = patch("format", &["src/lib.rs"], 10);
    assert_eq!(decide(vec![shipped(), user.clone()], None, &small, &[]).autonomy, Autonomy::Auto);
    let on_main = Subject { branch: Some("main".into()), ..small.clone() };
    let e = decide(vec![shipped(), user.clone()], None, &on_main, &[]);
    assert_eq!(e.autonomy, Autonomy::Propose);
    assert!(matches!(e.decided_by, DecidedBy::Rule { ref id, .. } if id == "protect-main"));
    assert_eq!(e.matched.len(), 2);
    let big = patch("format", &["src/lib.rs"], 500);
    assert_eq!(decide(vec![user.clone()], None, &big, &[]).autonomy, Autonomy::Propose);
    let outside = patch("format", &["src/lib.rs", "Cargo.toml"], 5);
    assert_eq!(decide(vec![user], None, &outside, &[]).autonomy, Autonomy::Propose);
}

#[test]
fn irreversible_actions_are_capped() {
    let user = file("[[rule]]\nid = \"yolo\"\nautonomy = \"auto\"\n", "yolo.toml", Layer::User);
    let e = decide(vec![user], None, &Subject::action("git.maintenance.gc"), &[]);
    let capped = DecidedBy::Cap { cap: Cap::Irreversible };
    assert_eq!((e.autonomy, e.decided_by), (Autonomy::Propose, capped));
    assert_eq!(e.caps.len(), 1);
}

#[test]
fn untrusted_drafts_and_a_broken_policy_are_capped_and_named() {
    let user = file("[[rule]]\nid = \"yolo\"\nautonomy = \"auto\"\n", "yolo.toml", Layer::User);
    let model = Subject {
        provenance: crate::proposal::Provenance {
            origin: crate::proposal::Origin::Model { model: "qwen".into() },
            read_untrusted: false,
        },
        ..Subject::action("fs.patch")
    };
    let e = decide(vec![user.clone()], None, &model, &[]);
    assert_eq!((e.autonomy, &e.caps[..]), (Autonomy::Propose, &[Cap::Untrusted][..]));
    assert_eq!(e.decided_by, DecidedBy::Cap { cap: Cap::Untrusted });
    // A broken policy holds everything but routine snapshots.
    let set = merge(vec![user]);
    let ctx = Context {
        grants: &[],
        demoted: false,
        broken_policy: true,
        now: NOON,
        now_utc: Utc::now(),
    };
    let patch = evaluate(&set, None, &Subject::action("fs.patch"), &ctx);
    assert_eq!(patch.decided_by, DecidedBy::Cap { cap: Cap::BrokenPolicy });
    assert_eq!(
        evaluate(&set, None, &Subject::action("git.snapshot"), &ctx).autonomy,
        Autonomy::Auto
    );
}

#[test]
fn a_repository_can_only_tighten() {
    let repo_loose = file(
        "[[rule]]\nid = \"loose\"\naction = \"fs.patch\"\nautonomy = \"auto\"\n",
        "repo.toml",
        Layer::Repo,
    );
    let e = decide(vec![shipped()], Some(&repo_loose), &patch("format", &["a"], 1), &[]);
    assert_eq!(e.autonomy, Autonomy::Propose);
    assert!(e.notes[0].contains("can only tighten"), "{:?}", e.notes);
    let repo_tight = file(
        "[[rule]]\nid = \"tight\"\naction = \"git.*\"\nautonomy = \"observe\"\n",
        "repo.toml",
        Layer::Repo,
    );
    let e = decide(vec![shipped()], Some(&repo_tight), &Subject::action("git.snapshot"), &[]);
    assert_eq!(e.autonomy, Autonomy::Observe);
}

#[test]
fn grants_lift_to_auto_but_not_past_a_stricter_user_rule_or_a_cap() {
    let subject = patch("format", &["src/lib.rs"], 3);
    let grant = Grant {
        id: "g1".into(),
        action: "fs.patch".into(),
        task: Some("format".into()),
        repo: subject.repo.clone(),
        paths: vec![],
        created_at: Utc::now(),
        expires_at: None,
        from_proposal: Some(1),
    };
    let e = decide(vec![shipped()], None, &subject, std::slice::from_ref(&grant));
    assert_eq!(
        (e.autonomy, e.decided_by.clone()),
        (Autonomy::Auto, DecidedBy::Grant { id: "g1".into() })
    );
    let strict = file(
        "[[rule]]\nid = \"careful\"\naction = \"fs.patch\"\nautonomy = \"propose\"\n",
        "mine.toml",
        Layer::User,
    );
    let e = decide(vec![shipped(), strict], None, &subject, std::slice::from_ref(&grant));
    assert_eq!(e.autonomy, Autonomy::Propose);
    assert!(e.notes[0].contains("grant g1 is not in effect"), "{:?}", e.notes);
    let expired =
        Grant { expires_at: Some(Utc::now() - chrono::Duration::hours(1)), ..grant.clone() };
    assert_eq!(decide(vec![shipped()], None, &subject, &[expired]).autonomy, Autonomy::Propose);
    let gc_grant = Grant { action: "git.maintenance.gc".into(), task: None, repo: None, ..grant };
    assert_eq!(
        decide(vec![], None, &Subject::action("git.maintenance.gc"), &[gc_grant]).autonomy,
        Autonomy::Propose
    );
}

#[test]
fn shadow_rules_report_without_deciding() {
    let user = file(
        "[[rule]]\nid = \"try-off\"\naction = \"git.snapshot\"\nautonomy = \"off\"\nmode = \"shadow\"\n",
        "s.toml",
        Layer::User,
    );
    let e = decide(vec![shipped(), user], None, &Subject::action("git.snapshot"), &[]);
    assert_eq!(e.autonomy, Autonomy::Auto);
    assert_eq!(e.shadow[0].1, Autonomy::Off);
}

#[test]
fn mistakes_are_located_and_examples_are_checked() {
    let err =
        parse("[[rule]]\nid = \"x\"\nautonomy = \"always\"\n", Path::new("p.toml"), Layer::User)
            .unwrap_err();
    assert_eq!((err.line, err.column), (3, 12));
    assert!(err.message.contains("off, observe, notify, propose or auto"), "{err}");
    let err = parse(
        "[[rule]]\nid = \"x\"\nautonomy = \"auto\"\nactoin = \"fs.patch\"\n",
        Path::new("p.toml"),
        Layer::User,
    )
    .unwrap_err();
    assert_eq!(err.line, 4);
    let err = parse(
        "[[rule]]\nid = \"never\"\naction = \"fs.patch\"\nmax_files = 0\nautonomy = \"auto\"\nexamples.match = [{ action = \"fs.patch\", paths = [\"a\"] }]\n",
        Path::new("p.toml"),
        Layer::User,
    )
    .unwrap_err();
    assert!(err.message.contains("does not match its example"), "{err}");
    let err = parse(
        "[[rule]]\nid = \"w\"\nwindow = \"9-5\"\nautonomy = \"auto\"\n",
        Path::new("p.toml"),
        Layer::User,
    )
    .unwrap_err();
    assert_eq!((err.line, err.column), (3, 10));
    // An unclosed class was taken literally by the gitignore matcher: it is an error.
    let err = parse(
        "[[rule]]\nid = \"p\"\npaths = [\"docs/**\", \"src/[abc\"]\nautonomy = \"auto\"\n",
        Path::new("p.toml"),
        Layer::User,
    )
    .unwrap_err();
    assert_eq!((err.line, err.column), (3, 21), "{err}");
    assert!(err.message.contains("invalid path pattern \"src/[abc\""), "{err}");
    for fine in ["!src/gen/**", "/build/", "\\[literal\\]", "*.rs"] {
        let text = format!("[[rule]]\nid = \"p\"\npaths = [{fine:?}]\nautonomy = \"auto\"\n");
        assert!(parse(&text, Path::new("p.toml"), Layer::User).is_ok(), "{fine} was refused");
    }
}

// Random policies: rules over a small vocabulary, so that they often overlap.
fn rule_text() -> impl Strategy<Value = String> {
    let action = prop::option::of(prop::sample::select(vec![
        "git.snapshot",
        "git.branch.delete",
        "fs.patch",
        "git.maintenance.gc",
        "git.*",
        "fs.*",
        "*",
    ]));
    let task = prop::option::of(prop::sample::select(vec!["format", "prune-branches", "snapshot"]));
    let branch = prop::option::of(prop::sample::select(vec!["main", "feat*"]));
    let paths = prop::option::of(prop::sample::select(vec!["src/**", "*.md"]));
    let lines = prop::option::of(0u64..300);
    let autonomy = prop::sample::select(vec!["off", "observe", "notify", "propose", "auto"]);
    let shadow = prop::bool::weighted(0.15);
    (action, task, branch, paths, lines, autonomy, shadow).prop_map(
        |(a, t, b, p, l, level, shadow)| {
            let mut text = format!("autonomy = \"{level}\"\n");
            if let Some(a) = a {
                text += &format!("action = \"{a}\"\n");
            }
            if let Some(t) = t {
                text += &format!("task = \"{t}\"\n");
            }
            if let Some(b) = b {
                text += &format!("branch = \"{b}\"\n");
            }
            if let Some(p) = p {
                text += &format!("paths = [\"{p}\"]\n");
            }
            if let Some(l) = l {
                text += &format!("max_changed_lines = {l}\n");
            }
            if shadow {
                text += "mode = \"shadow\"\n";
            }
            text
        },
    )
}

fn policy_file(rules: &[String], name: &str, layer: Layer) -> PolicyFile {
    let text: String =
        rules.iter().enumerate().map(|(i, r)| format!("[[rule]]\nid = \"r{i}\"\n{r}\n")).collect();
    file(&text, name, layer)
}

fn subject() -> impl Strategy<Value = Subject> {
    let action = prop::sample::select(vec![
        "git.snapshot",
        "git.branch.delete",
        "fs.patch",
        "git.maintenance.gc",
        "git.push.force",
    ]);
    let task = prop::option::of(prop::sample::select(vec!["format", "prune-branches", "snapshot"]));
    let branch = prop::option::of(prop::sample::select(vec!["main", "feature"]));
    let paths = prop::collection::vec(
        prop::sample::select(vec!["src/lib.rs", "README.md", "Cargo.toml"]),
        0..3,
    );
    let origin = prop::sample::select(vec![
        crate::proposal::Origin::Builtin,
        crate::proposal::Origin::Command,
        crate::proposal::Origin::Model { model: "m".into() },
    ]);
    (action, task, branch, paths, 0u64..400, origin, prop::bool::weighted(0.2)).prop_map(
        |(a, t, b, p, lines, origin, read_untrusted)| Subject {
            task: t.map(str::to_owned),
            branch: b.map(str::to_owned),
            paths: p.into_iter().map(str::to_owned).collect(),
            lines,
            provenance: crate::proposal::Provenance { origin, read_untrusted },
            ..Subject::action(a)
        },
    )
}

fn layer() -> impl Strategy<Value = Layer> {
    prop::sample::select(vec![Layer::Default, Layer::User, Layer::Repo])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn adding_a_rule_never_raises_autonomy(
        rules in prop::collection::vec(rule_text(), 0..6),
        extra in rule_text(),
        extra_layer in layer(),
        s in subject(),
    ) {
        let user = policy_file(&rules, "user.toml", Layer::User);
        let before = decide(vec![shipped(), user.clone()], None, &s, &[]);
        let added = policy_file(std::slice::from_ref(&extra), "added.toml", extra_layer);
        let after = if extra_layer == Layer::Repo {
            decide(vec![shipped(), user], Some(&added), &s, &[]).autonomy
        } else {
            decide(vec![shipped(), user, added], None, &s, &[]).autonomy
        };
        // Once any rule speaks about a change, more rules can only make it stricter. The one
        // way up is the first rule for a change no rule spoke about (the `propose` default),
        // and never from a repository's file.
        if before.decided_by != DecidedBy::Default || extra_layer == Layer::Repo {
            prop_assert!(after <= before.autonomy, "{} became {after} after adding {extra}", before.autonomy);
        }
    }

    #[test]
    fn irreversible_and_untrusted_changes_are_never_auto_even_with_a_grant(
        rules in prop::collection::vec(rule_text(), 0..8),
        s in subject(),
    ) {
        let grant = Grant {
            id: "g1".into(),
            action: s.action.clone(),
            task: None,
            repo: None,
            paths: vec![],
            created_at: Utc::now(),
            expires_at: None,
            from_proposal: None,
        };
        let e = decide(vec![shipped(), policy_file(&rules, "u.toml", Layer::User)], None, &s, &[grant]);
        if !s.action.reversible() || s.provenance.untrusted() {
            prop_assert!(e.autonomy <= Autonomy::Propose, "{e:?}");
        }
        if e.autonomy < Autonomy::Auto && matches!(e.decided_by, DecidedBy::Cap { .. }) {
            prop_assert!(!e.caps.is_empty());
        }
    }

    #[test]
    fn the_order_of_rules_and_files_does_not_matter(
        rules in prop::collection::vec(rule_text(), 1..8),
        split in 0usize..8,
        s in subject(),
    ) {
        let split = split.min(rules.len());
        let a = policy_file(&rules[..split], "a.toml", Layer::User);
        let b = policy_file(&rules[split..], "b.toml", Layer::User);
        let mut reversed_rules = rules.clone();
        reversed_rules.reverse();
        let one = decide(vec![shipped(), a.clone(), b.clone()], None, &s, &[]);
        let two = decide(vec![b, shipped(), a], None, &s, &[]);
        prop_assert_eq!(one.autonomy, two.autonomy);
        prop_assert_eq!(one.decided_by, two.decided_by);
        let three = decide(vec![shipped(), policy_file(&reversed_rules, "a.toml", Layer::User)], None, &s, &[]);
        prop_assert_eq!(one.autonomy, three.autonomy);
    }
}

/// A proposal of `action` in /r, with `main` checked out; the changes that act on a
/// branch act on `keep-1`.
fn proposal_of(action: crate::action::Action) -> crate::proposal::Proposal {
    use crate::action::Action;
    use crate::proposal::{Change, Draft, Proposal, Provenance, RefUpdate};
    let change = match &action {
        Action::BranchDelete => {
            Change::BranchDelete { branch: "keep-1".into(), target: "a".repeat(40), upstream: None }
        }
        Action::BranchFastForward => Change::Refs {
            updates: vec![RefUpdate {
                name: "refs/heads/keep-1".into(),
                old: Some("a".repeat(40)),
                new: Some("b".repeat(40)),
            }],
        },
        Action::WorktreeFastForward => Change::WorktreeFastForward {
            branch: "keep-1".into(),
            old: "a".repeat(40),
            new: "b".repeat(40),
        },
        _ => Change::Notice { text: String::new() },
    };
    let draft = Draft {
        action,
        changed_lines: 0,
        title: "t".into(),
        why: "w".into(),
        fingerprint: "f".into(),
        change,
        provenance: Provenance::BUILTIN,
    };
    Proposal::from_draft(draft, "/r", "t", Some("main".into()), Utc::now())
}

#[test]
fn branch_globs_match_the_branch_acted_on_and_explain_agrees_for_every_action() {
    let user = file(
        "[[rule]]\nid = \"keep-branches\"\nbranch = [\"keep-*\"]\nautonomy = \"propose\"\n\n\
         [[rule]]\nid = \"anything\"\nautonomy = \"auto\"\n",
        "mine.toml",
        Layer::User,
    );
    for action in crate::action::Action::known() {
        let p = proposal_of(action.clone());
        let real = decide(vec![user.clone()], None, &Subject::of(&p), &[]);
        // `kairos policy explain --action A --branch B`: B is the branch acted on for
        // actions on a branch, the checked-out one otherwise.
        let branch = if action.acts_on_a_branch() { "keep-1" } else { "main" };
        let explained = Subject {
            task: Some("t".into()),
            repo: Some("/r".into()),
            branch: Some(branch.into()),
            files: Some(0),
            ..Subject::action(action.clone())
        };
        let explained = decide(vec![user.clone()], None, &explained, &[]);
        assert_eq!(
            (real.autonomy, &real.decided_by),
            (explained.autonomy, &explained.decided_by),
            "{action}"
        );
        if action.acts_on_a_branch() {
            assert_eq!(real.autonomy, Autonomy::Propose, "{action} on keep-1 was not protected");
        }
    }
}
