//! [`SpectralShifter`]: pitch shifting in the frequency domain, frame by frame, with no
//! resampler and so no pitch-dependent latency (after Laroche & Dolson, "New phase-vocoder
//! techniques for pitch-shifting, harmonizing and other exotic effects", 1999).
//!
//! The plan is made on the reference (mid) spectrum of a frame:
//! - the spectrum is split into the regions of influence of its peaks (the same peaks and
//!   regions as the classical engine's identity phase locking);
//! - each peak's true frequency `f` is its reassigned instantaneous frequency; the whole
//!   region moves rigidly by `f × (ratio − 1)` bins, so the peak lands exactly at
//!   `f × ratio` and keeps the shape of the window's main lobe (a windowed sinusoid at the
//!   new frequency). Fractional moves interpolate the spectrum in the frame-centred phase
//!   convention (`X[k]·(−1)^k`), where the Hann main lobe is real and smooth;
//! - output bins that the moved region does not cover (between the peaks when the ratio is
//!   above 1) take the magnitude of the spectrum scaled by the ratio (`k / ratio`), linearly
//!   interpolated, so noise keeps its density; their phase is integrated along frequency
//!   from the reassigned times (continuing from the moved regions), so energy keeps its
//!   place in time. Transient frames are filled this way everywhere.
//!
//! The same plan is applied to every channel's spectrum, so the channels keep their phase
//! relations to the mid signal. The shifted frame's instantaneous frequencies are the
//! source's, interpolated, times the ratio: a phase engine advancing the peaks by
//! `synthesis_hop × ω` then plays them at exactly `f × ratio`.

use num_complex::Complex32;

use crate::peaks::{find_peaks, region_end};

/// Pitch ratios closer to 1 than this are treated as 1 (the spectrum is left untouched).
const UNITY_EPS: f64 = 1e-9;

/// Frequency-domain pitch shifter for one STFT size. All buffers are allocated in
/// [`SpectralShifter::new`]; [`plan`](Self::plan) and [`apply`](Self::apply) never allocate.
#[derive(Debug, Clone)]
pub struct SpectralShifter {
    /// Peaks of the planned frame.
    peaks: Vec<usize>,
    /// Region ends of those peaks.
    ends: Vec<usize>,
    /// Per output bin: fractional source bin, or a negative value for silence.
    src: Vec<f32>,
    /// Per output bin: the bin belongs to a rigidly moved region (complex interpolation)
    /// rather than to the scaled fill (magnitude interpolation, planned phase).
    rigid: Vec<bool>,
    /// Per output bin of the fill: the reference's planned phase (frame-centred radians).
    fill_phase: Vec<f32>,
    /// Per output bin of the fill: the source bin nearest to its source position.
    near: Vec<usize>,
    /// The reference's frame-centred phase per source bin.
    reference_arg: Vec<f32>,
    /// Scratch: the spectrum being shifted, in the frame-centred convention.
    centred: Vec<Complex32>,
    /// Scratch: magnitudes of `centred`.
    centred_mag: Vec<f32>,
    /// Whether the planned ratio is 1 (nothing to do).
    unity: bool,
    /// The planned ratio.
    ratio: f32,
}

/// One analysed reference frame, as [`SpectralShifter::plan`] needs it.
#[derive(Debug, Clone, Copy)]
pub struct ShiftInput<'a> {
    /// The reference (mid) spectrum, frame-start phase convention (as realfft gives it).
    pub spectrum: &'a [Complex32],
    /// Its magnitudes.
    pub magnitude: &'a [f32],
    /// Reassigned instantaneous frequency per bin, radians per sample.
    pub inst_freq: &'a [f32],
    /// Reassigned time per bin, samples from the frame centre.
    pub time_offset: &'a [f32],
    /// The frame holds a transient: every bin is filled (no rigid regions), so that the
    /// attack keeps its place in time at every frequency.
    pub transient: bool,
}

