//! The optional `advance` network input: the classical phase vocoder's per-bin phase-advance
//! deviation, computed from the frame's analysis (see `docs/model-format.md`).
//!
//! For bin `b` with reassigned instantaneous frequency `ω_b` (rad/sample,
//! [`PhaseFrame::inst_freq`](xodvox_dsp::PhaseFrame::inst_freq)) and the model's synthesis hop
//! `H`, the value is `wrap(ω_b · H − 2π·b·H/n_fft)` in (−π, π]: how far the phase vocoder
//! would rotate the bin beyond its centre-frequency advance over one output hop. A model with
//! this input predicts its increment relative to it; the runtime only feeds it.

/// Writes the advance deviation of every bin into `out` (`out.len()` bins, at most
/// `inst_freq.len()`): `wrap(ω_b · hop − 2π·b·hop/n_fft)` in (−π, π]. A non-finite `ω_b`
/// gives 0. Never allocates.
///
/// The centre frequency is computed exactly as the vocoder does (`b · (2π / n_fft)` in
/// `f32`), so a bin whose `inst_freq` is its centre (silent bins) gives exactly 0.
pub fn write_advance(inst_freq: &[f32], hop: usize, n_fft: usize, out: &mut [f32]) {
    let bin_freq = std::f32::consts::TAU / n_fft as f32;
    let hop = hop as f64;
    for (b, (o, &w)) in out.iter_mut().zip(inst_freq).enumerate() {
        let deviation = f64::from(w - b as f32 * bin_freq) * hop;
        *o = if deviation.is_finite() {
            wrap_f64(deviation) as f32
        } else {
            0.0
        };
    }
}

/// Wraps into (−π, π] in double precision.
fn wrap_f64(x: f64) -> f64 {
    use std::f64::consts::{PI, TAU};
    let mut p = x % TAU;
    if p > PI {
        p -= TAU;
    } else if p <= -PI {
        p += TAU;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::write_advance;
    use std::f32::consts::{PI, TAU};

    #[test]
    fn centre_frequency_gives_zero_and_offsets_wrap() {
        let n = 2048;
        let hop = 512;
        let bins = n / 2 + 1;
        let bin_freq = TAU / n as f32;
        let mut inst: Vec<f32> = (0..bins).map(|b| b as f32 * bin_freq).collect();
        // A quarter bin above centre: 0.25 · 2π/2048 · 512 = π/8.
        inst[10] += 0.25 * bin_freq;
        // A whole bin above: 2π/4 = π/2.
        inst[20] += bin_freq;
        // Three bins above: 3π/2 wraps to −π/2.
        inst[30] += 3.0 * bin_freq;
        inst[40] = f32::NAN;
        let mut out = vec![9.0f32; bins];
        write_advance(&inst, hop, n, &mut out);
        for (b, &v) in out.iter().enumerate() {
            let expected = match b {
                10 => PI / 8.0,
                20 => PI / 2.0,
                30 => -PI / 2.0,
                _ => 0.0,
            };
            assert!((v - expected).abs() < 1e-3, "bin {b}: {v} vs {expected}");
            if ![10, 20, 30].contains(&b) {
                assert_eq!(v, 0.0, "bin {b}");
            }
        }
    }
}
