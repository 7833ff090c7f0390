//! Offline rendering of a whole clip: latency compensated, exact output length.

use crate::classical::ClassicalPhaseEngine;
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
    let len = input.first().map_or(0, Vec::len);
    if input.iter().any(|c| c.len() != len) {
        return Err(DspError::Channels {
            expected: "channels of equal length".into(),
            got: format!("{:?}", input.iter().map(Vec::len).collect::<Vec<_>>()),
        });
    }
    let mut st = build_stretcher(settings, input.len(), engine)?;
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

/// The streaming counterpart of [`render_offline`]: input is pushed in chunks of any size and
/// output comes out as soon as it is final, so memory does not grow with the clip. The
/// output is bit-identical to [`render_offline`] on the concatenated input: latency
/// compensated (input time 0 on output frame 0) and, after [`finish`](Self::finish), exactly
/// `round(len × stretch)` frames per channel, where `len` is the number of input frames
/// pushed (the length need not be known in advance).
pub struct OfflineStream {
    stretcher: Stretcher,
    stretch: f64,
    /// Output frames before input time 0, dropped.
    skip: usize,
    /// Input frames pushed.
    consumed: u64,
    /// Output frames dropped so far (up to `skip`).
    skipped: usize,
    /// Output frames handed out.
    emitted: u64,
    /// Output pulled from the chain, not yet handed out (it may lie past the final length).
    held: Vec<Vec<f32>>,
    scratch: Vec<Vec<f32>>,
}

impl OfflineStream {
    /// Builds the chain for `channels` channels.
    ///
    /// # Errors
    /// Out-of-range settings, 0 or more than 8 channels, or an engine for another number of
    /// bins.
    pub fn new(
        settings: &RenderSettings,
        channels: usize,
        engine: Box<dyn PhaseEngine>,
    ) -> Result<Self, DspError> {
        let stretcher = build_stretcher(settings, channels, engine)?;
        let skip = stretcher.output_offset().round() as usize;
        Ok(Self {
            stretcher,
            stretch: settings.stretch,
            skip,
            consumed: 0,
            skipped: 0,
            emitted: 0,
            held: vec![Vec::new(); channels],
            scratch: vec![vec![0.0; 8192]; channels],
        })
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.held.len()
    }

    /// Input frames pushed so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Non-finite input samples (NaN/Inf) treated as silence so far.
    pub fn nonfinite_samples(&self) -> u64 {
        self.stretcher.nonfinite_samples()
    }

    /// Feeds `input` (one slice per channel, equal lengths) and appends to `out[c]` the
    /// output frames that are now final.
    pub fn push(&mut self, input: &[&[f32]], out: &mut [Vec<f32>]) {
        let len = input.first().map_or(0, |c| c.len());
        self.feed(input);
        self.consumed += len as u64;
        let limit = self.final_len();
        self.release(limit, out);
    }

    /// Ends the input: feeds silence until the output is complete and appends the rest of
    /// it to `out[c]`. Returns the number of non-finite input samples.
    pub fn finish(mut self, out: &mut [Vec<f32>]) -> u64 {
        let target = self.final_len();
        let zeros = vec![0.0f32; STEP];
        let silence = vec![&zeros[..]; self.channels()];
        while self.emitted + (self.held[0].len() as u64) < target {
            self.feed(&silence);
        }
        self.release(target, out);
        self.stretcher.nonfinite_samples()
    }

    /// `round(consumed × stretch)`, as [`render_offline`] computes the output length.
    fn final_len(&self) -> u64 {
        (self.consumed as f64 * self.stretch).round() as u64
    }

    /// Pushes all of `input` through the chain, pulling its output into `held`.
    fn feed(&mut self, input: &[&[f32]]) {
        let len = input.first().map_or(0, |c| c.len());
        let mut used = 0;
        while used < len {
            let rest: Vec<&[f32]> = input.iter().map(|c| &c[used..]).collect();
            used += self.stretcher.push(&rest);
            self.drain();
        }
    }

