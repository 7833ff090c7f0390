"""The Python port of the classical engine against its golden vectors (also checked by cargo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xodvox_train.data import classical_phases
from xodvox_train.golden import write_classical_golden


def test_classical_golden_vectors_are_reproduced(repo_root: Path, tmp_path: Path) -> None:
    fresh = write_classical_golden(tmp_path / "classical")
    stored = repo_root / "fixtures" / "golden" / "classical"
    for name in ("mag", "analysis", "inst_freq", "time_offset", "phase"):
        a = np.fromfile(stored / f"{name}.f32", "<f4")
        b = np.fromfile(fresh / f"{name}.f32", "<f4")
        np.testing.assert_allclose(a, b, atol=1e-5, err_msg=name)
    flags = np.fromfile(fresh / "transient.u8", np.uint8)
    np.testing.assert_array_equal(flags, np.fromfile(stored / "transient.u8", np.uint8))
    assert flags[1:].any(), "the burst must fire a mid-stream transient"


def test_classical_port_locks_bins_to_their_peak() -> None:
    """Two peaks: each region keeps its analysis phase offset to its peak, peaks advance."""
    bins = 16
    mag = np.zeros((2, bins))
    mag[:, 3], mag[:, 2], mag[:, 4] = 1.0, 0.5, 0.5
    mag[:, 10], mag[:, 9], mag[:, 11] = 0.8, 0.3, 0.3
    mag[:, 5:9] = 0.05
    mag[:, 7] = 0.01  # the trough between the peaks
    rng = np.random.default_rng(0)
    analysis = rng.uniform(-np.pi, np.pi, (2, bins))
    advance = np.zeros((2, bins))
    advance[1, 3], advance[1, 10] = 0.3, -0.2
    out = classical_phases(mag, analysis, advance, hop=2)  # n_fft 30 -> centre 2 pi b 2 / 30
    np.testing.assert_allclose(out[0], analysis[0])
    centre = 2 * np.pi * np.arange(bins) * 2 / 30
    for peak, region in ((3, range(0, 7)), (10, range(7, bins))):
        rotation = out[0, peak] + centre[peak] + advance[1, peak] - analysis[1, peak]
        np.testing.assert_allclose(out[1, list(region)], analysis[1, list(region)] + rotation)
