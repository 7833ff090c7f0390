//! The neural engine inside the real streaming chain: offline render, the real-time
//! wrapper's offline mode against the inline engine, and deadline misses falling back to the
//! classical phase without clicks.

mod common;
use common::crate_dir;

use std::sync::Arc;
use std::time::Duration;

use xodvox_dsp::metrics::{cents, dominant_frequency};
use xodvox_dsp::{render_offline, Controls, RenderSettings, Stretcher, StretcherConfig};
use xodvox_infer::{
    load_backend, BackendKind, InferError, ModelBundle, NeuralPhaseEngine, PhaseBackend,
    RealtimePhaseEngine, WaitMode,
};

fn bundle() -> ModelBundle {
    ModelBundle::from_dir(&crate_dir().join("../../fixtures/models/tiny")).unwrap()
}

fn sine(freq: f64, len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| (std::f64::consts::TAU * freq * i as f64 / 48_000.0).sin() as f32 * 0.5)
        .collect()
}

#[test]
fn neural_render_offline_inline_equals_real_time_wrapper_waiting() {
    let b = bundle();
    let input = vec![sine(440.0, 30_000), sine(660.0, 30_000)];
    let settings = RenderSettings {
        // No pitch: with resampling, a one-hop lag becomes a fractional output shift.
        stretch: 1.3,
        pitch_semitones: 0.0,
        ..RenderSettings::default()
    };
    let inline = NeuralPhaseEngine::new(
        b.meta.clone(),
        load_backend(BackendKind::Tract, &b).unwrap(),
    );
    let a = render_offline(&input, &settings, Box::new(inline), &mut |_, _| {}).unwrap();
    let rt = RealtimePhaseEngine::new(
        b.meta.clone(),
        load_backend(BackendKind::Tract, &b).unwrap(),
        WaitMode::Offline,
    )
    .unwrap();
    let status = rt.status();
    let c = render_offline(&input, &settings, Box::new(rt), &mut |_, _| {}).unwrap();
    assert_eq!(a.channels[0].len(), 39_000);
    assert_eq!(c.channels[0].len(), 39_000);
    assert_eq!(status.misses.load(std::sync::atomic::Ordering::Relaxed), 0);
    for ch in 0..2 {
        assert!(a.channels[ch].iter().all(|v| v.is_finite()));
        let worst = a.channels[ch]
            .iter()
            .zip(&c.channels[ch])
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);

        assert!(
            worst < 1e-4,
            "channel {ch}: inline vs worker differ by {worst}"
        );
    }
}

/// A backend that is too slow for real time and returns a fixed phase.
struct SlowBackend {
    bins: usize,
    delay: Duration,
}

impl PhaseBackend for SlowBackend {
    fn name(&self) -> &'static str {
        "slow"
    }
    fn run(
        &mut self,
        _: &[f32],
        _: Option<&[f32]>,
        _: usize,
        _: &[f32],
        out: &mut [f32],
    ) -> Result<(), InferError> {
        std::thread::sleep(self.delay);
        out[..self.bins].iter_mut().for_each(|v| *v = 1.0);
        out[self.bins..].iter_mut().for_each(|v| *v = 0.0);
        Ok(())
    }
}

#[test]
fn late_inference_falls_back_to_classical_without_clicks() {
    let b = bundle();
    let backend = Box::new(SlowBackend {
        bins: 1025,
        delay: Duration::from_millis(40),
    });
    let engine = RealtimePhaseEngine::new(b.meta.clone(), backend, WaitMode::RealTime).unwrap();
    let status = engine.status();
    let config = StretcherConfig {
        channels: 1,
        min_pitch_semitones: -12.0,
        max_pitch_semitones: 12.0,
        ..StretcherConfig::default()
    };
    let mut st = Stretcher::new(config, Box::new(engine)).unwrap();
    st.set_controls(Controls {
        pitch_semitones: 4.0,
        ..Controls::default()
    })
    .unwrap();
    let len = 48_000;
    let input = sine(440.0, len);
    let mut out = vec![0.0f32; len];
    for (i, o) in out.chunks_mut(256).enumerate() {
        let s = i * 256;
        st.process(&[&input[s..s + o.len()]], &mut [o]);
    }
    let misses = status.misses.load(std::sync::atomic::Ordering::Relaxed);
    let frames = status.frames.load(std::sync::atomic::Ordering::Relaxed);
    assert!(frames > 80, "frames {frames}");
    assert!(
        misses * 2 > frames,
        "a 40 ms backend must miss most frames: {misses}/{frames}"
    );
    assert!(out.iter().all(|v| v.is_finite()));
    let lat = st.latency_samples();
    let steady = &out[lat + 4096..];
    let jump = steady
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0f32, f32::max);
    assert!(jump < 0.2, "largest sample step {jump}");
    let f = dominant_frequency(steady, 48_000.0);
    let expected = 440.0 * 2f64.powf(4.0 / 12.0);
    assert!(cents(f, expected).abs() < 5.0, "{f} Hz vs {expected}");
    let _ = Arc::strong_count(&status);
}

/// `fixtures/models/identity`: a model whose head is exactly the identity rotation of its
/// `advance` input (the classical engine's increment). Rendered through the whole runtime —
/// advance guide, tract, anchor, integration — it must sound exactly like the classical
/// engine: proof that the runtime feeds and integrates what training defines.
#[test]
fn identity_advance_model_renders_like_the_classical_engine() {
    renders_like_the_classical_engine_times("identity", 1.0);
}

