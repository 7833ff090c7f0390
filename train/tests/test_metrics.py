"""The evaluation measures (``xodvox_train.metrics``): properties and golden vectors shared
with ``xodvox_dsp::metrics`` (``crates/dsp/tests/golden_metrics.rs`` checks the same values)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from xodvox_train.metrics import golden_signals, lsd_db, mrstft_distance, write_metrics_golden


def test_metric_golden_vectors_are_reproduced(repo_root: Path, tmp_path: Path) -> None:
    fresh = write_metrics_golden(tmp_path / "metrics")
    stored = repo_root / "fixtures" / "golden" / "metrics"
    for name in ("reference.f32", "test.f32"):
        assert (fresh / name).read_bytes() == (stored / name).read_bytes(), name
    want = json.loads((stored / "meta.json").read_text())
    got = json.loads((fresh / "meta.json").read_text())
    assert set(got) == set(want)
    for key in ("mrstft", "mrstft_sc", "mrstft_log", "lsd_db"):
        assert got[key] == pytest.approx(want[key], rel=1e-9), key


def test_measures_are_zero_for_identical_signals_and_grow_with_error() -> None:
    reference, _ = golden_signals()
    assert mrstft_distance(reference, reference) == 0.0
    assert lsd_db(reference, reference) == 0.0
    noise = np.random.default_rng(2).standard_normal(reference.shape[0])
    small, large = reference + 1e-3 * noise, reference + 1e-1 * noise
    assert 0.0 < mrstft_distance(reference, small) < mrstft_distance(reference, large)
    assert 0.0 < lsd_db(reference, small) < lsd_db(reference, large)


def test_the_floor_ignores_noise_far_under_the_reference_peak() -> None:
    """Noise 120 dB under a tone where the reference is silent costs (almost) nothing."""
    reference, _ = golden_signals()
    quiet = reference + 1e-6 * np.random.default_rng(1).standard_normal(reference.shape[0])
    loud = reference + 1e-2 * np.random.default_rng(1).standard_normal(reference.shape[0])
    assert mrstft_distance(reference, quiet) < 1e-3
    assert mrstft_distance(reference, loud) > 0.5
