//! `keyless verify`: probe access without changing anything.

use super::connect::{self, report_error};
use super::{CommonArgs, ExitCode};
use crate::output::{want_color, Reporter};
use crate::verify::{ProbeOutcome, VerifyReport};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

/// Prints the final table (principal, account, roles, result, time to access).
pub fn print_table(reporter: &Reporter, v: &VerifyReport) {
    let rows: Vec<[String; 4]> = v
        .rows
        .iter()
        .map(|r| {
            let result = match &r.outcome {
                ProbeOutcome::Verified {
                    time_to_access_secs,
                } => {
                    format!("verified ({time_to_access_secs:.1}s)")
                }
                ProbeOutcome::Failed { code, .. } => format!("FAILED: {code}"),
                ProbeOutcome::AssignedNotProbed { .. } => "assigned, not probed".into(),
                ProbeOutcome::NotAssigned => "NOT ASSIGNED".into(),
            };
            [
                r.principal.clone(),
                r.account.clone(),
                r.roles.join(", "),
                result,
            ]
        })
        .collect();
    let header = ["PRINCIPAL", "ACCOUNT", "ROLE", "RESULT"].map(String::from);
    let mut width = [0usize; 3];
    for row in std::iter::once(&header).chain(rows.iter()) {
        for (w, cell) in width.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |r: &[String; 4]| {
        format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = width[0],
            w1 = width[1],
            w2 = width[2]
        )
    };
    let mut out = vec![line(&header)];
    out.extend(rows.iter().map(line));
    reporter.say(&out.join("\n"));
}

/// `keyless verify`.
pub async fn run(paths: &[PathBuf], common: &CommonArgs) -> ExitCode {
    let reporter = Arc::new(Reporter::new(common.output, want_color()));
    let Ok(mut target) = connect::prepare(paths, common, &reporter).await else {
        return ExitCode::Error;
    };
    let manifests = target.loaded.manifests.clone();
    let mut ok = true;
    for lm in &manifests {
        let m = &lm.manifest;
        if !m.verify.enabled {
            reporter.note(&format!("verification is disabled in `{}`", m.name));
            continue;
        }
        let Ok(session) = target.session(&m.subscription, common, &reporter).await else {
            return ExitCode::Error;
        };
        let desired = match crate::resolve::resolve(
            lm,
            &session.caller,
            &session.arm,
            &session.graph,
        )
        .await
        {
            Ok(d) => d,
            Err(e) => {
                report_error(&reporter, miette::Report::new(e));
                return ExitCode::Error;
            }
        };
        let mut vm_principals = BTreeMap::new();
        for vm in &desired.vm_identities {
            if let Ok(Some(o)) = session.arm.get_vm(&vm.resource_group, &vm.name).await {
                if let Some(p) = o.system_principal_id {
                    vm_principals.insert(vm.key(), p);
                }
            }
        }
        let settings = crate::resolve::verify_settings(m);
        match crate::verify::verify(
            &session,
            &desired,
            &settings,
            &vm_principals,
            &BTreeSet::new(),
            reporter.clone(),
        )
        .await
        {
            Ok(v) => {
                print_table(&reporter, &v);
                reporter.event(
                    "verified",
                    serde_json::json!({"manifest": m.name, "report": v}),
                );
                ok &= v.succeeded();
            }
            Err(e) => {
                report_error(&reporter, miette::Report::new(e));
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::Ok
    } else {
        ExitCode::VerifyFailed
    }
}
