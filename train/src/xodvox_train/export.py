"""Export a checkpoint to the runtime bundle: ``model.onnx`` + ``model.step.onnx`` + ``model.json``
(+ optional TensorRT).

``xodvox-train export CKPT OUT_DIR [--io-example] [--test-fixture] [--tensorrt]``

The ONNX graph has inputs ``mag`` ``(batch, 1, 1025, time)`` and ``control``
``(batch, n_controls)``, output ``phase`` ``(batch, 2, 1025, time)``, opset 17, dynamic ``batch``
and ``time`` axes. The step graph (``model.step.onnx``, :class:`~xodvox_train.unet.PhaseUNetStep`)
computes one frame from per-layer state tensors (``state_in_i`` in, ``state_out_i`` out). After
writing them, onnxruntime's outputs are compared with PyTorch's (the step graph stepped frame by
frame from zero states against the whole-clip forward); a difference above 1e-4 is an error.
``docs/model-format.md`` describes the bundle.
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
from xodvox_train.unet import (
    ModelConfig,
    PhaseUNet,
    PhaseUNetStep,
    count_parameters,
    flops_per_frame,
)

MODEL_FORMAT_VERSION = 1
"""``model.json`` ``format_version`` of phase-only models (readers of version 1 ignore the
output's modulus)."""
GAIN_FORMAT_VERSION = 2
"""``format_version`` of models with a gain head: the ``phase`` output's modulus is a magnitude
gain within ``gain_db`` (a version-1 reader would silently drop it, so it must refuse them)."""
OPSET = 17
"""ONNX opset of the exported graph."""
PARITY_TOLERANCE = 1e-4
"""Largest allowed |onnxruntime - PyTorch| on the parity check."""
#: The step graph sums the same terms in another order (one frame at a time, states carried),
#: so rare float32 outliers appear where the head normalises a short vector: measured on a
#: trained checkpoint, median 6e-8, 99.99th percentile 2.4e-5, one value of 3.0e-4 (a
#: 3e-4 rad phase error in one bin of one frame). The step graph must stay within
#: :data:`PARITY_TOLERANCE` at the 99.99th percentile and within this everywhere.
STEP_PARITY_MAX = 1e-3
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
STEP_FILE = "model.step.onnx"
#: The slim checkpoint written next to the ONNX files (fine-tuning, re-export).
WEIGHTS_FILE = "model.pt"
"""File name of the step graph in the bundle."""


def state_names(model: PhaseUNet) -> list[tuple[str, str]]:
    """``(input, output)`` names of the step graph's states, in :meth:`PhaseUNet.state_shapes`
    order."""
    return [(f"state_in_{i}", f"state_out_{i}") for i in range(len(model.state_shapes()))]


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


def export_step_onnx(model: PhaseUNet, path: Path) -> None:
    """Writes the one-frame step graph (:class:`PhaseUNetStep`) with a dynamic batch axis."""
    cfg = model.config
    mag = torch.ones(1, 1, cfg.num_bins, 1)
    control = torch.tensor([build_control_vector(cfg.controls, {})])
    args: list[torch.Tensor] = [mag, control]
    args += [torch.zeros_like(mag) for _ in frame_input_names(cfg)]
    states = model.zero_states()
    args += states
    names = state_names(model)
    in_names = input_names(cfg) + [i for i, _ in names]
    out_names = [OUTPUT_NAME] + [o for _, o in names]
    dynamic = {name: {0: "batch"} for name in in_names + out_names}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            PhaseUNetStep(model.eval()),
            tuple(args),
            str(path),
            input_names=in_names,
            output_names=out_names,
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )
    onnx.checker.check_model(onnx.load(str(path)))


def check_step_parity(model: PhaseUNet, path: Path, seed: int = 0) -> float:
    """Max |onnxruntime step graph - PyTorch whole-clip forward| over a stream of frames.

    The step graph runs frame by frame from zero states (batch 2, ``2 * context + 3`` frames,
    its own states fed back); every frame is compared with the whole-clip output.

    Raises:
        ExportError: wrong I/O names or shapes, a 99.99th-percentile difference above
            :data:`PARITY_TOLERANCE` or any difference above :data:`STEP_PARITY_MAX`.
    """
    cfg = model.config
    session = onnx_session(path)
    names = state_names(model)
    got_in = [i.name for i in session.get_inputs()]
    got_out = [o.name for o in session.get_outputs()]
    want_in = input_names(cfg) + [i for i, _ in names]
    want_out = [OUTPUT_NAME] + [o for _, o in names]
    if got_in != want_in or got_out != want_out:
        raise ExportError(
            f"{path}: I/O names {got_in} -> {got_out}, expected {want_in} -> {want_out}"
        )
    g = torch.Generator().manual_seed(seed)
    batch, frames = 2, 2 * cfg.context_frames + 3
    mag = torch.rand(batch, 1, cfg.num_bins, frames, generator=g) ** 4 * 50.0
    control = torch.rand(batch, cfg.n_controls, generator=g)
    extra = {
        name: (torch.rand(batch, 1, cfg.num_bins, frames, generator=g) * 2.0 - 1.0) * np.pi
        for name in frame_input_names(cfg)
    }
    with torch.no_grad():
        expected = model(mag, control, extra.get(ADVANCE_NAME), extra.get(LOCK_NAME)).numpy()
    states = [s.numpy() for s in model.zero_states(batch)]
    diffs = []
    for t in range(frames):
        feed = {"mag": mag[..., t : t + 1].numpy(), "control": control.numpy()}
        feed |= {name: value[..., t : t + 1].numpy() for name, value in extra.items()}
        feed.update({i: s for (i, _), s in zip(names, states, strict=True)})
        phase, *states = session.run(None, feed)
        if phase.shape != (batch, 2, cfg.num_bins, 1):
            raise ExportError(f"{path}: step output shape {phase.shape}")
        diffs.append(np.abs(phase[..., 0] - expected[..., t]))
    diff = np.stack(diffs)
    worst = float(diff.max())
    high = float(np.quantile(diff, 0.9999))
    if not (worst <= STEP_PARITY_MAX and high <= PARITY_TOLERANCE):  # NaN fails too
        raise ExportError(
            f"{path}: the step graph differs from PyTorch by {worst:.3g} "
            f"(99.99th percentile {high:.3g})"
        )
    return worst


