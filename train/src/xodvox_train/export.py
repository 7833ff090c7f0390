"""Export a checkpoint to the runtime bundle: ``model.onnx`` + ``model.json`` (+ optional TensorRT).

``xodvox-train export CKPT OUT_DIR [--io-example] [--test-fixture] [--tensorrt]``

The ONNX graph has inputs ``mag`` ``(batch, 1, 1025, time)`` and ``control``
``(batch, n_controls)``, output ``phase`` ``(batch, 2, 1025, time)``, opset 17, dynamic ``batch``
and ``time`` axes. After writing it, onnxruntime's output is compared with PyTorch's; a
difference above 1e-4 is an error. ``docs/model-format.md`` describes the bundle.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

from xodvox_train import __version__
from xodvox_train.controls import build_control_vector
from xodvox_train.data import analysis_with_advance
from xodvox_train.golden import make_test_signal
from xodvox_train.spectral import HOP, N_FFT, SAMPLE_RATE, WINDOW_NAME, Stft
from xodvox_train.train import load_checkpoint, model_from_checkpoint
from xodvox_train.unet import ModelConfig, PhaseUNet, count_parameters, flops_per_frame

MODEL_FORMAT_VERSION = 1
"""``model.json`` ``format_version``."""
OPSET = 17
"""ONNX opset of the exported graph."""
PARITY_TOLERANCE = 1e-4
"""Largest allowed |onnxruntime - PyTorch| on the parity check."""
INPUT_NAMES = ("mag", "control")
"""ONNX input names, in order, of a model without the ``advance`` input."""
ADVANCE_NAME = "advance"
"""Name of the optional third input (``ModelConfig.advance_input``)."""
LOCK_NAME = "lock"
"""Name of the optional fourth input (``ModelConfig.lock_input``)."""


def frame_input_names(cfg: ModelConfig) -> list[str]:
    """The optional per-bin, per-frame inputs the graph takes after ``mag`` and ``control``."""
    return [ADVANCE_NAME] * cfg.advance_input + [LOCK_NAME] * cfg.lock_input


def input_names(cfg: ModelConfig) -> list[str]:
    """The graph's input names in order."""
    return [*INPUT_NAMES, *frame_input_names(cfg)]


OUTPUT_NAME = "phase"
"""ONNX output name."""


class ExportError(RuntimeError):
    """The exported graph is invalid or disagrees with PyTorch."""


def export_onnx(model: PhaseUNet, path: Path, frames: int = 4) -> None:
    """Writes ``model`` as a single-file ONNX graph with dynamic batch and time axes."""
    cfg = model.config
    mag = torch.ones(1, 1, cfg.num_bins, frames)
    control = torch.tensor([build_control_vector(cfg.controls, {})])
    dynamic = {
        "mag": {0: "batch", 3: "time"},
        "control": {0: "batch"},
        "phase": {0: "batch", 3: "time"},
    }
    args: tuple[torch.Tensor, ...] = (mag, control)
    for name in frame_input_names(cfg):
        args = (*args, torch.zeros_like(mag))
        dynamic[name] = {0: "batch", 3: "time"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(),
            args,
            str(path),
            input_names=input_names(cfg),
            output_names=[OUTPUT_NAME],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )
    onnx.checker.check_model(onnx.load(str(path)))


