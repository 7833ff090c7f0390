//! The optional `advance` network input (see `docs/model-format.md`): the classical engine's
//! phase increment per bin, beyond the bin-centre advance.
//!
//! [`AdvanceGuide`] runs its own [`ClassicalPhaseEngine`] (identity phase locking, transient
//! reset) on every frame and writes `wrap(c_t[b] − c_{t−1}[b] − 2π·b·H/n_fft)` in (−π, π],
//! with `c_t` that engine's synthesis phase and `H` the model's synthesis hop (0 on the first
//! frame after a reset, where the runtime anchors at the analysis phase). A model with this
//! input predicts a rotation of that increment, so an untrained model *is* the classical
//! engine. The training package computes the same values with its port of the engine
//! (`xodvox_train.data.classical_phases`, checked against `crates/dsp` by the golden vectors in
//! `fixtures/golden/classical/`, transient resets included).
//!
//! The guide also gives the optional `lock` input: `wrap(c_t[b] − a_t[b])`, the classical
//! phase minus the frame's analysis phase (0 on the first frame and on transient resets).
//!
//! [`write_advance`] is the plain phase vocoder's deviation `wrap(ω_b · H − 2π·b·H/n_fft)`
//! from the reassigned frequency of one frame; the guide's increment equals it on spectral peaks.

use xodvox_dsp::phase::wrap_phase_f64;
use xodvox_dsp::{ClassicalPhaseEngine, PhaseEngine, PhaseFrame};

/// Computes the `advance` input from a private classical engine that follows the stream.
/// Allocates in [`AdvanceGuide::new`] only; `write` and `reset` are real-time safe.
#[derive(Debug, Clone)]
pub struct AdvanceGuide {
    engine: ClassicalPhaseEngine,
    phase: Vec<f32>,
    prev: Vec<f32>,
    /// Bin-centre advance over one hop, wrapped, double precision.
    centre: Vec<f64>,
    started: bool,
}

impl AdvanceGuide {
    /// A guide for `bins` bins at synthesis hop `hop` and FFT size `n_fft`.
    pub fn new(bins: usize, hop: usize, n_fft: usize) -> Self {
        let centre = (0..bins)
            .map(|b| wrap_phase_f64(std::f64::consts::TAU * b as f64 * hop as f64 / n_fft as f64))
            .collect();
        Self {
            engine: ClassicalPhaseEngine::new(bins),
            phase: vec![0.0; bins],
            prev: vec![0.0; bins],
            centre,
            started: false,
        }
    }

    /// Advances the guide by `frame` and writes its increment deviations into `out`
    /// (`num_bins` values; 0 on the first frame after a reset; non-finite values become 0).
    pub fn write(&mut self, frame: &PhaseFrame<'_>, out: &mut [f32]) {
        self.write_inputs(frame, out, None);
    }

    /// [`write`](Self::write), and when `lock` is given also the `lock` input of the same
    /// frame: `wrap(classical phase − analysis phase)` per bin (non-finite values become 0).
    pub fn write_inputs(
        &mut self,
        frame: &PhaseFrame<'_>,
        out: &mut [f32],
        lock: Option<&mut [f32]>,
    ) {
        self.engine.synthesis_phase(frame, &mut self.phase);
        if let Some(lock) = lock {
            for ((l, &c), &a) in lock.iter_mut().zip(&self.phase).zip(frame.analysis_phase) {
                let d = f64::from(c) - f64::from(a);
                *l = if d.is_finite() {
                    wrap_phase_f64(d) as f32
                } else {
                    0.0
                };
            }
        }
        if self.started {
            for (b, o) in out.iter_mut().enumerate().take(self.phase.len()) {
                let step = f64::from(self.phase[b]) - f64::from(self.prev[b]) - self.centre[b];
                *o = if step.is_finite() {
                    wrap_phase_f64(step) as f32
                } else {
                    0.0
                };
            }
        } else {
            out.iter_mut().for_each(|o| *o = 0.0);
            self.started = true;
        }
        self.prev.copy_from_slice(&self.phase);
    }

    /// [`write_inputs`](Self::write_inputs) into one buffer of guide values: the advance
    /// deviations in `out[..bins]`, and the lock values in `out[bins..2 * bins]` when `out`
    /// has room for them (models with the `lock` input).
    pub fn write_guides(&mut self, frame: &PhaseFrame<'_>, out: &mut [f32]) {
        let bins = self.phase.len().min(out.len());
        let (advance, rest) = out.split_at_mut(bins);
        let lock = (rest.len() >= bins).then(|| &mut rest[..bins]);
        self.write_inputs(frame, advance, lock);
    }

