//! Cloud profiles: which ARM endpoint, authority host, token audiences and Graph endpoint to use.
//!
//! Why a profile and not scattered URLs: the emulator, the public cloud and the sovereign clouds
//! differ only in these values, so everything else in keyless is the same code for all of them.

use serde::Serialize;
use url::Url;

/// The endpoints and audiences of one Azure cloud.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CloudProfile {
    /// Name as given to `--cloud` (AzureCloud, AzureUSGovernment, AzureChinaCloud, Emulator).
    pub name: String,
    /// Azure Resource Manager base URL.
    pub arm_endpoint: Url,
    /// Entra ID authority host (token endpoint is `{host}/{tenant}/oauth2/v2.0/token`).
    pub authority_host: Url,
    /// Scope for ARM tokens.
    pub arm_scope: String,
    /// Scope for Azure OpenAI / Cognitive Services data-plane tokens.
    pub cognitive_scope: String,
    /// Microsoft Graph base URL (`…/v1.0` is appended by callers).
    pub graph_endpoint: Url,
    /// Scope for Graph tokens.
    pub graph_scope: String,
}

/// Why a cloud name or endpoint was refused.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CloudError {
    /// The `--cloud` name is not one keyless knows.
    #[error("unknown cloud `{0}`")]
    #[diagnostic(
        code(keyless::cloud::unknown),
        help("use one of: AzureCloud, AzureUSGovernment, AzureChinaCloud (or --emulator)")
    )]
    Unknown(String),
    /// A URL keyless would send credentials to is plain HTTP and not loopback.
    #[error("refusing plain-HTTP endpoint {0}")]
    #[diagnostic(
        code(keyless::cloud::insecure_endpoint),
        help(
            "tokens are only sent over HTTPS; plain HTTP is accepted for loopback addresses only"
        )
    )]
    InsecureEndpoint(String),
}

fn url(s: &str) -> Url {
    Url::parse(s).expect("static URL is valid")
}

impl CloudProfile {
    /// Looks up a named public or sovereign cloud (case-insensitive, `az cloud list` names).
    pub fn named(name: &str) -> Result<CloudProfile, CloudError> {
        let p = match name.to_ascii_lowercase().as_str() {
            "azurecloud" | "public" => CloudProfile {
                name: "AzureCloud".into(),
                arm_endpoint: url("https://management.azure.com/"),
                authority_host: url("https://login.microsoftonline.com/"),
                arm_scope: "https://management.azure.com/.default".into(),
                cognitive_scope: "https://cognitiveservices.azure.com/.default".into(),
                graph_endpoint: url("https://graph.microsoft.com/"),
                graph_scope: "https://graph.microsoft.com/.default".into(),
            },
            "azureusgovernment" | "usgov" => CloudProfile {
                name: "AzureUSGovernment".into(),
                arm_endpoint: url("https://management.usgovcloudapi.net/"),
                authority_host: url("https://login.microsoftonline.us/"),
                arm_scope: "https://management.usgovcloudapi.net/.default".into(),
                cognitive_scope: "https://cognitiveservices.azure.us/.default".into(),
                graph_endpoint: url("https://graph.microsoft.us/"),
                graph_scope: "https://graph.microsoft.us/.default".into(),
            },
            "azurechinacloud" | "china" => CloudProfile {
                name: "AzureChinaCloud".into(),
                arm_endpoint: url("https://management.chinacloudapi.cn/"),
                authority_host: url("https://login.chinacloudapi.cn/"),
                arm_scope: "https://management.chinacloudapi.cn/.default".into(),
                cognitive_scope: "https://cognitiveservices.azure.cn/.default".into(),
                graph_endpoint: url("https://microsoftgraph.chinacloudapi.cn/"),
                graph_scope: "https://microsoftgraph.chinacloudapi.cn/.default".into(),
            },
            _ => return Err(CloudError::Unknown(name.to_string())),
        };
        Ok(p)
    }

    /// The emulator's profile: one base URL serves ARM, Entra ID and Graph; the audiences are the
    /// public cloud's, exactly as the emulator's token service issues them.
    pub fn emulator(base: &Url) -> CloudProfile {
        let mut p = CloudProfile::named("AzureCloud").expect("known");
        p.name = "Emulator".into();
        p.arm_endpoint = base.clone();
        p.authority_host = base.clone();
        p.graph_endpoint = base.clone();
        p
    }

    /// Every endpoint keyless sends a token to must be HTTPS, or HTTP on a loopback address.
    pub fn check_secure(&self) -> Result<(), CloudError> {
        for u in [
            &self.arm_endpoint,
            &self.authority_host,
            &self.graph_endpoint,
        ] {
            check_url_secure(u)?;
        }
        Ok(())
    }
}

/// Refuses plain HTTP except to loopback (127.0.0.0/8, ::1, localhost).
pub fn check_url_secure(u: &Url) -> Result<(), CloudError> {
    match u.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(u) => Ok(()),
        _ => Err(CloudError::InsecureEndpoint(u.to_string())),
    }
}

fn is_loopback(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_clouds_resolve_case_insensitively() {
        assert_eq!(
            CloudProfile::named("azureusgovernment")
                .unwrap()
                .arm_endpoint
                .as_str(),
            "https://management.usgovcloudapi.net/"
        );
        assert!(matches!(
            CloudProfile::named("Mars"),
            Err(CloudError::Unknown(_))
        ));
    }

    #[test]
    fn plain_http_is_refused_except_loopback() {
        assert!(check_url_secure(&url("http://127.0.0.1:8080/")).is_ok());
        assert!(check_url_secure(&url("http://[::1]:8080/")).is_ok());
        assert!(check_url_secure(&url("http://localhost/")).is_ok());
        assert!(check_url_secure(&url("http://10.0.0.1/")).is_err());
        assert!(check_url_secure(&url("http://management.azure.com/")).is_err());
        assert!(check_url_secure(&url("https://management.azure.com/")).is_ok());
    }

    #[test]
    fn emulator_profile_points_everything_at_one_base() {
        let p = CloudProfile::emulator(&url("https://127.0.0.1:4443/"));
        assert_eq!(p.arm_endpoint, p.authority_host);
        assert_eq!(
            p.cognitive_scope,
            "https://cognitiveservices.azure.com/.default"
        );
        assert!(p.check_secure().is_ok());
    }
}
