//! The step path (one frame per hop from cached per-layer state, `model.step.onnx`) against
//! the window path (the last `context_frames` frames rerun every hop, `model.onnx`): the
//! same outputs over a long stream with constant controls in every backend, the same render
//! through the inline engine, and a real-time worker whose states see every frame in order
//! (or restart coherently when frames could not reach it).

mod common;
use common::crate_dir;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use xodvox_dsp::{render_offline, Controls, PhaseEngine, PhaseFrame, RenderSettings};
use xodvox_infer::window::{AdvanceWindow, MagnitudeWindow};
use xodvox_infer::{
    available_backends, load_backend, BackendKind, InferError, ModelBundle, NeuralPhaseEngine,
    PhaseBackend, RealtimePhaseEngine, StepState, WaitMode,
};

fn tiny() -> ModelBundle {
    ModelBundle::from_dir(&crate_dir().join("../../fixtures/models/tiny")).unwrap()
}

/// Loads `kind`, or `None` (with a note) when its runtime is not available here and
/// `XODVOX_REQUIRE_ALL_BACKENDS` is unset.
fn backend_or_skip(kind: BackendKind, b: &ModelBundle) -> Option<Box<dyn PhaseBackend>> {
    match load_backend(kind, b) {
        Ok(be) => Some(be),
        Err(e)
            if std::env::var_os("XODVOX_REQUIRE_ALL_BACKENDS").is_none()
                && matches!(e, xodvox_infer::InferError::Unavailable(..)) =>
        {
            eprintln!("skipping {kind:?}: {e}");
            None
        }
        Err(e) => panic!("{kind:?}: {e}"),
    }
}

/// Spectrum-like magnitudes (a few peaks over a noise floor, moving slowly) and advance
/// values in (−π, π], one frame at a time.
struct Frames {
    rng: ChaCha8Rng,
    bins: usize,
    t: usize,
}

impl Frames {
    fn next(&mut self, mag: &mut [f32], advance: &mut [f32]) {
        let t = self.t as f32;
        for (b, m) in mag.iter_mut().enumerate().take(self.bins) {
            let x = b as f32;
            let peaks = (-(x - 80.0 - 0.3 * t).powi(2) / 8.0).exp() * 40.0
                + (-(x - 300.0 + 0.5 * t).powi(2) / 20.0).exp() * 10.0;
            *m = peaks + self.rng.random::<f32>().powi(4) * 0.5;
        }
        for a in advance.iter_mut() {
            *a = (self.rng.random::<f32>() * 2.0 - 1.0) * std::f32::consts::PI;
        }
        self.t += 1;
    }
}

/// Runs `frames` frames through both paths of one backend; returns the largest difference.
fn step_vs_window(backend: &mut dyn PhaseBackend, b: &ModelBundle, frames: usize) -> f32 {
    let meta = &b.meta;
    let bins = meta.num_bins;
    assert!(
        backend.has_step(),
        "{}: step graph not loaded",
        backend.name()
    );
    let mut state = StepState::new(meta.step.as_ref().unwrap());
    assert!(!state.is_empty());
    let mut window = MagnitudeWindow::new(bins, meta.context_frames);
    // Guide values: advance, then lock for models with it (one window row per value).
    let guides = meta.guide_inputs().max(1);
    let mut adv_window = AdvanceWindow::new(bins * guides, meta.context_frames);
    let mut control = vec![0.0f32; meta.n_controls];
    let controls = Controls {
        stretch: 1.5,
        pitch_semitones: 2.0,
        style_index: 1,
    };
    meta.write_control_vector(&controls, &mut control);
    let mut src = Frames {
        rng: ChaCha8Rng::seed_from_u64(7),
        bins,
        t: 0,
    };
    let (mut mag, mut adv) = (vec![0.0f32; bins], vec![0.0f32; bins * guides]);
    let (mut a, mut s) = (vec![0.0f32; 2 * bins], vec![0.0f32; 2 * bins]);
    let mut first = vec![0.0f32; 2 * bins];
    let mut worst = 0.0f32;
    for t in 0..frames {
        src.next(&mut mag, &mut adv);
        window.push(&mag);
        adv_window.push(&adv);
        let (m, n) = window.view();
        backend
            .run(m, Some(adv_window.view().0), n, &control, &mut a)
            .unwrap();
        backend
            .step(&mut state, &mag, Some(&adv), &control, &mut s)
            .unwrap();
        assert!(s.iter().all(|v| v.is_finite()));
        let d = a
            .iter()
            .zip(&s)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        worst = worst.max(d);
        assert!(
            d <= 1e-4,
            "{} frame {t}: step vs window {d}",
            backend.name()
        );
        if t == 0 {
            first.copy_from_slice(&s);
        }
    }
    assert!(!state.is_zero(), "the states hold history");
    // The history matters (a fresh stream gives another output for the same frame) ...
    let mut fresh = StepState::new(meta.step.as_ref().unwrap());
    let mut f = vec![0.0f32; 2 * bins];
    backend
        .step(&mut fresh, &mag, Some(&adv), &control, &mut f)
        .unwrap();
    let moved = f
        .iter()
        .zip(&s)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(moved > 1e-4, "{}: history changes nothing", backend.name());
    // ... and reset() is a fresh stream.
    state.reset();
    assert!(state.is_zero());
    backend
        .step(&mut state, &mag, Some(&adv), &control, &mut s)
        .unwrap();
    assert_eq!(f, s, "{}: reset is a fresh stream", backend.name());
    let err = backend
        .step(&mut state, &mag, None, &control, &mut s)
        .expect_err("the advance input is required");
    assert!(err.to_string().contains("advance"), "{err}");
    worst
}

