//! The streaming `xodvox render` against the whole-file render it replaced: the same file
//! decoded whole, converted to 48 kHz and back with one rubato `process_all` each way, rendered
//! with `render_offline`, cut or padded to round(N × stretch). The outputs must be identical
//! sample for sample, at 48 kHz and at 44.1 kHz, on files long enough for many decoder packets,
//! converter chunks and renderer steps.

mod common;

use common::*;
use rubato::audioadapter::Adapter;
use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Resampler};
use xodvox_dsp::{classical_engine, render_offline, RenderSettings};

/// The whole-clip conversion of the previous `audio_io::resample`.
fn resample_whole(channels: &[Vec<f32>], from: u32, to: u32) -> Vec<Vec<f32>> {
    if from == to {
        return channels.to_vec();
    }
    let n = channels.len();
    let len = channels[0].len();
    let mut r = Fft::<f32>::new(from as usize, to as usize, 1024, n, FixedSync::Both).unwrap();
    let input = SequentialSliceOfVecs::new(channels, n, len).unwrap();
    let out = r.process_all(&input, len, None).unwrap();
    let frames = out.frames();
    let data = out.take_data();
    let want = (len as f64 * f64::from(to) / f64::from(from)).round() as usize;
    (0..n)
        .map(|c| {
            let mut ch: Vec<f32> = (0..frames).map(|i| data[i * n + c]).collect();
            ch.resize(want, 0.0);
            ch
        })
        .collect()
}

/// The whole-file render of the previous `render::run` (classical engine, 48 kHz inside).
fn render_whole(input: &[Vec<f32>], rate: u32, stretch: f64, pitch: f64) -> Vec<Vec<f32>> {
    let settings = RenderSettings {
        stretch,
        pitch_semitones: pitch,
        ..RenderSettings::default()
    };
    let at_48k = resample_whole(input, rate, 48_000);
    let rendered = render_offline(&at_48k, &settings, classical_engine(2048), &mut |_, _| {})
        .unwrap()
        .channels;
    let mut back = resample_whole(&rendered, 48_000, rate);
    let want = (input[0].len() as f64 * stretch).round() as usize;
    back.iter_mut().for_each(|c| c.resize(want, 0.0));
    back
}

fn check_identical(rate: u32, seconds: f64, stretch: f64, pitch: f64) {
    let dir = tempfile::tempdir().unwrap();
    let input = path_in(&dir, "in.wav");
    let output = path_in(&dir, "out.wav");
    let frames = (seconds * f64::from(rate)).round() as usize + 77;
    let signal = test_signal(2, frames, rate);
    write_wav_f32(&input, &signal, rate);
    let (s, p) = (stretch.to_string(), pitch.to_string());
    let out = xodvox([
        "render",
        input.to_str().unwrap(),
        output.to_str().unwrap(),
        "--stretch",
        &s,
        "--pitch",
        &p,
        "--quiet",
    ]);
    let case = format!("{rate} Hz, stretch {stretch}, pitch {pitch}");
    assert_ok(&out, &case);
    let streamed = read_wav(&output);
    assert_eq!(streamed.spec.sample_rate, rate, "{case}");
    let whole = render_whole(&signal, rate, stretch, pitch);
    assert_eq!(streamed.num_frames(), whole[0].len(), "{case}: length");
    for (c, (a, b)) in streamed.channels.iter().zip(&whole).enumerate() {
        if let Some(i) = a
            .iter()
            .zip(b)
            .position(|(x, y)| x.to_bits() != y.to_bits())
        {
            panic!(
                "{case}: channel {c} differs first at frame {i}: {} vs {}",
                a[i], b[i]
            );
        }
    }
}

#[test]
fn streaming_equals_whole_file_at_48k_stretch_4() {
    check_identical(48_000, 8.0, 4.0, 0.0);
}

#[test]
fn streaming_equals_whole_file_at_48k_pitch_3() {
    check_identical(48_000, 8.0, 1.0, 3.0);
}

#[test]
fn streaming_equals_whole_file_at_44k1_stretch_and_pitch() {
    check_identical(44_100, 8.0, 1.7, -3.5);
}

#[test]
fn streaming_equals_whole_file_at_96k_shortened() {
    check_identical(96_000, 4.0, 0.6, 2.0);
}
