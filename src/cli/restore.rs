use std::path::PathBuf;

use super::{CliResult, Failure, call, print_outcomes, repo_or_cwd, unexpected};
use crate::paths::Paths;
use crate::protocol::{Request, Response};

pub async fn run(
    paths: &Paths,
    snapshot: String,
    targets: Vec<PathBuf>,
    repo: Option<PathBuf>,
) -> CliResult {
    let repo = repo_or_cwd(repo)?;
    let targets = targets
        .into_iter()
        .map(|p| resolve(&p).map_err(|e| Failure::new(format!("{}: {e}", p.display()))))
        .collect::<Result<Vec<_>, _>>()?;
    match call(paths, Request::Restore { repo, snapshot, paths: targets }).await? {
        Response::Outcomes { outcomes } => print_outcomes(&outcomes),
        other => Err(unexpected(other)),
    }
}

/// `path` made absolute with its existing part's symlinks resolved, as the daemon sees
/// repositories; the rest (a deleted file, say) is kept as written.
fn resolve(path: &std::path::Path) -> std::io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        let (Some(name), Some(parent)) = (existing.file_name(), existing.parent()) else {
            return Ok(absolute);
        };
        rest.push(name);
        existing = parent;
    }
    let mut resolved = existing.canonicalize()?;
    resolved.extend(rest.iter().rev());
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_through_links_resolve_even_when_the_file_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap().join("real");
        std::fs::create_dir_all(real.join("src")).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        assert_eq!(
            resolve(&dir.path().join("link/src/deleted.rs")).unwrap(),
            real.join("src/deleted.rs")
        );
    }
}
