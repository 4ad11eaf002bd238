//! Manifest: YAML model, parsing with source spans, validation, interpolation, JSON Schema.
