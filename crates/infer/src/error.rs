//! Errors of the inference layer. Every message names the file or field and what was
//! expected, so a user can fix a broken bundle.

use std::path::PathBuf;

/// Why a model bundle or backend could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// A bundle file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `model.json` is not valid JSON or lacks a field.
    #[error("{source_name}: invalid model.json: {message}")]
    Metadata {
        /// Where the metadata came from (a path or `embedded default`).
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// A metadata value does not fit what the runtime supports.
    #[error("{source_name}: {field} is {got}, expected {expected}")]
    Mismatch {
        /// Where the metadata came from.
        source_name: String,
        /// The field.
        field: &'static str,
        /// What the runtime needs.
        expected: String,
        /// What the bundle says.
        got: String,
    },
    /// The ONNX graph could not be loaded or run.
    #[error("{backend} backend: {message}")]
    Backend {
        /// Backend name (`tract`, `ort`).
        backend: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The requested backend was not compiled in or its runtime library is missing.
    #[error("backend '{0}' is not available: {1}")]
    Unavailable(String, String),
}

impl InferError {
    pub(crate) fn backend(backend: &'static str, e: impl std::fmt::Display) -> Self {
        Self::Backend {
            backend,
            message: format!("{e:#}"),
        }
    }
}
