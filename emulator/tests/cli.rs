//! The binary as users (and the conformance suite) run it: --print-env lines, then serving.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn binary_prints_env_and_serves() {
    let dir = std::env::temp_dir().join(format!("keyless-emu-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let world = dir.join("world.yaml");
    std::fs::write(
        &world,
        "tenant: { id: 72f988bf-86f1-41af-91ab-2d7cd011db47 }\nsubscriptions: [ { id: 00000000-0000-0000-0000-000000000001 } ]\ncaller: app\napplications: [ { name: app, appId: 11111111-1111-1111-1111-111111111111, objectId: 22222222-2222-2222-2222-222222222222, secrets: [ \"it's\" ] } ]\n",
    )
    .unwrap();
    let ca = dir.join("ca.pem");
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyless-emulator"))
        .args([
            "--world",
            world.to_str().unwrap(),
            "--port",
            "0",
            "--ca-out",
            ca.to_str().unwrap(),
            "--print-env",
            "--quiet",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let out = child.stdout.take().unwrap();
    let mut env = std::collections::HashMap::new();
    for line in BufReader::new(out).lines().take(10) {
        let line = line.unwrap();
        let rest = line.strip_prefix("export ").expect("export line");
        let (k, v) = rest.split_once('=').unwrap();
        env.insert(k.to_string(), v.to_string());
    }
    let _ = child.kill();
    let _ = child.wait();
    for k in [
        "AZURE_AUTHORITY_HOST",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_SUBSCRIPTION_ID",
        "KEYLESS_ARM_ENDPOINT",
        "KEYLESS_EMULATOR_URL",
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    ] {
        assert!(env.contains_key(k), "missing {k}: {env:?}");
    }
    assert_eq!(env["AZURE_CLIENT_SECRET"], "'it'\\''s'", "shell-quoted");
    assert!(env["KEYLESS_EMULATOR_URL"].starts_with("'https://127.0.0.1:"));
    assert!(ca.exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_world_fails_with_location() {
    let dir = std::env::temp_dir().join(format!("keyless-emu-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let world = dir.join("w.yaml");
    std::fs::write(
        &world,
        "tenant: { id: 72f988bf-86f1-41af-91ab-2d7cd011db47 }\nsubscriptons: []\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keyless-emulator"))
        .args(["--world", world.to_str().unwrap()])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("w.yaml:2:"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
