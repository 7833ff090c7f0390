//! Typed errors of the evaluation library.

use std::path::PathBuf;

/// Everything that can go wrong while building a set, running an engine or writing a report.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A WAV file could not be decoded or encoded.
    #[error("{}: {message}", path.display())]
    Wav {
        /// The file.
        path: PathBuf,
        /// What hound reported.
        message: String,
    },
    /// A dataset manifest could not be read (`xodvox_dataset::read_manifest`).
    #[error(transparent)]
    Dataset(#[from] xodvox_dataset::DatasetError),
    /// A dataset manifest row does not describe a usable pair.
    #[error("{}: row {id}: {message}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// The row's id.
        id: String,
        /// What is wrong.
        message: String,
    },
    /// An external tool failed (non-zero exit, unreadable output).
    #[error("{tool}: {message}")]
    Tool {
        /// Program name (`rubberband`, `sox`, `espeak-ng`).
        tool: String,
        /// What happened, with the tool's stderr where there is one.
        message: String,
    },
    /// A clip could not be resampled (rubato refused the rates or the buffer).
    #[error("resampling {from_hz} → {to_hz} Hz: {source}")]
    Resample {
        /// Rate of the clip.
        from_hz: u32,
        /// Rate asked for.
        to_hz: u32,
        /// What rubato reported (construction, buffer or processing error).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The XodVox DSP chain refused the settings.
    #[error(transparent)]
    Dsp(#[from] xodvox_dsp::DspError),
    /// The neural engine could not be loaded.
    #[error(transparent)]
    Infer(#[from] xodvox_infer::InferError),
    /// The real-time processor refused its settings.
    #[error("real-time processor: {0}")]
    Processor(#[from] xodvox_infer::ProcessorError),
    /// A chart or spectrogram could not be drawn.
    #[error("plot {name}: {message}")]
    Plot {
        /// File being drawn.
        name: String,
        /// What plotters reported.
        message: String,
    },
    /// A bad option value (unknown engine name, empty set).
    #[error("{0}")]
    Usage(String),
}

/// Shorthand for `Result<T, EvalError>`.
pub type Result<T> = std::result::Result<T, EvalError>;

/// Attaches a path to an I/O error.
pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> EvalError {
    let path = path.into();
    move |source| EvalError::Io { path, source }
}
