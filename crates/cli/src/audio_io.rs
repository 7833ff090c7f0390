//! Decoding (symphonia: WAV, FLAC, OGG Vorbis, MP3, ...) into per-channel `f32` vectors,
//! whole-file sample-rate conversion (rubato) to and from the engines' 48 kHz, and encoding to
//! WAV (hound) through a temporary file that is renamed into place when complete.

use std::fs::File;
use std::io::{BufWriter, ErrorKind};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rubato::audioadapter::Adapter;
use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Resampler};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::args::OutputFormat;
use crate::errors::{CliError, ExitKind, Tag};

/// Most channels a file may have.
pub const MAX_CHANNELS: usize = 8;

/// Decoded audio, one vector per channel.
#[derive(Debug, Clone)]
pub struct DecodedAudio {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Samples per channel, `channels[channel_idx][frame_idx]`, all the same length.
    pub channels: Vec<Vec<f32>>,
    /// Packets the decoder could not decode and skipped.
    pub skipped_packets: u64,
    /// Frames the container header promised, when it says so and more than were decoded
    /// (a truncated file).
    pub truncated_from: Option<u64>,
}

impl DecodedAudio {
    /// Frames per channel.
    pub fn num_frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }
}

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

/// Reads and decodes a whole audio file.
///
/// # Errors
/// [`ExitKind::Input`] for a missing, unreadable, empty, corrupt or unsupported file, or a
/// channel count outside 1..=[`MAX_CHANNELS`].
pub fn decode_file(path: &Path) -> Result<DecodedAudio, CliError> {
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
    let mut format = probed.format;
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
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| describe(path, e))?;

    let mut sample_rate = params.sample_rate;
    let mut channels: Vec<Vec<f32>> = Vec::new();
    let mut skipped_packets = 0u64;
    let mut last_decode_error = None;
    let mut buffer: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => return Err(describe(path, e)),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            Err(SymError::DecodeError(what)) => {
                skipped_packets += 1;
                last_decode_error = Some(what);
                continue;
            }
            Err(e) => return Err(describe(path, e)),
        };
        let spec = *decoded.spec();
        let num_channels = spec.channels.count();
        if channels.is_empty() {
            check_channels(path, num_channels)?;
            channels = vec![Vec::new(); num_channels];
            sample_rate = sample_rate.or(Some(spec.rate));
        } else if channels.len() != num_channels {
            return Err(input_error(path, "channel count changes inside the stream"));
        }
        if decoded.frames() == 0 {
            continue;
        }
        let buf = buffer.get_or_insert_with(|| SampleBuffer::new(decoded.capacity() as u64, spec));
        if buf.capacity() < decoded.capacity() * num_channels {
            *buf = SampleBuffer::new(decoded.capacity() as u64, spec);
        }
        buf.copy_interleaved_ref(decoded);
        for frame in buf.samples().chunks_exact(num_channels) {
            for (ch, &s) in channels.iter_mut().zip(frame) {
                ch.push(s);
            }
        }
    }

    let num_frames = channels.first().map_or(0, Vec::len);
    let promised = params.n_frames.filter(|&n| n > num_frames as u64);
    if num_frames == 0 {
        return Err(match (last_decode_error, promised) {
            (Some(what), _) => input_error(path, format!("corrupt audio data: {what}")),
            (None, Some(n)) => input_error(
                path,
                format!("truncated or corrupt: the header promises {n} frames, none decodable"),
            ),
            (None, None) => input_error(path, "contains no audio (0 frames)"),
        });
    }
    let sample_rate = sample_rate
        .filter(|&r| r > 0)
        .ok_or_else(|| input_error(path, "sample rate unknown"))?;
    Ok(DecodedAudio {
        sample_rate,
        channels,
        skipped_packets,
        truncated_from: promised,
    })
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

/// A WAV file being written under a temporary name in the destination's directory.
pub struct PendingOutput {
    tmp: tempfile::NamedTempFile,
    destination: PathBuf,
}

impl PendingOutput {
    /// Creates the temporary file next to `destination`, proving early that the directory is
    /// writable.
    ///
    /// # Errors
    /// [`ExitKind::Output`] if the directory is missing or not writable, or `destination` is a
    /// directory.
    pub fn create(destination: &Path) -> Result<Self, CliError> {
        if destination.is_dir() {
            return Err(CliError::new(
                ExitKind::Output,
                format!("{}: is a directory", destination.display()),
            ));
        }
        let dir = match destination.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".xodvox-")
            .suffix(".wav.tmp")
            .tempfile_in(&dir)
            .with_context(|| {
                format!(
                    "cannot write {}: output directory {} is missing or not writable",
                    destination.display(),
                    dir.display()
                )
            })
            .tag(ExitKind::Output)?;
        Ok(PendingOutput {
            tmp,
            destination: destination.to_path_buf(),
        })
    }

    /// Writes `channels` as WAV, then renames the temporary file onto the destination.
    /// Returns the number of samples clipped to full scale (integer formats only).
    ///
    /// # Errors
    /// [`ExitKind::Output`] if writing or renaming fails; the temporary file is removed.
    pub fn write_wav(
        self,
        channels: &[Vec<f32>],
        sample_rate: u32,
        format: OutputFormat,
    ) -> Result<u64, CliError> {
        let dest = self.destination.display().to_string();
        let clipped = write_wav_to(self.tmp.as_file(), channels, sample_rate, format)
            .with_context(|| format!("cannot write {dest}"))
            .tag(ExitKind::Output)?;
        self.tmp
            .as_file()
            .sync_all()
            .with_context(|| format!("cannot write {dest}"))
            .tag(ExitKind::Output)?;
        set_readable(self.tmp.as_file());
        self.tmp
            .persist(&self.destination)
            .map_err(|e| e.error)
            .with_context(|| format!("cannot move the finished file onto {dest}"))
            .tag(ExitKind::Output)?;
        Ok(clipped)
    }
}