#[test]
fn step_equals_window_over_a_long_stream_in_every_backend() {
    let default = ModelBundle::embedded_default().unwrap();
    let tiny = tiny();
    let mut ran = 0;
    for kind in available_backends() {
        for (name, bundle, frames) in [("default", &default, 200), ("tiny", &tiny, 300)] {
            let Some(mut backend) = backend_or_skip(kind, bundle) else {
                continue;
            };
            let worst = step_vs_window(backend.as_mut(), bundle, frames);
            eprintln!(
                "{kind:?} {name}: step vs window max |diff| {worst:.2e} over {frames} frames"
            );
            ran += 1;
        }
    }
    assert!(ran >= 2, "at least tract ran both models");
}

#[test]
fn without_step_the_backend_runs_the_window_path_only() {
    let b = tiny().without_step();
    let mut backend = load_backend(BackendKind::Tract, &b).unwrap();
    assert!(!backend.has_step());
    let spec = tiny().meta.step.clone().unwrap();
    let mut state = StepState::new(&spec);
    let bins = b.meta.num_bins;
    let mut out = vec![0.0f32; 2 * bins];
    let err = backend
        .step(
            &mut state,
            &vec![0.0; bins],
            Some(&vec![0.0; bins]),
            &vec![0.0; b.meta.n_controls],
            &mut out,
        )
        .expect_err("no step graph");
    assert!(err.to_string().contains("no step graph"), "{err}");
    let engine = NeuralPhaseEngine::new(b.meta.clone(), backend);
    assert!(!engine.uses_step());
}

fn sine_mix(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let t = i as f64 / 48_000.0;
            let glide = (std::f64::consts::TAU * (300.0 * t + 150.0 * t * t)).sin();
            let tone = (std::f64::consts::TAU * 1234.5 * t).sin();
            (0.4 * glide + 0.2 * tone) as f32
        })
        .collect()
}

/// The inline engine on the step path renders what it renders on the window path, for the
/// shipped model and the fixture (constant controls); the real-time wrapper in offline mode
/// (step path, no misses) renders exactly what the inline step engine renders.
#[test]
fn step_and_window_engines_render_the_same() {
    let input = vec![sine_mix(36_000), sine_mix(36_000)];
    let settings = RenderSettings {
        stretch: 1.25,
        pitch_semitones: 0.0,
        ..RenderSettings::default()
    };
    for bundle in [tiny(), ModelBundle::embedded_default().unwrap()] {
        let render = |b: &ModelBundle| {
            let engine = NeuralPhaseEngine::new(
                b.meta.clone(),
                load_backend(BackendKind::Tract, b).unwrap(),
            );
            assert_eq!(engine.uses_step(), b.step_onnx.is_some());
            render_offline(&input, &settings, Box::new(engine), &mut |_, _| {}).unwrap()
        };
        let step = render(&bundle);
        let window = render(&bundle.without_step());
        let rt = RealtimePhaseEngine::new(
            bundle.meta.clone(),
            load_backend(BackendKind::Tract, &bundle).unwrap(),
            WaitMode::Offline,
        )
        .unwrap();
        assert!(rt.uses_step());
        let status = rt.status();
        let offline = render_offline(&input, &settings, Box::new(rt), &mut |_, _| {}).unwrap();
        assert_eq!(status.misses.load(Ordering::Relaxed), 0);
        assert_eq!(status.history_resets.load(Ordering::Relaxed), 1);
        for ch in 0..2 {
            let (s, w, o) = (
                &step.channels[ch],
                &window.channels[ch],
                &offline.channels[ch],
            );
            assert_eq!(s.len(), 45_000);
            assert!(s.iter().all(|v| v.is_finite()));
            let diff = |x: &[f32], y: &[f32]| {
                x.iter()
                    .zip(y)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max)
            };
            let d = diff(s, w);
            assert!(
                d < 1e-3,
                "{} ch {ch}: step vs window render {d}",
                bundle.source
            );
            let d = diff(s, o);
            assert!(d < 1e-5, "{} ch {ch}: inline vs worker {d}", bundle.source);
        }
    }
}

/// A step backend that checks the frames it is given arrive in order: the frame index is in
/// `mag[0]`, and state 0 holds the next index it expects (0 = a fresh stream).
struct OrderCheck {
    bins: usize,
    delay: Duration,
    violations: Arc<AtomicU64>,
    fresh_starts: Arc<AtomicU64>,
}

