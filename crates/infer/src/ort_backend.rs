//! ONNX Runtime backend (cargo feature `ort`), with the library loaded at run time
//! (`load-dynamic`: nothing is downloaded at build time). The library is found by
//! [`locate_library`] (`ORT_DYLIB_PATH`; `libonnxruntime.so` beside the executable; the
//! onnxruntime Python wheel's in the site-packages of `python3`; a system
//! `libonnxruntime.so`) and loaded once by [`init_library`], which turns every failure
//! (missing file, not a library, too old a version, a panic inside `ort`) into an error.
//! Execution providers: CPU (default), CUDA, and TensorRT with FP16, an engine cache
//! directory and min/opt/max shape profiles over the time axis
//! (`XODVOX_ORT_PROVIDER=cpu|cuda|tensorrt`, `XODVOX_TRT_CACHE=DIR`). The step graph, when the
//! bundle has one, gets its own session with the same provider (TensorRT with a one-frame
//! profile).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;
use ort::value::TensorRef;

use crate::backend::{check_step_io, PhaseBackend};
use crate::bundle::ModelBundle;
use crate::error::InferError;
use crate::meta::{ModelMeta, ADVANCE_INPUT, LOCK_INPUT};
use crate::step::StepState;

pub use crate::ort_locate::{locate_library, LibrarySource, OrtLibrary};

/// Execution provider for ONNX Runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// The CPU execution provider.
    Cpu,
    /// NVIDIA CUDA.
    Cuda,
    /// NVIDIA TensorRT (FP16, engine cache, shape profiles), CUDA then CPU as fallbacks.
    TensorRt,
}

impl Provider {
    /// From `XODVOX_ORT_PROVIDER` (default CPU).
    ///
    /// # Errors
    /// [`InferError::Unavailable`] for an unknown provider name.
    pub fn from_env() -> Result<Self, InferError> {
        match std::env::var("XODVOX_ORT_PROVIDER").as_deref() {
            Err(_) | Ok("cpu") | Ok("") => Ok(Self::Cpu),
            Ok("cuda") => Ok(Self::Cuda),
            Ok("tensorrt") | Ok("trt") => Ok(Self::TensorRt),
            Ok(other) => Err(InferError::Unavailable(
                "ort".into(),
                format!("XODVOX_ORT_PROVIDER={other}: expected cpu, cuda or tensorrt"),
            )),
        }
    }
}

/// Finds ([`locate_library`]) and loads the ONNX Runtime library and creates the process's
/// ONNX Runtime environment, once per process (later calls return the first result). A
/// missing file, a file that is not an ONNX Runtime library, one older than this build's
/// API, or a panic inside `ort` while loading all come back as an error, never a panic
/// (the default panic message is not printed either).
///
/// # Errors
/// [`InferError::Unavailable`] saying which file was tried (and how it was found) and why it
/// could not be used, or that none was found.
pub fn init_library() -> Result<&'static OrtLibrary, InferError> {
    runtime().map(|(_, lib)| lib)
}

fn runtime() -> Result<&'static (Environment, OrtLibrary), InferError> {
    static ENV: OnceLock<Result<(Environment, OrtLibrary), String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let lib = locate_library().ok_or_else(|| {
            "no ONNX Runtime library found (set ORT_DYLIB_PATH to a libonnxruntime.so, or pip install onnxruntime)".to_string()
        })?;
        let what = format!("{} ({})", lib.path.display(), lib.source);
        let env = quietly(
            || {
                ort::init_from(&lib.path)
                    .map_err(|e| e.to_string())?
                    .with_name("xodvox")
                    .build()
                    .map_err(|e| e.to_string())
            },
            |panic| format!("ONNX Runtime failed to load: {panic}"),
        )
        .map_err(|e| format!("{what}: {e}"))?;
        Ok((env, lib))
    })
    .as_ref()
    .map_err(|e| InferError::Unavailable("ort".into(), e.clone()))
}

/// Runs `f`, turning a panic into the error `on_panic(message)` without printing the panic
/// message (the panic hook is replaced meanwhile; panics of other threads in that time are
/// not printed either).
fn quietly<T, E>(
    f: impl FnOnce() -> Result<T, E>,
    on_panic: impl FnOnce(&str) -> E,
) -> Result<T, E> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let out = catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    out.unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        Err(on_panic(msg))
    })
}

