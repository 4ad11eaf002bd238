//! ARM HTTP handling: api-version checks, RBAC on every call, resource handlers.

use crate::ctx::Ctx;
use crate::http::{Req, Resp};

/// Handles an ARM request. STUB added by the platform engineer so the router compiles; the ARM
/// engineer replaces it.
pub async fn handle(_ctx: &Ctx, req: Req) -> Resp {
    Resp::arm_error(
        404,
        "NoRegisteredProviderFound",
        &format!(
            "No registered resource provider found for path '{}'.",
            req.path
        ),
    )
}
