//! Microsoft Graph rules over the directory: which objects are visible (replicated), their Graph
//! JSON, `$filter` (`eq`, `in`, `servicePrincipalNames/any`, joined by `or`), `$select`, typed
//! lookups for `directoryObjects`, and which application permissions allow which reads.
//!
//! Plain rules: `services::graph` routes, pages and renders Graph's envelopes and errors.

use super::directory::{Directory, Group, ServicePrincipal, SpKind, User};
use serde_json::{json, Map, Value};

/// Application permissions that allow reading users.
pub const READ_USERS: [&str; 4] = [
    "User.Read.All",
    "User.ReadBasic.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
/// Application permissions that allow reading groups.
pub const READ_GROUPS: [&str; 3] = [
    "Group.Read.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
/// Application permissions that allow reading service principals.
pub const READ_SPS: [&str; 4] = [
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
/// Application permissions that allow reading any directory object.
pub const READ_DIRECTORY: [&str; 2] = ["Directory.Read.All", "Directory.ReadWrite.All"];

/// Whether a caller may read: users always (delegated), apps with one of `perms` in `roles`.
pub fn may_read(idtyp: &str, roles: &[String], perms: &[&str]) -> bool {
    idtyp == "user"
        || roles
            .iter()
            .any(|r| perms.iter().any(|p| p.eq_ignore_ascii_case(r)))
}

/// A Graph entity set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `/users`.
    Users,
    /// `/groups`.
    Groups,
    /// `/servicePrincipals`.
    Sps,
}

impl Kind {
    /// The entity set's name in `@odata.context`.
    pub fn set(&self) -> &'static str {
        match self {
            Kind::Users => "users",
            Kind::Groups => "groups",
            Kind::Sps => "servicePrincipals",
        }
    }
}

/// A user as Graph returns it.
pub fn user_json(u: &User) -> Value {
    json!({
        "businessPhones": [], "displayName": u.display_name, "givenName": null, "jobTitle": null,
        "mail": null, "mobilePhone": null, "officeLocation": null, "preferredLanguage": null,
        "surname": null, "userPrincipalName": u.user_principal_name, "id": u.id,
    })
}

/// A group as Graph returns it.
pub fn group_json(g: &Group) -> Value {
    json!({
        "id": g.id, "deletedDateTime": null, "classification": null, "createdDateTime": null,
        "description": null, "displayName": g.display_name, "groupTypes": [], "mail": null,
        "mailEnabled": false, "mailNickname": g.display_name.replace(' ', ""),
        "securityEnabled": true, "visibility": null,
    })
}

/// A service principal as Graph returns it.
pub fn sp_json(sp: &ServicePrincipal, tid: &str) -> Value {
    let mi = sp.kind == SpKind::ManagedIdentity;
    json!({
        "id": sp.id, "deletedDateTime": null, "accountEnabled": true,
        "alternativeNames": if mi { json!(["isExplicit=False", sp.mi_resource_id]) } else { json!([]) },
        "appDisplayName": if mi { Value::Null } else { json!(sp.display_name) },
        "appId": sp.app_id, "appOwnerOrganizationId": if mi { Value::Null } else { json!(tid) },
        "displayName": sp.display_name,
        "servicePrincipalNames": sp.service_principal_names,
        "servicePrincipalType": if mi { "ManagedIdentity" } else { "Application" },
        "signInAudience": if mi { Value::Null } else { json!("AzureADMyOrg") },
        "tags": [],
    })
}

/// One clause of a `$filter`: `prop eq 'v'`, `prop in ('a','b')`, or
/// `servicePrincipalNames/any(c:c eq 'v')`; clauses may be joined with ` or `.
#[derive(Debug, Clone, PartialEq)]
pub enum Clause {
    /// `prop eq 'v'` or `prop in ('a','b')` (case-insensitive).
    Eq(String, Vec<String>),
    /// `servicePrincipalNames/any(c:c eq 'v')`.
    AnySpn(String),
}

/// Parses a `$filter` (the error is Graph's message).
pub fn parse_filter(f: &str) -> Result<Vec<Clause>, String> {
    let mut out = vec![];
    for part in split_or(f) {
        let p = part.trim();
        let lower = p.to_ascii_lowercase();
        if lower.starts_with("serviceprincipalnames/any(") {
            let inner = p
                .split_once('(')
                .map(|x| x.1)
                .and_then(|s| s.strip_suffix(')'))
                .ok_or("Invalid filter clause")?;
            let (_, cond) = inner.split_once(':').ok_or("Invalid filter clause")?;
            let (_, v) = split_op(cond, " eq ").ok_or("Invalid filter clause")?;
            out.push(Clause::AnySpn(unquote(v)?));
        } else if let Some((prop, v)) = split_op(p, " eq ") {
            out.push(Clause::Eq(prop.trim().to_string(), vec![unquote(v)?]));
        } else if let Some((prop, v)) = split_op(p, " in ") {
            let v = v.trim();
            let list = v
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or("Invalid filter clause")?;
            let items = split_list(list)
                .into_iter()
                .map(|s| unquote(&s))
                .collect::<Result<Vec<_>, _>>()?;
            out.push(Clause::Eq(prop.trim().to_string(), items));
        } else {
            return Err("Invalid filter clause".into());
        }
    }
    Ok(out)
}

/// Splits on ` or ` outside quotes.
fn split_or(f: &str) -> Vec<String> {
    let mut parts = vec![];
    let mut cur = String::new();
    let mut in_q = false;
    let chars: Vec<char> = f.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            in_q = !in_q;
        }
        if !in_q
            && chars[i..]
                .iter()
                .take(4)
                .collect::<String>()
                .eq_ignore_ascii_case(" or ")
        {
            parts.push(std::mem::take(&mut cur));
            i += 4;
            continue;
        }
        cur.push(c);
        i += 1;
    }
    parts.push(cur);
    parts
}

