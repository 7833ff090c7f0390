"""The runtime's test-fixture model bundle (``fixtures/models/tiny/``).

``xodvox-train tiny-fixture [OUT_DIR]`` makes the sox/rubberband tiny dataset in a temporary
folder, trains ``train/configs/tiny.toml`` for a few steps there, and exports ``model.onnx``,
``model.json`` (marked ``test_fixture``) and ``io.json``; also ``identity`` (head zeroed) and
``lock`` (the tiny model with the ``lock`` input) beside it. Deterministic on one CPU thread.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from xodvox_train.config import load_config
from xodvox_train.export import export_bundle
from xodvox_train.golden import find_repo_root
from xodvox_train.tinydata import make_tiny_dataset
from xodvox_train.train import LATEST, Trainer, checkpoint_dir

TINY_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "tiny.toml"
"""The tiny config in the source tree."""
FIXTURE_STEPS = 30
"""Training steps of the fixture model."""


LOCK_OVERRIDE = "model.lock_input=true"
"""Config override of the ``fixtures/models/lock`` bundle: the tiny model with ``lock``."""


def make_tiny_fixture(
    out_dir: Path, config_path: Path = TINY_CONFIG, overrides: Sequence[str] = ()
) -> dict[str, Any]:
    """Trains and exports the fixture bundle into ``out_dir``; returns ``model.json``'s content.

    ``overrides`` are ``section.key=value`` config overrides (the ``lock`` fixture sets
    ``model.lock_input=true``).
    """
    out_dir = out_dir.resolve()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        make_tiny_dataset(Path("tiny"))
        steps = f"run.steps={FIXTURE_STEPS}"
        every = [f"run.checkpoint_every={FIXTURE_STEPS}", f"run.val_every={FIXTURE_STEPS}"]
        config = load_config([config_path.resolve()], [steps, *every, *overrides])
        Trainer(config).fit(resume=False)
        checkpoint = checkpoint_dir(config) / LATEST
        return export_bundle(checkpoint, out_dir, test_fixture=True, write_io=True)


def make_identity_fixture(
    out_dir: Path, config_path: Path = TINY_CONFIG, gain_db: float | None = None
) -> dict[str, Any]:
    """An ``advance`` model whose head is the identity rotation (``fixtures/models/identity``).

    The tiny model after one step with its head reset to weights 0, bias (1, 0): every output is the
    classical engine's increment, so the Rust runtime must render exactly what its classical
    engine renders (``crates/infer/tests/engines.rs`` checks it end to end). With ``gain_db``
    (``fixtures/models/identity-gain``) the model has a gain head whose constant output is
    ``gain_db / 2`` dB (gain channel bias ``atanh(0.5)``): the runtime must render the classical
    engine's output times that gain.
    """
    out_dir = out_dir.resolve()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        make_tiny_dataset(Path("tiny"))
        over = ["run.steps=1", "run.checkpoint_every=1", "run.val_every=1"]
        if gain_db is not None:
            over.append(f"model.gain_db={gain_db}")
        config = load_config([config_path.resolve()], over)
        Trainer(config).fit(resume=False)
        checkpoint = checkpoint_dir(config) / LATEST
        payload = torch.load(checkpoint, weights_only=False)
        payload["model"]["head.weight"].zero_()
        bias = [1.0, 0.0] + ([math.atanh(0.5)] if gain_db is not None else [])
        payload["model"]["head.bias"].copy_(torch.tensor(bias))
        torch.save(payload, checkpoint)
        meta = export_bundle(checkpoint, out_dir, test_fixture=True)
    meta["description"] = (
        "TEST FIXTURE ONLY: head weights zeroed, so the output is the identity rotation of the "
        "advance input: the runtime must render exactly like its classical engine"
        + (
            f", every magnitude times {gain_db / 2:g} dB (the gain head's constant output)."
            if gain_db is not None
            else "."
        )
    )
    (out_dir / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``xodvox-train tiny-fixture``."""
    parser.add_argument(
        "out_dir",
        nargs="?",
        type=Path,
        default=None,
        help="bundle folder (default: fixtures/models/tiny at the repository root)",
    )


def run(args: argparse.Namespace) -> int:
    """Runs ``xodvox-train tiny-fixture``."""
    out_dir = args.out_dir or find_repo_root() / "fixtures" / "models" / "tiny"
    meta = make_tiny_fixture(out_dir)
    print(f"wrote {out_dir} ({meta['parameters']} parameters, {meta['context_frames']} frames)")
    identity = out_dir.parent / "identity"
    make_identity_fixture(identity)
    print(f"wrote {identity} (identity head)")
    identity_gain = out_dir.parent / "identity-gain"
    make_identity_fixture(identity_gain, gain_db=12.0)
    print(f"wrote {identity_gain} (identity head, +6 dB gain head)")
    lock = out_dir.parent / "lock"
    make_tiny_fixture(lock, overrides=[LOCK_OVERRIDE])
    print(f"wrote {lock} (with the lock input)")
    return 0
