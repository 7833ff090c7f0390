//! The plugin's chain at every sample rate a host may ask for (the rates clap-validator and
//! the Steinberg validator try, up to 1.5 MHz and fractional ones): it builds, the impulse
//! comes out at the reported latency (the dry path exactly, the wet one within a sample), the output is finite, and after silence longer than
//! the idle detector's tail the output is silent (so sleeping then loses nothing).

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use xodvox_plugin::dsp::{DspSettings, PluginStatus, Targets, XodVoxDsp};
use xodvox_plugin::idle::IdleDetector;
use xodvox_plugin::{
    host_rate_supported, latency_at, XodVox, DEFAULT_SAMPLE_RATE, MAX_HOST_SAMPLE_RATE,
};

/// The validators' rates (clap-validator: 8 k … 768 k, 1234.5678, 12345.678, 45678.901,
/// 123456.78; Steinberg: 22.05 k … 384 k, 1234.5678, 12345.678, 123456.78, 1234567.8) and
/// a few more.
const RATES: [f64; 11] = [
    1_000.0,
    8_000.0,
    22_050.0,
    768_000.0,
    1_536_000.0,
    1_234.567_8,
    12_345.678,
    45_678.901,
    123_456.78,
    1_234_567.8,
    44_100.5,
];

fn dsp(sample_rate: f64) -> XodVoxDsp {
    let mut d = XodVoxDsp::new(
        DspSettings {
            sample_rate,
            channels: 1,
            max_block: 4096,
            offline: false,
        },
        None,
        Arc::new(PluginStatus::default()),
    );
    d.reset();
    d
}

fn run(d: &mut XodVoxDsp, x: &[f32], block: usize) -> Vec<f32> {
    let mut y = x.to_vec();
    for chunk in y.chunks_mut(block) {
        d.process(&mut [chunk]);
    }
    y
}

#[test]
fn every_rate_hosts_try_is_supported_and_absurd_ones_are_not() {
    for rate in RATES {
        assert!(host_rate_supported(rate), "{rate} Hz");
    }
    for rate in [
        0.0,
        -48_000.0,
        f64::NAN,
        f64::INFINITY,
        50.0,
        2.0 * MAX_HOST_SAMPLE_RATE,
    ] {
        assert!(!host_rate_supported(rate), "{rate} Hz");
    }
}

#[test]
fn impulse_comes_out_at_the_reported_latency_at_every_rate() {
    for rate in RATES {
        let mut d = dsp(rate);
        let latency = d.latency_samples();
        let at = 3_000;
        let n = at + latency + (rate * 0.2) as usize;
        let mut x = vec![0.0f32; n];
        x[at] = 1.0;
        let y = run(&mut d, &x, 512);
        assert!(y.iter().all(|v| v.is_finite()), "{rate} Hz");
        let peak = (0..n)
            .max_by(|&i, &j| y[i].abs().total_cmp(&y[j].abs()))
            .unwrap();
        // The wet path's latency is fractional inside: its peak within one sample (as
        // DawDreamer measures it, `tests/hosts`), or one 48 kHz sample at higher rates (a
        // 24 kHz band-limited impulse has no sharper peak); the dry path (Mix 0) exactly.
        let offset = peak as i64 - (at + latency) as i64;
        let tolerance = (rate / 48_000.0).ceil().max(1.0) as i64;
        assert!(
            offset.abs() <= tolerance,
            "{rate} Hz: latency {latency}, peak {offset:+}"
        );
        let mut d = dsp(rate);
        d.set_targets(Targets {
            mix: 0.0,
            ..Targets::default()
        });
        d.snap_to_targets();
        let dry = run(&mut d, &x, 512);
        assert_eq!(&dry[latency..], &x[..n - latency], "{rate} Hz: dry path");
        println!("{rate} Hz: latency {latency} samples, wet peak {offset:+}");
    }
}

#[test]
fn output_is_finite_and_silent_after_the_idle_tail_at_every_rate() {
    for rate in RATES {
        let mut d = dsp(rate);
        d.set_targets(Targets {
            pitch_semitones: 12.0,
            mix: 0.8,
            ..Targets::default()
        });
        d.snap_to_targets();
        let tail = IdleDetector::new(d.latency_samples(), rate).tail_samples() as usize;
        let burst = (rate * 0.3) as usize;
        let n = burst + tail + (rate * 0.1) as usize;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let x: Vec<f32> = (0..n)
            .map(|i| {
                if i < burst {
                    rng.random_range(-0.5..0.5)
                } else {
                    0.0
                }
            })
            .collect();
        let y = run(&mut d, &x, 480);
        assert!(y.iter().all(|v| v.is_finite()), "{rate} Hz");
        let loud = y.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
        assert!(loud > 0.05, "{rate} Hz: no output ({loud})");
        let last = y.iter().rposition(|v| v.abs() > 1e-7).unwrap();
        assert!(
            last < burst + tail,
            "{rate} Hz: sound {} samples after the input, idle tail {tail}",
            last - burst
        );
        println!(
            "{rate} Hz: last sound {} samples after the input, idle tail {tail}",
            last - burst
        );
    }
}

/// pluginval prints the latency a fresh instance reports before activation: the plugin
/// reports the one it will have at 48 kHz (nice-plug's default is 0), through both
/// formats, and once a VST3 host has given its rate (`setupProcessing`), that rate's;
/// [`latency_at`] is the chain's latency at each rate (0 where it passes through).
#[test]
fn latency_before_activation_is_the_default_rates() {
    use nice_plug::prelude::{ClapPlugin, Vst3Plugin};
    let at_default = dsp(DEFAULT_SAMPLE_RATE).latency_samples() as u32;
    assert!(at_default > 0);
    let plugin = XodVox::default();
    assert_eq!(
        Vst3Plugin::latency_before_activation(&plugin, None),
        Some(at_default)
    );
    assert_eq!(
        ClapPlugin::latency_before_activation(&plugin, None),
        Some(at_default)
    );
    // VST3 `setupProcessing` asks with the host's rate: that rate's latency.
    for rate in [44_100.0f32, 96_000.0, 768_000.0, 1_234.567_8] {
        let want = dsp(f64::from(rate)).latency_samples() as u32;
        assert_eq!(latency_at(f64::from(rate)), want, "{rate} Hz");
        assert_eq!(
            Vst3Plugin::latency_before_activation(&plugin, Some(rate)),
            Some(want),
            "{rate} Hz"
        );
    }
    assert_eq!(latency_at(2.0 * MAX_HOST_SAMPLE_RATE), 0);
}
