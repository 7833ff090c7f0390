//! `xodvox render`: check arguments and paths, then stream the file through the renderer
//! ([`crate::stream_render`]) into an unnamed output file that is named only when complete, with
//! a progress bar; non-finite input samples, clipping and a truncated input are reported once.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use xodvox_dsp::{
    classical_engine, RenderSettings, StftConfig, MAX_PITCH_SEMITONES, MIN_PITCH_SEMITONES,
};
use xodvox_infer::ENGINE_SAMPLE_RATE;

use crate::args::{Container, EngineChoice, OutputSpec, RenderArgs};
use crate::audio_io::{check_wav_size, Sink, WavSink};
use crate::decode::StreamDecoder;
use crate::errors::{CliError, ExitKind, Tag};
use crate::flac_out::FlacSink;
use crate::interrupt::Interrupt;
use crate::pending::PendingOutput;
use crate::stream_render::render_stream;

/// Inputs shorter than this (in seconds) render without a progress bar.
const PROGRESS_MIN_SECONDS: f64 = 5.0;

/// Runs `xodvox render`.
///
/// # Errors
/// A [`CliError`] whose kind gives the exit code (see `xodvox render --help`).
pub fn run(args: &RenderArgs) -> Result<(), CliError> {
    let total_pitch = args.total_pitch_semitones();
    check_usage(args, total_pitch)?;
    let spec = args
        .output_spec()
        .map_err(|m| CliError::new(ExitKind::Usage, m))?;
    let neural = match args.engine {
        EngineChoice::Neural => Some(crate::neural::load(
            args.model.as_deref(),
            args.threads.map(usize::from),
            total_pitch,
        )?),
        EngineChoice::Classical => None,
    };
    let style_index = match (&neural, &args.style) {
        (Some(n), Some(name)) => n.style_index(name)?,
        _ => 0,
    };

    check_not_same_file(&args.input, &args.output)?;
    // Fail on an unreadable input before touching the output directory.
    let started = Instant::now();
    let mut decoder = StreamDecoder::open(&args.input)?;
    check_output_size(args, &decoder, spec)?;
    let interrupt = Interrupt::install()?;
    let pending = PendingOutput::create(&args.output)?;

    let (engine_rate, settings) = render_settings(args, neural.as_ref(), total_pitch, style_index);
    // Without a frame count in the header the length is unknown: show the bar.
    let seconds_in = decoder.promised_frames().map_or(f64::INFINITY, |n| {
        n as f64 / f64::from(decoder.sample_rate())
    });
    let bar = progress_bar(args.quiet || seconds_in < PROGRESS_MIN_SECONDS);
    let mut progress = |done: u64, total: u64| {
        if total > 0 {
            bar.set_length(total.max(done));
        }
        bar.set_position(done);
    };
    let engine = match neural {
        None => classical_engine(settings.n_fft),
        Some(n) => n.engine,
    };
    let (sample_rate, channels) = (decoder.sample_rate(), decoder.channels());
    let sink = open_sink(&pending, &args.output, spec, sample_rate, channels)?;
    let report = render_stream(
        &mut decoder,
        engine_rate,
        &settings,
        engine,
        sink,
        &mut progress,
        &interrupt,
    )
    .map_err(|e| match e.kind {
        ExitKind::Output => CliError {
            kind: e.kind,
            error: e
                .error
                .context(format!("cannot write {}", args.output.display())),
        },
        _ => e,
    })?;
    bar.finish_and_clear();
    pending.commit()?;
    report_input(args, &decoder, report.nonfinite_samples);
    report_output(args, spec, &decoder, &report, started);
    Ok(())
}

/// Refuses a WAV output over the format's 4 GiB limit, when the input's length is known.
fn check_output_size(
    args: &RenderArgs,
    decoder: &StreamDecoder,
    spec: OutputSpec,
) -> Result<(), CliError> {
    if spec.container == Container::Wav {
        if let Some(n) = decoder.promised_frames() {
            let frames = (n as f64 * args.stretch).round() as u64;
            check_wav_size(frames, decoder.channels(), spec.sample)
                .with_context_of(&args.output)
                .tag(ExitKind::Output)?;
        }
    }
    Ok(())
}

