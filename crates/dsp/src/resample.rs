//! Variable-ratio band-limited resampling for pitch shifting, on `rubato`'s asynchronous
//! sinc resampler. Input comes in fixed chunks (one synthesis hop), so the output does not
//! depend on how callers split the stream.

use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{
    Adjustable, Async, FixedAsync, Resampler, SincInterpolationParameters, WindowFunction,
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
    /// [`DspError::Resampler`] if rubato refuses the parameters.
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
        .map_err(|e| DspError::Resampler(e.to_string()))?;
        inner
            .set_resample_ratio(ratio.clamp(min_ratio, max_ratio), false)
            .map_err(|e| DspError::Resampler(e.to_string()))?;
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
