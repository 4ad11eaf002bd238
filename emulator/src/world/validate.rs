//! World-file validation beyond the schema: GUIDs, unique object ids, declared subscriptions
//! and resource groups, resolvable principal references, valid fault rules — each error located
//! at `file:line:col`.

use super::{is_guid, parse_ref, PrincipalRef, World, WorldError};

impl World {
    pub(super) fn validate(&self, text: &str, file: &str) -> Result<(), WorldError> {
        let loc = Locator { text, file };
        self.validate_ids(&loc)?;
        self.validate_placement(&loc)?;
        self.validate_references(&loc)?;
        self.validate_faults(&loc)
    }

    /// The tenant id and every object id are GUIDs, and no object id is used twice.
    fn validate_ids(&self, loc: &Locator<'_>) -> Result<(), WorldError> {
        if !is_guid(&self.tenant.id) {
            return Err(loc.err("tenant.id".into(), &self.tenant.id, "must be a GUID".into()));
        }
        let mut ids = std::collections::HashSet::new();
        let mut check_id = |field: String, id: &str| -> Result<(), WorldError> {
            if !is_guid(id) {
                return Err(loc.err(field, id, format!("'{id}' must be a GUID")));
            }
            if !ids.insert(id.to_ascii_lowercase()) {
                return Err(loc.err(field, id, format!("object id '{id}' is used twice")));
            }
            Ok(())
        };
        for (i, s) in self.subscriptions.iter().enumerate() {
            check_id(format!("subscriptions[{i}].id"), &s.id)?;
        }
        for (i, u) in self.users.iter().enumerate() {
            check_id(format!("users[{i}].id"), &u.id)?;
        }
        for (i, g) in self.groups.iter().enumerate() {
            check_id(format!("groups[{i}].id"), &g.id)?;
        }
        for (i, a) in self.applications.iter().enumerate() {
            check_id(format!("applications[{i}].appId"), &a.app_id)?;
            check_id(format!("applications[{i}].objectId"), &a.object_id)?;
        }
        Ok(())
    }

    /// Resources name declared subscriptions and resource groups.
    fn validate_placement(&self, loc: &Locator<'_>) -> Result<(), WorldError> {
        let subs: Vec<&str> = self.subscriptions.iter().map(|s| s.id.as_str()).collect();
        let check_sub = |field: String, s: &Option<String>| -> Result<(), WorldError> {
            match s {
                Some(s) if !subs.iter().any(|x| x.eq_ignore_ascii_case(s)) => {
                    Err(loc.err(field, s, format!("unknown subscription '{s}'")))
                }
                None if subs.is_empty() => Err(loc.err(
                    field,
                    "subscriptions",
                    "no subscription: declare one under `subscriptions`".into(),
                )),
                _ => Ok(()),
            }
        };
        for (i, r) in self.resource_groups.iter().enumerate() {
            check_sub(format!("resourceGroups[{i}].subscription"), &r.subscription)?;
        }
        let rg_exists = |sub: &Option<String>, rg: &str| {
            let sub = sub.as_deref().or(self.default_subscription());
            self.resource_groups.iter().any(|r| {
                r.name.eq_ignore_ascii_case(rg)
                    && r.subscription.as_deref().or(self.default_subscription()) == sub
            })
        };
        for (i, v) in self.vms.iter().enumerate() {
            check_sub(format!("vms[{i}].subscription"), &v.subscription)?;
            if !rg_exists(&v.subscription, &v.resource_group) {
                return Err(loc.err(
                    format!("vms[{i}].resourceGroup"),
                    &v.resource_group,
                    format!("resource group '{}' is not declared", v.resource_group),
                ));
            }
        }
        for (i, a) in self.accounts.iter().enumerate() {
            check_sub(format!("accounts[{i}].subscription"), &a.subscription)?;
            if !rg_exists(&a.subscription, &a.resource_group) {
                return Err(loc.err(
                    format!("accounts[{i}].resourceGroup"),
                    &a.resource_group,
                    format!("resource group '{}' is not declared", a.resource_group),
                ));
            }
        }
        Ok(())
    }

