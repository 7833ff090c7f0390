//! Runtime conformance against the training package's exported fixture
//! (`fixtures/models/tiny`): metadata, control vector, and backend output vs onnxruntime's
//! (stored in `io.json` by `xodvox-train export`). One test body runs for every backend
//! compiled in. The fixture takes the optional `advance` input: the runtime's own advance
//! deviations (from the vocoder's analysis of the golden signal) must match the ones the
//! training side computed for `io.json`.

mod common;
use common::crate_dir;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use xodvox_dsp::phase::wrap_phase;
use xodvox_dsp::{render_offline, Controls, PhaseEngine, PhaseFrame, RenderSettings};
use xodvox_infer::{
    available_backends, load_backend, write_advance, BackendKind, ModelBundle, PhaseBackend,
    PhaseOutput, StepState,
};

fn fixture() -> PathBuf {
    fixture_named("tiny")
}

/// `fixtures/models/NAME`: `tiny` (with `advance`) or `lock` (with `advance` and `lock`).
fn fixture_named(name: &str) -> PathBuf {
    crate_dir().join(format!("../../fixtures/models/{name}"))
}

/// The fixtures whose `io.json` the parity tests replay.
const PARITY_FIXTURES: [&str; 2] = ["tiny", "lock"];

fn io() -> Value {
    io_of("tiny")
}

