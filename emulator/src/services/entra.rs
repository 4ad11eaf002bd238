//! Placeholder: filled in by the next platform commit.

use crate::ctx::Ctx;
use crate::http::{Req, Resp};

/// Handles a request (not implemented yet: 404).
pub async fn handle(_ctx: &Ctx, req: Req) -> Resp {
    crate::router::not_found(&req)
}
