//! `xodvox render --engine neural` runs the batched offline engine: on real audio (the first
//! 4 s of `assets/demo.flac`, stereo 48 kHz: a guitar chord over a drum break) with the shipped
//! model, at a stretch and a pitch, its output must equal the frame-by-frame engine's render
//! (`NeuralPhaseEngine` on the step graph, one inference per hop, as the CLI rendered before)
//! within 1e-5, at the same length round(N × stretch) and alignment (the batched engine's
//! extra latency compensated).

mod common;

use common::*;
use xodvox_dsp::{render_offline, RenderSettings};
use xodvox_infer::{load_backend, BackendKind, ModelBundle, NeuralPhaseEngine};

const STRETCH: f64 = 1.25;
const PITCH: f64 = 3.0;

/// The frame-by-frame render of `input` (48 kHz) with the shipped model.
fn frame_by_frame(input: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let bundle = ModelBundle::embedded_default().unwrap();
    let backend = load_backend(BackendKind::Tract, &bundle).unwrap();
    let engine = NeuralPhaseEngine::new(bundle.meta.clone(), backend);
    assert!(engine.uses_step(), "the reference runs one frame per hop");
    let settings = RenderSettings {
        stretch: STRETCH,
        pitch_semitones: PITCH,
        n_fft: bundle.meta.n_fft,
        hop: bundle.meta.hop,
        pitch_mode: bundle.meta.pitch_path.mode(),
        ..RenderSettings::default()
    };
    render_offline(input, &settings, Box::new(engine), &mut |_, _| {})
        .unwrap()
        .channels
}

#[test]
fn cli_neural_render_equals_the_frame_by_frame_render_on_real_audio() {
    let dir = tempfile::tempdir().unwrap();
    let demo = crate_dir().join("../../assets/demo.flac");
    let input = path_in(&dir, "in.wav");
    let output = path_in(&dir, "out.wav");
    sox_convert(&demo, &input, &["-e", "floating-point", "-b", "32"]);
    // sox applies effects after the output name: trim to the first 4 s.
    let trimmed = path_in(&dir, "in4.wav");
    let out = sox()
        .arg(&input)
        .arg(&trimmed)
        .args(["trim", "0", "4"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let source = read_wav(&trimmed);
    assert_eq!(source.spec.sample_rate, 48_000);
    assert_eq!(source.channels.len(), 2, "stereo");
    assert_eq!(source.num_frames(), 192_000);

    let (s, p) = (STRETCH.to_string(), PITCH.to_string());
    let run = xodvox([
        "render",
        trimmed.to_str().unwrap(),
        output.to_str().unwrap(),
        "--engine",
        "neural",
        "--stretch",
        &s,
        "--pitch",
        &p,
        "--quiet",
    ]);
    assert_ok(&run, "neural render");
    let batched = read_wav(&output);
    let reference = frame_by_frame(&source.channels);
    let want = expected_frames(source.num_frames(), STRETCH);
    assert_eq!(batched.num_frames(), want, "length");
    assert_eq!(reference[0].len(), want, "reference length");
    let mut worst = 0.0f32;
    for (a, b) in batched.channels.iter().zip(&reference) {
        for (x, y) in a.iter().zip(b) {
            worst = worst.max((x - y).abs());
        }
    }
    assert!(worst < 1e-5, "max abs sample difference {worst}");
    let loud = reference[0].iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(loud > 0.1, "the render is not silent ({loud})");
}
