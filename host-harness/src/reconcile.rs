//! `gladly-harness plan | apply | reconcile`: a roster file in, a plan a
//! person reviews, the plan applied item by item.
//!
//! Exit codes beside the CLI's own (0, 1 host, 2 usage or bad file, 3
//! domain error): 4 some changes failed, were stale or conflicted (the rest
//! applied); 5 stopped early, the rest not attempted (a host failure
//! too); 6 refused, nothing applied (the deactivation guard, a plan for
//! another organisation, or a plan edited to disagree with itself).

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde_json::Value;

use gladly_harness::agents::Error;
use gladly_harness::output;
use gladly_harness::roster::file::RosterFile;
use gladly_harness::roster::locate;
use gladly_harness::roster::plan_file::{self, PlanFile};
use gladly_harness::roster::run::{self, Item, Progress, Report, RunOptions};
use gladly_harness::roster::{
    ChangeKind, ChangeStatus, PlanOptions, RosterPlan, Scope, gladly_csv,
};
use gladly_harness::{Connection, Harness, error_case, error_message};

pub const EXIT_PARTIAL: u8 = 4;
pub const EXIT_STOPPED: u8 = 5;
pub const EXIT_REFUSED: u8 = 6;
const EXIT_INPUT: u8 = 2;
const EXIT_DOMAIN: u8 = 3;

#[derive(Args)]
pub struct PlanArgs {
    /// The roster: CSV (email, name, role, inboxes, teams, external_id,
    /// phone, language, active) or JSON (a list of desired agents).
    #[arg(long, value_name = "FILE")]
    desired: PathBuf,
    #[command(flatten)]
    scope: ScopeArgs,
    /// Deactivations the plan may hold before its guard trips [default: 10%
    /// of the active agents in scope, at least 5].
    #[arg(long, value_name = "N")]
    deactivation_threshold: Option<u32>,
    /// Write the plan (JSON) here, for `apply`.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Args)]
pub struct ScopeArgs {
    /// Who may be deactivated for being absent from the roster: agents with
    /// an external id (managed), or every agent (all-agents). `apply`
    /// counts the deactivation guard in this scope and refuses a plan made
    /// for another.
    #[arg(long, value_enum, default_value_t = ScopeArg::Managed, conflicts_with = "email_domain")]
    scope: ScopeArg,
    /// Scope: agents whose e-mail is at this domain (repeatable).
    #[arg(long, value_name = "DOMAIN")]
    email_domain: Vec<String>,
}

impl ScopeArgs {
    fn scope(&self) -> Scope {
        if self.email_domain.is_empty() {
            match self.scope {
                ScopeArg::Managed => Scope::Managed,
                ScopeArg::AllAgents => Scope::AllAgents,
            }
        } else {
            Scope::EmailDomains(self.email_domain.clone())
        }
    }
}

#[derive(Args)]
pub struct PlanCommand {
    #[command(flatten)]
    plan: PlanArgs,
    /// What to print: a summary to review, the plan as JSON, or Gladly's
    /// bulk-import file (for organisations whose API has read-only agents).
    #[arg(long, value_enum, default_value_t = Format::Summary)]
    format: Format,
    /// With `--format gladly-csv`: deactivations the import file may hold
    /// when the guard trips (importing it makes them, so the file is not
    /// written without this).
    #[arg(long, value_name = "N")]
    allow_deactivations: Option<u32>,
}

#[derive(Args)]
pub struct ApplyArgs {
    /// Deactivations allowed; needed when the guard trips (counted again
    /// from the plan's changes and the organisation before applying).
    #[arg(long, value_name = "N")]
    allow_deactivations: Option<u32>,
    /// Check every change against Gladly and report; send no write.
    #[arg(long)]
    dry_run: bool,
    /// Changes started per second at most (Gladly allows 10 requests per
    /// second per method).
    #[arg(long, default_value_t = 10.0, value_name = "N", value_parser = changes_per_second)]
    rate: f64,
    /// Also write the JSON report here.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

#[derive(Args)]
pub struct ApplyCommand {
    /// A plan written by `plan --out`.
    plan: PathBuf,
    #[command(flatten)]
    scope: ScopeArgs,
    #[command(flatten)]
    apply: ApplyArgs,
}

#[derive(Args)]
pub struct ReconcileCommand {
    #[command(flatten)]
    plan: PlanArgs,
    #[command(flatten)]
    apply: ApplyArgs,
    /// Apply the plan; without it, reconcile only plans and shows the plan.
    #[arg(long)]
    yes: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ScopeArg {
    Managed,
    AllAgents,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Summary,
    Json,
    GladlyCsv,
}

/// Plans, printing as `format` asks; `Err(code)` when no plan came of it.
/// The roster comes back too, to name its rows by line.
async fn make_plan(
    harness: &Harness,
    conn: &Connection,
    a: &PlanArgs,
) -> anyhow::Result<Result<(PlanFile, RosterFile), ExitCode>> {
    let roster = match RosterFile::read(&a.desired) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "error: invalid-input: {}",
                output::printable(&e.to_string())
            );
            return Ok(Err(ExitCode::from(EXIT_INPUT)));
        }
    };
    let options = PlanOptions {
        scope: a.scope.scope(),
        deactivation_threshold: a.deactivation_threshold,
    };
    let plan = match harness.plan(conn, &roster.rows, &options).await? {
        Ok(p) => p,
        Err(e) => {
            // A bad row is named by file, line and column.
            if let Error::InvalidInput(i) = &e
                && let Some(at) = roster.locate(&i.field, &i.message)
            {
                eprintln!(
                    "error: invalid-input: {}",
                    output::printable(&at.to_string())
                );
                return Ok(Err(ExitCode::from(EXIT_INPUT)));
            }
            eprintln!("{}", output::error_line(&e));
            return Ok(Err(ExitCode::from(EXIT_DOMAIN)));
        }
    };
    let file = PlanFile {
        org_url: conn.org_url.clone(),
        roster: a.desired.display().to_string(),
        scope: options.scope,
        plan,
    };
    if let Some(out) = &a.out {
        write_json(out, &file.to_json())?;
    }
    Ok(Ok((file, roster)))
}

