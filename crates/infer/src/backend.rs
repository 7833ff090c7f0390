//! Inference backends behind one trait: tract (pure Rust, default) and ONNX Runtime
//! (`ort` feature, library loaded at run time).

use std::str::FromStr;

use crate::bundle::ModelBundle;
use crate::error::InferError;
use crate::step::StepState;

/// Runs the phase network on a window of magnitude frames ([`PhaseBackend::run`]) or, when the
/// bundle has a step graph, on one frame with cached per-layer state
/// ([`PhaseBackend::step`]). Not real-time safe (backends allocate): call it from a worker
/// thread, never from the audio thread.
pub trait PhaseBackend: Send {
    /// Backend name for reports.
    fn name(&self) -> &'static str;

    /// Runs the graph. `mag` holds `num_bins × frames` values in the graph's layout
    /// `[1, 1, num_bins, frames]` (bin-major, time-minor, oldest frame first), `frames` in
    /// `1..=context_frames`; `advance` the guide values of the same frames: the advance
    /// deviations in the same layout, then (models with the `lock` input) the lock values in
    /// the same layout (fed as the `advance` and `lock` inputs when the graph has them,
    /// ignored otherwise; a graph with the inputs given `None` or too few values is an
    /// error); `control` the control vector. Writes the
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

    /// Runs the graph on a block of `frames` frames (any number ≥ 1; inputs as in
    /// [`PhaseBackend::run`]) and writes the output of **every** frame into `out`, in the
    /// graph's layout `[2, num_bins, frames]` (the real parts of every bin and frame, then the
    /// imaginary parts; time-minor): `2 × num_bins × frames` values. The graph is causal, so
    /// frame `t` of the block equals the whole-clip output when the block holds at least the
    /// `context_frames − 1` frames before it (or starts with the stream). The offline batched
    /// engine ([`crate::BatchedNeuralEngine`]) runs the network this way.
    ///
    /// # Errors
    /// [`InferError::Backend`] if the runtime fails, a required input is missing, or the
    /// backend does not run blocks (the default).
    fn run_frames(
        &mut self,
        mag: &[f32],
        advance: Option<&[f32]>,
        frames: usize,
        control: &[f32],
        out: &mut [f32],
    ) -> Result<(), InferError> {
        let _ = (mag, advance, frames, control, out);
        Err(InferError::backend(
            self.name(),
            "this backend does not run blocks of frames",
        ))
    }

    /// Whether the bundle's step graph is loaded (then [`PhaseBackend::step`] works).
    fn has_step(&self) -> bool {
        false
    }

    /// Runs the step graph on one frame: `mag` (`num_bins` values), `advance` (the same
    /// frame's guide values, advance then lock, as in [`PhaseBackend::run`]; required when the
    /// graph has those inputs), `control`, and
    /// `state` (this stream's states, [`StepState::new`] for the bundle's `step` entry), which
    /// is replaced by the states after this frame. Writes the frame's output into
    /// `phase_out` as [`PhaseBackend::run`] does. On error `state` may be partly updated: zero
    /// it ([`StepState::reset`]) before the next frame.
    ///
    /// # Errors
    /// [`InferError::Backend`] if there is no step graph, a required input is missing or the
    /// runtime fails.
    fn step(
        &mut self,
        state: &mut StepState,
        mag: &[f32],
        advance: Option<&[f32]>,
        control: &[f32],
        phase_out: &mut [f32],
    ) -> Result<(), InferError> {
        let _ = (state, mag, advance, control, phase_out);
        Err(InferError::backend(self.name(), "no step graph is loaded"))
    }
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

/// Loads `bundle` into the chosen backend, with its step graph when it has one (use
/// [`ModelBundle::without_step`] to run the window path on such a bundle).
///
/// # Errors
/// The backend is not compiled in, its library is missing, or it rejects a graph (the step
/// graph's errors say so).
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

/// Input and output names the step graph must have: `model.json`'s inputs and the states'
/// inputs; `phase` and the states' outputs.
pub(crate) fn step_io_names(bundle: &ModelBundle) -> Option<(Vec<&str>, Vec<&str>)> {
    let step = bundle.meta.step.as_ref()?;
    let mut inputs: Vec<&str> = bundle.meta.inputs.iter().map(|t| t.name.as_str()).collect();
    inputs.extend(step.states.iter().map(|s| s.input.as_str()));
    let mut outputs = vec!["phase"];
    outputs.extend(step.states.iter().map(|s| s.output.as_str()));
    Some((inputs, outputs))
}

/// Checks the step graph's input and output names against `model.json` (inputs in any order,
/// outputs in any order); shared by the backends.
///
/// # Errors
/// [`InferError::Mismatch`] naming both lists.
pub(crate) fn check_step_io(
    bundle: &ModelBundle,
    graph_inputs: &[&str],
    graph_outputs: &[&str],
) -> Result<(), InferError> {
    let Some((inputs, outputs)) = step_io_names(bundle) else {
        return Ok(());
    };
    fn sorted<'a>(v: &[&'a str]) -> Vec<&'a str> {
        let mut v = v.to_vec();
        v.sort_unstable();
        v
    }
    for (field, declared, found) in [
        ("step graph inputs", &inputs, graph_inputs),
        ("step graph outputs", &outputs, graph_outputs),
    ] {
        if sorted(declared) != sorted(found) {
            return Err(InferError::Mismatch {
                source_name: bundle.source.clone(),
                field,
                expected: format!("the names model.json declares {declared:?}"),
                got: format!("{found:?}"),
            });
        }
    }
    Ok(())
}
