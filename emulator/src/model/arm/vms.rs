//! Virtual machines (Compute 2024-07-01): their JSON shape and the identity PATCH semantics.
//!
//! Azure replaces the identity *type*: a type without `UserAssigned` detaches every
//! user-assigned identity, `None` removes all; with `UserAssigned` the `userAssignedIdentities`
//! map merges into the current set (a `null` value detaches one), so GET-modify-PATCH keeps them
//! (behaviour notes §7.1).

use super::errors::ArmError;
use super::{identities, ids, ArmState};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The identities attached to a VM.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VmIdentity {
    /// Object id of the system-assigned identity's service principal.
    pub system_principal_id: Option<String>,
    /// Resource ids of attached user-assigned identities.
    pub user_assigned: Vec<String>,
}

/// A virtual machine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Vm {
    /// Subscription id.
    pub subscription_id: String,
    /// Resource group.
    pub resource_group: String,
    /// Name.
    pub name: String,
    /// Location.
    pub location: String,
    /// `Linux` or `Windows`.
    pub os: String,
    /// `vmId`.
    pub vm_id: String,
    /// `hardwareProfile.vmSize`.
    pub size: String,
    /// Tags.
    pub tags: Map<String, Value>,
    /// Identities.
    pub identity: VmIdentity,
    /// Unix seconds created.
    pub created_at: f64,
    /// An update is `Updating` until this unix second.
    pub updating_until: f64,
    /// The Run Command operation executing on it, if any.
    pub active_run: Option<String>,
    /// `properties` sent in PATCHes, merged over the generated view (Azure merges a PATCH into
    /// the VM and echoes it).
    #[serde(default)]
    pub overlay: Value,
}

impl Vm {
    /// ARM id.
    pub fn id(&self) -> String {
        ids::resource_id(
            &self.subscription_id,
            &self.resource_group,
            "Microsoft.Compute",
            "virtualMachines",
            &self.name,
        )
    }

    /// True for a Windows VM.
    pub fn is_windows(&self) -> bool {
        self.os.eq_ignore_ascii_case("Windows")
    }

