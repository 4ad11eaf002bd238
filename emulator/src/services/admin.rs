//! Placeholder admin API (health only); completed in a later platform commit.

use crate::ctx::Ctx;
use crate::http::{Req, Resp};

/// Handles `/_emulator/…`.
pub async fn handle(_ctx: &Ctx, req: Req) -> Resp {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/_emulator/health") => Resp::json(200, &serde_json::json!({"status": "ok"})),
        _ => crate::router::not_found(&req),
    }
}
