//! The audio-thread side of the real-time neural engine never allocates: a counting
//! allocator records allocations made on the test (audio) thread only; the worker thread's
//! inference allocations are not counted.

mod common;
use common::crate_dir;

use xodvox_alloc_counter::{count_allocations, CountingAllocator};
use xodvox_dsp::{Controls, Stretcher, StretcherConfig};
use xodvox_infer::{load_backend, BackendKind, ModelBundle, RealtimePhaseEngine, WaitMode};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn real_time_neural_processing_does_not_allocate_on_the_audio_thread() {
    audio_thread_does_not_allocate("tiny");
}

/// The same with a gain head (format 2): its gains are written into preallocated buffers.
#[test]
fn real_time_gain_model_does_not_allocate_on_the_audio_thread() {
    audio_thread_does_not_allocate("identity-gain");
}

fn audio_thread_does_not_allocate(fixture: &str) {
    let dir = crate_dir().join("../../fixtures/models").join(fixture);
    let bundle = ModelBundle::from_dir(&dir).unwrap();
    let backend = load_backend(BackendKind::Tract, &bundle).unwrap();
    let engine =
        RealtimePhaseEngine::new(bundle.meta.clone(), backend, WaitMode::RealTime).unwrap();
    let status = engine.status();
    let mut st = Stretcher::new(StretcherConfig::default(), Box::new(engine)).unwrap();
    let len = 48_000;
    let input: Vec<f32> = (0..len).map(|i| ((i as f32) * 0.031).sin() * 0.4).collect();
    let mut left = vec![0.0f32; len];
    let mut right = vec![0.0f32; len];
    let mut total = 0;
    let mut pos = 0;
    let mut block = 1;
    while pos < len {
        let b = block.min(len - pos);
        let ((), n) = count_allocations(|| {
            st.set_controls(Controls {
                pitch_semitones: (pos as f64 / len as f64) * 10.0 - 5.0,
                ..Controls::default()
            })
            .unwrap();
            st.process(
                &[&input[pos..pos + b], &input[pos..pos + b]],
                &mut [&mut left[pos..pos + b], &mut right[pos..pos + b]],
            );
        });
        total += n;
        pos += b;
        block = block * 7 % 1531 + 1;
        // Give the worker time, as a real audio callback period would.
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    assert_eq!(total, 0, "the audio thread allocated {total} times");
    assert!(left.iter().chain(&right).all(|v| v.is_finite()));
    let frames = status.frames.load(std::sync::atomic::Ordering::Relaxed);
    assert!(frames > 50, "frames synthesised: {frames}");
}
