//! Interrupting a real `xodvox render` of a long file: SIGINT and SIGTERM end it with exit code
//! 130/143 and one `error:` line, and nothing but the untouched input is left in the folder;
//! after SIGKILL no temporary file is visible either, and the next render there works.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Seconds of input: long enough that a stretch-4 render runs for many seconds.
const INPUT_SECONDS: usize = 120;

fn long_input(dir: &tempfile::TempDir) -> (std::path::PathBuf, Vec<u8>) {
    let input = path_in(dir, "in.wav");
    write_wav_i16(
        &input,
        &test_signal(2, INPUT_SECONDS * 48_000, 48_000),
        48_000,
    );
    let bytes = std::fs::read(&input).unwrap();
    (input, bytes)
}

fn start_render(input: &Path, output: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_xodvox"))
        .args(["render".as_ref(), input.as_os_str(), output.as_os_str()])
        .args(["--stretch", "4", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start xodvox")
}

/// Lets the render get going (its output file open, audio flowing), then sends `signal`.
fn signal_mid_render(child: &mut Child, signal: &str) {
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the render finished before the signal; make the input longer"
    );
    let status = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .expect("cannot run kill");
    assert!(status.success(), "kill -{signal} failed");
}

fn wait_with_stderr(child: Child) -> (std::process::ExitStatus, String, Duration) {
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

fn check_graceful_stop(signal: &str, code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let (input, bytes) = long_input(&dir);
    let output = path_in(&dir, "out.wav");
    let mut child = start_render(&input, &output);
    signal_mid_render(&mut child, signal);
    let (status, err, waited) = wait_with_stderr(child);
    assert_eq!(
        status.code(),
        Some(code),
        "SIG{signal}: exit status; stderr: {err}"
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "SIG{signal}: want one stderr line: {err}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(&format!("SIG{signal}")),
        "SIG{signal}: {err}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "SIG{signal}: took {waited:?} to stop"
    );
    assert_eq!(
        dir_entries(dir.path()),
        ["in.wav"],
        "SIG{signal}: leftovers"
    );
    assert!(
        std::fs::read(&input).unwrap() == bytes,
        "SIG{signal}: input changed"
    );
}

#[test]
fn sigint_stops_with_130_and_leaves_nothing() {
    check_graceful_stop("INT", 130);
}

#[test]
fn sigterm_stops_with_143_and_leaves_nothing() {
    check_graceful_stop("TERM", 143);
}

#[test]
fn sigkill_leaves_no_visible_temp_file_and_the_next_render_works() {
    let dir = tempfile::tempdir().unwrap();
    let (input, bytes) = long_input(&dir);
    let output = path_in(&dir, "out.wav");
    let mut child = start_render(&input, &output);
    signal_mid_render(&mut child, "KILL");
    let (status, _, _) = wait_with_stderr(child);
    assert_eq!(status.code(), None, "killed by the signal");
    assert_eq!(dir_entries(dir.path()), ["in.wav"], "SIGKILL: leftovers");
    assert!(
        std::fs::read(&input).unwrap() == bytes,
        "SIGKILL: input changed"
    );

    // A temporary file of a dead render (where unnamed files are unavailable) is cleaned up.
    std::fs::write(dir.path().join(".xodvox-99999999-x1.tmp"), b"stale").unwrap();
    let short = path_in(&dir, "short.wav");
    write_wav_f32(&short, &test_signal(1, 4_800, 48_000), 48_000);
    let out = xodvox(["render".as_ref(), short.as_os_str(), output.as_os_str()]);
    assert_ok(&out, "render after SIGKILL");
    assert_eq!(dir_entries(dir.path()), ["in.wav", "out.wav", "short.wav"]);
}
