"""The runtime's test-fixture model bundle (``fixtures/models/tiny/``).

``xodvox-train tiny-fixture [OUT_DIR]`` makes the sox/rubberband tiny dataset in a temporary
folder, trains ``train/configs/tiny.toml`` for a few steps there, and exports ``model.onnx``,
``model.json`` (marked ``test_fixture``) and ``io.json``. Deterministic on one CPU thread.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
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


def make_tiny_fixture(out_dir: Path, config_path: Path = TINY_CONFIG) -> dict[str, Any]:
    """Trains and exports the fixture bundle into ``out_dir``; returns ``model.json``'s content."""
    out_dir = out_dir.resolve()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        make_tiny_dataset(Path("tiny"))
        steps = f"run.steps={FIXTURE_STEPS}"
        every = [f"run.checkpoint_every={FIXTURE_STEPS}", f"run.val_every={FIXTURE_STEPS}"]
        config = load_config([config_path.resolve()], [steps, *every])
        Trainer(config).fit(resume=False)
        checkpoint = checkpoint_dir(config) / LATEST
        return export_bundle(checkpoint, out_dir, test_fixture=True, write_io=True)


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
    return 0
