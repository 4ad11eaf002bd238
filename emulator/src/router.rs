//! Maps a request to the service that owns it (see DESIGN.md "One base URL, every endpoint").
//!
//! Why by path prefix: Azure routes by host name (`management.azure.com`,
//! `{sub}.openai.azure.com`, `graph.microsoft.com`…); a loopback emulator serves them all on one
//! origin, so the first path segment (or, when a client kept the Azure host name, the `Host`
//! header) decides.

use crate::ctx::Ctx;
use crate::http::{Req, Resp};
use crate::services;

/// The service class of a request (also the key of counters and the request log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `/_emulator/…`.
    Admin,
    /// Azure Resource Manager.
    Arm,
    /// Azure OpenAI data plane.
    DataPlane,
    /// Entra ID (tokens, discovery, JWKS).
    Entra,
    /// Managed identity token endpoints.
    Msi,
    /// Microsoft Graph.
    Graph,
    /// Nothing serves it.
    Unknown,
}

impl Route {
    /// Lower-case name used in logs and counters.
    pub fn as_str(&self) -> &'static str {
        match self {
            Route::Admin => "admin",
            Route::Arm => "arm",
            Route::DataPlane => "dataplane",
            Route::Entra => "entra",
            Route::Msi => "msi",
            Route::Graph => "graph",
            Route::Unknown => "unknown",
        }
    }
}

/// Classifies a request.
pub fn classify(req: &Req) -> Route {
    if let Some(host) = req.header("host") {
        let host = host
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(host)
            .to_ascii_lowercase();
        if host.ends_with(".openai.azure.com") || host.ends_with(".cognitiveservices.azure.com") {
            return Route::DataPlane;
        }
    }
    let first = req.segments.first().map(|s| s.to_ascii_lowercase());
    match first.as_deref() {
        None => return Route::Unknown,
        Some("_emulator") => return Route::Admin,
        Some("aoai") => return Route::DataPlane,
        Some("msi") | Some("imds") => return Route::Msi,
        Some("v1.0") => return Route::Graph,
        Some("subscriptions") | Some("providers") => return Route::Arm,
        _ => {}
    }
    if req
        .path
        .to_ascii_lowercase()
        .contains("/providers/microsoft.authorization/")
    {
        return Route::Arm;
    }
    let second = req.segments.get(1).map(|s| s.to_ascii_lowercase());
    match second.as_deref() {
        Some("oauth2") | Some("v2.0") | Some(".well-known") | Some("discovery") => Route::Entra,
        _ => Route::Unknown,
    }
}

/// Hands the request to its service.
pub async fn dispatch(ctx: &Ctx, route: Route, req: Req) -> Resp {
    match route {
        Route::Admin => services::admin::handle(ctx, req).await,
        Route::Arm => services::arm::handle(ctx, req).await,
        Route::DataPlane => services::dataplane::handle(ctx, req).await,
        Route::Entra => services::entra::handle(ctx, req).await,
        Route::Msi => services::msi::handle(ctx, req).await,
        Route::Graph => services::graph::handle(ctx, req).await,
        Route::Unknown => crate::http::not_found(&req),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(path: &str) -> Route {
        classify(&Req::new("GET", path, vec![], bytes::Bytes::new()))
    }

    #[test]
    fn classification() {
        assert_eq!(
            r("/subscriptions/x/resourcegroups/y?api-version=1"),
            Route::Arm
        );
        assert_eq!(
            r("/providers/Microsoft.Authorization/roleDefinitions"),
            Route::Arm
        );
        assert_eq!(
            r("/subscriptions/x/providers/microsoft.authorization/roleAssignments/y"),
            Route::Arm
        );
        assert_eq!(r("/tid/oauth2/v2.0/token"), Route::Entra);
        assert_eq!(r("/common/discovery/instance"), Route::Entra);
        assert_eq!(
            r("/tid/v2.0/.well-known/openid-configuration"),
            Route::Entra
        );
        assert_eq!(r("/v1.0/users"), Route::Graph);
        assert_eq!(r("/msi/token"), Route::Msi);
        assert_eq!(
            r("/aoai/sub/openai/deployments/d/chat/completions"),
            Route::DataPlane
        );
        assert_eq!(r("/_emulator/health"), Route::Admin);
        assert_eq!(r("/nothing"), Route::Unknown);
        let host = Req::new(
            "POST",
            "/openai/deployments/d/chat/completions",
            vec![("Host".into(), "mysub.openai.azure.com:443".into())],
            bytes::Bytes::new(),
        );
        assert_eq!(classify(&host), Route::DataPlane);
    }
}
