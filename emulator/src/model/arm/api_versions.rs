//! The api-versions each resource provider accepts (the specs' versions plus the newer ones the
//! Azure CLI and SDKs send), and Azure's refusal texts (behaviour notes §3.4).
//!
//! Why per provider: ARM validates `api-version` against the resource type's registered
//! versions; an unknown one is `InvalidApiVersionParameter` (ARM's own types) or
//! `NoRegisteredProviderFound` (resource-provider types).

use super::errors::ArmError;

/// The provider whose versions apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Subscriptions, resource groups, operation results (ARM itself).
    Resources,
    /// Cognitive Services accounts, deployments, deleted accounts, checkDomainAvailability.
    CognitiveServices,
    /// Virtual machines and their operations.
    Compute,
    /// Role definitions and assignments.
    Authorization,
    /// User-assigned identities.
    ManagedIdentity,
}

const RESOURCES: &[&str] = &[
    "2025-04-01",
    "2025-03-01",
    "2024-11-01",
    "2024-07-01",
    "2024-03-01",
    "2023-07-01",
    "2022-12-01",
    "2022-09-01",
    "2022-01-01",
    "2021-04-01",
    "2021-01-01",
    "2020-10-01",
    "2020-08-01",
    "2020-06-01",
    "2020-01-01",
    "2019-11-01",
    "2019-10-01",
    "2019-08-01",
    "2019-07-01",
    "2019-06-01",
    "2019-05-10",
    "2019-05-01",
    "2019-03-01",
    "2018-05-01",
    "2018-02-01",
    "2018-01-01",
    "2017-08-01",
    "2017-06-01",
    "2017-05-10",
    "2016-09-01",
    "2016-07-01",
    "2016-06-01",
    "2016-02-01",
    "2015-11-01",
    "2015-01-01",
    "2014-04-01",
];

const COGNITIVE: &[&str] = &[
    "2025-09-01",
    "2025-07-01-preview",
    "2025-06-01",
    "2025-04-01-preview",
    "2024-10-01",
    "2024-06-01-preview",
    "2024-04-01-preview",
    "2023-10-01-preview",
    "2023-05-01",
    "2022-12-01",
    "2022-10-01",
    "2022-03-01",
    "2021-10-01",
    "2021-04-30",
    "2017-04-18",
    "2016-02-01-preview",
];

const COMPUTE: &[&str] = &[
    "2026-04-01",
    "2025-11-01",
    "2025-04-01",
    "2024-11-01",
    "2024-07-01",
    "2024-03-01",
    "2023-09-01",
    "2023-07-01",
    "2023-03-01",
    "2022-11-01",
    "2022-08-01",
    "2022-03-01",
    "2021-11-01",
    "2021-07-01",
    "2021-04-01",
    "2021-03-01",
    "2020-12-01",
    "2020-06-01",
    "2019-12-01",
    "2019-07-01",
    "2019-03-01",
    "2018-10-01",
    "2018-06-01",
    "2018-04-01",
    "2017-12-01",
    "2017-03-30",
    "2016-04-30-preview",
    "2016-03-30",
    "2015-06-15",
];

const AUTHORIZATION: &[&str] = &[
    "2022-08-01-preview",
    "2022-05-01-preview",
    "2022-04-01",
    "2022-01-01-preview",
    "2021-04-01-preview",
    "2020-10-01-preview",
    "2020-08-01-preview",
    "2020-04-01-preview",
    "2020-03-01-preview",
    "2019-04-01-preview",
    "2018-12-01-preview",
    "2018-09-01-preview",
    "2018-07-01",
    "2018-01-01-preview",
    "2017-10-01-preview",
    "2015-07-01",
    "2015-06-01",
    "2014-10-01-preview",
    "2014-07-01-preview",
    "2014-04-01-preview",
];

const MANAGED_IDENTITY: &[&str] = &[
    "2024-11-30",
    "2023-07-31-preview",
    "2023-01-31",
    "2022-01-31-preview",
    "2021-09-30-preview",
    "2018-11-30",
    "2015-08-31-preview",
];

