//! `xodvox render`: check arguments and paths, decode, run the offline renderer with a progress
//! bar, report non-finite input samples once, and write the WAV atomically.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use xodvox_dsp::{
    classic_engine, render_offline, RenderSettings, MAX_PITCH_SEMITONES, MIN_PITCH_SEMITONES,
};

use crate::args::{EngineChoice, OutputFormat, RenderArgs};
use crate::audio_io::{decode_file, PendingOutput};
use crate::errors::{CliError, ExitKind, Tag};

/// Inputs shorter than this (in seconds) render without a progress bar.
const PROGRESS_MIN_SECONDS: f64 = 5.0;
/// The rate the classical engine renders at (the neural engine: its model's rate, 48 kHz for
/// the shipped one); files at other rates are converted at the edges.
const CLASSIC_ENGINE_RATE: u32 = 48_000;

/// Runs `xodvox render`.
///
/// # Errors
/// A [`CliError`] whose kind gives the exit code (see `xodvox render --help`).
pub fn run(args: &RenderArgs) -> Result<(), CliError> {
    let total_pitch = args.total_pitch_semitones();
    if !(MIN_PITCH_SEMITONES..=MAX_PITCH_SEMITONES).contains(&total_pitch) {
        return Err(CliError::new(
            ExitKind::Usage,
            format!(
                "total pitch --pitch {} --cents {} = {total_pitch} semitones is out of range; \
                 it must be between {MIN_PITCH_SEMITONES} and {MAX_PITCH_SEMITONES}",
                args.pitch, args.cents
            ),
        ));
    }
    if args.engine == EngineChoice::Classic && args.model.is_some() {
        return Err(CliError::new(
            ExitKind::Usage,
            "--model DIR is only used with --engine neural",
        ));
    }
    if args.engine == EngineChoice::Classic && args.style.is_some() {
        return Err(CliError::new(
            ExitKind::Usage,
            "--style NAME is only used with --engine neural",
        ));
    }
    let neural = match args.engine {
        EngineChoice::Neural => Some(crate::neural::load(args.model.as_deref())?),
        EngineChoice::Classic => None,
    };
    let style_index = match (&neural, &args.style) {
        (Some(n), Some(name)) => n.style_index(name)?,
        _ => 0,
    };

    check_not_same_file(&args.input, &args.output)?;
    // Fail on an unreadable input before touching the output directory.
    let started = Instant::now();
    let audio = decode_file(&args.input)?;
    let pending = PendingOutput::create(&args.output)?;
    if let Some(promised) = audio.truncated_from {
        eprintln!(
            "warning: {}: truncated file: the header promises {promised} frames, {} decoded",
            args.input.display(),
            audio.num_frames()
        );
    }
    if audio.skipped_packets > 0 {
        eprintln!(
            "warning: {}: skipped {} undecodable packet(s)",
            args.input.display(),
            audio.skipped_packets
        );
    }

    // Both engines run at 48 kHz (the neural one at its model's rate), as in the plugin:
    // other rates are converted at the edges. Measured on the val split, converting beats
    // running the 2048/512 STFT at the file's rate for the classical engine too
    // (docs/rate-study.md).
    let engine_rate = neural
        .as_ref()
        .map_or(CLASSIC_ENGINE_RATE, |n| n.sample_rate);
    let settings = RenderSettings {
        sample_rate: f64::from(engine_rate),
        stretch: args.stretch,
        pitch_semitones: total_pitch,
        n_fft: neural.as_ref().map_or(2048, |n| n.n_fft),
        hop: neural.as_ref().map_or(512, |n| n.hop),
        style_index,
        // The neural engine renders on the path its model was trained for; the classical
        // engine on the constant-latency spectral path.
        pitch_mode: neural
            .as_ref()
            .map_or(xodvox_dsp::PitchMode::Spectral, |n| n.pitch_mode),
    };
    let seconds_in = audio.num_frames() as f64 / f64::from(audio.sample_rate);
    let bar = progress_bar(args.quiet || seconds_in < PROGRESS_MIN_SECONDS);
    let mut progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let engine = match neural {
        None => classic_engine(settings.n_fft),
        Some(n) => n.engine,
    };
    let result = if engine_rate == audio.sample_rate {
        render_offline(&audio.channels, &settings, engine, &mut progress).tag(ExitKind::Other)?
    } else {
        let input = crate::audio_io::resample(&audio.channels, audio.sample_rate, engine_rate)?;
        let mut r =
            render_offline(&input, &settings, engine, &mut progress).tag(ExitKind::Other)?;
        let back = crate::audio_io::resample(&r.channels, engine_rate, audio.sample_rate)?;
        let want = (audio.num_frames() as f64 * args.stretch).round() as usize;
        r.channels = back
            .into_iter()
            .map(|mut c| {
                c.resize(want, 0.0);
                c
            })
            .collect();
        r
    };
    let settings = RenderSettings {
        sample_rate: f64::from(audio.sample_rate),
        ..settings
    };
    bar.finish_and_clear();
    drop(audio);

    if result.nonfinite_samples > 0 {
        eprintln!(
            "warning: {}: {} non-finite sample(s) (NaN/Inf) were replaced by silence",
            args.input.display(),
            result.nonfinite_samples
        );
    }
    let sample_rate = settings.sample_rate as u32;
    let clipped = pending.write_wav(&result.channels, sample_rate, args.format)?;
    if clipped > 0 {
        eprintln!(
            "warning: {}: {clipped} sample(s) above full scale were clipped (use --format f32 to keep them)",
            args.output.display()
        );
    }
    if !args.quiet {
        let frames = result.channels.first().map_or(0, Vec::len);
        eprintln!(
            "wrote {}: {} ch, {} Hz, {} frames ({:.2} s), {}, in {:.2} s",
            args.output.display(),
            result.channels.len(),
            sample_rate,
            frames,
            frames as f64 / f64::from(sample_rate),
            format_name(args.format),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn format_name(format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::F32 => "32-bit float",
        OutputFormat::I24 => "24-bit PCM",
        OutputFormat::I16 => "16-bit PCM",
    }
}

fn progress_bar(hidden: bool) -> ProgressBar {
    if hidden || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} rendering [{bar:40}] {percent:>3}% {elapsed_precise} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Refuses OUT when it names the input file: same path, same canonical path (symlinks, `..`),
/// or the same inode (hard links).
fn check_not_same_file(input: &Path, output: &Path) -> Result<(), CliError> {
    let refuse = || {
        Err(CliError::new(
            ExitKind::Output,
            format!(
                "{}: output is the input file {}; refusing to overwrite the input",
                output.display(),
                input.display()
            ),
        ))
    };
    if input == output {
        return refuse();
    }
    let Ok(input_canon) = input.canonicalize() else {
        // A missing input is reported by the decoder.
        return Ok(());
    };
    if canonical_target(output).is_some_and(|o| o == input_canon) {
        return refuse();
    }
    if same_inode(input, output) {
        return refuse();
    }
    Ok(())
}

/// Canonical form of a path that may not exist yet: its parent canonicalized, plus its name.
fn canonical_target(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = path.canonicalize() {
        return Some(p);
    }
    let name = path.file_name()?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(parent.canonicalize().ok()?.join(name))
}

#[cfg(unix)]
fn same_inode(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(ma), Ok(mb)) => ma.dev() == mb.dev() && ma.ino() == mb.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_inode(_a: &Path, _b: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_file_detection() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.wav");
        std::fs::write(&a, b"x").unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        assert!(check_not_same_file(&a, &a).is_err());
        assert!(check_not_same_file(&a, &sub.join("../a.wav")).is_err());
        let link = dir.path().join("hard.wav");
        std::fs::hard_link(&a, &link).unwrap();
        assert!(check_not_same_file(&a, &link).is_err());
        assert!(check_not_same_file(&a, &dir.path().join("b.wav")).is_ok());
        assert!(check_not_same_file(&a, &sub.join("a.wav")).is_ok());
    }
}
