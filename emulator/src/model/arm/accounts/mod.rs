//! Cognitive Services accounts (2024-10-01): create as a long-running operation, update, soft
//! delete, restore, purge, keys, and their JSON shape.
//!
//! Rules (behaviour notes §6): a write while the account is not in a terminal state is refused;
//! the custom subdomain is globally unique and immutable; a deleted account keeps its name and
//! subdomain for 48 hours; re-creating it needs `restore: true`.

pub mod deployments;

use super::errors::ArmError;
use super::ids::{self, normalize_location};
use super::subdomain::{self, Unavailable};
use super::ArmState;
use deployments::Deployment;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// How long a deleted account is kept before it is purged automatically (48 h).
pub const SOFT_DELETE_RETENTION: f64 = 48.0 * 3600.0;

/// A Cognitive Services account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// Subscription id.
    pub subscription_id: String,
    /// Resource group name.
    pub resource_group: String,
    /// Account name.
    pub name: String,
    /// Normalised location.
    pub location: String,
    /// `kind` (OpenAI, AIServices, …).
    pub kind: String,
    /// `sku` object as sent.
    pub sku: Value,
    /// Tags.
    pub tags: Map<String, Value>,
    /// `identity.type` when an identity was requested.
    pub identity_type: Option<String>,
    /// Principal id of the system-assigned identity.
    pub identity_principal_id: Option<String>,
    /// Custom subdomain (immutable once set).
    pub custom_subdomain: Option<String>,
    /// `disableLocalAuth`.
    pub disable_local_auth: bool,
    /// Other request properties, echoed back (encryption, networkAcls, publicNetworkAccess…).
    pub extra: Map<String, Value>,
    /// Unix seconds created.
    pub created_at: f64,
    /// Unix seconds the current create/restore finishes (provisioning is non-terminal before).
    pub ready_at: f64,
    /// Bumped on every write (etag).
    pub version: u64,
    /// `key1`.
    pub key1: String,
    /// `key2`.
    pub key2: String,
    /// `internalId`.
    pub internal_id: String,
    /// Object id of the creator (`systemData.createdBy`).
    pub created_by: String,
    /// Model deployments.
    pub deployments: Vec<Deployment>,
}

/// A soft-deleted account and when it was deleted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeletedAccount {
    /// The account as it was.
    pub account: Account,
    /// Unix seconds deleted.
    pub deleted_at: f64,
}

impl Account {
    /// ARM id.
    pub fn id(&self) -> String {
        ids::resource_id(
            &self.subscription_id,
            &self.resource_group,
            "Microsoft.CognitiveServices",
            "accounts",
            &self.name,
        )
    }

    /// `provisioningState` at `now`: `Accepted` during the first half of provisioning,
    /// `Creating` during the second, then `Succeeded`.
    pub fn provisioning_state(&self, now: f64) -> &'static str {
        if now >= self.ready_at {
            "Succeeded"
        } else if now < self.created_at + (self.ready_at - self.created_at) / 2.0 {
            "Accepted"
        } else {
            "Creating"
        }
    }

    /// True when a write is allowed (terminal provisioning state).
    pub fn is_terminal(&self, now: f64) -> bool {
        now >= self.ready_at
    }

    /// The account's endpoint under the emulator base URL (DESIGN.md): `{base}/aoai/{subdomain}/`
    /// with a subdomain, else the regional endpoint `{base}/aoai/{location}.api.cognitive.microsoft.com/`.
    pub fn endpoint(&self, base: &str) -> String {
        match &self.custom_subdomain {
            Some(s) => format!("{base}/aoai/{s}/"),
            None => format!("{base}/aoai/{}.api.cognitive.microsoft.com/", self.location),
        }
    }

    /// Account JSON (cognitiveservices.json `Account`).
    pub fn to_json(&self, now: f64, base: &str, tenant: &str) -> Value {
        let endpoint = self.endpoint(base);
        let mut props = self.extra.clone();
        let mut set = |k: &str, v: Value| {
            props.insert(k.to_string(), v);
        };
        set("endpoint", json!(endpoint));
        set("endpoints", endpoints(&self.kind, &endpoint));
        set("provisioningState", json!(self.provisioning_state(now)));
        set("internalId", json!(self.internal_id));
        set("dateCreated", json!(iso(self.created_at)));
        set("isMigrated", json!(false));
        set("disableLocalAuth", json!(self.disable_local_auth));
        set("capabilities", capabilities(&self.kind));
        set(
            "callRateLimit",
            json!({"rules": [{"key": "openai", "renewalPeriod": 60, "count": 30000, "matchPatterns": [{"path": "openai/*", "method": "*"}]}]}),
        );
        if !self.extra.contains_key("publicNetworkAccess") {
            set("publicNetworkAccess", json!("Enabled"));
        }
        if let Some(s) = &self.custom_subdomain {
            set("customSubDomainName", json!(s));
        }
        let mut v = json!({
            "id": self.id(),
            "name": self.name,
            "type": "Microsoft.CognitiveServices/accounts",
            "location": self.location,
            "sku": self.sku,
            "kind": self.kind,
            "etag": format!("\"{:08x}-0000-0100-0000-{:012x}\"", self.version, self.created_at as u64),
            "tags": Value::Object(self.tags.clone()),
            "systemData": {
                "createdBy": self.created_by,
                "createdByType": "Application",
                "createdAt": iso(self.created_at),
                "lastModifiedBy": self.created_by,
                "lastModifiedByType": "Application",
                "lastModifiedAt": iso(self.created_at),
            },
            "properties": Value::Object(props),
        });
        if let Some(t) = &self.identity_type {
            let mut ident = json!({"type": t});
            if let Some(p) = &self.identity_principal_id {
                ident["principalId"] = json!(p);
                ident["tenantId"] = json!(tenant);
            }
            v["identity"] = ident;
        }
        v
    }
}

