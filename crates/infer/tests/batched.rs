//! The batched offline engine against the frame-by-frame inline engine: the same render
//! (within float rounding) at the same length for every block size and worker count, with the
//! fixtures' and the shipped model; a backend that cannot run blocks falls back to the
//! classical phase frame by frame, counted.

mod common;
use common::crate_dir;

use std::sync::Arc;

use xodvox_dsp::{
    classical_engine, render_offline, Controls, PhaseEngine, PhaseFrame, PitchMode, RenderSettings,
};
use xodvox_infer::{
    load_backend, offline_engine, BackendKind, BatchOptions, BatchedNeuralEngine, InferError,
    ModelBundle, ModelMeta, NeuralPhaseEngine, PhaseBackend, PitchPath,
};

fn fixture(name: &str) -> ModelBundle {
    ModelBundle::from_dir(&crate_dir().join("../../fixtures/models").join(name)).unwrap()
}

/// Two channels of a glide, a tone and clicks (transient resets), 0.75 s.
fn input() -> Vec<Vec<f32>> {
    (0..2)
        .map(|c| {
            (0..36_000)
                .map(|i| {
                    let t = i as f64 / 48_000.0;
                    let glide = (std::f64::consts::TAU * (300.0 * t + 150.0 * t * t)).sin();
                    let tone = (std::f64::consts::TAU * (1234.5 + 100.0 * c as f64) * t).sin();
                    let click = if i % 9_000 == 4_000 { 0.8 } else { 0.0 };
                    (0.4 * glide + 0.2 * tone) as f32 + click
                })
                .collect()
        })
        .collect()
}

/// Stretch 1.3 and +3 semitones on the spectral pitch path (where the batched engine's
/// latency is an exact shift; [`offline_engine`] covers the other).
fn settings(_meta: &ModelMeta) -> RenderSettings {
    RenderSettings {
        stretch: 1.3,
        pitch_semitones: 3.0,
        pitch_mode: PitchMode::Spectral,
        ..RenderSettings::default()
    }
}

#[test]
fn offline_engine_is_batched_except_on_the_resampling_path_with_a_pitch() {
    let tiny = fixture("tiny");
    assert_eq!(tiny.meta.pitch_path, PitchPath::Resample);
    let options = BatchOptions::default();
    let latency = |b: &ModelBundle, pitch| {
        offline_engine(BackendKind::Tract, b, options, pitch)
            .unwrap()
            .latency_frames()
    };
    // The frame-by-frame engine has no latency; the batched one does.
    assert_eq!(latency(&tiny, 3.0), 0);
    assert!(latency(&tiny, 0.0) > 0);
    let shipped = ModelBundle::embedded_default().unwrap();
    assert_eq!(shipped.meta.pitch_path, PitchPath::Spectral);
    assert!(latency(&shipped, 3.0) > 0);
}

fn render(engine: Box<dyn PhaseEngine>, meta: &ModelMeta) -> Vec<Vec<f32>> {
    render_offline(&input(), &settings(meta), engine, &mut |_, _| {})
        .unwrap()
        .channels
}

fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len(), "channels");
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len(), "length");
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}

fn frame_by_frame(bundle: &ModelBundle) -> Vec<Vec<f32>> {
    let backend = load_backend(BackendKind::Tract, bundle).unwrap();
    render(
        Box::new(NeuralPhaseEngine::new(bundle.meta.clone(), backend)),
        &bundle.meta,
    )
}

