//! The manifest's typed model (schema version 1).
//!
//! These types are the single source of truth: serde reads them from YAML, schemars derives the
//! JSON Schema from them (doc comments become descriptions), and every consumer works on them
//! with defaults already applied — nobody else re-implements a default.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, Unexpected, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::duration;
use super::roles::{RoleError, RoleRef};

/// The only manifest schema version this build understands.
pub const SUPPORTED_VERSION: u32 = 1;
/// Tag key keyless puts on resource groups and accounts it manages; the value is the manifest
/// name.
pub const OWNERSHIP_TAG_KEY: &str = "keyless-manifest";
/// Prefix of the ownership marker written into role-assignment descriptions.
pub const OWNERSHIP_MARKER_PREFIX: &str = "keyless:manifest=";
/// Default `verify.apiVersion`.
pub const DEFAULT_API_VERSION: &str = "2024-10-21";
/// Default `verify.timeout`: long enough for role-assignment propagation.
pub const DEFAULT_VERIFY_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Default account `sku`.
pub const DEFAULT_ACCOUNT_SKU: &str = "S0";
/// Default `model.format`.
pub const DEFAULT_MODEL_FORMAT: &str = "OpenAI";

/// Tags as written in the manifest (sorted, so plans and output are stable).
pub type Tags = BTreeMap<String, String>;

/// The ownership marker for a manifest named `name`: `keyless:manifest=<name>`.
pub fn ownership_marker_for(name: &str) -> String {
    format!("{OWNERSHIP_MARKER_PREFIX}{name}")
}

/// Finds an ownership marker in a role-assignment description and returns the manifest name,
/// so prune can tell which assignments a manifest created.
pub fn parse_ownership_marker(description: &str) -> Option<&str> {
    let start = description.find(OWNERSHIP_MARKER_PREFIX)? + OWNERSHIP_MARKER_PREFIX.len();
    let rest = &description[start..];
    let len = rest
        .bytes()
        .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        .count();
    (len > 0).then(|| &rest[..len])
}

fn default_true() -> bool {
    true
}
fn default_account_sku() -> String {
    DEFAULT_ACCOUNT_SKU.to_owned()
}
fn default_model_format() -> String {
    DEFAULT_MODEL_FORMAT.to_owned()
}
fn default_api_version() -> String {
    DEFAULT_API_VERSION.to_owned()
}
fn default_timeout() -> Duration {
    DEFAULT_VERIFY_TIMEOUT
}

/// A keyless manifest: the Azure OpenAI accounts, deployments, managed identities and role
/// assignments one team needs for keyless (Entra ID) access, and how to verify that access.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "keyless manifest")]
pub struct Manifest {
    /// Schema version. Only `1` is accepted.
    #[schemars(range(min = 1, max = 1))]
    pub version: u32,

    /// Manifest name: 1-63 characters of `a-z`, `0-9` and `-`. Marks everything this manifest
    /// owns (tag `keyless-manifest=<name>`, role-assignment description
    /// `keyless:manifest=<name>`), so it must be unique and should never change.
    #[schemars(regex(pattern = r"^([a-z0-9-]{1,63}|.*\$\{.*)$"))]
    pub name: String,

    /// Azure subscription id (a GUID, after `${VAR}` interpolation).
    #[schemars(regex(
        pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|.*\$\{.*)$"
    ))]
    pub subscription: String,

    /// Default location (e.g. `eastus`) for resource groups and accounts that do not set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,

    /// Tags applied to every resource group and account (merged under their own tags; keyless
    /// adds its ownership tag `keyless-manifest` itself).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: Tags,

    /// Settings used only when running against the local emulator (`--emulator`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emulator: Option<EmulatorSpec>,

    /// Resource groups to create (or adopt) and tag.
    #[serde(default)]
    pub resource_groups: Vec<ResourceGroupSpec>,

    /// Azure OpenAI / AI Services accounts and their model deployments.
    #[serde(default)]
    pub accounts: Vec<AccountSpec>,

    /// Existing VMs that get a system-assigned managed identity.
    #[serde(default)]
    pub managed_identities: Vec<ManagedIdentitySpec>,

    /// Role assignments granting principals access to accounts or resource groups.
    #[serde(default)]
    pub role_assignments: Vec<RoleAssignmentSpec>,

    /// How access is verified after reconciling (a test completion).
    #[serde(default)]
    pub verify: VerifySpec,

    /// Delete role assignments that carry this manifest's ownership marker but are no longer
    /// declared. Off by default: deletion is opt-in.
    #[serde(default)]
    pub prune: bool,
}

