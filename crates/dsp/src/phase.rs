//! The phase-engine interface shared by the classical engine (this crate) and the neural
//! engine (`xodvox-infer`): given the analysis of the current frame (magnitudes, phases,
//! instantaneous frequencies) and the control vector, produce the synthesis phase of the
//! output frame. Engines keep whatever history (context frames) they need themselves.

/// User-facing controls, in the units users think in. Engines that need a numeric vector
/// (the neural engine) build it from these through their model metadata.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Controls {
    /// Duration ratio: 2.0 makes the output twice as long. Range 0.25..=4.
    pub stretch: f64,
    /// Pitch shift in semitones (cents included as a fraction). Range −24..=+24.
    pub pitch_semitones: f64,
    /// Index into the engine's list of styles (0 = the engine's default style).
    pub style_index: usize,
}

impl Default for Controls {
    fn default() -> Self {
        Self {
            stretch: 1.0,
            pitch_semitones: 0.0,
            style_index: 0,
        }
    }
}

/// Analysis of one frame of the reference (mid) signal, handed to a [`PhaseEngine`].
/// All slices have `num_bins = n_fft / 2 + 1` entries, bin 0 = DC.
#[derive(Debug, Clone, Copy)]
pub struct PhaseFrame<'a> {
    /// Linear magnitude of each bin (unnormalised realfft scale).
    pub magnitude: &'a [f32],
    /// Analysis phase of each bin in radians, in (−π, π].
    pub analysis_phase: &'a [f32],
    /// Instantaneous frequency of each bin in radians per sample (reassignment estimate;
    /// equals the bin centre frequency where the magnitude is ~0).
    pub inst_freq: &'a [f32],
    /// Input samples between the previous analysis frame and this one (0 for the first).
    pub analysis_hop: usize,
    /// Output samples between the previous synthesis frame and this one.
    pub synthesis_hop: usize,
    /// True when a transient is centred in this frame: engines should reset phase.
    pub transient: bool,
    /// Controls in force for this frame.
    pub controls: Controls,
}

/// An owned copy of a [`PhaseFrame`]: the frame an engine that lags by one frame (or more)
/// keeps until it synthesises it. Allocated once in [`OwnedFrame::new`];
/// [`OwnedFrame::store`] and [`OwnedFrame::frame`] never allocate.
#[derive(Debug, Clone)]
pub struct OwnedFrame {
    magnitude: Vec<f32>,
    analysis_phase: Vec<f32>,
    inst_freq: Vec<f32>,
    analysis_hop: usize,
    synthesis_hop: usize,
    transient: bool,
    controls: Controls,
}

impl OwnedFrame {
    /// A zero frame of `bins` bins.
    pub fn new(bins: usize) -> Self {
        Self {
            magnitude: vec![0.0; bins],
            analysis_phase: vec![0.0; bins],
            inst_freq: vec![0.0; bins],
            analysis_hop: 0,
            synthesis_hop: 0,
            transient: false,
            controls: Controls::default(),
        }
    }

    /// Copies `frame` in (same number of bins).
    pub fn store(&mut self, frame: &PhaseFrame<'_>) {
        self.magnitude.copy_from_slice(frame.magnitude);
        self.analysis_phase.copy_from_slice(frame.analysis_phase);
        self.inst_freq.copy_from_slice(frame.inst_freq);
        self.analysis_hop = frame.analysis_hop;
        self.synthesis_hop = frame.synthesis_hop;
        self.transient = frame.transient;
        self.controls = frame.controls;
    }

    /// The stored frame.
    pub fn frame(&self) -> PhaseFrame<'_> {
        PhaseFrame {
            magnitude: &self.magnitude,
            analysis_phase: &self.analysis_phase,
            inst_freq: &self.inst_freq,
            analysis_hop: self.analysis_hop,
            synthesis_hop: self.synthesis_hop,
            transient: self.transient,
            controls: self.controls,
        }
    }
}

/// Produces synthesis phases frame by frame. Implementations allocate in `new` and must
/// not allocate, lock or do I/O in [`PhaseEngine::synthesis_phase`] when used in real time.
pub trait PhaseEngine: Send {
    /// Short name for reports (`classical`, `neural`, `identity`).
    fn name(&self) -> &str;

    /// Number of bins the engine was built for.
    fn num_bins(&self) -> usize;

    /// Writes the synthesis phase (radians) of every bin of the output frame into `phase_out`
    /// (length `num_bins`).
    fn synthesis_phase(&mut self, frame: &PhaseFrame<'_>, phase_out: &mut [f32]);

    /// Magnitude gains of the frame whose phase the last [`PhaseEngine::synthesis_phase`] call
    /// wrote (length `num_bins`; the vocoder multiplies each bin's magnitude, every channel
    /// alike), or `None` to keep the magnitudes (the default; phase-only engines).
    fn synthesis_gain(&self) -> Option<&[f32]> {
        None
    }

    /// Forgets all history, without allocating.
    fn reset(&mut self);

    /// Frames of delay of this engine: the phase written by `synthesis_phase` belongs to the
    /// frame handed over this many calls earlier (0 = the current frame). The vocoder keeps
    /// the spectra of the delayed frames and reports the extra `latency_frames × hop` samples.
    fn latency_frames(&self) -> usize {
        0
    }
}

/// Wraps a phase into (−π, π] in double precision (the same rule as [`wrap_phase`]).
#[inline]
pub fn wrap_phase_f64(phase: f64) -> f64 {
    use std::f64::consts::{PI, TAU};
    let mut p = phase % TAU;
    if p > PI {
        p -= TAU;
    } else if p <= -PI {
        p += TAU;
    }
    p
}

/// Wraps a phase into (−π, π].
#[inline]
pub fn wrap_phase(phase: f32) -> f32 {
    use std::f32::consts::{PI, TAU};
    let mut p = phase % TAU;
    if p > PI {
        p -= TAU;
    } else if p <= -PI {
        p += TAU;
    }
    p
}

/// Passes the analysis phase through unchanged: with stretch 1 the chain then reconstructs
/// its input exactly (used to test the STFT core).
#[derive(Debug, Clone)]
pub struct IdentityPhaseEngine {
    num_bins: usize,
}

impl IdentityPhaseEngine {
    /// Creates the engine for `num_bins` bins.
    pub fn new(num_bins: usize) -> Self {
        Self { num_bins }
    }
}

impl PhaseEngine for IdentityPhaseEngine {
    fn name(&self) -> &str {
        "identity"
    }
    fn num_bins(&self) -> usize {
        self.num_bins
    }
    fn synthesis_phase(&mut self, frame: &PhaseFrame<'_>, phase_out: &mut [f32]) {
        phase_out.copy_from_slice(frame.analysis_phase);
    }
    fn reset(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::wrap_phase;
    use std::f32::consts::PI;

    #[test]
    fn wrap_phase_range() {
        for k in -50..50 {
            let p = k as f32 * 0.77;
            let w = wrap_phase(p);
            assert!(w > -PI - 1e-6 && w <= PI + 1e-6, "{p} -> {w}");
            let d = (p - w) / (2.0 * PI);
            assert!((d - d.round()).abs() < 1e-4, "{p} -> {w}");
        }
    }
}
