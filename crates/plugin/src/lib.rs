//! XodVox as a VST3 / CLAP plugin and standalone app, built on `nice-plug`.
//!
//! The audio processing lives in [`dsp::XodVoxDsp`] (host independent, tested without a
//! host); this module maps the host's parameters onto it. The editor is in [`editor`], the
//! persisted model setting in [`model`], the spectrum's data path in [`spectrum`]. See
//! `docs/plugin.md`.
#![warn(missing_docs)]

pub mod dsp;
pub mod editor;
pub mod idle;
pub mod model;
pub mod spectrum;

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;

use crate::dsp::{
    DspSettings, NeuralAvailability, PluginStatus, Targets, XodVoxDsp, MAX_CHANNELS,
    MODEL_SAMPLE_RATE,
};
use crate::idle::IdleDetector;
use crate::model::ModelSetting;
use xodvox_infer::{style_display_name, style_position};

/// Highest host sample rate the plugin converts to and from its 48 kHz engine (128 × 48
/// kHz); above it, and wherever [`host_rate_supported`] says no, audio passes through
/// unprocessed with no latency and the status says so.
pub const MAX_HOST_SAMPLE_RATE: f64 = xodvox_infer::processor::MAX_SAMPLE_RATE;

/// Whether the chain can run at `sample_rate` Hz ([`xodvox_infer::Processor::supports_rate`]:
/// finite, positive, at most [`MAX_HOST_SAMPLE_RATE`], and the rate bridge finds chunk sizes
/// for it, from about 190 Hz up; fractional rates included).
pub fn host_rate_supported(sample_rate: f64) -> bool {
    xodvox_infer::Processor::supports_rate(sample_rate)
}

/// The sample rate whose latency the plugin reports before its first activation (what
/// pluginval prints, what a host may read to plan a session): the engine's own rate.
pub const DEFAULT_SAMPLE_RATE: f64 = MODEL_SAMPLE_RATE as f64;

/// The latency in samples the plugin reports once activated at `sample_rate` Hz: the
/// chain's (see [`XodVoxDsp::latency_samples`]), 0 where [`host_rate_supported`] says no
/// (pass-through). Builds a classical chain and drops it: for the main thread, not for
/// `process`.
pub fn latency_at(sample_rate: f64) -> u32 {
    if !host_rate_supported(sample_rate) {
        return 0;
    }
    let settings = DspSettings {
        sample_rate,
        channels: MAX_CHANNELS,
        max_block: 512,
        offline: false,
    };
    let status = Arc::new(PluginStatus::default());
    let dsp = XodVoxDsp::with_engine(settings, None, NeuralAvailability::NoModel, status);
    dsp.latency_samples() as u32
}

/// Set by the standalone app when it is asked to quit (SIGINT); the editor then closes its
/// window. Never set inside a plugin host.
static QUIT_REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks the standalone app's editor to close its window (see `main.rs`). Not for plugin
/// hosts: the window belongs to the host there.
pub fn request_quit() {
    QUIT_REQUESTED.store(true, Ordering::Relaxed);
}

/// Whether [`request_quit`] was called.
pub fn quit_requested() -> bool {
    QUIT_REQUESTED.load(Ordering::Relaxed)
}

/// Which phase engine to use.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineChoice {
    /// The neural phase engine (runs at 48 kHz inside; falls back to classical per frame when
    /// late). The default.
    #[name = "Neural"]
    Neural,
    /// The classical phase vocoder (identity phase locking).
    #[name = "Classical"]
    Classical,
}

