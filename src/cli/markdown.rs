//! The plan as Markdown, for a pull-request comment or a GitHub Actions step summary: what a
//! reviewer needs at a glance (counts, a table of actions, errors with their manifest place),
//! the full diff folded away below.

use crate::engine::Problem;
use crate::plan::{render_human, ActionKind, Plan, RenderOptions};

/// One manifest's plan, as the Markdown needs it.
pub struct PlannedManifest<'a> {
    /// The manifest's name.
    pub manifest: &'a str,
    /// Its file.
    pub path: &'a str,
    /// The plan.
    pub plan: &'a Plan,
    /// The plan's errors, located.
    pub problems: &'a [Problem],
}

/// The Markdown document for several manifests' plans.
pub fn plan_markdown(manifests: &[PlannedManifest<'_>]) -> String {
    let mut md = String::from("## keyless plan\n\n");
    for m in manifests {
        md.push_str(&manifest_section(m));
    }
    md
}

fn manifest_section(m: &PlannedManifest<'_>) -> String {
    let p = m.plan;
    let (add, change, destroy) = p.counts();
    let mut md = format!("### `{}` — `{}`\n\n", m.manifest, m.path);
    if !m.problems.is_empty() {
        md.push_str(&format!(
            "**❌ {} error(s): nothing will be changed until they are fixed.**\n\n",
            m.problems.len()
        ));
        for e in m.problems {
            let place = e
                .location()
                .map(|l| format!(" (`{l}`)"))
                .unwrap_or_default();
            let code = e.code.as_deref().unwrap_or("error");
            md.push_str(&format!(
                "- **{}**{place}: {}",
                escape(code),
                escape(&e.message)
            ));
            if let Some(h) = &e.help {
                md.push_str(&format!(" — {}", escape(h)));
            }
            md.push('\n');
        }
        md.push('\n');
    }
    if p.actions.is_empty() {
        md.push_str(&format!(
            "No changes: Azure matches the manifest ({} in place).\n\n",
            p.unchanged
        ));
        return md;
    }
    md.push_str(&format!(
        "**{add} to add, {change} to change, {destroy} to destroy; {} unchanged.**\n\n",
        p.unchanged
    ));
    md.push_str("| | action | target | why |\n|---|---|---|---|\n");
    for a in &p.actions {
        md.push_str(&format!(
            "| `{}` | {} | `{}` | {} |\n",
            a.kind.symbol(),
            action_words(&a.kind),
            escape(&short_target(&a.target)),
            escape(&a.reason)
        ));
    }
    let text = render_human(p, RenderOptions { color: false });
    md.push_str("\n<details><summary>Full plan</summary>\n\n```diff\n");
    md.push_str(text.trim_end());
    md.push_str("\n```\n\n</details>\n\n");
    md
}

/// The action as the plan names it, deletions in bold so a reviewer cannot miss them.
fn action_words(k: &ActionKind) -> String {
    if k.is_destructive() {
        format!("**{}**", k.describe())
    } else {
        k.describe().to_string()
    }
}

/// ARM ids without their `/subscriptions/{id}/resourceGroups/` prefix, which every row shares.
fn short_target(t: &str) -> String {
    let mut out = t.to_string();
    while let Some(start) = out.find("/subscriptions/") {
        let rest = &out[start + "/subscriptions/".len()..];
        let sub_end = rest.find('/').map_or(rest.len(), |i| i);
        out.replace_range(start..start + "/subscriptions/".len() + sub_end, "…");
    }
    out
}

/// Keeps table cells and list items intact.
fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
