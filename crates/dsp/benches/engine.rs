//! Criterion benches of the hot calls. Compare the classical engine with the identity
//! engine (the bare STFT/iSTFT cost) measured in the same run; absolute times on these
//! machines are noisy.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use xodvox_dsp::stft::ForwardFft;
use xodvox_dsp::window::hann_periodic;
use xodvox_dsp::{
    ClassicalPhaseEngine, Controls, IdentityPhaseEngine, PhaseEngine, RateBridge, Stretcher,
    StretcherConfig,
};

fn signal(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let t = i as f32 / 48_000.0;
            (t * 440.0 * std::f32::consts::TAU).sin() * 0.3
                + (t * 1234.0 * std::f32::consts::TAU).sin() * 0.2
        })
        .collect()
}

fn bench_fft(c: &mut Criterion) {
    let mut fft = ForwardFft::new(2048);
    let window = hann_periodic(2048);
    let frame = signal(2048);
    let mut spec = fft.make_spectrum_vec();
    c.bench_function("stft_frame_2048", |b| {
        b.iter(|| fft.process(black_box(&frame), &window, &mut spec))
    });
}

/// Builds a boxed engine for the bench.
type MakeEngine = fn() -> Box<dyn PhaseEngine>;

fn bench_process(c: &mut Criterion) {
    let len = 48_000;
    let input = [signal(len), signal(len)];
    let mut out = [vec![0.0f32; len], vec![0.0f32; len]];
    let mut group = c.benchmark_group("stretcher_process_1s_stereo");
    group.throughput(Throughput::Elements(len as u64));
    group.sample_size(10);
    let engines: [(&str, MakeEngine); 2] = [
        ("identity", || Box::new(IdentityPhaseEngine::new(1025))),
        ("classical", || Box::new(ClassicalPhaseEngine::new(1025))),
    ];
    for (name, make) in engines {
        for pitch in [0.0, 5.0] {
            let mut st = Stretcher::new(StretcherConfig::default(), make()).unwrap();
            st.set_controls(Controls {
                pitch_semitones: pitch,
                ..Controls::default()
            })
            .unwrap();
            group.bench_with_input(BenchmarkId::new(name, pitch), &pitch, |b, _| {
                b.iter(|| {
                    let ins = [&input[0][..], &input[1][..]];
                    let (l, r) = out.split_at_mut(1);
                    st.process(&ins, &mut [&mut l[0][..], &mut r[0][..]]);
                })
            });
        }
    }
    group.finish();
}

/// The plugin's chain at a host rate other than 48 kHz: the classical stretcher inside a
/// 44.1 kHz ↔ 48 kHz [`RateBridge`], next to the bridge alone (identity processor) and the
/// same stretcher fed directly, per second of stereo host audio.
fn bench_bridge(c: &mut Criterion) {
    let len = 44_100;
    let input = [signal(len), signal(len)];
    let mut out = [vec![0.0f32; len], vec![0.0f32; len]];
    let mut group = c.benchmark_group("rate_bridge_1s_stereo_44k1");
    group.throughput(Throughput::Elements(len as u64));
    group.sample_size(10);
    let mut bridge = RateBridge::new(44_100, 48_000, 2).unwrap();
    group.bench_function("bridge_only", |b| {
        b.iter(|| {
            let ins = [&input[0][..], &input[1][..]];
            let (l, r) = out.split_at_mut(1);
            bridge.process(&ins, &mut [&mut l[0][..], &mut r[0][..]], |i, o| {
                for (o, i) in o.iter_mut().zip(i) {
                    o.copy_from_slice(i);
                }
            });
        })
    });
    let pitched = |pitch: f64| {
        let mut st = Stretcher::new(
            StretcherConfig::default(),
            Box::new(ClassicalPhaseEngine::new(1025)),
        )
        .unwrap();
        st.set_controls(Controls {
            pitch_semitones: pitch,
            ..Controls::default()
        })
        .unwrap();
        st
    };
    let mut st = pitched(5.0);
    group.bench_function("classic_direct_5st", |b| {
        b.iter(|| {
            let ins = [&input[0][..], &input[1][..]];
            let (l, r) = out.split_at_mut(1);
            st.process(&ins, &mut [&mut l[0][..], &mut r[0][..]]);
        })
    });
    let mut st = pitched(5.0);
    group.bench_function("classic_bridged_5st", |b| {
        b.iter(|| {
            let ins = [&input[0][..], &input[1][..]];
            let (l, r) = out.split_at_mut(1);
            bridge.process(&ins, &mut [&mut l[0][..], &mut r[0][..]], |i, o| {
                st.process(i, o);
            });
        })
    });
    group.finish();
}

criterion_group!(benches, bench_fft, bench_process, bench_bridge);
criterion_main!(benches);
