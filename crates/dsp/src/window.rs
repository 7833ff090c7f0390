//! Analysis/synthesis windows and the auxiliary windows used for reassignment.

use std::f64::consts::PI;

/// Periodic Hann window of `len` samples (`torch.hann_window(len, periodic=True)`):
/// `w[n] = 0.5 - 0.5 cos(2π n / len)`.
pub fn hann_periodic(len: usize) -> Vec<f32> {
    hann_periodic_f64(len)
        .into_iter()
        .map(|w| w as f32)
        .collect()
}

/// [`hann_periodic`] in double precision (for measurements made in `f64`).
pub fn hann_periodic_f64(len: usize) -> Vec<f64> {
    (0..len)
        .map(|n| 0.5 - 0.5 * (2.0 * PI * n as f64 / len as f64).cos())
        .collect()
}

/// Time derivative of the periodic Hann window, in 1/sample:
/// `w'[n] = (π / len) sin(2π n / len)`. Used to estimate instantaneous frequency.
pub fn hann_periodic_derivative(len: usize) -> Vec<f32> {
    (0..len)
        .map(|n| (PI / len as f64 * (2.0 * PI * n as f64 / len as f64).sin()) as f32)
        .collect()
}

/// Periodic Hann window multiplied by the time offset from the frame centre,
/// `(n - len/2) · w[n]`, in samples. Used to estimate where energy sits in the frame.
pub fn hann_periodic_time_weighted(len: usize) -> Vec<f32> {
    let w = hann_periodic(len);
    let centre = len as f64 / 2.0;
    w.iter()
        .enumerate()
        .map(|(n, &v)| ((n as f64 - centre) * v as f64) as f32)
        .collect()
}

/// Sum of squared window values overlapping at one sample when frames are `hop` apart
/// (the constant weighted-overlap-add gain in steady state).
pub fn overlap_gain(window: &[f32], hop: usize) -> f32 {
    let mut best = 0.0f64;
    for offset in 0..hop.min(window.len()) {
        let s: f64 = window
            .iter()
            .skip(offset)
            .step_by(hop)
            .map(|&w| (w as f64) * (w as f64))
            .sum();
        best = best.max(s);
    }
    best as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hann_is_periodic_and_cola_at_quarter_hop() {
        let w = hann_periodic(2048);
        assert_eq!(w[0], 0.0);
        assert!((w[1024] - 1.0).abs() < 1e-7);
        assert!((w[1] - w[2047]).abs() < 1e-7, "periodic symmetry");
        // Sum of w² at hop n/4 is 1.5 for every offset.
        for offset in 0..512 {
            let s: f32 = w.iter().skip(offset).step_by(512).map(|v| v * v).sum();
            assert!((s - 1.5).abs() < 1e-5, "offset {offset}: {s}");
        }
        assert!((overlap_gain(&w, 512) - 1.5).abs() < 1e-5);
    }
}