/// Temporary files are created `0600`; a finished output should be readable like any new file.
fn set_readable(file: &File) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = file.set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    #[cfg(not(unix))]
    let _ = file;
}

/// Writes interleaved WAV into `file`; returns the number of clipped samples.
fn write_wav_to(
    file: &File,
    channels: &[Vec<f32>],
    sample_rate: u32,
    format: OutputFormat,
) -> anyhow::Result<u64> {
    let (bits_per_sample, sample_format) = match format {
        OutputFormat::F32 => (32, hound::SampleFormat::Float),
        OutputFormat::I24 => (24, hound::SampleFormat::Int),
        OutputFormat::I16 => (16, hound::SampleFormat::Int),
    };
    let spec = hound::WavSpec {
        channels: u16::try_from(channels.len()).context("too many channels")?,
        sample_rate,
        bits_per_sample,
        sample_format,
    };
    let mut writer = hound::WavWriter::new(BufWriter::new(file), spec)?;
    let num_frames = channels.first().map_or(0, Vec::len);
    let full_scale = match format {
        OutputFormat::F32 => 0.0,
        OutputFormat::I24 => 8_388_607.0,
        OutputFormat::I16 => 32_767.0,
    };
    let mut clipped = 0u64;
    for frame_idx in 0..num_frames {
        for ch in channels {
            let s = ch[frame_idx];
            if format == OutputFormat::F32 {
                writer.write_sample(s)?;
            } else {
                let scaled = f64::from(s) * full_scale;
                if scaled.abs() > full_scale {
                    clipped += 1;
                }
                // Plain rounding; `as` saturates and maps NaN to 0.
                let v = scaled.round().clamp(-full_scale, full_scale) as i32;
                writer.write_sample(v)?;
            }
        }
    }
    writer.finalize()?;
    Ok(clipped)
}

/// Resamples whole channels from `from` Hz to `to` Hz (rubato's FFT resampler, delay
/// trimmed), returning `round(len × to / from)` frames per channel.
///
/// # Errors
/// If rubato refuses the rates.
pub fn resample(channels: &[Vec<f32>], from: u32, to: u32) -> Result<Vec<Vec<f32>>, CliError> {
    if from == to {
        return Ok(channels.to_vec());
    }
    let n = channels.len();
    let len = channels.first().map_or(0, Vec::len);
    let fail = |e: &dyn std::fmt::Display| {
        CliError::new(
            ExitKind::Other,
            format!("resampling {from} Hz -> {to} Hz: {e}"),
        )
    };
    let mut r = Fft::<f32>::new(from as usize, to as usize, 1024, n, FixedSync::Both)
        .map_err(|e| fail(&e))?;
    let input = SequentialSliceOfVecs::new(channels, n, len).map_err(|e| fail(&e))?;
    let out = r.process_all(&input, len, None).map_err(|e| fail(&e))?;
    let frames = out.frames();
    let data = out.take_data();
    let want = (len as f64 * f64::from(to) / f64::from(from)).round() as usize;
    Ok((0..n)
        .map(|c| {
            let mut ch: Vec<f32> = (0..frames).map(|i| data[i * n + c]).collect();
            ch.resize(want, 0.0);
            ch
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_round_trip_all_formats() {
        let dir = tempfile::tempdir().unwrap();
        let input = vec![vec![0.0f32, 0.5, -0.5, 1.5], vec![0.25, -1.0, 1.0, -2.0]];
        for (format, tol, want_clipped) in [
            (OutputFormat::F32, 0.0, 0),
            (OutputFormat::I24, 1e-6, 2),
            (OutputFormat::I16, 1e-4, 2),
        ] {
            let path = dir.path().join(format!("{format:?}.wav"));
            let clipped = PendingOutput::create(&path)
                .unwrap()
                .write_wav(&input, 44_100, format)
                .unwrap();
            assert_eq!(clipped, want_clipped, "{format:?}");
            let back = decode_file(&path).unwrap();
            assert_eq!(back.sample_rate, 44_100);
            assert_eq!(back.channels.len(), 2);
            for (ch_in, ch_out) in input.iter().zip(&back.channels) {
                for (&a, &b) in ch_in.iter().zip(ch_out) {
                    let a = if format == OutputFormat::F32 {
                        a
                    } else {
                        a.clamp(-1.0, 1.0)
                    };
                    assert!(
                        (a - b).abs() <= tol + 1.0 / 8_388_608.0,
                        "{format:?}: {a} vs {b}"
                    );
                }
            }
        }
        // Only the finished files remain: no temporary files left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }
}
