//! [`Stretcher`]: the complete streaming time-stretch / pitch-shift chain. Two ways to move
//! the pitch ([`PitchMode`]):
//! - [`PitchMode::Spectral`] (the default): the phase vocoder stretches by `stretch` and
//!   moves every frame's spectrum by the pitch ratio in the frequency domain
//!   ([`SpectralShifter`](crate::shift::SpectralShifter)). No resampler: the latency is
//!   `n_fft − 1` samples plus the engine's lag, the same at every pitch.
//! - [`PitchMode::Resample`]: the phase vocoder stretches by `stretch × pitch_ratio`; a
//!   band-limited resampler then plays the result `pitch_ratio` times faster, which
//!   restores the duration and moves the pitch. The latency depends on the pitch range.
//!
//! Two ways to drive it:
//! - push/pull ([`Stretcher::push`], [`Stretcher::pull`]) for offline work at any stretch;
//! - [`Stretcher::process`] for real time (stretch 1): equal-length blocks in and out with a
//!   constant prefill, never allocating.

use crate::error::{check_range, DspError};
use crate::phase::{Controls, PhaseEngine};
use crate::resample::PitchResampler;
use crate::stft::StftConfig;
use crate::vocoder::PhaseVocoder;

/// Shortest allowed duration ratio.
pub const MIN_STRETCH: f64 = 0.25;
/// Longest allowed duration ratio.
pub const MAX_STRETCH: f64 = 4.0;
/// Lowest allowed pitch shift in semitones.
pub const MIN_PITCH_SEMITONES: f64 = -24.0;
/// Highest allowed pitch shift in semitones.
pub const MAX_PITCH_SEMITONES: f64 = 24.0;

/// Converts semitones to a frequency ratio.
pub fn pitch_ratio(semitones: f64) -> f64 {
    (semitones / 12.0).exp2()
}

/// How the chain moves the pitch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PitchMode {
    /// In the frequency domain, frame by frame: constant latency (the default).
    #[default]
    Spectral,
    /// Stretch by the pitch ratio, then resample: latency depends on the pitch range.
    Resample,
}

impl PitchMode {
    /// The name used in reports and on command lines (`spectral`, `resample`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Spectral => "spectral",
            Self::Resample => "resample",
        }
    }
}

/// Construction parameters of a [`Stretcher`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StretcherConfig {
    /// Sample rate in Hz (used by the transient detector's band split).
    pub sample_rate: f64,
    /// Number of channels, 1..=8.
    pub channels: usize,
    /// STFT framing.
    pub stft: StftConfig,
    /// Lowest pitch shift (semitones) that will be asked for while streaming.
    pub min_pitch_semitones: f64,
    /// Highest pitch shift (semitones) that will be asked for while streaming. In
    /// [`PitchMode::Resample`], when both bounds are 0 no resampler is built and the chain
    /// is a pure phase vocoder.
    pub max_pitch_semitones: f64,
    /// How the pitch is moved.
    pub pitch_mode: PitchMode,
}

impl Default for StretcherConfig {
    fn default() -> Self {
        Self {
            sample_rate: 48_000.0,
            channels: 2,
            stft: StftConfig::default(),
            min_pitch_semitones: MIN_PITCH_SEMITONES,
            max_pitch_semitones: MAX_PITCH_SEMITONES,
            pitch_mode: PitchMode::Spectral,
        }
    }
}

/// Fixed-capacity per-channel FIFO of output samples.
struct OutputFifo {
    data: Vec<Vec<f32>>,
    read: usize,
    len: usize,
}

