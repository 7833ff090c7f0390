//! WAV reading and writing (32-bit float) with atomic writes: every file is written under a
//! temporary name in its own folder (a [`tempfile::TempPath`], removed if the write fails or
//! the build stops) and renamed into place when complete.

use std::path::Path;

use crate::error::{DatasetError, Result};

/// Suffix of files being written; a file with this suffix is never part of a finished dataset
/// and is deleted when a build starts.
pub const PARTIAL_SUFFIX: &str = ".partial.wav";

/// A new, empty temporary file `<stem>-XXXXXX.partial.wav` in `final_path`'s folder, for
/// `final_path` to be written under (by this crate or by an external tool given its path);
/// deleted when dropped unless [`persist`](tempfile::TempPath::persist)ed onto `final_path`.
/// One killed by a signal is deleted by the next build ([`PARTIAL_SUFFIX`]).
///
/// # Errors
/// [`DatasetError::Io`] if the folder is not writable.
pub fn partial_file(final_path: &Path) -> Result<tempfile::TempPath> {
    let stem = final_path
        .file_stem()
        .map(|s| format!("{}-", s.to_string_lossy()))
        .unwrap_or_default();
    let dir = match final_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(&stem)
        .suffix(PARTIAL_SUFFIX)
        .tempfile_in(dir)
        .map(tempfile::NamedTempFile::into_temp_path)
        .map_err(|e| DatasetError::io(dir, e))
}

/// Moves a finished temporary file onto `path`.
///
/// # Errors
/// [`DatasetError::Io`] naming `path`.
pub fn persist(tmp: tempfile::TempPath, path: &Path) -> Result<()> {
    tmp.persist(path)
        .map_err(|e| DatasetError::io(path, e.error))
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
/// [`partial_file`] and a rename, so `path` is either absent, the old file, or complete.
///
/// # Errors
/// [`DatasetError::Audio`] naming the file.
pub fn write_wav_atomic(
    path: &Path,
    sample_rate: u32,
    channels: u16,
    samples: &[f32],
) -> Result<()> {
    let tmp = partial_file(path)?;
    write_wav(&tmp, sample_rate, channels, samples)?;
    persist(tmp, path)
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

/// Writes `bytes` to `path` through a temporary file `.<name>.XXXXXX.tmp` in the same folder
/// (removed on failure) and a rename.
///
/// # Errors
/// [`DatasetError::Io`] naming the file.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| DatasetError::io(dir, e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.flush())
        .map_err(|e| DatasetError::io(tmp.path(), e))?;
    tmp.persist(path)
        .map_err(|e| DatasetError::io(path, e.error))?;
    Ok(())
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
    fn partial_files_sit_next_to_their_target_and_vanish_unless_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a-b.wav");
        let tmp = partial_file(&target).unwrap();
        let name = tmp.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("a-b-") && name.ends_with(PARTIAL_SUFFIX),
            "{name}"
        );
        assert_eq!(tmp.parent(), Some(dir.path()));
        let path = tmp.to_path_buf();
        drop(tmp);
        assert!(!path.exists());
        write_wav_atomic(&target, 48_000, 1, &[0.5, -0.5]).unwrap();
        write_file_atomic(&dir.path().join("c.toml"), b"x = 1\n").unwrap();
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a-b.wav", "c.toml"]);
        assert_eq!(read_wav(&target).unwrap().1, [0.5, -0.5]);
    }

    #[test]
    fn rms_levels() {
        assert_eq!(rms_dbfs(&[]), f64::NEG_INFINITY);
        assert!((rms_dbfs(&[1.0, -1.0]) - 0.0).abs() < 1e-9);
        assert!((rms_dbfs(&[0.1; 8]) + 20.0).abs() < 1e-6);
    }
}
