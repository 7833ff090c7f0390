"""``xodvox-train truth OUT``: a dataset of exact ground-truth pairs (``docs/dataset.md``).

Each pair is one synthetic source (:func:`xodvox_train.truth_spec.make_spec` of
``(seed, index)``) and one task drawn from ``(seed, index)`` too: 35 % pure stretch (duration
ratio log-uniform in [0.5, 2], 3 decimals), 45 % pure pitch shift (uniform in [-12, 12]
semitones, 0.01), 20 % both. The target is the exact reference
(:func:`xodvox_train.truth_synth.render_pair`), style ``natural`` or, for a fraction of the
tasks with a pitch shift, ``formant``.

Splits are by source: train, val and test take disjoint index ranges (train from 0, val from
10⁹, test from 2·10⁹), so a source is never in two splits, whatever the number of pairs.
Output: ``OUT/input/<id>.wav``, ``OUT/target/<id>.wav`` (48 kHz stereo 32-bit float WAV, no
time-stamped PEAK chunk, so identical runs give identical bytes), ``OUT/manifest.jsonl``
(``docs/dataset-manifest.md`` plus ``family``) and ``OUT/truth.json`` (the parameters that
decide the audio; a later run with other ones is refused).

Resuming: a pair whose two files exist with the right length is not rendered again; files are
written as ``*.partial.wav`` and renamed, the manifest through a temporary file. Nothing
outside ``OUT`` is written.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import struct
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from xodvox_train import __version__
from xodvox_train.data import manifest_row
from xodvox_train.truth_spec import make_spec
from xodvox_train.truth_synth import SAMPLE_RATE, Task, render_pair

TRUTH_FORMAT = 1
"""Version of the generator's definitions (specs, tasks); recorded in ``truth.json``."""
CHANNELS = 2
"""Channels of every file."""
SPLIT_BASE = {"train": 0, "val": 1_000_000_000, "test": 2_000_000_000}
"""First source index of each split; the ranges never overlap."""
WAV_HEADER_BYTES = 56
"""Bytes before the samples in a file of :func:`write_wav_float` (RIFF, fmt, fact, data)."""
TASK_MIX = (0.35, 0.45, 0.20)
"""Shares of pure-stretch, pure-pitch and combined tasks."""
STRETCH_RANGE = (0.5, 2.0)
"""Duration ratios (log-uniform, 3 decimals)."""
PITCH_RANGE = (-12.0, 12.0)
"""Pitch shifts in semitones (uniform, 0.01)."""
TASK_STREAM = 1
"""Third seed word of the task's random stream (the spec uses ``[seed, index]``)."""
LICENCE = "CC0-1.0"
"""Licence of every source (synthesised here)."""


@dataclass(frozen=True)
class TruthOptions:
    """Options of a build (the command line).

    Attributes:
        pairs: number of pairs, all splits together.
        seed: generator seed (≥ 0).
        val_fraction: share of pairs in the val split.
        test_fraction: share of pairs in the test split.
        formant_fraction: share of the tasks with a pitch shift whose style is ``formant``.
        jobs: worker processes (1: render in this process).
    """

    pairs: int
    seed: int = 0
    val_fraction: float = 0.05
    test_fraction: float = 0.05
    formant_fraction: float = 0.25
    jobs: int = 1

    def command(self) -> str:
        """The exact command line, with ``.`` for the output folder."""
        return (
            f"xodvox-train truth . --pairs {self.pairs} --seed {self.seed} "
            f"--val-fraction {self.val_fraction} --test-fraction {self.test_fraction} "
            f"--formant-fraction {self.formant_fraction}"
        )

    def record(self) -> dict[str, object]:
        """What decides the audio of a pair with a given id (stored in ``truth.json``)."""
        return {
            "truth_format": TRUTH_FORMAT,
            "tool_version": __version__,
            "seed": self.seed,
            "formant_fraction": self.formant_fraction,
            "sample_rate": SAMPLE_RATE,
        }


@dataclass(frozen=True)
class PairPlan:
    """One pair to make: its id, split, source index and task.

    Attributes:
        id: manifest id, ``<split>-<k>`` (k = 6 digits or more).
        split: ``train``, ``val`` or ``test``.
        index: source index (``SPLIT_BASE[split] + k``).
        task: the reference's task.
    """

    id: str
    split: str
    index: int
    task: Task

    @property
    def style(self) -> str:
        """``formant`` or ``natural``."""
        return "formant" if self.task.formant else "natural"

    @property
    def input(self) -> str:
        """Input file, relative to the dataset folder."""
        return f"input/{self.id}.wav"

    @property
    def target(self) -> str:
        """Target file, relative to the dataset folder."""
        return f"target/{self.id}.wav"