impl OutputFifo {
    fn new(channels: usize, capacity: usize) -> Self {
        Self {
            data: vec![vec![0.0; capacity]; channels],
            read: 0,
            len: 0,
        }
    }
    fn capacity(&self) -> usize {
        self.data[0].len()
    }
    fn free(&self) -> usize {
        self.capacity() - self.len
    }
    fn clear(&mut self) {
        self.read = 0;
        self.len = 0;
    }
    /// Appends `count` frames from `src[c][..count]`, or zeros when `src` is `None`.
    fn write(&mut self, src: Option<&[Vec<f32>]>, count: usize) {
        let cap = self.capacity();
        let count = count.min(self.free());
        let start = (self.read + self.len) % cap;
        for (c, ch) in self.data.iter_mut().enumerate() {
            for i in 0..count {
                ch[(start + i) % cap] = src.map_or(0.0, |s| s[c][i]);
            }
        }
        self.len += count;
    }
    fn read_into(&mut self, out: &mut [&mut [f32]], offset: usize, count: usize) -> usize {
        let cap = self.capacity();
        let count = count.min(self.len);
        for (ch, o) in self.data.iter().zip(out.iter_mut()) {
            for i in 0..count {
                o[offset + i] = ch[(self.read + i) % cap];
            }
        }
        self.read = (self.read + count) % cap;
        self.len -= count;
        count
    }
}

/// Streaming time-stretcher and pitch-shifter. See the module docs.
pub struct Stretcher {
    config: StretcherConfig,
    vocoder: PhaseVocoder,
    resampler: Option<PitchResampler>,
    fifo: OutputFifo,
    controls: Controls,
    /// Most output frames one vocoder frame can add to the FIFO.
    max_frames_per_hop: usize,
    /// Zeros put in front of the output in real-time mode.
    prefill: usize,
    /// Real-time mode: the FIFO had nothing to give (should stay 0 at stretch 1).
    underruns: u64,
    /// Real-time mode: input dropped because the FIFO was full (stretch < 1 only).
    overruns: u64,
    /// Real-time mode: the prefill has been written since the last reset.
    primed: bool,
    /// Resampling ratio (output/input) for the next vocoder frame's output.
    resample_ratio: f64,
}

impl Stretcher {
    /// Builds the chain.
    ///
    /// # Errors
    /// Bad STFT configuration, channels outside 1..=8, pitch bounds outside ±24 semitones or
    /// reversed, a resampler rubato refuses, or an engine for another number of bins.
    pub fn new(config: StretcherConfig, engine: Box<dyn PhaseEngine>) -> Result<Self, DspError> {
        let lo = check_range(
            "min_pitch_semitones",
            config.min_pitch_semitones,
            MIN_PITCH_SEMITONES,
            MAX_PITCH_SEMITONES,
            " semitones",
        )?;
        let hi = check_range(
            "max_pitch_semitones",
            config.max_pitch_semitones,
            lo,
            MAX_PITCH_SEMITONES,
            " semitones",
        )?;
        check_range("sample_rate", config.sample_rate, 8_000.0, 384_000.0, " Hz")?;
        let vocoder = PhaseVocoder::new(config.stft, config.sample_rate, config.channels, engine)?;
        let hop = config.stft.hop;
        let n = config.stft.n_fft;
        let start = 0.0f64.clamp(lo, hi);
        let resampler = if (lo == 0.0 && hi == 0.0) || config.pitch_mode == PitchMode::Spectral {
            None
        } else {
            // Output rate / input rate = 1 / pitch ratio.
            Some(PitchResampler::new(
                config.channels,
                hop,
                1.0 / pitch_ratio(hi),
                1.0 / pitch_ratio(lo),
                1.0 / pitch_ratio(start),
            )?)
        };
        let max_frames_per_hop = resampler.as_ref().map_or(hop, |r| r.output_frames_max());
        // Real-time prefill. The first frame is ready after n/2 input samples, and between
        // frames up to one analysis hop of input is consumed before the frame that pays for
        // it has run, so n/2 − 1 samples must be queued. After that the queue level stays
        // where the first frame left it (each frame outputs as much as the hop before it
        // consumed), so it must also cover the difference between the longest analysis hop
        // of the pitch range and the first one. Finally the resampler holds about half its
        // sinc length of input; when its ratio moves, that backlog becomes more or fewer
        // output samples.
        let jitter = resampler.as_ref().map_or(0, |_| {
            let swing = 1.0 / pitch_ratio(lo) - 1.0 / pitch_ratio(hi);
            ((crate::resample::SINC_LEN as f64 / 2.0 + hop as f64) * swing).ceil() as usize + 8
        });
        let prefill = n / 2 - 1 + jitter;
        let capacity = prefill + 4 * max_frames_per_hop + n;
        let mut s = Self {
            config,
            vocoder,
            resampler,
            fifo: OutputFifo::new(config.channels, capacity),
            controls: Controls::default(),
            max_frames_per_hop,
            prefill,
            underruns: 0,
            overruns: 0,
            primed: false,
            resample_ratio: 1.0 / pitch_ratio(start),
        };
        s.set_controls(Controls {
            pitch_semitones: start,
            ..Controls::default()
        })?;
        s.reset();
        Ok(s)
    }

