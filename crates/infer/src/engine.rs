//! [`NeuralPhaseEngine`]: the network as a [`PhaseEngine`], run inline (offline rendering).
//! For real time use [`crate::realtime::RealtimePhaseEngine`], which runs the same thing on
//! a worker thread.

use std::sync::Arc;

use xodvox_dsp::phase::wrap_phase;
use xodvox_dsp::{ClassicalPhaseEngine, PhaseEngine, PhaseFrame};

use crate::advance::AdvanceGuide;
use crate::backend::PhaseBackend;
use crate::meta::{ModelMeta, PhaseOutput};
use crate::step::NetworkStream;

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

/// Writes the magnitude gains of one frame: for a network output `raw` (as in
/// [`apply_network_output`]) its modulus, clamped to `bounds` (the model's ±`gain_db`), and 1
/// where it is not finite; for a frame without one (`None`: anchor, failed or late frame) 1
/// everywhere, the classical frame exactly.
pub fn network_gain(raw: Option<&[f32]>, bounds: (f32, f32), gain: &mut [f32]) {
    let Some(raw) = raw else {
        gain.iter_mut().for_each(|g| *g = 1.0);
        return;
    };
    let bins = gain.len();
    for (b, g) in gain.iter_mut().enumerate() {
        let m = raw[b].hypot(raw[bins + b]);
        *g = if m.is_finite() {
            m.clamp(bounds.0, bounds.1)
        } else {
            1.0
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
/// synthesised with its analysis phase (the anchor; its network output is not used), and
/// every later frame rotates the running phase by the network's output.
///
/// With a backend that loaded the bundle's step graph ([`PhaseBackend::has_step`]) each
/// frame runs the network once on that frame with this stream's cached states (the anchor
/// frame too, so the states see every frame); otherwise on the window of the last
/// `context_frames` frames (the anchor frame is then only added to the window).
pub struct NeuralPhaseEngine {
    meta: Arc<ModelMeta>,
    backend: Box<dyn PhaseBackend>,
    /// The stream's network history: step states or windows.
    stream: NetworkStream,
    /// This frame's guide values: advance deviations, then lock values (scratch; empty for
    /// models without those inputs).
    advance: Vec<f32>,
    /// Private classical engine that produces the `advance` and `lock` inputs.
    guide: AdvanceGuide,
    /// The next frame is the first since construction or reset.
    first_frame: bool,
    control: Vec<f32>,
    raw: Vec<f32>,
    phase: Vec<f32>,
    /// This frame's magnitude gains (models with a gain head; 1 on anchor and fallback
    /// frames).
    gain: Vec<f32>,
    gain_bounds: Option<(f32, f32)>,
    fallback: ClassicalPhaseEngine,
    fallback_phase: Vec<f32>,
    errors: u64,
    last_error: Option<String>,
}

impl NeuralPhaseEngine {
    /// Wraps a loaded backend.
    pub fn new(meta: Arc<ModelMeta>, backend: Box<dyn PhaseBackend>) -> Self {
        let bins = meta.num_bins;
        Self {
            stream: NetworkStream::new(&meta, backend.as_ref()),
            advance: vec![0.0; bins * meta.guide_inputs()],
            guide: AdvanceGuide::new(bins, meta.hop, meta.n_fft),
            first_frame: true,
            control: vec![0.0; meta.n_controls],
            raw: vec![0.0; 2 * bins],
            phase: vec![0.0; bins],
            gain: vec![1.0; bins],
            gain_bounds: meta.gain_bounds(),
            fallback: ClassicalPhaseEngine::new(bins),
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

    /// Whether each frame runs the step graph (one frame from cached state) rather than a
    /// window of `context_frames` frames.
    pub fn uses_step(&self) -> bool {
        self.stream.is_step()
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
        if !self.advance.is_empty() {
            self.guide.write_guides(frame, &mut self.advance);
        }
        let advance = (!self.advance.is_empty()).then_some(&self.advance[..]);
        self.stream.push(frame.magnitude, advance);
        self.meta
            .write_control_vector(&frame.controls, &mut self.control);
        let anchor = self.first_frame && anchors_on_reset(self.meta.phase_output);
        self.first_frame = false;
        // The step states must see every frame; the window path skips the anchor's run.
        let result = (!anchor || self.stream.is_step()).then(|| {
            self.stream
                .run(self.backend.as_mut(), &self.control, &mut self.raw)
        });
        if let Some(Err(e)) = &result {
            self.errors += 1;
            self.last_error = Some(e.to_string());
        }
        let ok = matches!(result, Some(Ok(())));
        if anchor {
            self.phase.copy_from_slice(frame.analysis_phase);
        } else if ok {
            apply_network_output(self.meta.phase_output, &self.raw, &mut self.phase);
        } else {
            self.phase.copy_from_slice(&self.fallback_phase);
        }
        if let Some(bounds) = self.gain_bounds {
            let raw = (ok && !anchor).then_some(&self.raw[..]);
            network_gain(raw, bounds, &mut self.gain);
        }
        self.fallback.set_previous_phase(&self.phase);
        phase_out.copy_from_slice(&self.phase);
    }

    fn synthesis_gain(&self) -> Option<&[f32]> {
        self.gain_bounds.map(|_| &self.gain[..])
    }

    fn reset(&mut self) {
        self.stream.reset();
        self.guide.reset();
        self.first_frame = true;
        self.phase.iter_mut().for_each(|p| *p = 0.0);
        self.fallback.reset();
    }
}
