//! `xodvox render` end to end on real files: formats in, rate/channels/length out, input untouched.

mod common;

use common::*;

/// Renders `input` with `flags`, checks rate, channels, exact length and finiteness, and that the
/// input's bytes did not change. Returns the output.
fn render_and_check(
    input: &std::path::Path,
    flags: &[&str],
    in_frames: usize,
    rate: u32,
    channels: u16,
    stretch: f64,
    case: &str,
) -> Wav {
    let before = std::fs::read(input).expect("read input");
    let output = input.with_file_name(format!("{case}-out.wav"));
    let out = xodvox(
        ["render".as_ref(), input.as_os_str(), output.as_os_str()]
            .into_iter()
            .chain(flags.iter().map(|f| f.as_ref())),
    );
    assert_ok(&out, case);
    assert!(
        lines_starting(&out, "error:").is_empty(),
        "{case}: {}",
        stderr(&out)
    );
    let wav = read_wav(&output);
    assert_eq!(wav.spec.sample_rate, rate, "{case}: sample rate");
    assert_eq!(wav.spec.channels, channels, "{case}: channels");
    assert_eq!(
        wav.num_frames(),
        expected_frames(in_frames, stretch),
        "{case}: length must be round({in_frames} x {stretch})"
    );
    assert!(
        wav.channels.iter().flatten().all(|s| s.is_finite()),
        "{case}: non-finite output"
    );
    let energy: f64 = wav
        .channels
        .iter()
        .flatten()
        .map(|&s| f64::from(s * s))
        .sum();
    assert!(
        energy > 1.0,
        "{case}: output is (nearly) silent, energy {energy}"
    );
    assert_eq!(
        std::fs::read(input).expect("read input"),
        before,
        "{case}: input modified"
    );
    wav
}

#[test]
fn wav_mono_44k1_i16_stretched() {
    let dir = tempfile::tempdir().unwrap();
    let input = path_in(&dir, "mono.wav");
    let frames = 44_100 + 123;
    write_wav_i16(&input, &test_signal(1, frames, 44_100), 44_100);
    let wav = render_and_check(
        &input,
        &["--stretch", "1.5", "--quiet"],
        frames,
        44_100,
        1,
        1.5,
        "mono-44k1",
    );
    assert_eq!(
        wav.spec.sample_format,
        hound::SampleFormat::Float,
        "default output is f32"
    );
    assert_eq!(wav.spec.bits_per_sample, 32);
}

#[test]
fn wav_stereo_48k_f32_stretch_and_pitch() {
    let dir = tempfile::tempdir().unwrap();
    let input = path_in(&dir, "stereo.wav");
    let frames = 48_000;
    write_wav_f32(&input, &test_signal(2, frames, 48_000), 48_000);
    for (stretch, pitch, cents) in [
        ("0.5", "0", "0"),
        ("2", "-12", "0"),
        ("1", "3", "-25"),
        ("0.25", "24", "0"),
        ("4", "-23", "-100"),
    ] {
        let case = format!("stereo-s{stretch}-p{pitch}-c{cents}");
        render_and_check(
            &input,
            &["--stretch", stretch, "--pitch", pitch, "--cents", cents],
            frames,
            48_000,
            2,
            stretch.parse().unwrap(),
            &case,
        );
    }
}

#[test]
fn engine_classical_is_the_default_and_classic_its_earlier_spelling() {
    let dir = tempfile::tempdir().unwrap();
    let input = path_in(&dir, "in.wav");
    let frames = 24_000;
    write_wav_f32(&input, &test_signal(1, frames, 48_000), 48_000);
    let flags = ["--pitch", "3"];
    let default = render_and_check(&input, &flags, frames, 48_000, 1, 1.0, "default");
    for spelling in ["classical", "classic"] {
        let with = [&flags[..], &["--engine", spelling]].concat();
        let out = render_and_check(&input, &with, frames, 48_000, 1, 1.0, spelling);
        assert_eq!(out.channels, default.channels, "--engine {spelling}");
    }
}