fn write_json(path: &Path, v: &Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(v)? + "\n";
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

pub async fn plan(
    harness: &Harness,
    conn: &Connection,
    c: &PlanCommand,
) -> anyhow::Result<ExitCode> {
    let (file, roster) = match make_plan(harness, conn, &c.plan).await? {
        Ok(f) => f,
        Err(code) => return Ok(code),
    };
    match c.format {
        Format::Summary => {
            print!("{}", summary(&file.plan, Some(&roster)));
            if let Some(out) = &c.plan.out {
                println!(
                    "\nPlan written to {}; apply it with: gladly-harness apply {0}",
                    output::printable(&out.display().to_string())
                );
            }
        }
        Format::Json => println!("{}", serde_json::to_string_pretty(&file.to_json())?),
        Format::GladlyCsv => {
            for w in &file.plan.warnings {
                eprintln!("warning: {}", output::printable(w));
            }
            // Importing the file deactivates: the guard holds here as
            // `apply` holds it.
            let p = &file.plan;
            if !run::stated_guard(p).allows(c.allow_deactivations) {
                eprintln!(
                    "refused: the import file would deactivate {} of the {} active agent(s) in scope, more than the guard allows ({}, and never all of them); nothing was written. Review the plan (--format summary), then write the file with --allow-deactivations {0}",
                    p.deactivations, p.active_in_scope, p.deactivation_threshold
                );
                return Ok(ExitCode::from(EXIT_REFUSED));
            }
            // A list Gladly refused is no empty list (every membership
            // would become a step by hand, or a column left out): the
            // command fails with its error, and nothing is written.
            let lists = match harness.list_inboxes(conn).await? {
                Ok(inboxes) => harness
                    .list_teams(conn)
                    .await?
                    .map(|teams| (inboxes, teams)),
                Err(e) => Err(e),
            };
            let (inboxes, teams) = match lists {
                Ok(lists) => lists,
                Err(e) => {
                    eprintln!("{}", output::error_line(&e));
                    return Ok(ExitCode::from(EXIT_DOMAIN));
                }
            };
            let rendered = gladly_csv::render(&file.plan, &inboxes, &teams);
            print!("{}", rendered.csv);
            eprintln!(
                "{} row(s) for Settings > People > Users > Import; {} step(s) to do by hand{}",
                rendered.rows,
                rendered.by_hand.len(),
                if rendered.by_hand.is_empty() {
                    "."
                } else {
                    ":"
                }
            );
            for step in &rendered.by_hand {
                eprintln!("  - {}", output::printable(step));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn apply(
    harness: &Harness,
    conn: &Connection,
    c: &ApplyCommand,
) -> anyhow::Result<ExitCode> {
    // The file's name as the errors below quote it: one someone else
    // named may hold an escape sequence.
    let shown = output::printable(&c.plan.display().to_string());
    // A file missing or not UTF-8 is bad input (exit 2), not the host's
    // failure.
    let bytes = match std::fs::read(&c.plan) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: invalid-input: {}: cannot be read: {e}", shown);
            return Ok(ExitCode::from(EXIT_INPUT));
        }
    };
    let text = match locate::utf8(bytes) {
        Ok(t) => t,
        Err((line, column)) => {
            eprintln!(
                "error: invalid-input: {}:{line}:{column}: is not UTF-8 text (a plan file is written as UTF-8)",
                shown
            );
            return Ok(ExitCode::from(EXIT_INPUT));
        }
    };
    // A byte-order mark, as an editor may save one after review, is no
    // part of the plan.
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    };
    let value: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            let ((line, column), said) = locate::syntax_error(&text, &e);
            eprintln!(
                "error: invalid-input: {}:{line}:{column}: not a plan file: {said}",
                shown,
            );
            return Ok(ExitCode::from(EXIT_INPUT));
        }
    };
    if let Some((key, at)) = locate::duplicate_key(&text) {
        let (line, column) = locate::line_col(&text, at);
        eprintln!(
            "error: invalid-input: {}:{line}:{column}: {}",
            shown,
            output::printable(&locate::written_twice(&key))
        );
        return Ok(ExitCode::from(EXIT_INPUT));
    }
    let file = match PlanFile::from_json(&value) {
        Ok(f) => f,
        Err(why) => {
            let (line, column) = locate::line_col(&text, locate::offset(&text, &why.path));
            eprintln!(
                "error: invalid-input: {}:{line}:{column}: {}",
                shown,
                output::printable(&why.to_string())
            );
            return Ok(ExitCode::from(EXIT_INPUT));
        }
    };
    // Every change as `apply-change` would check it, before the first is
    // sent: a bad one is the file's error, and nothing is applied.
    if let Some((path, why)) = plan_file::first_bad_change(&file.plan) {
        let (line, column) = locate::line_col(&text, locate::offset(&text, &path));
        eprintln!(
            "error: invalid-input: {}:{line}:{column}: {path}: {}",
            shown,
            output::printable(&why)
        );
        return Ok(ExitCode::from(EXIT_INPUT));
    }
    // A threshold or scope written in the file is not trusted to loosen
    // the guard.
    run_plan(harness, conn, &file, &c.apply, None, c.scope.scope()).await
}