def step_metadata(model: PhaseUNet) -> dict[str, Any]:
    """``model.json``'s ``step`` entry: the step graph's file and its state tensors."""
    return {
        "file": STEP_FILE,
        "frames": 1,
        "states": [
            {
                "input": i,
                "output": o,
                "dtype": "float32",
                "shape": ["batch", channels, bins, frames],
            }
            for (i, o), (channels, bins, frames) in zip(
                state_names(model), model.state_shapes(), strict=True
            )
        ],
    }


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
    if not worst <= PARITY_TOLERANCE:  # NaN fails too
        raise ExportError(f"{path}: onnxruntime differs from PyTorch by {worst:.3g}")
    return worst


def bundle_pitch_path(payload: dict[str, Any]) -> str:
    """The runtime pitch path the checkpoint was trained for (``model.json``'s ``pitch_path``).

    The ``[data]`` config's ``pitch_path``; a checkpoint whose config has none predates the
    spectral path and was trained on ``"resample"``.
    """
    data = (payload.get("config") or {}).get("data") or {}
    return str(data.get("pitch_path", "resample"))


def model_metadata(
    model: PhaseUNet,
    payload: dict[str, Any],
    parity: float,
    test_fixture: bool,
    step_parity: float | None = None,
) -> dict[str, Any]:
    """Contents of ``model.json`` (with the ``step`` entry when ``step_parity`` is given)."""
    cfg = model.config
    meta: dict[str, Any] = {
        "format_version": GAIN_FORMAT_VERSION if cfg.gain_db > 0 else MODEL_FORMAT_VERSION,
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
        "pitch_path": bundle_pitch_path(payload),
        **({"gain_db": cfg.gain_db} if cfg.gain_db > 0 else {}),
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
    if step_parity is not None:
        meta["step"] = step_metadata(model)
        meta["provenance"]["step_parity_max_abs_diff"] = step_parity
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
    """Writes ``model.onnx``, ``model.step.onnx``, ``model.json``, ``model.pt`` (and
    ``io.json``) into ``out_dir``; returns meta."""
    payload = load_checkpoint(checkpoint)
    model, _ = model_from_checkpoint(payload)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / "model.onnx"
    export_onnx(model, onnx_path)
    parity = check_parity(model, onnx_path)
    step_path = out_dir / STEP_FILE
    export_step_onnx(model, step_path)
    step_parity = check_step_parity(model, step_path)
    meta = model_metadata(model, payload, parity, test_fixture, step_parity)
    (out_dir / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    write_weights(payload, out_dir / WEIGHTS_FILE)
    if write_io:
        example = io_example(model, onnx_path)
        (out_dir / "io.json").write_text(json.dumps(example, separators=(",", ":")) + "\n")
    return meta


def write_weights(payload: dict[str, Any], path: Path) -> None:
    """A slim checkpoint next to the ONNX files: the weights, config, step and provenance
    without the optimiser and RNG state, so that the bundle can be fine-tuned
    (``run.init_from``) and re-exported. The runtime ignores it."""
    keep = ("format", "version", "step", "config", "model", "data_manifest_sha256")
    slim = {k: payload[k] for k in keep if k in payload}
    slim["git_commit"] = payload.get("git_commit")
    slim["val_metrics"] = payload.get("val_metrics")
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(slim, tmp)
    tmp.replace(path)


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
        f"wrote {args.out_dir / 'model.onnx'}, {STEP_FILE}, model.json and {WEIGHTS_FILE} "
        f"(onnxruntime vs PyTorch max diff {meta['provenance']['onnx_parity_max_abs_diff']:.2e}, "
        f"step graph {meta['provenance']['step_parity_max_abs_diff']:.2e}, "
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
