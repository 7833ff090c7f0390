//! `model.json`: the metadata that travels with every exported model (see
//! `docs/model-format.md`), and the control-vector builder driven by it.

use serde::Deserialize;

use crate::error::InferError;
use xodvox_dsp::{Controls, StftConfig};

mod validate;

/// Newest bundle format version this runtime reads: 2 adds the gain head (`gain_db`), 1 is
/// the phase-only format (still read).
pub const FORMAT_VERSION: u32 = 2;

/// Format version of phase-only bundles (no `gain_db`).
pub const PHASE_ONLY_FORMAT_VERSION: u32 = 1;

/// Name of the optional graph input carrying the phase vocoder's advance deviation
/// (see [`crate::write_advance`] and `docs/model-format.md`).
pub const ADVANCE_INPUT: &str = "advance";

/// Name of the optional graph input carrying the classical phase minus the analysis phase
/// (see [`crate::write_advance`] and `docs/model-format.md`); only with [`ADVANCE_INPUT`].
pub const LOCK_INPUT: &str = "lock";

/// How the network's output turns into a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhaseOutput {
    /// The output is the phase of the frame itself.
    Absolute,
    /// The output rotates the previous output frame's phase.
    Increment,
}

/// The pitch path of the chain whose frames the model was trained on (`model.json`
/// `pitch_path`; a bundle without the field was trained on the resampling path).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PitchPath {
    /// Stretch by the pitch ratio, then resample (the frames are not shifted in frequency).
    #[default]
    Resample,
    /// The pitch moved in the frequency domain, frame by frame (constant latency).
    Spectral,
}

impl PitchPath {
    /// The chain's [`PitchMode`](xodvox_dsp::PitchMode) for this path.
    pub fn mode(self) -> xodvox_dsp::PitchMode {
        match self {
            Self::Resample => xodvox_dsp::PitchMode::Resample,
            Self::Spectral => xodvox_dsp::PitchMode::Spectral,
        }
    }
}

/// Element type of a tensor (`float32`, the only one the runtime feeds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// 32-bit IEEE float.
    Float32,
}

/// The analysis/synthesis window (`hann_periodic`, the only one the chain uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// Periodic Hann window of length `n_fft`.
    HannPeriodic,
}

/// What a control of the control vector is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ControlName {
    /// Time-stretch factor (output duration / input duration).
    Stretch,
    /// Pitch shift in semitones.
    Pitch,
    /// The target style (a class of [`ControlSpec::values`]).
    Style,
}

/// How a control's raw value becomes network input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlTransform {
    /// `log2(value)`.
    Log2,
    /// `value / divisor`.
    Divide,
    /// One entry per class, 1 for the chosen one.
    OneHot,
}

/// One tensor of the graph as declared in the metadata.
#[derive(Debug, Clone, Deserialize)]
pub struct TensorSpec {
    /// Graph input/output name.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions: numbers or the names of dynamic axes (`batch`, `time`).
    pub shape: Vec<serde_json::Value>,
}

/// One named control and its transform to network input.
#[derive(Debug, Clone, Deserialize)]
pub struct ControlSpec {
    /// `stretch`, `pitch` or `style`.
    pub name: ControlName,
    /// `log2`, `divide` or `one_hot`.
    pub transform: ControlTransform,
    /// Entries of the control vector this control occupies.
    pub size: usize,
    /// Allowed range of the raw value, for numeric controls.
    #[serde(default)]
    pub range: Option<[f64; 2]>,
    /// Divisor of the `divide` transform.
    #[serde(default)]
    pub divisor: Option<f64>,
    /// Names of the classes of a `one_hot` control.
    #[serde(default)]
    pub values: Vec<String>,
    /// Unit of the raw value, for display.
    #[serde(default)]
    pub unit: Option<String>,
}

/// One state tensor of the step graph: a causal layer's last input frames (its history).
#[derive(Debug, Clone, Deserialize)]
pub struct StateSpec {
    /// Step-graph input that takes the state before the frame.
    pub input: String,
    /// Step-graph output that gives the state after the frame.
    pub output: String,
    /// Element type.
    pub dtype: DType,
    /// `["batch", channels, bins, frames]`.
    pub shape: Vec<serde_json::Value>,
}

