//! Golden vectors shared with the Python training package (`fixtures/golden/stft/`, written
//! by `python -m xodvox_train.golden` with torch.stft/torch.istft). Both sides must agree.

mod common;
use common::crate_dir;

use std::path::PathBuf;

use xodvox_dsp::phase::{Controls, PhaseEngine, PhaseFrame};
use xodvox_dsp::stft::{istft, stft};
use xodvox_dsp::transient::TransientDetector;
use xodvox_dsp::{ClassicalPhaseEngine, StftConfig};

fn fixture_dir() -> PathBuf {
    crate_dir().join("../../fixtures/golden/stft")
}

fn read_f32(name: &str) -> Vec<f32> {
    read_f32_at(&fixture_dir().join(name))
}

fn read_f32_at(path: &std::path::Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(bytes.len() % 4, 0, "{} is not float32 data", path.display());
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn meta() -> serde_json::Value {
    let path = fixture_dir().join("meta.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn stft_matches_torch_golden_vectors() {
    let meta = meta();
    assert_eq!(meta["format_version"], 1);
    assert_eq!(meta["window"], "hann_periodic");
    assert_eq!(meta["center"], true);
    assert_eq!(meta["pad_mode"], "zeros");
    let config = StftConfig {
        n_fft: meta["n_fft"].as_u64().unwrap() as usize,
        hop: meta["hop"].as_u64().unwrap() as usize,
    };
    let bins = meta["num_bins"].as_u64().unwrap() as usize;
    let frames = meta["num_frames"].as_u64().unwrap() as usize;
    assert_eq!(bins, config.num_bins());
    let signal = read_f32("signal.f32");
    assert_eq!(signal.len(), meta["num_samples"].as_u64().unwrap() as usize);
    let golden = read_f32("stft.f32");
    assert_eq!(golden.len(), frames * bins * 2);

    let ours = stft(&signal, config);
    assert_eq!(ours.len(), frames, "frame count");
    let max_mag = golden
        .chunks_exact(2)
        .map(|c| (c[0] * c[0] + c[1] * c[1]).sqrt())
        .fold(0.0f32, f32::max);
    let mut worst = (0.0f32, 0, 0);
    for (f, frame) in ours.iter().enumerate() {
        for (k, z) in frame.iter().enumerate() {
            let i = (f * bins + k) * 2;
            let err = ((z.re - golden[i]).powi(2) + (z.im - golden[i + 1]).powi(2)).sqrt();
            if err > worst.0 {
                worst = (err, f, k);
            }
        }
    }
    let rel = worst.0 / max_mag;
    assert!(
        rel < 1e-5,
        "largest STFT difference {rel:.2e} of max magnitude at frame {} bin {}",
        worst.1,
        worst.2
    );

    // Reconstruction: our istft of the golden STFT equals torch.istft's and the signal.
    let golden_frames: Vec<Vec<num_complex::Complex32>> = golden
        .chunks_exact(bins * 2)
        .map(|fr| {
            fr.chunks_exact(2)
                .map(|c| num_complex::Complex32::new(c[0], c[1]))
                .collect()
        })
        .collect();
    let recon = read_f32("recon.f32");
    let ours = istft(&golden_frames, config, signal.len());
    let peak = signal.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (i, ((a, b), s)) in ours.iter().zip(&recon).zip(&signal).enumerate() {
        assert!(
            (a - b).abs() < 1e-5 * peak,
            "istft sample {i}: ours {a}, torch {b}"
        );
        assert!(
            (a - s).abs() < 1e-5 * peak,
            "reconstruction sample {i}: {a} vs signal {s}"
        );
    }
}

/// (magnitude, analysis phase) of each frame seen.
type Frames = std::sync::Arc<std::sync::Mutex<Vec<(Vec<f32>, Vec<f32>)>>>;

/// Records what the streaming vocoder hands to its phase engine.
struct Recorder {
    frames: Frames,
}

impl xodvox_dsp::PhaseEngine for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }
    fn num_bins(&self) -> usize {
        1025
    }
    fn synthesis_phase(&mut self, frame: &xodvox_dsp::PhaseFrame<'_>, out: &mut [f32]) {
        self.frames
            .lock()
            .unwrap()
            .push((frame.magnitude.to_vec(), frame.analysis_phase.to_vec()));
        out.copy_from_slice(frame.analysis_phase);
    }
    fn reset(&mut self) {}
}