def draw_task(seed: int, index: int, formant_fraction: float) -> Task:
    """The task of source ``(seed, index)``; every draw is made, whatever the branch."""
    rng = np.random.default_rng([seed, index, TASK_STREAM])
    kind, u_stretch, u_pitch, u_style = rng.random(4)
    stretch_kind, pitch_kind, _ = TASK_MIX
    with_stretch = kind < stretch_kind or kind >= stretch_kind + pitch_kind
    with_pitch = kind >= stretch_kind
    lo, hi = (math.log(x) for x in STRETCH_RANGE)
    stretch = round(math.exp(lo + (hi - lo) * u_stretch), 3) if with_stretch else 1.0
    pitch = PITCH_RANGE[0] + (PITCH_RANGE[1] - PITCH_RANGE[0]) * u_pitch
    pitch = round(pitch, 2) if with_pitch else 0.0
    return Task(stretch, pitch, formant=pitch != 0.0 and u_style < formant_fraction)


def split_counts(pairs: int, val_fraction: float, test_fraction: float) -> dict[str, int]:
    """Pairs per split: ``round(n·fraction)`` for val and test (at least 1 each from 3 pairs).

    Raises:
        ValueError: fractions outside ``[0, 1)`` or leaving no training pair.
    """
    if pairs < 1:
        raise ValueError(f"--pairs must be >= 1, got {pairs}")
    counts = {"train": 0, "val": 0, "test": 0}
    for name, fraction in (("val", val_fraction), ("test", test_fraction)):
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"--{name}-fraction must be in [0, 1), got {fraction}")
        counts[name] = round(pairs * fraction)
        if fraction > 0.0 and pairs >= 3:
            counts[name] = max(counts[name], 1)
    counts["train"] = pairs - counts["val"] - counts["test"]
    if counts["train"] < 1:
        raise ValueError(f"{pairs} pairs leave no training pair ({counts})")
    return counts


def plan_pairs(options: TruthOptions) -> list[PairPlan]:
    """All pairs of a build, train then val then test, in index order."""
    plans = []
    counts = split_counts(options.pairs, options.val_fraction, options.test_fraction)
    for split, count in counts.items():
        for k in range(count):
            index = SPLIT_BASE[split] + k
            task = draw_task(options.seed, index, options.formant_fraction)
            plans.append(PairPlan(f"{split}-{k:06d}", split, index, task))
    return plans


