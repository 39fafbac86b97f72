//! What may be shown to a model from a repository, and in what shape: a diff between two
//! trees with the files kairos never sends left out (ignored, secret-looking, binary,
//! larger than `max_file_size`), token-shaped strings redacted, and the whole bounded
//! (the most-changed files first; what did not fit is named). The result says what was
//! left out and why, for the prompt and for the user.

use git2::{Delta, DiffFindOptions, DiffOptions, Oid, Patch, Repository};

use super::redact::{is_secret_path, redact};

/// A diff ready to be sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Material {
    /// The unified diff of what is shown, redacted.
    pub diff: String,
    /// Files changed in all (shown or not), lines added and removed.
    pub files: usize,
    pub added: usize,
    pub removed: usize,
    /// `path (why)` for each file not shown.
    pub left_out: Vec<String>,
    /// Token-shaped strings replaced by `[redacted]`.
    pub redacted: usize,
}

/// The diff from `old` (nothing: the empty tree) to `new` in `repo`, as it may be sent:
/// at most `max_lines` lines of diff, no file over `max_file_size`.
pub fn tree_diff(
    repo: &Repository,
    old: Option<Oid>,
    new: Oid,
    max_file_size: u64,
    max_lines: usize,
) -> Result<Material, git2::Error> {
    let old = old.map(|t| repo.find_tree(t)).transpose()?;
    let new = repo.find_tree(new)?;
    let mut opts = DiffOptions::new();
    opts.context_lines(3);
    let mut diff = repo.diff_tree_to_tree(old.as_ref(), Some(&new), Some(&mut opts))?;
    diff.find_similar(Some(DiffFindOptions::new().renames(true)))?;
    let mut material = Material::default();
    let mut shown: Vec<(usize, String, String)> = Vec::new();
    for (index, delta) in diff.deltas().enumerate() {
        let file =
            if delta.status() == Delta::Deleted { delta.old_file() } else { delta.new_file() };
        let path = file.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        material.files += 1;
        let Some(mut patch) = Patch::from_diff(&diff, index)? else { continue };
        let (_, added, removed) = patch.line_stats()?;
        material.added += added;
        material.removed += removed;
        let why = if is_secret_path(std::path::Path::new(&path)) {
            Some("looks like it holds secrets")
        } else if repo.is_path_ignored(std::path::Path::new(&path)).unwrap_or(false) {
            Some("ignored by git")
        } else if delta.flags().is_binary()
            || delta.new_file().is_binary()
            || delta.old_file().is_binary()
        {
            Some("binary")
        } else if delta.new_file().size().max(delta.old_file().size()) > max_file_size {
            Some("too large")
        } else {
            None
        };
        if let Some(why) = why {
            material.left_out.push(format!("{path} ({why})"));
            continue;
        }
        let text = patch.to_buf()?;
        let text = String::from_utf8_lossy(&text).into_owned();
        if text.contains('\0') {
            material.left_out.push(format!("{path} (binary)"));
            continue;
        }
        shown.push((added + removed, path, text));
    }
    // The most-changed files first, as long as they fit.
    shown.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut lines = 0;
    for (_, path, text) in shown {
        let n = text.lines().count();
        if lines + n > max_lines {
            material.left_out.push(format!("{path} (over the {max_lines}-line limit)"));
            continue;
        }
        lines += n;
        let (clean, redacted) = redact(&text);
        material.redacted += redacted;
        material.diff.push_str(&clean);
    }
    Ok(material)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(repo: &Repository, files: &[(&str, &[u8])]) -> Oid {
        let mut index = git2::Index::new().unwrap();
        for (path, bytes) in files {
            let blob = repo.blob(bytes).unwrap();
            let entry = git2::IndexEntry {
                ctime: git2::IndexTime::new(0, 0),
                mtime: git2::IndexTime::new(0, 0),
                dev: 0,
                ino: 0,
                mode: 0o100644,
                uid: 0,
                gid: 0,
                file_size: bytes.len() as u32,
                id: blob,
                flags: 0,
                flags_extended: 0,
                path: path.as_bytes().to_vec(),
            };
            index.add(&entry).unwrap();
        }
        index.write_tree_to(repo).unwrap()
    }

    #[test]
    fn secrets_ignored_binary_and_huge_files_are_left_out_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        std::fs::write(dir.path().join(".gitignore"), "build/\n").unwrap();
        let old = tree(&repo, &[("src/lib.rs", b"fn a() {}\n")]);
        let new = tree(
            &repo,
            &[
                ("src/lib.rs", b"fn a() {}\nfn b() { let key = \"AKIAIOSFODNN7EXAMPLE\"; }\n"),
                (".env", b"TOKEN=hunter2hunter2\n"),
                ("build/out.txt", b"generated\n"),
                ("logo.png", b"\x89PNG\0\0binary"),
                ("big.txt", &[b'x'; 2048]),
            ],
        );
        let m = tree_diff(&repo, Some(old), new, 1024, 1500).unwrap();
        assert_eq!(m.files, 5);
        assert!(m.diff.contains("+fn b()") && m.diff.contains("[redacted]"), "{}", m.diff);
        assert_eq!(m.redacted, 1);
        for secret in ["AKIAIOSFODNN7EXAMPLE", "hunter2", "generated", "PNG"] {
            assert!(!m.diff.contains(secret), "{secret} was sent:\n{}", m.diff);
        }
        let mut left: Vec<&str> = m.left_out.iter().map(String::as_str).collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".env (looks like it holds secrets)",
                "big.txt (too large)",
                "build/out.txt (ignored by git)",
                "logo.png (binary)"
            ]
        );
        // Over the line limit, the most-changed file is the one shown.
        let m = tree_diff(&repo, None, new, 1 << 20, 8).unwrap();
        assert!(m.left_out.iter().any(|l| l.contains("over the 8-line limit")), "{:?}", m.left_out);
    }
}
