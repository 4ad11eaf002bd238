//! Table-driven tests of the planner's decisions, and the convergence property: applying a plan
//! (simulated as Azure would) and planning again yields no actions.

use super::*;
use crate::model::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

const SUB: &str = "00000000-0000-0000-0000-000000000001";
const OPENAI_USER: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.Authorization/roleDefinitions/5e0bd9bd-7b93-4f28-af87-19fc36ad61bd";

fn tags(m: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(OWNER_TAG.to_string(), m.to_string())])
}

fn account(name: &str, sub: &str) -> AccountSpec {
    AccountSpec {
        name: name.into(),
        resource_group: "rg".into(),
        location: "eastus".into(),
        kind: "OpenAI".into(),
        sku: "S0".into(),
        custom_subdomain: sub.into(),
        disable_local_auth: true,
        public_network_access: "Enabled".into(),
        on_soft_deleted: OnSoftDeleted::Fail,
        tags: tags("m"),
        deployments: vec![DeploymentSpec {
            name: "chat".into(),
            model_name: "gpt-4o-mini".into(),
            model_version: "2024-07-18".into(),
            model_format: "OpenAI".into(),
            sku_name: "GlobalStandard".into(),
            capacity: 10,
        }],
    }
}

fn user(id: &str) -> PrincipalTarget {
    PrincipalTarget::Known {
        id: id.into(),
        principal_type: PrincipalType::User,
        display: format!("user:{id}"),
        is_self: false,
    }
}

fn desired() -> Desired {
    let acc = account("oai", "oai-sub");
    Desired {
        manifest: "m".into(),
        subscription: SUB.into(),
        resource_groups: vec![RgSpec {
            name: "rg".into(),
            location: "eastus".into(),
            tags: tags("m"),
        }],
        assignments: vec![
            AssignmentSpec {
                scope: acc.id(SUB),
                role_definition_id: OPENAI_USER.into(),
                role_name: "Cognitive Services OpenAI User".into(),
                principal: user("u1"),
                description: None,
            },
            AssignmentSpec {
                scope: acc.id(SUB),
                role_definition_id: OPENAI_USER.into(),
                role_name: "Cognitive Services OpenAI User".into(),
                principal: PrincipalTarget::VmIdentity {
                    vm: VmRef {
                        resource_group: "rg-ci".into(),
                        name: "vm1".into(),
                    },
                },
                description: None,
            },
        ],
        accounts: vec![acc],
        vm_identities: vec![VmRef {
            resource_group: "rg-ci".into(),
            name: "vm1".into(),
        }],
        prune: false,
    }
}

fn empty_world() -> Observed {
    let mut o = Observed::default();
    o.vms.insert(
        "rg-ci/vm1".into(),
        Some(ObservedVm {
            os: "Linux".into(),
            location: "eastus".into(),
            system_principal_id: None,
            user_assigned: vec!["/uami/ci".into()],
        }),
    );
    o
}