#[test]
fn six_channels_keep_their_layout() {
    let dir = tempfile::tempdir().unwrap();
    let input = path_in(&dir, "six.wav");
    let frames = 24_000;
    write_wav_f32(&input, &test_signal(6, frames, 48_000), 48_000);
    let wav = render_and_check(
        &input,
        &["--stretch", "1.25", "--pitch", "2"],
        frames,
        48_000,
        6,
        1.25,
        "six-ch",
    );
    // Channel 3 silenced in the input must stay (near) silent: channels are not mixed.
    let mut signal = test_signal(6, frames, 48_000);
    signal[3].iter_mut().for_each(|s| *s = 0.0);
    let input2 = path_in(&dir, "six-silent3.wav");
    write_wav_f32(&input2, &signal, 48_000);
    let wav2 = render_and_check(
        &input2,
        &["--stretch", "1.25"],
        frames,
        48_000,
        6,
        1.25,
        "six-ch-silent3",
    );
    let peak3 = wav2.channels[3].iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!(peak3 < 1e-3, "silent channel 3 leaked: peak {peak3}");
    assert!(
        wav.channels[3].iter().any(|s| s.abs() > 0.1),
        "channel 3 lost"
    );
}

#[test]
fn flac_input_from_sox() {
    let dir = tempfile::tempdir().unwrap();
    let wav_in = path_in(&dir, "src.wav");
    let frames = 48_000 + 777;
    write_wav_i16(&wav_in, &test_signal(2, frames, 48_000), 48_000);
    let flac = path_in(&dir, "src.flac");
    sox_convert(&wav_in, &flac, &[]);
    assert_eq!(sox_frames(&flac), frames);
    render_and_check(
        &flac,
        &["--pitch", "5"],
        frames,
        48_000,
        2,
        1.0,
        "flac-pitch",
    );
    render_and_check(
        &flac,
        &["--stretch", "0.8"],
        frames,
        48_000,
        2,
        0.8,
        "flac-stretch",
    );
}

#[test]
fn flac_44k1_mono_24bit_from_sox() {
    let dir = tempfile::tempdir().unwrap();
    let wav_in = path_in(&dir, "src.wav");
    let frames = 30_000;
    write_wav_f32(&wav_in, &test_signal(1, frames, 44_100), 44_100);
    let flac = path_in(&dir, "src24.flac");
    sox_convert(&wav_in, &flac, &["-b", "24"]);
    render_and_check(
        &flac,
        &["--stretch", "3", "--format", "i24"],
        frames,
        44_100,
        1,
        3.0,
        "flac24-mono",
    );
}

#[test]
fn ogg_vorbis_input_from_sox() {
    let dir = tempfile::tempdir().unwrap();
    let wav_in = path_in(&dir, "src.wav");
    let frames = 48_000;
    write_wav_i16(&wav_in, &test_signal(2, frames, 48_000), 48_000);
    let ogg = path_in(&dir, "src.ogg");
    sox_convert(&wav_in, &ogg, &[]);
    let decoded_frames = sox_frames(&ogg);
    render_and_check(
        &ogg,
        &["--stretch", "2", "--format", "i16"],
        decoded_frames,
        48_000,
        2,
        2.0,
        "ogg",
    );
}

#[test]
fn integer_output_formats_clip_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let input = path_in(&dir, "hot.wav");
    let frames = 24_000;
    let mut signal = test_signal(1, frames, 48_000);
    signal[0].iter_mut().for_each(|s| *s *= 4.0); // well above full scale
    write_wav_f32(&input, &signal, 48_000);
    for (format, bits) in [("i16", 16), ("i24", 24)] {
        let output = path_in(&dir, &format!("hot-{format}.wav"));
        let out = xodvox([
            "render".as_ref(),
            input.as_os_str(),
            output.as_os_str(),
            "--format".as_ref(),
            format.as_ref(),
            "-q".as_ref(),
        ]);
        assert_ok(&out, format);
        let warnings = lines_starting(&out, "warning:");
        assert_eq!(warnings.len(), 1, "{format}: {}", stderr(&out));
        assert!(warnings[0].contains("clipped"), "{format}: {}", warnings[0]);
        let wav = read_wav(&output);
        assert_eq!(wav.spec.bits_per_sample, bits);
        assert_eq!(wav.spec.sample_format, hound::SampleFormat::Int);
    }
}

#[test]
fn output_is_replaced_atomically_and_no_temp_files_remain() {
    let dir = tempfile::tempdir().unwrap();
    let input = path_in(&dir, "in.wav");
    write_wav_f32(&input, &test_signal(2, 12_000, 48_000), 48_000);
    let output = path_in(&dir, "out.wav");
    std::fs::write(&output, b"old contents").unwrap();
    let out = xodvox(["render".as_ref(), input.as_os_str(), output.as_os_str()]);
    assert_ok(&out, "replace");
    assert_eq!(read_wav(&output).num_frames(), 12_000);
    assert_eq!(dir_entries(dir.path()), ["in.wav", "out.wav"]);
    let summary = stderr(&out);
    assert!(
        summary.contains("wrote") && summary.contains("48000 Hz"),
        "summary line: {summary}"
    );
}

