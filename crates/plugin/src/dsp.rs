//! [`XodVoxDsp`]: everything the plugin does to audio, independent of any host, so it can be
//! tested directly (allocation counting, block-size independence).
//!
//! Signal flow per channel:
//!
//! ```text
//! input ─┬─ sanitise ─ [to 48 kHz] ─ Stretcher (stretch 1, spectral pitch) ─ [back] ─ delay L − C ─┐
//!        │                                                                                         ├─ mix ─ gain ─ bypass ─ output
//!        └─ sanitise ─ delay L ───────────────────────────────────────────────────────────────────┘
//! ```
//!
//! The stretcher and both phase engines always run at the model's rate, 48 kHz; at any other
//! host rate a [`RateBridge`] converts in and out (rubato's FFT resampler). The stretcher
//! moves the pitch in the frequency domain ([`PitchMode::Spectral`]), so the wet core's
//! latency `C` (the stretcher's own `latency_samples()`, through the bridge's
//! `added_latency()` at other rates) is the same at every pitch. The reported latency `L`
//! is `C` rounded up to whole samples; a constant fractional delay `L − C` aligns the wet
//! path to it.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;

use xodvox_dsp::resample::RateBridge;
use xodvox_dsp::{
    Controls, PitchMode, StftConfig, Stretcher, StretcherConfig, MAX_PITCH_SEMITONES,
    MIN_PITCH_SEMITONES,
};
use xodvox_infer::{
    load_backend, BackendKind, EngineStatus, ModelBundle, RealtimePhaseEngine, WaitMode,
};

use crate::engine::{EngineHandoff, SwitchEngine};
use crate::spectrum::SpectrumTap;

/// Most channels the plugin processes (mono and stereo layouts).
pub const MAX_CHANNELS: usize = 2;
/// Controls are updated on a fixed grid of this many samples (counted from the last reset),
/// so the output does not depend on how the host splits the stream into blocks.
pub const CONTROL_GRID: usize = 32;
/// The rate the stretcher and both phase engines run at, whatever the host's: the rate
/// the neural model was trained at. Other host rates are converted in and out.
pub const MODEL_SAMPLE_RATE: u32 = 48_000;

/// Pitch glide time (parameter smoothing), seconds.
const PITCH_GLIDE_S: f64 = 0.05;
/// Mix and gain smoothing, seconds.
const MIX_GLIDE_S: f64 = 0.02;
/// Bypass crossfade, seconds.
const BYPASS_GLIDE_S: f64 = 0.01;

/// What the user asked for (plain parameter values).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Targets {
    /// Pitch shift in semitones, −24..=24.
    pub pitch_semitones: f32,
    /// Fine tune in cents, −100..=100 (the sum is clamped to ±24 semitones).
    pub fine_cents: f32,
    /// Style index into the model's styles.
    pub style: usize,
    /// Use the neural engine (where available).
    pub neural: bool,
    /// Dry/wet, 0 (input only, latency-aligned) ..= 1 (processed only).
    pub mix: f32,
    /// Output gain in dB.
    pub gain_db: f32,
    /// Bypass: output = input delayed by the reported latency.
    pub bypass: bool,
}

impl Default for Targets {
    fn default() -> Self {
        Self {
            pitch_semitones: 0.0,
            fine_cents: 0.0,
            style: 0,
            neural: false,
            mix: 1.0,
            gain_db: 0.0,
            bypass: false,
        }
    }
}

/// How the processor is set up (known in the host's activate/initialise call).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DspSettings {
    /// Sample rate in Hz.
    pub sample_rate: f64,
    /// Channels (1 or 2).
    pub channels: usize,
    /// Largest block the host will pass.
    pub max_block: usize,
    /// The host renders offline: the neural engine may wait for every inference.
    pub offline: bool,
}

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
    /// The host's sample rate cannot be converted to 48 kHz: the plugin passes audio
    /// through unprocessed (no latency).
    RateNotSupported = 4,
}

impl NeuralAvailability {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Ready,
            2 => Self::WrongModelRate,
            3 => Self::LoadFailed,
            4 => Self::RateNotSupported,
            _ => Self::NoModel,
        }
    }

    /// A short message for the UI.
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