/// The rate the engine runs at and the render settings.
///
/// Both engines run at 48 kHz (the neural one at its model's rate), as in the plugin: other
/// rates are converted at the edges. Measured on the val split, converting beats running the
/// STFT at the file's rate for the classical engine too (docs/rate-study.md). The classical
/// engine uses the default framing ([`StftConfig::default`]) and the constant-latency spectral
/// pitch path; the neural engine its model's framing and the pitch path it was trained for.
fn render_settings(
    args: &RenderArgs,
    neural: Option<&crate::neural::NeuralSetup>,
    total_pitch: f64,
    style_index: usize,
) -> (u32, RenderSettings) {
    let framing = StftConfig::default();
    let engine_rate = neural.map_or(ENGINE_SAMPLE_RATE, |n| n.sample_rate);
    let settings = RenderSettings {
        sample_rate: f64::from(engine_rate),
        stretch: args.stretch,
        pitch_semitones: total_pitch,
        n_fft: neural.map_or(framing.n_fft, |n| n.n_fft),
        hop: neural.map_or(framing.hop, |n| n.hop),
        style_index,
        pitch_mode: neural.map_or(xodvox_dsp::PitchMode::Spectral, |n| n.pitch_mode),
    };
    (engine_rate, settings)
}

/// Warns about clipped samples and, unless quiet, says what was written.
fn report_output(
    args: &RenderArgs,
    spec: OutputSpec,
    decoder: &StreamDecoder,
    report: &crate::stream_render::StreamReport,
    started: Instant,
) {
    let (sample_rate, channels) = (decoder.sample_rate(), decoder.channels());
    if report.clipped > 0 {
        eprintln!(
            "warning: {}: {} sample(s) above full scale were clipped (use --format f32 to keep them)",
            args.output.display(),
            report.clipped
        );
    }
    if !args.quiet {
        eprintln!(
            "wrote {}: {} ch, {} Hz, {} frames ({:.2} s), {}{}, in {:.2} s",
            args.output.display(),
            channels,
            sample_rate,
            report.frames_out,
            report.frames_out as f64 / f64::from(sample_rate),
            match spec.container {
                Container::Wav => "WAV ",
                Container::Flac => "FLAC ",
            },
            spec.sample.describe(),
            started.elapsed().as_secs_f64()
        );
    }
}

fn check_usage(args: &RenderArgs, total_pitch: f64) -> Result<(), CliError> {
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
    if args.engine == EngineChoice::Classical && args.model.is_some() {
        return Err(CliError::new(
            ExitKind::Usage,
            "--model DIR is only used with --engine neural",
        ));
    }
    if args.engine == EngineChoice::Classical && args.threads.is_some() {
        return Err(CliError::new(
            ExitKind::Usage,
            "--threads N is only used with --engine neural",
        ));
    }
    if args.engine == EngineChoice::Classical && args.style.is_some() {
        return Err(CliError::new(
            ExitKind::Usage,
            "--style NAME is only used with --engine neural",
        ));
    }
    Ok(())
}

/// The encoder for `spec`, writing into the pending file.
fn open_sink(
    pending: &PendingOutput,
    output: &Path,
    spec: OutputSpec,
    sample_rate: u32,
    channels: usize,
) -> Result<Box<dyn Sink>, CliError> {
    let file = pending
        .file()
        .try_clone()
        .map_err(anyhow::Error::from)
        .with_context_of(output)
        .tag(ExitKind::Output)?;
    let sink: Box<dyn Sink> = match spec.container {
        Container::Wav => Box::new(
            WavSink::new(file, sample_rate, channels, spec.sample, spec.dither)
                .with_context_of(output)
                .tag(ExitKind::Output)?,
        ),
        Container::Flac => Box::new(
            FlacSink::new(file, sample_rate, channels, spec.sample.bits(), spec.dither)
                .with_context_of(output)
                .tag(ExitKind::Output)?,
        ),
    };
    Ok(sink)
}

/// The warnings about the input, once each: truncated, undecodable packets, NaN/Inf.
fn report_input(args: &RenderArgs, decoder: &StreamDecoder, nonfinite: u64) {
    let input = args.input.display();
    if let Some(promised) = decoder.truncated_from() {
        eprintln!(
            "warning: {input}: truncated file: the header promises {promised} frames, {} decoded",
            decoder.decoded_frames()
        );
    }
    if decoder.skipped_packets() > 0 {
        eprintln!(
            "warning: {input}: skipped {} undecodable packet(s)",
            decoder.skipped_packets()
        );
    }
    if nonfinite > 0 {
        eprintln!(
            "warning: {input}: {nonfinite} non-finite sample(s) (NaN/Inf) were replaced by silence"
        );
    }
}

/// Prefixes an error with "cannot write OUT".
trait WithContextOf<T> {
    fn with_context_of(self, output: &Path) -> anyhow::Result<T>;
}

impl<T> WithContextOf<T> for anyhow::Result<T> {
    fn with_context_of(self, output: &Path) -> anyhow::Result<T> {
        self.map_err(|e| e.context(format!("cannot write {}", output.display())))
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
