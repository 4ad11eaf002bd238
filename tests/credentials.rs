//! Signing in as keyless's users do, beyond a client secret: a build agent's managed identity
//! (the endpoint a process on that VM gets), a certificate-backed service principal, and a
//! person signed in with the Azure CLI (a stand-in `az`, as the real one cannot be installed
//! here; it needs python3, which CI installs).

mod common;

use common::*;
use serde_json::Value;

/// Everything secret-based sign-in uses; unset so only the method under test can sign in.
const SECRET_VARS: [&str; 2] = ["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"];

/// VM2 gets a system-assigned identity and `Reader` on `rg-ci` (its own resource group).
fn agent_manifest() -> ManifestBuilder {
    ManifestBuilder::new("agents")
        .resource_group(RG_CI)
        .vm_identity(VM2, RG_CI)
        .assign("Reader", Scope::ResourceGroup(RG_CI), &[Principal::Vm(VM2)])
        .verify_off()
}

fn signed_in(run: &Run) -> Value {
    run.events("signedIn")
        .first()
        .map(|e| (*e).clone())
        .unwrap_or_else(|| panic!("no signedIn event\n{}", run.dump()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_agent_plans_with_its_own_managed_identity() {
    // The pipeline identity enables VM2's identity and lets it read rg-ci; then keyless runs "on"
    // VM2 with the managed-identity endpoint a process there gets (App Service style,
    // IDENTITY_ENDPOINT + IDENTITY_HEADER) and no secret at all.
    let env = Env::with(&WorldOpts::default()).await;
    let m = agent_manifest().write(&env.dir, "agents.yaml");
    env.keyless(&["apply", s(&m)]).await.expect_code(0);
    let vm = env.get_vm(RG_CI, VM2).await;
    let principal = vm["identity"]["principalId"]
        .as_str()
        .expect("VM2 has a system-assigned identity")
        .to_string();
    let on_vm = keyless_emulator::services::msi::vm_child_env(
        env.emu.ctx(),
        &vm_id(RG_CI, VM2),
        std::slice::from_ref(&principal),
    );
    let get = |k: &str| {
        on_vm
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{k} not in the VM's environment"))
    };
    let (endpoint, header) = (get("IDENTITY_ENDPOINT"), get("IDENTITY_HEADER"));
    let args = ["plan", s(&m), "--detailed-exitcode"];
    let run = env
        .collect(
            env.spawn_with(
                &args,
                &[
                    ("KEYLESS_AUTH", "managed-identity"),
                    ("IDENTITY_ENDPOINT", &endpoint),
                    ("IDENTITY_HEADER", &header),
                ],
                &SECRET_VARS,
            ),
            &args,
        )
        .await;
    run.expect_code(0);
    let who = signed_in(&run);
    assert_eq!(who["method"], "managed-identity", "{who}");
    assert_eq!(
        who["caller"]["objectId"]
            .as_str()
            .map(str::to_ascii_lowercase),
        Some(principal.to_ascii_lowercase()),
        "keyless runs as VM2's identity: {who}"
    );
    assert!(
        !run.all_output().contains(&header),
        "the managed-identity header is a secret and never shown"
    );
}

/// A self-signed certificate and key as azure_identity reads them (base64 of a PKCS#12 file
/// protected by `password`), and the certificate's SHA-1 thumbprint (hex, upper-case) as the
/// app registration lists it.
fn certificate(password: &str) -> (String, String) {
    use openssl::{asn1::Asn1Time, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509};
    let key = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey");
    let mut name = x509::X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "keyless-pipeline")
        .expect("cn");
    let name = name.build();
    let mut b = x509::X509Builder::new().expect("builder");
    b.set_version(2).expect("version");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("now"))
        .expect("nbf");
    b.set_not_after(&Asn1Time::days_from_now(30).expect("later"))
        .expect("naf");
    b.sign(&key, MessageDigest::sha256()).expect("sign");
    let cert = b.build();
    let thumbprint: String = cert
        .digest(MessageDigest::sha1())
        .expect("sha1")
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let p12 = openssl::pkcs12::Pkcs12::builder()
        .name("keyless-pipeline")
        .pkey(&key)
        .cert(&cert)
        .build2(password)
        .expect("pkcs12");
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(p12.to_der().expect("der"));
    (b64, thumbprint)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_principal_signs_in_with_a_certificate() {
    // The pipeline app gets certificates registered (as `az ad app credential reset --cert`
    // would); keyless signs in with AZURE_CLIENT_CERTIFICATE_PATH and no secret: a certificate
    // whose x5t is the same in base64 and base64url, one whose x5t is not (azure_identity sends
    // standard base64), and one with a PKCS#12 password (password-less ones are common).
    let env = Env::with(&WorldOpts::default()).await;
    let m = agent_manifest().write(&env.dir, "agents.yaml");
    // Which certificate's x5t needs `+` or `/` in standard base64 is chance: make some until
    // both kinds are there, so both are always tested.
    use base64::Engine;
    let special = |thumbprint: &str| {
        let bytes: Vec<u8> = (0..thumbprint.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&thumbprint[i..i + 2], 16).expect("hex"))
            .collect();
        base64::engine::general_purpose::STANDARD
            .encode(bytes)
            .contains(['+', '/'])
    };
    let mut plain = None;
    let mut with_special = None;
    for _ in 0..64 {
        let c = certificate("");
        match special(&c.1) {
            true if with_special.is_none() => with_special = Some(c),
            false if plain.is_none() => plain = Some(c),
            _ => {}
        }
        if plain.is_some() && with_special.is_some() {
            break;
        }
    }
    let cases = [
        (plain.expect("a certificate with a plain x5t"), ""),
        (
            with_special.expect("a certificate whose x5t has + or /"),
            "",
        ),
        (certificate("pfx-password-Q7"), "pfx-password-Q7"),
    ];
    for (i, ((p12, thumbprint), password)) in cases.into_iter().enumerate() {
        {
            let mut st = env.emu.ctx().state.lock();
            let app = st
                .directory
                .applications
                .iter_mut()
                .find(|a| a.app_id == CALLER_APP)
                .expect("the caller app");
            app.certificates.push(thumbprint.clone());
        }
        let path = env.write(&format!("cert-{i}.p12.b64"), &p12);
        let args = ["plan", s(&m)];
        let run = env
            .collect(
                env.spawn_with(
                    &args,
                    &[
                        ("KEYLESS_AUTH", "service-principal"),
                        ("AZURE_CLIENT_CERTIFICATE_PATH", s(&path)),
                        ("AZURE_CLIENT_CERTIFICATE_PASSWORD", password),
                    ],
                    &["AZURE_CLIENT_SECRET"],
                ),
                &args,
            )
            .await;
        assert_eq!(
            run.code,
            Some(0),
            "certificate {i} (thumbprint {thumbprint}, password {:?})\n{}",
            !password.is_empty(),
            run.dump()
        );
        let who = signed_in(&run);
        assert_eq!(who["method"], "service-principal-certificate", "{who}");
        assert_eq!(who["caller"]["objectId"], CALLER_OID, "{who}");
        assert!(
            !run.all_output().contains(&p12[..40]),
            "the certificate is never shown"
        );
        if !password.is_empty() {
            assert!(!run.all_output().contains(password), "nor its password");
        }
    }
}

/// A stand-in for the Azure CLI (not installable here): `az account get-access-token --output
/// json --scope S` answered the way az 2.54+ answers it, with a real token the emulator issues
/// to the pipeline app. `FAKE_AZ_MODE=logged-out` answers as az does before `az login`.
const FAKE_AZ: &str = r#"#!/usr/bin/env python3
import json, os, ssl, sys, time, urllib.parse, urllib.request
args = sys.argv[1:]
if os.environ.get("FAKE_AZ_MODE") == "logged-out":
    sys.stderr.write("ERROR: Please run 'az login' to setup account.\n")
    sys.exit(1)
assert args[:4] == ["account", "get-access-token", "--output", "json"], args
scope = args[args.index("--scope") + 1]
body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": scope,
    "client_id": os.environ["FAKE_AZ_CLIENT_ID"], "client_secret": os.environ["FAKE_AZ_SECRET"]}).encode()
