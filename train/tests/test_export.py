"""ONNX export: parity with PyTorch, metadata, dynamic axes, the committed fixture bundle."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from xodvox_train.config import load_config
from xodvox_train.controls import ControlSpec, build_control_vector
from xodvox_train.export import check_parity, export_bundle, onnx_session, run, tensorrt_status
from xodvox_train.train import LATEST, Trainer, checkpoint_dir, load_checkpoint

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="module")
def tiny_checkpoint(tiny_manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    cfg = load_config(
        [CONFIGS / "tiny.toml"],
        [f"data.manifest='{tiny_manifest}'", f"run.out_dir='{out}'", "run.steps=3"],
    )
    Trainer(cfg).fit()
    return checkpoint_dir(cfg) / LATEST


def test_export_writes_a_valid_bundle(tiny_checkpoint: Path, tmp_path: Path) -> None:
    meta = export_bundle(tiny_checkpoint, tmp_path, write_io=True)
    assert {p.name for p in tmp_path.iterdir()} == {
        "model.onnx",
        "model.step.onnx",
        "model.json",
        "model.pt",
        "io.json",
    }
    assert json.loads((tmp_path / "model.json").read_text()) == meta
    # The slim checkpoint: same weights and config, no optimiser or RNG state.
    slim = load_checkpoint(tmp_path / "model.pt")
    full = load_checkpoint(tiny_checkpoint)
    assert "optimizer" not in slim
    assert "rng" not in slim
    assert slim["config"] == full["config"]
    assert slim["step"] == full["step"]
    assert all(torch.equal(slim["model"][k], v) for k, v in full["model"].items())
    assert meta["format_version"] == 1
    assert meta["test_fixture"] is False
    assert (meta["sample_rate"], meta["n_fft"], meta["hop"]) == (48000, 2048, 512)
    assert meta["window"] == "hann_periodic"
    assert meta["context_frames"] == 6
    assert meta["lookahead_frames"] == 0
    assert meta["phase_output"] in ("increment", "absolute")
    assert meta["n_controls"] == sum(c["size"] for c in meta["controls"]) == 5
    assert [c["name"] for c in meta["controls"]] == ["stretch", "pitch", "style"]
    prov = meta["provenance"]
    assert prov["steps"] == 3
    assert len(prov["data_manifest_sha256"]) == 64
    assert prov["config"] == load_checkpoint(tiny_checkpoint)["config"]
    assert "mrstft" in prov["validation_metrics"]
    assert prov["onnx_parity_max_abs_diff"] <= 1e-4
    assert prov["step_parity_max_abs_diff"] <= 1e-4
    # tiny: stem (4 input channels, full resolution), two downsampling levels, one dilation 2.
    assert meta["step"] == {
        "file": "model.step.onnx",
        "frames": 1,
        "states": [
            {
                "input": f"state_in_{i}",
                "output": f"state_out_{i}",
                "dtype": "float32",
                "shape": ["batch", *shape],
            }
            for i, shape in enumerate([(4, 1025, 1), (4, 1025, 1), (8, 513, 1), (8, 257, 2)])
        ],
    }


def test_step_graph_streams_like_the_main_graph(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """onnxruntime: the step graph fed its own states equals the main graph's window output."""
    meta = export_bundle(tiny_checkpoint, tmp_path)
    main = onnx_session(tmp_path / "model.onnx")
    step = onnx_session(tmp_path / "model.step.onnx")
    states = {
        s["input"]: np.zeros([1, *s["shape"][1:]], np.float32) for s in meta["step"]["states"]
    }
    rng = np.random.default_rng(3)
    frames, ctx = 20, meta["context_frames"]
    mag = (rng.random((1, 1, 1025, frames)) ** 4 * 40.0).astype(np.float32)
    advance = ((rng.random((1, 1, 1025, frames)) * 2.0 - 1.0) * np.pi).astype(np.float32)
    control = rng.random((1, 5)).astype(np.float32)
    for t in range(frames):
        lo = max(0, t - ctx + 1)
        window = main.run(
            None,
            {"mag": mag[..., lo : t + 1], "control": control, "advance": advance[..., lo : t + 1]},
        )[0][..., -1]
        out = step.run(
            None,
            {"mag": mag[..., t : t + 1], "control": control, "advance": advance[..., t : t + 1]}
            | states,
        )
        for s, value in zip(meta["step"]["states"], out[1:], strict=True):
            assert value.shape == states[s["input"]].shape
            states[s["input"]] = value
        assert np.max(np.abs(out[0][..., 0] - window)) < 1e-4, f"frame {t}"


