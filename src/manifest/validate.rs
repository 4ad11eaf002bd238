//! Semantic validation of a typed manifest: names, GUIDs, references, uniqueness.
//!
//! serde can only say "this is a string"; these rules say "this string names an account you
//! declared". Every rule runs and every problem is reported (with the span of the offending
//! value, found through the [`SpanIndex`]), so one run surfaces everything to fix.

use std::collections::HashMap;
use std::hash::Hash;

use super::error::{Finding, Hint, Named, ProblemKind, RefTarget, SubdomainRule, WarningKind};
use super::model::{
    AccountSpec, Manifest, PrincipalRef, RoleAssignmentSpec, ScopeRef, Tags, OWNERSHIP_TAG_KEY,
    SUPPORTED_VERSION,
};
use super::roles::{is_guid, RoleError, RoleRef};
use super::spans::{child_index, child_key, Span, SpanIndex};
use super::suggest;
use super::tree::{Node, NodeKind};

/// Rejects a manifest whose `version` is an integer other than 1 before anything else is
/// checked: a future schema would otherwise produce a pile of misleading "unknown key" errors.
pub(crate) fn version_gate(root: &Node) -> Option<Finding> {
    let entry = root.get("version")?;
    let NodeKind::Scalar { value, plain: true } = &entry.value.kind else {
        return None;
    };
    let n: i128 = value.trim().parse().ok()?;
    (n != i128::from(SUPPORTED_VERSION)).then(|| {
        Finding::new(
            ProblemKind::UnsupportedVersion {
                found: value.clone(),
            },
            entry.value.head,
        )
    })
}

/// Everything validation found: errors (the manifest is rejected if any) and warnings.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub errors: Vec<Finding>,
    pub warnings: Vec<(WarningKind, Span)>,
}

/// Checks every semantic rule of `m`, locating problems through `spans`.
pub(crate) fn validate(m: &Manifest, spans: &SpanIndex, text: &str) -> Report {
    let mut c = Checker {
        m,
        spans,
        text,
        report: Report::default(),
    };
    c.top_level();
    c.resource_groups();
    c.accounts();
    c.managed_identities();
    c.role_assignments();
    c.verify();
    c.report
}

struct Checker<'a> {
    m: &'a Manifest,
    spans: &'a SpanIndex,
    text: &'a str,
    report: Report,
}

/// The naming rule of each kind of declared name: the check, and the words that tell the user
/// how to comply.
fn naming_rule(what: Named) -> (fn(&str) -> bool, &'static str) {
    match what {
        Named::Manifest => (
            valid_manifest_name,
            "use 1-63 characters of a-z, 0-9 and '-'",
        ),
        Named::ResourceGroup => (
            valid_rg_name,
            "use 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending with '.'",
        ),
        Named::Account => (
            valid_account_name,
            "use 2-64 letters, digits and '-', starting with a letter or digit",
        ),
        Named::Deployment => (
            valid_deployment_name,
            "use 2-64 letters, digits, '-', '_' or '.'",
        ),
        Named::ManagedIdentity => (valid_vm_name, "use 1-64 characters without spaces"),
    }
}