fn environment() -> Result<&'static Environment, InferError> {
    runtime().map(|(env, _)| env)
}

/// ONNX Runtime backend.
pub struct OrtBackend {
    session: Session,
    bins: usize,
    n_controls: usize,
    /// The per-bin guide inputs the graph takes, in the order of the guide values
    /// (`advance`, then `lock`; fed by name).
    guides: Vec<&'static str>,
    provider: Provider,
    /// The step graph's session, when the bundle has one.
    step: Option<StepSession>,
}

/// The step graph's session and its state names (`model.json` `step.states` order).
struct StepSession {
    session: Session,
    state_inputs: Vec<String>,
    state_outputs: Vec<String>,
}

/// Builds a single-threaded session for `onnx` with `provider`'s execution providers;
/// `profile(frames)` gives the TensorRT shape profile of a call over `frames` frames.
fn build_session(
    env: &Environment,
    onnx: &[u8],
    provider: Provider,
    profile: &dyn Fn(usize) -> String,
    max_frames: usize,
    opt_frames: usize,
) -> Result<Session, InferError> {
    let e = |e| InferError::backend("ort", e);
    let mut builder = Session::builder(env).map_err(e)?;
    builder = builder
        .with_intra_threads(1)
        .map_err(|err| InferError::backend("ort", err))?;
    let eps = match provider {
        // ONNX Runtime's CPU arena: without it (ort's `CPU::default()` disables it) every
        // run mallocs and frees its tensors, and glibc's heap fragments under that churn
        // (a 60-minute offline neural render grew to 155 MB peak RSS; with the arena the
        // memory is taken once and reused: crates/cli/README.md, render memory).
        Provider::Cpu => vec![ort::ep::CPU::default().with_arena_allocator(true).build()],
        Provider::Cuda => vec![ort::ep::CUDA::default().build().error_on_failure()],
        Provider::TensorRt => {
            let cache = std::env::var("XODVOX_TRT_CACHE").unwrap_or_else(|_| {
                std::env::temp_dir()
                    .join("xodvox-trt-cache")
                    .display()
                    .to_string()
            });
            vec![
                ort::ep::TensorRT::default()
                    .with_fp16(true)
                    .with_engine_cache(true)
                    .with_engine_cache_path(cache)
                    .with_profile_min_shapes(profile(1))
                    .with_profile_opt_shapes(profile(opt_frames))
                    .with_profile_max_shapes(profile(max_frames))
                    .build()
                    .error_on_failure(),
                ort::ep::CUDA::default().build(),
            ]
        }
    };
    builder = builder
        .with_execution_providers(eps)
        .map_err(|err| InferError::backend("ort", err))?;
    builder.commit_from_memory(onnx).map_err(e)
}

/// The guide inputs of a graph, in the order of the guide values.
fn guide_names(meta: &ModelMeta) -> Vec<&'static str> {
    let mut names = Vec::new();
    if meta.has_advance() {
        names.push(ADVANCE_INPUT);
    }
    if meta.has_lock() {
        names.push(LOCK_INPUT);
    }
    names
}

/// Adds the guide inputs (`guides` values: one `[1, 1, bins, frames]` block per name in
/// `names`) to `inputs`.
fn push_guides<'a>(
    names: &[&'static str],
    guides: Option<&'a [f32]>,
    bins: usize,
    frames: usize,
    inputs: &mut Vec<(
        std::borrow::Cow<'a, str>,
        ort::session::SessionInputValue<'a>,
    )>,
) -> Result<(), InferError> {
    let block = bins * frames;
    for (k, &name) in names.iter().enumerate() {
        let values = guides
            .and_then(|g| g.get(k * block..(k + 1) * block))
            .ok_or_else(|| {
                InferError::backend(
                    "ort",
                    format!("the model needs the {name} input, none was given"),
                )
            })?;
        let t = TensorRef::from_array_view(([1usize, 1, bins, frames], values))
            .map_err(|e| InferError::backend("ort", e))?;
        inputs.push((name.into(), t.into()));
    }
    Ok(())
}

