//! Microsoft.ManagedIdentity over HTTP: user-assigned identities (create, get, delete, list by
//! group). The rules (and the service principal behind each identity) are
//! `model::arm::identities`; this module authorises, parses and renders.

use super::common::{list, Cx, Out};
use super::resources::method_not_allowed;
use crate::http::Resp;
use crate::model::arm::identities::{self, IdentityWrite, Written};
use crate::model::arm::{ids, resource_groups};
use crate::model::State;
use serde_json::Value;

/// PUT/PATCH/GET/DELETE of a user-assigned identity.
pub fn identity(cx: &Cx<'_>, st: &mut State, sub: &str, rg: &str, name: &str) -> Out {
    let method = cx.req.method.as_str();
    let action = match method {
        "PUT" | "PATCH" => "Microsoft.ManagedIdentity/userAssignedIdentities/write",
        "DELETE" => "Microsoft.ManagedIdentity/userAssignedIdentities/delete",
        "GET" => "Microsoft.ManagedIdentity/userAssignedIdentities/read",
        m => return Err(method_not_allowed(m)),
    };
    cx.authorize(st, action, &cx.req.path)?;
    match method {
        "GET" => {
            resource_groups::require(&st.arm, sub, rg)?;
            identities::find_by_name(&st.arm, sub, rg, name)
                .map(|u| Resp::json(200, &u.to_json()))
                .ok_or_else(|| identities::not_found(name, rg))
        }
        "DELETE" => Ok(match identities::delete(st, sub, rg, name)? {
            true => Resp::empty(200),
            false => Resp::empty(204),
        }),
        _ => {
            resource_groups::require(&st.arm, sub, rg)?;
            let body = cx.body()?;
            let write = IdentityWrite {
                subscription_id: sub,
                resource_group: rg,
                name,
                location: body.get("location").and_then(Value::as_str),
                tags: body
                    .get("tags")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
                patch: method == "PATCH",
            };
            let delay = cx.ctx.timing().replication_delay.sample();
            let (u, written) = identities::write(st, write, cx.tenant(), cx.now, delay)?;
            let status = match written {
                Written::Updated => 200,
                Written::Created => 201,
            };
            Ok(Resp::json(status, &u.to_json()))
        }
    }
}

/// GET identities of a resource group.
pub fn list_identities(cx: &Cx<'_>, st: &State, sub: &str, rg: &str) -> Out {
    cx.authorize(
        st,
        "Microsoft.ManagedIdentity/userAssignedIdentities/read",
        &cx.req.path,
    )?;
    resource_groups::require(&st.arm, sub, rg)?;
    let values = st
        .arm
        .identities
        .iter()
        .filter(|u| ids::eq(&u.subscription_id, sub) && ids::eq(&u.resource_group, rg))
        .map(|u| u.to_json())
        .collect();
    Ok(list(values, None))
}
