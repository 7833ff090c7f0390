//! Inference backends behind one trait: tract (pure Rust, default) and ONNX Runtime
//! (`ort` feature, library loaded at run time).

use std::str::FromStr;

use crate::bundle::ModelBundle;
use crate::error::InferError;

/// Runs the phase network on a window of magnitude frames. Not real-time safe (backends
/// allocate): call it from a worker thread, never from the audio thread.
pub trait PhaseBackend: Send {
    /// Backend name for reports.
    fn name(&self) -> &'static str;

    /// Runs the graph. `mag` holds `num_bins × frames` values in the graph's layout
    /// `[1, 1, num_bins, frames]` (bin-major, time-minor, oldest frame first), `frames` in
    /// `1..=context_frames`; `advance` the advance deviations of the same frames in the same
    /// layout (fed as the `advance` input when the graph has one, ignored otherwise; a graph
    /// with the input given `None` is an error); `control` the control vector. Writes the
    /// output of the last frame into `phase_out`: `num_bins` real parts, then `num_bins`
    /// imaginary parts.
    ///
    /// # Errors
    /// [`InferError::Backend`] if the runtime fails or a required input is missing.
    fn run(
        &mut self,
        mag: &[f32],
        advance: Option<&[f32]>,
        frames: usize,
        control: &[f32],
        phase_out: &mut [f32],
    ) -> Result<(), InferError>;
}

/// Which backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// tract-onnx, pure Rust.
    Tract,
    /// ONNX Runtime through `ort` (CPU execution provider).
    Ort,
}

impl FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tract" => Ok(Self::Tract),
            "ort" | "onnxruntime" => Ok(Self::Ort),
            other => Err(format!("unknown backend '{other}' (expected tract or ort)")),
        }
    }
}

/// Backends compiled into this build.
pub fn available_backends() -> Vec<BackendKind> {
    let mut v = Vec::new();
    if cfg!(feature = "tract") {
        v.push(BackendKind::Tract);
    }
    if cfg!(feature = "ort") {
        v.push(BackendKind::Ort);
    }
    v
}

/// Loads `bundle` into the chosen backend.
///
/// # Errors
/// The backend is not compiled in, its library is missing, or it rejects the graph.
pub fn load_backend(
    kind: BackendKind,
    bundle: &ModelBundle,
) -> Result<Box<dyn PhaseBackend>, InferError> {
    match kind {
        #[cfg(feature = "tract")]
        BackendKind::Tract => Ok(Box::new(crate::tract_backend::TractBackend::new(bundle)?)),
        #[cfg(feature = "ort")]
        BackendKind::Ort => Ok(Box::new(crate::ort_backend::OrtBackend::new(bundle)?)),
        #[allow(unreachable_patterns)]
        other => {
            let _ = bundle;
            Err(InferError::Unavailable(
                format!("{other:?}").to_lowercase(),
                "not compiled into this build (cargo feature)".into(),
            ))
        }
    }
}

/// Checks that the graph's input names are exactly the ones `model.json` declares (in any
/// order); shared by the backends.
///
/// # Errors
/// [`InferError::Mismatch`] naming both lists.
pub(crate) fn check_graph_inputs(bundle: &ModelBundle, graph: &[&str]) -> Result<(), InferError> {
    let mut declared: Vec<&str> = bundle.meta.inputs.iter().map(|t| t.name.as_str()).collect();
    let mut found = graph.to_vec();
    declared.sort_unstable();
    found.sort_unstable();
    if declared != found {
        return Err(InferError::Mismatch {
            source_name: bundle.source.clone(),
            field: "model.onnx inputs",
            expected: format!("the inputs of model.json {declared:?}"),
            got: format!("{graph:?}"),
        });
    }
    Ok(())
}
