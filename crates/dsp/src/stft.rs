//! STFT configuration, single-frame forward/inverse transforms on `realfft`, and offline
//! `stft`/`istft` with the exact conventions of `torch.stft(center=True, pad_mode="constant")`
//! and `torch.istft(center=True)` used by the training package.

use std::sync::Arc;

use num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use crate::error::DspError;
use crate::window::hann_periodic;

/// STFT framing shared by training and runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StftConfig {
    /// FFT size in samples (even, 64..=16384). Default 2048.
    pub n_fft: usize,
    /// Synthesis hop in samples (n_fft / hop must be an integer ≥ 2). Default 512.
    pub hop: usize,
}

impl Default for StftConfig {
    fn default() -> Self {
        Self {
            n_fft: 2048,
            hop: 512,
        }
    }
}

impl StftConfig {
    /// Number of non-negative frequency bins, `n_fft / 2 + 1`.
    pub fn num_bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// [`DspError::InvalidStft`] if `n_fft` is odd, outside 64..=16384, or `hop` does not
    /// divide it into at least 2 overlapping frames.
    pub fn validate(&self) -> Result<(), DspError> {
        let err = |reason| DspError::InvalidStft {
            n_fft: self.n_fft,
            hop: self.hop,
            reason,
        };
        if !(64..=16384).contains(&self.n_fft) || self.n_fft % 2 != 0 {
            return Err(err("n_fft must be even and within 64..=16384"));
        }
        if self.hop == 0 || self.n_fft % self.hop != 0 || self.n_fft / self.hop < 2 {
            return Err(err("hop must divide n_fft with at least 2x overlap"));
        }
        Ok(())
    }
}

/// Forward real FFT of one frame with a fixed window; owns its plan and scratch.
pub struct ForwardFft {
    plan: Arc<dyn RealToComplex<f32>>,
    input: Vec<f32>,
    scratch: Vec<Complex32>,
}

impl ForwardFft {
    /// Plans an FFT of `n_fft` samples.
    pub fn new(n_fft: usize) -> Self {
        let plan = RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
        let input = plan.make_input_vec();
        let scratch = plan.make_scratch_vec();
        Self {
            plan,
            input,
            scratch,
        }
    }

    /// A spectrum buffer of the right length (`n_fft / 2 + 1`).
    pub fn make_spectrum_vec(&self) -> Vec<Complex32> {
        self.plan.make_output_vec()
    }

    /// Computes `FFT(frame · window)` into `spectrum`. Never allocates.
    ///
    /// # Panics
    /// If the slice lengths do not match the plan (a programming error).
    pub fn process(&mut self, frame: &[f32], window: &[f32], spectrum: &mut [Complex32]) {
        for ((d, &x), &w) in self.input.iter_mut().zip(frame).zip(window) {
            *d = x * w;
        }
        self.plan
            .process_with_scratch(&mut self.input, spectrum, &mut self.scratch)
            .expect("forward FFT buffer sizes are fixed at construction");
    }
}

/// Inverse real FFT of one frame, scaled by `1 / n_fft`; owns its plan and scratch.
pub struct InverseFft {
    plan: Arc<dyn ComplexToReal<f32>>,
    spectrum: Vec<Complex32>,
    scratch: Vec<Complex32>,
    scale: f32,
}

impl InverseFft {
    /// Plans an inverse FFT of `n_fft` samples.
    pub fn new(n_fft: usize) -> Self {
        let plan = RealFftPlanner::<f32>::new().plan_fft_inverse(n_fft);
        let spectrum = plan.make_input_vec();
        let scratch = plan.make_scratch_vec();
        Self {
            plan,
            spectrum,
            scratch,
            scale: 1.0 / n_fft as f32,
        }
    }

    /// Computes the real frame of `spectrum` (imaginary parts of DC and Nyquist are
    /// ignored, as a real signal has none) into `frame`. Never allocates.
    pub fn process(&mut self, spectrum: &[Complex32], frame: &mut [f32]) {
        self.spectrum.copy_from_slice(spectrum);
        let last = self.spectrum.len() - 1;
        self.spectrum[0].im = 0.0;
        self.spectrum[last].im = 0.0;
        self.plan
            .process_with_scratch(&mut self.spectrum, frame, &mut self.scratch)
            .expect("inverse FFT buffer sizes are fixed at construction");
        for v in frame.iter_mut() {
            *v *= self.scale;
        }
    }
}

/// Offline STFT, identical to `torch.stft(x, n_fft, hop, window=hann(periodic),
/// center=True, pad_mode="constant", onesided=True)`: frame `k` is centred on sample
/// `k · hop`, the signal is zero padded by `n_fft / 2` on both sides, and there are
/// `1 + len / hop` frames. Returns frames in time order, each `n_fft / 2 + 1` bins.
pub fn stft(signal: &[f32], config: StftConfig) -> Vec<Vec<Complex32>> {
    let n = config.n_fft;
    let half = n / 2;
    let window = hann_periodic(n);
    let mut fft = ForwardFft::new(n);
    let num_frames = 1 + signal.len() / config.hop;
    let mut frame = vec![0.0f32; n];
    (0..num_frames)
        .map(|k| {
            let start = (k * config.hop) as isize - half as isize;
            for (i, v) in frame.iter_mut().enumerate() {
                let idx = start + i as isize;
                *v = if idx >= 0 && (idx as usize) < signal.len() {
                    signal[idx as usize]
                } else {
                    0.0
                };
            }
            let mut spec = fft.make_spectrum_vec();
            fft.process(&frame, &window, &mut spec);
            spec
        })
        .collect()
}

/// Offline inverse STFT, identical to `torch.istft(center=True, length=len)`: windowed
/// overlap-add normalised by the summed squared window, padding removed.
pub fn istft(frames: &[Vec<Complex32>], config: StftConfig, len: usize) -> Vec<f32> {
    let n = config.n_fft;
    let half = n / 2;
    let window = hann_periodic(n);
    let mut ifft = InverseFft::new(n);
    let total = n + config.hop * frames.len().saturating_sub(1);
    let mut acc = vec![0.0f64; total];
    let mut env = vec![0.0f64; total];
    let mut frame = vec![0.0f32; n];
    for (k, spec) in frames.iter().enumerate() {
        ifft.process(spec, &mut frame);
        let start = k * config.hop;
        for i in 0..n {
            acc[start + i] += (frame[i] * window[i]) as f64;
            env[start + i] += (window[i] as f64) * (window[i] as f64);
        }
    }
    (0..len)
        .map(|t| {
            let i = t + half;
            if i < total && env[i] > 1e-11 {
                (acc[i] / env[i]) as f32
            } else {
                0.0
            }
        })
        .collect()
}
