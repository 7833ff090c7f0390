//! The streaming render: decoded chunks → conversion to the engine's rate → the offline chain
//! ([`OfflineStream`]) → conversion back → the sink, a chunk at a time, so memory does not grow
//! with the file. The result is sample for sample the whole-file render's: the converters
//! reproduce a whole-clip conversion and the chain reproduces `render_offline`; the output is
//! `round(N × stretch)` frames for N input frames, N counted as they are decoded.

use xodvox_dsp::{OfflineStream, PhaseEngine, RenderSettings};

use crate::audio_io::Sink;
use crate::decode::StreamDecoder;
use crate::errors::{CliError, ExitKind, Tag};
use crate::interrupt::Interrupt;
use crate::rate_stream::{Held, RateStream};

/// What a finished render reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamReport {
    /// Frames written per channel.
    pub frames_out: u64,
    /// Non-finite input samples (NaN/Inf) treated as silence.
    pub nonfinite_samples: u64,
    /// Samples clipped to full scale by an integer format.
    pub clipped: u64,
}

/// The stages between the decoder and the sink.
struct Chain {
    rate_in: Option<RateStream>,
    core: OfflineStream,
    rate_out: Option<RateStream>,
    /// Caps the output at `round(N × stretch)` (the back conversion may run past it).
    exact: Held,
    stretch: f64,
    /// Input frames (at the file's rate) pushed.
    consumed: u64,
    /// Scratch between stages.
    at_engine_rate: Vec<Vec<f32>>,
    rendered: Vec<Vec<f32>>,
    at_file_rate: Vec<Vec<f32>>,
    out: Vec<Vec<f32>>,
}

impl Chain {
    fn new(
        file_rate: u32,
        engine_rate: u32,
        channels: usize,
        settings: &RenderSettings,
        engine: Box<dyn PhaseEngine>,
    ) -> Result<Self, CliError> {
        let converted = file_rate != engine_rate;
        let empty = || vec![Vec::new(); channels];
        Ok(Self {
            rate_in: converted
                .then(|| RateStream::new(file_rate, engine_rate, channels))
                .transpose()?,
            core: OfflineStream::new(settings, channels, engine).tag(ExitKind::Other)?,
            rate_out: converted
                .then(|| RateStream::new(engine_rate, file_rate, channels))
                .transpose()?,
            exact: Held::new(channels),
            stretch: settings.stretch,
            consumed: 0,
            at_engine_rate: empty(),
            rendered: empty(),
            at_file_rate: empty(),
            out: empty(),
        })
    }

    /// Runs `chunk` through; the final output is left in `self.out`.
    fn push(&mut self, chunk: &[Vec<f32>]) -> Result<(), CliError> {
        self.consumed += chunk.first().map_or(0, Vec::len) as u64;
        for buf in [
            &mut self.at_engine_rate,
            &mut self.rendered,
            &mut self.at_file_rate,
            &mut self.out,
        ] {
            buf.iter_mut().for_each(Vec::clear);
        }
        let input = match &mut self.rate_in {
            Some(r) => {
                r.push(chunk, &mut self.at_engine_rate)?;
                &self.at_engine_rate
            }
            None => chunk,
        };
        self.core.push(&slices(input), &mut self.rendered);
        self.convert_back()
    }

    /// Runs what `rendered` holds through the back conversion into `exact`, releasing what
    /// lies within the final length.
    fn convert_back(&mut self) -> Result<(), CliError> {
        let back = match &mut self.rate_out {
            Some(r) => {
                r.push(&self.rendered, &mut self.at_file_rate)?;
                &self.at_file_rate
            }
            None => &self.rendered,
        };
        let frames = back.first().map_or(0, Vec::len);
        self.exact.append(back, 0..frames);
        let limit = self.final_len();
        self.exact.release(limit, &mut self.out);
        Ok(())
    }

    /// Ends the input; the rest of the output is left in `self.out`. Returns the
    /// non-finite sample count.
    fn finish(mut self) -> Result<(Vec<Vec<f32>>, u64), CliError> {
        let total = self.final_len();
        for buf in [&mut self.at_engine_rate, &mut self.rendered, &mut self.out] {
            buf.iter_mut().for_each(Vec::clear);
        }
        if let Some(r) = self.rate_in.take() {
            r.finish(&mut self.at_engine_rate)?;
            self.core
                .push(&slices(&self.at_engine_rate), &mut self.rendered);
        }
        let nonfinite = self.core.finish(&mut self.rendered);
        self.at_file_rate.iter_mut().for_each(Vec::clear);
        let back = match self.rate_out.take() {
            Some(mut r) => {
                r.push(&self.rendered, &mut self.at_file_rate)?;
                r.finish(&mut self.at_file_rate)?;
                &self.at_file_rate
            }
            None => &self.rendered,
        };
        let frames = back.first().map_or(0, Vec::len);
        self.exact.append(back, 0..frames);
        self.exact.finish(total, &mut self.out);
        Ok((self.out, nonfinite))
    }

    /// `round(N × stretch)` for the input pushed so far.
    fn final_len(&self) -> u64 {
        (self.consumed as f64 * self.stretch).round() as u64
    }
}

/// The channels as borrowed slices, as the chain takes them.
fn slices(channels: &[Vec<f32>]) -> Vec<&[f32]> {
    channels.iter().map(Vec::as_slice).collect()
}

/// Renders everything `decoder` yields into `sink`, converting between the file's rate and
/// `engine_rate` (the rate of `settings`) when they differ. `progress(done, total)` gets the
/// input frames decoded and the frames the header announces (0 when unknown). Checks
/// `interrupt` between chunks.
///
/// # Errors
/// A decoding error (input), an encoder or write error (output), a renderer or conversion
/// failure (other), or [`ExitKind::Interrupted`].
pub fn render_stream(
    decoder: &mut StreamDecoder,
    engine_rate: u32,
    settings: &RenderSettings,
    engine: Box<dyn PhaseEngine>,
    sink: Box<dyn Sink>,
    progress: &mut dyn FnMut(u64, u64),
    interrupt: &Interrupt,
) -> Result<StreamReport, CliError> {
    let mut sink = sink;
    let mut chain = Chain::new(
        decoder.sample_rate(),
        engine_rate,
        decoder.channels(),
        settings,
        engine,
    )?;
    let total = decoder.promised_frames().unwrap_or(0);
    let mut frames_out = 0u64;
    while let Some(chunk) = decoder.next_chunk()? {
        interrupt.check()?;
        chain.push(&chunk)?;
        frames_out += write(sink.as_mut(), &chain.out)?;
        progress(decoder.decoded_frames(), total);
    }
    interrupt.check()?;
    let (rest, nonfinite_samples) = chain.finish()?;
    frames_out += write(sink.as_mut(), &rest)?;
    interrupt.check()?;
    let clipped = sink.finish().tag(ExitKind::Output)?;
    Ok(StreamReport {
        frames_out,
        nonfinite_samples,
        clipped,
    })
}

fn write(sink: &mut dyn Sink, chunk: &[Vec<f32>]) -> Result<u64, CliError> {
    let frames = chunk.first().map_or(0, Vec::len);
    if frames > 0 {
        sink.write(chunk).tag(ExitKind::Output)?;
    }
    Ok(frames as u64)
}
