"""From the model's phase output to a complex spectrum and audio (differentiable).

``phase_output == "absolute"``: the angle of output frame ``t`` is ``angle(phase[..., t])``.

``phase_output == "increment"``: ``phase[..., t]`` rotates the previous output frame's phase,
``phi_t = phi_{t-1} + angle(phase[..., t])``. The runtime starts from ``phi_{-1} = 0``. Training
crops start in the middle of a signal, so there the integration is *anchored*: ``phi_0`` is the
target's phase of the crop's first frame and the first increment is not used.
"""

from __future__ import annotations

import torch

from xodvox_train.spectral import Stft


def phase_angle(phase: torch.Tensor) -> torch.Tensor:
    """Angle in radians of the model output ``(B, 2, F, T)`` -> ``(B, F, T)``."""
    return torch.atan2(phase[:, 1], phase[:, 0])


def output_angle(
    phase: torch.Tensor, phase_output: str, anchor: torch.Tensor | None = None
) -> torch.Tensor:
    """Absolute angle of every output frame.

    Args:
        phase: ``(B, 2, F, T)`` model output (real, imag).
        phase_output: ``"absolute"`` or ``"increment"``.
        anchor: ``(B, F)`` angle of frame 0 for anchored integration of increments; ``None``
            integrates from ``phi_{-1} = 0`` like the runtime. Ignored for ``"absolute"``.

    Returns:
        ``(B, F, T)`` angles in radians (increments are not wrapped).
    """
    theta = phase_angle(phase)
    if phase_output == "absolute":
        return theta
    if phase_output != "increment":
        raise ValueError(f"unknown phase_output {phase_output!r}")
    if anchor is None:
        return torch.cumsum(theta, dim=-1)
    steps = torch.cat([anchor.unsqueeze(-1), theta[..., 1:]], dim=-1)
    return torch.cumsum(steps, dim=-1)


def output_gain(phase: torch.Tensor) -> torch.Tensor:
    """Magnitude gain ``(B, F, T)`` of the output ``(B, 2, F, T)``: its modulus (models with a
    gain head, ``gain_db > 0``; phase-only models output unit length and are not scaled)."""
    # The floor keeps the gradient finite where the output is 0 (a lock model's frame 0).
    return torch.sqrt((phase[:, 0] * phase[:, 0] + phase[:, 1] * phase[:, 1]).clamp_min(1e-24))


def output_magnitude(
    mag: torch.Tensor, phase: torch.Tensor, gain: bool, anchored: bool = True
) -> torch.Tensor:
    """Magnitude ``(B, F, T)`` the runtime synthesises: ``mag`` ``(B, 1, F, T)``, times the
    output's modulus when the model has a gain head (``gain``). An anchored first frame
    (``increment`` models: its phase is the anchor, not the output) keeps its magnitude, as in
    the runtime, whose first frame after a reset is the analysis frame itself."""
    if not gain:
        return mag[:, 0]
    if anchored:
        scale = output_gain(phase[..., 1:])
        scale = torch.cat([torch.ones_like(mag[:, 0, :, :1]), scale], dim=-1)
    else:
        scale = output_gain(phase)
    return mag[:, 0] * scale


def compose_spectrum(mag: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Complex spectrum ``mag * exp(i angle)``; ``mag`` ``(B, 1, F, T)`` or ``(B, F, T)``."""
    if mag.dim() == 4:
        mag = mag[:, 0]
    return torch.polar(mag, angle)


def resynthesize(
    stft: Stft,
    mag: torch.Tensor,
    phase: torch.Tensor,
    phase_output: str,
    length: int,
    anchor: torch.Tensor | None = None,
    gain: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spectrum and audio of magnitude ``mag`` with the model's ``phase`` (and its gain when
    ``gain``: models with a gain head).

    Returns:
        ``(spectrum (B, F, T) complex, audio (B, length))``.
    """
    spec = compose_spectrum(
        output_magnitude(mag, phase, gain), output_angle(phase, phase_output, anchor)
    )
    return spec, stft.istft(spec, length)