/// Live state for a UI (relaxed atomics; read any time from any thread). The audio thread
/// only writes atomics here (the engine flag, the spectrum tap); the lock-protected parts
/// are written when the chain or the model is (re)built, off the audio thread.
#[derive(Debug)]
pub struct PluginStatus {
    /// The neural engine produced the last frame.
    pub neural_active: Arc<AtomicBool>,
    /// A [`NeuralAvailability`] as `u8`.
    availability: AtomicU8,
    /// Reported latency in samples.
    pub latency_samples: AtomicU32,
    /// Sample rate of the active chain in Hz (0 before the first activation).
    pub sample_rate: AtomicU32,
    /// The latest input and output samples, for the editor's spectrum.
    pub spectrum: SpectrumTap,
    /// The neural engine's counters (frames, misses, inference time), when it exists.
    engine: std::sync::Mutex<Option<Arc<EngineStatus>>>,
}

impl Default for PluginStatus {
    fn default() -> Self {
        Self {
            neural_active: Arc::new(AtomicBool::new(false)),
            availability: AtomicU8::new(NeuralAvailability::NoModel as u8),
            latency_samples: AtomicU32::new(0),
            sample_rate: AtomicU32::new(0),
            spectrum: SpectrumTap::default(),
            engine: std::sync::Mutex::new(None),
        }
    }
}

impl PluginStatus {
    /// Why the neural engine is (not) available.
    pub fn availability(&self) -> NeuralAvailability {
        NeuralAvailability::from_u8(self.availability.load(Ordering::Relaxed))
    }

    /// The neural engine's counters (never call from the audio thread: takes a lock).
    pub fn engine_status(&self) -> Option<Arc<EngineStatus>> {
        self.engine.lock().ok().and_then(|g| g.clone())
    }

    /// Records a newly built neural engine's availability and counters (not the audio
    /// thread: takes a lock).
    pub fn set_engine(&self, availability: NeuralAvailability, engine: Option<Arc<EngineStatus>>) {
        self.availability
            .store(availability as u8, Ordering::Relaxed);
        if let Ok(mut g) = self.engine.lock() {
            *g = engine;
        }
    }
}

/// Builds the neural engine for `settings` from `bundle` (tract backend; not the audio
/// thread: loads the model and starts the inference thread). The engine runs at 48 kHz
/// whatever the host's rate. `None` with the reason when the model is not a 48 kHz model,
/// its framing differs or the backend fails.
pub fn build_neural(
    settings: &DspSettings,
    bundle: &ModelBundle,
) -> (Option<RealtimePhaseEngine>, NeuralAvailability) {
    let stft = StftConfig::default();
    if bundle.meta.sample_rate != MODEL_SAMPLE_RATE {
        return (None, NeuralAvailability::WrongModelRate);
    }
    if bundle.meta.n_fft != stft.n_fft
        || bundle.meta.hop != stft.hop
        || bundle.meta.num_bins != stft.num_bins()
    {
        return (None, NeuralAvailability::LoadFailed);
    }
    let mode = if settings.offline {
        WaitMode::Offline
    } else {
        WaitMode::RealTime
    };
    match load_backend(BackendKind::Tract, bundle)
        .ok()
        .and_then(|b| RealtimePhaseEngine::new(bundle.meta.clone(), b, mode).ok())
    {
        Some(engine) => (Some(engine), NeuralAvailability::Ready),
        None => (None, NeuralAvailability::LoadFailed),
    }
}

/// Linear ramp towards a target over a fixed number of samples.
#[derive(Debug, Clone, Copy)]
struct Ramp {
    current: f64,
    target: f64,
    step: f64,
    remaining: usize,
    length: usize,
}

impl Ramp {
    fn new(value: f64, length: usize) -> Self {
        Self {
            current: value,
            target: value,
            step: 0.0,
            remaining: 0,
            length: length.max(1),
        }
    }

    fn set_target(&mut self, target: f64) {
        if target != self.target {
            self.target = target;
            self.remaining = self.length;
            self.step = (target - self.current) / self.length as f64;
        }
    }

    fn snap(&mut self) {
        self.current = self.target;
        self.remaining = 0;
    }

    #[inline]
    fn next(&mut self) -> f64 {
        if self.remaining > 0 {
            self.remaining -= 1;
            self.current = if self.remaining == 0 {
                self.target
            } else {
                self.current + self.step
            };
        }
        self.current
    }
}

/// Power-of-two ring buffer delay line.
struct DelayLine {
    buf: Vec<f32>,
    mask: usize,
    write: usize,
}

impl DelayLine {
    fn new(max_delay: usize) -> Self {
        let size = (max_delay + 4).next_power_of_two();
        Self {
            buf: vec![0.0; size],
            mask: size - 1,
            write: 0,
        }
    }

