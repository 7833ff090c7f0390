"""Training configuration: TOML files with ``inherit`` (base file + small overrides) and ``--set``.

A config file may name a parent with a top-level ``inherit = "base.toml"`` (relative to the file);
tables are merged key by key, the child winning. ``--set section.key=value`` overrides come last
(``value`` is parsed as a TOML value, or taken as a string when that fails). Unknown sections or
keys raise ``ValueError``. Relative paths in the config (``data.manifest``, ``run.out_dir``) are
relative to the working directory.
"""

from __future__ import annotations

import copy
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from xodvox_train.data import CropConfig
from xodvox_train.losses import LossWeights
from xodvox_train.unet import ModelConfig

SCHEDULES = ("cosine", "constant")
"""Learning-rate schedules after warm-up."""
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
"""``auto``: bf16 on CUDA when supported, else fp16 on CUDA, fp32 on CPU."""


@dataclass(frozen=True)
class DataConfig:
    """Dataset settings.

    Attributes:
        manifest: path of the JSON Lines manifest.
        crop_frames: STFT frames per training example.
        mag_source: ``"target"`` or ``"mapped_input"`` (see ``docs/model-format.md``).
        num_workers: DataLoader worker processes.
        seed: crop RNG seed.
        verify_hashes: check audio SHA-256s when loading the manifest.
        min_target_dbfs: redraw crops whose target is quieter than this (``None``: keep all;
            see :class:`xodvox_train.data.CropConfig`).
        pitch_path: runtime pitch path the ``"runtime"`` features emulate and the exported
            bundle declares: ``"spectral"`` (default) or ``"resample"``.
    """

    manifest: str = "data/manifest.jsonl"
    crop_frames: int = 32
    mag_source: str = "target"
    num_workers: int = 2
    seed: int = 0
    verify_hashes: bool = False
    min_target_dbfs: float | None = None
    pitch_path: str = "spectral"

    def __post_init__(self) -> None:
        self.crop()  # validates
        if self.num_workers < 0:
            raise ValueError(f"data.num_workers must be >= 0, got {self.num_workers}")

    def crop(self) -> CropConfig:
        """The crop settings."""
        return CropConfig(
            self.crop_frames, self.seed, self.mag_source, self.min_target_dbfs, self.pitch_path
        )


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and schedule.

    Attributes:
        lr: peak learning rate of AdamW.
        weight_decay: AdamW weight decay.
        betas: AdamW betas.
        warmup_steps: linear warm-up length.
        schedule: ``"cosine"`` (decay to ``min_lr_ratio * lr`` at the last step) or ``"constant"``.
        min_lr_ratio: final learning rate / peak for the cosine schedule.
        grad_clip: max global gradient norm (0 disables clipping).
        batch_size: examples per step per process.
    """

    lr: float = 5e-4
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)
    warmup_steps: int = 100
    schedule: str = "cosine"
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    batch_size: int = 8

    def __post_init__(self) -> None:
        if not (0 < self.lr < 1 and math.isfinite(self.lr)):
            raise ValueError(f"optim.lr must be in (0, 1), got {self.lr}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"optim.schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.warmup_steps < 0 or self.batch_size <= 0 or self.grad_clip < 0:
            raise ValueError("optim.warmup_steps, grad_clip must be >= 0 and batch_size > 0")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"optim.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")


@dataclass(frozen=True)
class LossConfig:
    """Loss weights and settings (see :class:`xodvox_train.losses.LossWeights`).

    ``mrstft_floor_db`` and ``mrstft_per_example`` are the MR-STFT term's ``soft_floor_db`` and
    ``per_example`` (:class:`xodvox_train.losses.MultiResolutionStftLoss`): with ``-80`` and
    ``true`` the training term is a smooth version of ``xodvox eval``'s measure.
    """

    waveform: float = 1.0
    mrstft: float = 1.0
    consistency: float = 1.0
    phase: float = 0.1
    group_delay: float = 0.5
    inst_freq: float = 1.0
    fft_sizes: tuple[int, ...] = (512, 1024, 2048)
    waveform_kind: str = "l1"
    mrstft_floor_db: float | None = None
    mrstft_per_example: bool = False

    def __post_init__(self) -> None:
        self.weights()  # validates
        floor = self.mrstft_floor_db
        if floor is not None and not (math.isfinite(floor) and floor < 0):
            raise ValueError(f"loss.mrstft_floor_db must be a negative level in dB, got {floor}")
        if not self.fft_sizes or any(n < 16 or n % 4 for n in self.fft_sizes):
            raise ValueError(f"loss.fft_sizes must be multiples of 4 >= 16, got {self.fft_sizes}")
        if self.waveform_kind not in ("l1", "l2"):
            raise ValueError(f"loss.waveform_kind must be 'l1' or 'l2', got {self.waveform_kind}")

    def weights(self) -> LossWeights:
        """The term weights."""
        return LossWeights(
            self.waveform, self.mrstft, self.consistency, self.phase, self.group_delay,
            self.inst_freq,
        )  # fmt: skip


@dataclass(frozen=True)
class RunConfig:
    """Run length, checkpoints, logging.

    Attributes:
        steps: total optimiser steps.
        checkpoint_every: steps between checkpoints (the last step is always saved).
        log_every: steps between TensorBoard scalar logs.
        val_every: steps between validation passes (0: only at the end).
        val_batches: batches per validation pass.
        precision: one of :data:`PRECISIONS`.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        seed: torch seed for the initial weights.
        out_dir: run folder (checkpoints, ``tb/`` logs, ``config.json``).
        progress: show a tqdm progress bar.
        threads: torch CPU threads (0: leave torch's default).
        init_from: checkpoint whose model weights start this run (fine-tuning, e.g. the
            shipped model on your own sounds): the optimiser, schedule and step start
            afresh; the checkpoint's ``[model]`` section must equal this config's. Empty:
            random initial weights. Ignored when the run resumes from its own ``latest.pt``.
    """

    steps: int = 2000
    checkpoint_every: int = 200
    log_every: int = 10
    val_every: int = 200
    val_batches: int = 4
    precision: str = "auto"
    device: str = "auto"
    seed: int = 0
    out_dir: str = "runs/default"
    progress: bool = True
    threads: int = 0
    init_from: str = ""

    def __post_init__(self) -> None:
        if self.steps <= 0 or self.checkpoint_every <= 0 or self.log_every <= 0:
            raise ValueError("run.steps, checkpoint_every and log_every must be > 0")
        if self.val_every < 0 or self.val_batches < 0 or self.threads < 0:
            raise ValueError("run.val_every, val_batches and threads must be >= 0")
        if self.precision not in PRECISIONS:
            raise ValueError(f"run.precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"run.device must be auto, cpu or cuda, got {self.device!r}")


@dataclass(frozen=True)
class TrainConfig:
    """The whole configuration, one attribute per TOML table."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_json(self) -> dict[str, Any]:
        """Plain-dict form (what checkpoints and ``model.json`` record)."""
        out: dict[str, Any] = {"model": self.model.to_json()}
        for name in ("data", "optim", "loss", "run"):
            out[name] = _listify(asdict(getattr(self, name)))
        return out


def _listify(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _listify(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_listify(v) for v in value]
    return value


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_toml(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Reads a TOML config following its ``inherit`` chain.

    Raises:
        ValueError: a missing file, invalid TOML, or an inheritance cycle.
    """
    path = path.resolve()
    if path in _seen:
        raise ValueError(f"config inheritance cycle through {path}")
    if not path.is_file():
        raise ValueError(f"config file {path} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: invalid TOML: {err}") from err
    parent = data.pop("inherit", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ValueError(f"{path}: inherit must be a path string")
    return _merge(read_toml(path.parent / parent, (*_seen, path)), data)


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Applies ``section.key=value`` strings.

    Raises:
        ValueError: an override without ``=`` or without a section.
    """
    out = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or "." not in key:
            raise ValueError(f"override {item!r} must look like section.key=value")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        section, name = key.split(".", 1)
        out.setdefault(section, {})[name] = value
    return out


def _build(cls: type, section: str, values: Mapping[str, Any]) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in [{section}]; known: {sorted(known)}")
    kwargs = {}
    for name, value in values.items():
        kwargs[name] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)


def config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """Builds and validates a :class:`TrainConfig` from merged TOML tables.

    Raises:
        ValueError: unknown tables or keys, or invalid values.
    """
    sections = {"model": ModelConfig, "data": DataConfig, "optim": OptimConfig}
    sections |= {"loss": LossConfig, "run": RunConfig}
    unknown = sorted(set(data) - set(sections))
    if unknown:
        raise ValueError(f"unknown config table(s) {unknown}; known: {sorted(sections)}")
    built: dict[str, Any] = {}  # the section dataclasses, by TrainConfig field name
    for name, cls in sections.items():
        values = dict(data.get(name, {}))
        if name == "model" and "controls" in values:
            built[name] = ModelConfig.from_json(values)
        else:
            built[name] = _build(cls, name, values)
    return TrainConfig(**built)


def load_config(paths: Sequence[Path], overrides: Sequence[str] = ()) -> TrainConfig:
    """Merges config files in order (each may ``inherit``), then ``overrides``."""
    data: dict[str, Any] = {}
    for path in paths:
        data = _merge(data, read_toml(path))
    return config_from_dict(apply_overrides(data, overrides))
