//! JSON Schema for the manifest, derived from the model types so the two cannot drift.
//!
//! The committed copy, `docs/manifest.schema.json`, is what editors use through the
//! `# yaml-language-server: $schema=…` line; a test keeps it equal to [`json_schema`].

use schemars::gen::SchemaSettings;

use super::model::Manifest;

/// The manifest's JSON Schema (draft-07), with field descriptions from the model's doc comments.
pub fn json_schema() -> serde_json::Value {
    let schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<Manifest>();
    serde_json::to_value(schema).expect("a JSON Schema always serializes to JSON")
}

/// The schema as committed: pretty-printed with a trailing newline.
pub fn json_schema_pretty() -> String {
    let mut s =
        serde_json::to_string_pretty(&json_schema()).expect("a JSON value always serializes");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/manifest.schema.json");

    /// `UPDATE_EXPECT=1 cargo test -p keyless --lib manifest` rewrites the committed schema.
    #[test]
    fn committed_schema_matches_the_model() {
        let fresh = json_schema_pretty();
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(COMMITTED, &fresh).expect("write docs/manifest.schema.json");
            return;
        }
        let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
        assert!(
            committed == fresh,
            "docs/manifest.schema.json is stale; run UPDATE_EXPECT=1 cargo test -p keyless --lib manifest"
        );
    }

    #[test]
    fn schema_is_strict_and_documents_defaults() {
        let s = json_schema();
        assert_eq!(s["additionalProperties"], serde_json::json!(false));
        let account = &s["definitions"]["AccountSpec"];
        assert_eq!(account["additionalProperties"], serde_json::json!(false));
        assert_eq!(
            account["properties"]["disableLocalAuth"]["default"],
            serde_json::json!(true)
        );
        assert_eq!(
            account["properties"]["sku"]["default"],
            serde_json::json!("S0")
        );
        let required = account["required"].as_array().unwrap();
        assert!(required.contains(&serde_json::json!("customSubdomain")));
        assert!(!required.contains(&serde_json::json!("location")));
        let verify = &s["definitions"]["VerifySpec"]["properties"];
        assert_eq!(verify["timeout"]["default"], serde_json::json!("15m"));
        assert!(s["properties"]["name"]["description"]
            .as_str()
            .unwrap()
            .contains("unique"));
    }
}
