//! Broken bundles are refused with an error that names the problem.

use std::path::{Path, PathBuf};

use xodvox_infer::{load_backend, BackendKind, ModelBundle};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/models/tiny")
}

fn copy_fixture(dir: &Path) {
    for f in ["model.onnx", "model.json"] {
        std::fs::copy(fixture().join(f), dir.join(f)).unwrap();
    }
}

fn edit_json(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join("model.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_string(&v).unwrap()).unwrap();
}

fn refused(dir: &Path) -> String {
    ModelBundle::from_dir(dir)
        .expect_err("bundle should be refused")
        .to_string()
}

#[test]
fn missing_files_are_named() {
    let d = tempfile::tempdir().unwrap();
    assert!(refused(d.path()).contains("model.json"));
    copy_fixture(d.path());
    std::fs::remove_file(d.path().join("model.onnx")).unwrap();
    assert!(refused(d.path()).contains("model.onnx"));
}

/// An edit of model.json.
type Edit = Box<dyn Fn(&mut serde_json::Value)>;

#[test]
fn bad_metadata_is_named() {
    let cases: Vec<(&str, Edit)> = vec![
        (
            "format_version",
            Box::new(|v| v["format_version"] = 7.into()),
        ),
        ("num_bins", Box::new(|v| v["num_bins"] = 513.into())),
        ("window", Box::new(|v| v["window"] = "hamming".into())),
        (
            "inputs",
            Box::new(|v| v["inputs"][0]["name"] = "spec".into()),
        ),
        (
            "\"foo\"",
            Box::new(|v| {
                v["inputs"]
                    .as_array_mut()
                    .unwrap()
                    .push(serde_json::json!({"name": "foo", "dtype": "float32", "shape": [1]}))
            }),
        ),
        (
            "inputs.advance",
            Box::new(|v| {
                let inputs = v["inputs"].as_array_mut().unwrap();
                inputs.retain(|t| t["name"] != "advance");
                inputs.push(serde_json::json!(
                    {"name": "advance", "dtype": "float32", "shape": ["batch", 2, 1025, "time"]}
                ))
            }),
        ),
        ("n_controls", Box::new(|v| v["n_controls"] = 9.into())),
        (
            "controls",
            Box::new(|v| v["controls"][0]["name"] = "formant".into()),
        ),
        (
            "context_frames",
            Box::new(|v| v["context_frames"] = 0.into()),
        ),
        (
            "invalid model.json",
            Box::new(|v| *v = serde_json::json!({"format_version": 1})),
        ),
    ];
    for (needle, edit) in cases {
        let d = tempfile::tempdir().unwrap();
        copy_fixture(d.path());
        edit_json(d.path(), edit);
        let msg = refused(d.path());
        assert!(msg.contains(needle), "expected '{needle}' in: {msg}");
    }
}

#[test]
fn garbage_onnx_is_refused() {
    let d = tempfile::tempdir().unwrap();
    copy_fixture(d.path());
    std::fs::write(d.path().join("model.onnx"), b"not a model at all, sorry").unwrap();
    assert!(refused(d.path()).contains("model.onnx"));
    // Looks like a protobuf but is truncated: the backend refuses it.
    let good = std::fs::read(fixture().join("model.onnx")).unwrap();
    std::fs::write(d.path().join("model.onnx"), &good[..good.len() / 3]).unwrap();
    let bundle = ModelBundle::from_dir(d.path()).unwrap();
    let err = load_backend(BackendKind::Tract, &bundle)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("tract"), "{err}");
}

#[test]
fn advance_in_model_json_but_not_in_the_graph_is_refused_by_the_backend() {
    let d = tempfile::tempdir().unwrap();
    copy_fixture(d.path());
    let has_advance = ModelBundle::from_dir(d.path()).unwrap().meta.has_advance();
    edit_json(d.path(), |v| {
        let inputs = v["inputs"].as_array_mut().unwrap();
        if has_advance {
            // The fixture has the input: declare it away instead.
            inputs.retain(|t| t["name"] != "advance");
        } else {
            inputs.push(serde_json::json!(
                {"name": "advance", "dtype": "float32", "shape": ["batch", 1, 1025, "time"]}
            ));
        }
    });
    let bundle = ModelBundle::from_dir(d.path()).unwrap();
    assert_eq!(bundle.meta.has_advance(), !has_advance);
    let err = load_backend(BackendKind::Tract, &bundle)
        .err()
        .expect("graph and model.json disagree")
        .to_string();
    assert!(err.contains("model.onnx inputs"), "{err}");
}