/// Emulator-only settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmulatorSpec {
    /// World file seeding the emulator, relative to this manifest file.
    pub world: PathBuf,
}

/// A resource group keyless creates or adopts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceGroupSpec {
    /// Resource group name (1-90 characters: letters, digits, `-`, `_`, `.`, `(`, `)`; not
    /// ending in `.`).
    pub name: String,
    /// Location. Defaults to the top-level `location`; always set after loading.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(description = "Location (e.g. `eastus`). Defaults to the top-level `location`.")]
    pub location: String,
    /// Tags. After loading this already includes the top-level `tags` (these win on conflict).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(description = "Tags, merged over the top-level `tags` (these win on conflict).")]
    pub tags: Tags,
}

/// The kind of Cognitive Services account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
pub enum AccountKind {
    /// Azure OpenAI.
    #[default]
    OpenAI,
    /// Azure AI Services (multi-service, includes OpenAI models).
    AIServices,
    /// Cognitive Services multi-service account.
    CognitiveServices,
}

impl AccountKind {
    /// The ARM `kind` string.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::OpenAI => "OpenAI",
            AccountKind::AIServices => "AIServices",
            AccountKind::CognitiveServices => "CognitiveServices",
        }
    }
}

/// Whether the account endpoint is reachable from public networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
pub enum PublicNetworkAccess {
    /// Reachable from public networks.
    #[default]
    Enabled,
    /// Private endpoints only.
    Disabled,
}

/// What to do when Azure holds a soft-deleted account with the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnSoftDeleted {
    /// Restore the deleted account (keeps its subdomain and deployments).
    Restore,
    /// Purge it, then create a new account.
    Purge,
    /// Stop and report (the safe default: nothing is destroyed implicitly).
    #[default]
    Fail,
}

/// An Azure OpenAI (Cognitive Services) account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountSpec {
    /// Account name: 2-64 characters of letters, digits and `-`, starting with a letter or digit.
    #[schemars(regex(pattern = r"^([a-zA-Z0-9][a-zA-Z0-9-]{1,63}|.*\$\{.*)$"))]
    pub name: String,
    /// Resource group; must be declared in `resourceGroups`.
    pub resource_group: String,
    /// Location. Defaults to the top-level `location`, else the resource group's; always set
    /// after loading.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(
        description = "Location (e.g. `eastus`). Defaults to the top-level `location`, else the resource group's."
    )]
    pub location: String,
    /// Account kind.
    #[serde(default)]
    pub kind: AccountKind,
    /// Account SKU.
    #[serde(default = "default_account_sku")]
    pub sku: String,
    /// Custom subdomain (`https://<customSubdomain>.openai.azure.com`), required for Entra ID
    /// auth. 2-64 letters, digits and `-`, not starting or ending with `-`; globally unique and
    /// immutable once created.
    #[schemars(regex(pattern = r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,62}[a-zA-Z0-9])?|.*\$\{.*)$"))]
    pub custom_subdomain: String,
    /// Disable API-key auth so only Entra ID tokens work (secure by default).
    #[serde(default = "default_true")]
    pub disable_local_auth: bool,
    /// Public network access.
    #[serde(default)]
    pub public_network_access: PublicNetworkAccess,
    /// What to do if a soft-deleted account with this name exists.
    #[serde(default)]
    pub on_soft_deleted: OnSoftDeleted,
    /// Tags. After loading this already includes the top-level `tags` (these win on conflict).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(description = "Tags, merged over the top-level `tags` (these win on conflict).")]
    pub tags: Tags,
    /// Model deployments on this account.
    #[serde(default)]
    pub deployments: Vec<DeploymentSpec>,
}

/// A model deployment on an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentSpec {
    /// Deployment name (what clients put in the URL): 2-64 letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// The model to deploy.
    pub model: ModelSpec,
    /// Deployment SKU and capacity.
    pub sku: DeploymentSku,
}

/// A model identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelSpec {
    /// Model name, e.g. `gpt-4o-mini`.
    pub name: String,
    /// Model version, e.g. `"2024-07-18"`.
    pub version: String,
    /// Model format (publisher).
    #[serde(default = "default_model_format")]
    pub format: String,
}

/// Deployment SKU names Azure OpenAI accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum DeploymentSkuName {
    /// Regional pay-as-you-go.
    Standard,
    /// Global pay-as-you-go.
    GlobalStandard,
    /// Data-zone pay-as-you-go.
    DataZoneStandard,
    /// Provisioned throughput.
    ProvisionedManaged,
    /// Global batch.
    GlobalBatch,
}

