//! Quality measures. Distances to a reference are `xodvox_dsp::metrics`' (the one definition of
//! MR-STFT and LSD); this module adds the reference-free spectral convergence, pitch error on
//! steady segments and onset error.

use realfft::RealFftPlanner;
use serde::Serialize;

use crate::set::{PitchSegment, Task};

use xodvox_dsp::delay::cubic_hermite;
pub use xodvox_dsp::metrics::{band_peak_frequency, cents, lsd_db, mrstft_distance, FLOOR_DB};
use xodvox_dsp::window::hann_periodic;

/// FFT size of the spectral-convergence STFT (the model's framing).
pub const SC_N_FFT: usize = 2048;
/// Hop of the spectral-convergence STFT.
pub const SC_HOP: usize = 512;

/// 4-point cubic Hermite interpolation of `x` at fractional position `pos` (0 outside);
/// exact at integer positions.
fn sample_at(x: &[f32], pos: f64) -> f32 {
    let i = pos.floor();
    let frac = (pos - i) as f32;
    let i = i as isize;
    let get = |k: isize| {
        if k < 0 || k as usize >= x.len() {
            0.0
        } else {
            x[k as usize]
        }
    };
    if frac == 0.0 {
        return get(i);
    }
    cubic_hermite(get(i - 1), get(i), get(i + 1), get(i + 2), frac)
}

/// Magnitude frames of a signal read through `position(frame_idx, sample_idx)`: frame `k`,
/// sample `i` of the window takes `signal` at that (fractional) position.
fn magnitude_frames(
    signal: &[f32],
    frames: usize,
    position: impl Fn(usize, usize) -> f64,
) -> Vec<Vec<f32>> {
    let mut planner = RealFftPlanner::<f32>::new();
    let fft = planner.plan_fft_forward(SC_N_FFT);
    let window = hann_periodic(SC_N_FFT);
    let mut buf = fft.make_input_vec();
    let mut spec = fft.make_output_vec();
    (0..frames)
        .map(|k| {
            for (i, (b, w)) in buf.iter_mut().zip(&window).enumerate() {
                *b = sample_at(signal, position(k, i)) * w;
            }
            fft.process(&mut buf, &mut spec)
                .expect("sizes from the plan");
            spec.iter().map(|c| c.norm()).collect()
        })
        .collect()
}

/// Number of STFT frames (centred on `k · SC_HOP`) covering `len` samples.
fn frame_count(len: usize) -> usize {
    len / SC_HOP + 1
}

/// The magnitudes a stretcher is asked to produce for `task`: output frame `k` (centred on
/// output sample `k · 512`) is the input read around input sample `k · 512 / stretch`,
/// `2^(pitch/12)` samples per output sample (cubic interpolation), Hann-windowed, 2048-point
/// FFT. This is the chain's own definition (pitch by stretch + resample), independent of
/// any engine. Returns `out_len / 512 + 1` frames of 1025 bins.
pub fn intended_magnitudes(input: &[f32], task: Task, out_len: usize) -> Vec<Vec<f32>> {
    let ratio = task.pitch_ratio();
    let half = (SC_N_FFT / 2) as f64;
    magnitude_frames(input, frame_count(out_len), |k, i| {
        (k * SC_HOP) as f64 / task.stretch + (i as f64 - half) * ratio
    })
}

/// Spectral convergence of `output` against the intended magnitudes of `input` under `task`
/// (see [`intended_magnitudes`]): `‖|STFT(output)| − intended‖_F / ‖intended‖_F`. Reference-free:
/// it measures how consistent the output's spectrum is with what was asked, whatever the
/// phase. 0 for an identity task on an unchanged signal.
pub fn spectral_convergence(input: &[f32], task: Task, output: &[f32]) -> f64 {
    let intended = intended_magnitudes(input, task, output.len());
    let half = (SC_N_FFT / 2) as f64;
    let actual = magnitude_frames(output, intended.len(), |k, i| {
        (k * SC_HOP) as f64 + i as f64 - half
    });
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (a, b) in intended.iter().zip(&actual) {
        for (&x, &y) in a.iter().zip(b) {
            diff += (f64::from(y) - f64::from(x)).powi(2);
            norm += f64::from(x).powi(2);
        }
    }
    (diff / norm.max(1e-30)).sqrt()
}

/// Pitch error of one segment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PitchError {
    /// Expected fundamental in Hz.
    pub expected_hz: f64,
    /// Strongest peak within half an octave of it, Hz.
    pub measured_hz: f64,
    /// `1200 · log2(measured / expected)`.
    pub cents: f64,
}

