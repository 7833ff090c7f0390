//! [`NeuralPhaseEngine`]: the network as a [`PhaseEngine`], run inline (offline rendering).
//! For real time use [`crate::realtime::RealtimePhaseEngine`], which runs the same thing on
//! a worker thread.

use std::sync::Arc;

use xodvox_dsp::phase::wrap_phase;
use xodvox_dsp::{ClassicPhaseEngine, PhaseEngine, PhaseFrame};

use crate::advance::AdvanceGuide;
use crate::backend::PhaseBackend;
use crate::meta::{ModelMeta, PhaseOutput};
use crate::window::{AdvanceWindow, MagnitudeWindow};

/// Turns one network output frame into synthesis phases: `raw` holds `bins` real then
/// `bins` imaginary parts; `phase` is the running phase (updated in place).
pub fn apply_network_output(phase_output: PhaseOutput, raw: &[f32], phase: &mut [f32]) {
    let bins = phase.len();
    for (b, p) in phase.iter_mut().enumerate() {
        let angle = raw[bins + b].atan2(raw[b]);
        *p = match phase_output {
            PhaseOutput::Absolute => angle,
            PhaseOutput::Increment => wrap_phase(*p + angle),
        };
    }
}

/// Whether the first frame after construction or a reset takes its analysis phase instead
/// of the network's output: true for `increment` models, whose running phase is anchored
/// there (as in training, where each crop's integration starts at the analysis phase of its
/// first frame).
pub fn anchors_on_reset(phase_output: PhaseOutput) -> bool {
    phase_output == PhaseOutput::Increment
}

/// Neural phase engine that runs inference inline. A failed inference falls back to the
/// classical engine for that frame (counted in [`NeuralPhaseEngine::errors`]). For an
/// `increment` model the first frame after construction or [`PhaseEngine::reset`] is
/// synthesised with its analysis phase (the anchor; the network is not run for it), and
/// every later frame rotates the running phase by the network's output.
pub struct NeuralPhaseEngine {
    meta: Arc<ModelMeta>,
    backend: Box<dyn PhaseBackend>,
    window: MagnitudeWindow,
    /// The `advance` history, for models with that input.
    advance_window: Option<AdvanceWindow>,
    /// This frame's advance deviations (scratch).
    advance: Vec<f32>,
    /// Private classical engine that produces the `advance` input.
    guide: AdvanceGuide,
    /// The next frame is the first since construction or reset.
    first_frame: bool,
    control: Vec<f32>,
    raw: Vec<f32>,
    phase: Vec<f32>,
    fallback: ClassicPhaseEngine,
    fallback_phase: Vec<f32>,
    errors: u64,
    last_error: Option<String>,
}

impl NeuralPhaseEngine {
    /// Wraps a loaded backend.
    pub fn new(meta: Arc<ModelMeta>, backend: Box<dyn PhaseBackend>) -> Self {
        let bins = meta.num_bins;
        Self {
            window: MagnitudeWindow::new(bins, meta.context_frames),
            advance_window: meta
                .has_advance()
                .then(|| AdvanceWindow::new(bins, meta.context_frames)),
            advance: vec![0.0; bins],
            guide: AdvanceGuide::new(bins, meta.hop, meta.n_fft),
            first_frame: true,
            control: vec![0.0; meta.n_controls],
            raw: vec![0.0; 2 * bins],
            phase: vec![0.0; bins],
            fallback: ClassicPhaseEngine::new(bins),
            fallback_phase: vec![0.0; bins],
            errors: 0,
            last_error: None,
            meta,
            backend,
        }
    }

    /// Inferences that failed (their frames used the classical phase).
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// The last inference error, if any.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Backend name.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }
}

impl PhaseEngine for NeuralPhaseEngine {
    fn name(&self) -> &str {
        "neural"
    }

    fn num_bins(&self) -> usize {
        self.meta.num_bins
    }

    fn synthesis_phase(&mut self, frame: &PhaseFrame<'_>, phase_out: &mut [f32]) {
        self.fallback
            .synthesis_phase(frame, &mut self.fallback_phase);
        self.window.push(frame.magnitude);
        if let Some(w) = &mut self.advance_window {
            self.guide.write(frame, &mut self.advance);
            w.push(&self.advance);
        }
        self.meta
            .write_control_vector(&frame.controls, &mut self.control);
        let anchor = self.first_frame && anchors_on_reset(self.meta.phase_output);
        self.first_frame = false;
        if anchor {
            self.phase.copy_from_slice(frame.analysis_phase);
        } else {
            let (mag, frames) = self.window.view();
            let advance = self.advance_window.as_mut().map(|w| w.view().0);
            match self
                .backend
                .run(mag, advance, frames, &self.control, &mut self.raw)
            {
                Ok(()) => apply_network_output(self.meta.phase_output, &self.raw, &mut self.phase),
                Err(e) => {
                    self.errors += 1;
                    self.last_error = Some(e.to_string());
                    self.phase.copy_from_slice(&self.fallback_phase);
                }
            }
        }
        self.fallback.set_previous_phase(&self.phase);
        phase_out.copy_from_slice(&self.phase);
    }

    fn reset(&mut self) {
        self.window.reset();
        self.guide.reset();
        if let Some(w) = &mut self.advance_window {
            w.reset();
        }
        self.first_frame = true;
        self.phase.iter_mut().for_each(|p| *p = 0.0);
        self.fallback.reset();
    }
}
