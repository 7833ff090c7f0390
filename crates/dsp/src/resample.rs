//! Variable-ratio band-limited resampling for pitch shifting, on `rubato`'s asynchronous
//! sinc resampler. Input comes in fixed chunks (one synthesis hop), so the output does not
//! depend on how callers split the stream.

use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{
    Adjustable, Async, Fft, FixedAsync, FixedSync, Resampler, SincInterpolationParameters,
    WindowFunction,
};

use crate::error::DspError;

/// Length of the sinc interpolation filter in input samples.
pub const SINC_LEN: usize = 256;

/// Resampler whose ratio (output rate / input rate) may move inside a range fixed at
/// construction. The anti-aliasing filter is designed for the smallest ratio of the range.
pub struct PitchResampler {
    inner: Async<f32>,
    channels: usize,
    chunk: usize,
    /// Output scratch, `channels × output_frames_max`.
    out: Vec<Vec<f32>>,
    min_ratio: f64,
    max_ratio: f64,
}

impl PitchResampler {
    /// Creates a resampler taking `chunk` input frames per call, for ratios in
    /// `[min_ratio, max_ratio]`, starting at `ratio`.
    ///
    /// # Errors
    /// [`DspError::RubatoConstruction`] or [`DspError::RubatoRatio`] if rubato refuses the
    /// parameters.
    pub fn new(
        channels: usize,
        chunk: usize,
        min_ratio: f64,
        max_ratio: f64,
        ratio: f64,
    ) -> Result<Self, DspError> {
        let params = SincInterpolationParameters::new(SINC_LEN, WindowFunction::BlackmanHarris2);
        let relative = (max_ratio / min_ratio).max(1.0);
        let mut inner = Async::<f32>::new_sinc(
            min_ratio,
            relative,
            &params,
            chunk,
            channels,
            FixedAsync::Input,
        )
        .map_err(|source| DspError::RubatoConstruction {
            rates: format!("ratio {min_ratio}..{max_ratio}"),
            source,
        })?;
        inner
            .set_resample_ratio(ratio.clamp(min_ratio, max_ratio), false)
            .map_err(DspError::RubatoRatio)?;
        let out = vec![vec![0.0; inner.output_frames_max()]; channels];
        Ok(Self {
            inner,
            channels,
            chunk,
            out,
            min_ratio,
            max_ratio,
        })
    }

    /// Largest number of output frames one [`process`](Self::process) call can produce.
    pub fn output_frames_max(&self) -> usize {
        self.inner.output_frames_max()
    }

    /// Delay of the resampler in output frames.
    pub fn output_delay(&self) -> usize {
        self.inner.output_delay()
    }

    /// Moves the ratio (clamped to the construction range), from the next chunk on (a step: the vocoder's hop also steps at frame boundaries, and a ramp would make the two drift apart).
    pub fn set_ratio(&mut self, ratio: f64) {
        let r = ratio.clamp(self.min_ratio, self.max_ratio);
        // The range is checked above, so rubato cannot refuse it.
        let _ = self.inner.set_resample_ratio(r, false);
    }

    /// Resamples one chunk (`chunk` frames per channel) and returns the output buffers and
    /// the number of valid frames in them. Never allocates.
    pub fn process(&mut self, input: &[Vec<f32>]) -> (&[Vec<f32>], usize) {
        let cap = self.out[0].len();
        let written = {
            let inp = SequentialSliceOfVecs::new(input, self.channels, self.chunk)
                .expect("input chunk size fixed at construction");
            let mut outp = SequentialSliceOfVecs::new_mut(&mut self.out, self.channels, cap)
                .expect("output buffer sized at construction");
            match self.inner.process_into_buffer(&inp, &mut outp, None) {
                Ok((_, written)) => written,
                Err(_) => 0,
            }
        };
        for ch in &mut self.out {
            ch[written..].iter_mut().for_each(|v| *v = 0.0);
        }
        (&self.out, written)
    }

    /// Clears the filter state.
    pub fn reset(&mut self) {
        self.inner.reset();
    }
}

