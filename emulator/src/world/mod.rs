//! The world file: the YAML description of the tenant, subscriptions and resources the emulator
//! starts from (see DESIGN.md "World file").
//!
//! Why typed with `deny_unknown_fields`: a typo in a test world must fail loudly with a location
//! (`file:line:col`), not silently produce a different Azure.

mod span;
mod validate;

use serde::{Deserialize, Serialize};
pub use span::{LatencyMs, Span};
use std::collections::BTreeMap;
use std::path::Path;

/// A world file could not be read, parsed or validated.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// Path as given.
        file: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// YAML syntax or schema error, located.
    #[error("{file}:{line}:{col}: {message}")]
    Parse {
        /// Path as given.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What is wrong.
        message: String,
    },
    /// A reference or value that parses but makes no sense (unknown principal, bad GUID...).
    #[error("{file}:{line}:{col}: {field}: {message}")]
    Invalid {
        /// Path as given.
        file: String,
        /// 1-based line of the offending value (best effort).
        line: usize,
        /// 1-based column of the offending value (best effort).
        col: usize,
        /// Field path, e.g. `roleAssignments[2].principal`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// The whole world file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct World {
    /// The emulated tenant.
    pub tenant: Tenant,
    /// Subscriptions in the tenant (the first is the default for resources without one).
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    /// Name of the application keyless signs in as (its first secret is printed by --print-env).
    #[serde(default)]
    pub caller: Option<String>,
    /// Delays and lifetimes.
    #[serde(default)]
    pub timing: Timing,
    /// Users.
    #[serde(default)]
    pub users: Vec<User>,
    /// Groups and their members.
    #[serde(default)]
    pub groups: Vec<Group>,
    /// Applications (each with its service principal).
    #[serde(default)]
    pub applications: Vec<Application>,
    /// Resource groups.
    #[serde(default)]
    pub resource_groups: Vec<ResourceGroup>,
    /// Virtual machines.
    #[serde(default)]
    pub vms: Vec<Vm>,
    /// Cognitive Services accounts.
    #[serde(default)]
    pub accounts: Vec<Account>,
    /// Soft-deleted accounts.
    #[serde(default)]
    pub deleted_accounts: Vec<DeletedAccount>,
    /// Custom subdomains held by other tenants.
    #[serde(default)]
    pub taken_subdomains: Vec<String>,
    /// Role assignments present at start.
    #[serde(default)]
    pub role_assignments: Vec<RoleAssignment>,
    /// ARM throttling.
    #[serde(default)]
    pub throttling: Throttling,
    /// Injected faults.
    #[serde(default)]
    pub faults: Faults,
}

/// The tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Tenant {
    /// Tenant id (GUID).
    pub id: String,
    /// Primary domain, e.g. `contoso.onmicrosoft.com` (accepted in place of the id in URLs).
    #[serde(default = "default_domain")]
    pub domain: String,
}

fn default_domain() -> String {
    "contoso.onmicrosoft.com".into()
}

/// A subscription.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Subscription {
    /// Subscription id (GUID).
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
}

/// Delays and lifetimes; each is a fixed duration (`3600s`, `5m`, `250ms`, a number of seconds)
/// or a range `min..max` sampled uniformly per event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Timing {
    /// Access-token lifetime.
    #[serde(default = "default_lifetime")]
    pub token_lifetime: Span,
    /// Per new role assignment: time until it takes effect.
    #[serde(default)]
    pub propagation_delay: Span,
    /// Per new service principal: time until it resolves in the directory.
    #[serde(default)]
    pub replication_delay: Span,
    /// Minimum duration of a Run Command.
    #[serde(default)]
    pub run_command_min_duration: Span,
    /// How long long-running ARM operations (account create/restore, deployment writes, VM
    /// updates, purges) take. Default 1 s (or `KEYLESS_EMULATOR_PROVISIONING_SECONDS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_delay: Option<Span>,
    /// Run Command time limit (Azure: 90 min). Default 90 min (or
    /// `KEYLESS_EMULATOR_RUN_COMMAND_TIMEOUT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_command_timeout: Option<Span>,
}

fn default_lifetime() -> Span {
    Span::fixed(3600.0)
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            token_lifetime: default_lifetime(),
            propagation_delay: Span::default(),
            replication_delay: Span::default(),
            run_command_min_duration: Span::default(),
            provisioning_delay: None,
            run_command_timeout: None,
        }
    }
}

