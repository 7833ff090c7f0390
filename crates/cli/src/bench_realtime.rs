//! `xodvox bench` rows of the real-time chain: the plugin's [`Processor`] (rate bridge,
//! spectral pitch, classical or neural phase engine) run in 512-sample blocks over the bench
//! signal, as a host would call the plugin. Stretch tasks are skipped: a real-time processor
//! has stretch 1. The neural engine waits for every inference here ([`WaitMode::Offline`], a
//! host's offline bounce), so the row is the chain's full compute, deterministic.

use std::time::Instant;

use xodvox_infer::{BackendKind, ModelBundle, Preset, Processor, ProcessorControls, WaitMode};

use crate::bench::{best_of, Row, Task};
use crate::signal::BENCH_SAMPLE_RATE;

/// Block size the host is modelled with.
const BLOCK: usize = 512;

/// The fastest of `runs` passes of `signal` through a [`Processor`] at `task`'s pitch, with
/// the neural engine of `model` on `kind` (classical without a model); building it is not
/// timed. `None` for tasks with a stretch.
///
/// # Errors
/// The processor refuses the bench's rate or channels, or the model does not load.
pub(crate) fn time_processor(
    signal: &[Vec<f32>],
    task: Task,
    runs: u32,
    model: Option<(&ModelBundle, BackendKind, &str)>,
) -> anyhow::Result<Option<Row>> {
    if task.spec.stretch != 1.0 {
        return Ok(None);
    }
    let preset = Preset {
        model: model.map(|(bundle, _, _)| bundle),
        backend: model.map_or(BackendKind::Tract, |(_, kind, _)| kind),
        wait: WaitMode::Offline,
    };
    let len = signal.first().map_or(0, Vec::len);
    let (seconds, output_seconds) = best_of(runs, || {
        let mut p = Processor::new(&preset, f64::from(BENCH_SAMPLE_RATE), signal.len())?;
        if model.is_some() && !p.neural_available() {
            anyhow::bail!("{}", p.availability().message());
        }
        p.set_controls(ProcessorControls {
            pitch_semitones: task.spec.pitch_semitones,
            style: 0,
            neural: model.is_some(),
        });
        p.reset();
        let mut out = vec![vec![0.0f32; BLOCK]; signal.len()];
        let started = Instant::now();
        let mut pos = 0;
        while pos < len {
            let n = BLOCK.min(len - pos);
            let ins: Vec<&[f32]> = signal.iter().map(|c| &c[pos..pos + n]).collect();
            let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|c| &mut c[..n]).collect();
            p.process(&ins, &mut outs);
            pos += n;
        }
        let seconds = started.elapsed().as_secs_f64();
        Ok((seconds, Some(len as f64 / f64::from(BENCH_SAMPLE_RATE))))
    })?;
    let engine = match model {
        None => "XodVox classical (real-time Processor, 512-sample blocks)".to_string(),
        Some((_, _, name)) => {
            format!("XodVox neural ({name}, real-time Processor, 512-sample blocks)")
        }
    };
    Ok(Some(Row {
        engine,
        task: task.name,
        seconds,
        output_seconds,
    }))
}
