//! [`Processor`]: the real-time chain, one API for every real-time user (the plugin, `xodvox
//! eval`'s streaming rows and benches): the rate bridge to the engine's 48 kHz, the stretcher
//! at stretch 1 with the pitch moved in the frequency domain ([`PitchMode::Spectral`]), and a
//! phase engine that switches between classical and neural frame by frame, with the
//! classical fallback for late frames.
//!
//! ```text
//! input ─ sanitise ─ [to 48 kHz] ─ Stretcher (spectral pitch, SwitchEngine) ─ [back] ─ delay L − C ─ output
//! ```
//!
//! The wet core's latency `C` is the stretcher's own `latency_samples()` (through the
//! bridge's `added_latency()` at other rates), the same at every pitch. The processor's
//! [`latency_samples`](Processor::latency_samples) `L` is `C` rounded up to whole samples,
//! and a constant fractional delay `L − C` aligns the output to it: an impulse at input
//! sample `t` comes out at `t + L`, with nothing for the caller to correct.
//!
//! Controls are applied on a fixed grid of [`CONTROL_GRID`] samples counted from the last
//! reset (the pitch glides linearly over 50 ms), so the output does not depend on how the
//! caller splits the stream into blocks. [`Processor::process`] never allocates, locks or
//! does I/O (except with [`WaitMode::Offline`], which waits for each inference).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use xodvox_dsp::resample::{bridge_chunks, RateBridge};
use xodvox_dsp::{
    Controls, DelayLine, PitchMode, Ramp, StftConfig, Stretcher, StretcherConfig,
    MAX_PITCH_SEMITONES, MIN_PITCH_SEMITONES,
};

use crate::backend::{load_backend, BackendKind};
use crate::bundle::ModelBundle;
use crate::error::{FramingError, ProcessorError};
use crate::meta::ModelMeta;
use crate::realtime::{EngineStatus, RealtimePhaseEngine, WaitMode};
use crate::switch::{EngineHandoff, SwitchEngine};

/// The rate the stretcher and both phase engines run at, whatever the caller's: the rate
/// the neural model was trained at. Other rates are converted in and out.
pub const ENGINE_SAMPLE_RATE: u32 = 48_000;
/// Highest sample rate the processor converts (128 × 48 kHz).
pub const MAX_SAMPLE_RATE: f64 = 6_144_000.0;
/// Controls are updated on a fixed grid of this many samples (counted from the last reset).
pub const CONTROL_GRID: usize = 32;
/// Most channels a processor takes.
pub const MAX_CHANNELS: usize = 8;
/// Pitch glide time (parameter smoothing), seconds.
const PITCH_GLIDE_S: f64 = 0.05;

/// Why the neural engine is or is not available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum NeuralAvailability {
    /// Built and ready.
    Ready = 0,
    /// No model was given.
    NoModel = 1,
    /// The model was trained at another sample rate than the engine's 48 kHz.
    WrongModelRate = 2,
    /// The model could not be loaded into the backend, or its framing differs.
    LoadFailed = 3,
    /// The sample rate cannot be converted to 48 kHz (no processor: a caller passes audio
    /// through unprocessed).
    RateNotSupported = 4,
}

impl NeuralAvailability {
    /// The value stored as `self as u8` (unknown values read as [`Self::NoModel`]).
    pub fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Ready,
            2 => Self::WrongModelRate,
            3 => Self::LoadFailed,
            4 => Self::RateNotSupported,
            _ => Self::NoModel,
        }
    }

    /// A short message for a UI.
    pub fn message(self) -> &'static str {
        match self {
            Self::Ready => "neural engine ready",
            Self::NoModel => "no model: classical engine",
            Self::WrongModelRate => "model is not a 48 kHz model: classical engine",
            Self::LoadFailed => "model failed to load: classical engine",
            Self::RateNotSupported => "sample rate not supported: audio passes through",
        }
    }
}

/// What a [`Processor`] is built from: the model (none: classical only), the backend that
/// runs it, and whether processing may wait for inference.
#[derive(Debug, Clone, Copy)]
pub struct Preset<'a> {
    /// The neural model; `None` builds a classical-only processor.
    pub model: Option<&'a ModelBundle>,
    /// Backend for the model.
    pub backend: BackendKind,
    /// [`WaitMode::RealTime`] never waits (a late frame takes the classical phase);
    /// [`WaitMode::Offline`] waits for every inference (a host's offline bounce).
    pub wait: WaitMode,
}

impl Default for Preset<'_> {
    /// Classical only, real time.
    fn default() -> Self {
        Self {
            model: None,
            backend: BackendKind::Tract,
            wait: WaitMode::RealTime,
        }
    }
}

