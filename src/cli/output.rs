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

/// `--color`: whether output is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    Always,
    Never,
}

static COLOR: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Decides once, from `--color`, NO_COLOR (<https://no-color.org>) and whether stdout
/// is a terminal, whether `paint` colours.
pub fn set_color(choice: ColorChoice) {
    let _ = COLOR.set(color_wanted(
        choice,
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        std::io::stdout().is_terminal(),
    ));
}

fn color_wanted(choice: ColorChoice, no_color: bool, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && !no_color,
    }
}

pub fn paint(text: &str, code: &str) -> String {
    let wanted = *COLOR.get_or_init(|| {
        color_wanted(
            ColorChoice::Auto,
            std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            std::io::stdout().is_terminal(),
        )
    });
    if wanted { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
}

/// "3 minutes ago", "in 5 days", "now": times near now as people say them.
pub fn relative(at: DateTime<Utc>) -> String {
    let secs = (at - Utc::now()).num_seconds();
    if secs == 0 {
        return "now".into();
    }
    let span = span(secs.unsigned_abs());
    if secs < 0 { format!("{span} ago") } else { format!("in {span}") }
}

/// A length of time in its largest whole unit: "1 second", "5 days", "2 weeks".
pub fn span(secs: u64) -> String {
    const UNITS: [(u64, &str); 7] = [
        (365 * 86_400, "year"),
        (30 * 86_400, "month"),
        (7 * 86_400, "week"),
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    let (size, unit) =
        UNITS.iter().find(|(size, _)| secs >= *size).copied().unwrap_or((1, "second"));
    let n = secs / size;
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
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
    use super::*;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(visible("a\u{1b}[2Kb\rc\n\td"), "a\\u{1b}[2Kb\\rc\n\td");
    }

    #[test]
    fn spans_read_as_people_write_them() {
        assert_eq!(span(1), "1 second");
        assert_eq!(span(59), "59 seconds");
        assert_eq!(span(3_600), "1 hour");
        assert_eq!(span(5 * 86_400 + 7_200), "5 days");
        assert_eq!(span(15 * 86_400), "2 weeks");
        assert_eq!(
            relative(Utc::now() + chrono::Duration::days(5) + chrono::Duration::seconds(30)),
            "in 5 days"
        );
        assert_eq!(relative(Utc::now() - chrono::Duration::minutes(3)), "3 minutes ago");
    }

    #[test]
    fn colour_follows_the_flag_then_no_color_then_the_terminal() {
        assert!(color_wanted(ColorChoice::Always, true, false));
        assert!(!color_wanted(ColorChoice::Never, false, true));
        assert!(color_wanted(ColorChoice::Auto, false, true));
        assert!(!color_wanted(ColorChoice::Auto, true, true));
        assert!(!color_wanted(ColorChoice::Auto, false, false));
    }
}
