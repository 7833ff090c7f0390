//! WAV reading/writing (mono, 32-bit float) and a small windowed-sinc resampler.

use std::path::Path;

use crate::error::{EvalError, Result};

/// Reads the first channel of a WAV file as `f32` in −1..1 and returns it with the sample
/// rate in Hz.
///
/// # Errors
/// [`EvalError::Wav`] if the file cannot be opened or decoded.
pub fn read_wav_mono(path: &Path) -> Result<(Vec<f32>, u32)> {
    let wav_err = |e: hound::Error| EvalError::Wav {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut reader = hound::WavReader::open(path).map_err(wav_err)?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let all: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<std::result::Result<_, _>>()
            .map_err(wav_err)?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<std::result::Result<_, _>>()
                .map_err(wav_err)?
        }
    };
    Ok((
        all.into_iter().step_by(channels).collect(),
        spec.sample_rate,
    ))
}

/// Writes `samples` as a mono 32-bit float WAV file.
///
/// # Errors
/// [`EvalError::Wav`] if the file cannot be written.
pub fn write_wav_mono(path: &Path, samples: &[f32], sample_rate: u32) -> Result<()> {
    let wav_err = |e: hound::Error| EvalError::Wav {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(wav_err)?;
    for &s in samples {
        writer.write_sample(s).map_err(wav_err)?;
    }
    writer.finalize().map_err(wav_err)
}

/// Resamples `input` from `from_hz` to `to_hz` with a Hann-windowed sinc of ±32 taps,
/// cut off at the lower of the two Nyquist frequencies. Not real-time; used to bring
/// espeak-ng's 22.05 kHz speech to 48 kHz.
pub fn resample(input: &[f32], from_hz: u32, to_hz: u32) -> Vec<f32> {
    if from_hz == to_hz {
        return input.to_vec();
    }
    const TAPS: isize = 32;
    let step = f64::from(from_hz) / f64::from(to_hz);
    let cutoff = (f64::from(to_hz) / f64::from(from_hz)).min(1.0) * 0.95;
    let out_len = (input.len() as f64 / step).round() as usize;
    (0..out_len)
        .map(|n| {
            let t = n as f64 * step;
            let centre = t.floor() as isize;
            let mut acc = 0.0f64;
            for k in centre - TAPS + 1..=centre + TAPS {
                if k < 0 || k as usize >= input.len() {
                    continue;
                }
                let x = t - k as f64;
                let sinc = if x.abs() < 1e-12 {
                    1.0
                } else {
                    (std::f64::consts::PI * x * cutoff).sin() / (std::f64::consts::PI * x)
                };
                let w = 0.5 + 0.5 * (std::f64::consts::PI * x / TAPS as f64).cos();
                acc += f64::from(input[k as usize]) * sinc * w;
            }
            acc as f32
        })
        .collect()
}

/// Cuts or zero-pads `audio` to exactly `len` samples; returns the signed number of
/// samples added (positive) or removed (negative).
pub fn fit_length(audio: &mut Vec<f32>, len: usize) -> i64 {
    let delta = len as i64 - audio.len() as i64;
    audio.resize(len, 0.0);
    delta
}
