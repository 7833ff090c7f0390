//! Streaming core: identity reconstruction, block-size invariance, latency, NaN handling.

mod common;

use common::*;
use xodvox_dsp::metrics::error_db;
use xodvox_dsp::{
    ClassicalPhaseEngine, Controls, IdentityPhaseEngine, StftConfig, Stretcher, StretcherConfig,
};

fn stream(st: &mut Stretcher, input: &[Vec<f32>], blocks: &[usize]) -> Vec<Vec<f32>> {
    let len = input[0].len();
    let mut out = vec![vec![0.0f32; len]; input.len()];
    let mut pos = 0;
    for &b in blocks {
        let ins: Vec<&[f32]> = input.iter().map(|c| &c[pos..pos + b]).collect();
        let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|c| &mut c[pos..pos + b]).collect();
        st.process(&ins, &mut outs);
        pos += b;
    }
    out
}

#[test]
fn identity_reconstruction_below_minus_100_db() {
    for &(n_fft, hop) in &[
        (2048usize, 512usize),
        (1024, 256),
        (4096, 1024),
        (2048, 1024),
    ] {
        let config = StretcherConfig {
            channels: 2,
            stft: StftConfig { n_fft, hop },
            min_pitch_semitones: 0.0,
            max_pitch_semitones: 0.0,
            ..Default::default()
        };
        let engine = Box::new(IdentityPhaseEngine::new(n_fft / 2 + 1));
        let mut st = Stretcher::new(config, engine).unwrap();
        let len = 48_000;
        let input = vec![test_music(len, 1), test_music(len, 2)];
        let out = stream(&mut st, &input, &random_blocks(len, 4096, 3));
        let lat = st.latency_samples();
        assert_eq!(lat, n_fft - 1, "latency for {n_fft}/{hop}");
        for c in 0..2 {
            let err = error_db(&input[c][..len - lat], &out[c][lat..]);
            assert!(err < -100.0, "n_fft {n_fft} hop {hop} ch {c}: {err:.1} dB");
        }
        assert_eq!(st.underruns(), 0);
    }
}

#[test]
fn output_is_bit_identical_for_any_block_sizes() {
    let len = 96_000;
    let input = vec![test_music(len, 5), test_music(len, 6)];
    let run = |blocks: &[usize]| {
        let config = StretcherConfig::default();
        let mut st = Stretcher::new(config, Box::new(ClassicalPhaseEngine::new(1025))).unwrap();
        st.set_controls(Controls {
            pitch_semitones: 3.0,
            ..Controls::default()
        })
        .unwrap();
        let out = stream(&mut st, &input, blocks);
        assert_eq!(st.underruns(), 0, "underrun with {} blocks", blocks.len());
        out
    };
    let reference = run(&[len]);
    for (seed, max) in [(1u64, 8192usize), (2, 64), (3, 1), (4, 1000)] {
        let blocks = if max == 1 {
            vec![1; len]
        } else {
            random_blocks(len, max, seed)
        };
        let out = run(&blocks);
        for c in 0..2 {
            assert!(
                out[c] == reference[c],
                "channel {c} differs with random blocks up to {max} (seed {seed})"
            );
        }
    }
}

#[test]
fn no_underruns_over_the_pitch_range_and_changes_are_click_free() {
    let len = 5 * 48_000;
    let input = [sine(440.0, len, 0.5)];
    let config = StretcherConfig {
        channels: 1,
        ..Default::default()
    };
    let mut st = Stretcher::new(config, Box::new(ClassicalPhaseEngine::new(1025))).unwrap();
    let mut out = vec![0.0f32; len];
    let block = 256;
    let mut max_jump = 0.0f32;
    let mut prev = 0.0f32;
    for (b, o) in out.chunks_mut(block).enumerate() {
        // Sweep pitch from -24 to +24 and back.
        let phase = b as f64 / (len / block) as f64;
        let semis = -24.0 + 48.0 * (1.0 - (2.0 * phase - 1.0).abs());
        st.set_controls(Controls {
            pitch_semitones: semis,
            ..Controls::default()
        })
        .unwrap();
        let start = b * block;
        let ins = [&input[0][start..start + o.len()]];
        st.process(&ins, &mut [o]);
        for &v in o.iter() {
            assert!(v.is_finite());
            if start > 4096 {
                max_jump = max_jump.max((v - prev).abs());
            }
            prev = v;
        }
    }
    assert_eq!(st.underruns(), 0, "underruns during pitch sweep");
    // A 0.5-amplitude sine up to 1760 Hz moves at most 2π·1760/48000·0.5 ≈ 0.115 per sample;
    // a click would jump far more.
    assert!(max_jump < 0.3, "largest sample-to-sample jump {max_jump}");
}

#[test]
fn nan_and_inf_input_never_reach_the_output() {
    let len = 20_000;
    let mut input = sine(440.0, len, 0.5);
    for i in (1000..len).step_by(777) {
        input[i] = if i % 2 == 0 { f32::NAN } else { f32::INFINITY };
    }
    input[5000] = f32::NEG_INFINITY;
    let config = StretcherConfig {
        channels: 1,
        ..Default::default()
    };
    let mut st = Stretcher::new(config, Box::new(ClassicalPhaseEngine::new(1025))).unwrap();
    st.set_controls(Controls {
        pitch_semitones: -5.0,
        ..Controls::default()
    })
    .unwrap();
    let mut out = vec![0.0f32; len];
    st.process(&[&input], &mut [&mut out]);
    assert!(out.iter().all(|v| v.is_finite()));
    assert!(out.iter().any(|&v| v.abs() > 0.1), "signal still passes");
    assert_eq!(st.nonfinite_samples(), 26);
}

#[test]
fn reset_restores_initial_state() {
    let len = 30_000;
    let input = vec![test_music(len, 9)];
    let config = StretcherConfig {
        channels: 1,
        ..Default::default()
    };
    let mut st = Stretcher::new(config, Box::new(ClassicalPhaseEngine::new(1025))).unwrap();
    let a = stream(&mut st, &input, &[len]);
    st.reset();
    let b = stream(&mut st, &input, &[len]);
    assert!(a == b);
}

#[test]
fn bad_configuration_is_refused_with_named_values() {
    let e = Stretcher::new(
        StretcherConfig {
            channels: 9,
            ..Default::default()
        },
        Box::new(ClassicalPhaseEngine::new(1025)),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("9"), "{e}");
    let e = Stretcher::new(
        StretcherConfig {
            stft: StftConfig {
                n_fft: 2048,
                hop: 500,
            },
            ..Default::default()
        },
        Box::new(ClassicalPhaseEngine::new(1025)),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("hop = 500"), "{e}");
    let e = Stretcher::new(
        StretcherConfig::default(),
        Box::new(ClassicalPhaseEngine::new(513)),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("513"), "{e}");
    let mut st = Stretcher::new(
        StretcherConfig::default(),
        Box::new(ClassicalPhaseEngine::new(1025)),
    )
    .unwrap();
    let e = st
        .set_controls(Controls {
            stretch: 5.0,
            ..Controls::default()
        })
        .unwrap_err();
    assert!(e.to_string().contains("stretch = 5"), "{e}");
    assert!(st
        .set_controls(Controls {
            pitch_semitones: f64::NAN,
            ..Controls::default()
        })
        .is_err());
}
