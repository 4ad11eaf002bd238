//! What the user sees, drawn from the engine's typed events: for people, the plan and summaries
//! on stdout and indicatif progress on stderr; with `--output json`, one JSON event per line on
//! stdout for pipelines. Both are fed by the same [`Event`]s, so they can never drift.

use crate::apply::{ActionStatus, ApplyEvent, Finished};
use crate::engine::{Event, Problem, RunEvent, EVENT_SCHEMA_VERSION};
use crate::plan::{render_human, RenderOptions};
use crate::verify::{ProbeOutcome, VerifyEvent, VerifyReport};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use parking_lot_like::Mutex;
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

mod parking_lot_like {
    /// std Mutex that ignores poisoning (a panicked progress update must not kill output).
    pub struct Mutex<T>(std::sync::Mutex<T>);
    impl<T> Mutex<T> {
        pub fn new(t: T) -> Self {
            Mutex(std::sync::Mutex::new(t))
        }
        pub fn lock(&self) -> std::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }
}

/// Output format (`--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// For people: plan and summary on stdout, progress bars on stderr.
    Human,
    /// For pipelines: one JSON object per line on stdout (schema in docs/output.md).
    Json,
}

/// Draws events in the chosen output format.
pub struct Reporter {
    format: OutputFormat,
    color: bool,
    multi: Option<MultiProgress>,
    bars: std::sync::Arc<Mutex<HashMap<String, ProgressBar>>>,
    /// Running actions' `symbol target`, for their progress lines.
    actions: Mutex<HashMap<usize, String>>,
}

impl Reporter {
    /// A reporter. Progress bars are drawn only for humans on a terminal.
    pub fn new(format: OutputFormat, color: bool) -> Reporter {
        let tty = console::Term::stderr().features().is_attended();
        let multi = (format == OutputFormat::Human).then(|| {
            let m = MultiProgress::new();
            if !tty {
                m.set_draw_target(ProgressDrawTarget::hidden());
            }
            m
        });
        let bars = std::sync::Arc::new(Mutex::new(HashMap::new()));
        if format == OutputFormat::Human && !tty {
            heartbeat(bars.clone(), heartbeat_interval());
        }
        Reporter {
            format,
            color,
            multi,
            bars,
            actions: Mutex::new(HashMap::new()),
        }
    }

    /// Draws one event: a JSON line, or text and progress for people (and, in GitHub Actions,
    /// an annotation for each located problem).
    pub fn emit(&self, event: Event) {
        match &event {
            Event::Run(RunEvent::Error { problems, .. } | RunEvent::Plan { problems, .. }) => {
                super::annotate::emit("error", problems)
            }
            Event::Run(RunEvent::Warning { problem }) => {
                super::annotate::emit("warning", std::slice::from_ref(problem))
            }
            _ => {}
        }
        match self.format {
            OutputFormat::Json => self.json(&event),
            OutputFormat::Human => match event {
                Event::Run(e) => self.human_run(e),
                Event::Apply(e) => self.human_apply(e),
                Event::Verify(e) => self.human_verify(e),
            },
        }
    }

    /// One JSON line: the event's fields plus `time` and `schemaVersion`.
    fn json(&self, event: &Event) {
        if event.is_progress_only() {
            return;
        }
        let Ok(Value::Object(fields)) = serde_json::to_value(event) else {
            return;
        };
        let mut obj = serde_json::Map::new();
        if let Some(name) = fields.get("event") {
            obj.insert("event".into(), name.clone());
        }
        obj.insert(
            "time".into(),
            Value::String(crate::engine::saved::now_rfc3339()),
        );
        obj.insert("schemaVersion".into(), Value::from(EVENT_SCHEMA_VERSION));
        obj.extend(fields);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", Value::Object(obj));
        let _ = out.flush();
    }

