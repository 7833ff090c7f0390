//! `xodvox eval` end to end on a tiny built-in set: the report, CSV, JSON and figures appear;
//! an engine whose tool is not on PATH is reported as skipped and the command still succeeds;
//! bad option values are usage errors.

mod common;

use std::process::{Command, Stdio};

use common::*;

fn eval_with_path(out: &std::path::Path, path: &str, engines: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xodvox"))
        .args([
            "eval",
            "--quiet",
            "--seconds",
            "0.5",
            "--tasks",
            "stretch:2,pitch:7",
        ])
        .args(["--bench-seconds", "1", "--engines", engines, "--out"])
        .arg(out)
        .env("PATH", path)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run the xodvox binary")
}

#[test]
fn eval_writes_the_report_and_skips_missing_tools() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("report");
    // An empty PATH: rubberband and sox cannot be found.
    let run = eval_with_path(&out, "/nonexistent-xodvox-bin", "classical,rb-fine,sox");
    assert_ok(&run, "eval with tools missing");
    let err = stderr(&run);
    assert!(err.contains("rb-fine skipped"), "{err}");
    let md = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(
        md.contains("| rb-fine | Rubber Band R3 (-3) | – | skipped: `rubberband` is not installed"),
        "{md}"
    );
    assert!(
        md.contains("| sox | SoX tempo/pitch | – | skipped:"),
        "{md}"
    );
    assert!(md.contains("| XodVox classical |"), "{md}");
    for name in [
        "results.csv",
        "results.json",
        "bench.csv",
        "img/bar-mrstft.png",
        "img/spec-poly-chord-stretchx2.png",
    ] {
        let p = out.join(name);
        assert!(p.is_file(), "{} missing", p.display());
    }
    let csv = std::fs::read_to_string(out.join("results.csv")).expect("csv");
    // 6 clips (no speech without espeak-ng on PATH) × 2 tasks × 1 engine.
    assert_eq!(csv.lines().count(), 1 + 6 * 2, "{csv}");
}

#[test]
fn eval_rejects_bad_values() {
    for (args, needle) in [
        (vec!["eval", "--engines", "warp"], "unknown engine 'warp'"),
        (vec!["eval", "--tasks", "stretch:9"], "out of range"),
        (vec!["eval", "--seconds", "0.1"], "out of range"),
    ] {
        let out = xodvox(&args);
        assert_fails(&out, 2, &[needle], &format!("{args:?}"));
    }
}
