"""Training loop: ``xodvox-train fit --config CONFIG.toml [--set section.key=value ...]``.

AdamW with linear warm-up then cosine (or constant) learning rate, gradient clipping,
``torch.autocast`` (bf16/fp16) on CUDA and plain fp32 on CPU, checkpoints every N steps with
exact resume (model, optimiser, schedule and RNG state; the data order is a function of the step),
TensorBoard logs (losses, validation metrics, audio, spectrograms), a tqdm bar, and
DistributedDataParallel when started by ``torchrun`` with ``WORLD_SIZE > 1``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from xodvox_train.config import TrainConfig, config_from_dict, load_config
from xodvox_train.data import CropDataset, load_manifest, make_loader
from xodvox_train.losses import PhaseVocoderLoss
from xodvox_train.spectral import Stft
from xodvox_train.synthesis import output_angle, output_magnitude
from xodvox_train.unet import PhaseUNet

CHECKPOINT_FORMAT = "xodvox-checkpoint"
"""Value of a checkpoint's ``format`` key."""
CHECKPOINT_VERSION = 1
"""Version of the checkpoint layout."""
LATEST = "latest.pt"
"""File name of the newest checkpoint in ``out_dir/checkpoints``."""


def git_commit(cwd: Path | None = None) -> str:
    """``git rev-parse HEAD`` (``-dirty`` if tracked files in ``train/`` changed), or ``unknown``.

    Looks in ``cwd``, by default the folder of this source file (the code's own checkout for an
    editable install). Only the training package's own folder counts for ``-dirty``: other
    people's uncommitted work elsewhere in the checkout does not change what was trained.
    """
    cwd = cwd if cwd is not None else Path(__file__).resolve().parent
    package_root = str(Path(__file__).resolve().parents[2])
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", package_root],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}-dirty" if dirty else head


def lr_factor(step: int, config: TrainConfig) -> float:
    """Learning-rate multiplier at ``step`` (0-based): linear warm-up, then the schedule."""
    optim = config.optim
    if step < optim.warmup_steps:
        return (step + 1) / optim.warmup_steps
    if optim.schedule == "constant":
        return 1.0
    span = max(config.run.steps - optim.warmup_steps, 1)
    progress = min((step - optim.warmup_steps) / span, 1.0)
    return optim.min_lr_ratio + (1 - optim.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass
class Distributed:
    """Process-group facts (``world_size`` 1 when not under ``torchrun``)."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this process logs and writes checkpoints."""
        return self.rank == 0


def init_distributed(device_kind: str) -> Distributed:
    """Joins the process group when ``WORLD_SIZE > 1`` (NCCL on CUDA, Gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_kind == "cuda" else "gloo")
    return Distributed(world, rank, local)


def pick_device(config: TrainConfig, ddp: Distributed) -> torch.device:
    """The device of this process."""
    want = config.run.device
    if want == "cuda" or (want == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ValueError("run.device = 'cuda' but CUDA is not available")
        return torch.device("cuda", ddp.local_rank)
    return torch.device("cpu")


def autocast_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """Autocast dtype, or ``None`` for plain fp32 (always on CPU)."""
    precision = config.run.precision
    if device.type != "cuda" or precision == "fp32":
        return None
    if precision == "bf16" or (precision == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


@dataclass
class TrainState:
    """Everything that changes during training."""

    model: PhaseUNet
    optimizer: torch.optim.AdamW
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    step: int = 0
    val_metrics: dict[str, float] | None = None


def build_state(config: TrainConfig, device: torch.device) -> TrainState:
    """Fresh model (seeded), optimiser and schedule."""
    torch.manual_seed(config.run.seed)
    model = PhaseUNet(config.model).to(device)
    optim = config.optim
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=optim.lr, betas=optim.betas, weight_decay=optim.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, config))
    scaler = torch.amp.GradScaler(
        device.type, enabled=autocast_dtype(config, device) == torch.float16
    )
    return TrainState(model, optimizer, scheduler, scaler)


def checkpoint_dir(config: TrainConfig) -> Path:
    """``out_dir/checkpoints``."""
    return Path(config.run.out_dir) / "checkpoints"


def save_checkpoint(
    state: TrainState, config: TrainConfig, manifest_sha256: str, directory: Path
) -> Path:
    """Writes ``step_XXXXXXXX.pt`` and ``latest.pt`` atomically; returns the step file."""
    directory.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "step": state.step,
        "config": config.to_json(),
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict(),
        "scaler": state.scaler.state_dict(),
        "rng": {
            "torch": torch.get_rng_state(),
            "numpy": np.random.get_state(),
            "python": random.getstate(),
        },
        "data_manifest_sha256": manifest_sha256,
        "git_commit": git_commit(),
        "val_metrics": state.val_metrics,
    }
    path = directory / f"step_{state.step:08d}.pt"
    tmp = directory / f".{path.name}.tmp"
    torch.save(payload, tmp)
    tmp.replace(path)
    latest_tmp = directory / f".{LATEST}.tmp"
    torch.save(payload, latest_tmp)
    latest_tmp.replace(directory / LATEST)
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Reads a checkpoint and checks its format.

    Raises:
        ValueError: not a file, or not an XodVox checkpoint of a known version.
    """
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an XodVox checkpoint")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path}: checkpoint version {payload.get('version')}, expected {CHECKPOINT_VERSION}"
        )
    return payload


