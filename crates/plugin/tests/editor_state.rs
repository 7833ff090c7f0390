//! The editor's data paths and the model setting, without a host or a window: the
//! spectrum and status values reach the GUI side with no allocation on the audio side, a
//! model chosen while the chain runs is swapped in on the audio thread without allocating,
//! a missing model falls back to the embedded default and says so, and the setting is
//! saved and restored through nice-plug's persisted fields.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use nice_plug::prelude::Params;
use xodvox_alloc_counter::{count_allocations, CountingAllocator};
use xodvox_plugin::dsp::{DspSettings, NeuralAvailability, PluginStatus, Targets, XodVoxDsp};
use xodvox_plugin::model::{ModelSetting, ModelState};
use xodvox_plugin::spectrum::{SpectrumAnalyzer, SPECTRUM_FFT};
use xodvox_plugin::XodVoxParams;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const SR: f64 = 48_000.0;

fn settings() -> DspSettings {
    DspSettings {
        sample_rate: SR,
        channels: 2,
        max_block: 4096,
        offline: false,
    }
}

fn default_model_dir() -> PathBuf {
    crate_dir().join("../../models/default")
}

/// Processes `seconds` of a sine at `freq` in blocks of 256, counting heap operations.
fn run_sine(d: &mut XodVoxDsp, freq: f64, seconds: f64) -> usize {
    let n = (seconds * SR) as usize;
    let mut allocs = 0;
    let mut l = vec![0.0f32; 256];
    let mut r = vec![0.0f32; 256];
    for start in (0..n).step_by(256) {
        for (i, (a, b)) in l.iter_mut().zip(r.iter_mut()).enumerate() {
            let t = (start + i) as f64 / SR;
            let x = (0.5 * (std::f64::consts::TAU * freq * t).sin()) as f32;
            (*a, *b) = (x, x);
        }
        let mut io: [&mut [f32]; 2] = [&mut l, &mut r];
        let ((), k) = count_allocations(|| d.process(&mut io));
        allocs += k;
    }
    allocs
}

#[test]
fn spectra_of_input_and_output_reach_the_gui_side_without_audio_allocations() {
    let status = Arc::new(PluginStatus::default());
    let mut d = XodVoxDsp::new(settings(), None, status.clone());
    d.set_targets(Targets {
        pitch_semitones: 12.0,
        ..Targets::default()
    });
    d.reset();
    let allocs = run_sine(&mut d, 1000.0, 1.0);
    assert_eq!(allocs, 0, "heap operations on the audio side");
    // Every processed sample went into the tap (1 s in blocks of 256).
    assert_eq!(status.spectrum.written(), 48_000u64.div_ceil(256) * 256);
    let mut an = SpectrumAnalyzer::default();
    assert!(an.update(&status.spectrum));
    let bin = SR / SPECTRUM_FFT as f64;
    let f_in = SpectrumAnalyzer::peak_hz(&an.input_db, SR);
    let f_out = SpectrumAnalyzer::peak_hz(&an.output_db, SR);
    assert!((f_in - 1000.0).abs() <= bin, "input peak {f_in}");
    assert!(
        (f_out - 2000.0).abs() <= bin,
        "output peak {f_out} (+12 st)"
    );
    // A 0.5-amplitude sine is about −6 dBFS in both.
    let level = |db: &[f32]| db.iter().cloned().fold(f32::MIN, f32::max);
    assert!(
        (level(&an.input_db) + 6.0).abs() < 1.5,
        "{}",
        level(&an.input_db)
    );
    assert!(
        (level(&an.output_db) + 6.0).abs() < 2.0,
        "{}",
        level(&an.output_db)
    );
    assert_eq!(status.sample_rate.load(Ordering::Relaxed), 48_000);
    assert!(status.latency_samples.load(Ordering::Relaxed) > 0);
}

