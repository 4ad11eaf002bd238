//! Verify: wait out role propagation and prove access with a real completion call, made as each
//! principal keyless can act for — itself, and each VM through Run Command. Finishes the moment
//! access works; fails with a precise reason when it never does.

pub mod event;
pub mod probe;
pub mod vm_script;

pub use event::VerifyEvent;

use crate::apply::Emit;
use crate::azure::error::AzureError;
use crate::azure::retry::next_delay;
use crate::azure::session::Session;
use crate::model::*;
use probe::Verdict;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use vm_script::{ProbeTarget, VmProbeResult};

/// Verification settings (from the manifest's `verify:` block).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VerifySettings {
    /// `chat` or `completions`.
    pub api: String,
    /// Data-plane api-version.
    pub api_version: String,
    /// Bound on the whole wait.
    pub timeout: Duration,
    /// Deployment to call (default: each account's first deployment).
    pub deployment: Option<String>,
}

/// Outcome for one (principal, account).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(
    tag = "result",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ProbeOutcome {
    /// A completion call as that principal succeeded.
    Verified {
        /// Seconds from the start of verification until access worked.
        time_to_access_secs: f64,
    },
    /// The call failed for a reason that waiting does not fix, or never started working.
    Failed {
        /// Azure's or keyless's code.
        code: String,
        /// What happened and what to do.
        message: String,
    },
    /// keyless cannot act as this principal; the assignment was read back from ARM.
    AssignedNotProbed {
        /// The assignment's id, as evidence.
        assignment_id: String,
    },
    /// keyless cannot act as this principal and found no assignment for it.
    NotAssigned,
}

/// One line of the final table.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeRow {
    /// Principal as the manifest names it.
    pub principal: String,
    /// Account probed.
    pub account: String,
    /// Roles assigned (names).
    pub roles: Vec<String>,
    /// Result.
    #[serde(flatten)]
    pub outcome: ProbeOutcome,
}

/// The verification report.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VerifyReport {
    /// Rows, one per (principal, account).
    pub rows: Vec<ProbeRow>,
}

impl VerifyReport {
    /// True when nothing failed (not-probed principals don't fail verification).
    pub fn succeeded(&self) -> bool {
        self.rows.iter().all(|r| {
            !matches!(
                r.outcome,
                ProbeOutcome::Failed { .. } | ProbeOutcome::NotAssigned
            )
        })
    }
}

/// What to probe for one account.
struct AccountProbe {
    account: AccountSpec,
    target: ProbeTarget,
    principals: BTreeMap<PrincipalTarget, Vec<String>>,
    /// Assignments at the account and its resource group (evidence for principals not probed).
    lists: Vec<ObservedAssignment>,
}

/// Runs every probe concurrently and returns when all have an answer (or the timeout passed).
pub async fn verify(
    session: &Session,
    desired: &Desired,
    settings: &VerifySettings,
    vm_principals: &BTreeMap<String, String>,
    fresh_deployments: &BTreeSet<String>,
    emit: Emit<VerifyEvent>,
) -> Result<VerifyReport, AzureError> {
    let start = Instant::now();
    let mut plans: Vec<AccountProbe> = Vec::new();
    for acc in &desired.accounts {
        if let Some(p) = probe_account(session, desired, settings, acc).await? {
            plans.push(p);
        }
    }

    // Start fresh: group membership and new assignments reach only new tokens.
    let _ = session.credential.credential.clear_cache().await;

    let mut tasks = Vec::new();
    for p in &plans {
        let fresh = fresh_deployments.contains(&format!(
            "{}/{}",
            key(&p.account.resource_group, &p.account.name),
            p.target.deployment.to_ascii_lowercase()
        ));
        for (principal, roles) in &p.principals {
            let row_base = (principal.display(), p.account.name.clone(), roles.clone());
            let emit = emit.clone();
            let target = p.target.clone();
            let principal = principal.clone();
            let lists = p.lists.clone();
            let settings = settings.clone();
            let vm_principals = vm_principals.clone();
            tasks.push(async move {
                let started = |via: &str| {
                    emit(VerifyEvent::ProbeStarted {
                        principal: row_base.0.clone(),
                        account: row_base.1.clone(),
                        via: via.into(),
                    })
                };
                let outcome = match &principal {
                    PrincipalTarget::Known { is_self: true, .. } => {
                        started("direct");
                        probe_self(session, &target, &settings, start, fresh, &emit, &row_base)
                            .await
                    }
                    PrincipalTarget::VmIdentity { vm }
                        if !vm_principals.contains_key(&vm.key()) =>
                    {
                        ProbeOutcome::Failed {
                            code: "NoManagedIdentity".into(),
                            message: format!(
                                "VM {} has no system-assigned identity; run `keyless apply`",
                                vm.name
                            ),
                        }
                    }
                    PrincipalTarget::VmIdentity { vm } => {
                        started("runCommand");
                        probe_vm(session, vm, &target, &settings, start, &emit, &row_base).await
                    }
                    PrincipalTarget::Known { id, .. } => evidence(&lists, id),
                };
                emit(VerifyEvent::Probe {
                    principal: row_base.0.clone(),
                    account: row_base.1.clone(),
                    state: state_name(&outcome).into(),
                    outcome: outcome.clone(),
                });
                ProbeRow {
                    principal: row_base.0,
                    account: row_base.1,
                    roles: row_base.2,
                    outcome,
                }
            });
        }
    }
    let rows = futures::future::join_all(tasks).await;
    Ok(VerifyReport { rows })
}