fn endpoints(kind: &str, endpoint: &str) -> Value {
    if kind.eq_ignore_ascii_case("OpenAI") {
        json!({
            "OpenAI Language Model Instance API": endpoint,
            "OpenAI Dall-E API": endpoint,
            "OpenAI Whisper API": endpoint,
            "OpenAI Model Scaleset API": endpoint,
            "OpenAI Realtime API": endpoint,
            "Token Service API": endpoint,
        })
    } else {
        json!({"Cognitive Services API": endpoint, "Token Service API": endpoint})
    }
}

fn capabilities(kind: &str) -> Value {
    if kind.eq_ignore_ascii_case("OpenAI") {
        json!([
            {"name": "VirtualNetworks"},
            {"name": "CustomerManagedKey"},
            {"name": "MaxFineTuneCount", "value": "100"},
            {"name": "MaxRunningFineTuneCount", "value": "1"},
            {"name": "MaxUserFileCount", "value": "50"},
            {"name": "MaxTrainingFileSize", "value": "512000000"},
            {"name": "TrustedServices", "value": "Microsoft.CognitiveServices,Microsoft.MachineLearningServices,Microsoft.Search"},
            {"name": "RaiMonitor"},
        ])
    } else {
        json!([{"name": "VirtualNetworks"}, {"name": "CustomerManagedKey"}])
    }
}

impl DeletedAccount {
    /// `/subscriptions/{s}/providers/Microsoft.CognitiveServices/locations/{loc}/resourceGroups/{rg}/deletedAccounts/{name}`.
    pub fn id(&self) -> String {
        let a = &self.account;
        format!(
            "/subscriptions/{}/providers/Microsoft.CognitiveServices/locations/{}/resourceGroups/{}/deletedAccounts/{}",
            a.subscription_id, a.location, a.resource_group, a.name
        )
    }

    /// Deleted-account JSON: the account shape with the deleted id, `deletionDate` and
    /// `scheduledPurgeDate`.
    pub fn to_json(&self, now: f64, base: &str, tenant: &str) -> Value {
        let mut v = self.account.to_json(now, base, tenant);
        v["id"] = json!(self.id());
        v["properties"]["provisioningState"] = json!("Succeeded");
        v["properties"]["deletionDate"] = json!(iso(self.deleted_at));
        v["properties"]["scheduledPurgeDate"] = json!(iso(self.deleted_at + SOFT_DELETE_RETENTION));
        v
    }
}

/// RFC 3339 time as Cognitive Services writes it.
pub fn iso(t: f64) -> String {
    crate::timefmt::iso_time(t)
}

/// What the client sent in an account PUT.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountInput {
    /// `location`.
    pub location: Option<String>,
    /// `kind`.
    pub kind: Option<String>,
    /// `sku`.
    pub sku: Option<Value>,
    /// `tags`.
    pub tags: Option<Map<String, Value>>,
    /// `identity.type`.
    pub identity_type: Option<String>,
    /// `properties` as sent.
    pub properties: Map<String, Value>,
}