    fn human_run(&self, e: RunEvent) {
        match e {
            RunEvent::EmulatorStarted { url, world, state } => {
                self.note(&format!("embedded emulator at {url} (world {world}, state {state})"))
            }
            RunEvent::EmulatorBusy { state } => self.note(&format!(
                "another keyless run is using the embedded emulator's state ({state}); waiting for it to finish…"
            )),
            RunEvent::Warning { problem } => {
                self.note(&render_problem(&problem, miette::Severity::Warning))
            }
            RunEvent::SignedIn { caller, method, .. } => self.note(&format!(
                "signed in as {} ({}) via {method}",
                caller.display, caller.object_id
            )),
            RunEvent::Observing { manifest } => {
                self.start("observe", &format!("reading Azure for manifest `{manifest}`"))
            }
            RunEvent::Observed { .. } => self.finish("observe", ""),
            RunEvent::Plan {
                manifest,
                path,
                plan,
                problems,
            } => {
                self.say(&format!("── {manifest} ({path})"));
                self.say(render_human(&plan, RenderOptions { color: self.color }).trim_end());
                for p in problems.iter().filter(|p| p.file.is_some()) {
                    eprintln!("{}", render_problem(p, miette::Severity::Error));
                }
            }
            RunEvent::PlanSaved { path } => self.note(&format!(
                "plan saved to {path}; apply it with `keyless apply {path}`"
            )),
            RunEvent::NothingChanged { reason } => {
                self.note(&format!("nothing was changed: {reason}"))
            }
            RunEvent::Applied {
                manifest, report, ..
            } => {
                if !report.results.is_empty() {
                    let count = |f: fn(&ActionStatus) -> bool| {
                        report.results.values().filter(|s| f(s)).count()
                    };
                    self.say(&format!(
                        "Applied `{manifest}`: {} done, {} adopted, {} failed, {} skipped.",
                        count(|s| matches!(s, ActionStatus::Done { .. })),
                        count(|s| matches!(s, ActionStatus::Adopted { .. })),
                        count(|s| matches!(s, ActionStatus::Failed { .. })),
                        count(|s| matches!(s, ActionStatus::Skipped { .. })),
                    ));
                }
                if report.interrupted {
                    self.note(
                        "interrupted: what finished is in Azure; re-run `keyless apply` to converge",
                    );
                }
            }
            RunEvent::VerificationDisabled { manifest } => {
                self.note(&format!("verification is disabled in `{manifest}`"))
            }
            RunEvent::Verified { report, .. } => self.say(&verify_table(&report)),
            RunEvent::Requests { .. } => {}
            RunEvent::Error { detail, .. } => eprintln!("{detail}"),
            RunEvent::InterruptedAgain { .. } => self.note("interrupted again: exiting now without waiting for operations in flight (Azure finishes what it accepted); re-run to converge"),
        }
    }

    fn human_apply(&self, e: ApplyEvent) {
        match e {
            ApplyEvent::ActionStarted {
                id, symbol, target, ..
            } => {
                let what = format!("{symbol} {target}");
                self.start(&format!("action-{id}"), &what);
                self.actions.lock().insert(id, what);
            }
            ApplyEvent::ActionProgress { id, detail } => {
                let what = self.actions.lock().get(&id).cloned().unwrap_or_default();
                self.update(&format!("action-{id}"), &format!("{what} — {detail}"));
            }
            ApplyEvent::ActionWaiting { .. } | ApplyEvent::ActionSkipped { .. } => {}
            ApplyEvent::ActionFinished {
                id,
                target,
                outcome,
                elapsed_ms,
                symbol,
            } => {
                self.actions.lock().remove(&id);
                let line = match outcome {
                    Finished::Adopted => format!(
                        "✓ {symbol} {target} (adopted an existing equivalent assignment)"
                    ),
                    Finished::Done => format!(
                        "✓ {symbol} {target} ({:.1}s)",
                        elapsed_ms as f64 / 1000.0
                    ),
                };
                self.finish(&format!("action-{id}"), &line);
            }
            ApplyEvent::ActionFailed {
                id,
                target,
                error,
                symbol,
            } => {
                self.actions.lock().remove(&id);
                self.finish(
                    &format!("action-{id}"),
                    &format!("✗ {symbol} {target}: {} {}", error.code, error.message),
                );
            }
            ApplyEvent::Interrupted {} => self.note(
                "interrupted: finishing in-flight writes, starting nothing new… (Ctrl-C again to exit at once)",
            ),
        }
    }

