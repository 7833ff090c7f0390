//! The real-time [`Processor`] driven directly: the latency it reports is where impulses come
//! out at every pitch and rate, for both engines; its output does not depend on block sizes;
//! `process` never allocates on the calling thread, with the engine switching and the pitch
//! moving; bad settings are refused by name; a neural model whose network is the identity
//! with a constant gain renders the classical engine times that gain through it.

mod common;
use common::crate_dir;

use xodvox_alloc_counter::{count_allocations, CountingAllocator};
use xodvox_infer::{
    BackendKind, ModelBundle, Preset, Processor, ProcessorControls, ProcessorError, WaitMode,
};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn fixture(name: &str) -> ModelBundle {
    let dir = crate_dir().join("../../fixtures/models").join(name);
    ModelBundle::from_dir(&dir).unwrap()
}

fn processor(model: Option<&ModelBundle>, rate: f64, channels: usize) -> Processor {
    let preset = Preset {
        model,
        backend: BackendKind::Tract,
        wait: WaitMode::Offline,
    };
    Processor::new(&preset, rate, channels).unwrap()
}

fn controls(pitch: f64, neural: bool) -> ProcessorControls {
    ProcessorControls {
        pitch_semitones: pitch,
        style: 0,
        neural,
    }
}

/// Runs mono `x` through `p` in blocks of `block` samples.
fn run(p: &mut Processor, x: &[f32], block: usize) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    for (xi, yi) in x.chunks(block).zip(y.chunks_mut(block)) {
        p.process(&[xi], &mut [yi]);
    }
    y
}

fn sine(freq: f64, n: usize, rate: f64) -> Vec<f32> {
    (0..n)
        .map(|i| (0.5 * (std::f64::consts::TAU * freq * i as f64 / rate).sin()) as f32)
        .collect()
}

/// Delay of each impulse's peak (searched ±50 ms around the reported latency).
fn measured_delays(p: &mut Processor, rate: f64) -> Vec<i64> {
    let reported = p.latency_samples();
    let spacing = (0.2 * rate) as usize;
    let positions: Vec<usize> = (0..6).map(|i| 4_000 + i * spacing + i * 97).collect();
    let mut x = vec![0.0f32; positions[5] + spacing + reported];
    for &at in &positions {
        x[at] = 0.9;
    }
    let y = run(p, &x, 300);
    let window = (0.05 * rate) as usize;
    positions
        .iter()
        .map(|&at| {
            let lo = at + reported - window;
            let peak = (lo..lo + 2 * window)
                .max_by(|&i, &j| y[i].abs().total_cmp(&y[j].abs()))
                .unwrap();
            peak as i64 - at as i64
        })
        .collect()
}

#[test]
fn reported_latency_is_where_impulses_come_out_for_both_engines() {
    let model = fixture("identity");
    for rate in [44_100.0, 48_000.0, 96_000.0] {
        let reported = processor(None, rate, 1).latency_samples();
        for neural in [false, true] {
            for pitch in [-24.0, -7.0, 0.0, 5.0, 24.0] {
                let mut p = processor(Some(&model), rate, 1);
                assert!(p.neural_available());
                assert_eq!(p.latency_samples(), reported, "{rate} Hz");
                p.set_controls(controls(pitch, neural));
                p.reset();
                let delays = measured_delays(&mut p, rate);
                let tolerance = if pitch == 0.0 { 0 } else { 16 };
                assert!(
                    delays
                        .iter()
                        .all(|d| (d - reported as i64).abs() <= tolerance),
                    "{rate} Hz, {pitch} st, neural {neural}: measured {delays:?}, reported {reported}"
                );
            }
        }
    }
    assert_eq!(processor(None, 48_000.0, 2).latency_samples(), 2559);
}

#[test]
fn output_does_not_depend_on_block_sizes_and_is_finite() {
    let n = 30_000;
    let mut x = sine(330.0, n, 48_000.0);
    x[1234] = f32::NAN;
    x[2345] = f32::INFINITY;
    let render = |block: usize| {
        let mut p = processor(None, 44_100.0, 1);
        p.set_controls(controls(-5.5, false));
        p.reset();
        // A glide starts mid-stream (the control grid makes it block-size independent).
        let mut y = run(&mut p, &x[..n / 2], block);
        p.set_controls(controls(7.0, false));
        y.extend(run(&mut p, &x[n / 2..], block));
        y
    };
    let whole = render(n);
    assert!(whole.iter().all(|v| v.is_finite()));
    assert!(whole.iter().any(|v| v.abs() > 0.1));
    for block in [1, 31, 500, 4096] {
        assert_eq!(render(block), whole, "block {block}");
    }
}

