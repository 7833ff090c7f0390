"""``xodvox-train evaluate BUNDLE --manifest M``: the model against the classical engine.

For every entry of a split (default ``val``) both engines process the input with the entry's
stretch and pitch, and the mid (mean of the channels) of their outputs is compared with the
target's mid:

- **model**: the exported bundle run the way the Rust runtime runs it (onnxruntime on
  ``model.onnx``, controls from ``model.json``, the input stretched by ``stretch x pitch ratio``
  with magnitudes and advance as in ``docs/model-format.md``, increments integrated from the
  first frame's analysis phase, inverse STFT, resampled by the pitch ratio);
- **classical**: ``xodvox render IN OUT --stretch S --pitch P`` (the Rust classical engine),
  skipped with a note when the ``xodvox`` binary is not found;
- **model_runtime** (``--runtime``): ``xodvox render --engine neural --model BUNDLE --style
  STYLE`` (the entry's style when the model has it), the model as the Rust runtime really runs
  it (per-channel magnitudes, transient resets, rubato).

Metrics (means over entries x channels): multi-resolution STFT distance (spectral convergence +
log magnitude, FFT 512/1024/2048, floored 80 dB under the target's peak: the measure of
``xodvox eval``, :mod:`xodvox_train.metrics`), spectral convergence alone, log-spectral distance
(dB), waveform L1. Outputs are trimmed or zero-padded to the target length.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from xodvox_train.controls import ControlSpec, build_control_vector
from xodvox_train.data import (
    ManifestEntry,
    load_manifest,
    read_mid_segment,
    runtime_features,
    sinc_resample_at,
)
from xodvox_train.export import onnx_session
from xodvox_train.golden import find_repo_root
from xodvox_train.metrics import lsd_db, mrstft_terms
from xodvox_train.spectral import HOP, N_FFT, Stft, num_frames_for

SUPPORTED_FORMATS = (1, 2)
"""``model.json`` format versions this evaluator understands (2: with a gain head)."""


def load_bundle(bundle: Path) -> tuple[dict[str, Any], Any]:
    """``model.json`` and an onnxruntime session for ``model.onnx``.

    Raises:
        ValueError: a missing file or an unsupported ``format_version``/framing.
    """
    meta_path, onnx_path = bundle / "model.json", bundle / "model.onnx"
    for path in (meta_path, onnx_path):
        if not path.is_file():
            raise ValueError(f"model bundle {bundle}: missing {path.name}")
    meta = json.loads(meta_path.read_text())
    if meta.get("format_version") not in SUPPORTED_FORMATS:
        raise ValueError(f"{meta_path}: format_version {meta.get('format_version')} unsupported")
    if (meta.get("n_fft"), meta.get("hop")) != (N_FFT, HOP):
        raise ValueError(
            f"{meta_path}: n_fft/hop {meta.get('n_fft')}/{meta.get('hop')} unsupported"
        )
    return meta, onnx_session(onnx_path)


def run_model(
    meta: dict[str, Any], session: Any, entry: ManifestEntry, manifest: Any
) -> np.ndarray:
    """The bundle's output for an entry's mid signal, ``num_frames_target`` samples.

    Emulates the Rust runtime in whole-clip form, on the bundle's ``pitch_path`` (absent:
    ``"resample"``): magnitudes and advance from :func:`runtime_features` (``"spectral"``: the
    mid input stretched by ``stretch`` and pitch-shifted per frame; ``"resample"``: stretched
    by ``stretch * q``), increments integrated from the first frame's analysis phase, inverse
    STFT, then (``"resample"`` only) resampled by ``1 / q``.
    """
    q = 2.0 ** (entry.pitch_semitones / 12.0)
    pitch_path = str(meta.get("pitch_path", "resample"))
    spectral = pitch_path == "spectral"
    stretched = round(entry.num_frames_input * entry.stretch * (1.0 if spectral else q))
    frames = num_frames_for(stretched)
    feats = runtime_features(
        manifest.audio_path(entry.input),
        manifest.audio_path(entry.target),
        0,
        frames,
        entry.stretch,
        entry.pitch_semitones,
        pitch_path=pitch_path,
    )
    specs = [ControlSpec.from_json(c) for c in meta["controls"]]
    raw: dict[str, float | str] = {
        "stretch": entry.stretch,
        "pitch": entry.pitch_semitones,
        "style": entry.style,
    }
    names = {s.name for s in specs}
    control = np.asarray(
        [build_control_vector(specs, {k: v for k, v in raw.items() if k in names})], np.float32
    )
    feed = {"mag": feats["mag"][None], "control": control}
    for name in ("advance", "lock"):
        if any(i["name"] == name for i in meta["inputs"]):
            feed[name] = feats[name][None]
    phase = session.run(None, feed)[0][0]  # (2, bins, T)
    angle = np.arctan2(phase[1], phase[0]).astype(np.float64)
    if meta["phase_output"] == "increment":
        angle[:, 0] = feats["anchor"]
        angle = np.cumsum(angle, axis=-1)
    magnitude = feats["mag"][0].astype(np.float64)
    if "gain_db" in meta:
        gain = np.hypot(phase[0], phase[1])
        if meta["phase_output"] == "increment":
            gain[:, 0] = 1.0  # the anchored first frame, as in the runtime
        magnitude = magnitude * gain
    spec = torch.from_numpy(magnitude * np.exp(1j * angle))
    stretched_audio = Stft().istft(spec, (frames - 1) * HOP).numpy()
    if spectral:
        out = np.zeros(entry.num_frames_target)
        m = min(out.size, stretched_audio.size)
        out[:m] = stretched_audio[:m]
        return out.astype(np.float32)
    positions = np.arange(entry.num_frames_target) * q
    out = sinc_resample_at(stretched_audio, positions, min(1.0, 1.0 / q) * 0.97)
    return out.astype(np.float32)


def find_xodvox(explicit: Path | None) -> Path | None:
    """The ``xodvox`` binary: ``explicit``, then PATH, then ``{release,debug}/xodvox`` under
    ``$CARGO_TARGET_DIR`` and under the checkout's ``target/``."""
    if explicit is not None:
        return explicit if explicit.is_file() else None
    found = shutil.which("xodvox")
    if found:
        return Path(found)
    dirs = [Path(os.environ["CARGO_TARGET_DIR"])] if os.environ.get("CARGO_TARGET_DIR") else []
    with contextlib.suppress(ValueError):
        dirs.append(find_repo_root(Path(__file__).parent) / "target")
    for target in dirs:
        for profile in ("release", "debug"):
            candidate = target / profile / "xodvox"
            if candidate.is_file():
                return candidate
    return None


