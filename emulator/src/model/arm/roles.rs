//! Built-in role definitions (same GUIDs in every tenant; behaviour notes §4.4).
//!
//! Why a static table: built-in roles are not tenant data; every tenant sees the same ones, and
//! the RBAC engine, the role-definition endpoints and the world seeding all read this table.

use serde_json::{json, Value};

/// A role definition: name, GUID and its single permission block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDefinition {
    /// GUID (the definition's `name`).
    pub id: &'static str,
    /// `roleName`.
    pub role_name: &'static str,
    /// `description`.
    pub description: &'static str,
    /// Control-plane actions granted.
    pub actions: &'static [&'static str],
    /// Control-plane actions subtracted (within this role only).
    pub not_actions: &'static [&'static str],
    /// Data-plane actions granted.
    pub data_actions: &'static [&'static str],
    /// Data-plane actions subtracted (within this role only).
    pub not_data_actions: &'static [&'static str],
}

const EMPTY: &[&str] = &[];

/// Every built-in role the emulator knows.
pub const BUILT_IN: &[RoleDefinition] = &[
    RoleDefinition {
        id: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        role_name: "Owner",
        description: "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
        actions: &["*"],
        not_actions: EMPTY,
        data_actions: EMPTY,
        not_data_actions: EMPTY,
    },
    RoleDefinition {
        id: "b24988ac-6180-42a0-ab88-20f7382dd24c",
        role_name: "Contributor",
        description: "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
        actions: &["*"],
        not_actions: &[
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
            "Microsoft.Blueprint/blueprintAssignments/write",
            "Microsoft.Blueprint/blueprintAssignments/delete",
            "Microsoft.Compute/galleries/share/action",
            "Microsoft.Purview/consents/write",
            "Microsoft.Purview/consents/delete",
            "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
            "Microsoft.Subscription/cancel/action",
            "Microsoft.Subscription/enable/action",
        ],
        data_actions: EMPTY,
        not_data_actions: EMPTY,
    },
    RoleDefinition {
        id: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
        role_name: "Reader",
        description: "View all resources, but does not allow you to make any changes.",
        actions: &["*/read"],
        not_actions: EMPTY,
        data_actions: EMPTY,
        not_data_actions: EMPTY,
    },
    RoleDefinition {
        id: "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
        role_name: "User Access Administrator",
        description: "Lets you manage user access to Azure resources.",
        actions: &["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"],
        not_actions: EMPTY,
        data_actions: EMPTY,
        not_data_actions: EMPTY,
    },
    RoleDefinition {
        id: "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
        role_name: "Role Based Access Control Administrator",
        description: "Manage access to Azure resources by assigning roles using Azure RBAC. This role does not allow you to manage access using other ways, such as Azure Policy.",
        actions: &[
            "Microsoft.Authorization/roleAssignments/write",
            "Microsoft.Authorization/roleAssignments/delete",
            "*/read",
            "Microsoft.Support/*",
        ],
        not_actions: EMPTY,
        data_actions: EMPTY,
        not_data_actions: EMPTY,
    },
    RoleDefinition {
        id: "a97b65f3-24c7-4388-baec-2e87135dc908",
        role_name: "Cognitive Services User",
        description: "Lets you read and list keys of Cognitive Services.",
        actions: &[
            "Microsoft.CognitiveServices/*/read",
            "Microsoft.CognitiveServices/accounts/listkeys/action",
            "Microsoft.Insights/alertRules/read",
            "Microsoft.Insights/diagnosticSettings/read",
            "Microsoft.Insights/logDefinitions/read",
            "Microsoft.Insights/metricdefinitions/read",
            "Microsoft.Insights/metrics/read",
            "Microsoft.ResourceHealth/availabilityStatuses/read",
            "Microsoft.Resources/deployments/operations/read",
            "Microsoft.Resources/subscriptions/operationresults/read",
            "Microsoft.Resources/subscriptions/read",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Support/*",
        ],
        not_actions: EMPTY,
        data_actions: &["Microsoft.CognitiveServices/*"],
        not_data_actions: EMPTY,
    },
    RoleDefinition {
        id: "25fbc0a9-bd7c-42a3-aa1a-3b75d497ee68",
        role_name: "Cognitive Services Contributor",
        description: "Lets you create, read, update, delete and manage keys of Cognitive Services.",
        actions: &[
            "Microsoft.Authorization/*/read",
            "Microsoft.CognitiveServices/*",
            "Microsoft.Features/features/read",
            "Microsoft.Features/providers/features/read",
            "Microsoft.Features/providers/features/register/action",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Insights/diagnosticSettings/*",
            "Microsoft.Insights/logDefinitions/read",
            "Microsoft.Insights/metricdefinitions/read",
            "Microsoft.Insights/metrics/read",
            "Microsoft.ResourceHealth/availabilityStatuses/read",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/deployments/operations/read",
            "Microsoft.Resources/subscriptions/operationresults/read",
            "Microsoft.Resources/subscriptions/read",
            "Microsoft.Resources/subscriptions/resourcegroups/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Support/*",
        ],
        not_actions: EMPTY,
        data_actions: EMPTY,
        not_data_actions: EMPTY,
    },
    RoleDefinition {
        id: "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
        role_name: "Cognitive Services OpenAI User",
        description: "Ability to view files, models, deployments. Readers are able to call inference operations such as chat completions and image generation.",
        actions: &[
            "Microsoft.CognitiveServices/*/read",
            "Microsoft.Authorization/roleAssignments/read",
            "Microsoft.Authorization/roleDefinitions/read",
        ],
        not_actions: EMPTY,
        data_actions: &[
            "Microsoft.CognitiveServices/accounts/OpenAI/*/read",
            "Microsoft.CognitiveServices/accounts/OpenAI/engines/completions/action",
            "Microsoft.CognitiveServices/accounts/OpenAI/engines/search/action",
            "Microsoft.CognitiveServices/accounts/OpenAI/engines/generate/action",
            "Microsoft.CognitiveServices/accounts/OpenAI/deployments/audio/action",
            "Microsoft.CognitiveServices/accounts/OpenAI/deployments/search/action",
            "Microsoft.CognitiveServices/accounts/OpenAI/deployments/completions/action",
            "Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action",
            "Microsoft.CognitiveServices/accounts/OpenAI/deployments/realtime/action",
            "Microsoft.CognitiveServices/accounts/OpenAI/deployments/extensions/chat/completions/action",
            "Microsoft.CognitiveServices/accounts/OpenAI/deployments/embeddings/action",
            "Microsoft.CognitiveServices/accounts/OpenAI/images/generations/action",
            "Microsoft.CognitiveServices/accounts/OpenAI/assistants/*",
        ],
        not_data_actions: &["Microsoft.CognitiveServices/accounts/OpenAI/stored-completions/read"],
    },
    RoleDefinition {
        id: "a001fd3d-188f-4b5d-821b-7da978bf7442",
        role_name: "Cognitive Services OpenAI Contributor",
        description: "Full access including the ability to fine-tune, deploy and generate text",
        actions: &[
            "Microsoft.CognitiveServices/*/read",
            "Microsoft.CognitiveServices/accounts/deployments/write",
            "Microsoft.CognitiveServices/accounts/deployments/delete",
            "Microsoft.CognitiveServices/accounts/raiPolicies/read",
            "Microsoft.CognitiveServices/accounts/raiPolicies/write",
            "Microsoft.CognitiveServices/accounts/raiPolicies/delete",
            "Microsoft.CognitiveServices/accounts/commitmentplans/read",
            "Microsoft.CognitiveServices/accounts/commitmentplans/write",
            "Microsoft.CognitiveServices/accounts/commitmentplans/delete",
            "Microsoft.Authorization/roleAssignments/read",
            "Microsoft.Authorization/roleDefinitions/read",
        ],
        not_actions: EMPTY,
        data_actions: &["Microsoft.CognitiveServices/accounts/OpenAI/*"],
        not_data_actions: EMPTY,
    },
    RoleDefinition {
        id: "9980e02c-c2be-4d73-94e8-173b1dc7cf3c",
        role_name: "Virtual Machine Contributor",
        description: "Create and manage virtual machines, manage disks, install and run software, reset password of the root user of the virtual machine using VM extensions, and manage local user accounts using VM extensions. This role does not grant you management access to the virtual network or storage account the virtual machines are connected to nor allow you to assign roles in Azure RBAC.",
        actions: &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Compute/availabilitySets/*",
            "Microsoft.Compute/locations/*",
            "Microsoft.Compute/virtualMachines/*",
            "Microsoft.Compute/virtualMachineScaleSets/*",
            "Microsoft.Compute/cloudServices/*",
            "Microsoft.Compute/disks/write",
            "Microsoft.Compute/disks/read",
            "Microsoft.Compute/disks/delete",
            "Microsoft.Compute/hostgroups/write",
            "Microsoft.Compute/hostgroups/hosts/write",
            "Microsoft.DevTestLab/schedules/*",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Network/applicationGateways/backendAddressPools/join/action",
            "Microsoft.Network/loadBalancers/backendAddressPools/join/action",
            "Microsoft.Network/loadBalancers/inboundNatPools/join/action",
            "Microsoft.Network/loadBalancers/inboundNatRules/join/action",
            "Microsoft.Network/loadBalancers/probes/join/action",
            "Microsoft.Network/loadBalancers/read",
            "Microsoft.Network/locations/*",
            "Microsoft.Network/networkInterfaces/*",
            "Microsoft.Network/networkSecurityGroups/join/action",
            "Microsoft.Network/networkSecurityGroups/read",
            "Microsoft.Network/publicIPAddresses/join/action",
            "Microsoft.Network/publicIPAddresses/read",
            "Microsoft.Network/virtualNetworks/read",
            "Microsoft.Network/virtualNetworks/subnets/join/action",
            "Microsoft.RecoveryServices/locations/*",
            "Microsoft.RecoveryServices/Vaults/backupFabrics/backupProtectionIntent/write",
            "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/*/read",
            "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/read",
            "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/write",
            "Microsoft.RecoveryServices/Vaults/backupPolicies/read",
            "Microsoft.RecoveryServices/Vaults/backupPolicies/write",
            "Microsoft.RecoveryServices/Vaults/read",
            "Microsoft.RecoveryServices/Vaults/usages/read",
            "Microsoft.RecoveryServices/Vaults/write",
            "Microsoft.ResourceHealth/availabilityStatuses/read",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.SerialConsole/serialPorts/connect/action",
            "Microsoft.SqlVirtualMachine/*",
            "Microsoft.Storage/storageAccounts/listKeys/action",
            "Microsoft.Storage/storageAccounts/read",
            "Microsoft.Support/*",
        ],
        not_actions: EMPTY,
        data_actions: EMPTY,
        not_data_actions: EMPTY,
    },
    RoleDefinition {
        id: "f1a07417-d97a-45cb-824c-7a7467783830",
        role_name: "Managed Identity Operator",
        description: "Read and Assign User Assigned Identity",
        actions: &[
            "Microsoft.ManagedIdentity/userAssignedIdentities/*/read",
            "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Support/*",
        ],
        not_actions: EMPTY,
        data_actions: EMPTY,
        not_data_actions: EMPTY,
    },
];

