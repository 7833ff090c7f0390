//! Validation of a parsed `model.json` against what this runtime supports.

use super::{
    ControlName, ControlTransform, ModelMeta, StepSpec, ADVANCE_INPUT, FORMAT_VERSION, LOCK_INPUT,
    PHASE_ONLY_FORMAT_VERSION,
};
use crate::error::InferError;
use xodvox_dsp::StftConfig;

/// Builds the [`InferError::Mismatch`] of one field: `(field, expected, got)`.
type Mismatch<'a> = dyn Fn(&'static str, String, String) -> InferError + 'a;

impl ModelMeta {
    /// Checks every field; the first problem found is named.
    pub(super) fn validate(&self, src: &str) -> Result<(), InferError> {
        let mismatch = |field: &'static str, expected: String, got: String| InferError::Mismatch {
            source_name: src.to_string(),
            field,
            expected,
            got,
        };
        self.validate_format(&mismatch)?;
        self.validate_framing(&mismatch)?;
        self.validate_inputs(&mismatch)?;
        self.validate_outputs(&mismatch)?;
        if let Some(step) = &self.step {
            validate_step(step, &mismatch)?;
        }
        self.validate_controls(&mismatch)
    }

    /// `format_version` and the gain bound that goes with it.
    fn validate_format(&self, mismatch: &Mismatch) -> Result<(), InferError> {
        let expected_version = if self.gain_db.is_some() {
            FORMAT_VERSION
        } else {
            PHASE_ONLY_FORMAT_VERSION
        };
        if self.format_version != expected_version {
            return Err(mismatch(
                "format_version",
                format!(
                    "{expected_version} ({})",
                    if self.gain_db.is_some() {
                        "a bundle with gain_db"
                    } else {
                        "a phase-only bundle: format 2 needs gain_db"
                    }
                ),
                self.format_version.to_string(),
            ));
        }
        if let Some(db) = self.gain_db {
            if !(db > 0.0 && db <= 40.0) {
                return Err(mismatch(
                    "gain_db",
                    "0 < gain_db <= 40".into(),
                    db.to_string(),
                ));
            }
        }
        Ok(())
    }

    /// STFT sizes, context, lookahead and sample rate.
    fn validate_framing(&self, mismatch: &Mismatch) -> Result<(), InferError> {
        let stft = StftConfig {
            n_fft: self.n_fft,
            hop: self.hop,
        };
        if stft.validate().is_err() {
            return Err(mismatch(
                "n_fft/hop",
                "a valid STFT".into(),
                format!("{}/{}", self.n_fft, self.hop),
            ));
        }
        if self.num_bins != stft.num_bins() {
            return Err(mismatch(
                "num_bins",
                stft.num_bins().to_string(),
                self.num_bins.to_string(),
            ));
        }
        if self.context_frames == 0 || self.context_frames > 256 {
            return Err(mismatch(
                "context_frames",
                "1..=256".into(),
                self.context_frames.to_string(),
            ));
        }
        if self.lookahead_frames != 0 {
            return Err(mismatch(
                "lookahead_frames",
                "0 (not supported yet)".into(),
                self.lookahead_frames.to_string(),
            ));
        }
        if !(8_000..=384_000).contains(&self.sample_rate) {
            return Err(mismatch(
                "sample_rate",
                "8000..=384000".into(),
                self.sample_rate.to_string(),
            ));
        }
        Ok(())
    }

    /// The graph inputs: `mag`, `control`, optionally `advance` then `lock`.
    fn validate_inputs(&self, mismatch: &Mismatch) -> Result<(), InferError> {
        let names: Vec<&str> = self.inputs.iter().map(|t| t.name.as_str()).collect();
        let count = |n: &str| names.iter().filter(|&&x| x == n).count();
        if let Some(unknown) = names
            .iter()
            .find(|&&n| n != "mag" && n != "control" && n != ADVANCE_INPUT && n != LOCK_INPUT)
        {
            return Err(mismatch(
                "inputs",
                "only \"mag\", \"control\" and optionally \"advance\" (and \"lock\")".into(),
                format!("{names:?}, with the unknown input {unknown:?}"),
            ));
        }
        if count("mag") != 1
            || count("control") != 1
            || count(ADVANCE_INPUT) > 1
            || count(LOCK_INPUT) > count(ADVANCE_INPUT)
        {
            return Err(mismatch(
                "inputs",
                "[\"mag\", \"control\"] plus optionally \"advance\" and then \"lock\", each once"
                    .into(),
                format!("{names:?}"),
            ));
        }
        for adv in self
            .inputs
            .iter()
            .filter(|t| t.name == ADVANCE_INPUT || t.name == LOCK_INPUT)
        {
            let expected = serde_json::json!(["batch", 1, self.num_bins, "time"]);
            if serde_json::Value::from(adv.shape.clone()) != expected {
                return Err(mismatch(
                    if adv.name == LOCK_INPUT {
                        "inputs.lock"
                    } else {
                        "inputs.advance"
                    },
                    format!("shape {expected}"),
                    format!("shape {}", serde_json::Value::from(adv.shape.clone())),
                ));
            }
        }
        Ok(())
    }

    /// The single `phase` output and the control vector's length.
    fn validate_outputs(&self, mismatch: &Mismatch) -> Result<(), InferError> {
        let outs: Vec<&str> = self.outputs.iter().map(|t| t.name.as_str()).collect();
        if outs != ["phase"] {
            return Err(mismatch(
                "outputs",
                "[\"phase\"]".into(),
                format!("{outs:?}"),
            ));
        }
        let total: usize = self.controls.iter().map(|c| c.size).sum();
        if total != self.n_controls {
            return Err(mismatch(
                "n_controls",
                format!("{total} (sum of control sizes)"),
                self.n_controls.to_string(),
            ));
        }
        Ok(())
    }

    /// Each control's name, transform and size.
    fn validate_controls(&self, mismatch: &Mismatch) -> Result<(), InferError> {
        for c in &self.controls {
            use {ControlName as N, ControlTransform as T};
            let ok = match (c.name, c.transform) {
                (N::Stretch, T::Log2) | (N::Pitch, T::Divide) => c.size == 1,
                (N::Style, T::OneHot) => c.size == c.values.len() && !c.values.is_empty(),
                _ => false,
            };
            if !ok {
                return Err(mismatch(
                    "controls",
                    "stretch/log2, pitch/divide or style/one_hot with matching size".into(),
                    format!("{:?}/{:?} of size {}", c.name, c.transform, c.size),
                ));
            }
            if c.transform == ControlTransform::Divide && c.divisor.unwrap_or(0.0) == 0.0 {
                return Err(mismatch(
                    "controls.divisor",
                    "non-zero".into(),
                    format!("{:?}", c.divisor),
                ));
            }
        }
        Ok(())
    }
}