    /// Forgets the stream, without allocating.
    pub fn reset(&mut self) {
        self.engine.reset();
        self.started = false;
    }
}

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
            wrap_phase_f64(deviation) as f32
        } else {
            0.0
        };
    }
}

#[cfg(test)]
mod tests {
    use super::{write_advance, AdvanceGuide};
    use std::f32::consts::{PI, TAU};
    use xodvox_dsp::phase::wrap_phase_f64;
    use xodvox_dsp::{Controls, PhaseFrame};

    #[test]
    fn guide_of_a_steady_partial_is_its_frequency_offset() {
        let n = 2048;
        let hop = 512;
        let bins = n / 2 + 1;
        let bin_freq = TAU / n as f32;
        // One peak at bin 100, a quarter bin above centre: deviation pi/8 per hop.
        let mut mag = vec![0.0f32; bins];
        mag[99] = 0.5;
        mag[100] = 1.0;
        mag[101] = 0.5;
        let mut inst: Vec<f32> = (0..bins).map(|b| b as f32 * bin_freq).collect();
        inst[98..=102].fill(100.25 * bin_freq);
        let analysis = vec![0.3f32; bins];
        let mut guide = AdvanceGuide::new(bins, hop, n);
        let mut out = vec![9.0f32; bins];
        let frame = |analysis_hop| PhaseFrame {
            magnitude: &mag,
            analysis_phase: &analysis,
            inst_freq: &inst,
            analysis_hop,
            synthesis_hop: hop,
            transient: false,
            controls: Controls::default(),
        };
        for f in 0..4 {
            guide.write(&frame(if f == 0 { 0 } else { hop }), &mut out);
            if f == 0 {
                assert!(out.iter().all(|&v| v == 0.0), "first frame is the anchor");
            } else {
                // The whole locked region turns with the peak: increment hop * omega_peak,
                // so bin b deviates from its own centre by (100.25 - b) * pi / 2.
                for b in [0usize, 50, 99, 100, 500, 1024] {
                    let want = wrap_phase_f64((100.25 - b as f64) * std::f64::consts::FRAC_PI_2);
                    let d = wrap_phase_f64(f64::from(out[b]) - want).abs();
                    assert!(d < 1e-3, "frame {f} bin {b}: {} vs {want}", out[b]);
                }
                assert!((out[100] - PI / 8.0).abs() < 1e-3);
            }
        }
        guide.reset();
        guide.write(&frame(0), &mut out);
        assert!(out.iter().all(|&v| v == 0.0), "reset restarts the guide");
    }

    #[test]
    fn lock_is_the_classical_phase_minus_the_analysis_phase() {
        let n = 2048;
        let hop = 512;
        let bins = n / 2 + 1;
        let bin_freq = TAU / n as f32;
        let mut mag = vec![0.0f32; bins];
        mag[99] = 0.5;
        mag[100] = 1.0;
        mag[101] = 0.5;
        // A partial a quarter bin above bin 100 stretched x2 (analysis hop 256): its analysis
        // phase gains 256 * omega per frame, the classical phase 512 * omega, so the lock grows
        // by 256 * omega per frame, and is 0 on the first frame and on the transient reset.
        let inst: Vec<f32> = (0..bins)
            .map(|b| {
                if (98..=102).contains(&b) {
                    100.25 * bin_freq
                } else {
                    b as f32 * bin_freq
                }
            })
            .collect();
        let mut guide = AdvanceGuide::new(bins, hop, n);
        let mut adv = vec![0.0f32; bins];
        let mut lock = vec![9.0f32; bins];
        let mut expected = 0.0f64;
        for f in 0..6usize {
            let analysis = vec![(f as f32 * 256.0 * 100.25 * bin_freq) % TAU; bins];
            let transient = f == 4;
            let frame = PhaseFrame {
                magnitude: &mag,
                analysis_phase: &analysis,
                inst_freq: &inst,
                analysis_hop: if f == 0 { 0 } else { 256 },
                synthesis_hop: hop,
                transient,
                controls: Controls::default(),
            };
            guide.write_inputs(&frame, &mut adv, Some(&mut lock));
            if f > 0 && !transient {
                expected += 256.0 * 100.25 * f64::from(bin_freq);
            } else {
                expected = 0.0;
            }
            let d = wrap_phase_f64(f64::from(lock[100]) - wrap_phase_f64(expected)).abs();
            assert!(d < 1e-3, "frame {f}: lock {} vs {expected}", lock[100]);
            // The locked region turns with its peak.
            let d = wrap_phase_f64(f64::from(lock[99]) - f64::from(lock[100])).abs();
            assert!(d < 1e-5, "frame {f}: region not locked");
        }
    }

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
