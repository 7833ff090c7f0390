//! The streaming phase-vocoder core: input framing at a variable analysis hop, analysis of
//! every channel and of the mid signal, the phase engine, per-channel resynthesis that keeps
//! each channel's phase relation to the mid signal (so the stereo image survives), and
//! weighted overlap-add at a fixed synthesis hop. A pitch shift can be applied in the
//! frequency domain ([`SpectralShifter`]) between the analysis and the phase engine: the
//! engine then sees the shifted frame, and the latency does not depend on the pitch.
//!
//! Time convention: frame `m` is centred on input sample `c_m` (the first frame on sample 0,
//! with zeros before the stream) and its output is centred at `m · hop + n_fft / 2` of the
//! vocoder's output stream, so at a constant ratio `S` output sample `u` holds input time
//! `(u − n_fft / 2) / S`.

use num_complex::Complex32;

use crate::error::DspError;
use crate::phase::{Controls, PhaseEngine, PhaseFrame};
use crate::shift::{ShiftInput, SpectralShifter};
use crate::stft::{ForwardFft, InverseFft, StftConfig};
use crate::transient::TransientDetector;
use crate::window::{
    hann_periodic, hann_periodic_derivative, hann_periodic_time_weighted, overlap_gain,
};

/// Largest analysis hop as a multiple of the synthesis hop (total ratio 1/16).
pub const MAX_HOP_RATIO: f64 = 16.0;

/// Streaming phase vocoder for 1..=8 channels. All buffers are allocated in [`PhaseVocoder::new`].
pub struct PhaseVocoder {
    config: StftConfig,
    channels: usize,
    /// Analysis/synthesis window, `n_fft` samples.
    window: Vec<f32>,
    /// Derivative window (1/sample) for instantaneous frequency.
    window_d: Vec<f32>,
    /// Time-weighted window (samples) for the transient centroid.
    window_t: Vec<f32>,
    fwd: ForwardFft,
    inv: InverseFft,
    /// Per channel: input samples `[buf_start, buf_start + buf_len)`, capacity `n_fft`.
    buf: Vec<Vec<f32>>,
    buf_start: i64,
    buf_len: usize,
    /// Absolute index of the next input sample.
    written: i64,
    /// Exact (fractional) start of the next analysis frame, in input samples.
    next_start_exact: f64,
    /// Integer start of the next analysis frame.
    next_start: i64,
    /// Start of the previous analysis frame, if any.
    prev_start: Option<i64>,
    /// Per channel spectra of the current frame.
    spectra: Vec<Vec<Complex32>>,
    /// Frames the engine lags behind (its `latency_frames`).
    delay_frames: usize,
    /// Ring of `delay_frames + 1` frames: per channel spectra waiting for their phase.
    spectra_ring: Vec<Vec<Vec<Complex32>>>,
    /// Ring of the mid signal's analysis phases of the same frames.
    mid_phase_ring: Vec<Vec<f32>>,
    /// Frames computed since the last reset.
    frame_index: usize,
    mid_frame: Vec<f32>,
    mid_spec: Vec<Complex32>,
    mid_spec_d: Vec<Complex32>,
    mid_spec_t: Vec<Complex32>,
    magnitude: Vec<f32>,
    power: Vec<f32>,
    analysis_phase: Vec<f32>,
    inst_freq: Vec<f32>,
    /// The source frame's instantaneous frequencies while a pitch shift is applied.
    source_inst_freq: Vec<f32>,
    time_offset: Vec<f32>,
    synthesis_phase: Vec<f32>,
    synth_spec: Vec<Complex32>,
    synth_frame: Vec<f32>,
    /// Per channel overlap-add accumulator, `n_fft` samples starting at the next output sample.
    ola: Vec<Vec<f32>>,
    /// Summed squared window over the same span.
    envelope: Vec<f32>,
    /// Envelope values below this are treated as this (only in the pre-roll).
    envelope_floor: f32,
    /// Per channel: the `hop` output samples completed by the last frame.
    block: Vec<Vec<f32>>,
    detector: TransientDetector,
    engine: Box<dyn PhaseEngine>,
    controls: Controls,
    /// Total ratio of output to input duration at the vocoder (stretch × pitch ratio).
    total_ratio: f64,
    /// Frequency ratio applied in the frequency domain (1 = none).
    spectral_pitch_ratio: f64,
    shifter: SpectralShifter,
    /// Non-finite input samples replaced by 0 so far.
    nonfinite: u64,
}

