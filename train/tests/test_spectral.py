"""STFT front end: conventions against a numpy reference, round trip, golden vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from xodvox_train.golden import compute_golden, golden_meta, make_test_signal, read_golden
from xodvox_train.spectral import HOP, N_FFT, NUM_BINS, Stft, bin_centre_advance, num_frames_for


def numpy_reference_stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Frame k centred on sample k*hop, zero padding, periodic Hann: (bins, frames)."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    padded = np.concatenate([np.zeros(n_fft // 2), x, np.zeros(n_fft // 2)])
    frames = [padded[k * hop : k * hop + n_fft] * window for k in range(1 + len(x) // hop)]
    return np.fft.rfft(np.stack(frames), axis=-1).T


@pytest.mark.parametrize(("n_fft", "hop", "length"), [(2048, 512, 5000), (512, 128, 1537)])
def test_stft_matches_numpy_reference(n_fft: int, hop: int, length: int) -> None:
    x = np.random.default_rng(1).standard_normal(length)
    ours = Stft(n_fft, hop).stft(torch.from_numpy(x)).numpy()
    ref = numpy_reference_stft(x, n_fft, hop)
    assert ours.shape == ref.shape == (n_fft // 2 + 1, num_frames_for(length, hop))
    err = np.max(np.abs(ours - ref)) / np.max(np.abs(ref))
    assert err < 1e-10, f"n_fft={n_fft} hop={hop} len={length}: rel err {err}"


@pytest.mark.parametrize(("n_fft", "hop"), [(2048, 512), (2048, 1024), (1024, 256)])
@pytest.mark.parametrize("length", [4096, 4999])
def test_round_trip_is_identity(n_fft: int, hop: int, length: int) -> None:
    stft = Stft(n_fft, hop)
    x = torch.from_numpy(np.random.default_rng(length).standard_normal((2, length)))
    y = stft.istft(stft(x), length=length)
    assert y.shape == x.shape
    err = torch.max(torch.abs(y - x)).item()
    assert err < 1e-9, f"n_fft={n_fft} hop={hop} len={length}: err {err}"


def test_float32_batched_shapes() -> None:
    stft = Stft()
    x = torch.randn(3, 1, 4000, generator=torch.Generator().manual_seed(0))
    spec = stft(x)
    assert spec.shape == (3, 1, NUM_BINS, 1 + 4000 // HOP)
    assert spec.dtype == torch.complex64
    assert stft.istft(spec, 4000).dtype == torch.float32


def test_window_is_buffer_and_periodic_hann() -> None:
    stft = Stft()
    assert "window" in dict(stft.named_buffers())
    w = stft.window
    assert w[0] == 0.0
    assert torch.allclose(w[1:], w[1:].flip(0))
    assert abs(w[N_FFT // 2].item() - 1.0) < 1e-7


@pytest.mark.parametrize(("n_fft", "hop"), [(2047, 512), (2048, 0), (2048, 3), (2048, 2048)])
def test_invalid_framing_is_rejected(n_fft: int, hop: int) -> None:
    with pytest.raises(ValueError, match=r"n_fft|hop"):
        Stft(n_fft, hop)


def test_bin_centre_advance_at_quarter_hop() -> None:
    adv = bin_centre_advance(2048, 512)
    assert adv.shape == (NUM_BINS,)
    expected = (np.arange(NUM_BINS) % 4) * (np.pi / 2)
    assert np.allclose(adv.numpy(), expected, atol=1e-6)


def test_committed_golden_vectors_match(repo_root: Path) -> None:
    golden_dir = repo_root / "fixtures" / "golden" / "stft"
    meta, stored = read_golden(golden_dir)
    assert meta == golden_meta(stored.signal.shape[0])
    assert meta["num_frames"] == 1 + meta["num_samples"] // meta["hop"]
    np.testing.assert_array_equal(stored.signal, make_test_signal())
    assert 0.79 < np.max(np.abs(stored.signal)) < 0.81
    fresh = compute_golden(stored.signal)
    scale = float(np.max(np.abs(fresh.stft)))
    stft_err = float(np.max(np.abs(stored.stft - fresh.stft))) / scale
    assert stft_err < 1e-5, f"stft.f32 differs from spectral.py by {stft_err} (relative)"
    recon_err = float(np.max(np.abs(stored.recon - stored.signal)))
    assert recon_err < 1e-5, f"recon.f32 differs from signal.f32 by {recon_err}"


def test_golden_frame_is_centred_on_k_hop(repo_root: Path) -> None:
    """Frame k of the stored STFT equals the windowed FFT of samples k*hop - n_fft/2 ..."""
    _, stored = read_golden(repo_root / "fixtures" / "golden" / "stft")
    x = stored.signal.astype(np.float64)
    ref = numpy_reference_stft(x, N_FFT, HOP).T  # (frames, bins)
    got = stored.stft[..., 0] + 1j * stored.stft[..., 1]
    err = np.max(np.abs(got - ref)) / np.max(np.abs(ref))
    assert err < 1e-6, f"rel err {err}"
