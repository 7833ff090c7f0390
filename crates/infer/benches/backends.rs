//! Per-call inference time of each compiled-in backend on the shipped default model
//! (`models/default/`, embedded), for one full context window (what each hop runs), with the classical engine's per-frame cost as the baseline
//! measured in the same run. (`ORT_DYLIB_PATH` must point at libonnxruntime for `ort`.)

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use xodvox_dsp::{ClassicPhaseEngine, Controls, PhaseEngine, PhaseFrame};
use xodvox_infer::{available_backends, load_backend, ModelBundle};

fn bench_backends(c: &mut Criterion) {
    let bundle = ModelBundle::embedded_default().expect("embedded default model");
    let bins = bundle.meta.num_bins;
    let frames = bundle.meta.context_frames;
    let mag: Vec<f32> = (0..bins * frames)
        .map(|i| ((i % 97) as f32) * 0.1)
        .collect();
    let control = vec![0.0f32; bundle.meta.n_controls];
    // Advance deviations for models with that input (ignored by the others).
    let advance: Vec<f32> = (0..bins * frames)
        .map(|i| ((i % 13) as f32 - 6.0) * 0.2)
        .collect();
    let mut out = vec![0.0f32; 2 * bins];
    let mut group = c.benchmark_group("phase_per_frame");
    for kind in available_backends() {
        match load_backend(kind, &bundle) {
            Ok(mut backend) => {
                group.bench_function(format!("{kind:?}").to_lowercase(), |b| {
                    b.iter(|| {
                        backend
                            .run(black_box(&mag), Some(&advance), frames, &control, &mut out)
                            .unwrap()
                    })
                });
            }
            Err(e) => eprintln!("skipping {kind:?}: {e}"),
        }
    }
    let mut classic = ClassicPhaseEngine::new(bins);
    let phase = vec![0.0f32; bins];
    let freq: Vec<f32> = (0..bins)
        .map(|k| k as f32 * std::f32::consts::TAU / 2048.0)
        .collect();
    let mut phase_out = vec![0.0f32; bins];
    group.bench_function("classic_baseline", |b| {
        b.iter(|| {
            let frame = PhaseFrame {
                magnitude: &mag[..bins],
                analysis_phase: &phase,
                inst_freq: &freq,
                analysis_hop: 512,
                synthesis_hop: 512,
                transient: false,
                controls: Controls::default(),
            };
            classic.synthesis_phase(black_box(&frame), &mut phase_out)
        })
    });
    group.finish();
}

criterion_group!(benches, bench_backends);
criterion_main!(benches);