    fn human_verify(&self, e: VerifyEvent) {
        match e {
            VerifyEvent::ProbeStarted {
                principal,
                account,
                via,
            } => self.start(
                &format!("probe {principal} {account}"),
                &if via == "runCommand" {
                    format!("{principal} → {account}: propagating (Run Command)")
                } else {
                    format!("{principal} → {account}: propagating")
                },
            ),
            VerifyEvent::ProbeState {
                principal,
                account,
                state,
                detail,
                ..
            } => self.update(
                &format!("probe {principal} {account}"),
                &format!("{principal} → {account}: {state} ({detail})"),
            ),
            VerifyEvent::Probe {
                principal,
                account,
                outcome,
                ..
            } => {
                let line = match &outcome {
                    ProbeOutcome::Verified {
                        time_to_access_secs,
                    } => format!(
                        "✓ {principal} → {account}: verified after {time_to_access_secs:.1}s"
                    ),
                    ProbeOutcome::Failed { code, message } => {
                        format!("✗ {principal} → {account}: {code}: {message}")
                    }
                    ProbeOutcome::AssignedNotProbed { .. } => {
                        format!("• {principal} → {account}: assigned, not probed")
                    }
                    ProbeOutcome::NotAssigned => {
                        format!("✗ {principal} → {account}: no assignment found")
                    }
                };
                self.finish(&format!("probe {principal} {account}"), &line);
            }
        }
    }

    /// Prints a line for humans (stdout), above any progress bars.
    fn say(&self, line: &str) {
        if self.format != OutputFormat::Human {
            return;
        }
        match &self.multi {
            Some(m) if !m.is_hidden() => {
                let _ = m.println(line);
            }
            _ => println!("{line}"),
        }
    }

    /// Prints a note for humans on stderr (warnings, hints).
    fn note(&self, line: &str) {
        if self.format == OutputFormat::Human {
            match &self.multi {
                Some(m) if !m.is_hidden() => {
                    let _ = m.println(line);
                }
                _ => eprintln!("{line}"),
            }
        }
    }

    /// Starts (or restarts) a spinner for a long wait, keyed by `key`.
    fn start(&self, key: &str, message: &str) {
        let Some(m) = &self.multi else { return };
        let bar = m.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed:>4}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar.set_message(message.to_string());
        self.bars.lock().insert(key.to_string(), bar);
    }

    /// Updates a spinner's message.
    fn update(&self, key: &str, message: &str) {
        if let Some(b) = self.bars.lock().get(key) {
            b.set_message(message.to_string());
        }
    }

    /// Finishes a spinner with a final line.
    fn finish(&self, key: &str, message: &str) {
        if let Some(b) = self.bars.lock().remove(key) {
            b.finish_and_clear();
            if let Some(m) = &self.multi {
                m.remove(&b);
            }
        }
        if !message.is_empty() {
            self.say(message);
        }
    }
}

