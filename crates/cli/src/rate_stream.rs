//! Chunked sample-rate conversion (rubato's synchronous FFT resampler) that gives, sample for
//! sample, what converting the whole clip at once gives: rubato's `process_all` (startup delay
//! trimmed), cut or padded to `round(len × to / from)` frames.

use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use crate::errors::{CliError, ExitKind};

/// Chunk size given to rubato (the whole-file conversion used the same).
const CHUNK: usize = 1024;

/// A streaming converter from `from` Hz to `to` Hz.
pub struct RateStream {
    resampler: Fft<f32>,
    from: u32,
    to: u32,
    /// Input frames per rubato call.
    chunk_in: usize,
    /// Input not yet converted, one vector per channel.
    pending_in: Vec<Vec<f32>>,
    /// Rubato's output for one call.
    scratch_out: Vec<Vec<f32>>,
    /// Startup-delay frames still to drop.
    to_trim: usize,
    /// Input frames pushed.
    consumed: u64,
    /// Converted frames not yet handed out (they may lie past the final length).
    held: Held,
}

impl RateStream {
    /// A converter for `channels` channels.
    ///
    /// # Errors
    /// [`ExitKind::Other`] if rubato refuses the rates.
    pub fn new(from: u32, to: u32, channels: usize) -> Result<Self, CliError> {
        let resampler =
            Fft::<f32>::new(from as usize, to as usize, CHUNK, channels, FixedSync::Both).map_err(
                |e| {
                    CliError::new(
                        ExitKind::Other,
                        format!("resampling {from} Hz -> {to} Hz: {e}"),
                    )
                },
            )?;
        let chunk_in = resampler.input_frames_next();
        let out_max = resampler.output_frames_max();
        let to_trim = resampler.output_delay();
        Ok(Self {
            resampler,
            from,
            to,
            chunk_in,
            pending_in: vec![Vec::with_capacity(2 * chunk_in); channels],
            scratch_out: vec![vec![0.0; out_max]; channels],
            to_trim,
            consumed: 0,
            held: Held::new(channels),
        })
    }

    /// Feeds `input` (one slice per channel, equal lengths) and appends to `out[c]` the
    /// converted frames that are final.
    ///
    /// # Errors
    /// [`ExitKind::Other`] if rubato fails.
    pub fn push(&mut self, input: &[Vec<f32>], out: &mut [Vec<f32>]) -> Result<(), CliError> {
        let len = input.first().map_or(0, Vec::len);
        for (p, i) in self.pending_in.iter_mut().zip(input) {
            p.extend_from_slice(i);
        }
        self.consumed += len as u64;
        // Like `process_all`: whole chunks while more than one chunk is left; the last
        // (possibly whole) chunk is converted as the final partial one.
        while self.pending_in[0].len() > self.chunk_in {
            self.convert(None)?;
            for p in &mut self.pending_in {
                p.drain(..self.chunk_in);
            }
        }
        self.held.release(self.final_len(), out);
        Ok(())
    }

    /// Ends the input, appending the rest of the output to `out[c]`: in all, exactly
    /// `round(len × to / from)` frames per channel.
    ///
    /// # Errors
    /// [`ExitKind::Other`] if rubato fails.
    pub fn finish(mut self, out: &mut [Vec<f32>]) -> Result<(), CliError> {
        let left = self.pending_in[0].len();
        if left > 0 {
            self.convert(Some(left))?;
            self.pending_in.iter_mut().for_each(Vec::clear);
        }
        let target = self.final_len();
        // Converting silence flushes the filter's tail (rubato's "pump zeros").
        while self.held.reach() < target {
            self.convert(Some(0))?;
        }
        self.held.finish(target, out);
        Ok(())
    }

    /// `round(consumed × to / from)`, the whole-clip conversion's length.
    fn final_len(&self) -> u64 {
        (self.consumed as f64 * f64::from(self.to) / f64::from(self.from)).round() as u64
    }

    /// One rubato call on the front of `pending_in` (`partial`: that many valid frames, the
    /// rest silence), its output appended to `held` after the startup delay.
    fn convert(&mut self, partial: Option<usize>) -> Result<(), CliError> {
        let fail = |e: &dyn std::fmt::Display| {
            CliError::new(
                ExitKind::Other,
                format!("resampling {} Hz -> {} Hz: {e}", self.from, self.to),
            )
        };
        let channels = self.pending_in.len();
        let frames_in = self.pending_in[0].len();
        let input = SequentialSliceOfVecs::new(&self.pending_in, channels, frames_in)
            .map_err(|e| fail(&e))?;
        let out_max = self.scratch_out[0].len();
        let mut output = SequentialSliceOfVecs::new_mut(&mut self.scratch_out, channels, out_max)
            .map_err(|e| fail(&e))?;
        let indexing = Indexing {
            input_offset: 0,
            output_offset: 0,
            active_channels_mask: None,
            partial_len: partial,
        };
        let (_, n) = self
            .resampler
            .process_into_buffer(&input, &mut output, Some(&indexing))
            .map_err(|e| fail(&e))?;
        let drop = self.to_trim.min(n);
        self.to_trim -= drop;
        self.held.append(&self.scratch_out, drop..n);
        Ok(())
    }
}

/// Output of a stage that is not handed out before it is known to lie within the final
/// length (which is known only at the end of the input).
pub struct Held {
    frames: Vec<Vec<f32>>,
    /// Frames handed out.
    emitted: u64,
}

impl Held {
    /// Empty, for `channels` channels.
    pub fn new(channels: usize) -> Self {
        Self {
            frames: vec![Vec::new(); channels],
            emitted: 0,
        }
    }

    /// Frames handed out plus frames held.
    pub fn reach(&self) -> u64 {
        self.emitted + self.frames[0].len() as u64
    }

    /// Holds `src[c][range]`.
    pub fn append(&mut self, src: &[Vec<f32>], range: std::ops::Range<usize>) {
        for (h, s) in self.frames.iter_mut().zip(src) {
            h.extend_from_slice(&s[range.clone()]);
        }
    }

    /// Moves held frames to `out` up to output frame `limit`.
    pub fn release(&mut self, limit: u64, out: &mut [Vec<f32>]) {
        let n = (limit.saturating_sub(self.emitted) as usize).min(self.frames[0].len());
        for (h, o) in self.frames.iter_mut().zip(out.iter_mut()) {
            o.extend(h.drain(..n));
        }
        self.emitted += n as u64;
    }

    /// Hands out exactly up to frame `total`: what is held, cut there, or padded with zeros.
    pub fn finish(mut self, total: u64, out: &mut [Vec<f32>]) {
        self.release(total, out);
        let short = total.saturating_sub(self.emitted) as usize;
        for o in out.iter_mut() {
            o.resize(o.len() + short, 0.0);
        }
    }
}