def test_step_parity_check_catches_a_different_model(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from xodvox_train.export import ExportError, check_step_parity
    from xodvox_train.train import model_from_checkpoint

    export_bundle(tiny_checkpoint, tmp_path)
    model, _ = model_from_checkpoint(load_checkpoint(tiny_checkpoint))
    with torch.no_grad():
        model.head.bias.add_(0.5)
    with pytest.raises(ExportError, match="step graph differs"):
        check_step_parity(model, tmp_path / "model.step.onnx")


def test_onnx_has_dynamic_time_and_batch(tiny_checkpoint: Path, tmp_path: Path) -> None:
    export_bundle(tiny_checkpoint, tmp_path)
    session = onnx_session(tmp_path / "model.onnx")
    shapes = {i.name: i.shape for i in session.get_inputs()}
    assert shapes == {
        "mag": ["batch", 1, 1025, "time"],
        "control": ["batch", 5],
        "advance": ["batch", 1, 1025, "time"],
    }
    assert session.get_outputs()[0].shape == ["batch", 2, 1025, "time"]
    for batch, frames in ((1, 1), (3, 17)):
        out = session.run(
            None,
            {
                "mag": np.ones((batch, 1, 1025, frames), np.float32),
                "control": np.zeros((batch, 5), np.float32),
                "advance": np.zeros((batch, 1, 1025, frames), np.float32),
            },
        )[0]
        assert out.shape == (batch, 2, 1025, frames)


def test_parity_check_catches_a_different_model(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from xodvox_train.export import ExportError
    from xodvox_train.train import model_from_checkpoint

    export_bundle(tiny_checkpoint, tmp_path)
    model, _ = model_from_checkpoint(load_checkpoint(tiny_checkpoint))
    with torch.no_grad():
        model.head.bias.add_(0.5)
    with pytest.raises(ExportError, match="differs from PyTorch"):
        check_parity(model, tmp_path / "model.onnx")


@pytest.mark.skipif(shutil.which("trtexec") is not None, reason="TensorRT is installed here")
def test_tensorrt_flag_says_it_is_not_installed(
    tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "not installed" in (tensorrt_status() or "")
    args = argparse.Namespace(
        checkpoint=tiny_checkpoint,
        out_dir=tmp_path,
        io_example=False,
        test_fixture=False,
        tensorrt=True,
    )
    assert run(args) == 2
    assert "TensorRT is not installed" in capsys.readouterr().err
    assert (tmp_path / "model.onnx").is_file()


def test_committed_fixture_bundle_is_consistent(repo_root: Path) -> None:
    bundle = repo_root / "fixtures" / "models" / "tiny"
    onnx_path, meta_path, io_path = (bundle / n for n in ("model.onnx", "model.json", "io.json"))
    assert onnx_path.stat().st_size + meta_path.stat().st_size < 200_000
    meta = json.loads(meta_path.read_text())
    assert meta["test_fixture"] is True
    assert "TEST FIXTURE" in meta["description"]
    io = json.loads(io_path.read_text())
    specs = [ControlSpec.from_json(c) for c in meta["controls"]]
    control = io["inputs"]["control"]
    built = np.asarray([build_control_vector(specs, io["controls_raw"])], np.float32)
    stored = np.asarray(control["data"], np.float32).reshape(control["shape"])
    np.testing.assert_array_equal(built, stored)
    feeds = {
        name: np.asarray(v["data"], np.float32).reshape(v["shape"])
        for name, v in io["inputs"].items()
    }
    got = onnx_session(onnx_path).run(None, feeds)[0]
    expected = np.asarray(io["outputs"]["phase"]["data"], np.float32).reshape(
        io["outputs"]["phase"]["shape"]
    )
    assert got.shape == tuple(expected.shape) == (1, 2, 1025, feeds["mag"].shape[-1])
    assert np.max(np.abs(got - expected)) <= io["tolerance"]
    assert (bundle / meta["step"]["file"]).is_file(), "the fixture carries its step graph"


def test_lock_model_trains_exports_and_keeps_parity(tiny_manifest: Path, tmp_path: Path) -> None:
    """A ``lock`` model: training feeds it (runtime source), the bundle declares the fourth
    input, and onnxruntime matches PyTorch."""
    cfg = load_config(
        [CONFIGS / "tiny.toml"],
        [
            f"data.manifest='{tiny_manifest}'",
            f"run.out_dir='{tmp_path / 'run'}'",
            "run.steps=2",
            "model.lock_input=true",
        ],
    )
    Trainer(cfg).fit()
    meta = export_bundle(checkpoint_dir(cfg) / LATEST, tmp_path / "bundle", write_io=True)
    assert [i["name"] for i in meta["inputs"]] == ["mag", "control", "advance", "lock"]
    assert meta["provenance"]["onnx_parity_max_abs_diff"] < 1e-4
    assert meta["context_frames"] == cfg.model.context_frames
    session = onnx_session(tmp_path / "bundle" / "model.onnx")
    assert [i.name for i in session.get_inputs()] == ["mag", "control", "advance", "lock"]
    io = json.loads((tmp_path / "bundle" / "io.json").read_text())
    assert set(io["inputs"]) == {"mag", "control", "advance", "lock"}


def test_gain_model_trains_exports_format_2_and_keeps_parity(
    tiny_manifest: Path, tmp_path: Path
) -> None:
    """A gain-head model: the bundle is format 2 with ``gain_db``; onnxruntime matches PyTorch
    (modulus included) for the window and the step graph, and the gains stay in bounds."""
    cfg = load_config(
        [CONFIGS / "tiny.toml"],
        [
            f"data.manifest='{tiny_manifest}'",
            f"run.out_dir='{tmp_path / 'run'}'",
            "run.steps=2",
            "model.lock_input=true",
            "model.gain_db=12.0",
        ],
    )
    Trainer(cfg).fit()
    meta = export_bundle(checkpoint_dir(cfg) / LATEST, tmp_path / "bundle", write_io=True)
    assert meta["format_version"] == 2
    assert meta["gain_db"] == 12.0
    assert meta["provenance"]["onnx_parity_max_abs_diff"] < 1e-4
    assert meta["provenance"]["step_parity_max_abs_diff"] < 1e-4
    io = json.loads((tmp_path / "bundle" / "io.json").read_text())
    phase = np.asarray(io["outputs"]["phase"]["data"], dtype=np.float64).reshape(
        io["outputs"]["phase"]["shape"]
    )
    modulus = np.hypot(phase[:, 0], phase[:, 1])[..., 1:]  # frame 0: lock's zero padding
    assert modulus.max() <= 10 ** (12 / 20) + 1e-4
    assert modulus.min() >= 10 ** (-12 / 20) - 1e-4
