//! Streaming decoding (symphonia: WAV, FLAC, OGG Vorbis, MP3, ...): one packet at a time into
//! per-channel `f32` chunks, so memory does not grow with the file.

use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{Decoder, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::errors::{CliError, ExitKind};

/// Most channels a file may have.
pub const MAX_CHANNELS: usize = 8;

/// Message for a file in which no supported stream was found.
const UNRECOGNISED: &str = "unsupported or unrecognised audio format (or a truncated file): \
                            no WAV, FLAC, OGG Vorbis or MP3 stream found";

fn input_error(path: &Path, message: impl std::fmt::Display) -> CliError {
    CliError::new(ExitKind::Input, format!("{}: {message}", path.display()))
}

fn describe(path: &Path, err: SymError) -> CliError {
    match err {
        SymError::Unsupported(what) => {
            input_error(path, format!("unsupported audio format or codec ({what})"))
        }
        SymError::IoError(e) if e.kind() == ErrorKind::UnexpectedEof => {
            input_error(path, "truncated or corrupt file (unexpected end of data)")
        }
        SymError::IoError(e) => input_error(path, format!("read failed: {e}")),
        SymError::DecodeError(what) => input_error(path, format!("corrupt audio data: {what}")),
        other => input_error(path, format!("cannot decode: {other}")),
    }
}

/// An open audio file that yields its samples a packet at a time.
///
/// [`open`](Self::open) decodes up to the first packet with audio, so the sample rate and
/// channel count are known, and a file with no decodable audio fails there, before any output
/// is created.
pub struct StreamDecoder {
    path: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    sample_rate: u32,
    channels: usize,
    /// Frames the container header announces, if it does.
    promised_frames: Option<u64>,
    decoded_frames: u64,
    skipped_packets: u64,
    last_decode_error: Option<&'static str>,
    buffer: Option<SampleBuffer<f32>>,
    /// The first chunk, decoded by `open`, not yet handed out.
    first: Option<Vec<Vec<f32>>>,
}

impl StreamDecoder {
    /// Opens and probes `path` and decodes its first packet of audio.
    ///
    /// # Errors
    /// [`ExitKind::Input`] for a missing, unreadable, empty, corrupt or unsupported file, or a
    /// channel count outside 1..=[`MAX_CHANNELS`].
    pub fn open(path: &Path) -> Result<Self, CliError> {
        let file = open_file(path)?;
        let mss = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let format_opts = FormatOptions {
            enable_gapless: true,
            ..Default::default()
        };
        let probed = symphonia::default::get_probe()
            .format(&hint, mss, &format_opts, &MetadataOptions::default())
            .map_err(|e| match e {
                // The prober reads to the end looking for a known stream marker.
                SymError::Unsupported(_) | SymError::IoError(_) => input_error(path, UNRECOGNISED),
                other => describe(path, other),
            })?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| input_error(path, "contains no audio track"))?;
        let track_id = track.id;
        let params = track.codec_params.clone();
        if let Some(ch) = params.channels {
            check_channels(path, ch.count())?;
        }
        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(|e| describe(path, e))?;
        let mut s = StreamDecoder {
            path: path.to_path_buf(),
            format,
            decoder,
            track_id,
            sample_rate: params.sample_rate.unwrap_or(0),
            channels: 0,
            promised_frames: params.n_frames,
            decoded_frames: 0,
            skipped_packets: 0,
            last_decode_error: None,
            buffer: None,
            first: None,
        };
        s.first = s.decode_first()?;
        Ok(s)
    }

    /// Sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Frames the container header announces (WAV, FLAC and most others), if it does.
    pub fn promised_frames(&self) -> Option<u64> {
        self.promised_frames
    }

    /// Frames decoded so far.
    pub fn decoded_frames(&self) -> u64 {
        self.decoded_frames
    }

    /// Packets that could not be decoded and were skipped.
    pub fn skipped_packets(&self) -> u64 {
        self.skipped_packets
    }

    /// After the end: the frame count the header promised, when more than were decoded.
    pub fn truncated_from(&self) -> Option<u64> {
        self.promised_frames.filter(|&n| n > self.decoded_frames)
    }

    /// The next chunk of audio, one vector per channel (all the same non-zero length), or
    /// `None` at the end of the stream.
    ///
    /// # Errors
    /// [`ExitKind::Input`] for a read error, a fatal decoding error or a channel count that
    /// changes inside the stream.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<Vec<f32>>>, CliError> {
        if let Some(first) = self.first.take() {
            return Ok(Some(first));
        }
        self.decode_next()
    }

    /// Decodes packets up to the first one with audio, fixing the rate and channel count.
    fn decode_first(&mut self) -> Result<Option<Vec<Vec<f32>>>, CliError> {
        match self.decode_next()? {
            Some(chunk) => {
                if self.sample_rate == 0 {
                    return Err(input_error(&self.path, "sample rate unknown"));
                }
                Ok(Some(chunk))
            }
            None => Err(self.no_audio_error()),
        }
    }

    fn no_audio_error(&self) -> CliError {
        let path = &self.path;
        match (
            self.last_decode_error,
            self.promised_frames.filter(|&n| n > 0),
        ) {
            (Some(what), _) => input_error(path, format!("corrupt audio data: {what}")),
            (None, Some(n)) => input_error(
                path,
                format!("truncated or corrupt: the header promises {n} frames, none decodable"),
            ),
            (None, None) => input_error(path, "contains no audio (0 frames)"),
        }
    }

    /// Decodes the next packet with audio, or `None` at the end.
    fn decode_next(&mut self) -> Result<Option<Vec<Vec<f32>>>, CliError> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(p) => p,
                Err(SymError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => {
                    return Ok(None)
                }
                Err(SymError::ResetRequired) => return Ok(None),
                Err(e) => return Err(describe(&self.path, e)),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(d) => d,
                Err(SymError::DecodeError(what)) => {
                    self.skipped_packets += 1;
                    self.last_decode_error = Some(what);
                    continue;
                }
                Err(e) => return Err(describe(&self.path, e)),
            };
            let spec = *decoded.spec();
            let num_channels = spec.channels.count();
            if self.channels == 0 {
                check_channels(&self.path, num_channels)?;
                self.channels = num_channels;
                if self.sample_rate == 0 {
                    self.sample_rate = spec.rate;
                }
            } else if self.channels != num_channels {
                return Err(input_error(
                    &self.path,
                    "channel count changes inside the stream",
                ));
            }
            let frames = decoded.frames();
            if frames == 0 {
                continue;
            }
            let buf = self
                .buffer
                .get_or_insert_with(|| SampleBuffer::new(decoded.capacity() as u64, spec));
            if buf.capacity() < decoded.capacity() * num_channels {
                *buf = SampleBuffer::new(decoded.capacity() as u64, spec);
            }
            buf.copy_interleaved_ref(decoded);
            let mut chunk = vec![Vec::with_capacity(frames); num_channels];
            for frame in buf.samples().chunks_exact(num_channels) {
                for (ch, &s) in chunk.iter_mut().zip(frame) {
                    ch.push(s);
                }
            }
            self.decoded_frames += frames as u64;
            return Ok(Some(chunk));
        }
    }
}

fn open_file(path: &Path) -> Result<File, CliError> {
    let file = File::open(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => input_error(path, "no such file"),
        _ => input_error(path, format!("cannot open: {e}")),
    })?;
    let meta = file
        .metadata()
        .map_err(|e| input_error(path, format!("cannot stat: {e}")))?;
    if meta.is_dir() {
        return Err(input_error(path, "is a directory, not an audio file"));
    }
    if meta.len() == 0 {
        return Err(input_error(path, "file is empty (0 bytes)"));
    }
    Ok(file)
}

fn check_channels(path: &Path, count: usize) -> Result<(), CliError> {
    if (1..=MAX_CHANNELS).contains(&count) {
        Ok(())
    } else {
        Err(input_error(
            path,
            format!("has {count} channels; 1 to {MAX_CHANNELS} are supported"),
        ))
    }
}
