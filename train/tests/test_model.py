"""Phase U-Net: shapes, unit phase, FiLM conditioning, causality and streaming equivalence."""

from __future__ import annotations

import pytest
import torch

from xodvox_train.controls import ControlSpec, build_control_vector, default_controls
from xodvox_train.unet import (
    ModelConfig,
    PhaseUNet,
    PhaseUNetStep,
    count_parameters,
    flops_per_frame,
)

STYLES = ("rubberband-r3", "rubberband-r2", "sox")


def make_model(**kwargs: object) -> PhaseUNet:
    torch.manual_seed(0)
    return PhaseUNet(ModelConfig(styles=STYLES, **kwargs)).eval()  # type: ignore[arg-type]


def random_inputs(model: PhaseUNet, frames: int, batch: int = 2) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(1)
    mag = torch.rand(batch, 1, model.config.num_bins, frames, generator=g) ** 4 * 30.0
    control = torch.tensor(
        [
            build_control_vector(model.config.controls, {"stretch": 1.5, "pitch": 3.0}),
            build_control_vector(model.config.controls, {"stretch": 0.5, "style": "sox"}),
        ][:batch]
    )
    return mag, control


def test_shapes_dtype_and_unit_length() -> None:
    model = make_model()
    mag, control = random_inputs(model, 7)
    assert control.shape == (2, 2 + len(STYLES))
    phase = model(mag, control)
    assert phase.shape == (2, 2, 1025, 7)
    assert phase.dtype == torch.float32
    norm = phase.pow(2).sum(dim=1).sqrt()
    assert torch.allclose(norm, torch.ones_like(norm), atol=1e-5)


def test_default_model_is_small() -> None:
    model = make_model()
    assert 10_000 < count_parameters(model) < 500_000
    flops = flops_per_frame(model)
    assert flops < 10_000_000, f"{flops} FLOP per frame exceeds the 10 MFLOP budget"


def test_film_changes_the_output() -> None:
    model = make_model()
    mag, control = random_inputs(model, 5, batch=1)
    other = torch.tensor([build_control_vector(model.config.controls, {"style": "sox"})])
    with torch.no_grad():
        a, b = model(mag, control), model(mag, other)
    assert (a - b).abs().max().item() > 1e-3


@pytest.mark.parametrize("phase_output", ["increment", "absolute"])
def test_streaming_window_equals_whole_clip(phase_output: str) -> None:
    model = make_model(phase_output=phase_output)
    ctx = model.context_frames
    frames = ctx + 9
    mag, control = random_inputs(model, frames)
    with torch.no_grad():
        whole = model(mag, control)
        for t in range(frames):
            window = mag[..., max(0, t - ctx + 1) : t + 1]
            last = model(window, control)[..., -1]
            err = (last - whole[..., t]).abs().max().item()
            assert err < 1e-5, f"frame {t} (context {ctx}): streaming differs by {err}"


def test_context_frames_is_the_exact_receptive_field() -> None:
    model = make_model()
    ctx = model.context_frames
    frames = ctx + 4
    mag, control = random_inputs(model, frames, batch=1)
    bumped = mag.clone()
    bumped[..., 2] += 5.0
    with torch.no_grad():
        diff = (model(bumped, control) - model(mag, control)).abs().amax(dim=(0, 1, 2))
    assert torch.all(diff[:2] == 0), "output depends on a future frame (not causal)"
    assert torch.all(diff[2 : 2 + ctx] > 0), "a frame inside the receptive field has no effect"
    assert torch.all(diff[2 + ctx :] == 0), f"receptive field larger than context_frames={ctx}"


