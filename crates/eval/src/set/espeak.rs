//! The speech clip of the built-in set, spoken by espeak-ng.

use std::path::Path;
use std::process::{Command, Stdio};

use super::{Category, Clip, Truth, SAMPLE_RATE};
use crate::audio::{read_wav_mono, resample};
use crate::error::{io_err, EvalError, Result};

/// Speaks a fixed sentence with espeak-ng (deterministic for one espeak-ng version), resamples
/// it to 48 kHz and cuts or pads it to `seconds`.
pub(super) fn speech_clip(program: &Path, seconds: f64) -> Result<Clip> {
    let dir = tempfile::tempdir().map_err(io_err(std::env::temp_dir()))?;
    let wav = dir.path().join("speech.wav");
    let text = "The quick brown fox jumps over the lazy dog, then sleeps.";
    let output = Command::new(program)
        .args(["-v", "en-us", "-s", "160", "-w"])
        .arg(&wav)
        .arg(text)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| EvalError::Tool {
            tool: program.display().to_string(),
            message: e.to_string(),
        })?;
    if !output.status.success() {
        return Err(EvalError::Tool {
            tool: program.display().to_string(),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    let (audio, sr) = read_wav_mono(&wav)?;
    let mut audio = resample(&audio, sr, SAMPLE_RATE)?;
    let peak = audio.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-9);
    audio.iter_mut().for_each(|v| *v *= 0.7 / peak);
    audio.resize((seconds * f64::from(SAMPLE_RATE)).round() as usize, 0.0);
    Ok(Clip {
        id: "speech-en".into(),
        category: Category::Speech,
        sample_rate: SAMPLE_RATE,
        audio,
        truth: Truth::Unknown,
        pitch_segments: Vec::new(),
        tasks: None,
        source: format!(
            "{} -v en-us -s 160 \"{text}\", resampled {sr}→48000 Hz",
            program.display()
        ),
        style: None,
    })
}
