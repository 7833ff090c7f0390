//! Deterministic test signal for `xodvox bench`: tones, a chord, noise bursts and clicks.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Sample rate of the bench signal in Hz.
pub const BENCH_SAMPLE_RATE: u32 = 48_000;
/// Seed of the noise generator, so every run times the same signal.
pub const SIGNAL_SEED: u64 = 0x0000_586f_6456_6f78; // "XodVox"

/// Generates `seconds` of stereo audio at `sample_rate`, peak below 0.9:
/// - a 220 Hz tone panned left and a 330 Hz tone with 5 Hz vibrato panned right;
/// - a C major chord (C4 E4 G4, three harmonics each) that enters and leaves every 4 s;
/// - 150 ms white-noise bursts every 2.5 s (seeded ChaCha8);
/// - single-sample clicks every 0.5 s, centred.
///
/// Returns `[left, right]`.
pub fn test_signal(seconds: f64, sample_rate: u32) -> Vec<Vec<f32>> {
    let sr = f64::from(sample_rate);
    let num_frames = (seconds * sr).round() as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(SIGNAL_SEED);
    let mut left = Vec::with_capacity(num_frames);
    let mut right = Vec::with_capacity(num_frames);
    let tau = std::f64::consts::TAU;
    let chord_hz = [261.63, 329.63, 392.0];
    let click_period = (0.5 * sr) as usize;
    let burst_period = (2.5 * sr) as usize;
    let burst_len = (0.15 * sr) as usize;
    let mut vibrato_phase = 0.0f64;
    for n in 0..num_frames {
        let t = n as f64 / sr;
        let tone_l = 0.12 * (tau * 220.0 * t).sin();
        vibrato_phase += tau * (330.0 + 4.0 * (tau * 5.0 * t).sin()) / sr;
        let tone_r = 0.12 * vibrato_phase.sin();
        // Chord on during the second half of every 4 s period, with 20 ms fades.
        let in_period = t % 4.0;
        let gate =
            ((in_period - 2.0) / 0.02).clamp(0.0, 1.0) * ((4.0 - in_period) / 0.02).clamp(0.0, 1.0);
        let mut chord = 0.0;
        for f in chord_hz {
            for h in 1..=3 {
                chord += (tau * f * f64::from(h) * t).sin() / f64::from(h);
            }
        }
        let chord = 0.06 * gate * chord;
        let noise = if n % burst_period < burst_len {
            0.15 * rng.random_range(-1.0..1.0)
        } else {
            0.0
        };
        let click = if n % click_period == 0 { 0.25 } else { 0.0 };
        left.push((tone_l + 0.3 * tone_r + chord + noise + click) as f32);
        right.push((0.3 * tone_l + tone_r + chord + noise + click) as f32);
    }
    vec![left, right]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_bounded_stereo() {
        let a = test_signal(3.0, 48_000);
        let b = test_signal(3.0, 48_000);
        assert_eq!(a, b, "same seed must give the same signal");
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].len(), 144_000);
        let peak = a.iter().flatten().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(peak > 0.3 && peak < 0.9, "peak {peak}");
        assert_ne!(a[0], a[1], "channels differ");
    }
}