/// Applies a plan the way Azure would, to check convergence without a server.
fn simulate(desired: &Desired, observed: &Observed, plan: &Plan) -> Observed {
    let mut o = observed.clone();
    let mut vm_ids: BTreeMap<String, String> = BTreeMap::new();
    for a in &plan.actions {
        match &a.kind {
            ActionKind::CreateResourceGroup { spec } | ActionKind::UpdateResourceGroup { spec } => {
                let entry = o
                    .resource_groups
                    .entry(spec.name.to_ascii_lowercase())
                    .or_insert(None);
                let mut rg = entry.clone().unwrap_or(ObservedRg {
                    location: spec.location.clone(),
                    tags: BTreeMap::new(),
                });
                rg.tags.extend(spec.tags.clone());
                *entry = Some(rg);
            }
            ActionKind::CreateAccount { spec }
            | ActionKind::UpdateAccount { spec }
            | ActionKind::RestoreAccount { spec, .. } => {
                let k = key(&spec.resource_group, &spec.name);
                let deployments = match o.accounts.get(&k) {
                    Some(ObservedAccount::Live(l)) => l.deployments.clone(),
                    _ => BTreeMap::new(),
                };
                let mut t = match o.accounts.get(&k) {
                    Some(ObservedAccount::Live(l)) => l.tags.clone(),
                    _ => BTreeMap::new(),
                };
                t.extend(spec.tags.clone());
                o.accounts.insert(
                    k,
                    ObservedAccount::Live(LiveAccount {
                        kind: spec.kind.clone(),
                        sku: spec.sku.clone(),
                        location: spec.location.clone(),
                        custom_subdomain: Some(spec.custom_subdomain.clone()),
                        disable_local_auth: spec.disable_local_auth,
                        public_network_access: Some(spec.public_network_access.clone()),
                        endpoint: Some(format!(
                            "https://{}.openai.azure.com/",
                            spec.custom_subdomain
                        )),
                        provisioning_state: "Succeeded".into(),
                        tags: t,
                        deployments,
                    }),
                );
            }
            ActionKind::PurgeAccount {
                resource_group,
                name,
                ..
            } => {
                o.accounts.insert(
                    key(resource_group, name),
                    ObservedAccount::Missing {
                        subdomain_available: true,
                        reason: None,
                    },
                );
            }
            ActionKind::PutDeployment {
                resource_group,
                account,
                spec,
            } => {
                if let Some(ObservedAccount::Live(l)) =
                    o.accounts.get_mut(&key(resource_group, account))
                {
                    l.deployments
                        .insert(spec.name.to_ascii_lowercase(), spec.clone());
                }
            }
            ActionKind::EnableVmIdentity { vm, .. } => {
                let id = format!("sp-{}", vm.name);
                if let Some(Some(v)) = o.vms.get_mut(&vm.key()) {
                    v.system_principal_id = Some(id.clone());
                }
                vm_ids.insert(vm.key(), id);
            }
            ActionKind::CreateRoleAssignment { spec, .. } => {
                let pid = match &spec.principal {
                    PrincipalTarget::Known { id, .. } => id.clone(),
                    PrincipalTarget::VmIdentity { vm } => vm_ids
                        .get(&vm.key())
                        .cloned()
                        .or_else(|| match o.vms.get(&vm.key()) {
                            Some(Some(v)) => v.system_principal_id.clone(),
                            _ => None,
                        })
                        .expect("vm identity enabled before its assignment"),
                };
                let name = assignment_name(&spec.scope, &spec.role_definition_id, &pid);
                let description = Some(format!(
                    "{} {}",
                    spec.description.clone().unwrap_or_default(),
                    assignment_marker(&desired.manifest)
                ));
                o.assignments
                    .entry(spec.scope.to_ascii_lowercase())
                    .or_default()
                    .push(ObservedAssignment {
                        id: format!(
                            "{}/providers/Microsoft.Authorization/roleAssignments/{name}",
                            spec.scope
                        ),
                        name,
                        scope: spec.scope.clone(),
                        role_definition_id: spec.role_definition_id.clone(),
                        principal_id: pid,
                        principal_type: None,
                        description,
                    });
            }
            ActionKind::DeleteRoleAssignment { assignment } => {
                if let Some(list) = o
                    .assignments
                    .get_mut(&assignment.scope.to_ascii_lowercase())
                {
                    list.retain(|x| x.id != assignment.id);
                }
            }
        }
    }
    o
}

#[test]
fn fresh_world_creates_everything_in_dependency_order() {
    let d = desired();
    let p = plan(&d, &empty_world());
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let kinds: Vec<&str> = p.actions.iter().map(|a| a.kind.symbol()).collect();
    assert_eq!(kinds, ["+", "+", "+", "~", "+", "+"]);
    // every dependency points backwards (a valid topological order)
    for a in &p.actions {
        assert!(a.depends_on.iter().all(|d| *d < a.id), "{a:?}");
    }
    // the VM's assignment waits for its identity and the account
    let vm_assign = p.actions.iter().find(|a| matches!(&a.kind, ActionKind::CreateRoleAssignment { spec, .. } if matches!(spec.principal, PrincipalTarget::VmIdentity{..}))).unwrap();
    assert_eq!(vm_assign.depends_on.len(), 2);
    // the identity PATCH keeps the user-assigned identity
    assert!(p.actions.iter().any(|a| matches!(&a.kind, ActionKind::EnableVmIdentity { keep_user_assigned, .. } if keep_user_assigned == &vec!["/uami/ci".to_string()])));
}

#[test]
fn second_plan_after_apply_is_empty() {
    let d = desired();
    let o = empty_world();
    let p = plan(&d, &o);
    let after = simulate(&d, &o, &p);
    let p2 = plan(&d, &after);
    assert!(p2.actions.is_empty(), "{:#?}", p2.actions);
    assert_eq!(p2.unchanged, 6);
}

#[test]
fn hand_made_duplicate_is_adopted_not_recreated() {
    let d = desired();
    let o = simulate(&d, &empty_world(), &plan(&d, &empty_world()));
    let mut o2 = o.clone();
    // replace keyless's assignment for u1 with one made by hand under a random name
    let scope = d.accounts[0].id(SUB).to_ascii_lowercase();
    let list = o2.assignments.get_mut(&scope).unwrap();
    for a in list.iter_mut() {
        if a.principal_id == "u1" {
            a.name = "11111111-1111-1111-1111-111111111111".into();
            a.description = None;
        }
    }
    assert!(plan(&d, &o2).actions.is_empty());
}