fn io_of(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_named(name).join("io.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The guide inputs of `io.json` the bundle takes (`advance`, then `lock`), each in the
/// graph's `[bins, frames]` layout.
fn guide_inputs(b: &ModelBundle, io: &Value) -> Vec<Vec<f32>> {
    let mut names = Vec::new();
    if b.meta.has_advance() {
        names.push("advance");
    }
    if b.meta.has_lock() {
        names.push("lock");
    }
    names
        .into_iter()
        .map(|n| {
            let a = &io["inputs"][n];
            assert_eq!(a["shape"], io["inputs"]["mag"]["shape"], "{n} layout");
            floats(&a["data"])
        })
        .collect()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn fixture_bundle_loads_with_its_metadata() {
    let b = ModelBundle::from_dir(&fixture()).unwrap();
    assert!(b.meta.test_fixture);
    assert_eq!(b.meta.num_bins, 1025);
    assert_eq!(b.meta.stft().n_fft, 2048);
    assert_eq!(b.meta.phase_output, PhaseOutput::Increment);
    assert_eq!(
        b.meta.style_names(),
        ["rubberband-r3", "rubberband-r2", "sox"]
    );
}

#[test]
fn control_vector_matches_the_training_side() {
    let b = ModelBundle::from_dir(&fixture()).unwrap();
    let io = io();
    let raw = &io["controls_raw"];
    let styles = b.meta.style_names();
    let style = raw["style"].as_str().unwrap();
    let controls = Controls {
        stretch: raw["stretch"].as_f64().unwrap(),
        pitch_semitones: raw["pitch"].as_f64().unwrap(),
        style_index: styles.iter().position(|s| s == style).unwrap(),
    };
    let mut v = vec![0.0f32; b.meta.n_controls];
    b.meta.write_control_vector(&controls, &mut v);
    let expected = floats(&io["inputs"]["control"]["data"]);
    for (i, (a, e)) in v.iter().zip(&expected).enumerate() {
        assert!(
            (a - e).abs() < 1e-6,
            "control[{i}]: runtime {a}, training {e}"
        );
    }
}

#[test]
fn every_backend_reproduces_onnxruntime_output() {
    for name in PARITY_FIXTURES {
        backends_reproduce_onnxruntime_output(name);
    }
}

fn backends_reproduce_onnxruntime_output(name: &str) {
    let b = ModelBundle::from_dir(&fixture_named(name)).unwrap();
    let io = io_of(name);
    let tol = io["tolerance"].as_f64().unwrap() as f32;
    let mag_shape: Vec<usize> = io["inputs"]["mag"]["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let (bins, frames) = (mag_shape[2], mag_shape[3]);
    let mag = floats(&io["inputs"]["mag"]["data"]);
    // The guide inputs, fed when the model takes them (io.json then has them, same layout).
    let guides = guide_inputs(&b, &io);
    let control = floats(&io["inputs"]["control"]["data"]);
    let expected = floats(&io["outputs"]["phase"]["data"]);
    let kinds = available_backends();
    assert!(!kinds.is_empty(), "no backend compiled in");
    for kind in kinds {
        let Some(mut backend) = backend_or_skip(kind, &b) else {
            continue;
        };
        let mut out = vec![0.0f32; 2 * bins];
        // Causal network: the window of frames 0..=t gives output frame t of the whole clip.
        for t in 0..frames {
            let window = |data: &[f32]| {
                let mut w = vec![0.0f32; bins * (t + 1)];
                for bin in 0..bins {
                    for f in 0..=t {
                        w[bin * (t + 1) + f] = data[bin * frames + f];
                    }
                }
                w
            };
            let adv: Vec<f32> = guides.iter().flat_map(|g| window(g)).collect();
            let adv = (!guides.is_empty()).then_some(&adv[..]);
            backend
                .run(&window(&mag), adv, t + 1, &control, &mut out)
                .unwrap();
            for c in 0..2 {
                for bin in 0..bins {
                    let e = expected[(c * bins + bin) * frames + t];
                    let g = out[c * bins + bin];
                    assert!(
                        (g - e).abs() <= tol,
                        "{name} {kind:?} frame {t} channel {c} bin {bin}: {g} vs {e}"
                    );
                }
            }
        }
    }
}

/// The step graph, stepped frame by frame from zero states, reproduces onnxruntime's
/// whole-clip output of `model.onnx` stored in `io.json`.
#[test]
fn every_backend_step_graph_reproduces_onnxruntime_output() {
    for name in PARITY_FIXTURES {
        step_graphs_reproduce_onnxruntime_output(name);
    }
}

fn step_graphs_reproduce_onnxruntime_output(name: &str) {
    let b = ModelBundle::from_dir(&fixture_named(name)).unwrap();
    let spec = b.meta.step.clone().expect("the fixture has a step graph");
    let io = io_of(name);
    let tol = io["tolerance"].as_f64().unwrap() as f32;
    let shape = &io["inputs"]["mag"]["shape"];
    let (bins, frames) = (
        shape[2].as_u64().unwrap() as usize,
        shape[3].as_u64().unwrap() as usize,
    );
    let mag = floats(&io["inputs"]["mag"]["data"]);
    let guides = guide_inputs(&b, &io);
    let control = floats(&io["inputs"]["control"]["data"]);
    let expected = floats(&io["outputs"]["phase"]["data"]);
    let column = |d: &[f32], t: usize| (0..bins).map(|k| d[k * frames + t]).collect::<Vec<_>>();
    for kind in available_backends() {
        let Some(mut backend) = backend_or_skip(kind, &b) else {
            continue;
        };
        assert!(backend.has_step(), "{kind:?}");
        let mut state = StepState::new(&spec);
        let mut out = vec![0.0f32; 2 * bins];
        for t in 0..frames {
            backend
                .step(
                    &mut state,
                    &column(&mag, t),
                    Some(&guides.iter().flat_map(|g| column(g, t)).collect::<Vec<_>>()),
                    &control,
                    &mut out,
                )
                .unwrap();
            for c in 0..2 {
                for bin in 0..bins {
                    let e = expected[(c * bins + bin) * frames + t];
                    let g = out[c * bins + bin];
                    assert!(
                        (g - e).abs() <= tol,
                        "{name} {kind:?} step frame {t} channel {c} bin {bin}: {g} vs {e}"
                    );
                }
            }
        }
    }
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

#[test]
fn fixture_with_the_advance_input_loads_and_runs_in_every_backend() {
    let b = ModelBundle::from_dir(&fixture()).unwrap();
    assert!(
        b.meta.has_advance(),
        "the tiny fixture is exported with the advance input"
    );
    let bins = b.meta.num_bins;
    let frames = b.meta.context_frames;
    let mag: Vec<f32> = (0..bins * frames)
        .map(|i| ((i % 97) as f32) * 0.1)
        .collect();
    let control = vec![0.0f32; b.meta.n_controls];
    let zeros = vec![0.0f32; bins * frames];
    let turned = vec![1.2f32; bins * frames];
    for kind in available_backends() {
        let Some(mut backend) = backend_or_skip(kind, &b) else {
            continue;
        };
        let mut a = vec![0.0f32; 2 * bins];
        let mut c = vec![0.0f32; 2 * bins];
        for t in [1, frames] {
            backend
                .run(
                    &mag[..bins * t],
                    Some(&zeros[..bins * t]),
                    t,
                    &control,
                    &mut a,
                )
                .unwrap();
            backend
                .run(
                    &mag[..bins * t],
                    Some(&turned[..bins * t]),
                    t,
                    &control,
                    &mut c,
                )
                .unwrap();
            assert!(a.iter().chain(&c).all(|v| v.is_finite()), "{kind:?}");
            let moved = a
                .iter()
                .zip(&c)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            assert!(
                moved > 1e-3,
                "{kind:?}: the advance input changes nothing ({moved})"
            );
        }
        let err = backend
            .run(&mag, None, frames, &control, &mut a)
            .expect_err("a model with the advance input needs it");
        assert!(err.to_string().contains("advance"), "{kind:?}: {err}");
    }
}

/// Magnitudes and advance deviations of the analysed frames, in order.
type Captured = Arc<Mutex<Vec<(Vec<f32>, Vec<f32>)>>>;

/// Records the magnitude and the advance deviation of every analysed frame.
struct Capture {
    frames: Captured,
}

impl PhaseEngine for Capture {
    fn name(&self) -> &str {
        "capture"
    }
    fn num_bins(&self) -> usize {
        1025
    }
    fn synthesis_phase(&mut self, frame: &PhaseFrame<'_>, phase_out: &mut [f32]) {
        let mut advance = vec![0.0f32; 1025];
        write_advance(frame.inst_freq, 512, 2048, &mut advance);
        self.frames
            .lock()
            .unwrap()
            .push((frame.magnitude.to_vec(), advance));
        phase_out.copy_from_slice(frame.analysis_phase);
    }
    fn reset(&mut self) {}
}

#[test]
fn runtime_advance_matches_the_training_side_on_the_golden_signal() {
    let b = ModelBundle::from_dir(&fixture()).unwrap();
    let io = io();
    let Some(expected) = io["inputs"].get("advance") else {
        panic!("io.json has no advance input");
    };
    assert!(b.meta.has_advance());
    let shape = &io["inputs"]["mag"]["shape"];
    let (bins, n) = (
        shape[2].as_u64().unwrap() as usize,
        shape[3].as_u64().unwrap() as usize,
    );
    let mag = floats(&io["inputs"]["mag"]["data"]);
    let adv = floats(&expected["data"]);
    let bytes =
        std::fs::read(fixture().join("../../golden/stft/signal.f32")).expect("golden signal");
    let signal: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let frames = Captured::default();
    let engine = Capture {
        frames: frames.clone(),
    };
    render_offline(
        &[signal],
        &RenderSettings::default(),
        Box::new(engine),
        &mut |_, _| {},
    )
    .unwrap();
    let frames = frames.lock().unwrap();
    for t in 0..n {
        let column = |d: &[f32]| (0..bins).map(|k| d[k * n + t]).collect::<Vec<f32>>();
        let (m, a) = (column(&mag), column(&adv));
        let peak = m.iter().fold(0.0f32, |x, &y| x.max(y));
        // The runtime's frame with the same magnitudes (the vocoder's frames are the STFT's).
        let (best, err) = frames
            .iter()
            .enumerate()
            .map(|(i, (fm, _))| {
                let e = fm
                    .iter()
                    .zip(&m)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0f32, f32::max);
                (i, e / peak)
            })
            .min_by(|x, y| x.1.total_cmp(&y.1))
            .unwrap();
        assert!(
            err < 1e-3,
            "io frame {t}: no runtime frame has its magnitudes ({err})"
        );
        let got = &frames[best].1;
        let mut compared = 0;
        for k in 0..bins {
            if m[k] > 1e-2 * peak {
                compared += 1;
                let d = wrap_phase(got[k] - a[k]).abs();
                assert!(
                    d < 2e-2,
                    "io frame {t} bin {k}: runtime {} vs training {}",
                    got[k],
                    a[k]
                );
            }
        }
        assert!(compared > 20, "io frame {t}: only {compared} bins compared");
    }
}

/// The `lock` fixture declares the input after `advance`; each guide input changes the output
/// (so the runtime really feeds `lock`), and too few guide values are an error naming it.
#[test]
fn lock_fixture_feeds_its_lock_input_in_every_backend() {
    let b = ModelBundle::from_dir(&fixture_named("lock")).unwrap();
    assert!(b.meta.has_advance() && b.meta.has_lock());
    assert_eq!(b.meta.guide_inputs(), 2);
    let io = io_of("lock");
    let bins = b.meta.num_bins;
    let mag = floats(&io["inputs"]["mag"]["data"]);
    let frames = mag.len() / bins;
    let control = floats(&io["inputs"]["control"]["data"]);
    let guides: Vec<f32> = guide_inputs(&b, &io).concat();
    for kind in available_backends() {
        let Some(mut backend) = backend_or_skip(kind, &b) else {
            continue;
        };
        let mut base = vec![0.0f32; 2 * bins];
        backend
            .run(&mag, Some(&guides), frames, &control, &mut base)
            .unwrap();
        let mut moved_lock = guides.clone();
        moved_lock[bins * frames..]
            .iter_mut()
            .for_each(|v| *v += 1.0);
        let mut out = vec![0.0f32; 2 * bins];
        backend
            .run(&mag, Some(&moved_lock), frames, &control, &mut out)
            .unwrap();
        let moved = base
            .iter()
            .zip(&out)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            moved > 1e-4,
            "{kind:?}: the lock input changes nothing ({moved})"
        );
        let err = backend
            .run(
                &mag,
                Some(&guides[..bins * frames]),
                frames,
                &control,
                &mut out,
            )
            .expect_err("a model with the lock input needs it");
        assert!(err.to_string().contains("lock"), "{kind:?}: {err}");
    }
}
