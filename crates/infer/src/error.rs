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

/// Why a [`Processor`](crate::Processor) could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    /// The sample rate cannot be converted to the engine's 48 kHz.
    #[error("sample rate {0} Hz is not supported (about 190 Hz to 6.144 MHz)")]
    SampleRate(f64),
    /// Channels outside 1..=8.
    #[error("{0} channels: the processor takes 1 to 8")]
    Channels(usize),
    /// The chain refused its configuration.
    #[error(transparent)]
    Dsp(#[from] xodvox_dsp::DspError),
}

/// Why a model cannot run in the real-time [`Processor`](crate::Processor).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// The model was trained at another rate than the engine's.
    #[error("it is a {0} Hz model; the engine runs at 48000 Hz")]
    Rate(u32),
    /// Another STFT framing.
    #[error("its STFT is {n_fft}/{hop} ({bins} bins), the engine's 2048/512 (1025 bins)")]
    Stft {
        /// FFT size of the model.
        n_fft: usize,
        /// Hop of the model.
        hop: usize,
        /// Bins of the model.
        bins: usize,
    },
}