/// TensorRT shape string of `mag`, `control` (and the guide inputs) over `frames` frames.
fn frame_shapes(meta: &ModelMeta, frames: usize) -> String {
    let advance: String = guide_names(meta)
        .iter()
        .map(|name| format!(",{name}:1x1x{}x{frames}", meta.num_bins))
        .collect();
    format!(
        "mag:1x1x{}x{frames},control:1x{}{advance}",
        meta.num_bins, meta.n_controls
    )
}

/// Loads the bundle's step graph into its own session (`None` without one).
fn load_step(
    env: &Environment,
    bundle: &ModelBundle,
    provider: Provider,
) -> Result<Option<StepSession>, InferError> {
    let (Some(bytes), Some(spec)) = (&bundle.step_onnx, &bundle.meta.step) else {
        return Ok(None);
    };
    let meta = &bundle.meta;
    let profile = |_: usize| {
        let mut s = frame_shapes(meta, 1);
        for st in &spec.states {
            let [c, f, t] = st.dims().unwrap_or([0, 0, 0]);
            s.push_str(&format!(",{}:1x{c}x{f}x{t}", st.input));
        }
        s
    };
    let session = build_session(env, bytes, provider, &profile, 1, 1)
        .map_err(|err| InferError::backend("ort", format!("step graph {}: {err}", spec.file)))?;
    let inputs: Vec<&str> = session.inputs().iter().map(|o| o.name()).collect();
    let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
    check_step_io(bundle, &inputs, &outputs)?;
    Ok(Some(StepSession {
        state_inputs: spec.states.iter().map(|s| s.input.clone()).collect(),
        state_outputs: spec.states.iter().map(|s| s.output.clone()).collect(),
        session,
    }))
}

impl OrtBackend {
    /// Creates a session for the bundle with the provider from `XODVOX_ORT_PROVIDER`.
    ///
    /// # Errors
    /// [`InferError::Unavailable`] without the library; [`InferError::Backend`] if the
    /// session cannot be built.
    pub fn new(bundle: &ModelBundle) -> Result<Self, InferError> {
        Self::with_provider(bundle, Provider::from_env()?)
    }

    /// Creates a session with an explicit execution provider.
    ///
    /// # Errors
    /// As [`OrtBackend::new`].
    pub fn with_provider(bundle: &ModelBundle, provider: Provider) -> Result<Self, InferError> {
        let env = environment()?;
        quietly(
            || Self::build(env, bundle, provider),
            |panic| InferError::backend("ort", format!("session setup panicked: {panic}")),
        )
    }

    fn build(
        env: &Environment,
        bundle: &ModelBundle,
        provider: Provider,
    ) -> Result<Self, InferError> {
        let meta = &bundle.meta;
        let profile = |t: usize| frame_shapes(meta, t);
        let session = build_session(
            env,
            &bundle.onnx,
            provider,
            &profile,
            meta.context_frames.max(64),
            meta.context_frames,
        )?;
        let graph: Vec<&str> = session.inputs().iter().map(|o| o.name()).collect();
        crate::backend::check_graph_inputs(bundle, &graph)?;
        Ok(Self {
            bins: meta.num_bins,
            n_controls: meta.n_controls,
            guides: guide_names(meta),
            session,
            provider,
            step: load_step(env, bundle, provider)?,
        })
    }

    /// The execution provider in use.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Runs the graph on `frames` frames and hands its output (`[1, 2, bins, frames]`,
    /// checked) to `take`.
    fn run_graph(
        &mut self,
        mag: &[f32],
        advance: Option<&[f32]>,
        frames: usize,
        control: &[f32],
        take: &mut dyn FnMut(&[f32]),
    ) -> Result<(), InferError> {
        let e = |e| InferError::backend("ort", e);
        let mag = TensorRef::from_array_view(([1usize, 1, self.bins, frames], mag)).map_err(e)?;
        let ctl = TensorRef::from_array_view(([1usize, self.n_controls], control)).map_err(e)?;
        let mut inputs = ort::inputs!["mag" => mag, "control" => ctl];
        push_guides(&self.guides, advance, self.bins, frames, &mut inputs)?;
        let outputs = self.session.run(inputs).map_err(e)?;
        let (shape, data) = outputs["phase"].try_extract_tensor::<f32>().map_err(e)?;
        let dims: Vec<i64> = shape.iter().copied().collect();
        if dims != [1, 2, self.bins as i64, frames as i64] {
            return Err(InferError::backend("ort", format!("output shape {dims:?}")));
        }
        take(data);
        Ok(())
    }
}