#[test]
fn the_neural_engine_runs_at_other_rates_through_the_48k_bridge() {
    let status = Arc::new(PluginStatus::default());
    let model = xodvox_infer::ModelBundle::embedded_default().expect("embedded model");
    let s = DspSettings {
        sample_rate: 44_100.0,
        ..settings()
    };
    let mut d = XodVoxDsp::new(s, Some(&model), status.clone());
    assert_eq!(status.availability(), NeuralAvailability::Ready);
    assert_eq!(d.engine_rate(), (48_000, true));
    let engine = status.engine_status().expect("neural counters");
    d.set_targets(Targets {
        neural: true,
        ..Targets::default()
    });
    d.reset();
    run_sine(&mut d, 440.0, 0.2);
    assert!(status.neural_active.load(Ordering::Relaxed));
    assert!(
        engine.frames.load(Ordering::Relaxed) > 0,
        "the neural engine ran"
    );
}

#[test]
fn a_model_loaded_while_running_is_swapped_in_without_audio_allocations() {
    let status = Arc::new(PluginStatus::default());
    let setting = ModelSetting::new(status.clone());
    let model = setting.shared();
    let (neural, availability) = model.build_engine(&settings());
    assert_eq!(availability, NeuralAvailability::Ready);
    let mut d = XodVoxDsp::with_engine(settings(), neural, availability, status.clone());
    model.attach(d.settings(), d.engine_handoff());
    d.set_targets(Targets {
        neural: true,
        pitch_semitones: 3.0,
        ..Targets::default()
    });
    d.reset();
    assert_eq!(run_sine(&mut d, 220.0, 0.3), 0);
    let first = status.engine_status().expect("engine counters");

    // Another model folder (the same model, from disk): loaded here, handed over.
    model.set_dir(default_model_dir().to_str().expect("utf-8 path"));
    let report = model.report();
    assert!(!report.fallback, "{report:?}");
    assert!(report.in_use.ends_with("models/default"), "{report:?}");
    assert!(d.engine_handoff().pending(), "new engine offered");
    let second = status.engine_status().expect("engine counters");
    assert!(
        !Arc::ptr_eq(&first, &second),
        "status follows the new engine"
    );

    assert_eq!(run_sine(&mut d, 220.0, 0.5), 0, "swap on the audio thread");
    assert!(!d.engine_handoff().pending(), "the audio thread took it");
    assert!(
        second.frames.load(Ordering::Relaxed) > 0,
        "the new engine runs"
    );
    assert!(
        d.engine_handoff().collect(),
        "the old engine was retired for dropping"
    );
    assert!(!d.engine_handoff().collect());
}

