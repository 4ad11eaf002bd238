//! ARM rule violations as a type, each constructor carrying Azure's exact code and message text
//! (behaviour notes §3–§7). The HTTP layer renders them into the `{"error":{…}}` envelope.
//!
//! Why constructors instead of ad-hoc strings: clients (the Azure CLI, keyless) match on these
//! codes and sometimes on message fragments; one definition per error keeps them exact.

use serde_json::Value;

/// An ARM error: status, code, message and optional `details`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ArmError {
    /// HTTP status.
    pub status: u16,
    /// ARM error code.
    pub code: String,
    /// Message text.
    pub message: String,
    /// Optional `details` array.
    pub details: Option<Value>,
}

impl ArmError {
    /// Any error.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> ArmError {
        ArmError {
            status,
            code: code.into(),
            message: message.into(),
            details: None,
        }
    }

    /// 400 LocationRequired: a create without a `location`.
    pub fn location_required() -> ArmError {
        ArmError::new(
            400,
            "LocationRequired",
            "The location property is required for this definition.",
        )
    }

    /// 403 AuthorizationFailed (§3.3).
    pub fn authorization_failed(client: &str, oid: &str, action: &str, scope: &str) -> ArmError {
        ArmError::new(
            403,
            "AuthorizationFailed",
            format!(
                "The client '{client}' with object id '{oid}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials."
            ),
        )
    }

    /// 403 LinkedAuthorizationFailed (§3.3), when attaching a user-assigned identity.
    pub fn linked_authorization_failed(
        client: &str,
        oid: &str,
        action: &str,
        scope: &str,
        linked: &str,
    ) -> ArmError {
        ArmError::new(
            403,
            "LinkedAuthorizationFailed",
            format!(
                "The client '{client}' with object id '{oid}' has permission to perform action '{action}' on scope '{scope}'; however, it does not have permission to perform action 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action' on the linked scope(s) '{linked}' or the linked scope(s) are invalid."
            ),
        )
    }

    /// 404 ResourceGroupNotFound.
    pub fn rg_not_found(rg: &str) -> ArmError {
        ArmError::new(
            404,
            "ResourceGroupNotFound",
            format!("Resource group '{rg}' could not be found."),
        )
    }

    /// 404 ResourceNotFound for `{ns}/{type}/{name}` under a resource group.
    pub fn resource_not_found(type_path: &str, rg: &str) -> ArmError {
        ArmError::new(
            404,
            "ResourceNotFound",
            format!(
                "The Resource '{type_path}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
            ),
        )
    }

    /// 404 SubscriptionNotFound (wording unconfirmed).
    pub fn subscription_not_found(sub: &str) -> ArmError {
        ArmError::new(
            404,
            "SubscriptionNotFound",
            format!("The subscription '{sub}' could not be found."),
        )
    }

    /// 400 InvalidRequestContent / bad body.
    pub fn invalid_content(message: impl Into<String>) -> ArmError {
        ArmError::new(400, "InvalidRequestContent", message)
    }

    /// 409 CustomDomainInUse (§6.2).
    pub fn custom_domain_in_use(subdomain: &str) -> ArmError {
        ArmError::new(
            409,
            "CustomDomainInUse",
            format!(
                "Please pick a different name. The subdomain name '{subdomain}' is not available as it's already used by a resource. If the resource using the name was deleted in the last 48 hours, you may need to purge the deleted resource. Learn more at \"https://go.microsoft.com/fwlink/?linkid=2215493\""
            ),
        )
    }

    /// 409 FlagMustBeSetForRestore (§6.3).
    pub fn flag_must_be_set_for_restore(account_id: &str) -> ArmError {
        ArmError::new(
            409,
            "FlagMustBeSetForRestore",
            format!(
                "An existing resource with ID '{account_id}' has been soft-deleted. To restore the resource, you must specify 'restore' to be 'true' in the property. If you don't want to restore existing resource, please purge it first."
            ),
        )
    }

    /// 409 AccountProvisioningStateInvalid (§6.1).
    pub fn account_state_invalid(account_id: &str, state: &str) -> ArmError {
        ArmError::new(
            409,
            "AccountProvisioningStateInvalid",
            format!(
                "Call to Microsoft.CognitiveServices/accounts failed. Error message: Account {account_id} in state {state}"
            ),
        )
    }

    /// 409 RequestConflict (§6.4): deployments of one account are written serially.
    pub fn request_conflict(account_id: &str) -> ArmError {
        ArmError::new(
            409,
            "RequestConflict",
            format!(
                "Another operation is being performed on the parent resource '{account_id}'. Please try again later."
            ),
        )
    }

    /// 400 DeploymentModelNotSupported (§6.4, the current wording).
    pub fn model_not_supported(format: &str, name: &str, version: &str) -> ArmError {
        ArmError::new(
            400,
            "DeploymentModelNotSupported",
            format!(
                "The model 'Format: {format}, Name: {name}, Version: {version}, Source: ' of account deployment is not supported."
            ),
        )
    }

    /// 409 Conflict: a Run Command is already executing on the VM (§7.2).
    pub fn run_command_in_progress() -> ArmError {
        ArmError::new(
            409,
            "Conflict",
            "Run command extension execution is in progress. Please wait for completion before invoking a run command.",
        )
    }

    /// The wrong Run Command for the VM's OS (§7.2).
    pub fn run_command_not_found() -> ArmError {
        ArmError::new(
            404,
            "NotFound",
            "The entity was not found in this Azure location.",
        )
    }

    /// 409 RoleAssignmentExists (§4.1).
    pub fn role_assignment_exists() -> ArmError {
        ArmError::new(
            409,
            "RoleAssignmentExists",
            "The role assignment already exists.",
        )
    }

    /// 400 PrincipalNotFound (§4.1); the id is printed without hyphens, as Azure does.
    pub fn principal_not_found(principal: &str, tenant: &str) -> ArmError {
        ArmError::new(
            400,
            "PrincipalNotFound",
            format!(
                "Principal {} does not exist in the directory {tenant}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype",
                principal.replace('-', "")
            ),
        )
    }

    /// 400 InvalidPrincipalId (§4.1).
    pub fn invalid_principal_id(principal: &str) -> ArmError {
        if principal.is_empty() {
            return ArmError::new(
                400,
                "InvalidPrincipalId",
                "A valid principal ID must be provided for role assignment.",
            );
        }
        ArmError::new(
            400,
            "InvalidPrincipalId",
            format!("The Principal ID '{principal}' is not valid. Principal ID must be a GUID."),
        )
    }

    /// 400 InvalidRoleAssignmentId (§4.1).
    pub fn invalid_role_assignment_id(name: &str) -> ArmError {
        ArmError::new(
            400,
            "InvalidRoleAssignmentId",
            format!("The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID."),
        )
    }

    /// 400 UnmatchedPrincipalType (§4.1; the typo and the space before the comma are Azure's).
    pub fn unmatched_principal_type(principal: &str, actual: &str, given: &str) -> ArmError {
        ArmError::new(
            400,
            "UnmatchedPrincipalType",
            format!(
                "The PrincipalId '{principal}' has type '{actual}' , which is different from specified PrinciaplType '{given}'."
            ),
        )
    }

    /// 400 RoleAssignmentUpdateNotPermitted (§4.1).
    pub fn role_assignment_update_not_permitted() -> ArmError {
        ArmError::new(
            400,
            "RoleAssignmentUpdateNotPermitted",
            "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
        )
    }

    /// 400 RoleDefinitionDoesNotExist (wording unconfirmed).
    pub fn role_definition_does_not_exist(id: &str) -> ArmError {
        ArmError::new(
            400,
            "RoleDefinitionDoesNotExist",
            format!("The specified role definition with ID '{id}' does not exist."),
        )
    }

    /// 400 RoleAssignmentLimitExceeded (§4.3).
    pub fn role_assignment_limit_exceeded() -> ArmError {
        ArmError::new(
            400,
            "RoleAssignmentLimitExceeded",
            "No more role assignments can be created.",
        )
    }

    /// 404 RoleAssignmentNotFound (wording unconfirmed).
    pub fn role_assignment_not_found(name: &str) -> ArmError {
        ArmError::new(
            404,
            "RoleAssignmentNotFound",
            format!("The role assignment '{name}' is not found."),
        )
    }

    /// 404 RoleDefinitionDoesNotExist on GET (wording unconfirmed).
    pub fn role_definition_not_found(id: &str) -> ArmError {
        ArmError::new(
            404,
            "RoleDefinitionDoesNotExist",
            format!("The specified role definition with ID '{id}' does not exist."),
        )
    }

    /// 400 InvalidParameter with a target (Compute and Cognitive Services validation).
    pub fn invalid_parameter(message: impl Into<String>) -> ArmError {
        ArmError::new(400, "InvalidParameter", message)
    }
}