    /// `provisioningState` at `now`.
    pub fn provisioning_state(&self, now: f64) -> &'static str {
        if now < self.updating_until {
            "Updating"
        } else {
            "Succeeded"
        }
    }

    /// The identity type string, `None` when the VM has no identity.
    pub fn identity_type(&self) -> Option<&'static str> {
        match (
            self.identity.system_principal_id.is_some(),
            !self.identity.user_assigned.is_empty(),
        ) {
            (true, true) => Some("SystemAssigned, UserAssigned"),
            (true, false) => Some("SystemAssigned"),
            (false, true) => Some("UserAssigned"),
            (false, false) => None,
        }
    }

    /// Principal ids of every identity attached (system first).
    pub fn principal_ids(&self, state: &ArmState) -> Vec<String> {
        let mut v: Vec<String> = self.identity.system_principal_id.iter().cloned().collect();
        for id in &self.identity.user_assigned {
            if let Some(u) = identities::find(state, id) {
                v.push(u.principal_id.clone());
            }
        }
        v
    }

    /// VM JSON (virtualMachine.json `VirtualMachine`).
    pub fn to_json(&self, state: &ArmState, tenant: &str, now: f64) -> Value {
        let base = format!(
            "/subscriptions/{}/resourceGroups/{}/providers",
            self.subscription_id, self.resource_group
        );
        let (image, os_profile) = self.image_and_os_profile();
        let mut v = json!({
            "id": self.id(),
            "name": self.name,
            "type": "Microsoft.Compute/virtualMachines",
            "location": self.location,
            "tags": Value::Object(self.tags.clone()),
            "etag": "\"1\"",
            "properties": {
                "vmId": self.vm_id,
                "hardwareProfile": {"vmSize": self.size},
                "storageProfile": {
                    "imageReference": image,
                    "osDisk": {
                        "osType": if self.is_windows() { "Windows" } else { "Linux" },
                        "name": format!("{}_OsDisk_1", self.name),
                        "createOption": "FromImage",
                        "caching": "ReadWrite",
                        "managedDisk": {"storageAccountType": "Premium_LRS", "id": format!("{base}/Microsoft.Compute/disks/{}_OsDisk_1", self.name)},
                        "deleteOption": "Delete",
                        "diskSizeGB": 30,
                    },
                    "dataDisks": [{
                        "lun": 0,
                        "name": format!("{}_DataDisk_0", self.name),
                        "createOption": "Empty",
                        "caching": "ReadOnly",
                        "managedDisk": {"storageAccountType": "Premium_LRS", "id": format!("{base}/Microsoft.Compute/disks/{}_DataDisk_0", self.name)},
                        "deleteOption": "Detach",
                        "diskSizeGB": 64,
                        "toBeDetached": false,
                    }],
                    "diskControllerType": "SCSI",
                },
                "osProfile": os_profile,
                "networkProfile": {"networkInterfaces": [{"id": format!("{base}/Microsoft.Network/networkInterfaces/{}-nic", self.name), "properties": {"primary": true}}]},
                "diagnosticsProfile": {"bootDiagnostics": {"enabled": true}},
                "extensionsTimeBudget": "PT1H30M",
                "provisioningState": self.provisioning_state(now),
                "timeCreated": crate::timefmt::iso_time(self.created_at),
            },
        });
        if !self.overlay.is_null() {
            merge(&mut v["properties"], &self.overlay);
        }
        if let Some(ident) = self.identity_json(state, tenant) {
            v["identity"] = ident;
        }
        v
    }

    /// The image reference and `osProfile` of the VM's OS.
    fn image_and_os_profile(&self) -> (Value, Value) {
        let os_config = if self.is_windows() {
            (
                "windowsConfiguration",
                json!({"provisionVMAgent": true, "enableAutomaticUpdates": true, "patchSettings": {"patchMode": "AutomaticByOS", "assessmentMode": "ImageDefault"}}),
            )
        } else {
            (
                "linuxConfiguration",
                json!({"disablePasswordAuthentication": true, "provisionVMAgent": true, "patchSettings": {"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"}}),
            )
        };
        let image = if self.is_windows() {
            json!({"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer", "sku": "2022-datacenter-azure-edition", "version": "latest", "exactVersion": "20348.2849.241106"})
        } else {
            json!({"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest", "exactVersion": "24.04.202411030"})
        };
        let mut os_profile = json!({
            "computerName": self.name,
            "adminUsername": "azureuser",
            "secrets": [],
            "allowExtensionOperations": true,
            "requireGuestProvisionSignal": true,
        });
        os_profile[os_config.0] = os_config.1;
        (image, os_profile)
    }

    /// The `identity` block (`None` without identities), with the user-assigned identities'
    /// principal and client ids.
    fn identity_json(&self, state: &ArmState, tenant: &str) -> Option<Value> {
        let t = self.identity_type()?;
        let mut ident = json!({"type": t});
        if let Some(p) = &self.identity.system_principal_id {
            ident["principalId"] = json!(p);
            ident["tenantId"] = json!(tenant);
        }
        if !self.identity.user_assigned.is_empty() {
            let mut m = Map::new();
            for id in &self.identity.user_assigned {
                let val = match identities::find(state, id) {
                    Some(u) => json!({"principalId": u.principal_id, "clientId": u.client_id}),
                    None => json!({}),
                };
                m.insert(id.clone(), val);
            }
            ident["userAssignedIdentities"] = Value::Object(m);
        }
        Some(ident)
    }
}

/// Records a PATCH's `properties` (secrets such as `adminPassword`/`customData` are never kept
/// or echoed, and the read-only `provisioningState`/`vmId`/`timeCreated` are ignored).
pub fn record_patch(vm: &mut Vm, properties: &Value) {
    let mut p = properties.clone();
    if let Some(o) = p.as_object_mut() {
        for k in ["provisioningState", "vmId", "timeCreated", "instanceView"] {
            o.remove(k);
        }
        if let Some(os) = o.get_mut("osProfile").and_then(Value::as_object_mut) {
            os.remove("adminPassword");
            os.remove("customData");
        }
    } else {
        return;
    }
    if vm.overlay.is_null() {
        vm.overlay = json!({});
    }
    merge(&mut vm.overlay, &p);
}

/// JSON merge: objects merge recursively, `dataDisks` merge by `lun`, other values replace.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if k == "dataDisks" {
                    if let (Some(Value::Array(cur)), Value::Array(new)) = (t.get_mut(k), v) {
                        for disk in new {
                            let lun = disk.get("lun").cloned();
                            match cur
                                .iter_mut()
                                .find(|d| lun.is_some() && d.get("lun") == lun.as_ref())
                            {
                                Some(d) => merge(d, disk),
                                None => cur.push(disk.clone()),
                            }
                        }
                        continue;
                    }
                }
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// The identity set a PATCH asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityPlan {
    /// Whether the system-assigned identity is on afterwards.
    pub system: bool,
    /// User-assigned identity ids afterwards.
    pub user_assigned: Vec<String>,
    /// Ids newly attached by this PATCH (need `assign/action` on each).
    pub added: Vec<String>,
}