impl PhaseVocoder {
    /// Builds the vocoder.
    ///
    /// # Errors
    /// Invalid STFT configuration, channel count outside 1..=8, or an engine built for
    /// another number of bins.
    pub fn new(
        config: StftConfig,
        sample_rate: f64,
        channels: usize,
        engine: Box<dyn PhaseEngine>,
    ) -> Result<Self, DspError> {
        config.validate()?;
        if !(1..=8).contains(&channels) {
            return Err(DspError::Channels {
                expected: "1 to 8 channels".into(),
                got: channels.to_string(),
            });
        }
        let bins = config.num_bins();
        if engine.num_bins() != bins {
            return Err(DspError::EngineBins {
                engine: engine.name().to_string(),
                expected: engine.num_bins(),
                got: bins,
            });
        }
        let n = config.n_fft;
        let window = hann_periodic(n);
        let gain = overlap_gain(&window, config.hop);
        let fwd = ForwardFft::new(n);
        let spec = || vec![Complex32::new(0.0, 0.0); bins];
        let delay_frames = engine.latency_frames();
        let mut voc = Self {
            config,
            channels,
            window_d: hann_periodic_derivative(n),
            window_t: hann_periodic_time_weighted(n),
            window,
            inv: InverseFft::new(n),
            buf: vec![vec![0.0; n]; channels],
            buf_start: 0,
            buf_len: 0,
            written: 0,
            next_start_exact: 0.0,
            next_start: 0,
            prev_start: None,
            spectra: vec![spec(); channels],
            delay_frames,
            spectra_ring: vec![vec![spec(); channels]; delay_frames + 1],
            mid_phase_ring: vec![vec![0.0; bins]; delay_frames + 1],
            frame_index: 0,
            mid_frame: vec![0.0; n],
            mid_spec: spec(),
            mid_spec_d: spec(),
            mid_spec_t: spec(),
            magnitude: vec![0.0; bins],
            power: vec![0.0; bins],
            analysis_phase: vec![0.0; bins],
            inst_freq: vec![0.0; bins],
            source_inst_freq: vec![0.0; bins],
            time_offset: vec![0.0; bins],
            synthesis_phase: vec![0.0; bins],
            synth_spec: spec(),
            synth_frame: vec![0.0; n],
            ola: vec![vec![0.0; n]; channels],
            envelope: vec![0.0; n],
            envelope_floor: 0.1 * gain,
            block: vec![vec![0.0; config.hop]; channels],
            detector: TransientDetector::new(n, sample_rate, 1500.0),
            engine,
            controls: Controls::default(),
            total_ratio: 1.0,
            spectral_pitch_ratio: 1.0,
            shifter: SpectralShifter::new(bins),
            nonfinite: 0,
            fwd,
        };
        voc.reset();
        Ok(voc)
    }

