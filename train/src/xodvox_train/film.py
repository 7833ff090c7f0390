"""Feature-wise linear modulation (FiLM, Perez et al. 2018) driven by the control vector."""

from __future__ import annotations

import torch
from torch import nn


class ControlEmbedding(nn.Module):
    """MLP embedding of the control vector.

    Args:
        n_controls: length of the control vector.
        dim: embedding size.
    """

    def __init__(self, n_controls: int, dim: int) -> None:
        super().__init__()
        if n_controls <= 0 or dim <= 0:
            raise ValueError(f"n_controls and dim must be > 0, got {n_controls}, {dim}")
        self.net = nn.Sequential(nn.Linear(n_controls, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, control: torch.Tensor) -> torch.Tensor:
        """``(B, n_controls)`` -> ``(B, dim)``."""
        return self.net(control)


class FiLM(nn.Module):
    """``x * (1 + gamma(e)) + beta(e)`` per channel, constant over frequency and time.

    Args:
        embed_dim: size of the control embedding ``e``.
        channels: number of feature channels ``C`` to modulate.
    """

    def __init__(self, embed_dim: int, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.proj = nn.Linear(embed_dim, 2 * channels)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """Modulates ``x`` ``(B, C, F, T)`` with ``embedding`` ``(B, embed_dim)``."""
        gamma, beta = self.proj(embedding).chunk(2, dim=-1)
        return x * (1.0 + gamma[:, :, None, None]) + beta[:, :, None, None]
