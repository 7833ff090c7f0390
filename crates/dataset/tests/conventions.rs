//! Ratio conventions of every style, checked with the real `sox` and `rubberband` on a sine:
//! stretch 2 doubles the length, stretch 0.5 halves it, pitch +12 puts the tone an octave up
//! (within 5 cents) and −12 an octave down, and the duration is kept when only pitch changes.
//!
//! Found with this test: Rubber Band 3.1.2 R2 at crispness 5 (its default) and 6 moves a steady
//! sine by −5 to −22 cents (e.g. `-2 --crisp 5 -p 12` gives 877 Hz for 880); at 0 to 4 it is
//! exact, so `rb-crisp` defaults to `--crisp 4`.

use std::path::Path;
use std::time::Duration;

use xodvox_dataset::audio::{read_wav, write_wav};
use xodvox_dataset::config::DatasetConfig;
use xodvox_dataset::styles::Style;
use xodvox_dataset::tools::run;

const RATE: u32 = 48_000;

/// Frequency of a steady tone from interpolated rising zero crossings over the middle half.
fn frequency(samples: &[f32], channels: usize) -> f64 {
    let mono: Vec<f64> = samples.chunks(channels).map(|f| f64::from(f[0])).collect();
    let (lo, hi) = (mono.len() / 4, 3 * mono.len() / 4);
    let mut crossings = Vec::new();
    for i in lo..hi {
        let (a, b) = (mono[i], mono[i + 1]);
        if a < 0.0 && b >= 0.0 {
            crossings.push(i as f64 + a / (a - b));
        }
    }
    let n = crossings.len();
    assert!(n > 10, "too few zero crossings ({n})");
    (n - 1) as f64 / (crossings[n - 1] - crossings[0]) * f64::from(RATE)
}

fn sine(path: &Path, hz: f64, seconds: f64) -> usize {
    let n = (seconds * f64::from(RATE)) as usize;
    let samples: Vec<f32> = (0..n)
        .flat_map(|i| {
            let s =
                (0.5 * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(RATE)).sin()) as f32;
            [s, s]
        })
        .collect();
    write_wav(path, RATE, 2, &samples).expect("write sine");
    n
}

#[test]
fn every_style_follows_the_ratio_conventions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = sine(&dir.path().join("in.wav"), 440.0, 2.0);
    let crispness = DatasetConfig::default().crispness;
    let mut failures = Vec::new();
    for style in Style::ALL {
        for (stretch, pitch, want_hz) in [
            (2.0, 0.0, 440.0),
            (0.5, 0.0, 440.0),
            (1.0, 12.0, 880.0),
            (1.0, -12.0, 220.0),
            (1.5, 12.0, 880.0),
        ] {
            let case = format!("{style} stretch {stretch} pitch {pitch}");
            let argv = style.command("in.wav", "out.wav", stretch, pitch, crispness);
            run(&argv, dir.path(), Duration::from_secs(120))
                .unwrap_or_else(|e| panic!("{case}: {e}"));
            let (info, samples) = read_wav(&dir.path().join("out.wav")).expect("read output");
            let want_len = (n as f64 * stretch).round();
            let got_len = info.num_frames as f64;
            assert!(
                (got_len - want_len).abs() <= 0.002 * want_len,
                "{case}: {got_len} frames, expected about {want_len}"
            );
            let hz = frequency(&samples, info.channels as usize);
            let cents = 1200.0 * (hz / want_hz).log2();
            eprintln!("{case}: {got_len} frames, {hz:.3} Hz ({cents:+.2} cents)");
            if cents.abs() >= 5.0 {
                failures.push(format!(
                    "{case}: {hz:.2} Hz, expected {want_hz} Hz ({cents:.2} cents off)"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