impl StateSpec {
    /// `[channels, bins, frames]` of the state (batch 1), if the shape is
    /// `["batch", c, f, t]` with positive `c`, `f`, `t`.
    pub fn dims(&self) -> Option<[usize; 3]> {
        if self.shape.len() != 4 || self.shape[0] != "batch" {
            return None;
        }
        let mut dims = [0usize; 3];
        for (d, v) in dims.iter_mut().zip(&self.shape[1..]) {
            *d = v.as_u64().filter(|&n| n > 0)? as usize;
        }
        Some(dims)
    }

    /// Values of the state for one stream (batch 1).
    pub fn len(&self) -> usize {
        self.dims().map_or(0, |[c, f, t]| c * f * t)
    }

    /// Whether the state holds no values (never for a validated bundle).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn one_frame() -> usize {
    1
}

/// `model.json`'s optional `step` entry: the one-frame step graph with cached per-layer state
/// (see `docs/model-format.md`, "Streaming").
#[derive(Debug, Clone, Deserialize)]
pub struct StepSpec {
    /// File name of the step graph in the bundle (`model.step.onnx`).
    pub file: String,
    /// Frames per call (1).
    #[serde(default = "one_frame")]
    pub frames: usize,
    /// The states, in the order the runtime keeps them.
    pub states: Vec<StateSpec>,
}

/// The parsed `model.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelMeta {
    /// `PHASE_ONLY_FORMAT_VERSION` (1, phase only) or `FORMAT_VERSION` (2, with `gain_db`).
    pub format_version: u32,
    /// True for test fixtures that are not real models.
    #[serde(default)]
    pub test_fixture: bool,
    /// Sample rate in Hz the model was trained at.
    pub sample_rate: u32,
    /// FFT size in samples.
    pub n_fft: usize,
    /// Synthesis hop in samples.
    pub hop: usize,
    /// One-sided bins, `n_fft / 2 + 1`.
    pub num_bins: usize,
    /// Window (`hann_periodic`).
    pub window: Window,
    /// Frames of magnitude history the network looks at (receptive field, ≥ 1).
    pub context_frames: usize,
    /// Future frames the network needs (adds latency).
    pub lookahead_frames: usize,
    /// Meaning of the output.
    pub phase_output: PhaseOutput,
    /// Graph inputs.
    pub inputs: Vec<TensorSpec>,
    /// Graph outputs.
    pub outputs: Vec<TensorSpec>,
    /// Length of the control vector.
    pub n_controls: usize,
    /// Controls in vector order.
    pub controls: Vec<ControlSpec>,
    /// Style names (the `style` control's classes).
    #[serde(default)]
    pub styles: Vec<String>,
    /// Free-form description (fixtures say so here).
    #[serde(default)]
    pub description: Option<String>,
    /// Training provenance: config, data hash, commit, steps, metrics.
    #[serde(default)]
    pub provenance: serde_json::Value,
    /// The step graph, when the bundle has one (else the runtime feeds windows to `model.onnx`).
    #[serde(default)]
    pub step: Option<StepSpec>,
    /// The pitch path the model was trained for.
    #[serde(default)]
    pub pitch_path: PitchPath,
    /// Format 2: the `phase` output's modulus is a magnitude gain for each bin, within
    /// ±`gain_db` dB (the runtime clamps it there). `None` for phase-only bundles.
    #[serde(default)]
    pub gain_db: Option<f32>,
}

impl ModelMeta {
    /// Parses and validates metadata against what this runtime supports.
    ///
    /// # Errors
    /// [`InferError::Metadata`] for malformed JSON; [`InferError::Mismatch`] for a wrong
    /// version, window, sizes, tensor names or an unknown control.
    pub fn parse(json: &str, source_name: &str) -> Result<Self, InferError> {
        let meta: Self = serde_json::from_str(json).map_err(|e| InferError::Metadata {
            source_name: source_name.to_string(),
            message: e.to_string(),
        })?;
        meta.validate(source_name)?;
        Ok(meta)
    }

    /// Whether the bundle declares a step graph (`step` in `model.json`).
    pub fn has_step(&self) -> bool {
        self.step.is_some()
    }

    /// Whether the graph takes the optional `advance` input (listed in `inputs`).
    pub fn has_advance(&self) -> bool {
        self.inputs.iter().any(|t| t.name == ADVANCE_INPUT)
    }