/// What the user asked for; applied on the control grid, the pitch gliding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessorControls {
    /// Pitch shift in semitones (cents as a fraction), clamped to −24..=24.
    pub pitch_semitones: f64,
    /// Style index of the neural model (0 = its first style).
    pub style: usize,
    /// Use the neural engine (ignored when there is none).
    pub neural: bool,
}

impl Default for ProcessorControls {
    fn default() -> Self {
        Self {
            pitch_semitones: 0.0,
            style: 0,
            neural: false,
        }
    }
}

/// Why `meta`'s model cannot run in a [`Processor`]: it is not a 48 kHz model, or its STFT
/// framing is not the chain's (2048/512, 1025 bins). The message names both.
///
/// # Errors
/// [`FramingError::Rate`] or [`FramingError::Stft`].
pub fn check_framing(meta: &ModelMeta) -> Result<(), FramingError> {
    let stft = StftConfig::default();
    if meta.sample_rate != ENGINE_SAMPLE_RATE {
        return Err(FramingError::Rate(meta.sample_rate));
    }
    if meta.n_fft != stft.n_fft || meta.hop != stft.hop || meta.num_bins != stft.num_bins() {
        return Err(FramingError::Stft {
            n_fft: meta.n_fft,
            hop: meta.hop,
            bins: meta.num_bins,
        });
    }
    Ok(())
}

/// Builds the real-time neural engine for `bundle` (not the audio thread: loads the model and
/// starts the inference thread). `None` with the reason when the model is not a 48 kHz model,
/// its framing differs from the chain's or the backend fails.
pub fn build_realtime_engine(
    bundle: &ModelBundle,
    backend: BackendKind,
    wait: WaitMode,
) -> (Option<RealtimePhaseEngine>, NeuralAvailability) {
    match check_framing(&bundle.meta) {
        Ok(()) => {}
        Err(FramingError::Rate(_)) => return (None, NeuralAvailability::WrongModelRate),
        Err(FramingError::Stft { .. }) => return (None, NeuralAvailability::LoadFailed),
    }
    match load_backend(backend, bundle)
        .ok()
        .and_then(|b| RealtimePhaseEngine::new(bundle.meta.clone(), b, wait).ok())
    {
        Some(engine) => (Some(engine), NeuralAvailability::Ready),
        None => (None, NeuralAvailability::LoadFailed),
    }
}

/// The real-time chain (see the module docs). Build it off the audio thread (allocates,
/// starts the inference thread), then call [`process`](Self::process).
pub struct Processor {
    channels: usize,
    sample_rate: f64,
    stretcher: Stretcher,
    /// Caller's rate ↔ 48 kHz around the stretcher (`None` at 48 kHz).
    bridge: Option<RateBridge>,
    /// The wet core's latency in caller samples (constant over the pitch range).
    core_latency: f64,
    latency: usize,
    /// Compensating delay, `latency − core_latency` (0, or 1..2 samples).
    wet_delay: f64,
    wet_lines: Vec<DelayLine>,
    want_neural: Arc<AtomicBool>,
    neural_active: Arc<AtomicBool>,
    availability: NeuralAvailability,
    engine_status: Option<Arc<EngineStatus>>,
    handoff: Arc<EngineHandoff>,
    input: Vec<Vec<f32>>,
    wet: Vec<Vec<f32>>,
    pitch: Ramp,
    targets: ProcessorControls,
    controls: Controls,
    /// Samples processed since the last reset (drives the control grid).
    position: u64,
}

/// The latency reported for a wet core of `core` samples: `core` when it is whole, else
/// rounded up with one sample more, so the compensating delay (cubic interpolation) never
/// reads less than one sample back.
fn whole_latency(core: f64) -> usize {
    if core.fract() == 0.0 {
        core as usize
    } else {
        core.ceil() as usize + 1
    }
}

impl Processor {
    /// Whether a processor can run at `sample_rate` Hz: finite, positive, at most
    /// [`MAX_SAMPLE_RATE`], and the rate bridge finds chunk sizes for it (from about 190 Hz
    /// up; fractional rates included).
    pub fn supports_rate(sample_rate: f64) -> bool {
        sample_rate.is_finite()
            && sample_rate > 0.0
            && sample_rate <= MAX_SAMPLE_RATE
            && (sample_rate.round() == f64::from(ENGINE_SAMPLE_RATE)
                || bridge_chunks(sample_rate.round(), f64::from(ENGINE_SAMPLE_RATE)).is_some())
    }

