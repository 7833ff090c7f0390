//! Offline rendering of a whole clip: latency compensated, exact output length.

use crate::classic::ClassicPhaseEngine;
use crate::error::{check_range, DspError};
use crate::phase::{Controls, PhaseEngine};
use crate::stft::StftConfig;
use crate::stretcher::{
    PitchMode, Stretcher, StretcherConfig, MAX_PITCH_SEMITONES, MAX_STRETCH, MIN_PITCH_SEMITONES,
    MIN_STRETCH,
};

/// What to do to a clip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenderSettings {
    /// Sample rate of the clip in Hz.
    pub sample_rate: f64,
    /// Duration ratio (2 = twice as long), 0.25..=4.
    pub stretch: f64,
    /// Pitch shift in semitones, cents as a fraction, −24..=+24.
    pub pitch_semitones: f64,
    /// FFT size in samples.
    pub n_fft: usize,
    /// Synthesis hop in samples.
    pub hop: usize,
    /// Style index for learned engines (the model's `style` control); 0 = the first style.
    /// The classical engine ignores it.
    pub style_index: usize,
    /// How the pitch is moved (spectral by default; the resampling path is the older one).
    pub pitch_mode: PitchMode,
}

impl Default for RenderSettings {
    fn default() -> Self {
        Self {
            sample_rate: 48_000.0,
            stretch: 1.0,
            pitch_semitones: 0.0,
            n_fft: 2048,
            hop: 512,
            style_index: 0,
            pitch_mode: PitchMode::Spectral,
        }
    }
}

/// A rendered clip.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderResult {
    /// One vector per channel, each exactly `round(input_len × stretch)` frames.
    pub channels: Vec<Vec<f32>>,
    /// Non-finite input samples (NaN/Inf) that were treated as silence.
    pub nonfinite_samples: u64,
}

/// Input frames fed per step (progress granularity).
const STEP: usize = 4096;

/// Renders a whole clip through the chain with `engine`, compensating the latency so that
/// input time 0 lands on output sample 0 and returning exactly `round(len × stretch)`
/// frames per channel. `progress(done, total)` is called with input frames consumed.
///
/// # Errors
/// Out-of-range settings, 0 or more than 8 channels, channels of different lengths, or an
/// engine for another number of bins.
pub fn render_offline(
    input: &[Vec<f32>],
    settings: &RenderSettings,
    engine: Box<dyn PhaseEngine>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<RenderResult, DspError> {
    check_range("stretch", settings.stretch, MIN_STRETCH, MAX_STRETCH, "")?;
    check_range(
        "pitch",
        settings.pitch_semitones,
        MIN_PITCH_SEMITONES,
        MAX_PITCH_SEMITONES,
        " semitones",
    )?;
    let len = input.first().map_or(0, Vec::len);
    if input.iter().any(|c| c.len() != len) {
        return Err(DspError::Channels {
            expected: "channels of equal length".into(),
            got: format!("{:?}", input.iter().map(Vec::len).collect::<Vec<_>>()),
        });
    }
    let config = StretcherConfig {
        sample_rate: settings.sample_rate,
        channels: input.len(),
        stft: StftConfig {
            n_fft: settings.n_fft,
            hop: settings.hop,
        },
        min_pitch_semitones: settings.pitch_semitones,
        max_pitch_semitones: settings.pitch_semitones,
        pitch_mode: settings.pitch_mode,
    };
    let mut st = Stretcher::new(config, engine)?;
    st.set_controls(Controls {
        stretch: settings.stretch,
        pitch_semitones: settings.pitch_semitones,
        style_index: settings.style_index,
    })?;
    let out_len = (len as f64 * settings.stretch).round() as usize;
    let skip = st.output_offset().round() as usize;
    let wanted = skip + out_len;
    let channels = input.len();
    let mut collected: Vec<Vec<f32>> = vec![Vec::with_capacity(wanted + 8192); channels];
    let mut scratch = vec![vec![0.0f32; 8192]; channels];
    let zeros = vec![0.0f32; STEP];
    let mut pos = 0usize;
    let mut drain = |st: &mut Stretcher, collected: &mut Vec<Vec<f32>>| loop {
        let mut outs: Vec<&mut [f32]> = scratch.iter_mut().map(|v| &mut v[..]).collect();
        let n = st.pull(&mut outs);
        if n == 0 {
            break;
        }
        for (c, s) in collected.iter_mut().zip(&scratch) {
            c.extend_from_slice(&s[..n]);
        }
    };
    while collected[0].len() < wanted {
        let end = (pos + STEP).min(len);
        let chunk: Vec<&[f32]> = if pos < len {
            input.iter().map(|c| &c[pos..end]).collect()
        } else {
            vec![&zeros[..]; channels]
        };
        let mut used = 0;
        let chunk_len = chunk[0].len();
        while used < chunk_len {
            let rest: Vec<&[f32]> = chunk.iter().map(|c| &c[used..]).collect();
            used += st.push(&rest);
            drain(&mut st, &mut collected);
        }
        if pos < len {
            pos = end;
            progress(pos as u64, len as u64);
        }
    }
    let nonfinite_samples = st.nonfinite_samples();
    let channels = collected
        .into_iter()
        .map(|c| c[skip..skip + out_len].to_vec())
        .collect();
    Ok(RenderResult {
        channels,
        nonfinite_samples,
    })
}

/// The classical engine for a given FFT size, boxed for [`render_offline`].
pub fn classic_engine(n_fft: usize) -> Box<dyn PhaseEngine> {
    Box::new(ClassicPhaseEngine::new(n_fft / 2 + 1))
}
