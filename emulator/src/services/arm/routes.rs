//! ARM URL → operation. Path keywords are matched case-insensitively (ARM does); names keep
//! the caller's spelling.

use crate::model::arm::api_versions::Provider;

/// An ARM operation target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/subscriptions`.
    Subscriptions,
    /// `/subscriptions/{s}`.
    Subscription(String),
    /// `/subscriptions/{s}/providers/{ns}` (and `/register`).
    ProviderRegistration(String, String, bool),
    /// `/subscriptions/{s}/resourcegroups`.
    ResourceGroups(String),
    /// `/subscriptions/{s}/resourcegroups/{rg}`.
    ResourceGroup(String, String),
    /// `/subscriptions/{s}/operationresults/{id}`.
    ResourcesOperation(String, String),
    /// `/subscriptions/{s}/providers/Microsoft.CognitiveServices/accounts`.
    AccountsBySubscription(String),
    /// `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts`.
    AccountsByResourceGroup(String, String),
    /// An account.
    Account(String, String, String),
    /// `…/accounts/{a}/{action}` (listKeys, regenerateKey).
    AccountAction(String, String, String, String),
    /// `…/accounts/{a}/deployments`.
    Deployments(String, String, String),
    /// `…/accounts/{a}/deployments/{d}`.
    Deployment(String, String, String, String),
    /// `/subscriptions/{s}/providers/Microsoft.CognitiveServices/deletedAccounts`.
    DeletedAccounts(String),
    /// `…/locations/{loc}/resourceGroups/{rg}/deletedAccounts/{name}`.
    DeletedAccount(String, String, String, String),
    /// `/subscriptions/{s}/providers/Microsoft.CognitiveServices/checkDomainAvailability`.
    CheckDomainAvailability(String),
    /// Cognitive Services monitor: (sub, location, id, is Location).
    CognitiveOperation(String, String, String, bool),
    /// `/subscriptions/{s}/providers/Microsoft.Compute/virtualMachines`.
    VmsBySubscription(String),
    /// `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines`.
    VmsByResourceGroup(String, String),
    /// A VM.
    Vm(String, String, String),
    /// `…/virtualMachines/{vm}/runCommand`.
    RunCommand(String, String, String),
    /// Compute monitor: (sub, location, id).
    ComputeOperation(String, String, String),
    /// `…/providers/Microsoft.ManagedIdentity/userAssignedIdentities` (RG).
    Identities(String, String),
    /// A user-assigned identity.
    Identity(String, String, String),
    /// `{scope}/providers/Microsoft.Authorization/roleDefinitions`.
    RoleDefinitions(String),
    /// `{scope}/providers/Microsoft.Authorization/roleDefinitions/{id}`.
    RoleDefinition(String, String),
    /// `{scope}/providers/Microsoft.Authorization/roleAssignments`.
    RoleAssignments(String),
    /// `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`.
    RoleAssignment(String, String),
    /// Nothing the emulator serves.
    Unknown,
}

impl Route {
    /// The provider whose api-versions apply, and the resource type named in refusals.
    pub fn provider(&self) -> (Provider, &'static str) {
        use Route::*;
        match self {
            Subscriptions | Subscription(..) | ProviderRegistration(..) => {
                (Provider::Resources, "subscriptions")
            }
            ResourceGroups(..) | ResourceGroup(..) | ResourcesOperation(..) | Unknown => {
                (Provider::Resources, "resourceGroups")
            }
            AccountsBySubscription(..)
            | AccountsByResourceGroup(..)
            | Account(..)
            | AccountAction(..) => (Provider::CognitiveServices, "accounts"),
            Deployments(..) | Deployment(..) => {
                (Provider::CognitiveServices, "accounts/deployments")
            }
            DeletedAccounts(..) | DeletedAccount(..) => {
                (Provider::CognitiveServices, "deletedAccounts")
            }
            CheckDomainAvailability(..) => (Provider::CognitiveServices, "checkDomainAvailability"),
            CognitiveOperation(..) => (Provider::CognitiveServices, "locations/operationResults"),
            VmsBySubscription(..) | VmsByResourceGroup(..) | Vm(..) => {
                (Provider::Compute, "virtualMachines")
            }
            RunCommand(..) => (Provider::Compute, "virtualMachines/runCommand"),
            ComputeOperation(..) => (Provider::Compute, "locations/operations"),
            Identities(..) | Identity(..) => (Provider::ManagedIdentity, "userAssignedIdentities"),
            RoleDefinitions(..) | RoleDefinition(..) => {
                (Provider::Authorization, "roleDefinitions")
            }
            RoleAssignments(..) | RoleAssignment(..) => {
                (Provider::Authorization, "roleAssignments")
            }
        }
    }
}