    /// Pulls everything ready, dropping the first `skip` frames.
    fn drain(&mut self) {
        loop {
            let mut outs: Vec<&mut [f32]> = self.scratch.iter_mut().map(|v| &mut v[..]).collect();
            let n = self.stretcher.pull(&mut outs);
            if n == 0 {
                break;
            }
            let drop = (self.skip - self.skipped).min(n);
            self.skipped += drop;
            for (h, s) in self.held.iter_mut().zip(&self.scratch) {
                h.extend_from_slice(&s[drop..n]);
            }
        }
    }

    /// Moves held frames to `out` up to output frame `limit`.
    fn release(&mut self, limit: u64, out: &mut [Vec<f32>]) {
        let n = (limit.saturating_sub(self.emitted) as usize).min(self.held[0].len());
        for (h, o) in self.held.iter_mut().zip(out.iter_mut()) {
            o.extend(h.drain(..n));
        }
        self.emitted += n as u64;
    }
}

/// Checks `settings` and builds the chain for an offline render of `channels` channels, its
/// controls set (the pitch range is the single pitch asked for).
fn build_stretcher(
    settings: &RenderSettings,
    channels: usize,
    engine: Box<dyn PhaseEngine>,
) -> Result<Stretcher, DspError> {
    check_range("stretch", settings.stretch, MIN_STRETCH, MAX_STRETCH, "")?;
    check_range(
        "pitch",
        settings.pitch_semitones,
        MIN_PITCH_SEMITONES,
        MAX_PITCH_SEMITONES,
        " semitones",
    )?;
    let config = StretcherConfig {
        sample_rate: settings.sample_rate,
        channels,
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
    Ok(st)
}

/// The classical engine for a given FFT size, boxed for [`render_offline`].
pub fn classical_engine(n_fft: usize) -> Box<dyn PhaseEngine> {
    Box::new(ClassicalPhaseEngine::new(n_fft / 2 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(channels: usize, len: usize) -> Vec<Vec<f32>> {
        (0..channels)
            .map(|c| {
                (0..len)
                    .map(|n| {
                        let t = n as f32 / 48_000.0;
                        let click = if n % 7_919 == 0 { 0.5 } else { 0.0 };
                        0.3 * (std::f32::consts::TAU * (220.0 + 110.0 * c as f32) * t).sin() + click
                    })
                    .collect()
            })
            .collect()
    }

    /// Pushes `input` in chunks whose sizes cycle through `sizes`.
    fn stream(input: &[Vec<f32>], settings: &RenderSettings, sizes: &[usize]) -> Vec<Vec<f32>> {
        let mut s = OfflineStream::new(settings, input.len(), classical_engine(2048)).unwrap();
        let mut out = vec![Vec::new(); input.len()];
        let len = input[0].len();
        let mut pos = 0;
        for &size in sizes.iter().cycle() {
            if pos >= len {
                break;
            }
            let end = (pos + size).min(len);
            let chunk: Vec<&[f32]> = input.iter().map(|c| &c[pos..end]).collect();
            s.push(&chunk, &mut out);
            pos = end;
        }
        s.finish(&mut out);
        out
    }

    #[test]
    fn stream_equals_whole_clip_render_for_any_chunking() {
        let input = signal(2, 48_000 + 321);
        for (stretch, pitch) in [(1.0, 0.0), (4.0, 0.0), (0.25, 0.0), (1.3, 3.0), (0.8, -7.5)] {
            let settings = RenderSettings {
                stretch,
                pitch_semitones: pitch,
                ..RenderSettings::default()
            };
            let whole = render_offline(&input, &settings, classical_engine(2048), &mut |_, _| {})
                .unwrap()
                .channels;
            for sizes in [&[1usize, 4095, 17][..], &[1152], &[65_536]] {
                let streamed = stream(&input, &settings, sizes);
                assert_eq!(
                    streamed, whole,
                    "stretch {stretch} pitch {pitch} chunks {sizes:?}"
                );
            }
        }
    }

    #[test]
    fn stream_of_nothing_is_empty() {
        let s = OfflineStream::new(&RenderSettings::default(), 1, classical_engine(2048)).unwrap();
        let mut out = vec![Vec::new()];
        assert_eq!(s.finish(&mut out), 0);
        assert!(out[0].is_empty());
    }
}