    fn clear(&mut self) {
        self.buf.iter_mut().for_each(|v| *v = 0.0);
        self.write = 0;
    }

    #[inline]
    fn push(&mut self, x: f32) {
        self.buf[self.write] = x;
        self.write = (self.write + 1) & self.mask;
    }

    /// The sample pushed `d` pushes ago (0 = the last one).
    #[inline]
    fn tap(&self, d: usize) -> f32 {
        self.buf[(self.write.wrapping_sub(1).wrapping_sub(d)) & self.mask]
    }

    /// Fractional delay (`d >= 1`), cubic Hermite interpolation; exact at integer `d`.
    #[inline]
    fn read(&self, d: f64) -> f32 {
        let i = d.floor();
        let frac = (d - i) as f32;
        let i = i as usize;
        if frac == 0.0 {
            return self.tap(i);
        }
        // Going from tap i (t = 0) to tap i + 1 (t = 1).
        let (ym1, y0, y1, y2) = (
            self.tap(i.saturating_sub(1)),
            self.tap(i),
            self.tap(i + 1),
            self.tap(i + 2),
        );
        let c1 = 0.5 * (y1 - ym1);
        let c2 = ym1 - 2.5 * y0 + 2.0 * y1 - 0.5 * y2;
        let c3 = 0.5 * (y2 - ym1) + 1.5 * (y0 - y1);
        ((c3 * frac + c2) * frac + c1) * frac + y0
    }
}

/// The plugin's audio processing. Build it (allocates) when the host activates the plugin,
/// then call [`process`](Self::process), which never allocates, locks or blocks (except in
/// offline mode with the neural engine, which waits for inference).
pub struct XodVoxDsp {
    settings: DspSettings,
    stretcher: Stretcher,
    /// Host rate ↔ 48 kHz around the stretcher (`None` at 48 kHz).
    bridge: Option<RateBridge>,
    /// The wet core's latency in host samples (constant over the pitch range).
    core_latency: f64,
    latency: usize,
    want_neural: Arc<AtomicBool>,
    neural_available: bool,
    handoff: Arc<EngineHandoff>,
    status: Arc<PluginStatus>,
    input: Vec<Vec<f32>>,
    wet: Vec<Vec<f32>>,
    dry_lines: Vec<DelayLine>,
    wet_lines: Vec<DelayLine>,
    /// Compensating delay of the wet path, `latency − core_latency` (0, or 1..2 samples).
    wet_delay: f64,
    pitch: Ramp,
    mix: Ramp,
    gain_db: Ramp,
    bypass: Ramp,
    targets: Targets,
    controls: Controls,
    /// Samples processed since the last reset (drives the control grid).
    position: u64,
    /// Samples written to the spectrum tap since construction.
    tap_position: u64,
}

/// Latency of the wet core (the stretcher, through `bridge` when there is one) in host
/// samples: what the stretcher reports, rescaled by the bridge. The same at every pitch.
fn core_latency(bridge: Option<&RateBridge>, stretcher: &Stretcher) -> f64 {
    let inner = stretcher.latency_samples() as f64;
    bridge.map_or(inner, |b| b.added_latency(inner))
}

/// The latency reported for a wet core of `core` samples: `core` when it is whole, else
/// rounded up with one sample more, so the compensating delay (cubic interpolation) never
/// reads less than one sample back.
fn reported_latency(core: f64) -> usize {
    if core.fract() == 0.0 {
        core as usize
    } else {
        core.ceil() as usize + 1
    }
}

impl XodVoxDsp {
    /// Builds the chain for `settings`. With `model`, the neural engine is built too (tract
    /// backend); when it cannot be, only the classical engine runs and
    /// [`PluginStatus::availability`] says why.
    ///
    /// # Panics
    /// Never for channels in 1..=2 and sample rates in 8..=384 kHz (checked by the caller).
    pub fn new(
        settings: DspSettings,
        model: Option<&ModelBundle>,
        status: Arc<PluginStatus>,
    ) -> Self {
        let (neural, availability) = match model {
            Some(bundle) => build_neural(&settings, bundle),
            None => (None, NeuralAvailability::NoModel),
        };
        Self::with_engine(settings, neural, availability, status)
    }