impl DeploymentSkuName {
    /// The ARM SKU name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentSkuName::Standard => "Standard",
            DeploymentSkuName::GlobalStandard => "GlobalStandard",
            DeploymentSkuName::DataZoneStandard => "DataZoneStandard",
            DeploymentSkuName::ProvisionedManaged => "ProvisionedManaged",
            DeploymentSkuName::GlobalBatch => "GlobalBatch",
        }
    }
}

/// A deployment's SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentSku {
    /// SKU name.
    pub name: DeploymentSkuName,
    /// Capacity in SKU units (at least 1).
    #[schemars(range(min = 1))]
    pub capacity: u32,
}

/// An existing VM that gets a system-assigned managed identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManagedIdentitySpec {
    /// VM name.
    pub vm: String,
    /// The VM's resource group (it need not be declared in `resourceGroups`).
    pub resource_group: String,
}

/// Access granted to a list of principals: one role at one scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleAssignmentSpec {
    /// A built-in role name (e.g. `Cognitive Services OpenAI User`), a role definition GUID, or
    /// a full `/providers/Microsoft.Authorization/roleDefinitions/<guid>` id.
    pub role: String,
    /// Where the role applies.
    pub scope: ScopeRef,
    /// Free text added to each assignment's description (next to the ownership marker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who gets the role.
    pub principals: Vec<PrincipalRef>,
}

impl RoleAssignmentSpec {
    /// What `role` refers to (always `Ok` for a loaded manifest: validation rejects the rest).
    pub fn role_ref(&self) -> Result<RoleRef, RoleError> {
        RoleRef::parse(&self.role)
    }
}

/// The scope of a role assignment: exactly one account or one resource group of this manifest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum ScopeRef {
    /// An account declared in `accounts`.
    Account(String),
    /// A resource group declared in `resourceGroups`.
    ResourceGroup(String),
}

/// Written as the single-key mapping the manifest uses (`{ account: x }`), not as a YAML tag
/// (serde_yaml's default for enums), so serialized manifests load back.
impl Serialize for ScopeRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (key, value) = match self {
            ScopeRef::Account(a) => ("account", a),
            ScopeRef::ResourceGroup(rg) => ("resourceGroup", rg),
        };
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(key, value)?;
        m.end()
    }
}

impl fmt::Display for ScopeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeRef::Account(a) => write!(f, "account `{a}`"),
            ScopeRef::ResourceGroup(rg) => write!(f, "resource group `{rg}`"),
        }
    }
}

/// Who receives a role.
///
/// In YAML: the bare string `self`, or a single-key mapping (`user: …`, `group: …`,
/// `servicePrincipal: …`, `vm: …`), or `{ vm: name, resourceGroup: rg }`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PrincipalRef {
    /// The identity keyless itself runs as.
    SelfCaller,
    /// A user, by UPN (contains `@`) or object id.
    User {
        /// UPN or object id GUID.
        upn_or_id: String,
    },
    /// A group, by display name or object id.
    Group {
        /// Display name or object id GUID.
        name_or_id: String,
    },
    /// A service principal, by application (client) id or object id.
    ServicePrincipal {
        /// appId or object id GUID.
        app_or_object_id: String,
    },
    /// The system-assigned identity of a VM declared in `managedIdentities`.
    Vm {
        /// VM name.
        name: String,
        /// The VM's resource group. Optional in YAML when the name is unambiguous; always set
        /// after loading.
        resource_group: Option<String>,
    },
}

impl PrincipalRef {
    /// The YAML key of this form (`self`, `user`, …), for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            PrincipalRef::SelfCaller => "self",
            PrincipalRef::User { .. } => "user",
            PrincipalRef::Group { .. } => "group",
            PrincipalRef::ServicePrincipal { .. } => "servicePrincipal",
            PrincipalRef::Vm { .. } => "vm",
        }
    }
}

impl fmt::Display for PrincipalRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrincipalRef::SelfCaller => write!(f, "`self`"),
            PrincipalRef::User { upn_or_id: v }
            | PrincipalRef::Group { name_or_id: v }
            | PrincipalRef::ServicePrincipal {
                app_or_object_id: v,
            } => write!(f, "{} `{v}`", self.kind_name()),
            PrincipalRef::Vm {
                name,
                resource_group: Some(rg),
            } => write!(f, "vm `{rg}/{name}`"),
            PrincipalRef::Vm { name, .. } => write!(f, "vm `{name}`"),
        }
    }
}

