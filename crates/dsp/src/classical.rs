//! The classical phase engine: a phase vocoder with identity phase locking
//! (Laroche & Dolson, "Improved phase vocoder time-scale modification of audio", 1999)
//! and phase reset on transients. It is the baseline the neural engine must beat and the
//! real-time fallback when neural inference misses its deadline.

use crate::peaks::{find_peaks, region_end};
use crate::phase::{wrap_phase, PhaseEngine, PhaseFrame};

/// Phase vocoder with peak-based identity phase locking.
///
/// For each spectral peak `p` the synthesis phase advances by `synthesis_hop · ω(p)`, with
/// `ω` the reassigned instantaneous frequency; every other bin keeps its analysis phase
/// relation to the peak whose region of influence it lies in (regions end at the magnitude
/// minimum between two peaks). On a transient frame, all phases are reset to the analysis
/// phases so the attack is rebuilt as it was.
#[derive(Debug, Clone)]
pub struct ClassicalPhaseEngine {
    /// Synthesis phase of the previous output frame, radians, per bin.
    prev_phase: Vec<f32>,
    /// Indices of the peaks of the current frame (capacity = num_bins).
    peaks: Vec<usize>,
    /// False until the first frame has been seen.
    started: bool,
}

impl ClassicalPhaseEngine {
    /// Creates the engine for `num_bins` bins (`n_fft / 2 + 1`).
    pub fn new(num_bins: usize) -> Self {
        Self {
            prev_phase: vec![0.0; num_bins],
            peaks: Vec::with_capacity(num_bins),
            started: false,
        }
    }

    fn find_peaks(&mut self, mag: &[f32]) {
        find_peaks(mag, &mut self.peaks);
    }
}

impl ClassicalPhaseEngine {
    /// Replaces the remembered synthesis phase of the previous frame by the phase that was
    /// actually used (e.g. a neural engine's), so that falling back to this engine continues
    /// coherently from there.
    pub fn set_previous_phase(&mut self, phase: &[f32]) {
        self.prev_phase.copy_from_slice(phase);
        self.started = true;
    }
}

impl PhaseEngine for ClassicalPhaseEngine {
    fn name(&self) -> &str {
        "classical"
    }

    fn num_bins(&self) -> usize {
        self.prev_phase.len()
    }

    fn synthesis_phase(&mut self, frame: &PhaseFrame<'_>, phase_out: &mut [f32]) {
        let hop_s = frame.synthesis_hop as f32;
        if !self.started || frame.transient {
            phase_out.copy_from_slice(frame.analysis_phase);
        } else {
            self.find_peaks(frame.magnitude);
            if self.peaks.is_empty() {
                for ((out, &prev), &freq) in phase_out
                    .iter_mut()
                    .zip(&self.prev_phase)
                    .zip(frame.inst_freq)
                {
                    *out = wrap_phase(prev + hop_s * freq);
                }
            } else {
                // Region boundaries: the lowest bin between consecutive peaks.
                let mut region_start = 0usize;
                for (i, &p) in self.peaks.iter().enumerate() {
                    let region_end = region_end(frame.magnitude, &self.peaks, i);
                    let peak_phase = wrap_phase(self.prev_phase[p] + hop_s * frame.inst_freq[p]);
                    let rotation = peak_phase - frame.analysis_phase[p];
                    for (out, &analysis) in phase_out[region_start..region_end]
                        .iter_mut()
                        .zip(&frame.analysis_phase[region_start..region_end])
                    {
                        *out = wrap_phase(analysis + rotation);
                    }
                    region_start = region_end;
                }
            }
        }
        self.prev_phase.copy_from_slice(phase_out);
        self.started = true;
    }

    fn reset(&mut self) {
        self.prev_phase.iter_mut().for_each(|p| *p = 0.0);
        self.peaks.clear();
        self.started = false;
    }
}