    /// Builds the chain around an already built neural engine (see [`build_neural`]);
    /// `availability` is what [`PluginStatus::availability`] will report.
    pub fn with_engine(
        settings: DspSettings,
        neural: Option<RealtimePhaseEngine>,
        availability: NeuralAvailability,
        status: Arc<PluginStatus>,
    ) -> Self {
        let channels = settings.channels.clamp(1, MAX_CHANNELS);
        let stft = StftConfig::default();
        let bins = stft.num_bins();
        let want_neural = Arc::new(AtomicBool::new(false));
        let engine_status = neural.as_ref().map(RealtimePhaseEngine::status);
        let handoff = Arc::new(EngineHandoff::default());
        let neural_available = neural.is_some();
        let engine = SwitchEngine::new(
            bins,
            neural,
            handoff.clone(),
            want_neural.clone(),
            status.neural_active.clone(),
        );
        let host_rate = settings.sample_rate.round() as u32;
        let bridge = (host_rate != MODEL_SAMPLE_RATE).then(|| {
            RateBridge::new(host_rate, MODEL_SAMPLE_RATE, channels)
                .expect("sample rate checked by the caller")
        });
        let config = StretcherConfig {
            sample_rate: f64::from(MODEL_SAMPLE_RATE),
            channels,
            stft,
            min_pitch_semitones: MIN_PITCH_SEMITONES,
            max_pitch_semitones: MAX_PITCH_SEMITONES,
            pitch_mode: PitchMode::Spectral,
        };
        let stretcher =
            Stretcher::new(config, Box::new(engine)).expect("valid stretcher configuration");
        let controls = Controls::default();
        let core_latency = core_latency(bridge.as_ref(), &stretcher);
        let latency = reported_latency(core_latency);
        let wet_delay = latency as f64 - core_latency;

        let sr = settings.sample_rate;
        let samples = |s: f64| (s * sr).round() as usize;

        status
            .latency_samples
            .store(latency as u32, Ordering::Relaxed);
        status
            .sample_rate
            .store(settings.sample_rate.round() as u32, Ordering::Relaxed);
        status.set_engine(availability, engine_status);

        Self {
            settings: DspSettings {
                channels,
                ..settings
            },
            stretcher,
            bridge,
            core_latency,
            latency,
            want_neural,
            neural_available,
            handoff,
            status,
            input: vec![vec![0.0; CONTROL_GRID]; MAX_CHANNELS],
            wet: vec![vec![0.0; CONTROL_GRID]; MAX_CHANNELS],
            dry_lines: (0..MAX_CHANNELS).map(|_| DelayLine::new(latency)).collect(),
            wet_lines: (0..MAX_CHANNELS).map(|_| DelayLine::new(4)).collect(),
            wet_delay,
            pitch: Ramp::new(0.0, samples(PITCH_GLIDE_S)),
            mix: Ramp::new(1.0, samples(MIX_GLIDE_S)),
            gain_db: Ramp::new(0.0, samples(MIX_GLIDE_S)),
            bypass: Ramp::new(0.0, samples(BYPASS_GLIDE_S)),
            targets: Targets::default(),
            controls,
            position: 0,
            tap_position: 0,
        }
    }

    /// The settings it was built with (channels clamped to 1..=2).
    pub fn settings(&self) -> DspSettings {
        self.settings
    }

    /// The constant latency to report to the host, in samples.
    pub fn latency_samples(&self) -> usize {
        self.latency
    }

    /// The wet core's own latency (host samples, fractional: the stretcher, and the
    /// conversion to and from 48 kHz at other rates), the same at every pitch; the
    /// compensating delay adds the rest up to [`latency_samples`](Self::latency_samples).
    pub fn stretcher_latency(&self) -> f64 {
        self.core_latency
    }

    /// The rate the stretcher and the phase engines run at (always 48 kHz) and whether the
    /// host's rate is converted to it.
    pub fn engine_rate(&self) -> (u32, bool) {
        (MODEL_SAMPLE_RATE, self.bridge.is_some())
    }

    /// Whether the neural engine was built with the chain (a model loaded later arrives
    /// through [`engine_handoff`](Self::engine_handoff)).
    pub fn neural_available(&self) -> bool {
        self.neural_available
    }

    /// Where a loader thread hands this chain a new neural engine (another model).
    pub fn engine_handoff(&self) -> Arc<EngineHandoff> {
        self.handoff.clone()
    }

    /// Shared status for a UI.
    pub fn status(&self) -> Arc<PluginStatus> {
        self.status.clone()
    }

