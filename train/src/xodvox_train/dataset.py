"""Random crops of a manifest's examples as a torch ``Dataset``, and deterministic loaders.

Every example is a deterministic function of ``(seed, global index)``: which manifest row, which
channel, where the crop starts. So the batches do not depend on the number of workers, and a run
resumed at step ``s`` sees exactly the batches an uninterrupted run sees from step ``s`` on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from xodvox_train.audio_io import read_segment
from xodvox_train.controls import ControlSpec, build_control_vector
from xodvox_train.manifest import SPLITS, Manifest, ManifestError
from xodvox_train.runtime_port import PITCH_PATHS, mapped_input_magnitude, runtime_features
from xodvox_train.spectral import HOP

MAG_SOURCES = ("target", "mapped_input", "runtime")
"""What magnitude the model is given in training (see ``docs/model-format.md``)."""
MAX_CROP_DRAWS = 8
"""Draws per item before a crop below ``CropConfig.min_target_dbfs`` is kept anyway."""


def rms_dbfs(x: np.ndarray) -> float:
    """RMS level of ``x`` in dBFS (-240 for silence)."""
    return float(10.0 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-24))


@dataclass(frozen=True)
class CropConfig:
    """How examples are cut.

    Attributes:
        crop_frames: STFT frames per example ``T``; the target crop is ``(T - 1) * hop`` samples.
        seed: base seed of the crop RNG.
        mag_source: ``"target"`` or ``"mapped_input"``.
        min_target_dbfs: crops whose target RMS is below this level (dBFS) are drawn again
            (up to ``MAX_CROP_DRAWS`` times, deterministically): near-silent targets make the
            log-magnitude loss explode and tell the model nothing about phase. ``None``: keep all.
        pitch_path: runtime pitch path that ``mag_source == "runtime"`` emulates:
            ``"spectral"`` (default) or ``"resample"`` (:func:`runtime_features`).
    """

    crop_frames: int = 32
    seed: int = 0
    mag_source: str = "target"
    min_target_dbfs: float | None = None
    pitch_path: str = "spectral"

    def __post_init__(self) -> None:
        if self.crop_frames < 2:
            raise ValueError(f"crop_frames must be >= 2, got {self.crop_frames}")
        if self.min_target_dbfs is not None and not np.isfinite(self.min_target_dbfs):
            raise ValueError(f"min_target_dbfs must be finite, got {self.min_target_dbfs}")
        if self.mag_source not in MAG_SOURCES:
            raise ValueError(f"mag_source must be one of {MAG_SOURCES}, got {self.mag_source!r}")
        if self.pitch_path not in PITCH_PATHS:
            raise ValueError(f"pitch_path must be one of {PITCH_PATHS}, got {self.pitch_path!r}")


class CropDataset(Dataset[dict[str, torch.Tensor]]):
    """Random crops of one split; item ``k`` is a pure function of ``(seed, split, k)``.

    Items: ``target`` ``(N,)`` target samples, ``control`` ``(n_controls,)``, ``input_mag``
    ``(1, bins, T)`` (only when ``mag_source == "mapped_input"``; otherwise the training step takes
    ``|STFT(target)|``), ``index`` (the global index).

    Args:
        manifest: the parsed manifest.
        split: which split to draw from.
        controls: control specs of the model (the ``style`` control names the allowed styles).
        crop: crop configuration.
        length: number of items (``len``); indices beyond it are also valid for samplers.
    """

    def __init__(
        self,
        manifest: Manifest,
        split: str,
        controls: Sequence[ControlSpec],
        crop: CropConfig,
        length: int = 1 << 30,
    ) -> None:
        self.manifest = manifest
        self.entries = manifest.split(split)
        if not self.entries:
            raise ManifestError(f"{manifest.path}: split {split!r} has no entries")
        self.split_id = SPLITS.index(split)
        self.crop = crop
        self.length = length
        self.num_samples = (crop.crop_frames - 1) * HOP
        self.controls: list[list[float]] = []
        for entry in self.entries:
            values: dict[str, float | str] = {
                "stretch": entry.stretch,
                "pitch": entry.pitch_semitones,
                "style": entry.style,
            }
            known = {c.name for c in controls}
            try:
                vector = build_control_vector(
                    controls, {k: v for k, v in values.items() if k in known}
                )
            except ValueError as err:
                raise ManifestError(f"{manifest.path}: entry {entry.id!r}: {err}") from err
            self.controls.append(vector)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.crop.seed, self.split_id, index])
        floor = self.crop.min_target_dbfs
        for _ in range(MAX_CROP_DRAWS):
            item = self.draw(rng, index)
            if floor is None or rms_dbfs(item["target"].numpy()) >= floor:
                break
        return item

    def draw(self, rng: np.random.Generator, index: int) -> dict[str, torch.Tensor]:
        """One crop drawn with ``rng`` (see the class docstring for the items)."""
        which = int(rng.integers(len(self.entries)))
        entry = self.entries[which]
        channel = int(rng.integers(entry.channels))
        n = self.num_samples
        latest = max(entry.num_frames_target - n, 0) // HOP
        first_frame = int(rng.integers(latest + 1))
        start = first_frame * HOP
        target_path = self.manifest.audio_path(entry.target)
        if self.crop.mag_source == "runtime":
            if self.crop.pitch_path == "resample":
                # Frames of the pre-resampling (stretch x pitch ratio) timeline.
                q = 2.0 ** (entry.pitch_semitones / 12.0)
                latest = max(round(entry.num_frames_target * q) - n, 0) // HOP
                first_frame = int(rng.integers(latest + 1))
            try:
                feats = runtime_features(
                    self.manifest.audio_path(entry.input),
                    target_path,
                    first_frame,
                    self.crop.crop_frames,
                    entry.stretch,
                    entry.pitch_semitones,
                    pitch_path=self.crop.pitch_path,
                )
            except (RuntimeError, OSError) as err:
                raise ManifestError(f"{self.manifest.path}: entry {entry.id!r}: {err}") from err
            return {
                "target": torch.from_numpy(feats["target"]),
                "control": torch.tensor(self.controls[which], dtype=torch.float32),
                "index": torch.tensor(index),
                "input_mag": torch.from_numpy(feats["mag"]),
                "advance": torch.from_numpy(feats["advance"]),
                "lock": torch.from_numpy(feats["lock"]),
                "anchor": torch.from_numpy(feats["anchor"]),
            }
        try:
            target = read_segment(target_path, start, n, channel)
            item = {
                "target": torch.from_numpy(target),
                "control": torch.tensor(self.controls[which], dtype=torch.float32),
                "index": torch.tensor(index),
            }
            if self.crop.mag_source == "mapped_input":
                mag = mapped_input_magnitude(
                    self.manifest.audio_path(entry.input),
                    channel,
                    first_frame,
                    self.crop.crop_frames,
                    entry.stretch,
                    entry.pitch_semitones,
                )
                item["input_mag"] = torch.from_numpy(mag)
        except (RuntimeError, OSError) as err:
            raise ManifestError(f"{self.manifest.path}: entry {entry.id!r}: {err}") from err
        return item


class StepSampler(Sampler[int]):
    """Yields global example indices for batches ``start_batch .. start_batch + num_batches``.

    Batch ``b`` of rank ``r`` holds indices ``(b * world_size + r) * batch_size + j``, so ranks
    never share an example and a resumed run continues the same sequence.
    """

    def __init__(
        self,
        batch_size: int,
        start_batch: int = 0,
        num_batches: int | None = None,
        world_size: int = 1,
        rank: int = 0,
    ) -> None:
        if batch_size <= 0 or world_size <= 0 or not 0 <= rank < world_size:
            raise ValueError(f"bad sampler setup: batch {batch_size}, rank {rank}/{world_size}")
        self.batch_size = batch_size
        self.start_batch = start_batch
        self.num_batches = num_batches
        self.world_size = world_size
        self.rank = rank

    def __iter__(self) -> Iterator[int]:
        b = self.start_batch
        while self.num_batches is None or b < self.start_batch + self.num_batches:
            base = (b * self.world_size + self.rank) * self.batch_size
            yield from range(base, base + self.batch_size)
            b += 1

    def __len__(self) -> int:
        if self.num_batches is None:
            raise TypeError("infinite sampler has no length")
        return self.num_batches * self.batch_size


def make_loader(
    dataset: CropDataset,
    batch_size: int,
    start_batch: int = 0,
    num_batches: int | None = None,
    num_workers: int = 0,
    world_size: int = 1,
    rank: int = 0,
) -> DataLoader[dict[str, torch.Tensor]]:
    """Deterministic loader over :class:`StepSampler` indices."""
    sampler = StepSampler(batch_size, start_batch, num_batches, world_size, rank)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=True,
        persistent_workers=False,
    )
