//! Time windows such as "09:00-18:00", "Mon-Fri 09:00-18:00" or "22:00-07:30" (which
//! wraps past midnight), in local time.

use chrono::{Datelike, Timelike, Weekday};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Allowed days, Monday first; all when the window names none.
    days: [bool; 7],
    start: u32,
    end: u32,
    source: String,
}

/// A moment as windows see it: the local weekday and minute of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub weekday: Weekday,
    pub minute: u32,
}

impl LocalTime {
    pub fn of<Tz: chrono::TimeZone>(at: &chrono::DateTime<Tz>) -> LocalTime {
        LocalTime { weekday: at.weekday(), minute: at.hour() * 60 + at.minute() }
    }
}

impl Window {
    pub fn parse(text: &str) -> Result<Window, String> {
        let hint =
            "write a window like \"09:00-18:00\", \"Mon-Fri 09:00-18:00\" or \"22:00-07:30\"";
        let text = text.trim();
        let (days_part, times) = match text.rsplit_once(' ') {
            Some((days, times)) => (Some(days.trim()), times),
            None => (None, text),
        };
        let (start, end) =
            times.split_once('-').ok_or_else(|| format!("invalid window {text:?}; {hint}"))?;
        let start = parse_clock(start)
            .ok_or_else(|| format!("invalid time {start:?} in {text:?}; {hint}"))?;
        let end =
            parse_clock(end).ok_or_else(|| format!("invalid time {end:?} in {text:?}; {hint}"))?;
        let mut days = [days_part.is_none(); 7];
        if let Some(spec) = days_part {
            for item in spec.split(',') {
                let (a, b) = item.split_once('-').unwrap_or((item, item));
                let (a, b) = (parse_day(a), parse_day(b));
                let (Some(a), Some(b)) = (a, b) else {
                    return Err(format!(
                        "invalid days {spec:?} in {text:?}; use Mon, Tue, … Sun, e.g. \"Mon-Fri\""
                    ));
                };
                let mut d = a;
                loop {
                    days[d] = true;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
        }
        Ok(Window { days, start, end, source: text.to_owned() })
    }

    /// Whether `at` falls inside the window. A window that wraps midnight belongs to the
    /// day it starts on.
    pub fn contains(&self, at: LocalTime) -> bool {
        let day = at.weekday.num_days_from_monday() as usize;
        if self.start <= self.end {
            return self.days[day] && at.minute >= self.start && at.minute < self.end;
        }
        let yesterday = (day + 6) % 7;
        (self.days[day] && at.minute >= self.start)
            || (self.days[yesterday] && at.minute < self.end)
    }

    /// Minutes from `at` until the window ends (0 when outside it).
    pub fn minutes_left(&self, at: LocalTime) -> u32 {
        if !self.contains(at) {
            return 0;
        }
        if at.minute < self.end { self.end - at.minute } else { 24 * 60 - at.minute + self.end }
    }

    pub fn source(&self) -> &str {
        &self.source
    }
}

fn parse_clock(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

fn parse_day(text: &str) -> Option<usize> {
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let t = text.trim().to_ascii_lowercase();
    days.iter().position(|d| t.starts_with(d) && t.len() >= 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(weekday: Weekday, h: u32, m: u32) -> LocalTime {
        LocalTime { weekday, minute: h * 60 + m }
    }

    #[test]
    fn plain_windows() {
        let w = Window::parse("09:00-18:00").unwrap();
        assert!(w.contains(at(Weekday::Sun, 9, 0)));
        assert!(!w.contains(at(Weekday::Sun, 18, 0)));
        assert_eq!(w.minutes_left(at(Weekday::Mon, 17, 30)), 30);
    }

    #[test]
    fn windows_wrap_midnight() {
        let w = Window::parse("22:00-07:30").unwrap();
        assert!(w.contains(at(Weekday::Mon, 23, 0)));
        assert!(w.contains(at(Weekday::Tue, 7, 29)));
        assert!(!w.contains(at(Weekday::Tue, 7, 30)));
        assert!(!w.contains(at(Weekday::Tue, 12, 0)));
        assert_eq!(w.minutes_left(at(Weekday::Mon, 23, 0)), 60 + 7 * 60 + 30);
    }

    #[test]
    fn days_limit_windows() {
        let w = Window::parse("Mon-Fri 09:00-18:00").unwrap();
        assert!(w.contains(at(Weekday::Fri, 10, 0)));
        assert!(!w.contains(at(Weekday::Sat, 10, 0)));
        let weekend_nights = Window::parse("Sat,Sun 22:00-06:00").unwrap();
        assert!(weekend_nights.contains(at(Weekday::Mon, 5, 0)), "Sunday night runs into Monday");
        assert!(!weekend_nights.contains(at(Weekday::Tue, 5, 0)));
    }

    #[test]
    fn mistakes_say_what_to_write() {
        assert!(Window::parse("9-5").unwrap_err().contains("09:00-18:00"));
        assert!(Window::parse("Someday 09:00-10:00").unwrap_err().contains("Mon-Fri"));
        assert!(Window::parse("25:00-26:00").is_err());
    }
}