/// The plugin's parameters. Their ids are stable: hosts save them in projects.
#[derive(Params)]
pub struct XodVoxParams {
    /// Pitch shift in semitones.
    #[id = "pitch"]
    pub pitch: FloatParam,
    /// Fine tune in cents.
    #[id = "fine"]
    pub fine: FloatParam,
    /// Style of the neural model (index into the model's style names).
    #[id = "style"]
    pub style: IntParam,
    /// Phase engine.
    #[id = "engine"]
    pub engine: EnumParam<EngineChoice>,
    /// Dry/wet mix in percent (the dry path is delayed by the reported latency).
    #[id = "mix"]
    pub mix: FloatParam,
    /// Output gain in dB.
    #[id = "gain"]
    pub gain: FloatParam,
    /// Bypass (host-recognised): output = input delayed by the reported latency.
    #[id = "bypass"]
    pub bypass: BoolParam,
    /// The neural model's folder (empty: `$XODVOX_MODEL`, else the embedded default),
    /// saved with the state; restoring it loads the model.
    #[persist = "model"]
    pub model: ModelSetting,
}

/// The style parameter: one value per model style (`default` when the model has none),
/// shown by display name, typed as a name or a position.
fn style_param(styles: &[String]) -> IntParam {
    let styles: Arc<Vec<String>> = Arc::new(if styles.is_empty() {
        vec!["default".to_string()]
    } else {
        styles.to_vec()
    });
    let names = styles.clone();
    IntParam::new(
        "Style",
        0,
        IntRange::Linear {
            min: 0,
            max: styles.len() as i32 - 1,
        },
    )
    .with_value_to_string(Arc::new(move |v| {
        names
            .get(v.max(0) as usize)
            .map(|n| style_display_name(n))
            .unwrap_or_else(|| v.to_string())
    }))
    .with_string_to_value(Arc::new(move |s| {
        style_position(&styles, s)
            .map(|i| i as i32)
            .or_else(|| s.trim().parse().ok())
    }))
}

impl XodVoxParams {
    /// Builds the parameters; `styles` names the model's styles (the style parameter's
    /// values), `neural_default` picks the default engine, `status` receives the model
    /// setting's reports.
    pub fn new(styles: &[String], neural_default: bool, status: Arc<PluginStatus>) -> Self {
        Self {
            pitch: FloatParam::new(
                "Pitch",
                0.0,
                FloatRange::Linear {
                    min: -24.0,
                    max: 24.0,
                },
            )
            .with_step_size(0.01)
            .with_unit(" st")
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            fine: FloatParam::new(
                "Fine Tune",
                0.0,
                FloatRange::Linear {
                    min: -100.0,
                    max: 100.0,
                },
            )
            .with_step_size(0.1)
            .with_unit(" ct")
            .with_value_to_string(formatters::v2s_f32_rounded(1)),
            style: style_param(styles),
            engine: EnumParam::new(
                "Engine",
                if neural_default {
                    EngineChoice::Neural
                } else {
                    EngineChoice::Classical
                },
            ),
            mix: FloatParam::new(
                "Mix",
                100.0,
                FloatRange::Linear {
                    min: 0.0,
                    max: 100.0,
                },
            )
            .with_step_size(0.1)
            .with_unit(" %")
            .with_value_to_string(formatters::v2s_f32_rounded(1)),
            gain: FloatParam::new(
                "Output Gain",
                0.0,
                FloatRange::Linear {
                    min: -24.0,
                    max: 24.0,
                },
            )
            .with_step_size(0.1)
            .with_unit(" dB")
            .with_value_to_string(formatters::v2s_f32_rounded(1)),
            bypass: BoolParam::new("Bypass", false).make_bypass(),
            model: ModelSetting::new(status),
        }
    }

    /// The parameter values as DSP targets.
    pub fn targets(&self) -> Targets {
        Targets {
            pitch_semitones: self.pitch.value(),
            fine_cents: self.fine.value(),
            style: self.style.value().max(0) as usize,
            neural: self.engine.value() == EngineChoice::Neural,
            mix: self.mix.value() / 100.0,
            gain_db: self.gain.value(),
            bypass: self.bypass.value(),
        }
    }
}