def test_increment_output_rotates_by_bin_centre_advance() -> None:
    inc = make_model(phase_output="increment")
    ab = make_model(phase_output="absolute")
    ab.load_state_dict(inc.state_dict())
    mag, control = random_inputs(inc, 3, batch=1)
    with torch.no_grad():
        zi = torch.complex(*inc(mag, control).unbind(1))
        za = torch.complex(*ab(mag, control).unbind(1))
    k = torch.arange(1025, dtype=torch.float64)
    rot = torch.polar(torch.ones_like(k), 2 * torch.pi * k * 512 / 2048).to(torch.complex64)
    assert torch.allclose(zi, za * rot[:, None], atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"channels": (8,)}, "channels"),
        ({"time_kernel": 0}, "time_kernel"),
        ({"phase_output": "delta"}, "phase_output"),
        ({"bottleneck_dilations": (0,)}, "dilations"),
    ],
)
def test_bad_model_config_raises(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ModelConfig(**kwargs)  # type: ignore[arg-type]


def test_model_config_json_round_trip() -> None:
    cfg = ModelConfig(styles=STYLES, channels=(4, 8, 8))
    again = ModelConfig.from_json(cfg.to_json())
    assert again == cfg
    assert [c.to_json() for c in again.controls] == [c.to_json() for c in cfg.controls]
    with pytest.raises(ValueError, match="unknown model config keys"):
        ModelConfig.from_json({**cfg.to_json(), "bogus": 1})


def test_control_vector_builder() -> None:
    specs = default_controls(STYLES)
    vec = build_control_vector(specs, {"stretch": 2.0, "pitch": -6.0, "style": "sox"})
    assert vec == [1.0, -0.5, 0.0, 0.0, 1.0]
    assert build_control_vector(specs, {}) == [0.0, 0.0, 1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="stretch"):
        build_control_vector(specs, {"stretch": 8.0})
    with pytest.raises(ValueError, match="unknown controls"):
        build_control_vector(specs, {"gain": 1.0})
    with pytest.raises(ValueError, match="not one of"):
        build_control_vector(specs, {"style": "elastique"})
    assert [ControlSpec.from_json(s.to_json()) for s in specs] == specs


def test_advance_model_starts_as_the_phase_vocoder() -> None:
    """With the advance input, the untrained increment is the phase vocoder's (identity head)."""
    model = make_model(advance_input=True)
    mag, control = random_inputs(model, 5)
    g = torch.Generator().manual_seed(3)
    advance = (torch.rand(mag.shape, generator=g) * 2 - 1) * torch.pi
    with torch.no_grad():
        phase = model(mag, control, advance)
    bins = torch.arange(model.config.num_bins, dtype=torch.float32).reshape(1, 1, -1, 1)
    expected = advance + 2 * torch.pi * bins * model.config.hop / model.config.n_fft
    got = torch.atan2(phase[:, 1:2], phase[:, 0:1])
    error = torch.angle(torch.polar(torch.ones_like(got), got - expected))
    assert error.abs().max() < 0.05, error.abs().max()
    with pytest.raises(ValueError, match="advance input"):
        model(mag, control)


def test_advance_model_streams_like_the_whole_clip() -> None:
    model = make_model(advance_input=True)
    frames = model.context_frames + 6
    mag, control = random_inputs(model, frames)
    advance = torch.sin(torch.arange(frames, dtype=torch.float32) * 0.7).expand_as(mag).clone()
    with torch.no_grad():
        whole = model(mag, control, advance)
        for t in range(frames):
            lo = max(0, t + 1 - model.context_frames)
            window = model(mag[..., lo : t + 1], control, advance[..., lo : t + 1])
            torch.testing.assert_close(window[..., -1], whole[..., t], atol=1e-5, rtol=0)


def test_lock_model_starts_as_the_phase_vocoder_and_streams() -> None:
    """With ``lock``, the untrained increment is still the phase vocoder's (r_t = 1) after the
    first frame; a trained-like head (random weights) streams exactly like the whole clip with
    one more frame of context (r_{t-1})."""
    model = make_model(advance_input=True, lock_input=True)
    assert model.context_frames == make_model(advance_input=True).context_frames + 1
    frames = model.context_frames + 5
    mag, control = random_inputs(model, frames)
    g = torch.Generator().manual_seed(3)
    advance = (torch.rand(mag.shape, generator=g) * 2 - 1) * torch.pi
    lock = (torch.rand(mag.shape, generator=g) * 2 - 1) * torch.pi
    with torch.no_grad():
        phase = model(mag, control, advance, lock)
    bins = torch.arange(model.config.num_bins, dtype=torch.float32).reshape(1, 1, -1, 1)
    expected = advance + 2 * torch.pi * bins * model.config.hop / model.config.n_fft
    got = torch.atan2(phase[:, 1:2], phase[:, 0:1])
    error = torch.angle(torch.polar(torch.ones_like(got), got - expected))[..., 1:]
    assert error.abs().max() < 0.05, error.abs().max()
    with pytest.raises(ValueError, match="lock input"):
        model(mag, control, advance)
    with pytest.raises(ValueError, match="needs advance_input"):
        ModelConfig(styles=STYLES, lock_input=True)
    torch.nn.init.normal_(model.head.weight, std=0.5)  # offsets that vary over time
    with torch.no_grad():
        whole = model(mag, control, advance, lock)
        for t in range(frames):
            lo = max(0, t + 1 - model.context_frames)
            sl = slice(lo, t + 1)
            window = model(mag[..., sl], control, advance[..., sl], lock[..., sl])
            torch.testing.assert_close(window[..., -1], whole[..., t], atol=1e-5, rtol=0)
        short = model(mag[..., 1:], control, advance[..., 1:], lock[..., 1:])
    drift = (short[..., -1] - whole[..., -1]).abs().max()
    assert drift < 1e-5, "the last frame must not depend on frames beyond the context"


def test_lock_offsets_integrate_to_the_classical_phase_plus_offset() -> None:
    """Integrating the lock model's increments from the classical phase gives
    ``classical + r_t - r_0``: the offset does not accumulate."""
    model = make_model(advance_input=True, lock_input=True)
    torch.nn.init.normal_(model.head.weight, std=0.5)
    frames = 9
    mag, control = random_inputs(model, frames, batch=1)
    advance = torch.zeros_like(mag)
    lock = torch.zeros_like(mag)
    with torch.no_grad():
        phase = model(mag, control, advance, lock)
        head = model.head
        captured: list[torch.Tensor] = []
        handle = head.register_forward_hook(lambda m, i, o: captured.append(o))
        model(mag, control, advance, lock)
        handle.remove()
    offset = torch.atan2(captured[0][:, 1:2], captured[0][:, 0:1])
    bins = torch.arange(model.config.num_bins, dtype=torch.float32).reshape(1, 1, -1, 1)
    centre = 2 * torch.pi * bins * model.config.hop / model.config.n_fft
    step = torch.atan2(phase[:, 1:2], phase[:, 0:1]) - centre
    integrated = torch.cumsum(step[..., 1:], dim=-1)
    expected = offset[..., 1:] - offset[..., :1]
    error = torch.angle(torch.polar(torch.ones_like(expected), integrated - expected))
    assert error.abs().max() < 1e-2  # float32 rounding; accumulating offsets would be O(1)


TINY = {"channels": (4, 8, 8), "embed_dim": 8, "bottleneck_dilations": (2,)}
"""The tiny fixture's architecture (``configs/tiny.toml``); the default is ``ModelConfig()``'s."""


@pytest.mark.parametrize("arch", ["tiny", "default"])
@pytest.mark.parametrize("advance_input", [False, True])
def test_step_from_zero_states_equals_whole_clip(arch: str, advance_input: bool) -> None:
    model = make_model(advance_input=advance_input, **(TINY if arch == "tiny" else {}))
    ctx = model.context_frames
    frames = 2 * ctx + 5
    mag, control = random_inputs(model, frames)
    g = torch.Generator().manual_seed(2)
    advance = (torch.rand(mag.shape, generator=g) * 2.0 - 1.0) * torch.pi
    adv = advance if advance_input else None
    states = model.zero_states(batch=2)
    assert [tuple(s.shape[1:]) for s in states] == model.state_shapes()
    # One state per causal convolution with time padding: the stem, every downsampling
    # level, every bottleneck dilation (time_kernel 2).
    assert len(states) == len(model.config.channels) + len(model.config.bottleneck_dilations)
    with torch.no_grad():
        whole = model(mag, control, adv)
        for t in range(frames):
            frame_adv = advance[..., t : t + 1] if advance_input else None
            phase, states = model.step(mag[..., t : t + 1], control, frame_adv, states)
            assert phase.shape == (2, 2, model.config.num_bins, 1)
            err = (phase[..., 0] - whole[..., t]).abs().max().item()
            assert err < 1e-5, f"{arch} frame {t}: step differs from the whole clip by {err}"
    # The states hold real history: stepping on from zero states again gives a different frame.
    with torch.no_grad():
        fresh, _ = model.step(
            mag[..., -1:],
            control,
            advance[..., -1:] if advance_input else None,
            model.zero_states(batch=2),
        )
    assert (fresh[..., 0] - whole[..., -1]).abs().max().item() > 1e-4


def test_step_module_flattens_the_arguments() -> None:
    model = make_model(advance_input=True, **TINY)
    step = PhaseUNetStep(model)
    mag, control = random_inputs(model, 1, batch=1)
    advance = torch.full_like(mag, 0.3)
    states = model.zero_states()
    with torch.no_grad():
        out = step(mag, control, advance, *states)
        phase, new_states = model.step(mag, control, advance, states)
    assert len(out) == 1 + len(states)
    assert torch.equal(out[0], phase)
    for a, b in zip(out[1:], new_states, strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="states"):
        model.step(mag, control, advance, states[:-1])


def test_lock_model_steps_like_the_whole_clip() -> None:
    """The ``lock`` model's step form carries ``r_{t-1}`` as its last state."""
    model = make_model(advance_input=True, lock_input=True)
    torch.nn.init.normal_(model.head.weight, std=0.5)  # offsets that vary over time
    frames = model.context_frames + 6
    mag, control = random_inputs(model, frames)
    g = torch.Generator().manual_seed(4)
    advance = (torch.rand(mag.shape, generator=g) * 2.0 - 1.0) * torch.pi
    lock = (torch.rand(mag.shape, generator=g) * 2.0 - 1.0) * torch.pi
    states = model.zero_states(batch=2)
    assert model.state_shapes()[-1] == (2, model.config.num_bins, 1)
    assert model.state_shapes()[0][0] == 6  # stem input: mag, position, advance, lock
    with torch.no_grad():
        whole = model(mag, control, advance, lock)
        for t in range(frames):
            sl = slice(t, t + 1)
            phase, states = model.step(
                mag[..., sl], control, advance[..., sl], states, lock[..., sl]
            )
            err = (phase[..., 0] - whole[..., t]).abs().max().item()
            assert err < 1e-5, f"frame {t}: step differs from the whole clip by {err}"


def test_gain_head_starts_at_unity_and_keeps_the_phase_model() -> None:
    """``gain_db > 0``: the untrained gain channel is exactly 0 dB, and the phase is the same
    as the phase-only model with the same weights."""
    plain = make_model(advance_input=True, lock_input=True)
    model = make_model(advance_input=True, lock_input=True, gain_db=12.0)
    torch.nn.init.normal_(plain.head.weight, std=0.5)  # a phase that varies
    with torch.no_grad():
        for name, p in plain.state_dict().items():
            model.state_dict()[name][: p.shape[0]].copy_(p)  # the gain channel stays at 0
    frames = model.context_frames + 3
    mag, control = random_inputs(model, frames)
    g = torch.Generator().manual_seed(5)
    advance = (torch.rand(mag.shape, generator=g) * 2 - 1) * torch.pi
    lock = (torch.rand(mag.shape, generator=g) * 2 - 1) * torch.pi
    with torch.no_grad():
        out = model(mag, control, advance, lock)
        ref = plain(mag, control, advance, lock)
    # Frame 0 of a lock model has no r_{t-1} (zero padding: modulus 0; the runtime anchors it).
    modulus = torch.sqrt(out[:, 0] ** 2 + out[:, 1] ** 2)[..., 1:]
    assert (modulus - 1.0).abs().max() < 1e-6
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize("scale", [0.5, 50.0])
def test_gain_is_bounded_for_any_input(scale: float) -> None:
    """With random (large) head weights the modulus stays within +-gain_db, finite."""
    model = make_model(advance_input=True, gain_db=12.0)
    torch.nn.init.normal_(model.head.weight, std=scale)
    frames = model.context_frames + 2
    mag, control = random_inputs(model, frames)
    mag = mag * 1e4
    advance = torch.zeros_like(mag)
    with torch.no_grad():
        out = model(mag, control, advance)
    db = 20 * torch.log10(torch.sqrt(out[:, 0] ** 2 + out[:, 1] ** 2))
    assert torch.isfinite(db).all()
    assert db.max() <= 12.0 + 1e-4
    assert db.min() >= -12.0 - 1e-4
    assert db.abs().max() > 1.0, "random weights must move the gain"


def test_gain_model_steps_like_the_whole_clip() -> None:
    """The gain head streams: step from zero states equals the whole clip (modulus included)."""
    model = make_model(advance_input=True, lock_input=True, gain_db=12.0)
    torch.nn.init.normal_(model.head.weight, std=0.5)
    frames = model.context_frames + 4
    mag, control = random_inputs(model, frames)
    g = torch.Generator().manual_seed(6)
    advance = (torch.rand(mag.shape, generator=g) * 2.0 - 1.0) * torch.pi
    lock = (torch.rand(mag.shape, generator=g) * 2.0 - 1.0) * torch.pi
    states = model.zero_states(batch=2)
    with torch.no_grad():
        whole = model(mag, control, advance, lock)
        for t in range(frames):
            sl = slice(t, t + 1)
            out, states = model.step(mag[..., sl], control, advance[..., sl], states, lock[..., sl])
            err = (out[..., 0] - whole[..., t]).abs().max().item()
            assert err < 1e-5, f"frame {t}: step differs from the whole clip by {err}"
    with pytest.raises(ValueError, match="gain_db"):
        ModelConfig(styles=STYLES, gain_db=-1.0)
