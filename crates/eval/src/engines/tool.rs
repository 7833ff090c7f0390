//! The external command-line engines (Rubber Band, SoX): finding the program, its version,
//! its arguments for a task, and running it on a clip with its peak memory measured.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{Engine, EngineKind};
use crate::audio::{read_wav_mono, write_wav_mono};
use crate::error::{io_err, EvalError, Result};
use crate::set::Task;

/// Finds the executable `program` in `search_path` (or `PATH`), with the `which` crate.
pub fn find_program(program: &str, search_path: Option<&OsStr>) -> Option<PathBuf> {
    match search_path {
        Some(path) => which::which_in(program, Some(path), std::env::current_dir().ok()?).ok(),
        None => which::which(program).ok(),
    }
}

pub(super) fn tool_version(program: &Path, arg: &str) -> String {
    Command::new(program)
        .arg(arg)
        .stdin(Stdio::null())
        .output()
        .ok()
        .map(|o| {
            let text = String::from_utf8_lossy(if o.stdout.is_empty() {
                &o.stderr
            } else {
                &o.stdout
            })
            .to_string();
            text.lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_default()
}

impl Engine {
    pub(super) fn run_tool(
        &self,
        program: &Path,
        dir: &Path,
        input: &[f32],
        sample_rate: u32,
        task: Task,
    ) -> Result<(Vec<f32>, Option<u64>)> {
        let in_path = dir.join("in.wav");
        let out_path = dir.join("out.wav");
        let _ = std::fs::remove_file(&out_path);
        write_wav_mono(&in_path, input, sample_rate)?;
        let argv = tool_argv(self.kind, task, &in_path, &out_path);
        let (ok, stderr, peak) = run_measured(program, &argv, dir)?;
        if !ok {
            return Err(EvalError::Tool {
                tool: self.kind.key().into(),
                message: format!("{} failed: {}", program.display(), stderr.trim()),
            });
        }
        let (audio, sr) = read_wav_mono(&out_path)?;
        if sr != sample_rate {
            return Err(EvalError::Tool {
                tool: self.kind.key().into(),
                message: format!("wrote {sr} Hz instead of {sample_rate} Hz"),
            });
        }
        Ok((audio, peak))
    }
}

/// Command-line arguments of an external tool for `task`, in that tool's conventions:
/// `rubberband -t` is a duration ratio and `-p` semitones; `sox tempo` a speed factor
/// (1 / duration ratio) and `sox pitch` cents.
pub fn tool_argv(kind: EngineKind, task: Task, input: &Path, output: &Path) -> Vec<OsString> {
    match kind {
        EngineKind::RubberbandR3 | EngineKind::RubberbandR2 => vec![
            if kind == EngineKind::RubberbandR3 {
                "-3"
            } else {
                "-2"
            }
            .into(),
            "-q".into(),
            "-t".into(),
            task.stretch.to_string().into(),
            "-p".into(),
            task.pitch_semitones.to_string().into(),
            input.into(),
            output.into(),
        ],
        EngineKind::Sox => {
            let mut argv: Vec<OsString> = vec!["-q".into(), input.into(), output.into()];
            if task.stretch != 1.0 {
                argv.extend(["tempo".into(), format!("{:.6}", 1.0 / task.stretch).into()]);
            }
            if task.pitch_semitones != 0.0 {
                argv.extend([
                    "pitch".into(),
                    format!("{}", task.pitch_semitones * 100.0).into(),
                ]);
            }
            argv
        }
        _ => Vec::new(),
    }
}

/// Runs `program` with stdout discarded and stderr captured to a file in `dir`. Its peak
/// resident set is sampled from `/proc/PID/status` (`VmHWM`) every 2 ms while it runs: the
/// `wait4` figure is useless here, because Linux carries the spawning process's high-water mark
/// across `exec`. Returns (success, stderr, peak bytes).
fn run_measured(
    program: &Path,
    argv: &[OsString],
    dir: &Path,
) -> Result<(bool, String, Option<u64>)> {
    let err_path = dir.join("stderr.txt");
    let err_file = std::fs::File::create(&err_path).map_err(io_err(&err_path))?;
    let mut child = Command::new(program)
        .args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(err_file))
        .spawn()
        .map_err(|e| EvalError::Tool {
            tool: program.display().to_string(),
            message: format!("cannot start: {e}"),
        })?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb: Option<u64> = None;
    let status = loop {
        // Read before polling the exit: once reaped, the file is gone.
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            let hwm = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok());
            if let Some(kb) = hwm {
                peak_kb = Some(peak_kb.map_or(kb, |p| p.max(kb)));
            }
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(2)),
            Err(e) => {
                return Err(EvalError::Tool {
                    tool: program.display().to_string(),
                    message: format!("wait failed: {e}"),
                })
            }
        }
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    Ok((status.success(), stderr, peak_kb.map(|kb| kb * 1024)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conventions_of_external_tools() {
        let (i, o) = (Path::new("in.wav"), Path::new("out.wav"));
        let sox = tool_argv(EngineKind::Sox, Task::stretch(1.5), i, o);
        assert_eq!(sox[3..], ["tempo".into(), OsString::from("0.666667")]);
        let sox = tool_argv(EngineKind::Sox, Task::pitch(3.0), i, o);
        assert_eq!(sox[3..], ["pitch".into(), OsString::from("300")]);
        let rb = tool_argv(EngineKind::RubberbandR3, Task::stretch(1.5), i, o);
        assert_eq!(
            rb[..6],
            [
                "-3".into(),
                "-q".into(),
                "-t".into(),
                "1.5".into(),
                "-p".into(),
                OsString::from("0")
            ]
        );
        let rb = tool_argv(EngineKind::RubberbandR2, Task::pitch(-5.0), i, o);
        assert_eq!(rb[0], OsString::from("-2"));
        assert_eq!(rb[5], OsString::from("-5"));
    }
}
