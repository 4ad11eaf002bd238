//! The embedded emulator (`--emulator`), as a new user meets it: state kept under `.keyless/` in
//! the working directory, shared by every run there — including runs at the same time.

mod common;

use common::{Account, ManifestBuilder, Principal, Scope, ALICE_UPN, OPENAI_USER_ROLE};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

const RUN_TIMEOUT: Duration = Duration::from_secs(180);

struct Finished {
    code: Option<i32>,
    output: String,
}

/// Runs `keyless ARGS` in `dir`, with nothing of the caller's environment but PATH, to the end.
async fn run(dir: &Path, args: &[&str]) -> Finished {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keyless"));
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(RUN_TIMEOUT, c.output())
        .await
        .expect("keyless finished in time")
        .expect("keyless ran");
    Finished {
        code: out.status.code(),
        output: format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The quickstart and its world, plus a second manifest for another team over the same world.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
    for f in ["quickstart.yaml", "quickstart.world.yaml"] {
        std::fs::copy(root.join(f), dir.path().join(f)).expect("copy manifest");
    }
    ManifestBuilder::new("second")
        .emulator_world("quickstart.world.yaml")
        .resource_group("rg-second")
        .with_account(Account::new(
            "oai-second",
            "rg-second",
            "keyless-second-contoso",
        ))
        .assign(
            OPENAI_USER_ROLE,
            Scope::Account("oai-second"),
            &[Principal::Me, Principal::User(ALICE_UPN)],
        )
        .write(dir.path(), "second.yaml");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_at_once_in_one_directory_lose_nothing() {
    // Two `--emulator` runs in one directory share `.keyless/emulator-state.json`. Were each to
    // start its own emulator on it, the one saving last would erase the other's writes; the
    // second must wait for the first instead, and both manifests must be in the state after.
    let dir = workdir();
    let d = dir.path();
    let a = run(
        d,
        &["apply", "quickstart.yaml", "--emulator", "--no-verify"],
    );
    let b = run(d, &["apply", "second.yaml", "--emulator", "--no-verify"]);
    let (a, b) = tokio::join!(a, b);
    assert_eq!(a.code, Some(0), "quickstart apply\n{}", a.output);
    assert_eq!(b.code, Some(0), "second apply\n{}", b.output);
    for m in ["quickstart.yaml", "second.yaml"] {
        let plan = run(d, &["plan", m, "--emulator", "--detailed-exitcode"]).await;
        assert_eq!(
            plan.code,
            Some(0),
            "{m}: its apply's writes must still be in the emulator's state\n{}",
            plan.output
        );
    }
    assert!(
        format!("{}{}", a.output, b.output).contains("waiting for it to finish"),
        "one run must have waited for the other\n--- quickstart\n{}\n--- second\n{}",
        a.output,
        b.output
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_persists_between_runs_and_reset_starts_over() {
    let dir = workdir();
    let d = dir.path();
    let first = run(d, &["apply", "second.yaml", "--emulator", "--no-verify"]).await;
    assert_eq!(first.code, Some(0), "{}", first.output);
    let again = run(
        d,
        &["plan", "second.yaml", "--emulator", "--detailed-exitcode"],
    )
    .await;
    assert_eq!(
        again.code,
        Some(0),
        "a later run sees the first one's work\n{}",
        again.output
    );
    let reset = run(
        d,
        &[
            "plan",
            "second.yaml",
            "--emulator",
            "--reset-emulator",
            "--detailed-exitcode",
        ],
    )
    .await;
    assert_eq!(
        reset.code,
        Some(2),
        "--reset-emulator starts from the world again, so everything is to create\n{}",
        reset.output
    );
}
