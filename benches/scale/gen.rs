//! Deterministic generator of the scale scenarios under `manifests/scale/`.
//!
//! `cargo bench --bench scale -- generate` (re)writes the files; every bench run first checks
//! that the committed files are exactly what this module generates, so the numbers in
//! `docs/performance.md` always describe the committed manifests.
//!
//! The estate: one tenant with 1,000 users, 50 groups and 200 Linux VMs (in four resource
//! groups of subscription A), two subscriptions (Azure caps role assignments at 4,000 per
//! subscription, so the 5,000 scenario spans both), and per scenario 4 resource groups and 10
//! Azure OpenAI accounts (one `chat` deployment each) that keyless creates.
//!
//! A scenario of N assignments uses min(N, 1,000) principals — 20 % VM identities, 5 % groups,
//! the rest users — spread over (scope, role) slots so that no (scope, role, principal) repeats.

use std::fmt::Write as _;

pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const SUB_A: &str = "5ca1e000-0000-4000-8000-000000000001";
pub const SUB_B: &str = "5ca1e000-0000-4000-8000-000000000002";
pub const CALLER_APP: &str = "02c9c9c9-94eb-4679-b028-dc2d87c68594";
pub const CALLER_OID: &str = "e915c248-63f8-4933-8907-14f4d6b78ee2";
pub const CALLER_SECRET: &str = "scale-not-a-real-secret";
pub const USERS: usize = 1000;
pub const GROUPS: usize = 50;
pub const VMS: usize = 200;
const VMS_PER_RG: usize = 50;
pub const ACCOUNTS: usize = 10;
pub const RGS: usize = 4;
/// VMs of the verification benchmark.
pub const VERIFY_VMS: usize = 50;

pub fn user_upn(i: usize) -> String {
    format!("user-{i:04}@contoso.com")
}
pub fn user_id(i: usize) -> String {
    format!("5ca1e001-0000-4000-8000-{i:012}")
}
pub fn group_name(g: usize) -> String {
    format!("scale-team-{g:02}")
}
fn group_id(g: usize) -> String {
    format!("5ca1e002-0000-4000-8000-{g:012}")
}
pub fn vm_name(i: usize) -> String {
    format!("vm-{i:03}")
}
pub fn vm_rg(i: usize) -> String {
    format!("rg-vms-{}", (i - 1) / VMS_PER_RG + 1)
}

/// A principal as the manifest names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum P {
    User(usize),
    Group(usize),
    Vm(usize),
}

impl P {
    fn yaml(&self) -> String {
        match self {
            P::User(i) => format!("user: {}", user_upn(*i)),
            P::Group(g) => format!("group: {}", group_name(*g)),
            P::Vm(i) => format!("{{ vm: {}, resourceGroup: {} }}", vm_name(*i), vm_rg(*i)),
        }
    }
}

/// One manifest of a scenario.
#[derive(Debug, Clone)]
pub struct ManifestPlan {
    pub name: String,
    pub subscription: &'static str,
    /// Account numbers (1-based) and resource-group numbers it declares.
    pub accounts: Vec<usize>,
    pub rgs: Vec<usize>,
    /// Principals, in pool order.
    pub pool: Vec<P>,
    /// Role assignments to generate.
    pub assignments: usize,
    /// Extra roles per account scope (besides Cognitive Services OpenAI User).
    pub account_roles: Vec<&'static str>,
}

/// A scenario: one or more manifests in `manifests/scale/{dir}/`.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub dir: String,
    pub assignments: usize,
    pub manifests: Vec<ManifestPlan>,
}

/// `n` principals: `vms` VMs, the groups in `groups`, the rest users from `users.0` on
/// (so two subscriptions can use disjoint ranges).
fn pool(n: usize, vms: usize, groups: (usize, usize), users: (usize, usize)) -> Vec<P> {
    let ng = groups.1 + 1 - groups.0;
    let nu = n - vms - ng;
    assert!(users.0 + nu - 1 <= users.1, "user pool exhausted");
    // Each kind spread evenly over the pool (position (j + ½) / count), so every prefix has the
    // same mix.
    let mut keyed: Vec<(u64, usize, P)> = Vec::with_capacity(n);
    let pos = |j: usize, count: usize| ((2 * j + 1) as u64 * 1_000_000) / (2 * count as u64);
    keyed.extend((0..vms).map(|j| (pos(j, vms), 0, P::Vm(j + 1))));
    keyed.extend((0..ng).map(|j| (pos(j, ng), 1, P::Group(groups.0 + j))));
    keyed.extend((0..nu).map(|j| (pos(j, nu), 2, P::User(users.0 + j))));
    keyed.sort_by_key(|(k, t, _)| (*k, *t));
    keyed.into_iter().map(|(_, _, p)| p).collect()
}

