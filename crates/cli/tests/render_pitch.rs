//! The pitch flags reach the renderer with the right sign and unit (semitones + cents/100).

mod common;

use common::*;

/// Frequency of a clean tone from its rising zero crossings (linear interpolation), measured over
/// the middle half of the signal.
fn zero_crossing_hz(x: &[f32], sample_rate: u32) -> f64 {
    let (start, end) = (x.len() / 4, 3 * x.len() / 4);
    let mut crossings = Vec::new();
    for n in start..end {
        let (a, b) = (f64::from(x[n]), f64::from(x[n + 1]));
        if a < 0.0 && b >= 0.0 {
            crossings.push(n as f64 + a / (a - b));
        }
    }
    let periods = (crossings.len() - 1) as f64;
    periods * f64::from(sample_rate) / (crossings[crossings.len() - 1] - crossings[0])
}

#[test]
fn pitch_and_cents_flags_reach_the_renderer() {
    let dir = tempfile::tempdir().unwrap();
    let input = path_in(&dir, "a440.wav");
    let tone: Vec<f32> = (0..96_000)
        .map(|n| (0.5 * (std::f64::consts::TAU * 440.0 * n as f64 / 48_000.0).sin()) as f32)
        .collect();
    write_wav_f32(&input, &[tone], 48_000);
    for (flags, want_hz) in [
        (&["--pitch", "7"][..], 659.255),
        (&["--pitch", "-1", "--cents", "-100"][..], 391.995),
        (&["--cents", "50", "--stretch", "1.5"][..], 452.893),
    ] {
        let output = path_in(&dir, "out.wav");
        let out = xodvox(
            ["render".as_ref(), input.as_os_str(), output.as_os_str()]
                .into_iter()
                .chain(flags.iter().map(|f| f.as_ref())),
        );
        assert_ok(&out, &format!("{flags:?}"));
        let got = zero_crossing_hz(&read_wav(&output).channels[0], 48_000);
        let cents_off = 1200.0 * (got / want_hz).log2();
        assert!(
            cents_off.abs() < 5.0,
            "{flags:?}: {got:.2} Hz, want {want_hz} Hz ({cents_off:.1} cents off)"
        );
    }
}

#[test]
fn classical_engine_at_44k1_keeps_the_rate_and_the_pitch() {
    // The engines run at 48 kHz; a 44.1 kHz file is converted in and out.
    let dir = tempfile::tempdir().unwrap();
    let input = path_in(&dir, "a440-44k1.wav");
    let tone: Vec<f32> = (0..88_200)
        .map(|n| (0.5 * (std::f64::consts::TAU * 440.0 * n as f64 / 44_100.0).sin()) as f32)
        .collect();
    write_wav_f32(&input, &[tone], 44_100);
    let output = path_in(&dir, "out.wav");
    let out = xodvox([
        "render".as_ref(),
        input.as_os_str(),
        output.as_os_str(),
        "--pitch".as_ref(),
        "-5".as_ref(),
    ]);
    assert_ok(&out, "44.1 kHz -5 st");
    let wav = read_wav(&output);
    assert_eq!(wav.spec.sample_rate, 44_100);
    assert_eq!(wav.channels[0].len(), 88_200);
    let want_hz = 440.0 * (-5.0f64 / 12.0).exp2();
    let got = zero_crossing_hz(&wav.channels[0], 44_100);
    let cents_off = 1200.0 * (got / want_hz).log2();
    assert!(
        cents_off.abs() < 5.0,
        "{got:.2} Hz, want {want_hz:.3} Hz ({cents_off:.1} cents off)"
    );
}