pub async fn reconcile(
    harness: &Harness,
    conn: &Connection,
    c: &ReconcileCommand,
) -> anyhow::Result<ExitCode> {
    let (file, roster) = match make_plan(harness, conn, &c.plan).await? {
        Ok(f) => f,
        Err(code) => return Ok(code),
    };
    eprint!("{}", summary(&file.plan, Some(&roster)));
    if !c.yes {
        eprintln!("\nNothing applied: run again with --yes to apply this plan.");
        return Ok(ExitCode::SUCCESS);
    }
    // The threshold the operator gave on this command line is used as given.
    run_plan(
        harness,
        conn,
        &file,
        &c.apply,
        c.plan.deactivation_threshold,
        c.plan.scope.scope(),
    )
    .await
}

/// `--rate`, checked before anything is sent: more than 0, at most 1,000
/// changes a second (a rate of 1e10 once made a pacing interval of zero,
/// which panicked).
fn changes_per_second(v: &str) -> Result<f64, String> {
    match v.trim().parse::<f64>() {
        Ok(r) if r > 0.0 && r <= MAX_CHANGES_PER_SECOND => Ok(r),
        _ => Err(format!(
            "must be a number of changes per second above 0 and at most {MAX_CHANGES_PER_SECOND}"
        )),
    }
}

