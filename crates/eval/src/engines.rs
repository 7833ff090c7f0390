//! The engines under test, behind one interface: XodVox classical and neural (in process),
//! Rubber Band R3/R2 and SoX (their command-line tools), Signalsmith Stretch (in process,
//! through the crates.io bindings). Every engine returns a latency-free output of exactly
//! `round(N × stretch)` samples; how much was cut or padded to get there is recorded.
//!
//! This module holds the engine itself (preparing and offline rendering); the kinds and their
//! keys are in `kind`, the external tools in `tool`, streaming per-hop use in `hop`.

mod hop;
mod kind;
mod tool;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Instant;

use xodvox_dsp::{
    classical_engine, render_offline, PhaseEngine, PitchMode, RenderSettings, StftConfig,
};
use xodvox_infer::{load_backend, offline_engine, BackendKind, BatchOptions, ModelBundle};

use crate::audio::fit_length;
use crate::error::{EvalError, Result};
use crate::set::Task;

pub use hop::HopProcessor;
pub use kind::{default_label, EngineKind};
use tool::tool_version;
pub use tool::{find_program, tool_argv};

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
    Classical(PitchMode),
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
        EngineKind::Classical | EngineKind::ClassicalResample => (
            Inner::Classical(if kind == EngineKind::Classical {
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
        self.render_style(input, sample_rate, task, None)
    }

    /// [`Engine::render`] in a style: the neural engine uses the model's style called
    /// `style` ([`xodvox_infer::ModelMeta::find_style`]) where it has one, else its style 0;
    /// the other engines have no styles.
    ///
    /// # Errors
    /// As [`Engine::render`].
    pub fn render_style(
        &self,
        input: &[f32],
        sample_rate: u32,
        task: Task,
        style: Option<&str>,
    ) -> Result<Rendered> {
        let want = task.output_len(input.len());
        let before = match &self.inner {
            Inner::Tool { .. } => None,
            _ => reset_peak_rss(),
        };
        let started = Instant::now();
        let (mut audio, child_peak) = match &self.inner {
            Inner::Classical(mode) => (
                render_xodvox(
                    input,
                    sample_rate,
                    task,
                    classical_engine(StftConfig::default().n_fft),
                    *mode,
                    0,
                )?,
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
                let style_index = style.and_then(|s| bundle.meta.find_style(s)).unwrap_or(0);
                let audio = render_xodvox(input, sample_rate, task, engine, mode, style_index)?;
                (audio, None)
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
}

fn render_xodvox(
    input: &[f32],
    sample_rate: u32,
    task: Task,
    engine: Box<dyn PhaseEngine>,
    pitch_mode: PitchMode,
    style_index: usize,
) -> Result<Vec<f32>> {
    let settings = RenderSettings {
        sample_rate: f64::from(sample_rate),
        stretch: task.stretch,
        pitch_semitones: task.pitch_semitones,
        pitch_mode,
        style_index,
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