impl SpectralShifter {
    /// Creates a shifter for `num_bins` one-sided bins (`n_fft / 2 + 1`).
    pub fn new(num_bins: usize) -> Self {
        Self {
            peaks: Vec::with_capacity(num_bins),
            ends: Vec::with_capacity(num_bins),
            src: (0..num_bins).map(|k| k as f32).collect(),
            rigid: vec![true; num_bins],
            fill_phase: vec![0.0; num_bins],
            near: vec![0; num_bins],
            reference_arg: vec![0.0; num_bins],
            centred: vec![Complex32::new(0.0, 0.0); num_bins],
            centred_mag: vec![0.0; num_bins],
            unity: true,
            ratio: 1.0,
        }
    }

    /// Number of bins the shifter was built for.
    pub fn num_bins(&self) -> usize {
        self.src.len()
    }

    /// Whether the last plan leaves spectra unchanged (ratio 1).
    pub fn is_unity(&self) -> bool {
        self.unity
    }

    /// Plans the remap of one frame from the reference frame, for a frequency ratio
    /// `ratio` (> 0).
    pub fn plan(&mut self, frame: &ShiftInput<'_>, ratio: f64) {
        let bins = self.src.len();
        debug_assert_eq!(frame.magnitude.len(), bins);
        self.unity = (ratio - 1.0).abs() < UNITY_EPS;
        self.ratio = ratio as f32;
        if self.unity {
            return;
        }
        self.map_bins(frame, ratio as f32);
        self.plan_fill_phase(frame);
    }

    /// Chooses every output bin's source position: rigid move of its peak's region where
    /// that region covers it, else the scaled position `k / ratio`.
    fn map_bins(&mut self, frame: &ShiftInput<'_>, r: f32) {
        let bins = self.src.len();
        let last = (bins - 1) as f32;
        // Bins per radian-per-sample: n_fft / 2π.
        let to_bins = (2 * (bins - 1)) as f32 / std::f32::consts::TAU;
        if frame.transient {
            self.peaks.clear();
        } else {
            find_peaks(frame.magnitude, &mut self.peaks);
        }
        self.ends.clear();
        for i in 0..self.peaks.len() {
            self.ends.push(region_end(frame.magnitude, &self.peaks, i));
        }
        let mut region = 0usize;
        for k in 0..bins {
            let u = k as f32 / r;
            let (src, rigid) = if self.peaks.is_empty() {
                (u, false)
            } else {
                while region + 1 < self.peaks.len() && u >= self.ends[region] as f32 {
                    region += 1;
                }
                let start = if region == 0 {
                    0
                } else {
                    self.ends[region - 1]
                };
                let p = self.peaks[region];
                let f = (frame.inst_freq[p] * to_bins).clamp(p as f32 - 1.0, p as f32 + 1.0);
                let a = k as f32 - f * (r - 1.0);
                if a >= start as f32 && a <= (self.ends[region] - 1) as f32 {
                    (a, true)
                } else {
                    (u, false)
                }
            };
            self.src[k] = if (0.0..=last).contains(&src) {
                src
            } else {
                -1.0
            };
            self.rigid[k] = rigid;
        }
    }

    /// Plans the reference's phase on the fill: integrated along frequency from the
    /// reassigned times (the phase slope −2π·t/n_fft per bin keeps energy at its time `t`
    /// in the frame), continuing from the rigid regions' phases.
    fn plan_fill_phase(&mut self, frame: &ShiftInput<'_>) {
        let bins = self.src.len();
        centre(frame.spectrum, &mut self.centred);
        for (a, c) in self.reference_arg.iter_mut().zip(&self.centred) {
            *a = c.arg();
        }
        let slope = -std::f32::consts::TAU / (2 * (bins - 1)) as f32;
        let mut prev_phase = 0.0f32;
        let mut prev_time = 0.0f32;
        for k in 0..bins {
            let s = self.src[k];
            if s < 0.0 {
                self.near[k] = 0;
                self.fill_phase[k] = prev_phase;
                continue;
            }
            let (i, t) = split(s, bins);
            let time = frame.time_offset[i]
                + t * (frame.time_offset[(i + 1).min(bins - 1)] - frame.time_offset[i]);
            let phase = if self.rigid[k] {
                interp_complex(&self.centred, s).arg()
            } else if k == 0 {
                self.reference_arg[0]
            } else {
                prev_phase + slope * 0.5 * (prev_time + time)
            };
            self.near[k] = if t < 0.5 { i } else { (i + 1).min(bins - 1) };
            self.fill_phase[k] = wrap(phase);
            prev_phase = self.fill_phase[k];
            prev_time = time;
        }
    }