impl AccountInput {
    /// Reads a request body; a non-object body or wrongly typed member is a 400.
    pub fn from_body(body: &Value) -> Result<AccountInput, ArmError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ArmError::invalid_content("The request content was invalid and could not be deserialized: 'expected an object'."))?;
        let string = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
        let properties = match obj.get("properties") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(ArmError::invalid_content("The request content was invalid and could not be deserialized: 'properties must be an object'.")),
        };
        if let Some(v) = properties.get("customSubDomainName") {
            if !v.is_string() && !v.is_null() {
                return Err(ArmError::invalid_content("The request content was invalid and could not be deserialized: 'customSubDomainName must be a string'."));
            }
        }
        Ok(AccountInput {
            location: string("location"),
            kind: string("kind"),
            sku: obj.get("sku").filter(|v| v.is_object()).cloned(),
            tags: obj.get("tags").and_then(Value::as_object).cloned(),
            identity_type: obj
                .get("identity")
                .and_then(|i| i.get("type"))
                .and_then(Value::as_str)
                .map(str::to_string),
            properties,
        })
    }

    fn subdomain(&self) -> Option<String> {
        self.properties
            .get("customSubDomainName")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    fn disable_local_auth(&self) -> Option<bool> {
        self.properties
            .get("disableLocalAuth")
            .and_then(Value::as_bool)
    }

    fn restore(&self) -> bool {
        self.properties
            .get("restore")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    fn extra(&self) -> Map<String, Value> {
        let mut m = self.properties.clone();
        for k in [
            "customSubDomainName",
            "disableLocalAuth",
            "restore",
            "endpoint",
            "endpoints",
            "provisioningState",
            "internalId",
            "dateCreated",
            "capabilities",
            "callRateLimit",
            "isMigrated",
            "deletionDate",
            "scheduledPurgeDate",
        ] {
            m.remove(k);
        }
        m
    }
}

/// What an account PUT did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// A new account (201, provisioning).
    Created,
    /// A soft-deleted account came back (201, provisioning).
    Restored,
    /// An existing account was updated (200).
    Updated,
}

/// Everything a create needs besides the body.
#[derive(Debug, Clone)]
pub struct WriteContext<'a> {
    /// Subscription id.
    pub sub: &'a str,
    /// Resource group (must exist).
    pub rg: &'a str,
    /// Account name.
    pub name: &'a str,
    /// Unix seconds now.
    pub now: f64,
    /// Provisioning duration (seconds).
    pub provisioning: f64,
    /// Caller object id (systemData).
    pub caller: &'a str,
}