/// The plugin.
pub struct XodVox {
    params: Arc<XodVoxParams>,
    status: Arc<PluginStatus>,
    editor_state: Arc<EguiEditorState>,
    dsp: Option<XodVoxDsp>,
    /// Counts silent input to tell the host when the plugin may sleep.
    idle: IdleDetector,
    /// Test hook of the `assert_process_allocs` build: allocate in `process` when the
    /// environment variable `XODVOX_TEST_ALLOCATE_IN_PROCESS` is set at activation, so the
    /// host tests can show that a violation is caught (the host aborts).
    #[cfg(feature = "assert_process_allocs")]
    allocate_in_process: bool,
}

impl Default for XodVox {
    fn default() -> Self {
        // The style names come from the embedded model (parameters cannot change their
        // range later; another model's extra styles are not reachable, missing ones fall
        // back to its style 0).
        let model = xodvox_infer::ModelBundle::embedded_default().ok();
        // Neural by default whenever the embedded model loads: the shipped model beats the
        // classical engine through the runtime (val MR-STFT 1.0036 vs 1.0234,
        // models/default/README.md), it runs at every host rate (the chain works at 48 kHz
        // inside), and a late inference falls back to the classical phase for that frame
        // only. Classical is one click away for CPU-starved sessions.
        let (styles, neural_default) = model
            .as_ref()
            .map_or((Vec::new(), false), |m| (m.meta.style_names(), true));
        let status = Arc::new(PluginStatus::default());
        Self {
            params: Arc::new(XodVoxParams::new(&styles, neural_default, status.clone())),
            status,
            editor_state: EguiEditorState::from_size(
                nice_plug::editor::dpi::LogicalSize::new(
                    f64::from(editor::EDITOR_SIZE.0),
                    f64::from(editor::EDITOR_SIZE.1),
                ),
                1.0,
            ),
            dsp: None,
            idle: IdleDetector::new(0, 0.0),
            #[cfg(feature = "assert_process_allocs")]
            allocate_in_process: false,
        }
    }
}

impl XodVox {
    /// Shared status (engine in use, latency, neural counters).
    pub fn status(&self) -> Arc<PluginStatus> {
        self.status.clone()
    }
}

