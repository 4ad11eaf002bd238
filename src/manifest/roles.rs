//! Built-in Azure roles keyless knows offline, and how a manifest's `role:` string is read.
//!
//! Knowing these lets the manifest check catch `Cognitive Services OpenAi Usr` before anything
//! touches Azure, turn well-known names into role definition GUIDs without a lookup, and warn
//! when a role cannot call the model at all.

use super::suggest;

/// One built-in role definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinRole {
    /// The role's display name, as Azure spells it.
    pub name: &'static str,
    /// The role definition GUID (the same in every tenant).
    pub id: &'static str,
    /// Whether the role grants any `dataActions`; without them a principal cannot call
    /// chat/completions.
    pub has_data_actions: bool,
}

const BUILTIN_ROLES: &[BuiltinRole] = &[
    BuiltinRole {
        name: "Owner",
        id: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        has_data_actions: false,
    },
    BuiltinRole {
        name: "Contributor",
        id: "b24988ac-6180-42a0-ab88-20f7382dd24c",
        has_data_actions: false,
    },
    BuiltinRole {
        name: "Reader",
        id: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
        has_data_actions: false,
    },
    BuiltinRole {
        name: "User Access Administrator",
        id: "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
        has_data_actions: false,
    },
    BuiltinRole {
        name: "Role Based Access Control Administrator",
        id: "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
        has_data_actions: false,
    },
    BuiltinRole {
        name: "Cognitive Services User",
        id: "a97b65f3-24c7-4388-baec-2e87135dc908",
        has_data_actions: true,
    },
    BuiltinRole {
        name: "Cognitive Services Contributor",
        id: "25fbc0a9-bd7c-42a3-aa1a-3b75d497ee68",
        has_data_actions: false,
    },
    BuiltinRole {
        name: "Cognitive Services OpenAI User",
        id: "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
        has_data_actions: true,
    },
    BuiltinRole {
        name: "Cognitive Services OpenAI Contributor",
        id: "a001fd3d-188f-4b5d-821b-7da978bf7442",
        has_data_actions: true,
    },
    BuiltinRole {
        name: "Virtual Machine Contributor",
        id: "9980e02c-c2be-4d73-94e8-173b1dc7cf3c",
        has_data_actions: false,
    },
    BuiltinRole {
        name: "Managed Identity Operator",
        id: "f1a07417-d97a-45cb-824c-7a7467783830",
        has_data_actions: false,
    },
];

/// The built-in roles keyless knows offline (name, GUID, whether it has data actions).
pub fn builtin_roles() -> &'static [BuiltinRole] {
    BUILTIN_ROLES
}

/// The built-in role with this display name (ASCII case-insensitive).
pub fn builtin_role_by_name(name: &str) -> Option<&'static BuiltinRole> {
    BUILTIN_ROLES
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(name))
}

/// The built-in role with this definition GUID (case-insensitive).
pub fn builtin_role_by_id(id: &str) -> Option<&'static BuiltinRole> {
    BUILTIN_ROLES.iter().find(|r| r.id.eq_ignore_ascii_case(id))
}

/// Whether `s` is a GUID in the canonical 8-4-4-4-12 hex form (what Azure uses for ids).
pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Whether `s` has the shape of a GUID (36 chars, dashes in place) even if not all hex, so a
/// mistyped GUID is reported as such rather than taken for a custom role name.
fn looks_like_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36 && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-') && !s.contains(' ')
}

const ROLE_DEFINITIONS: &str = "/providers/microsoft.authorization/roledefinitions/";

/// What a manifest's `role:` string refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleRef {
    /// A built-in role, by name or by GUID.
    Builtin(&'static BuiltinRole),
    /// A role definition GUID keyless does not know (a custom role, or a built-in not listed).
    DefinitionGuid(String),
    /// A full role definition resource id; `guid` is its last segment.
    DefinitionId {
        /// The id as written.
        id: String,
        /// The role definition GUID (lower-case).
        guid: String,
    },
    /// A name that is not a known built-in; resolved online (custom roles have names too).
    Name(String),
}

/// Why a `role:` string cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleError {
    /// Almost a built-in role name.
    Typo {
        /// The built-in role it resembles.
        suggestion: &'static str,
    },
    /// A malformed GUID or role definition id.
    InvalidId,
}