/// Computes the identity a PATCH's `identity` object produces from `current` (module doc).
/// `exists` says whether a user-assigned identity id exists.
pub fn plan_identity(
    current: &VmIdentity,
    identity: &Value,
    exists: impl Fn(&str) -> bool,
) -> Result<IdentityPlan, ArmError> {
    let ty = identity.get("type").and_then(Value::as_str).unwrap_or("");
    let mut system = false;
    let mut user = false;
    let mut none = false;
    for tok in ty.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        match tok.to_ascii_lowercase().as_str() {
            "systemassigned" => system = true,
            "userassigned" => user = true,
            "none" => none = true,
            _ => return Err(bad_type(ty)),
        }
    }
    if (none && (system || user)) || (!none && !system && !user) {
        return Err(bad_type(ty));
    }
    let map = identity.get("userAssignedIdentities");
    let map = match map {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => {
            return Err(ArmError::invalid_parameter(
                "The value of parameter userAssignedIdentities is invalid.",
            ))
        }
    };
    if !user {
        if map.is_some_and(|m| m.values().any(|v| !v.is_null())) {
            return Err(ArmError::invalid_parameter(format!(
                "The user-assigned identities can only be specified when the identity type is 'UserAssigned' or 'SystemAssigned, UserAssigned'; the type given is '{ty}'."
            )));
        }
        return Ok(IdentityPlan {
            system,
            user_assigned: vec![],
            added: vec![],
        });
    }
    let mut ua = current.user_assigned.clone();
    let mut added = vec![];
    if let Some(m) = map {
        for (k, v) in m {
            let present = ua.iter().position(|x| ids::same_id(x, k));
            if v.is_null() {
                if let Some(p) = present {
                    ua.remove(p);
                }
            } else if present.is_none() {
                if !is_uami_id(k) || !exists(k) {
                    return Err(ArmError::new(
                        400,
                        "FailedIdentityOperation",
                        format!("Identity (principal id) with resource id '{k}' was not found."),
                    ));
                }
                let canonical = ids::normalize_scope(k);
                ua.push(canonical.clone());
                added.push(canonical);
            }
        }
    }
    if ua.is_empty() && !system {
        return Err(ArmError::invalid_parameter(
            "At least one user-assigned identity must be specified when the identity type is 'UserAssigned'.",
        ));
    }
    Ok(IdentityPlan {
        system,
        user_assigned: ua,
        added,
    })
}

fn bad_type(ty: &str) -> ArmError {
    ArmError::invalid_parameter(format!(
        "The value '{ty}' of parameter 'identity.type' is invalid. Allowed values are 'SystemAssigned', 'UserAssigned', 'SystemAssigned, UserAssigned' and 'None'."
    ))
}

fn is_uami_id(id: &str) -> bool {
    let segs: Vec<String> = id
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.to_ascii_lowercase())
        .collect();
    segs.len() == 8
        && segs[0] == "subscriptions"
        && segs[2] == "resourcegroups"
        && segs[4] == "providers"
        && segs[5] == "microsoft.managedidentity"
        && segs[6] == "userassignedidentities"
}

