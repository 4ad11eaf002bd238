//! End-to-end harness: an in-process emulator (port 0, from a world YAML string), the real
//! `keyless` binary run as a child process against it, and an independent ARM client (reqwest,
//! trusting only the emulator's CA) to make hand-made changes and to inspect state.
//!
//! Every run of `keyless` is checked for leaked secrets: its stdout and stderr must never contain
//! a client secret of the world or anything that looks like a JWT (`eyJ`).
#![allow(dead_code)]

mod manifest;
#[allow(unused_imports)] // not every test binary builds manifests
pub use manifest::*;

use keyless_emulator::world::World;
use keyless_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const SUB: &str = "00000000-0000-0000-0000-000000000001";
/// The application keyless signs in as.
pub const CALLER_APP: &str = "02c9c9c9-94eb-4679-b028-dc2d87c68594";
pub const CALLER_OID: &str = "e915c248-63f8-4933-8907-14f4d6b78ee2";
pub const CALLER_SECRET: &str = "e2e-caller-secret-Zq8wX1";
/// The application the test client signs in as (Owner of the subscription in every world).
pub const ADMIN_APP: &str = "a11d0000-0000-4000-8000-000000000001";
pub const ADMIN_OID: &str = "a11d0000-0000-4000-8000-000000000002";
pub const ADMIN_SECRET: &str = "e2e-admin-secret-Pw3kT7";
pub const ALICE_UPN: &str = "alice@contoso.onmicrosoft.com";
pub const ALICE_OID: &str = "19766392-d36b-411a-92a6-08624e9a21d5";
pub const BOB_UPN: &str = "bob@contoso.onmicrosoft.com";
pub const BOB_OID: &str = "9d819702-8496-4e8a-a9cc-6c86a0914ac2";
pub const GROUP_NAME: &str = "team-alpha-devs";
pub const GROUP_OID: &str = "fff7a640-a760-4670-8b39-78dd850dab14";

/// Built-in role definition GUIDs.
pub const OPENAI_USER: &str = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd";
pub const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";

pub const RG_CI: &str = "rg-ci";
pub const VM1: &str = "build-agent-01";
pub const VM2: &str = "build-agent-02";

/// Every `keyless` run is bounded by this.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(150);

/// Knobs for [`world`].
pub struct WorldOpts<'a> {
    /// `timing.propagationDelay`.
    pub propagation: &'a str,
    /// `timing.replicationDelay`.
    pub replication: &'a str,
    /// The caller's role at the subscription.
    pub caller_role: &'a str,
    /// Extra top-level keys (must not repeat a base key).
    pub extra: &'a str,
}

impl Default for WorldOpts<'_> {
    fn default() -> Self {
        WorldOpts {
            propagation: "0s",
            replication: "0s",
            caller_role: "Owner",
            extra: "",
        }
    }
}

/// A world: one tenant and subscription, the caller app and an admin app, two users, a group,
/// resource group `rg-ci` with two Linux VMs (`build-agent-01` already has a user-assigned
/// identity `uami-ci`). Long-running operations take 200 ms instead of 1 s, to keep tests fast.
pub fn world(o: &WorldOpts) -> String {
    format!(
        r#"
tenant: {{ id: {TENANT}, domain: contoso.onmicrosoft.com }}
subscriptions: [ {{ id: {SUB}, name: E2E }} ]
caller: keyless-pipeline
timing:
  tokenLifetime: 3600s
  propagationDelay: "{prop}"
  replicationDelay: "{repl}"
  runCommandMinDuration: 0s
  provisioningDelay: 200ms
users:
  - {{ upn: {ALICE_UPN}, id: {ALICE_OID}, displayName: Alice }}
  - {{ upn: {BOB_UPN}, id: {BOB_OID}, displayName: Bob }}
groups:
  - {{ name: {GROUP_NAME}, id: {GROUP_OID}, members: [ "user:{ALICE_UPN}" ] }}
applications:
  - {{ name: keyless-pipeline, appId: {CALLER_APP}, objectId: {CALLER_OID}, secrets: [ "{CALLER_SECRET}" ] }}
  - {{ name: e2e-admin, appId: {ADMIN_APP}, objectId: {ADMIN_OID}, secrets: [ "{ADMIN_SECRET}" ] }}
resourceGroups:
  - {{ name: {RG_CI}, location: eastus }}
vms:
  - {{ name: {VM1}, resourceGroup: {RG_CI}, location: eastus, os: Linux,
      systemAssigned: false, userAssignedIdentities: [ {{ name: uami-ci, resourceGroup: {RG_CI} }} ] }}
  - {{ name: {VM2}, resourceGroup: {RG_CI}, location: eastus, os: Linux, systemAssigned: false }}
roleAssignments:
  - {{ scope: "/subscriptions/{SUB}", role: "{role}", principal: "app:keyless-pipeline", principalType: ServicePrincipal }}
  - {{ scope: "/subscriptions/{SUB}", role: Owner, principal: "app:e2e-admin", principalType: ServicePrincipal }}
{extra}
"#,
        prop = o.propagation,
        repl = o.replication,
        role = o.caller_role,
        extra = o.extra,
    )
}