    /// How the chain moves the pitch (what it was built with; [`PitchMode::Spectral`]
    /// also when both pitch bounds are 0).
    pub fn pitch_mode(&self) -> PitchMode {
        if self.resampler.is_some() {
            PitchMode::Resample
        } else {
            PitchMode::Spectral
        }
    }

    /// The configuration the chain was built with.
    pub fn config(&self) -> &StretcherConfig {
        &self.config
    }

    /// Name of the phase engine.
    pub fn engine_name(&self) -> &str {
        self.vocoder.engine_name()
    }

    /// Controls in force.
    pub fn controls(&self) -> Controls {
        self.controls
    }

    /// Sets stretch, pitch and style. Changes apply from the next frame and glide (the
    /// analysis hop and the resampling ratio move; nothing is cut), so automation never
    /// clicks.
    ///
    /// # Errors
    /// [`DspError::OutOfRange`] for a stretch outside 0.25..=4 or a pitch outside the range
    /// the chain was built for; the previous controls stay in force.
    pub fn set_controls(&mut self, controls: Controls) -> Result<(), DspError> {
        check_range("stretch", controls.stretch, MIN_STRETCH, MAX_STRETCH, "")?;
        check_range(
            "pitch",
            controls.pitch_semitones,
            self.config.min_pitch_semitones,
            self.config.max_pitch_semitones,
            " semitones",
        )?;
        let ratio = pitch_ratio(controls.pitch_semitones);
        self.controls = controls;
        if self.resampler.is_some() {
            self.vocoder
                .set_controls(controls, controls.stretch * ratio, 1.0);
        } else {
            self.vocoder.set_controls(controls, controls.stretch, ratio);
        }
        Ok(())
    }

    /// Number of output samples by which, at the current controls and stretch 1,
    /// [`process`](Self::process) delays its input: prefill + half a frame + the engine's
    /// lag (both scaled by the resampling ratio in [`PitchMode::Resample`], plus the
    /// resampler's delay). In [`PitchMode::Spectral`] it is `n_fft − 1 + lag × hop` at
    /// every pitch. This is what a host must be told.
    pub fn latency_samples(&self) -> usize {
        (self.prefill as f64 + self.output_offset()).round() as usize
    }

    /// Output position (in output samples of the push/pull stream, without prefill) that
    /// holds input time 0 at the current controls: half a frame plus the engine's delay
    /// frames, scaled by the resampling ratio, plus the resampler's own delay.
    pub fn output_offset(&self) -> f64 {
        let half = self.config.stft.n_fft as f64 / 2.0
            + (self.vocoder.latency_frames() * self.config.stft.hop) as f64;
        match &self.resampler {
            None => half,
            Some(r) => half / pitch_ratio(self.controls.pitch_semitones) + r.output_delay() as f64,
        }
    }

    /// Non-finite input samples replaced by silence since the last reset.
    pub fn nonfinite_samples(&self) -> u64 {
        self.vocoder.nonfinite_samples()
    }

    /// Times [`process`](Self::process) had to output silence because no output was ready.
    pub fn underruns(&self) -> u64 {
        self.underruns
    }