#[test]
fn nan_and_inf_samples_become_silence_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let input = path_in(&dir, "nan.wav");
    let mut signal = test_signal(2, 24_000, 48_000);
    signal[0][100] = f32::NAN;
    signal[0][5_000] = f32::INFINITY;
    signal[1][7_000] = f32::NEG_INFINITY;
    signal[1][7_001] = f32::NAN;
    signal[1][20_000] = f32::NAN;
    write_wav_f32(&input, &signal, 48_000);
    let output = path_in(&dir, "out.wav");
    let out = xodvox([
        "render".as_ref(),
        input.as_os_str(),
        output.as_os_str(),
        "--stretch".as_ref(),
        "1.5".as_ref(),
        "--quiet".as_ref(),
    ]);
    assert_ok(&out, "nan");
    let warnings = lines_starting(&out, "warning:");
    assert_eq!(warnings.len(), 1, "want one warning: {}", stderr(&out));
    assert!(
        warnings[0].contains("5 non-finite"),
        "warning must give the count 5: {}",
        warnings[0]
    );
    assert!(
        warnings[0].contains("nan.wav"),
        "warning must name the file: {}",
        warnings[0]
    );
    assert_eq!(
        stderr(&out).lines().count(),
        1,
        "--quiet: nothing but the warning"
    );
    let wav = read_wav(&output);
    assert_eq!(wav.num_frames(), 36_000);
    assert!(
        wav.channels.iter().flatten().all(|s| s.is_finite()),
        "non-finite output"
    );
    let peak = wav
        .channels
        .iter()
        .flatten()
        .fold(0.0f32, |m, s| m.max(s.abs()));
    assert!(peak < 2.0, "NaN/Inf leaked as a huge value: peak {peak}");
}

#[test]
fn mp3_input_from_sox() {
    let dir = tempfile::tempdir().unwrap();
    let wav_in = path_in(&dir, "src.wav");
    let frames = 44_100;
    write_wav_i16(&wav_in, &test_signal(2, frames, 44_100), 44_100);
    let mp3 = path_in(&dir, "src.mp3");
    sox_convert(&wav_in, &mp3, &[]);
    let output = path_in(&dir, "out.wav");
    let out = xodvox([
        "render".as_ref(),
        mp3.as_os_str(),
        output.as_os_str(),
        "--stretch".as_ref(),
        "1.5".as_ref(),
    ]);
    assert_ok(&out, "mp3");
    let wav = read_wav(&output);
    assert_eq!((wav.spec.sample_rate, wav.spec.channels), (44_100, 2));
    // MP3 adds encoder delay and padding (up to ~2 frames of 1152 samples) unless the decoder
    // trims them, so the length is checked against the range of plausible decoded lengths.
    let lo = expected_frames(frames, 1.5);
    let hi = expected_frames(frames + 3 * 1152, 1.5);
    assert!(
        (lo..=hi).contains(&wav.num_frames()),
        "mp3 length {} not in {lo}..={hi}",
        wav.num_frames()
    );
}

#[test]
fn truncated_wav_renders_what_is_there_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let full = path_in(&dir, "full.wav");
    write_wav_i16(&full, &test_signal(2, 24_000, 48_000), 48_000);
    let bytes = std::fs::read(&full).unwrap();
    let cut = path_in(&dir, "cut.wav");
    // 44-byte header + 10 000 frames of 4 bytes.
    std::fs::write(&cut, &bytes[..44 + 40_000]).unwrap();
    let output = path_in(&dir, "out.wav");
    let out = xodvox([
        "render".as_ref(),
        cut.as_os_str(),
        output.as_os_str(),
        "-q".as_ref(),
    ]);
    assert_ok(&out, "truncated");
    let warnings = lines_starting(&out, "warning:");
    assert_eq!(warnings.len(), 1, "{}", stderr(&out));
    assert!(
        warnings[0].contains("cut.wav") && warnings[0].contains("truncated"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].contains("24000") && warnings[0].contains("10000"),
        "{}",
        warnings[0]
    );
    assert_eq!(read_wav(&output).num_frames(), 10_000);
}
