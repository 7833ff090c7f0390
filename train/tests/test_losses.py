"""Loss properties: zero at identity, growth with perturbation, finite gradients."""

from __future__ import annotations

import math

import pytest
import torch

from xodvox_train.losses import (
    AntiWrappingPhaseLoss,
    LossWeights,
    MultiResolutionStftLoss,
    PhaseVocoderLoss,
    StftConsistencyLoss,
    WaveformLoss,
    anti_wrap,
)
from xodvox_train.spectral import Stft
from xodvox_train.synthesis import output_angle

N = 8192


def signal(batch: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(N) / 48_000
    tones = torch.sin(2 * math.pi * 440.0 * t) + 0.5 * torch.sin(2 * math.pi * 3100.0 * t)
    return 0.3 * tones + 0.05 * torch.randn(batch, N, generator=g)


def noise(seed: int = 5) -> torch.Tensor:
    return torch.randn(2, N, generator=torch.Generator().manual_seed(seed))


SIGNAL_LOSSES = [
    WaveformLoss("l1"),
    WaveformLoss("l2"),
    MultiResolutionStftLoss(),
    MultiResolutionStftLoss(soft_floor_db=-80.0, per_example=True),
]


@pytest.mark.parametrize("loss_fn", SIGNAL_LOSSES)
def test_signal_losses_zero_at_identity_and_monotonic(loss_fn: torch.nn.Module) -> None:
    x = signal()
    assert loss_fn(x, x).item() == 0.0
    values = [loss_fn(x + level * noise(), x).item() for level in (0.001, 0.01, 0.1)]
    assert values[0] > 0
    assert values[0] < values[1] < values[2], f"{type(loss_fn).__name__}: {values}"


@pytest.mark.parametrize("loss_fn", SIGNAL_LOSSES)
def test_signal_losses_have_finite_gradients_even_at_silence(loss_fn: torch.nn.Module) -> None:
    for target in (signal(), torch.zeros(2, N)):
        pred = torch.zeros(2, N, requires_grad=True)
        loss_fn(pred, target).backward()
        assert pred.grad is not None
        assert torch.isfinite(pred.grad).all()


def test_consistency_is_zero_for_real_stft_and_grows_with_phase_noise() -> None:
    stft = Stft()
    loss = StftConsistencyLoss(stft)
    x = signal().double()
    spec = stft(x)
    assert loss(spec, N).item() < 1e-12
    g = torch.Generator().manual_seed(3)
    values = []
    for level in (0.01, 0.1, 1.0):
        jitter = level * torch.randn(spec.shape, generator=g, dtype=torch.float64)
        values.append(loss(spec * torch.polar(torch.ones_like(jitter), jitter), N).item())
    assert values[0] < values[1] < values[2], values
    assert values[2] > 0.1


def test_consistency_gradient_finite() -> None:
    stft = Stft()
    spec = stft(signal()).detach().requires_grad_(True)
    StftConsistencyLoss(stft)(spec * 1.1 + 0.01, N).backward()
    assert spec.grad is not None
    assert torch.isfinite(torch.view_as_real(spec.grad)).all()


def test_anti_wrapping_phase_loss() -> None:
    g = torch.Generator().manual_seed(4)
    target = (torch.rand(2, 65, 20, generator=g) - 0.5) * 2 * math.pi
    mag = torch.rand(2, 65, 20, generator=g)
    loss = AntiWrappingPhaseLoss()
    assert loss(target, target, mag).item() == 0.0
    assert loss(target + 2 * math.pi, target, mag).item() < 1e-5
    shift = torch.randn(target.shape, generator=g)
    values = [loss(target + a * shift, target, mag).item() for a in (0.01, 0.1, 0.5)]
    assert values[0] < values[1] < values[2], values
    pred = (target + 0.3 * shift).requires_grad_(True)
    loss(pred, target, mag).backward()
    assert pred.grad is not None
    assert torch.isfinite(pred.grad).all()
    assert anti_wrap(torch.tensor([3 * math.pi])).item() == pytest.approx(math.pi)


def test_increment_integration_recovers_the_phase() -> None:
    spec = Stft()(signal())
    angle = torch.angle(spec)
    inc = torch.diff(angle, dim=-1, prepend=torch.zeros_like(angle[..., :1]))
    phase = torch.stack([torch.cos(inc), torch.sin(inc)], dim=1)
    for anchor in (None, angle[..., 0]):
        got = output_angle(phase, "increment", anchor)
        assert anti_wrap(got - angle).max().item() < 1e-3


def unit_phase(angle: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)


@pytest.mark.parametrize("phase_output", ["absolute", "increment"])
def test_total_loss_is_zero_for_the_target_phase(phase_output: str) -> None:
    stft = Stft()
    target = signal()
    spec = stft(target)
    angle = torch.angle(spec)
    if phase_output == "increment":
        angle = torch.diff(angle, dim=-1, prepend=torch.zeros_like(angle[..., :1]))
    loss = PhaseVocoderLoss(LossWeights(), stft=stft)
    terms = loss(unit_phase(angle), spec.abs().unsqueeze(1), target, phase_output)
    for name, value in terms.items():
        assert value.item() < 1e-4, f"{phase_output}: {name} = {value.item()}"


def test_total_loss_grows_and_has_finite_gradients() -> None:
    stft = Stft()
    target = signal()
    spec = stft(target)
    loss = PhaseVocoderLoss(LossWeights(), stft=stft)
    mag = spec.abs().unsqueeze(1)
    g = torch.Generator().manual_seed(9)
    jitter = torch.randn(spec.shape, generator=g)
    totals = []
    for level in (0.05, 0.5, 2.0):
        angle = (torch.angle(spec) + level * jitter).requires_grad_(True)
        terms = loss(unit_phase(angle), mag, target, "absolute")
        terms["total"].backward()
        assert angle.grad is not None
        assert torch.isfinite(angle.grad).all()
        totals.append(terms["total"].item())
    assert totals[0] < totals[1] < totals[2], totals


def test_bad_weights_and_kinds_raise() -> None:
    with pytest.raises(ValueError, match="consistency"):
        LossWeights(consistency=-1.0)
    with pytest.raises(ValueError, match="l1"):
        WaveformLoss("huber")


def test_per_example_mrstft_weighs_a_quiet_example_like_a_loud_one() -> None:
    # The same relative error on a quiet and a loud example: per example, scaling one of
    # them changes nothing; over the whole batch the loud one dominates.
    x = signal(batch=1)
    err = x + 0.05 * noise()[:1]
    pred = torch.cat([err, 100.0 * err])
    target = torch.cat([x, 100.0 * x])
    quiet_alone = MultiResolutionStftLoss(per_example=True).terms(err, x)[0]
    per_example = MultiResolutionStftLoss(per_example=True).terms(pred, target)[0]
    assert per_example.item() == pytest.approx(quiet_alone.item(), rel=1e-4)
    shifted = torch.cat([err + 0.05 * noise(7)[:1], 100.0 * err])
    whole = MultiResolutionStftLoss().terms(shifted, target)[0]
    whole_ref = MultiResolutionStftLoss().terms(pred, target)[0]
    assert abs(whole.item() - whole_ref.item()) < 1e-3 * whole_ref.item()
    moved = MultiResolutionStftLoss(per_example=True).terms(shifted, target)[0]
    assert moved.item() > per_example.item() * 1.1


def test_soft_floor_ignores_errors_far_below_the_target_peak() -> None:
    # Noise some 95 dB under two pure tones' peak bins is a large log error without a floor
    # and almost none with the -80 dB relative floor (as with the evaluation's hard floor).
    t = torch.arange(N) / 48_000
    tones = 0.3 * torch.sin(2 * math.pi * 440.0 * t) + 0.15 * torch.sin(2 * math.pi * 3100.0 * t)
    x = tones.repeat(2, 1)
    faint = x + 1e-4 * noise()
    plain = MultiResolutionStftLoss().terms(faint, x)[1].item()
    floored = MultiResolutionStftLoss(soft_floor_db=-80.0).terms(faint, x)[1].item()
    hard = MultiResolutionStftLoss(floor_db=-80.0).terms(faint, x)[1].item()
    loud = MultiResolutionStftLoss(soft_floor_db=-80.0).terms(x + 1e-2 * noise(), x)[1].item()
    assert floored < 0.1 * plain, (floored, plain)
    assert floored < 0.1 * loud, (floored, loud)
    assert hard < 0.1 * plain
    with pytest.raises(ValueError, match="exclude"):
        MultiResolutionStftLoss(floor_db=-80.0, soft_floor_db=-80.0)