    /// Times [`process`](Self::process) dropped input because the output was full.
    pub fn overruns(&self) -> u64 {
        self.overruns
    }

    /// Clears all state and restores the real-time prefill, without allocating.
    pub fn reset(&mut self) {
        self.vocoder.reset();
        if let Some(r) = &mut self.resampler {
            r.reset();
        }
        self.fifo.clear();
        self.underruns = 0;
        self.overruns = 0;
        self.primed = false;
        self.resample_ratio = 1.0 / pitch_ratio(self.controls.pitch_semitones);
    }

    /// Output frames ready to [`pull`](Self::pull).
    pub fn available(&self) -> usize {
        self.fifo.len
    }

    fn run_frame(&mut self) {
        let Self {
            vocoder,
            resampler,
            fifo,
            controls,
            resample_ratio,
            ..
        } = self;
        let block = vocoder.run_frame();
        match resampler {
            None => fifo.write(Some(block), block[0].len()),
            Some(r) => {
                // The input consumed before this frame was decided at the pitch of the
                // previous frame; resampling this frame's output at that same ratio keeps
                // output production equal to input consumption while the pitch moves.
                r.set_ratio(*resample_ratio);
                let (out, n) = r.process(block);
                fifo.write(Some(out), n);
            }
        }
        *resample_ratio = 1.0 / pitch_ratio(controls.pitch_semitones);
    }

    /// Feeds input (one slice per channel, equal lengths) until it is used up or the output
    /// FIFO is too full for another frame; returns the frames consumed. Pull, then push the
    /// rest. Never allocates.
    pub fn push(&mut self, input: &[&[f32]]) -> usize {
        self.push_inner(input, usize::MAX)
    }

    fn push_inner(&mut self, input: &[&[f32]], max_frames: usize) -> usize {
        let len = input.first().map_or(0, |c| c.len());
        let mut used = 0;
        let mut frames = 0;
        while used < len && frames < max_frames {
            if self.fifo.free() < self.max_frames_per_hop {
                break;
            }
            used += self.vocoder.push(input, used);
            if self.vocoder.frame_ready() {
                self.run_frame();
                frames += 1;
            }
        }
        used
    }

    /// Moves up to `output[c].len()` ready frames into `output` and returns how many.
    pub fn pull(&mut self, output: &mut [&mut [f32]]) -> usize {
        let want = output.first().map_or(0, |c| c.len());
        self.fifo.read_into(output, 0, want)
    }

    /// Real-time processing at stretch 1: `output[c][i]` is written for every `i`; the
    /// signal is delayed by [`latency_samples`](Self::latency_samples). Block sizes may
    /// change every call; the output does not depend on them. Never allocates, locks or
    /// blocks. `input` and `output` must have one slice per channel, all of one length.
    /// At a stretch other than 1 the FIFO drifts: surplus input is dropped (overrun) and
    /// missing output is silence (underrun); use push/pull for that.
    pub fn process(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) {
        debug_assert_eq!(input.len(), self.config.channels);
        debug_assert_eq!(output.len(), self.config.channels);
        let len = input.first().map_or(0, |c| c.len());
        if !self.primed {
            self.fifo.write(None, self.prefill);
            self.primed = true;
        }
        let mut pos = 0;
        while pos < len {
            let rest: [&[f32]; 8] =
                std::array::from_fn(|c| input.get(c).map_or(&[][..], |s| &s[pos..]));
            let mut used = self.push_inner(&rest[..input.len()], 1);
            if used == 0 {
                // FIFO full (stretch < 1): drop input to stay in real time.
                used = (len - pos).min(self.fifo.len.max(1));
                self.overruns += 1;
            }
            let got = self.fifo.read_into(output, pos, used);
            if got < used {
                self.underruns += 1;
                for o in output.iter_mut() {
                    o[pos + got..pos + used].iter_mut().for_each(|v| *v = 0.0);
                }
            }
            pos += used;
        }
    }
}
