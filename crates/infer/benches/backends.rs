//! Per-hop inference time of each compiled-in backend on the shipped default model
//! (`models/default/`, embedded), on both paths: `window` runs `model.onnx` on a full window
//! of `context_frames` frames (what each hop costs without the step graph), `step` runs
//! `model.step.onnx` on one frame with cached state (what each hop costs with it, state copies
//! included). The classical engine's per-frame cost is the baseline, measured in the same run.
//! After criterion's estimates the bench prints a table of per-hop median and p99 times from
//! a plain timing loop (criterion reports no tail), with each path's cost as a share of one
//! core at 48 kHz (hop 512 = 10.67 ms). (`ORT_DYLIB_PATH` must point at libonnxruntime for
//! `ort`.)

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use xodvox_dsp::{ClassicalPhaseEngine, Controls, PhaseEngine, PhaseFrame};
use xodvox_infer::{available_backends, load_backend, ModelBundle, PhaseBackend, StepState};

/// Inputs shared by every path.
struct Inputs {
    bins: usize,
    /// Guide inputs per frame (advance, lock), at least 1.
    guides: usize,
    frames: usize,
    mag: Vec<f32>,
    advance: Vec<f32>,
    control: Vec<f32>,
    phase: Vec<f32>,
    freq: Vec<f32>,
}

impl Inputs {
    fn new(bundle: &ModelBundle) -> Self {
        let bins = bundle.meta.num_bins;
        let frames = bundle.meta.context_frames;
        Self {
            bins,
            guides: bundle.meta.guide_inputs().max(1),
            frames,
            mag: (0..bins * frames)
                .map(|i| ((i % 97) as f32) * 0.1)
                .collect(),
            // Guide values (advance, then lock) for models with those inputs (ignored by the
            // others).
            advance: (0..bins * frames * bundle.meta.guide_inputs().max(1))
                .map(|i| ((i % 13) as f32 - 6.0) * 0.2)
                .collect(),
            control: vec![0.0f32; bundle.meta.n_controls],
            phase: vec![0.0f32; bins],
            freq: (0..bins)
                .map(|k| k as f32 * std::f32::consts::TAU / 2048.0)
                .collect(),
        }
    }
}

/// One hop of each path.
enum Path {
    Window(Box<dyn PhaseBackend>),
    Step(Box<dyn PhaseBackend>, StepState),
    Classical(ClassicalPhaseEngine),
}

impl Path {
    fn hop(&mut self, x: &Inputs, out: &mut [f32]) {
        match self {
            Self::Window(b) => b
                .run(
                    black_box(&x.mag),
                    Some(&x.advance),
                    x.frames,
                    &x.control,
                    out,
                )
                .unwrap(),
            Self::Step(b, state) => b
                .step(
                    state,
                    black_box(&x.mag[..x.bins]),
                    Some(&x.advance[..x.bins * x.guides]),
                    &x.control,
                    out,
                )
                .unwrap(),
            Self::Classical(c) => {
                let frame = PhaseFrame {
                    magnitude: &x.mag[..x.bins],
                    analysis_phase: &x.phase,
                    inst_freq: &x.freq,
                    analysis_hop: 512,
                    synthesis_hop: 512,
                    transient: false,
                    controls: Controls::default(),
                };
                c.synthesis_phase(black_box(&frame), &mut out[..x.bins]);
            }
        }
    }
}

fn paths(bundle: &ModelBundle) -> Vec<(String, Path)> {
    let mut v = Vec::new();
    for kind in available_backends() {
        let name = format!("{kind:?}").to_lowercase();
        match load_backend(kind, bundle) {
            Ok(backend) => {
                v.push((format!("{name}/window"), Path::Window(backend)));
                let step = load_backend(kind, bundle).expect("second load");
                let state = StepState::new(bundle.meta.step.as_ref().expect("step graph"));
                v.push((format!("{name}/step"), Path::Step(step, state)));
            }
            Err(e) => eprintln!("skipping {kind:?}: {e}"),
        }
    }
    v.push((
        "classic_baseline".into(),
        Path::Classical(ClassicalPhaseEngine::new(bundle.meta.num_bins)),
    ));
    v
}

fn main() {
    let bundle = ModelBundle::embedded_default().expect("embedded default model");
    let x = Inputs::new(&bundle);
    let mut out = vec![0.0f32; 2 * x.bins];
    let mut paths = paths(&bundle);
    let mut c = Criterion::default().configure_from_args();
    {
        let mut group = c.benchmark_group("phase_per_frame");
        for (name, path) in &mut paths {
            group.bench_function(name.as_str(), |b| b.iter(|| path.hop(&x, &mut out)));
        }
        group.finish();
    }
    c.final_summary();

    let hop = Duration::from_secs_f64(512.0 / 48_000.0);
    println!("\nper hop, {} timed hops each after 20 warm-up hops:", 1000);
    println!("| path | median | p99 | share of a core (mean / hop 10.67 ms) |");
    println!("|---|---|---|---|");
    for (name, path) in &mut paths {
        for _ in 0..20 {
            path.hop(&x, &mut out);
        }
        let mut times: Vec<Duration> = (0..1000)
            .map(|_| {
                let t = Instant::now();
                path.hop(&x, &mut out);
                t.elapsed()
            })
            .collect();
        let mean = times.iter().sum::<Duration>() / times.len() as u32;
        times.sort_unstable();
        let median = times[times.len() / 2];
        let p99 = times[times.len() * 99 / 100];
        println!(
            "| {name} | {:.3} ms | {:.3} ms | {:.3} |",
            median.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            mean.as_secs_f64() / hop.as_secs_f64()
        );
    }
}