const MAX_CHANGES_PER_SECOND: f64 = 1_000.0;

async fn run_plan(
    harness: &Harness,
    conn: &Connection,
    file: &PlanFile,
    a: &ApplyArgs,
    deactivation_threshold: Option<u32>,
    scope: Scope,
) -> anyhow::Result<ExitCode> {
    let options = RunOptions {
        dry_run: a.dry_run,
        allow_deactivations: a.allow_deactivations,
        deactivation_threshold,
        per_second: a.rate,
        scope,
    };
    let mut progress: Box<dyn Progress> = if std::io::stderr().is_terminal() {
        Box::new(Bar::default())
    } else {
        Box::new(Lines)
    };
    let report = match run::apply(harness, conn, file, &options, progress.as_mut()).await? {
        Ok(r) => r,
        Err(refusal) => {
            eprintln!(
                "error: refused: {}",
                output::printable(&refusal.to_string())
            );
            return Ok(ExitCode::from(EXIT_REFUSED));
        }
    };
    let json = report.to_json();
    println!("{}", serde_json::to_string_pretty(&json)?);
    if let Some(path) = &a.report {
        write_json(path, &json)?;
    }
    eprintln!("{}", output::printable(&closing_line(&report)));
    Ok(if report.stopped.is_some() {
        ExitCode::from(EXIT_STOPPED)
    } else if report.complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PARTIAL)
    })
}

fn closing_line(r: &Report) -> String {
    let c = r.counts();
    let mut s = format!(
        "{} applied, {} already applied, {} stale, {} failed, {} not attempted, {} conflict(s)",
        c.applied, c.already_applied, c.stale, c.failed, c.not_attempted, c.conflicts
    );
    if c.dry_run > 0 {
        s.push_str(&format!(", {} checked in a dry run", c.dry_run));
    }
    if let Some(stop) = &r.stopped {
        s.push_str(&format!(
            ". Stopped early: {}: {}",
            stop.case(),
            stop.message()
        ));
    } else if c.stale > 0 {
        s.push_str(". Plan again for the stale changes.");
    }
    s
}