ctx = ssl.create_default_context(cafile=os.environ["FAKE_AZ_CA"])
with urllib.request.urlopen(os.environ["FAKE_AZ_TOKEN_URL"], body, context=ctx) as r:
    tok = json.load(r)
exp = int(time.time()) + int(tok["expires_in"])
print(json.dumps({"accessToken": tok["access_token"],
    "expiresOn": time.strftime("%Y-%m-%d %H:%M:%S.000000", time.localtime(exp)),
    "expires_on": exp, "subscription": os.environ.get("FAKE_AZ_SUB", ""),
    "tenant": os.environ["FAKE_AZ_TENANT"], "tokenType": "Bearer"}))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signed_in_with_the_azure_cli_plans_and_a_logged_out_one_is_told_to_log_in() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::with(&WorldOpts::default()).await;
    let m = agent_manifest().write(&env.dir, "agents.yaml");
    let az = env.write("az", FAKE_AZ);
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!(
        "{}:{}",
        az.parent().expect("its directory").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let token_url = format!("{}/{TENANT}/oauth2/v2.0/token", env.base());
    let ca = env.emu.ca_pem_path().display().to_string();
    let vars = |mode: &'static str| {
        vec![
            ("KEYLESS_AUTH", "azure-cli".to_string()),
            ("PATH", path.clone()),
            ("FAKE_AZ_MODE", mode.to_string()),
            ("FAKE_AZ_TOKEN_URL", token_url.clone()),
            ("FAKE_AZ_CA", ca.clone()),
            ("FAKE_AZ_CLIENT_ID", CALLER_APP.to_string()),
            ("FAKE_AZ_SECRET", CALLER_SECRET.to_string()),
            ("FAKE_AZ_TENANT", TENANT.to_string()),
        ]
    };
    let args = ["plan", s(&m)];
    let run_with = |mode: &'static str| {
        let v = vars(mode);
        let refs: Vec<(&str, &str)> = v.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.spawn_with(&args, &refs, &SECRET_VARS)
    };
    let run = env.collect(run_with("signed-in"), &args).await;
    run.expect_code(0);
    assert_eq!(run.plan_actions().len(), 3, "{}", run.dump());
    let who = signed_in(&run);
    assert_eq!(who["method"], "azure-cli", "{who}");
    assert_eq!(who["caller"]["objectId"], CALLER_OID, "{who}");

    let run = env.collect(run_with("logged-out"), &args).await;
    assert_eq!(run.code, Some(1), "{}", run.dump());
    assert!(
        run.all_output().contains("az login"),
        "a logged-out CLI says to run `az login`\n{}",
        run.dump()
    );
}