/// `fixtures/models/identity-gain` (format 2): the identity head plus a gain head whose
/// constant output is +6 dB. The runtime must render the classical engine's output times
/// 10^(6/20) (after the anchor frame, which keeps its magnitude): the gain is applied to
/// every bin of every channel, in the frame it belongs to.
#[test]
fn identity_gain_model_renders_the_classical_engine_times_its_gain() {
    renders_like_the_classical_engine_times("identity-gain", 10f32.powf(6.0 / 20.0));
}

fn renders_like_the_classical_engine_times(fixture: &str, gain: f32) {
    let b =
        ModelBundle::from_dir(&crate_dir().join("../../fixtures/models").join(fixture)).unwrap();
    assert!(b.meta.has_advance());
    assert_eq!(b.meta.gain_db.is_some(), gain != 1.0);
    // Two partials that glide plus clicks, stereo with different levels.
    let len = 48_000;
    let mut left = vec![0.0f32; len];
    let mut right = vec![0.0f32; len];
    for i in 0..len {
        let t = i as f64 / 48_000.0;
        let glide = (std::f64::consts::TAU * (300.0 * t + 200.0 * t * t)).sin();
        let tone = (std::f64::consts::TAU * 1234.5 * t).sin();
        let click = if i % 12_000 == 6_000 { 1.0 } else { 0.0 };
        left[i] = (0.4 * glide + 0.2 * tone + 0.5 * click) as f32;
        right[i] = (0.2 * glide + 0.3 * tone + 0.5 * click) as f32;
    }
    let input = vec![left, right];
    // The anchor frame (the first) keeps its magnitude; its window reaches n_fft samples.
    let skip = b.meta.n_fft;
    for (stretch, pitch) in [(1.0, 0.0), (1.37, 0.0), (0.8, 3.0), (1.5, -7.0)] {
        let settings = RenderSettings {
            stretch,
            pitch_semitones: pitch,
            ..RenderSettings::default()
        };
        let neural = NeuralPhaseEngine::new(
            b.meta.clone(),
            load_backend(BackendKind::Tract, &b).unwrap(),
        );
        // The real-time engine (worker thread, one frame of lag), waiting for every frame.
        let realtime = RealtimePhaseEngine::new(
            b.meta.clone(),
            load_backend(BackendKind::Tract, &b).unwrap(),
            WaitMode::Offline,
        )
        .unwrap();
        let n = render_offline(&input, &settings, Box::new(neural), &mut |_, _| {}).unwrap();
        let r = render_offline(&input, &settings, Box::new(realtime), &mut |_, _| {}).unwrap();
        let c = render_offline(
            &input,
            &settings,
            xodvox_dsp::classical_engine(settings.n_fft),
            &mut |_, _| {},
        )
        .unwrap();
        for (ch, x) in (0..2).flat_map(|ch| [(ch, &n.channels[ch]), (ch, &r.channels[ch])]) {
            let y = &c.channels[ch];
            assert_eq!(x.len(), y.len());
            let (x, y) = (&x[skip..], &y[skip..]);
            let err: f64 = x
                .iter()
                .zip(y)
                .map(|(a, b)| f64::from(a - b * gain).powi(2))
                .sum();
            let sig: f64 = y.iter().map(|a| f64::from(*a * gain).powi(2)).sum();
            let db = 10.0 * (err / sig).log10();
            assert!(
                db < -80.0,
                "{fixture} stretch {stretch} pitch {pitch} ch {ch}: {db:.1} dB"
            );
        }
    }
}

/// A hung backend in an offline bounce costs one timeout, not one per frame: after the first
/// timed-out wait the engine stops waiting (classical phase) until it is reset.
#[test]
fn a_stuck_backend_stalls_an_offline_render_once() {
    let b = bundle();
    let backend = Box::new(SlowBackend {
        bins: 1025,
        delay: Duration::from_secs(3600),
    });
    let engine = RealtimePhaseEngine::new(b.meta.clone(), backend, WaitMode::Offline)
        .unwrap()
        .with_offline_timeout(Duration::from_millis(200));
    let status = engine.status();
    let config = StretcherConfig {
        channels: 1,
        ..StretcherConfig::default()
    };
    let mut st = Stretcher::new(config, Box::new(engine)).unwrap();
    let len = 48_000;
    let input = sine(440.0, len);
    let mut out = vec![0.0f32; len];
    let start = std::time::Instant::now();
    for (i, o) in out.chunks_mut(512).enumerate() {
        let s = i * 512;
        st.process(&[&input[s..s + o.len()]], &mut [o]);
    }
    let took = start.elapsed();
    let frames = status.frames.load(std::sync::atomic::Ordering::Relaxed);
    let timeouts = status
        .offline_timeouts
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(frames > 80, "frames {frames}");
    assert_eq!(timeouts, 1, "one timed-out wait, then no more waiting");
    // 90+ frames × 200 ms would be 18 s if every frame waited.
    assert!(took < Duration::from_secs(5), "the render took {took:?}");
    assert!(out.iter().all(|v| v.is_finite()));
    // The classical phase took over: the tone is still there.
    let tail = &out[len / 2..];
    assert!(tail.iter().map(|v| v * v).sum::<f32>() / (tail.len() as f32) > 1e-3);
    // Dropping the engine does not wait for the hung inference (the worker is detached).
    let start = std::time::Instant::now();
    drop(st);
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "drop took {:?}",
        start.elapsed()
    );
}