/// Smallest chunk, in samples at the inner rate, that a [`RateBridge`] converts at a time:
/// the FFT resampler's anti-aliasing filter is as long as one chunk, so shorter chunks
/// would widen its transition band (and longer ones add latency).
pub const BRIDGE_MIN_INNER_CHUNK: usize = 256;
/// Smallest chunk at the outer rate (the filter's length on that side, for outer rates far
/// below the inner one).
pub const BRIDGE_MIN_OUTER_CHUNK: usize = 32;
/// Largest chunk at the inner rate: rates whose exact ratio needs longer chunks are
/// converted at the nearest ratio with shorter ones (see [`RateBridge::for_rate`]).
pub const BRIDGE_MAX_INNER_CHUNK: usize = 8192;
/// Largest chunk at the outer rate (bounds memory and latency at very high outer rates).
pub const BRIDGE_MAX_OUTER_CHUNK: usize = 1 << 18;
/// Largest relative error of the chunk ratio against the rates' ratio that is taken
/// without looking for longer chunks (1e-6: 0.002 cent).
const RATIO_TOLERANCE: f64 = 1e-6;

/// The chunk sizes (outer, inner) for `outer_rate` ↔ `inner_rate` Hz: the exact ratio when
/// both are whole numbers and it fits in the limits, otherwise the pair of chunk lengths
/// within the limits whose ratio is closest to the rates' (the first within
/// `RATIO_TOLERANCE`). `None` where no pair fits (non-finite or non-positive rates, or a
/// ratio beyond the limits).
pub fn bridge_chunks(outer_rate: f64, inner_rate: f64) -> Option<(usize, usize)> {
    if !(outer_rate.is_finite() && inner_rate.is_finite() && outer_rate > 0.0 && inner_rate > 0.0) {
        return None;
    }
    let fits = |o: usize, i: usize| {
        (BRIDGE_MIN_OUTER_CHUNK..=BRIDGE_MAX_OUTER_CHUNK).contains(&o)
            && (BRIDGE_MIN_INNER_CHUNK..=BRIDGE_MAX_INNER_CHUNK).contains(&i)
    };
    if outer_rate.fract() == 0.0 && inner_rate.fract() == 0.0 && outer_rate < 1e12 {
        let (outer, inner) = (outer_rate as usize, inner_rate as usize);
        let g = num_integer::gcd(outer, inner);
        let (min_outer, min_inner) = (outer / g, inner / g);
        let k = BRIDGE_MIN_INNER_CHUNK
            .div_ceil(min_inner)
            .max(BRIDGE_MIN_OUTER_CHUNK.div_ceil(min_outer));
        if fits(k * min_outer, k * min_inner) {
            return Some((k * min_outer, k * min_inner));
        }
    }
    let ratio = outer_rate / inner_rate;
    let mut best: Option<(f64, usize, usize)> = None;
    for inner in BRIDGE_MIN_INNER_CHUNK..=BRIDGE_MAX_INNER_CHUNK {
        let outer = (inner as f64 * ratio).round();
        if outer > BRIDGE_MAX_OUTER_CHUNK as f64 {
            break;
        }
        let outer = outer as usize;
        if outer < BRIDGE_MIN_OUTER_CHUNK {
            continue;
        }
        let err = (outer as f64 / (inner as f64 * ratio) - 1.0).abs();
        if best.is_none_or(|(e, _, _)| err < e) {
            best = Some((err, outer, inner));
        }
        if err <= RATIO_TOLERANCE {
            break;
        }
    }
    best.map(|(_, o, i)| (o, i))
}

/// Runs a processor that needs one fixed sample rate (the model's) inside a stream at
/// another: the outer signal is collected into fixed chunks, converted to the inner rate
/// with rubato's synchronous FFT resampler, processed, converted back and played one chunk
/// later. Chunks are counted from the last reset, so the output does not depend on how
/// callers split the stream, and the added latency is constant
/// ([`added_latency`](Self::added_latency)). Never allocates after construction.
///
/// Any pair of rates works whose chunks fit the limits ([`bridge_chunks`]), fractional
/// ones included: where the exact ratio would need too long chunks, the two conversions
/// use the nearest chunk ratio. They undo each other exactly, so the stream's timing and
/// the processor's pitch are unchanged; the processor only sees its input's spectrum
/// scaled by that ratio's error (at most a few parts per million for the rates hosts use).
pub struct RateBridge {
    down: Fft<f32>,
    up: Fft<f32>,
    channels: usize,
    outer_rate: f64,
    inner_rate: f64,
    outer_chunk: usize,
    inner_chunk: usize,
    /// Outer input collected for the next chunk, `channels × outer_chunk`.
    collect: Vec<Vec<f32>>,
    /// Outer output of the last converted chunk, played while the next one is collected.
    play: Vec<Vec<f32>>,
    /// Position inside the current chunk.
    fill: usize,
    inner_in: Vec<Vec<f32>>,
    inner_out: Vec<Vec<f32>>,
}