def restore(state: TrainState, payload: dict[str, Any]) -> None:
    """Loads a checkpoint payload into ``state``."""
    state.model.load_state_dict(payload["model"])
    state.optimizer.load_state_dict(payload["optimizer"])
    state.scheduler.load_state_dict(payload["scheduler"])
    state.scaler.load_state_dict(payload["scaler"])
    torch.set_rng_state(payload["rng"]["torch"])
    np.random.set_state(payload["rng"]["numpy"])
    random.setstate(payload["rng"]["python"])
    state.step = int(payload["step"])
    state.val_metrics = payload.get("val_metrics")


def model_from_checkpoint(payload: dict[str, Any]) -> tuple[PhaseUNet, TrainConfig]:
    """The trained model (eval mode, CPU) and its config."""
    config = config_from_dict(payload["config"])
    model = PhaseUNet(config.model)
    model.load_state_dict(payload["model"])
    return model.eval(), config


class Trainer:
    """One training run (one process of a DDP group)."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.ddp = init_distributed("cuda" if torch.cuda.is_available() else "cpu")
        self.device = pick_device(config, self.ddp)
        if config.run.threads:
            torch.set_num_threads(config.run.threads)
        self.manifest = load_manifest(
            Path(config.data.manifest), verify_hashes=config.data.verify_hashes
        )
        controls = config.model.controls
        crop = config.data.crop()
        self.train_set = CropDataset(self.manifest, "train", controls, crop)
        self.val_set = (
            CropDataset(self.manifest, "val", controls, crop)
            if self.manifest.split("val")
            else None
        )
        self.state = build_state(config, self.device)
        self.stft = Stft().to(self.device)
        self.loss = PhaseVocoderLoss(
            config.loss.weights(),
            config.loss.fft_sizes,
            config.loss.waveform_kind,
            self.stft,
            mrstft_floor_db=config.loss.mrstft_floor_db,
            mrstft_per_example=config.loss.mrstft_per_example,
        ).to(self.device)
        self.amp_dtype = autocast_dtype(config, self.device)
        self.writer: Any = None

    @property
    def out_dir(self) -> Path:
        """The run folder."""
        return Path(self.config.run.out_dir)

    def resume_if_possible(self) -> bool:
        """Restores ``out_dir/checkpoints/latest.pt`` when it exists; returns whether it did."""
        latest = checkpoint_dir(self.config) / LATEST
        if not latest.is_file():
            return False
        payload = load_checkpoint(latest)
        if payload["config"] != self.config.to_json():
            raise ValueError(
                f"{latest} was written with another config; use a new run.out_dir or the same "
                "config to resume"
            )
        restore(self.state, payload)
        return True

    def init_from_checkpoint(self, path: Path) -> None:
        """Loads the model weights of the checkpoint at ``path`` (fine-tuning); the optimiser,
        schedule and step stay fresh.

        Raises:
            ValueError: not an XodVox checkpoint, or one of another model architecture.
        """
        payload = load_checkpoint(path)
        theirs = payload["config"].get("model")
        ours = self.config.to_json()["model"]
        if theirs != ours:
            diff = sorted(
                k for k in set(ours) | set(theirs or {}) if (theirs or {}).get(k) != ours.get(k)
            )
            raise ValueError(
                f"{path}: another model architecture (differs in model.{', model.'.join(diff)})"
            )
        self.state.model.load_state_dict(payload["model"])

    def batch_inputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """``(mag, control, target_audio, target_spec)`` on the device."""
        target = batch["target"].to(self.device)
        target_spec = self.stft(target)
        if "input_mag" in batch:
            mag = batch["input_mag"].to(self.device)
        else:
            mag = target_spec.abs().unsqueeze(1)
        return mag, batch["control"].to(self.device), target, target_spec

    def runtime_inputs(
        self, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """``(advance, lock, anchor)`` on the device when the batch has them (``runtime``
        source)."""

        def get(key: str) -> torch.Tensor | None:
            return batch[key].to(self.device) if key in batch else None

        return get("advance"), get("lock"), get("anchor")

    def compute_loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Loss terms (fp32) and the predicted phase for one batch."""
        mag, control, target, target_spec = self.batch_inputs(batch)
        advance, lock, anchor = self.runtime_inputs(batch)
        if self.config.model.advance_input and advance is None:
            raise ValueError("model.advance_input needs data.mag_source = 'runtime'")
        amp = (
            torch.autocast(self.device.type, dtype=self.amp_dtype)
            if self.amp_dtype is not None
            else contextlib.nullcontext()
        )
        with amp:
            phase = model(mag, control, advance, lock)
        phase = phase.float()
        terms = self.loss(
            phase,
            mag,
            target,
            self.config.model.phase_output,
            target_spec,
            anchor=anchor,
            gain=self.config.model.gain_db > 0,
        )
        return terms, phase

    def validate(self) -> dict[str, float]:
        """Mean loss terms over ``run.val_batches`` fixed validation batches."""
        if self.val_set is None or self.config.run.val_batches == 0:
            return {}
        model = self.state.model
        model.eval()
        sums: dict[str, float] = {}
        loader = make_loader(
            self.val_set, self.config.optim.batch_size, 0, self.config.run.val_batches
        )
        with torch.no_grad():
            for i, batch in enumerate(loader):
                terms, phase = self.compute_loss(model, batch)
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + v.item()
                if i == 0 and self.writer is not None:
                    self.log_examples(batch, phase)
        model.train()
        return {k: v / self.config.run.val_batches for k, v in sums.items()}

    def log_examples(self, batch: dict[str, torch.Tensor], phase: torch.Tensor) -> None:
        """Writes one example's audio and log spectrograms to TensorBoard."""
        mag, _, target, target_spec = self.batch_inputs(batch)
        _, _, anchor = self.runtime_inputs(batch)
        first = anchor[:1] if anchor is not None else torch.angle(target_spec[:1, :, 0])
        angle = output_angle(phase[:1], self.config.model.phase_output, first)
        model_cfg = self.config.model
        anchored = model_cfg.phase_output == "increment"
        magnitude = output_magnitude(mag[:1], phase[:1], model_cfg.gain_db > 0, anchored)
        audio = self.stft.istft(torch.polar(magnitude, angle), target.shape[-1])[0]
        step = self.state.step
        for name, wav in (("target", target[0]), ("prediction", audio)):
            peak = float(wav.abs().max().clamp_min(1e-6))
            clip = (wav / max(peak, 1.0)).cpu()
            self.writer.add_audio(f"audio/{name}", clip, step, sample_rate=48_000)
            spec = torch.log10(self.stft(wav).abs() + 1e-5).flip(0)
            image = (spec - spec.min()) / (spec.max() - spec.min() + 1e-9)
            self.writer.add_image(f"spectrogram/{name}", image.unsqueeze(0).cpu(), step)

    def batches(self) -> Iterator[dict[str, torch.Tensor]]:
        """Training batches from the current step to ``run.steps``."""
        remaining = self.config.run.steps - self.state.step
        return iter(
            make_loader(
                self.train_set,
                self.config.optim.batch_size,
                start_batch=self.state.step,
                num_batches=max(remaining, 0),
                num_workers=self.config.data.num_workers,
                world_size=self.ddp.world_size,
                rank=self.ddp.rank,
            )
        )

    def fit(self, resume: bool = True, stop_at: int | None = None) -> TrainState:
        """Trains to ``run.steps`` (resuming from ``latest.pt`` when ``resume``).

        ``stop_at`` ends the run early after that step (as if killed), without changing the
        schedule, so tests can interrupt and resume.
        """
        run = self.config.run
        resumed = self.resume_if_possible() if resume else False
        if not resumed and run.init_from:
            self.init_from_checkpoint(Path(run.init_from))
        state = self.state
        model: nn.Module = state.model
        if self.ddp.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            model = DistributedDataParallel(state.model, device_ids=ids)
        if self.ddp.is_main:
            from torch.utils.tensorboard import SummaryWriter

            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "config.json").write_text(
                json.dumps(self.config.to_json(), indent=2) + "\n"
            )
            self.writer = SummaryWriter(str(self.out_dir / "tb"), purge_step=state.step)
        bar = tqdm(
            total=run.steps,
            initial=state.step,
            disable=not (run.progress and self.ddp.is_main),
            desc="fit",
        )
        model.train()
        try:
            for batch in self.batches():
                terms, _ = self.compute_loss(model, batch)
                state.optimizer.zero_grad(set_to_none=True)
                state.scaler.scale(terms["total"]).backward()
                state.scaler.unscale_(state.optimizer)
                if self.config.optim.grad_clip > 0:
                    grad_norm = torch.nn.utils.clip_grad_norm_(
                        state.model.parameters(), self.config.optim.grad_clip
                    )
                else:
                    grad_norm = torch.tensor(0.0)
                state.scaler.step(state.optimizer)
                state.scaler.update()
                state.scheduler.step()
                state.step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{terms['total'].item():.4f}")
                if self.writer is not None and state.step % run.log_every == 0:
                    for k, v in terms.items():
                        self.writer.add_scalar(f"train/{k}", v.item(), state.step)
                    self.writer.add_scalar("train/grad_norm", float(grad_norm), state.step)
                    self.writer.add_scalar("train/lr", state.scheduler.get_last_lr()[0], state.step)
                last = state.step == run.steps
                if (run.val_every and state.step % run.val_every == 0) or last:
                    metrics = self.validate()
                    if metrics:
                        state.val_metrics = metrics
                        if self.writer is not None:
                            for k, value in metrics.items():
                                self.writer.add_scalar(f"val/{k}", value, state.step)
                if self.ddp.is_main and (state.step % run.checkpoint_every == 0 or last):
                    directory = checkpoint_dir(self.config)
                    save_checkpoint(state, self.config, self.manifest.sha256, directory)
                if stop_at is not None and state.step >= stop_at:
                    break
        finally:
            bar.close()
            if self.writer is not None:
                self.writer.close()
        return state


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``xodvox-train fit``."""
    parser.add_argument(
        "--config", type=Path, action="append", required=True, help="TOML file (repeatable)"
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], help="section.key=value override"
    )
    parser.add_argument("--no-resume", action="store_true", help="ignore latest.pt in out_dir")


def run(args: argparse.Namespace) -> int:
    """Runs ``xodvox-train fit``."""
    config = load_config(args.config, args.overrides)
    trainer = Trainer(config)
    state = trainer.fit(resume=not args.no_resume)
    if trainer.ddp.is_main:
        print(f"trained {state.step} steps; checkpoints in {checkpoint_dir(config)}")
        if state.val_metrics:
            print("val: " + ", ".join(f"{k}={v:.4f}" for k, v in state.val_metrics.items()))
    if trainer.ddp.world_size > 1:
        dist.destroy_process_group()
    return 0