def write_wav_float(path: Path, frames: np.ndarray) -> None:
    """Writes ``(N, C)`` float32 frames as a WAV (IEEE float, 32 bit), through a temp file."""
    frames = np.ascontiguousarray(frames, dtype="<f4")
    count, channels = frames.shape
    data = frames.tobytes()
    fmt = struct.pack(
        "<HHIIHH", 3, channels, SAMPLE_RATE, SAMPLE_RATE * 4 * channels, 4 * channels, 32
    )
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"fact" + struct.pack("<II", 4, count) + b"data" + struct.pack("<I", len(data))
    temp = path.with_name(path.stem + ".partial.wav")
    with temp.open("wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(body) + len(data)) + body)
        f.write(data)
    os.replace(temp, path)


def has_frames(path: Path, frames: int) -> bool:
    """True when ``path`` is a complete 48 kHz stereo float WAV of exactly ``frames`` frames."""
    if not path.is_file() or path.stat().st_size != WAV_HEADER_BYTES + 4 * CHANNELS * frames:
        return False
    try:
        info = sf.info(str(path))
    except RuntimeError:
        return False
    return info.samplerate == SAMPLE_RATE and info.channels == CHANNELS and info.frames == frames


def make_pair(root: Path, plan: PairPlan, options: TruthOptions) -> tuple[dict[str, object], bool]:
    """Renders a pair unless both files already exist with the right length; its manifest row.

    Returns:
        (row, rendered): the manifest row and whether the audio was rendered now.
    """
    spec = make_spec(options.seed, plan.index)
    input_path, target_path = root / plan.input, root / plan.target
    frames_out = plan.task.output_frames(spec.num_frames)
    done = has_frames(input_path, spec.num_frames) and has_frames(target_path, frames_out)
    if not done:
        source, reference = render_pair(spec, plan.task)
        write_wav_float(target_path, reference)
        write_wav_float(input_path, source)
    row = manifest_row(
        entry_id=plan.id,
        split=plan.split,
        root=root,
        input_path=input_path,
        target_path=target_path,
        stretch=plan.task.stretch,
        pitch_semitones=plan.task.pitch_semitones,
        style=plan.style,
        generator=options.command(),
        tool_version=__version__,
        source=f"truth:{spec.family} seed={options.seed} index={plan.index}",
        licence=LICENCE,
    )
    row["family"] = spec.family
    return row, not done


def _make_pair_job(job: tuple[Path, PairPlan, TruthOptions]) -> tuple[dict[str, object], bool]:
    """:func:`make_pair` with one tuple argument (for ``Pool.imap``)."""
    return make_pair(*job)


def check_record(root: Path, record: dict[str, object], name: str = "truth.json") -> None:
    """Writes ``root/name`` (the parameters that decide the audio), or checks that an existing
    one holds the same ``record``.

    Raises:
        ValueError: the folder was made with other parameters.
    """
    path = root / name
    if path.is_file():
        old = json.loads(path.read_text())
        if old != record:
            raise ValueError(f"{root} was made with {old}, not {record}: use another folder")
        return
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def remove_partials(root: Path) -> None:
    """Deletes ``*.partial.wav`` left by an interrupted run (only under ``root``)."""
    for folder in ("input", "target"):
        for stale in (root / folder).glob("*.partial.wav"):
            stale.unlink()


def write_manifest(path: Path, rows: list[dict[str, object]]) -> bool:
    """Writes the rows (sorted by id) atomically; False when the file already had these bytes."""
    text = "".join(
        json.dumps(r, sort_keys=True) + "\n" for r in sorted(rows, key=lambda r: str(r["id"]))
    )
    if path.is_file() and path.read_text() == text:
        return False
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(text)
    os.replace(temp, path)
    return True


class Progress:
    """Prints ``done/total`` on stderr every 5 % and at the end, with seconds per rendered pair."""

    def __init__(self, total: int, enabled: bool = True, label: str = "truth") -> None:
        self.total = total
        self.label = label
        self.enabled = enabled
        self.every = max(1, total // 20)
        self.start = time.perf_counter()
        self.done = 0
        self.rendered = 0

    @property
    def seconds_per_pair(self) -> float:
        """Wall seconds per rendered pair so far (0 when none was rendered)."""
        return (time.perf_counter() - self.start) / self.rendered if self.rendered else 0.0

    def step(self, rendered: bool) -> None:
        """Counts one pair; prints a line every 5 %."""
        self.done += 1
        self.rendered += int(rendered)
        if not self.enabled or (self.done % self.every and self.done != self.total):
            return
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        print(
            f"{self.label}: {self.done}/{self.total} pairs ({100 * self.done // self.total}%), "
            f"{self.rendered} rendered, {elapsed:.1f} s, {self.seconds_per_pair:.3f} s/pair, "
            f"ETA {eta:.0f} s",
            file=sys.stderr,
            flush=True,
        )


def _rows(
    root: Path, plans: list[PairPlan], options: TruthOptions
) -> Iterator[tuple[dict[str, object], bool]]:
    """Makes the pairs in order, in this process or in ``options.jobs`` workers."""
    jobs = [(root, plan, options) for plan in plans]
    if options.jobs <= 1:
        yield from map(_make_pair_job, jobs)
        return
    with multiprocessing.get_context("spawn").Pool(options.jobs) as pool:
        yield from pool.imap(_make_pair_job, jobs, chunksize=4)


def build(root: Path, options: TruthOptions, progress: bool = True) -> tuple[Path, Progress]:
    """Makes (or completes) the dataset in ``root``; returns the manifest path and the counts.

    Raises:
        ValueError: bad options, or ``root`` made with other parameters.
    """
    if options.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {options.seed}")
    if not 0.0 <= options.formant_fraction <= 1.0:
        raise ValueError(f"--formant-fraction must be in [0, 1], got {options.formant_fraction}")
    plans = plan_pairs(options)
    for folder in ("input", "target"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    check_record(root, options.record())
    remove_partials(root)
    meter = Progress(len(plans), progress)
    rows = []
    for row, rendered in _rows(root, plans, options):
        rows.append(row)
        meter.step(rendered)
    manifest = root / "manifest.jsonl"
    write_manifest(manifest, rows)
    return manifest, meter


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``xodvox-train truth``."""
    parser.add_argument("out", type=Path, help="dataset folder (created; only written inside)")
    parser.add_argument("--pairs", type=int, required=True, help="number of pairs, all splits")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--val-fraction", type=float, default=0.05, help="share in val (0.05)")
    parser.add_argument("--test-fraction", type=float, default=0.05, help="share in test (0.05)")
    parser.add_argument(
        "--formant-fraction",
        type=float,
        default=0.25,
        help="share of pitch-shift tasks with style 'formant' (0.25)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def run(args: argparse.Namespace) -> int:
    """Runs ``xodvox-train truth``."""
    options = TruthOptions(
        pairs=args.pairs,
        seed=args.seed,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        formant_fraction=args.formant_fraction,
        jobs=args.jobs,
    )
    try:
        manifest, meter = build(args.out, options, progress=not args.quiet)
    except ValueError as err:
        print(f"xodvox-train truth: {err}", file=sys.stderr)
        return 2
    counts = split_counts(options.pairs, options.val_fraction, options.test_fraction)
    print(
        f"wrote {manifest} ({options.pairs} pairs: {counts['train']} train, {counts['val']} val, "
        f"{counts['test']} test; {meter.rendered} rendered, {meter.seconds_per_pair:.3f} s/pair)"
    )
    return 0