pub fn scenarios() -> Vec<Scenario> {
    let single = |n: usize| {
        let principals = n.min(1000);
        let vms = principals / 5;
        let groups = (principals / 20).max(1);
        Scenario {
            dir: n.to_string(),
            assignments: n,
            manifests: vec![ManifestPlan {
                name: format!("scale-{n}"),
                subscription: SUB_A,
                accounts: (1..=ACCOUNTS).collect(),
                rgs: (1..=RGS).collect(),
                pool: pool(principals, vms, (1, groups), (1, USERS)),
                assignments: n,
                account_roles: vec![],
            }],
        }
    };
    let mut v = vec![single(10), single(100), single(1000)];
    // 5,000: 2,500 per subscription (Azure allows 4,000), over 1,000 principals in all:
    // A = the 200 VMs, groups 1-25, users 1-375; B = groups 26-50, users 376-750.
    v.push(Scenario {
        dir: "5000".into(),
        assignments: 5000,
        manifests: vec![
            ManifestPlan {
                name: "scale-5000-a".into(),
                subscription: SUB_A,
                accounts: (1..=5).collect(),
                rgs: vec![1, 2],
                pool: pool(600, VMS, (1, 25), (1, 375)),
                assignments: 2500,
                account_roles: vec!["Cognitive Services User"],
            },
            ManifestPlan {
                name: "scale-5000-b".into(),
                subscription: SUB_B,
                accounts: (6..=10).collect(),
                rgs: vec![3, 4],
                pool: pool(400, 0, (26, 50), (376, 750)),
                assignments: 2500,
                account_roles: vec!["Cognitive Services User"],
            },
        ],
    });
    // Four teams' pipelines applying at the same time, one manifest each, all with the same
    // service principal in one subscription: they share one ARM write budget. Disjoint
    // resource groups, accounts and principals (a VM identity is enabled by team A only).
    let team = |name: &str, accounts: Vec<usize>, rg: usize, pool: Vec<P>| ManifestPlan {
        name: format!("team-{name}"),
        subscription: SUB_A,
        accounts,
        rgs: vec![rg],
        pool,
        assignments: 250,
        account_roles: vec!["Cognitive Services User"],
    };
    v.push(Scenario {
        dir: "pipelines-4".into(),
        assignments: 1000,
        manifests: vec![
            team("a", vec![1, 2, 3], 1, pool(250, 50, (1, 12), (1, 250))),
            team("b", vec![4, 5], 2, pool(250, 0, (13, 25), (251, 500))),
            team("c", vec![6, 7, 8], 3, pool(250, 0, (26, 37), (501, 750))),
            team("d", vec![9, 10], 4, pool(250, 0, (38, 50), (751, 1000))),
        ],
    });
    v
}

fn account_rg(a: usize) -> usize {
    // accounts 1-5 in rg 1-2, 6-10 in rg 3-4 (so the 5,000 split keeps each in its subscription)
    match a {
        1..=3 => 1,
        4..=5 => 2,
        6..=8 => 3,
        _ => 4,
    }
}

/// (scope YAML, role) slots of a manifest.
fn slots(m: &ManifestPlan) -> Vec<(String, &'static str)> {
    let mut s = Vec::new();
    for a in &m.accounts {
        s.push((
            format!("{{ account: oai-scale-{a:02} }}"),
            "Cognitive Services OpenAI User",
        ));
        for r in &m.account_roles {
            s.push((format!("{{ account: oai-scale-{a:02} }}"), *r));
        }
    }
    for r in &m.rgs {
        s.push((format!("{{ resourceGroup: rg-oai-{r} }}"), "Reader"));
    }
    s
}

/// The (slot, principal) pairs of a manifest: assignment k takes principal k mod P and slot
/// (k div P + k mod P) mod S — unique while N ≤ P·S.
pub fn pairs(m: &ManifestPlan) -> Vec<(usize, P)> {
    let (p, s) = (m.pool.len(), slots(m).len());
    assert!(
        m.assignments <= p * s,
        "{}: not enough (scope, role) slots",
        m.name
    );
    (0..m.assignments)
        .map(|k| (((k / p) + (k % p)) % s, m.pool[k % p].clone()))
        .collect()
}

