//! Synthesis of additive and drum clips from their truth: the inputs of the built-in set and
//! their exact references.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Event, Hit, Partial};

/// Sums `partials` into `len` samples at `sr`, with every time scaled by `time_scale` and
/// every frequency by `freq_scale`. Partials at or above 0.45 × `sr` after scaling are left
/// out (no engine can produce them without aliasing).
pub fn synth_partials(
    partials: &[Partial],
    len: usize,
    sr: f64,
    time_scale: f64,
    freq_scale: f64,
) -> Vec<f32> {
    let mut out = vec![0.0f64; len];
    for p in partials {
        let freq = p.freq_hz * freq_scale;
        if freq >= 0.45 * sr {
            continue;
        }
        let (start, end) = (p.start_s * time_scale, p.end_s * time_scale);
        let fade = (p.fade_s * time_scale).max(1e-9);
        let first = ((start * sr).floor().max(0.0) as usize).min(len);
        let last = ((end * sr).ceil().max(0.0) as usize).min(len);
        let w = std::f64::consts::TAU * freq / sr;
        for (n, o) in out.iter_mut().enumerate().take(last).skip(first) {
            let t = n as f64 / sr;
            let env = ((t - start) / fade).clamp(0.0, 1.0) * ((end - t) / fade).clamp(0.0, 1.0);
            let decay = p
                .decay_s
                .map_or(1.0, |d| (-(t - start) / (d * time_scale)).exp());
            *o += p.amplitude * env * decay * (w * n as f64 + p.phase).sin();
        }
    }
    out.into_iter().map(|v| v as f32).collect()
}

/// Renders `events` into `len` samples at `sr`, onsets scaled by `time_scale`, tone
/// frequencies by `freq_scale`; hit shapes are not stretched.
pub fn synth_events(
    events: &[Event],
    len: usize,
    sr: f64,
    time_scale: f64,
    freq_scale: f64,
) -> Vec<f32> {
    let mut out = vec![0.0f64; len];
    for e in events {
        let onset = (e.time_s * time_scale * sr).round() as usize;
        if onset >= len {
            continue;
        }
        match e.hit {
            Hit::Click { amplitude } => out[onset] += amplitude,
            Hit::Burst {
                amplitude,
                decay_s,
                bright,
                seed,
            } => {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let n = ((6.0 * decay_s * sr) as usize).min(len - onset);
                let mut prev = 0.0f64;
                for k in 0..n {
                    let white: f64 = rng.random_range(-1.0..1.0);
                    let v = if bright { 0.5 * (white - prev) } else { white };
                    prev = white;
                    out[onset + k] += amplitude * v * (-(k as f64) / (decay_s * sr)).exp();
                }
            }
            Hit::Tone {
                freq_hz,
                amplitude,
                decay_s,
            } => {
                let w = std::f64::consts::TAU * freq_hz * freq_scale / sr;
                let n = ((6.0 * decay_s * sr) as usize).min(len - onset);
                for k in 0..n {
                    let kf = k as f64;
                    out[onset + k] += amplitude * (w * kf).sin() * (-kf / (decay_s * sr)).exp();
                }
            }
        }
    }
    out.into_iter().map(|v| v as f32).collect()
}