#[test]
fn streaming_analysis_frames_are_the_golden_stft_frames() {
    let signal = read_f32("signal.f32");
    let golden = read_f32("stft.f32");
    let frames = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let engine = Box::new(Recorder {
        frames: frames.clone(),
    });
    let mut voc =
        xodvox_dsp::PhaseVocoder::new(StftConfig::default(), 48_000.0, 1, engine).unwrap();
    let mut pos = 0;
    while pos < signal.len() {
        pos += voc.push(&[&signal], pos);
        if voc.frame_ready() {
            voc.run_frame();
        }
    }
    let frames = frames.lock().unwrap();
    assert!(frames.len() >= 20, "only {} frames", frames.len());
    let max_mag = golden
        .chunks_exact(2)
        .map(|c| (c[0] * c[0] + c[1] * c[1]).sqrt())
        .fold(0.0f32, f32::max);
    // Frame m of the stream is centred on sample m·hop, like torch.stft(center=True).
    for (m, (mag, _)) in frames.iter().enumerate() {
        for (k, &v) in mag.iter().enumerate() {
            let i = (m * 1025 + k) * 2;
            let g = (golden[i].powi(2) + golden[i + 1].powi(2)).sqrt();
            assert!(
                (v - g).abs() < 1e-5 * max_mag,
                "frame {m} bin {k}: {v} vs {g}"
            );
        }
    }
}

/// `fixtures/golden/classical/`: the training package's port of the classical engine
/// (`xodvox_train.data.transient_flags` + `classical_phases`, which build the neural model's
/// `advance` input) and this crate's transient detector and engine must fire on the same
/// frames and lock phases identically on them.
#[test]
fn classical_engine_matches_the_training_port() {
    let dir = crate_dir().join("../../fixtures/golden/classical");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    let frames = meta["num_frames"].as_u64().unwrap() as usize;
    let bins = meta["num_bins"].as_u64().unwrap() as usize;
    let hop = meta["hop"].as_u64().unwrap() as usize;
    let mag = read_f32_at(&dir.join("mag.f32"));
    let analysis = read_f32_at(&dir.join("analysis.f32"));
    let inst_freq = read_f32_at(&dir.join("inst_freq.f32"));
    let time_offset = read_f32_at(&dir.join("time_offset.f32"));
    let expected_transient = std::fs::read(dir.join("transient.u8")).unwrap();
    let expected = read_f32_at(&dir.join("phase.f32"));
    assert_eq!(expected.len(), frames * bins);
    assert_eq!(expected_transient.len(), frames);
    let n_fft = 2 * (bins - 1);
    let mut detector = TransientDetector::new(n_fft, 48_000.0, 1500.0);
    let mut engine = ClassicalPhaseEngine::new(bins);
    let mut out = vec![0.0f32; bins];
    let mut worst = 0.0f32;
    let mut fired = Vec::new();
    for f in 0..frames {
        let row = f * bins..(f + 1) * bins;
        let power: Vec<f32> = mag[row.clone()].iter().map(|m| m * m).collect();
        let transient = detector.update(&power, &time_offset[row.clone()], hop as f64, n_fft);
        assert_eq!(
            transient,
            expected_transient[f] != 0,
            "frame {f}: transient flag differs from the training port"
        );
        if transient {
            fired.push(f);
        }
        let frame = PhaseFrame {
            magnitude: &mag[row.clone()],
            analysis_phase: &analysis[row.clone()],
            inst_freq: &inst_freq[row.clone()],
            analysis_hop: if f == 0 { 0 } else { hop },
            synthesis_hop: hop,
            transient,
            controls: Controls::default(),
        };
        engine.synthesis_phase(&frame, &mut out);
        let peak = mag[row.clone()].iter().copied().fold(0.0f32, f32::max);
        for (b, (&got, &want)) in out.iter().zip(&expected[row.clone()]).enumerate() {
            // Bins far below the peak carry no energy; their phase is not audible.
            if mag[f * bins + b] < 1e-3 * peak {
                continue;
            }
            let d = xodvox_dsp::phase::wrap_phase(got - want).abs();
            worst = worst.max(d);
        }
    }
    // The noise burst mid-stream must fire a reset, not only the start of the signal.
    assert!(
        fired.iter().any(|&f| f > 0),
        "no mid-stream transient: {fired:?}"
    );
    // float32 accumulation over 24 frames against float64.
    assert!(worst < 2e-3, "largest phase difference {worst} rad");
}