/// The manifest text; `extra` adds one principal (the "one change" re-run).
pub fn manifest(sc: &Scenario, m: &ManifestPlan, extra: Option<&P>) -> String {
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# yaml-language-server: $schema=../../../docs/manifest.schema.json\n# GENERATED by `cargo bench --bench scale -- generate` (benches/scale/gen.rs); do not edit.\n\
         # Scale scenario {dir}: {total} role assignments in all; this manifest: {n} over {p} principals.\n\
         # Benchmarked by `cargo bench --bench scale` (docs/performance.md). By hand:\n\
         #   keyless apply manifests/scale/{dir}/ --emulator --no-verify",
        dir = sc.dir,
        total = sc.assignments,
        n = m.assignments,
        p = m.pool.len(),
    );
    let _ = writeln!(
        y,
        "version: 1\nname: {}\nsubscription: {}\nlocation: eastus\nemulator:\n  world: ../world.yaml",
        m.name, m.subscription
    );
    y.push_str("# Verification is benchmarked separately (manifests/scale/verify-50).\nverify:\n  enabled: false\n");
    y.push_str("resourceGroups:\n");
    for r in &m.rgs {
        let _ = writeln!(y, "  - name: rg-oai-{r}");
    }
    y.push_str("accounts:\n");
    for a in &m.accounts {
        assert!(m.rgs.contains(&account_rg(*a)));
        let _ = writeln!(
            y,
            "  - name: oai-scale-{a:02}\n    resourceGroup: rg-oai-{}\n    customSubdomain: kl-scale-{a:02}\n    deployments:\n      - {{ name: chat, model: {{ name: gpt-4o-mini, version: \"2024-07-18\" }}, sku: {{ name: GlobalStandard, capacity: 10 }} }}",
            account_rg(*a)
        );
    }
    let vms: Vec<usize> = m
        .pool
        .iter()
        .filter_map(|p| match p {
            P::Vm(i) => Some(*i),
            _ => None,
        })
        .collect();
    if !vms.is_empty() {
        y.push_str("managedIdentities:\n");
        for i in vms {
            let _ = writeln!(
                y,
                "  - {{ vm: {}, resourceGroup: {} }}",
                vm_name(i),
                vm_rg(i)
            );
        }
    }
    y.push_str("roleAssignments:\n");
    let slots = slots(m);
    let pairs = pairs(m);
    for (si, (scope, role)) in slots.iter().enumerate() {
        let mut ps: Vec<&P> = pairs
            .iter()
            .filter(|(s, _)| *s == si)
            .map(|(_, p)| p)
            .collect();
        if si == 0 {
            if let Some(e) = extra {
                ps.push(e);
            }
        }
        if ps.is_empty() {
            continue;
        }
        let _ = writeln!(y, "  - role: {role}\n    scope: {scope}\n    principals:");
        for p in ps {
            let _ = writeln!(y, "      - {}", p.yaml());
        }
    }
    y
}

/// The principal the one-change re-run adds (never in any pool).
pub fn extra_principal() -> P {
    P::User(USERS)
}

fn world_common(y: &mut String, title: &str) {
    let _ = writeln!(
        y,
        "# GENERATED by `cargo bench --bench scale -- generate` (benches/scale/gen.rs); do not edit.\n# {title}\n\
         tenant: {{ id: {TENANT}, domain: contoso.onmicrosoft.com }}\n\
         subscriptions:\n  - {{ id: {SUB_A}, name: Scale A }}\n  - {{ id: {SUB_B}, name: Scale B }}\n\
         caller: keyless-pipeline\n\
         applications:\n  - {{ name: keyless-pipeline, appId: {CALLER_APP}, objectId: {CALLER_OID}, secrets: [ \"{CALLER_SECRET}\" ] }}"
    );
}

fn world_tail(y: &mut String) {
    let _ = writeln!(
        y,
        "roleAssignments:\n  - {{ scope: \"/subscriptions/{SUB_A}\", role: Owner, principal: \"app:keyless-pipeline\", principalType: ServicePrincipal }}\n  - {{ scope: \"/subscriptions/{SUB_B}\", role: Owner, principal: \"app:keyless-pipeline\", principalType: ServicePrincipal }}\n\
         # ARM's per-principal budgets and a realistic ARM latency.\n\
         throttling:\n  enabled: true\n  reads: {{ bucket: 250, perSecond: 25 }}\n  writes: {{ bucket: 200, perSecond: 10 }}\n  deletes: {{ bucket: 200, perSecond: 10 }}\n\
         faults:\n  latencyMs: \"30..80\""
    );
}