fn split_op<'a>(s: &'a str, op: &str) -> Option<(&'a str, &'a str)> {
    let lower = s.to_ascii_lowercase();
    let q = lower.find('\'').unwrap_or(lower.len());
    let at = lower[..q].find(op)?;
    Some((&s[..at], &s[at + op.len()..]))
}

fn split_list(s: &str) -> Vec<String> {
    let mut items = vec![];
    let mut cur = String::new();
    let mut in_q = false;
    for c in s.chars() {
        if c == '\'' {
            in_q = !in_q;
        }
        if c == ',' && !in_q {
            items.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if !cur.trim().is_empty() {
        items.push(cur);
    }
    items
}

fn unquote(v: &str) -> Result<String, String> {
    let v = v.trim();
    let inner = v
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .ok_or("Invalid filter clause")?;
    Ok(inner.replace("''", "'"))
}

/// A string property of a Graph object, by case-insensitive name.
pub fn prop<'a>(obj: &'a Value, name: &str) -> Option<&'a str> {
    obj.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

/// True when the object satisfies any clause (clauses are joined by `or`).
pub fn matches(obj: &Value, clauses: &[Clause]) -> bool {
    clauses.iter().any(|c| match c {
        Clause::Eq(p, vals) => {
            prop(obj, p).is_some_and(|x| vals.iter().any(|v| v.eq_ignore_ascii_case(x)))
        }
        Clause::AnySpn(v) => obj["servicePrincipalNames"].as_array().is_some_and(|a| {
            a.iter()
                .any(|n| n.as_str().is_some_and(|n| n.eq_ignore_ascii_case(v)))
        }),
    })
}

/// The objects of `kind` that have replicated by `now`, as Graph JSON.
pub fn visible(dir: &Directory, kind: Kind, now: f64) -> Vec<Value> {
    match kind {
        Kind::Users => dir
            .users
            .iter()
            .filter(|u| u.visible_from <= now)
            .map(user_json)
            .collect(),
        Kind::Groups => dir
            .groups
            .iter()
            .filter(|g| g.visible_from <= now)
            .map(group_json)
            .collect(),
        Kind::Sps => dir
            .service_principals
            .iter()
            .filter(|s| s.visible_from <= now)
            .map(|s| sp_json(s, &dir.tenant_id))
            .collect(),
    }
}

/// The visible directory object with this id, typed (`@odata.type` first) and with its short
/// type name as `getByIds` `types` names it.
pub fn typed(dir: &Directory, id: &str, now: f64) -> Option<(&'static str, Value)> {
    let find = |kind: Kind| {
        visible(dir, kind, now)
            .into_iter()
            .find(|o| prop(o, "id").is_some_and(|x| x.eq_ignore_ascii_case(id)))
    };
    for (kind, t, short) in [
        (Kind::Users, "#microsoft.graph.user", "user"),
        (Kind::Groups, "#microsoft.graph.group", "group"),
        (
            Kind::Sps,
            "#microsoft.graph.servicePrincipal",
            "serviceprincipal",
        ),
    ] {
        if let Some(mut o) = find(kind) {
            if let Some(m) = o.as_object_mut() {
                let mut with_type = Map::new();
                with_type.insert("@odata.type".into(), json!(t));
                with_type.extend(std::mem::take(m));
                *m = with_type;
            }
            return Some((short, o));
        }
    }
    None
}

/// `$select`: keeps the named properties (and `@odata` annotations); `None` keeps all.
pub fn select(obj: Value, sel: Option<&str>) -> Value {
    let Some(sel) = sel.filter(|s| !s.is_empty()) else {
        return obj;
    };
    let wanted: Vec<&str> = sel.split(',').map(str::trim).collect();
    let mut out = Map::new();
    if let Value::Object(m) = obj {
        for (k, v) in m {
            if k.starts_with("@odata") || wanted.iter().any(|w| w.eq_ignore_ascii_case(&k)) {
                out.insert(k, v);
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse() {
        assert_eq!(
            parse_filter("userPrincipalName eq 'a@b.c'").unwrap(),
            vec![Clause::Eq("userPrincipalName".into(), vec!["a@b.c".into()])]
        );
        assert_eq!(
            parse_filter("userPrincipalName in ('a@b', 'o''neil@x')").unwrap(),
            vec![Clause::Eq(
                "userPrincipalName".into(),
                vec!["a@b".into(), "o'neil@x".into()]
            )]
        );
        assert_eq!(
            parse_filter("servicePrincipalNames/any(c:c eq 'abc')").unwrap(),
            vec![Clause::AnySpn("abc".into())]
        );
        assert_eq!(
            parse_filter("displayName eq 'a or b' or id eq 'x'")
                .unwrap()
                .len(),
            2
        );
        assert!(parse_filter("startswith(displayName,'x')").is_err());
    }
}
