//! Role definitions and assignments (Microsoft.Authorization): list at a scope, create under a
//! deterministic name (adopting a hand-made `RoleAssignmentExists`), delete, look a role up.

use super::{Arm, Result};
use crate::azure::error::AzureError;
use crate::model::*;
use serde_json::json;

impl Arm {
    /// Assignments defined exactly at `scope` (one list request per page; `atScope()` also returns
    /// inherited ones, which are filtered out here).
    pub async fn list_assignments_at(&self, scope: &str) -> Result<Vec<ObservedAssignment>> {
        use futures::StreamExt;
        let op = format!("list role assignments at {scope}");
        let scope_trim = scope.trim_start_matches('/');
        let mut out = Vec::new();
        let mut pages = self
            .authorization
            .role_assignments_client()
            .list_for_scope(scope_trim)
            .filter("atScope()")
            .into_stream();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    let err = AzureError::from_core(&op, &e);
                    if err.is_not_found() {
                        return Ok(vec![]);
                    }
                    return Err(err);
                }
            };
            for a in page.value {
                let Some(p) = a.properties else { continue };
                let at = p.scope.clone().unwrap_or_default();
                if !at
                    .trim_end_matches('/')
                    .eq_ignore_ascii_case(scope.trim_end_matches('/'))
                {
                    continue;
                }
                out.push(ObservedAssignment {
                    id: a.id.unwrap_or_default(),
                    name: a.name.unwrap_or_default(),
                    scope: at,
                    role_definition_id: p.role_definition_id,
                    principal_id: p.principal_id,
                    principal_type: p
                        .principal_type
                        .and_then(|t| serde_json::to_value(t).ok())
                        .and_then(|v| v.as_str().map(str::to_string)),
                    description: p.description,
                });
            }
        }
        Ok(out)
    }

    /// Creates an assignment under a deterministic name. A `RoleAssignmentExists` (the same
    /// scope, role and principal under another name, made by hand) is adopted, not an error.
    pub async fn create_assignment(
        &self,
        scope: &str,
        name: &str,
        role_definition_id: &str,
        principal_id: &str,
        principal_type: PrincipalType,
        description: &str,
    ) -> Result<AssignmentOutcome> {
        use azure_mgmt_authorization::package_2022_04_01::models::{
            RoleAssignmentCreateParameters, RoleAssignmentProperties,
        };
        let op = format!("create role assignment {name} at {scope}");
        let mut p =
            RoleAssignmentProperties::new(role_definition_id.to_string(), principal_id.to_string());
        p.principal_type = serde_json::from_value(json!(principal_type.as_str())).ok();
        p.description = Some(description.to_string());
        let r = self
            .authorization
            .role_assignments_client()
            .create(
                scope.trim_start_matches('/'),
                name,
                RoleAssignmentCreateParameters::new(p),
            )
            .send()
            .await;
        match r {
            Ok(_) => Ok(AssignmentOutcome::Created),
            Err(e) => {
                let err = AzureError::from_core(&op, &e);
                if err.status == 409 && err.code == "RoleAssignmentExists" {
                    Ok(AssignmentOutcome::AdoptedExisting)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Deletes an assignment (204 when it is already gone counts as success).
    pub async fn delete_assignment(&self, scope: &str, name: &str) -> Result<()> {
        let op = format!("delete role assignment {name} at {scope}");
        self.authorization
            .role_assignments_client()
            .delete(scope.trim_start_matches('/'), name)
            .send()
            .await
            .map_err(|e| AzureError::from_core(op, &e))?;
        Ok(())
    }

    /// Looks a role up by name at the subscription (for custom roles; built-ins are known offline).
    pub async fn role_definition_by_name(&self, role_name: &str) -> Result<Option<String>> {
        use futures::StreamExt;
        let op = format!("look up role '{role_name}'");
        let scope = format!("subscriptions/{}", self.subscription);
        let mut pages = self
            .authorization
            .role_definitions_client()
            .list(&scope)
            .filter(format!("roleName eq '{}'", role_name.replace('\'', "''")))
            .into_stream();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AzureError::from_core(&op, &e))?;
            if let Some(d) = page.value.into_iter().next() {
                return Ok(d.id);
            }
        }
        Ok(None)
    }
}

/// Whether a create made a new assignment or adopted a hand-made one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AssignmentOutcome {
    /// A new assignment (or the same deterministic one again).
    Created,
    /// The same scope/role/principal already existed under another name.
    AdoptedExisting,
}