#[test]
fn process_never_allocates_while_the_engine_switches_and_the_pitch_moves() {
    let model = fixture("tiny");
    let rate = 44_100.0;
    let mut p = Processor::new(
        &Preset {
            model: Some(&model),
            backend: BackendKind::Tract,
            wait: WaitMode::RealTime,
        },
        rate,
        2,
    )
    .unwrap();
    p.reset();
    let n = 44_100;
    let x = sine(220.0, n, rate);
    let (mut l, mut r) = (vec![0.0f32; n], vec![0.0f32; n]);
    let (mut pos, mut block, mut total) = (0, 1, 0);
    while pos < n {
        let b = block.min(n - pos);
        let ((), allocs) = count_allocations(|| {
            p.set_controls(controls(
                (pos as f64 / n as f64) * 48.0 - 24.0,
                (pos / 5_000) % 2 == 0,
            ));
            p.process(
                &[&x[pos..pos + b], &x[pos..pos + b]],
                &mut [&mut l[pos..pos + b], &mut r[pos..pos + b]],
            );
        });
        total += allocs;
        pos += b;
        block = block * 7 % 1531 + 1;
        std::thread::sleep(std::time::Duration::from_micros(100));
    }
    assert_eq!(total, 0);
    assert!(l.iter().chain(&r).all(|v| v.is_finite()));
    let status = p.engine_status().expect("a neural engine");
    assert!(status.frames.load(std::sync::atomic::Ordering::Relaxed) > 0);
}

#[test]
fn identity_gain_model_through_the_processor_is_the_classical_engine_times_its_gain() {
    let model = fixture("identity-gain");
    let gain = 10f32.powf(6.0 / 20.0);
    let rate = 48_000.0;
    let x = sine(440.0, 48_000, rate);
    let render = |neural: bool| {
        let mut p = processor(Some(&model), rate, 1);
        p.set_controls(controls(3.0, neural));
        p.reset();
        run(&mut p, &x, 512)
    };
    let classical = render(false);
    let neural = render(true);
    // After the first frames (the neural engine's anchor frame keeps gain 1).
    let start = 2559 + 4 * 2048;
    let err = classical[start..]
        .iter()
        .zip(&neural[start..])
        .map(|(c, n)| (c * gain - n).abs())
        .fold(0.0f32, f32::max);
    let peak = classical[start..]
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(peak > 0.1);
    assert!(
        err < peak * 1e-3,
        "neural differs from classical × gain by {err} (peak {peak})"
    );
}

#[test]
fn bad_settings_are_refused_by_name() {
    for rate in [0.0, -48_000.0, f64::NAN, 10.0, 7e6] {
        assert!(
            matches!(
                Processor::new(&Preset::default(), rate, 2),
                Err(ProcessorError::SampleRate(_))
            ),
            "{rate}"
        );
    }
    for channels in [0, 9] {
        let e = Processor::new(&Preset::default(), 48_000.0, channels)
            .err()
            .unwrap();
        assert!(matches!(e, ProcessorError::Channels(c) if c == channels));
        assert!(e.to_string().contains("1 to 8"));
    }
    // A model for another sample rate: classical only, and the reason is given.
    let mut meta = (*fixture("identity").meta).clone();
    meta.sample_rate = 44_100;
    let bundle = ModelBundle {
        meta: std::sync::Arc::new(meta),
        ..fixture("identity")
    };
    let p = processor(Some(&bundle), 48_000.0, 1);
    assert!(!p.neural_available());
    assert_eq!(
        p.availability(),
        xodvox_infer::NeuralAvailability::WrongModelRate
    );
}

#[test]
fn more_channels_than_stereo_are_processed_alike() {
    let rate = 48_000.0;
    let mut p = processor(None, rate, 3);
    p.set_controls(controls(2.0, false));
    p.reset();
    let x = sine(250.0, 20_000, rate);
    let mut outs = vec![vec![0.0f32; x.len()]; 3];
    {
        let mut o: Vec<&mut [f32]> = outs.iter_mut().map(|c| &mut c[..]).collect();
        p.process(&[&x, &x, &x], &mut o);
    }
    assert!(outs[0].iter().any(|v| v.abs() > 0.1));
    assert_eq!(outs[0], outs[1]);
    assert_eq!(outs[0], outs[2]);
}