/// The scale world: 1,000 users, 50 groups, 200 VMs.
pub fn world() -> String {
    let mut y = String::new();
    world_common(
        &mut y,
        "The scale world: 1,000 users, 50 groups (10 members each), 200 Linux VMs without identities.",
    );
    y.push_str("timing:\n  tokenLifetime: 3600s\n  propagationDelay: 0s\n  replicationDelay: 0s\n  runCommandMinDuration: 0s\nusers:\n");
    for i in 1..=USERS {
        let _ = writeln!(y, "  - {{ upn: {}, id: {} }}", user_upn(i), user_id(i));
    }
    y.push_str("groups:\n");
    for g in 1..=GROUPS {
        let members: Vec<String> = (0..10)
            .map(|k| format!("\"user:{}\"", user_upn((g - 1) * 10 + k + 1)))
            .collect();
        let _ = writeln!(
            y,
            "  - {{ name: {}, id: {}, members: [ {} ] }}",
            group_name(g),
            group_id(g),
            members.join(", ")
        );
    }
    y.push_str("resourceGroups:\n");
    for r in 1..=VMS / VMS_PER_RG {
        let _ = writeln!(y, "  - {{ name: rg-vms-{r}, location: eastus }}");
    }
    y.push_str("vms:\n");
    for i in 1..=VMS {
        let _ = writeln!(
            y,
            "  - {{ name: {}, resourceGroup: {}, location: eastus }}",
            vm_name(i),
            vm_rg(i)
        );
    }
    world_tail(&mut y);
    y
}

/// The verification benchmark's world: 50 VMs, role propagation 60-120 s.
pub fn verify_world() -> String {
    let mut y = String::new();
    world_common(
        &mut y,
        "Verification benchmark: 50 VMs; every new role assignment takes 60-120 s to propagate.",
    );
    y.push_str("timing:\n  tokenLifetime: 3600s\n  propagationDelay: \"60s..120s\"\n  replicationDelay: 0s\n  runCommandMinDuration: 1s\n");
    y.push_str("resourceGroups:\n  - { name: rg-vms-1, location: eastus }\nvms:\n");
    for i in 1..=VERIFY_VMS {
        let _ = writeln!(
            y,
            "  - {{ name: {}, resourceGroup: rg-vms-1, location: eastus }}",
            vm_name(i)
        );
    }
    world_tail(&mut y);
    y
}

/// The verification benchmark's manifest.
pub fn verify_manifest() -> String {
    let mut y = String::new();
    y.push_str(
        "# yaml-language-server: $schema=../../../docs/manifest.schema.json\n# GENERATED by `cargo bench --bench scale -- generate` (benches/scale/gen.rs); do not edit.\n\
         # Verification benchmark: 50 VM identities get Cognitive Services OpenAI User; apply waits out\n\
         # the 60-120 s propagation and proves each with a completion through Run Command.\n\
         #   cargo bench --bench scale -- verify-50\n",
    );
    let _ = writeln!(
        y,
        "version: 1\nname: verify-50\nsubscription: {SUB_A}\nlocation: eastus\nemulator:\n  world: world.yaml\n\
         resourceGroups:\n  - name: rg-oai-1\naccounts:\n  - name: oai-verify\n    resourceGroup: rg-oai-1\n    customSubdomain: kl-verify-50\n    deployments:\n      - {{ name: chat, model: {{ name: gpt-4o-mini, version: \"2024-07-18\" }}, sku: {{ name: GlobalStandard, capacity: 10 }} }}"
    );
    y.push_str("managedIdentities:\n");
    for i in 1..=VERIFY_VMS {
        let _ = writeln!(y, "  - {{ vm: {}, resourceGroup: rg-vms-1 }}", vm_name(i));
    }
    y.push_str("roleAssignments:\n  - role: Cognitive Services OpenAI User\n    scope: { account: oai-verify }\n    principals:\n");
    for i in 1..=VERIFY_VMS {
        let _ = writeln!(y, "      - vm: {}", vm_name(i));
    }
    y.push_str("verify:\n  deployment: chat\n  timeout: 10m\n");
    y
}

/// Every generated file: (path under `manifests/scale/`, contents).
pub fn files() -> Vec<(String, String)> {
    let mut out = vec![("world.yaml".to_string(), world())];
    for sc in scenarios() {
        for m in &sc.manifests {
            out.push((
                format!("{}/{}.yaml", sc.dir, m.name),
                manifest(&sc, m, None),
            ));
        }
    }
    out.push(("verify-50/world.yaml".into(), verify_world()));
    out.push(("verify-50/verify-50.yaml".into(), verify_manifest()));
    out
}

/// Every scenario's (slot, principal) pairs are unique and add up to its size.
pub fn self_check() {
    for sc in scenarios() {
        let mut total = 0;
        for m in &sc.manifests {
            let p = pairs(m);
            total += p.len();
            let mut seen = std::collections::HashSet::new();
            for (slot, pr) in &p {
                assert!(
                    seen.insert((*slot, format!("{pr:?}"))),
                    "{}: duplicate {pr:?}",
                    m.name
                );
            }
        }
        assert_eq!(total, sc.assignments);
    }
}
