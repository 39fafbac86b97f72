//! Durations as users write them: "500ms", "30s", "5m", "1h 30m".

/// Parses a duration as users write it: "30s", "5m", "1h 30m".
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let duration = humantime::parse_duration(text.trim()).map_err(|e| {
        format!("invalid duration {text:?} ({e}); write a duration like \"30s\", \"5m\" or \"1h\"")
    })?;
    // Clocks and dates overflow somewhere past this; nothing kairos waits for is longer.
    if duration > MAX_DURATION {
        return Err(format!("duration {text:?} is too long; at most 100 years (\"100y\")"));
    }
    Ok(duration)
}

/// The longest duration kairos accepts anywhere: 100 years as humantime counts them
/// (365.25 days each).
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(100 * 31_557_600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_durations_are_refused_not_overflowed() {
        assert!(parse_duration("100y").is_ok());
        let err = parse_duration("1000000y").unwrap_err();
        assert!(err.contains("at most 100 years"), "{err}");
    }

    #[test]
    fn durations_parse_in_human_units() {
        assert_eq!(parse_duration("30s").unwrap().as_secs(), 30);
        assert_eq!(parse_duration("1h 30m").unwrap().as_secs(), 5400);
        assert!(parse_duration("thirty").unwrap_err().contains("like \"30s\""));
    }
}