#[test]
fn deleted_assignment_is_recreated() {
    let d = desired();
    let mut o = simulate(&d, &empty_world(), &plan(&d, &empty_world()));
    let scope = d.accounts[0].id(SUB).to_ascii_lowercase();
    o.assignments
        .get_mut(&scope)
        .unwrap()
        .retain(|a| a.principal_id != "u1");
    let p = plan(&d, &o);
    assert_eq!(p.actions.len(), 1);
    match &p.actions[0].kind {
        ActionKind::CreateRoleAssignment { name, .. } => {
            assert_eq!(
                name.as_deref(),
                Some(assignment_name(&d.accounts[0].id(SUB), OPENAI_USER, "u1").as_str())
            )
        }
        k => panic!("{k:?}"),
    }
}

#[test]
fn prune_deletes_only_owned_assignments() {
    let mut d = desired();
    let o = simulate(&d, &empty_world(), &plan(&d, &empty_world()));
    let mut o2 = o.clone();
    let scope = d.accounts[0].id(SUB).to_ascii_lowercase();
    // an unowned assignment at the same scope, and one owned by another manifest
    o2.assignments
        .get_mut(&scope)
        .unwrap()
        .push(ObservedAssignment {
            id: "x/unowned".into(),
            name: "n1".into(),
            scope: scope.clone(),
            role_definition_id: OPENAI_USER.into(),
            principal_id: "stranger".into(),
            principal_type: None,
            description: Some("made by hand".into()),
        });
    o2.assignments
        .get_mut(&scope)
        .unwrap()
        .push(ObservedAssignment {
            id: "x/other-manifest".into(),
            name: "n2".into(),
            scope: scope.clone(),
            role_definition_id: OPENAI_USER.into(),
            principal_id: "other".into(),
            principal_type: None,
            description: Some(assignment_marker("other")),
        });
    // a manifest whose name merely starts with ours does not make its assignments ours
    o2.assignments
        .get_mut(&scope)
        .unwrap()
        .push(ObservedAssignment {
            id: "x/prefix-manifest".into(),
            name: "n3".into(),
            scope: scope.clone(),
            role_definition_id: OPENAI_USER.into(),
            principal_id: "prefixed".into(),
            principal_type: None,
            description: Some(assignment_marker("m-2")),
        });
    // drop u1 from the manifest: its owned assignment is now surplus
    d.assignments.retain(|a| a.principal.id() != Some("u1"));
    d.prune = false;
    assert!(
        plan(&d, &o2).actions.is_empty(),
        "prune off deletes nothing"
    );
    d.prune = true;
    let p = plan(&d, &o2);
    assert_eq!(p.actions.len(), 1, "{:#?}", p.actions);
    match &p.actions[0].kind {
        ActionKind::DeleteRoleAssignment { assignment } => {
            assert_eq!(assignment.principal_id, "u1")
        }
        k => panic!("{k:?}"),
    }
}

#[test]
fn changed_subdomain_is_an_error_never_a_replacement() {
    let d = desired();
    let mut o = simulate(&d, &empty_world(), &plan(&d, &empty_world()));
    if let Some(ObservedAccount::Live(l)) = o.accounts.get_mut("rg/oai") {
        l.custom_subdomain = Some("old-name".into());
    }
    let p = plan(&d, &o);
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].code, "immutable-subdomain");
    assert!(!p.actions.iter().any(|a| a.kind.is_destructive()));
    assert!(!p.actions.iter().any(|a| matches!(
        a.kind,
        ActionKind::CreateAccount { .. } | ActionKind::UpdateAccount { .. }
    )));
}

