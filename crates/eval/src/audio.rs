//! WAV reading/writing (mono, 32-bit float) and whole-clip resampling (rubato).

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

/// Resamples a whole clip from `from_hz` to `to_hz` with rubato's FFT resampler
/// (`process_all`: its delay removed, the output `round(len × to / from)` samples long). Not
/// real-time; brings espeak-ng's 22.05 kHz speech and FluidSynth renders to 48 kHz.
///
/// # Errors
/// [`EvalError::Resample`] if rubato refuses the rates.
pub fn resample(input: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>> {
    use rubato::audioadapter::Adapter;
    use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
    use rubato::{Fft, FixedSync, Resampler};
    if from_hz == to_hz || input.is_empty() {
        return Ok(input.to_vec());
    }
    let err = |e: Box<dyn std::error::Error + Send + Sync>| EvalError::Resample {
        from_hz,
        to_hz,
        source: e,
    };
    let mut r = Fft::<f32>::new(from_hz as usize, to_hz as usize, 1024, 1, FixedSync::Both)
        .map_err(|e| err(e.into()))?;
    let channels = [input.to_vec()];
    let buffer =
        SequentialSliceOfVecs::new(&channels[..], 1, input.len()).map_err(|e| err(e.into()))?;
    let out = r
        .process_all(&buffer, input.len(), None)
        .map_err(|e| err(e.into()))?;
    let frames = out.frames();
    let mut audio = out.take_data();
    audio.truncate(frames);
    let want = (input.len() as f64 * f64::from(to_hz) / f64::from(from_hz)).round() as usize;
    audio.resize(want, 0.0);
    Ok(audio)
}

/// Cuts or zero-pads `audio` to exactly `len` samples; returns the signed number of
/// samples added (positive) or removed (negative).
pub fn fit_length(audio: &mut Vec<f32>, len: usize) -> i64 {
    let delta = len as i64 - audio.len() as i64;
    audio.resize(len, 0.0);
    delta
}