def onnx_session(path: Path) -> ort.InferenceSession:
    """A single-threaded CPU onnxruntime session."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def check_parity(model: PhaseUNet, path: Path, seed: int = 0) -> float:
    """Max |onnxruntime - PyTorch| over random inputs of several lengths and batch sizes.

    Raises:
        ExportError: wrong I/O names or shapes, or a difference above :data:`PARITY_TOLERANCE`.
    """
    session = onnx_session(path)
    names = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    if names != input_names(model.config) or outputs != [OUTPUT_NAME]:
        raise ExportError(f"{path}: unexpected I/O names {names}")
    cfg = model.config
    g = torch.Generator().manual_seed(seed)
    worst = 0.0
    for batch, frames in ((1, 1), (2, cfg.context_frames), (1, cfg.context_frames + 7)):
        mag = torch.rand(batch, 1, cfg.num_bins, frames, generator=g) ** 4 * 50.0
        control = torch.rand(batch, cfg.n_controls, generator=g)
        feed = {"mag": mag.numpy(), "control": control.numpy()}
        extra = {
            name: (torch.rand(batch, 1, cfg.num_bins, frames, generator=g) * 2.0 - 1.0) * np.pi
            for name in frame_input_names(cfg)
        }
        feed |= {name: value.numpy() for name, value in extra.items()}
        with torch.no_grad():
            expected = model(mag, control, extra.get(ADVANCE_NAME), extra.get(LOCK_NAME)).numpy()
        got = session.run(None, feed)[0]
        if got.shape != expected.shape:
            raise ExportError(f"{path}: output shape {got.shape}, PyTorch {expected.shape}")
        worst = max(worst, float(np.max(np.abs(got - expected))))
    if worst > PARITY_TOLERANCE:
        raise ExportError(f"{path}: onnxruntime differs from PyTorch by {worst:.3g}")
    return worst


def model_metadata(
    model: PhaseUNet, payload: dict[str, Any], parity: float, test_fixture: bool
) -> dict[str, Any]:
    """Contents of ``model.json``."""
    cfg = model.config
    meta: dict[str, Any] = {
        "format_version": MODEL_FORMAT_VERSION,
        "test_fixture": test_fixture,
        "sample_rate": SAMPLE_RATE,
        "n_fft": cfg.n_fft,
        "hop": cfg.hop,
        "num_bins": cfg.num_bins,
        "window": WINDOW_NAME,
        "context_frames": cfg.context_frames,
        "lookahead_frames": 0,
        "phase_output": cfg.phase_output,
        "magnitude": "linear |STFT| of the frame to synthesise (no compression; float32)",
        "inputs": [
            {"name": "mag", "dtype": "float32", "shape": ["batch", 1, cfg.num_bins, "time"]},
            {"name": "control", "dtype": "float32", "shape": ["batch", cfg.n_controls]},
        ]
        + [
            {"name": name, "dtype": "float32", "shape": ["batch", 1, cfg.num_bins, "time"]}
            for name in frame_input_names(cfg)
        ],
        "outputs": [
            {"name": "phase", "dtype": "float32", "shape": ["batch", 2, cfg.num_bins, "time"]}
        ],
        "n_controls": cfg.n_controls,
        "controls": [c.to_json() for c in cfg.controls],
        "styles": list(cfg.styles),
        "onnx_opset": OPSET,
        "parameters": count_parameters(model),
        "flops_per_frame": flops_per_frame(model),
        "provenance": {
            "config": payload["config"],
            "data_manifest_sha256": payload["data_manifest_sha256"],
            "git_commit": payload["git_commit"],
            "steps": payload["step"],
            "validation_metrics": payload.get("val_metrics") or {},
            "exporter": f"xodvox-train {__version__}",
            "torch_version": torch.__version__,
            "onnx_parity_max_abs_diff": parity,
        },
    }
    if test_fixture:
        meta["description"] = (
            "TEST FIXTURE ONLY: a tiny model trained a few steps on a synthetic sox/rubberband "
            "set; its phase is not useful audio. For runtime conformance tests."
        )
    return meta


def io_example(model: PhaseUNet, path: Path, frames: int = 3) -> dict[str, Any]:
    """One input (golden-signal magnitudes, a control vector) and the ONNX output, for ``io.json``.

    ``mag`` comes from STFT frames 10.. of the golden test signal; ``controls_raw`` are the raw
    control values the ``control`` vector was built from, so the runtime can also check its
    control-vector builder.
    """
    cfg = model.config
    signal = torch.from_numpy(make_test_signal().astype(np.float64))
    mag = Stft(N_FFT, HOP)(signal).abs()[None, None, :, 10 : 10 + frames].float()
    padded = np.pad(make_test_signal().astype(np.float64), N_FFT // 2)
    golden_frames = np.stack([padded[k * HOP : k * HOP + N_FFT] for k in range(10, 10 + frames)])
    _, advance_np = analysis_with_advance(golden_frames, HOP)
    advance = advance_np.T[None, None].astype(np.float32)
    raw: dict[str, float | str] = {"stretch": 1.5, "pitch": 2.0, "style": cfg.styles[-1]}
    known = {c.name for c in cfg.controls}
    raw = {k: v for k, v in raw.items() if k in known}
    control = torch.tensor([build_control_vector(cfg.controls, raw)], dtype=torch.float32)
    inputs = {"mag": mag.numpy(), "control": control.numpy()}
    if cfg.advance_input:
        inputs[ADVANCE_NAME] = advance
    if cfg.lock_input:
        # A deterministic stand-in for the classical engine's lock (any radians are valid).
        inputs[LOCK_NAME] = np.sin(np.arange(advance.size, dtype=np.float32)).reshape(advance.shape)
    phase = onnx_session(path).run(None, inputs)[0]

    def encode(a: np.ndarray) -> dict[str, Any]:
        flat = [float(f"{v:.9g}") for v in a.astype(np.float32).ravel().tolist()]
        return {"shape": list(a.shape), "data": flat}

    return {
        "format_version": 1,
        "description": "onnxruntime output of model.onnx for this input; data is row-major",
        "tolerance": PARITY_TOLERANCE,
        "controls_raw": raw,
        "inputs": {name: encode(value) for name, value in inputs.items()},
        "outputs": {"phase": encode(phase)},
    }


def tensorrt_status() -> str | None:
    """``None`` when ``trtexec`` is on PATH, else a sentence saying TensorRT is not usable."""
    if shutil.which("trtexec") is not None:
        return None
    try:
        import tensorrt  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return "TensorRT is not installed (no `tensorrt` Python module, no `trtexec` on PATH)"
    return "the `tensorrt` Python module is installed but `trtexec` is not on PATH"


def build_tensorrt(
    onnx_path: Path,
    out_path: Path,
    n_controls: int,
    context: int,
    frame_inputs: Sequence[str] = (),
) -> None:
    """FP16 engine with a time-axis profile min 1 / opt ``context`` / max 512 frames (trtexec).

    ``frame_inputs`` names the graph's optional per-bin inputs (``advance``, ``lock``).
    """

    def shapes(batch: int, frames: int) -> str:
        extra = "".join(f",{name}:{batch}x1x1025x{frames}" for name in frame_inputs)
        return f"mag:{batch}x1x1025x{frames},control:{batch}x{n_controls}{extra}"

    cmd = [
        "trtexec",
        f"--onnx={onnx_path}",
        f"--saveEngine={out_path}",
        "--fp16",
        f"--minShapes={shapes(1, 1)}",
        f"--optShapes={shapes(2, context)}",
        f"--maxShapes={shapes(8, 512)}",
    ]
    subprocess.run(cmd, check=True)


def export_bundle(
    checkpoint: Path, out_dir: Path, test_fixture: bool = False, write_io: bool = False
) -> dict[str, Any]:
    """Writes ``model.onnx``, ``model.json`` (and ``io.json``) into ``out_dir``; returns meta."""
    payload = load_checkpoint(checkpoint)
    model, _ = model_from_checkpoint(payload)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / "model.onnx"
    export_onnx(model, onnx_path)
    parity = check_parity(model, onnx_path)
    meta = model_metadata(model, payload, parity, test_fixture)
    (out_dir / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    if write_io:
        example = io_example(model, onnx_path)
        (out_dir / "io.json").write_text(json.dumps(example, separators=(",", ":")) + "\n")
    return meta


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``xodvox-train export``."""
    parser.add_argument("checkpoint", type=Path, help="checkpoint (.pt) written by `fit`")
    parser.add_argument("out_dir", type=Path, help="bundle folder")
    parser.add_argument("--io-example", action="store_true", help="also write io.json")
    parser.add_argument(
        "--test-fixture", action="store_true", help="mark model.json as a test fixture"
    )
    parser.add_argument(
        "--tensorrt", action="store_true", help="also build an FP16 TensorRT engine (trtexec)"
    )


def run(args: argparse.Namespace) -> int:
    """Runs ``xodvox-train export``; exit status 2 when ``--tensorrt`` cannot be honoured."""
    meta = export_bundle(args.checkpoint, args.out_dir, args.test_fixture, args.io_example)
    print(
        f"wrote {args.out_dir / 'model.onnx'} and model.json "
        f"(onnxruntime vs PyTorch max diff {meta['provenance']['onnx_parity_max_abs_diff']:.2e}, "
        f"context {meta['context_frames']} frames, {meta['flops_per_frame'] / 1e6:.2f} MFLOP/frame)"
    )
    if args.tensorrt:
        problem = tensorrt_status()
        if problem is not None:
            print(f"error: --tensorrt: {problem}; no engine was built", file=sys.stderr)
            return 2
        engine = args.out_dir / "model.plan"
        build_tensorrt(
            args.out_dir / "model.onnx",
            engine,
            meta["n_controls"],
            meta["context_frames"],
            [i["name"] for i in meta["inputs"] if i["name"] in (ADVANCE_NAME, LOCK_NAME)],
        )
        print(f"wrote {engine}")
    return 0