/// Validates an account name: 2–64 alphanumerics and `-`, starting alphanumeric.
pub fn valid_name(name: &str) -> bool {
    (2..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

/// Purges soft-deleted accounts whose retention has passed.
pub fn expire_deleted(state: &mut ArmState, now: f64) {
    state
        .deleted_accounts
        .retain(|d| now < d.deleted_at + SOFT_DELETE_RETENTION);
}

/// Index of a live account.
pub fn find(state: &ArmState, sub: &str, rg: &str, name: &str) -> Option<usize> {
    state.accounts.iter().position(|a| {
        ids::eq(&a.subscription_id, sub) && ids::eq(&a.resource_group, rg) && ids::eq(&a.name, name)
    })
}

/// Index of a soft-deleted account by subscription, resource group and name (any location when
/// `location` is `None`).
pub fn find_deleted(
    state: &ArmState,
    sub: &str,
    location: Option<&str>,
    rg: &str,
    name: &str,
) -> Option<usize> {
    state.deleted_accounts.iter().position(|d| {
        let a = &d.account;
        ids::eq(&a.subscription_id, sub)
            && ids::eq(&a.resource_group, rg)
            && ids::eq(&a.name, name)
            && location.is_none_or(|l| normalize_location(l) == normalize_location(&a.location))
    })
}

/// PUT an account: create, restore or update (rules in the module doc). The resource group
/// existence is checked by the caller. Returns the outcome and the account's index.
pub fn put(
    state: &mut ArmState,
    w: &WriteContext<'_>,
    input: &AccountInput,
) -> Result<(PutOutcome, usize), ArmError> {
    expire_deleted(state, w.now);
    let wanted_sub = input.subdomain();
    if let Some(i) = find(state, w.sub, w.rg, w.name) {
        return update(state, i, w, input, wanted_sub);
    }
    if let Some(d) = find_deleted(state, w.sub, None, w.rg, w.name) {
        return restore(state, d, w, input);
    }
    create(state, w, input, wanted_sub)
}

/// PUT over a live account: only in a terminal state; the subdomain may be set once.
fn update(
    state: &mut ArmState,
    i: usize,
    w: &WriteContext<'_>,
    input: &AccountInput,
    wanted_sub: Option<String>,
) -> Result<(PutOutcome, usize), ArmError> {
    let id = state.accounts[i].id();
    let a = &state.accounts[i];
    if !a.is_terminal(w.now) {
        return Err(ArmError::account_state_invalid(
            &id,
            a.provisioning_state(w.now),
        ));
    }
    check_subdomain_change(state, i, wanted_sub.as_deref())?;
    let a = &mut state.accounts[i];
    if let Some(s) = wanted_sub {
        a.custom_subdomain = Some(s);
    }
    if let Some(d) = input.disable_local_auth() {
        a.disable_local_auth = d;
    }
    if let Some(s) = &input.sku {
        a.sku = s.clone();
    }
    a.tags = input.tags.clone().unwrap_or_default();
    a.extra = input.extra();
    if input.identity_type.is_some() {
        a.identity_type = input.identity_type.clone();
    }
    a.version += 1;
    Ok((PutOutcome::Updated, i))
}

/// PUT over a soft-deleted account: needs `restore: true`; provisions again.
fn restore(
    state: &mut ArmState,
    d: usize,
    w: &WriteContext<'_>,
    input: &AccountInput,
) -> Result<(PutOutcome, usize), ArmError> {
    let id = state.deleted_accounts[d].account.id();
    if !input.restore() {
        return Err(ArmError::flag_must_be_set_for_restore(&id));
    }
    let mut a = state.deleted_accounts.remove(d).account;
    a.created_at = w.now;
    a.ready_at = w.now + w.provisioning;
    a.version += 1;
    if let Some(t) = &input.tags {
        a.tags = t.clone();
    }
    state.accounts.push(a);
    Ok((PutOutcome::Restored, state.accounts.len() - 1))
}

/// PUT of a new account: location, kind and a free, valid subdomain.
fn create(
    state: &mut ArmState,
    w: &WriteContext<'_>,
    input: &AccountInput,
    wanted_sub: Option<String>,
) -> Result<(PutOutcome, usize), ArmError> {
    let location = ids::required_location(input.location.as_deref())?;
    let kind = input
        .kind
        .clone()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ArmError::new(
                400,
                "InvalidParameter",
                "The kind of the account is required.",
            )
        })?;
    if let Some(s) = &wanted_sub {
        match subdomain::check(state, s, None) {
            Ok(()) => {}
            Err(Unavailable::Taken) => return Err(ArmError::custom_domain_in_use(s)),
            Err(Unavailable::Invalid) => {
                return Err(ArmError::new(
                    400,
                    "InvalidSubDomainName",
                    format!("Sub domain name '{s}' is not valid"),
                ))
            }
        }
    }
    let account = Account {
        subscription_id: w.sub.to_string(),
        resource_group: w.rg.to_string(),
        name: w.name.to_string(),
        location,
        kind,
        sku: input.sku.clone().unwrap_or_else(|| json!({"name": "S0"})),
        tags: input.tags.clone().unwrap_or_default(),
        identity_type: input.identity_type.clone(),
        identity_principal_id: None,
        custom_subdomain: wanted_sub,
        disable_local_auth: input.disable_local_auth().unwrap_or(false),
        extra: input.extra(),
        created_at: w.now,
        ready_at: w.now + w.provisioning,
        version: 1,
        key1: new_key(),
        key2: new_key(),
        internal_id: uuid::Uuid::new_v4().simple().to_string(),
        created_by: w.caller.to_string(),
        deployments: vec![],
    };
    state.accounts.push(account);
    Ok((PutOutcome::Created, state.accounts.len() - 1))
}

