//! The plugin's DSP driven directly (no host): no allocation in `process` with random block
//! sizes and moving parameters, block-size independence, latency alignment, mix 0 and
//! NaN input.

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use xodvox_alloc_counter::{count_allocations, CountingAllocator};
use xodvox_infer::ModelBundle;
use xodvox_plugin::dsp::{DspSettings, PluginStatus, Targets, XodVoxDsp};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn dsp(sample_rate: f64, channels: usize, model: Option<&ModelBundle>) -> XodVoxDsp {
    let mut d = XodVoxDsp::new(
        DspSettings {
            sample_rate,
            channels,
            max_block: 4096,
            offline: false,
        },
        model,
        Arc::new(PluginStatus::default()),
    );
    d.reset();
    d
}

fn sine(freq: f64, n: usize, sr: f64) -> Vec<f32> {
    (0..n)
        .map(|i| (0.5 * (std::f64::consts::TAU * freq * i as f64 / sr).sin()) as f32)
        .collect()
}

/// Runs `input` (per channel) through `d` in blocks of the sizes `blocks` yields.
fn run(d: &mut XodVoxDsp, input: &[Vec<f32>], mut blocks: impl FnMut() -> usize) -> Vec<Vec<f32>> {
    let mut out: Vec<Vec<f32>> = input.to_vec();
    let n = input[0].len();
    let mut pos = 0;
    while pos < n {
        let len = blocks().min(n - pos);
        let mut io: Vec<&mut [f32]> = out.iter_mut().map(|c| &mut c[pos..pos + len]).collect();
        d.process(&mut io);
        pos += len;
    }
    out
}

#[test]
fn process_never_allocates_with_random_blocks_and_moving_parameters() {
    let model = ModelBundle::embedded_default().expect("embedded model");
    for (channels, neural, sr) in [
        (2, false, 48_000.0),
        (1, false, 48_000.0),
        (2, true, 48_000.0),
        (2, true, 44_100.0),
        (1, false, 96_000.0),
    ] {
        let mut d = dsp(sr, channels, Some(&model));
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = 48_000;
        let input: Vec<Vec<f32>> = (0..channels).map(|_| sine(220.0, n, sr)).collect();
        let mut out = input.clone();
        let mut ios: Vec<Vec<f32>> = vec![vec![0.0; 4096]; channels];
        let mut pos = 0;
        let mut total_allocs = 0;
        while pos < n {
            let len = rng.random_range(1..=4096).min(n - pos);
            for (io, x) in ios.iter_mut().zip(&input) {
                io[..len].copy_from_slice(&x[pos..pos + len]);
            }
            let targets = Targets {
                pitch_semitones: rng.random_range(-24.0..=24.0),
                fine_cents: rng.random_range(-100.0..=100.0),
                style: rng.random_range(0..3),
                neural: neural && rng.random_bool(0.8),
                mix: rng.random_range(0.0..=1.0),
                gain_db: rng.random_range(-12.0..=12.0),
                bypass: rng.random_bool(0.1),
            };
            let mut slices: Vec<&mut [f32]> = ios.iter_mut().map(|c| &mut c[..len]).collect();
            let ((), allocs) = count_allocations(|| {
                d.set_targets(targets);
                d.process(&mut slices);
            });
            total_allocs += allocs;
            for (o, io) in out.iter_mut().zip(&ios) {
                o[pos..pos + len].copy_from_slice(&io[..len]);
            }
            pos += len;
        }
        assert_eq!(
            total_allocs, 0,
            "channels {channels}, neural {neural}, {sr} Hz"
        );
        assert!(out.iter().flatten().all(|v| v.is_finite()));
    }
}

#[test]
fn output_does_not_depend_on_block_sizes() {
    let n = 40_000;
    let input = vec![sine(220.0, n, 48_000.0), sine(330.0, n, 48_000.0)];
    let targets = Targets {
        pitch_semitones: 5.0,
        fine_cents: 13.0,
        mix: 0.7,
        ..Targets::default()
    };
    let mut a = dsp(48_000.0, 2, None);
    a.set_targets(targets);
    a.snap_to_targets();
    let whole = run(&mut a, &input, || n);
    let mut b = dsp(48_000.0, 2, None);
    b.set_targets(targets);
    b.snap_to_targets();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let pieces = run(&mut b, &input, || rng.random_range(1..=1500));
    assert_eq!(whole, pieces);
}