impl PhaseBackend for OrderCheck {
    fn name(&self) -> &'static str {
        "order-check"
    }
    fn run(
        &mut self,
        _: &[f32],
        _: Option<&[f32]>,
        _: usize,
        _: &[f32],
        _: &mut [f32],
    ) -> Result<(), InferError> {
        panic!("the window path must not run when the step graph is loaded");
    }
    fn has_step(&self) -> bool {
        true
    }
    fn step(
        &mut self,
        state: &mut StepState,
        mag: &[f32],
        _: Option<&[f32]>,
        _: &[f32],
        out: &mut [f32],
    ) -> Result<(), InferError> {
        std::thread::sleep(self.delay);
        let expected = state.values(0)[0];
        if expected == 0.0 {
            self.fresh_starts.fetch_add(1, Ordering::Relaxed);
        } else if mag[0] != expected {
            self.violations.fetch_add(1, Ordering::Relaxed);
        }
        state.values_mut(0)[0] = mag[0] + 1.0;
        out[..self.bins].iter_mut().for_each(|v| *v = 1.0);
        out[self.bins..].iter_mut().for_each(|v| *v = 0.0);
        Ok(())
    }
}

struct RtRun {
    sent: u64,
    misses: u64,
    dropped: u64,
    inferences: u64,
    history_resets: u64,
    violations: u64,
    fresh_starts: u64,
}

/// Sends `frames` frames (index `i + 1` in `mag[0]`) to a real-time engine whose backend
/// takes `delay` per frame; `pause(i)` is slept after frame `i`.
fn run_realtime(frames: u64, delay: Duration, pause: impl Fn(u64) -> Duration) -> RtRun {
    let b = tiny();
    let bins = b.meta.num_bins;
    let violations = Arc::new(AtomicU64::new(0));
    let fresh_starts = Arc::new(AtomicU64::new(0));
    let backend = Box::new(OrderCheck {
        bins,
        delay,
        violations: violations.clone(),
        fresh_starts: fresh_starts.clone(),
    });
    let mut engine = RealtimePhaseEngine::new(b.meta.clone(), backend, WaitMode::RealTime).unwrap();
    assert!(engine.uses_step());
    let status = engine.status();
    let mut mag = vec![0.1f32; bins];
    let analysis = vec![0.0f32; bins];
    let inst: Vec<f32> = (0..bins)
        .map(|k| k as f32 * std::f32::consts::TAU / 2048.0)
        .collect();
    let mut out = vec![0.0f32; bins];
    for i in 0..frames {
        mag[0] = (i + 1) as f32;
        let frame = PhaseFrame {
            magnitude: &mag,
            analysis_phase: &analysis,
            inst_freq: &inst,
            analysis_hop: 512,
            synthesis_hop: 512,
            transient: false,
            controls: Controls::default(),
        };
        engine.synthesis_phase(&frame, &mut out);
        assert!(out.iter().all(|v| v.is_finite()));
        std::thread::sleep(pause(i));
    }
    // Let the worker drain its queue.
    let sent_to_worker = frames - status.dropped.load(Ordering::Relaxed);
    for _ in 0..500 {
        if status.inferences.load(Ordering::Relaxed) >= sent_to_worker {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    RtRun {
        sent: frames,
        misses: load(&status.misses),
        dropped: load(&status.dropped),
        inferences: load(&status.inferences),
        history_resets: load(&status.history_resets),
        violations: violations.load(Ordering::Relaxed),
        fresh_starts: fresh_starts.load(Ordering::Relaxed),
    }
}

/// Late results are misses, but the worker still runs every frame, in order, on one
/// unbroken history.
#[test]
fn a_late_worker_still_steps_every_frame_in_order() {
    // Bursts of 6 frames (the queue holds 8) with time to catch up in between.
    let r = run_realtime(60, Duration::from_millis(3), |i| {
        Duration::from_millis(if i % 6 == 5 { 40 } else { 0 })
    });
    assert!(
        r.misses > 10,
        "the worker must be late: {} misses",
        r.misses
    );
    assert_eq!(r.dropped, 0);
    assert_eq!(r.inferences, r.sent, "every frame is stepped");
    assert_eq!(r.violations, 0, "frames out of order or skipped");
    assert_eq!(r.history_resets, 1, "only the stream start");
    assert_eq!(r.fresh_starts, 1);
}

/// A worker that falls more than the queue behind loses frames: the next queued frame
/// restarts its history from zero states (no frame is ever stepped on a broken history).
#[test]
fn a_worker_too_far_behind_restarts_its_history_coherently() {
    let r = run_realtime(120, Duration::from_millis(4), |_| {
        Duration::from_micros(500)
    });
    assert!(r.dropped > 0, "the queue must overflow");
    assert_eq!(
        r.inferences + r.dropped,
        r.sent,
        "every queued frame is stepped"
    );
    assert_eq!(r.violations, 0, "a step ran on a history with a gap");
    assert!(r.history_resets > 1, "resets {}", r.history_resets);
    assert_eq!(r.fresh_starts, r.history_resets);
}