fn check_subdomain_change(
    state: &ArmState,
    i: usize,
    wanted: Option<&str>,
) -> Result<(), ArmError> {
    let a = &state.accounts[i];
    match (a.custom_subdomain.as_deref(), wanted) {
        (_, None) => Ok(()),
        (Some(cur), Some(w)) if cur.eq_ignore_ascii_case(w) => Ok(()),
        (Some(cur), Some(_)) => Err(ArmError::new(
            400,
            "CustomSubDomainNameImmutable",
            format!(
                "The custom subdomain name '{cur}' of account '{}' cannot be changed once set.",
                a.name
            ),
        )),
        (None, Some(w)) => match subdomain::check(state, w, Some(&a.id())) {
            Ok(()) => Ok(()),
            Err(Unavailable::Taken) => Err(ArmError::custom_domain_in_use(w)),
            Err(Unavailable::Invalid) => Err(ArmError::new(
                400,
                "InvalidSubDomainName",
                format!("Sub domain name '{w}' is not valid"),
            )),
        },
    }
}

/// PATCH an account: tags, sku and properties merge; the subdomain stays immutable.
pub fn patch(state: &mut ArmState, i: usize, body: &Value, now: f64) -> Result<(), ArmError> {
    let input = AccountInput::from_body(body)?;
    let id = state.accounts[i].id();
    if !state.accounts[i].is_terminal(now) {
        return Err(ArmError::account_state_invalid(
            &id,
            state.accounts[i].provisioning_state(now),
        ));
    }
    check_subdomain_change(state, i, input.subdomain().as_deref())?;
    let a = &mut state.accounts[i];
    if let Some(s) = input.subdomain() {
        a.custom_subdomain = Some(s);
    }
    if let Some(d) = input.disable_local_auth() {
        a.disable_local_auth = d;
    }
    if let Some(s) = input.sku.clone() {
        a.sku = s;
    }
    if let Some(t) = input.tags.clone() {
        a.tags = t;
    }
    if input.identity_type.is_some() {
        a.identity_type = input.identity_type.clone();
    }
    for (k, v) in input.extra() {
        a.extra.insert(k, v);
    }
    a.version += 1;
    Ok(())
}

/// DELETE: soft-deletes a live account. `Ok(false)` when it does not exist.
pub fn soft_delete(
    state: &mut ArmState,
    sub: &str,
    rg: &str,
    name: &str,
    now: f64,
) -> Result<bool, ArmError> {
    let Some(i) = find(state, sub, rg, name) else {
        return Ok(false);
    };
    let a = &state.accounts[i];
    if !a.is_terminal(now) {
        return Err(ArmError::account_state_invalid(
            &a.id(),
            a.provisioning_state(now),
        ));
    }
    let a = state.accounts.remove(i);
    state.deleted_accounts.push(DeletedAccount {
        account: a,
        deleted_at: now,
    });
    Ok(true)
}

/// Purge: removes a soft-deleted account, freeing its name and subdomain. `false` when absent.
pub fn purge(
    state: &mut ArmState,
    sub: &str,
    location: &str,
    rg: &str,
    name: &str,
    now: f64,
) -> bool {
    expire_deleted(state, now);
    match find_deleted(state, sub, Some(location), rg, name) {
        Some(i) => {
            state.deleted_accounts.remove(i);
            true
        }
        None => false,
    }
}

