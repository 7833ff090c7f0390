"""Training losses, one ``nn.Module`` each, and their weighted sum :class:`PhaseVocoderLoss`.

Design (see ``docs/model-format.md``): the model predicts phase (and, with a gain head, a bounded
per-bin magnitude gain). The resynthesis combines the *magnitude the model was given* (times the
gain) with the predicted phase and goes through the differentiable
iSTFT, so the waveform and multi-resolution losses see the same audio the runtime would produce.
With ``data.mag_source = "target"`` that magnitude is the target's own (pure phase retrieval);
with ``"mapped_input"`` it is the runtime's mapping of the input (the full system).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from xodvox_train.spectral import Stft
from xodvox_train.synthesis import output_angle, output_magnitude

MAG_EPS = 1e-7
"""Added under the square root of magnitudes so that gradients stay finite at silence."""


def safe_magnitude(spec: torch.Tensor) -> torch.Tensor:
    """``sqrt(re^2 + im^2 + eps)`` of a complex tensor (finite gradient at zero)."""
    return torch.sqrt(spec.real.square() + spec.imag.square() + MAG_EPS)


def anti_wrap(x: torch.Tensor) -> torch.Tensor:
    """Anti-wrapping function ``|x - 2 pi round(x / 2 pi)|`` (Ai & Ling 2023), in [0, pi]."""
    return torch.abs(x - 2.0 * math.pi * torch.round(x / (2.0 * math.pi)))


class WaveformLoss(nn.Module):
    """Mean absolute (``"l1"``) or squared (``"l2"``) sample error between ``(B, N)`` signals."""

    def __init__(self, kind: str = "l1") -> None:
        super().__init__()
        if kind not in ("l1", "l2"):
            raise ValueError(f"waveform loss kind must be 'l1' or 'l2', got {kind!r}")
        self.kind = kind

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar loss of ``pred`` against ``target``, both ``(B, N)``."""
        diff = pred - target
        return diff.abs().mean() if self.kind == "l1" else diff.square().mean()


