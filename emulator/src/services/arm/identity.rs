//! Microsoft.ManagedIdentity: user-assigned identities (create, get, delete, list by group).

use super::common::{list, Cx, Out};
use super::resources::method_not_allowed;
use crate::http::Resp;
use crate::model::arm::errors::ArmError;
use crate::model::arm::identities::{self, UserAssignedIdentity};
use crate::model::arm::{ids, resource_groups};
use crate::model::State;
use serde_json::Value;

fn require_rg(st: &State, sub: &str, rg: &str) -> Result<(), ArmError> {
    st.arm
        .subscription(sub)
        .ok_or_else(|| ArmError::subscription_not_found(sub))?;
    resource_groups::find(&st.arm, sub, rg)
        .map(|_| ())
        .ok_or_else(|| ArmError::rg_not_found(rg))
}

/// PUT/GET/DELETE of a user-assigned identity.
pub fn identity(cx: &Cx<'_>, st: &mut State, sub: &str, rg: &str, name: &str) -> Out {
    let method = cx.req.method.as_str();
    let action = match method {
        "PUT" | "PATCH" => "Microsoft.ManagedIdentity/userAssignedIdentities/write",
        "DELETE" => "Microsoft.ManagedIdentity/userAssignedIdentities/delete",
        "GET" => "Microsoft.ManagedIdentity/userAssignedIdentities/read",
        m => return Err(method_not_allowed(m)),
    };
    cx.authorize(st, action, &cx.req.path)?;
    require_rg(st, sub, rg)?;
    let missing = || {
        ArmError::resource_not_found(
            &format!("Microsoft.ManagedIdentity/userAssignedIdentities/{name}"),
            rg,
        )
    };
    match method {
        "GET" => identities::find_by_name(&st.arm, sub, rg, name)
            .map(|u| Resp::json(200, &u.to_json()))
            .ok_or_else(missing),
        "DELETE" => {
            let pos = st.arm.identities.iter().position(|u| {
                ids::eq(&u.subscription_id, sub)
                    && ids::eq(&u.resource_group, rg)
                    && ids::eq(&u.name, name)
            });
            match pos {
                None => Ok(Resp::empty(204)),
                Some(p) => {
                    let u = st.arm.identities.remove(p);
                    st.directory.delete_service_principal(&u.principal_id);
                    Ok(Resp::empty(200))
                }
            }
        }
        _ => {
            let body = cx.body()?;
            let tags = body
                .get("tags")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if let Some(u) = st.arm.identities.iter_mut().find(|u| {
                ids::eq(&u.subscription_id, sub)
                    && ids::eq(&u.resource_group, rg)
                    && ids::eq(&u.name, name)
            }) {
                u.tags = tags;
                return Ok(Resp::json(200, &u.to_json()));
            }
            if method == "PATCH" {
                return Err(missing());
            }
            let location = body
                .get("location")
                .and_then(Value::as_str)
                .map(ids::normalize_location)
                .ok_or_else(|| {
                    ArmError::new(
                        400,
                        "LocationRequired",
                        "The location property is required for this definition.",
                    )
                })?;
            let id = ids::resource_id(
                sub,
                rg,
                "Microsoft.ManagedIdentity",
                "userAssignedIdentities",
                name,
            );
            let delay = cx.ctx.timing().replication_delay.sample();
            let (principal_id, client_id) = st
                .directory
                .create_managed_identity(name, &id, cx.now, delay);
            let u = UserAssignedIdentity {
                subscription_id: sub.to_string(),
                resource_group: rg.to_string(),
                name: name.to_string(),
                location,
                tags,
                principal_id,
                client_id,
                tenant_id: cx.tenant().to_string(),
            };
            let body = u.to_json();
            st.arm.identities.push(u);
            Ok(Resp::json(201, &body))
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
    require_rg(st, sub, rg)?;
    let values = st
        .arm
        .identities
        .iter()
        .filter(|u| ids::eq(&u.subscription_id, sub) && ids::eq(&u.resource_group, rg))
        .map(|u| u.to_json())
        .collect();
    Ok(list(values, None))
}
