//! VM Run Command rules (behaviour notes §7.2): which command fits which OS, parameter checks,
//! Azure's output cap (the last 4096 bytes of each stream), the result shapes, and one run at a
//! time per VM, and the registry of running children whose outcomes settle into operations.
//! The process itself is started by `services::arm::runner`.

use super::errors::ArmError;
use super::operations::{OpKind, OpStatus};
use super::vms::Vm;
use super::ArmState;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Azure keeps only the last 4096 bytes of stdout and of stderr.
pub const OUTPUT_CAP: usize = 4096;

/// Azure's hard limit on a run (90 minutes).
pub const MAX_DURATION: f64 = 90.0 * 60.0;

/// A validated Run Command request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInput {
    /// `RunShellScript` or `RunPowerShellScript`.
    pub command_id: String,
    /// Script lines.
    pub script: Vec<String>,
    /// Parameters (exported as environment variables).
    pub parameters: Vec<(String, String)>,
}

impl RunInput {
    /// The script as one program (lines joined by newlines).
    pub fn program(&self) -> String {
        self.script.join("\n")
    }
}

/// Validates a RunCommandInput body against the VM's OS.
pub fn validate(vm: &Vm, body: &Value) -> Result<RunInput, ArmError> {
    let command_id = body
        .get("commandId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ArmError::new(
                400,
                "InvalidParameter",
                "Required parameter 'commandId' is missing (null).",
            )
        })?;
    let expected = if vm.is_windows() {
        "RunPowerShellScript"
    } else {
        "RunShellScript"
    };
    if !command_id.eq_ignore_ascii_case(expected) {
        return Err(ArmError::run_command_not_found());
    }
    let script = match body.get("script") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => a
            .iter()
            .map(|l| l.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                ArmError::invalid_parameter("The value of parameter script is invalid.")
            })?,
        Some(_) => {
            return Err(ArmError::invalid_parameter(
                "The value of parameter script is invalid.",
            ))
        }
    };
    let mut parameters = vec![];
    if let Some(ps) = body.get("parameters").and_then(Value::as_array) {
        for p in ps {
            let name = p.get("name").and_then(Value::as_str).unwrap_or("");
            let value = p.get("value").and_then(Value::as_str).unwrap_or("");
            if !valid_env_name(name) {
                return Err(ArmError::invalid_parameter(format!(
                    "The run command parameter name '{name}' is invalid."
                )));
            }
            parameters.push((name.to_string(), value.to_string()));
        }
    }
    Ok(RunInput {
        command_id: expected.to_string(),
        script,
        parameters,
    })
}

fn valid_env_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Marks `op_id` as the VM's running command, refusing a second one (409 Conflict).
pub fn begin(vm: &mut Vm, op_id: &str) -> Result<(), ArmError> {
    if vm.active_run.is_some() {
        return Err(ArmError::run_command_in_progress());
    }
    vm.active_run = Some(op_id.to_string());
    Ok(())
}

/// The last `OUTPUT_CAP` bytes of a stream, as text (a split UTF-8 sequence is replaced).
pub fn cap_tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(OUTPUT_CAP);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// Linux message: `Enable succeeded: \n[stdout]\n…\n[stderr]\n…`.
pub fn linux_message(stdout: &str, stderr: &str) -> String {
    format!("Enable succeeded: \n[stdout]\n{stdout}\n[stderr]\n{stderr}")
}