/// A user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct User {
    /// User principal name.
    pub upn: String,
    /// Object id (GUID).
    pub id: String,
    /// Display name (defaults to the UPN's local part).
    #[serde(default)]
    pub display_name: Option<String>,
}

/// A security group.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Group {
    /// Display name (unique in the world; referenced as `group:{name}`).
    pub name: String,
    /// Object id (GUID).
    pub id: String,
    /// Member references (`user:`, `group:`, `app:`, `vm:` or an object id).
    #[serde(default)]
    pub members: Vec<String>,
}

/// An application registration and its service principal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Application {
    /// Display name (referenced as `app:{name}`).
    pub name: String,
    /// Application (client) id.
    pub app_id: String,
    /// Object id of the service principal (what RBAC sees).
    pub object_id: String,
    /// Client secret values.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Federated identity credentials (workload identity federation).
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredential>,
    /// SHA-1 thumbprints (hex) of certificates registered on the app (certificate assertions).
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Microsoft Graph application permissions granted (`roles` in Graph tokens).
    #[serde(default = "default_graph_roles")]
    pub graph_roles: Vec<String>,
}

fn default_graph_roles() -> Vec<String> {
    vec!["Directory.Read.All".into()]
}

/// A federated identity credential.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FederatedCredential {
    /// Optional name.
    #[serde(default)]
    pub name: Option<String>,
    /// External issuer, matched exactly.
    pub issuer: String,
    /// External subject, matched exactly.
    pub subject: String,
    /// Audience, matched exactly.
    #[serde(default = "default_fic_audience")]
    pub audience: String,
}

fn default_fic_audience() -> String {
    "api://AzureADTokenExchange".into()
}

/// A resource group.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResourceGroup {
    /// Subscription id (default: the first).
    #[serde(default)]
    pub subscription: Option<String>,
    /// Name.
    pub name: String,
    /// Location.
    pub location: String,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// A virtual machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Vm {
    /// Subscription id (default: the first).
    #[serde(default)]
    pub subscription: Option<String>,
    /// Name.
    pub name: String,
    /// Resource group.
    pub resource_group: String,
    /// Location.
    pub location: String,
    /// `Linux` or `Windows`.
    #[serde(default = "default_os")]
    pub os: String,
    /// Whether the system-assigned identity is on at start.
    #[serde(default)]
    pub system_assigned: bool,
    /// User-assigned identities attached at start (created if absent).
    #[serde(default)]
    pub user_assigned_identities: Vec<UamiRef>,
}

fn default_os() -> String {
    "Linux".into()
}

/// A user-assigned identity reference.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UamiRef {
    /// Identity name.
    pub name: String,
    /// Its resource group.
    pub resource_group: String,
    /// Subscription id (default: the VM's).
    #[serde(default)]
    pub subscription: Option<String>,
}

/// A Cognitive Services account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Account {
    /// Subscription id (default: the first).
    #[serde(default)]
    pub subscription: Option<String>,
    /// Name.
    pub name: String,
    /// Resource group.
    pub resource_group: String,
    /// Kind (`OpenAI`, `AIServices`, ...).
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Location.
    pub location: String,
    /// SKU name.
    #[serde(default = "default_sku")]
    pub sku: String,
    /// Custom subdomain.
    #[serde(default)]
    pub custom_subdomain: Option<String>,
    /// Whether key auth is disabled.
    #[serde(default)]
    pub disable_local_auth: bool,
    /// Model deployments.
    #[serde(default)]
    pub deployments: Vec<Deployment>,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn default_kind() -> String {
    "OpenAI".into()
}

fn default_sku() -> String {
    "S0".into()
}

/// A model deployment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Deployment {
    /// Deployment name.
    pub name: String,
    /// The model.
    pub model: Model,
    /// Deployment SKU.
    pub sku: DeploymentSku,
}

/// A model reference.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Model {
    /// Model name.
    pub name: String,
    /// Model version.
    pub version: String,
    /// Format.
    #[serde(default = "default_format")]
    pub format: String,
}

fn default_format() -> String {
    "OpenAI".into()
}

/// A deployment SKU.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeploymentSku {
    /// SKU name (`Standard`, `GlobalStandard`...).
    pub name: String,
    /// Capacity (thousands of TPM).
    #[serde(default = "default_capacity")]
    pub capacity: u32,
}

fn default_capacity() -> u32 {
    1
}

