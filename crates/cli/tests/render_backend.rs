//! Which backend `xodvox render --engine neural` runs on: ONNX Runtime when its library is
//! found (`ORT_DYLIB_PATH`, the onnxruntime Python wheel, a system library), else tract;
//! `XODVOX_BACKEND=tract|ort` overrides. Both render the same audio (within 1e-5), and a
//! library that is missing or not ONNX Runtime never fails the render: it falls back to tract
//! with one `warning:` line.
//!
//! The ort comparison needs the library; without it the test says so and passes, unless
//! `XODVOX_REQUIRE_ALL_BACKENDS=1` (as `scripts/test` sets once the Python wheel is installed).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

const WARNING: &str = "warning: ONNX Runtime backend unavailable, using tract";

/// 2 s of a stereo test signal at 48 kHz, as 32-bit float WAV.
fn input(dir: &tempfile::TempDir) -> PathBuf {
    let path = path_in(dir, "in.wav");
    write_wav_f32(&path, &test_signal(2, 96_000, 48_000), 48_000);
    path
}

/// `xodvox render IN OUT --engine neural --pitch 3` with `env` set (`None` removes the
/// variable); the ORT variables this test does not name are inherited.
fn render(input: &Path, output: &Path, env: &[(&str, Option<&str>)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xodvox"));
    cmd.args([
        "render",
        input.to_str().unwrap(),
        output.to_str().unwrap(),
        "--engine",
        "neural",
        "--pitch",
        "3",
        "--stretch",
        "1.25",
        "--quiet",
    ])
    .stdin(std::process::Stdio::null());
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.output().expect("cannot run the xodvox binary")
}

fn max_diff(a: &Wav, b: &Wav) -> f32 {
    assert_eq!(a.channels.len(), b.channels.len(), "channels");
    let mut worst = 0.0f32;
    for (x, y) in a.channels.iter().zip(&b.channels) {
        assert_eq!(x.len(), y.len(), "length");
        for (p, q) in x.iter().zip(y) {
            worst = worst.max((p - q).abs());
        }
    }
    worst
}

/// The ONNX Runtime library the CLI would find, if any (`None` in a build without `ort`).
fn located() -> Option<PathBuf> {
    #[cfg(feature = "ort")]
    {
        xodvox_infer::ort_backend::locate_library().map(|l| l.path)
    }
    #[cfg(not(feature = "ort"))]
    {
        None
    }
}

#[test]
fn ort_and_tract_render_the_same_and_ort_is_the_default_where_found() {
    let Some(lib) = located() else {
        assert!(
            std::env::var_os("XODVOX_REQUIRE_ALL_BACKENDS").is_none(),
            "XODVOX_REQUIRE_ALL_BACKENDS is set but no ONNX Runtime library was found"
        );
        eprintln!("skipped: no ONNX Runtime library (pip install onnxruntime or ORT_DYLIB_PATH)");
        return;
    };
    eprintln!("ONNX Runtime library: {}", lib.display());
    let dir = tempfile::tempdir().unwrap();
    let inp = input(&dir);
    let outs = ["tract", "ort", "auto"].map(|k| path_in(&dir, &format!("{k}.wav")));
    for (kind, out) in [Some("tract"), Some("ort"), None].into_iter().zip(&outs) {
        let o = render(&inp, out, &[("XODVOX_BACKEND", kind)]);
        assert_ok(&o, &format!("XODVOX_BACKEND={kind:?}"));
        assert!(
            !stderr(&o).contains(WARNING),
            "{kind:?}: the library was found but did not load: {}",
            stderr(&o)
        );
    }
    let [tract, ort, auto] = outs.map(|p| read_wav(&p));
    assert_eq!(tract.num_frames(), 120_000, "round(N × stretch)");
    let diff = max_diff(&tract, &ort);
    assert!(diff < 1e-5, "ort vs tract: max abs difference {diff}");
    let loud = tract.channels[0].iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(loud > 0.1, "the render is not silent ({loud})");
    // Without XODVOX_BACKEND the render is ort's, sample for sample.
    assert_eq!(max_diff(&ort, &auto), 0.0, "auto is not the ort render");
    if diff == 0.0 {
        eprintln!("note: ort and tract agree bit for bit, so auto = ort is not told from tract");
    }
}

#[test]
fn a_bogus_ort_library_falls_back_to_tract_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let inp = input(&dir);
    let reference = path_in(&dir, "tract.wav");
    let o = render(&inp, &reference, &[("XODVOX_BACKEND", Some("tract"))]);
    assert_ok(&o, "tract");
    assert!(stderr(&o).is_empty(), "tract: {}", stderr(&o));
    let reference = read_wav(&reference);

    let not_a_library = path_in(&dir, "libonnxruntime.so");
    std::fs::write(&not_a_library, "this is not a shared library\n").unwrap();
    let missing = path_in(&dir, "no-such-libonnxruntime.so");
    let mut cases: Vec<(String, PathBuf)> = vec![
        ("a text file".into(), not_a_library),
        ("a missing file".into(), missing),
    ];
    // A real shared library that is not ONNX Runtime (no OrtGetApiBase): the wheel's
    // providers library, where the wheel is installed.
    if let Some(lib) = located() {
        let shared = lib.with_file_name("libonnxruntime_providers_shared.so");
        if shared.is_file() {
            cases.push(("another shared library".into(), shared));
        }
    }
    for (case, path) in &cases {
        for backend in [None, Some("ort")] {
            let out = path_in(&dir, "out.wav");
            let o = render(
                &inp,
                &out,
                &[
                    ("ORT_DYLIB_PATH", Some(path.to_str().unwrap())),
                    ("XODVOX_BACKEND", backend),
                ],
            );
            let what = format!("ORT_DYLIB_PATH = {case}, XODVOX_BACKEND={backend:?}");
            assert_ok(&o, &what);
            let err = stderr(&o);
            let lines: Vec<&str> = err.lines().collect();
            assert_eq!(lines.len(), 1, "{what}: want one stderr line, got: {err}");
            assert!(lines[0].starts_with(WARNING), "{what}: {err}");
            assert!(
                lines[0].contains(path.file_name().unwrap().to_str().unwrap()),
                "{what}: the warning does not name the library: {err}"
            );
            assert!(!err.contains("panicked"), "{what}: {err}");
            assert_eq!(
                max_diff(&reference, &read_wav(&out)),
                0.0,
                "{what}: the fallback is not the tract render"
            );
            std::fs::remove_file(&out).unwrap();
        }
    }
    // XODVOX_BACKEND=tract never touches the library.
    let out = path_in(&dir, "out.wav");
    let o = render(
        &inp,
        &out,
        &[
            ("ORT_DYLIB_PATH", Some(cases[0].1.to_str().unwrap())),
            ("XODVOX_BACKEND", Some("tract")),
        ],
    );
    assert_ok(&o, "tract with a bogus ORT_DYLIB_PATH");
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

#[test]
fn an_unknown_backend_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let inp = input(&dir);
    let out = path_in(&dir, "out.wav");
    let o = render(&inp, &out, &[("XODVOX_BACKEND", Some("cuda-magic"))]);
    assert_fails(&o, 2, &["XODVOX_BACKEND", "cuda-magic"], "unknown backend");
    assert!(!out.exists());
}
