//! `xodvox render --engine neural` end to end with the committed fixture model: rate
//! conversion at the edges, exact length, finite output, and clear errors for a missing or
//! broken bundle.

mod common;
use common::crate_dir;

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture() -> PathBuf {
    crate_dir().join("../../fixtures/models/tiny")
}

fn write_wav(path: &Path, rate: u32, channels: u16, frames: usize) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..frames {
        let v = (i as f64 * 440.0 * std::f64::consts::TAU / f64::from(rate)).sin() * 12_000.0;
        for _ in 0..channels {
            w.write_sample(v as i16).unwrap();
        }
    }
    w.finalize().unwrap();
}

fn xodvox(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xodvox"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn neural_render_at_another_rate_keeps_rate_and_exact_length() {
    let d = tempfile::tempdir().unwrap();
    let inp = d.path().join("in.wav");
    let out = d.path().join("out.wav");
    write_wav(&inp, 44_100, 2, 30_000);
    let model = fixture();
    // The fixture takes the optional `advance` input, so this renders through it.
    let bundle = xodvox_infer::ModelBundle::from_dir(&model).unwrap();
    assert!(bundle.meta.has_advance());
    let o = xodvox(&[
        "render",
        inp.to_str().unwrap(),
        out.to_str().unwrap(),
        "--engine",
        "neural",
        "--model",
        model.to_str().unwrap(),
        "--stretch",
        "1.5",
        "--pitch",
        "-3",
        "--quiet",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("test fixture"),
        "fixture warning missing: {stderr}"
    );
    let r = hound::WavReader::open(&out).unwrap();
    assert_eq!(r.spec().sample_rate, 44_100);
    assert_eq!(r.spec().channels, 2);
    assert_eq!(r.duration(), 45_000);
    let samples: Vec<f32> = r.into_samples::<f32>().map(|s| s.unwrap()).collect();
    assert!(samples.iter().all(|v| v.is_finite()));
    assert!(samples.iter().any(|v| v.abs() > 0.01), "output is silent");
}

#[test]
fn neural_without_model_uses_the_embedded_default_and_a_broken_one_fails_clearly() {
    let d = tempfile::tempdir().unwrap();
    let inp = d.path().join("in.wav");
    let out = d.path().join("out.wav");
    write_wav(&inp, 48_000, 1, 4_800);
    let o = xodvox(&[
        "render",
        inp.to_str().unwrap(),
        out.to_str().unwrap(),
        "--engine",
        "neural",
        "--stretch",
        "1.25",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("test fixture"),
        "the embedded default is a trained model"
    );
    let r = hound::WavReader::open(&out).unwrap();
    assert_eq!(r.len(), 6_000);
    std::fs::remove_file(&out).unwrap();
    let broken = d.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::copy(fixture().join("model.onnx"), broken.join("model.onnx")).unwrap();
    std::fs::write(broken.join("model.json"), "{\"format_version\": 2}").unwrap();
    let o = xodvox(&[
        "render",
        inp.to_str().unwrap(),
        out.to_str().unwrap(),
        "--engine",
        "neural",
        "--model",
        broken.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("model.json"), "{err}");
    assert!(!out.exists(), "no output may be left behind");
}

fn read_samples(path: &Path) -> Vec<f32> {
    hound::WavReader::open(path)
        .unwrap()
        .into_samples::<f32>()
        .map(|s| s.unwrap())
        .collect()
}

/// `--style` selects the model's style (the shipped model was trained with the target style as
/// a control, so another style renders differently); an unknown style lists the model's
/// styles, and the classical engine refuses the option.
#[test]
fn style_option_selects_the_models_style() {
    let d = tempfile::tempdir().unwrap();
    let inp = d.path().join("in.wav");
    write_wav(&inp, 48_000, 1, 24_000);
    let render = |style: Option<&str>, out: &Path| {
        let mut args = vec![
            "render",
            inp.to_str().unwrap(),
            out.to_str().unwrap(),
            "--engine",
            "neural",
            "--pitch",
            "3",
            "--quiet",
        ];
        if let Some(s) = style {
            args.extend(["--style", s]);
        }
        xodvox(&args)
    };
    let (first, named, other) = (
        d.path().join("first.wav"),
        d.path().join("named.wav"),
        d.path().join("other.wav"),
    );
    let styles = xodvox_infer::ModelBundle::embedded_default()
        .unwrap()
        .meta
        .style_names();
    assert!(styles.len() >= 2, "the shipped model has several styles");
    // The first style by its display name ("Natural"), the way the plugin shows it.
    let display = xodvox_infer::style_display_name(&styles[0]);
    assert_ne!(display, styles[0]);
    for (style, out) in [(None, &first), (Some(display.as_str()), &named)] {
        let o = render(style, out);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let o = render(Some(styles[1].as_str()), &other);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        read_samples(&first),
        read_samples(&named),
        "default = first style"
    );
    let diff = read_samples(&first)
        .iter()
        .zip(read_samples(&other))
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff > 1e-4, "the style changes nothing ({diff})");

    let o = render(Some("no-such-style"), &d.path().join("x.wav"));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no-such-style") && err.contains(&styles[1]),
        "{err}"
    );
    let o = xodvox(&[
        "render",
        inp.to_str().unwrap(),
        d.path().join("y.wav").to_str().unwrap(),
        "--style",
        &styles[0],
    ]);
    assert_eq!(o.status.code(), Some(2), "--style without --engine neural");
}