/// Supported locations named in NoRegisteredProviderFound.
pub const LOCATIONS: &[&str] = &[
    "eastus",
    "eastus2",
    "westus",
    "westus2",
    "westus3",
    "centralus",
    "northcentralus",
    "southcentralus",
    "westeurope",
    "northeurope",
    "swedencentral",
    "uksouth",
    "francecentral",
    "japaneast",
    "australiaeast",
    "canadaeast",
    "global",
];

impl Provider {
    /// Accepted versions, newest first.
    pub fn versions(&self) -> &'static [&'static str] {
        match self {
            Provider::Resources => RESOURCES,
            Provider::CognitiveServices => COGNITIVE,
            Provider::Compute => COMPUTE,
            Provider::Authorization => AUTHORIZATION,
            Provider::ManagedIdentity => MANAGED_IDENTITY,
        }
    }
}

/// Checks the `api-version` query value for `provider` / `resource_type` (e.g.
/// `accounts`, `virtualMachines`).
pub fn check(
    provider: Provider,
    resource_type: &str,
    location: &str,
    version: Option<&str>,
) -> Result<(), ArmError> {
    let v = match version {
        Some(v) if !v.is_empty() => v,
        _ => {
            return Err(ArmError::new(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            ))
        }
    };
    let versions = provider.versions();
    if versions.iter().any(|x| x.eq_ignore_ascii_case(v)) {
        return Ok(());
    }
    Err(match provider {
        Provider::Resources => ArmError::new(
            400,
            "InvalidApiVersionParameter",
            format!("The api-version '{v}' is invalid. The supported versions are '{}'.", versions.join(",")),
        ),
        _ => ArmError::new(
            400,
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for location '{location}' and API version '{v}' for type '{resource_type}'. The supported api-versions are '{}'. The supported locations are '{}'.",
                versions.join(", "),
                LOCATIONS.join(", ")
            ),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_spec_and_newer_versions() {
        assert!(check(
            Provider::Resources,
            "resourceGroups",
            "eastus",
            Some("2021-04-01")
        )
        .is_ok());
        assert!(check(
            Provider::Resources,
            "resourceGroups",
            "eastus",
            Some("2024-11-01")
        )
        .is_ok());
        assert!(check(
            Provider::CognitiveServices,
            "accounts",
            "eastus",
            Some("2024-10-01")
        )
        .is_ok());
        assert!(check(
            Provider::CognitiveServices,
            "accounts",
            "eastus",
            Some("2023-05-01")
        )
        .is_ok());
        assert!(check(
            Provider::Compute,
            "virtualMachines",
            "eastus",
            Some("2024-07-01")
        )
        .is_ok());
        assert!(check(
            Provider::Authorization,
            "roleAssignments",
            "eastus",
            Some("2022-04-01")
        )
        .is_ok());
        assert!(check(
            Provider::Authorization,
            "roleAssignments",
            "eastus",
            Some("2018-01-01-preview")
        )
        .is_ok());
        // what the current SDK releases send by default (conformance FINDINGS F1)
        assert!(check(
            Provider::Resources,
            "resourceGroups",
            "eastus",
            Some("2025-04-01")
        )
        .is_ok());
        assert!(check(
            Provider::CognitiveServices,
            "accounts",
            "eastus",
            Some("2025-09-01")
        )
        .is_ok());
        assert!(check(
            Provider::Compute,
            "virtualMachines",
            "eastus",
            Some("2026-04-01")
        )
        .is_ok());
    }

    #[test]
    fn refusals() {
        let e = check(Provider::Resources, "resourceGroups", "eastus", None).unwrap_err();
        assert_eq!(e.code, "MissingApiVersionParameter");
        assert_eq!(
            e.message,
            "The api-version query parameter (?api-version=) is required for all requests."
        );
        let e = check(
            Provider::Resources,
            "resourceGroups",
            "eastus",
            Some("1999-01-01"),
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidApiVersionParameter");
        assert!(e.message.starts_with(
            "The api-version '1999-01-01' is invalid. The supported versions are '2025-04-01,"
        ));
        let e = check(
            Provider::Compute,
            "virtualMachines",
            "eastus",
            Some("2099-01-01"),
        )
        .unwrap_err();
        assert_eq!(e.code, "NoRegisteredProviderFound");
        assert!(e.message.starts_with("No registered resource provider found for location 'eastus' and API version '2099-01-01' for type 'virtualMachines'."));
    }
}
