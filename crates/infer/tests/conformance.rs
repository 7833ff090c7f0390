//! Runtime conformance against the training package's exported fixture
//! (`fixtures/models/tiny`): metadata, control vector, and backend output vs onnxruntime's
//! (stored in `io.json` by `xodvox-train export`). One test body runs for every backend
//! compiled in.

use std::path::PathBuf;

use serde_json::Value;
use xodvox_dsp::Controls;
use xodvox_infer::{available_backends, load_backend, ModelBundle, PhaseOutput};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/models/tiny")
}

fn io() -> Value {
    let text = std::fs::read_to_string(fixture().join("io.json")).unwrap();
    serde_json::from_str(&text).unwrap()
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
    let b = ModelBundle::from_dir(&fixture()).unwrap();
    let io = io();
    let tol = io["tolerance"].as_f64().unwrap() as f32;
    let mag_shape: Vec<usize> = io["inputs"]["mag"]["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let (bins, frames) = (mag_shape[2], mag_shape[3]);
    let mag = floats(&io["inputs"]["mag"]["data"]);
    let control = floats(&io["inputs"]["control"]["data"]);
    let expected = floats(&io["outputs"]["phase"]["data"]);
    let kinds = available_backends();
    assert!(!kinds.is_empty(), "no backend compiled in");
    for kind in kinds {
        let mut backend = match load_backend(kind, &b) {
            Ok(be) => be,
            Err(e)
                if std::env::var_os("XODVOX_REQUIRE_ALL_BACKENDS").is_none()
                    && format!("{e}").contains("not available") =>
            {
                eprintln!("skipping {kind:?}: {e}");
                continue;
            }
            Err(e) => panic!("{kind:?}: {e}"),
        };
        let mut out = vec![0.0f32; 2 * bins];
        // Causal network: the window of frames 0..=t gives output frame t of the whole clip.
        for t in 0..frames {
            let mut window = vec![0.0f32; bins * (t + 1)];
            for bin in 0..bins {
                for f in 0..=t {
                    window[bin * (t + 1) + f] = mag[bin * frames + f];
                }
            }
            backend.run(&window, t + 1, &control, &mut out).unwrap();
            for c in 0..2 {
                for bin in 0..bins {
                    let e = expected[(c * bins + bin) * frames + t];
                    let g = out[c * bins + bin];
                    assert!(
                        (g - e).abs() <= tol,
                        "{kind:?} frame {t} channel {c} bin {bin}: {g} vs {e}"
                    );
                }
            }
        }
    }
}
