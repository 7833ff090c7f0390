"""Shared test setup: one CPU thread (the machine is shared), repository paths, and what a
test needs from outside Python (skipped locally, a failure where it must be there)."""

from __future__ import annotations

import os
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


def require(available: bool, what: str) -> None:
    """Skip the calling test when ``what`` is not available, except where it must be: under
    ``CI`` or ``XODVOX_REQUIRE_TOOLS`` (``scripts/test`` sets it after installing and building
    everything) a missing prerequisite fails the test instead of passing it by skipping."""
    if available:
        return
    if os.environ.get("CI") or os.environ.get("XODVOX_REQUIRE_TOOLS"):
        pytest.fail(f"{what} is required here (CI / XODVOX_REQUIRE_TOOLS) but missing")
    pytest.skip(f"{what} not available")


@pytest.fixture
def xodvox_binary() -> Path:
    """The built ``xodvox`` binary (``find_xodvox``): ``cargo build --release -p xodvox-cli``."""
    from xodvox_train.evaluate import find_xodvox

    found = find_xodvox(None)
    require(found is not None, "the xodvox binary (cargo build --release -p xodvox-cli)")
    assert found is not None
    return found
