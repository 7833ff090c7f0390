//! The external programs (`sox`, `rubberband`): probing their versions and running them with a
//! time limit.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::DatasetError;

/// An external program the builder runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ToolKind {
    /// SoX (conversion, `tempo`/`pitch` style).
    Sox,
    /// Rubber Band command-line utility (`rb-*` styles).
    Rubberband,
}

impl ToolKind {
    /// Program name as run from `PATH`.
    pub fn program(self) -> &'static str {
        match self {
            Self::Sox => "sox",
            Self::Rubberband => "rubberband",
        }
    }

    /// Debian package that provides it.
    pub fn install_hint(self) -> &'static str {
        match self {
            Self::Sox => "apt-get install sox libsox-fmt-all",
            Self::Rubberband => "apt-get install rubberband-cli",
        }
    }
}

/// A tool that was found, with its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolInfo {
    /// Which tool.
    pub kind: ToolKind,
    /// Version number as the tool reports it, e.g. `14.4.2` or `3.1.2`.
    pub version: String,
}

/// Runs `TOOL --version` and parses the version number.
///
/// # Errors
/// [`DatasetError::ToolMissing`] when the program cannot be started or prints no version.
pub fn probe(kind: ToolKind) -> Result<ToolInfo, DatasetError> {
    let missing = |detail: String| DatasetError::ToolMissing {
        tool: kind.program().to_owned(),
        detail,
        hint: kind.install_hint().to_owned(),
    };
    let out = Command::new(kind.program())
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| missing(e.to_string()))?;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let version = parse_version(&text)
        .ok_or_else(|| missing(format!("no version number in `--version` output: {text:?}")))?;
    Ok(ToolInfo { kind, version })
}

/// First token that looks like a dotted version number (`v14.4.2` → `14.4.2`).
fn parse_version(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .map(|t| t.trim_start_matches('v'))
        .find(|t| {
            t.contains('.')
                && t.chars().next().is_some_and(|c| c.is_ascii_digit())
                && t.chars().all(|c| c.is_ascii_digit() || c == '.')
        })
        .map(str::to_owned)
}

/// Why a tool run failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The program could not be started.
    #[error("could not start `{program}`: {message}")]
    Spawn {
        /// Program name.
        program: String,
        /// OS error text.
        message: String,
    },
    /// The program exited with a failure status.
    #[error("`{program}` failed ({status}): {stderr}")]
    Failed {
        /// Program name.
        program: String,
        /// Exit status as text.
        status: String,
        /// Last lines of its standard error.
        stderr: String,
    },
    /// The program ran past the time limit and was killed.
    #[error("`{program}` ran longer than {seconds} s and was killed")]
    Timeout {
        /// Program name.
        program: String,
        /// The limit.
        seconds: u64,
    },
}

/// Runs `argv` in `cwd` with stdin closed, kills it after `timeout`, and returns an error with the
/// tail of its standard error when it fails.
///
/// # Errors
/// [`RunError`] as described on its variants.
pub fn run(argv: &[String], cwd: &Path, timeout: Duration) -> Result<(), RunError> {
    let program = argv.first().cloned().unwrap_or_default();
    let mut child = Command::new(&program)
        .args(&argv[1.min(argv.len())..])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| RunError::Spawn {
            program: program.clone(),
            message: e.to_string(),
        })?;
    // Drain stderr on a thread so a chatty tool never blocks on a full pipe.
    let mut stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = reader.join();
                return Err(RunError::Timeout {
                    program,
                    seconds: timeout.as_secs(),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                return Err(RunError::Spawn {
                    program,
                    message: e.to_string(),
                })
            }
        }
    };
    let err = reader.join().unwrap_or_default();
    if status.success() {
        Ok(())
    } else {
        let text = String::from_utf8_lossy(&err);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(3)..].join(" | ");
        Err(RunError::Failed {
            program,
            status: status.to_string(),
            stderr: tail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(
            parse_version("sox:      SoX v14.4.2\n").as_deref(),
            Some("14.4.2")
        );
        assert_eq!(parse_version("\n3.1.2\n").as_deref(), Some("3.1.2"));
        assert_eq!(parse_version("no version here"), None);
    }
}