impl RateBridge {
    /// A bridge between `outer_rate` (the stream's) and `inner_rate` (the processor's), both
    /// whole numbers of Hz, for `channels` channels.
    ///
    /// # Errors
    /// As [`for_rate`](Self::for_rate).
    pub fn new(outer_rate: u32, inner_rate: u32, channels: usize) -> Result<Self, DspError> {
        Self::for_rate(f64::from(outer_rate), f64::from(inner_rate), channels)
    }

    /// A bridge between `outer_rate` and `inner_rate` Hz (any positive rates, fractional
    /// included), for `channels` channels.
    ///
    /// # Errors
    /// [`DspError::Resampler`] if no chunk sizes fit the limits for these rates
    /// ([`bridge_chunks`]), `channels` is zero or the sizes do not come out as planned;
    /// [`DspError::RubatoConstruction`] if rubato refuses the sizes.
    pub fn for_rate(outer_rate: f64, inner_rate: f64, channels: usize) -> Result<Self, DspError> {
        let err =
            |e: String| DspError::Resampler(format!("{outer_rate} Hz <-> {inner_rate} Hz: {e}"));
        if channels == 0 {
            return Err(err("channels must be positive".into()));
        }
        let (outer_chunk, inner_chunk) = bridge_chunks(outer_rate, inner_rate)
            .ok_or_else(|| err("no chunk sizes within the limits for these rates".into()))?;
        let make = |from: usize, to: usize, chunk: usize| {
            Fft::<f32>::new_custom(
                from,
                to,
                chunk,
                1,
                channels,
                WindowFunction::BlackmanHarris2,
                FixedSync::Both,
            )
            .map_err(|source| DspError::RubatoConstruction {
                rates: format!("{outer_rate} Hz <-> {inner_rate} Hz"),
                source,
            })
        };
        // The chunk lengths stand for the rates: their ratio is the one converted.
        let down = make(outer_chunk, inner_chunk, outer_chunk)?;
        let up = make(inner_chunk, outer_chunk, inner_chunk)?;
        if down.input_frames_next() != outer_chunk
            || down.output_frames_next() != inner_chunk
            || up.input_frames_next() != inner_chunk
            || up.output_frames_next() != outer_chunk
        {
            return Err(err(format!(
                "unexpected chunk sizes {}→{} / {}→{}",
                down.input_frames_next(),
                down.output_frames_next(),
                up.input_frames_next(),
                up.output_frames_next()
            )));
        }
        Ok(Self {
            down,
            up,
            channels,
            outer_rate,
            inner_rate,
            outer_chunk,
            inner_chunk,
            collect: vec![vec![0.0; outer_chunk]; channels],
            play: vec![vec![0.0; outer_chunk]; channels],
            fill: 0,
            inner_in: vec![vec![0.0; inner_chunk]; channels],
            inner_out: vec![vec![0.0; inner_chunk]; channels],
        })
    }

    /// The stream's sample rate.
    pub fn outer_rate(&self) -> f64 {
        self.outer_rate
    }

    /// The processor's sample rate.
    pub fn inner_rate(&self) -> f64 {
        self.inner_rate
    }

    /// Samples per chunk at the outer and at the inner rate.
    pub fn chunks(&self) -> (usize, usize) {
        (self.outer_chunk, self.inner_chunk)
    }

