//! Shared helpers for the CLI integration tests: run the built `xodvox`, make real audio files
//! with `hound` and the real `sox`, read WAV output back.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the built `xodvox` binary with `args`, stdin closed, never a TTY.
pub fn xodvox<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_xodvox"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("cannot run the xodvox binary")
}

/// Stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Lines of stderr that start with `prefix` (`"error:"`, `"warning:"`).
pub fn lines_starting(out: &Output, prefix: &str) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// Asserts a failure with `code` and exactly one stderr line, an `error:` line containing every
/// fragment in `needles` (case-insensitive).
pub fn assert_fails(out: &Output, code: i32, needles: &[&str], case: &str) {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{case}: exit code; stderr: {err}"
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{case}: want exactly one stderr line, got: {err}"
    );
    assert!(
        lines[0].starts_with("error: "),
        "{case}: not an error line: {err}"
    );
    for needle in needles {
        assert!(
            lines[0].to_lowercase().contains(&needle.to_lowercase()),
            "{case}: error line lacks {needle:?}: {err}"
        );
    }
}

/// Asserts success, with the stderr in the message otherwise.
pub fn assert_ok(out: &Output, case: &str) {
    assert!(
        out.status.success(),
        "{case}: failed with {:?}: {}",
        out.status.code(),
        stderr(out)
    );
}

/// A deterministic test signal: per channel a different sine plus a click every 0.25 s.
pub fn test_signal(num_channels: usize, num_frames: usize, sample_rate: u32) -> Vec<Vec<f32>> {
    (0..num_channels)
        .map(|ch| {
            let hz = 220.0 * (1.0 + ch as f64 * 0.25);
            (0..num_frames)
                .map(|n| {
                    let t = n as f64 / f64::from(sample_rate);
                    let click = if n % (sample_rate as usize / 4) == 0 {
                        0.3
                    } else {
                        0.0
                    };
                    (0.4 * (std::f64::consts::TAU * hz * t).sin() + click) as f32
                })
                .collect()
        })
        .collect()
}

/// Writes a 32-bit float WAV.
pub fn write_wav_f32(path: &Path, channels: &[Vec<f32>], sample_rate: u32) {
    let spec = hound::WavSpec {
        channels: channels.len() as u16,
        sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for n in 0..channels.first().map_or(0, Vec::len) {
        for ch in channels {
            w.write_sample(ch[n]).expect("write sample");
        }
    }
    w.finalize().expect("finalize wav");
}

/// Writes a 16-bit PCM WAV.
pub fn write_wav_i16(path: &Path, channels: &[Vec<f32>], sample_rate: u32) {
    let spec = hound::WavSpec {
        channels: channels.len() as u16,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for n in 0..channels.first().map_or(0, Vec::len) {
        for ch in channels {
            w.write_sample((ch[n].clamp(-1.0, 1.0) * 32767.0).round() as i16)
                .expect("write sample");
        }
    }
    w.finalize().expect("finalize wav");
}

/// A WAV read back: its header and per-channel samples as f32 in [-1, 1].
pub struct Wav {
    pub spec: hound::WavSpec,
    pub channels: Vec<Vec<f32>>,
}

impl Wav {
    pub fn num_frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }
}

/// Reads any WAV `hound` understands.
pub fn read_wav(path: &Path) -> Wav {
    let mut r = hound::WavReader::open(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let spec = r.spec();
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().map(Result::unwrap).collect(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            r.samples::<i32>()
                .map(|s| s.unwrap() as f32 * scale)
                .collect()
        }
    };
    let n = usize::from(spec.channels);
    let channels = (0..n)
        .map(|c| interleaved.iter().skip(c).step_by(n).copied().collect())
        .collect();
    Wav { spec, channels }
}

/// `sox` as a command; panics with a clear message when it is not installed.
pub fn sox() -> Command {
    let found = Command::new("sox")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "this test needs the `sox` program: apt-get install -y --no-install-recommends sox \
         libsox-fmt-all (the project's test script installs it)"
    );
    Command::new("sox")
}

/// Converts `from` to `to` with sox (format from the extension), panicking on failure.
pub fn sox_convert(from: &Path, to: &Path, extra: &[&str]) {
    let out = sox()
        .arg(from)
        .args(extra)
        .arg(to)
        .output()
        .expect("run sox");
    assert!(
        out.status.success(),
        "sox {} -> {} failed: {}",
        from.display(),
        to.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Frames sox counts in a file (`soxi -s`).
pub fn sox_frames(path: &Path) -> usize {
    let _ = sox();
    let out = Command::new("soxi")
        .arg("-s")
        .arg(path)
        .output()
        .expect("run soxi");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("soxi -s output")
}

/// Expected output length: round(frames x stretch).
pub fn expected_frames(frames: usize, stretch: f64) -> usize {
    (frames as f64 * stretch).round() as usize
}

/// Names of the entries in a directory, sorted.
pub fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Path inside a temp dir.
pub fn path_in(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// This crate's directory as `cargo test` gives it at run time, else where the test was built
/// (a target directory shared by two checkouts can hold a test built from the other one).
pub fn crate_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        std::path::PathBuf::from,
    )
}
