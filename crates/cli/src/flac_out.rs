//! FLAC output (the pure-Rust `flacenc` encoder), written frame by frame as the audio arrives;
//! the STREAMINFO block (length, MD5, frame sizes) is rewritten at the end.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};

use anyhow::{anyhow, Context as _};
use flacenc::bitsink::ByteSink;
use flacenc::component::{BitRepr, Stream, StreamInfo};
use flacenc::config;
use flacenc::error::{Verified, Verify};
use flacenc::source::{Context, Fill, FrameBuf};

use crate::args::Dither;
use crate::audio_io::{Quantizer, Sink, WRITE_BUFFER};

/// Frames per FLAC block (the reference encoder's default).
const BLOCK: usize = 4096;

/// A FLAC file being written.
pub struct FlacSink {
    out: BufWriter<File>,
    config: Verified<config::Encoder>,
    info: StreamInfo,
    frame_buf: (FrameBuf, Context),
    /// Interleaved samples of the block being filled.
    block: Vec<i32>,
    channels: usize,
    quantizer: Quantizer,
    bytes: ByteSink,
    frames_written: usize,
}

impl FlacSink {
    /// Starts a FLAC stream of `bits`-bit samples (16 or 24) in `file` (empty, seekable).
    ///
    /// # Errors
    /// A sample rate or channel count FLAC cannot hold, or a write error.
    pub fn new(
        file: File,
        sample_rate: u32,
        channels: usize,
        bits: u32,
        dither: Dither,
    ) -> anyhow::Result<Self> {
        let info = StreamInfo::new(sample_rate as usize, channels, bits as usize)
            .map_err(|e| anyhow!("FLAC cannot hold this stream: {e:?}"))?;
        let config = config::Encoder::default()
            .into_verified()
            .map_err(|(_, e)| anyhow!("FLAC encoder configuration: {e:?}"))?;
        let frame_buf = FrameBuf::with_size(channels, BLOCK)
            .map_err(|e| anyhow!("FLAC cannot hold {channels} channels: {e:?}"))?;
        let mut sink = Self {
            out: BufWriter::with_capacity(WRITE_BUFFER, file),
            config,
            info,
            frame_buf: (frame_buf, Context::new(bits as usize, channels)),
            block: Vec::with_capacity(BLOCK * channels),
            channels,
            quantizer: Quantizer::new(bits, dither),
            bytes: ByteSink::new(),
            frames_written: 0,
        };
        let header = sink.header()?;
        sink.out.write_all(&header)?;
        Ok(sink)
    }

    /// `fLaC` and the STREAMINFO block as they stand.
    fn header(&self) -> anyhow::Result<Vec<u8>> {
        let mut bytes = ByteSink::new();
        Stream::with_stream_info(self.info.clone())
            .write(&mut bytes)
            .map_err(|e| anyhow!("FLAC header: {e:?}"))?;
        Ok(bytes.as_slice().to_vec())
    }

    /// Encodes the filled block and writes it.
    fn encode_block(&mut self) -> anyhow::Result<()> {
        self.frame_buf
            .fill_interleaved(&self.block)
            .map_err(|e| anyhow!("FLAC encoder: {e:?}"))?;
        let number = self.frame_buf.1.current_frame_number().unwrap_or(0);
        let frame =
            flacenc::encode_fixed_size_frame(&self.config, &self.frame_buf.0, number, &self.info)
                .map_err(|e| anyhow!("FLAC encoder: {e:?}"))?;
        self.info.update_frame_info(&frame);
        self.bytes.clear();
        frame
            .write(&mut self.bytes)
            .map_err(|e| anyhow!("FLAC encoder: {e:?}"))?;
        self.out.write_all(self.bytes.as_slice())?;
        self.block.clear();
        self.frames_written += 1;
        Ok(())
    }
}

impl Sink for FlacSink {
    fn write(&mut self, chunk: &[Vec<f32>]) -> anyhow::Result<()> {
        let frames = chunk.first().map_or(0, Vec::len);
        for i in 0..frames {
            for ch in chunk {
                self.block.push(self.quantizer.quantize(ch[i]));
            }
            if self.block.len() == BLOCK * self.channels {
                self.encode_block()?;
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<u64> {
        if !self.block.is_empty() {
            self.encode_block()?;
        }
        let md5 = self.frame_buf.1.md5_digest();
        self.info.set_md5_digest(&md5);
        self.info
            .set_block_sizes(BLOCK, BLOCK)
            .map_err(|e| anyhow!("FLAC header: {e:?}"))?;
        if self.frames_written == 0 {
            self.info
                .set_frame_sizes(0, 0)
                .map_err(|e| anyhow!("FLAC header: {e:?}"))?;
        }
        let header = self.header()?;
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&header)?;
        self.out.flush().context("cannot write the FLAC file")?;
        Ok(self.quantizer.clipped())
    }
}