impl PhaseBackend for OrtBackend {
    fn name(&self) -> &'static str {
        "ort"
    }

    fn run(
        &mut self,
        mag: &[f32],
        advance: Option<&[f32]>,
        frames: usize,
        control: &[f32],
        phase_out: &mut [f32],
    ) -> Result<(), InferError> {
        let bins = self.bins;
        self.run_graph(mag, advance, frames, control, &mut |data| {
            for c in 0..2 {
                for b in 0..bins {
                    phase_out[c * bins + b] = data[(c * bins + b) * frames + frames - 1];
                }
            }
        })
    }

    fn run_frames(
        &mut self,
        mag: &[f32],
        advance: Option<&[f32]>,
        frames: usize,
        control: &[f32],
        out: &mut [f32],
    ) -> Result<(), InferError> {
        self.run_graph(mag, advance, frames, control, &mut |data| {
            out[..data.len()].copy_from_slice(data);
        })
    }

    fn has_step(&self) -> bool {
        self.step.is_some()
    }

    fn step(
        &mut self,
        state: &mut StepState,
        mag: &[f32],
        advance: Option<&[f32]>,
        control: &[f32],
        phase_out: &mut [f32],
    ) -> Result<(), InferError> {
        let e = |e| InferError::backend("ort", e);
        let msg = |m: String| InferError::backend("ort", m);
        let Some(step) = &mut self.step else {
            return Err(msg("no step graph is loaded".into()));
        };
        if state.len() != step.state_inputs.len() {
            return Err(msg(format!(
                "{} states given, the step graph has {}",
                state.len(),
                step.state_inputs.len()
            )));
        }
        let frame = [1usize, 1, self.bins, 1];
        let mag = TensorRef::from_array_view((frame, mag)).map_err(e)?;
        let ctl = TensorRef::from_array_view(([1usize, self.n_controls], control)).map_err(e)?;
        let mut inputs = ort::inputs!["mag" => mag, "control" => ctl];
        push_guides(&self.guides, advance, self.bins, 1, &mut inputs)?;
        for (i, name) in step.state_inputs.iter().enumerate() {
            let t = TensorRef::from_array_view((state.shape(i), state.values(i))).map_err(e)?;
            inputs.push((name.as_str().into(), t.into()));
        }
        let outputs = step.session.run(inputs).map_err(e)?;
        let (_, phase) = outputs["phase"].try_extract_tensor::<f32>().map_err(e)?;
        if phase.len() != 2 * self.bins {
            return Err(msg(format!(
                "step graph phase has {} values, expected {}",
                phase.len(),
                2 * self.bins
            )));
        }
        phase_out[..2 * self.bins].copy_from_slice(phase);
        for (i, name) in step.state_outputs.iter().enumerate() {
            let (_, new) = outputs[name.as_str()]
                .try_extract_tensor::<f32>()
                .map_err(e)?;
            let dst = state.values_mut(i);
            if new.len() != dst.len() {
                return Err(msg(format!(
                    "step graph state {name} has {} values, expected {}",
                    new.len(),
                    dst.len()
                )));
            }
            dst.copy_from_slice(new);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_located_library_loads_or_says_why() {
        // With the wheel installed (scripts/test) this loads ONNX Runtime; without a library
        // it must be an error naming the way out, not a panic.
        match (locate_library(), init_library()) {
            (Some(found), Ok(lib)) => assert_eq!(&found, lib),
            (Some(found), Err(e)) => {
                assert!(
                    e.to_string().contains(&found.path.display().to_string()),
                    "{e}"
                );
                assert!(
                    std::env::var_os("XODVOX_REQUIRE_ALL_BACKENDS").is_none(),
                    "{e}"
                );
            }
            (None, Err(e)) => assert!(e.to_string().contains("ORT_DYLIB_PATH"), "{e}"),
            (None, Ok(lib)) => panic!("loaded {lib:?} without locating it"),
        }
    }
}
