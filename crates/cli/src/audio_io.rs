//! Encoding of the rendered audio, chunk by chunk: WAV (hound, header finalised at the end) or
//! FLAC ([`crate::flac_out`]), integer samples with optional TPDF dither.

use std::fs::File;
use std::io::BufWriter;

use anyhow::Context;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::args::{Dither, SampleFormat};

/// Bytes of buffering between the encoder and the file.
pub const WRITE_BUFFER: usize = 1 << 18;
/// Seed of the dither noise, so a render is reproducible.
const DITHER_SEED: u64 = 0x0000_6469_7468_6572; // "dither"
/// Most data bytes a WAV file can hold (its sizes are 32-bit), less room for the header.
const WAV_MAX_DATA_BYTES: u64 = u32::MAX as u64 - 1024;

/// A destination for planar audio chunks.
pub trait Sink {
    /// Appends `chunk` (one vector per channel, equal lengths).
    ///
    /// # Errors
    /// A write error, or a format limit (a WAV file larger than 4 GiB).
    fn write(&mut self, chunk: &[Vec<f32>]) -> anyhow::Result<()>;

    /// Completes the file (headers, sizes). Returns the number of samples clipped to full
    /// scale (integer formats only).
    ///
    /// # Errors
    /// A write error.
    fn finish(self: Box<Self>) -> anyhow::Result<u64>;
}

/// Converts float samples to integers of `bits`, optionally with TPDF dither, counting clips.
pub struct Quantizer {
    full_scale: f64,
    dither: Option<ChaCha8Rng>,
    clipped: u64,
}

impl Quantizer {
    /// A quantizer to `bits`-bit integers (16 or 24).
    pub fn new(bits: u32, dither: Dither) -> Self {
        Self {
            full_scale: f64::from((1u32 << (bits - 1)) - 1),
            dither: match dither {
                Dither::None => None,
                Dither::Tpdf => Some(ChaCha8Rng::seed_from_u64(DITHER_SEED)),
            },
            clipped: 0,
        }
    }

    /// The integer for `s` (full scale ±1.0): rounded, after triangular dither of ±1 LSB
    /// when asked for, and clamped to the symmetric range (NaN becomes 0).
    pub fn quantize(&mut self, s: f32) -> i32 {
        let fs = self.full_scale;
        let mut scaled = f64::from(s) * fs;
        if scaled.abs() > fs {
            self.clipped += 1;
        }
        if let Some(rng) = &mut self.dither {
            scaled += rng.random::<f64>() - rng.random::<f64>();
        }
        // `as` saturates and maps NaN to 0.
        scaled.round().clamp(-fs, fs) as i32
    }

    /// Samples above full scale so far.
    pub fn clipped(&self) -> u64 {
        self.clipped
    }
}

/// A WAV file written as the audio arrives; the header's sizes are filled in by `finish`.
pub struct WavSink {
    writer: hound::WavWriter<BufWriter<File>>,
    quantizer: Option<Quantizer>,
    bytes_per_frame: u64,
    data_bytes: u64,
}

impl WavSink {
    /// Starts a WAV file in `file` (which must be empty and seekable).
    ///
    /// # Errors
    /// A write error, or more than 65535 channels.
    pub fn new(
        file: File,
        sample_rate: u32,
        channels: usize,
        format: SampleFormat,
        dither: Dither,
    ) -> anyhow::Result<Self> {
        let (bits_per_sample, sample_format) = match format {
            SampleFormat::F32 => (32, hound::SampleFormat::Float),
            SampleFormat::I24 => (24, hound::SampleFormat::Int),
            SampleFormat::I16 => (16, hound::SampleFormat::Int),
        };
        let spec = hound::WavSpec {
            channels: u16::try_from(channels).context("too many channels")?,
            sample_rate,
            bits_per_sample,
            sample_format,
        };
        let writer = hound::WavWriter::new(BufWriter::with_capacity(WRITE_BUFFER, file), spec)?;
        let quantizer = (format != SampleFormat::F32)
            .then(|| Quantizer::new(u32::from(bits_per_sample), dither));
        Ok(Self {
            writer,
            quantizer,
            bytes_per_frame: channels as u64 * u64::from(bits_per_sample / 8),
            data_bytes: 0,
        })
    }
}

/// Refuses a WAV render whose output would pass the format's 4 GiB limit.
///
/// # Errors
/// When `frames × channels × bytes per sample` is too large, naming the way out.
pub fn check_wav_size(frames: u64, channels: usize, format: SampleFormat) -> anyhow::Result<()> {
    let bytes = frames * channels as u64 * u64::from(format.bits() / 8);
    if bytes > WAV_MAX_DATA_BYTES {
        return Err(wav_too_large(bytes));
    }
    Ok(())
}

fn wav_too_large(bytes: u64) -> anyhow::Error {
    anyhow::anyhow!(
        "the output would be {}{:.1} GiB, and a WAV file holds at most 4 GiB; \
         write FLAC (--format flac or a .flac name) or a smaller sample format (--format i16)",
        if bytes == u64::MAX { "over " } else { "" },
        bytes.min(WAV_MAX_DATA_BYTES + 1) as f64 / f64::from(1u32 << 30)
    )
}

impl Sink for WavSink {
    fn write(&mut self, chunk: &[Vec<f32>]) -> anyhow::Result<()> {
        let frames = chunk.first().map_or(0, Vec::len);
        self.data_bytes += frames as u64 * self.bytes_per_frame;
        if self.data_bytes > WAV_MAX_DATA_BYTES {
            return Err(wav_too_large(u64::MAX));
        }
        for i in 0..frames {
            for ch in chunk {
                match &mut self.quantizer {
                    None => self.writer.write_sample(ch[i])?,
                    Some(q) => self.writer.write_sample(q.quantize(ch[i]))?,
                }
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> anyhow::Result<u64> {
        let clipped = self.quantizer.as_ref().map_or(0, Quantizer::clipped);
        self.writer.finalize()?;
        Ok(clipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantizer_rounds_clips_and_dithers_within_one_lsb() {
        let mut q = Quantizer::new(16, Dither::None);
        assert_eq!(q.quantize(0.5), 16_384);
        assert_eq!(q.quantize(-2.0), -32_767);
        assert_eq!(q.quantize(f32::NAN), 0);
        assert_eq!(q.clipped(), 1);
        let mut d = Quantizer::new(24, Dither::Tpdf);
        let x = 1000.3 / 8_388_607.0;
        let values: Vec<i32> = (0..10_000).map(|_| d.quantize(x as f32)).collect();
        assert!(
            values.iter().all(|v| (999..=1001).contains(v)),
            "dither beyond ±1 LSB"
        );
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64;
        // TPDF dither keeps the mean (no bias): 1000.3 on average.
        assert!((mean - 1000.3).abs() < 0.03, "mean {mean}");
        assert!(values.iter().any(|&v| v != 1000), "no dither noise");
    }

    #[test]
    fn wav_size_limit() {
        assert!(check_wav_size(48_000 * 3600 * 4, 2, SampleFormat::I16).is_ok());
        assert!(check_wav_size(48_000 * 3600 * 4, 2, SampleFormat::F32).is_err());
    }
}
