//! A store written by kairos 0.1.0 (schema 1, `tests/fixtures/store-v1`, made by
//! `tests/fixtures/make-store-v1.sh`) opens in this build, migrated, with nothing lost.

use kairos::proposal::State;
use kairos::store::Store;

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn store_v1_opens_and_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1"),
        &store_dir,
    );
    let store = Store::open(&store_dir).unwrap();
    let all: Vec<_> = store.proposals().collect::<Result<_, _>>().unwrap();
    let states: Vec<(u64, State)> = all.iter().map(|p| (p.id, p.state)).collect();
    use State::*;
    assert_eq!(
        states,
        [
            (1, Applied),
            (2, Pending),
            (3, Rejected),
            (4, Rejected),
            (5, Rejected),
            (6, Undone),
            (7, Applied)
        ]
    );
    assert_eq!(store.proposals_in(Pending).unwrap().len(), 1);
    assert_eq!(store.proposal_by_fingerprint(&all[1].fingerprint).unwrap().unwrap().id, 2);
    let grants = store.grants().unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].from_proposal, Some(1));
    assert_eq!(grants[0].action, kairos::action::Action::BranchDelete);
    let demotions = store.demotions().unwrap();
    assert_eq!(demotions.len(), 1, "{demotions:?}");
    assert_eq!((demotions[0].task.as_str(), demotions[0].rejections), ("prune-branches", 3));
    assert!(store.demotion(&demotions[0].repo, "prune-branches").unwrap().is_some());
    assert_eq!(store.next_proposal_id().unwrap(), 8);

    // Who moved each proposal and what decided it are typed now.
    use kairos::policy::{DecidedBy, Layer};
    use kairos::proposal::Actor;
    let undone: Vec<&Actor> = all[5].history.iter().map(|h| &h.by).collect();
    assert_eq!(undone, [&Actor::task("prune-branches"), &Actor::User, &Actor::User, &Actor::User]);
    assert_eq!(all[0].decision.as_ref().unwrap().decided_by, DecidedBy::Default);
    let snapshot_rule = DecidedBy::Rule {
        id: "snapshots".into(),
        file: "<built-in policies/default.toml>".into(),
        layer: Layer::Default,
    };
    assert_eq!(all[6].decision.as_ref().unwrap().decided_by, snapshot_rule);
    assert_eq!(all[6].history[1].by, Actor::Policy { decided_by: snapshot_rule });
    assert_eq!(all[6].action, kairos::action::Action::Snapshot);
    drop(store);
    // Migrated once: it opens again as it is.
    let again = Store::open(&store_dir).unwrap();
    assert_eq!(again.proposals().count(), 7);
}
