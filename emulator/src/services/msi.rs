//! Placeholder: filled in by the next platform commit.

use crate::ctx::Ctx;
use crate::http::{Req, Resp};

/// Handles a request (not implemented yet: 404).
pub async fn handle(_ctx: &Ctx, req: Req) -> Resp {
    crate::router::not_found(&req)
}

/// The environment a Run Command child gets (filled in by the managed identity commit).
pub fn vm_child_env(
    ctx: &Ctx,
    vm_resource_id: &str,
    principal_ids: &[String],
) -> Vec<(String, String)> {
    let _ = (ctx, vm_resource_id, principal_ids);
    vec![]
}