    /// Applies the last plan to `spectrum` (one-sided, frame-start phase convention as
    /// realfft gives it) in place: the reference itself, or another channel, which keeps
    /// its phase relation to the reference at every fill bin.
    pub fn apply(&mut self, spectrum: &mut [Complex32]) {
        if self.unity {
            return;
        }
        let bins = self.src.len();
        debug_assert_eq!(spectrum.len(), bins);
        centre(spectrum, &mut self.centred);
        for (m, c) in self.centred_mag.iter_mut().zip(&self.centred) {
            *m = c.norm();
        }
        for (k, y) in spectrum.iter_mut().enumerate() {
            let s = self.src[k];
            let v = if s < 0.0 {
                Complex32::new(0.0, 0.0)
            } else if self.rigid[k] {
                interp_complex(&self.centred, s)
            } else {
                let (i, t) = split(s, bins);
                let j = (i + 1).min(bins - 1);
                let mag = self.centred_mag[i] + t * (self.centred_mag[j] - self.centred_mag[i]);
                let near = self.near[k];
                let offset = self.centred[near].arg() - self.reference_arg[near];
                Complex32::from_polar(mag, self.fill_phase[k] + offset)
            };
            *y = if k % 2 == 0 { v } else { -v };
        }
    }

    /// Writes the shifted frame's instantaneous frequencies (radians per sample): the
    /// source's at each output bin's source position, times the ratio (capped at π).
    pub fn shift_inst_freq(&self, inst_freq: &[f32], out: &mut [f32]) {
        if self.unity {
            out.copy_from_slice(inst_freq);
            return;
        }
        let bins = self.src.len();
        let bin_freq = std::f32::consts::TAU / (2 * (bins - 1)) as f32;
        for (k, o) in out.iter_mut().enumerate() {
            let s = self.src[k];
            *o = if s < 0.0 {
                k as f32 * bin_freq
            } else {
                let (i, t) = split(s, bins);
                let j = (i + 1).min(bins - 1);
                let w = inst_freq[i] + t * (inst_freq[j] - inst_freq[i]);
                (w * self.ratio).min(std::f32::consts::PI)
            };
        }
    }
}

/// Frame-start to frame-centred phase convention (and back): `X[k]·(−1)^k`.
fn centre(spectrum: &[Complex32], out: &mut [Complex32]) {
    for (k, (c, &x)) in out.iter_mut().zip(spectrum).enumerate() {
        *c = if k % 2 == 0 { x } else { -x };
    }
}

/// Whole and fractional parts of a source position in `0..=bins − 1`.
#[inline]
fn split(s: f32, bins: usize) -> (usize, f32) {
    let i = (s.floor() as usize).min(bins - 1);
    (i, s - i as f32)
}

/// Wraps a phase into (−π, π].
#[inline]
fn wrap(p: f32) -> f32 {
    crate::phase::wrap_phase(p)
}

