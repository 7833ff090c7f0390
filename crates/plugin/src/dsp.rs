//! [`XodVoxDsp`]: everything the plugin does to audio, independent of any host, so it can be
//! tested directly (allocation counting, block-size independence).
//!
//! The wet path is the real-time [`Processor`] of `xodvox-infer` (rate bridge, stretcher with
//! spectral pitch, classical/neural phase engine, exact constant latency `L`); the plugin adds
//! what is a plugin's: the dry path delayed by `L`, dry/wet mix, output gain, bypass, the
//! spectrum tap and the status a UI reads.
//!
//! ```text
//! input ─┬─ sanitise ─ Processor (latency L) ──┐
//!        │                                     ├─ mix ─ gain ─ bypass ─ output
//!        └─ sanitise ─ delay L ────────────────┘
//! ```

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;

use nice_plug::prelude::{Smoother, SmoothingStyle};
use nice_plug::util::db_to_gain;
use xodvox_dsp::DelayLine;
pub use xodvox_infer::processor::CONTROL_GRID;
pub use xodvox_infer::NeuralAvailability;
use xodvox_infer::{
    build_realtime_engine, BackendKind, EngineHandoff, EngineStatus, ModelBundle, Processor,
    ProcessorControls, RealtimePhaseEngine, WaitMode, ENGINE_SAMPLE_RATE,
};

use crate::spectrum::SpectrumTap;

/// Most channels the plugin processes (mono and stereo layouts).
pub const MAX_CHANNELS: usize = 2;
/// The rate the stretcher and both phase engines run at, whatever the host's: the rate
/// the neural model was trained at. Other host rates are converted in and out.
pub const MODEL_SAMPLE_RATE: u32 = ENGINE_SAMPLE_RATE;

/// Mix and gain smoothing (linear), milliseconds.
const MIX_GLIDE_MS: f32 = 20.0;
/// Bypass crossfade (linear), milliseconds.
const BYPASS_GLIDE_MS: f32 = 10.0;

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
/// thread: loads the model and starts the inference thread), waiting for every inference in a
/// host's offline render. See [`build_realtime_engine`].
pub fn build_neural(
    settings: &DspSettings,
    bundle: &ModelBundle,
) -> (Option<RealtimePhaseEngine>, NeuralAvailability) {
    let wait = if settings.offline {
        WaitMode::Offline
    } else {
        WaitMode::RealTime
    };
    build_realtime_engine(bundle, BackendKind::Tract, wait)
}

/// The plugin's audio processing. Build it (allocates) when the host activates the plugin,
/// then call [`process`](Self::process), which never allocates, locks or blocks (except in
/// offline mode with the neural engine, which waits for inference).
pub struct XodVoxDsp {
    settings: DspSettings,
    processor: Processor,
    status: Arc<PluginStatus>,
    input: Vec<Vec<f32>>,
    wet: Vec<Vec<f32>>,
    dry_lines: Vec<DelayLine>,
    mix: Smoother<f32>,
    gain_db: Smoother<f32>,
    bypass: Smoother<f32>,
    targets: Targets,
    /// Samples written to the spectrum tap since construction.
    tap_position: u64,
}

impl XodVoxDsp {
    /// Builds the chain for `settings`. With `model`, the neural engine is built too (tract
    /// backend); when it cannot be, only the classical engine runs and
    /// [`PluginStatus::availability`] says why.
    ///
    /// # Panics
    /// For sample rates [`Processor::supports_rate`] refuses (checked by the caller).
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
    ///
    /// # Panics
    /// As [`new`](Self::new).
    pub fn with_engine(
        settings: DspSettings,
        neural: Option<RealtimePhaseEngine>,
        availability: NeuralAvailability,
        status: Arc<PluginStatus>,
    ) -> Self {
        let channels = settings.channels.clamp(1, MAX_CHANNELS);
        let processor =
            Processor::with_engine(neural, availability, settings.sample_rate, channels)
                .expect("sample rate checked by the caller");
        let latency = processor.latency_samples();

        status
            .latency_samples
            .store(latency as u32, Ordering::Relaxed);
        status
            .sample_rate
            .store(settings.sample_rate.round() as u32, Ordering::Relaxed);
        status.set_engine(availability, processor.engine_status());

        Self {
            settings: DspSettings {
                channels,
                ..settings
            },
            processor,
            status,
            input: vec![vec![0.0; CONTROL_GRID]; MAX_CHANNELS],
            wet: vec![vec![0.0; CONTROL_GRID]; MAX_CHANNELS],
            dry_lines: (0..MAX_CHANNELS).map(|_| DelayLine::new(latency)).collect(),
            mix: Smoother::new(SmoothingStyle::Linear(MIX_GLIDE_MS)),
            gain_db: Smoother::new(SmoothingStyle::Linear(MIX_GLIDE_MS)),
            bypass: Smoother::new(SmoothingStyle::Linear(BYPASS_GLIDE_MS)),
            targets: Targets::default(),
            tap_position: 0,
        }
        .with_smoothers_at_targets()
    }