impl RoleRef {
    /// Reads a `role:` value: a built-in role name, a role definition GUID, or a full
    /// `…/providers/Microsoft.Authorization/roleDefinitions/<guid>` id. Names close to a built-in
    /// role are rejected as typos; other names are accepted as custom roles.
    pub fn parse(role: &str) -> Result<RoleRef, RoleError> {
        if role.starts_with('/') {
            let lower = role.to_ascii_lowercase();
            let guid = lower
                .rfind(ROLE_DEFINITIONS)
                .map(|i| &lower[i + ROLE_DEFINITIONS.len()..])
                .filter(|g| is_guid(g))
                .ok_or(RoleError::InvalidId)?;
            return Ok(match builtin_role_by_id(guid) {
                Some(b) => RoleRef::Builtin(b),
                None => RoleRef::DefinitionId {
                    id: role.to_owned(),
                    guid: guid.to_owned(),
                },
            });
        }
        if is_guid(role) {
            return Ok(match builtin_role_by_id(role) {
                Some(b) => RoleRef::Builtin(b),
                None => RoleRef::DefinitionGuid(role.to_ascii_lowercase()),
            });
        }
        if looks_like_guid(role) {
            return Err(RoleError::InvalidId);
        }
        if let Some(b) = builtin_role_by_name(role) {
            return Ok(RoleRef::Builtin(b));
        }
        let typo = BUILTIN_ROLES
            .iter()
            .filter(|b| suggest::is_typo_of(role, b.name))
            .min_by_key(|b| {
                strsim::damerau_levenshtein(&role.to_lowercase(), &b.name.to_lowercase())
            });
        match typo {
            Some(b) => Err(RoleError::Typo { suggestion: b.name }),
            None => Ok(RoleRef::Name(role.to_owned())),
        }
    }

    /// The role definition GUID, when it is known offline.
    pub fn definition_guid(&self) -> Option<&str> {
        match self {
            RoleRef::Builtin(b) => Some(b.id),
            RoleRef::DefinitionGuid(g) | RoleRef::DefinitionId { guid: g, .. } => Some(g),
            RoleRef::Name(_) => None,
        }
    }

    /// `Some(false)` when the role is known to grant no data actions.
    pub fn has_data_actions(&self) -> Option<bool> {
        match self {
            RoleRef::Builtin(b) => Some(b.has_data_actions),
            _ => None,
        }
    }

    /// A key under which two spellings of the same role compare equal.
    pub(crate) fn identity(&self) -> String {
        match self.definition_guid() {
            Some(g) => g.to_ascii_lowercase(),
            None => match self {
                RoleRef::Name(n) => format!("name:{}", n.to_lowercase()),
                _ => unreachable!("only names lack a GUID"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_resolve_to_builtins() {
        let user = builtin_role_by_name("Cognitive Services OpenAI User").unwrap();
        assert_eq!(user.id, "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd");
        assert_eq!(
            RoleRef::parse("cognitive services openai user"),
            Ok(RoleRef::Builtin(user))
        );
        assert_eq!(
            RoleRef::parse("5E0BD9BD-7B93-4F28-AF87-19FC36AD61BD"),
            Ok(RoleRef::Builtin(user))
        );
        assert_eq!(
            RoleRef::parse("/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/roleDefinitions/5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"),
            Ok(RoleRef::Builtin(user))
        );
        assert_eq!(builtin_roles().len(), 11);
    }

    #[test]
    fn typos_are_errors_but_unrelated_names_are_custom_roles() {
        assert_eq!(
            RoleRef::parse("Cognitive Services OpenAI Usr"),
            Err(RoleError::Typo {
                suggestion: "Cognitive Services OpenAI User"
            })
        );
        assert_eq!(
            RoleRef::parse("Contributer"),
            Err(RoleError::Typo {
                suggestion: "Contributor"
            })
        );
        assert_eq!(
            RoleRef::parse("Team Alpha Model Caller"),
            Ok(RoleRef::Name("Team Alpha Model Caller".into()))
        );
    }

    #[test]
    fn malformed_ids_are_errors_and_unknown_guids_are_kept() {
        assert_eq!(
            RoleRef::parse("/providers/Microsoft.Authorization/roleDefinitions/nope"),
            Err(RoleError::InvalidId)
        );
        assert_eq!(
            RoleRef::parse("5e0bd9bd-7b93-4f28-af87-19fc36ad61bx"),
            Err(RoleError::InvalidId)
        );
        assert_eq!(
            RoleRef::parse("11111111-2222-3333-4444-555555555555"),
            Ok(RoleRef::DefinitionGuid(
                "11111111-2222-3333-4444-555555555555".into()
            ))
        );
    }

    #[test]
    fn data_actions_are_known_for_builtins_only() {
        assert_eq!(
            RoleRef::parse("Owner").unwrap().has_data_actions(),
            Some(false)
        );
        assert_eq!(
            RoleRef::parse("Cognitive Services User")
                .unwrap()
                .has_data_actions(),
            Some(true)
        );
        assert_eq!(
            RoleRef::parse("Custom Thing").unwrap().has_data_actions(),
            None
        );
    }

    #[test]
    fn guid_shape() {
        assert!(is_guid("00000000-0000-0000-0000-000000000000"));
        assert!(!is_guid("00000000000000000000000000000000"));
        assert!(!is_guid("{00000000-0000-0000-0000-000000000000}"));
    }
}
