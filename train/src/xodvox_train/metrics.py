"""The evaluation measures of ``xodvox eval`` (``xodvox_dsp::metrics``), in Python.

:func:`mrstft_distance` is :class:`~xodvox_train.losses.MultiResolutionStftLoss` with the
relative floor :data:`FLOOR_DB` (one definition for training and evaluation); :func:`lsd_db`
is the log-spectral distance. Golden vectors (``fixtures/golden/metrics``, written by
:func:`write_metrics_golden`, i.e. ``xodvox-train golden``) hold two signals and both values:
``train/tests/test_metrics.py`` recomputes them here, ``crates/dsp/tests/golden_metrics.rs``
in Rust, so the numbers ``xodvox-train evaluate`` prints are those ``xodvox eval`` prints.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from xodvox_train.losses import MultiResolutionStftLoss
from xodvox_train.spectral import SAMPLE_RATE, Stft

FLOOR_DB = -80.0
"""Floor of the log-magnitude comparisons, dB below the reference's loudest bin."""
FFT_SIZES = (512, 1024, 2048)
"""FFT sizes of the MR-STFT distance (hop ``n / 4``)."""
LSD_N_FFT = 2048
"""FFT size of the log-spectral distance (hop ``n / 4``)."""

_MRSTFT = MultiResolutionStftLoss(FFT_SIZES, floor_db=FLOOR_DB).double()


def _pair(reference: np.ndarray, test: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Both 1-D signals as ``(1, N)`` float64 tensors, cut to the shorter length."""
    if reference.ndim != 1 or test.ndim != 1:
        raise ValueError(f"signals must be 1-D, got {reference.shape} and {test.shape}")
    n = min(reference.shape[0], test.shape[0])
    as_tensor = lambda x: torch.from_numpy(np.asarray(x[:n], dtype=np.float64))[None]  # noqa: E731
    return as_tensor(reference), as_tensor(test)


def mrstft_terms(reference: np.ndarray, test: np.ndarray) -> tuple[float, float]:
    """``(spectral convergence, log magnitude)`` parts of :func:`mrstft_distance`."""
    ref, tst = _pair(reference, test)
    with torch.no_grad():
        sc, lm = _MRSTFT.terms(tst, ref)
    return float(sc), float(lm)


def mrstft_distance(reference: np.ndarray, test: np.ndarray) -> float:
    """Multi-resolution STFT distance of ``test`` from ``reference`` (0 when identical)."""
    sc, lm = mrstft_terms(reference, test)
    return sc + lm


def lsd_db(reference: np.ndarray, test: np.ndarray) -> float:
    """Log-spectral distance in dB: per frame (n_fft 2048, hop 512) the RMS over bins of the dB
    difference of the power spectra, both floored :data:`FLOOR_DB` under the reference's
    loudest bin; mean over frames."""
    ref, tst = _pair(reference, test)
    stft = Stft(LSD_N_FFT, LSD_N_FFT // 4).double()
    with torch.no_grad():
        a, b = stft(ref)[0].abs(), stft(tst)[0].abs()  # (bins, frames)
        floor = (a.max() * 10.0 ** (FLOOR_DB / 20.0)).clamp_min(1e-12)
        diff = 20.0 * torch.log10(b.clamp_min(floor) / a.clamp_min(floor))
        return float(diff.square().mean(dim=0).sqrt().mean())


GOLDEN_SAMPLES = 24_000
"""Length of the metric golden signals (0.5 s at 48 kHz)."""
GOLDEN_SEED = 20_261_203


def golden_signals() -> tuple[np.ndarray, np.ndarray]:
    """``(reference, test)`` float32 signals of the metric golden vectors.

    The reference: two partials with a decaying envelope and a silent last quarter (so the
    floor matters). The test: the same partials 30 cents sharp and 2 dB quieter, a click, and
    white noise at -70 dBFS over the whole length (inside the reference's silence too).
    """
    rng = np.random.default_rng(GOLDEN_SEED)
    t = np.arange(GOLDEN_SAMPLES, dtype=np.float64) / SAMPLE_RATE
    env = np.exp(-3.0 * t)
    env[3 * GOLDEN_SAMPLES // 4 :] = 0.0

    def tone(ratio: float) -> np.ndarray:
        return env * (
            0.5 * np.sin(2 * np.pi * 330.0 * ratio * t)
            + 0.2 * np.sin(2 * np.pi * 1990.0 * ratio * t)
        )

    reference = tone(1.0)
    test = 10.0 ** (-2.0 / 20.0) * tone(2.0 ** (30.0 / 1200.0))
    test[9000] += 0.4
    test += 10.0 ** (-70.0 / 20.0) * rng.standard_normal(GOLDEN_SAMPLES)
    return reference.astype(np.float32), test.astype(np.float32)


def metrics_golden_meta(reference: np.ndarray, test: np.ndarray) -> dict[str, object]:
    """Contents of the metric golden's ``meta.json``: sizes and the values of both measures."""
    sc, lm = mrstft_terms(reference, test)
    return {
        "format_version": 1,
        "num_samples": int(reference.shape[0]),
        "floor_db": FLOOR_DB,
        "fft_sizes": list(FFT_SIZES),
        "mrstft": sc + lm,
        "mrstft_sc": sc,
        "mrstft_log": lm,
        "lsd_db": lsd_db(reference, test),
        "layout": "reference.f32 and test.f32: little-endian float32 samples at 48 kHz",
        "what": "xodvox_train.metrics (float64) on the two signals; Rust must agree",
        "generator": "xodvox_train.metrics.write_metrics_golden",
    }


def write_metrics_golden(out_dir: Path) -> Path:
    """Writes the metric golden vectors into ``out_dir`` (created if missing)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    reference, test = golden_signals()
    reference.astype("<f4").tofile(out_dir / "reference.f32")
    test.astype("<f4").tofile(out_dir / "test.f32")
    meta = metrics_golden_meta(reference, test)
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out_dir