    /// Builds the chain for `preset` at `sample_rate` Hz with `channels` channels. When the
    /// preset's model cannot be used, the processor runs the classical engine only and
    /// [`availability`](Self::availability) says why.
    ///
    /// # Errors
    /// A sample rate [`supports_rate`](Self::supports_rate) refuses, or channels outside
    /// 1..=[`MAX_CHANNELS`].
    pub fn new(
        preset: &Preset<'_>,
        sample_rate: f64,
        channels: usize,
    ) -> Result<Self, ProcessorError> {
        check(sample_rate, channels)?;
        let (neural, availability) = match preset.model {
            Some(bundle) => build_realtime_engine(bundle, preset.backend, preset.wait),
            None => (None, NeuralAvailability::NoModel),
        };
        Self::with_engine(neural, availability, sample_rate, channels)
    }

    /// Builds the chain around an already built neural engine (see
    /// [`build_realtime_engine`]); `availability` is what
    /// [`availability`](Self::availability) reports.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_engine(
        neural: Option<RealtimePhaseEngine>,
        availability: NeuralAvailability,
        sample_rate: f64,
        channels: usize,
    ) -> Result<Self, ProcessorError> {
        check(sample_rate, channels)?;
        let stft = StftConfig::default();
        let want_neural = Arc::new(AtomicBool::new(false));
        let neural_active = Arc::new(AtomicBool::new(false));
        let engine_status = neural.as_ref().map(RealtimePhaseEngine::status);
        let handoff = Arc::new(EngineHandoff::default());
        let engine = SwitchEngine::new(
            stft.num_bins(),
            neural,
            handoff.clone(),
            want_neural.clone(),
            neural_active.clone(),
        );
        let rate = sample_rate.round() as u32;
        let bridge = (rate != ENGINE_SAMPLE_RATE)
            .then(|| RateBridge::new(rate, ENGINE_SAMPLE_RATE, channels))
            .transpose()?;
        let config = StretcherConfig {
            sample_rate: f64::from(ENGINE_SAMPLE_RATE),
            channels,
            stft,
            min_pitch_semitones: MIN_PITCH_SEMITONES,
            max_pitch_semitones: MAX_PITCH_SEMITONES,
            pitch_mode: PitchMode::Spectral,
        };
        let stretcher = Stretcher::new(config, Box::new(engine))?;
        let inner = stretcher.latency_samples() as f64;
        let core_latency = bridge.as_ref().map_or(inner, |b| b.added_latency(inner));
        let latency = whole_latency(core_latency);
        let glide = (PITCH_GLIDE_S * sample_rate).round() as usize;
        Ok(Self {
            channels,
            sample_rate,
            stretcher,
            bridge,
            core_latency,
            latency,
            wet_delay: latency as f64 - core_latency,
            wet_lines: (0..channels).map(|_| DelayLine::new(4)).collect(),
            want_neural,
            neural_active,
            availability,
            engine_status,
            handoff,
            input: vec![vec![0.0; CONTROL_GRID]; channels],
            wet: vec![vec![0.0; CONTROL_GRID]; channels],
            pitch: Ramp::new(0.0, glide),
            targets: ProcessorControls::default(),
            controls: Controls::default(),
            position: 0,
        })
    }

    /// Channels it processes.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The caller's sample rate, Hz.
    pub fn sample_rate(&self) -> f64 {
        self.sample_rate
    }

    /// The latency of [`process`](Self::process)'s output in samples: exact, the same at
    /// every pitch and for either engine.
    pub fn latency_samples(&self) -> usize {
        self.latency
    }

    /// The wet core's own latency (caller samples, fractional: the stretcher, and the
    /// conversion to and from 48 kHz at other rates); the compensating delay adds the rest
    /// up to [`latency_samples`](Self::latency_samples).
    pub fn core_latency(&self) -> f64 {
        self.core_latency
    }

    /// The rate the stretcher and the phase engines run at (always 48 kHz) and whether the
    /// caller's rate is converted to it.
    pub fn engine_rate(&self) -> (u32, bool) {
        (ENGINE_SAMPLE_RATE, self.bridge.is_some())
    }

    /// Why the neural engine it was built with is (not) there.
    pub fn availability(&self) -> NeuralAvailability {
        self.availability
    }

    /// Whether the neural engine was built with the chain (a model loaded later arrives
    /// through [`engine_handoff`](Self::engine_handoff)).
    pub fn neural_available(&self) -> bool {
        self.availability == NeuralAvailability::Ready
    }

    /// The neural engine's counters (frames, misses, inference time), when it was built
    /// with one.
    pub fn engine_status(&self) -> Option<Arc<EngineStatus>> {
        self.engine_status.clone()
    }

    /// Whether the neural engine produced the last frame.
    pub fn neural_active(&self) -> bool {
        self.neural_active.load(Ordering::Relaxed)
    }

    /// Where a loader thread hands this chain a new neural engine (another model).
    pub fn engine_handoff(&self) -> Arc<EngineHandoff> {
        self.handoff.clone()
    }

    /// Sets what the user asked for; the pitch glides there from the current value.
    pub fn set_controls(&mut self, controls: ProcessorControls) {
        self.targets = controls;
        self.pitch.set_target(controls.pitch_semitones);
    }

    /// Jumps to the targets (after a reset, or when a host restores state before playing).
    pub fn snap(&mut self) {
        self.pitch.snap();
        self.apply_controls();
    }

    /// Clears all audio state (no allocation) and jumps to the targets.
    pub fn reset(&mut self) {
        self.snap();
        self.stretcher.reset();
        if let Some(b) = &mut self.bridge {
            b.reset();
        }
        self.wet_lines.iter_mut().for_each(DelayLine::clear);
        self.position = 0;
    }

    fn apply_controls(&mut self) {
        let pitch = self
            .pitch
            .current()
            .clamp(MIN_PITCH_SEMITONES, MAX_PITCH_SEMITONES);
        let controls = Controls {
            stretch: 1.0,
            pitch_semitones: pitch,
            style_index: self.targets.style,
        };
        if controls != self.controls {
            // In range by construction, so this cannot fail.
            let _ = self.stretcher.set_controls(controls);
            self.controls = controls;
        }
        // The switch engine falls back to classical when it has no neural engine.
        self.want_neural
            .store(self.targets.neural, Ordering::Relaxed);
    }

    /// Processes one block: `output[c][i]` is the processed `input[c]`, delayed by
    /// [`latency_samples`](Self::latency_samples). Any length; the block is the shortest
    /// given slice; channels missing from `input` count as silence, extra ones are ignored.
    /// Non-finite input counts as silence; the output is always finite. Never allocates.
    pub fn process(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) {
        let channels = self.channels;
        let len = input
            .iter()
            .take(channels)
            .map(|c| c.len())
            .chain(output.iter().take(channels).map(|c| c.len()))
            .min()
            .unwrap_or(0);
        let mut pos = 0;
        while pos < len {
            let phase = (self.position % CONTROL_GRID as u64) as usize;
            if phase == 0 {
                self.apply_controls();
            }
            let n = (CONTROL_GRID - phase).min(len - pos);
            self.run_core(input, pos, n);
            self.pitch.advance(n);
            for (c, out) in output.iter_mut().enumerate().take(channels) {
                let line = &mut self.wet_lines[c];
                for (o, &w) in out[pos..pos + n].iter_mut().zip(&self.wet[c][..n]) {
                    line.push(w);
                    let y = if self.wet_delay == 0.0 {
                        line.tap(0)
                    } else {
                        line.read(self.wet_delay)
                    };
                    *o = if y.is_finite() { y } else { 0.0 };
                }
            }
            pos += n;
            self.position += n as u64;
        }
    }

    /// Runs `n` samples from `pos` of `input` (sanitised) through the wet core into `wet`.
    fn run_core(&mut self, input: &[&[f32]], pos: usize, n: usize) {
        for (c, inp) in self.input.iter_mut().enumerate() {
            match input.get(c) {
                Some(x) => {
                    for (d, &v) in inp[..n].iter_mut().zip(&x[pos..pos + n]) {
                        *d = if v.is_finite() { v } else { 0.0 };
                    }
                }
                None => inp[..n].iter_mut().for_each(|d| *d = 0.0),
            }
        }
        let channels = self.channels;
        let ins: [&[f32]; MAX_CHANNELS] =
            std::array::from_fn(|c| self.input.get(c).map_or(&[][..], |v| &v[..n]));
        let mut wet_iter = self.wet.iter_mut();
        let mut outs: [&mut [f32]; MAX_CHANNELS] = std::array::from_fn(|_| match wet_iter.next() {
            Some(w) => &mut w[..n],
            None => &mut [],
        });
        let stretcher = &mut self.stretcher;
        match &mut self.bridge {
            None => stretcher.process(&ins[..channels], &mut outs[..channels]),
            Some(bridge) => bridge.process(&ins[..channels], &mut outs[..channels], |i, o| {
                stretcher.process(i, o);
            }),
        }
    }
}

fn check(sample_rate: f64, channels: usize) -> Result<(), ProcessorError> {
    if !Processor::supports_rate(sample_rate) {
        return Err(ProcessorError::SampleRate(sample_rate));
    }
    if !(1..=MAX_CHANNELS).contains(&channels) {
        return Err(ProcessorError::Channels(channels));
    }
    Ok(())
}