    /// Sets what the user asked for; smoothed from here on.
    pub fn set_targets(&mut self, targets: Targets) {
        self.targets = targets;
        self.pitch
            .set_target(f64::from(targets.pitch_semitones) + f64::from(targets.fine_cents) / 100.0);
        self.mix.set_target(f64::from(targets.mix.clamp(0.0, 1.0)));
        self.gain_db.set_target(f64::from(targets.gain_db));
        self.bypass
            .set_target(if targets.bypass { 1.0 } else { 0.0 });
    }

    /// Jumps every smoothed value to its target (after a reset, or when the host restores
    /// state before playing).
    pub fn snap_to_targets(&mut self) {
        self.pitch.snap();
        self.mix.snap();
        self.gain_db.snap();
        self.bypass.snap();
        self.apply_controls();
    }

    /// Clears all audio state (no allocation) and jumps to the targets.
    pub fn reset(&mut self) {
        self.snap_to_targets();
        self.stretcher.reset();
        if let Some(b) = &mut self.bridge {
            b.reset();
        }
        self.dry_lines.iter_mut().for_each(DelayLine::clear);
        self.wet_lines.iter_mut().for_each(DelayLine::clear);
        self.position = 0;
    }

    fn apply_controls(&mut self) {
        let pitch = self
            .pitch
            .current
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

    /// Processes one block in place: `io[c]` holds the input of channel `c` and receives
    /// its output. Any length, any number of channels (extra channels are left as they
    /// are, missing ones are not processed). Never allocates.
    pub fn process(&mut self, io: &mut [&mut [f32]]) {
        let channels = self.settings.channels.min(io.len());
        if channels == 0 {
            return;
        }
        let len = io[..channels].iter().map(|c| c.len()).min().unwrap_or(0);
        let mut pos = 0;
        while pos < len {
            let phase = (self.position % CONTROL_GRID as u64) as usize;
            if phase == 0 {
                self.apply_controls();
            }
            let n = (CONTROL_GRID - phase).min(len - pos);
            for (inp, io_c) in self.input.iter_mut().zip(io.iter()).take(channels) {
                for (d, &x) in inp[..n].iter_mut().zip(&io_c[pos..pos + n]) {
                    *d = if x.is_finite() { x } else { 0.0 };
                }
            }
            {
                let ins: [&[f32]; MAX_CHANNELS] = std::array::from_fn(|c| &self.input[c][..n]);
                let mut wet_iter = self.wet.iter_mut();
                let mut outs: [&mut [f32]; MAX_CHANNELS] =
                    std::array::from_fn(|_| match wet_iter.next() {
                        Some(w) => &mut w[..n],
                        None => &mut [],
                    });
                let stretcher = &mut self.stretcher;
                match &mut self.bridge {
                    None => stretcher.process(&ins[..channels], &mut outs[..channels]),
                    Some(bridge) => {
                        bridge.process(&ins[..channels], &mut outs[..channels], |i, o| {
                            stretcher.process(i, o);
                        });
                    }
                }
            }
            for i in 0..n {
                self.pitch.next();
                let mix = self.mix.next() as f32;
                let gain = db_to_gain(self.gain_db.next());
                let bypass = self.bypass.next() as f32;
                let wet_delay = self.wet_delay;
                let (mut tap_in, mut tap_out) = (0.0f32, 0.0f32);
                for (c, io_c) in io.iter_mut().enumerate().take(channels) {
                    let dry_line = &mut self.dry_lines[c];
                    dry_line.push(self.input[c][i]);
                    let dry = dry_line.tap(self.latency);
                    let wet_line = &mut self.wet_lines[c];
                    wet_line.push(self.wet[c][i]);
                    let wet = if wet_delay == 0.0 {
                        wet_line.tap(0)
                    } else {
                        wet_line.read(wet_delay)
                    };
                    let processed = gain * (dry + mix * (wet - dry));
                    let y = processed + bypass * (dry - processed);
                    let y = if y.is_finite() { y } else { 0.0 };
                    io_c[pos + i] = y;
                    tap_in += self.input[c][i];
                    tap_out += y;
                }
                let scale = 1.0 / channels as f32;
                self.status
                    .spectrum
                    .write(self.tap_position, tap_in * scale, tap_out * scale);
                self.tap_position += 1;
            }
            self.status.spectrum.publish(self.tap_position);
            pos += n;
            self.position += n as u64;
        }
    }
}

#[inline]
fn db_to_gain(db: f64) -> f32 {
    if db == 0.0 {
        1.0
    } else {
        10f64.powf(db / 20.0) as f32
    }
}
