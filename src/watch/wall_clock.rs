//! Sleeping until a time on the wall clock, for schedules; and until a monotonic
//! deadline with a single wakeup.
//!
//! tokio's timers follow the monotonic clock, which stops while the machine is
//! suspended: a run planned for 18:00 before a two-hour suspend would come at 20:00.
//! Checking the wall clock every minute instead costs a wakeup a minute for ever. A
//! timerfd on `CLOCK_REALTIME` with an absolute expiry fires at the wall-clock time,
//! suspend included, and `TFD_TIMER_CANCEL_ON_SET` wakes it early when the clock is set
//! (an NTP step, the user changing the time), so the caller plans again: no wakeup
//! between deadlines.
//!
//! tokio's own timers are a hierarchical wheel: a far deadline is woken for on its way
//! down the wheel's levels (measured with strace: a 30 s sleep woke at 20.6 s, then
//! 1.3 s and 58 ms before its time, a 2 s sleep three times). The daemon's waits that
//! happen at rest go through a timerfd instead, which wakes once, at the deadline.

use std::os::fd::OwnedFd;

use chrono::{DateTime, Utc};
use rustix::time::{
    ClockId, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, clock_gettime,
    timerfd_create, timerfd_settime,
};
use tokio::io::unix::AsyncFd;

/// How long to sleep at most where no timerfd can be made (the limit on open files):
/// the wall clock is then looked at once a minute.
const FALLBACK_CHECK: std::time::Duration = std::time::Duration::from_secs(60);

/// Returns once the wall clock reads `at` or later, or once the clock was set (then
/// early: look at the clock again and sleep anew).
pub async fn sleep_until(at: DateTime<Utc>) {
    match wall_clock_timer(at) {
        Ok(fd) => {
            // Readable when it expires, or when the clock is set (the read would
            // fail with ECANCELED): either way, time to look.
            let _ = fd.readable().await;
        }
        Err(e) => {
            tracing::debug!("no wall-clock timer ({e}); looking at the clock every minute");
            let wait = (at - Utc::now()).to_std().unwrap_or_default().min(FALLBACK_CHECK);
            tokio::time::sleep(wait).await;
        }
    }
}

/// Returns at `at` on tokio's clock (the monotonic one), woken once.
pub async fn sleep_until_instant(at: tokio::time::Instant) {
    let left = at.saturating_duration_since(tokio::time::Instant::now());
    // Near deadlines cost the wheel a wakeup or two, and come often while work goes on
    // (the next batch of a storm's events): a timerfd made and registered for each of
    // those would cost more than it saves.
    if left < SHORT_WAIT {
        return tokio::time::sleep_until(at).await;
    }
    // Both clocks are CLOCK_MONOTONIC; reading it after `left` keeps the expiry at or
    // after `at`.
    let now = clock_gettime(ClockId::Monotonic);
    let expiry = std::time::Duration::new(now.tv_sec as u64, now.tv_nsec as u32) + left;
    let expiry =
        Timespec { tv_sec: expiry.as_secs() as i64, tv_nsec: expiry.subsec_nanos().into() };
    match timer(TimerfdClockId::Monotonic, expiry, TimerfdTimerFlags::ABSTIME) {
        Ok(fd) => {
            let _ = fd.readable().await;
        }
        Err(_) => tokio::time::sleep_until(at).await,
    }
}

/// Waits shorter than this use tokio's timer.
const SHORT_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

fn wall_clock_timer(at: DateTime<Utc>) -> std::io::Result<AsyncFd<OwnedFd>> {
    // A time in the past expires at once; zero would disarm the timer instead.
    let expiry =
        Timespec { tv_sec: at.timestamp().max(1), tv_nsec: at.timestamp_subsec_nanos().into() };
    timer(
        TimerfdClockId::Realtime,
        expiry,
        TimerfdTimerFlags::ABSTIME | TimerfdTimerFlags::CANCEL_ON_SET,
    )
}

fn timer(
    clock: TimerfdClockId,
    expiry: Timespec,
    flags: TimerfdTimerFlags,
) -> std::io::Result<AsyncFd<OwnedFd>> {
    let fd = timerfd_create(clock, TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC)?;
    let expiry = Itimerspec { it_interval: Timespec { tv_sec: 0, tv_nsec: 0 }, it_value: expiry };
    timerfd_settime(&fd, flags, &expiry)?;
    // SAFETY: the descriptor is an `OwnedFd` that moves into the `AsyncFd` and is closed
    // only when the `AsyncFd` is dropped; its `as_raw_fd` always returns that descriptor.
    #[allow(unsafe_code)]
    let registered = unsafe { AsyncFd::register(fd) };
    registered.map_err(|e| e.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_at_the_wall_clock_time_and_at_once_for_a_past_one() {
        let at = Utc::now() + chrono::Duration::milliseconds(200);
        tokio::time::timeout(std::time::Duration::from_secs(30), sleep_until(at)).await.unwrap();
        assert!(Utc::now() >= at, "woke before the time");
        let past = Utc::now() - chrono::Duration::hours(1);
        tokio::time::timeout(std::time::Duration::from_secs(30), sleep_until(past)).await.unwrap();
    }

    #[tokio::test]
    async fn a_monotonic_deadline_is_kept_to_and_not_passed_early() {
        for wait_ms in [10, 120, 1_300, 2_100] {
            let at = tokio::time::Instant::now() + std::time::Duration::from_millis(wait_ms);
            tokio::time::timeout(std::time::Duration::from_secs(30), sleep_until_instant(at))
                .await
                .unwrap();
            assert!(tokio::time::Instant::now() >= at, "woke before {wait_ms} ms");
        }
        let past = tokio::time::Instant::now() - std::time::Duration::from_secs(5);
        tokio::time::timeout(std::time::Duration::from_secs(30), sleep_until_instant(past))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_far_time_does_not_wake() {
        let far = Utc::now() + chrono::Duration::hours(1);
        let slept = tokio::time::timeout(std::time::Duration::from_millis(300), sleep_until(far));
        assert!(slept.await.is_err(), "woke an hour early");
    }
}