/// A soft-deleted account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeletedAccount {
    /// Subscription id (default: the first).
    #[serde(default)]
    pub subscription: Option<String>,
    /// Name.
    pub name: String,
    /// Resource group.
    pub resource_group: String,
    /// Location.
    pub location: String,
    /// Kind.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Custom subdomain it still holds.
    #[serde(default)]
    pub custom_subdomain: Option<String>,
}

/// A role assignment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RoleAssignment {
    /// Optional assignment name (GUID); generated when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Scope.
    pub scope: String,
    /// Role name or role definition GUID.
    pub role: String,
    /// Principal reference.
    pub principal: String,
    /// `User`, `Group`, `ServicePrincipal`.
    #[serde(default)]
    pub principal_type: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
}

/// ARM throttling configuration (token buckets per subscription + principal).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Throttling {
    /// Whether throttling is on (the rate-limit headers are sent either way).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// GET/HEAD.
    #[serde(default = "reads_bucket")]
    pub reads: Bucket,
    /// PUT/PATCH/POST.
    #[serde(default = "writes_bucket")]
    pub writes: Bucket,
    /// DELETE.
    #[serde(default = "writes_bucket")]
    pub deletes: Bucket,
}

fn yes() -> bool {
    true
}

fn reads_bucket() -> Bucket {
    Bucket {
        bucket: 250,
        per_second: 25.0,
    }
}

fn writes_bucket() -> Bucket {
    Bucket {
        bucket: 200,
        per_second: 10.0,
    }
}

impl Default for Throttling {
    fn default() -> Self {
        Throttling {
            enabled: true,
            reads: reads_bucket(),
            writes: writes_bucket(),
            deletes: writes_bucket(),
        }
    }
}

/// A token bucket.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Bucket {
    /// Capacity.
    pub bucket: u32,
    /// Refill rate (tokens per second).
    pub per_second: f64,
}

/// Injected faults (ARM routes; the data plane too when `dataPlane` is true).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Faults {
    /// Added latency, uniform in the range (milliseconds).
    #[serde(default)]
    pub latency_ms: LatencyMs,
    /// Fraction of requests answered 500 or 503.
    #[serde(default)]
    pub error_rate: f64,
    /// Fraction of requests whose connection is closed without a response (before the
    /// handler runs: nothing changed).
    #[serde(default)]
    pub reset_rate: f64,
    /// Fraction of requests that are handled and committed, and whose response is then lost
    /// (connection closed): Azure's worst case for a client — the write happened, the client
    /// does not know.
    #[serde(default)]
    pub reset_after_rate: f64,
    /// Fail the next N matching requests.
    #[serde(default)]
    pub rules: Vec<FaultRule>,
    /// A 429 storm from start.
    #[serde(default)]
    pub storm: Option<Storm>,
    /// Also apply to the Azure OpenAI data plane.
    #[serde(default)]
    pub data_plane: bool,
    /// Also apply to Microsoft Graph (`/v1.0/…`).
    #[serde(default)]
    pub graph: bool,
    /// Also apply to Entra ID (token, discovery and key endpoints), answering with Entra's
    /// error bodies (`temporarily_unavailable` / AADSTS90033 and the like).
    #[serde(default)]
    pub entra: bool,
}

/// "Fail the next `count` requests whose path matches `path` (and method, when given)".
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FaultRule {
    /// Regex matched against the request path.
    pub path: String,
    /// HTTP method (any when absent).
    #[serde(default)]
    pub method: Option<String>,
    /// Status to answer (0 = reset the connection).
    pub status: u16,
    /// How many requests to fail.
    #[serde(default = "one")]
    pub count: u32,
    /// `Retry-After` seconds to send.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// ARM error code to send (default from the status).
    #[serde(default)]
    pub code: Option<String>,
    /// With `status: 0`: handle and commit the request first, then drop the connection (the
    /// response is lost, the write is not).
    #[serde(default)]
    pub after: bool,
}

fn one() -> u32 {
    1
}

/// A window during which every ARM request gets 429.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Storm {
    /// Length of the window (seconds).
    pub seconds: f64,
    /// `Retry-After` to send (seconds).
    #[serde(default = "one_u64")]
    pub retry_after: u64,
}

fn one_u64() -> u64 {
    1
}