/// Checks the `step` entry: a plain `.onnx` file name other than `model.onnx`, one frame per
/// call, and states of `float32` `["batch", c, f, t]` with distinct names that are not the
/// graph's other inputs and outputs.
fn validate_step(step: &StepSpec, mismatch: &Mismatch) -> Result<(), InferError> {
    let f = &step.file;
    if f.is_empty()
        || f.contains(['/', '\\'])
        || f.starts_with('.')
        || !f.ends_with(".onnx")
        || f == "model.onnx"
    {
        return Err(mismatch(
            "step.file",
            "a file name in the bundle folder ending in .onnx, not model.onnx".into(),
            format!("{f:?}"),
        ));
    }
    if step.frames != 1 {
        return Err(mismatch("step.frames", "1".into(), step.frames.to_string()));
    }
    let mut names: Vec<&str> = vec!["mag", "control", ADVANCE_INPUT, LOCK_INPUT, "phase"];
    for s in &step.states {
        if s.dims().is_none() {
            return Err(mismatch(
                "step.states",
                "shape [\"batch\", channels, bins, frames] (positive integers)".into(),
                format!(
                    "{} of shape {}",
                    s.input,
                    serde_json::Value::from(s.shape.clone())
                ),
            ));
        }
        for name in [s.input.as_str(), s.output.as_str()] {
            if name.is_empty() || names.contains(&name) {
                return Err(mismatch(
                    "step.states",
                    "distinct non-empty state names other than mag, control, advance, lock, phase"
                        .into(),
                    format!("{name:?} used twice"),
                ));
            }
            names.push(name);
        }
    }
    Ok(())
}