/// Index of a VM.
pub fn find(state: &ArmState, sub: &str, rg: &str, name: &str) -> Option<usize> {
    state.vms.iter().position(|v| {
        ids::eq(&v.subscription_id, sub) && ids::eq(&v.resource_group, rg) && ids::eq(&v.name, name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const U1: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u1";
    const U2: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u2";

    fn with_u1() -> VmIdentity {
        VmIdentity {
            system_principal_id: None,
            user_assigned: vec![U1.into()],
        }
    }

    fn yes(_: &str) -> bool {
        true
    }

    #[test]
    fn plain_system_assigned_drops_user_assigned() {
        let p = plan_identity(&with_u1(), &json!({"type": "SystemAssigned"}), yes).unwrap();
        assert!(p.system);
        assert!(p.user_assigned.is_empty());
    }

    #[test]
    fn both_with_map_keeps_and_adds() {
        let p = plan_identity(
            &with_u1(),
            &json!({"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {U1: {}, U2: {}}}),
            yes,
        )
        .unwrap();
        assert!(p.system);
        assert_eq!(p.user_assigned, vec![U1.to_string(), U2.to_string()]);
        assert_eq!(p.added, vec![U2.to_string()]);
        // GET-modify-PATCH: the values carry principalId/clientId; keys kept, nothing added
        let p = plan_identity(
            &with_u1(),
            &json!({"type": "SystemAssigned,UserAssigned", "userAssignedIdentities": {U1.to_lowercase(): {"principalId": "p", "clientId": "c"}}}),
            yes,
        )
        .unwrap();
        assert_eq!(p.user_assigned, vec![U1.to_string()]);
        assert!(p.added.is_empty());
        // the map may be omitted: current ones stay
        let p = plan_identity(
            &with_u1(),
            &json!({"type": "SystemAssigned, UserAssigned"}),
            yes,
        )
        .unwrap();
        assert_eq!(p.user_assigned, vec![U1.to_string()]);
    }

    #[test]
    fn null_drops_one_and_none_drops_all() {
        let cur = VmIdentity {
            system_principal_id: Some("p".into()),
            user_assigned: vec![U1.into(), U2.into()],
        };
        let p = plan_identity(
            &cur,
            &json!({"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {U2: null}}),
            yes,
        )
        .unwrap();
        assert_eq!(p.user_assigned, vec![U1.to_string()]);
        let p = plan_identity(&cur, &json!({"type": "None"}), yes).unwrap();
        assert!(!p.system && p.user_assigned.is_empty());
        let p = plan_identity(&cur, &json!({"type": "UserAssigned"}), yes).unwrap();
        assert!(!p.system);
        assert_eq!(p.user_assigned.len(), 2);
    }

    #[test]
    fn patches_merge_and_secrets_are_dropped() {
        let mut vm = Vm {
            subscription_id: "s".into(),
            resource_group: "rg".into(),
            name: "v".into(),
            location: "eastus".into(),
            os: "Windows".into(),
            vm_id: "id".into(),
            size: "Standard_D2s_v3".into(),
            tags: Map::new(),
            identity: VmIdentity::default(),
            created_at: 0.0,
            updating_until: 0.0,
            active_run: None,
            overlay: Value::Null,
        };
        record_patch(
            &mut vm,
            &json!({"hardwareProfile": {"vmSize": "Standard_D2_v2"}, "osProfile": {"adminPassword": "p"},
            "storageProfile": {"dataDisks": [{"lun": 0, "toBeDetached": true, "detachOption": "ForceDetach"}, {"lun": 1, "createOption": "Empty", "diskSizeGB": 8}]}}),
        );
        let v = vm.to_json(&ArmState::default(), "t", 0.0);
        assert_eq!(
            v["properties"]["hardwareProfile"]["vmSize"],
            "Standard_D2_v2"
        );
        assert!(v["properties"]["osProfile"].get("adminPassword").is_none());
        assert_eq!(v["properties"]["osProfile"]["computerName"], "v");
        let disks = v["properties"]["storageProfile"]["dataDisks"]
            .as_array()
            .unwrap();
        assert_eq!(disks.len(), 2);
        assert_eq!(disks[0]["detachOption"], "ForceDetach");
        assert_eq!(disks[0]["caching"], "ReadOnly");
    }

    #[test]
    fn invalid_inputs() {
        let cur = VmIdentity::default();
        assert_eq!(
            plan_identity(&cur, &json!({"type": "Bogus"}), yes)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            plan_identity(&cur, &json!({}), yes).unwrap_err().status,
            400
        );
        assert_eq!(
            plan_identity(&cur, &json!({"type": "None, SystemAssigned"}), yes)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            plan_identity(&cur, &json!({"type": "UserAssigned"}), yes)
                .unwrap_err()
                .status,
            400
        );
        let e = plan_identity(
            &cur,
            &json!({"type": "UserAssigned", "userAssignedIdentities": {U1: {}}}),
            |_| false,
        )
        .unwrap_err();
        assert_eq!(e.code, "FailedIdentityOperation");
        let e = plan_identity(
            &cur,
            &json!({"type": "UserAssigned", "userAssignedIdentities": {"/not/an/id": {}}}),
            yes,
        )
        .unwrap_err();
        assert_eq!(e.code, "FailedIdentityOperation");
        assert_eq!(
            plan_identity(
                &cur,
                &json!({"type": "SystemAssigned", "userAssignedIdentities": {U1: {}}}),
                yes
            )
            .unwrap_err()
            .status,
            400
        );
    }
}
