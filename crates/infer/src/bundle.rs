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
