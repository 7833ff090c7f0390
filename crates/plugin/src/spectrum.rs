//! The live spectrum's data path: the audio thread writes the latest input and output
//! samples (mono: the mean of the channels) into [`SpectrumTap`], two fixed rings of atomic
//! `f32`s allocated when the plugin is created; the editor copies the last
//! [`SPECTRUM_FFT`] samples out of it and computes the spectra on its own thread
//! ([`SpectrumAnalyzer`]).
//!
//! The audio side costs two relaxed atomic stores per sample (plain stores on x86-64) and
//! one release store per 32-sample chunk: no allocation, no lock, no waiting, whether an
//! editor is open or not. A reader that is slower than the writer by more than
//! [`TAP_LEN`] − [`SPECTRUM_FFT`] samples during its copy could see a torn window;
//! [`SpectrumTap::snapshot`] detects that and says so (the editor then keeps the last
//! spectrum).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

/// Samples kept per ring (a power of two).
pub const TAP_LEN: usize = 16_384;
/// FFT size of the editor's spectrum (11.7 Hz bins at 48 kHz).
pub const SPECTRUM_FFT: usize = 4096;

/// Latest input and output samples, written by the audio thread, read by the editor.
#[derive(Debug)]
pub struct SpectrumTap {
    input: Box<[AtomicU32]>,
    output: Box<[AtomicU32]>,
    /// Samples written so far (the ring position of the next one is `written % TAP_LEN`).
    written: AtomicU64,
}

impl Default for SpectrumTap {
    fn default() -> Self {
        let ring = || (0..TAP_LEN).map(|_| AtomicU32::new(0)).collect();
        Self {
            input: ring(),
            output: ring(),
            written: AtomicU64::new(0),
        }
    }
}

impl SpectrumTap {
    /// Stores sample `index` (the absolute count since the plugin was created) of the input
    /// and the output. Audio thread; never allocates. Visible to readers after
    /// [`publish`](Self::publish).
    #[inline]
    pub fn write(&self, index: u64, input: f32, output: f32) {
        let i = (index as usize) & (TAP_LEN - 1);
        self.input[i].store(input.to_bits(), Ordering::Relaxed);
        self.output[i].store(output.to_bits(), Ordering::Relaxed);
    }

    /// Makes the samples before `written` visible to readers. Audio thread.
    #[inline]
    pub fn publish(&self, written: u64) {
        self.written.store(written, Ordering::Release);
    }

    /// Samples published so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// Copies the last `input.len()` (at most [`TAP_LEN`]/2) published samples of each
    /// ring, oldest first, zeros where nothing was written yet. Returns the number of
    /// samples published at the time of the copy, or `None` when the writer overtook the
    /// copy (a torn window; try again later).
    pub fn snapshot(&self, input: &mut [f32], output: &mut [f32]) -> Option<u64> {
        let n = input.len().min(output.len()).min(TAP_LEN / 2);
        let end = self.written.load(Ordering::Acquire);
        for k in 0..n {
            let idx = end as i64 - n as i64 + k as i64;
            if idx < 0 {
                input[k] = 0.0;
                output[k] = 0.0;
            } else {
                let i = (idx as usize) & (TAP_LEN - 1);
                input[k] = f32::from_bits(self.input[i].load(Ordering::Relaxed));
                output[k] = f32::from_bits(self.output[i].load(Ordering::Relaxed));
            }
        }
        let after = self.written.load(Ordering::Acquire);
        (after - end <= (TAP_LEN - n) as u64).then_some(end)
    }
}

/// The editor's side: windowed FFTs of the tap's latest samples, in dB (GUI thread; it
/// allocates its buffers once).
pub struct SpectrumAnalyzer {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    input: Vec<f32>,
    output: Vec<f32>,
    spectrum: Vec<realfft::num_complex::Complex<f32>>,
    scratch: Vec<realfft::num_complex::Complex<f32>>,
    /// Input spectrum, dB re full-scale sine, [`SPECTRUM_FFT`]/2 + 1 bins.
    pub input_db: Vec<f32>,
    /// Output spectrum, dB re full-scale sine.
    pub output_db: Vec<f32>,
    last_written: u64,
}

