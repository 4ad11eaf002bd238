//! Process exit codes (documented in `keyless --help` and the README).

/// Exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Success.
    Ok = 0,
    /// Any error.
    Error = 1,
    /// `plan --detailed-exitcode` found changes.
    Changes = 2,
    /// Verification failed.
    VerifyFailed = 3,
    /// Ctrl-C.
    Interrupted = 130,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        std::process::ExitCode::from(c as u8)
    }
}