fn valid_manifest_name(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn valid_rg_name(s: &str) -> bool {
    (1..=90).contains(&s.chars().count())
        && !s.ends_with('.')
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'))
}

fn valid_account_name(s: &str) -> bool {
    (2..=64).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn valid_deployment_name(s: &str) -> bool {
    (2..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn valid_vm_name(s: &str) -> bool {
    !(s.is_empty() || s.len() > 64 || s.contains(char::is_whitespace))
}

fn valid_api_version(s: &str) -> bool {
    let date = s.strip_suffix("-preview").unwrap_or(s);
    let b = date.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

/// The first customSubdomain rule `s` breaks, with the byte offset of the culprit within `s`.
pub(crate) fn subdomain_problem(s: &str) -> Option<(SubdomainRule, Option<usize>)> {
    if let Some((i, _)) = s
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Some((SubdomainRule::Character, Some(i)));
    }
    if s.starts_with('-') {
        return Some((SubdomainRule::LeadingHyphen, Some(0)));
    }
    if s.ends_with('-') {
        return Some((SubdomainRule::TrailingHyphen, Some(s.len() - 1)));
    }
    if !(2..=64).contains(&s.len()) {
        return Some((SubdomainRule::Length, None));
    }
    None
}

impl Checker<'_> {
    /// Span of `path`, or of its nearest written ancestor.
    fn at(&self, path: &str) -> Span {
        self.spans.label_or_ancestor(path)
    }

    /// Span of the *key* of `path` (for problems about a key, like a reserved tag).
    fn key_at(&self, path: &str) -> Span {
        self.spans
            .get(path)
            .and_then(|s| s.key)
            .unwrap_or_else(|| self.at(path))
    }

    /// Narrows `span` (a scalar holding `value`) to `len` bytes at `offset` within the value, when
    /// the value is written verbatim there (plain or simply quoted); else keeps the whole span.
    fn narrow(&self, span: Span, value: &str, offset: usize, len: usize) -> Span {
        let written = self.text.get(span.start..span.end).unwrap_or("");
        let inner_start = match written.find(value) {
            Some(i) if !value.is_empty() => span.start + i,
            _ => return span,
        };
        let start = inner_start + offset;
        let end = (start + len).min(span.end);
        if self.text.is_char_boundary(start) && self.text.is_char_boundary(end) {
            Span::new(start, end)
        } else {
            span
        }
    }

    fn error(&mut self, kind: ProblemKind, at: Span) {
        self.report.errors.push(Finding::new(kind, at));
    }

    fn duplicate(&mut self, kind: ProblemKind, at: Span, first: Span) {
        self.report.errors.push(Finding::new(kind, at).also(first));
    }

    /// Reports `value` (a `what` name, at `at`) when it breaks the naming rule of its kind.
    fn name_rule(&mut self, what: Named, value: &str, at: Span) {
        let (valid, rule) = naming_rule(what);
        if !valid(value) {
            self.error(
                ProblemKind::InvalidName {
                    what,
                    value: value.to_owned(),
                    rule,
                },
                at,
            );
        }
    }

    /// Remembers where `key` was first seen; when it was seen before, reports `duplicate()` at
    /// `at`, pointing at the first occurrence too.
    fn unique<K: Eq + Hash>(
        &mut self,
        seen: &mut HashMap<K, Span>,
        key: K,
        at: Span,
        duplicate: impl FnOnce() -> ProblemKind,
    ) {
        match seen.get(&key) {
            Some(&first) => self.duplicate(duplicate(), at, first),
            None => {
                seen.insert(key, at);
            }
        }
    }

    /// The checks every declared name gets: its naming rule, then uniqueness among its kind
    /// (case-insensitive, as Azure compares names).
    fn declared_name(
        &mut self,
        what: Named,
        name: &str,
        at: Span,
        seen: &mut HashMap<String, Span>,
    ) {
        self.name_rule(what, name, at);
        self.unique(seen, name.to_lowercase(), at, || {
            ProblemKind::DuplicateName {
                what,
                name: name.to_owned(),
            }
        });
    }

    fn top_level(&mut self) {
        let m = self.m;
        if m.version != SUPPORTED_VERSION {
            self.error(
                ProblemKind::UnsupportedVersion {
                    found: m.version.to_string(),
                },
                self.at("version"),
            );
        }
        self.name_rule(Named::Manifest, &m.name, self.at("name"));
        if !is_guid(&m.subscription) {
            self.error(
                ProblemKind::InvalidGuid {
                    field: "subscription",
                    value: m.subscription.clone(),
                },
                self.at("subscription"),
            );
        }
        if m.location.as_deref() == Some("") {
            self.error(
                ProblemKind::EmptyValue { field: "location" },
                self.at("location"),
            );
        }
        self.tags("tags", &m.tags);
        if let Some(e) = &m.emulator {
            if e.world.as_os_str().is_empty() {
                self.error(
                    ProblemKind::EmptyValue {
                        field: "emulator.world",
                    },
                    self.at("emulator.world"),
                );
            }
        }
    }

    fn tags(&mut self, path: &str, tags: &Tags) {
        for (k, v) in tags {
            let p = child_key(path, k);
            let rule = if k.eq_ignore_ascii_case(OWNERSHIP_TAG_KEY) {
                self.error(ProblemKind::ReservedTag { key: k.clone() }, self.key_at(&p));
                continue;
            } else if k.is_empty() {
                "tag keys cannot be empty"
            } else if k.chars().count() > 512 {
                "tag keys are at most 512 characters"
            } else if k.chars().any(|c| "<>%&\\?/".contains(c)) {
                "tag keys cannot contain < > % & \\ ? /"
            } else if v.chars().count() > 256 {
                "tag values are at most 256 characters"
            } else {
                continue;
            };
            self.error(
                ProblemKind::InvalidTag {
                    key: k.clone(),
                    rule,
                },
                self.key_at(&p),
            );
        }
    }

    fn resource_groups(&mut self) {
        let m = self.m;
        let mut seen: HashMap<String, Span> = HashMap::new();
        for (i, rg) in m.resource_groups.iter().enumerate() {
            let p = child_index("resourceGroups", i);
            let name_at = self.at(&child_key(&p, "name"));
            self.declared_name(Named::ResourceGroup, &rg.name, name_at, &mut seen);
            if rg.location.is_empty() && m.location.is_none() {
                let at = if self.spans.get(&child_key(&p, "location")).is_some() {
                    self.at(&child_key(&p, "location"))
                } else {
                    name_at
                };
                self.error(
                    ProblemKind::MissingLocation {
                        what: Named::ResourceGroup,
                        name: rg.name.clone(),
                    },
                    at,
                );
            }
            self.tags(&child_key(&p, "tags"), &rg.tags);
        }
    }

    fn accounts(&mut self) {
        let m = self.m;
        let mut names: HashMap<String, Span> = HashMap::new();
        let mut subdomains: HashMap<String, (Span, &str)> = HashMap::new();
        for (i, a) in m.accounts.iter().enumerate() {
            let p = child_index("accounts", i);
            let name_at = self.at(&child_key(&p, "name"));
            self.declared_name(Named::Account, &a.name, name_at, &mut names);

            let rg = m.resource_group(&a.resource_group);
            if rg.is_none() {
                self.error(
                    ProblemKind::UnknownReference {
                        target: RefTarget::ResourceGroup,
                        name: a.resource_group.clone(),
                        hint: suggest::hint(
                            &a.resource_group,
                            m.resource_groups.iter().map(|r| r.name.as_str()),
                        ),
                    },
                    self.at(&child_key(&p, "resourceGroup")),
                );
            }
            let rg_location = rg.map(|r| r.location.as_str()).unwrap_or("");
            if a.location.is_empty()
                && m.location.is_none()
                && rg_location.is_empty()
                && rg.is_some()
            {
                self.error(
                    ProblemKind::MissingLocation {
                        what: Named::Account,
                        name: a.name.clone(),
                    },
                    name_at,
                );
            }

            self.subdomain(&p, a, &mut subdomains);

            if a.sku.is_empty() {
                self.error(
                    ProblemKind::EmptyValue { field: "sku" },
                    self.at(&child_key(&p, "sku")),
                );
            }
            self.tags(&child_key(&p, "tags"), &a.tags);
            self.deployments(&p, a);
        }
    }

    fn subdomain<'m>(
        &mut self,
        p: &str,
        a: &'m AccountSpec,
        seen: &mut HashMap<String, (Span, &'m str)>,
    ) {
        let path = child_key(p, "customSubdomain");
        let at = self.at(&path);
        let value = &a.custom_subdomain;
        if let Some((rule, offset)) = subdomain_problem(value) {
            let at = match offset {
                Some(o) => {
                    let len = value[o..].chars().next().map_or(1, char::len_utf8);
                    self.narrow(at, value, o, len)
                }
                None => at,
            };
            self.error(
                ProblemKind::InvalidSubdomain {
                    value: value.clone(),
                    rule,
                },
                at,
            );
            return;
        }
        match seen.get(&value.to_lowercase()) {
            Some(&(first, first_account)) => self.duplicate(
                ProblemKind::DuplicateSubdomain {
                    subdomain: value.clone(),
                    first_account: first_account.to_owned(),
                },
                at,
                first,
            ),
            None => {
                seen.insert(value.to_lowercase(), (at, &a.name));
            }
        }
    }

    fn deployments(&mut self, account_path: &str, a: &AccountSpec) {
        let mut seen: HashMap<String, Span> = HashMap::new();
        for (j, d) in a.deployments.iter().enumerate() {
            let p = child_index(&child_key(account_path, "deployments"), j);
            let name_at = self.at(&child_key(&p, "name"));
            self.declared_name(Named::Deployment, &d.name, name_at, &mut seen);
            for (field, value, path) in [
                ("model.name", &d.model.name, "model.name"),
                ("model.version", &d.model.version, "model.version"),
                ("model.format", &d.model.format, "model.format"),
            ] {
                if value.trim().is_empty() {
                    self.error(
                        ProblemKind::EmptyValue { field },
                        self.at(&format!("{p}.{path}")),
                    );
                }
            }
            if d.sku.capacity == 0 {
                self.error(
                    ProblemKind::InvalidCapacity,
                    self.at(&format!("{p}.sku.capacity")),
                );
            }
        }
    }

    fn managed_identities(&mut self) {
        let mut seen: HashMap<(String, String), Span> = HashMap::new();
        for (i, mi) in self.m.managed_identities.iter().enumerate() {
            let p = child_index("managedIdentities", i);
            let vm_at = self.at(&child_key(&p, "vm"));
            self.name_rule(Named::ManagedIdentity, &mi.vm, vm_at);
            let rg_at = self.at(&child_key(&p, "resourceGroup"));
            self.name_rule(Named::ResourceGroup, &mi.resource_group, rg_at);
            let key = (mi.vm.to_lowercase(), mi.resource_group.to_lowercase());
            self.unique(&mut seen, key, vm_at, || ProblemKind::DuplicateName {
                what: Named::ManagedIdentity,
                name: format!("{}/{}", mi.resource_group, mi.vm),
            });
        }
    }

    fn role_assignments(&mut self) {
        let m = self.m;
        // (role identity, scope, principal identity) → where it was first assigned.
        let mut seen: HashMap<(String, String, String), Span> = HashMap::new();
        for (i, ra) in m.role_assignments.iter().enumerate() {
            let p = child_index("roleAssignments", i);
            let role = self.role(&p, ra);
            let scope_ok = self.scope(&p, &ra.scope);
            let principals_path = child_key(&p, "principals");
            if ra.principals.is_empty() {
                self.error(
                    ProblemKind::EmptyList {
                        field: "principals",
                    },
                    self.at(&principals_path),
                );
            }
            for (j, principal) in ra.principals.iter().enumerate() {
                let pp = child_index(&principals_path, j);
                let Some(identity) = self.principal(&pp, principal) else {
                    continue;
                };
                let (Some(role), true) = (&role, scope_ok) else {
                    continue;
                };
                let scope_key = match &ra.scope {
                    ScopeRef::Account(a) => format!("account:{}", a.to_lowercase()),
                    ScopeRef::ResourceGroup(rg) => format!("rg:{}", rg.to_lowercase()),
                };
                let key = (role.identity(), scope_key, identity);
                let at = self.at(&pp);
                self.unique(&mut seen, key, at, || {
                    ProblemKind::DuplicateRoleAssignment {
                        role: match role {
                            RoleRef::Builtin(b) => b.name.to_owned(),
                            _ => ra.role.clone(),
                        },
                        scope: ra.scope.to_string(),
                        principal: principal.to_string(),
                    }
                });
            }
        }
    }

    /// Checks `role`; returns how it resolves when it is usable.
    fn role(&mut self, p: &str, ra: &RoleAssignmentSpec) -> Option<RoleRef> {
        let at = self.at(&child_key(p, "role"));
        match RoleRef::parse(&ra.role) {
            Ok(r) => {
                if r.has_data_actions() == Some(false) {
                    self.report.warnings.push((
                        WarningKind::NoDataActions {
                            role: ra.role.clone(),
                        },
                        at,
                    ));
                }
                Some(r)
            }
            Err(RoleError::Typo { suggestion }) => {
                self.error(
                    ProblemKind::RoleTypo {
                        role: ra.role.clone(),
                        suggestion: suggestion.to_owned(),
                    },
                    at,
                );
                None
            }
            Err(RoleError::InvalidId) => {
                self.error(
                    ProblemKind::InvalidRoleId {
                        value: ra.role.clone(),
                    },
                    at,
                );
                None
            }
        }
    }

    /// Checks the scope reference; returns whether it resolves.
    fn scope(&mut self, p: &str, scope: &ScopeRef) -> bool {
        let m = self.m;
        let (found, target, name, key, candidates): (bool, _, _, _, Vec<&str>) = match scope {
            ScopeRef::Account(a) => (
                m.account(a).is_some(),
                RefTarget::Account,
                a,
                "account",
                m.accounts.iter().map(|x| x.name.as_str()).collect(),
            ),
            ScopeRef::ResourceGroup(rg) => (
                m.resource_group(rg).is_some(),
                RefTarget::ResourceGroup,
                rg,
                "resourceGroup",
                m.resource_groups.iter().map(|x| x.name.as_str()).collect(),
            ),
        };
        if !found {
            self.error(
                ProblemKind::UnknownReference {
                    target,
                    name: name.clone(),
                    hint: suggest::hint(name, candidates.iter().copied()),
                },
                self.at(&child_key(&child_key(p, "scope"), key)),
            );
        }
        found
    }

    /// Checks one principal; returns its identity key (for duplicate detection) when valid.
    fn principal(&mut self, pp: &str, principal: &PrincipalRef) -> Option<String> {
        let value_at = self.at(&child_key(pp, principal.kind_name()));
        match principal {
            PrincipalRef::SelfCaller => Some("self".to_owned()),
            PrincipalRef::User { upn_or_id } => {
                let upn = upn_or_id.split_once('@').is_some_and(|(a, b)| {
                    !a.is_empty() && !b.is_empty() && !upn_or_id.contains(char::is_whitespace)
                });
                if upn || is_guid(upn_or_id) {
                    Some(format!("user:{}", upn_or_id.to_lowercase()))
                } else {
                    let rule = "use a UPN (name@domain) or an object id GUID";
                    self.invalid_principal("user", upn_or_id, rule, value_at)
                }
            }
            PrincipalRef::Group { name_or_id } => {
                if name_or_id.trim().is_empty() {
                    let rule = "use the group's display name or object id GUID";
                    self.invalid_principal("group", name_or_id, rule, value_at)
                } else {
                    Some(format!("group:{}", name_or_id.to_lowercase()))
                }
            }
            PrincipalRef::ServicePrincipal { app_or_object_id } => {
                if is_guid(app_or_object_id) {
                    Some(format!("sp:{}", app_or_object_id.to_lowercase()))
                } else {
                    let rule = "use the application (client) id or object id GUID";
                    self.invalid_principal("servicePrincipal", app_or_object_id, rule, value_at)
                }
            }
            PrincipalRef::Vm {
                name,
                resource_group,
            } => self.vm_principal(name, resource_group.as_deref(), value_at),
        }
    }

    /// Reports a principal `value` of `kind` that breaks `rule`; there is no identity to return.
    fn invalid_principal(
        &mut self,
        kind: &'static str,
        value: &str,
        rule: &'static str,
        at: Span,
    ) -> Option<String> {
        self.error(
            ProblemKind::InvalidPrincipal {
                kind,
                value: value.to_owned(),
                rule,
            },
            at,
        );
        None
    }

    /// A `vm:` principal must name exactly one declared managed identity (narrowed by its
    /// resource group when given); returns its identity key.
    fn vm_principal(
        &mut self,
        name: &str,
        resource_group: Option<&str>,
        at: Span,
    ) -> Option<String> {
        let matches: Vec<&str> = self
            .m
            .managed_identities
            .iter()
            .filter(|mi| mi.vm.eq_ignore_ascii_case(name))
            .filter(|mi| match resource_group {
                Some(rg) => rg.eq_ignore_ascii_case(&mi.resource_group),
                None => true,
            })
            .map(|mi| mi.resource_group.as_str())
            .collect();
        match matches.as_slice() {
            [rg] => Some(format!("vm:{}/{}", rg.to_lowercase(), name.to_lowercase())),
            [] => {
                self.error(
                    ProblemKind::UnknownReference {
                        target: RefTarget::ManagedIdentity,
                        name: match resource_group {
                            Some(rg) => format!("{rg}/{name}"),
                            None => name.to_owned(),
                        },
                        hint: self.unknown_vm_hint(name, resource_group),
                    },
                    at,
                );
                None
            }
            several => {
                self.error(
                    ProblemKind::AmbiguousVm {
                        name: name.to_owned(),
                        resource_groups: several.iter().map(|s| (*s).to_owned()).collect(),
                    },
                    at,
                );
                None
            }
        }
    }

    /// The suggestion for a `vm:` principal that names no declared managed identity.
    fn unknown_vm_hint(&self, name: &str, resource_group: Option<&str>) -> Hint {
        let candidates: Vec<String> = self
            .m
            .managed_identities
            .iter()
            .map(|mi| mi.vm.clone())
            .collect();
        match resource_group {
            // The name exists, only the resource group is wrong: suggest that.
            Some(rg) if candidates.iter().any(|c| c.eq_ignore_ascii_case(name)) => {
                let rgs: Vec<&str> = self
                    .m
                    .managed_identities
                    .iter()
                    .filter(|mi| mi.vm.eq_ignore_ascii_case(name))
                    .map(|mi| mi.resource_group.as_str())
                    .collect();
                suggest::hint(rg, rgs.iter().copied())
            }
            _ => suggest::hint(name, candidates.iter().map(String::as_str)),
        }
    }

    fn verify(&mut self) {
        let m = self.m;
        let v = &m.verify;
        if let Some(d) = &v.deployment {
            let all: Vec<&str> = m
                .accounts
                .iter()
                .flat_map(|a| a.deployments.iter().map(|d| d.name.as_str()))
                .collect();
            if !all.contains(&d.as_str()) {
                let mut unique = all.clone();
                unique.sort_unstable();
                unique.dedup();
                self.error(
                    ProblemKind::UnknownReference {
                        target: RefTarget::Deployment,
                        name: d.clone(),
                        hint: suggest::hint(d, unique.iter().copied()),
                    },
                    self.at("verify.deployment"),
                );
                return;
            }
        }
        if !valid_api_version(&v.api_version) {
            self.error(
                ProblemKind::InvalidApiVersion {
                    value: v.api_version.clone(),
                },
                self.at("verify.apiVersion"),
            );
        }
        if v.timeout.is_zero() {
            self.error(
                ProblemKind::ZeroDuration {
                    field: "verify.timeout",
                },
                self.at("verify.timeout"),
            );
        }
        if v.enabled && m.verify_targets().is_empty() {
            let at = match self.spans.get("verify") {
                Some(s) => s.key.unwrap_or(s.label),
                None => self.at(""),
            };
            self.report
                .warnings
                .push((WarningKind::NothingToVerify, at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomain_rules_report_the_first_broken_rule_and_where() {
        assert_eq!(subdomain_problem("team-alpha"), None);
        assert_eq!(
            subdomain_problem("team_alpha"),
            Some((SubdomainRule::Character, Some(4)))
        );
        assert_eq!(
            subdomain_problem("-team"),
            Some((SubdomainRule::LeadingHyphen, Some(0)))
        );
        assert_eq!(
            subdomain_problem("team-"),
            Some((SubdomainRule::TrailingHyphen, Some(4)))
        );
        assert_eq!(subdomain_problem("a"), Some((SubdomainRule::Length, None)));
        assert_eq!(
            subdomain_problem(&"a".repeat(65)),
            Some((SubdomainRule::Length, None))
        );
        assert_eq!(subdomain_problem(&"a".repeat(64)), None);
    }

    #[test]
    fn name_rules() {
        assert!(valid_manifest_name("team-alpha"));
        assert!(!valid_manifest_name("Team"));
        assert!(!valid_manifest_name(""));
        assert!(!valid_manifest_name(&"a".repeat(64)));
        assert!(valid_rg_name("rg-team.alpha(1)"));
        assert!(!valid_rg_name("rg."));
        assert!(!valid_rg_name("rg x"));
        assert!(valid_account_name("oai-team-alpha"));
        assert!(!valid_account_name("-oai"));
        assert!(!valid_account_name("o"));
        assert!(valid_deployment_name("gpt-4o.mini_1"));
        assert!(!valid_deployment_name("c"));
    }

    #[test]
    fn api_versions() {
        assert!(valid_api_version("2024-10-21"));
        assert!(valid_api_version("2024-12-01-preview"));
        assert!(!valid_api_version("2024-1-21"));
        assert!(!valid_api_version("latest"));
    }
}
