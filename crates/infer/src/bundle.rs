//! Model bundles: `model.onnx` + `model.json` (+ the step graph `model.step.onnx` when
//! `model.json` declares one) from a folder or from embedded bytes.

use std::path::Path;
use std::sync::Arc;

use crate::error::InferError;
use crate::meta::ModelMeta;

/// A validated model: the ONNX bytes and their metadata.
#[derive(Debug, Clone)]
pub struct ModelBundle {
    /// Parsed and validated `model.json`.
    pub meta: Arc<ModelMeta>,
    /// The ONNX graph, as stored.
    pub onnx: Arc<[u8]>,
    /// The one-frame step graph (`model.json` `step.file`), when the bundle has one.
    pub step_onnx: Option<Arc<[u8]>>,
    /// Where it came from (a folder path, or `embedded default`), for messages.
    pub source: String,
}

impl ModelBundle {
    /// Loads `DIR/model.json`, `DIR/model.onnx` and the step graph `model.json` declares.
    ///
    /// # Errors
    /// A missing or unreadable file ([`InferError::Io`] naming it, the step graph included),
    /// invalid metadata, or an ONNX file that is empty or not a protobuf.
    pub fn from_dir(dir: &Path) -> Result<Self, InferError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| InferError::Io { path, source })
        };
        let json = read("model.json")?;
        let onnx = read("model.onnx")?;
        let json = String::from_utf8(json).map_err(|_| InferError::Metadata {
            source_name: dir.join("model.json").display().to_string(),
            message: "not UTF-8 text".into(),
        })?;
        let source = dir.display().to_string();
        let meta = ModelMeta::parse(&json, &source)?;
        let step = match &meta.step {
            Some(step) => Some(read(&step.file)?),
            None => None,
        };
        Self::validated(meta, &onnx, step.as_deref(), &source)
    }

    /// Builds a bundle without a step graph from in-memory files (e.g. `include_bytes!`).
    ///
    /// # Errors
    /// Invalid metadata, metadata that declares a step graph (use
    /// [`ModelBundle::from_bytes_with_step`]), or an ONNX payload that cannot be a model.
    pub fn from_bytes(onnx: &[u8], json: &str, source: &str) -> Result<Self, InferError> {
        Self::from_bytes_with_step(onnx, None, json, source)
    }

    /// Builds a bundle from in-memory files, with the step graph when `model.json` declares
    /// one.
    ///
    /// # Errors
    /// Invalid metadata; a step graph declared but not given, or given but not declared; an
    /// ONNX payload that cannot be a model.
    pub fn from_bytes_with_step(
        onnx: &[u8],
        step_onnx: Option<&[u8]>,
        json: &str,
        source: &str,
    ) -> Result<Self, InferError> {
        let meta = ModelMeta::parse(json, source)?;
        Self::validated(meta, onnx, step_onnx, source)
    }

    fn validated(
        meta: ModelMeta,
        onnx: &[u8],
        step_onnx: Option<&[u8]>,
        source: &str,
    ) -> Result<Self, InferError> {
        check_protobuf(onnx, source, "model.onnx")?;
        match (&meta.step, step_onnx) {
            (Some(_), Some(step)) => {
                check_protobuf(step, source, "step graph (model.json step.file)")?
            }
            (None, None) => {}
            (Some(spec), None) => {
                return Err(InferError::Mismatch {
                    source_name: source.to_string(),
                    field: "step.file",
                    expected: format!("the step graph {} that model.json declares", spec.file),
                    got: "no step graph".into(),
                })
            }
            (None, Some(_)) => {
                return Err(InferError::Mismatch {
                    source_name: source.to_string(),
                    field: "step",
                    expected: "a step entry describing the step graph that was given".into(),
                    got: "none in model.json".into(),
                })
            }
        }
        Ok(Self {
            meta: Arc::new(meta),
            onnx: onnx.into(),
            step_onnx: step_onnx.map(Into::into),
            source: source.to_string(),
        })
    }

    /// The same model without its step graph: the runtime then feeds windows of
    /// `context_frames` frames to `model.onnx` every hop (the path of bundles without one).
    pub fn without_step(&self) -> Self {
        let mut meta = (*self.meta).clone();
        meta.step = None;
        Self {
            meta: Arc::new(meta),
            onnx: self.onnx.clone(),
            step_onnx: None,
            source: self.source.clone(),
        }
    }
}

/// Refuses bytes that cannot be an ONNX `ModelProto`.
fn check_protobuf(bytes: &[u8], source: &str, field: &'static str) -> Result<(), InferError> {
    // An ONNX ModelProto starts with field 1 (ir_version, varint): tag byte 0x08.
    if bytes.len() < 16 || bytes[0] != 0x08 {
        return Err(InferError::Mismatch {
            source_name: source.to_string(),
            field,
            expected: "an ONNX protobuf".into(),
            got: format!("{} bytes that are not one", bytes.len()),
        });
    }
    Ok(())
}

/// ONNX graph of the model embedded in the binaries (`models/default/`).
const EMBEDDED_ONNX: &[u8] = include_bytes!("../../../models/default/model.onnx");
/// Step graph of the model embedded in the binaries (`models/default/`).
const EMBEDDED_STEP_ONNX: &[u8] = include_bytes!("../../../models/default/model.step.onnx");
/// Metadata of the model embedded in the binaries (`models/default/`).
const EMBEDDED_JSON: &str = include_str!("../../../models/default/model.json");

impl ModelBundle {
    /// The shipped default model (`models/default/`, see its README), compiled into the
    /// binaries so the plugin and the CLI work with no files beside them.
    ///
    /// # Errors
    /// Only if the embedded files are invalid (a build error in practice; tested).
    pub fn embedded_default() -> Result<Self, InferError> {
        Self::from_bytes_with_step(
            EMBEDDED_ONNX,
            Some(EMBEDDED_STEP_ONNX),
            EMBEDDED_JSON,
            "embedded default",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::ModelBundle;

    #[test]
    fn embedded_default_is_valid() {
        let bundle = ModelBundle::embedded_default().expect("embedded bundle");
        assert_eq!(bundle.source, "embedded default");
        assert_eq!(bundle.meta.num_bins, bundle.meta.n_fft / 2 + 1);
        assert!(
            !bundle.meta.test_fixture,
            "the shipped model is a trained one"
        );
        assert!(bundle.meta.has_advance());
        assert!(
            bundle.step_onnx.is_some(),
            "the shipped model has its step graph"
        );
        let window = bundle.without_step();
        assert!(window.step_onnx.is_none() && !window.meta.has_step());
    }
}
