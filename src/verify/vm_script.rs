//! The script a VM runs (through Run Command) to prove its managed identity can call the
//! account: it takes a token from the VM's managed-identity endpoint and makes one small
//! completion call, polling *inside the VM* until access works or the deadline passes.
//!
//! Why poll inside: a Run Command costs tens of seconds in Azure and a VM runs one at a time, so
//! one Run Command per VM, not one per try. Why it never prints a token: Run Command output is
//! stored by Azure and shown to anyone with read access to the VM; the script prints only HTTP
//! status codes and Azure error codes, in `KEYLESS_*` lines that keyless parses.

use std::time::Duration;

/// What the probe calls.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    /// Account endpoint from `properties.endpoint` (ends with `/`).
    pub endpoint: String,
    /// Deployment name.
    pub deployment: String,
    /// `chat` or `completions`.
    pub api: String,
    /// Data-plane api-version.
    pub api_version: String,
    /// Token resource (audience), e.g. `https://cognitiveservices.azure.com`.
    pub resource: String,
}

impl ProbeTarget {
    /// The URL of the probe call.
    pub fn url(&self) -> String {
        let path = if self.api == "completions" {
            "completions"
        } else {
            "chat/completions"
        };
        format!(
            "{}openai/deployments/{}/{}?api-version={}",
            ensure_slash(&self.endpoint),
            self.deployment,
            path,
            self.api_version
        )
    }
    /// The smallest request body that exercises the data action.
    pub fn body(&self) -> &'static str {
        if self.api == "completions" {
            r#"{"prompt":"ping","max_tokens":1}"#
        } else {
            r#"{"messages":[{"role":"user","content":"ping"}],"max_tokens":1}"#
        }
    }
}

fn ensure_slash(s: &str) -> String {
    if s.ends_with('/') {
        s.to_string()
    } else {
        format!("{s}/")
    }
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The bash script for Linux VMs (RunShellScript), one line per array element.
pub fn linux_script(t: &ProbeTarget, timeout: Duration) -> Vec<String> {
    let script = format!(
        r#"#!/bin/bash
# keyless access probe: prints HTTP status and Azure error codes only, never a token.
set +x
URL={url}
BODY={body}
RESOURCE={resource}
DEADLINE=$(( $(date +%s) + {timeout} ))
START=$(date +%s)
TMP=$(mktemp)
trap 'rm -f "$TMP"' EXIT
get_token() {{
  if [ -n "$IDENTITY_ENDPOINT" ] && [ -n "$IDENTITY_HEADER" ]; then
    curl -sS --max-time 10 -H "X-IDENTITY-HEADER: $IDENTITY_HEADER" "$IDENTITY_ENDPOINT?api-version=2019-08-01&resource=$RESOURCE"
  else
    curl -sS --max-time 10 -H "Metadata: true" "${{IMDS_ENDPOINT:-http://169.254.169.254}}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=$RESOURCE"
  fi
}}
last=""
delay=1
attempt=0
while :; do
  attempt=$((attempt+1))
  now=$(date +%s)
  tok=$(get_token 2>/dev/null | sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p')
  if [ -z "$tok" ]; then
    status=token; code=NoManagedIdentityToken
  else
    status=$(curl -sS -o "$TMP" -w '%{{http_code}}' --max-time 30 -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' -d "$BODY" "$URL" 2>/dev/null || echo 000)
    code=$(sed -n 's/.*"code" *: *"\([^"]*\)".*/\1/p' "$TMP" | head -n 1)
  fi
  tok=""
  elapsed=$(( $(date +%s) - START ))
  state="$status/$code"
  if [ "$state" != "$last" ]; then echo "KEYLESS_PROBE attempt=$attempt elapsed=$elapsed status=$status code=$code"; last="$state"; fi
  case "$status" in
    200) echo "KEYLESS_RESULT verified elapsed=$elapsed attempts=$attempt"; exit 0 ;;
    401|403)
      case "$code" in
        PermissionDenied|"") : ;;
        *) echo "KEYLESS_RESULT failed status=$status code=$code elapsed=$elapsed"; exit 0 ;;
      esac ;;
    404) echo "KEYLESS_RESULT failed status=404 code=$code elapsed=$elapsed"; exit 0 ;;
    token) : ;;
    429|5*|000) : ;;
    *) echo "KEYLESS_RESULT failed status=$status code=$code elapsed=$elapsed"; exit 0 ;;
  esac
  if [ "$(date +%s)" -ge "$DEADLINE" ]; then echo "KEYLESS_RESULT timeout status=$status code=$code elapsed=$elapsed attempts=$attempt"; exit 0; fi
  sleep "$delay"
  delay=2
done
"#,
        url = sh_quote(&t.url()),
        body = sh_quote(t.body()),
        resource = sh_quote(&t.resource),
        timeout = timeout.as_secs().max(1),
    );
    script.lines().map(str::to_string).collect()
}

