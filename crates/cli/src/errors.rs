//! Failure categories of the `xodvox` binary and their process exit codes.
//!
//! Every failure is printed as ONE line on stderr (`error: ...`) and mapped to an exit code by its
//! [`ExitKind`], so scripts can tell a bad argument from an unreadable input or an unwritable output.

use std::fmt;

/// Why the program failed; decides the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// Anything not covered below (exit code 1).
    Other,
    /// Bad command line: unknown flag, unparsable or out-of-range value, engine not available
    /// (exit code 2, the same code `clap` uses).
    Usage,
    /// The input cannot be used: missing, unreadable, corrupt, empty, unsupported format or
    /// channel count (exit code 3).
    Input,
    /// The output cannot be written: directory missing or not writable, path is a directory,
    /// or it would overwrite the input (exit code 4).
    Output,
    /// Stopped by a signal (SIGINT, SIGTERM): exit code 128 + the signal number, as a shell
    /// reports a process killed by it (130, 143).
    Interrupted(i32),
}

impl ExitKind {
    /// The process exit code for this kind of failure.
    pub fn code(self) -> u8 {
        match self {
            ExitKind::Other => 1,
            ExitKind::Usage => 2,
            ExitKind::Input => 3,
            ExitKind::Output => 4,
            ExitKind::Interrupted(signal) => u8::try_from(128 + signal).unwrap_or(1),
        }
    }
}

/// An error with its exit category. The message chain is printed on one line with `{:#}`.
#[derive(Debug)]
pub struct CliError {
    /// Which exit code the process ends with.
    pub kind: ExitKind,
    /// The message, with its context chain.
    pub error: anyhow::Error,
}

impl CliError {
    /// Builds an error of `kind` from anything printable.
    pub fn new(
        kind: ExitKind,
        message: impl fmt::Display + fmt::Debug + Send + Sync + 'static,
    ) -> Self {
        CliError {
            kind,
            error: anyhow::Error::msg(message),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl From<anyhow::Error> for CliError {
    fn from(error: anyhow::Error) -> Self {
        CliError {
            kind: ExitKind::Other,
            error,
        }
    }
}

/// Attaches an [`ExitKind`] to a fallible result.
pub trait Tag<T> {
    /// Converts the error into a [`CliError`] of `kind`.
    ///
    /// # Errors
    /// The original error, tagged.
    fn tag(self, kind: ExitKind) -> Result<T, CliError>;
}

impl<T, E: Into<anyhow::Error>> Tag<T> for Result<T, E> {
    fn tag(self, kind: ExitKind) -> Result<T, CliError> {
        self.map_err(|e| CliError {
            kind,
            error: e.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn codes_are_distinct_and_documented() {
        let codes = [
            ExitKind::Other.code(),
            ExitKind::Usage.code(),
            ExitKind::Input.code(),
            ExitKind::Output.code(),
        ];
        assert_eq!(codes, [1, 2, 3, 4]);
        assert_eq!(ExitKind::Interrupted(2).code(), 130);
        assert_eq!(ExitKind::Interrupted(15).code(), 143);
    }

    #[test]
    fn message_chain_is_one_line() {
        let r: Result<(), std::io::Error> = Err(std::io::Error::other("disk on fire"));
        let e = r
            .context("writing out.wav")
            .tag(ExitKind::Output)
            .unwrap_err();
        assert_eq!(e.to_string(), "writing out.wav: disk on fire");
        assert_eq!(e.kind, ExitKind::Output);
    }
}
