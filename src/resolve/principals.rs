//! Principals: users, groups and service principals to object ids through Microsoft Graph (one
//! batched lookup for the whole manifest), `self` to the caller, VMs to a symbolic identity whose
//! object id is observed or created during apply.

use crate::azure::error::AzureError;
use crate::azure::graph::{CallerIdentity, Graph, PrincipalQuery, Resolved, Unresolved};
use crate::manifest::{PrincipalRef, RoleAssignmentSpec};
use crate::model::{PrincipalTarget, PrincipalType, VmRef};
use std::collections::BTreeMap;

/// What Graph answered for each query.
pub(super) type Found = BTreeMap<PrincipalQuery, Result<Resolved, Unresolved>>;

/// Why a principal did not resolve: (message, help).
pub(super) type Unresolvable = (String, String);

fn is_guid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// Looks up every directory principal the role assignments name, in one Graph round.
pub(super) async fn look_up(
    role_assignments: &[RoleAssignmentSpec],
    graph: &Graph,
) -> Result<Found, AzureError> {
    let queries = queries(role_assignments);
    if queries.is_empty() {
        Ok(BTreeMap::new())
    } else {
        graph.resolve(&queries).await
    }
}

/// The Graph queries for the principals named. A service principal is asked for both as an
/// object id and as an appId, since the manifest accepts either.
fn queries(role_assignments: &[RoleAssignmentSpec]) -> Vec<PrincipalQuery> {
    let mut queries = Vec::new();
    for ra in role_assignments {
        for p in &ra.principals {
            match p {
                PrincipalRef::User { upn_or_id } if is_guid(upn_or_id) => {
                    queries.push(PrincipalQuery::ObjectId(upn_or_id.clone()))
                }
                PrincipalRef::User { upn_or_id } => {
                    queries.push(PrincipalQuery::UserUpn(upn_or_id.clone()))
                }
                PrincipalRef::Group { name_or_id } if is_guid(name_or_id) => {
                    queries.push(PrincipalQuery::ObjectId(name_or_id.clone()))
                }
                PrincipalRef::Group { name_or_id } => {
                    queries.push(PrincipalQuery::GroupName(name_or_id.clone()))
                }
                PrincipalRef::ServicePrincipal { app_or_object_id } => {
                    queries.push(PrincipalQuery::ObjectId(app_or_object_id.clone()));
                    queries.push(PrincipalQuery::AppId(app_or_object_id.clone()));
                }
                PrincipalRef::SelfCaller | PrincipalRef::Vm { .. } => {}
            }
        }
    }
    queries
}

/// The principal one manifest entry names, from Graph's answers (or why it has none).
pub(super) fn target(
    p: &PrincipalRef,
    caller: &CallerIdentity,
    found: &Found,
) -> Result<PrincipalTarget, Unresolvable> {
    let lookup = |q: PrincipalQuery| found.get(&q).cloned().unwrap_or(Err(Unresolved::NotFound));
    match p {
        PrincipalRef::SelfCaller => Ok(PrincipalTarget::Known {
            id: caller.object_id.clone(),
            principal_type: caller.principal_type,
            display: format!("self ({})", caller.display),
            is_self: true,
        }),
        PrincipalRef::User { upn_or_id } => {
            let q = if is_guid(upn_or_id) {
                PrincipalQuery::ObjectId(upn_or_id.clone())
            } else {
                PrincipalQuery::UserUpn(upn_or_id.clone())
            };
            let what = format!("user `{upn_or_id}`");
            expect_type(lookup(q), PrincipalType::User, &what)
                .map(|r| known(r, format!("user:{upn_or_id}")))
        }
        PrincipalRef::Group { name_or_id } => {
            let q = if is_guid(name_or_id) {
                PrincipalQuery::ObjectId(name_or_id.clone())
            } else {
                PrincipalQuery::GroupName(name_or_id.clone())
            };
            let what = format!("group `{name_or_id}`");
            expect_type(lookup(q), PrincipalType::Group, &what)
                .map(|r| known(r, format!("group:{name_or_id}")))
        }
        PrincipalRef::ServicePrincipal { app_or_object_id } => {
            // An object id that is a service principal wins; otherwise the value is an appId.
            let by_oid = lookup(PrincipalQuery::ObjectId(app_or_object_id.clone()))
                .ok()
                .filter(|r| r.principal_type == PrincipalType::ServicePrincipal);
            let r = match by_oid {
                Some(r) => Ok(r),
                None => lookup(PrincipalQuery::AppId(app_or_object_id.clone())),
            };
            let what = format!("service principal `{app_or_object_id}`");
            expect_type(r, PrincipalType::ServicePrincipal, &what)
                .map(|r| known(r, format!("servicePrincipal:{app_or_object_id}")))
        }
        PrincipalRef::Vm {
            name,
            resource_group,
        } => Ok(PrincipalTarget::VmIdentity {
            vm: VmRef {
                resource_group: resource_group.clone().unwrap_or_default(),
                name: name.clone(),
            },
        }),
    }
}

/// A directory principal found by Graph, named for output as the manifest named it.
fn known(r: Resolved, display: String) -> PrincipalTarget {
    PrincipalTarget::Known {
        id: r.id,
        principal_type: r.principal_type,
        display,
        is_self: false,
    }
}

/// Graph's answer when it is a principal of the kind the manifest said, else why not.
fn expect_type(
    r: Result<Resolved, Unresolved>,
    want: PrincipalType,
    what: &str,
) -> Result<Resolved, Unresolvable> {
    match r {
        Ok(r) if r.principal_type == want => Ok(r),
        Ok(r) => Err((
            format!(
                "{what} is a {}, not a {}",
                r.principal_type.as_str(),
                want.as_str()
            ),
            "use the matching principal kind (user, group, servicePrincipal)".into(),
        )),
        Err(Unresolved::NotFound) => Err((
            format!("{what} was not found in the directory"),
            "check the spelling; object ids must be the principal's object id (not an appId for users/groups)".into(),
        )),
        Err(Unresolved::Ambiguous(n)) => Err((
            format!("{what} matches {n} directory objects"),
            "use the object id instead of the name".into(),
        )),
    }
}
