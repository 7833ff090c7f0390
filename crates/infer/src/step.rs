//! The step path: the network computes one frame per hop from cached per-layer state.
//!
//! Every causal convolution of the network with time padding keeps its last
//! `(k_t − 1) · dilation` input frames; the step graph (`model.step.onnx`, declared in
//! `model.json` `step`) takes the new frame plus those states and returns the frame's phase
//! plus the new states. Starting from zero states this is exactly the whole-clip output (the
//! zeros are the convolutions' zero padding), and so exactly what the window path computes
//! from a window of the last `context_frames` frames — at one frame's cost instead of
//! `context_frames`' (see `docs/model-format.md`, "Streaming").
//!
//! [`StepState`] holds one stream's states, allocated once and zeroed on reset.
//! `NetworkStream` (crate-internal) is what the inline engine and the real-time worker keep
//! per stream: the step states when the backend loaded a step graph, else the windows.
//!
//! The states must see every frame of the stream in order: a frame that is skipped (or a
//! step that failed, whose states are unknown) makes the history incoherent, so the states
//! are zeroed instead, as at the start of a stream (the phase integration goes on).
//! With a control vector that changes over time the two paths differ slightly: the states
//! keep the activations computed with the controls of their own frames, while the window path
//! recomputes the whole window with the current controls. With constant controls they agree.

use crate::backend::PhaseBackend;
use crate::error::InferError;
use crate::meta::{ModelMeta, StepSpec};
use crate::window::{AdvanceWindow, MagnitudeWindow};

/// One stream's step-graph states: `model.json` `step.states` in order, each
/// `[1, channels, bins, frames]` row-major. Allocated in [`StepState::new`] only.
#[derive(Debug, Clone)]
pub struct StepState {
    shapes: Vec<[usize; 4]>,
    values: Vec<Vec<f32>>,
}

impl StepState {
    /// Zero states for `spec` (batch 1).
    pub fn new(spec: &StepSpec) -> Self {
        let shapes: Vec<[usize; 4]> = spec
            .states
            .iter()
            .map(|s| {
                let [c, f, t] = s.dims().unwrap_or([0, 0, 0]);
                [1, c, f, t]
            })
            .collect();
        let values = shapes
            .iter()
            .map(|s| vec![0.0; s.iter().product()])
            .collect();
        Self { shapes, values }
    }

    /// Zeroes every state (the start of a stream), without allocating.
    pub fn reset(&mut self) {
        for v in &mut self.values {
            v.iter_mut().for_each(|x| *x = 0.0);
        }
    }

    /// Number of state tensors.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the model has no state tensors (a network without time context).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Shape `[1, channels, bins, frames]` of state `i`.
    pub fn shape(&self, i: usize) -> [usize; 4] {
        self.shapes[i]
    }

    /// Values of state `i`, row-major.
    pub fn values(&self, i: usize) -> &[f32] {
        &self.values[i]
    }

    /// Mutable values of state `i` (backends write the step graph's new states here).
    pub fn values_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.values[i]
    }

    /// Whether every value is zero (the state of a fresh stream).
    pub fn is_zero(&self) -> bool {
        self.values.iter().all(|v| v.iter().all(|&x| x == 0.0))
    }
}

/// Copies `src` into `dst`, non-finite values as 0 (what the windows do).
fn copy_finite(src: &[f32], dst: &mut [f32]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = if s.is_finite() { s } else { 0.0 };
    }
}

/// What one stream feeds the network.
enum History {
    /// The window path: the last `context_frames` frames, rerun every hop.
    Window {
        mag: MagnitudeWindow,
        advance: Option<AdvanceWindow>,
    },
    /// The step path: this frame and the per-layer states.
    Step {
        state: StepState,
        mag: Vec<f32>,
        /// This frame's guide values: advance, then lock (empty for models without them).
        advance: Vec<f32>,
    },
}

/// Per-stream network input for the inline engine and the real-time worker: the step
/// states when the backend has a step graph, else the windows. Allocates in `new` only.
pub(crate) struct NetworkStream {
    history: History,
}

impl NetworkStream {
    /// The step path when `backend` loaded a step graph and `meta` declares it, else the
    /// window path.
    pub(crate) fn new(meta: &ModelMeta, backend: &dyn PhaseBackend) -> Self {
        let bins = meta.num_bins;
        let history = match meta.step.as_ref().filter(|_| backend.has_step()) {
            Some(spec) => History::Step {
                state: StepState::new(spec),
                mag: vec![0.0; bins],
                advance: vec![0.0; bins * meta.guide_inputs()],
            },
            // The guide rows (advance bins, then lock bins) in one window: its view is the
            // advance block followed by the lock block, each `[bins, frames]`.
            None => History::Window {
                mag: MagnitudeWindow::new(bins, meta.context_frames),
                advance: (meta.guide_inputs() > 0)
                    .then(|| AdvanceWindow::new(bins * meta.guide_inputs(), meta.context_frames)),
            },
        };
        Self { history }
    }

    /// Whether this stream runs the step graph (every frame must then be [`Self::run`]).
    pub(crate) fn is_step(&self) -> bool {
        matches!(self.history, History::Step { .. })
    }

    /// Forgets the stream (zero states / empty windows), without allocating.
    pub(crate) fn reset(&mut self) {
        match &mut self.history {
            History::Window { mag, advance } => {
                mag.reset();
                if let Some(a) = advance {
                    a.reset();
                }
            }
            History::Step { state, .. } => state.reset(),
        }
    }

    /// Takes the next frame: `mag` its magnitudes, `advance` its guide values (advance, then
    /// lock; models with those inputs). Non-finite values become 0.
    pub(crate) fn push(&mut self, mag: &[f32], advance: Option<&[f32]>) {
        match &mut self.history {
            History::Window {
                mag: window,
                advance: adv_window,
            } => {
                window.push(mag);
                if let (Some(w), Some(a)) = (adv_window, advance) {
                    w.push(a);
                }
            }
            History::Step {
                mag: m, advance: a, ..
            } => {
                copy_finite(mag, m);
                if let Some(src) = advance {
                    copy_finite(src, a);
                }
            }
        }
    }

    /// Runs the network for the last pushed frame and writes its output (`bins` real, then
    /// `bins` imaginary parts) into `raw`. On the step path this advances the states; call it
    /// exactly once per pushed frame. A failed step zeroes the states (their history is
    /// unknown), so the stream goes on as from a fresh start.
    pub(crate) fn run(
        &mut self,
        backend: &mut dyn PhaseBackend,
        control: &[f32],
        raw: &mut [f32],
    ) -> Result<(), InferError> {
        match &mut self.history {
            History::Window { mag, advance } => {
                let (m, frames) = mag.view();
                let a = advance.as_mut().map(|w| w.view().0);
                backend.run(m, a, frames, control, raw)
            }
            History::Step {
                state,
                mag,
                advance,
            } => {
                let a = (!advance.is_empty()).then_some(&advance[..]);
                let result = backend.step(state, mag, a, control, raw);
                if result.is_err() {
                    state.reset();
                }
                result
            }
        }
    }
}
