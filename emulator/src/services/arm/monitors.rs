//! LRO status monitors: the `Azure-AsyncOperation` status envelope and `Location` polling
//! (202 while running; then the result, 204, or the error envelope).

use super::common::{Cx, Out};
use crate::http::Resp;
use crate::model::arm::errors::ArmError;
use crate::model::arm::operations::{self, OpKind, OpStatus, Operation};
use crate::model::State;
use crate::timefmt::iso_time;
use serde_json::json;

/// Finds an operation of this subscription (404 when unknown).
pub fn find<'a>(st: &'a State, sub: &str, id: &str) -> Result<&'a Operation, ArmError> {
    operations::find(&st.arm.operations, sub, id)
}

/// The status envelope `{"id","name","status","startTime","endTime","percentComplete","properties","error"}`.
pub fn status(cx: &Cx<'_>, op: &Operation) -> Resp {
    let s = op.status(cx.now);
    let mut v = json!({
        "id": cx.req.path,
        "name": op.id,
        "status": s.as_str(),
        "startTime": iso_time(op.started_at),
        "percentComplete": if s == OpStatus::InProgress { 50.0 } else { 100.0 },
    });
    if s != OpStatus::InProgress {
        v["endTime"] = json!(iso_time(op.done_at.unwrap_or(cx.now)));
    }
    if op.kind == OpKind::RunCommand {
        v["properties"] = match (&op.result, s) {
            (Some(r), OpStatus::Succeeded) => json!({"output": r}),
            _ => json!({}),
        };
    }
    if let (Some((code, message)), OpStatus::Failed) = (&op.error, s) {
        v["error"] = json!({"code": code, "message": message});
    }
    let mut r = Resp::json(200, &v);
    if s == OpStatus::InProgress {
        r = r.with_header("retry-after", "1");
    }
    r
}

/// `Location` semantics: 202 while running; then 200 with the result (Run Command), 204
/// otherwise, or the error envelope on failure.
pub fn location(cx: &Cx<'_>, op: &Operation) -> Out {
    match op.status(cx.now) {
        OpStatus::InProgress => Ok(Resp::empty(202)
            .with_header("location", cx.location_url(op))
            .with_header("retry-after", "1")),
        OpStatus::Failed => {
            let (c, m) = op.error.clone().unwrap_or_default();
            Err(ArmError::new(500, &c, m))
        }
        OpStatus::Succeeded => Ok(match &op.result {
            Some(r) => Resp::json(200, r),
            None => Resp::empty(204),
        }),
    }
}