/// Pitch errors of `output` on each expected segment (times in seconds of the output). The
/// measured pitch is the strongest spectral peak within ±6 semitones of the expected
/// fundamental, so a wrong harmonic balance is not mistaken for a pitch error. Segments
/// that fall outside the output are skipped.
pub fn pitch_errors(
    output: &[f32],
    sample_rate: f64,
    segments: &[PitchSegment],
) -> Vec<PitchError> {
    segments
        .iter()
        .filter_map(|s| {
            let a = ((s.start_s * sample_rate).round() as usize).min(output.len());
            let b = ((s.end_s * sample_rate).round() as usize).min(output.len());
            if b < a + 1024 {
                return None;
            }
            let measured = band_peak_frequency(
                &output[a..b],
                sample_rate,
                s.f0_hz * 0.5f64.sqrt(),
                s.f0_hz * 2f64.sqrt(),
            );
            Some(PitchError {
                expected_hz: s.f0_hz,
                measured_hz: measured,
                cents: cents(measured, s.f0_hz),
            })
        })
        .collect()
}

/// Length of the onset detector's energy smoothing in samples (1/3 ms at 48 kHz).
const ONSET_SMOOTH: usize = 16;

/// Onset time (seconds) near `expected_s`: within ±`window_s`, the first sample where the
/// smoothed energy rises a quarter of the way from its level at the window start to its peak
/// in the window. `None` when the window is silent (a lost hit).
pub fn detect_onset(
    signal: &[f32],
    sample_rate: f64,
    expected_s: f64,
    window_s: f64,
) -> Option<f64> {
    let a = ((expected_s - window_s) * sample_rate).floor().max(0.0) as usize;
    let b = (((expected_s + window_s) * sample_rate).ceil() as usize).min(signal.len());
    if b <= a + ONSET_SMOOTH {
        return None;
    }
    let energy: Vec<f64> = (a..b)
        .map(|n| {
            let lo = n.saturating_sub(ONSET_SMOOTH / 2);
            let hi = (n + ONSET_SMOOTH / 2).min(signal.len());
            signal[lo..hi]
                .iter()
                .map(|&v| f64::from(v).powi(2))
                .sum::<f64>()
                / ONSET_SMOOTH as f64
        })
        .collect();
    let peak = energy.iter().copied().fold(0.0, f64::max);
    if peak < 1e-9 {
        return None;
    }
    let base = energy[0].min(peak);
    let threshold = base + 0.25 * (peak - base);
    let idx = energy.iter().position(|&e| e >= threshold)?;
    Some((a + idx) as f64 / sample_rate)
}

/// Onset errors of a whole clip.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnsetErrors {
    /// Signed error per hit in milliseconds (negative = early, e.g. pre-echo); lost hits
    /// are left out.
    pub errors_ms: Vec<f64>,
    /// Hits found in the reference (or expected) but not in the output.
    pub missed: usize,
}

impl OnsetErrors {
    /// Mean absolute error in ms (`None` if every hit was lost).
    pub fn mean_abs_ms(&self) -> Option<f64> {
        (!self.errors_ms.is_empty()).then(|| {
            self.errors_ms.iter().map(|e| e.abs()).sum::<f64>() / self.errors_ms.len() as f64
        })
    }

    /// Mean signed error in ms.
    pub fn mean_signed_ms(&self) -> Option<f64> {
        (!self.errors_ms.is_empty())
            .then(|| self.errors_ms.iter().sum::<f64>() / self.errors_ms.len() as f64)
    }
}

/// Onset errors of `output` against `reference` at the expected onset times (seconds): for
/// each, the onset detected in the output minus the one detected in the reference (so the
/// detector's own bias cancels; identical signals give exactly 0). The search window is
/// ±40 ms, or less when hits are closer. Without a reference the expected time itself is used.
pub fn onset_errors(
    output: &[f32],
    reference: Option<&[f32]>,
    sample_rate: f64,
    expected_s: &[f64],
) -> OnsetErrors {
    let mut sorted = expected_s.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    let spacing = sorted
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(f64::INFINITY, f64::min);
    let window = (0.45 * spacing).min(0.040);
    let mut result = OnsetErrors {
        errors_ms: Vec::new(),
        missed: 0,
    };
    for &t in &sorted {
        let truth = match reference {
            Some(r) => match detect_onset(r, sample_rate, t, window) {
                Some(v) => v,
                None => continue,
            },
            None => t,
        };
        match detect_onset(output, sample_rate, t, window) {
            Some(found) => result.errors_ms.push((found - truth) * 1000.0),
            None => result.missed += 1,
        }
    }
    result
}
