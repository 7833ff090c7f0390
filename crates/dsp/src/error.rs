//! Typed errors of the DSP layer. Construction and parameter validation can fail; the
//! streaming `process`/`push`/`pull` calls never do.

/// Everything that can go wrong when configuring the DSP chain.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum DspError {
    /// A numeric parameter is NaN, infinite or outside its allowed range.
    #[error("{name} = {value} is out of range: allowed {min} to {max}{unit}")]
    OutOfRange {
        /// Parameter name as the user knows it (e.g. `stretch`).
        name: &'static str,
        /// The rejected value.
        value: f64,
        /// Smallest allowed value.
        min: f64,
        /// Largest allowed value.
        max: f64,
        /// Unit suffix for the message (e.g. `" semitones"`), may be empty.
        unit: &'static str,
    },
    /// The FFT size / hop combination is not usable.
    #[error("invalid STFT configuration: n_fft = {n_fft}, hop = {hop}: {reason}")]
    InvalidStft {
        /// FFT size in samples.
        n_fft: usize,
        /// Synthesis hop in samples.
        hop: usize,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Channel count outside 1..=8 or buffers of different lengths.
    #[error("invalid channel layout: expected {expected}, got {got}")]
    Channels {
        /// What was expected.
        expected: String,
        /// What was given.
        got: String,
    },
    /// The resampler could not be built (a reason of XodVox's own: channel count, chunk sizes).
    #[error("resampler construction failed: {0}")]
    Resampler(String),
    /// rubato refused to build a resampler for these rates (`rates`, e.g. `44100 Hz <-> 48000 Hz`).
    #[error("resampler construction failed: {rates}: {source}")]
    RubatoConstruction {
        /// The conversion asked for.
        rates: String,
        /// rubato's reason.
        #[source]
        source: rubato::ResamplerConstructionError,
    },
    /// rubato refused a resampling ratio.
    #[error("resampler ratio refused: {0}")]
    RubatoRatio(#[source] rubato::ResampleError),
    /// A phase engine does not fit this STFT configuration.
    #[error("phase engine '{engine}' expects {expected} bins, the STFT has {got}")]
    EngineBins {
        /// Engine name.
        engine: String,
        /// Bins the engine was built for.
        expected: usize,
        /// Bins of the STFT.
        got: usize,
    },
}

/// Checks that `value` is finite and inside `[min, max]`.
///
/// # Errors
/// [`DspError::OutOfRange`] naming the parameter, value and range.
pub fn check_range(
    name: &'static str,
    value: f64,
    min: f64,
    max: f64,
    unit: &'static str,
) -> Result<f64, DspError> {
    if value.is_finite() && value >= min && value <= max {
        Ok(value)
    } else {
        Err(DspError::OutOfRange {
            name,
            value,
            min,
            max,
            unit,
        })
    }
}