impl Serialize for PrincipalRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (key, value) = match self {
            PrincipalRef::SelfCaller => return s.serialize_str("self"),
            PrincipalRef::User { upn_or_id } => ("user", upn_or_id),
            PrincipalRef::Group { name_or_id } => ("group", name_or_id),
            PrincipalRef::ServicePrincipal { app_or_object_id } => {
                ("servicePrincipal", app_or_object_id)
            }
            PrincipalRef::Vm {
                name,
                resource_group,
            } => {
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("vm", name)?;
                if let Some(rg) = resource_group {
                    m.serialize_entry("resourceGroup", rg)?;
                }
                return m.end();
            }
        };
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(key, value)?;
        m.end()
    }
}

/// Keys a principal mapping may use (unknown keys get a did-you-mean from serde's list).
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum PrincipalKey {
    User,
    Group,
    ServicePrincipal,
    Vm,
    ResourceGroup,
}

struct PrincipalVisitor;

impl<'de> Visitor<'de> for PrincipalVisitor {
    type Value = PrincipalRef;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`self` or a mapping such as `user: alice@contoso.com`")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<PrincipalRef, E> {
        if v == "self" {
            Ok(PrincipalRef::SelfCaller)
        } else {
            Err(E::invalid_value(Unexpected::Str(v), &self))
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PrincipalRef, A::Error> {
        let mut found: Vec<(PrincipalKey, String)> = Vec::new();
        while let Some(key) = map.next_key::<PrincipalKey>()? {
            let value: String = map.next_value()?;
            found.push((key, value));
        }
        let mut rg = None;
        let mut principal = None;
        let mut kinds = 0;
        for (key, value) in found {
            let p = match key {
                PrincipalKey::ResourceGroup => {
                    rg = Some(value);
                    continue;
                }
                PrincipalKey::User => PrincipalRef::User { upn_or_id: value },
                PrincipalKey::Group => PrincipalRef::Group { name_or_id: value },
                PrincipalKey::ServicePrincipal => PrincipalRef::ServicePrincipal {
                    app_or_object_id: value,
                },
                PrincipalKey::Vm => PrincipalRef::Vm {
                    name: value,
                    resource_group: None,
                },
            };
            kinds += 1;
            principal = Some(p);
        }
        match (kinds, principal, rg) {
            (1, Some(PrincipalRef::Vm { name, .. }), rg) => Ok(PrincipalRef::Vm {
                name,
                resource_group: rg,
            }),
            (1, Some(_), Some(_)) => Err(de::Error::custom(
                "`resourceGroup` can only accompany `vm` in a principal",
            )),
            (1, Some(p), None) => Ok(p),
            (0, _, _) => Err(de::Error::custom(
                "a principal needs one of `user`, `group`, `servicePrincipal` or `vm`",
            )),
            _ => Err(de::Error::custom(
                "a principal has exactly one of `user`, `group`, `servicePrincipal` or `vm`; list several principals as separate items",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for PrincipalRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PrincipalVisitor)
    }
}

// Schema-only mirror of `PrincipalRef`'s YAML forms: the real type has hand-written serde for
// better errors, and this keeps its schema derived rather than hand-built. The round-trip test in
// `tests/` checks that every form described here is accepted by the real deserializer.
/// Who receives a role: `self`, or a mapping with exactly one of `user`, `group`,
/// `servicePrincipal`, `vm` (a `vm` may add `resourceGroup`).
#[derive(JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
#[allow(dead_code)]
enum PrincipalRefSchema {
    /// The identity keyless itself runs as.
    SelfCaller(SelfKeyword),
    /// A user, by UPN (contains `@`) or object id GUID.
    User {
        /// UPN or object id.
        user: String,
    },
    /// A group, by display name or object id GUID.
    Group {
        /// Display name or object id.
        group: String,
    },
    /// A service principal, by appId or object id GUID.
    ServicePrincipal {
        /// appId or object id.
        #[serde(rename = "servicePrincipal")]
        service_principal: String,
    },
    /// The system-assigned identity of a VM declared in `managedIdentities`.
    Vm {
        /// VM name.
        vm: String,
        /// The VM's resource group, needed only when several `managedIdentities` share the name.
        #[serde(rename = "resourceGroup")]
        resource_group: Option<String>,
    },
}

/// The keyword `self`: the identity keyless itself runs as.
#[derive(JsonSchema)]
#[allow(dead_code)]
enum SelfKeyword {
    #[serde(rename = "self")]
    SelfCaller,
}

impl JsonSchema for PrincipalRef {
    fn schema_name() -> String {
        "PrincipalRef".to_owned()
    }

    fn json_schema(gen: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        PrincipalRefSchema::json_schema(gen)
    }
}

/// The API a verification probe calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerifyApi {
    /// `/chat/completions`.
    #[default]
    Chat,
    /// `/completions`.
    Completions,
}

/// How access is verified after reconciling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifySpec {
    /// Run the verification probe.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Deployment to probe. Set: every account having a deployment of this name is probed with
    /// it. Unset: each account is probed with its first deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// API to call.
    #[serde(default)]
    pub api: VerifyApi,
    /// Data-plane API version (`YYYY-MM-DD` or `YYYY-MM-DD-preview`).
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// How long to keep retrying while role assignments propagate (e.g. `90s`, `15m`, `1h30m`).
    #[serde(default = "default_timeout", with = "duration::human")]
    #[schemars(schema_with = "duration::schema")]
    pub timeout: Duration,
}

impl Default for VerifySpec {
    fn default() -> Self {
        VerifySpec {
            enabled: true,
            deployment: None,
            api: VerifyApi::default(),
            api_version: default_api_version(),
            timeout: default_timeout(),
        }
    }
}

/// One (account, deployment) pair the verification probe calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyTarget<'a> {
    /// The account to call.
    pub account: &'a AccountSpec,
    /// The deployment to call.
    pub deployment: &'a DeploymentSpec,
}

