//! Conversion of any input (WAV/FLAC/OGG, any rate, any channel count) to the dataset's rate and
//! channel count as 32-bit float WAV, with SoX's very-high-quality resampler (`rate -v`).

use std::path::Path;
use std::time::Duration;

use crate::tools::{run, RunError};

/// The SoX command line that converts `input` to `output` (a `.wav` path): 32-bit float,
/// `channels` channels (mono is duplicated, more than two are mixed down), `sample_rate` Hz.
pub fn convert_command(
    input: &Path,
    output: &Path,
    sample_rate: u32,
    channels: u16,
) -> Vec<String> {
    vec![
        "sox".to_owned(),
        "-V1".to_owned(),
        input.to_string_lossy().into_owned(),
        "-e".to_owned(),
        "floating-point".to_owned(),
        "-b".to_owned(),
        "32".to_owned(),
        "-c".to_owned(),
        channels.to_string(),
        output.to_string_lossy().into_owned(),
        "rate".to_owned(),
        "-v".to_owned(),
        sample_rate.to_string(),
    ]
}

/// Converts `input` into `output` with [`convert_command`]. The input is only read.
///
/// # Errors
/// [`RunError`] when SoX cannot be started, fails (unreadable or corrupt input) or times out.
pub fn convert(
    input: &Path,
    output: &Path,
    sample_rate: u32,
    channels: u16,
    timeout: Duration,
) -> Result<(), RunError> {
    let argv = convert_command(input, output, sample_rate, channels);
    let cwd = output.parent().unwrap_or_else(|| Path::new("."));
    run(&argv, cwd, timeout)
}
