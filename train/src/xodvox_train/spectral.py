"""STFT front end shared with the Rust runtime (``crates/dsp``).

The conventions are the contract in ``docs/model-format.md``: ``n_fft`` 2048 (1025 bins),
hop 512, periodic Hann analysis and synthesis windows, ``torch.stft(center=True,
pad_mode="constant")`` (zero padding of ``n_fft / 2`` on both sides, so frame ``k`` is centred
on input sample ``k * hop``), no normalisation, one-sided spectrum; ``torch.istft(center=True,
length=N)`` (weighted overlap-add divided by the summed squared window). The golden vectors in
``fixtures/golden/stft/`` pin these conventions for both test suites.
"""

from __future__ import annotations

import torch
from torch import nn

SAMPLE_RATE = 48_000
"""Model sample rate in Hz."""
N_FFT = 2048
"""FFT size in samples."""
HOP = 512
"""Hop between frames in samples (synthesis hop; analysis hop at stretch 1)."""
NUM_BINS = N_FFT // 2 + 1
"""Number of one-sided frequency bins (1025)."""
WINDOW_NAME = "hann_periodic"
"""Name of the window in metadata files."""


def num_frames_for(num_samples: int, hop: int = HOP) -> int:
    """Number of STFT frames for ``num_samples`` samples with centred framing: ``1 + N // hop``."""
    if num_samples < 0:
        raise ValueError(f"num_samples must be >= 0, got {num_samples}")
    return 1 + num_samples // hop


class Stft(nn.Module):
    """Forward and inverse STFT with the project's framing; the window is a registered buffer.

    Args:
        n_fft: FFT size in samples (even, >= 16).
        hop: hop in samples; must divide ``n_fft`` with at least 2x overlap.
    """

    window: torch.Tensor

    def __init__(self, n_fft: int = N_FFT, hop: int = HOP) -> None:
        super().__init__()
        if n_fft < 16 or n_fft % 2 != 0:
            raise ValueError(f"n_fft must be even and >= 16, got {n_fft}")
        if hop <= 0 or n_fft % hop != 0 or n_fft // hop < 2:
            raise ValueError(f"hop must divide n_fft={n_fft} with >= 2x overlap, got {hop}")
        self.n_fft = n_fft
        self.hop = hop
        # float64 so that float64 transforms (golden vectors) use the exact window; cast per call.
        self.register_buffer(
            "window", torch.hann_window(n_fft, periodic=True, dtype=torch.float64), persistent=False
        )

    @property
    def num_bins(self) -> int:
        """Number of one-sided bins, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        """Complex STFT.

        Args:
            signal: ``(..., N)`` real samples.

        Returns:
            ``(..., num_bins, 1 + N // hop)`` complex spectrum (bin-major, frames last).
        """
        return self.stft(signal)

    def stft(self, signal: torch.Tensor) -> torch.Tensor:
        """Complex STFT of ``(..., N)`` real samples, shape ``(..., num_bins, frames)``."""
        lead = signal.shape[:-1]
        flat = signal.reshape(-1, signal.shape[-1])
        window = self.window.to(dtype=flat.dtype, device=flat.device)
        spec = torch.stft(
            flat,
            n_fft=self.n_fft,
            hop_length=self.hop,
            win_length=self.n_fft,
            window=window,
            center=True,
            pad_mode="constant",
            normalized=False,
            onesided=True,
            return_complex=True,
        )
        return spec.reshape(*lead, spec.shape[-2], spec.shape[-1])

    def istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """Inverse STFT (weighted overlap-add / summed squared window).

        Args:
            spec: ``(..., num_bins, frames)`` complex spectrum.
            length: number of output samples ``N`` (frames must be ``1 + N // hop``).

        Returns:
            ``(..., N)`` real samples.
        """
        if spec.shape[-2] != self.num_bins:
            raise ValueError(f"expected {self.num_bins} bins, got {spec.shape[-2]}")
        lead = spec.shape[:-2]
        flat = spec.reshape(-1, spec.shape[-2], spec.shape[-1])
        real_dtype = torch.float64 if flat.dtype == torch.complex128 else torch.float32
        window = self.window.to(dtype=real_dtype, device=flat.device)
        out = torch.istft(
            flat,
            n_fft=self.n_fft,
            hop_length=self.hop,
            win_length=self.n_fft,
            window=window,
            center=True,
            normalized=False,
            onesided=True,
            length=length,
        )
        return out.reshape(*lead, length)


def bin_centre_advance(n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    """Phase advance in radians of each bin's centre frequency over one hop, ``2 pi k hop / n_fft``.

    Returns:
        ``(n_fft // 2 + 1,)`` float32 tensor.
    """
    k = torch.arange(n_fft // 2 + 1, dtype=torch.int64)
    cycles = (k * hop).remainder(n_fft).to(torch.float64) / n_fft
    return (2.0 * torch.pi * cycles).to(torch.float32)
