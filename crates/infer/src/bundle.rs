//! Model bundles: `model.onnx` + `model.json` from a folder or from embedded bytes.

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
    /// Where it came from (a folder path, or `embedded default`), for messages.
    pub source: String,
}

impl ModelBundle {
    /// Loads `DIR/model.json` and `DIR/model.onnx`.
    ///
    /// # Errors
    /// A missing or unreadable file ([`InferError::Io`] naming it), invalid metadata, or an
    /// ONNX file that is empty or not a protobuf.
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
        Self::from_bytes(&onnx, &json, &dir.display().to_string())
    }

    /// Builds a bundle from in-memory files (e.g. `include_bytes!`).
    ///
    /// # Errors
    /// Invalid metadata or an ONNX payload that cannot be a model.
    pub fn from_bytes(onnx: &[u8], json: &str, source: &str) -> Result<Self, InferError> {
        let meta = ModelMeta::parse(json, source)?;
        // An ONNX ModelProto starts with field 1 (ir_version, varint): tag byte 0x08.
        if onnx.len() < 16 || onnx[0] != 0x08 {
            return Err(InferError::Mismatch {
                source_name: source.to_string(),
                field: "model.onnx",
                expected: "an ONNX protobuf".into(),
                got: format!("{} bytes that are not one", onnx.len()),
            });
        }
        Ok(Self {
            meta: Arc::new(meta),
            onnx: onnx.into(),
            source: source.to_string(),
        })
    }
}

/// ONNX graph of the model embedded in the binaries (`models/default/`).
const EMBEDDED_ONNX: &[u8] = include_bytes!("../../../models/default/model.onnx");
/// Metadata of the model embedded in the binaries (`models/default/`).
const EMBEDDED_JSON: &str = include_str!("../../../models/default/model.json");

impl ModelBundle {
    /// The shipped default model (`models/default/`, see its README), compiled into the
    /// binaries so the plugin and the CLI work with no files beside them.
    ///
    /// # Errors
    /// Only if the embedded files are invalid (a build error in practice; tested).
    pub fn embedded_default() -> Result<Self, InferError> {
        Self::from_bytes(EMBEDDED_ONNX, EMBEDDED_JSON, "embedded default")
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
    }
}