/// A built-in role by GUID (case-insensitive).
pub fn by_id(guid: &str) -> Option<&'static RoleDefinition> {
    BUILT_IN.iter().find(|r| r.id.eq_ignore_ascii_case(guid))
}

/// A built-in role by `roleName` (case-insensitive, as the `roleName eq` filter matches).
pub fn by_name(name: &str) -> Option<&'static RoleDefinition> {
    BUILT_IN
        .iter()
        .find(|r| r.role_name.eq_ignore_ascii_case(name))
}

/// Resolves a role reference: a GUID, a role-definition id ending in one, or a role name.
pub fn resolve(reference: &str) -> Option<&'static RoleDefinition> {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    by_id(last).or_else(|| by_name(reference))
}

/// The GUID at the end of a `roleDefinitionId` (`/…/roleDefinitions/{guid}` or a bare GUID).
pub fn guid_of(role_definition_id: &str) -> &str {
    role_definition_id
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(role_definition_id)
}

/// Renders the definition's id as ARM returns it for `scope`: the subscription form when the
/// scope lives in a subscription, else the tenant form.
pub fn definition_id(guid: &str, scope: &str) -> String {
    match super::ids::subscription_of(scope) {
        Some(sub) => {
            format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}")
        }
        None => format!("/providers/Microsoft.Authorization/roleDefinitions/{guid}"),
    }
}

