//! A typed builder for the keyless manifests the tests apply (docs/manifest.md), so that a test
//! says what it varies (`.prune(true)`, `.account(|a| a.on_soft_deleted("restore"))`) instead of
//! concatenating YAML or patching it with `str::replace`. The document is serialised through
//! `serde_yaml`; only keys that were set are written, so keyless's defaults apply to the rest.
//!
//! This deliberately does not reuse `keyless::manifest`'s types: the tests feed the parser under
//! test the text a user would write, built independently of it.

use super::RG_CI;
use serde::Serialize;
use serde_yaml::{Mapping, Value};
use std::path::{Path, PathBuf};

/// The resource group the quickstart preset declares.
pub const QS_RG: &str = "rg-e2e";
/// The account the quickstart preset declares.
pub const QS_ACCOUNT: &str = "oai-e2e";
/// The quickstart account's custom subdomain.
pub const QS_SUBDOMAIN: &str = "keyless-e2e-contoso";
/// The role the quickstart grants (and most tests assign).
pub const OPENAI_USER_ROLE: &str = "Cognitive Services OpenAI User";

/// One principal of a `roleAssignments` entry.
#[derive(Debug, Clone, Copy)]
#[allow(clippy::enum_variant_names)] // `ServicePrincipal` is the manifest's own key
pub enum Principal<'a> {
    /// `- self`: the identity keyless runs as.
    Me,
    /// `- user: <upn or object id>`.
    User(&'a str),
    /// `- group: <name or object id>`.
    Group(&'a str),
    /// `- servicePrincipal: <guid>`.
    ServicePrincipal(&'a str),
    /// `- vm: <name>`: the VM's system-assigned identity (declared in `managedIdentities`).
    Vm(&'a str),
}

impl Principal<'_> {
    fn to_value(self) -> Value {
        let (key, v) = match self {
            Principal::Me => return Value::from("self"),
            Principal::User(v) => ("user", v),
            Principal::Group(v) => ("group", v),
            Principal::ServicePrincipal(v) => ("servicePrincipal", v),
            Principal::Vm(v) => ("vm", v),
        };
        let mut m = Mapping::new();
        m.insert(key.into(), v.into());
        Value::Mapping(m)
    }
}

/// The scope of a `roleAssignments` entry.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// `{ account: <name> }`.
    Account(&'a str),
    /// `{ resourceGroup: <name> }`.
    ResourceGroup(&'a str),
}

/// A model deployment of an account.
#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    name: String,
    model: Model,
    sku: Sku,
}

#[derive(Debug, Clone, Serialize)]
struct Model {
    name: String,
    version: String,
}

#[derive(Debug, Clone, Serialize)]
struct Sku {
    name: String,
    capacity: u32,
}

impl Deployment {
    /// `chat`: gpt-4o-mini 2024-07-18, GlobalStandard, capacity 10 (the quickstart's).
    pub fn chat() -> Deployment {
        Deployment {
            name: "chat".into(),
            model: Model {
                name: "gpt-4o-mini".into(),
                version: "2024-07-18".into(),
            },
            sku: Sku {
                name: "GlobalStandard".into(),
                capacity: 10,
            },
        }
    }

    /// The same deployment under another name.
    pub fn named(mut self, name: &str) -> Deployment {
        self.name = name.into();
        self
    }

    /// The same deployment with another SKU capacity.
    pub fn capacity(mut self, capacity: u32) -> Deployment {
        self.sku.capacity = capacity;
        self
    }
}

/// An entry of `accounts`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    name: String,
    resource_group: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    custom_subdomain: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    disable_local_auth: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_soft_deleted: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    deployments: Vec<Deployment>,
    /// Keys written under another spelling (`from`, `to`), for tests of manifest errors.
    #[serde(skip)]
    misspelt: Vec<(String, String)>,
}

impl Account {
    /// `name` in `resource_group` with `subdomain`; everything else left to keyless's defaults.
    pub fn new(name: &str, resource_group: &str, subdomain: &str) -> Account {
        Account {
            name: name.into(),
            resource_group: resource_group.into(),
            kind: None,
            custom_subdomain: subdomain.into(),
            disable_local_auth: None,
            on_soft_deleted: None,
            deployments: Vec::new(),
            misspelt: Vec::new(),
        }
    }

    /// `kind:` (`OpenAI`, `AIServices`, …).
    pub fn kind(mut self, kind: &str) -> Account {
        self.kind = Some(kind.into());
        self
    }

    /// `disableLocalAuth:`.
    pub fn disable_local_auth(mut self, on: bool) -> Account {
        self.disable_local_auth = Some(on);
        self
    }

    /// `onSoftDeleted:` (`restore`, `purge`, `fail`).
    pub fn on_soft_deleted(mut self, what: &str) -> Account {
        self.on_soft_deleted = Some(what.into());
        self
    }

    /// Adds a deployment.
    pub fn deployment(mut self, d: Deployment) -> Account {
        self.deployments.push(d);
        self
    }

    /// Writes the key `key` (camelCase, e.g. `resourceGroup`) as `as_written` instead, in place:
    /// a deliberate mistake for tests of manifest errors.
    pub fn misspell(mut self, key: &str, as_written: &str) -> Account {
        self.misspelt.push((key.into(), as_written.into()));
        self
    }

    fn to_value(&self) -> Value {
        let v = serde_yaml::to_value(self).expect("account serialises");
        let Value::Mapping(m) = v else {
            unreachable!("an account is a mapping")
        };
        for (from, _) in &self.misspelt {
            assert!(
                m.contains_key(from.as_str()),
                "cannot misspell `{from}`: not written"
            );
        }
        let renamed = m
            .into_iter()
            .map(|(k, v)| {
                let to = self
                    .misspelt
                    .iter()
                    .find(|(from, _)| k.as_str() == Some(from.as_str()))
                    .map(|(_, to)| Value::from(to.as_str()));
                (to.unwrap_or(k), v)
            })
            .collect();
        Value::Mapping(renamed)
    }
}

#[derive(Debug, Clone, Default, Serialize)]
struct Verify {
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deployment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<String>,
}

/// A manifest under construction; [`ManifestBuilder::build`] gives its YAML.
#[derive(Debug, Clone)]
pub struct ManifestBuilder {
    name: String,
    subscription: String,
    location: Option<String>,
    emulator_world: Option<String>,
    resource_groups: Vec<String>,
    accounts: Vec<Account>,
    managed_identities: Vec<(String, String)>,
    role_assignments: Vec<Value>,
    verify: Option<Verify>,
    prune: Option<bool>,
}

impl ManifestBuilder {
    /// `version: 1`, `name`, `subscription: ${AZURE_SUBSCRIPTION_ID}`, `location: eastus`, and
    /// nothing else.
    pub fn new(name: &str) -> ManifestBuilder {
        ManifestBuilder {
            name: name.into(),
            subscription: "${AZURE_SUBSCRIPTION_ID}".into(),
            location: Some("eastus".into()),
            emulator_world: None,
            resource_groups: Vec::new(),
            accounts: Vec::new(),
            managed_identities: Vec::new(),
            role_assignments: Vec::new(),
            verify: None,
            prune: None,
        }
    }

    /// The e2e quickstart: resource group [`QS_RG`] with account [`QS_ACCOUNT`] (`kind: OpenAI`,
    /// subdomain [`QS_SUBDOMAIN`], `disableLocalAuth: true`, a [`Deployment::chat`]), no
    /// identities, no role assignments, verification off.
    pub fn quickstart(name: &str) -> ManifestBuilder {
        ManifestBuilder::new(name)
            .resource_group(QS_RG)
            .with_account(
                Account::new(QS_ACCOUNT, QS_RG, QS_SUBDOMAIN)
                    .kind("OpenAI")
                    .disable_local_auth(true)
                    .deployment(Deployment::chat()),
            )
            .verify_off()
    }

    /// `emulator: { world: <path> }` (relative to the manifest file).
    pub fn emulator_world(mut self, path: &str) -> ManifestBuilder {
        self.emulator_world = Some(path.into());
        self
    }

    /// Declares a resource group.
    pub fn resource_group(mut self, name: &str) -> ManifestBuilder {
        self.resource_groups.push(name.into());
        self
    }

    /// Declares an account.
    pub fn with_account(mut self, account: Account) -> ManifestBuilder {
        self.accounts.push(account);
        self
    }

    /// Changes the first declared account (the only one of [`ManifestBuilder::quickstart`]).
    pub fn account(mut self, change: impl FnOnce(Account) -> Account) -> ManifestBuilder {
        let first = self
            .accounts
            .first_mut()
            .expect("the manifest declares an account");
        *first = change(first.clone());
        self
    }

    /// Declares the system-assigned identity of VM `vm` in `resource_group`.
    pub fn vm_identity(mut self, vm: &str, resource_group: &str) -> ManifestBuilder {
        self.managed_identities
            .push((vm.into(), resource_group.into()));
        self
    }

    /// [`ManifestBuilder::vm_identity`] for each of `vms` in the world's `rg-ci`
    /// (`build-agent-01`, `build-agent-02`).
    pub fn ci_vm_identities(self, vms: &[&str]) -> ManifestBuilder {
        vms.iter().fold(self, |b, vm| b.vm_identity(vm, RG_CI))
    }

    /// A `roleAssignments` entry: `role` at `scope` for `principals` (at least one).
    pub fn assign(mut self, role: &str, scope: Scope, principals: &[Principal]) -> ManifestBuilder {
        assert!(!principals.is_empty(), "an assignment needs a principal");
        let mut scope_map = Mapping::new();
        match scope {
            Scope::Account(a) => scope_map.insert("account".into(), a.into()),
            Scope::ResourceGroup(g) => scope_map.insert("resourceGroup".into(), g.into()),
        };
        let mut entry = Mapping::new();
        entry.insert("role".into(), role.into());
        entry.insert("scope".into(), Value::Mapping(scope_map));
        entry.insert(
            "principals".into(),
            Value::Sequence(principals.iter().map(|p| p.to_value()).collect()),
        );
        self.role_assignments.push(Value::Mapping(entry));
        self
    }

    /// [`OPENAI_USER_ROLE`] on the first account for `principals`; nothing when there are none.
    pub fn grant(self, principals: &[Principal]) -> ManifestBuilder {
        if principals.is_empty() {
            return self;
        }
        let account = self
            .accounts
            .first()
            .expect("the manifest declares an account")
            .name
            .clone();
        self.assign(OPENAI_USER_ROLE, Scope::Account(&account), principals)
    }

    /// `prune:`.
    pub fn prune(mut self, on: bool) -> ManifestBuilder {
        self.prune = Some(on);
        self
    }

    /// `verify: { enabled: false }`.
    pub fn verify_off(mut self) -> ManifestBuilder {
        self.verify = Some(Verify {
            enabled: Some(false),
            ..Verify::default()
        });
        self
    }

    /// `verify.deployment` (and verification on again, if it was off).
    pub fn verify_deployment(mut self, deployment: &str) -> ManifestBuilder {
        let v = self.verify_on();
        v.deployment = Some(deployment.into());
        self
    }

    /// `verify.timeout`, a duration such as `"5s"` (and verification on again, if it was off).
    pub fn verify_timeout(mut self, timeout: &str) -> ManifestBuilder {
        let v = self.verify_on();
        v.timeout = Some(timeout.into());
        self
    }

    fn verify_on(&mut self) -> &mut Verify {
        let v = self.verify.get_or_insert_with(Verify::default);
        if v.enabled == Some(false) {
            v.enabled = None;
        }
        v
    }

    /// The manifest as YAML text.
    pub fn build(&self) -> String {
        let mut doc = Mapping::new();
        let mut put = |k: &str, v: Value| {
            doc.insert(k.into(), v);
        };
        put("version", 1.into());
        put("name", self.name.as_str().into());
        put("subscription", self.subscription.as_str().into());
        if let Some(l) = &self.location {
            put("location", l.as_str().into());
        }
        if let Some(w) = &self.emulator_world {
            put("emulator", map([("world", w.as_str().into())]));
        }
        if !self.resource_groups.is_empty() {
            let rgs = self.resource_groups.iter();
            put(
                "resourceGroups",
                rgs.map(|n| map([("name", n.as_str().into())])).collect(),
            );
        }
        if !self.accounts.is_empty() {
            put(
                "accounts",
                self.accounts.iter().map(Account::to_value).collect(),
            );
        }
        if !self.managed_identities.is_empty() {
            let mis = self.managed_identities.iter();
            put(
                "managedIdentities",
                mis.map(|(vm, rg)| {
                    map([
                        ("vm", vm.as_str().into()),
                        ("resourceGroup", rg.as_str().into()),
                    ])
                })
                .collect(),
            );
        }
        if !self.role_assignments.is_empty() {
            put(
                "roleAssignments",
                Value::Sequence(self.role_assignments.clone()),
            );
        }
        if let Some(v) = &self.verify {
            put(
                "verify",
                serde_yaml::to_value(v).expect("verify serialises"),
            );
        }
        if let Some(p) = self.prune {
            put("prune", p.into());
        }
        serde_yaml::to_string(&doc).expect("manifest serialises")
    }

    /// Writes [`ManifestBuilder::build`] to `dir/file_name` and returns the path.
    pub fn write(&self, dir: impl AsRef<Path>, file_name: &str) -> PathBuf {
        let path = dir.as_ref().join(file_name);
        std::fs::write(&path, self.build()).expect("write manifest");
        path
    }
}

/// A YAML mapping of `entries`, in order.
fn map<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Mapping(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
}