#[test]
fn batched_renders_what_the_frame_by_frame_engine_renders() {
    for name in ["tiny", "lock", "identity-gain"] {
        let bundle = fixture(name);
        let reference = frame_by_frame(&bundle);
        assert_eq!(reference[0].len(), 46_800, "{name}: round(36000 x 1.3)");
        let classical = render(classical_engine(2048), &bundle.meta);
        for (block_frames, workers) in [(1, 0), (7, 0), (64, 0), (5, 1), (64, 2)] {
            let options = BatchOptions {
                block_frames,
                workers,
            };
            let engine = BatchedNeuralEngine::load(BackendKind::Tract, &bundle, options).unwrap();
            assert_eq!(engine.workers(), workers);
            let latency = engine.latency_frames();
            let out = render(Box::new(engine), &bundle.meta);
            let d = max_diff(&out, &reference);
            assert!(
                d < 1e-5,
                "{name}, {block_frames} frames, {workers} workers (latency {latency}): {d}"
            );
        }
        if name != "identity-gain" {
            // The network changes the render, so equality above is not the classical render's.
            assert!(max_diff(&classical, &reference) > 1e-3, "{name}");
        }
    }
}

#[test]
fn batched_renders_what_the_frame_by_frame_engine_renders_with_the_shipped_model() {
    let bundle = ModelBundle::embedded_default().unwrap();
    let reference = frame_by_frame(&bundle);
    let engine =
        BatchedNeuralEngine::load(BackendKind::Tract, &bundle, BatchOptions::default()).unwrap();
    let d = max_diff(&render(Box::new(engine), &bundle.meta), &reference);
    assert!(d < 1e-5, "shipped model: {d}");
}

/// A backend without [`PhaseBackend::run_frames`] (the trait's default refuses blocks).
struct NoBlocks(Box<dyn PhaseBackend>);

impl PhaseBackend for NoBlocks {
    fn name(&self) -> &'static str {
        "no-blocks"
    }

    fn run(
        &mut self,
        mag: &[f32],
        advance: Option<&[f32]>,
        frames: usize,
        control: &[f32],
        phase_out: &mut [f32],
    ) -> Result<(), InferError> {
        self.0.run(mag, advance, frames, control, phase_out)
    }
}

#[test]
fn failed_blocks_fall_back_to_the_classical_phase() {
    let bundle = fixture("tiny").without_step();
    let make = || {
        let options = BatchOptions {
            block_frames: 16,
            workers: 1,
        };
        let backend = load_backend(BackendKind::Tract, &bundle).unwrap();
        let backend: Box<dyn PhaseBackend> = Box::new(NoBlocks(backend));
        BatchedNeuralEngine::new(bundle.meta.clone(), vec![backend], options).unwrap()
    };
    // Every frame plays the classical phase: the render is the classical engine's.
    let out = render(Box::new(make()), &bundle.meta);
    let classical = render(classical_engine(2048), &bundle.meta);
    assert!(max_diff(&out, &classical) < 1e-5);
    // The engine counts the failed frames and keeps the error.
    let mut engine = make();
    assert_eq!(engine.backend_name(), "no-blocks");
    let zeros = vec![0.0f32; bundle.meta.num_bins];
    let mut phase = zeros.clone();
    let frame = PhaseFrame {
        magnitude: &zeros,
        analysis_phase: &zeros,
        inst_freq: &zeros,
        analysis_hop: 512,
        synthesis_hop: 512,
        transient: false,
        controls: Controls::default(),
    };
    for _ in 0..engine.latency_frames() + 3 {
        engine.synthesis_phase(&frame, &mut phase);
    }
    assert_eq!(engine.errors(), 2, "the anchor frame is not counted");
    assert!(
        engine
            .last_error()
            .is_some_and(|e| e.contains("does not run blocks")),
        "{:?}",
        engine.last_error()
    );
}

#[test]
fn bad_options_are_refused() {
    let bundle = fixture("tiny");
    let meta = Arc::clone(&bundle.meta);
    let zero = BatchOptions {
        block_frames: 0,
        workers: 0,
    };
    let one = || vec![load_backend(BackendKind::Tract, &bundle).unwrap()];
    assert!(BatchedNeuralEngine::new(meta.clone(), one(), zero).is_err());
    let two_workers = BatchOptions {
        block_frames: 8,
        workers: 2,
    };
    assert!(BatchedNeuralEngine::new(meta, one(), two_workers).is_err());
}
