//! Behaviour of `load` / `load_str`: defaults, interpolation, every validation rule,
//! suggestions, directories and multiple files.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::{render, test_env};
use crate::manifest::*;

const HEADER: &str = "version: 1\nname: team-alpha\nsubscription: 00000000-0000-0000-0000-000000000001\nlocation: eastus\n";

/// Account `oai-a` in `rg-a` with deployment `chat`: what [`with`] adds after `rg-a` itself.
const ACCOUNT_A: &str = "accounts:
  - name: oai-a
    resourceGroup: rg-a
    customSubdomain: a-contoso
    deployments:
      - name: chat
        model: { name: gpt-4o-mini, version: \"2024-07-18\" }
        sku: { name: GlobalStandard, capacity: 10 }
";

fn ok(src: &str) -> LoadedManifest {
    load_str("t.yaml", src, &test_env()).unwrap_or_else(|e| panic!("{}", render(&e)))
}

fn err(src: &str) -> ManifestError {
    match load_str("t.yaml", src, &test_env()) {
        Ok(m) => panic!("loaded but should not: {:#?}", m.manifest),
        Err(e) => e,
    }
}

/// The problems of `src` as (kind, the text under the primary label).
fn problems(src: &str) -> Vec<(ProblemKind, String)> {
    err(src)
        .problems()
        .iter()
        .map(|p| (p.kind.clone(), src[p.span.start..p.span.end].to_owned()))
        .collect()
}

/// The single problem of `src`.
fn problem(src: &str) -> (ProblemKind, String) {
    let mut ps = problems(src);
    assert_eq!(ps.len(), 1, "expected one problem, got {ps:#?}");
    ps.remove(0)
}

fn with(extra: &str) -> String {
    format!("{HEADER}resourceGroups:\n  - name: rg-a\n{ACCOUNT_A}{extra}")
}

fn assignment(role: &str, scope: &str, principals: &str) -> String {
    with(&format!(
        "roleAssignments:\n  - role: {role}\n    scope: {scope}\n    principals:\n{principals}"
    ))
}

/// `role` granted on account `oai-a` to the caller (`self`).
fn role_on_a(role: &str) -> String {
    assignment(role, "{ account: oai-a }", "      - self\n")
}

/// `Reader` granted on `scope` to the caller (`self`).
fn reader_at(scope: &str) -> String {
    assignment("Reader", scope, "      - self\n")
}

/// `Reader` granted on account `oai-a` to `principals` (list items, indented six spaces).
fn reader_for(principals: &str) -> String {
    assignment("Reader", "{ account: oai-a }", principals)
}

/// Asserts that `src` has exactly one problem: a reference to an undeclared `target`, written as
/// `at`, with `suggestion` as its "did you mean".
#[track_caller]
fn assert_unknown_reference(src: &str, target: RefTarget, at: &str, suggestion: &str) {
    let (kind, written) = problem(src);
    assert_eq!(written, at);
    assert!(
        matches!(&kind, ProblemKind::UnknownReference { target: t, .. } if *t == target),
        "{kind:?}"
    );
    assert_eq!(did_you_mean(&kind), Some(suggestion));
}

fn did_you_mean(kind: &ProblemKind) -> Option<&str> {
    match kind {
        ProblemKind::UnknownKey { hint, .. }
        | ProblemKind::UnknownValue { hint, .. }
        | ProblemKind::UnknownReference { hint, .. } => hint.did_you_mean.as_deref(),
        ProblemKind::RoleTypo { suggestion, .. } => Some(suggestion),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Defaults

#[test]
fn defaults_are_applied() {
    let src = format!(
        "{HEADER}tags: {{ team: alpha, env: dev }}
resourceGroups:
  - name: rg-a
    tags: {{ env: prod }}
{ACCOUNT_A}managedIdentities:
  - {{ vm: agent, resourceGroup: rg-ci }}
roleAssignments:
  - role: Cognitive Services OpenAI User
    scope: {{ account: oai-a }}
    principals: [ {{ vm: agent }} ]
"
    );
    let m = ok(&src).manifest;
    let rg = &m.resource_groups[0];
    assert_eq!(rg.location, "eastus");
    assert_eq!(rg.tags["team"], "alpha");
    assert_eq!(rg.tags["env"], "prod", "the item's own tags win");
    let a = &m.accounts[0];
    assert_eq!(a.location, "eastus");
    assert_eq!(a.kind, AccountKind::OpenAI);
    assert_eq!(a.sku, "S0");
    assert!(a.disable_local_auth);
    assert_eq!(a.public_network_access, PublicNetworkAccess::Enabled);
    assert_eq!(a.on_soft_deleted, OnSoftDeleted::Fail);
    assert_eq!(a.tags["env"], "dev");
    assert_eq!(a.deployments[0].model.format, "OpenAI");
    assert_eq!(
        m.role_assignments[0].principals[0],
        PrincipalRef::Vm {
            name: "agent".into(),
            resource_group: Some("rg-ci".into())
        }
    );
    assert_eq!(m.verify, VerifySpec::default());
    assert!(m.verify.enabled);
    assert_eq!(m.verify.api, VerifyApi::Chat);
    assert_eq!(m.verify.api_version, "2024-10-21");
    assert_eq!(m.verify.timeout, Duration::from_secs(900));
    assert!(!m.prune);
    assert_eq!(m.emulator, None);
}

#[test]
fn account_location_falls_back_to_its_resource_group() {
    let src = "version: 1
name: t
subscription: 00000000-0000-0000-0000-000000000001
resourceGroups: [ { name: rg-a, location: westeurope } ]
accounts: [ { name: oai-a, resourceGroup: rg-a, customSubdomain: a-contoso } ]
verify: { enabled: false }
";
    assert_eq!(ok(src).manifest.accounts[0].location, "westeurope");
}

#[test]
fn missing_location_is_an_error_for_each_item_without_one() {
    let src = "version: 1
name: t
subscription: 00000000-0000-0000-0000-000000000001
resourceGroups:
  - name: rg-a
  - name: rg-b
    location: eastus
";
    assert_eq!(
        problems(src),
        [(
            ProblemKind::MissingLocation {
                what: Named::ResourceGroup,
                name: "rg-a".into()
            },
            "rg-a".into()
        )]
    );
}

#[test]
fn empty_values_mean_empty_lists_and_maps() {
    let src = format!("{HEADER}tags:\nresourceGroups:\naccounts:\nverify: {{ enabled: false }}\n");
    let m = ok(&src).manifest;
    assert!(m.tags.is_empty() && m.resource_groups.is_empty() && m.accounts.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Interpolation

#[test]
fn interpolation_feeds_typed_parsing() {
    let env = HashMap::from([
        (
            "SUB".to_owned(),
            "00000000-0000-0000-0000-0000000000ab".to_owned(),
        ),
        ("V".to_owned(), "1".to_owned()),
        ("LOCAL_AUTH".to_owned(), "false".to_owned()),
    ]);
    let src = "version: ${V}
name: team-${TEAM:-alpha}
subscription: \"${SUB}\"
location: eastus
resourceGroups: [ { name: rg-a } ]
accounts:
  - name: oai-a
    resourceGroup: rg-a
    customSubdomain: a-contoso
    disableLocalAuth: ${LOCAL_AUTH}
roleAssignments:
  - role: Cognitive Services OpenAI User
    scope: { account: oai-a }
    description: literal $${NOT_A_VAR} stays
    principals: [self]
verify: { enabled: false }
";
    let m = load_str("t.yaml", src, &env)
        .unwrap_or_else(|e| panic!("{}", render(&e)))
        .manifest;
    assert_eq!(m.version, 1);
    assert_eq!(m.name, "team-alpha");
    assert_eq!(m.subscription, "00000000-0000-0000-0000-0000000000ab");
    assert!(!m.accounts[0].disable_local_auth);
    assert_eq!(
        m.role_assignments[0].description.as_deref(),
        Some("literal ${NOT_A_VAR} stays")
    );
}

#[test]
fn missing_variables_are_named_at_their_placeholder_and_all_reported() {
    let src = "version: 1\nname: t\nsubscription: ${AZURE_SUB}\nlocation: \"x-${LOC}\"\ntags: { a: \"${AZURE_SUBSCRIPTION_ID}\" }\n";
    assert_eq!(
        problems(src),
        [
            (
                ProblemKind::MissingEnvVar {
                    name: "AZURE_SUB".into()
                },
                "${AZURE_SUB}".into()
            ),
            (
                ProblemKind::MissingEnvVar { name: "LOC".into() },
                "${LOC}".into()
            ),
        ]
    );
    let e = err(src);
    let p = &e.problems()[0];
    // Line 3, column 15 of the original text.
    let before = &src[..p.span.start];
    assert_eq!(before.matches('\n').count() + 1, 3);
    assert_eq!(p.span.start - before.rfind('\n').unwrap(), 15);
}

#[test]
fn an_interpolated_empty_string_is_not_null() {
    let src = "version: 1\nname: t\nsubscription: ${EMPTY}\n";
    // Not "expected a string, found null": the empty value reaches validation.
    let (kind, at) = problem(src);
    assert_eq!(
        kind,
        ProblemKind::InvalidGuid {
            field: "subscription",
            value: String::new()
        }
    );
    assert_eq!(at, "${EMPTY}");
}

#[test]
fn process_env_reads_the_process_environment() {
    assert_eq!(ProcessEnv.var("KEYLESS_TEST_SURELY_UNSET_1f2e3d"), None);
    if let Some((k, v)) = std::env::vars().next() {
        assert_eq!(ProcessEnv.var(&k), Some(v));
    }
}

// ---------------------------------------------------------------------------------------------
// Typed parsing

#[test]
fn unknown_keys_suggest_the_closest_key_of_that_object() {
    let (kind, at) = problem(&format!("{HEADER}resourceGroup:\n  - name: rg-a\n"));
    assert_eq!(at, "resourceGroup");
    assert_eq!(did_you_mean(&kind), Some("resourceGroups"));

    let src = with("verify:\n  apiversion: \"2024-10-21\"\n");
    let (kind, at) = problem(&src);
    assert_eq!(at, "apiversion");
    assert!(matches!(&kind, ProblemKind::UnknownKey { object, .. } if object == "verify"));
    assert_eq!(did_you_mean(&kind), Some("apiVersion"));

    let (kind, _) = problem(&reader_for("      - usr: a@b.c\n"));
    assert_eq!(did_you_mean(&kind), Some("user"));

    let (kind, at) = problem(&reader_at("{ acount: oai-a }"));
    assert_eq!(at, "acount");
    assert!(matches!(kind, ProblemKind::UnknownKey { .. }));
    assert_eq!(did_you_mean(&kind), Some("account"));

    let (kind, _) = problem(&format!("{HEADER}zzzzzz: 1\n"));
    let ProblemKind::UnknownKey { hint, .. } = kind else {
        panic!()
    };
    assert_eq!(hint.did_you_mean, None);
    assert!(hint.valid.contains(&"roleAssignments".to_owned()));
}

#[test]
fn unknown_enum_values_suggest_the_intended_value() {
    let src = with("verify:\n  api: chats\n");
    let (kind, at) = problem(&src);
    assert_eq!(at, "chats");
    assert!(matches!(kind, ProblemKind::UnknownValue { .. }));
    assert_eq!(did_you_mean(&kind), Some("chat"));
}

#[test]
fn wrong_types_and_missing_keys_are_located() {
    let (kind, at) = problem(&format!("{HEADER}prune: maybe\n"));
    assert_eq!(at, "maybe");
    assert_eq!(
        kind,
        ProblemKind::WrongType {
            found: "string \"maybe\"".into(),
            expected: "a boolean".into()
        }
    );
    let (kind, at) = problem(&format!("{HEADER}accounts: oai-a\n"));
    assert_eq!(at, "oai-a");
    assert!(matches!(kind, ProblemKind::WrongType { ref expected, .. } if expected == "a list"));

    let (kind, at) = problem("version: 1\nname: t\n");
    assert_eq!(at, "version: 1");
    assert_eq!(
        kind,
        ProblemKind::MissingKey {
            key: "subscription".into(),
            object: String::new()
        }
    );
}

#[test]
fn bad_durations_are_invalid_values_at_the_value() {
    let (kind, at) = problem(&with("verify:\n  timeout: 15\n"));
    assert_eq!(at, "15");
    assert!(
        matches!(kind, ProblemKind::InvalidValue { ref expected, .. } if expected.contains("`15` has no unit")),
        "{kind:?}"
    );
    let (kind, at) = problem(&with("verify:\n  timeout: 15mins\n"));
    assert_eq!(at, "15mins");
    let ProblemKind::InvalidValue { expected, .. } = kind else {
        panic!("{kind:?}")
    };
    assert!(expected.contains("unknown unit `mins`"), "{expected}");
    assert_eq!(
        problem(&with("verify:\n  timeout: 0s\n")).0,
        ProblemKind::ZeroDuration {
            field: "verify.timeout"
        }
    );
    let m = ok(&with("verify:\n  timeout: 1h30m\n")).manifest;
    assert_eq!(m.verify.timeout, Duration::from_secs(5400));
}

#[test]
fn structural_problems() {
    assert_eq!(problem("").0, ProblemKind::Empty);
    assert_eq!(problem("# nothing\n").0, ProblemKind::Empty);
    assert!(matches!(problem("a: [\n").0, ProblemKind::Syntax { .. }));
    assert_eq!(
        problem(&format!("{HEADER}---\n{HEADER}")).0,
        ProblemKind::MultipleDocuments
    );
    let (kind, at) = problem(&format!("{HEADER}? [a]\n: b\n"));
    assert_eq!(kind, ProblemKind::NonStringKey);
    assert_eq!(at, "[a]");
    let (kind, at) = problem(&format!("{HEADER}- 1\n").replace("location: eastus\n", ""));
    assert!(
        matches!(kind, ProblemKind::Syntax { .. }),
        "{kind:?} at {at}"
    );
    let (kind, _) = problem("[1, 2]\n");
    assert!(matches!(kind, ProblemKind::WrongType { ref expected, .. } if expected == "a mapping"));
}

#[test]
fn duplicate_keys_are_reported_with_the_first_occurrence() {
    let src = format!("{HEADER}prune: true\nprune: false\n");
    let e = err(&src);
    let p = &e.problems()[0];
    assert_eq!(
        p.kind,
        ProblemKind::DuplicateKey {
            key: "prune".into()
        }
    );
    let labels = p.label_spans();
    assert_eq!(labels.len(), 2);
    assert_eq!(
        &src[labels[1].offset()..labels[1].offset() + labels[1].len()],
        "prune"
    );
    assert!(labels[1].offset() < labels[0].offset());
}

#[test]
fn version_other_than_one_is_rejected_first() {
    let (kind, at) = problem("version: 2\nname: t\nsomethingNew: true\n");
    assert_eq!(kind, ProblemKind::UnsupportedVersion { found: "2".into() });
    assert_eq!(at, "2");
    let env = HashMap::from([("V".to_owned(), "3".to_owned())]);
    let e = load_str("t.yaml", "version: ${V}\nname: t\n", &env).unwrap_err();
    assert_eq!(
        e.problems()[0].kind,
        ProblemKind::UnsupportedVersion { found: "3".into() }
    );
}

// ---------------------------------------------------------------------------------------------
// Validation rules

#[test]
fn manifest_name_and_subscription_rules() {
    let src = "version: 1\nname: Team Alpha\nsubscription: 1234\n";
    let ps = problems(src);
    assert_eq!(ps.len(), 2);
    assert!(matches!(
        ps[0].0,
        ProblemKind::InvalidName {
            what: Named::Manifest,
            ..
        }
    ));
    assert_eq!(ps[0].1, "Team Alpha");
    assert_eq!(
        ps[1].0,
        ProblemKind::InvalidGuid {
            field: "subscription",
            value: "1234".into()
        }
    );
}

#[test]
fn resource_group_and_account_names() {
    let src = format!(
        "{HEADER}resourceGroups: [ {{ name: \"rg bad\" }}, {{ name: rg-a }}, {{ name: RG-A }} ]\naccounts:\n  - {{ name: -oai, resourceGroup: rg-a, customSubdomain: x-contoso }}\n"
    );
    let ps = problems(&src);
    let kinds: Vec<_> = ps.iter().map(|(k, at)| (k.clone(), at.as_str())).collect();
    assert!(matches!(
        kinds[0],
        (
            ProblemKind::InvalidName {
                what: Named::ResourceGroup,
                ..
            },
            "\"rg bad\""
        )
    ));
    assert!(matches!(
        kinds[1],
        (
            ProblemKind::DuplicateName {
                what: Named::ResourceGroup,
                ..
            },
            "RG-A"
        )
    ));
    assert!(matches!(
        kinds[2],
        (
            ProblemKind::InvalidName {
                what: Named::Account,
                ..
            },
            "-oai"
        )
    ));
    assert_eq!(kinds.len(), 3);
}

#[test]
fn duplicate_accounts_and_deployments() {
    let src = format!(
        "{HEADER}resourceGroups: [ {{ name: rg-a }} ]
accounts:
  - name: oai-a
    resourceGroup: rg-a
    customSubdomain: a-one
    deployments:
      - {{ name: chat, model: {{ name: m, version: \"1\" }}, sku: {{ name: Standard, capacity: 1 }} }}
      - {{ name: Chat, model: {{ name: m, version: \"1\" }}, sku: {{ name: Standard, capacity: 1 }} }}
  - name: oai-a
    resourceGroup: rg-a
    customSubdomain: a-two
"
    );
    let ps = problems(&src);
    assert_eq!(
        ps.iter()
            .map(|(k, at)| (k.clone(), at.as_str()))
            .collect::<Vec<_>>(),
        [
            (
                ProblemKind::DuplicateName {
                    what: Named::Deployment,
                    name: "Chat".into()
                },
                "Chat"
            ),
            (
                ProblemKind::DuplicateName {
                    what: Named::Account,
                    name: "oai-a".into()
                },
                "oai-a"
            ),
        ]
    );
}

#[test]
fn dangling_resource_group_reference_suggests_a_declared_one() {
    let src = format!("{HEADER}resourceGroups: [ {{ name: rg-team-alpha }} ]\naccounts:\n  - {{ name: oai-a, resourceGroup: rg-team-alfa, customSubdomain: a-contoso }}\nverify: {{ enabled: false }}\n");
    assert_unknown_reference(
        &src,
        RefTarget::ResourceGroup,
        "rg-team-alfa",
        "rg-team-alpha",
    );
}

#[test]
fn subdomain_rules_point_at_the_offending_character() {
    let sub = |s: &str| {
        with("").replace(
            "customSubdomain: a-contoso",
            &format!("customSubdomain: {s}"),
        )
    };
    // The rule broken, and the text under the label.
    let broken = |s: &str| match problem(&sub(s)) {
        (ProblemKind::InvalidSubdomain { rule, .. }, at) => (rule, at),
        other => panic!("{other:?}"),
    };
    assert_eq!(broken("team_alpha"), (SubdomainRule::Character, "_".into()));
    assert_eq!(broken("-team"), (SubdomainRule::LeadingHyphen, "-".into()));
    assert_eq!(broken("team-").0, SubdomainRule::TrailingHyphen);
    let long = "a".repeat(65);
    assert_eq!(broken(&long), (SubdomainRule::Length, long.clone()));
    ok(&sub(&"a".repeat(64)));
}

#[test]
fn subdomains_must_be_unique_across_accounts() {
    let src = format!("{HEADER}resourceGroups: [ {{ name: rg-a }} ]\naccounts:\n  - {{ name: oai-a, resourceGroup: rg-a, customSubdomain: shared }}\n  - {{ name: oai-b, resourceGroup: rg-a, customSubdomain: SHARED }}\n");
    let (kind, at) = problem(&src);
    assert_eq!(at, "SHARED");
    assert_eq!(
        kind,
        ProblemKind::DuplicateSubdomain {
            subdomain: "SHARED".into(),
            first_account: "oai-a".into()
        }
    );
}

#[test]
fn deployment_rules() {
    let src = with("")
        .replace("capacity: 10", "capacity: 0")
        .replace("name: gpt-4o-mini", "name: \"\"");
    let kinds: Vec<ProblemKind> = problems(&src).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        kinds,
        [
            ProblemKind::EmptyValue {
                field: "model.name"
            },
            ProblemKind::InvalidCapacity
        ]
    );
}

#[test]
fn tag_rules() {
    let src = format!("{HEADER}tags: {{ keyless-manifest: x, \"a/b\": y }}\n");
    let ps = problems(&src);
    assert_eq!(ps.len(), 2);
    assert_eq!(
        ps[0],
        (
            ProblemKind::ReservedTag {
                key: "keyless-manifest".into()
            },
            "keyless-manifest".into()
        )
    );
    assert!(matches!(ps[1].0, ProblemKind::InvalidTag { .. }));
    assert_eq!(ps[1].1, "\"a/b\"");
}

#[test]
fn managed_identities_must_be_unique() {
    let src = format!("{HEADER}managedIdentities:\n  - {{ vm: a, resourceGroup: rg }}\n  - {{ vm: A, resourceGroup: RG }}\n");
    let (kind, at) = problem(&src);
    assert_eq!(at, "A");
    assert!(matches!(
        kind,
        ProblemKind::DuplicateName {
            what: Named::ManagedIdentity,
            ..
        }
    ));
}

#[test]
fn role_rules() {
    let (kind, at) = problem(&role_on_a("Contributer"));
    assert_eq!(at, "Contributer");
    assert_eq!(did_you_mean(&kind), Some("Contributor"));
    let (kind, _) = problem(&role_on_a(
        "/providers/Microsoft.Authorization/roleDefinitions/not-a-guid",
    ));
    assert!(matches!(kind, ProblemKind::InvalidRoleId { .. }));
    // A custom role name far from every built-in is accepted (resolved online later).
    let m = ok(&role_on_a("Team Alpha Caller")).manifest;
    assert_eq!(
        m.role_assignments[0].role_ref(),
        Ok(RoleRef::Name("Team Alpha Caller".into()))
    );
}

#[test]
fn roles_without_data_actions_warn() {
    let loaded = ok(&role_on_a("Owner"));
    assert_eq!(loaded.warnings.len(), 1);
    let w = &loaded.warnings[0];
    assert_eq!(
        w.kind,
        WarningKind::NoDataActions {
            role: "Owner".into()
        }
    );
    assert_eq!(&loaded.source[w.span.start..w.span.end], "Owner");
    assert!(render(w).contains("Cognitive Services OpenAI User"));
    let loaded = ok(&role_on_a("Cognitive Services User"));
    assert!(loaded.warnings.is_empty());
}

#[test]
fn scope_references_must_resolve() {
    let src = reader_at("{ resourceGroup: rg-b }");
    assert_unknown_reference(&src, RefTarget::ResourceGroup, "rg-b", "rg-a");
    let src = reader_at("{ account: oai-b }");
    assert_unknown_reference(&src, RefTarget::Account, "oai-b", "oai-a");
    let (kind, at) = problem(&reader_at("{ account: a, resourceGroup: b }"));
    assert_eq!(at, "scope");
    assert!(matches!(kind, ProblemKind::NotSingleKey { count: 2, .. }));
    let (kind, _) = problem(&reader_at("account"));
    assert!(matches!(kind, ProblemKind::WrongType { .. }), "{kind:?}");
}

#[test]
fn principal_rules() {
    let ps = problems(&reader_for(
        "      - user: alice\n      - servicePrincipal: my-app\n      - group: \"\"\n      - me\n",
    ));
    // Typed parsing stops at the first shape error (`me`), so check shapes separately.
    assert_eq!(ps.len(), 1);
    assert!(matches!(ps[0].0, ProblemKind::InvalidValue { .. }));
    assert_eq!(ps[0].1, "me");

    let ps = problems(&reader_for(
        "      - user: alice\n      - servicePrincipal: my-app\n      - group: \"\"\n",
    ));
    let kinds: Vec<(&'static str, &str)> = ps
        .iter()
        .map(|(k, at)| match k {
            ProblemKind::InvalidPrincipal { kind, .. } => (*kind, at.as_str()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("user", "alice"),
            ("servicePrincipal", "my-app"),
            ("group", "\"\"")
        ]
    );

    let (kind, _) = problem(&reader_for("      - { user: a@b.c, group: g }\n"));
    assert!(
        matches!(kind, ProblemKind::Invalid { ref message } if message.contains("exactly one"))
    );
    let (_, at) = problem(&reader_for("      - []\n      - self\n"));
    assert_eq!(at, "[]");
    let (kind, _) = problem(&reader_for("      []\n"));
    assert_eq!(
        kind,
        ProblemKind::EmptyList {
            field: "principals"
        }
    );
}

#[test]
fn vm_principals_must_name_a_managed_identity() {
    let mis = "managedIdentities:\n  - { vm: runner, resourceGroup: rg-east }\n  - { vm: runner, resourceGroup: rg-west }\n  - { vm: builder, resourceGroup: rg-east }\n";
    let src = |p: &str| format!("{}{mis}", reader_for(p));
    let (kind, at) = problem(&src("      - vm: biulder\n"));
    assert_eq!(at, "biulder");
    assert_eq!(did_you_mean(&kind), Some("builder"));
    let (kind, at) = problem(&src("      - vm: runner\n"));
    assert_eq!(at, "runner");
    assert_eq!(
        kind,
        ProblemKind::AmbiguousVm {
            name: "runner".into(),
            resource_groups: vec!["rg-east".into(), "rg-west".into()]
        }
    );
    let (kind, _) = problem(&src("      - { vm: runner, resourceGroup: rg-wset }\n"));
    assert_eq!(did_you_mean(&kind), Some("rg-west"));
    let m = ok(&src(
        "      - { vm: runner, resourceGroup: rg-west }\n      - vm: builder\n",
    ))
    .manifest;
    assert_eq!(
        m.role_assignments[0].principals[1],
        PrincipalRef::Vm {
            name: "builder".into(),
            resource_group: Some("rg-east".into())
        }
    );
}

#[test]
fn duplicate_role_assignments_compare_resolved_roles_and_principals() {
    let src = format!(
        "{}  - role: 5e0bd9bd-7b93-4f28-af87-19fc36ad61bd\n    scope: {{ account: OAI-A }}\n    principals: [ {{ user: ALICE@contoso.com }} ]\n",
        assignment(
            "Cognitive Services OpenAI User",
            "{ account: oai-a }",
            "      - user: alice@contoso.com\n      - self\n      - self\n"
        )
    );
    let e = err(&src);
    let ps = e.problems();
    assert_eq!(ps.len(), 2);
    assert!(ps
        .iter()
        .all(|p| matches!(p.kind, ProblemKind::DuplicateRoleAssignment { .. })));
    assert_eq!(&src[ps[0].span.start..ps[0].span.end], "self");
    assert_eq!(
        &src[ps[1].span.start..ps[1].span.end],
        "{ user: ALICE@contoso.com }"
    );
    assert_eq!(
        ps[1].label_spans().len(),
        2,
        "points at the first assignment too"
    );
    // Same principal under a different role or scope is fine.
    ok(&role_on_a("Cognitive Services OpenAI User"));
}

#[test]
fn verify_rules() {
    let src = with("verify:\n  deployment: caht\n");
    assert_unknown_reference(&src, RefTarget::Deployment, "caht", "chat");
    let (kind, _) = problem(&with("verify:\n  apiVersion: latest\n"));
    assert!(matches!(kind, ProblemKind::InvalidApiVersion { .. }));
    let loaded = ok(HEADER);
    assert_eq!(
        loaded
            .warnings
            .iter()
            .map(|w| w.kind.clone())
            .collect::<Vec<_>>(),
        [WarningKind::NothingToVerify]
    );
    assert!(ok(&format!("{HEADER}verify: {{ enabled: false }}\n"))
        .warnings
        .is_empty());
}

#[test]
fn verify_targets_follow_the_verify_deployment() {
    let src = format!(
        "{HEADER}resourceGroups: [ {{ name: rg-a }} ]
accounts:
  - name: one
    resourceGroup: rg-a
    customSubdomain: one-contoso
    deployments:
      - {{ name: chat, model: {{ name: m, version: \"1\" }}, sku: {{ name: Standard, capacity: 1 }} }}
      - {{ name: mini, model: {{ name: m, version: \"1\" }}, sku: {{ name: Standard, capacity: 1 }} }}
  - name: two
    resourceGroup: rg-a
    customSubdomain: two-contoso
    deployments:
      - {{ name: mini, model: {{ name: m, version: \"1\" }}, sku: {{ name: Standard, capacity: 1 }} }}
  - name: three
    resourceGroup: rg-a
    customSubdomain: three-contoso
"
    );
    let targets = |m: &Manifest| -> Vec<(String, String)> {
        m.verify_targets()
            .iter()
            .map(|t| (t.account.name.clone(), t.deployment.name.clone()))
            .collect()
    };
    let m = ok(&src).manifest;
    assert_eq!(
        targets(&m),
        [("one".into(), "chat".into()), ("two".into(), "mini".into())]
    );
    let m = ok(&format!("{src}verify: {{ deployment: mini }}\n")).manifest;
    assert_eq!(
        targets(&m),
        [("one".into(), "mini".into()), ("two".into(), "mini".into())]
    );
    let m = ok(&format!("{src}verify: {{ enabled: false }}\n")).manifest;
    assert!(targets(&m).is_empty());
}

#[test]
fn every_semantic_problem_is_reported_in_file_order() {
    let src = "version: 1
name: Bad_Name
subscription: nope
resourceGroups: [ { name: rg-a } ]
accounts:
  - name: oai-a
    resourceGroup: rg-b
    customSubdomain: x_y
roleAssignments:
  - role: Readr
    scope: { account: oai-z }
    principals: [ { vm: ghost } ]
";
    let kinds: Vec<String> = err(src)
        .problems()
        .iter()
        .map(|p| {
            format!("{:?}", p.kind)
                .split([' ', '{'])
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "InvalidName",
            "InvalidGuid",
            "MissingLocation",
            "UnknownReference",
            "InvalidSubdomain",
            "RoleTypo",
            "UnknownReference",
            "UnknownReference",
        ]
    );
    let e = err(src);
    let starts: Vec<usize> = e.problems().iter().map(|p| p.span.start).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]));
    assert!(e.to_string().contains("(8 problems)"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Files, directories, spans

fn write(dir: &std::path::Path, name: &str, manifest_name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!("version: 1\nname: {manifest_name}\nsubscription: 00000000-0000-0000-0000-000000000001\nverify: {{ enabled: false }}\n"),
    )
    .unwrap();
    p
}

#[test]
fn directories_load_sorted_yaml_files_non_recursively() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "b.yaml", "bravo");
    write(dir.path(), "a.yml", "alpha");
    write(dir.path(), "c.txt", "ignored");
    // emulator world files beside the manifests are not manifests
    std::fs::write(dir.path().join("world.yaml"), "tenant: { id: x }\n").unwrap();
    std::fs::write(dir.path().join("quick.world.yml"), "tenant: { id: x }\n").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    write(&dir.path().join("sub"), "d.yaml", "nested");
    let loaded = load(&[dir.path().to_path_buf()], &test_env()).unwrap();
    let names: Vec<&str> = loaded
        .manifests
        .iter()
        .map(|m| m.manifest.name.as_str())
        .collect();
    assert_eq!(names, ["alpha", "bravo"]);
    assert_eq!(loaded.manifests[0].path, dir.path().join("a.yml"));
}

#[test]
fn several_files_are_several_manifests_with_unique_names() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.yaml", "same");
    let b = write(dir.path(), "b.yaml", "same");
    let c = write(dir.path(), "c.yaml", "other");
    let loaded = load(&[a.clone(), c.clone()], &test_env()).unwrap();
    assert_eq!(loaded.manifests.len(), 2);
    // The same file twice is loaded once.
    assert_eq!(
        load(&[a.clone(), a.clone()], &test_env())
            .unwrap()
            .manifests
            .len(),
        1
    );

    let e = load(&[a.clone(), b.clone(), c], &test_env()).unwrap_err();
    let ps = e.problems();
    assert_eq!(ps.len(), 1);
    assert_eq!(
        ps[0].kind,
        ProblemKind::DuplicateManifestName {
            name: "same".into(),
            other: a.display().to_string()
        }
    );
    assert_eq!(ps[0].file(), b.display().to_string());
}

#[test]
fn problems_of_all_files_are_collected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "version: 1\nname: a\nsubscription: x\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.yaml"),
        "version: 1\nname: B\nsubscription: 00000000-0000-0000-0000-000000000001\n",
    )
    .unwrap();
    let e = load(&[dir.path().to_path_buf()], &test_env()).unwrap_err();
    let files: Vec<String> = e.problems().iter().map(|p| p.file().to_owned()).collect();
    assert_eq!(files.len(), 2);
    assert!(files[0].ends_with("a.yaml") && files[1].ends_with("b.yaml"));
    assert!(e.to_string().starts_with("2 manifests are invalid"), "{e}");
}

#[test]
fn io_level_errors() {
    assert!(matches!(
        load(&[], &test_env()),
        Err(ManifestError::NoInput)
    ));
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        load(&[dir.path().to_path_buf()], &test_env()),
        Err(ManifestError::EmptyDirectory { .. })
    ));
    assert!(matches!(
        load(&[dir.path().join("missing.yaml")], &test_env()),
        Err(ManifestError::Read { .. })
    ));
}

#[test]
fn spans_stay_available_for_later_diagnostics() {
    let src = with("");
    let loaded = ok(&src);
    let span = loaded.span_of("accounts[0].customSubdomain").unwrap();
    assert_eq!(&src[span.offset()..span.offset() + span.len()], "a-contoso");
    let path = loaded.account_path("OAI-A").unwrap();
    let span = loaded
        .span_of(&format!("{path}.deployments[0].sku.capacity"))
        .unwrap();
    assert_eq!(&src[span.offset()..span.offset() + span.len()], "10");
    assert_eq!(
        loaded.span_of("accounts[0].kind"),
        None,
        "defaulted: not in the file"
    );
    assert_eq!(loaded.named_source().name(), "t.yaml");
}

#[test]
fn emulator_world_is_relative_to_the_manifest() {
    let src =
        format!("{HEADER}emulator: {{ world: ../worlds/w.yaml }}\nverify: {{ enabled: false }}\n");
    let loaded = load_str("manifests/team.yaml", &src, &test_env()).unwrap();
    assert_eq!(
        loaded.emulator_world_path(),
        Some(PathBuf::from("manifests/../worlds/w.yaml"))
    );
}

#[test]
fn ownership_helpers() {
    let m = ok(HEADER).manifest;
    assert_eq!(m.ownership_marker(), "keyless:manifest=team-alpha");
    assert_eq!(
        m.ownership_tag(),
        ("keyless-manifest", "team-alpha".to_owned())
    );
    let tags = m.desired_tags(&Tags::from([("a".to_owned(), "b".to_owned())]));
    assert_eq!(tags.len(), 2);
    assert_eq!(tags[OWNERSHIP_TAG_KEY], "team-alpha");
    assert_eq!(
        parse_ownership_marker(&format!("[{}]", m.ownership_marker())),
        Some("team-alpha")
    );
}

// ---------------------------------------------------------------------------------------------
// Model round trips

#[test]
fn serialized_manifests_load_back_identically() {
    for file in [
        "full.yaml",
        "multi-account.yaml",
        "owner-warning.yaml",
        "minimal.yaml",
    ] {
        let path = PathBuf::from("tests/manifests/good").join(file);
        let loaded = load(&[path], &test_env()).unwrap_or_else(|e| panic!("{}", render(&e)));
        let m = &loaded.manifests[0].manifest;
        let yaml = serde_yaml::to_string(m).unwrap();
        let back = load_str("roundtrip.yaml", &yaml, &test_env())
            .unwrap_or_else(|e| panic!("{file}:\n{yaml}\n{}", render(&e)));
        assert_eq!(&back.manifest, m, "{file}");
    }
}

#[test]
fn every_principal_form_in_the_schema_is_accepted() {
    let forms = "      - self\n      - user: alice@contoso.com\n      - group: devs\n      - servicePrincipal: 00000000-0000-0000-0000-000000000009\n      - vm: agent\n";
    let src = format!(
        "{}managedIdentities: [ {{ vm: agent, resourceGroup: rg-ci }} ]\n",
        reader_for(forms)
    );
    let ps = &ok(&src).manifest.role_assignments[0].principals;
    assert_eq!(ps.len(), 5);
    let schema = json_schema();
    let any_of = schema["definitions"]["PrincipalRef"]["anyOf"]
        .as_array()
        .unwrap();
    let keys: Vec<String> = any_of
        .iter()
        .filter_map(|f| f["required"].as_array())
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, ["user", "group", "servicePrincipal", "vm"]);
    for p in ps.iter().skip(1) {
        assert!(keys.contains(&p.kind_name().to_owned()));
    }
    // The map form with a resource group is accepted too (separately: it duplicates `vm: agent`).
    let src = format!(
        "{}managedIdentities: [ {{ vm: agent, resourceGroup: rg-ci }} ]\n",
        reader_for("      - { vm: agent, resourceGroup: rg-ci }\n")
    );
    ok(&src);
}
