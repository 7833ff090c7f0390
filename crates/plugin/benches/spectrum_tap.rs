//! Criterion bench of the editor's spectrum tap next to the chain it listens to: one block of
//! 512 stereo samples through the classical chain, and the tap's writes and publish for the
//! same block. Compare the two in the same run (absolute times on these machines are noisy);
//! the tap is meant to be a small fraction of the chain.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::sync::Arc;
use xodvox_plugin::dsp::{DspSettings, PluginStatus, Targets, XodVoxDsp};
use xodvox_plugin::spectrum::SpectrumTap;

const BLOCK: usize = 512;

fn bench_chain_and_tap(c: &mut Criterion) {
    let settings = DspSettings {
        sample_rate: 48_000.0,
        channels: 2,
        max_block: BLOCK,
        offline: false,
    };
    let mut d = XodVoxDsp::new(settings, None, Arc::new(PluginStatus::default()));
    d.set_targets(Targets {
        pitch_semitones: 5.0,
        ..Targets::default()
    });
    d.reset();
    let sine: Vec<f32> = (0..BLOCK)
        .map(|k| 0.4 * (std::f32::consts::TAU * 440.0 * k as f32 / 48_000.0).sin())
        .collect();
    let (mut l, mut r) = (sine.clone(), sine.clone());
    let mut group = c.benchmark_group("block_512_stereo");
    group.throughput(Throughput::Elements(BLOCK as u64));
    group.bench_function("classical_chain", |b| {
        b.iter(|| {
            l.copy_from_slice(&sine);
            r.copy_from_slice(&sine);
            let mut io: [&mut [f32]; 2] = [&mut l, &mut r];
            d.process(&mut io);
        })
    });
    let tap = SpectrumTap::default();
    let mut written = 0u64;
    group.bench_function("spectrum_tap", |b| {
        b.iter(|| {
            for &x in &sine {
                tap.write(written, black_box(x), black_box(-x));
                written += 1;
            }
            tap.publish(written);
        })
    });
    group.finish();
}

criterion_group!(benches, bench_chain_and_tap);
criterion_main!(benches);
