"""Causal conditional U-Net that predicts the phase of each output STFT frame.

Shapes follow ``docs/model-format.md``: ``mag`` ``(B, 1, 1025, T)`` linear magnitude and
``control`` ``(B, n_controls)`` in, ``phase`` ``(B, 2, 1025, T)`` (real, imag; unit length) out.

Streaming: every convolution is causal in time (left zero padding of ``(k_t - 1) * dilation``
frames, nothing on the right) and the network never pools or strides over time; it downsamples
over frequency only (stride 2: 1025 -> 513 -> 257 -> 129 -> 65). Output frame ``t`` therefore
depends on input frames ``t - context_frames + 1 .. t`` only, and running a window of the last
``context_frames`` frames (fewer at the start of a stream) gives exactly the whole-clip output of
its last frame. The per-layer zero padding is also what a state-caching runtime gets by starting
every layer's history buffer at zero: :meth:`PhaseUNet.step` (and :class:`PhaseUNetStep`, the
module that ``export`` writes as ``model.step.onnx``) computes one frame from one state tensor
per causal convolution with time padding, its last ``(k_t - 1) * dilation`` input frames.

Phase output (``phase_output``): ``"increment"`` (default) means frame ``t`` is the unit
rotation from the previous output frame's phase to this one's; the network predicts the deviation
from each bin's centre-frequency advance ``2 pi k hop / n_fft``, which is multiplied in at the end.
``"absolute"`` means the frame's phase itself.

Lock input (``lock_input``, with ``advance_input``): the network also sees ``lock``, the
classical engine's phase minus the analysis phase of each frame, and predicts a per-bin offset
``r_t`` from the classical engine's phase instead of a rotation of its increment. It outputs the
increment ``r_t conj(r_{t-1}) * classical increment``, so the runtime, integrating increments
from the classical engine's state, plays ``classical phase + r_t`` (up to the first frame's
offset): the offset does not drift, and knowing where the classical phase sits relative to the
analysis phase lets the network pull it back towards the input's own phase relations (what the
classical engine's transient reset does, but learned and graded).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from xodvox_train.controls import ControlSpec, control_size, default_controls
from xodvox_train.film import ControlEmbedding, FiLM
from xodvox_train.spectral import HOP, N_FFT, bin_centre_advance

PHASE_OUTPUTS = ("increment", "absolute")
"""Allowed values of :attr:`ModelConfig.phase_output`."""


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of :class:`PhaseUNet`.

    Attributes:
        channels: feature channels per level, full resolution first (one level per entry; each
            level after the first halves the frequency resolution).
        embed_dim: size of the control embedding.
        time_kernel: time extent of encoder and bottleneck kernels (frames, >= 1).
        bottleneck_dilations: time dilations of the bottleneck's residual causal convolutions.
        phase_output: ``"increment"`` or ``"absolute"``.
        advance_input: take the ``advance`` input (the phase vocoder's per-bin advance
            deviation, ``docs/model-format.md``) and predict the increment as a rotation of the
            phase vocoder's increment (requires ``phase_output == "increment"``); the head starts
            at the identity rotation, so an untrained model is a plain phase vocoder.
        lock_input: take the ``lock`` input (classical phase minus analysis phase, wrapped) and
            predict a per-bin offset from the classical phase (requires ``advance_input``;
            adds one frame of context for ``r_{t-1}``).
        gain_db: bound in dB of the magnitude gain head (0 = none, a phase-only model). With
            ``gain_db > 0`` the head has a third channel ``g`` and the output's modulus is the
            gain ``10^(gain_db tanh(g) / 20)`` that the runtime applies to each bin's magnitude
            (``docs/model-format.md``, format version 2); ``g`` starts at exactly 0, so the
            untrained model keeps every magnitude.
        styles: style names of the one-hot ``style`` control.
        log_floor: magnitude added before the log compression.
        n_fft: FFT size (bins = ``n_fft // 2 + 1``).
        hop: hop in samples (sets the bin-centre advance of ``increment`` outputs).
    """

    channels: tuple[int, ...] = (8, 12, 16, 24, 32)
    embed_dim: int = 32
    time_kernel: int = 2
    bottleneck_dilations: tuple[int, ...] = (2, 4)
    phase_output: str = "increment"
    advance_input: bool = False
    lock_input: bool = False
    gain_db: float = 0.0
    styles: tuple[str, ...] = ("rubberband-r3",)
    log_floor: float = 1e-5
    n_fft: int = N_FFT
    hop: int = HOP
    controls: tuple[ControlSpec, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if len(self.channels) < 2 or any(c <= 0 for c in self.channels):
            raise ValueError(f"channels needs >= 2 positive entries, got {self.channels}")
        if self.time_kernel < 1:
            raise ValueError(f"time_kernel must be >= 1, got {self.time_kernel}")
        if any(d < 1 for d in self.bottleneck_dilations):
            raise ValueError(f"bottleneck_dilations must be >= 1, got {self.bottleneck_dilations}")
        if self.phase_output not in PHASE_OUTPUTS:
            raise ValueError(
                f"phase_output must be one of {PHASE_OUTPUTS}, got {self.phase_output}"
            )
        if self.advance_input and self.phase_output != "increment":
            raise ValueError("advance_input needs phase_output = 'increment'")
        if self.lock_input and not self.advance_input:
            raise ValueError("lock_input needs advance_input")
        if not 0.0 <= self.gain_db <= 40.0:
            raise ValueError(f"gain_db must be in [0, 40], got {self.gain_db}")
        if self.log_floor <= 0:
            raise ValueError(f"log_floor must be > 0, got {self.log_floor}")
        if not self.controls:
            object.__setattr__(self, "controls", tuple(default_controls(self.styles)))

    @property
    def num_bins(self) -> int:
        """Number of frequency bins."""
        return self.n_fft // 2 + 1

    @property
    def n_controls(self) -> int:
        """Length of the control vector."""
        return control_size(self.controls)

    @property
    def context_frames(self) -> int:
        """Receptive field in time: output frame t sees input frames t - context_frames + 1 .. t."""
        levels = len(self.channels)  # stem + (levels - 1) downsampling convs
        past = levels * (self.time_kernel - 1)
        past += sum(d * (self.time_kernel - 1) for d in self.bottleneck_dilations)
        if self.lock_input:
            past += 1  # r_{t-1}
        return past + 1

    def to_json(self) -> dict[str, object]:
        """JSON-serialisable form (controls as their metadata entries)."""
        data = asdict(self)
        data["channels"] = list(self.channels)
        data["bottleneck_dilations"] = list(self.bottleneck_dilations)
        data["styles"] = list(self.styles)
        data["controls"] = [c.to_json() for c in self.controls]
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ModelConfig:
        """Inverse of :meth:`to_json` (unknown keys raise ``ValueError``)."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}")
        # JSON/TOML values of any type: the dataclass's __post_init__ validates them.
        kwargs: dict[str, Any] = dict(data)
        for key in ("channels", "bottleneck_dilations", "styles"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        if "controls" in kwargs:
            kwargs["controls"] = tuple(ControlSpec.from_json(c) for c in kwargs["controls"])
        return cls(**kwargs)


class CausalConv2d(nn.Module):
    """2-D convolution over ``(F, T)``: centred in frequency, causal in time.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        freq_kernel: odd kernel size over frequency.
        time_kernel: kernel size over time (frames).
        freq_stride: stride over frequency (time stride is always 1).
        time_dilation: dilation over time.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        freq_kernel: int = 3,
        time_kernel: int = 2,
        freq_stride: int = 1,
        time_dilation: int = 1,
    ) -> None:
        super().__init__()
        if freq_kernel % 2 != 1:
            raise ValueError(f"freq_kernel must be odd, got {freq_kernel}")
        self.time_padding = (time_kernel - 1) * time_dilation
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size=(freq_kernel, time_kernel),
            stride=(freq_stride, 1),
            padding=(freq_kernel // 2, 0),
            dilation=(1, time_dilation),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, F, T)`` -> ``(B, C_out, F', T)``."""
        if self.time_padding:
            x = F.pad(x, (self.time_padding, 0, 0, 0))
        return self.conv(x)

    def step(
        self, x: torch.Tensor, state: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One call over ``T`` new frames with cached history instead of zero padding.

        Args:
            x: ``(B, C_in, F, T)`` the new input frames.
            state: ``(B, C_in, F, time_padding)`` the previous ``time_padding`` input frames
                (zeros at the start of a stream); ``None`` when ``time_padding`` is 0.

        Returns:
            The output ``(B, C_out, F', T)`` and the new state (the last ``time_padding``
            input frames), ``None`` when ``time_padding`` is 0.
        """
        if not self.time_padding:
            return self.conv(x), None
        if state is None:
            raise ValueError("this convolution has time padding and needs its state")
        full = torch.cat([state, x], dim=3)
        return self.conv(full), full[..., full.shape[3] - self.time_padding :]


class FilmBlock(nn.Module):
    """Causal convolution, FiLM, SiLU."""

    def __init__(self, conv: CausalConv2d, embed_dim: int, channels: int) -> None:
        super().__init__()
        self.conv = conv
        self.film = FiLM(embed_dim, channels)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """Applies the block to ``x`` ``(B, C, F, T)`` with control embedding ``(B, E)``."""
        return self.act(self.film(self.conv(x), embedding))

    def step(
        self, x: torch.Tensor, embedding: torch.Tensor, state: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`forward` with the convolution's cached history (:meth:`CausalConv2d.step`)."""
        y, new_state = self.conv.step(x, state)
        return self.act(self.film(y, embedding)), new_state


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    """A convolution's bias (the layers here are all built with one)."""
    if conv.bias is None:
        raise ValueError("convolution has no bias")
    return conv.bias


class PhaseUNet(nn.Module):
    """Conditional U-Net over (frequency x time) predicting unit phase per bin and frame.

    Input features: ``log(mag + log_floor) / 4`` and the normalised bin index (2 channels), plus
    ``cos`` and ``sin`` of the advance deviation when ``config.advance_input`` and of ``lock``
    when ``config.lock_input``.
    """

    advance_cos: torch.Tensor
    advance_sin: torch.Tensor
    bin_position: torch.Tensor

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        ch = config.channels
        kt = config.time_kernel
        e = config.embed_dim
        self.embedding = ControlEmbedding(config.n_controls, e)
        in_channels = 2 + 2 * int(config.advance_input) + 2 * int(config.lock_input)
        self.stem = FilmBlock(CausalConv2d(in_channels, ch[0], 5, kt), e, ch[0])
        self.down = nn.ModuleList(
            FilmBlock(CausalConv2d(ch[i], ch[i + 1], 3, kt, freq_stride=2), e, ch[i + 1])
            for i in range(len(ch) - 1)
        )
        self.bottleneck = nn.ModuleList(
            FilmBlock(CausalConv2d(ch[-1], ch[-1], 3, kt, time_dilation=d), e, ch[-1])
            for d in config.bottleneck_dilations
        )
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(ch[i + 1], ch[i], kernel_size=(3, 1), stride=(2, 1), padding=(1, 0))
            for i in reversed(range(len(ch) - 1))
        )
        self.merge = nn.ModuleList(
            FilmBlock(CausalConv2d(2 * ch[i], ch[i], 3, 1), e, ch[i])
            for i in reversed(range(len(ch) - 1))
        )
        self.head = nn.Conv2d(ch[0], 3 if config.gain_db > 0 else 2, kernel_size=1)
        if config.advance_input:
            # Start at the identity rotation: the untrained model is the phase vocoder.
            nn.init.normal_(self.head.weight, std=1e-3)
            with torch.no_grad():
                _bias(self.head)[:2].copy_(torch.tensor([1.0, 0.0]))
        if config.gain_db > 0:
            # Gain channel at exactly 0 dB: the untrained model keeps every magnitude.
            with torch.no_grad():
                self.head.weight[2:].zero_()
                _bias(self.head)[2:].zero_()
        if config.lock_input:
            # r_{t-1}: a fixed causal convolution that copies the previous frame (zeros before
            # the first frame), so streaming runtimes cache it like any other layer's history.
            self.previous = CausalConv2d(2, 2, freq_kernel=1, time_kernel=2)
            with torch.no_grad():
                self.previous.conv.weight.zero_()
                self.previous.conv.weight[0, 0, 0, 0] = 1.0
                self.previous.conv.weight[1, 1, 0, 0] = 1.0
                _bias(self.previous.conv).zero_()
            self.previous.requires_grad_(False)
        bins = config.num_bins
        advance = bin_centre_advance(config.n_fft, config.hop)
        self.register_buffer("advance_cos", torch.cos(advance).reshape(1, 1, bins, 1))
        self.register_buffer("advance_sin", torch.sin(advance).reshape(1, 1, bins, 1))
        position = torch.linspace(-1.0, 1.0, bins).reshape(1, 1, bins, 1)
        self.register_buffer("bin_position", position)

    @property
    def context_frames(self) -> int:
        """Receptive field in frames (see :attr:`ModelConfig.context_frames`)."""
        return self.config.context_frames

    def forward(
        self,
        mag: torch.Tensor,
        control: torch.Tensor,
        advance: torch.Tensor | None = None,
        lock: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predicts the phase.

        Args:
            mag: ``(B, 1, num_bins, T)`` linear magnitude (>= 0).
            control: ``(B, n_controls)`` control vector (see :mod:`xodvox_train.controls`).
            advance: ``(B, 1, num_bins, T)`` phase-vocoder advance deviation in radians; required
                when ``config.advance_input``, ignored otherwise.
            lock: ``(B, 1, num_bins, T)`` classical phase minus analysis phase in radians;
                required when ``config.lock_input``, ignored otherwise.

        Returns:
            ``(B, 2, num_bins, T)`` (real, imag) of unit length: the phase increment over the
            previous output frame, or the absolute phase, per ``config.phase_output``.
        """
        phase, _ = self._run(mag, control, advance, lock, None)
        return phase

    def step(
        self,
        mag: torch.Tensor,
        control: torch.Tensor,
        advance: torch.Tensor | None,
        states: Sequence[torch.Tensor],
        lock: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Streaming form: the next frame(s) from cached per-layer history.

        ``states`` holds one tensor per causal convolution with time padding, in
        :meth:`state_shapes` order: that layer's last ``(k_t - 1) * dilation`` input frames.
        Starting from :meth:`zero_states` and calling this frame by frame gives the
        whole-clip :meth:`forward` output (the zero states are its zero padding).

        Args:
            mag: ``(B, 1, num_bins, T)``, usually ``T = 1``.
            control: ``(B, n_controls)``.
            advance: ``(B, 1, num_bins, T)`` when ``config.advance_input``, else ignored.
            states: the previous states.
            lock: ``(B, 1, num_bins, T)`` when ``config.lock_input``, else ignored.

        Returns:
            The phase ``(B, 2, num_bins, T)`` and the new states (same shapes).
        """
        if len(states) != len(self.state_shapes()):
            raise ValueError(f"expected {len(self.state_shapes())} states, got {len(states)}")
        phase, new_states = self._run(mag, control, advance, lock, list(states))
        assert new_states is not None
        return phase, new_states

    def state_shapes(self) -> list[tuple[int, int, int]]:
        """``(channels, bins, frames)`` of each state of :meth:`step` (batch first in use): the
        stem, the downsampling and bottleneck convolutions with time padding, then (``lock``
        models) the previous frame's offset ``r_{t-1}``."""
        cfg = self.config
        in_channels = 2 + 2 * int(cfg.advance_input) + 2 * int(cfg.lock_input)
        bins = [cfg.num_bins]
        for _ in range(len(cfg.channels) - 1):
            bins.append((bins[-1] + 1) // 2)
        levels: list[tuple[FilmBlock, int, int]] = [(self.stem, in_channels, bins[0])]
        levels += [
            (block, cfg.channels[i], bins[i])  # type: ignore[misc]
            for i, block in enumerate(self.down)
        ]
        levels += [
            (block, cfg.channels[-1], bins[-1])  # type: ignore[misc]
            for block in self.bottleneck
        ]
        shapes = [(c, f, b.conv.time_padding) for b, c, f in levels if b.conv.time_padding > 0]
        if cfg.lock_input:
            shapes.append((2, cfg.num_bins, self.previous.time_padding))
        return shapes

    def zero_states(self, batch: int = 1) -> list[torch.Tensor]:
        """States at the start of a stream (zeros)."""
        return [torch.zeros(batch, *shape) for shape in self.state_shapes()]

    def _run(
        self,
        mag: torch.Tensor,
        control: torch.Tensor,
        advance: torch.Tensor | None,
        lock: torch.Tensor | None,
        states: list[torch.Tensor] | None,
    ) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """The network, zero-padded (``states is None``) or from cached states."""
        embedding = self.embedding(control)
        feat = torch.log(mag + self.config.log_floor) * 0.25
        position = self.bin_position.expand(mag.shape[0], 1, mag.shape[2], mag.shape[3])
        features = [feat, position]
        if self.config.advance_input:
            if advance is None:
                raise ValueError("this model needs the advance input")
            features += [torch.cos(advance), torch.sin(advance)]
        if self.config.lock_input:
            if lock is None:
                raise ValueError("this model needs the lock input")
            features += [torch.cos(lock), torch.sin(lock)]
        pending = iter(states) if states is not None else None
        new_states: list[torch.Tensor] = []

        def block_call(block: FilmBlock, x: torch.Tensor) -> torch.Tensor:
            if pending is None:
                return block(x, embedding)
            state = next(pending) if block.conv.time_padding else None
            y, new_state = block.step(x, embedding, state)
            if new_state is not None:
                new_states.append(new_state)
            return y

        x = block_call(self.stem, torch.cat(features, dim=1))
        skips = [x]
        for block in self.down:
            x = block_call(block, x)  # type: ignore[arg-type]
            skips.append(x)
        for block in self.bottleneck:
            x = x + block_call(block, x)  # type: ignore[arg-type]
        skips.pop()
        for up, merge in zip(self.up, self.merge, strict=True):
            x = merge(torch.cat([up(x), skips.pop()], dim=1), embedding)
        out = self.head(x)
        re, im = out[:, 0:1], out[:, 1:2]
        norm = torch.rsqrt(re * re + im * im + 1e-12)
        re, im = re * norm, im * norm
        if self.config.lock_input:
            # Offset r_t -> increment r_t conj(r_{t-1}).
            offset = torch.cat([re, im], dim=1)
            if pending is None:
                prev = self.previous(offset)
            else:
                prev, prev_state = self.previous.step(offset, next(pending))
                assert prev_state is not None
                new_states.append(prev_state)
            pre, pim = prev[:, 0:1], prev[:, 1:2]
            re, im = re * pre + im * pim, im * pre - re * pim
        if self.config.phase_output == "increment":
            c, s = self.advance_cos, self.advance_sin
            re, im = re * c - im * s, re * s + im * c
            if self.config.advance_input:
                assert advance is not None
                c, s = torch.cos(advance), torch.sin(advance)
                re, im = re * c - im * s, re * s + im * c
        if self.config.gain_db > 0:
            gain = self.gain(out[:, 2:3])
            re, im = re * gain, im * gain
        return torch.cat([re, im], dim=1), (new_states if states is not None else None)

    def gain(self, g: torch.Tensor) -> torch.Tensor:
        """Bounded magnitude gain ``10^(gain_db tanh(g) / 20)`` of the head's gain channel."""
        scale = self.config.gain_db * math.log(10.0) / 20.0
        return torch.exp(torch.tanh(g) * scale)


class PhaseUNetStep(nn.Module):
    """:meth:`PhaseUNet.step` as a module with flat tensor arguments, for ONNX export.

    ``forward(mag, control, [advance,] [lock,] *states) -> (phase, *new_states)`` with the same
    weights as the wrapped model (nothing is copied or retrained).
    """

    def __init__(self, model: PhaseUNet) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, mag: torch.Tensor, control: torch.Tensor, *rest: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """One frame: ``rest`` is ``advance`` and ``lock`` (models with those inputs), then the
        states."""
        cfg = self.model.config
        advance = rest[0] if cfg.advance_input else None
        lock = rest[1] if cfg.lock_input else None
        states = rest[int(cfg.advance_input) + int(cfg.lock_input) :]
        phase, new_states = self.model.step(mag, control, advance, states, lock)
        return (phase, *new_states)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def flops_per_frame(model: PhaseUNet) -> int:
    """Floating-point operations (2 per multiply-add) of convolutions and linears for one frame.

    Counts one output frame with all time taps (what a state-caching runtime computes per hop);
    element-wise operations are not counted.
    """
    total = 0

    def hook(module: nn.Module, inputs: Sequence[torch.Tensor], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kf, kt = module.kernel_size
            per_out = module.in_channels // module.groups * kf * kt
            total += 2 * per_out * output.shape[1] * output.shape[2]  # per frame
        elif isinstance(module, nn.ConvTranspose2d):
            kf, kt = module.kernel_size
            total += 2 * inputs[0].shape[1] * module.out_channels * inputs[0].shape[2] * kf * kt
        elif isinstance(module, nn.Linear):
            total += 2 * module.in_features * module.out_features

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear)
    ]
    try:
        with torch.no_grad():
            cfg = model.config
            ones = torch.ones(1, 1, cfg.num_bins, 1)
            zeros = torch.zeros_like(ones)
            model(ones, torch.zeros(1, cfg.n_controls), zeros, zeros)
    finally:
        for h in handles:
            h.remove()
    return total
