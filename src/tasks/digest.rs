//! `digest` (daily, `0 18 * * *`): what happened today in the repository — commits,
//! proposals and decisions, failures, what was learnt — assembled from the log without a
//! model; with one, the model writes it from that material. Kept (`kairos digest`) and
//! told as one notice. A day with nothing in it is silent.

use chrono::{DateTime, Local, NaiveDate, TimeZone, Utc};

use super::prompts::{self, Data, Prompt};
use super::{Due, RunContext, TaskError, Trigger};
use crate::action::Action;
use crate::llm::Question;
use crate::memory::RepoMemory;
use crate::proposal::{Change, Draft, Origin, Provenance};
use crate::store::LogKind;
use crate::watch::clock::CronSchedule;

pub fn run(ctx: &RunContext) -> Result<Vec<Draft>, TaskError> {
    let Some(memory) = ctx.memory else { return Ok(vec![]) };
    let day = day_covered(ctx.trigger, &ctx.settings.triggers.schedules, Utc::now());
    let Some(material) = compose(ctx.repo, memory, day) else { return Ok(vec![]) };
    let name = ctx.root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut text = material.clone();
    let mut provenance = Provenance::BUILTIN;
    let written = memory.digest(day).filter(|d| d.material == material);
    if let Some(written) = written {
        // Nothing new since it was written: the same digest, at no cost.
        text = written.text;
    } else if let Some(model) = ctx.model {
        let user = prompts::Digest { repo: Data::new(&name), material: Data::new(&material) }
            .render(model)?;
        let question = Question { user, fields: &["notes"], max_tokens: 600 };
        // Without an answer the plain digest stands: it is the same material.
        if let Ok(answer) = model.ask(&ctx.caller(), question, &|_| Ok(()))
            && let Some(note) = answer.reply.notes.first()
            && !note.body.trim().is_empty()
        {
            text = format!("{}\n{}", note.title.trim(), note.body.trim());
            provenance =
                Provenance { origin: Origin::Model { model: answer.model }, read_untrusted: true };
        }
    }
    memory.put_digest(day, &crate::store::Digest { material, text: text.clone() });
    Ok(vec![Draft {
        action: Action::Notice,
        changed_lines: 0,
        title: if day == Local::now().date_naive() {
            format!("{name}: today's digest")
        } else {
            format!("{name}: the digest of {day}")
        },
        why: text.clone(),
        fingerprint: format!("notice:digest:{}:{day}", ctx.root.display()),
        change: Change::Notice { text },
        provenance,
    }])
}

/// The day a run writes up: today, except when it catches up a missed run, which writes
/// up the day that run was for (a digest missed at 18:00 and caught up the next morning
/// tells of yesterday).
fn day_covered(trigger: &Trigger, schedules: &[CronSchedule], now: DateTime<Utc>) -> NaiveDate {
    let today = now.with_timezone(&Local).date_naive();
    if *trigger != Trigger::Schedule(Due::CatchUp) {
        return today;
    }
    let missed = schedules.iter().filter_map(|s| last_due(s, now)).max();
    missed.map_or(today, |at| at.with_timezone(&Local).date_naive())
}

/// The schedule's last time at or before `now`, within two days.
fn last_due(schedule: &CronSchedule, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut at = schedule.next_after(now - chrono::TimeDelta::days(2))?;
    if at > now {
        return None;
    }
    // A schedule firing every minute has 2,880 times in two days: bounded either way.
    for _ in 0..10_000 {
        match schedule.next_after(at) {
            Some(next) if next <= now => at = next,
            _ => break,
        }
    }
    Some(at)
}

/// The day's material: commits, proposals, decisions, failures and notes, from git and
/// the log; `None` when nothing happened.
pub fn compose(repo: &git2::Repository, memory: &dyn RepoMemory, day: NaiveDate) -> Option<String> {
    let start =
        Local.from_local_datetime(&day.and_hms_opt(0, 0, 0)?).earliest()?.with_timezone(&Utc);
    let end = start + chrono::TimeDelta::days(1);
    let entries: Vec<_> =
        memory.log_since(start, 5000).into_iter().filter(|e| e.at < end).collect();
    let mut commits = Vec::new();
    if let Ok(mut walk) = repo.revwalk()
        && walk.push_head().is_ok()
    {
        for commit in
            walk.filter_map(Result::ok).filter_map(|id| repo.find_commit(id).ok()).take(500)
        {
            let at = Utc.timestamp_opt(commit.time().seconds(), 0).single()?;
            if at < start {
                break;
            }
            if at < end {
                commits.push(commit.summary().ok().flatten().unwrap_or("").to_owned());
            }
        }
    }
    let decided = |word: &str| {
        entries.iter().filter(|e| e.kind == LogKind::Decision && e.message.contains(word)).count()
    };
    let failures: Vec<&str> = entries
        .iter()
        .filter(|e| e.kind == LogKind::Error)
        .map(|e| e.message.lines().next().unwrap_or(""))
        .collect();
    let learnt: Vec<&str> = entries
        .iter()
        .filter(|e| e.message.starts_with("remembered"))
        .map(|e| e.message.as_str())
        .collect();
    let pending = memory.pending();
    let (queued, applied, rejected, undone) =
        (decided("queued"), decided(" applied by"), decided(" rejected by"), decided(" undone by"));
    if commits.is_empty()
        && queued + applied + rejected + undone == 0
        && failures.is_empty()
        && learnt.is_empty()
    {
        return None;
    }
    let mut out = format!("{day}: {} commits", commits.len());
    out.push_str(&format!(
        "; kairos proposed {queued}, applied {applied}, you rejected {rejected}, undid {undone}"
    ));
    for subject in commits.iter().take(10) {
        out.push_str(&format!("\n- commit: {subject}"));
    }
    if commits.len() > 10 {
        out.push_str(&format!("\n- and {} more commits", commits.len() - 10));
    }
    for failure in failures.iter().take(5) {
        out.push_str(&format!("\n- failed: {failure}"));
    }
    for item in learnt.iter().take(5) {
        out.push_str(&format!("\n- {item}"));
    }
    if !pending.is_empty() {
        out.push_str(&format!(
            "\n- waiting for you: {}",
            pending.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
        ));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::clock::Zone;

    #[test]
    fn a_caught_up_digest_writes_up_the_day_it_was_missed() {
        let daily = vec![CronSchedule::parse("0 18 * * *", Zone::Local).unwrap()];
        let local = |d: u32, h: u32| {
            Local.with_ymd_and_hms(2026, 3, d, h, 0, 0).earliest().unwrap().with_timezone(&Utc)
        };
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
        let catch_up = Trigger::Schedule(Due::CatchUp);
        // Missed yesterday's 18:00, caught up this morning: yesterday.
        assert_eq!(day_covered(&catch_up, &daily, local(11, 9)), day(10));
        // Missed today's 18:00 too: today.
        assert_eq!(day_covered(&catch_up, &daily, local(11, 19)), day(11));
        // On time, or asked for: today.
        assert_eq!(day_covered(&Trigger::Schedule(Due::OnTime), &daily, local(11, 9)), day(11));
        assert_eq!(day_covered(&Trigger::Manual, &daily, local(11, 9)), day(11));
        // A schedule that fires every minute is bounded and lands on the last minute.
        let minutely = CronSchedule::parse("* * * * *", Zone::Local).unwrap();
        assert_eq!(last_due(&minutely, local(11, 9)), Some(local(11, 9)));
    }
}
