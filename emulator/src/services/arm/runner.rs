//! Runs a Run Command script for real: a child process (`bash -c` on Linux VMs, `pwsh -Command`
//! on Windows VMs) with a clean environment (only the VM's managed-identity variables from
//! `services::msi::vm_child_env` plus the command's parameters), a time limit, and its output
//! collected into the emulator's run slots (`Ctx::runs`), which the ARM handlers settle into
//! state (`model::arm::run_command::settle`).
//!
//! Why a slot registry instead of writing state from the task: handlers hold `&Ctx` only, and
//! the state lock must never be held across an await; polling settles the result under the lock.

use crate::model::arm::run_command::{Outcome, RunInput, RunSlots};
use std::process::Stdio;
use std::time::Duration;

/// Starts the child for operation `op_id` on a background task.
pub fn start(
    runs: &RunSlots,
    op_id: &str,
    windows: bool,
    input: RunInput,
    env: Vec<(String, String)>,
    timeout: f64,
    min_done_at: f64,
) {
    runs.open(op_id, min_done_at, timeout);
    let (runs, id) = (runs.clone(), op_id.to_string());
    tokio::spawn(async move {
        let outcome = execute(windows, &input, env, timeout).await;
        runs.finish(&id, outcome);
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
