//! Command-line definition (`clap` derive) and value parsers that check ranges up front, so a bad
//! value gets one clear error line before any file is touched.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use xodvox_dsp::{MAX_PITCH_SEMITONES, MAX_STRETCH, MIN_PITCH_SEMITONES, MIN_STRETCH};

/// Largest accepted `--cents` magnitude.
pub const MAX_CENTS: f64 = 100.0;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  other failure (e.g. the renderer itself failed)
  2  usage: unknown flag, unparsable or out-of-range value, --model without --engine neural
  3  input: missing, unreadable, corrupt, empty (0 frames), unsupported format or channel count,
     or a missing or broken model bundle
  4  output: directory missing or not writable, path is a directory, OUT is the input file,
     or a WAV output over 4 GiB
  130, 143  interrupted by SIGINT, SIGTERM (the unfinished output is removed)";

/// XodVox: real-time phase vocoder for pitch shifting and time stretching.
#[derive(Debug, Parser)]
#[command(name = "xodvox", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Time-stretch and/or pitch-shift an audio file into a WAV or FLAC file.
    #[command(
        long_about = "Time-stretch and/or pitch-shift an audio file into a WAV or FLAC file.\n\n\
Reads WAV, FLAC, OGG Vorbis or MP3 (any sample rate, 1 to 8 channels) and writes a WAV file (or FLAC \
for a .flac name or --format flac) with the same sample rate and channel count, streaming: memory \
does not grow with the file. Stretch and pitch are independent: --stretch changes the \
duration without changing the pitch, --pitch/--cents change the pitch without changing the duration.\n\n\
Conventions differ between tools. XodVox --stretch is a DURATION ratio, like `rubberband -t`: \
2 makes the output twice as long (half speed). `rubberband -T X` and `sox tempo X` take a SPEED \
factor instead: `--stretch 2` here equals `rubberband -T 0.5` or `sox tempo 0.5`. \
XodVox --pitch is in semitones like `rubberband -p`; `sox pitch` takes cents (--pitch 3 = sox pitch 300).\n\n\
The output is written to an unnamed file in OUT's directory and named only when complete, so a \
failure, Ctrl-C (exit 130), SIGTERM (exit 143) or a kill never leaves a partial file, and OUT may \
never be the input file.",
        after_help = EXIT_CODES
    )]
    Render(RenderArgs),
    /// Measure the real-time factor of XodVox against Rubber Band and SoX on a generated signal.
    #[command(
        long_about = "Measure the real-time factor of XodVox against Rubber Band and SoX.\n\n\
Generates a deterministic stereo 48 kHz test signal (tones, a chord, noise bursts and clicks), writes \
it to a temporary WAV and times, in the same run, XodVox classical (in process, and the `xodvox render` \
command including file I/O), XodVox neural with the embedded model on every backend that loads (frame \
by frame with per-hop inference times, and the batched offline engine of `xodvox render --engine \
neural`, in process and as the command), `rubberband -3` (R3), `rubberband -2` (R2) and `sox tempo`/`sox pitch` on \
two tasks: stretch x1.5 (duration) and pitch +3 semitones. Tools that are not installed are skipped \
with a note. Prints a Markdown table: seconds, real-time factor (audio seconds / processing seconds) and \
time relative to XodVox classical (in process) on the same task."
    )]
    Bench(BenchArgs),
    /// Compare quality and speed with Rubber Band, SoX and Signalsmith on a built-in or dataset
    /// set; writes a Markdown report with figures, a CSV and a JSON.
    Eval(crate::eval_cmd::EvalArgs),
    /// Build training pairs with SoX and Rubber Band (`dataset build`), print the dataset card
    /// (`dataset stats`), merge shard manifests (`dataset merge`).
    Dataset(crate::dataset_cmd::DatasetArgs),
}

/// Which phase engine renders the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineChoice {
    /// Phase vocoder with identity phase locking and transient phase reset (`classic`, the
    /// earlier spelling, is still accepted).
    #[value(alias = "classic")]
    Classical,
    /// Learned phase engine (the embedded default model, or --model DIR; backend from
    /// XODVOX_BACKEND=tract|ort).
    Neural,
}

/// `--format`: the sample format, or FLAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// 32-bit IEEE float WAV (lossless, keeps peaks above 0 dBFS); the default for WAV.
    F32,
    /// 24-bit integer PCM, peaks above full scale are clipped (a warning says how many); the
    /// default for FLAC.
    I24,
    /// 16-bit integer PCM, peaks above full scale are clipped (a warning says how many).
    I16,
    /// FLAC (lossless compressed), 24-bit; same as a `.flac` output name.
    Flac,
}

/// `--dither`: noise added before rounding to integer samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Dither {
    /// Plain rounding.
    None,
    /// Triangular (TPDF) dither of ±1 LSB: no distortion from rounding, a constant noise floor
    /// (−98 dBFS at 16 bits); seeded, so renders are reproducible.
    Tpdf,
}

/// Sample format of the written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    /// 32-bit IEEE float.
    F32,
    /// 24-bit integer.
    I24,
    /// 16-bit integer.
    I16,
}

