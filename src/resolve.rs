//! Resolve: turn a validated manifest into `Desired` — role names into role definition ids,
//! principals (UPNs, group names, appIds, object ids, `self`) into object ids and types.
//!
//! Built-in roles resolve offline; custom role names cost one request each. Principals resolve
//! through Microsoft Graph in batches (see `azure::graph`). VM identities stay symbolic
//! (`PrincipalTarget::VmIdentity`): their object id is observed, or created during apply.

use crate::azure::arm::Arm;
use crate::azure::error::AzureError;
use crate::azure::graph::{CallerIdentity, Graph, PrincipalQuery, Resolved, Unresolved};
use crate::manifest::{self, LoadedManifest, PrincipalRef, RoleRef, ScopeRef};
use crate::model::*;
use crate::verify::VerifySettings;
use miette::{Diagnostic, NamedSource, SourceSpan};
use std::collections::BTreeMap;

/// A principal or role the directory does not know, pointing at the manifest line.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
#[diagnostic(code(keyless::resolve))]
pub struct ResolveProblem {
    /// What is wrong.
    pub message: String,
    /// What to do.
    #[help]
    pub help: String,
    #[source_code]
    src: NamedSource<String>,
    #[label("here")]
    span: Option<SourceSpan>,
}

/// Resolution failed.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ResolveError {
    /// Principals or roles that could not be resolved.
    #[error("{} principal(s) or role(s) in the manifest could not be resolved", .0.len())]
    #[diagnostic(code(keyless::resolve::unresolved))]
    Unresolved(#[related] Vec<ResolveProblem>),
    /// Azure refused a lookup.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Azure(#[from] AzureError),
}

fn is_guid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// The verification settings of a manifest.
pub fn verify_settings(m: &manifest::Manifest) -> VerifySettings {
    VerifySettings {
        api: match m.verify.api {
            manifest::VerifyApi::Completions => "completions".into(),
            _ => "chat".into(),
        },
        api_version: m.verify.api_version.clone(),
        timeout: m.verify.timeout,
        deployment: m.verify.deployment.clone(),
    }
}