/// The `RoleDefinition` JSON object (authorization-RoleDefinitionsCalls.json shape).
pub fn to_json(r: &RoleDefinition, scope: &str) -> Value {
    json!({
        "id": definition_id(r.id, scope),
        "name": r.id,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": r.role_name,
            "type": "BuiltInRole",
            "description": r.description,
            "assignableScopes": ["/"],
            "permissions": [{
                "actions": r.actions,
                "notActions": r.not_actions,
                "dataActions": r.data_actions,
                "notDataActions": r.not_data_actions,
            }],
            "createdOn": "2015-02-02T21:55:09.8806423Z",
            "updatedOn": "2024-01-01T00:00:00.0000000Z",
            "createdBy": null,
            "updatedBy": null,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_by_guid_id_and_name() {
        assert_eq!(
            resolve("Owner").map(|r| r.id),
            Some("8e3af657-a8ff-443c-a75c-2fe8c4bcb635")
        );
        assert_eq!(
            resolve("/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/5e0bd9bd-7b93-4f28-af87-19fc36ad61bd")
                .map(|r| r.role_name),
            Some("Cognitive Services OpenAI User")
        );
        assert_eq!(
            resolve("cognitive services openai user").map(|r| r.id),
            Some("5e0bd9bd-7b93-4f28-af87-19fc36ad61bd")
        );
        assert!(resolve("Nope").is_none());
        assert_eq!(BUILT_IN.len(), 11);
    }

    #[test]
    fn owner_contributor_and_cs_contributor_have_no_data_actions() {
        for n in ["Owner", "Contributor", "Cognitive Services Contributor"] {
            assert!(by_name(n).unwrap().data_actions.is_empty(), "{n}");
        }
    }
}
