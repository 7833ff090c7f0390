//! Typed errors of the dataset builder. Every message names the file, value or range involved.

use std::path::PathBuf;

/// Everything that can stop a dataset operation as a whole.
///
/// Problems with a single input file or a single generator run do not stop a build: they become
/// [`crate::build::Skipped`] entries of the summary instead.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The configuration file could not be read or parsed.
    #[error("config {path}: {message}")]
    ConfigFile {
        /// The `dataset.toml` file.
        path: PathBuf,
        /// What is wrong (TOML syntax error, unknown key, wrong type).
        message: String,
    },
    /// A configuration value is out of range or inconsistent.
    #[error("config: {0}")]
    InvalidConfig(String),
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The input folder does not exist or is not a folder.
    #[error("input folder {0} does not exist or is not a folder")]
    NoInput(PathBuf),
    /// A tool the operation cannot do without is not installed.
    #[error("`{tool}` not found or not runnable ({detail}); install it: {hint}")]
    ToolMissing {
        /// Program name (`sox`, `rubberband`).
        tool: String,
        /// Why it could not be run.
        detail: String,
        /// How to install it.
        hint: String,
    },
    /// An audio file could not be read or written.
    #[error("{path}: {message}")]
    Audio {
        /// The audio file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A manifest line is malformed.
    #[error("{path}:{line}: {message}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// 1-based line number (0 when the problem concerns the whole file).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The output folder holds a build made with a different configuration.
    #[error(
        "{out} was built with a different configuration (fingerprint {found}, this run {expected}); \
         use another --out folder or the same dataset.toml"
    )]
    ConfigMismatch {
        /// The output folder.
        out: PathBuf,
        /// Fingerprint stored in the folder.
        found: String,
        /// Fingerprint of this run's configuration.
        expected: String,
    },
    /// A `--shard i/N` value is malformed or out of range, or shard manifests do not fit together.
    #[error("shard: {0}")]
    Shard(String),
}

impl DatasetError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = DatasetError> = std::result::Result<T, E>;
