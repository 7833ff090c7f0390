//! Objective measures used by the tests and by `xodvox eval`: frequency estimation,
//! error ratios, correlation, spectral distances.

use crate::stft::{stft, StftConfig};
use crate::window::hann_periodic_f64;
use realfft::RealFftPlanner;

/// Estimates the frequency (Hz) of the strongest sinusoid in `signal` with a Hann-windowed,
/// zero-padded FFT and Gaussian (log-parabolic) peak interpolation. For a steady tone of a
/// second or more the error is far below one cent.
pub fn dominant_frequency(signal: &[f32], sample_rate: f64) -> f64 {
    band_peak_frequency(signal, sample_rate, 0.0, sample_rate / 2.0)
}

/// Frequency (Hz) of the strongest peak of `signal` between `lo_hz` and `hi_hz`
/// (Hann window, 4× zero padding, Gaussian peak interpolation).
pub fn band_peak_frequency(signal: &[f32], sample_rate: f64, lo_hz: f64, hi_hz: f64) -> f64 {
    let n = signal.len().max(2);
    let fft_len = (n * 4).next_power_of_two();
    let mut planner = RealFftPlanner::<f64>::new();
    let plan = planner.plan_fft_forward(fft_len);
    let mut buf = plan.make_input_vec();
    for ((b, &x), w) in buf.iter_mut().zip(signal).zip(hann_periodic_f64(n)) {
        *b = f64::from(x) * w;
    }
    let mut spec = plan.make_output_vec();
    plan.process(&mut buf, &mut spec)
        .expect("sizes from the plan");
    let mags: Vec<f64> = spec.iter().map(|c| c.norm().max(1e-30).ln()).collect();
    let bin_hz = sample_rate / fft_len as f64;
    let lo = ((lo_hz / bin_hz).floor() as usize).max(1);
    let hi = ((hi_hz / bin_hz).ceil() as usize)
        .min(mags.len() - 2)
        .max(lo);
    let k = (lo..=hi)
        .max_by(|&a, &b| mags[a].total_cmp(&mags[b]))
        .unwrap_or(lo);
    let (a, b, c) = (mags[k - 1], mags[k], mags[k + 1]);
    let denom = a - 2.0 * b + c;
    let delta = if denom.abs() > 1e-30 {
        (0.5 * (a - c) / denom).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    (k as f64 + delta) * bin_hz
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

/// Floor of the log-magnitude comparisons, dB below the reference's loudest bin. Without a
/// relative floor, an engine that leaves noise at −120 dB where the exact reference is digital
/// silence is punished as much as an audible error (an absolute floor).
pub const FLOOR_DB: f64 = -80.0;

fn magnitudes(signal: &[f32], n_fft: usize, hop: usize) -> Vec<Vec<f64>> {
    stft(signal, StftConfig { n_fft, hop })
        .into_iter()
        .map(|f| f.iter().map(|c| f64::from(c.norm())).collect())
        .collect()
}

fn max_of(frames: &[Vec<f64>]) -> f64 {
    frames.iter().flatten().copied().fold(0.0, f64::max)
}

/// Multi-resolution STFT distance with a relative floor: for FFT sizes 512, 1024 and 2048
/// (hop n/4), spectral convergence `‖|B| − |A|‖ / ‖A‖` plus the mean absolute difference of
/// natural-log magnitudes, both floored at [`FLOOR_DB`] below the reference's loudest bin;
/// averaged over the sizes. 0 for identical signals; lengths are cut to the shorter.
pub fn mrstft_distance(reference: &[f32], test: &[f32]) -> f64 {
    let len = reference.len().min(test.len());
    let sizes = [512usize, 1024, 2048];
    let mut total = 0.0;
    for &n in &sizes {
        let a = magnitudes(&reference[..len], n, n / 4);
        let b = magnitudes(&test[..len], n, n / 4);
        let floor = (max_of(&a) * 10f64.powf(FLOOR_DB / 20.0)).max(1e-12);
        let (mut diff2, mut ref2, mut logd, mut count) = (0.0f64, 0.0f64, 0.0f64, 0usize);
        for (fa, fb) in a.iter().zip(&b) {
            for (&x, &y) in fa.iter().zip(fb) {
                diff2 += (y - x).powi(2);
                ref2 += x * x;
                logd += (y.max(floor).ln() - x.max(floor).ln()).abs();
                count += 1;
            }
        }
        total += (diff2 / ref2.max(1e-30)).sqrt() + logd / count.max(1) as f64;
    }
    total / sizes.len() as f64
}

/// Log-spectral distance in dB with a relative floor: per frame (n_fft 2048, hop 512) the RMS
/// over bins of the dB difference of the power spectra, both floored at [`FLOOR_DB`] below
/// the reference's loudest bin; mean over frames. 0 for identical signals.
pub fn lsd_db(reference: &[f32], test: &[f32]) -> f64 {
    let len = reference.len().min(test.len());
    let a = magnitudes(&reference[..len], 2048, 512);
    let b = magnitudes(&test[..len], 2048, 512);
    let floor = (max_of(&a) * 10f64.powf(FLOOR_DB / 20.0)).max(1e-12);
    let mut sum = 0.0;
    for (fa, fb) in a.iter().zip(&b) {
        let s: f64 = fa
            .iter()
            .zip(fb)
            .map(|(&x, &y)| (20.0 * (y.max(floor) / x.max(floor)).log10()).powi(2))
            .sum();
        sum += (s / fa.len().max(1) as f64).sqrt();
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
        assert_eq!(mrstft_distance(&a, &a), 0.0);
        assert_eq!(lsd_db(&a, &a), 0.0);
        let b = sine(466.16, 48_000.0, 24_000);
        // A semitone apart: 0.62 and 1.9 dB (the floor 80 dB under the reference's peak keeps
        // the empty bins out of the LSD).
        assert!(mrstft_distance(&a, &b) > 0.5);
        assert!(lsd_db(&a, &b) > 1.5);
        assert!(error_db(&a, &a) < -200.0);
        assert!((correlation(&a, &a) - 1.0).abs() < 1e-12);
    }
}
