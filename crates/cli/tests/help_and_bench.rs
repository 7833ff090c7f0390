//! `--help` documents units and conventions; `xodvox bench` produces its table (speed is never
//! asserted).

mod common;

use common::*;

#[test]
fn render_help_explains_units_and_conventions() {
    let out = xodvox(["render", "--help"]);
    assert_ok(&out, "render --help");
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--stretch",
        "duration ratio",
        "twice as long",
        "--pitch",
        "semitones",
        "--cents",
        "1/100 semitone",
        "rubberband -t",
        "rubberband -T",
        "sox tempo",
        "sox pitch",
        "--engine",
        "neural",
        "--model",
        "--format",
        "f32",
        "i24",
        "i16",
        "--quiet",
        "Exit codes",
        "0.25",
        "4",
        "-24",
        "+24",
    ] {
        assert!(
            help.contains(needle),
            "render --help lacks {needle:?}:\n{help}"
        );
    }
    let top = xodvox(["--help"]);
    assert_ok(&top, "--help");
    let top = String::from_utf8_lossy(&top.stdout);
    assert!(
        top.contains("render") && top.contains("bench") && top.contains("Exit codes"),
        "{top}"
    );
}

#[test]
fn bench_prints_a_markdown_table() {
    let dir = tempfile::tempdir().unwrap();
    let md = path_in(&dir, "bench.md");
    let rb_v1 = crate_dir().join("../../models/rb-v1");
    let out = xodvox([
        "bench".as_ref(),
        "--seconds".as_ref(),
        "1".as_ref(),
        "--runs".as_ref(),
        "2".as_ref(),
        "--out".as_ref(),
        md.as_os_str(),
        "--compare-model".as_ref(),
        rb_v1.as_os_str(),
    ]);
    assert_ok(&out, "bench");
    let table_text = String::from_utf8_lossy(&out.stdout);
    assert!(table_text.contains("fastest of 2 run(s)"), "{table_text}");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("| engine | task | seconds | real-time factor |"),
        "{table}"
    );
    for row in [
        "| XodVox classical (in process) | stretch x1.5 |",
        "| XodVox classical (in process) | pitch +3 st |",
        "| XodVox classical (CLI, incl. I/O) | stretch x1.5 |",
        "| XodVox neural (tract, frame by frame, in process) | stretch x1.5 |",
        "| XodVox neural (tract, frame by frame, in process) | pitch +3 st |",
        "| XodVox neural (tract, batched, ",
        "| XodVox neural batched (CLI, incl. I/O) | pitch +3 st |",
        "| tract, pitch +3 st |",
        "| XodVox neural (tract, rb-v1, frame by frame, in process) | pitch +3 st |",
        "| tract, rb-v1, stretch x1.5 |",
        "| tract, rb-v1, pitch +3 st |",
        "| backend, task | hops | median ms | p99 ms | max ms | share of a core |",
    ] {
        assert!(table.contains(row), "missing row {row:?}:\n{table}");
    }
    // Every tool is either measured (a row) or reported as skipped (a note).
    for tool in ["rubberband -3", "rubberband -2", "sox tempo"] {
        let timed = table.contains(&format!("| {tool}"));
        let skipped = table
            .lines()
            .any(|l| l.starts_with("Note:") && l.contains(tool));
        assert!(
            timed || skipped,
            "{tool} neither timed nor skipped:\n{table}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&md).unwrap(),
        table,
        "--out file differs from stdout"
    );
    // The stretched outputs of every measured tool last 1.5 s: conventions are right.
    for line in table.lines().filter(|l| l.contains("| stretch x1.5 |")) {
        assert!(
            line.trim_end().ends_with("| 1.50 |"),
            "wrong output length: {line}"
        );
    }
}

#[test]
fn bench_rejects_a_missing_compare_model_before_timing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = path_in(&dir, "no-such-model");
    let out = xodvox([
        "bench".as_ref(),
        "--seconds".as_ref(),
        "1".as_ref(),
        "--compare-model".as_ref(),
        missing.as_os_str(),
    ]);
    assert_fails(&out, 3, &["no-such-model"], "bench --compare-model missing");
    assert!(
        out.stdout.is_empty(),
        "nothing may be timed before the bundle is read:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