    /// The caller app, group members and role-assignment principals resolve.
    fn validate_references(&self, loc: &Locator<'_>) -> Result<(), WorldError> {
        if let Some(c) = &self.caller {
            if self.caller_app().is_none() {
                return Err(loc.err("caller".into(), c, format!("no application named '{c}'")));
            }
        }
        for (i, g) in self.groups.iter().enumerate() {
            for (j, m) in g.members.iter().enumerate() {
                self.check_ref(m)
                    .map_err(|msg| loc.err(format!("groups[{i}].members[{j}]"), m, msg))?;
            }
        }
        for (i, r) in self.role_assignments.iter().enumerate() {
            self.check_ref(&r.principal).map_err(|msg| {
                loc.err(format!("roleAssignments[{i}].principal"), &r.principal, msg)
            })?;
            if let Some(n) = &r.name {
                if !is_guid(n) {
                    return Err(loc.err(
                        format!("roleAssignments[{i}].name"),
                        n,
                        "must be a GUID".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Fault rules are valid regexes and rates are fractions.
    fn validate_faults(&self, loc: &Locator<'_>) -> Result<(), WorldError> {
        for (i, r) in self.faults.rules.iter().enumerate() {
            if let Err(e) = regex_lite::Regex::new(&r.path) {
                return Err(loc.err(format!("faults.rules[{i}].path"), &r.path, e.to_string()));
            }
        }
        for (field, v) in [
            ("faults.errorRate", self.faults.error_rate),
            ("faults.resetRate", self.faults.reset_rate),
            ("faults.resetAfterRate", self.faults.reset_after_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(loc.err(field.into(), field, "must be between 0 and 1".into()));
            }
        }
        Ok(())
    }

    /// Checks that a principal reference (`user:`, `group:`, `app:`, `vm:` or a GUID) resolves.
    fn check_ref(&self, r: &str) -> Result<(), String> {
        match parse_ref(r) {
            Some(PrincipalRef::User(upn)) => self
                .users
                .iter()
                .any(|u| u.upn.eq_ignore_ascii_case(upn))
                .then_some(())
                .ok_or_else(|| format!("no user '{upn}'")),
            Some(PrincipalRef::Group(n)) => self
                .groups
                .iter()
                .any(|g| g.name == n)
                .then_some(())
                .ok_or_else(|| format!("no group '{n}'")),
            Some(PrincipalRef::App(n)) => self
                .applications
                .iter()
                .any(|a| a.name == n)
                .then_some(())
                .ok_or_else(|| format!("no application '{n}'")),
            Some(PrincipalRef::Vm { rg, name }) => self
                .vms
                .iter()
                .any(|v| v.resource_group.eq_ignore_ascii_case(rg) && v.name.eq_ignore_ascii_case(name))
                .then_some(())
                .ok_or_else(|| format!("no vm '{rg}/{name}'")),
            Some(PrincipalRef::Id(_)) => Ok(()),
            None => Err(format!(
                "'{r}' is not a principal reference (user:UPN, group:NAME, app:NAME, vm:RG/NAME or an object id)"
            )),
        }
    }
}

/// Builds located validation errors for one world file.
struct Locator<'a> {
    text: &'a str,
    file: &'a str,
}

impl Locator<'_> {
    /// `field` is wrong; the error points at the first occurrence of `needle` in the text.
    fn err(&self, field: String, needle: &str, message: String) -> WorldError {
        let (line, col) = locate(self.text, needle);
        WorldError::Invalid {
            file: self.file.to_string(),
            line,
            col,
            field,
            message,
        }
    }
}

/// Best-effort 1-based (line, column) of the first occurrence of `needle` in `text`.
fn locate(text: &str, needle: &str) -> (usize, usize) {
    if needle.is_empty() {
        return (1, 1);
    }
    match text.find(needle) {
        Some(off) => {
            let before = &text[..off];
            let line = before.matches('\n').count() + 1;
            let col = off - before.rfind('\n').map(|p| p + 1).unwrap_or(0) + 1;
            (line, col)
        }
        None => (1, 1),
    }
}
