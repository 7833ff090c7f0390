//! `--engine neural`: load a model bundle into the batched offline neural phase engine (the
//! network runs over blocks of frames on worker threads; the audio is converted to the model's
//! sample rate and back by `render`), on ONNX Runtime where its library is found and loads,
//! otherwise on tract ([`choose_backend`]).

use std::path::Path;

use xodvox_dsp::PhaseEngine;
use xodvox_infer::{
    offline_engine, style_display_name, style_position, BackendKind, BatchOptions, ModelBundle,
};

use crate::errors::{CliError, ExitKind};

/// A loaded neural engine and the framing it needs.
pub struct NeuralSetup {
    /// The engine ([`offline_engine`]: batched, with [`offline_options`]), ready for the
    /// offline chain.
    pub engine: Box<dyn PhaseEngine>,
    /// Sample rate the model was trained at, Hz.
    pub sample_rate: u32,
    /// FFT size of the model.
    pub n_fft: usize,
    /// Synthesis hop of the model.
    pub hop: usize,
    /// The pitch path the model was trained for (its bundle's `pitch_path`).
    pub pitch_mode: xodvox_dsp::PitchMode,
    /// The model's style names (its `style` control's classes), in index order.
    pub styles: Vec<String>,
}

impl NeuralSetup {
    /// Index of style `name` among the model's styles: its name in the bundle or its display
    /// name (`xodvox_infer::style_display_name`), ignoring case.
    ///
    /// # Errors
    /// Usage error naming the model's styles when `name` is not one of them.
    pub fn style_index(&self, name: &str) -> Result<usize, CliError> {
        style_position(&self.styles, name).ok_or_else(|| {
            let known = if self.styles.is_empty() {
                "the model has no style control".to_string()
            } else {
                let names: Vec<String> = self
                    .styles
                    .iter()
                    .map(|s| format!("{s} ({})", style_display_name(s)))
                    .collect();
                format!("the model's styles are {}", names.join(", "))
            };
            CliError::new(
                ExitKind::Usage,
                format!("--style {name}: unknown style; {known}"),
            )
        })
    }
}

/// Loads `DIR/model.onnx` + `DIR/model.json` (or, without `--model`, the shipped default model
/// embedded in the binary) into the offline engine for `pitch_semitones` ([`offline_engine`]:
/// the batched one with `threads` inference threads, default [`offline_options`]'s), on the
/// backend [`choose_backend`] picks.
///
/// # Errors
/// Usage error for an unknown `XODVOX_BACKEND`; input error for a missing or broken bundle,
/// naming the file and the problem. An ONNX Runtime that cannot be used is not an error: the
/// render falls back to tract with one `warning:` line.
pub fn load(
    model: Option<&Path>,
    threads: Option<usize>,
    pitch_semitones: f64,
) -> Result<NeuralSetup, CliError> {
    let requested = requested_backend()?;
    let bundle = match model {
        Some(dir) => ModelBundle::from_dir(dir)
            .map_err(|e| CliError::new(ExitKind::Input, format!("model bundle: {e}")))?,
        None => ModelBundle::embedded_default()
            .map_err(|e| CliError::new(ExitKind::Other, format!("embedded model: {e}")))?,
    };
    let mut options = offline_options();
    if let Some(n) = threads {
        options.workers = n.max(1);
    }
    let tract = || {
        offline_engine(BackendKind::Tract, &bundle, options, pitch_semitones).map_err(|e| {
            CliError::new(
                ExitKind::Input,
                format!("model bundle {}: {e}", bundle.source),
            )
        })
    };
    let engine = match choose_backend(requested) {
        BackendKind::Tract => tract()?,
        BackendKind::Ort => {
            match offline_engine(BackendKind::Ort, &bundle, options, pitch_semitones) {
                Ok(engine) => engine,
                Err(ort_error) => {
                    // A bundle tract cannot load either is broken: report tract's error.
                    let engine = tract()?;
                    eprintln!(
                        "warning: ONNX Runtime backend unavailable, using tract: {}",
                        one_line(&ort_error.to_string())
                    );
                    engine
                }
            }
        }
    };
    if bundle.meta.test_fixture {
        eprintln!(
            "warning: {}: this model is a test fixture, not a trained model; expect poor audio",
            bundle.source
        );
    }
    let meta = bundle.meta.clone();
    Ok(NeuralSetup {
        engine,
        sample_rate: meta.sample_rate,
        n_fft: meta.n_fft,
        hop: meta.hop,
        pitch_mode: meta.pitch_path.mode(),
        styles: meta.style_names(),
    })
}

/// `XODVOX_BACKEND` (`tract`, `ort`), when set and not empty.
///
/// # Errors
/// Usage error for another value.
fn requested_backend() -> Result<Option<BackendKind>, CliError> {
    match std::env::var("XODVOX_BACKEND") {
        Ok(v) if !v.is_empty() => v
            .parse()
            .map(Some)
            .map_err(|e: String| CliError::new(ExitKind::Usage, format!("XODVOX_BACKEND: {e}"))),
        _ => Ok(None),
    }
}

/// The backend of a neural render: the one `requested` (`XODVOX_BACKEND`) if any; otherwise
/// ONNX Runtime when this build has it and its library can be found
/// (`xodvox_infer::ort_backend::locate_library`: `ORT_DYLIB_PATH`, the onnxruntime Python
/// wheel of `python3`, a system `libonnxruntime.so`), since it renders faster than tract,
/// else tract. Whether the library actually loads is found out when the engine is built
/// (then [`load`] falls back to tract).
pub fn choose_backend(requested: Option<BackendKind>) -> BackendKind {
    if let Some(kind) = requested {
        return kind;
    }
    #[cfg(feature = "ort")]
    if xodvox_infer::ort_backend::locate_library().is_some() {
        return BackendKind::Ort;
    }
    BackendKind::Tract
}

/// `message` on one line (ONNX Runtime's errors may span several).
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How the offline render runs the network: 64 new frames per call, on one worker thread per
/// core beyond the caller's (at least one), so analysis and synthesis overlap inference.
pub fn offline_options() -> BatchOptions {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    BatchOptions {
        workers: (cores - 1).clamp(1, 4),
        ..BatchOptions::default()
    }
}
