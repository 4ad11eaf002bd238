//! Manifest: YAML model, parsing with source spans, validation, interpolation, JSON Schema.
//!
//! A manifest is the declarative input of keyless: which resource groups, Azure OpenAI
//! accounts, deployments, VM managed identities and role assignments should exist, and how to
//! verify access. This module turns YAML files into a validated [`Manifest`] with every default
//! applied, or into a [`ManifestError`] that shows every problem at its file:line:col with a fix.
//!
//! The pipeline (see `load.rs`): yaml-rust2 events → a span-carrying tree (`tree.rs`) →
//! `${VAR}` interpolation per scalar (`interpolate.rs`) → serde deserialization straight from
//! the tree (`de.rs`, so typed errors keep their spans and structured data such as the valid
//! keys) → semantic checks (`validate.rs`) → derived defaults (`defaults.rs`).
//!
//! Reference documentation for users: `docs/manifest.md`; schema: `docs/manifest.schema.json`.

#![warn(missing_docs)]

mod de;
mod defaults;
mod duration;
mod error;
mod interpolate;
mod load;
mod model;
mod roles;
mod schema;
mod spans;
mod suggest;
mod tree;
mod validate;

#[cfg(test)]
mod tests;

pub use duration::{format_duration, parse_duration, DurationError};
pub use error::{
    Hint, ManifestError, ManifestProblem, ManifestWarning, Named, ProblemKind, RefTarget,
    SubdomainRule, WarningKind,
};
pub use interpolate::{EnvLookup, ProcessEnv};
pub use load::{load, load_str, LoadedManifest, LoadedManifests};
pub use model::{
    ownership_marker_for, parse_ownership_marker, AccountKind, AccountSpec, DeploymentSku,
    DeploymentSkuName, DeploymentSpec, EmulatorSpec, ManagedIdentitySpec, Manifest, ModelSpec,
    OnSoftDeleted, PrincipalRef, PublicNetworkAccess, ResourceGroupSpec, RoleAssignmentSpec,
    ScopeRef, Tags, VerifyApi, VerifySpec, VerifyTarget, DEFAULT_ACCOUNT_SKU, DEFAULT_API_VERSION,
    DEFAULT_MODEL_FORMAT, DEFAULT_VERIFY_TIMEOUT, OWNERSHIP_MARKER_PREFIX, OWNERSHIP_TAG_KEY,
    SUPPORTED_VERSION,
};
pub use roles::{
    builtin_role_by_id, builtin_role_by_name, builtin_roles, is_guid, BuiltinRole, RoleError,
    RoleRef,
};
pub use schema::{json_schema, json_schema_pretty};
pub use spans::{child_index, child_key, parent_path, NodeSpans, Span, SpanIndex};
