//! The engines under test, behind one interface: XodVox classical and neural (in process),
//! Rubber Band R3/R2 and SoX (their command-line tools), Signalsmith Stretch (in process,
//! through the crates.io bindings). Every engine returns a latency-free output of exactly
//! `round(N × stretch)` samples; how much was cut or padded to get there is recorded.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use xodvox_dsp::{
    classic_engine, render_offline, Controls, PhaseEngine, PitchMode, RenderSettings, StftConfig,
    Stretcher, StretcherConfig,
};
use xodvox_infer::{
    load_backend, offline_engine, BackendKind, BatchOptions, ModelBundle, Preset, Processor,
    ProcessorControls, WaitMode,
};

use crate::audio::{fit_length, read_wav_mono, write_wav_mono};
use crate::error::{io_err, EvalError, Result};
use crate::set::Task;

/// Which engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// XodVox with the neural phase engine on the given backend.
    Neural(BackendKind),
    /// XodVox with the classical phase vocoder.
    Classic,
    /// XodVox with the classical phase vocoder on the older resampling pitch path
    /// (stretch by the pitch ratio, then resample; pitch-dependent latency).
    ClassicResample,
    /// `rubberband -3` (R3, "finer").
    RubberbandR3,
    /// `rubberband -2` (R2, "faster").
    RubberbandR2,
    /// `sox … tempo … pitch …`.
    Sox,
    /// Signalsmith Stretch (`signalsmith-stretch` crate, default preset).
    Signalsmith,
}

impl EngineKind {
    /// Every engine, in report order.
    pub const ALL: [EngineKind; 8] = [
        EngineKind::Neural(BackendKind::Tract),
        EngineKind::Neural(BackendKind::Ort),
        EngineKind::Classic,
        EngineKind::ClassicResample,
        EngineKind::RubberbandR3,
        EngineKind::RubberbandR2,
        EngineKind::Sox,
        EngineKind::Signalsmith,
    ];

    /// The name used on the command line (`--engines`).
    pub fn key(&self) -> &'static str {
        match self {
            Self::Neural(BackendKind::Tract) => "neural",
            Self::Neural(BackendKind::Ort) => "neural-ort",
            Self::Classic => "classic",
            Self::ClassicResample => "classic-resample",
            Self::RubberbandR3 => "rb-fine",
            Self::RubberbandR2 => "rb-fast",
            Self::Sox => "sox",
            Self::Signalsmith => "signalsmith",
        }
    }

    /// Parses a key (`neural`, `neural-tract`, `neural-ort`, `classic`, `classic-resample`,
    /// `rb-fine`, `rb-fast`, `sox`, `signalsmith`).
    ///
    /// # Errors
    /// [`EvalError::Usage`] naming the unknown key and the valid ones.
    pub fn parse(key: &str) -> Result<Self> {
        match key.trim() {
            "neural-tract" => Ok(Self::Neural(BackendKind::Tract)),
            k => Self::ALL.into_iter().find(|e| e.key() == k).ok_or_else(|| {
                EvalError::Usage(format!(
                    "unknown engine '{k}' (expected one of: {})",
                    Self::ALL.map(|e| e.key()).join(", ")
                ))
            }),
        }
    }

    /// Parses a comma-separated list; `all` means [`EngineKind::ALL`].
    ///
    /// # Errors
    /// An unknown key, or an empty list.
    pub fn parse_list(list: &str) -> Result<Vec<Self>> {
        if list.trim() == "all" {
            return Ok(Self::ALL.to_vec());
        }
        let mut out = Vec::new();
        for key in list.split(',').filter(|k| !k.trim().is_empty()) {
            let kind = Self::parse(key)?;
            if !out.contains(&kind) {
                out.push(kind);
            }
        }
        if out.is_empty() {
            return Err(EvalError::Usage("no engines given".into()));
        }
        Ok(out)
    }
}

/// Where engines come from.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Model bundle folder for the neural engine; `None` = the embedded default model.
    pub model_dir: Option<PathBuf>,
    /// Search path for external tools (`PATH` syntax); `None` = the process's `PATH`.
    pub search_path: Option<OsString>,
}

/// An engine that could not be used, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Skipped {
    /// Command-line key.
    pub key: String,
    /// Label for the report.
    pub label: String,
    /// Why it was skipped.
    pub reason: String,
}

