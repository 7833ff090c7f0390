//! Offline rendering quality: pitch accuracy, exact lengths, transients, stereo image.

mod common;

use common::*;
use xodvox_dsp::metrics::{cents, correlation, dominant_frequency, rms};
use xodvox_dsp::{classical_engine, render_offline, RenderSettings};

fn render(input: &[Vec<f32>], stretch: f64, pitch: f64) -> Vec<Vec<f32>> {
    let settings = RenderSettings {
        stretch,
        pitch_semitones: pitch,
        ..RenderSettings::default()
    };
    let out = render_offline(input, &settings, classical_engine(2048), &mut |_, _| {}).unwrap();
    assert_eq!(out.nonfinite_samples, 0);
    out.channels
}

/// Steady middle part of a signal (skips edges).
fn middle(x: &[f32]) -> &[f32] {
    let q = x.len() / 5;
    &x[q..x.len() - q]
}

#[test]
fn pitch_shift_of_a_sine_is_within_one_cent() {
    let input = vec![sine(440.0, 96_000, 0.5)];
    for &(semis, expected) in &[
        (7.0, 440.0 * 2f64.powf(7.0 / 12.0)),
        (-12.0, 220.0),
        (12.0, 880.0),
        (-7.0, 440.0 * 2f64.powf(-7.0 / 12.0)),
        (3.5, 440.0 * 2f64.powf(3.5 / 12.0)),
        (24.0, 1760.0),
        (-24.0, 110.0),
    ] {
        let out = render(&input, 1.0, semis);
        assert_eq!(out[0].len(), input[0].len(), "length at {semis} st");
        let f = dominant_frequency(middle(&out[0]), SR);
        let err = cents(f, expected);
        assert!(
            err.abs() < 1.0,
            "pitch {semis:+} st: {f:.3} Hz, expected {expected:.3} ({err:+.3} cents)"
        );
        let level = rms(middle(&out[0])) / rms(&input[0]);
        assert!(
            (0.7..1.3).contains(&level),
            "pitch {semis:+} st: level ratio {level:.3}"
        );
    }
}

#[test]
fn stretch_gives_exact_length_and_keeps_pitch() {
    let len = 48_000 + 123;
    let input = vec![sine(440.0, len, 0.5)];
    for &stretch in &[0.25, 0.5, 1.25, 2.0, 4.0, 1.0] {
        let out = render(&input, stretch, 0.0);
        let expected_len = (len as f64 * stretch).round() as usize;
        assert_eq!(out[0].len(), expected_len, "length at stretch {stretch}");
        let f = dominant_frequency(middle(&out[0]), SR);
        assert!(cents(f, 440.0).abs() < 1.0, "stretch {stretch}: {f:.3} Hz");
    }
}

#[test]
fn stretch_and_pitch_at_once() {
    let len = 48_000;
    let input = vec![sine(330.0, len, 0.5), sine(330.0, len, 0.5)];
    let out = render(&input, 1.6, -5.0);
    let expected = 330.0 * 2f64.powf(-5.0 / 12.0);
    assert_eq!(out[1].len(), 76_800);
    for ch in &out {
        let f = dominant_frequency(middle(ch), SR);
        assert!(cents(f, expected).abs() < 1.0, "{f:.3} Hz vs {expected:.3}");
    }
}

/// Times of clicks in `x`: local peaks of |x| above `threshold`, at least `gap` apart.
fn click_times(x: &[f32], threshold: f32, gap: usize) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < x.len() {
        if x[i].abs() > threshold {
            let end = (i + gap / 2).min(x.len());
            let peak = (i..end)
                .max_by(|&a, &b| x[a].abs().total_cmp(&x[b].abs()))
                .unwrap();
            out.push(peak);
            i = peak + gap;
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn click_train_keeps_every_click_within_5_ms() {
    let len = 3 * 48_000;
    let period = 9_600; // 5 clicks per second
    let mut x = sine(220.0, len, 0.05);
    let mut clicks = Vec::new();
    for t in (4_000..len - 4_000).step_by(period) {
        x[t] += 0.9;
        x[t + 1] -= 0.45;
        clicks.push(t);
    }
    for &stretch in &[1.5, 0.75, 2.0] {
        let out = render(&[x.clone()], stretch, 0.0);
        let found = click_times(&out[0], 0.3, (period as f64 * stretch * 0.5) as usize);
        let expected: Vec<usize> = clicks
            .iter()
            .map(|&t| (t as f64 * stretch).round() as usize)
            .collect();
        assert_eq!(
            found.len(),
            expected.len(),
            "stretch {stretch}: clicks found at {found:?}, expected {expected:?}"
        );
        for (f, e) in found.iter().zip(&expected) {
            let err_ms = (*f as f64 - *e as f64).abs() / SR * 1000.0;
            assert!(
                err_ms < 5.0,
                "stretch {stretch}: click expected at {e}, found at {f} ({err_ms:.2} ms)"
            );
        }
    }
}

#[test]
fn centred_source_stays_centred_and_image_is_kept() {
    let len = 96_000;
    let mono = test_music(len, 11);
    // Centred source plus a little decorrelated side content.
    let side = test_music(len, 12);
    let left: Vec<f32> = mono.iter().zip(&side).map(|(m, s)| m + 0.05 * s).collect();
    let right: Vec<f32> = mono.iter().zip(&side).map(|(m, s)| m - 0.05 * s).collect();
    for &(stretch, pitch) in &[(1.0, 4.0), (1.5, 0.0), (0.8, -3.0)] {
        let out = render(&[left.clone(), right.clone()], stretch, pitch);
        let c = correlation(middle(&out[0]), middle(&out[1]));
        assert!(
            c > 0.99,
            "stretch {stretch} pitch {pitch}: L/R correlation {c:.4}"
        );
        // Pure centred input gives identical channels.
        let out = render(&[mono.clone(), mono.clone()], stretch, pitch);
        assert!(out[0] == out[1], "identical channels must stay identical");
    }
}

#[test]
fn offline_render_is_aligned_with_the_input() {
    // A tone burst starting at 0.5 s must start at 0.5 s × stretch in the output.
    let len = 48_000;
    let mut x = vec![0.0f32; len];
    let start = 24_000;
    for (i, v) in x.iter_mut().enumerate().skip(start) {
        *v = (std::f64::consts::TAU * 1000.0 * (i - start) as f64 / SR).sin() as f32 * 0.5;
    }
    for &(stretch, pitch) in &[(1.0, 0.0), (2.0, 0.0), (1.0, 7.0), (0.5, -12.0)] {
        let out = render(&[x.clone()], stretch, pitch);
        // Half-amplitude crossing: robust to the pre-echo of long windows.
        let onset = out[0].iter().position(|v| v.abs() > 0.25).unwrap();
        let expected = start as f64 * stretch;
        let err_ms = (onset as f64 - expected).abs() / SR * 1000.0;
        assert!(
            err_ms < 10.0,
            "stretch {stretch} pitch {pitch}: onset {onset}, expected {expected} ({err_ms:.1} ms)"
        );
        // The first transient is not eaten: the start of the file is there.
        assert!(out[0].len() == (len as f64 * stretch).round() as usize);
    }
}
