//! ARM identifiers: GUID checks, scope normalisation and ancestry, resource-id builders.
//!
//! Why one place: RBAC inheritance, role-assignment scopes, list filters and the LRO monitors all
//! compare ids; ARM compares them case-insensitively and canonicalises the fixed keywords
//! (`subscriptions`, `resourceGroups`, `providers`), so every comparison must go through the same
//! functions or inheritance silently breaks.

use super::errors::ArmError;

/// True for a canonical 8-4-4-4-12 hex GUID (what ARM requires of role-assignment names).
pub fn is_guid(s: &str) -> bool {
    crate::world::is_guid(s)
}

/// Canonical form of a scope: leading `/`, no trailing `/`, no empty segments, the ARM keywords
/// spelled as ARM spells them. The root scope is `/`.
pub fn normalize_scope(scope: &str) -> String {
    let segs: Vec<&str> = scope.split('/').filter(|s| !s.is_empty()).collect();
    if segs.is_empty() {
        return "/".into();
    }
    let mut out = String::new();
    for (i, s) in segs.iter().enumerate() {
        out.push('/');
        let canonical = match s.to_ascii_lowercase().as_str() {
            "subscriptions" if i % 2 == 0 => "subscriptions",
            "resourcegroups" if i == 2 => "resourceGroups",
            "providers" if i % 2 == 0 => "providers",
            _ => s,
        };
        out.push_str(canonical);
    }
    out
}

/// True when `ancestor` is `scope` itself or one of its ancestors (case-insensitive, on segment
/// boundaries). `/` is everybody's ancestor.
pub fn is_at_or_above(ancestor: &str, scope: &str) -> bool {
    let a = normalize_scope(ancestor).to_ascii_lowercase();
    let s = normalize_scope(scope).to_ascii_lowercase();
    a == "/" || s == a || s.starts_with(&format!("{a}/"))
}

/// Case-insensitive id equality after normalisation.
pub fn same_id(a: &str, b: &str) -> bool {
    normalize_scope(a).eq_ignore_ascii_case(&normalize_scope(b))
}

/// The subscription id a scope lives in, if any.
pub fn subscription_of(scope: &str) -> Option<String> {
    let segs: Vec<&str> = scope.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        [first, sub, ..] if first.eq_ignore_ascii_case("subscriptions") => Some(sub.to_string()),
        _ => None,
    }
}

/// The kind of scope a role assignment may sit at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeKind {
    /// `/`.
    Root,
    /// `/providers/Microsoft.Management/managementGroups/{mg}`.
    ManagementGroup(String),
    /// `/subscriptions/{s}`.
    Subscription(String),
    /// `/subscriptions/{s}/resourceGroups/{rg}`.
    ResourceGroup(String, String),
    /// `/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}[/{type}/{name}…]`.
    Resource(String, String),
}

/// Classifies a scope; `None` when it is not a well-formed ARM scope.
pub fn classify_scope(scope: &str) -> Option<ScopeKind> {
    let segs: Vec<&str> = scope.split('/').filter(|s| !s.is_empty()).collect();
    let lc: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    match segs.len() {
        0 => Some(ScopeKind::Root),
        3 if lc[0] == "providers"
            && lc[1] == "microsoft.management"
            && lc[2] == "managementgroups" =>
        {
            None
        }
        4 if lc[0] == "providers"
            && lc[1] == "microsoft.management"
            && lc[2] == "managementgroups" =>
        {
            Some(ScopeKind::ManagementGroup(segs[3].to_string()))
        }
        2 if lc[0] == "subscriptions" => Some(ScopeKind::Subscription(segs[1].to_string())),
        4 if lc[0] == "subscriptions" && lc[2] == "resourcegroups" => Some(
            ScopeKind::ResourceGroup(segs[1].to_string(), segs[3].to_string()),
        ),
        n if n >= 8
            && lc[0] == "subscriptions"
            && lc[2] == "resourcegroups"
            && lc[4] == "providers"
            && n % 2 == 0 =>
        {
            Some(ScopeKind::Resource(
                segs[1].to_string(),
                segs[3].to_string(),
            ))
        }
        _ => None,
    }
}

/// `/subscriptions/{s}/resourceGroups/{rg}`.
pub fn rg_id(sub: &str, rg: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}")
}

/// `/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}`.
pub fn resource_id(sub: &str, rg: &str, ns: &str, ty: &str, name: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/{ty}/{name}")
}

/// Lower-cased comparison helper.
pub fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Azure's location normalisation: lower case, no spaces (`West Europe` → `westeurope`).
pub fn normalize_location(loc: &str) -> String {
    loc.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The normalised `location` of a create, or 400 LocationRequired when it is missing or empty.
pub fn required_location(location: Option<&str>) -> Result<String, ArmError> {
    location
        .map(normalize_location)
        .filter(|l| !l.is_empty())
        .ok_or_else(ArmError::location_required)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_keywords_and_slashes() {
        assert_eq!(
            normalize_scope("subscriptions/S/resourcegroups/RG/"),
            "/subscriptions/S/resourceGroups/RG"
        );
        assert_eq!(normalize_scope(""), "/");
        assert_eq!(normalize_scope("//"), "/");
        // a resource *named* "providers" in an odd position is left alone
        assert_eq!(
            normalize_scope("/subscriptions/s/resourceGroups/providers"),
            "/subscriptions/s/resourceGroups/providers"
        );
    }

    #[test]
    fn ancestry_is_segment_aware_and_case_insensitive() {
        assert!(is_at_or_above("/", "/subscriptions/s"));
        assert!(is_at_or_above(
            "/subscriptions/S",
            "/subscriptions/s/resourceGroups/x"
        ));
        assert!(is_at_or_above(
            "/subscriptions/s/resourceGroups/x",
            "/subscriptions/s/resourcegroups/X"
        ));
        assert!(!is_at_or_above(
            "/subscriptions/s/resourceGroups/x",
            "/subscriptions/s/resourceGroups/xy"
        ));
        assert!(!is_at_or_above(
            "/subscriptions/s/resourceGroups/x",
            "/subscriptions/s"
        ));
    }

    #[test]
    fn classifies_scopes() {
        assert_eq!(classify_scope("/"), Some(ScopeKind::Root));
        assert_eq!(
            classify_scope("/subscriptions/s"),
            Some(ScopeKind::Subscription("s".into()))
        );
        assert_eq!(
            classify_scope("/subscriptions/s/resourceGroups/r"),
            Some(ScopeKind::ResourceGroup("s".into(), "r".into()))
        );
        assert!(matches!(
            classify_scope("/subscriptions/s/resourceGroups/r/providers/Microsoft.X/things/t"),
            Some(ScopeKind::Resource(..))
        ));
        assert_eq!(classify_scope("/subscriptions/s/resourceGroups"), None);
        assert_eq!(classify_scope("/foo/bar"), None);
        assert_eq!(
            subscription_of("/subscriptions/abc/resourceGroups/x").as_deref(),
            Some("abc")
        );
    }
}