/// What to probe for one account: its endpoint and deployment, the principals assigned at it
/// (or at its resource group or subscription), and — for principals keyless cannot act as —
/// the assignments read back as evidence. None when the account has no deployment to call.
async fn probe_account(
    session: &Session,
    desired: &Desired,
    settings: &VerifySettings,
    acc: &AccountSpec,
) -> Result<Option<AccountProbe>, AzureError> {
    // Named: only accounts that declare it are probed (as `verify.deployment` documents);
    // unnamed: each account's first deployment.
    let deployment = match &settings.deployment {
        Some(name) => acc.deployments.iter().find(|d| &d.name == name),
        None => acc.deployments.first(),
    };
    let Some(deployment) = deployment.map(|d| d.name.clone()) else {
        return Ok(None);
    };
    let live = session
        .arm
        .get_account(&acc.resource_group, &acc.name)
        .await?;
    let endpoint = match live.and_then(|l| l.endpoint) {
        Some(e) => e,
        None => {
            return Err(AzureError::new(
                format!("verify {}", acc.name),
                404,
                "AccountNotFound",
                "the account does not exist or has no endpoint; run `keyless apply` first",
            ))
        }
    };
    let resource = session
        .cloud
        .cognitive_scope
        .trim_end_matches("/.default")
        .to_string();
    let acc_id = acc.id(&desired.subscription).to_ascii_lowercase();
    let rg = rg_id(&desired.subscription, &acc.resource_group).to_ascii_lowercase();
    let sub = format!("/subscriptions/{}", desired.subscription).to_ascii_lowercase();
    let mut principals: BTreeMap<PrincipalTarget, Vec<String>> = BTreeMap::new();
    for a in &desired.assignments {
        let s = a.scope.trim_end_matches('/').to_ascii_lowercase();
        if s == acc_id || s == rg || s == sub {
            principals
                .entry(a.principal.clone())
                .or_default()
                .push(a.role_name.clone());
        }
    }
    let mut lists = Vec::new();
    let needs_evidence = principals
        .keys()
        .any(|p| matches!(p, PrincipalTarget::Known { is_self: false, .. }));
    if needs_evidence {
        for scope in [
            acc.id(&desired.subscription),
            rg_id(&desired.subscription, &acc.resource_group),
        ] {
            lists.extend(session.arm.list_assignments_at(&scope).await?);
        }
    }
    Ok(Some(AccountProbe {
        lists,
        account: acc.clone(),
        target: ProbeTarget {
            endpoint,
            deployment,
            api: settings.api.clone(),
            api_version: settings.api_version.clone(),
            resource,
        },
        principals,
    }))
}

fn state_name(o: &ProbeOutcome) -> &'static str {
    match o {
        ProbeOutcome::Verified { .. } => "verified",
        ProbeOutcome::Failed { .. } => "failed",
        ProbeOutcome::AssignedNotProbed { .. } => "assignedNotProbed",
        ProbeOutcome::NotAssigned => "notAssigned",
    }
}

/// Evidence for a principal keyless cannot act as: its assignment, read back from ARM. The
/// scopes' lists are read once per account (shared by all its principals), so the cost grows
/// with accounts, not principals.
fn evidence(lists: &[ObservedAssignment], principal_id: &str) -> ProbeOutcome {
    match lists
        .iter()
        .find(|a| a.principal_id.eq_ignore_ascii_case(principal_id))
    {
        Some(a) => ProbeOutcome::AssignedNotProbed {
            assignment_id: a.id.clone(),
        },
        None => ProbeOutcome::NotAssigned,
    }
}

