//! The neural rows of `xodvox bench`: the frame-by-frame engine (one inference per hop,
//! timed per hop) and the batched offline engine that `xodvox render --engine neural` uses,
//! both in process on the embedded default model.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use xodvox_dsp::{render_offline, PhaseEngine, RenderSettings};
use xodvox_infer::{
    load_backend, BackendKind, BatchedNeuralEngine, InferError, ModelBundle, NeuralPhaseEngine,
    PhaseBackend, StepState,
};

use crate::bench::{best_of, Row, Task};
use crate::signal::BENCH_SAMPLE_RATE;

/// A backend that records the wall time of every inference call (one per hop).
struct TimedBackend {
    inner: Box<dyn PhaseBackend>,
    times: Arc<Mutex<Vec<Duration>>>,
}

impl TimedBackend {
    /// Records the time since `started` (the bench is offline: locking here is fine).
    fn record(&self, started: Instant) {
        if let Ok(mut t) = self.times.lock() {
            t.push(started.elapsed());
        }
    }
}

impl PhaseBackend for TimedBackend {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn run(
        &mut self,
        mag: &[f32],
        advance: Option<&[f32]>,
        frames: usize,
        control: &[f32],
        phase_out: &mut [f32],
    ) -> Result<(), InferError> {
        let started = Instant::now();
        let out = self.inner.run(mag, advance, frames, control, phase_out);
        self.record(started);
        out
    }

    fn has_step(&self) -> bool {
        self.inner.has_step()
    }

    fn step(
        &mut self,
        state: &mut StepState,
        mag: &[f32],
        advance: Option<&[f32]>,
        control: &[f32],
        phase_out: &mut [f32],
    ) -> Result<(), InferError> {
        let started = Instant::now();
        let out = self.inner.step(state, mag, advance, control, phase_out);
        self.record(started);
        out
    }
}

/// The frame-by-frame neural engine (embedded default model, inline: every hop waits for its
/// inference) on `task`: the fastest of `runs` renders, and every inference time of that
/// render.
pub(crate) fn time_neural_in_process(
    signal: &[Vec<f32>],
    task: Task,
    runs: u32,
    bundle: &ModelBundle,
    kind: BackendKind,
    name: &str,
) -> anyhow::Result<(Row, Vec<Duration>)> {
    let settings = neural_settings(task, bundle);
    let mut best: Option<(f64, f64, Vec<Duration>)> = None;
    for _ in 0..runs.max(1) {
        let times = Arc::new(Mutex::new(Vec::new()));
        let backend = TimedBackend {
            inner: load_backend(kind, bundle)?,
            times: times.clone(),
        };
        let engine = NeuralPhaseEngine::new(bundle.meta.clone(), Box::new(backend));
        let started = Instant::now();
        let result = render_offline(signal, &settings, Box::new(engine), &mut |_, _| {})?;
        let seconds = started.elapsed().as_secs_f64();
        let frames = result.channels.first().map_or(0, Vec::len);
        let times = std::mem::take(&mut *times.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
        if best.as_ref().is_none_or(|b| seconds < b.0) {
            best = Some((seconds, frames as f64 / f64::from(BENCH_SAMPLE_RATE), times));
        }
    }
    let (seconds, output_seconds, times) = best.context("no run")?;
    Ok((
        Row {
            engine: format!("XodVox neural ({name}, frame by frame, in process)"),
            task: task.name,
            seconds,
            output_seconds: Some(output_seconds),
        },
        times,
    ))
}

/// The batched offline engine (what `xodvox render --engine neural` runs, with its worker
/// threads) on `task`: the fastest of `runs` renders; loading is not timed.
pub(crate) fn time_batched_in_process(
    signal: &[Vec<f32>],
    task: Task,
    runs: u32,
    bundle: &ModelBundle,
    kind: BackendKind,
    name: &str,
) -> anyhow::Result<Row> {
    let settings = neural_settings(task, bundle);
    let options = crate::neural::offline_options();
    let (seconds, output_seconds) = best_of(runs, || {
        let engine: Box<dyn PhaseEngine> =
            Box::new(BatchedNeuralEngine::load(kind, bundle, options)?);
        let started = Instant::now();
        let result = render_offline(signal, &settings, engine, &mut |_, _| {})?;
        let seconds = started.elapsed().as_secs_f64();
        let frames = result.channels.first().map_or(0, Vec::len);
        Ok((seconds, Some(frames as f64 / f64::from(BENCH_SAMPLE_RATE))))
    })?;
    Ok(Row {
        engine: format!(
            "XodVox neural ({name}, batched, {} worker(s), in process)",
            options.workers
        ),
        task: task.name,
        seconds,
        output_seconds,
    })
}

/// Render settings of the neural rows: the task at the model's framing and pitch path.
fn neural_settings(task: Task, bundle: &ModelBundle) -> RenderSettings {
    RenderSettings {
        sample_rate: f64::from(BENCH_SAMPLE_RATE),
        stretch: task.spec.stretch,
        pitch_semitones: task.spec.pitch_semitones,
        n_fft: bundle.meta.n_fft,
        hop: bundle.meta.hop,
        pitch_mode: bundle.meta.pitch_path.mode(),
        ..RenderSettings::default()
    }
}