impl SampleFormat {
    /// Bits per sample.
    pub fn bits(self) -> u32 {
        match self {
            SampleFormat::F32 => 32,
            SampleFormat::I24 => 24,
            SampleFormat::I16 => 16,
        }
    }

    /// Name for the summary line.
    pub fn describe(self) -> &'static str {
        match self {
            SampleFormat::F32 => "32-bit float",
            SampleFormat::I24 => "24-bit PCM",
            SampleFormat::I16 => "16-bit PCM",
        }
    }
}

/// File format of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// RIFF WAVE (hound).
    Wav,
    /// FLAC (flacenc).
    Flac,
}

/// What `render` writes, resolved from `--format`, `--dither` and OUT's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputSpec {
    /// WAV or FLAC.
    pub container: Container,
    /// Sample format.
    pub sample: SampleFormat,
    /// Dither for integer samples.
    pub dither: Dither,
}

/// Arguments of `xodvox render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Input audio file: WAV, FLAC, OGG Vorbis or MP3; any sample rate, 1 to 8 channels.
    #[arg(value_name = "IN")]
    pub input: PathBuf,
    /// Output file, WAV, or FLAC when it ends in .flac (same sample rate and channels as IN).
    /// Must not be IN; replaced if it exists.
    #[arg(value_name = "OUT")]
    pub output: PathBuf,
    /// Stretch as a duration ratio, 0.25 to 4: output length = input length x RATIO (2 = twice as long, half
    /// speed; 0.5 = half as long). Pitch is kept. Same as `rubberband -t RATIO`, the inverse of
    /// `rubberband -T` / `sox tempo` (speed factors).
    #[arg(long, value_name = "RATIO", default_value_t = 1.0, value_parser = parse_stretch,
          allow_negative_numbers = true)]
    pub stretch: f64,
    /// Pitch shift in semitones, -24 to +24 (12 = one octave up; fractions allowed). Duration is
    /// kept. Same unit as `rubberband -p`; `sox pitch` takes cents (x100).
    #[arg(long, value_name = "SEMITONES", default_value_t = 0.0, value_parser = parse_pitch,
          allow_negative_numbers = true)]
    pub pitch: f64,
    /// Extra pitch shift in cents (1/100 semitone), -100 to +100, added to --pitch. The total
    /// (pitch + cents/100) must stay within -24 to +24 semitones.
    #[arg(long, value_name = "CENTS", default_value_t = 0.0, value_parser = parse_cents,
          allow_negative_numbers = true)]
    pub cents: f64,
    /// Phase engine: `classical` (phase vocoder, default) or `neural` (the embedded default model or --model DIR,
    /// run at the model's sample rate with conversion at the edges; XODVOX_BACKEND=tract|ort).
    #[arg(long, value_enum, default_value_t = EngineChoice::Classical)]
    pub engine: EngineChoice,
    /// Directory with the neural model bundle (model.onnx + model.json); only with --engine neural.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Style of the neural engine: one of the model's styles, by its name in the bundle or the
    /// name the plugin shows (the shipped model: natural / Natural, the true sound, and
    /// formant / Formant, transposition that keeps the spectral envelope; an unknown name lists
    /// them). Default: the model's first style. Only with --engine neural.
    #[arg(long, value_name = "NAME")]
    pub style: Option<String>,
    /// Inference threads of the neural engine (1 to 16; the network runs over blocks of frames
    /// on them while this thread analyses and synthesises). Default: one fewer than the CPU
    /// cores, at least 1. Only with --engine neural.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=16))]
    pub threads: Option<u16>,
    /// Output format: f32 (32-bit float WAV, the default), i24 or i16 (integer PCM, clipped;
    /// WAV, or FLAC for a .flac OUT, where i24 is the default), flac (24-bit FLAC).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<OutputFormat>,
    /// Dither for integer output (i24, i16, FLAC): none (plain rounding, the default) or tpdf
    /// (triangular ±1 LSB noise, the usual choice for 16-bit masters).
    #[arg(long, value_enum, default_value_t = Dither::None)]
    pub dither: Dither,
    /// No progress bar and no summary line (warnings and errors are still printed).
    #[arg(long, short)]
    pub quiet: bool,
}

impl RenderArgs {
    /// Total pitch shift in semitones (`--pitch` + `--cents`/100).
    pub fn total_pitch_semitones(&self) -> f64 {
        self.pitch + self.cents / 100.0
    }

