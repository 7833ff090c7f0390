//! WAV reading and writing (32-bit float) with atomic writes: every file is written under a
//! temporary name in its own folder and renamed into place when complete.

use std::path::{Path, PathBuf};

use crate::error::{DatasetError, Result};

/// Suffix of files being written; a file with this suffix is never part of a finished dataset
/// and is deleted when a build starts.
pub const PARTIAL_SUFFIX: &str = ".partial.wav";

/// The temporary name `x.partial.wav` that `x.wav` is written under before the rename.
pub fn partial_path(final_path: &Path) -> PathBuf {
    let stem = final_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    final_path.with_file_name(format!("{stem}{PARTIAL_SUFFIX}"))
}

/// Header facts of a WAV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavInfo {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u16,
    /// Length in frames (samples per channel).
    pub num_frames: u64,
}

fn audio_err(path: &Path, e: impl std::fmt::Display) -> DatasetError {
    DatasetError::Audio {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Reads a WAV header.
///
/// # Errors
/// [`DatasetError::Audio`] naming the file when it is missing or not a readable WAV file.
pub fn wav_info(path: &Path) -> Result<WavInfo> {
    let reader = hound::WavReader::open(path).map_err(|e| audio_err(path, e))?;
    let spec = reader.spec();
    Ok(WavInfo {
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        num_frames: u64::from(reader.duration()),
    })
}

/// Reads a whole WAV file as interleaved `f32` samples in −1..1 (integer PCM is scaled).
///
/// # Errors
/// [`DatasetError::Audio`] naming the file.
pub fn read_wav(path: &Path) -> Result<(WavInfo, Vec<f32>)> {
    let info = wav_info(path)?;
    let mut reader = hound::WavReader::open(path).map_err(|e| audio_err(path, e))?;
    let spec = reader.spec();
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| audio_err(path, e))?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.saturating_sub(1))) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(|e| audio_err(path, e))?
        }
    };
    Ok((info, samples))
}

/// Writes interleaved `f32` samples as a 32-bit float WAV file at `path`, through
/// [`partial_path`] and a rename, so `path` is either absent, the old file, or complete.
///
/// # Errors
/// [`DatasetError::Audio`] naming the file.
pub fn write_wav_atomic(
    path: &Path,
    sample_rate: u32,
    channels: u16,
    samples: &[f32],
) -> Result<()> {
    let tmp = partial_path(path);
    write_wav(&tmp, sample_rate, channels, samples)?;
    std::fs::rename(&tmp, path).map_err(|e| DatasetError::io(path, e))
}

/// Writes a 32-bit float WAV file directly (no rename).
///
/// # Errors
/// [`DatasetError::Audio`] naming the file.
pub fn write_wav(path: &Path, sample_rate: u32, channels: u16, samples: &[f32]) -> Result<()> {
    let spec = hound::WavSpec {
        channels,
        sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(|e| audio_err(path, e))?;
    for &s in samples {
        writer.write_sample(s).map_err(|e| audio_err(path, e))?;
    }
    writer.finalize().map_err(|e| audio_err(path, e))
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
///
/// # Errors
/// [`DatasetError::Io`] naming the file.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| DatasetError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| DatasetError::io(path, e))
}

/// RMS level in dBFS of interleaved samples (−∞ for silence or an empty slice).
pub fn rms_dbfs(samples: &[f32]) -> f64 {
    if samples.is_empty() {
        return f64::NEG_INFINITY;
    }
    let energy: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    10.0 * (energy / samples.len() as f64).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_names() {
        assert_eq!(
            partial_path(Path::new("t/a-b.wav")),
            PathBuf::from("t/a-b.partial.wav")
        );
    }

    #[test]
    fn rms_levels() {
        assert_eq!(rms_dbfs(&[]), f64::NEG_INFINITY);
        assert!((rms_dbfs(&[1.0, -1.0]) - 0.0).abs() < 1e-9);
        assert!((rms_dbfs(&[0.1; 8]) + 20.0).abs() < 1e-6);
    }
}
