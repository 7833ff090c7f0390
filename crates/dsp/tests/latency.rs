//! The spectral pitch path's latency: the same at every pitch, and what `latency_samples()`
//! says is where impulses come out (measured on audio, at many positions in the frame grid).

mod common;

use common::*;
use xodvox_dsp::metrics::{cents, dominant_frequency};
use xodvox_dsp::{ClassicalPhaseEngine, Controls, PitchMode, Stretcher, StretcherConfig};

const PITCHES: [f64; 7] = [-24.0, -12.0, -7.0, 0.0, 5.0, 12.0, 24.0];

fn chain(mode: PitchMode, channels: usize) -> Stretcher {
    let config = StretcherConfig {
        channels,
        pitch_mode: mode,
        ..Default::default()
    };
    Stretcher::new(config, Box::new(ClassicalPhaseEngine::new(1025))).unwrap()
}

/// A chain set to `p` semitones and reset there.
fn chain_at(mode: PitchMode, channels: usize, p: f64) -> Stretcher {
    let mut st = chain(mode, channels);
    set_pitch(&mut st, p);
    st
}

fn set_pitch(st: &mut Stretcher, p: f64) {
    st.set_controls(Controls {
        pitch_semitones: p,
        ..Controls::default()
    })
    .unwrap();
    st.reset();
}

fn run(st: &mut Stretcher, input: &[f32], block: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; input.len()];
    for (i, o) in input.chunks(block).zip(out.chunks_mut(block)) {
        st.process(&[i], &mut [o]);
    }
    out
}

/// Impulses at positions that fall on every part of the 512-sample analysis grid.
fn impulse_positions() -> Vec<usize> {
    (0..12).map(|i| 6000 + i * 9001 + (i * 37) % 512).collect()
}

/// Where the largest absolute output sample lies, relative to each impulse.
fn measured_delays(out: &[f32], positions: &[usize], latency: usize) -> Vec<i64> {
    positions
        .iter()
        .map(|&p| {
            let lo = p + latency - 3000;
            let hi = (p + latency + 3000).min(out.len());
            let (arg, _) = out[lo..hi]
                .iter()
                .enumerate()
                .fold((0, 0.0f32), |best, (i, &v)| {
                    if v.abs() > best.1 {
                        (i, v.abs())
                    } else {
                        best
                    }
                });
            (lo + arg) as i64 - p as i64
        })
        .collect()
}

#[test]
fn latency_is_the_same_at_every_pitch() {
    let mut st = chain(PitchMode::Spectral, 2);
    let expected = st.latency_samples();
    assert_eq!(expected, 2047, "n_fft - 1 with an engine that does not lag");
    for p in PITCHES {
        set_pitch(&mut st, p);
        assert_eq!(st.latency_samples(), expected, "at {p} st");
    }
}

#[test]
fn impulses_come_out_at_the_reported_latency_at_every_pitch() {
    let positions = impulse_positions();
    let len = positions.last().unwrap() + 12_000;
    let mut input = vec![0.0f32; len];
    for &p in &positions {
        input[p] = 0.9;
    }
    for p in PITCHES {
        let mut st = chain_at(PitchMode::Spectral, 1, p);
        let latency = st.latency_samples();
        let out = run(&mut st, &input, 333);
        let delays = measured_delays(&out, &positions, latency);
        eprintln!("pitch {p:+} st: reported {latency}, measured {delays:?}");
        let tolerance = if p == 0.0 { 1 } else { 16 };
        for (&d, &pos) in delays.iter().zip(&positions) {
            assert!(
                (d - latency as i64).abs() <= tolerance,
                "pitch {p} st, impulse at {pos}: measured {d}, reported {latency} (all: {delays:?})"
            );
        }
    }
}

#[test]
fn tones_are_within_one_cent_over_the_pitch_range() {
    let len = 48_000 * 2;
    let input = sine(330.0, len, 0.5);
    for p in PITCHES {
        let mut st = chain_at(PitchMode::Spectral, 1, p);
        let out = run(&mut st, &input, 512);
        let f = dominant_frequency(&out[24_000..len - 4_000], 48_000.0);
        let want = 330.0 * (p / 12.0).exp2();
        assert!(cents(f, want).abs() < 1.0, "{p} st: {f:.3} Hz vs {want:.3}");
    }
}

#[test]
fn the_resampling_path_still_shifts_and_reports_its_own_latency() {
    let len = 48_000 * 2;
    let input = sine(330.0, len, 0.5);
    let mut st = chain(PitchMode::Resample, 1);
    assert_eq!(st.pitch_mode(), PitchMode::Resample);
    st.set_controls(Controls {
        pitch_semitones: 7.0,
        ..Controls::default()
    })
    .unwrap();
    st.reset();
    assert!(
        st.latency_samples() > 2047,
        "the prefill covers the pitch range"
    );
    let out = run(&mut st, &input, 512);
    let f = dominant_frequency(&out[24_000..len - 4_000], 48_000.0);
    let want = 330.0 * (7.0f64 / 12.0).exp2();
    assert!(cents(f, want).abs() < 1.0, "{f:.3} Hz vs {want:.3}");
}
