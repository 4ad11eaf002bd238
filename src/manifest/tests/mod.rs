//! End-to-end tests of the manifest module through its public API.
//!
//! `loading` covers every rule with small inline manifests; `corpus` compares the rendered
//! diagnostics of `tests/manifests/bad/*.yaml` with their `.expected` files (`UPDATE_EXPECT=1`
//! regenerates them); `props` throws arbitrary and mutated text at the loader.

mod corpus;
mod loading;
mod props;

use std::collections::HashMap;

use miette::{GraphicalReportHandler, GraphicalTheme};

/// The environment every test uses: never the process environment.
pub(super) fn test_env() -> HashMap<String, String> {
    HashMap::from([
        (
            "AZURE_SUBSCRIPTION_ID".to_owned(),
            "00000000-0000-0000-0000-000000000001".to_owned(),
        ),
        ("EMPTY".to_owned(), String::new()),
    ])
}

/// Renders a diagnostic deterministically (no colour, no hyperlinks, fixed width).
pub(super) fn render(d: &dyn miette::Diagnostic) -> String {
    let mut out = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .with_links(false)
        .render_report(&mut out, d)
        .expect("rendering into a String cannot fail");
    out
}