/// Six-point Lagrange interpolation of `v` at fractional index `s` (indices clamped at the
/// ends; exact at whole indices). On the Hann main lobe it is within 4 % of the lobe's peak
/// (a four-point cubic: 7 %).
#[inline]
fn interp_complex(v: &[Complex32], s: f32) -> Complex32 {
    const OFFSETS: [f32; 6] = [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0];
    let last = v.len() as isize - 1;
    let i = s.floor();
    let t = s - i;
    let i = i as isize;
    if t == 0.0 {
        return v[i.clamp(0, last) as usize];
    }
    let mut acc = Complex32::new(0.0, 0.0);
    for (j, &oj) in OFFSETS.iter().enumerate() {
        let mut w = 1.0f32;
        for (m, &om) in OFFSETS.iter().enumerate() {
            if m != j {
                w *= (t - om) / (oj - om);
            }
        }
        acc += v[(i + oj as isize).clamp(0, last) as usize] * w;
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stft::ForwardFft;
    use crate::window::{hann_periodic, hann_periodic_derivative};

    fn plan(sh: &mut SpectralShifter, spec: &[Complex32], mag: &[f32], inst: &[f32], ratio: f64) {
        let time = vec![0.0; mag.len()];
        let input = ShiftInput {
            spectrum: spec,
            magnitude: mag,
            inst_freq: inst,
            time_offset: &time,
            transient: false,
        };
        sh.plan(&input, ratio);
    }

    fn analyse(freq_hz: f32, n: usize) -> (Vec<Complex32>, Vec<f32>, Vec<f32>) {
        let sr = 48_000.0f32;
        let x: Vec<f32> = (0..n)
            .map(|i| (std::f32::consts::TAU * freq_hz * i as f32 / sr + 0.3).sin())
            .collect();
        let mut fft = ForwardFft::new(n);
        let bins = n / 2 + 1;
        let mut spec = vec![Complex32::new(0.0, 0.0); bins];
        let mut spec_d = spec.clone();
        fft.process(&x, &hann_periodic(n), &mut spec);
        fft.process(&x, &hann_periodic_derivative(n), &mut spec_d);
        let bin_freq = std::f32::consts::TAU / n as f32;
        let mag: Vec<f32> = spec.iter().map(|c| c.norm()).collect();
        let inst: Vec<f32> = (0..bins)
            .map(|k| {
                let p = spec[k].norm_sqr();
                if p > 1e-20 {
                    k as f32 * bin_freq - (spec_d[k] * spec[k].conj()).im / p
                } else {
                    k as f32 * bin_freq
                }
            })
            .collect();
        (spec, mag, inst)
    }

    #[test]
    fn a_shifted_sine_looks_like_the_sine_at_the_new_frequency() {
        let n = 2048;
        let ratio = 1.3348f64; // +5 semitones
        let (mut spec, mag, inst) = analyse(1000.0, n);
        let (want, _, _) = analyse((1000.0 * ratio) as f32, n);
        let mut sh = SpectralShifter::new(n / 2 + 1);
        plan(&mut sh, &spec, &mag, &inst, ratio);
        sh.apply(&mut spec);
        // Magnitudes around the new peak match the true sine's within 5 % of its peak.
        let peak = want.iter().map(|c| c.norm()).fold(0.0f32, f32::max);
        let centre = (1000.0 * ratio * n as f64 / 48_000.0).round() as usize;
        for k in centre - 2..=centre + 2 {
            let d = (spec[k].norm() - want[k].norm()).abs();
            assert!(
                d < 0.05 * peak,
                "bin {k}: {} vs {}",
                spec[k].norm(),
                want[k].norm()
            );
        }
        let mut out = vec![0.0; n / 2 + 1];
        sh.shift_inst_freq(&inst, &mut out);
        let expect = std::f32::consts::TAU * 1000.0 * ratio as f32 / 48_000.0;
        assert!(
            (out[centre] - expect).abs() < 1e-4 * expect,
            "{} vs {expect}",
            out[centre]
        );
    }

    #[test]
    fn ratio_one_changes_nothing() {
        let n = 1024;
        let (spec, mag, inst) = analyse(440.0, n);
        let mut sh = SpectralShifter::new(n / 2 + 1);
        plan(&mut sh, &spec, &mag, &inst, 1.0);
        let mut s2 = spec.clone();
        sh.apply(&mut s2);
        assert_eq!(s2, spec);
        assert!(sh.is_unity());
    }
}