    /// STFT configuration.
    pub fn config(&self) -> StftConfig {
        self.config
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Frames by which the phase engine lags (adds `latency_frames × hop` output samples).
    pub fn latency_frames(&self) -> usize {
        self.delay_frames
    }

    /// Name of the phase engine in use.
    pub fn engine_name(&self) -> &str {
        self.engine.name()
    }

    /// Sets the controls, the total vocoder ratio (output/input duration at this stage,
    /// clamped to 1/16..=16: `stretch` when the pitch is shifted here, `stretch × pitch
    /// ratio` when a resampler after the vocoder moves the pitch) and the frequency ratio
    /// applied in the frequency domain (1 for none). Takes effect at the next frame.
    pub fn set_controls(
        &mut self,
        controls: Controls,
        total_ratio: f64,
        spectral_pitch_ratio: f64,
    ) {
        self.controls = controls;
        self.total_ratio = total_ratio.clamp(1.0 / MAX_HOP_RATIO, MAX_HOP_RATIO);
        self.spectral_pitch_ratio = spectral_pitch_ratio;
    }

    /// Non-finite input samples that were replaced by silence since construction/reset.
    pub fn nonfinite_samples(&self) -> u64 {
        self.nonfinite
    }

    /// Clears all state (as if newly built), without allocating.
    pub fn reset(&mut self) {
        let half = (self.config.n_fft / 2) as i64;
        for b in &mut self.buf {
            b.iter_mut().for_each(|v| *v = 0.0);
        }
        // The first frame is centred on input sample 0: half a frame of zeros precedes it.
        self.buf_start = -half;
        self.buf_len = half as usize;
        self.written = 0;
        self.next_start_exact = -half as f64;
        self.next_start = -half;
        self.prev_start = None;
        for o in &mut self.ola {
            o.iter_mut().for_each(|v| *v = 0.0);
        }
        self.envelope.iter_mut().for_each(|v| *v = 0.0);
        self.detector.reset();
        self.engine.reset();
        self.frame_index = 0;
        self.nonfinite = 0;
    }

    /// True when enough input has been pushed to compute the next frame.
    pub fn frame_ready(&self) -> bool {
        self.buf_len == self.config.n_fft
    }

    /// Pushes input samples from `input[c][offset..]` until the next frame is ready or the
    /// input is exhausted. Returns the number of samples (per channel) consumed. Non-finite
    /// samples are replaced by 0 and counted.
    pub fn push(&mut self, input: &[&[f32]], offset: usize) -> usize {
        let available = input.first().map_or(0, |c| c.len().saturating_sub(offset));
        let mut used = 0usize;
        while used < available && !self.frame_ready() {
            if self.written < self.next_start {
                let skip = ((self.next_start - self.written) as usize).min(available - used);
                for ch in input {
                    self.nonfinite += ch[offset + used..offset + used + skip]
                        .iter()
                        .filter(|v| !v.is_finite())
                        .count() as u64;
                }
                used += skip;
                self.written += skip as i64;
                continue;
            }
            let take = (self.config.n_fft - self.buf_len).min(available - used);
            for (buf, ch) in self.buf.iter_mut().zip(input) {
                let src = &ch[offset + used..offset + used + take];
                for (d, &s) in buf[self.buf_len..self.buf_len + take].iter_mut().zip(src) {
                    if s.is_finite() {
                        *d = s;
                    } else {
                        *d = 0.0;
                        self.nonfinite += 1;
                    }
                }
            }
            self.buf_len += take;
            used += take;
            self.written += take as i64;
        }
        used
    }

    /// Moves the analysed frame (mid spectrum, magnitudes, phases, instantaneous
    /// frequencies, every channel's spectrum) to the spectral pitch ratio, if it is not 1.
    fn shift_pitch(&mut self, transient: bool) {
        let input = ShiftInput {
            spectrum: &self.mid_spec,
            magnitude: &self.magnitude,
            inst_freq: &self.inst_freq,
            time_offset: &self.time_offset,
            transient,
        };
        self.shifter.plan(&input, self.spectral_pitch_ratio);
        if self.shifter.is_unity() {
            return;
        }
        self.shifter.apply(&mut self.mid_spec);
        if self.channels > 1 {
            for spec in &mut self.spectra {
                self.shifter.apply(spec);
            }
        }
        for (k, x) in self.mid_spec.iter().enumerate() {
            self.magnitude[k] = x.norm();
            self.analysis_phase[k] = x.arg();
        }
        self.source_inst_freq.copy_from_slice(&self.inst_freq);
        self.shifter
            .shift_inst_freq(&self.source_inst_freq, &mut self.inst_freq);
    }

    /// Computes the next frame (call only when [`frame_ready`](Self::frame_ready)) and
    /// returns the `hop` output samples per channel it completed. Never allocates.
    pub fn run_frame(&mut self) -> &[Vec<f32>] {
        debug_assert!(self.frame_ready());
        let analysis_hop_exact = self.config.hop as f64 / self.total_ratio;
        self.analyse();
        let transient = self.detector.update(
            &self.power,
            &self.time_offset,
            analysis_hop_exact,
            self.config.n_fft,
        );
        self.shift_pitch(transient);
        let frame = PhaseFrame {
            magnitude: &self.magnitude,
            analysis_phase: &self.analysis_phase,
            inst_freq: &self.inst_freq,
            analysis_hop: self
                .prev_start
                .map_or(0, |p| (self.next_start - p) as usize),
            synthesis_hop: self.config.hop,
            transient,
            controls: self.controls,
        };
        self.engine
            .synthesis_phase(&frame, &mut self.synthesis_phase);
        let out = self.store_frame();
        self.resynthesise(out);
        self.emit_hop();
        self.advance_analysis(analysis_hop_exact);
        &self.block
    }

    /// Forms the mid signal of the buffered frame and its three transforms (window, its
    /// derivative, its time ramp), each channel's spectrum, and per bin the mid's power,
    /// magnitude, phase, reassigned instantaneous frequency and time offset.
    fn analyse(&mut self) {
        let n = self.config.n_fft;
        if self.channels == 1 {
            self.mid_frame.copy_from_slice(&self.buf[0]);
        } else {
            let scale = 1.0 / self.channels as f32;
            for i in 0..n {
                self.mid_frame[i] = self.buf.iter().map(|b| b[i]).sum::<f32>() * scale;
            }
        }
        self.fwd
            .process(&self.mid_frame, &self.window, &mut self.mid_spec);
        self.fwd
            .process(&self.mid_frame, &self.window_d, &mut self.mid_spec_d);
        self.fwd
            .process(&self.mid_frame, &self.window_t, &mut self.mid_spec_t);
        if self.channels > 1 {
            for c in 0..self.channels {
                self.fwd
                    .process(&self.buf[c], &self.window, &mut self.spectra[c]);
            }
        }
        let bin_freq = std::f32::consts::TAU / n as f32;
        for k in 0..self.config.num_bins() {
            let x = self.mid_spec[k];
            let p = x.norm_sqr();
            self.power[k] = p;
            self.magnitude[k] = p.sqrt();
            self.analysis_phase[k] = x.arg();
            if p > 1e-20 {
                let conj = x.conj();
                self.inst_freq[k] = k as f32 * bin_freq - (self.mid_spec_d[k] * conj).im / p;
                self.time_offset[k] = (self.mid_spec_t[k] * conj).re / p;
            } else {
                self.inst_freq[k] = k as f32 * bin_freq;
                self.time_offset[k] = 0.0;
            }
        }
    }

    /// Keeps this frame's spectra until the engine's phase for it is back, and returns the
    /// slot of the frame to resynthesise now, or `None` while a lagging engine has not yet
    /// returned its first frame.
    fn store_frame(&mut self) -> Option<usize> {
        let slots = self.delay_frames + 1;
        let slot = self.frame_index % slots;
        for c in 0..self.channels {
            let spec = if self.channels == 1 {
                &self.mid_spec
            } else {
                &self.spectra[c]
            };
            self.spectra_ring[slot][c].copy_from_slice(spec);
        }
        self.mid_phase_ring[slot].copy_from_slice(&self.analysis_phase);
        let ready = self.frame_index >= self.delay_frames;
        let out_slot = (self.frame_index + slots - self.delay_frames) % slots;
        self.frame_index += 1;
        ready.then_some(out_slot)
    }

    /// Resynthesis of the frame in slot `out` (silence for `None`) into the overlap-add
    /// accumulators: each channel keeps its phase offset to the mid signal; an engine with
    /// a gain head scales every channel's magnitude alike.
    fn resynthesise(&mut self, out: Option<usize>) {
        let out_slot = out.unwrap_or(0);
        let gain = self.engine.synthesis_gain();
        for c in 0..self.channels {
            let spec = &self.spectra_ring[out_slot][c];
            let mid_phase = &self.mid_phase_ring[out_slot];
            for (k, &x) in spec.iter().enumerate() {
                let rel = if self.channels == 1 {
                    0.0
                } else {
                    x.arg() - mid_phase[k]
                };
                let g = gain.map_or(1.0, |g| g[k]);
                self.synth_spec[k] = if out.is_some() {
                    Complex32::from_polar(x.norm() * g, self.synthesis_phase[k] + rel)
                } else {
                    Complex32::new(0.0, 0.0)
                };
            }
            self.inv.process(&self.synth_spec, &mut self.synth_frame);
            for ((o, &y), &w) in self.ola[c]
                .iter_mut()
                .zip(&self.synth_frame)
                .zip(&self.window)
            {
                *o += y * w;
            }
        }
        // Frames still waiting for a lagging engine add nothing, not even window weight,
        // so a lagging engine's output is the same stream shifted by its latency.
        if out.is_some() {
            for (e, &w) in self.envelope.iter_mut().zip(&self.window) {
                *e += w * w;
            }
        }
    }

    /// Emits the completed hop into `block` and shifts the accumulators.
    fn emit_hop(&mut self) {
        let n = self.config.n_fft;
        let hop_s = self.config.hop;
        for c in 0..self.channels {
            for i in 0..hop_s {
                let env = self.envelope[i].max(self.envelope_floor);
                self.block[c][i] = self.ola[c][i] / env;
            }
            self.ola[c].copy_within(hop_s.., 0);
            self.ola[c][n - hop_s..].iter_mut().for_each(|v| *v = 0.0);
        }
        self.envelope.copy_within(hop_s.., 0);
        self.envelope[n - hop_s..].iter_mut().for_each(|v| *v = 0.0);
    }

    /// Advances the analysis position by one (fractional) analysis hop and drops the input
    /// no later frame needs.
    fn advance_analysis(&mut self, analysis_hop_exact: f64) {
        self.prev_start = Some(self.next_start);
        self.next_start_exact += analysis_hop_exact;
        self.next_start = self.next_start_exact.round() as i64;
        let drop = self.next_start - self.buf_start;
        if drop >= self.buf_len as i64 {
            self.buf_len = 0;
        } else {
            let d = drop as usize;
            for b in &mut self.buf {
                b.copy_within(d..self.buf_len, 0);
            }
            self.buf_len -= d;
        }
        self.buf_start = self.next_start;
    }
}