def run_classical(
    binary: Path,
    entry: ManifestEntry,
    input_path: Path,
    tmp: Path,
    bundle: Path | None = None,
    style: str | None = None,
) -> np.ndarray:
    """``xodvox render`` output, ``(frames, channels)`` float32: the classical engine, or the
    neural engine with ``bundle`` (``--engine neural --model BUNDLE [--style STYLE]``)."""
    out = tmp / f"{entry.id}.wav"
    cmd = [str(binary), "render", str(input_path), str(out), "--quiet"]
    if bundle is not None:
        cmd += ["--engine", "neural", "--model", str(bundle)]
        if style is not None:
            cmd += ["--style", style]
    cmd += ["--stretch", repr(entry.stretch), "--pitch", repr(entry.pitch_semitones)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {result.stderr.strip()}")
    audio, _ = sf.read(str(out), dtype="float32", always_2d=True)
    return audio


def fit_length(x: np.ndarray, length: int) -> np.ndarray:
    """Trims or zero-pads a 1-D signal to ``length``."""
    out = np.zeros(length, dtype=np.float32)
    out[: min(length, x.shape[0])] = x[:length]
    return out


def metrics(pred: np.ndarray, target: np.ndarray) -> dict:
    """MR-STFT distance, spectral convergence, LSD, waveform L1 of ``pred`` against ``target``."""
    sc, lm = mrstft_terms(target, pred)
    return {
        "mrstft": sc + lm,
        "sc": sc,
        "lsd_db": lsd_db(target, pred),
        "waveform_l1": float(np.mean(np.abs(pred.astype(np.float64) - target))),
    }


def evaluate(
    bundle: Path,
    manifest_path: Path,
    split: str = "val",
    xodvox: Path | None = None,
    runtime: bool = False,
) -> dict[str, Any]:
    """Per-engine mean metrics and per-entry rows (see the module docstring)."""
    meta, session = load_bundle(bundle)
    manifest = load_manifest(manifest_path)
    entries = manifest.split(split)
    if not entries:
        raise ValueError(f"{manifest_path}: split {split!r} has no entries")
    binary = find_xodvox(xodvox)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for entry in entries:
            input_path = manifest.audio_path(entry.input)
            n = entry.num_frames_target
            target = read_mid_segment(manifest.audio_path(entry.target), 0, n).astype(np.float32)
            row: dict[str, Any] = {"id": entry.id, "style": entry.style}
            row["model"] = metrics(run_model(meta, session, entry, manifest), target)
            if binary:
                classical = run_classical(binary, entry, input_path, Path(tmp)).mean(axis=1)
                row["classical"] = metrics(fit_length(classical, n), target)
                if runtime:
                    # The entry's style, as the emulation uses, when the model knows it.
                    style = entry.style if entry.style in meta.get("styles", []) else None
                    rendered = run_classical(binary, entry, input_path, Path(tmp), bundle, style)
                    row["model_runtime"] = metrics(fit_length(rendered.mean(axis=1), n), target)
            rows.append(row)
    engines = ["model"] + (["classical"] if binary else [])
    engines += ["model_runtime"] if binary and runtime else []
    summary = {
        engine: {
            key: float(np.mean([r[engine][key] for r in rows]))
            for key in ("mrstft", "sc", "lsd_db", "waveform_l1")
        }
        for engine in engines
    }
    styles = sorted({r["style"] for r in rows})
    by_style = {
        style: {
            engine: float(np.mean([r[engine]["mrstft"] for r in rows if r["style"] == style]))
            for engine in engines
        }
        | {"examples": sum(r["style"] == style for r in rows)}
        for style in styles
    }
    return {
        "bundle": str(bundle),
        "manifest_sha256": manifest.sha256,
        "split": split,
        "examples": len(rows),
        "compared": "mid (mean of channels) of each output against the target's mid",
        "classical_binary": str(binary) if binary else None,
        "summary": summary,
        "mrstft_by_style": by_style,
        "rows": rows,
    }


def markdown_table(report: dict[str, Any]) -> str:
    """The summary as a Markdown table."""
    lines = [
        f"{report['split']} split, {report['examples']} entries (mid signals)",
        "",
        "| engine | MR-STFT distance | spectral convergence | LSD dB | waveform L1 |",
        "|---|---|---|---|---|",
    ]
    for engine, m in report["summary"].items():
        lines.append(
            f"| {engine} | {m['mrstft']:.4f} | {m['sc']:.4f} | {m['lsd_db']:.3f} "
            f"| {m['waveform_l1']:.5f} |"
        )
    by_style = report.get("mrstft_by_style") or {}
    if by_style:
        engines = list(report["summary"])
        lines += ["", "MR-STFT distance by target style:", ""]
        lines.append("| style | entries | " + " | ".join(engines) + " |")
        lines.append("|---|---|" + "---|" * len(engines))
        for style, m in by_style.items():
            cells = " | ".join(f"{m[e]:.4f}" for e in engines)
            lines.append(f"| {style} | {m['examples']} | {cells} |")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``xodvox-train evaluate``."""
    parser.add_argument("bundle", type=Path, help="folder with model.onnx + model.json")
    parser.add_argument("--manifest", type=Path, required=True, help="dataset manifest (.jsonl)")
    parser.add_argument("--split", default="val", choices=("train", "val", "test"))
    parser.add_argument("--xodvox", type=Path, default=None, help="path of the xodvox binary")
    parser.add_argument("--json", type=Path, default=None, help="also write the full report")
    parser.add_argument(
        "--runtime",
        action="store_true",
        help="also render the model with the Rust runtime (`xodvox render --engine neural`)",
    )


def run(args: argparse.Namespace) -> int:
    """Runs ``xodvox-train evaluate``."""
    report = evaluate(args.bundle, args.manifest, args.split, args.xodvox, args.runtime)
    print(markdown_table(report))
    if report["classical_binary"] is None:
        print(
            "note: the classical engine was skipped: no `xodvox` binary on PATH or in target/ "
            "(build it with `cargo build --release -p xodvox-cli` or pass --xodvox)",
            file=sys.stderr,
        )
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0
