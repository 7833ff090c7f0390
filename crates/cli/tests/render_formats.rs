//! FLAC output and TPDF dither: renders decoded back (symphonia, with FLAC's MD5 checked) and
//! compared with the float render of the same input.

mod common;

use std::path::Path;

use common::*;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::DecoderOptions;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Decodes a FLAC file to integers at its bit depth, checking the stream's MD5 signature.
/// Returns `(bits, sample rate, channels, interleaved samples)`.
fn decode_flac(path: &Path) -> (u32, u32, usize, Vec<i32>) {
    let file = std::fs::File::open(path).unwrap();
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    hint.with_extension("flac");
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .expect("not a FLAC stream symphonia can read");
    let mut format = probed.format;
    let track = format.default_track().unwrap().clone();
    let params = &track.codec_params;
    let bits = params.bits_per_sample.unwrap();
    let channels = params.channels.unwrap().count();
    let mut decoder = symphonia::default::get_codecs()
        .make(params, &DecoderOptions { verify: true })
        .unwrap();
    let mut samples = Vec::new();
    while let Ok(packet) = format.next_packet() {
        let decoded = decoder.decode(&packet).expect("corrupt FLAC frame");
        let mut buf = SampleBuffer::<i32>::new(decoded.capacity() as u64, *decoded.spec());
        buf.copy_interleaved_ref(decoded);
        // symphonia scales to the full i32 range.
        samples.extend(buf.samples().iter().map(|&s| s >> (32 - bits)));
    }
    assert_eq!(
        decoder.finalize().verify_ok,
        Some(true),
        "MD5 signature does not match the audio"
    );
    assert_eq!(
        params.n_frames,
        Some((samples.len() / channels) as u64),
        "STREAMINFO length"
    );
    (bits, params.sample_rate.unwrap(), channels, samples)
}

/// Plain rounding to `bits`, as the renderer does without dither.
fn quantize(x: f32, bits: u32) -> i32 {
    let fs = f64::from((1u32 << (bits - 1)) - 1);
    (f64::from(x) * fs).round().clamp(-fs, fs) as i32
}

fn render(input: &Path, output: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "render",
        input.to_str().unwrap(),
        output.to_str().unwrap(),
        "--pitch",
        "2",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    xodvox(args)
}

fn interleave(channels: &[Vec<f32>]) -> Vec<f32> {
    (0..channels[0].len())
        .flat_map(|i| channels.iter().map(move |c| c[i]))
        .collect()
}

#[test]
fn flac_output_by_extension_and_flag_decodes_to_the_rounded_float_render() {
    let dir = tempfile::tempdir().unwrap();
    let input = path_in(&dir, "in.wav");
    write_wav_f32(&input, &test_signal(2, 3 * 44_100 + 5, 44_100), 44_100);
    let float = path_in(&dir, "float.wav");
    assert_ok(&render(&input, &float, &[]), "float");
    let reference = interleave(&read_wav(&float).channels);

    for (name, extra, bits) in [
        ("a.flac", &[][..], 24),
        ("b.FLAC", &["--format", "i16"][..], 16),
        ("c.audio", &["--format", "flac"][..], 24),
    ] {
        let out_path = path_in(&dir, name);
        assert_ok(&render(&input, &out_path, extra), name);
        assert_eq!(&std::fs::read(&out_path).unwrap()[..4], b"fLaC", "{name}");
        let (got_bits, rate, channels, samples) = decode_flac(&out_path);
        assert_eq!((got_bits, rate, channels), (bits, 44_100, 2), "{name}");
        let want: Vec<i32> = reference.iter().map(|&x| quantize(x, bits)).collect();
        assert_eq!(samples.len(), want.len(), "{name}: length");
        assert!(
            samples == want,
            "{name}: samples differ from the rounded float render"
        );
    }
}

#[test]
fn tpdf_dither_stays_within_one_lsb_is_unbiased_and_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let input = path_in(&dir, "in.wav");
    write_wav_f32(&input, &test_signal(2, 2 * 48_000, 48_000), 48_000);
    let plain = path_in(&dir, "plain.wav");
    let dith = path_in(&dir, "dith.wav");
    let again = path_in(&dir, "again.wav");
    assert_ok(&render(&input, &plain, &["--format", "i16"]), "plain");
    for out_path in [&dith, &again] {
        assert_ok(
            &render(&input, out_path, &["--format", "i16", "--dither", "tpdf"]),
            "tpdf",
        );
    }
    assert_eq!(
        std::fs::read(&dith).unwrap(),
        std::fs::read(&again).unwrap()
    );
    let read = |p: &Path| -> Vec<i32> {
        hound::WavReader::open(p)
            .unwrap()
            .samples::<i16>()
            .map(|s| i32::from(s.unwrap()))
            .collect()
    };
    let (a, b) = (read(&plain), read(&dith));
    assert_eq!(a.len(), b.len());
    let diffs: Vec<i32> = a.iter().zip(&b).map(|(x, y)| y - x).collect();
    assert!(diffs.iter().all(|d| d.abs() <= 1), "dither beyond ±1 LSB");
    let changed = diffs.iter().filter(|&&d| d != 0).count();
    assert!(
        changed > a.len() / 4,
        "only {changed} of {} samples dithered",
        a.len()
    );
    let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
    assert!(mean.abs() < 0.01, "dither is biased: mean {mean}");

    // FLAC takes the same dither.
    let flac = path_in(&dir, "dith.flac");
    assert_ok(
        &render(&input, &flac, &["--format", "i16", "--dither", "tpdf"]),
        "tpdf flac",
    );
    assert_eq!(decode_flac(&flac).3, b, "FLAC and WAV with the same dither");
}

#[test]
fn float_flac_and_dithered_float_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = path_in(&dir, "in.wav");
    write_wav_f32(&input, &test_signal(1, 4_800, 48_000), 48_000);
    let flac = path_in(&dir, "o.flac");
    assert_fails(
        &render(&input, &flac, &["--format", "f32"]),
        2,
        &["FLAC", "integer"],
        "f32 flac",
    );
    let wav = path_in(&dir, "o.wav");
    assert_fails(
        &render(&input, &wav, &["--dither", "tpdf"]),
        2,
        &["--dither", "float"],
        "dithered float",
    );
    assert_eq!(dir_entries(dir.path()), ["in.wav"]);
}
