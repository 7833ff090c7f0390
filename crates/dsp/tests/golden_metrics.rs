//! Golden vectors of the evaluation measures shared with the Python training package
//! (`fixtures/golden/metrics/`, written by `xodvox-train golden` with
//! `xodvox_train.metrics` in float64): `xodvox eval` and `xodvox-train evaluate` compute the
//! same MR-STFT distance and LSD.

mod common;
use common::crate_dir;

use xodvox_dsp::metrics::{lsd_db, mrstft_distance, FLOOR_DB};

fn read_f32(name: &str) -> Vec<f32> {
    let path = crate_dir().join("../../fixtures/golden/metrics").join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn mrstft_and_lsd_match_the_python_definitions() {
    let path = crate_dir().join("../../fixtures/golden/metrics/meta.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let meta: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(meta["format_version"], 1);
    assert_eq!(meta["floor_db"].as_f64(), Some(FLOOR_DB));
    assert_eq!(meta["fft_sizes"], serde_json::json!([512, 1024, 2048]));
    let reference = read_f32("reference.f32");
    let test = read_f32("test.f32");
    assert_eq!(
        reference.len(),
        meta["num_samples"].as_u64().unwrap() as usize
    );
    assert_eq!(test.len(), reference.len());
    // The Rust STFT runs in f32, Python's in f64: agreement to 1e-6 relative (measured: 4e-8, 5e-8).
    for (name, ours, theirs) in [
        (
            "mrstft",
            mrstft_distance(&reference, &test),
            &meta["mrstft"],
        ),
        ("lsd_db", lsd_db(&reference, &test), &meta["lsd_db"]),
    ] {
        let theirs = theirs.as_f64().unwrap();
        println!("{name}: Rust {ours}, Python {theirs}");
        assert!(
            (ours - theirs).abs() <= 1e-6 * theirs,
            "{name}: Rust {ours}, Python {theirs}"
        );
    }
}