/// A fresh account key (32 hex characters, like Azure's).
pub fn new_key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(name: &'a str, now: f64) -> WriteContext<'a> {
        WriteContext {
            sub: "s1",
            rg: "rg",
            name,
            now,
            provisioning: 2.0,
            caller: "me",
        }
    }

    fn body(sub: &str) -> AccountInput {
        AccountInput::from_body(&json!({
            "location": "East US", "kind": "OpenAI", "sku": {"name": "S0"},
            "properties": {"customSubDomainName": sub, "disableLocalAuth": true}
        }))
        .unwrap()
    }

    #[test]
    fn create_is_long_running_and_writes_wait() {
        let mut s = ArmState::default();
        let (o, i) = put(&mut s, &ctx("a1", 100.0), &body("sub-a1")).unwrap();
        assert_eq!(o, PutOutcome::Created);
        let a = &s.accounts[i];
        assert_eq!(a.location, "eastus");
        assert_eq!(a.provisioning_state(100.0), "Accepted");
        assert_eq!(a.provisioning_state(101.5), "Creating");
        assert_eq!(a.provisioning_state(102.0), "Succeeded");
        let e = put(&mut s, &ctx("a1", 100.5), &body("sub-a1")).unwrap_err();
        assert_eq!(e.code, "AccountProvisioningStateInvalid");
        assert!(e.message.ends_with("in state Accepted"), "{}", e.message);
        let (o, _) = put(&mut s, &ctx("a1", 103.0), &body("sub-a1")).unwrap();
        assert_eq!(o, PutOutcome::Updated);
        let json = s.accounts[0].to_json(103.0, "https://h:1", "t");
        assert_eq!(json["properties"]["endpoint"], "https://h:1/aoai/sub-a1/");
        assert_eq!(json["properties"]["disableLocalAuth"], true);
        assert_eq!(json["properties"]["customSubDomainName"], "sub-a1");
    }

    #[test]
    fn subdomain_is_unique_and_immutable() {
        let mut s = ArmState {
            taken_subdomains: vec!["held".into()],
            ..Default::default()
        };
        put(&mut s, &ctx("a1", 0.0), &body("one")).unwrap();
        let e = put(&mut s, &ctx("a2", 10.0), &body("ONE")).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (409, "CustomDomainInUse"));
        assert!(e
            .message
            .contains("The subdomain name 'ONE' is not available"));
        assert_eq!(
            put(&mut s, &ctx("a3", 10.0), &body("held"))
                .unwrap_err()
                .code,
            "CustomDomainInUse"
        );
        assert_eq!(
            put(&mut s, &ctx("a4", 10.0), &body("-x"))
                .unwrap_err()
                .status,
            400
        );
        let e = put(&mut s, &ctx("a1", 10.0), &body("two")).unwrap_err();
        assert_eq!(e.status, 400);
        let e = patch(
            &mut s,
            0,
            &json!({"properties": {"customSubDomainName": "two"}}),
            10.0,
        )
        .unwrap_err();
        assert_eq!(e.status, 400);
        patch(
            &mut s,
            0,
            &json!({"properties": {"disableLocalAuth": false}, "tags": {"a": "b"}}),
            10.0,
        )
        .unwrap();
        assert!(!s.accounts[0].disable_local_auth);
        assert_eq!(s.accounts[0].custom_subdomain.as_deref(), Some("one"));
    }

    #[test]
    fn soft_delete_restore_purge() {
        let mut s = ArmState::default();
        put(&mut s, &ctx("a1", 0.0), &body("sd")).unwrap();
        assert!(soft_delete(&mut s, "s1", "rg", "a1", 10.0).unwrap());
        assert!(!soft_delete(&mut s, "s1", "rg", "a1", 10.0).unwrap());
        // the deleted account still holds its subdomain
        assert_eq!(
            put(&mut s, &ctx("other", 11.0), &body("sd"))
                .unwrap_err()
                .code,
            "CustomDomainInUse"
        );
        let e = put(&mut s, &ctx("a1", 11.0), &body("sd")).unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str()),
            (409, "FlagMustBeSetForRestore")
        );
        assert!(e.message.contains(
            "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a1"
        ));
        let restore = AccountInput::from_body(
            &json!({"location": "eastus", "properties": {"restore": true}}),
        )
        .unwrap();
        let (o, i) = put(&mut s, &ctx("a1", 12.0), &restore).unwrap();
        assert_eq!(o, PutOutcome::Restored);
        assert_eq!(s.accounts[i].custom_subdomain.as_deref(), Some("sd"));
        assert!(s.deleted_accounts.is_empty());
        soft_delete(&mut s, "s1", "rg", "a1", 20.0).unwrap();
        assert!(!purge(&mut s, "s1", "westus", "rg", "a1", 21.0));
        assert!(purge(&mut s, "s1", "East US", "rg", "a1", 21.0));
        put(&mut s, &ctx("other", 22.0), &body("sd")).unwrap();
    }

    #[test]
    fn deleted_accounts_expire_after_48h() {
        let mut s = ArmState::default();
        put(&mut s, &ctx("a1", 0.0), &body("ex")).unwrap();
        soft_delete(&mut s, "s1", "rg", "a1", 10.0).unwrap();
        expire_deleted(&mut s, 10.0 + SOFT_DELETE_RETENTION - 1.0);
        assert_eq!(s.deleted_accounts.len(), 1);
        expire_deleted(&mut s, 10.0 + SOFT_DELETE_RETENTION);
        assert!(s.deleted_accounts.is_empty());
    }
}