/// How often a long wait says it is still going when no terminal shows spinners: 30 s, like
/// Terraform's "Still creating… [30s elapsed]" (`KEYLESS_HEARTBEAT_SECS` changes it).
fn heartbeat_interval() -> Duration {
    std::env::var("KEYLESS_HEARTBEAT_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map_or(Duration::from_secs(30), Duration::from_secs)
}

/// Without a terminal the spinners are hidden, so a CI log would go silent for minutes during a
/// long operation or propagation wait: every `interval`, each wait still running prints one line
/// on stderr with what it is doing and for how long.
fn heartbeat(bars: std::sync::Arc<Mutex<HashMap<String, ProgressBar>>>, interval: Duration) {
    std::thread::spawn(move || {
        let mut told: HashMap<String, u64> = HashMap::new();
        loop {
            std::thread::sleep(Duration::from_millis(250));
            let running: Vec<(String, String, Duration)> = bars
                .lock()
                .iter()
                .map(|(k, b)| (k.clone(), b.message(), b.elapsed()))
                .collect();
            told.retain(|k, _| running.iter().any(|(r, ..)| r == k));
            for (key, message, elapsed) in running {
                let beats = elapsed.as_millis() as u64 / interval.as_millis().max(1) as u64;
                let last = told.entry(key).or_insert(0);
                if beats > *last {
                    *last = beats;
                    eprintln!("{message}: still waiting… [{}s elapsed]", elapsed.as_secs());
                }
            }
        }
    });
}

/// The JSON line of an event, without its `time`: None for progress-only events. Public so
/// golden tests pin the wire format of every event.
pub fn json_line(event: &Event) -> Option<serde_json::Map<String, Value>> {
    if event.is_progress_only() {
        return None;
    }
    let Ok(Value::Object(mut fields)) = serde_json::to_value(event) else {
        return None;
    };
    fields.insert("schemaVersion".into(), Value::from(EVENT_SCHEMA_VERSION));
    Some(fields)
}

/// A problem as a person reads it: a miette diagnostic with the manifest's text around its
/// place when it has one.
pub fn render_problem(p: &Problem, severity: miette::Severity) -> String {
    let mut d = miette::MietteDiagnostic::new(p.message.clone()).with_severity(severity);
    if let Some(code) = &p.code {
        d = d.with_code(code.clone());
    }
    if let Some(help) = &p.help {
        d = d.with_help(help.clone());
    }
    let source = p
        .file
        .as_ref()
        .and_then(|f| Some((f, std::fs::read_to_string(f).ok()?)));
    let report = match (source, p.line, p.column) {
        (Some((file, text)), Some(line), Some(column)) => {
            let offset = text
                .split_inclusive('\n')
                .take(line - 1)
                .map(str::len)
                .sum::<usize>()
                + text
                    .split_inclusive('\n')
                    .nth(line - 1)
                    .map_or(0, |l| l.chars().take(column - 1).map(char::len_utf8).sum());
            let label = p.code.clone().unwrap_or_default();
            d = d.with_label(miette::LabeledSpan::at(
                offset..offset + p.length.unwrap_or(0),
                label,
            ));
            miette::Report::new(d).with_source_code(miette::NamedSource::new(file.clone(), text))
        }
        _ => miette::Report::new(d),
    };
    crate::azure::error::redact(&format!("{report:?}"))
}

/// The final table (principal, account, roles, result, time to access).
pub fn verify_table(v: &VerifyReport) -> String {
    let rows: Vec<[String; 4]> = v
        .rows
        .iter()
        .map(|r| {
            let result = match &r.outcome {
                ProbeOutcome::Verified {
                    time_to_access_secs,
                } => format!("verified ({time_to_access_secs:.1}s)"),
                ProbeOutcome::Failed { code, .. } => format!("FAILED: {code}"),
                ProbeOutcome::AssignedNotProbed { .. } => "assigned, not probed".into(),
                ProbeOutcome::NotAssigned => "NOT ASSIGNED".into(),
            };
            [
                r.principal.clone(),
                r.account.clone(),
                r.roles.join(", "),
                result,
            ]
        })
        .collect();
    let header = ["PRINCIPAL", "ACCOUNT", "ROLE", "RESULT"].map(String::from);
    let mut width = [0usize; 3];
    for row in std::iter::once(&header).chain(rows.iter()) {
        for (w, cell) in width.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |r: &[String; 4]| {
        format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = width[0],
            w1 = width[1],
            w2 = width[2]
        )
    };
    let mut out = vec![line(&header)];
    out.extend(rows.iter().map(line));
    out.join("\n")
}

/// Whether to use colour: not when NO_COLOR is set, not when stdout is no terminal.
pub fn want_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && console::Term::stdout().features().is_attended()
}
