//! Azure OpenAI data plane. STUB added by the platform engineer so the router compiles; the ARM
//! engineer owns and replaces this file.

use crate::ctx::Ctx;
use crate::http::{Req, Resp};

/// Handles a data-plane request (stub: 404 `Resource not found`).
pub async fn handle(_ctx: &Ctx, _req: Req) -> Resp {
    Resp::json(
        404,
        &serde_json::json!({"error": {"code": "404", "message": "Resource not found"}}),
    )
}
