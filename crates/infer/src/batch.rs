//! [`BatchedNeuralEngine`]: the neural phase engine for offline rendering, which runs the
//! network over blocks of many frames instead of one frame per call.
//!
//! The network's inputs (the frame's magnitudes, the classical guides, the controls) never
//! depend on its output, so frames can be collected first and the window graph run over a
//! block of `block_frames` new frames plus the `context_frames − 1` frames before them (the
//! causal receptive field): each new frame's output is then the whole-clip output, which is
//! what the frame-by-frame engine ([`crate::NeuralPhaseEngine`]) computes one frame at a time.
//! The engine declares the wait as [`PhaseEngine::latency_frames`]; the vocoder keeps the
//! frames' spectra meanwhile and reports the extra latency, which the offline renderers
//! compensate, so the rendered clip is the frame-by-frame engine's (within float rounding)
//! at the same length and alignment. The phase integration, anchors, gains and classical
//! fallback are the inline engine's, applied in frame order as the outputs come back.
//!
//! With worker threads ([`BatchOptions::workers`]) each worker owns a backend and blocks run
//! while the caller goes on with analysis and synthesis; the latency grows by one block per
//! worker so that the caller rarely waits. Not for real time: it allocates and blocks.
//!
//! The delayed output is an exact shift only where the vocoder's output is the chain's (the
//! spectral pitch path, or no pitch shift): [`offline_engine`] picks the frame-by-frame engine
//! otherwise.

use std::collections::VecDeque;
use std::sync::Arc;

use xodvox_dsp::{ClassicalPhaseEngine, OwnedFrame, PhaseEngine, PhaseFrame};

use crate::advance::AdvanceGuide;
use crate::backend::{load_backend, BackendKind, PhaseBackend};
use crate::batch_runner::{Job, JobResult, Runner};
use crate::bundle::ModelBundle;
use crate::engine::{anchors_on_reset, apply_network_output, network_gain};
use crate::error::InferError;
use crate::meta::{ModelMeta, PitchPath};
use crate::NeuralPhaseEngine;

/// How [`BatchedNeuralEngine`] runs the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    /// New frames per network call (≥ 1); each call also recomputes the `context_frames − 1`
    /// frames before them.
    pub block_frames: usize,
    /// Worker threads, each with its own backend; 0 runs the network on the caller's thread.
    pub workers: usize,
}

impl Default for BatchOptions {
    /// 64 frames per call on one worker thread.
    fn default() -> Self {
        Self {
            block_frames: 64,
            workers: 1,
        }
    }
}

/// The engine for an offline render at `pitch_semitones` on the model's pitch path: the
/// batched engine, or the frame-by-frame [`NeuralPhaseEngine`] (on the step graph when the
/// bundle has one) where the batched engine's latency would not be an exact shift of the
/// output, i.e. on the resampling pitch path at a pitch other than 0 (the resampler turns the
/// extra `latency × hop` samples into a fractional delay).
///
/// # Errors
/// As [`BatchedNeuralEngine::load`] or [`load_backend`].
pub fn offline_engine(
    kind: BackendKind,
    bundle: &ModelBundle,
    options: BatchOptions,
    pitch_semitones: f64,
) -> Result<Box<dyn PhaseEngine>, InferError> {
    if bundle.meta.pitch_path == PitchPath::Resample && pitch_semitones != 0.0 {
        let backend = load_backend(kind, bundle)?;
        return Ok(Box::new(NeuralPhaseEngine::new(
            bundle.meta.clone(),
            backend,
        )));
    }
    Ok(Box::new(BatchedNeuralEngine::load(kind, bundle, options)?))
}

/// A frame waiting for its network output.
struct Pending {
    frame: OwnedFrame,
    /// The first frame after construction or reset of an `increment` model.
    anchor: bool,
    /// The network output (`2 × bins`), valid when `result` is `Some(true)`.
    raw: Vec<f32>,
    /// `None` until the frame's block is back; then whether it succeeded.
    result: Option<bool>,
}

impl Pending {
    fn new(bins: usize) -> Self {
        Self {
            frame: OwnedFrame::new(bins),
            anchor: false,
            raw: vec![0.0; 2 * bins],
            result: None,
        }
    }

    fn store(&mut self, frame: &PhaseFrame<'_>, anchor: bool) {
        self.frame.store(frame);
        self.anchor = anchor;
        self.result = None;
    }

    fn view(&self) -> PhaseFrame<'_> {
        self.frame.frame()
    }
}