    /// The container (FLAC for `--format flac` or a `.flac` OUT, WAV otherwise), the sample
    /// format and the dither.
    ///
    /// # Errors
    /// A message for combinations that cannot be written: float samples in FLAC, dither on
    /// float samples.
    pub fn output_spec(&self) -> Result<OutputSpec, String> {
        let flac_name = self
            .output
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("flac"));
        let container = if flac_name || self.format == Some(OutputFormat::Flac) {
            Container::Flac
        } else {
            Container::Wav
        };
        let sample = match (container, self.format) {
            (Container::Flac, Some(OutputFormat::F32)) => {
                return Err("--format f32: FLAC holds integer samples; use i24 or i16, \
                            or a .wav output for float"
                    .into())
            }
            (Container::Flac, None | Some(OutputFormat::Flac | OutputFormat::I24)) => {
                SampleFormat::I24
            }
            (_, Some(OutputFormat::I16)) => SampleFormat::I16,
            (_, Some(OutputFormat::I24)) => SampleFormat::I24,
            (Container::Wav, _) => SampleFormat::F32,
        };
        if sample == SampleFormat::F32 && self.dither != Dither::None {
            return Err(
                "--dither applies to integer output (--format i24, i16 or flac); \
                        32-bit float is not rounded"
                    .into(),
            );
        }
        Ok(OutputSpec {
            container,
            sample,
            dither: self.dither,
        })
    }
}

/// Arguments of `xodvox bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Length of the generated test signal in seconds (1 to 600).
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0, value_parser = parse_seconds)]
    pub seconds: f64,
    /// Runs per measurement; the fastest is reported (1 to 20).
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub runs: u32,
    /// Also write the Markdown table to this file.
    #[arg(long, value_name = "FILE.md")]
    pub out: Option<PathBuf>,
    /// Another exported model bundle (e.g. `models/rb-v1`) whose frame-by-frame engine and
    /// per-hop inference times are measured in the same run, beside the embedded default
    /// model's; repeat for several.
    #[arg(long, value_name = "DIR")]
    pub compare_model: Vec<PathBuf>,
}

fn parse_in_range(s: &str, min: f64, max: f64, what: &str) -> Result<f64, String> {
    let value: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number; {what} must be between {min} and {max}"))?;
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{s} is out of range; {what} must be between {min} and {max}"
        ))
    }
}

/// Parses `--stretch` (duration ratio).
fn parse_stretch(s: &str) -> Result<f64, String> {
    parse_in_range(s, MIN_STRETCH, MAX_STRETCH, "the stretch (duration ratio)")
}

/// Parses `--pitch` (semitones).
fn parse_pitch(s: &str) -> Result<f64, String> {
    parse_in_range(
        s,
        MIN_PITCH_SEMITONES,
        MAX_PITCH_SEMITONES,
        "the pitch (semitones)",
    )
}

/// Parses `--cents`.
fn parse_cents(s: &str) -> Result<f64, String> {
    parse_in_range(s, -MAX_CENTS, MAX_CENTS, "the cents offset")
}

/// Parses `bench --seconds`.
fn parse_seconds(s: &str) -> Result<f64, String> {
    parse_in_range(s, 1.0, 600.0, "the signal length in seconds")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn ranges_are_checked() {
        assert_eq!(parse_stretch("1.5"), Ok(1.5));
        assert_eq!(parse_stretch("0.25"), Ok(0.25));
        assert_eq!(parse_stretch("4"), Ok(4.0));
        for bad in ["0", "-1", "4.01", "nan", "NaN", "inf", "abc", ""] {
            assert!(parse_stretch(bad).is_err(), "stretch {bad:?} accepted");
        }
        assert_eq!(parse_pitch("-24"), Ok(-24.0));
        assert!(parse_pitch("24.5").is_err());
        assert!(parse_cents("-100").is_ok());
        assert!(parse_cents("101").is_err());
    }

    fn spec(args: &[&str]) -> Result<OutputSpec, String> {
        let cli = Cli::try_parse_from(["xodvox", "render"].iter().chain(args)).expect("parse");
        let Command::Render(a) = cli.command else {
            panic!("not render")
        };
        a.output_spec()
    }

    #[test]
    fn output_format_follows_flag_and_extension() {
        let wav = |sample, dither| OutputSpec {
            container: Container::Wav,
            sample,
            dither,
        };
        let flac = |sample, dither| OutputSpec {
            container: Container::Flac,
            sample,
            dither,
        };
        assert_eq!(
            spec(&["a", "b.wav"]),
            Ok(wav(SampleFormat::F32, Dither::None))
        );
        assert_eq!(
            spec(&["a", "b.wav", "--format", "i16", "--dither", "tpdf"]),
            Ok(wav(SampleFormat::I16, Dither::Tpdf))
        );
        assert_eq!(
            spec(&["a", "b.FLAC"]),
            Ok(flac(SampleFormat::I24, Dither::None))
        );
        assert_eq!(
            spec(&["a", "b.flac", "--format", "i16"]),
            Ok(flac(SampleFormat::I16, Dither::None))
        );
        assert_eq!(
            spec(&["a", "b", "--format", "flac"]),
            Ok(flac(SampleFormat::I24, Dither::None))
        );
        assert!(spec(&["a", "b.flac", "--format", "f32"]).is_err());
        assert!(spec(&["a", "b.wav", "--dither", "tpdf"]).is_err());
    }

    #[test]
    fn negative_values_parse() {
        let cli = Cli::try_parse_from([
            "xodvox", "render", "a", "b", "--pitch", "-3", "--cents", "-50",
        ])
        .expect("parse");
        let Command::Render(args) = cli.command else {
            panic!("not render")
        };
        assert_eq!(args.total_pitch_semitones(), -3.5);
    }
}
