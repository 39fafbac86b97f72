//! What never leaves the machine: files that look like they hold secrets are never
//! sent, and token-shaped strings in anything that is sent are replaced by `[redacted]`.

use std::path::Path;
use std::sync::LazyLock;

use globset::{GlobSet, GlobSetBuilder};
use regex::Regex;

/// File names that hold credentials by convention.
const SECRET_FILES: &[&str] = &[
    ".env*",
    "*.env",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*credentials*",
    "*secret*",
    ".netrc",
    "_netrc",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    ".htpasswd",
    "*.tfvars",
    "*.kdbx",
];

static SECRET_NAMES: LazyLock<GlobSet> = LazyLock::new(|| {
    let mut set = GlobSetBuilder::new();
    for pattern in SECRET_FILES {
        let glob = globset::GlobBuilder::new(pattern)
            .case_insensitive(true)
            .build()
            .unwrap_or_else(|e| panic!("built-in pattern {pattern}: {e}"));
        set.add(glob);
    }
    set.build().expect("built-in patterns")
});

/// Whether the file at repository-relative `path` looks like it holds secrets, by its
/// name or the name of a directory it is in (`.ssh/`, `secrets/`).
pub fn is_secret_path(path: &Path) -> bool {
    path.components().any(|c| {
        let name = c.as_os_str().to_string_lossy();
        SECRET_NAMES.is_match(name.as_ref()) || name == ".ssh" || name == ".gnupg"
    })
}

/// Token shapes: private keys, cloud and service keys, and `password = ...` assignments.
static TOKENS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----[\s\S]*?(-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\z)",
        r"\b(AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b",
        r"(?i)aws_secret_access_key\s*[=:]\s*\S+",
        r"\bgh[pousr]_[A-Za-z0-9]{30,}\b",
        r"\bgithub_pat_[A-Za-z0-9_]{30,}\b",
        r"\bglpat-[A-Za-z0-9_-]{20,}\b",
        r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b",
        r"\bsk-ant-[A-Za-z0-9_-]{20,}\b",
        r"\bsk-(proj-)?[A-Za-z0-9_-]{20,}\b",
        r"\bAIza[0-9A-Za-z_-]{35}\b",
        r"\bnpm_[A-Za-z0-9]{36}\b",
        r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\b",
        // `password = x`, `DATABASE_PASSWORD=x`, `"db_password": "x"`, `apiKey: x`.
        r#"(?i)\b[a-z0-9_]*?(password|passwd|pwd|secret|token|api[_-]?key|auth)(_[a-z0-9]+)*\b["']?\s*[=:]\s*["']?[^\s"',;]{4,}"#,
        r"(?i)\bbearer\s+[a-z0-9._~+/=-]{8,}",
    ]
    .iter()
    .map(|p| Regex::new(p).expect("built-in token pattern"))
    .collect()
});

pub const REDACTED: &str = "[redacted]";

/// `text` with every token-shaped string replaced by `[redacted]`, and how many were.
pub fn redact(text: &str) -> (String, usize) {
    let mut out = text.to_owned();
    let mut count = 0;
    for pattern in TOKENS.iter() {
        let found = pattern.find_iter(&out).count();
        if found > 0 {
            count += found;
            out = pattern.replace_all(&out, REDACTED).into_owned();
        }
    }
    (out, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_files_are_known_by_name_and_place() {
        for secret in [
            ".env",
            "config/.env.production",
            ".envrc",
            "web/.env-local",
            "deploy/server.pem",
            "certs/tls.KEY",
            "home/.ssh/config",
            "id_ed25519.pub",
            "aws/credentials",
            ".npmrc",
            "k8s/secrets.yaml",
            "prod.tfvars",
        ] {
            assert!(is_secret_path(Path::new(secret)), "{secret}");
        }
        for fine in ["src/main.rs", "README.md", "keyboard.rs", "docs/environment.md", "Cargo.toml"]
        {
            assert!(!is_secret_path(Path::new(fine)), "{fine}");
        }
    }

    #[test]
    fn token_shapes_are_redacted_and_the_rest_kept() {
        let text = "aws = AKIAIOSFODNN7EXAMPLE\nlet gh = \"ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789\";\n\
                    password = hunter2hunter2\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n\
                    -----END OPENSSH PRIVATE KEY-----\nkey: sk-ant-api03-abcdefghijklmnopqrstuvwxyz\n\
                    fn main() { println!(\"hello\"); }\n";
        let (clean, n) = redact(text);
        assert_eq!(n, 5, "{clean}");
        for secret in
            ["AKIAIOSFODNN7EXAMPLE", "ghp_aBcD", "hunter2", "b3BlbnNzaC1rZXk", "sk-ant-api03"]
        {
            assert!(!clean.contains(secret), "{secret} survived:\n{clean}");
        }
        assert!(clean.contains("fn main() { println!(\"hello\"); }"), "{clean}");
        assert_eq!(redact("nothing to see here\n"), ("nothing to see here\n".to_owned(), 0));
    }

    #[test]
    fn assignments_of_secrets_are_redacted_in_the_shapes_config_files_use() {
        for (line, secret) in [
            ("DATABASE_PASSWORD=s3cr3tvalue", "s3cr3tvalue"),
            ("POSTGRES_PASSWORD: s3cr3tvalue", "s3cr3tvalue"),
            (r#"{"password": "s3cr3tvalue"}"#, "s3cr3tvalue"),
            ("db_password = 's3cr3tvalue'", "s3cr3tvalue"),
            ("apiKey: s3cr3tvalue", "s3cr3tvalue"),
            ("GITHUB_TOKEN_RO=s3cr3tvalue", "s3cr3tvalue"),
            ("Authorization: Bearer abcdefghijkl.mnop", "abcdefghijkl"),
            ("slack = xoxb-1234567890-abcdefghij", "xoxb-1234567890"),
            ("OPENAI = sk-proj-abcdefghijklmnopqrstuvwx", "sk-proj-abcdef"),
        ] {
            let (clean, n) = redact(line);
            assert!(n >= 1 && !clean.contains(secret), "{line} -> {clean}");
        }
        for fine in ["author: Jane Doe", "let tokens = 3;", "fn authenticate(user: &User)"] {
            assert_eq!(redact(fine).1, 0, "{fine} was redacted");
        }
    }
}