/// A plan for a person to review: counts by action, then each change; its
/// rows named by their lines in `roster` where it is at hand, else by their
/// place in it (`desired[2]`).
pub fn summary(p: &RosterPlan, roster: Option<&RosterFile>) -> String {
    use std::fmt::Write as _;
    // A field is one line: a line break in a server's name (or an edited
    // plan's) would otherwise print a line of its own, such as a guard
    // line that says `ok`.
    let one_line = output::printable;
    let count = |k: ChangeKind| p.changes.iter().filter(|c| c.kind == k).count();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Plan: {} to create, {} to reactivate, {} to update, {} to deactivate; {} conflict(s); {} unchanged.",
        count(ChangeKind::Create),
        count(ChangeKind::Reactivate),
        count(ChangeKind::Update),
        count(ChangeKind::Deactivate),
        p.conflicts.len(),
        p.unchanged
    );
    let _ = writeln!(
        s,
        "Deactivation guard: {} of {} active agent(s) in scope, threshold {}{}.",
        p.deactivations,
        p.active_in_scope,
        p.deactivation_threshold,
        if p.guard_tripped {
            " -- TRIPPED: apply needs --allow-deactivations"
        } else {
            ": ok"
        }
    );
    for c in &p.changes {
        let _ = writeln!(
            s,
            "  {:>4}. {:<10} {}{} ({})",
            c.step,
            plan_file::kind_name(c.kind),
            one_line(&c.email_address),
            c.current
                .as_ref()
                .map(|a| format!(" [{}]", one_line(&a.id)))
                .unwrap_or_default(),
            one_line(&c.reason)
        );
        for d in &c.differences {
            let _ = writeln!(s, "          {}", one_line(d));
        }
    }
    for c in &p.conflicts {
        let _ = writeln!(
            s,
            "  conflict   {}{}: {}",
            one_line(&c.email_address),
            c.row
                .map(|r| match roster.and_then(|f| f.line_of(r)) {
                    Some(line) => format!(" (line {line})"),
                    None => format!(" (desired[{r}])"),
                })
                .unwrap_or_default(),
            one_line(&roster.map_or_else(|| c.message.clone(), |f| f.lines_named(&c.message)))
        );
    }
    for w in &p.warnings {
        let _ = writeln!(s, "Warning: {}", one_line(w));
    }
    s
}

fn item_line(change: &gladly_harness::roster::Change, item: &Item) -> String {
    let what = match item {
        Item::Done(r) => {
            let mut w = run::status_name(r.status).to_string();
            if r.status == ChangeStatus::Stale || r.status == ChangeStatus::AlreadyApplied {
                w.push_str(&format!(": {}", r.message));
            }
            w
        }
        Item::Failed(e) => format!("failed: {}: {}", error_case(e), error_message(e)),
        Item::HostFailed(m) => format!("failed: host: {m}"),
        Item::NotAttempted => "not attempted".into(),
    };
    output::printable(&format!(
        "step {} {} {}: {what}",
        change.step,
        plan_file::kind_name(change.kind),
        change.email_address
    ))
}

/// Plain lines, for logs and pipes.
struct Lines;

impl Progress for Lines {
    fn start(&mut self, total: usize) {
        eprintln!("applying {total} change(s)");
    }
    fn item(&mut self, change: &gladly_harness::roster::Change, item: &Item) {
        eprintln!("{}", item_line(change, item));
    }
    fn finish(&mut self, _: &Report) {}
}

/// A bar on a terminal: items done, failures, rate, time left.
#[derive(Default)]
struct Bar {
    bar: Option<indicatif::ProgressBar>,
    failures: usize,
}

impl Progress for Bar {
    fn start(&mut self, total: usize) {
        let bar = indicatif::ProgressBar::new(total as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} changes, {msg} [{per_sec}, {eta} left]",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message("0 failed");
        self.bar = Some(bar);
    }
    fn item(&mut self, change: &gladly_harness::roster::Change, item: &Item) {
        let Some(bar) = &self.bar else { return };
        let bad = match item {
            Item::Failed(_) | Item::HostFailed(_) => true,
            Item::Done(r) => r.status == ChangeStatus::Stale,
            Item::NotAttempted => false,
        };
        if bad {
            self.failures += 1;
            bar.println(item_line(change, item));
            bar.set_message(format!("{} failed", self.failures));
        }
        bar.inc(1);
    }
    fn finish(&mut self, _: &Report) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}

/// The demo's roster: Sam moves to a new address (matched by external id),
/// María joins (an international address), Former returns, and Jane, absent,
/// leaves.
const DEMO_ROSTER: &str = "email,name,role,inboxes,teams,external_id,active
sam.lee@acme.example,Sam Lee,team-lead,General Support;Billing,Tier 2 Support,E-1002,true
maría.garcía@acme.example,María García,agent,Billing,Tier 1 Support,E-3001,true
former@acme.example,Former Agent,agent,General Support,,E-0999,true
";

