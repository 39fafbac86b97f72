//! `kairos review`: a walk through what waits, one proposal at a time, like `git add -p`.
//! Each decision goes to the daemon as the matching command would send it (same
//! preconditions, same audit trail: the user decided).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use console::{Key, Term};

use super::output::{BOLD, DIM, paint};
use super::{CliResult, Failure};
use crate::client::Client;
use crate::paths::Paths;
use crate::proposal::{Proposal, ProposalId, State};
use crate::protocol::{Outcome, Request, Response};

/// How many lines of a diff the walk shows before `d` shows it all.
const DIFF_LINES: usize = 40;

const HELP: &str = "a approve · A approve always (a grant) · r reject · s skip · d the full diff · u undo the last decision · q quit · ? help";

/// A decision made in this walk, for `u`.
enum Made {
    Approved(ProposalId),
    Rejected(ProposalId),
}

pub async fn run(paths: &Paths) -> CliResult {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(Failure::new("kairos review walks the queue in a terminal, and this is not one")
            .hint("`kairos queue`, `kairos show ID`, `kairos approve ID` and `kairos reject ID` work anywhere"));
    }
    let mut client = Client::connect(paths).await?;
    let listed = client.call_listing(&Request::Queue { all: false }).await?;
    let pending: Vec<Proposal> = serde_json::from_str(&listed).map_err(|e| {
        Failure::new(format!("the daemon sent a listing that is not proposals: {e}"))
    })?;
    let term = Term::stdout();
    if pending.is_empty() {
        crate::out!("nothing waits for you");
        return Ok(ExitCode::SUCCESS);
    }
    let total = pending.len();
    let mut made: Vec<Made> = Vec::new();
    let mut index = 0;
    'walk: while index < pending.len() {
        let id = pending[index].id;
        // Looked up again: it may have been decided meanwhile, elsewhere.
        let (proposal, diff) = match client.call(&Request::Show { id }).await? {
            Response::Proposal { proposal, diff } => (proposal, diff),
            other => return Err(super::unexpected(other)),
        };
        crate::out!("\n{}", paint(&format!("── {} of {total} ──", index + 1), DIM));
        if proposal.state != State::Pending {
            crate::out!("#{id} {} is {} now: moving on", proposal.title, proposal.state);
            index += 1;
            continue;
        }
        super::show::print_human(&proposal);
        if let Some(diff) = &diff {
            let lines: Vec<&str> = diff.lines().collect();
            super::show::print_diff(&lines[..lines.len().min(DIFF_LINES)].join("\n"));
            if lines.len() > DIFF_LINES {
                crate::out!(
                    "{}",
                    paint(
                        &format!("… {} more lines: d shows them all", lines.len() - DIFF_LINES),
                        DIM
                    )
                );
            }
        }
        loop {
            print!("{} ", paint(&format!("#{id} [a,A,r,s,d,u,q,?]?"), BOLD));
            let _ = std::io::stdout().flush();
            let key = term.read_key().map_err(|e| Failure::new(format!("reading a key: {e}")))?;
            crate::out!("");
            match key {
                Key::Char(key @ ('a' | 'A')) => {
                    let always = key == 'A';
                    if always {
                        let scope = grant_scope(&proposal);
                        crate::out!("This approves #{id} and grants, from now on: {scope}.");
                        if !ask_yes(&term, "Grant it?")? {
                            continue;
                        }
                    }
                    let request = Request::Approve { ids: vec![id], always, for_secs: None };
                    if decide(&mut client, request).await? {
                        made.push(Made::Approved(id));
                    }
                    break;
                }
                Key::Char('r') => {
                    print!("reason (Enter for none): ");
                    let _ = std::io::stdout().flush();
                    let reason = term
                        .read_line()
                        .map_err(|e| Failure::new(format!("reading the reason: {e}")))?;
                    let reason = Some(reason.trim().to_owned()).filter(|r| !r.is_empty());
                    if decide(&mut client, Request::Reject { ids: vec![id], reason }).await? {
                        made.push(Made::Rejected(id));
                    }
                    break;
                }
                Key::Char('s') => break,
                Key::Char('d') => page(id)?,
                Key::Char('u') => match made.pop() {
                    Some(Made::Approved(last)) => {
                        decide(&mut client, Request::Undo { id: last }).await?;
                    }
                    Some(Made::Rejected(last)) => crate::out!(
                        "#{last} stays rejected: a rejection is not applied, so there is nothing to undo; its change will not be proposed again"
                    ),
                    None => crate::out!("no decision made in this walk yet"),
                },
                Key::Char('q') | Key::Escape => break 'walk,
                Key::Char('?') => crate::out!("{HELP}"),
                _ => crate::out!("{HELP}"),
            }
        }
        index += 1;
    }
    let decided = made.len();
    crate::out!("\n{decided} decided in this walk; `kairos queue` shows what still waits");
    Ok(ExitCode::SUCCESS)
}

/// Sends a decision and prints what came of it; whether it went through.
async fn decide(client: &mut Client, request: Request) -> Result<bool, Failure> {
    match client.call(&request).await? {
        Response::Outcomes { outcomes } => {
            for Outcome { ok, message, .. } in &outcomes {
                if *ok {
                    crate::out!("{message}");
                } else {
                    crate::out!("{}: {message}", paint("not done", super::output::RED));
                }
            }
            Ok(outcomes.iter().all(|o| o.ok))
        }
        other => Err(super::unexpected(other)),
    }
}

/// What `approve --always` would grant for `p`, in the words of `kairos policy show`.
fn grant_scope(p: &Proposal) -> String {
    let paths = crate::policy::Subject::of(p).paths;
    let touching = match paths.len() {
        0 => String::new(),
        n if n <= 3 => format!(", touching only {}", paths.join(", ")),
        n => format!(", touching only these {n} paths"),
    };
    format!("{} from {} in {}{touching}", p.action, p.task, p.repo)
}

fn ask_yes(term: &Term, question: &str) -> Result<bool, Failure> {
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let key = term.read_key().map_err(|e| Failure::new(format!("reading a key: {e}")))?;
    crate::out!("");
    Ok(matches!(key, Key::Char('y') | Key::Char('Y')))
}

/// The whole proposal, diff included, through the user's pager.
fn page(id: ProposalId) -> Result<(), Failure> {
    let me = std::env::current_exe().map_err(|e| Failure::new(e.to_string()))?;
    let pager =
        std::env::var("PAGER").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "less -R".into());
    let shown = std::process::Command::new(me)
        .args(["show", &id.to_string(), "--color", "always"])
        .output()
        .map_err(|e| Failure::new(format!("showing #{id}: {e}")))?;
    let mut child = std::process::Command::new("sh")
        .args(["-c", &pager])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Failure::new(format!("starting the pager ({pager}): {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&shown.stdout);
    }
    let _ = child.wait();
    Ok(())
}
