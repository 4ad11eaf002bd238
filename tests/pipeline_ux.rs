//! keyless in a pipeline, as a build agent's log shows it: heartbeat lines while a long wait has
//! no terminal, `-v`/`KEYLESS_LOG`/`RUST_LOG` logs that never carry a token or secret, GitHub
//! annotations on the manifest line, shell completions and a man page, and the approval prompt
//! a person at a terminal gets (and a pipeline does not).

mod common;

use common::*;

fn manifest(env: &Env) -> std::path::PathBuf {
    ManifestBuilder::quickstart("ux")
        .grant(&[Principal::Me])
        .verify_off()
        .write(env.dir.path(), "ux.yaml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_terminal_long_waits_say_they_are_still_going() {
    let env = Env::with(&WorldOpts::default()).await;
    // Account creation takes 3.5 s; a heartbeat every second must show it at least twice.
    env.set_provisioning(3.5);
    let m = manifest(&env);
    let run = env
        .keyless_human(&["apply", s(&m)], &[("KEYLESS_HEARTBEAT_SECS", "1")])
        .await;
    run.expect_code(0);
    let beats: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("still waiting…") && l.contains("accounts/oai-e2e"))
        .collect();
    assert!(
        beats.len() >= 2,
        "expected heartbeat lines for the account\n{}",
        run.dump()
    );
    assert!(
        beats.iter().any(|l| l.contains("[1s elapsed]")),
        "{}",
        run.dump()
    );
    assert!(
        beats.iter().any(|l| l.contains("[2s elapsed]")),
        "{}",
        run.dump()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_at_every_level_show_requests_and_never_a_secret_or_token() {
    let env = Env::with(&WorldOpts::default()).await;
    let m = manifest(&env);
    type Level<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);
    let levels: [Level; 5] = [
        (&["-v"], &[]),
        (&["-vv"], &[]),
        (&[], &[("KEYLESS_LOG", "trace")]),
        // every library's spans, the Azure SDK's included
        (&[], &[("RUST_LOG", "trace")]),
        (
            &[],
            &[("KEYLESS_LOG", "keyless::retry=debug,keyless::http=trace")],
        ),
    ];
    for (flags, vars) in levels {
        env.reset().await;
        let mut args: Vec<&str> = flags.to_vec();
        args.extend(["apply", s(&m)]);
        // `keyless_human` fails the test if a world secret or anything JWT-shaped is printed.
        let run = env.keyless_human(&args, vars).await;
        run.expect_code(0);
        assert!(
            run.stderr.contains("keyless::http") && run.stderr.contains("/oauth2/v2.0/token → 200"),
            "{flags:?} {vars:?} logs requests, token requests included\n{}",
            run.dump()
        );
        assert!(
            run.stderr.contains("PUT https://") && run.stderr.contains("(request id "),
            "{flags:?} {vars:?}: writes with their request ids\n{}",
            run.dump()
        );
    }
    // Without -v or a filter: no log lines at all.
    env.reset().await;
    let quiet = env.keyless_human(&["apply", s(&m)], &[]).await;
    quiet.expect_code(0);
    assert!(!quiet.stderr.contains("keyless::http"), "{}", quiet.dump());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_github_actions_manifest_errors_are_annotations_on_their_line() {
    let env = Env::with(&WorldOpts::default()).await;
    let text =
        ManifestBuilder::quickstart("ux")
            .build()
            .replacen("resourceGroups:", "resourceGroupz:", 1);
    let m = env.write("bad.yaml", &text);
    let line = text
        .lines()
        .position(|l| l.starts_with("resourceGroupz:"))
        .unwrap()
        + 1;
    let gh = [("GITHUB_ACTIONS", "true")];
    for args in [vec!["validate", s(&m)], vec!["plan", s(&m)]] {
        let run = env.keyless_human(&args, &gh).await;
        run.expect_code(1);
        let expected = format!(
            "::error file={},line={line},col=1,title=keyless%3A%3Amanifest%3A%3A",
            s(&m)
        );
        assert!(
            run.stderr.contains(&expected),
            "{args:?}: no annotation `{expected}`\n{}",
            run.dump()
        );
        assert!(
            run.stderr.contains("did you mean `resourceGroups`?"),
            "{}",
            run.dump()
        );
    }
    // Outside GitHub Actions: no workflow commands.
    let run = env.keyless_human(&["validate", s(&m)], &[]).await;
    assert!(!run.stderr.contains("::error"), "{}", run.dump());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_for_four_shells_and_a_man_page() {
    let env = Env::with(&WorldOpts::default()).await;
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef keyless"),
        ("fish", "complete -c keyless"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let run = env.keyless_human(&["completions", shell], &[]).await;
        run.expect_code(0);
        assert!(run.stdout.contains(marker), "{shell}\n{}", run.dump());
        for sub in ["validate", "plan", "apply", "verify", "schema"] {
            assert!(run.stdout.contains(sub), "{shell} completes `{sub}`");
        }
        if shell == "bash" {
            let path = env.write("keyless.bash", &run.stdout);
            let ok = std::process::Command::new("bash")
                .arg("-n")
                .arg(&path)
                .status()
                .unwrap();
            assert!(ok.success(), "the bash completion script parses");
        }
    }
    let man = env.keyless_human(&["man"], &[]).await;
    man.expect_code(0);
    assert!(man.stdout.contains("\n.TH keyless 1 "), "{}", man.dump());
    assert!(man.stdout.contains(r"\fB\-\-verbose\fR"), "{}", man.dump());
    for sub in ["apply", "plan", "verify", "validate", "completions"] {
        let listed = format!(r"keyless\-{sub}(1)");
        assert!(
            man.stdout.contains(&listed),
            "man lists `{sub}`\n{}",
            man.dump()
        );
    }
}

/// Runs `keyless ARGS` on a pseudo-terminal (util-linux `script`), typing `answer`.
async fn on_a_terminal(env: &Env, args: &str, answer: &str) -> Run {
    use tokio::io::AsyncWriteExt;
    let cmd = format!("{} {args}", env!("CARGO_BIN_EXE_keyless"));
    let mut c = env.command_for("script", &["-qec", &cmd, "/dev/null"]);
    c.stdin(std::process::Stdio::piped());
    let mut child = c
        .spawn()
        .expect("script (util-linux) runs keyless on a pty");
    let mut stdin = child.stdin.take().unwrap();
    // Type once the question is on screen (the plan comes first); a pty buffers the line.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    stdin.write_all(answer.as_bytes()).await.unwrap();
    stdin.flush().await.unwrap();
    env.collect(child, &["(pty)"]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_at_a_terminal_approves_before_anything_is_written() {
    let env = Env::with(&WorldOpts::default()).await;
    let m = manifest(&env);
    // What planning alone sends (checkDomainAvailability is a POST, counted as a mutation).
    let t0 = env.arm_mutations();
    env.keyless(&["plan", s(&m)]).await.expect_code(0);
    let planning = env.arm_mutations() - t0;
    let before = env.arm_mutations();
    let no = on_a_terminal(&env, &format!("apply {}", s(&m)), "no\n").await;
    assert_eq!(no.code, Some(1), "{}", no.dump());
    assert!(
        no.stdout.contains("Only `yes` will be accepted"),
        "{}",
        no.dump()
    );
    assert!(
        no.stdout.contains("Apply cancelled; nothing was changed."),
        "{}",
        no.dump()
    );
    assert_eq!(
        env.arm_mutations() - before,
        planning,
        "nothing written without a yes"
    );

    let yes = on_a_terminal(&env, &format!("apply {}", s(&m)), "yes\n").await;
    assert_eq!(yes.code, Some(0), "{}", yes.dump());
    assert!(yes.stdout.contains("Applied `ux`"), "{}", yes.dump());
    assert!(env.arm_mutations() > before);

    // --auto-approve on a terminal, and any run without a terminal, never ask.
    env.reset().await;
    let auto = on_a_terminal(&env, &format!("apply --auto-approve {}", s(&m)), "").await;
    assert_eq!(auto.code, Some(0), "{}", auto.dump());
    assert!(!auto.stdout.contains("Only `yes`"), "{}", auto.dump());
    env.reset().await;
    let piped = env.keyless_human(&["apply", s(&m)], &[]).await;
    piped.expect_code(0);
    assert!(!piped.stderr.contains("Only `yes`"), "{}", piped.dump());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_markdown_plan_goes_to_the_step_summary_with_errors_on_their_line() {
    let env = Env::with(&WorldOpts::default()).await;
    let m = manifest(&env);
    env.keyless(&["apply", s(&m)]).await.expect_code(0);
    // The same account under another subdomain: a plan error located in the manifest.
    let changed = ManifestBuilder::new("ux")
        .resource_group(QS_RG)
        .with_account(
            Account::new(QS_ACCOUNT, QS_RG, "keyless-e2e-renamed")
                .kind("OpenAI")
                .disable_local_auth(true)
                .deployment(Deployment::chat()),
        )
        .grant(&[Principal::Me])
        .verify_off();
    let text = changed.build();
    let bad = env.write("renamed.yaml", &text);
    let line = text
        .lines()
        .position(|l| l.contains("keyless-e2e-renamed"))
        .unwrap()
        + 1;
    let summary = env.dir.path().join("step-summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let gh = [("GITHUB_STEP_SUMMARY", s(&summary))];
    // Twice: GitHub's step summary is appended to, never replaced.
    for _ in 0..2 {
        let run = env
            .keyless_human(&["plan", s(&bad), "--markdown", s(&summary)], &gh)
            .await;
        run.expect_code(1);
    }
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("earlier step\n## keyless plan"), "{md}");
    assert_eq!(md.matches("## keyless plan").count(), 2, "{md}");
    assert!(
        md.contains("**❌ 1 error(s): nothing will be changed"),
        "{md}"
    );
    let place = format!("(`{}:{line}:", s(&bad));
    assert!(
        md.contains(&format!("**immutable-subdomain** {place}")),
        "{md}"
    );

    // Any other file is replaced; `-` is stdout; a clean plan says there is nothing to do.
    let other = env.dir.path().join("comment.md");
    for _ in 0..2 {
        let run = env
            .keyless_human(&["plan", s(&m), "--markdown", s(&other)], &gh)
            .await;
        run.expect_code(0);
    }
    let md = std::fs::read_to_string(&other).unwrap();
    assert_eq!(md.matches("## keyless plan").count(), 1, "{md}");
    assert!(
        md.contains("No changes: Azure matches the manifest"),
        "{md}"
    );
    let out = env
        .keyless_human(&["plan", s(&m), "--markdown", "-"], &[])
        .await;
    assert!(
        out.stdout.contains("## keyless plan\n\n### `ux`"),
        "{}",
        out.dump()
    );

    // A file that cannot be written is an error naming it, after the plan is shown.
    let nowhere = env.dir.path().join("missing-dir/plan.md");
    let run = env
        .keyless_human(&["plan", s(&m), "--markdown", s(&nowhere)], &[])
        .await;
    run.expect_code(1);
    assert!(run.stderr.contains("missing-dir/plan.md"), "{}", run.dump());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_v_the_log_says_why_keyless_waited_and_retried() {
    let env = Env::with(&WorldOpts::default()).await;
    let m = manifest(&env);
    env.put_faults(serde_json::json!({"entra": true, "rules": [
        {"path": "resourcegroups/rg-e2e", "method": "PUT", "status": 429, "count": 1, "retryAfter": 1},
        {"path": "/oauth2/v2.0/token", "method": "POST", "status": 503, "count": 1, "retryAfter": 1},
    ]}))
    .await;
    let run = env.keyless_human(&["-v", "apply", s(&m)], &[]).await;
    run.expect_code(0);
    for expected in [
        "→ 429 in",
        "keyless::retry: throttled by 127.0.0.1; Retry-After Some(1s)",
        "keyless::retry: retry 1 in 1.",
        "(Retry-After Some(1s)) after 429 TooManyRequests",
        "/oauth2/v2.0/token → 503 in",
        "keyless::retry: token request: transient failure, retry 1/4",
    ] {
        assert!(
            run.stderr.contains(expected),
            "log lacks `{expected}`\n{}",
            run.dump()
        );
    }
}

/// A JSON consumer gets every error as `{code, message, file, line, column, help}`: manifest
/// problems from `validate` and `plan`, and a plan file keyless cannot read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_consumers_get_located_problems_and_codes() {
    let env = Env::with(&WorldOpts::default()).await;
    let text =
        ManifestBuilder::quickstart("ux")
            .build()
            .replacen("resourceGroups:", "resourceGroupz:", 1);
    let m = env.write("bad.yaml", &text);
    let line = text
        .lines()
        .position(|l| l.starts_with("resourceGroupz:"))
        .unwrap()
        + 1;
    let check = |p: &serde_json::Value| {
        assert_eq!(p["file"], s(&m), "{p}");
        assert_eq!(p["line"], line, "{p}");
        assert_eq!(p["column"], 1, "{p}");
        assert!(
            p["code"]
                .as_str()
                .unwrap()
                .starts_with("keyless::manifest::"),
            "{p}"
        );
        assert_eq!(p["help"], "did you mean `resourceGroups`?", "{p}");
    };
    let validate = env
        .keyless_human(&["validate", s(&m), "--output", "json"], &[])
        .await;
    validate.expect_code(1);
    let v: serde_json::Value = serde_json::from_str(validate.stdout.trim()).unwrap();
    assert_eq!(v["valid"], false);
    check(&v["problems"][0]);
    let plan = env.keyless(&["plan", s(&m)]).await;
    plan.expect_code(1);
    let errors = plan.events("error");
    assert_eq!(errors.len(), 1, "{}", plan.dump());
    assert_eq!(errors[0]["code"], "keyless::manifest::invalid");
    check(&errors[0]["problems"][0]);

    // A plan file of another format version: refused with its code, nothing read from Azure.
    let file = env.write(
        "old-plan.json",
        r#"{"formatVersion": 1, "keylessVersion": "0", "createdAt": "x", "manifests": []}"#,
    );
    let reads = env.emu.counters().arm_reads;
    let apply = env.keyless(&["apply", s(&file)]).await;
    apply.expect_code(1);
    let errors = apply.events("error");
    assert_eq!(
        errors[0]["code"],
        "keyless::plan_file::invalid",
        "{}",
        apply.dump()
    );
    assert!(errors[0]["message"]
        .as_str()
        .unwrap()
        .contains("plan format 1 is not supported"));
    assert_eq!(env.emu.counters().arm_reads, reads);
}
