//! Azure errors as keyless shows them: the code and message Azure sent, and what to do about it.
//!
//! Why: a bare "HttpResponse(403, AuthorizationFailed)" makes the user search the web. Each code
//! keyless can meet gets an explanation naming the permission, role or manifest field involved.

use serde::Serialize;

/// An error answered by an Azure service (or a transport failure on the way there).
#[derive(
    Debug,
    Clone,
    thiserror::Error,
    miette::Diagnostic,
    Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[error("{operation} failed: {code}: {message}")]
#[diagnostic(code(keyless::azure))]
#[serde(rename_all = "camelCase")]
pub struct AzureError {
    /// What keyless was doing ("create role assignment …").
    pub operation: String,
    /// HTTP status (0 when no response arrived).
    pub status: u16,
    /// Azure's error code (`AuthorizationFailed`, …) or a transport class.
    pub code: String,
    /// Azure's message, verbatim.
    pub message: String,
    /// What to do about it.
    #[help]
    pub help: Option<String>,
}

impl AzureError {
    /// Converts an azure_core error, keeping Azure's code and message but never request headers.
    pub fn from_core(operation: impl Into<String>, e: &azure_core::Error) -> AzureError {
        let operation = operation.into();
        if let Some(h) = e.as_http_error() {
            let code = h.error_code().unwrap_or("Unknown").to_string();
            let message = h.error_message().unwrap_or("").to_string();
            let status = u16::from(h.status());
            let help = explain(&code, &message);
            return AzureError {
                operation,
                status,
                code,
                message,
                help,
            };
        }
        // Transport, credential and (de)serialisation failures: keep the kind and the message,
        // which azure_core builds without secrets.
        let code = match e.kind() {
            azure_core::error::ErrorKind::Credential => "CredentialUnavailable",
            azure_core::error::ErrorKind::Io => "ConnectionFailed",
            azure_core::error::ErrorKind::DataConversion => "UnexpectedResponse",
            _ => "RequestFailed",
        };
        // The whole chain: azure_identity wraps Entra's answer ("temporarily_unavailable:
        // AADSTS90033 …", "invalid_client: AADSTS7000215 …") under a bare "request token error".
        let mut message = format!("{e}");
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            let text = s.to_string();
            if !text.is_empty() && !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = s.source();
        }
        let message = redact(&message);
        AzureError {
            operation,
            status: 0,
            code: code.into(),
            help: explain(code, &message),
            message,
        }
    }

    /// Builds one from parts (Graph and data-plane calls that don't go through the SDK).
    pub fn new(operation: impl Into<String>, status: u16, code: &str, message: &str) -> AzureError {
        AzureError {
            operation: operation.into(),
            status,
            code: code.to_string(),
            message: message.to_string(),
            help: explain(code, message),
        }
    }

    /// True for answers that mean "does not exist".
    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }

    /// True for a 409 meaning "another operation is running on this resource": Azure allows one
    /// write at a time on an account, one deployment write per account and one Run Command per
    /// VM. Another writer (a second keyless, a person, a pipeline) is not a failure of ours: the
    /// write is retried once that operation ends.
    pub fn is_busy(&self) -> bool {
        self.status == 409
            && matches!(
                self.code.as_str(),
                "AccountProvisioningStateInvalid"
                    | "RequestConflict"
                    | "Conflict"
                    | "AnotherOperationInProgress"
                    | "OperationNotAllowedWhileInProgress"
            )
    }
}

/// Strips anything token-shaped from a message before it can reach output or logs.
pub fn redact(s: &str) -> String {
    s.split_inclusive(|c: char| c.is_whitespace() || c == '"' || c == '\'')
        .map(|w| {
            let core = w.trim_end_matches(|c: char| c.is_whitespace() || c == '"' || c == '\'');
            if looks_like_jwt(core) {
                w.replacen(core, "[redacted token]", 1)
            } else {
                w.to_string()
            }
        })
        .collect()
}