/// The neural phase engine for offline work: the network runs on blocks of frames (see the
/// module docs). Its output equals [`crate::NeuralPhaseEngine`]'s within float rounding,
/// delayed by [`PhaseEngine::latency_frames`] frames, which the offline renderers compensate.
pub struct BatchedNeuralEngine {
    meta: Arc<ModelMeta>,
    runner: Runner,
    /// Frames per network call: `block_frames + context_frames − 1`.
    window: usize,
    latency: usize,
    guide: AdvanceGuide,
    /// Network inputs of the frames not yet submitted and of the `context_frames − 1`
    /// submitted frames before them, oldest first: magnitudes, then guide values.
    inputs: VecDeque<Vec<f32>>,
    /// How many of `inputs` have not been submitted (the newest ones).
    unsubmitted: usize,
    /// The control vector of the unsubmitted frames.
    block_control: Vec<f32>,
    control: Vec<f32>,
    /// Frames waiting to be emitted, oldest first; the first `filled` have their result.
    frames: VecDeque<Pending>,
    filled: usize,
    /// Recycled frame buffers.
    spare: Vec<Pending>,
    guides: Vec<f32>,
    first_frame: bool,
    phase: Vec<f32>,
    gain: Vec<f32>,
    gain_bounds: Option<(f32, f32)>,
    fallback: ClassicalPhaseEngine,
    fallback_phase: Vec<f32>,
    errors: u64,
    last_error: Option<String>,
}

impl BatchedNeuralEngine {
    /// Loads `options.workers.max(1)` backends of `kind` for `bundle` (its window graph; the
    /// step graph is not loaded) and builds the engine.
    ///
    /// # Errors
    /// As [`load_backend`], and [`BatchedNeuralEngine::new`]'s.
    pub fn load(
        kind: BackendKind,
        bundle: &ModelBundle,
        options: BatchOptions,
    ) -> Result<Self, InferError> {
        let window_only = bundle.without_step();
        let backends = (0..options.workers.max(1))
            .map(|_| load_backend(kind, &window_only))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(bundle.meta.clone(), backends, options)
    }

    /// Builds the engine on `backends`: one per worker thread, or exactly one when
    /// `options.workers` is 0 (the network then runs on the caller's thread).
    ///
    /// # Errors
    /// [`InferError::Unavailable`] when `block_frames` is 0 or the number of backends does
    /// not fit `workers`.
    pub fn new(
        meta: Arc<ModelMeta>,
        backends: Vec<Box<dyn PhaseBackend>>,
        options: BatchOptions,
    ) -> Result<Self, InferError> {
        let wanted = options.workers.max(1);
        if options.block_frames == 0 || backends.len() != wanted {
            return Err(InferError::Unavailable(
                "batched neural engine".into(),
                format!(
                    "{} backends for {} workers with {} frames per block (need {wanted} backends and at least 1 frame)",
                    backends.len(),
                    options.workers,
                    options.block_frames
                ),
            ));
        }
        let bins = meta.num_bins;
        let window = options.block_frames + meta.context_frames.max(1) - 1;
        let (runner, lead) = match options.workers {
            0 => (
                Runner::inline(backends.into_iter().next().expect("one backend"), bins),
                0,
            ),
            n => (Runner::threads(backends, bins), n * options.block_frames),
        };
        Ok(Self {
            runner,
            window,
            // A frame is emitted once the block that holds it has been submitted (at most
            // `window − 1` calls later) and, with workers, after `lead` more frames.
            latency: window - 1 + lead,
            guide: AdvanceGuide::new(bins, meta.hop, meta.n_fft),
            inputs: VecDeque::with_capacity(window),
            unsubmitted: 0,
            block_control: vec![0.0; meta.n_controls],
            control: vec![0.0; meta.n_controls],
            frames: VecDeque::new(),
            filled: 0,
            spare: Vec::new(),
            guides: vec![0.0; bins * meta.guide_inputs()],
            first_frame: true,
            phase: vec![0.0; bins],
            gain: vec![1.0; bins],
            gain_bounds: meta.gain_bounds(),
            fallback: ClassicalPhaseEngine::new(bins),
            fallback_phase: vec![0.0; bins],
            errors: 0,
            last_error: None,
            meta,
        })
    }

