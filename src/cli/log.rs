//! `-v`, `-vv`, `KEYLESS_LOG` and `RUST_LOG`: diagnostic logs on stderr through `tracing`
//! (requests with status and request id, retry decisions), for the build agent whose run went
//! wrong. Every line passes through a redactor first: tokens, secrets and signatures never reach
//! the log, whatever filter the user chose (even `RUST_LOG=trace` for the Azure SDK's own spans).

use std::io::Write;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Starts logging for `-v` repeated `verbose` times, unless `KEYLESS_LOG` (or `RUST_LOG`) names
/// the filter itself (`keyless=debug`, `keyless::http=trace,azure_core=debug`, `debug`, …).
pub fn init(verbose: u8) {
    let spec = std::env::var("KEYLESS_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .filter(|s| !s.trim().is_empty());
    let filter: Targets = match (spec, verbose) {
        (Some(s), _) => s.parse().unwrap_or_else(|_| {
            eprintln!("keyless: ignoring unreadable KEYLESS_LOG/RUST_LOG filter `{s}` (expected e.g. `keyless=debug`)");
            Targets::new().with_target("keyless", tracing::Level::DEBUG)
        }),
        (None, 0) => return,
        (None, 1) => Targets::new().with_target("keyless", tracing::Level::DEBUG),
        (None, _) => Targets::new().with_target("keyless", tracing::Level::TRACE),
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_target(true)
        .with_writer(|| RedactingLine(Vec::new()));
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .try_init();
}

/// One log record, written to stderr redacted when the formatter is done with it.
struct RedactingLine(Vec<u8>);

impl Write for RedactingLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactingLine {
    fn drop(&mut self) {
        let text = redact_log(&String::from_utf8_lossy(&self.0));
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

/// Query and form fields whose values are credentials.
const SECRET_KEYS: [&str; 8] = [
    "client_secret=",
    "client_assertion=",
    "assertion=",
    "password=",
    "refresh_token=",
    "access_token=",
    "sig=",
    "code=",
];

/// Redacts token-shaped words (JWTs) and the values of credential fields from a log line.
pub fn redact_log(line: &str) -> String {
    let mut out = crate::azure::error::redact(line);
    for key in SECRET_KEYS {
        let mut from = 0;
        while let Some(pos) = out[from..].find(key) {
            let start = from + pos + key.len();
            let prefix_ok = start - key.len() == 0
                || !out[..start - key.len()]
                    .ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
            let end = out[start..]
                .find(|c: char| c == '&' || c == '"' || c == '\'' || c.is_whitespace())
                .map_or(out.len(), |e| start + e);
            if prefix_ok && end > start {
                out.replace_range(start..end, "[redacted]");
                from = start + "[redacted]".len();
            } else {
                from = start;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_a_log_line() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
        let line = format!(
            "POST https://login/token body grant_type=client_credentials&client_secret=s3cr3t~x&client_assertion={jwt}&scope=a Authorization: Bearer {jwt} https://blob/x?sv=1&sig=abc%2F"
        );
        let out = redact_log(&line);
        for secret in ["s3cr3t~x", jwt, "abc%2F"] {
            assert!(!out.contains(secret), "{secret} leaked: {out}");
        }
        assert!(out.contains("grant_type=client_credentials"));
        assert!(out.contains("scope=a"));
        // a key inside a longer word is not a credential field
        assert_eq!(redact_log("mycode=1"), "mycode=1");
    }
}
