//! Custom subdomain rules (behaviour notes §6.2): syntax, and global availability across every
//! subscription's live and soft-deleted accounts plus names held by other tenants.

use super::ArmState;

/// Why a subdomain cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// Fails the syntax rule (2–64 chars, alphanumeric and `-`, no leading/trailing `-`).
    Invalid,
    /// Held by a live account, a soft-deleted account or another tenant.
    Taken,
}

/// Syntax: 2–64 characters, ASCII letters, digits and `-`, not starting or ending with `-`.
pub fn is_valid(name: &str) -> bool {
    let len = name.len();
    (2..=64).contains(&len)
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Checks `name` for a new (or newly set) subdomain. `except_account_id` excludes the account
/// being updated. Soft-deleted accounts are expired first by the caller (`now`-based purge).
pub fn check(
    state: &ArmState,
    name: &str,
    except_account_id: Option<&str>,
) -> Result<(), Unavailable> {
    if !is_valid(name) {
        return Err(Unavailable::Invalid);
    }
    let held_live = state.accounts.iter().any(|a| {
        a.custom_subdomain
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case(name))
            && !matches!(except_account_id, Some(id) if a.id().eq_ignore_ascii_case(id))
    });
    let held_deleted = state.deleted_accounts.iter().any(|d| {
        d.account
            .custom_subdomain
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case(name))
    });
    let held_elsewhere = state
        .taken_subdomains
        .iter()
        .any(|s| s.eq_ignore_ascii_case(name));
    if held_live || held_deleted || held_elsewhere {
        Err(Unavailable::Taken)
    } else {
        Ok(())
    }
}

/// The `reason` text of checkDomainAvailability, `None` when available.
pub fn reason(name: &str, result: &Result<(), Unavailable>) -> Option<String> {
    match result {
        Ok(()) => None,
        Err(Unavailable::Invalid) => Some(format!("Sub domain name '{name}' is not valid")),
        Err(Unavailable::Taken) => Some(format!("Sub domain name '{name}' is already in use")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax() {
        assert!(is_valid("ab"));
        assert!(is_valid("my-aoai-123"));
        assert!(is_valid(&"a".repeat(64)));
        assert!(!is_valid("a"));
        assert!(!is_valid(&"a".repeat(65)));
        assert!(!is_valid("-ab"));
        assert!(!is_valid("ab-"));
        assert!(!is_valid("a_b"));
        assert!(!is_valid("a.b"));
        assert!(!is_valid(""));
    }

    #[test]
    fn taken_by_other_tenants() {
        let s = ArmState {
            taken_subdomains: vec!["contoso-prod".into()],
            ..Default::default()
        };
        assert_eq!(check(&s, "CONTOSO-prod", None), Err(Unavailable::Taken));
        assert_eq!(check(&s, "free-one", None), Ok(()));
        assert_eq!(check(&s, "-bad", None), Err(Unavailable::Invalid));
        assert_eq!(
            reason("x", &Err(Unavailable::Invalid)).as_deref(),
            Some("Sub domain name 'x' is not valid")
        );
    }
}
