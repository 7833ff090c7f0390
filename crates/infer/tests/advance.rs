//! The `advance` input and the reset anchor, with recording backends (no ONNX needed):
//! what the engines feed a model that lists `advance`, and the first frame after a reset of
//! an `increment` model taking its analysis phase, inline and in the real-time wrapper.

mod common;
use common::crate_dir;

use std::sync::{Arc, Mutex};

use serde_json::Value;
use xodvox_dsp::phase::wrap_phase;
use xodvox_dsp::{Controls, PhaseEngine, PhaseFrame};
use xodvox_infer::{
    write_advance, InferError, ModelMeta, NeuralPhaseEngine, PhaseBackend, RealtimePhaseEngine,
    WaitMode,
};

const BINS: usize = 1025;
/// The rotation every recording backend outputs in every bin.
const ROTATION: f32 = 0.3;

fn fixture_json() -> Value {
    let p = crate_dir().join("../../fixtures/models/tiny/model.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The fixture's metadata, with or without the `advance` input and with the given output.
fn meta(advance: bool, phase_output: &str) -> Arc<ModelMeta> {
    let mut v = fixture_json();
    let inputs = v["inputs"].as_array_mut().unwrap();
    inputs.retain(|t| t["name"] != "advance");
    if advance {
        inputs.push(serde_json::json!(
            {"name": "advance", "dtype": "float32", "shape": ["batch", 1, 1025, "time"]}
        ));
    }
    v["phase_output"] = phase_output.into();
    Arc::new(ModelMeta::parse(&v.to_string(), "test").unwrap())
}

/// What a backend was given on one call: the advance window (if any) and its frame count.
type Calls = Arc<Mutex<Vec<(Option<Vec<f32>>, usize)>>>;

/// Records its inputs and outputs a fixed rotation of [`ROTATION`] rad in every bin.
struct Recording {
    calls: Calls,
}

impl PhaseBackend for Recording {
    fn name(&self) -> &'static str {
        "recording"
    }
    fn run(
        &mut self,
        mag: &[f32],
        advance: Option<&[f32]>,
        frames: usize,
        _: &[f32],
        out: &mut [f32],
    ) -> Result<(), InferError> {
        assert_eq!(mag.len(), BINS * frames);
        if let Some(a) = advance {
            assert_eq!(a.len(), BINS * frames);
        }
        self.calls
            .lock()
            .unwrap()
            .push((advance.map(<[f32]>::to_vec), frames));
        out[..BINS].iter_mut().for_each(|v| *v = ROTATION.cos());
        out[BINS..].iter_mut().for_each(|v| *v = ROTATION.sin());
        Ok(())
    }
}

/// Owned data of one analysis frame.
struct Analysis {
    magnitude: Vec<f32>,
    phase: Vec<f32>,
    inst_freq: Vec<f32>,
}

impl Analysis {
    /// Frame `k`: arbitrary phases, instantaneous frequencies off centre by a per-bin
    /// amount that varies with `k`.
    fn new(k: usize) -> Self {
        let bin_freq = std::f32::consts::TAU / 2048.0;
        Self {
            magnitude: (0..BINS).map(|b| 1.0 + (b % 7) as f32).collect(),
            phase: (0..BINS)
                .map(|b| wrap_phase(0.37 * b as f32 + 1.1 * k as f32))
                .collect(),
            inst_freq: (0..BINS)
                .map(|b| {
                    let offset = ((b + 3 * k) % 9) as f32 * 0.25 - 1.0;
                    (b as f32 + offset) * bin_freq
                })
                .collect(),
        }
    }

    fn frame(&self) -> PhaseFrame<'_> {
        PhaseFrame {
            magnitude: &self.magnitude,
            analysis_phase: &self.phase,
            inst_freq: &self.inst_freq,
            analysis_hop: 512,
            synthesis_hop: 512,
            transient: false,
            controls: Controls::default(),
        }
    }
}