#[test]
fn soft_deleted_account_follows_the_manifest() {
    // (policy, action symbols, errors, (add, change, destroy) as every summary counts them)
    let cases = [
        (OnSoftDeleted::Fail, vec![], 1, (0, 0, 0)),
        (OnSoftDeleted::Restore, vec!["<"], 0, (1, 0, 0)),
        (OnSoftDeleted::Purge, vec!["-", "+"], 0, (1, 0, 1)),
    ];
    for (policy, symbols, errors, counts) in cases {
        let mut d = desired();
        d.accounts[0].on_soft_deleted = policy;
        d.accounts[0].deployments.clear();
        d.assignments.clear();
        d.vm_identities.clear();
        let mut o = Observed::default();
        o.resource_groups.insert(
            "rg".into(),
            Some(ObservedRg {
                location: "eastus".into(),
                tags: tags("m"),
            }),
        );
        o.accounts.insert(
            "rg/oai".into(),
            ObservedAccount::SoftDeleted {
                location: "eastus".into(),
            },
        );
        let p = plan(&d, &o);
        let got: Vec<&str> = p.actions.iter().map(|a| a.kind.symbol()).collect();
        assert_eq!(got, symbols, "{policy:?}");
        assert_eq!(p.errors.len(), errors, "{policy:?}");
        assert_eq!(p.counts(), counts, "{policy:?}");
        let (add, change, destroy) = counts;
        let summary = format!("{add} to add, {change} to change, {destroy} to destroy");
        if !p.actions.is_empty() {
            assert!(render_human(&p, RenderOptions { color: false }).contains(&summary));
        }
    }
}

#[test]
fn taken_subdomain_is_reported_before_anything_is_created() {
    let mut d = desired();
    d.assignments.clear();
    let mut o = empty_world();
    o.accounts.insert(
        "rg/oai".into(),
        ObservedAccount::Missing {
            subdomain_available: false,
            reason: Some("taken".into()),
        },
    );
    let p = plan(&d, &o);
    assert_eq!(p.errors[0].code, "subdomain-taken");
}

#[test]
fn drift_in_account_properties_is_an_update_with_a_diff() {
    let d = desired();
    let mut o = simulate(&d, &empty_world(), &plan(&d, &empty_world()));
    if let Some(ObservedAccount::Live(l)) = o.accounts.get_mut("rg/oai") {
        l.disable_local_auth = false;
    }
    let p = plan(&d, &o);
    assert_eq!(p.actions.len(), 1);
    assert_eq!(
        p.actions[0].changes,
        vec![FieldChange {
            field: "properties.disableLocalAuth".into(),
            from: Some("false".into()),
            to: Some("true".into())
        }]
    );
}

#[test]
fn missing_vm_is_a_plan_error() {
    let d = desired();
    let mut o = empty_world();
    o.vms.insert("rg-ci/vm1".into(), None);
    let p = plan(&d, &o);
    assert!(p.errors.iter().any(|e| e.code == "vm-not-found"));
}

#[test]
fn fingerprint_changes_with_observed_state() {
    let a = empty_world();
    let mut b = a.clone();
    b.resource_groups.insert("x".into(), None);
    assert_ne!(fingerprint(&a), fingerprint(&b));
    assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
}

#[test]
fn human_render_has_symbols_and_summary() {
    let p = plan(&desired(), &empty_world());
    let s = render_human(&p, RenderOptions { color: false });
    assert!(s.contains("+ create resource group"), "{s}");
    assert!(
        s.contains("Plan: 5 to add, 1 to change, 0 to destroy"),
        "{s}"
    );
    assert!(!s.contains('\u{1b}'), "no ANSI codes without colour");
}

// ---- property: plan → simulate → plan is empty, for generated manifests and states ----

