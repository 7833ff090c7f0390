"""Shared test setup: one CPU thread (the machine is shared), repository paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo_root() -> Path:
    """Root of the git checkout."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def tiny_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sox/rubberband tiny dataset, made once per test session."""
    from xodvox_train.tinydata import make_tiny_dataset

    return make_tiny_dataset(tmp_path_factory.mktemp("tiny"))
