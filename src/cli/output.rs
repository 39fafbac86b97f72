//! Output for people: colour on a terminal, plain when piped; relative times.

/// `println!` that ends the program quietly when the reader went away
/// (`kairos log --follow | head`), instead of panicking on a broken pipe.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

use std::io::IsTerminal;

use chrono::{DateTime, Utc};

pub const RED: &str = "31";
pub const GREEN: &str = "32";
pub const YELLOW: &str = "33";
pub const DIM: &str = "2";
pub const BOLD: &str = "1";
pub const CYAN: &str = "36";

/// Wraps `text` in an ANSI colour when stdout is a terminal and NO_COLOR is unset.
/// `text` with control characters (other than newline and tab) shown as escapes: file contents,
/// titles and tool output must not drive the terminal, and a diff under review must
/// not be able to hide its own lines.
pub fn visible(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\t' && c != '\n' {
                c.escape_default().to_string()
            } else {
                c.into()
            }
        })
        .collect()
}

pub fn paint(text: &str, code: &str) -> String {
    if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// "3m ago", "in 2h", for times near now.
pub fn relative(at: DateTime<Utc>) -> String {
    let delta = at - Utc::now();
    let secs = delta.num_seconds();
    let span = humantime::format_duration(std::time::Duration::from_secs(secs.unsigned_abs()))
        .to_string()
        .split(' ')
        .next()
        .unwrap_or("0s")
        .to_owned();
    if secs.abs() < 1 {
        "now".into()
    } else if secs < 0 {
        format!("{span} ago")
    } else {
        format!("in {span}")
    }
}

pub fn print_json<T: serde::Serialize>(value: &T) {
    crate::out!("{}", serde_json::to_string_pretty(value).expect("serialisable"));
}

pub fn state_colour(state: crate::proposal::State) -> &'static str {
    use crate::proposal::State::*;
    match state {
        Pending | Approved => YELLOW,
        Applied => GREEN,
        Failed | Stale => RED,
        _ => DIM,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(super::visible("a\u{1b}[2Kb\rc\n\td"), "a\\u{1b}[2Kb\\rc\n\td");
    }
}
