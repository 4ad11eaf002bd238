//! One shape for every problem a user must fix — manifest errors, plan errors, Azure refusals —
//! so that a JSON consumer reads `{code, message, file, line, column, help}` whatever went wrong,
//! and a person reads the same facts as a miette diagnostic.

use miette::Diagnostic;
use serde::{Deserialize, Serialize};

/// A problem, located in a file where it has a place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// Stable code (`keyless::manifest::unknown_field`, `immutable-subdomain`, `AuthorizationFailed`).
    pub code: Option<String>,
    /// What is wrong.
    pub message: String,
    /// The file it is in.
    pub file: Option<String>,
    /// 1-based line.
    pub line: Option<usize>,
    /// 1-based column.
    pub column: Option<usize>,
    /// Length of the located text, in bytes.
    pub length: Option<usize>,
    /// What to do.
    pub help: Option<String>,
}

impl Problem {
    /// A problem with no place.
    pub fn new(code: Option<String>, message: impl Into<String>, help: Option<String>) -> Problem {
        Problem {
            code,
            message: crate::azure::error::redact(&message.into()),
            file: None,
            line: None,
            column: None,
            length: None,
            help: help.map(|h| crate::azure::error::redact(&h)),
        }
    }

    /// The problems a diagnostic carries: its related diagnostics when it has any (a manifest
    /// with five mistakes is five problems), else itself; each located by its primary label.
    pub fn from_diagnostic(d: &dyn Diagnostic) -> Vec<Problem> {
        let related: Vec<&dyn Diagnostic> = d.related().map(|r| r.collect()).unwrap_or_default();
        if related.is_empty() {
            return vec![Problem::one(d)];
        }
        related
            .into_iter()
            .flat_map(Problem::from_diagnostic)
            .collect()
    }

    fn one(d: &dyn Diagnostic) -> Problem {
        let mut p = Problem::new(
            d.code().map(|c| c.to_string()),
            d.to_string(),
            d.help().map(|h| h.to_string()),
        );
        let label = d.labels().and_then(|mut l| {
            let all: Vec<_> = l.by_ref().collect();
            all.iter().find(|l| l.primary()).or(all.first()).cloned()
        });
        if let (Some(src), Some(label)) = (d.source_code(), label) {
            p.place(None, src, *label.inner());
        }
        p
    }

    /// Places the problem at `span` of `source` (1-based line and column, as miette counts
    /// them); `file` names it when the source itself has no name.
    pub fn place(
        &mut self,
        file: Option<&str>,
        source: &dyn miette::SourceCode,
        span: miette::SourceSpan,
    ) {
        if let Ok(at) = source.read_span(&span, 0, 0) {
            self.file = at.name().or(file).map(str::to_string);
            self.line = Some(at.line() + 1);
            self.column = Some(at.column() + 1);
            self.length = Some(span.len());
        }
    }

    /// `file:line:col` when known.
    pub fn location(&self) -> Option<String> {
        let f = self.file.as_ref()?;
        Some(match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{f}:{l}:{c}"),
            _ => f.clone(),
        })
    }
}
