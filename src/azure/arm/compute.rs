//! Virtual machines (Microsoft.Compute): identity read, the system-assigned identity PATCH
//! (hand-built body: see the `arm` module's docs for why), and Run Command for probes from
//! inside a VM.

use super::{Arm, Progress, Result};
use crate::azure::error::AzureError;
use crate::azure::retry;
use crate::model::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

impl Arm {
    /// Reads a VM's identity (None when the VM does not exist). Parsed from the raw body because
    /// the generated model drops user-assigned identity ids.
    pub async fn get_vm(&self, rg: &str, name: &str) -> Result<Option<ObservedVm>> {
        let op = format!("read VM {rg}/{name}");
        let r = self
            .compute
            .virtual_machines_client()
            .get(rg, name, &self.subscription)
            .send()
            .await;
        Ok(Self::json_of(&op, r).await?.map(|v| vm_of(&v)))
    }

    /// Enables the system-assigned identity, re-sending the user-assigned ones (the PATCH
    /// replaces the identity block), and waits for the principal id.
    /// `written` is called once the PATCH was accepted, before waiting for the VM to finish
    /// updating (apply releases the action's parallelism slot there).
    pub async fn enable_vm_identity(
        &self,
        vm: &VmRef,
        progress: &(dyn Fn(Progress<'_>) + Sync),
        written: &(dyn Fn() + Sync),
    ) -> Result<String> {
        let op = format!("enable identity on VM {}/{}", vm.resource_group, vm.name);
        // Re-read right before the write: another tool may have attached an identity since plan.
        let current = self
            .get_vm(&vm.resource_group, &vm.name)
            .await?
            .ok_or_else(|| {
                AzureError::new(&op, 404, "ResourceNotFound", "the VM no longer exists")
            })?;
        if let Some(p) = current.system_principal_id {
            return Ok(p);
        }
        let identity = if current.user_assigned.is_empty() {
            json!({"type": "SystemAssigned"})
        } else {
            let map: serde_json::Map<String, Value> = current
                .user_assigned
                .iter()
                .map(|id| (id.clone(), json!({})))
                .collect();
            json!({"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": map})
        };
        let path = format!(
            "{}?api-version=2024-07-01",
            vm_id(&self.subscription, &vm.resource_group, &vm.name)
        );
        let body = json!({"identity": identity});
        self.write_when_idle(self.lro_timeout, progress, || {
            self.raw(azure_core::Method::Patch, &path, Some(body.clone()), &op)
        })
        .await?;
        written();
        let v = self
            .poll_provisioning(
                &op,
                progress,
                |v| vm_of(v).system_principal_id.is_some(),
                || async {
                    let r = self
                        .compute
                        .virtual_machines_client()
                        .get(&vm.resource_group, &vm.name, &self.subscription)
                        .send()
                        .await;
                    Self::json_of(&op, r).await
                },
            )
            .await?;
        Ok(vm_of(&v).system_principal_id.unwrap_or_default())
    }

    /// Runs a shell script on a VM (Run Command) and returns its stdout and stderr as Azure
    /// reports them (the last 4096 bytes of each). Waits at most `wait_for_vm` for another
    /// Run Command holding the VM (a wait that proves nothing, so it gets the caller's deadline,
    /// not the extension's start-up allowance), and `timeout` in all.
    pub async fn run_command(
        &self,
        vm: &VmRef,
        command_id: &str,
        script: Vec<String>,
        wait_for_vm: Duration,
        timeout: Duration,
    ) -> Result<RunCommandOutput> {
        use azure_mgmt_compute::package_2024_07_01::models::RunCommandInput;
        let op = format!("run command on VM {}/{}", vm.resource_group, vm.name);
        let mut input = RunCommandInput::new(command_id.to_string());
        input.script = script;
        // One Run Command at a time per VM: another one (someone's, or a concurrent verify's)
        // is waited out, not reported as a failed probe — within `wait_for_vm`.
        let start = Instant::now();
        let rsp = self
            .write_when_idle(wait_for_vm.min(timeout), &|_| {}, || async {
                self.compute
                    .virtual_machines_client()
                    .run_command(
                        &vm.resource_group,
                        &vm.name,
                        input.clone(),
                        &self.subscription,
                    )
                    .send()
                    .await
                    .map_err(|e| AzureError::from_core(&op, &e))
            })
            .await?;
        let raw: azure_core::Response = rsp.into();
        let (status, headers, body) = raw.deconstruct();
        let bytes = body
            .collect()
            .await
            .map_err(|e| AzureError::from_core(&op, &e))?;
        if u16::from(status) == 200 && !bytes.is_empty() {
            return Ok(run_command_output(
                &serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            ));
        }
        let monitor = headers
            .get_optional_str(&azure_core::headers::HeaderName::from_static(
                "azure-asyncoperation",
            ))
            .or_else(|| headers.get_optional_str(&azure_core::headers::LOCATION))
            .map(str::to_string)
            .ok_or_else(|| {
                AzureError::new(
                    &op,
                    u16::from(status),
                    "NoOperationUrl",
                    "Run Command answered without an operation URL",
                )
            })?;
        self.await_run_command(&op, &monitor, &headers, start, timeout)
            .await
    }

    /// Polls a Run Command's operation URL (`monitor`, at the pace the first answer's
    /// `Retry-After` asks) until it reports output or a failure, or `timeout` since `start`.
    async fn await_run_command(
        &self,
        op: &str,
        monitor: &str,
        headers: &azure_core::headers::Headers,
        start: Instant,
        timeout: Duration,
    ) -> Result<RunCommandOutput> {
        loop {
            tokio::time::sleep(retry::operation_poll_wait(headers)).await;
            let (code, _, v) = self.raw(azure_core::Method::Get, monitor, None, op).await?;
            if code == 200 {
                if v.get("value").is_some() {
                    return Ok(run_command_output(&v));
                }
                match v["status"].as_str() {
                    Some("Succeeded") => return Ok(run_command_output(&v["properties"]["output"])),
                    Some("Failed") | Some("Canceled") => {
                        return Err(AzureError::new(
                            op,
                            0,
                            v["error"]["code"].as_str().unwrap_or("RunCommandFailed"),
                            v["error"]["message"].as_str().unwrap_or(""),
                        ))
                    }
                    _ => {}
                }
            }
            if start.elapsed() > timeout {
                return Err(AzureError::new(
                    op,
                    0,
                    "Timeout",
                    "Run Command did not finish in time",
                ));
            }
        }
    }
}

/// What a Run Command printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunCommandOutput {
    /// stdout (last 4096 bytes).
    pub stdout: String,
    /// stderr (last 4096 bytes).
    pub stderr: String,
}

/// Parses a RunCommandResult (`{"value":[{code,message}…]}`): Linux puts both streams in one
/// message (`[stdout]\n…\n[stderr]\n…`); Windows uses two entries.
pub fn run_command_output(v: &Value) -> RunCommandOutput {
    let mut out = RunCommandOutput::default();
    for s in v["value"].as_array().into_iter().flatten() {
        let code = s["code"].as_str().unwrap_or_default();
        let msg = s["message"].as_str().unwrap_or_default();
        if code.contains("StdOut") {
            out.stdout.push_str(msg);
        } else if code.contains("StdErr") {
            out.stderr.push_str(msg);
        } else if let Some(i) = msg.find("[stdout]") {
            let rest = &msg[i + "[stdout]".len()..];
            let (o, e) = match rest.find("[stderr]") {
                Some(j) => (&rest[..j], &rest[j + "[stderr]".len()..]),
                None => (rest, ""),
            };
            out.stdout.push_str(o.trim_matches('\n'));
            out.stderr.push_str(e.trim_matches('\n'));
        }
    }
    out
}

fn vm_of(v: &Value) -> ObservedVm {
    let id = &v["identity"];
    let ty = id["type"].as_str().unwrap_or("None");
    ObservedVm {
        os: v["properties"]["storageProfile"]["osDisk"]["osType"]
            .as_str()
            .unwrap_or("Linux")
            .to_string(),
        location: v["location"].as_str().unwrap_or_default().to_string(),
        system_principal_id: if ty.contains("SystemAssigned") {
            id["principalId"].as_str().map(str::to_string)
        } else {
            None
        },
        user_assigned: id["userAssignedIdentities"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_command_output_linux_and_windows_shapes() {
        let linux = json!({"value":[{"code":"ProvisioningState/succeeded","message":"Enable succeeded: \n[stdout]\nhello\n\n[stderr]\noops\n"}]});
        assert_eq!(
            run_command_output(&linux),
            RunCommandOutput {
                stdout: "hello".into(),
                stderr: "oops".into()
            }
        );
        let win = json!({"value":[{"code":"ComponentStatus/StdOut/succeeded","message":"a"},{"code":"ComponentStatus/StdErr/succeeded","message":"b"}]});
        assert_eq!(
            run_command_output(&win),
            RunCommandOutput {
                stdout: "a".into(),
                stderr: "b".into()
            }
        );
    }

    #[test]
    fn vm_identity_parsing_keeps_user_assigned_ids() {
        let v = json!({"location":"eastus","identity":{"type":"SystemAssigned, UserAssigned","principalId":"p","userAssignedIdentities":{"/x/uami":{"principalId":"q"}}}});
        let o = vm_of(&v);
        assert_eq!(o.system_principal_id.as_deref(), Some("p"));
        assert_eq!(o.user_assigned, vec!["/x/uami".to_string()]);
        let none =
            vm_of(&json!({"identity":{"type":"UserAssigned","userAssignedIdentities":{"/y":{}}}}));
        assert_eq!(none.system_principal_id, None);
    }
}