/// The `advance` inputs of a stream of frames, by the documented definition: the increments
/// of a separate classical engine, beyond each bin's centre advance (0 on the first frame).
fn expected_advances(frames: &[Analysis]) -> Vec<Vec<f32>> {
    let mut engine = xodvox_dsp::ClassicalPhaseEngine::new(BINS);
    let mut prev = vec![0.0f32; BINS];
    let mut phase = vec![0.0f32; BINS];
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            engine.synthesis_phase(&f.frame(), &mut phase);
            let out = (0..BINS)
                .map(|b| {
                    if i == 0 {
                        return 0.0;
                    }
                    let d = f64::from(phase[b])
                        - f64::from(prev[b])
                        - std::f64::consts::TAU * b as f64 * 512.0 / 2048.0;
                    d.sin().atan2(d.cos()) as f32
                })
                .collect();
            prev.copy_from_slice(&phase);
            out
        })
        .collect()
}

fn close(a: f32, b: f32) -> bool {
    wrap_phase(a - b).abs() < 1e-3
}

#[test]
fn advance_of_a_frame_follows_the_formula() {
    let bin_freq = std::f32::consts::TAU / 2048.0;
    let a = Analysis::new(0);
    let mut out = vec![0.0; BINS];
    write_advance(&a.inst_freq, 512, 2048, &mut out);
    let pv: Vec<f32> = a
        .inst_freq
        .iter()
        .enumerate()
        .map(|(b, &w)| {
            let d = f64::from(w) * 512.0 - std::f64::consts::TAU * b as f64 * 512.0 / 2048.0;
            d.sin().atan2(d.cos()) as f32
        })
        .collect();
    for (b, (&got, &want)) in out.iter().zip(&pv).enumerate() {
        assert!(close(got, want), "bin {b}: {got} vs {want}");
        assert!(got > -std::f32::consts::PI && got <= std::f32::consts::PI);
    }
    // Exactly at the centre frequency: exactly 0. A bin is π/2 per hop of 512 at n_fft 2048:
    // half a bin above gives π/4, three bins below −3π/2, which wraps to π/2.
    let mut inst: Vec<f32> = (0..BINS).map(|b| b as f32 * bin_freq).collect();
    inst[100] = 100.5 * bin_freq;
    inst[200] = 197.0 * bin_freq;
    write_advance(&inst, 512, 2048, &mut out);
    for (b, &v) in out.iter().enumerate() {
        let want = match b {
            100 => std::f32::consts::FRAC_PI_4,
            200 => std::f32::consts::FRAC_PI_2,
            _ => 0.0,
        };
        if want == 0.0 {
            assert_eq!(v, 0.0, "bin {b}");
        } else {
            assert!((v - want).abs() < 1e-3, "bin {b}: {v} vs {want}");
        }
    }
}

#[test]
fn inline_engine_feeds_the_advance_window_of_models_that_take_it() {
    let calls = Calls::default();
    let backend = Box::new(Recording {
        calls: calls.clone(),
    });
    let mut engine = NeuralPhaseEngine::new(meta(true, "increment"), backend);
    let frames: Vec<Analysis> = (0..9).map(Analysis::new).collect();
    let expected = expected_advances(&frames);
    let mut out = vec![0.0; BINS];
    for f in &frames {
        engine.synthesis_phase(&f.frame(), &mut out);
    }
    let calls = calls.lock().unwrap();
    // The anchor frame is not run through the network.
    assert_eq!(calls.len(), frames.len() - 1);
    let context = 6;
    for (i, (advance, n)) in calls.iter().enumerate() {
        let last = i + 1; // index of the newest frame in this call
        assert_eq!(*n, (last + 1).min(context));
        let advance = advance.as_ref().expect("advance window fed");
        for t in 0..*n {
            let want = &expected[last + 1 - n + t];
            for b in (0..BINS).step_by(37) {
                let got = advance[b * n + t];
                assert!(
                    close(got, want[b]),
                    "call {i} frame {t} bin {b}: {got} vs {}",
                    want[b]
                );
            }
        }
    }
}

