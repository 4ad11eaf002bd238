//! Microsoft.Compute: VM get/list, the identity PATCH, Run Command and the provider's monitors.

use super::common::{list, retry_after, Cx, Out};
use super::monitors;
use super::resources::method_not_allowed;
use super::runner;
use crate::http::Resp;
use crate::model::arm::errors::ArmError;
use crate::model::arm::operations::{OpKind, Operation};
use crate::model::arm::{identities, ids, resource_groups, run_command, vms};
use crate::model::State;
use serde_json::Value;

fn vm_index(st: &State, sub: &str, rg: &str, name: &str) -> Result<usize, ArmError> {
    resource_groups::require(&st.arm, sub, rg)?;
    vms::find(&st.arm, sub, rg, name).ok_or_else(|| {
        ArmError::resource_not_found(&format!("Microsoft.Compute/virtualMachines/{name}"), rg)
    })
}

/// GET / PATCH of a VM.
pub fn vm(cx: &Cx<'_>, st: &mut State, sub: &str, rg: &str, name: &str) -> Out {
    match cx.req.method.as_str() {
        "GET" => {
            cx.authorize(st, "Microsoft.Compute/virtualMachines/read", &cx.req.path)?;
            let i = vm_index(st, sub, rg, name)?;
            Ok(Resp::json(
                200,
                &st.arm.vms[i].to_json(&st.arm, cx.tenant(), cx.now),
            ))
        }
        "PATCH" => update(cx, st, sub, rg, name),
        m => Err(method_not_allowed(m)),
    }
}

fn update(cx: &Cx<'_>, st: &mut State, sub: &str, rg: &str, name: &str) -> Out {
    let action = "Microsoft.Compute/virtualMachines/write";
    cx.authorize(st, action, &cx.req.path)?;
    let i = vm_index(st, sub, rg, name)?;
    let body = cx.body()?;
    let plan = match body.get("identity") {
        None | Some(Value::Null) => None,
        Some(identity) => {
            let arm = &st.arm;
            Some(vms::plan_identity(
                &st.arm.vms[i].identity,
                identity,
                |id| identities::find(arm, id).is_some(),
            )?)
        }
    };
    if let Some(p) = &plan {
        for uami in &p.added {
            if !cx.allowed(
                st,
                "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
                uami,
            ) {
                return Err(ArmError::linked_authorization_failed(
                    &cx.caller.display,
                    &cx.caller.oid,
                    action,
                    &cx.req.path,
                    uami,
                ));
            }
        }
    }
    let d = st.arm.settings.provisioning_seconds;
    if let Some(p) = plan {
        let current = st.arm.vms[i].identity.system_principal_id.clone();
        match (p.system, current) {
            (true, None) => {
                let (vm_name, vm_id) = (st.arm.vms[i].name.clone(), st.arm.vms[i].id());
                let delay = cx.ctx.timing().replication_delay.sample();
                let (pid, _) = st
                    .directory
                    .create_managed_identity(&vm_name, &vm_id, cx.now, delay);
                st.arm.vms[i].identity.system_principal_id = Some(pid);
            }
            (false, Some(pid)) => {
                st.directory.delete_service_principal(&pid);
                st.arm.vms[i].identity.system_principal_id = None;
            }
            _ => {}
        }
        st.arm.vms[i].identity.user_assigned = p.user_assigned;
    }
    if let Some(tags) = body.get("tags").and_then(Value::as_object) {
        st.arm.vms[i].tags = tags.clone();
    }
    if let Some(props) = body.get("properties").filter(|p| p.is_object()) {
        vms::record_patch(&mut st.arm.vms[i], props);
    }
    st.arm.vms[i].updating_until = cx.now + d;
    let v = &st.arm.vms[i];
    let op = Operation::new(
        OpKind::VmUpdate,
        sub,
        "Microsoft.Compute",
        &v.location,
        &v.id(),
        cx.now,
        Some(cx.now + d),
        &cx.api_version,
    );
    let body = v.to_json(&st.arm, cx.tenant(), cx.now);
    let url = cx.async_url(&op);
    st.arm.operations.push(op);
    Ok(Resp::json(200, &body)
        .with_header("azure-asyncoperation", url)
        .with_header("retry-after", retry_after(d)))
}

/// GET VMs of a resource group or subscription (`rg` `None`).
pub fn list_vms(cx: &Cx<'_>, st: &State, sub: &str, rg: Option<&str>) -> Out {
    st.arm.require_subscription(sub)?;
    if let Some(rg) = rg {
        cx.authorize(st, "Microsoft.Compute/virtualMachines/read", &cx.req.path)?;
        resource_groups::find(&st.arm, sub, rg).ok_or_else(|| ArmError::rg_not_found(rg))?;
    }
    let values = st
        .arm
        .vms
        .iter()
        .filter(|v| {
            ids::eq(&v.subscription_id, sub)
                && rg.is_none_or(|x| x.eq_ignore_ascii_case(&v.resource_group))
        })
        .filter(|v| cx.allowed(st, "Microsoft.Compute/virtualMachines/read", &v.id()))
        .map(|v| v.to_json(&st.arm, cx.tenant(), cx.now))
        .collect();
    Ok(list(values, None))
}

/// POST runCommand: validates, claims the VM, starts the child, answers 202 with monitors.
pub fn run(cx: &Cx<'_>, st: &mut State, sub: &str, rg: &str, name: &str) -> Out {
    if cx.req.method != "POST" {
        return Err(method_not_allowed(&cx.req.method));
    }
    cx.authorize(
        st,
        "Microsoft.Compute/virtualMachines/runCommand/action",
        &cx.req.path,
    )?;
    let i = vm_index(st, sub, rg, name)?;
    let input = run_command::validate(&st.arm.vms[i], &cx.body()?)?;
    let v = &st.arm.vms[i];
    let op = Operation::new(
        OpKind::RunCommand,
        sub,
        "Microsoft.Compute",
        &v.location,
        &v.id(),
        cx.now,
        None,
        &cx.api_version,
    );
    run_command::begin(&mut st.arm.vms[i], &op.id)?;
    let v = &st.arm.vms[i];
    let env = crate::services::msi::vm_child_env(cx.ctx, &v.id(), &v.principal_ids(&st.arm));
    let min = cx.ctx.timing().run_command_min_duration.sample();
    runner::start(
        &cx.ctx.runs,
        &op.id,
        v.is_windows(),
        input,
        env,
        st.arm.settings.run_command_timeout,
        cx.now + min,
    );
    let resp = Resp::empty(202)
        .with_header("azure-asyncoperation", cx.async_url(&op))
        .with_header("location", cx.location_url(&op))
        .with_header("retry-after", "1");
    st.arm.operations.push(op);
    Ok(resp)
}

/// GET of a Compute monitor: `monitor=true` → Location semantics, else the status envelope.
pub fn operation(cx: &Cx<'_>, st: &State, sub: &str, id: &str) -> Out {
    let op = monitors::find(st, sub, id)?;
    if cx
        .req
        .query("monitor")
        .is_some_and(|m| m.eq_ignore_ascii_case("true"))
    {
        monitors::location(cx, op)
    } else {
        Ok(monitors::status(cx, op))
    }
}