#[test]
fn a_missing_model_falls_back_to_the_embedded_default_and_says_so() {
    let status = Arc::new(PluginStatus::default());
    let setting = ModelSetting::new(status.clone());
    let model = setting.shared();
    model.set_dir("/nonexistent/xodvox-model");
    let report = model.report();
    assert!(report.fallback, "{report:?}");
    assert_eq!(report.in_use, "embedded default");
    assert!(
        report.message.contains("/nonexistent/xodvox-model"),
        "{report:?}"
    );
    let (neural, availability) = model.build_engine(&settings());
    assert!(neural.is_some(), "the embedded default runs instead");
    assert_eq!(availability, NeuralAvailability::Ready);

    // A folder with broken files: same fallback.
    let dir = std::env::temp_dir().join(format!("xodvox-broken-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("model.json"), "{not json").expect("write");
    std::fs::write(dir.join("model.onnx"), [0u8; 64]).expect("write");
    model.set_dir(dir.to_str().expect("utf-8"));
    let report = model.report();
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        report.fallback && report.in_use == "embedded default",
        "{report:?}"
    );

    // A valid model of another sample rate: same fallback, and the message says why.
    let dir = std::env::temp_dir().join(format!("xodvox-44k-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for f in ["model.onnx", "model.step.onnx"] {
        std::fs::copy(default_model_dir().join(f), dir.join(f)).expect("copy");
    }
    let json = std::fs::read_to_string(default_model_dir().join("model.json")).expect("read");
    let mut meta: serde_json::Value = serde_json::from_str(&json).expect("json");
    meta["sample_rate"] = serde_json::json!(44_100);
    std::fs::write(dir.join("model.json"), meta.to_string()).expect("write");
    model.set_dir(dir.to_str().expect("utf-8"));
    let report = model.report();
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        report.fallback && report.in_use == "embedded default",
        "{report:?}"
    );
    assert!(report.message.contains("44100 Hz model"), "{report:?}");

    model.set_dir("");
    let report = model.report();
    assert!(
        !report.fallback && report.in_use == "embedded default",
        "{report:?}"
    );
}

#[test]
fn the_model_setting_is_saved_and_restored_with_the_state() {
    let status = Arc::new(PluginStatus::default());
    let params = XodVoxParams::new(&["a".into(), "b".into()], false, status.clone());
    let dir = default_model_dir().to_str().expect("utf-8").to_string();
    params.model.shared().set_dir(&dir);
    let saved = params.serialize_fields();
    let value: ModelState = serde_json::from_str(&saved["model"]).expect("model field JSON");
    assert_eq!(value.dir, dir);
    assert!(!value.fallback);
    assert!(value.in_use.ends_with("models/default"), "{value:?}");

    let fresh = XodVoxParams::new(&["a".into()], false, Arc::new(PluginStatus::default()));
    assert_eq!(fresh.model.shared().dir(), "");
    fresh.deserialize_fields(&saved);
    assert_eq!(fresh.model.shared().dir(), dir);
    assert_eq!(fresh.model.shared().report().in_use, value.in_use);

    let mut missing = BTreeMap::new();
    missing.insert(
        "model".to_string(),
        serde_json::to_string(&ModelState {
            dir: "/nonexistent/x".into(),
            ..ModelState::default()
        })
        .expect("json"),
    );
    fresh.deserialize_fields(&missing);
    let report = fresh.model.shared().report();
    assert!(
        report.fallback && report.in_use == "embedded default",
        "{report:?}"
    );
}

#[test]
fn the_spectrum_tap_holds_exactly_the_samples_the_host_got() {
    // The audio thread's share of the spectrum is one write per processed sample and one
    // publish per block: after each block the tap has advanced by exactly the block's length
    // and holds the mono sums of that block's input and output (its cost next to the chain:
    // `cargo bench -p xodvox-plugin --bench spectrum_tap`).
    let status = Arc::new(PluginStatus::default());
    let mut d = XodVoxDsp::new(settings(), None, status.clone());
    d.set_targets(Targets {
        pitch_semitones: 5.0,
        ..Targets::default()
    });
    d.reset();
    let mut t = 0usize;
    for len in [1usize, 37, 512, 4096, 100, 2048, 3] {
        let sine =
            |k: usize, f: f64| (0.4 * (std::f64::consts::TAU * f * k as f64 / SR).sin()) as f32;
        let l: Vec<f32> = (t..t + len).map(|k| sine(k, 440.0)).collect();
        let r: Vec<f32> = (t..t + len).map(|k| sine(k, 660.0)).collect();
        let (mut yl, mut yr) = (l.clone(), r.clone());
        let before = status.spectrum.written();
        let mut io: [&mut [f32]; 2] = [&mut yl, &mut yr];
        let ((), allocs) = count_allocations(|| d.process(&mut io));
        assert_eq!(allocs, 0, "block of {len}");
        assert_eq!(
            status.spectrum.written() - before,
            len as u64,
            "block of {len}"
        );
        let (mut tap_in, mut tap_out) = (vec![0.0f32; len], vec![0.0f32; len]);
        assert_eq!(
            status.spectrum.snapshot(&mut tap_in, &mut tap_out),
            Some(before + len as u64)
        );
        for k in 0..len {
            assert_eq!(
                tap_in[k],
                (l[k] + r[k]) * 0.5,
                "input, block of {len}, sample {k}"
            );
            assert_eq!(
                tap_out[k],
                (yl[k] + yr[k]) * 0.5,
                "output, block of {len}, sample {k}"
            );
        }
        t += len;
    }
}

/// This crate's directory as `cargo test` gives it at run time, else where the test was built
/// (a target directory shared by two checkouts can hold a test built from the other one).
fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}
