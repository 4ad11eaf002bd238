//! Human rendering of a plan, in the spirit of `terraform plan`: one line per action with a
//! symbol, the reason, then the field-level diff. Colour only when wanted (TTY and no NO_COLOR).

use super::types::Plan;
use console::Style;
use std::fmt::Write;

/// How to render.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    /// Use ANSI colours.
    pub color: bool,
}

/// Renders the plan for a terminal or a log.
pub fn render_human(plan: &Plan, opts: RenderOptions) -> String {
    let style = |s: Style| if opts.color { s } else { Style::new() };
    let green = style(Style::new().green());
    let yellow = style(Style::new().yellow());
    let red = style(Style::new().red());
    let cyan = style(Style::new().cyan());
    let dim = style(Style::new().dim());
    let bold = style(Style::new().bold());
    let mut out = String::new();

    if plan.actions.is_empty() && plan.errors.is_empty() {
        let _ = writeln!(
            out,
            "{} Azure matches the manifest `{}` ({} items in place).",
            bold.apply_to("No changes."),
            plan.manifest,
            plan.unchanged
        );
        return out;
    }
    for a in &plan.actions {
        let sym = a.kind.symbol();
        let s = match sym {
            "+" => &green,
            "~" => &yellow,
            "-" => &red,
            _ => &cyan,
        };
        let _ = writeln!(
            out,
            "{} {} {}",
            s.apply_to(sym),
            bold.apply_to(a.kind.describe()),
            a.target
        );
        let _ = writeln!(out, "    {}", dim.apply_to(format!("# {}", a.reason)));
        for c in &a.changes {
            let line = match (&c.from, &c.to) {
                (None, Some(t)) => format!("{}: {}", c.field, t),
                (Some(f), Some(t)) => format!("{}: {} → {}", c.field, f, t),
                (Some(f), None) => format!("{}: {} → (removed)", c.field, f),
                (None, None) => c.field.clone(),
            };
            let _ = writeln!(out, "      {}", s.apply_to(line));
        }
    }
    for e in &plan.errors {
        let _ = writeln!(out, "{} {}: {}", red.apply_to("✗"), e.target, e.message);
        let _ = writeln!(out, "    {}", dim.apply_to(format!("help: {}", e.help)));
    }
    let (add, change, destroy) = plan.counts();
    let _ = writeln!(
        out,
        "\n{} {} to add, {} to change, {} to destroy; {} unchanged.{}",
        bold.apply_to("Plan:"),
        add,
        change,
        destroy,
        plan.unchanged,
        if plan.errors.is_empty() {
            String::new()
        } else {
            format!(
                " {} error(s) must be fixed before apply.",
                plan.errors.len()
            )
        }
    );
    out
}
