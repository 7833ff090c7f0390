//! Objective measures used by the tests and by `xodvox eval`: frequency estimation,
//! error ratios, correlation, spectral distances.

use crate::stft::{stft, StftConfig};
use realfft::RealFftPlanner;

/// Estimates the frequency (Hz) of the strongest sinusoid in `signal` with a Hann-windowed,
/// zero-padded FFT and Gaussian (log-parabolic) peak interpolation. For a steady tone of a
/// second or more the error is far below one cent.
pub fn dominant_frequency(signal: &[f32], sample_rate: f64) -> f64 {
    let n = signal.len().max(2);
    let fft_len = (n * 4).next_power_of_two();
    let mut planner = RealFftPlanner::<f64>::new();
    let plan = planner.plan_fft_forward(fft_len);
    let mut buf = plan.make_input_vec();
    for (i, &x) in signal.iter().enumerate() {
        let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos();
        buf[i] = x as f64 * w;
    }
    let mut spec = plan.make_output_vec();
    plan.process(&mut buf, &mut spec)
        .expect("sizes from the plan");
    let mags: Vec<f64> = spec.iter().map(|c| c.norm()).collect();
    let k = (1..mags.len() - 1)
        .max_by(|&a, &b| mags[a].total_cmp(&mags[b]))
        .unwrap_or(1);
    let (a, b, c) = (
        mags[k - 1].max(1e-30).ln(),
        mags[k].max(1e-30).ln(),
        mags[k + 1].max(1e-30).ln(),
    );
    let denom = a - 2.0 * b + c;
    let delta = if denom.abs() > 1e-30 {
        0.5 * (a - c) / denom
    } else {
        0.0
    };
    (k as f64 + delta) * sample_rate / fft_len as f64
}

/// Difference between two frequencies in cents (`1200 · log2(f / reference)`).
pub fn cents(frequency: f64, reference: f64) -> f64 {
    1200.0 * (frequency / reference).log2()
}

/// Energy of `test − reference` relative to the energy of `reference`, in dB
/// (−∞ when identical). Lengths must match.
pub fn error_db(reference: &[f32], test: &[f32]) -> f64 {
    let (mut e, mut s) = (0.0f64, 0.0f64);
    for (&r, &t) in reference.iter().zip(test) {
        e += (t as f64 - r as f64).powi(2);
        s += (r as f64).powi(2);
    }
    10.0 * (e / s.max(1e-300)).log10()
}

/// Pearson correlation of two equally long signals (1 = identical shape).
pub fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    let ma = a.iter().map(|&v| v as f64).sum::<f64>() / n;
    let mb = b.iter().map(|&v| v as f64).sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64 - ma, y as f64 - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    sab / (saa * sbb).sqrt().max(1e-300)
}

/// Root-mean-square level.
pub fn rms(signal: &[f32]) -> f64 {
    (signal.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / signal.len().max(1) as f64).sqrt()
}

/// Multi-resolution STFT distance (spectral convergence + mean absolute log-magnitude
/// difference, averaged over FFT sizes 512, 1024, 2048 with hop n/4). 0 for identical
/// signals. Lengths are truncated to the shorter one.
pub fn multi_resolution_stft_distance(reference: &[f32], test: &[f32]) -> f64 {
    let len = reference.len().min(test.len());
    let sizes = [512usize, 1024, 2048];
    let mut total = 0.0;
    for &n in &sizes {
        let cfg = StftConfig {
            n_fft: n,
            hop: n / 4,
        };
        let a = stft(&reference[..len], cfg);
        let b = stft(&test[..len], cfg);
        let (mut diff2, mut ref2, mut logd, mut count) = (0.0f64, 0.0f64, 0.0f64, 0usize);
        for (fa, fb) in a.iter().zip(&b) {
            for (x, y) in fa.iter().zip(fb) {
                let (ma, mb) = (x.norm() as f64, y.norm() as f64);
                diff2 += (mb - ma).powi(2);
                ref2 += ma * ma;
                logd += ((mb + 1e-5).ln() - (ma + 1e-5).ln()).abs();
                count += 1;
            }
        }
        total += (diff2 / ref2.max(1e-300)).sqrt() + logd / count.max(1) as f64;
    }
    total / sizes.len() as f64
}

/// Log-spectral distance in dB (RMS over bins of the dB difference, mean over frames),
/// n_fft 2048, hop 512.
pub fn log_spectral_distance(reference: &[f32], test: &[f32]) -> f64 {
    let len = reference.len().min(test.len());
    let cfg = StftConfig::default();
    let a = stft(&reference[..len], cfg);
    let b = stft(&test[..len], cfg);
    let mut sum = 0.0;
    for (fa, fb) in a.iter().zip(&b) {
        let mut s = 0.0;
        for (x, y) in fa.iter().zip(fb) {
            let d = 10.0
                * ((x.norm_sqr() as f64 + 1e-10).log10() - (y.norm_sqr() as f64 + 1e-10).log10());
            s += d * d;
        }
        sum += (s / fa.len() as f64).sqrt();
    }
    sum / a.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, sr: f64, len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (std::f64::consts::TAU * freq * i as f64 / sr).sin() as f32 * 0.5)
            .collect()
    }

    #[test]
    fn dominant_frequency_is_sub_cent_accurate() {
        for &f in &[110.0, 220.0, 440.0, 659.255, 1000.3, 5000.0] {
            let est = dominant_frequency(&sine(f, 48_000.0, 48_000), 48_000.0);
            assert!(cents(est, f).abs() < 0.1, "{f} Hz estimated {est}");
        }
    }

    #[test]
    fn distances_are_zero_for_identical_and_grow_with_error() {
        let a = sine(440.0, 48_000.0, 24_000);
        assert_eq!(multi_resolution_stft_distance(&a, &a), 0.0);
        assert_eq!(log_spectral_distance(&a, &a), 0.0);
        let b = sine(466.16, 48_000.0, 24_000);
        assert!(multi_resolution_stft_distance(&a, &b) > 0.5);
        assert!(log_spectral_distance(&a, &b) > 3.0);
        assert!(error_db(&a, &a) < -200.0);
        assert!((correlation(&a, &a) - 1.0).abs() < 1e-12);
    }
}