/// The demo's roster steps: a roster file planned, reviewed, applied, and
/// planned again to show nothing is left.
pub async fn demo(harness: &Harness, conn: &Connection) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("gladly-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("roster.csv");
    std::fs::write(&path, DEMO_ROSTER)?;
    let indent = |text: &str| {
        text.lines()
            .map(|l| format!("   {l}\n"))
            .collect::<String>()
    };
    println!("\n9. Reconcile a roster file (what HR exports every night):");
    print!("{}", indent(DEMO_ROSTER));
    let roster = RosterFile::read(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let options = PlanOptions {
        scope: Scope::Managed,
        deactivation_threshold: None,
    };
    let plan = harness
        .plan(conn, &roster.rows, &options)
        .await?
        .map_err(|e| anyhow::anyhow!("plan failed: {}: {}", error_case(&e), error_message(&e)))?;
    println!("   The plan, for review (gladly-harness plan --desired roster.csv):");
    print!("{}", indent(&summary(&plan, Some(&roster))));

    println!("\n10. Apply it, change by change, paced to Gladly's rate limit");
    let file = PlanFile {
        org_url: conn.org_url.clone(),
        roster: path.display().to_string(),
        scope: options.scope.clone(),
        plan,
    };
    let report = run::apply(harness, conn, &file, &RunOptions::default(), &mut Indented)
        .await?
        .map_err(|r| anyhow::anyhow!("refused: {r}"))?;
    println!("   {}", closing_line(&report));

    println!("\n11. Plan again: nothing is left to do");
    let again = harness
        .plan(conn, &roster.rows, &options)
        .await?
        .map_err(|e| anyhow::anyhow!("plan failed: {}: {}", error_case(&e), error_message(&e)))?;
    print!(
        "{}",
        indent(
            summary(&again, Some(&roster))
                .lines()
                .next()
                .unwrap_or_default()
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Progress lines for the demo.
struct Indented;

impl Progress for Indented {
    fn start(&mut self, _: usize) {}
    fn item(&mut self, change: &gladly_harness::roster::Change, item: &Item) {
        println!("   {}", item_line(change, item));
    }
    fn finish(&mut self, _: &Report) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use gladly_harness::agents::{ApiFlavor, PlannedRequest};
    use gladly_harness::roster::Change;

    /// A plan's summary is what a person reads before `--yes`: a line
    /// break or an escape sequence in a server's (or an edited plan's)
    /// text is shown escaped in its field, never a line of its own (a
    /// forged "Deactivation guard ... ok"). (Found in review: helper-47.)
    #[test]
    fn a_summary_prints_one_line_per_change_whatever_its_text_holds() {
        let forged = "x@acme.example\nDeactivation guard: 0 of 9: ok\u{1b}[2J";
        let plan = RosterPlan {
            changes: vec![Change {
                step: 1,
                kind: ChangeKind::Deactivate,
                row: None,
                email_address: forged.into(),
                reason: "absent\nfrom the roster".into(),
                current: None,
                differences: vec!["name: 'a'\n -> 'b'".into()],
                requests: vec![PlannedRequest {
                    method: "PATCH".into(),
                    path: "/api/v1/agents/agt_1".into(),
                    body: Some(r#"{"active":false}"#.into()),
                }],
            }],
            conflicts: Vec::new(),
            unchanged: 0,
            active_in_scope: 9,
            deactivations: 1,
            deactivation_threshold: 5,
            guard_tripped: false,
            api_flavor: ApiFlavor::Lifecycle,
            warnings: vec!["warned\nDeactivation guard: ok".into()],
        };
        let shown = summary(&plan, None);
        assert!(!shown.contains('\u{1b}'), "{shown}");
        let guard_lines = shown
            .lines()
            .filter(|l| l.trim_start().starts_with("Deactivation guard"))
            .count();
        assert_eq!(guard_lines, 1, "{shown}");
        let unplanned = shown
            .lines()
            .filter(|l| {
                l.trim_start().starts_with("from the roster")
                    || l.trim_start().starts_with("-> 'b'")
            })
            .count();
        assert_eq!(unplanned, 0, "{shown}");
    }
}