pub fn account_id(rg: &str, name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{name}")
}

pub fn rg_id(rg: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}")
}

pub fn deployment_id(rg: &str, account: &str, name: &str) -> String {
    format!("{}/deployments/{name}", account_id(rg, account))
}

pub fn vm_id(rg: &str, name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}")
}

/// One finished `keyless` run.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The JSON events of stdout (lines that parse as JSON objects with `event`).
    pub events: Vec<Value>,
    /// Emulator clock (unix seconds) when the process was seen to exit.
    pub exited_at: f64,
    /// Wall time the run took.
    pub elapsed: Duration,
}

impl Run {
    /// Events named `name`.
    pub fn events(&self, name: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["event"] == name).collect()
    }

    /// Panics with the full output unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code\n{}",
            self.dump()
        );
        self
    }

    /// stdout + stderr, for assertion messages.
    pub fn dump(&self) -> String {
        format!(
            "--- exit {:?} after {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.elapsed, self.stdout, self.stderr
        )
    }

    /// Everything keyless printed.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// The `plan` events' action lists, concatenated.
    pub fn plan_actions(&self) -> Vec<Value> {
        self.events("plan")
            .iter()
            .flat_map(|p| p["plan"]["actions"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// The `type` of every planned action, in plan order: most tests check which kinds of
    /// change keyless planned, not their details.
    pub fn action_types(&self) -> Vec<String> {
        self.plan_actions()
            .iter()
            .filter_map(|a| a["type"].as_str().map(str::to_string))
            .collect()
    }

    /// Panics unless the run took less than `limit`; `why` says what bounds it (several tests
    /// check that keyless fails fast or within its timeout instead of hanging).
    pub fn expect_faster_than(&self, limit: Duration, why: &str) -> &Run {
        assert!(self.elapsed < limit, "{why} ({:?})", self.elapsed);
        self
    }

    /// The `plan` events' errors, concatenated.
    pub fn plan_errors(&self) -> Vec<Value> {
        self.events("plan")
            .iter()
            .flat_map(|p| p["plan"]["errors"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

/// An emulator, a working directory with manifests, and a test ARM client.
pub struct Env {
    pub emu: RunningEmulator,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    secrets: Vec<String>,
}

impl Env {
    /// Starts an emulator from `world_yaml`.
    pub async fn start(world_yaml: &str) -> Env {
        let world = World::parse(world_yaml, "e2e-world.yaml").expect("test world parses");
        let secrets: Vec<String> = world
            .applications
            .iter()
            .flat_map(|a| a.secrets.clone())
            .collect();
        assert!(
            !secrets.is_empty(),
            "the world has client secrets to look for"
        );
        let emu = Emulator::start(EmulatorConfig::new(world))
            .await
            .expect("emulator starts");
        let ca = reqwest::Certificate::from_pem(emu.ca_pem().as_bytes()).expect("CA PEM");
        let http = reqwest::Client::builder()
            .add_root_certificate(ca)
            .tls_built_in_root_certs(false)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Env {
            emu,
            dir: tempfile::tempdir().expect("tempdir"),
            http,
            secrets,
        }
    }

    pub async fn with(o: &WorldOpts<'_>) -> Env {
        Env::start(&world(o)).await
    }

    pub fn base(&self) -> String {
        self.emu.base_url().to_string()
    }

    /// Writes `text` to `{tempdir}/{name}` and returns the path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write manifest");
        p
    }

    /// The environment a keyless child gets: only what the brief lists (plus PATH and HOME).
    fn command(&self, args: &[&str]) -> Command {
        self.command_for(env!("CARGO_BIN_EXE_keyless"), args)
    }

    /// `program ARGS` with the environment a keyless child gets (for wrappers such as `script`,
    /// which gives keyless a terminal).
    pub fn command_for(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.args(args)
            .env_clear()
            .current_dir(self.dir.path())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("NO_COLOR", "1")
            .env("KEYLESS_AUTH", "service-principal")
            .env("KEYLESS_CA_FILE", self.emu.ca_pem_path())
            .env("KEYLESS_ARM_ENDPOINT", self.base())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in self.emu.client_env() {
            if matches!(
                k.as_str(),
                "AZURE_AUTHORITY_HOST"
                    | "AZURE_TENANT_ID"
                    | "AZURE_CLIENT_ID"
                    | "AZURE_CLIENT_SECRET"
                    | "AZURE_SUBSCRIPTION_ID"
            ) {
                c.env(k, v);
            }
        }
        c
    }

    /// Runs `keyless ARGS` (with `--output json` added for plan/apply/verify) to completion.
    pub async fn keyless(&self, args: &[&str]) -> Run {
        let child = self.spawn(args);
        self.collect(child, args).await
    }

    /// Waits for a `keyless ARGS` started with [`Env::spawn`] and checks its output as
    /// [`Env::keyless`] does (for scenarios that act on Azure while keyless runs).
    pub async fn collect(&self, mut child: Child, args: &[&str]) -> Run {
        let t0 = Instant::now();
        let mut out = child.stdout.take().expect("stdout");
        let mut err = child.stderr.take().expect("stderr");
        let fut = async {
            let (mut o, mut e) = (Vec::new(), Vec::new());
            let (r1, r2, status) = tokio::join!(
                out.read_to_end(&mut o),
                err.read_to_end(&mut e),
                child.wait()
            );
            r1.expect("read stdout");
            r2.expect("read stderr");
            (o, e, status.expect("wait"))
        };
        let (o, e, status) = match tokio::time::timeout(RUN_TIMEOUT, fut).await {
            Ok(x) => x,
            Err(_) => panic!("keyless {args:?} did not finish within {RUN_TIMEOUT:?}"),
        };
        let exited_at = self.emu.ctx().now();
        let json_mode = matches!(args.first(), Some(&("plan" | "apply" | "verify")));
        let run = self.finish(
            status.code(),
            String::from_utf8_lossy(&o).into_owned(),
            String::from_utf8_lossy(&e).into_owned(),
            exited_at,
            t0.elapsed(),
        );
        if json_mode {
            for line in run.stdout.lines().filter(|l| !l.trim().is_empty()) {
                let ok = serde_json::from_str::<Value>(line)
                    .map(|v| v["event"].is_string() && v["time"].is_string())
                    .unwrap_or(false);
                assert!(
                    ok,
                    "with --output json every stdout line is an event: {line:?}\n{}",
                    run.dump()
                );
            }
        }
        run
    }

    /// Starts `keyless ARGS` (adding `--output json` for plan/apply/verify).
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.spawn_with(args, &[], &[])
    }

    /// [`Env::spawn`] with its stdout read as JSON events, for scenarios that act on what keyless
    /// reports while it runs.
    pub fn spawn_events(&self, args: &[&str]) -> (Child, EventStream) {
        let mut child = self.spawn(args);
        let events = EventStream::new(child.stdout.take().expect("stdout"));
        (child, events)
    }

    /// Runs `keyless ARGS` as a person would (no `--output json` added), with extra variables;
    /// its output goes through the same secret check.
    pub async fn keyless_human(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let mut c = self.command(args);
        for (k, v) in vars {
            c.env(k, v);
        }
        let child = c.spawn().expect("spawn keyless");
        self.collect(child, &["(human)"]).await
    }

    /// [`Env::spawn`] with some environment variables set to other values and some unset.
    pub fn spawn_with(&self, args: &[&str], vars: &[(&str, &str)], unset: &[&str]) -> Child {
        let mut a: Vec<&str> = args.to_vec();
        if matches!(args.first(), Some(&("plan" | "apply" | "verify"))) {
            a.extend(["--output", "json"]);
        }
        let mut c = self.command(&a);
        for (k, v) in vars {
            c.env(k, v);
        }
        for k in unset {
            c.env_remove(k);
        }
        c.spawn().expect("spawn keyless")
    }

    /// Builds a [`Run`] from captured output, asserting that nothing secret leaked.
    pub fn finish(
        &self,
        code: Option<i32>,
        stdout: String,
        stderr: String,
        exited_at: f64,
        elapsed: Duration,
    ) -> Run {
        let events: Vec<Value> = stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("event").is_some())
            .collect();
        let run = Run {
            code,
            stdout,
            stderr,
            events,
            exited_at,
            elapsed,
        };
        self.assert_no_secrets(&run.all_output(), &run);
        if std::env::var_os("KEYLESS_E2E_DEBUG").is_some() {
            eprintln!("{}", run.dump());
        }
        run
    }

    /// No client secret of the world and no JWT-looking string in `text`.
    pub fn assert_no_secrets(&self, text: &str, run: &Run) {
        for s in &self.secrets {
            assert!(
                !text.contains(s.as_str()),
                "keyless printed a client secret\n{}",
                run.dump()
            );
        }
        assert!(
            !text.contains("eyJ"),
            "keyless printed something that looks like a JWT\n{}",
            run.dump()
        );
    }

    // ------------------------------------------------------------------ test ARM client

    /// A token for the admin app (`resource` like `https://management.azure.com`).
    pub async fn token(&self, resource: &str) -> String {
        let r = self
            .http
            .post(format!("{}/{TENANT}/oauth2/v2.0/token", self.base()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", ADMIN_APP),
                ("client_secret", ADMIN_SECRET),
                ("scope", &format!("{resource}/.default")),
            ])
            .send()
            .await
            .expect("token request");
        assert_eq!(r.status(), 200, "test client token request failed");
        let v: Value = r.json().await.expect("token json");
        v["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// Waits until a `method` request whose path ends with `path_suffix` was answered by an
    /// injected fault (keyless got that far), failing after 60 s.
    pub async fn until_fault_hit(&self, method: &str, path_suffix: &str) {
        let t0 = Instant::now();
        loop {
            let hit = self.emu.requests().iter().any(|e| {
                e.method == method
                    && e.path.ends_with(path_suffix)
                    && e.injected.as_deref() == Some("fault")
            });
            if hit {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "keyless never sent {method} …{path_suffix}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Long-running operations started from now on take `seconds`.
    pub fn set_provisioning(&self, seconds: f64) {
        self.emu
            .ctx()
            .state
            .lock()
            .arm
            .settings
            .provisioning_seconds = seconds;
    }

    /// Tokens issued from now on live `lifetime` (e.g. `"3s"`), through the admin API.
    pub async fn set_token_lifetime(&self, lifetime: &str) {
        self.admin(
            reqwest::Method::PATCH,
            "timing",
            Some(json!({ "tokenLifetime": lifetime })),
        )
        .await;
    }

    /// One ARM call as the admin app: (status, body or Null).
    pub async fn arm(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let token = self.token("https://management.azure.com").await;
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let url = format!("{}{path}", self.base());
        let (status, text) = self.send(m, &url, Some(&token), body).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// One request with the test client (bearer `token`, JSON `body`): (status, body text).
    /// The ARM and admin helpers share it.
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, String) {
        let mut rb = self.http.request(method.clone(), url);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = r.status().as_u16();
        (status, r.text().await.unwrap_or_default())
    }

    /// Assignments defined exactly at `scope` (`atScope()` filtered to the scope itself).
    pub async fn assignments_at(&self, scope: &str) -> Vec<Value> {
        let (status, v) = self
            .arm(
                "GET",
                &format!("{scope}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=atScope()"),
                None,
            )
            .await;
        assert_eq!(status, 200, "listing assignments at {scope}: {v}");
        v["value"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|a| {
                a["properties"]["scope"]
                    .as_str()
                    .unwrap_or("")
                    .eq_ignore_ascii_case(scope)
            })
            .collect()
    }

    /// Assignments at `scope` for (role GUID, principal).
    pub async fn assignments_for(&self, scope: &str, role: &str, principal: &str) -> Vec<Value> {
        self.assignments_at(scope)
            .await
            .into_iter()
            .filter(|a| {
                role_guid(&a["properties"]["roleDefinitionId"]).eq_ignore_ascii_case(role)
                    && a["properties"]["principalId"]
                        .as_str()
                        .unwrap_or("")
                        .eq_ignore_ascii_case(principal)
            })
            .collect()
    }

    /// Creates an assignment by hand under a random GUID name.
    pub async fn create_assignment(
        &self,
        scope: &str,
        role: &str,
        principal: &str,
        principal_type: &str,
        description: Option<&str>,
    ) -> String {
        let name = uuid::Uuid::new_v4().to_string();
        let mut props = json!({
            "roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{role}"),
            "principalId": principal,
            "principalType": principal_type,
        });
        if let Some(d) = description {
            props["description"] = json!(d);
        }
        let (status, v) = self
            .arm(
                "PUT",
                &format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01"),
                Some(json!({ "properties": props })),
            )
            .await;
        assert!(
            status == 201 || status == 200,
            "hand-made assignment: {status} {v}"
        );
        name
    }

    /// Deletes an assignment by its full id.
    pub async fn delete_assignment(&self, id: &str) {
        let (status, v) = self
            .arm("DELETE", &format!("{id}?api-version=2022-04-01"), None)
            .await;
        assert_eq!(status, 200, "deleting {id}: {v}");
    }

    /// `GET {id}?api-version={api_version}` as the admin app: (status, body or Null). The one
    /// way the tests read an ARM resource.
    pub async fn arm_get(&self, id: &str, api_version: &str) -> (u16, Value) {
        self.arm("GET", &format!("{id}?api-version={api_version}"), None)
            .await
    }

    /// GET an account (None when 404).
    pub async fn get_account(&self, rg: &str, name: &str) -> Option<Value> {
        let (s, v) = self.arm_get(&account_id(rg, name), "2024-10-01").await;
        match s {
            200 => Some(v),
            404 => None,
            _ => panic!("GET account {name}: {s} {v}"),
        }
    }

    /// GET a model deployment: (status, body or Null).
    pub async fn get_deployment(&self, rg: &str, account: &str, name: &str) -> (u16, Value) {
        self.arm_get(&deployment_id(rg, account, name), "2024-10-01")
            .await
    }

    /// GET a VM.
    pub async fn get_vm(&self, rg: &str, name: &str) -> Value {
        let (s, v) = self.arm_get(&vm_id(rg, name), "2024-07-01").await;
        assert_eq!(s, 200, "GET VM {name}: {v}");
        v
    }

    // ------------------------------------------------------------------ emulator admin

    /// One call to the emulator's admin API, `/_emulator/{path}`, which must answer 200; its
    /// JSON body (or Null). Every admin call goes through here so each asserts the same way.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/_emulator/{path}", self.base());
        let (status, text) = self.send(method.clone(), &url, None, body).await;
        assert_eq!(status, 200, "{method} {url}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// The state dump (`GET /_emulator/state`).
    pub async fn state(&self) -> Value {
        self.admin(reqwest::Method::GET, "state", None).await
    }

    /// Back to the world as loaded (`POST /_emulator/reset`).
    pub async fn reset(&self) {
        self.admin(reqwest::Method::POST, "reset", None).await;
    }

    /// ARM writes + deletes counted so far.
    pub fn arm_mutations(&self) -> u64 {
        let c = self.emu.counters();
        c.arm_writes + c.arm_deletes
    }

    /// `PUT /_emulator/faults`.
    pub async fn put_faults(&self, faults: Value) {
        self.admin(reqwest::Method::PUT, "faults", Some(faults))
            .await;
    }

    /// Every role assignment in the emulator, as (scope, role GUID, principal) keys with counts
    /// above one.
    pub async fn duplicate_assignments(&self) -> Vec<(String, usize)> {
        let st = self.state().await;
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for a in st["arm"]["roleAssignments"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let k = format!(
                "{}|{}|{}",
                a["scope"].as_str().unwrap_or("").to_ascii_lowercase(),
                role_guid(&a["roleDefinitionId"]).to_ascii_lowercase(),
                a["principalId"].as_str().unwrap_or("").to_ascii_lowercase()
            );
            *counts.entry(k).or_default() += 1;
        }
        counts.into_iter().filter(|(_, n)| *n > 1).collect()
    }
}

/// The GUID at the end of a role definition id.
pub fn role_guid(v: &Value) -> String {
    v.as_str()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string()
}

/// A child's stdout read line by line as JSON events.
pub struct EventStream {
    lines: tokio::io::Lines<BufReader<ChildStdout>>,
    pub raw: String,
}

impl EventStream {
    pub fn new(stdout: ChildStdout) -> EventStream {
        EventStream {
            lines: BufReader::new(stdout).lines(),
            raw: String::new(),
        }
    }

    /// The next event (None at end of output).
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            let line = self.lines.next_line().await.ok()??;
            self.raw.push_str(&line);
            self.raw.push('\n');
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if v.get("event").is_some() {
                    return Some(v);
                }
            }
        }
    }

    /// Reads events until one satisfies `pred` and returns it; panics naming `what` if the
    /// output ends first or `within` passes (scenarios that act on keyless mid-run wait so).
    pub async fn wait_for(
        &mut self,
        within: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let found = tokio::time::timeout(within, async {
            while let Some(e) = self.next().await {
                if pred(&e) {
                    return Some(e);
                }
            }
            None
        })
        .await
        .unwrap_or_else(|_| panic!("{what}: not within {within:?}"));
        found.unwrap_or_else(|| panic!("keyless's output ended before {what}\n{}", self.raw))
    }

    /// Reads the rest of the output.
    pub async fn drain(&mut self) {
        while self.next().await.is_some() {}
    }
}

/// Sends SIGINT (what Ctrl-C sends) to `pid`, for the scenarios that interrupt keyless.
pub fn sigint(pid: u32) {
    let ok = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill -INT")
        .success();
    assert!(ok, "kill -INT {pid}");
}

/// Path as &str.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