impl Plugin for XodVox {
    const NAME: &'static str = "XodVox";
    const VENDOR: &'static str = "XodVox";
    const URL: &'static str = "https://example.invalid/xodvox";
    const EMAIL: &'static str = "xodvox@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            aux_input_ports: &[],
            aux_output_ports: &[],
            names: PortNames::const_default(),
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            aux_input_ports: &[],
            aux_output_ports: &[],
            names: PortNames::const_default(),
        },
    ];

    type SysExMessage = ();
    type BackgroundTask = ();
    type Editor = nice_plug_egui::EguiEditor<editor::XodVoxEditor>;

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(
            self.params.clone(),
            self.status.clone(),
            self.editor_state.clone(),
        )
    }

    fn activate(
        &mut self,
        audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        #[cfg(feature = "assert_process_allocs")]
        {
            self.allocate_in_process =
                std::env::var_os("XODVOX_TEST_ALLOCATE_IN_PROCESS").is_some();
        }
        let sample_rate = f64::from(buffer_config.sample_rate);
        if !host_rate_supported(sample_rate) {
            // Never refuse a host: pass audio through, latency-aligned (no latency), and
            // say why in the status.
            self.dsp = None;
            self.status.latency_samples.store(0, Ordering::Relaxed);
            let shown = if sample_rate.is_finite() {
                sample_rate.round().clamp(0.0, f64::from(u32::MAX)) as u32
            } else {
                0
            };
            self.status.sample_rate.store(shown, Ordering::Relaxed);
            self.status
                .set_engine(NeuralAvailability::RateNotSupported, None);
            context.set_latency_samples(0);
            self.idle = IdleDetector::new(0, sample_rate.clamp(0.0, MAX_HOST_SAMPLE_RATE));
            return true;
        }
        let channels = audio_io_layout
            .main_output_channels
            .map_or(2, |c| c.get() as usize)
            .clamp(1, MAX_CHANNELS);
        let settings = DspSettings {
            sample_rate,
            channels,
            max_block: buffer_config.max_buffer_size as usize,
            offline: buffer_config.process_mode == ProcessMode::Offline,
        };
        // Hosts activate again after every change of settings; rebuild only when needed
        // (building starts the inference thread and loads the model).
        if self.dsp.as_ref().map(XodVoxDsp::settings) != Some(settings) {
            let model = self.params.model.shared();
            let (neural, availability) = model.build_engine(&settings);
            let dsp = XodVoxDsp::with_engine(settings, neural, availability, self.status.clone());
            model.attach(dsp.settings(), dsp.engine_handoff());
            self.dsp = Some(dsp);
        }
        if let Some(dsp) = self.dsp.as_mut() {
            context.set_latency_samples(dsp.latency_samples() as u32);
            dsp.set_targets(self.params.targets());
            dsp.reset();
            self.idle = IdleDetector::new(dsp.latency_samples(), sample_rate);
        }
        true
    }

    fn reset(&mut self) {
        if let Some(dsp) = self.dsp.as_mut() {
            dsp.set_targets(self.params.targets());
            dsp.reset();
        }
        self.idle.reset();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        _context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        #[cfg(feature = "assert_process_allocs")]
        if self.allocate_in_process {
            std::hint::black_box(vec![0u8; 64]);
        }
        let io = buffer.as_slice();
        let was_idle = self.idle.idle();
        self.idle.observe(io);
        // Without a chain (a sample rate it cannot run at) the audio passes through as is.
        if let Some(dsp) = self.dsp.as_mut() {
            dsp.set_targets(self.params.targets());
            if was_idle && !self.idle.idle() {
                // Waking up: the chain holds only silence, so a reset changes no output, and
                // it puts the sound at the reported latency whether or not the host skipped
                // calls while the plugin slept (a skip shifts the rate bridge's chunk phase).
                dsp.reset();
            }
            dsp.process(io);
        }
        if self.idle.idle() {
            // Silent already; exact zeros let the host see constant / silent outputs.
            io.iter_mut().for_each(|c| c.fill(0.0));
            // nice-plug (patched): a tail of 0 is `CLAP_PROCESS_SLEEP`.
            ProcessStatus::Tail(0)
        } else {
            ProcessStatus::Tail(self.idle.remaining().min(u64::from(u32::MAX - 1)) as u32)
        }
    }
}

impl ClapPlugin for XodVox {
    const CLAP_ID: &'static str = "org.xodvox.xodvox";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Neural phase vocoder pitch shifter (classical phase vocoder fallback)");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::PitchShifter,
        ClapFeature::Stereo,
        ClapFeature::Mono,
    ];

    /// The latency at the host's rate, at [`DEFAULT_SAMPLE_RATE`] before a rate is known
    /// (nice-plug's default would be 0 until the first activation).
    fn latency_before_activation(&self, sample_rate: Option<f32>) -> Option<u32> {
        Some(latency_at(
            sample_rate.map_or(DEFAULT_SAMPLE_RATE, f64::from),
        ))
    }
}

impl Vst3Plugin for XodVox {
    const VST3_CLASS_ID: [u8; 16] = *b"XodVoxPhaseVocdr";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::PitchShift];

    /// The latency at the host's rate, at [`DEFAULT_SAMPLE_RATE`] before a rate is known
    /// (nice-plug's default would be 0 until the first activation).
    fn latency_before_activation(&self, sample_rate: Option<f32>) -> Option<u32> {
        Some(latency_at(
            sample_rate.map_or(DEFAULT_SAMPLE_RATE, f64::from),
        ))
    }
}

nice_export_clap!(XodVox);
nice_export_vst3!(XodVox);