#[allow(clippy::too_many_arguments)]
async fn probe_self(
    session: &Session,
    target: &ProbeTarget,
    settings: &VerifySettings,
    start: Instant,
    deployment_fresh: bool,
    emit: &Emit<VerifyEvent>,
    row: &(String, String, Vec<String>),
) -> ProbeOutcome {
    let deadline = start + settings.timeout;
    let mut delay = Duration::from_millis(500);
    let mut last_refresh = Instant::now();
    let mut last_state = String::new();
    loop {
        let verdict = probe::call_once(session, target).await;
        let state = format!("{verdict:?}");
        if state != last_state {
            emit(VerifyEvent::ProbeState {
                principal: row.0.clone(),
                account: row.1.clone(),
                state: verdict.state_name().into(),
                detail: verdict.detail(),
                elapsed_ms: start.elapsed().as_millis() as u64,
            });
            last_state = state;
        }
        let wait = match verdict {
            Verdict::Verified => {
                return ProbeOutcome::Verified {
                    time_to_access_secs: start.elapsed().as_secs_f64(),
                }
            }
            Verdict::Propagating { .. } => {
                if last_refresh.elapsed() > Duration::from_secs(60) {
                    let _ = session.credential.credential.clear_cache().await;
                    last_refresh = Instant::now();
                }
                next_delay(&mut delay)
            }
            Verdict::DeploymentNotFound
                if deployment_fresh && start.elapsed() < Duration::from_secs(300) =>
            {
                next_delay(&mut delay)
            }
            Verdict::Throttled { retry_after } => retry_after,
            Verdict::Transient { .. } => next_delay(&mut delay),
            Verdict::TokenExpired => {
                let _ = session.credential.credential.clear_cache().await;
                Duration::from_millis(0)
            }
            other => {
                return ProbeOutcome::Failed {
                    code: other.code(),
                    message: other.explain(),
                }
            }
        };
        if Instant::now() + wait > deadline {
            return ProbeOutcome::Failed {
                code: "VerificationTimeout".into(),
                message: format!(
                    "access did not start working within {:?} (last answer: {}). The role may lack the data action, the assignment may be at another scope, or propagation is slower than usual: re-run `keyless verify` later",
                    settings.timeout,
                    last_state
                ),
            };
        }
        tokio::time::sleep(wait).await;
    }
}

async fn probe_vm(
    session: &Session,
    vm: &VmRef,
    target: &ProbeTarget,
    settings: &VerifySettings,
    start: Instant,
    emit: &Emit<VerifyEvent>,
    row: &(String, String, Vec<String>),
) -> ProbeOutcome {
    let remaining = settings.timeout.saturating_sub(start.elapsed());
    let os = match session.arm.get_vm(&vm.resource_group, &vm.name).await {
        Ok(Some(v)) => v.os,
        Ok(None) => {
            return ProbeOutcome::Failed {
                code: "VmNotFound".into(),
                message: format!("VM {} not found", vm.name),
            }
        }
        Err(e) => {
            return ProbeOutcome::Failed {
                code: e.code.clone(),
                message: e.message.clone(),
            }
        }
    };
    let (command, script) = if os.eq_ignore_ascii_case("windows") {
        (
            "RunPowerShellScript",
            vm_script::windows_script(target, remaining),
        )
    } else {
        ("RunShellScript", vm_script::linux_script(target, remaining))
    };
    emit(VerifyEvent::ProbeState {
        principal: row.0.clone(),
        account: row.1.clone(),
        state: "propagating".into(),
        detail: "Run Command started".into(),
        elapsed_ms: start.elapsed().as_millis() as u64,
    });
    let out = match session
        .arm
        .run_command(
            vm,
            command,
            script,
            remaining,
            remaining + Duration::from_secs(300),
        )
        .await
    {
        Ok(o) => o,
        Err(e) => {
            return ProbeOutcome::Failed {
                code: e.code.clone(),
                message: format!("Run Command failed: {}", e.message),
            }
        }
    };
    match vm_script::parse_output(&out.stdout) {
        VmProbeResult::Verified { .. } => ProbeOutcome::Verified { time_to_access_secs: start.elapsed().as_secs_f64() },
        VmProbeResult::Failed { status, code } => ProbeOutcome::Failed {
            message: probe::explain_code(&code, &status),
            code: if code.is_empty() { format!("HTTP{status}") } else { code },
        },
        VmProbeResult::Timeout { status, code } => ProbeOutcome::Failed {
            code: "VerificationTimeout".into(),
            message: format!("the VM's identity still got {status} {code} when the deadline passed; check that the role carries the data action and the assignment's scope"),
        },
        VmProbeResult::NoResult => ProbeOutcome::Failed {
            code: "ProbeNoResult".into(),
            message: format!("the probe script printed no result (does the VM have bash and curl?). stderr: {}", crate::azure::error::redact(out.stderr.trim())),
        },
    }
}