class MultiResolutionStftLoss(nn.Module):
    """Spectral convergence + mean log-magnitude distance, averaged over FFT sizes.

    Spectral convergence ``||S| - |S_hat||_F / ||S||_F`` and ``mean |log|S| - log|S_hat||``
    (Yamamoto et al. 2020, Parallel WaveGAN), with periodic Hann windows and hop ``n_fft / 4``.
    This is the one definition of the MR-STFT distance: with ``floor_db`` set it is the
    evaluation measure of ``xodvox eval`` (``xodvox_dsp::metrics::mrstft_distance``; see
    :mod:`xodvox_train.metrics` and its golden vectors), without it the training loss.

    Args:
        fft_sizes: FFT sizes, e.g. ``(512, 1024, 2048)``.
        floor_db: ``None`` (training): magnitudes are ``sqrt(|X|^2 + MAG_EPS)``, so gradients
            stay finite at silence. A level in dB (evaluation, e.g. ``-80``): magnitudes are
            ``|X|``, and inside the logarithm both are floored at that level below the
            target's loudest bin, so noise far under the reference's peak where the reference
            is silent is not weighed like an audible error.
        soft_floor_db: training only (with ``floor_db`` ``None``): inside the logarithm both
            magnitudes become ``sqrt(|X|^2 + f^2)`` with ``f`` this level below each example's
            loudest target bin, a smooth version of the evaluation's floor (gradients stay
            finite; bins far under the reference's peak stop dominating the log term).
        per_example: spectral convergence and log distance are computed per example and then
            averaged over the batch (as ``xodvox eval`` averages per clip), instead of over
            the whole batch at once, where loud, dense examples outweigh quiet, sparse ones.
    """

    def __init__(
        self,
        fft_sizes: Sequence[int] = (512, 1024, 2048),
        floor_db: float | None = None,
        soft_floor_db: float | None = None,
        per_example: bool = False,
    ) -> None:
        super().__init__()
        if not fft_sizes:
            raise ValueError("fft_sizes must not be empty")
        if floor_db is not None and soft_floor_db is not None:
            raise ValueError(
                "floor_db (evaluation) and soft_floor_db (training) exclude each other"
            )
        self.stfts = nn.ModuleList(Stft(n, n // 4) for n in fft_sizes)
        self.floor_db = floor_db
        self.soft_floor_db = soft_floor_db
        self.per_example = per_example

    def terms(self, pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(spectral convergence, log magnitude)`` of ``(B, N)`` signals."""
        sc = pred.new_zeros(())
        lm = pred.new_zeros(())
        for stft in self.stfts:
            p, t, log_p, log_t = self._magnitudes(stft(pred), stft(target))
            if self.per_example:
                dims = tuple(range(1, t.dim()))
                num = torch.linalg.vector_norm(t - p, dim=dims)
                den = torch.linalg.vector_norm(t, dim=dims).clamp_min(1e-15)
                sc = sc + (num / den).mean()
                lm = lm + (log_t - log_p).abs().mean(dim=dims).mean()
            else:
                sc = sc + torch.linalg.vector_norm(t - p) / torch.linalg.vector_norm(t).clamp_min(
                    1e-15
                )
                lm = lm + (log_t - log_p).abs().mean()
        n = len(self.stfts)
        return sc / n, lm / n

    def _magnitudes(
        self, pred: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(|pred|, |target|, log |pred|, log |target|)`` of two complex spectra under this
        loss's floor."""
        if self.floor_db is not None:
            p, t = pred.abs(), target.abs()
            floor = (t.detach().max() * 10.0 ** (self.floor_db / 20.0)).clamp_min(1e-12)
            return p, t, torch.log(p.clamp_min(floor)), torch.log(t.clamp_min(floor))
        p, t = safe_magnitude(pred), safe_magnitude(target)
        if self.soft_floor_db is None:
            return p, t, torch.log(p), torch.log(t)
        dims = tuple(range(1, target.dim()))
        peak = target.detach().abs().amax(dim=dims, keepdim=True)
        floor_sq = (peak * 10.0 ** (self.soft_floor_db / 20.0)).square() + MAG_EPS
        log_p = 0.5 * torch.log(pred.real.square() + pred.imag.square() + floor_sq)
        log_t = 0.5 * torch.log(target.real.square() + target.imag.square() + floor_sq)
        return p, t, log_p, log_t

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Spectral convergence + log magnitude (scalar)."""
        sc, lm = self.terms(pred, target)
        return sc + lm


class StftConsistencyLoss(nn.Module):
    """Relative inconsistency ``||STFT(iSTFT(Y)) - Y||^2 / ||Y||^2`` of a spectrum ``Y``.

    Zero exactly when ``Y`` is the STFT of some signal (Griffin & Lim 1984; consistency as a
    loss: Wisdom et al. 2019).
    """

    def __init__(self, stft: Stft) -> None:
        super().__init__()
        self.stft = stft

    def forward(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """Scalar inconsistency of ``spec`` ``(B, F, T)`` complex for ``length`` samples."""
        again = self.stft(self.stft.istft(spec, length))
        num = (again - spec).abs().square().sum()
        den = spec.abs().square().sum() + MAG_EPS
        return num / den


class AntiWrappingPhaseLoss(nn.Module):
    """Magnitude-weighted anti-wrapping phase losses (Ai & Ling 2023).

    Three terms between predicted and target angles: instantaneous phase (the angles), group delay
    (differences over frequency) and instantaneous angular frequency (differences over time),
    each through :func:`anti_wrap` so a 2 pi offset costs nothing. Each term is weighted by the
    target magnitude (normalised per batch) so silent bins, whose phase is meaningless, do not
    count.

    Args:
        weights: weights of the (phase, group delay, instantaneous frequency) terms.
    """

    def __init__(self, weights: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> None:
        super().__init__()
        self.weights = weights

    def terms(
        self, pred: torch.Tensor, target: torch.Tensor, target_mag: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(IP, GD, IAF)`` for angles ``(B, F, T)`` and target magnitude ``(B, F, T)``."""
        w = target_mag / (target_mag.sum() + MAG_EPS)
        ip = (w * anti_wrap(pred - target)).sum()
        wf = torch.sqrt(w[:, 1:] * w[:, :-1] + 1e-20)
        gd_err = anti_wrap(torch.diff(pred, dim=1) - torch.diff(target, dim=1))
        gd = (wf * gd_err).sum() / (wf.sum() + MAG_EPS)
        wt = torch.sqrt(w[..., 1:] * w[..., :-1] + 1e-20)
        iaf_err = anti_wrap(torch.diff(pred, dim=2) - torch.diff(target, dim=2))
        iaf = (wt * iaf_err).sum() / (wt.sum() + MAG_EPS)
        return ip, gd, iaf

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, target_mag: torch.Tensor
    ) -> torch.Tensor:
        """Weighted sum of the three terms (scalar, in radians)."""
        ip, gd, iaf = self.terms(pred, target, target_mag)
        a, b, c = self.weights
        return a * ip + b * gd + c * iaf


@dataclass(frozen=True)
class LossWeights:
    """Weights of :class:`PhaseVocoderLoss`'s terms (0 disables a term's gradient).

    Attributes:
        waveform: waveform L1/L2.
        mrstft: multi-resolution STFT (spectral convergence + log magnitude).
        consistency: STFT consistency of the predicted spectrum.
        phase: anti-wrapping instantaneous phase.
        group_delay: anti-wrapping group delay.
        inst_freq: anti-wrapping instantaneous frequency.
    """

    waveform: float = 1.0
    mrstft: float = 1.0
    consistency: float = 1.0
    phase: float = 0.1
    group_delay: float = 0.5
    inst_freq: float = 1.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value < 0 or not math.isfinite(value):
                raise ValueError(f"loss weight {name} must be finite and >= 0, got {value}")


class PhaseVocoderLoss(nn.Module):
    """Weighted sum of all training losses for one batch.

    Args:
        weights: term weights.
        fft_sizes: FFT sizes of the multi-resolution STFT loss.
        waveform_kind: ``"l1"`` or ``"l2"``.
        stft: the model's STFT (framing of ``mag`` and ``phase``).
        mrstft_floor_db: the MR-STFT term's ``soft_floor_db`` (``None``: no relative floor).
        mrstft_per_example: the MR-STFT term's ``per_example``.
    """

    def __init__(
        self,
        weights: LossWeights,
        fft_sizes: Sequence[int] = (512, 1024, 2048),
        waveform_kind: str = "l1",
        stft: Stft | None = None,
        mrstft_floor_db: float | None = None,
        mrstft_per_example: bool = False,
    ) -> None:
        super().__init__()
        self.weights = weights
        self.stft = stft if stft is not None else Stft()
        self.waveform = WaveformLoss(waveform_kind)
        self.mrstft = MultiResolutionStftLoss(
            fft_sizes, soft_floor_db=mrstft_floor_db, per_example=mrstft_per_example
        )
        self.consistency = StftConsistencyLoss(self.stft)
        self.phase = AntiWrappingPhaseLoss()

    def forward(
        self,
        phase: torch.Tensor,
        mag: torch.Tensor,
        target_audio: torch.Tensor,
        phase_output: str,
        target_spec: torch.Tensor | None = None,
        anchor: torch.Tensor | None = None,
        gain: bool = False,
    ) -> dict[str, torch.Tensor]:
        """All terms and their weighted ``total``.

        Args:
            phase: ``(B, 2, F, T)`` model output.
            mag: ``(B, 1, F, T)`` magnitude the model saw (used for the resynthesis).
            target_audio: ``(B, N)`` target samples with ``T == 1 + N // hop``.
            phase_output: ``"absolute"`` or ``"increment"``.
            target_spec: ``(B, F, T)`` STFT of ``target_audio`` (computed when ``None``).
            anchor: ``(B, F)`` phase of frame 0 for increment integration (the runtime's: the
                analysis phase); the target's phase of frame 0 when ``None``.
            gain: the output's modulus is a magnitude gain (models with a gain head).

        Returns:
            ``{"total", "waveform", "sc", "log_mag", "mrstft", "consistency", "phase",
            "group_delay", "inst_freq"}`` scalars.
        """
        length = target_audio.shape[-1]
        if target_spec is None:
            target_spec = self.stft(target_audio)
        if target_spec.shape[-1] != phase.shape[-1]:
            raise ValueError(
                f"phase has {phase.shape[-1]} frames, target {target_spec.shape[-1]} "
                f"({length} samples)"
            )
        target_angle = torch.angle(target_spec)
        if anchor is None:
            anchor = target_angle[..., 0]
        angle = output_angle(phase, phase_output, anchor=anchor)
        spec = torch.polar(output_magnitude(mag, phase, gain, phase_output == "increment"), angle)
        audio = self.stft.istft(spec, length)
        out: dict[str, torch.Tensor] = {}
        out["waveform"] = self.waveform(audio, target_audio)
        out["sc"], out["log_mag"] = self.mrstft.terms(audio, target_audio)
        out["mrstft"] = out["sc"] + out["log_mag"]
        out["consistency"] = self.consistency(spec, length)
        target_mag = target_spec.abs()
        out["phase"], out["group_delay"], out["inst_freq"] = self.phase.terms(
            angle, target_angle, target_mag
        )
        w = self.weights
        out["total"] = (
            w.waveform * out["waveform"]
            + w.mrstft * out["mrstft"]
            + w.consistency * out["consistency"]
            + w.phase * out["phase"]
            + w.group_delay * out["group_delay"]
            + w.inst_freq * out["inst_freq"]
        )
        return out