/// Resolves a loaded manifest for `caller`.
pub async fn resolve(
    loaded: &LoadedManifest,
    caller: &CallerIdentity,
    arm: &Arm,
    graph: &Graph,
) -> Result<Desired, ResolveError> {
    let m = &loaded.manifest;
    let sub = m.subscription.clone();
    let mut problems = Vec::new();
    let problem = |path: &str, message: String, help: String| ResolveProblem {
        message,
        help,
        src: NamedSource::new(
            loaded.path.display().to_string(),
            loaded.source.as_ref().clone(),
        ),
        span: loaded
            .spans
            .label(path)
            .map(|s| SourceSpan::new(s.start.into(), s.len())),
    };

    // Roles.
    let mut roles: BTreeMap<usize, (String, String)> = BTreeMap::new();
    for (i, ra) in m.role_assignments.iter().enumerate() {
        let path = format!("roleAssignments[{i}].role");
        let def = |guid: &str| {
            format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}")
        };
        match ra.role_ref() {
            Ok(RoleRef::Builtin(b)) => {
                roles.insert(i, (def(b.id), b.name.to_string()));
            }
            Ok(RoleRef::DefinitionGuid(g)) => {
                roles.insert(i, (def(&g), g.clone()));
            }
            Ok(RoleRef::DefinitionId { id, guid }) => {
                roles.insert(i, (id.clone(), guid));
            }
            Ok(RoleRef::Name(n)) => match arm.role_definition_by_name(&n).await? {
                Some(id) => {
                    roles.insert(i, (id, n));
                }
                None => problems.push(problem(&path, format!("role `{n}` does not exist in subscription {sub}"), "check the name with `az role definition list --name '<role>'`, or use a role definition GUID".into())),
            },
            Err(e) => problems.push(problem(&path, format!("invalid role: {e:?}"), "use a built-in role name, a role definition GUID or a full role definition id".into())),
        }
    }

    // Principals: collect Graph queries.
    let mut queries = Vec::new();
    for ra in &m.role_assignments {
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
    let found = if queries.is_empty() {
        BTreeMap::new()
    } else {
        graph.resolve(&queries).await?
    };
    let lookup = |q: PrincipalQuery| found.get(&q).cloned().unwrap_or(Err(Unresolved::NotFound));

    let mut assignments = Vec::new();
    for (i, ra) in m.role_assignments.iter().enumerate() {
        let scope = match &ra.scope {
            ScopeRef::Account(a) => {
                let acc = m.account(a).expect("validated reference");
                account_id(&sub, &acc.resource_group, &acc.name)
            }
            ScopeRef::ResourceGroup(rg) => rg_id(&sub, rg),
        };
        for (j, p) in ra.principals.iter().enumerate() {
            let path = format!("roleAssignments[{i}].principals[{j}]");
            let expect_type = |r: Result<Resolved, Unresolved>,
                               want: PrincipalType,
                               what: &str|
             -> Result<Resolved, (String, String)> {
                match r {
                    Ok(r) if r.principal_type == want => Ok(r),
                    Ok(r) => Err((format!("{what} is a {}, not a {}", r.principal_type.as_str(), want.as_str()), "use the matching principal kind (user, group, servicePrincipal)".into())),
                    Err(Unresolved::NotFound) => Err((format!("{what} was not found in the directory"), "check the spelling; object ids must be the principal's object id (not an appId for users/groups)".into())),
                    Err(Unresolved::Ambiguous(n)) => Err((format!("{what} matches {n} directory objects"), "use the object id instead of the name".into())),
                }
            };
            let target: Result<PrincipalTarget, (String, String)> = match p {
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
                    expect_type(
                        lookup(q),
                        PrincipalType::User,
                        &format!("user `{upn_or_id}`"),
                    )
                    .map(|r| PrincipalTarget::Known {
                        id: r.id,
                        principal_type: r.principal_type,
                        display: format!("user:{upn_or_id}"),
                        is_self: false,
                    })
                }
                PrincipalRef::Group { name_or_id } => {
                    let q = if is_guid(name_or_id) {
                        PrincipalQuery::ObjectId(name_or_id.clone())
                    } else {
                        PrincipalQuery::GroupName(name_or_id.clone())
                    };
                    expect_type(
                        lookup(q),
                        PrincipalType::Group,
                        &format!("group `{name_or_id}`"),
                    )
                    .map(|r| PrincipalTarget::Known {
                        id: r.id,
                        principal_type: r.principal_type,
                        display: format!("group:{name_or_id}"),
                        is_self: false,
                    })
                }
                PrincipalRef::ServicePrincipal { app_or_object_id } => {
                    let by_oid = lookup(PrincipalQuery::ObjectId(app_or_object_id.clone()))
                        .ok()
                        .filter(|r| r.principal_type == PrincipalType::ServicePrincipal);
                    let r = match by_oid {
                        Some(r) => Ok(r),
                        None => lookup(PrincipalQuery::AppId(app_or_object_id.clone())),
                    };
                    expect_type(
                        r,
                        PrincipalType::ServicePrincipal,
                        &format!("service principal `{app_or_object_id}`"),
                    )
                    .map(|r| PrincipalTarget::Known {
                        id: r.id,
                        principal_type: r.principal_type,
                        display: format!("servicePrincipal:{app_or_object_id}"),
                        is_self: false,
                    })
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
            };
            match (target, roles.get(&i)) {
                (Ok(principal), Some((role_definition_id, role_name))) => {
                    assignments.push(AssignmentSpec {
                        scope: scope.clone(),
                        role_definition_id: role_definition_id.clone(),
                        role_name: role_name.clone(),
                        principal,
                        description: ra.description.clone(),
                    })
                }
                (Err((message, help)), _) => problems.push(problem(&path, message, help)),
                (Ok(_), None) => {}
            }
        }
    }
    if !problems.is_empty() {
        return Err(ResolveError::Unresolved(problems));
    }
    Ok(Desired {
        manifest: m.name.clone(),
        subscription: sub.clone(),
        resource_groups: m
            .resource_groups
            .iter()
            .map(|rg| RgSpec {
                name: rg.name.clone(),
                location: rg.location.clone(),
                tags: m.desired_tags(&rg.tags),
            })
            .collect(),
        accounts: m
            .accounts
            .iter()
            .map(|a| AccountSpec {
                name: a.name.clone(),
                resource_group: a.resource_group.clone(),
                location: a.location.clone(),
                kind: a.kind.as_str().to_string(),
                sku: a.sku.clone(),
                custom_subdomain: a.custom_subdomain.clone(),
                disable_local_auth: a.disable_local_auth,
                public_network_access: serde_json::to_value(a.public_network_access)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| "Enabled".into()),
                on_soft_deleted: match a.on_soft_deleted {
                    manifest::OnSoftDeleted::Restore => OnSoftDeleted::Restore,
                    manifest::OnSoftDeleted::Purge => OnSoftDeleted::Purge,
                    manifest::OnSoftDeleted::Fail => OnSoftDeleted::Fail,
                },
                tags: m.desired_tags(&a.tags),
                deployments: a
                    .deployments
                    .iter()
                    .map(|d| DeploymentSpec {
                        name: d.name.clone(),
                        model_name: d.model.name.clone(),
                        model_version: d.model.version.clone(),
                        model_format: d.model.format.clone(),
                        sku_name: d.sku.name.as_str().to_string(),
                        capacity: d.sku.capacity as i32,
                    })
                    .collect(),
            })
            .collect(),
        vm_identities: m
            .managed_identities
            .iter()
            .map(|v| VmRef {
                resource_group: v.resource_group.clone(),
                name: v.vm.clone(),
            })
            .collect(),
        assignments,
        prune: m.prune,
    })
}