#[test]
fn impulse_comes_out_at_the_reported_latency_and_mix_zero_is_the_delayed_input() {
    for sr in [44_100.0, 48_000.0, 88_200.0, 96_000.0, 192_000.0] {
        let mut d = dsp(sr, 1, None);
        let latency = d.latency_samples();
        let n = latency + 20_000;
        let at = 3_000;
        let mut x = vec![0.0f32; n];
        x[at] = 1.0;
        let y = run(&mut d, &[x], || 256);
        let peak = (0..n)
            .max_by(|&i, &j| y[0][i].abs().total_cmp(&y[0][j].abs()))
            .unwrap();
        assert_eq!(peak, at + latency, "sample rate {sr}");

        let mut d = dsp(sr, 1, None);
        d.set_targets(Targets {
            pitch_semitones: -9.0,
            mix: 0.0,
            ..Targets::default()
        });
        d.snap_to_targets();
        let noise: Vec<f32> = {
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            (0..n).map(|_| rng.random_range(-0.5..0.5)).collect()
        };
        let y = run(&mut d, std::slice::from_ref(&noise), || 300);
        assert_eq!(&y[0][latency..], &noise[..n - latency]);
    }
}

#[test]
fn non_finite_input_never_reaches_the_output() {
    let mut d = dsp(48_000.0, 2, None);
    d.set_targets(Targets {
        pitch_semitones: 3.0,
        mix: 0.5,
        ..Targets::default()
    });
    let n = 20_000;
    let mut x = sine(220.0, n, 48_000.0);
    for v in &mut x[100..300] {
        *v = f32::NAN;
    }
    x[500] = f32::INFINITY;
    let y = run(&mut d, &[x.clone(), x], || 128);
    assert!(y.iter().flatten().all(|v| v.is_finite()));
}

/// The latency the plugin reports is where impulses come out, at every pitch (the peak of
/// a pitch-shifted impulse within 16 samples, exact at 0 st), at impulses that fall on
/// every part of the analysis grid, and at 44.1, 48 and 96 kHz; and it is the same at every
/// pitch. Printed: the measured delays, for the docs.
#[test]
fn reported_latency_is_the_measured_one_at_every_pitch_and_rate() {
    for sr in [44_100.0, 48_000.0, 96_000.0] {
        let reported = dsp(sr, 1, None).latency_samples();
        for p in [-24.0f32, -12.0, -7.0, 0.0, 5.0, 12.0, 24.0] {
            let mut d = dsp(sr, 1, None);
            d.set_targets(Targets {
                pitch_semitones: p,
                ..Targets::default()
            });
            d.reset();
            assert_eq!(d.latency_samples(), reported, "{sr} Hz, {p} st");
            let spacing = (0.2 * sr) as usize;
            let positions: Vec<usize> = (0..8).map(|i| 4_000 + i * spacing + i * 61).collect();
            let n = positions[7] + spacing + reported;
            let mut x = vec![0.0f32; n];
            for &at in &positions {
                x[at] = 0.9;
            }
            let y = run(&mut d, &[x], || 256);
            let window = (0.05 * sr) as usize;
            let delays: Vec<i64> = positions
                .iter()
                .map(|&at| {
                    let lo = at + reported - window;
                    let peak = (lo..lo + 2 * window)
                        .max_by(|&i, &j| y[0][i].abs().total_cmp(&y[0][j].abs()))
                        .unwrap();
                    peak as i64 - at as i64
                })
                .collect();
            println!("{sr} Hz, {p:+} st: reported {reported}, measured {delays:?}");
            let tolerance = if p == 0.0 { 0 } else { 16 };
            for d in &delays {
                assert!(
                    (d - reported as i64).abs() <= tolerance,
                    "{sr} Hz, {p} st: measured {delays:?}, reported {reported}"
                );
            }
        }
    }
}

/// `reset` forgets everything: after sound, some silence and a reset, the chain renders a
/// new sound exactly as a fresh chain does (what waking from sleep relies on).
#[test]
fn reset_after_sound_renders_like_a_fresh_chain() {
    for sr in [48_000.0, 44_100.0] {
        let n = sr as usize;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let noise: Vec<f32> = (0..n / 2).map(|_| rng.random_range(-0.3..0.3)).collect();
        let mut history = vec![noise.clone(), noise];
        history
            .iter_mut()
            .for_each(|c| c.extend(std::iter::repeat_n(0.0, 7_232)));
        let sound = vec![sine(220.0, n, sr), sine(220.0, n, sr)];
        let mut used = dsp(sr, 2, None);
        run(&mut used, &history, || 512);
        used.reset();
        let after = run(&mut used, &sound, || 512);
        let mut fresh = dsp(sr, 2, None);
        let expected = run(&mut fresh, &sound, || 512);
        let diff = after[0]
            .iter()
            .zip(&expected[0])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(diff < 1e-6, "{sr} Hz: reset chain differs by {diff}");
    }
}