    fn with_smoothers_at_targets(mut self) -> Self {
        self.snap_smoothers();
        self
    }

    /// The smoothed values' targets: (mix, gain dB, bypass amount).
    fn smoothed_targets(&self) -> (f32, f32, f32) {
        let t = &self.targets;
        let bypass = if t.bypass { 1.0 } else { 0.0 };
        (t.mix.clamp(0.0, 1.0), t.gain_db, bypass)
    }

    /// Jumps mix, gain and bypass to their targets.
    fn snap_smoothers(&mut self) {
        let (mix, gain_db, bypass) = self.smoothed_targets();
        self.mix.reset(mix);
        self.gain_db.reset(gain_db);
        self.bypass.reset(bypass);
    }

    /// The settings it was built with (channels clamped to 1..=2).
    pub fn settings(&self) -> DspSettings {
        self.settings
    }

    /// The constant latency to report to the host, in samples (the [`Processor`]'s).
    pub fn latency_samples(&self) -> usize {
        self.processor.latency_samples()
    }

    /// The wet core's own latency (host samples, fractional), the same at every pitch; see
    /// [`Processor::core_latency`].
    pub fn stretcher_latency(&self) -> f64 {
        self.processor.core_latency()
    }

    /// The rate the stretcher and the phase engines run at (always 48 kHz) and whether the
    /// host's rate is converted to it.
    pub fn engine_rate(&self) -> (u32, bool) {
        self.processor.engine_rate()
    }

    /// Whether the neural engine was built with the chain (a model loaded later arrives
    /// through [`engine_handoff`](Self::engine_handoff)).
    pub fn neural_available(&self) -> bool {
        self.processor.neural_available()
    }

    /// Where a loader thread hands this chain a new neural engine (another model).
    pub fn engine_handoff(&self) -> Arc<EngineHandoff> {
        self.processor.engine_handoff()
    }

    /// Shared status for a UI.
    pub fn status(&self) -> Arc<PluginStatus> {
        self.status.clone()
    }

    /// Sets what the user asked for; smoothed from here on.
    pub fn set_targets(&mut self, targets: Targets) {
        let before = self.smoothed_targets();
        self.targets = targets;
        self.processor.set_controls(ProcessorControls {
            pitch_semitones: f64::from(targets.pitch_semitones)
                + f64::from(targets.fine_cents) / 100.0,
            style: targets.style,
            neural: targets.neural,
        });
        // A glide starts only when a target changes (the host sends every block's values).
        let (mix, gain_db, bypass) = self.smoothed_targets();
        let sr = self.settings.sample_rate as f32;
        for (smoother, old, new) in [
            (&self.mix, before.0, mix),
            (&self.gain_db, before.1, gain_db),
            (&self.bypass, before.2, bypass),
        ] {
            if old != new {
                smoother.set_target(sr, new);
            }
        }
    }

    /// Jumps every smoothed value to its target (after a reset, or when the host restores
    /// state before playing).
    pub fn snap_to_targets(&mut self) {
        self.snap_smoothers();
        self.processor.snap();
    }

    /// Clears all audio state (no allocation) and jumps to the targets.
    pub fn reset(&mut self) {
        self.snap_smoothers();
        self.processor.reset();
        self.dry_lines.iter_mut().for_each(DelayLine::clear);
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
        let latency = self.processor.latency_samples();
        let mut pos = 0;
        while pos < len {
            let n = CONTROL_GRID.min(len - pos);
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
                self.processor
                    .process(&ins[..channels], &mut outs[..channels]);
            }
            for i in 0..n {
                let mix = self.mix.next();
                let gain = db_to_gain(self.gain_db.next());
                let bypass = self.bypass.next();
                let (mut tap_in, mut tap_out) = (0.0f32, 0.0f32);
                for (c, io_c) in io.iter_mut().enumerate().take(channels) {
                    let dry_line = &mut self.dry_lines[c];
                    dry_line.push(self.input[c][i]);
                    let dry = dry_line.tap(latency);
                    let wet = self.wet[c][i];
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
            self.status
                .neural_active
                .store(self.processor.neural_active(), Ordering::Relaxed);
            pos += n;
        }
    }
}
