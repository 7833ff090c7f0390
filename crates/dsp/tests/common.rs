//! Shared signal generators for the dsp integration tests.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const SR: f64 = 48_000.0;

pub fn sine(freq: f64, len: usize, amp: f32) -> Vec<f32> {
    (0..len)
        .map(|i| (std::f64::consts::TAU * freq * i as f64 / SR).sin() as f32 * amp)
        .collect()
}

/// Deterministic broadband test music: a chord, a glide, noise bursts and clicks.
pub fn test_music(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = vec![0.0f32; len];
    for (i, o) in out.iter_mut().enumerate() {
        let t = i as f64 / SR;
        let mut v = 0.0;
        for (k, f) in [220.0, 277.18, 329.63, 440.0].iter().enumerate() {
            v += (std::f64::consts::TAU * f * t * (1.0 + 0.001 * k as f64)).sin() * 0.12;
        }
        v += (std::f64::consts::TAU * (300.0 * t + 200.0 * t * t)).sin() * 0.1;
        if (i / 4800) % 5 == 0 {
            v += (rng.random::<f64>() - 0.5) * 0.2;
        }
        if i % 12_000 == 6_000 {
            v += 0.6;
        }
        *o = v as f32;
    }
    out
}

/// Splits `len` into random block lengths in 1..=max, seeded.
pub fn random_blocks(len: usize, max: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut left = len;
    while left > 0 {
        let b = rng.random_range(1..=max).min(left);
        out.push(b);
        left -= b;
    }
    out
}

/// This crate's directory as `cargo test` gives it at run time, else where the test was built
/// (a target directory shared by two checkouts can hold a test built from the other one).
pub fn crate_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        std::path::PathBuf::from,
    )
}
