//! JSON Schemas of the two documents keyless hands to other programs — the saved plan file and
//! the `--output json` event stream — derived from the types so they cannot drift. The committed
//! copies (`docs/plan.schema.json`, `docs/events.schema.json`) are kept equal by tests.

use super::event::{Event, EVENT_SCHEMA_VERSION};
use super::saved::SavedPlan;
use crate::plan::PLAN_FORMAT_VERSION;
use schemars::gen::SchemaSettings;
use serde_json::{json, Value};

fn root_schema<T: schemars::JsonSchema>() -> Value {
    let schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<T>();
    serde_json::to_value(schema).expect("a JSON Schema always serializes to JSON")
}

/// The saved plan file's schema (`plan --out FILE`).
pub fn plan_file_schema() -> Value {
    let mut s = root_schema::<SavedPlan>();
    s["$comment"] = json!(format!(
        "keyless saved plan, formatVersion {PLAN_FORMAT_VERSION}. Generated from the types; do not edit."
    ));
    s
}

/// The schema of one line of `--output json`: an event, plus the `time` and `schemaVersion`
/// every line carries. Progress-only events (described as "not in the JSON stream") are part of
/// the type but never written.
pub fn event_schema() -> Value {
    let mut s = root_schema::<Event>();
    let any_of = s
        .as_object_mut()
        .and_then(|o| o.remove("anyOf"))
        .unwrap_or(Value::Null);
    s["$comment"] = json!(format!(
        "keyless --output json, schemaVersion {EVENT_SCHEMA_VERSION}: one object per line. Generated from the types; do not edit."
    ));
    s["allOf"] = json!([
        { "anyOf": any_of },
        {
            "type": "object",
            "required": ["event", "time", "schemaVersion"],
            "properties": {
                "event": { "type": "string" },
                "time": { "type": "string", "format": "date-time" },
                "schemaVersion": { "const": EVENT_SCHEMA_VERSION }
            }
        }
    ]);
    s
}

/// A schema as committed: pretty-printed with a trailing newline.
pub fn pretty(schema: &Value) -> String {
    let mut s = serde_json::to_string_pretty(schema).expect("a JSON value always serializes");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `UPDATE_EXPECT=1 cargo test -p keyless --lib engine::schema` rewrites the committed copies.
    fn check(file: &str, fresh: String) {
        let path = format!("{}/docs/{file}", env!("CARGO_MANIFEST_DIR"));
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(&path, &fresh).expect("write schema");
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "docs/{file} is stale; run UPDATE_EXPECT=1 cargo test -p keyless --lib engine::schema"
        );
    }

    #[test]
    fn committed_plan_file_schema_matches_the_types() {
        check("plan.schema.json", pretty(&plan_file_schema()));
    }

    #[test]
    fn committed_event_schema_matches_the_types() {
        check("events.schema.json", pretty(&event_schema()));
    }

    #[test]
    fn the_event_schema_names_every_event_of_the_stream() {
        let text = pretty(&event_schema());
        for name in [
            "signedIn",
            "plan",
            "actionStarted",
            "actionWaiting",
            "actionFinished",
            "actionFailed",
            "actionSkipped",
            "applied",
            "probeState",
            "probe",
            "verified",
            "requests",
            "error",
            "interruptedAgain",
        ] {
            assert!(text.contains(&format!("\"{name}\"")), "{name} missing");
        }
    }
}