impl World {
    /// Loads and validates a world file.
    pub fn load(path: &Path) -> Result<World, WorldError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| WorldError::Io {
            file: file.clone(),
            source,
        })?;
        World::parse(&text, &file)
    }

    /// Parses and validates world YAML; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<World, WorldError> {
        let world: World = serde_yaml::from_str(text).map_err(|e| {
            let (line, col) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            WorldError::Parse {
                file: file.to_string(),
                line,
                col,
                message: e.to_string(),
            }
        })?;
        world.validate(text, file)?;
        Ok(world)
    }

    /// A minimal world (one tenant, one subscription, one caller app) for tests and demos.
    pub fn minimal() -> World {
        World::parse(MINIMAL, "<minimal>").expect("built-in world is valid")
    }

    /// The subscription a resource without an explicit one lives in.
    pub fn default_subscription(&self) -> Option<&str> {
        self.subscriptions.first().map(|s| s.id.as_str())
    }

    /// The application keyless signs in as.
    pub fn caller_app(&self) -> Option<&Application> {
        let name = self.caller.as_deref()?;
        self.applications.iter().find(|a| a.name == name)
    }
}

/// A parsed principal reference from the world file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalRef<'a> {
    /// `user:{upn}`.
    User(&'a str),
    /// `group:{name}`.
    Group(&'a str),
    /// `app:{name}` — the app's service principal.
    App(&'a str),
    /// `vm:{rg}/{name}` — the VM's system-assigned identity.
    Vm {
        /// Resource group.
        rg: &'a str,
        /// VM name.
        name: &'a str,
    },
    /// A raw object id.
    Id(&'a str),
}

/// Parses a principal reference; `None` when it is neither prefixed nor a GUID.
pub fn parse_ref(r: &str) -> Option<PrincipalRef<'_>> {
    let (kind, rest) = match r.split_once(':') {
        Some(x) => x,
        None => return is_guid(r).then_some(PrincipalRef::Id(r)),
    };
    match kind {
        "user" => Some(PrincipalRef::User(rest)),
        "group" => Some(PrincipalRef::Group(rest)),
        "app" => Some(PrincipalRef::App(rest)),
        "vm" => {
            let (rg, name) = rest.split_once('/')?;
            Some(PrincipalRef::Vm { rg, name })
        }
        _ => None,
    }
}

/// True for a canonical 8-4-4-4-12 hex GUID.
pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

const MINIMAL: &str = r#"
tenant: { id: 72f988bf-86f1-41af-91ab-2d7cd011db47, domain: contoso.onmicrosoft.com }
subscriptions: [ { id: 00000000-0000-0000-0000-000000000001, name: Dev } ]
caller: keyless-pipeline
applications:
  - { name: keyless-pipeline, appId: 11111111-1111-1111-1111-111111111111,
      objectId: 22222222-2222-2222-2222-222222222222, secrets: [ "s3cret" ] }
roleAssignments:
  - { scope: "/subscriptions/00000000-0000-0000-0000-000000000001", role: Owner, principal: "app:keyless-pipeline" }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse() {
        assert_eq!(Span::parse("3600s", 1.0).unwrap(), Span::fixed(3600.0));
        assert_eq!(Span::parse("5m", 1.0).unwrap(), Span::fixed(300.0));
        assert_eq!(
            Span::parse("60s..120s", 1.0).unwrap(),
            Span {
                min: 60.0,
                max: 120.0
            }
        );
        assert_eq!(
            Span::parse("30..80", 0.001).unwrap(),
            Span {
                min: 0.03,
                max: 0.08
            }
        );
        assert!(Span::parse("abc", 1.0).is_err());
        assert!(Span::parse("9..1", 1.0).is_err());
    }

    #[test]
    fn unknown_field_is_located() {
        let text = "tenant: { id: 72f988bf-86f1-41af-91ab-2d7cd011db47 }\nsubscriptionz: []\n";
        match World::parse(text, "w.yaml") {
            Err(WorldError::Parse { file, line, .. }) => {
                assert_eq!(file, "w.yaml");
                assert_eq!(line, 2);
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn bad_reference_is_located() {
        let text = "tenant: { id: 72f988bf-86f1-41af-91ab-2d7cd011db47 }\nsubscriptions: [ { id: 00000000-0000-0000-0000-000000000001 } ]\nroleAssignments:\n  - { scope: /, role: Owner, principal: \"user:nobody@x\" }\n";
        let e = World::parse(text, "w.yaml").unwrap_err().to_string();
        assert!(e.starts_with("w.yaml:4:"), "{e}");
        assert!(e.contains("no user 'nobody@x'"), "{e}");
    }

    #[test]
    fn minimal_world_is_valid() {
        let w = World::minimal();
        assert_eq!(
            w.caller_app().map(|a| a.secrets[0].as_str()),
            Some("s3cret")
        );
    }
}