/// The PowerShell script for Windows VMs (RunPowerShellScript): the same protocol.
pub fn windows_script(t: &ProbeTarget, timeout: Duration) -> Vec<String> {
    let script = format!(
        r#"# keyless access probe: prints HTTP status and Azure error codes only, never a token.
$url = '{url}'; $body = '{body}'; $resource = '{resource}'
$deadline = (Get-Date).AddSeconds({timeout}); $start = Get-Date; $attempt = 0; $last = ''
while ($true) {{
  $attempt++; $status = ''; $code = ''
  try {{
    $t = Invoke-RestMethod -Headers @{{Metadata='true'}} -Uri "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=$resource"
    try {{
      Invoke-WebRequest -UseBasicParsing -Method Post -Uri $url -Body $body -ContentType 'application/json' -Headers @{{Authorization = "Bearer $($t.access_token)"}} | Out-Null
      $status = '200'
    }} catch {{
      $status = [string][int]$_.Exception.Response.StatusCode
      try {{ $code = ($_.ErrorDetails.Message | ConvertFrom-Json).error.code }} catch {{ }}
    }}
    $t = $null
  }} catch {{ $status = 'token'; $code = 'NoManagedIdentityToken' }}
  $elapsed = [int]((Get-Date) - $start).TotalSeconds
  if ("$status/$code" -ne $last) {{ Write-Output "KEYLESS_PROBE attempt=$attempt elapsed=$elapsed status=$status code=$code"; $last = "$status/$code" }}
  if ($status -eq '200') {{ Write-Output "KEYLESS_RESULT verified elapsed=$elapsed attempts=$attempt"; exit 0 }}
  if ($status -eq '404' -or (($status -eq '401' -or $status -eq '403') -and $code -ne 'PermissionDenied' -and $code -ne '')) {{ Write-Output "KEYLESS_RESULT failed status=$status code=$code elapsed=$elapsed"; exit 0 }}
  if ((Get-Date) -ge $deadline) {{ Write-Output "KEYLESS_RESULT timeout status=$status code=$code elapsed=$elapsed attempts=$attempt"; exit 0 }}
  Start-Sleep -Seconds 2
}}
"#,
        url = t.url().replace('\'', "''"),
        body = t.body(),
        resource = t.resource.replace('\'', "''"),
        timeout = timeout.as_secs().max(1),
    );
    script.lines().map(str::to_string).collect()
}

/// What the VM reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmProbeResult {
    /// Access works; seconds from the script's start to the first success.
    Verified {
        /// Seconds inside the VM until success.
        elapsed_secs: u64,
    },
    /// A non-retryable answer.
    Failed {
        /// HTTP status (or `token`).
        status: String,
        /// Azure error code.
        code: String,
    },
    /// Still refused at the deadline.
    Timeout {
        /// Last HTTP status.
        status: String,
        /// Last Azure error code.
        code: String,
    },
    /// No `KEYLESS_RESULT` line: the script did not run to the end.
    NoResult,
}

/// Parses the script's output (only `KEYLESS_RESULT` matters; it is always the last line).
pub fn parse_output(stdout: &str) -> VmProbeResult {
    let Some(line) = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("KEYLESS_RESULT "))
    else {
        return VmProbeResult::NoResult;
    };
    let mut words = line.split_whitespace().skip(1);
    let kind = words.next().unwrap_or_default();
    let kv: std::collections::HashMap<&str, &str> =
        words.filter_map(|w| w.split_once('=')).collect();
    let get = |k: &str| kv.get(k).copied().unwrap_or_default().to_string();
    match kind {
        "verified" => VmProbeResult::Verified {
            elapsed_secs: get("elapsed").parse().unwrap_or(0),
        },
        "failed" => VmProbeResult::Failed {
            status: get("status"),
            code: get("code"),
        },
        "timeout" => VmProbeResult::Timeout {
            status: get("status"),
            code: get("code"),
        },
        _ => VmProbeResult::NoResult,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> ProbeTarget {
        ProbeTarget {
            endpoint: "https://x.openai.azure.com/".into(),
            deployment: "chat".into(),
            api: "chat".into(),
            api_version: "2024-10-21".into(),
            resource: "https://cognitiveservices.azure.com".into(),
        }
    }

    #[test]
    fn url_uses_the_endpoint_from_the_account() {
        assert_eq!(target().url(), "https://x.openai.azure.com/openai/deployments/chat/chat/completions?api-version=2024-10-21");
        let mut t = target();
        t.api = "completions".into();
        t.endpoint = "https://127.0.0.1:1/aoai/x".into();
        assert_eq!(
            t.url(),
            "https://127.0.0.1:1/aoai/x/openai/deployments/chat/completions?api-version=2024-10-21"
        );
    }

    #[test]
    fn script_never_echoes_the_token() {
        let s = linux_script(&target(), Duration::from_secs(60)).join("\n");
        assert!(!s.contains("echo \"$tok"), "token must not be printed");
        assert!(!s.contains("echo $tok"));
        assert!(s.contains("set +x"));
        // the only KEYLESS lines print status and code
        for l in s.lines().filter(|l| l.contains("echo \"KEYLESS")) {
            assert!(!l.contains("$tok") && !l.contains("access_token"), "{l}");
        }
    }

    #[test]
    fn output_is_parsed_from_the_last_result_line() {
        let out = "KEYLESS_PROBE attempt=1 elapsed=0 status=401 code=PermissionDenied\nKEYLESS_RESULT verified elapsed=42 attempts=20\n";
        assert_eq!(
            parse_output(out),
            VmProbeResult::Verified { elapsed_secs: 42 }
        );
        assert_eq!(
            parse_output("KEYLESS_RESULT failed status=404 code=DeploymentNotFound elapsed=1"),
            VmProbeResult::Failed {
                status: "404".into(),
                code: "DeploymentNotFound".into()
            }
        );
        assert_eq!(parse_output("garbage"), VmProbeResult::NoResult);
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(sh_quote("a'b"), "'a'\\''b'");
    }
}
