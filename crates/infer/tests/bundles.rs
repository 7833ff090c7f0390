//! Broken bundles are refused with an error that names the problem.

mod common;
use common::crate_dir;

use std::path::{Path, PathBuf};

use xodvox_infer::{load_backend, BackendKind, ModelBundle};

fn fixture() -> PathBuf {
    crate_dir().join("../../fixtures/models/tiny")
}

fn copy_fixture(dir: &Path) {
    for f in ["model.onnx", "model.step.onnx", "model.json"] {
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
        // Format 2 without its gain bound, and a gain bound in a phase-only bundle.
        (
            "format 2 needs gain_db",
            Box::new(|v| v["format_version"] = 2.into()),
        ),
        (
            "a bundle with gain_db",
            Box::new(|v| v["gain_db"] = 12.0.into()),
        ),
        (
            "gain_db",
            Box::new(|v| {
                v["format_version"] = 2.into();
                v["gain_db"] = (-3.0).into();
            }),
        ),
        ("num_bins", Box::new(|v| v["num_bins"] = 513.into())),
        // Enumerated fields are typed: serde names the unknown value and the allowed ones.
        (
            "unknown variant `hamming`, expected `hann_periodic`",
            Box::new(|v| v["window"] = "hamming".into()),
        ),
        (
            "unknown variant `float16`, expected `float32`",
            Box::new(|v| v["inputs"][0]["dtype"] = "float16".into()),
        ),
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
            "unknown variant `formant`, expected one of `stretch`, `pitch`, `style`",
            Box::new(|v| v["controls"][0]["name"] = "formant".into()),
        ),
        (
            "controls",
            Box::new(|v| v["controls"][0]["transform"] = "one_hot".into()),
        ),
        (
            "context_frames",
            Box::new(|v| v["context_frames"] = 0.into()),
        ),
        (
            "step.file",
            Box::new(|v| v["step"]["file"] = "../elsewhere/model.step.onnx".into()),
        ),
        ("step.frames", Box::new(|v| v["step"]["frames"] = 4.into())),
        (
            "step.states",
            Box::new(|v| v["step"]["states"][0]["shape"] = serde_json::json!(["batch", 4, 1025])),
        ),
        (
            "step.states",
            Box::new(|v| v["step"]["states"][1]["input"] = "state_in_0".into()),
        ),
        (
            "step.states",
            Box::new(|v| v["step"]["states"][0]["output"] = "phase".into()),
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

#[test]
fn missing_or_broken_step_graph_is_named() {
    let d = tempfile::tempdir().unwrap();
    copy_fixture(d.path());
    std::fs::remove_file(d.path().join("model.step.onnx")).unwrap();
    assert!(refused(d.path()).contains("model.step.onnx"));
    std::fs::write(d.path().join("model.step.onnx"), b"garbage, not a graph").unwrap();
    let msg = refused(d.path());
    assert!(msg.contains("step graph"), "{msg}");
    // Looks like a protobuf but is truncated: the backend refuses it, naming the step graph.
    let good = std::fs::read(fixture().join("model.step.onnx")).unwrap();
    std::fs::write(d.path().join("model.step.onnx"), &good[..good.len() / 3]).unwrap();
    let bundle = ModelBundle::from_dir(d.path()).unwrap();
    let err = load_backend(BackendKind::Tract, &bundle)
        .err()
        .expect("truncated step graph")
        .to_string();
    assert!(err.contains("step graph model.step.onnx"), "{err}");
    // A bundle without the step entry (and file) is valid and runs the window path.
    let d = tempfile::tempdir().unwrap();
    copy_fixture(d.path());
    std::fs::remove_file(d.path().join("model.step.onnx")).unwrap();
    edit_json(d.path(), |v| {
        v.as_object_mut().unwrap().remove("step");
    });
    let bundle = ModelBundle::from_dir(d.path()).unwrap();
    assert!(bundle.step_onnx.is_none());
    assert!(!load_backend(BackendKind::Tract, &bundle)
        .unwrap()
        .has_step());
}

#[test]
fn step_graph_names_that_differ_from_model_json_are_refused() {
    for (field, edit) in [
        (
            "step graph inputs",
            Box::new(|v: &mut serde_json::Value| {
                v["step"]["states"][0]["input"] = "history_0".into()
            }) as Edit,
        ),
        (
            "step graph outputs",
            Box::new(|v: &mut serde_json::Value| {
                v["step"]["states"][0]["output"] = "history_0".into()
            }),
        ),
    ] {
        let d = tempfile::tempdir().unwrap();
        copy_fixture(d.path());
        edit_json(d.path(), edit);
        let bundle = ModelBundle::from_dir(d.path()).unwrap();
        let err = load_backend(BackendKind::Tract, &bundle)
            .err()
            .expect("names differ")
            .to_string();
        assert!(err.contains(field) && err.contains("history_0"), "{err}");
    }
    // A state shape that is not the graph's: tract cannot type the step graph.
    let d = tempfile::tempdir().unwrap();
    copy_fixture(d.path());
    edit_json(d.path(), |v| {
        v["step"]["states"][0]["shape"] = serde_json::json!(["batch", 3, 1025, 1])
    });
    let bundle = ModelBundle::from_dir(d.path()).unwrap();
    let err = load_backend(BackendKind::Tract, &bundle)
        .err()
        .expect("state shape differs")
        .to_string();
    assert!(err.contains("step graph model.step.onnx"), "{err}");
}