impl Default for SpectrumAnalyzer {
    fn default() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(SPECTRUM_FFT);
        let n = SPECTRUM_FFT;
        let window = xodvox_dsp::window::hann_periodic(n);
        let bins = n / 2 + 1;
        Self {
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            fft,
            window,
            input: vec![0.0; n],
            output: vec![0.0; n],
            input_db: vec![FLOOR_DB; bins],
            output_db: vec![FLOOR_DB; bins],
            last_written: 0,
        }
    }
}

/// Lowest level shown, dB.
pub const FLOOR_DB: f32 = -120.0;

impl SpectrumAnalyzer {
    /// Reads the tap and recomputes both spectra when new samples arrived. Returns whether
    /// it did.
    pub fn update(&mut self, tap: &SpectrumTap) -> bool {
        let Some(written) = tap.snapshot(&mut self.input, &mut self.output) else {
            return false;
        };
        if written == self.last_written {
            return false;
        }
        self.last_written = written;
        // A full-scale sine's Hann-windowed peak is N/4.
        let scale = 4.0 / SPECTRUM_FFT as f32;
        for (samples, db) in [
            (&mut self.input, &mut self.input_db),
            (&mut self.output, &mut self.output_db),
        ] {
            for (x, w) in samples.iter_mut().zip(&self.window) {
                *x = if x.is_finite() { *x * w } else { 0.0 };
            }
            if self
                .fft
                .process_with_scratch(samples, &mut self.spectrum, &mut self.scratch)
                .is_err()
            {
                return false;
            }
            for (d, c) in db.iter_mut().zip(&self.spectrum) {
                *d = (20.0 * (c.norm() * scale).max(1e-9).log10()).max(FLOOR_DB);
            }
        }
        true
    }

    /// Frequency of the strongest bin of `db` (Hz) at `sample_rate`, for tests and labels.
    pub fn peak_hz(db: &[f32], sample_rate: f64) -> f64 {
        let k = db
            .iter()
            .enumerate()
            .skip(1)
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(k, _)| k);
        k as f64 * sample_rate / SPECTRUM_FFT as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_returns_the_latest_samples_oldest_first() {
        let tap = SpectrumTap::default();
        let total = TAP_LEN as u64 + 100; // wraps around once
        for i in 0..total {
            tap.write(i, i as f32, -(i as f32));
        }
        tap.publish(total);
        let (mut a, mut b) = (vec![0.0; 8], vec![0.0; 8]);
        assert_eq!(tap.snapshot(&mut a, &mut b), Some(total));
        let want: Vec<f32> = (total - 8..total).map(|i| i as f32).collect();
        assert_eq!(a, want);
        assert_eq!(b, want.iter().map(|v| -v).collect::<Vec<_>>());
    }

    #[test]
    fn snapshot_zero_fills_before_the_first_samples() {
        let tap = SpectrumTap::default();
        tap.write(0, 1.0, 2.0);
        tap.publish(1);
        let (mut a, mut b) = (vec![9.0; 4], vec![9.0; 4]);
        tap.snapshot(&mut a, &mut b);
        assert_eq!(a, [0.0, 0.0, 0.0, 1.0]);
        assert_eq!(b, [0.0, 0.0, 0.0, 2.0]);
    }

    #[test]
    fn analyzer_finds_a_sine_at_its_level() {
        let tap = SpectrumTap::default();
        let sr = 48_000.0;
        for i in 0..8192u64 {
            let t = i as f64 / sr;
            let x = (std::f64::consts::TAU * 1000.0 * t).sin() as f32;
            tap.write(i, x, 0.1 * x);
        }
        tap.publish(8192);
        let mut an = SpectrumAnalyzer::default();
        assert!(an.update(&tap));
        assert!(!an.update(&tap), "no new samples, no new spectrum");
        let bin = sr / SPECTRUM_FFT as f64;
        assert!((SpectrumAnalyzer::peak_hz(&an.input_db, sr) - 1000.0).abs() <= bin);
        let peak_in = an.input_db.iter().cloned().fold(f32::MIN, f32::max);
        let peak_out = an.output_db.iter().cloned().fold(f32::MIN, f32::max);
        // Full-scale sine ≈ 0 dB (up to the Hann scalloping loss, < 1.5 dB); output −20 dB.
        assert!((-1.5..=0.1).contains(&peak_in), "{peak_in}");
        assert!((peak_out - peak_in + 20.0).abs() < 0.01, "{peak_out}");
    }
}
