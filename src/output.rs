//! What the user sees: human output (plan on stdout, indicatif progress on stderr) or, with
//! `--output json`, one JSON event per line on stdout for pipelines.
//!
//! Every long wait (LROs, Run Command, propagation) goes through a [`Reporter`] so the two modes
//! can never drift: the human bars and the JSON events are fed by the same calls.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use parking_lot_like::Mutex;
use serde::Serialize;
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

/// Sends events to the chosen output.
pub struct Reporter {
    format: OutputFormat,
    color: bool,
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
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
        Reporter {
            format,
            color,
            multi,
            bars: Mutex::new(HashMap::new()),
        }
    }

    /// Whether colour is on.
    pub fn color(&self) -> bool {
        self.color
    }

    /// The format.
    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// Emits a JSON event (JSON mode only).
    pub fn event(&self, name: &str, fields: Value) {
        if self.format != OutputFormat::Json {
            return;
        }
        let mut obj = serde_json::Map::new();
        obj.insert("event".into(), Value::String(name.into()));
        obj.insert("time".into(), Value::String(now_rfc3339()));
        if let Value::Object(m) = fields {
            obj.extend(m);
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", Value::Object(obj));
        let _ = out.flush();
    }

    /// Emits a serialisable payload under `key`.
    pub fn event_with<T: Serialize>(&self, name: &str, key: &str, payload: &T) {
        let mut m = serde_json::Map::new();
        m.insert(
            key.into(),
            serde_json::to_value(payload).unwrap_or(Value::Null),
        );
        self.event(name, Value::Object(m));
    }

    /// Prints a line for humans (stdout), above any progress bars.
    pub fn say(&self, line: &str) {
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
    pub fn note(&self, line: &str) {
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
    pub fn start(&self, key: &str, message: &str) {
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
    pub fn update(&self, key: &str, message: &str) {
        if let Some(b) = self.bars.lock().get(key) {
            b.set_message(message.to_string());
        }
    }

    /// Finishes a spinner with a final line.
    pub fn finish(&self, key: &str, message: &str) {
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

/// RFC 3339 timestamp for events.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Whether to use colour: not when NO_COLOR is set, not when stdout is no terminal.
pub fn want_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && console::Term::stdout().features().is_attended()
}