/// One processed clip.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// Output, exactly `task.output_len(input_len)` samples.
    pub audio: Vec<f32>,
    /// Samples added (positive) or cut (negative) to reach that length.
    pub length_fix: i64,
    /// Wall-clock seconds of the processing (external tools: including process start and
    /// WAV I/O).
    pub seconds: f64,
    /// Peak memory in bytes: for external tools the child's peak resident set; in process,
    /// the rise of this process's peak resident set during the render (`None` if unknown).
    pub peak_memory_bytes: Option<u64>,
}

enum Inner {
    Classic(PitchMode),
    Neural {
        bundle: ModelBundle,
        backend: BackendKind,
    },
    Tool {
        program: PathBuf,
        dir: tempfile::TempDir,
    },
    #[cfg(feature = "signalsmith")]
    Signalsmith,
}

/// A ready-to-use engine.
pub struct Engine {
    kind: EngineKind,
    label: String,
    version: String,
    inner: Inner,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("kind", &self.kind)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// Finds `program` in `search_path` (or `PATH`).
pub fn find_program(program: &str, search_path: Option<&OsStr>) -> Option<PathBuf> {
    let env_path;
    let path = match search_path {
        Some(p) => p,
        None => {
            env_path = std::env::var_os("PATH")?;
            &env_path
        }
    };
    std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn tool_version(program: &Path, arg: &str) -> String {
    Command::new(program)
        .arg(arg)
        .stdin(Stdio::null())
        .output()
        .ok()
        .map(|o| {
            let text = String::from_utf8_lossy(if o.stdout.is_empty() {
                &o.stderr
            } else {
                &o.stdout
            })
            .to_string();
            text.lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_default()
}

/// The default label of an engine kind (before a model is known).
pub fn default_label(kind: EngineKind) -> String {
    match kind {
        EngineKind::Neural(BackendKind::Tract) => "XodVox neural (tract)".into(),
        EngineKind::Neural(BackendKind::Ort) => "XodVox neural (ONNX Runtime)".into(),
        EngineKind::Classic => "XodVox classic".into(),
        EngineKind::ClassicResample => "XodVox classic (resampling pitch path)".into(),
        EngineKind::RubberbandR3 => "Rubber Band R3 (-3)".into(),
        EngineKind::RubberbandR2 => "Rubber Band R2 (-2)".into(),
        EngineKind::Sox => "SoX tempo/pitch".into(),
        EngineKind::Signalsmith => "Signalsmith Stretch".into(),
    }
}

/// Prepares the requested engines; those that cannot run here (tool not installed, backend not
/// compiled in, model unreadable) are returned as [`Skipped`] with the reason, never an error.
pub fn prepare_engines(
    kinds: &[EngineKind],
    options: &EngineOptions,
) -> (Vec<Engine>, Vec<Skipped>) {
    let mut engines = Vec::new();
    let mut skipped = Vec::new();
    for &kind in kinds {
        match prepare(kind, options) {
            Ok(engine) => engines.push(engine),
            Err(reason) => skipped.push(Skipped {
                key: kind.key().into(),
                label: default_label(kind),
                reason,
            }),
        }
    }
    (engines, skipped)
}

fn prepare(kind: EngineKind, options: &EngineOptions) -> std::result::Result<Engine, String> {
    let tool = |name: &str, version_arg: &str| {
        let program = find_program(name, options.search_path.as_deref())
            .ok_or_else(|| format!("`{name}` is not installed (not found on PATH)"))?;
        let dir = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
        let version = tool_version(&program, version_arg);
        Ok::<_, String>((Inner::Tool { program, dir }, version))
    };
    let (inner, version, label) = match kind {
        EngineKind::Classic | EngineKind::ClassicResample => (
            Inner::Classic(if kind == EngineKind::Classic {
                PitchMode::Spectral
            } else {
                PitchMode::Resample
            }),
            env!("CARGO_PKG_VERSION").to_string(),
            default_label(kind),
        ),
        EngineKind::Neural(backend) => {
            let bundle = match &options.model_dir {
                Some(dir) => ModelBundle::from_dir(dir),
                None => ModelBundle::embedded_default(),
            }
            .map_err(|e| e.to_string())?;
            // Loading once proves the backend is compiled in and accepts the graph.
            load_backend(backend, &bundle).map_err(|e| e.to_string())?;
            let backend_name = match backend {
                BackendKind::Tract => "tract",
                BackendKind::Ort => "ONNX Runtime",
            };
            let label = if options.model_dir.is_none() {
                format!("XodVox neural, {backend_name} (shipped default model)")
            } else if bundle.meta.test_fixture {
                format!(
                    "XodVox neural, {backend_name} ({}: test fixture model, untrained)",
                    bundle.source
                )
            } else {
                format!("XodVox neural, {backend_name} ({})", bundle.source)
            };
            let version = bundle.source.clone();
            (Inner::Neural { bundle, backend }, version, label)
        }
        EngineKind::RubberbandR3 | EngineKind::RubberbandR2 => {
            let (inner, version) = tool("rubberband", "-V")?;
            (inner, version, default_label(kind))
        }
        EngineKind::Sox => {
            let (inner, version) = tool("sox", "--version")?;
            let version = version
                .find("SoX")
                .map_or(version.clone(), |i| version[i..].to_string());
            (inner, version, default_label(kind))
        }
        #[cfg(feature = "signalsmith")]
        EngineKind::Signalsmith => (
            Inner::Signalsmith,
            "signalsmith-stretch crate 0.1".into(),
            default_label(kind),
        ),
        #[cfg(not(feature = "signalsmith"))]
        EngineKind::Signalsmith => {
            return Err(
                "built without the `signalsmith` feature of xodvox-eval (needs libclang-dev)"
                    .into(),
            )
        }
    };
    Ok(Engine {
        kind,
        label,
        version,
        inner,
    })
}

/// Peak resident set size of this process in bytes (`VmHWM`), Linux only.
fn peak_rss_bytes() -> Option<u64> {
    proc_status_kb("VmHWM:").map(|kb| kb * 1024)
}

fn proc_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Resets this process's peak RSS to its current RSS (Linux `clear_refs` 5); returns the
/// current RSS in bytes if that worked.
fn reset_peak_rss() -> Option<u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    proc_status_kb("VmRSS:").map(|kb| kb * 1024)
}

impl Engine {
    /// What it is.
    pub fn kind(&self) -> EngineKind {
        self.kind
    }

    /// Label for the report.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Version of the tool or model source.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Processes a mono clip for `task`.
    ///
    /// # Errors
    /// The engine failed (tool exit status, DSP refusing the settings, a model for another
    /// sample rate).
    pub fn render(&self, input: &[f32], sample_rate: u32, task: Task) -> Result<Rendered> {
        let want = task.output_len(input.len());
        let before = match &self.inner {
            Inner::Tool { .. } => None,
            _ => reset_peak_rss(),
        };
        let started = Instant::now();
        let (mut audio, child_peak) = match &self.inner {
            Inner::Classic(mode) => (
                render_xodvox(input, sample_rate, task, classic_engine(2048), *mode)?,
                None,
            ),
            Inner::Neural { bundle, backend } => {
                if bundle.meta.sample_rate != sample_rate {
                    return Err(EvalError::Usage(format!(
                        "model {} is for {} Hz, clip is {sample_rate} Hz",
                        bundle.source, bundle.meta.sample_rate
                    )));
                }
                // The batched offline engine, inline (one core, as the other in-process
                // engines): the frame-by-frame engine's output, faster.
                let options = BatchOptions {
                    workers: 0,
                    ..BatchOptions::default()
                };
                let engine = offline_engine(*backend, bundle, options, task.pitch_semitones)?;
                // Offline renders run on the pitch path the model was trained for.
                let mode = bundle.meta.pitch_path.mode();
                (render_xodvox(input, sample_rate, task, engine, mode)?, None)
            }
            Inner::Tool { program, dir } => {
                let (audio, peak) = self.run_tool(program, dir.path(), input, sample_rate, task)?;
                (audio, peak)
            }
            #[cfg(feature = "signalsmith")]
            Inner::Signalsmith => (render_signalsmith(input, sample_rate, task), None),
        };
        let seconds = started.elapsed().as_secs_f64();
        let peak_memory_bytes = child_peak.or_else(|| {
            let before = before?;
            Some(peak_rss_bytes()?.saturating_sub(before))
        });
        let length_fix = fit_length(&mut audio, want);
        Ok(Rendered {
            audio,
            length_fix,
            seconds,
            peak_memory_bytes,
        })
    }

    fn run_tool(
        &self,
        program: &Path,
        dir: &Path,
        input: &[f32],
        sample_rate: u32,
        task: Task,
    ) -> Result<(Vec<f32>, Option<u64>)> {
        let in_path = dir.join("in.wav");
        let out_path = dir.join("out.wav");
        let _ = std::fs::remove_file(&out_path);
        write_wav_mono(&in_path, input, sample_rate)?;
        let argv = tool_argv(self.kind, task, &in_path, &out_path);
        let (ok, stderr, peak) = run_measured(program, &argv, dir)?;
        if !ok {
            return Err(EvalError::Tool {
                tool: self.kind.key().into(),
                message: format!("{} failed: {}", program.display(), stderr.trim()),
            });
        }
        let (audio, sr) = read_wav_mono(&out_path)?;
        if sr != sample_rate {
            return Err(EvalError::Tool {
                tool: self.kind.key().into(),
                message: format!("wrote {sr} Hz instead of {sample_rate} Hz"),
            });
        }
        Ok((audio, peak))
    }

    /// Samples of delay a real-time (streaming) use of this engine has, where known.
    pub fn streaming_latency(&self, sample_rate: u32, task: Task) -> Option<usize> {
        self.hop_processor(sample_rate, task, 512)
            .ok()
            .flatten()
            .map(|p| p.latency_samples())
    }

    /// A streaming processor working in blocks of `block` samples at stretch 1, for per-hop
    /// timing; `None` for engines that are only available as offline command-line tools.
    ///
    /// # Errors
    /// The chain refused the settings or the model could not be loaded.
    pub fn hop_processor(
        &self,
        sample_rate: u32,
        task: Task,
        block: usize,
    ) -> Result<Option<Box<dyn HopProcessor>>> {
        let stretcher = |engine: Box<dyn PhaseEngine>,
                         pitch_mode: PitchMode|
         -> Result<Box<dyn HopProcessor>> {
            let mut st = Stretcher::new(
                StretcherConfig {
                    sample_rate: f64::from(sample_rate),
                    channels: 1,
                    stft: StftConfig::default(),
                    min_pitch_semitones: task.pitch_semitones.min(0.0),
                    max_pitch_semitones: task.pitch_semitones.max(0.0),
                    pitch_mode,
                },
                engine,
            )?;
            st.set_controls(Controls {
                stretch: 1.0,
                pitch_semitones: task.pitch_semitones,
                style_index: 0,
            })?;
            Ok(Box::new(StretcherHop(st)))
        };
        // The constant-latency engines run as the plugin does: the real-time `Processor`.
        let processor =
            |model: Option<&ModelBundle>, backend: BackendKind| -> Result<Box<dyn HopProcessor>> {
                let preset = Preset {
                    model,
                    backend,
                    // Deterministic: every frame neural (as a host's offline bounce).
                    wait: WaitMode::Offline,
                };
                let mut p = Processor::new(&preset, f64::from(sample_rate), 1)?;
                p.set_controls(ProcessorControls {
                    pitch_semitones: task.pitch_semitones,
                    style: 0,
                    neural: model.is_some(),
                });
                p.reset();
                if model.is_some() && !p.neural_available() {
                    return Err(EvalError::Usage(format!(
                        "real-time processor: {}",
                        p.availability().message()
                    )));
                }
                Ok(Box::new(ProcessorHop(p)))
            };
        match &self.inner {
            Inner::Classic(PitchMode::Spectral) => Ok(Some(processor(None, BackendKind::Tract)?)),
            // The resampling path is an offline option; streamed here on its own stretcher.
            Inner::Classic(mode) => Ok(Some(stretcher(classic_engine(2048), *mode)?)),
            Inner::Neural { bundle, backend } => Ok(Some(processor(Some(bundle), *backend)?)),
            Inner::Tool { .. } => Ok(None),
            #[cfg(feature = "signalsmith")]
            Inner::Signalsmith => {
                let mut s = signalsmith_stretch::Stretch::preset_default(1, sample_rate);
                s.set_transpose_factor_semitones(task.pitch_semitones as f32, None);
                Ok(Some(Box::new(SignalsmithHop {
                    stretch: s,
                    _block: block,
                })))
            }
        }
    }
}

/// A streaming processor: one call per block, same number of samples in and out.
pub trait HopProcessor {
    /// Processes one block (`input.len() == output.len()`).
    fn process(&mut self, input: &[f32], output: &mut [f32]);
    /// Delay of the output in samples.
    fn latency_samples(&self) -> usize;
}

struct StretcherHop(Stretcher);

struct ProcessorHop(Processor);

impl HopProcessor for ProcessorHop {
    fn process(&mut self, input: &[f32], output: &mut [f32]) {
        self.0.process(&[input], &mut [output]);
    }
    fn latency_samples(&self) -> usize {
        self.0.latency_samples()
    }
}

impl HopProcessor for StretcherHop {
    fn process(&mut self, input: &[f32], output: &mut [f32]) {
        self.0.process(&[input], &mut [output]);
    }
    fn latency_samples(&self) -> usize {
        self.0.latency_samples()
    }
}

#[cfg(feature = "signalsmith")]
struct SignalsmithHop {
    stretch: signalsmith_stretch::Stretch,
    _block: usize,
}

#[cfg(feature = "signalsmith")]
impl HopProcessor for SignalsmithHop {
    fn process(&mut self, input: &[f32], output: &mut [f32]) {
        self.stretch.process(input, output);
    }
    fn latency_samples(&self) -> usize {
        self.stretch.input_latency() + self.stretch.output_latency()
    }
}

fn render_xodvox(
    input: &[f32],
    sample_rate: u32,
    task: Task,
    engine: Box<dyn PhaseEngine>,
    pitch_mode: PitchMode,
) -> Result<Vec<f32>> {
    let settings = RenderSettings {
        sample_rate: f64::from(sample_rate),
        stretch: task.stretch,
        pitch_semitones: task.pitch_semitones,
        pitch_mode,
        ..RenderSettings::default()
    };
    let result = render_offline(&[input.to_vec()], &settings, engine, &mut |_, _| {})?;
    Ok(result.channels.into_iter().next().unwrap_or_default())
}

#[cfg(feature = "signalsmith")]
fn render_signalsmith(input: &[f32], sample_rate: u32, task: Task) -> Vec<f32> {
    let mut stretch = signalsmith_stretch::Stretch::preset_default(1, sample_rate);
    stretch.set_transpose_factor_semitones(task.pitch_semitones as f32, None);
    let mut out = vec![0.0f32; task.output_len(input.len())];
    // `exact` seeks to the start, processes and flushes, compensating both latencies.
    if !stretch.exact(input, &mut out) {
        // Too short for `exact`: plain streaming, output shifted by its latency.
        let latency = stretch.output_latency() + stretch.input_latency();
        let mut long = vec![0.0f32; out.len() + latency];
        let mut padded = input.to_vec();
        padded.resize(input.len() + stretch.input_latency(), 0.0);
        stretch.reset();
        stretch.process(&padded, &mut long);
        let n = out.len();
        out.copy_from_slice(&long[latency.min(long.len())..][..n]);
    }
    out
}

/// Command-line arguments of an external tool for `task`, in that tool's conventions:
/// `rubberband -t` is a duration ratio and `-p` semitones; `sox tempo` a speed factor
/// (1 / duration ratio) and `sox pitch` cents.
pub fn tool_argv(kind: EngineKind, task: Task, input: &Path, output: &Path) -> Vec<OsString> {
    match kind {
        EngineKind::RubberbandR3 | EngineKind::RubberbandR2 => vec![
            if kind == EngineKind::RubberbandR3 {
                "-3"
            } else {
                "-2"
            }
            .into(),
            "-q".into(),
            "-t".into(),
            task.stretch.to_string().into(),
            "-p".into(),
            task.pitch_semitones.to_string().into(),
            input.into(),
            output.into(),
        ],
        EngineKind::Sox => {
            let mut argv: Vec<OsString> = vec!["-q".into(), input.into(), output.into()];
            if task.stretch != 1.0 {
                argv.extend(["tempo".into(), format!("{:.6}", 1.0 / task.stretch).into()]);
            }
            if task.pitch_semitones != 0.0 {
                argv.extend([
                    "pitch".into(),
                    format!("{}", task.pitch_semitones * 100.0).into(),
                ]);
            }
            argv
        }
        _ => Vec::new(),
    }
}

/// Runs `program` with stdout discarded and stderr captured to a file in `dir`. Its peak
/// resident set is sampled from `/proc/PID/status` (`VmHWM`) every 2 ms while it runs: the
/// `wait4` figure is useless here, because Linux carries the spawning process's high-water mark
/// across `exec`. Returns (success, stderr, peak bytes).
fn run_measured(
    program: &Path,
    argv: &[OsString],
    dir: &Path,
) -> Result<(bool, String, Option<u64>)> {
    let err_path = dir.join("stderr.txt");
    let err_file = std::fs::File::create(&err_path).map_err(io_err(&err_path))?;
    let mut child = Command::new(program)
        .args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(err_file))
        .spawn()
        .map_err(|e| EvalError::Tool {
            tool: program.display().to_string(),
            message: format!("cannot start: {e}"),
        })?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb: Option<u64> = None;
    let status = loop {
        // Read before polling the exit: once reaped, the file is gone.
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            let hwm = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok());
            if let Some(kb) = hwm {
                peak_kb = Some(peak_kb.map_or(kb, |p| p.max(kb)));
            }
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(2)),
            Err(e) => {
                return Err(EvalError::Tool {
                    tool: program.display().to_string(),
                    message: format!("wait failed: {e}"),
                })
            }
        }
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    Ok((status.success(), stderr, peak_kb.map(|kb| kb * 1024)))
}
