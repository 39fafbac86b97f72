//! Unified diffs of file changes, for `kairos show`. Pure: contents in, text out.

use similar::TextDiff;

/// One side of a file change: its bytes and git mode, or absent.
pub type Side = Option<(Vec<u8>, u32)>;

/// Renders a git-style unified diff of one file; `None` sides mean created or deleted.
pub fn render(path: &str, before: &Side, after: &Side) -> String {
    let mut out = format!("diff --kairos a/{path} b/{path}\n");
    match (before, after) {
        (Some((_, old)), Some((_, new))) if old != new => {
            out.push_str(&format!("old mode {old:o}\nnew mode {new:o}\n"));
        }
        (None, Some((_, mode))) => out.push_str(&format!("new file mode {mode:o}\n")),
        (Some((_, mode)), None) => out.push_str(&format!("deleted file mode {mode:o}\n")),
        _ => {}
    }
    let old = before.as_ref().map(|(b, _)| b.as_slice()).unwrap_or_default();
    let new = after.as_ref().map(|(b, _)| b.as_slice()).unwrap_or_default();
    if old == new {
        return out;
    }
    if is_binary(old) || is_binary(new) {
        out.push_str(&format!("Binary files a/{path} and b/{path} differ\n"));
        return out;
    }
    let (old, new) = (String::from_utf8_lossy(old), String::from_utf8_lossy(new));
    let from = if before.is_some() { format!("a/{path}") } else { "/dev/null".into() };
    let to = if after.is_some() { format!("b/{path}") } else { "/dev/null".into() };
    let diff = TextDiff::from_lines(old.as_ref(), new.as_ref());
    out.push_str(&diff.unified_diff().context_radius(3).header(&from, &to).to_string());
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// git's rule: a NUL byte in the first 8000 bytes makes a file binary.
fn is_binary(bytes: &[u8]) -> bool {
    bytes.iter().take(8000).any(|b| *b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_reads_like_git_diff() {
        let text = render(
            "src/a.rs",
            &Some((b"fn main(){\n}\n".to_vec(), 0o100644)),
            &Some((b"fn main() {}\n".to_vec(), 0o100644)),
        );
        assert!(text.contains("--- a/src/a.rs\n+++ b/src/a.rs\n"), "{text}");
        assert!(text.contains("-fn main(){\n-}\n+fn main() {}\n"), "{text}");
    }

    #[test]
    fn creations_deletions_modes_and_binaries_are_named() {
        let created = render("new.txt", &None, &Some((b"hi\n".to_vec(), 0o100644)));
        assert!(
            created.contains("new file mode 100644") && created.contains("--- /dev/null"),
            "{created}"
        );
        let deleted = render("old.txt", &Some((b"bye\n".to_vec(), 0o100644)), &None);
        assert!(
            deleted.contains("deleted file mode") && deleted.contains("+++ /dev/null"),
            "{deleted}"
        );
        let chmod = render(
            "run.sh",
            &Some((b"x\n".to_vec(), 0o100644)),
            &Some((b"x\n".to_vec(), 0o100755)),
        );
        assert!(chmod.contains("old mode 100644\nnew mode 100755"), "{chmod}");
        let binary = render("a.bin", &Some((vec![0, 1], 0o100644)), &Some((vec![0, 2], 0o100644)));
        assert!(binary.contains("Binary files a/a.bin and b/a.bin differ"), "{binary}");
    }
}