impl Manifest {
    /// `keyless:manifest=<name>`: written into role-assignment descriptions so keyless (and
    /// prune) can recognise what this manifest created.
    pub fn ownership_marker(&self) -> String {
        ownership_marker_for(&self.name)
    }

    /// The `(key, value)` ownership tag for resource groups and accounts:
    /// `keyless-manifest=<name>`.
    pub fn ownership_tag(&self) -> (&'static str, String) {
        (OWNERSHIP_TAG_KEY, self.name.clone())
    }

    /// The tags to put on a resource: `tags` (already merged with the top-level tags after
    /// loading) plus the ownership tag.
    pub fn desired_tags(&self, tags: &Tags) -> Tags {
        let mut out = tags.clone();
        out.insert(OWNERSHIP_TAG_KEY.to_owned(), self.name.clone());
        out
    }

    /// The declared resource group named `name` (Azure names are case-insensitive).
    pub fn resource_group(&self, name: &str) -> Option<&ResourceGroupSpec> {
        self.resource_groups
            .iter()
            .find(|rg| rg.name.eq_ignore_ascii_case(name))
    }

    /// The declared account named `name` (case-insensitive).
    pub fn account(&self, name: &str) -> Option<&AccountSpec> {
        self.accounts
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The (account, deployment) pairs verification should probe, in manifest order; empty
    /// when verification is disabled.
    pub fn verify_targets(&self) -> Vec<VerifyTarget<'_>> {
        if !self.verify.enabled {
            return Vec::new();
        }
        self.accounts
            .iter()
            .filter_map(|account| {
                let deployment = match &self.verify.deployment {
                    Some(name) => account.deployments.iter().find(|d| &d.name == name),
                    None => account.deployments.first(),
                }?;
                Some(VerifyTarget {
                    account,
                    deployment,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_marker_round_trips_through_a_description() {
        let d = format!("{} team chat access", ownership_marker_for("team-alpha"));
        assert_eq!(d, "keyless:manifest=team-alpha team chat access");
        assert_eq!(parse_ownership_marker(&d), Some("team-alpha"));
        assert_eq!(parse_ownership_marker("made by hand"), None);
        assert_eq!(parse_ownership_marker("keyless:manifest="), None);
    }

    #[test]
    fn principal_serializes_in_its_yaml_forms() {
        let ps = vec![
            PrincipalRef::SelfCaller,
            PrincipalRef::User {
                upn_or_id: "a@b.c".into(),
            },
            PrincipalRef::Vm {
                name: "vm1".into(),
                resource_group: Some("rg".into()),
            },
        ];
        let json = serde_json::to_value(&ps).unwrap();
        assert_eq!(
            json,
            serde_json::json!(["self", {"user": "a@b.c"}, {"vm": "vm1", "resourceGroup": "rg"}])
        );
        let back: Vec<PrincipalRef> = serde_json::from_value(json).unwrap();
        assert_eq!(back, ps);
    }

    #[test]
    fn principal_rejects_ambiguous_or_unknown_shapes() {
        let err = |v: serde_json::Value| {
            serde_json::from_value::<PrincipalRef>(v)
                .unwrap_err()
                .to_string()
        };
        assert!(err(serde_json::json!({"user": "a", "group": "b"})).contains("exactly one"));
        assert!(err(serde_json::json!({"user": "a", "resourceGroup": "b"}))
            .contains("only accompany `vm`"));
        assert!(err(serde_json::json!({"usr": "a"})).contains("unknown field `usr`"));
        assert!(err(serde_json::json!("me")).contains("invalid value"));
    }
}