#[test]
fn models_without_the_input_get_none() {
    let calls = Calls::default();
    let backend = Box::new(Recording {
        calls: calls.clone(),
    });
    let mut engine = NeuralPhaseEngine::new(meta(false, "increment"), backend);
    let mut out = vec![0.0; BINS];
    for k in 0..3 {
        engine.synthesis_phase(&Analysis::new(k).frame(), &mut out);
    }
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|(a, _)| a.is_none()));
}

/// Runs `k` frames through `engine` from a reset and returns the phases it writes.
fn phases(engine: &mut dyn PhaseEngine, k: usize) -> Vec<Vec<f32>> {
    engine.reset();
    (0..k)
        .map(|i| {
            let mut out = vec![0.0; BINS];
            engine.synthesis_phase(&Analysis::new(i).frame(), &mut out);
            out
        })
        .collect()
}

fn assert_phases(got: &[f32], want: impl Fn(usize) -> f32, what: &str) {
    for (b, &g) in got.iter().enumerate() {
        assert!(close(g, want(b)), "{what}, bin {b}: {g} vs {}", want(b));
    }
}

#[test]
fn increment_model_starts_from_the_analysis_phase_after_reset_inline() {
    for advance in [false, true] {
        let backend = Box::new(Recording {
            calls: Calls::default(),
        });
        let mut engine = NeuralPhaseEngine::new(meta(advance, "increment"), backend);
        for round in 0..2 {
            let out = phases(&mut engine, 3);
            let a0 = Analysis::new(0);
            assert_phases(&out[0], |b| a0.phase[b], &format!("round {round} frame 0"));
            assert_phases(
                &out[1],
                |b| a0.phase[b] + ROTATION,
                &format!("round {round} frame 1"),
            );
            assert_phases(
                &out[2],
                |b| a0.phase[b] + 2.0 * ROTATION,
                &format!("round {round} frame 2"),
            );
        }
    }
    // Absolute models are unchanged: the first frame is the network's output.
    let backend = Box::new(Recording {
        calls: Calls::default(),
    });
    let mut engine = NeuralPhaseEngine::new(meta(false, "absolute"), backend);
    let out = phases(&mut engine, 2);
    assert_phases(&out[0], |_| ROTATION, "absolute frame 0");
    assert_phases(&out[1], |_| ROTATION, "absolute frame 1");
}

#[test]
fn increment_model_starts_from_the_analysis_phase_after_reset_real_time() {
    let calls = Calls::default();
    let backend = Box::new(Recording {
        calls: calls.clone(),
    });
    let mut engine =
        RealtimePhaseEngine::new(meta(true, "increment"), backend, WaitMode::Offline).unwrap();
    let status = engine.status();
    for round in 0..2 {
        // One frame of lag: call m writes the phase of frame m − 1.
        let out = phases(&mut engine, 4);
        let a0 = Analysis::new(0);
        assert_phases(&out[0], |_| 0.0, &format!("round {round} lag frame"));
        assert_phases(&out[1], |b| a0.phase[b], &format!("round {round} frame 0"));
        assert_phases(
            &out[2],
            |b| a0.phase[b] + ROTATION,
            &format!("round {round} frame 1"),
        );
        assert_phases(
            &out[3],
            |b| a0.phase[b] + 2.0 * ROTATION,
            &format!("round {round} frame 2"),
        );
    }
    assert_eq!(status.misses.load(std::sync::atomic::Ordering::Relaxed), 0);
    drop(engine);
    // The worker fed the advance window too, growing from one frame after each reset.
    let calls = calls.lock().unwrap();
    assert!(calls.iter().all(|(a, _)| a.is_some()));
    assert_eq!(calls[0].1, 1);
    let a = expected_advances(&(0..4).map(Analysis::new).collect::<Vec<_>>());
    for (call, want) in calls.iter().take(4).zip(&a) {
        let (got, n) = (call.0.as_ref().unwrap(), call.1);
        for b in (0..BINS).step_by(41) {
            let v = got[b * n + n - 1];
            assert!(close(v, want[b]), "bin {b}: {v} vs {}", want[b]);
        }
    }
}