    /// The gain bounds `(min, max)` as linear factors when the model has a gain head
    /// (format 2), `None` for phase-only models.
    pub fn gain_bounds(&self) -> Option<(f32, f32)> {
        self.gain_db.map(|db| {
            let max = 10f32.powf(db / 20.0);
            (1.0 / max, max)
        })
    }

    /// Whether the graph takes the optional `lock` input (listed in `inputs`).
    pub fn has_lock(&self) -> bool {
        self.inputs.iter().any(|t| t.name == LOCK_INPUT)
    }

    /// Number of per-bin inputs besides `mag` the runtime computes for every frame (`advance`,
    /// then `lock`): the per-frame "guide" values are `guide_inputs() × num_bins` long.
    pub fn guide_inputs(&self) -> usize {
        usize::from(self.has_advance()) + usize::from(self.has_lock())
    }

    /// STFT framing of the model.
    pub fn stft(&self) -> StftConfig {
        StftConfig {
            n_fft: self.n_fft,
            hop: self.hop,
        }
    }

    /// Names of the styles the model can imitate (the `style` control's classes).
    pub fn style_names(&self) -> Vec<String> {
        self.controls
            .iter()
            .find(|c| c.name == ControlName::Style)
            .map_or_else(|| self.styles.clone(), |c| c.values.clone())
    }

    /// Index of the style called `name`: its name in the bundle or its display name
    /// ([`style_display_name`]), ignoring case and surrounding spaces.
    pub fn find_style(&self, name: &str) -> Option<usize> {
        style_position(&self.style_names(), name)
    }

    /// Writes the control vector for `controls` into `out` (length `n_controls`), clamping
    /// numeric values to the trained range and falling back to style 0 for an unknown
    /// style index. Never allocates.
    pub fn write_control_vector(&self, controls: &Controls, out: &mut [f32]) {
        let mut pos = 0;
        for c in &self.controls {
            let clamp = |v: f64| match c.range {
                Some([lo, hi]) => v.clamp(lo, hi),
                None => v,
            };
            match c.name {
                ControlName::Stretch => out[pos] = clamp(controls.stretch).log2() as f32,
                ControlName::Pitch => {
                    out[pos] = (clamp(controls.pitch_semitones) / c.divisor.unwrap_or(12.0)) as f32
                }
                ControlName::Style => {
                    let idx = if controls.style_index < c.size {
                        controls.style_index
                    } else {
                        0
                    };
                    for (i, v) in out[pos..pos + c.size].iter_mut().enumerate() {
                        *v = if i == idx { 1.0 } else { 0.0 };
                    }
                }
            }
            pos += c.size;
        }
    }
}

/// Index of the style called `name` among `styles` (a bundle's style names): by its bundle
/// name or its display name ([`style_display_name`]), ignoring case and surrounding spaces.
pub fn style_position(styles: &[String], name: &str) -> Option<usize> {
    let name = name.trim();
    styles.iter().position(|s| {
        s.eq_ignore_ascii_case(name) || style_display_name(s).eq_ignore_ascii_case(name)
    })
}

/// The name a producer sees for the style called `style` in a bundle (the plugin's Style
/// parameter, the CLI's messages). The teacher-imitating styles of `models/rb-v1` get names
/// that say how they sound (their teachers are in that model's card); any other name is shown
/// with its words capitalised (`natural` → "Natural", `my-style` → "My Style").
pub fn style_display_name(style: &str) -> String {
    match style {
        "rb-fine" => "Smooth".to_string(),
        "rb-crisp" => "Crisp".to_string(),
        "rb-formant" => "Formant".to_string(),
        "sox" => "Grainy".to_string(),
        _ => style
            .split(['-', '_', ' '])
            .filter(|w| !w.is_empty())
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::ModelBundle;

    #[test]
    fn styles_have_names_a_producer_reads_and_are_found_by_either_name() {
        assert_eq!(style_display_name("natural"), "Natural");
        assert_eq!(style_display_name("my-own_style"), "My Own Style");
        assert_eq!(style_display_name("rb-crisp"), "Crisp");
        assert_eq!(style_display_name("sox"), "Grainy");
        let meta = ModelBundle::embedded_default().unwrap().meta;
        assert_eq!(meta.style_names(), ["natural", "formant"]);
        assert_eq!(meta.find_style("formant"), Some(1));
        assert_eq!(meta.find_style(" Formant "), Some(1));
        assert_eq!(meta.find_style("NATURAL"), Some(0));
        assert_eq!(meta.find_style("crisp"), None);
    }
}