    /// Latency (outer samples) of the whole bridge around a processor whose own latency is
    /// `inner_latency` inner samples: one chunk of collection, the two resamplers' delays
    /// (half their FFT length each) and the processor's latency, rescaled.
    pub fn added_latency(&self, inner_latency: f64) -> f64 {
        // The ratio actually converted (the chunks'), which the rates' may differ from.
        let scale = self.outer_chunk as f64 / self.inner_chunk as f64;
        self.outer_chunk as f64
            + (self.down.output_delay() as f64 + inner_latency) * scale
            + self.up.output_delay() as f64
    }

    /// Clears all audio state (no allocation).
    pub fn reset(&mut self) {
        self.down.reset();
        self.up.reset();
        for buf in [
            &mut self.collect,
            &mut self.play,
            &mut self.inner_in,
            &mut self.inner_out,
        ] {
            buf.iter_mut()
                .for_each(|c| c.iter_mut().for_each(|v| *v = 0.0));
        }
        self.fill = 0;
    }

    /// Streams `input` (outer rate, one slice per channel, equal lengths) through
    /// `process`, which receives equal-length inner-rate input and output slices (one
    /// chunk each) and must fill the output; writes as many outer samples to `output`.
    /// Never allocates.
    pub fn process<F>(&mut self, input: &[&[f32]], output: &mut [&mut [f32]], mut process: F)
    where
        F: FnMut(&[&[f32]], &mut [&mut [f32]]),
    {
        let channels = self.channels.min(input.len()).min(output.len());
        let len = input
            .iter()
            .take(channels)
            .map(|c| c.len())
            .min()
            .unwrap_or(0);
        let mut pos = 0;
        while pos < len {
            let n = (self.outer_chunk - self.fill).min(len - pos);
            for c in 0..channels {
                let span = self.fill..self.fill + n;
                self.collect[c][span.clone()].copy_from_slice(&input[c][pos..pos + n]);
                output[c][pos..pos + n].copy_from_slice(&self.play[c][span]);
            }
            self.fill += n;
            pos += n;
            if self.fill == self.outer_chunk {
                self.fill = 0;
                self.convert_chunk(&mut process);
            }
        }
    }