    /// Frames emitted so far whose network block failed (they used the classical phase; the
    /// anchor frame, which never uses the network, is not counted).
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// The last inference error, if any.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Backend name.
    pub fn backend_name(&self) -> &'static str {
        self.runner.name()
    }

    /// Worker threads (0: the network runs on the caller's thread).
    pub fn workers(&self) -> usize {
        self.runner.workers()
    }

    /// Takes a frame: its guides and network input, and the frame itself until its output.
    fn take_frame(&mut self, frame: &PhaseFrame<'_>) {
        if !self.guides.is_empty() {
            self.guide.write_guides(frame, &mut self.guides);
        }
        self.meta
            .write_control_vector(&frame.controls, &mut self.control);
        // A block has one control vector: the frames before a change go first.
        if self.unsubmitted > 0 && self.control != self.block_control {
            self.submit();
        }
        self.block_control.copy_from_slice(&self.control);
        let bins = self.meta.num_bins;
        let mut input = Vec::with_capacity(bins + self.guides.len());
        input.extend_from_slice(frame.magnitude);
        input.extend_from_slice(&self.guides);
        self.inputs.push_back(input);
        self.unsubmitted += 1;
        let anchor = self.first_frame && anchors_on_reset(self.meta.phase_output);
        self.first_frame = false;
        let mut pending = self.spare.pop().unwrap_or_else(|| Pending::new(bins));
        pending.store(frame, anchor);
        self.frames.push_back(pending);
        if self.inputs.len() == self.window {
            self.submit();
        }
    }

    /// Submits the unsubmitted frames as one block (with the context before them) and keeps
    /// the last `context_frames − 1` inputs for the next block.
    fn submit(&mut self) {
        if self.unsubmitted == 0 {
            return;
        }
        let bins = self.meta.num_bins;
        let frames = self.inputs.len();
        let rows = 1 + self.meta.guide_inputs();
        let mut tensors = vec![0.0f32; rows * bins * frames];
        for (t, input) in self.inputs.iter().enumerate() {
            for (r, &v) in input.iter().enumerate() {
                // Row r of the frame is bin r % bins of input block r / bins.
                tensors[r * frames + t] = if v.is_finite() { v } else { 0.0 };
            }
        }
        let guides = tensors.split_off(bins * frames);
        self.runner.submit(Job {
            mag: tensors,
            guides,
            frames,
            new: self.unsubmitted,
            control: self.block_control.clone(),
        });
        self.unsubmitted = 0;
        let keep = self.meta.context_frames.max(1) - 1;
        while self.inputs.len() > keep {
            self.inputs.pop_front();
        }
    }

    /// Stores the oldest outstanding block's result in its frames.
    fn receive(&mut self) {
        let Some((new, result)) = self.runner.receive() else {
            return;
        };
        let bins = self.meta.num_bins;
        let frames = self.frames.range_mut(self.filled..).take(new);
        match result {
            Ok(raw) => {
                for (p, r) in frames.zip(raw.chunks_exact(2 * bins)) {
                    p.raw.copy_from_slice(r);
                    p.result = Some(true);
                }
            }
            Err(e) => {
                frames.for_each(|p| p.result = Some(false));
                self.last_error = Some(e);
            }
        }
        self.filled = (self.filled + new).min(self.frames.len());
    }

    /// Writes the oldest frame's phase (and gain), as the inline engine would have.
    fn emit(&mut self, phase_out: &mut [f32]) {
        if self.filled == 0 && self.runner.has_pending() {
            self.receive();
        }
        if self.filled == 0 {
            // Its block has not been submitted (only with controls that keep changing).
            self.submit();
            self.receive();
        }
        let Some(f) = self.frames.pop_front() else {
            return;
        };
        self.filled = self.filled.saturating_sub(1);
        let ok = f.result == Some(true);
        if f.anchor {
            self.phase.copy_from_slice(f.view().analysis_phase);
        } else if ok {
            apply_network_output(self.meta.phase_output, &f.raw, &mut self.phase);
        } else {
            self.errors += 1;
            self.fallback
                .synthesis_phase(&f.view(), &mut self.fallback_phase);
            self.phase.copy_from_slice(&self.fallback_phase);
        }
        if let Some(bounds) = self.gain_bounds {
            let raw = (ok && !f.anchor).then_some(&f.raw[..]);
            network_gain(raw, bounds, &mut self.gain);
        }
        self.fallback.set_previous_phase(&self.phase);
        phase_out.copy_from_slice(&self.phase);
        self.spare.push(f);
    }
}

impl PhaseEngine for BatchedNeuralEngine {
    fn name(&self) -> &str {
        "neural"
    }

    fn num_bins(&self) -> usize {
        self.meta.num_bins
    }

    fn synthesis_phase(&mut self, frame: &PhaseFrame<'_>, phase_out: &mut [f32]) {
        self.take_frame(frame);
        if self.frames.len() > self.latency {
            self.emit(phase_out);
        } else {
            // No frame is due yet: the vocoder does not synthesise these calls.
            phase_out.iter_mut().for_each(|p| *p = 0.0);
        }
    }

    fn synthesis_gain(&self) -> Option<&[f32]> {
        self.gain_bounds.map(|_| &self.gain[..])
    }

    fn reset(&mut self) {
        while self.runner.has_pending() {
            let _: Option<(usize, JobResult)> = self.runner.receive();
        }
        self.spare.extend(self.frames.drain(..));
        self.filled = 0;
        self.inputs.clear();
        self.unsubmitted = 0;
        self.guide.reset();
        self.first_frame = true;
        self.phase.iter_mut().for_each(|p| *p = 0.0);
        self.gain.iter_mut().for_each(|g| *g = 1.0);
        self.fallback.reset();
    }

    fn latency_frames(&self) -> usize {
        self.latency
    }
}
