//! GitHub Actions annotations: with `GITHUB_ACTIONS=true`, each located problem is also written
//! as a workflow command (`::error file=…,line=…,col=…::…`), so a pull request shows it on the
//! manifest line that caused it.

use crate::engine::Problem;
use std::io::Write;

/// Whether annotations are wanted (GitHub sets `GITHUB_ACTIONS=true` in every job).
pub fn enabled() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// The workflow command for a problem (`error` or `warning`).
pub fn command(level: &str, p: &Problem) -> String {
    let mut props = Vec::new();
    if let Some(f) = &p.file {
        props.push(format!("file={}", escape_property(f)));
    }
    if let Some(l) = p.line {
        props.push(format!("line={l}"));
    }
    if let Some(c) = p.column {
        props.push(format!("col={c}"));
    }
    if let Some(code) = &p.code {
        props.push(format!("title={}", escape_property(code)));
    }
    let mut message = p.message.clone();
    if let Some(h) = &p.help {
        message.push_str("\nhelp: ");
        message.push_str(h);
    }
    format!("::{level} {}::{}", props.join(","), escape_data(&message))
}

/// Writes the annotations for `problems` on stderr when running in GitHub Actions.
pub fn emit(level: &str, problems: &[Problem]) {
    if !enabled() {
        return;
    }
    let mut err = std::io::stderr().lock();
    for p in problems {
        let _ = writeln!(err, "{}", command(level, p));
    }
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_located_problem_becomes_an_error_annotation_on_its_line() {
        let p = Problem {
            code: Some("keyless::manifest::unknown_field".into()),
            message: "unknown field `resourceGroop`, 100% sure".into(),
            file: Some("teams/a,b.yaml".into()),
            line: Some(7),
            column: Some(5),
            length: Some(13),
            help: Some("did you mean `resourceGroup`?".into()),
        };
        assert_eq!(
            command("error", &p),
            "::error file=teams/a%2Cb.yaml,line=7,col=5,title=keyless%3A%3Amanifest%3A%3Aunknown_field::unknown field `resourceGroop`, 100%25 sure%0Ahelp: did you mean `resourceGroup`?"
        );
    }
}
