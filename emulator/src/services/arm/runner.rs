//! Runs a Run Command script for real: a child process (`bash -c` on Linux VMs, `pwsh -Command`
//! on Windows VMs) with a clean environment (only the VM's managed-identity variables from
//! `services::msi::vm_child_env` plus the command's parameters), a time limit, and its output
//! collected into a process-wide slot the ARM handlers settle into state.
//!
//! Why a slot registry instead of writing state from the task: handlers hold `&Ctx` only, and
//! the state lock must never be held across an await; polling settles the result under the lock.

use crate::model::arm::operations::OpKind;
use crate::model::arm::run_command::{self, RunInput};
use crate::model::State;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

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

#[derive(Debug)]
struct Slot {
    min_done_at: f64,
    timeout: f64,
    outcome: Option<Outcome>,
}

fn slots() -> &'static Mutex<HashMap<String, Slot>> {
    static SLOTS: OnceLock<Mutex<HashMap<String, Slot>>> = OnceLock::new();
    SLOTS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Starts the child for operation `op_id` on a background task.
pub fn start(
    op_id: &str,
    windows: bool,
    input: RunInput,
    env: Vec<(String, String)>,
    timeout: f64,
    min_done_at: f64,
) {
    slots().lock().insert(
        op_id.to_string(),
        Slot {
            min_done_at,
            timeout,
            outcome: None,
        },
    );
    let id = op_id.to_string();
    tokio::spawn(async move {
        let outcome = execute(windows, &input, env, timeout).await;
        if let Some(s) = slots().lock().get_mut(&id) {
            s.outcome = Some(outcome);
        }
    });
}

/// Runs one script to completion or the time limit.
pub async fn execute(
    windows: bool,
    input: &RunInput,
    env: Vec<(String, String)>,
    timeout: f64,
) -> Outcome {
    let program = input.program();
    let mut cmd = if windows {
        let mut c = tokio::process::Command::new("pwsh");
        c.args([
            "-NoLogo",
            "-NoProfile",
            "-NonInteractive",
            "-Command",
            &program,
        ]);
        c
    } else {
        let mut c = tokio::process::Command::new("bash");
        c.args(["-c", &program]);
        c
    };
    let has_path = env.iter().any(|(k, _)| k == "PATH");
    cmd.env_clear().envs(env);
    if !has_path {
        cmd.env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
    }
    cmd.envs(input.parameters.iter().cloned())
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let shell = if windows { "pwsh" } else { "bash" };
            return Outcome {
                stdout: vec![],
                stderr: format!("{shell}: {e}\n").into_bytes(),
                timed_out: false,
            };
        }
    };
    match tokio::time::timeout(
        Duration::from_secs_f64(timeout.max(0.001)),
        child.wait_with_output(),
    )
    .await
    {
        Ok(Ok(out)) => Outcome {
            stdout: out.stdout,
            stderr: out.stderr,
            timed_out: false,
        },
        Ok(Err(e)) => Outcome {
            stdout: vec![],
            stderr: format!("{e}\n").into_bytes(),
            timed_out: false,
        },
        Err(_) => Outcome {
            stdout: vec![],
            stderr: vec![],
            timed_out: true,
        },
    }
}

/// Moves finished runs into their operations (result or timeout error) and frees VMs whose run
/// is over. Called under the state lock at the start of every ARM request.
pub fn settle(st: &mut State, now: f64) {
    let mut slots = slots().lock();
    for op in st
        .arm
        .operations
        .iter_mut()
        .filter(|o| o.kind == OpKind::RunCommand && o.done_at.is_none())
    {
        let Some(slot) = slots.get(&op.id) else {
            // the emulator restarted from a snapshot: the child is gone
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
        let windows = st
            .arm
            .vms
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
            op.result = Some(run_command::result(
                windows,
                &outcome.stdout,
                &outcome.stderr,
            ));
        }
        slots.remove(&op.id);
    }
    let ops = &st.arm.operations;
    for vm in st.arm.vms.iter_mut() {
        if let Some(id) = &vm.active_run {
            let running = ops.iter().find(|o| &o.id == id).is_some_and(|o| {
                o.status(now) == crate::model::arm::operations::OpStatus::InProgress
            });
            if !running {
                vm.active_run = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_with_clean_env_parameters_and_time_limit() {
        std::env::set_var("KEYLESS_RUNNER_LEAK_CHECK", "leaked");
        let input = RunInput {
            command_id: "RunShellScript".into(),
            script: vec![
                "echo \"p=$GREETING\"".into(),
                "echo \"leak=${KEYLESS_RUNNER_LEAK_CHECK:-none}\"".into(),
                "echo err >&2".into(),
                "exit 3".into(),
            ],
            parameters: vec![("GREETING".into(), "hi".into())],
        };
        let o = execute(
            false,
            &input,
            vec![("IDENTITY_HEADER".into(), "x".into())],
            10.0,
        )
        .await;
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("p=hi"), "{out}");
        assert!(out.contains("leak=none"), "{out}");
        assert_eq!(String::from_utf8_lossy(&o.stderr), "err\n");
        assert!(!o.timed_out);
        let slow = RunInput {
            command_id: "RunShellScript".into(),
            script: vec!["sleep 5".into()],
            parameters: vec![],
        };
        let started = std::time::Instant::now();
        let o = execute(false, &slow, vec![], 0.3).await;
        assert!(o.timed_out);
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