/// The `RunCommandResult` (`{"value":[InstanceViewStatus…]}`) for a finished run. A non-zero
/// exit still reports success; clients read stdout/stderr.
pub fn result(windows: bool, stdout: &[u8], stderr: &[u8]) -> Value {
    let (out, err) = (cap_tail(stdout), cap_tail(stderr));
    if windows {
        json!({"value": [
            {"code": "ComponentStatus/StdOut/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded", "message": out},
            {"code": "ComponentStatus/StdErr/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded", "message": err},
        ]})
    } else {
        json!({"value": [
            {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded", "message": linux_message(&out, &err)},
        ]})
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Captured stdout (uncapped; the cap is applied when rendering).
    pub stdout: Vec<u8>,
    /// Captured stderr.
    pub stderr: Vec<u8>,
    /// Killed at the time limit.
    pub timed_out: bool,
}

/// One started run: when it may report done at the earliest, its time limit, and its outcome
/// once the child exits.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    /// Unix seconds before which the operation stays InProgress (`runCommandMinDuration`).
    pub min_done_at: f64,
    /// The time limit the child ran under (seconds), for the timeout message.
    pub timeout: f64,
    /// Set by the runner when the child has exited or was killed.
    pub outcome: Option<Outcome>,
}

/// The runs of one emulator whose children are (or were) alive, by operation id.
///
/// Why here and not in `State`: a slot is filled by a background task that holds no state lock
/// (the state lock is never held across an await), and it describes a child process of *this*
/// emulator process. It is therefore not persisted — after a restart the child is gone and
/// [`settle`] marks the operation interrupted — but it belongs to one emulator (two emulators
/// in one process never see each other's runs) and an admin reset clears it with the state.
#[derive(Debug, Clone, Default)]
pub struct RunSlots(Arc<Mutex<HashMap<String, Slot>>>);

impl RunSlots {
    /// Registers the run of operation `op_id` (before its child starts).
    pub fn open(&self, op_id: &str, min_done_at: f64, timeout: f64) {
        self.0.lock().insert(
            op_id.to_string(),
            Slot {
                min_done_at,
                timeout,
                outcome: None,
            },
        );
    }

    /// Records how the child of `op_id` ended (dropped when the slot was cleared meanwhile).
    pub fn finish(&self, op_id: &str, outcome: Outcome) {
        if let Some(s) = self.0.lock().get_mut(op_id) {
            s.outcome = Some(outcome);
        }
    }

    /// Forgets every run (admin reset).
    pub fn clear(&self) {
        self.0.lock().clear();
    }

    /// How many runs are registered (finished ones stay until settled).
    pub fn len(&self) -> usize {
        self.0.lock().len()
    }

    /// True when no run is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Moves finished runs into their operations (result or timeout error) and frees VMs whose run
/// is over. Called under the state lock at the start of every ARM request.
pub fn settle(arm: &mut ArmState, runs: &RunSlots, now: f64) {
    let mut slots = runs.0.lock();
    let ArmState {
        operations, vms, ..
    } = arm;
    for op in operations
        .iter_mut()
        .filter(|o| o.kind == OpKind::RunCommand && o.done_at.is_none())
    {
        let Some(slot) = slots.get(&op.id) else {
            // the emulator restarted from a snapshot (or was reset): the child is gone
            op.done_at = Some(now);
            op.error = Some((
                "InternalExecutionError".into(),
                "The run command was interrupted.".into(),
            ));
            continue;
        };
        let Some(outcome) = &slot.outcome else {
            continue;
        };
        let windows = vms
            .iter()
            .any(|v| v.id().eq_ignore_ascii_case(&op.resource_id) && v.is_windows());
        op.done_at = Some(now.max(slot.min_done_at));
        if outcome.timed_out {
            op.error = Some((
                "VMExtensionProvisioningTimeout".into(),
                format!(
                    "Run command execution exceeded the time limit of {} seconds.",
                    slot.timeout as u64
                ),
            ));
        } else {
            op.result = Some(result(windows, &outcome.stdout, &outcome.stderr));
        }
        slots.remove(&op.id);
    }
    for vm in vms.iter_mut() {
        if let Some(id) = &vm.active_run {
            let running = operations
                .iter()
                .find(|o| &o.id == id)
                .is_some_and(|o| o.status(now) == OpStatus::InProgress);
            if !running {
                vm.active_run = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::arm::vms::VmIdentity;

    fn vm(os: &str) -> Vm {
        Vm {
            subscription_id: "s".into(),
            resource_group: "rg".into(),
            name: "v".into(),
            location: "eastus".into(),
            os: os.into(),
            vm_id: "id".into(),
            size: "Standard_B2s".into(),
            tags: Default::default(),
            identity: VmIdentity::default(),
            created_at: 0.0,
            updating_until: 0.0,
            active_run: None,
            overlay: Value::Null,
        }
    }

    #[test]
    fn command_must_fit_the_os() {
        let linux = vm("Linux");
        let ok = validate(&linux, &json!({"commandId": "RunShellScript", "script": ["echo a", "echo b"], "parameters": [{"name": "X_1", "value": "v"}]})).unwrap();
        assert_eq!(ok.program(), "echo a\necho b");
        assert_eq!(ok.parameters, vec![("X_1".to_string(), "v".to_string())]);
        let e = validate(&linux, &json!({"commandId": "RunPowerShellScript"})).unwrap_err();
        assert_eq!(
            e.message,
            "The entity was not found in this Azure location."
        );
        assert!(validate(&vm("Windows"), &json!({"commandId": "RunPowerShellScript"})).is_ok());
        assert_eq!(validate(&linux, &json!({})).unwrap_err().status, 400);
        assert_eq!(validate(&linux, &json!({"commandId": "RunShellScript", "parameters": [{"name": "1bad", "value": ""}]})).unwrap_err().status, 400);
        assert_eq!(
            validate(
                &linux,
                &json!({"commandId": "RunShellScript", "script": [1]})
            )
            .unwrap_err()
            .status,
            400
        );
    }

    #[test]
    fn output_is_capped_to_the_last_4096_bytes() {
        let mut big = vec![b'a'; 5000];
        big.extend_from_slice(b"END");
        let t = cap_tail(&big);
        assert_eq!(t.len(), 4096);
        assert!(t.ends_with("END"));
        assert_eq!(cap_tail(b"short"), "short");
    }

    #[test]
    fn result_shapes() {
        let r = result(false, b"hello\n", b"");
        assert_eq!(r["value"][0]["code"], "ProvisioningState/succeeded");
        assert_eq!(
            r["value"][0]["message"],
            "Enable succeeded: \n[stdout]\nhello\n\n[stderr]\n"
        );
        let w = result(true, b"o", b"e");
        assert_eq!(w["value"][1]["code"], "ComponentStatus/StdErr/succeeded");
        assert_eq!(w["value"][0]["message"], "o");
    }

    #[test]
    fn one_run_at_a_time() {
        let mut v = vm("Linux");
        begin(&mut v, "op1").unwrap();
        let e = begin(&mut v, "op2").unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (409, "Conflict"));
        assert_eq!(e.message, "Run command extension execution is in progress. Please wait for completion before invoking a run command.");
        v.active_run = None;
        begin(&mut v, "op3").unwrap();
    }
}