/// Parses the decoded path segments.
pub fn parse(segments: &[String]) -> Route {
    let lc: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    if let Some(r) = authorization(segments, &lc) {
        return r;
    }
    let s = |i: usize| segments[i].clone();
    let l: Vec<&str> = lc.iter().map(String::as_str).collect();
    use Route::*;
    match l.as_slice() {
        ["subscriptions"] => Subscriptions,
        ["subscriptions", _] => Subscription(s(1)),
        ["subscriptions", _, "providers", _] => ProviderRegistration(s(1), s(3), false),
        ["subscriptions", _, "providers", _, "register"] => ProviderRegistration(s(1), s(3), true),
        ["subscriptions", _, "resourcegroups"] => ResourceGroups(s(1)),
        ["subscriptions", _, "resourcegroups", _] => ResourceGroup(s(1), s(3)),
        ["subscriptions", _, "operationresults", _] => ResourcesOperation(s(1), s(3)),
        ["subscriptions", _, "providers", "microsoft.cognitiveservices", "accounts"] => {
            AccountsBySubscription(s(1))
        }
        ["subscriptions", _, "providers", "microsoft.cognitiveservices", "deletedaccounts"] => {
            DeletedAccounts(s(1))
        }
        ["subscriptions", _, "providers", "microsoft.cognitiveservices", "checkdomainavailability"] => {
            CheckDomainAvailability(s(1))
        }
        ["subscriptions", _, "providers", "microsoft.cognitiveservices", "locations", _, "resourcegroups", _, "deletedaccounts", _] => {
            DeletedAccount(s(1), s(5), s(7), s(9))
        }
        ["subscriptions", _, "providers", "microsoft.cognitiveservices", "locations", _, kind, _]
            if *kind == "operationstatuses" || *kind == "operationresults" =>
        {
            CognitiveOperation(s(1), s(5), s(7), *kind == "operationresults")
        }
        ["subscriptions", _, "providers", "microsoft.compute", "virtualmachines"] => {
            VmsBySubscription(s(1))
        }
        ["subscriptions", _, "providers", "microsoft.compute", "locations", _, "operations", _] => {
            ComputeOperation(s(1), s(5), s(7))
        }
        ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.cognitiveservices", "accounts"] => {
            AccountsByResourceGroup(s(1), s(3))
        }
        ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.cognitiveservices", "accounts", _] => {
            Account(s(1), s(3), s(7))
        }
        ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.cognitiveservices", "accounts", _, "deployments"] => {
            Deployments(s(1), s(3), s(7))
        }
        ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.cognitiveservices", "accounts", _, "deployments", _] => {
            Deployment(s(1), s(3), s(7), s(9))
        }
        ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.cognitiveservices", "accounts", _, action] => {
            AccountAction(s(1), s(3), s(7), action.to_string())
        }
        ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.compute", "virtualmachines"] => {
            VmsByResourceGroup(s(1), s(3))
        }
        ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.compute", "virtualmachines", _] => {
            Vm(s(1), s(3), s(7))
        }
        ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.compute", "virtualmachines", _, "runcommand"] => {
            RunCommand(s(1), s(3), s(7))
        }
        ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.managedidentity", "userassignedidentities"] => {
            Identities(s(1), s(3))
        }
        ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.managedidentity", "userassignedidentities", _] => {
            Identity(s(1), s(3), s(7))
        }
        _ => Unknown,
    }
}

/// `{scope}/providers/Microsoft.Authorization/role{Definitions,Assignments}[/{name}]`, matched on
/// the last `providers/Microsoft.Authorization` pair so any scope works.
fn authorization(segments: &[String], lc: &[String]) -> Option<Route> {
    let n = lc.len();
    let i = (0..n.saturating_sub(2))
        .rev()
        .find(|&i| lc[i] == "providers" && lc[i + 1] == "microsoft.authorization")?;
    let scope = format!("/{}", segments[..i].join("/"));
    let kind = lc.get(i + 2)?;
    let name = segments.get(i + 3).cloned();
    if n > i + 4 {
        return None;
    }
    Some(match (kind.as_str(), name) {
        ("roledefinitions", None) => Route::RoleDefinitions(scope),
        ("roledefinitions", Some(id)) => Route::RoleDefinition(scope, id),
        ("roleassignments", None) => Route::RoleAssignments(scope),
        ("roleassignments", Some(id)) => Route::RoleAssignment(scope, id),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(path: &str) -> Route {
        let segs: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        parse(&segs)
    }

    #[test]
    fn parses_the_served_paths() {
        assert_eq!(p("/subscriptions"), Route::Subscriptions);
        assert_eq!(
            p("/subscriptions/s/resourcegroups/RG"),
            Route::ResourceGroup("s".into(), "RG".into())
        );
        assert_eq!(
            p("/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a/deployments/d"),
            Route::Deployment("s".into(), "rg".into(), "a".into(), "d".into())
        );
        assert_eq!(
            p("/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a/listKeys"),
            Route::AccountAction("s".into(), "rg".into(), "a".into(), "listkeys".into())
        );
        assert_eq!(
            p("/subscriptions/s/providers/Microsoft.CognitiveServices/locations/eastus/resourceGroups/rg/deletedAccounts/a"),
            Route::DeletedAccount("s".into(), "eastus".into(), "rg".into(), "a".into())
        );
        assert_eq!(
            p("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/runCommand"),
            Route::RunCommand("s".into(), "rg".into(), "vm".into())
        );
        assert_eq!(
            p("/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a/providers/Microsoft.Authorization/roleAssignments/x"),
            Route::RoleAssignment("/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a".into(), "x".into())
        );
        assert_eq!(
            p("/providers/Microsoft.Authorization/roleDefinitions"),
            Route::RoleDefinitions("/".into())
        );
        assert_eq!(
            p("/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/g"),
            Route::RoleDefinition("/subscriptions/s".into(), "g".into())
        );
        assert_eq!(p("/subscriptions/s/things"), Route::Unknown);
    }
}