fn looks_like_jwt(s: &str) -> bool {
    let s = s.strip_prefix("Bearer").map(str::trim_start).unwrap_or(s);
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts[0].starts_with("eyJ")
        && parts.iter().all(|p| {
            p.len() >= 2
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// What to do about an Azure error code (None when Azure's message says it all).
pub fn explain(code: &str, message: &str) -> Option<String> {
    let permission = extract_between(message, "perform action '", "'");
    let h = match code {
        "AuthorizationFailed" => match permission.as_deref() {
            Some(action) => format!(
                "the identity keyless runs as lacks `{action}` at that scope. {} If it was granted in the last minutes, wait for propagation (up to 10 min) and re-run.",
                role_granting(action)
            ),
            None => "the identity keyless runs as lacks a permission at that scope; grant it a role that includes the action, then re-run.".into(),
        },
        "LinkedAuthorizationFailed" => "attaching a user-assigned identity also needs `Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action` (role: Managed Identity Operator) on that identity.".into(),
        "PrincipalNotFound" => "the principal is not (yet) in the directory. keyless always sends principalType, so this usually means a wrong object id; a new identity can take a few minutes to replicate — re-run later.".into(),
        "InvalidPrincipalId" => "the principal id must be an object id (GUID) of a user, group or service principal.".into(),
        "UnmatchedPrincipalType" => "the principal exists but is of another type than the manifest says (user vs group vs service principal); fix the principal's kind in the manifest.".into(),
        "RoleAssignmentLimitExceeded" => "the subscription holds 4000 role assignments (Azure's hard limit). Assign to groups instead of individual users, or remove unused assignments.".into(),
        "RoleDefinitionDoesNotExist" => "the role does not exist at that scope; check the name with `az role definition list --name '<role>'`.".into(),
        "CustomDomainInUse" => "that custom subdomain is taken (globally, possibly by a soft-deleted account, for 48 h). Check with checkDomainAvailability (`keyless plan` does) and pick another `customSubdomain`, or purge your own soft-deleted account.".into(),
        "FlagMustBeSetForRestore" => "an account with this name is soft-deleted. Set `onSoftDeleted: restore` to bring it back, or `onSoftDeleted: purge` to delete it for good and create a new one.".into(),
        "AccountProvisioningStateInvalid" => "another operation on the account (its creation, an update, a deployment) was still running when keyless gave up waiting for it; re-run once it finishes.".into(),
        "RequestConflict" | "Conflict" | "AnotherOperationInProgress" => "another operation was still running on the same resource when keyless gave up waiting for it (Azure allows one at a time); re-run once it finishes.".into(),
        "Interrupted" => "nothing was sent for this action; re-run to converge.".into(),
        "AccountCreatedMeanwhile" => "someone else created an account with this name while keyless was creating it. keyless never deletes or re-creates an account: align `customSubdomain`/`kind` in the manifest with the account, or use another account name.".into(),
        "DeploymentModelNotSupported" | "InvalidResourceProperties" => "that model, version or SKU cannot be deployed in this account or region; check `az cognitiveservices account list-models`.".into(),
        "InsufficientQuota" => "the subscription's quota for this model is used up in the region; lower `capacity` or request more quota.".into(),
        "SubscriptionNotFound" => "check `subscription` in the manifest and that the identity has access to it.".into(),
        "ResourceGroupNotFound" => "the resource group does not exist; declare it under `resourceGroups` or fix the name.".into(),
        "MissingSubscriptionRegistration" => "register the resource provider once: `az provider register --namespace Microsoft.CognitiveServices`.".into(),
        "SubscriptionRequestsThrottled" | "TooManyRequests" => "ARM throttled the requests; keyless retries with Retry-After. Lower --parallelism if this persists.".into(),
        "InvalidAuthenticationTokenAudience" => "the token was issued for another audience; check the cloud profile (--cloud).".into(),
        "ExpiredAuthenticationToken" => "the token expired; keyless refreshes tokens automatically, so this points at a clock skew on this machine.".into(),
        "CredentialUnavailable" => credential_help(message),
        "ConnectionFailed" => "the endpoint could not be reached (DNS, TLS or network); check the cloud profile and connectivity.".into(),
        // Sign-in refused, whatever kind azure_identity gave the error (see credential::Explained).
        _ if message.contains("Entra ID answered") => credential_help(message),
        _ => return None,
    };
    Some(h)
}

/// What to do when no token could be had, from the AADSTS code Entra ID answered with.
fn credential_help(message: &str) -> String {
    let has = |code: &str| {
        message
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w == code)
    };
    if has("AADSTS7000215") {
        "the client secret is wrong: AZURE_CLIENT_SECRET must be the secret's *value* (shown once when it was created), not its id. Create a new secret if the value is lost.".into()
    } else if has("AADSTS7000222") {
        "the client secret has expired: create a new one (`az ad app credential reset`) and update AZURE_CLIENT_SECRET.".into()
    } else if has("AADSTS700016") {
        "no application with this AZURE_CLIENT_ID exists in AZURE_TENANT_ID: check both (and --cloud: sovereign clouds have their own directories).".into()
    } else if has("AADSTS90002") {
        "AZURE_TENANT_ID names no tenant in this cloud: check it, and --cloud.".into()
    } else if has("AADSTS70021") {
        "the federated token's issuer/subject/audience match no federated credential of the app: compare them (case-sensitive) with the app's federated credentials (e.g. `repo:ORG/REPO:environment:NAME` for GitHub Actions).".into()
    } else if has("AADSTS700024") {
        "the federated token has expired or is not yet valid: pipelines must hand keyless a fresh one (check the clock too).".into()
    } else if has("AADSTS90033")
        || has("AADSTS90041")
        || message.contains("temporarily_unavailable")
        || message.contains("server_error")
    {
        "Entra ID failed transiently and keyless's retries (with backoff, honouring Retry-After) ran out; nothing was changed. Re-run in a few minutes.".into()
    } else {
        "keyless could not get a token: check the credential (--auth) and its environment variables.".into()
    }
}

/// The usual built-in role that grants an action, for the hint.
fn role_granting(action: &str) -> String {
    let a = action.to_ascii_lowercase();
    let role = if a.starts_with("microsoft.authorization/roleassignments/") {
        "Role Based Access Control Administrator (or User Access Administrator / Owner)"
    } else if a.starts_with("microsoft.compute/virtualmachines/") {
        "Virtual Machine Contributor"
    } else if a.starts_with("microsoft.cognitiveservices/") {
        "Cognitive Services Contributor"
    } else {
        "Contributor"
    };
    format!("Grant it `{role}` (or a custom role with that action).")
}

fn extract_between(s: &str, start: &str, end: &str) -> Option<String> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(s[i..j].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_failed_names_the_permission_and_role() {
        let msg = "The client 'abc' with object id 'oid' does not have authorization to perform action 'Microsoft.Authorization/roleAssignments/write' over scope '/subscriptions/s' or the scope is invalid. If access was recently granted, please refresh your credentials.";
        let e = AzureError::new("create role assignment", 403, "AuthorizationFailed", msg);
        let h = e.help.unwrap();
        assert!(
            h.contains("Microsoft.Authorization/roleAssignments/write"),
            "{h}"
        );
        assert!(h.contains("Role Based Access Control Administrator"), "{h}");
    }

    #[test]
    fn busy_means_a_409_about_another_operation_only() {
        let busy = |status, code| AzureError::new("op", status, code, "m").is_busy();
        assert!(busy(409, "AccountProvisioningStateInvalid"));
        assert!(busy(409, "RequestConflict"));
        assert!(busy(409, "Conflict"));
        assert!(!busy(409, "RoleAssignmentExists"));
        assert!(!busy(409, "CustomDomainInUse"));
        assert!(!busy(400, "RequestConflict"));
    }

    #[test]
    fn credential_help_follows_the_aadsts_code() {
        let help = |m: &str| explain("CredentialUnavailable", m).unwrap();
        assert!(help("Entra ID answered HTTP 401 invalid_client: AADSTS7000215: Invalid client secret provided.").contains("*value*"));
        assert!(
            help("HTTP 400 unauthorized_client: AADSTS700016: Application with identifier")
                .contains("AZURE_CLIENT_ID")
        );
        assert!(
            help("HTTP 503 temporarily_unavailable: AADSTS90033: A transient error")
                .contains("Re-run in a few minutes")
        );
        assert!(help(
            "HTTP 400 invalid_request: AADSTS70021: No matching federated identity record"
        )
        .contains("federated"));
        // A code that merely starts like another is not that code.
        assert!(!help("AADSTS70002155: something").contains("*value*"));
        assert!(help("request token error").contains("check the credential"));
    }

    #[test]
    fn unknown_codes_get_no_made_up_help() {
        assert!(explain("SomethingNew", "x").is_none());
    }

    #[test]
    fn tokens_are_redacted_from_messages() {
        let t = "eyJ0eXAiOiJKV1QifQ.eyJvaWQiOiJ4In0.c2lnbmF0dXJl";
        let s = redact(&format!("failed with Bearer {t} here"));
        assert!(!s.contains(t), "{s}");
        assert!(s.contains("[redacted token]"));
        assert_eq!(redact("no secrets here"), "no secrets here");
    }
}