    fn convert_chunk<F>(&mut self, process: &mut F)
    where
        F: FnMut(&[&[f32]], &mut [&mut [f32]]),
    {
        let ch = self.channels;
        {
            let inp = SequentialSliceOfVecs::new(&self.collect, ch, self.outer_chunk)
                .expect("chunk sized at construction");
            let mut outp = SequentialSliceOfVecs::new_mut(&mut self.inner_in, ch, self.inner_chunk)
                .expect("chunk sized at construction");
            // Sizes are fixed at construction and checked there, so this cannot fail.
            let _ = self.down.process_into_buffer(&inp, &mut outp, None);
        }
        {
            let ins: [&[f32]; 8] =
                std::array::from_fn(|c| self.inner_in.get(c).map_or(&[][..], |v| &v[..]));
            let mut it = self.inner_out.iter_mut();
            let mut outs: [&mut [f32]; 8] =
                std::array::from_fn(|_| it.next().map_or(&mut [][..], |v| &mut v[..]));
            process(&ins[..ch.min(8)], &mut outs[..ch.min(8)]);
        }
        let inp = SequentialSliceOfVecs::new(&self.inner_out, ch, self.inner_chunk)
            .expect("chunk sized at construction");
        let mut outp = SequentialSliceOfVecs::new_mut(&mut self.play, ch, self.outer_chunk)
            .expect("chunk sized at construction");
        let _ = self.up.process_into_buffer(&inp, &mut outp, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(i: &[&[f32]], o: &mut [&mut [f32]]) {
        for (o, i) in o.iter_mut().zip(i) {
            o.copy_from_slice(i);
        }
    }

    /// Through an identity processor: (impulse peak position, its fractional centroid of
    /// the squared response around the peak, the bridge's added latency).
    fn impulse_through(outer: f64, at: usize, n: usize) -> (usize, f64, f64) {
        let mut b = RateBridge::for_rate(outer, 48_000.0, 1).unwrap();
        let mut x = vec![0.0f32; n];
        x[at] = 1.0;
        let mut y = vec![0.0f32; n];
        b.process(&[&x], &mut [&mut y], copy);
        assert!(
            y.iter().all(|v| v.is_finite()),
            "{outer} Hz: non-finite output"
        );
        let peak = (0..n)
            .max_by(|&a, &c| y[a].abs().total_cmp(&y[c].abs()))
            .unwrap();
        let lo = peak.saturating_sub(32);
        let hi = (peak + 33).min(n);
        let e: f64 = (lo..hi).map(|i| f64::from(y[i]).powi(2)).sum();
        let c: f64 = (lo..hi)
            .map(|i| i as f64 * f64::from(y[i]).powi(2))
            .sum::<f64>()
            / e;
        (peak, c - at as f64, b.added_latency(0.0))
    }

    /// The rates validators try (clap-validator, the Steinberg validator), and a few more.
    const HOST_RATES: [f64; 19] = [
        1_000.0,
        8_000.0,
        11_025.0,
        22_050.0,
        32_000.0,
        44_100.0,
        48_000.0,
        88_200.0,
        96_000.0,
        192_000.0,
        384_000.0,
        768_000.0,
        1_536_000.0,
        1_234.567_8,
        12_345.678,
        45_678.901,
        123_456.78,
        1_234_567.8,
        44_100.5,
    ];

    #[test]
    fn impulse_lands_at_the_added_latency() {
        for rate in HOST_RATES {
            for at in [0, 101, 777] {
                let n = 40_000.max((rate * 0.1) as usize);
                let (peak, centroid, latency) = impulse_through(rate, at, n);
                assert!(
                    (centroid - latency).abs() < 0.05,
                    "{rate} Hz: centroid {centroid} vs {latency}"
                );
                assert!(((peak - at) as f64 - latency).abs() <= 0.5, "{rate} Hz");
            }
        }
    }

    #[test]
    fn chunks_are_exact_for_whole_rates_and_within_tolerance_otherwise() {
        assert_eq!(bridge_chunks(44_100.0, 48_000.0), Some((294, 320)));
        assert_eq!(bridge_chunks(768_000.0, 48_000.0), Some((4096, 256)));
        assert_eq!(bridge_chunks(1_000.0, 48_000.0), Some((32, 1536)));
        for rate in HOST_RATES {
            let (o, i) = bridge_chunks(rate, 48_000.0).unwrap();
            let err = (o as f64 / i as f64 / (rate / 48_000.0) - 1.0).abs();
            assert!(err < 1e-5, "{rate} Hz: {o}/{i}, error {err:e}");
            assert!(RateBridge::for_rate(rate, 48_000.0, 2).is_ok(), "{rate} Hz");
        }
        for rate in [0.0, -44_100.0, f64::NAN, f64::INFINITY, 10.0, 1e9] {
            assert_eq!(bridge_chunks(rate, 48_000.0), None, "{rate} Hz");
            assert!(
                RateBridge::for_rate(rate, 48_000.0, 2).is_err(),
                "{rate} Hz"
            );
        }
    }

    #[test]
    fn passband_is_flat_to_20_khz_and_the_inner_nyquist_is_respected() {
        for rate in [44_100.0, 96_000.0, 45_678.901, 768_000.0] {
            let n = rate as usize;
            let tones: &[f64] = if rate > 48_000.0 {
                &[100.0, 1_000.0, 10_000.0, 16_000.0, 20_000.0, 30_000.0]
            } else {
                &[100.0, 1_000.0, 10_000.0, 16_000.0, 20_000.0]
            };
            for &f in tones {
                let x: Vec<f32> = (0..n)
                    .map(|i| (2.0 * std::f64::consts::PI * f * i as f64 / rate).sin() as f32 * 0.5)
                    .collect();
                let mut y = vec![0.0f32; n];
                let mut b = RateBridge::for_rate(rate, 48_000.0, 1).unwrap();
                b.process(&[&x], &mut [&mut y], copy);
                let rms = |v: &[f32]| {
                    (v.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
                };
                let gain_db = 20.0 * (rms(&y[n / 4..]) / rms(&x[n / 4..])).log10();
                if f < 20_500.0 {
                    assert!(gain_db.abs() < 0.05, "{rate} Hz, {f} Hz: {gain_db:.3} dB");
                } else {
                    // Above the inner rate's Nyquist: removed by the anti-aliasing filter.
                    assert!(gain_db < -100.0, "{rate} Hz, {f} Hz: {gain_db:.3} dB");
                }
            }
        }
    }
}