fn arb_state() -> impl Strategy<Value = (Desired, Observed)> {
    (
        1usize..4,
        0usize..5,
        0usize..3,
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 12),
    )
        .prop_map(|(n_acc, n_users, n_vms, prune, noise)| {
            let mut d = desired();
            d.prune = prune;
            d.accounts = (0..n_acc)
                .map(|i| account(&format!("oai{i}"), &format!("sub{i}")))
                .collect();
            d.vm_identities = (0..n_vms)
                .map(|i| VmRef {
                    resource_group: "rg-ci".into(),
                    name: format!("vm{i}"),
                })
                .collect();
            d.assignments.clear();
            for (i, acc) in d.accounts.iter().enumerate() {
                for u in 0..n_users {
                    if noise[(i + u) % noise.len()] % 3 != 0 {
                        d.assignments.push(AssignmentSpec {
                            scope: acc.id(SUB),
                            role_definition_id: OPENAI_USER.into(),
                            role_name: "r".into(),
                            principal: user(&format!("u{u}")),
                            description: None,
                        });
                    }
                }
                for v in &d.vm_identities {
                    d.assignments.push(AssignmentSpec {
                        scope: acc.id(SUB),
                        role_definition_id: OPENAI_USER.into(),
                        role_name: "r".into(),
                        principal: PrincipalTarget::VmIdentity { vm: v.clone() },
                        description: None,
                    });
                }
            }
            let mut o = Observed::default();
            for (i, v) in d.vm_identities.iter().enumerate() {
                let has = noise[i] % 2 == 0;
                o.vms.insert(
                    v.key(),
                    Some(ObservedVm {
                        os: "Linux".into(),
                        location: "eastus".into(),
                        system_principal_id: has.then(|| format!("pre-{i}")),
                        user_assigned: vec![],
                    }),
                );
            }
            // some pre-existing state: the RG, and possibly an account with drift
            if noise[5] % 2 == 0 {
                o.resource_groups.insert(
                    "rg".into(),
                    Some(ObservedRg {
                        location: "eastus".into(),
                        tags: BTreeMap::new(),
                    }),
                );
            }
            if noise[6] % 2 == 0 {
                let acc = &d.accounts[0];
                o.accounts.insert(
                    key(&acc.resource_group, &acc.name),
                    ObservedAccount::Live(LiveAccount {
                        kind: "OpenAI".into(),
                        sku: "S0".into(),
                        location: "eastus".into(),
                        custom_subdomain: Some(acc.custom_subdomain.clone()),
                        disable_local_auth: noise[7] % 2 == 0,
                        public_network_access: None,
                        endpoint: None,
                        provisioning_state: "Succeeded".into(),
                        tags: BTreeMap::new(),
                        deployments: BTreeMap::new(),
                    }),
                );
            }
            // stale owned assignment (pruned only when prune is on)
            if noise[8] % 2 == 0 {
                let scope = d.accounts[0].id(SUB);
                o.assignments
                    .entry(scope.to_ascii_lowercase())
                    .or_default()
                    .push(ObservedAssignment {
                        id: "stale".into(),
                        name: "stale".into(),
                        scope,
                        role_definition_id: OPENAI_USER.into(),
                        principal_id: "gone".into(),
                        principal_type: None,
                        description: Some(assignment_marker("m")),
                    });
            }
            (d, o)
        })
}

proptest! {
    #[test]
    fn applying_a_plan_then_planning_again_yields_no_actions((d, o) in arb_state()) {
        let p = plan(&d, &o);
        prop_assert!(p.errors.is_empty(), "{:?}", p.errors);
        for a in &p.actions {
            prop_assert!(a.depends_on.iter().all(|x| *x < a.id));
        }
        let after = simulate(&d, &o, &p);
        let p2 = plan(&d, &after);
        prop_assert!(p2.actions.is_empty(), "second plan: {:#?}", p2.actions);
    }
}

#[test]
fn the_plan_carries_every_principal_apply_needs() {
    let d = desired();
    // Fresh world: the VM's assignment cannot know its principal yet and depends on the action
    // that creates it; every other assignment carries its resolved id.
    let p = plan(&d, &empty_world());
    for a in &p.actions {
        if let ActionKind::CreateRoleAssignment {
            spec, principal_id, ..
        } = &a.kind
        {
            match &spec.principal {
                PrincipalTarget::Known { id, .. } => assert_eq!(principal_id.as_ref(), Some(id)),
                PrincipalTarget::VmIdentity { .. } => {
                    assert_eq!(principal_id, &None);
                    assert!(a.depends_on.iter().any(|d| matches!(
                        p.actions[*d].kind,
                        ActionKind::EnableVmIdentity { .. }
                    )));
                }
            }
        }
    }
    assert!(p.vm_principals.is_empty());
    // Once the VM has its identity, a plan that must re-create the VM's assignment carries the
    // VM's object id itself (apply reads nothing else), and records it for verification.
    let mut o = simulate(&d, &empty_world(), &p);
    for list in o.assignments.values_mut() {
        list.retain(|a| !a.principal_id.starts_with("sp-"));
    }
    let p2 = plan(&d, &o);
    let vm_key = d.vm_identities[0].key();
    let expected = format!("sp-{}", d.vm_identities[0].name);
    assert_eq!(p2.vm_principals.get(&vm_key), Some(&expected));
    let carried: Vec<_> = p2
        .actions
        .iter()
        .filter_map(|a| match &a.kind {
            ActionKind::CreateRoleAssignment {
                spec:
                    AssignmentSpec {
                        principal: PrincipalTarget::VmIdentity { .. },
                        ..
                    },
                principal_id,
                name,
            } => Some((principal_id.clone(), name.clone(), a.depends_on.clone())),
            _ => None,
        })
        .collect();
    assert!(!carried.is_empty());
    for (pid, name, deps) in carried {
        assert_eq!(pid.as_deref(), Some(expected.as_str()));
        assert!(name.is_some());
        assert!(deps
            .iter()
            .all(|d| !matches!(p2.actions[*d].kind, ActionKind::EnableVmIdentity { .. })));
    }
}
