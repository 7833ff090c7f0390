"""``xodvox-train midi-truth OUT``: ground-truth pairs re-rendered from MIDI (``docs/dataset.md``).

Each pair is one :func:`xodvox_train.midi_compose.compose` piece of ``(seed, index)``, rendered
dry by FluidSynth (``-R 0 -C 0``, 48 kHz, float) at its tempo (the input) and again with the
tempo divided by the stretch and the notes transposed by the pitch (the reference: whole
semitones move the keys, the rest is a pitch bend). So the target is the instrument *played*
slower or higher: attacks stay as sharp as the instrument makes them, sample zones change as on
the instrument. Drum pieces are only stretched.

FluidSynth starts events on 64-sample blocks, so onsets in the two renders can differ from the
exact ``s · t`` by up to 64 samples (1.3 ms); the pairs are otherwise exact re-renders.

Layout, splits (by source index), resuming and manifest as ``xodvox-train truth``
(:mod:`xodvox_train.truth`): ``OUT/input``, ``OUT/target``, ``OUT/manifest.jsonl`` (with
``family``), ``OUT/midi-truth.json`` (the parameters that decide the audio).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

from xodvox_train import __version__
from xodvox_train.data import manifest_row
from xodvox_train.midi_compose import GM_SOUNDFONTS, KIT_SOUNDFONTS, Piece, compose
from xodvox_train.truth import (
    SPLIT_BASE,
    Progress,
    check_record,
    has_frames,
    remove_partials,
    split_counts,
    write_manifest,
    write_wav_float,
)

SAMPLE_RATE = 48_000
"""Rate of every file."""
MIDI_TRUTH_FORMAT = 2
"""Version of the generator's definitions; recorded in ``midi-truth.json``."""
TICKS_PER_BEAT = 960
"""MIDI resolution."""
TAIL_SECONDS = 0.75
"""Input length after the last beat (release tails)."""
BEND_RANGE = 2
"""Pitch-bend range in semitones set by RPN 0 before a fractional transposition."""
TASK_MIX = (0.35, 0.45, 0.20)
"""Shares of pure-stretch, pure-pitch and combined tasks (drum pieces: stretch only)."""
STRETCH_RANGE = (0.5, 2.0)
"""Duration ratios (log-uniform, 3 decimals)."""
PITCH_RANGE = 12
"""Largest transposition in semitones."""
WHOLE_SEMITONES = 0.7
"""Share of pitch tasks in whole semitones (the rest have cents)."""
LICENCES = {
    "FluidR3_GM.sf2": "MIT (FluidR3 GM soundfont)",
    "MuseScore_General.sf3": "MIT (MuseScore General soundfont)",
    "Red_Zeppelin_4_LV2.sf2": "CC-BY-SA-3.0 (avldrums Red Zeppelin kit)",
    "Black_Pearl_4_LV2.sf2": "CC-BY-SA-3.0 (avldrums Black Pearl kit)",
}
"""Licence of a rendering, by soundfont (the pieces themselves are generated here)."""
RENDER_TIMEOUT = 120.0
"""Seconds one FluidSynth run may take."""
MAX_LEVEL_CHANGE_DB = 6.0
"""Largest level change between input and reference; more means notes the soundfont cannot
play at the new pitch (then another piece is drawn for the index)."""
ATTEMPTS = 8
"""Pieces tried for one index before the build fails."""


class MidiTruthError(RuntimeError):
    """FluidSynth or a soundfont is missing, or a render failed."""


@dataclass(frozen=True)
class MidiTask:
    """A task: duration ratio and pitch shift in semitones."""

    stretch: float
    pitch_semitones: float


def draw_task(seed: int, index: int, drums: bool) -> MidiTask:
    """The task of source ``(seed, index)``; every draw is made, whatever the branch."""
    rng = np.random.default_rng([seed, index, 8])
    kind, u_stretch, u_pitch, u_whole = rng.random(4)
    stretch_share, pitch_share, _ = TASK_MIX
    with_stretch = drums or kind < stretch_share or kind >= stretch_share + pitch_share
    with_pitch = not drums and kind >= stretch_share
    lo, hi = (math.log(x) for x in STRETCH_RANGE)
    stretch = round(math.exp(lo + (hi - lo) * u_stretch), 3) if with_stretch else 1.0
    pitch = 0.0
    if with_pitch:
        pitch = -PITCH_RANGE + 2 * PITCH_RANGE * u_pitch
        pitch = float(round(pitch)) if u_whole < WHOLE_SEMITONES else round(pitch, 2)
        pitch = pitch if pitch != 0.0 else 1.0
    return MidiTask(stretch, pitch)


def midi_file(piece: Piece, stretch: float, pitch: float, seconds: float) -> mido.MidiFile:
    """The piece at ``stretch`` times its duration, moved by ``pitch``, ending at ``seconds``."""
    tempo = round(60e6 / piece.bpm * stretch)
    whole = round(pitch)
    bend = pitch - whole
    events: list[tuple[int, int, mido.Message]] = []
    for channel, (_bank, program) in sorted(piece.programs.items()):
        events.append((0, 0, mido.Message("program_change", channel=channel, program=program)))
        if bend and channel not in piece.drum_channels:
            for control, value in ((101, 0), (100, 0), (6, BEND_RANGE), (38, 0)):
                msg = mido.Message("control_change", channel=channel, control=control, value=value)
                events.append((0, 0, msg))
            wheel = round(bend / BEND_RANGE * 8191)
            events.append((0, 0, mido.Message("pitchwheel", channel=channel, pitch=wheel)))
    for note in piece.notes:
        key = note.pitch if note.channel in piece.drum_channels else note.pitch + whole
        if not 0 <= key <= 127:
            continue
        on = round(note.start * TICKS_PER_BEAT)
        off = max(on + 1, round((note.start + note.duration) * TICKS_PER_BEAT))
        kw = {"channel": note.channel, "note": key}
        events.append((on, 2, mido.Message("note_on", velocity=note.velocity, **kw)))
        events.append((off, 1, mido.Message("note_off", velocity=0, **kw)))
    events.sort(key=lambda e: (e[0], e[1]))
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo, time=0)])
    now = 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - now))
        now = tick
    end = math.ceil(seconds * 1e6 / tempo * TICKS_PER_BEAT)
    track.append(mido.MetaMessage("end_of_track", time=max(0, end - now)))
    song = mido.MidiFile(ticks_per_beat=TICKS_PER_BEAT)
    song.tracks.append(track)
    return song


def fluidsynth() -> str:
    """Path of the ``fluidsynth`` program.

    Raises:
        MidiTruthError: it is not on ``PATH``.
    """
    found = shutil.which("fluidsynth")
    if found is None:
        raise MidiTruthError("fluidsynth not found: install it (scripts/setup does)")
    return found


def render(piece: Piece, stretch: float, pitch: float, frames: int) -> np.ndarray:
    """``(frames, 2)`` float32: the piece played by FluidSynth, cut or padded to ``frames``.

    Raises:
        MidiTruthError: FluidSynth failed, timed out or wrote nothing audible.
    """
    if not Path(piece.soundfont).is_file():
        raise MidiTruthError(f"soundfont {piece.soundfont} not found (scripts/setup installs it)")
    with tempfile.TemporaryDirectory(prefix="xodvox-midi-") as tmp:
        mid, wav = Path(tmp) / "piece.mid", Path(tmp) / "piece.wav"
        midi_file(piece, stretch, pitch, frames / SAMPLE_RATE + 0.1).save(str(mid))
        command = [fluidsynth(), "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5"]
        command += ["-o", "synth.dynamic-sample-loading=1"]  # same audio, loads only used samples
        command += ["-r", str(SAMPLE_RATE), "-O", "float", "-T", "wav", "-F", str(wav)]
        try:
            subprocess.run(
                [*command, piece.soundfont, str(mid)],
                check=True,
                capture_output=True,
                timeout=RENDER_TIMEOUT,
            )
            audio, rate = sf.read(str(wav), dtype="float32", always_2d=True)
        except (subprocess.SubprocessError, OSError, RuntimeError) as err:
            raise MidiTruthError(f"fluidsynth failed on {piece.soundfont}: {err}") from err
    if rate != SAMPLE_RATE or audio.shape[1] != 2:
        raise MidiTruthError(f"fluidsynth wrote {rate} Hz x {audio.shape[1]} ch")
    out = np.zeros((frames, 2), dtype=np.float32)
    n = min(frames, len(audio))
    out[:n] = audio[:n]
    if not np.isfinite(out).all() or float(np.abs(out).max()) < 1e-4:
        raise MidiTruthError(f"fluidsynth rendered silence with {piece.soundfont}")
    return out


def input_frames(piece: Piece) -> int:
    """Frames of the input rendering: the notes plus :data:`TAIL_SECONDS`."""
    return round((piece.seconds + TAIL_SECONDS) * SAMPLE_RATE)


def render_pair(piece: Piece, task: MidiTask, level_db: float) -> tuple[np.ndarray, np.ndarray]:
    """(input, reference), one gain for both: the louder peaks at ``0.9 · 10^(level_db/20)``.

    Raises:
        MidiTruthError: a render failed, or the two renders' levels differ by more than
            :data:`MAX_LEVEL_CHANGE_DB` (notes outside the instrument's sampled range).
    """
    frames = input_frames(piece)
    source = render(piece, 1.0, 0.0, frames)
    reference = render(piece, task.stretch, task.pitch_semitones, round(frames * task.stretch))
    change = 10 * math.log10(_power(reference) / _power(source))
    if abs(change) > MAX_LEVEL_CHANGE_DB:
        raise MidiTruthError(f"the reference is {change:+.1f} dB from the input")
    peak = max(float(np.abs(source).max()), float(np.abs(reference).max()))
    gain = np.float32(0.9 * 10 ** (level_db / 20) / peak)
    return source * gain, reference * gain


def _power(x: np.ndarray) -> float:
    """Mean power over the frames that sound (above -60 dB of the peak), never 0."""
    energy = np.square(x.astype(np.float64)).sum(axis=1)
    sounding = energy[energy > energy.max() * 1e-6]
    return float(sounding.mean()) if len(sounding) else 1e-30


@dataclass(frozen=True)
class MidiTruthOptions:
    """Options of a build (the command line)."""

    pairs: int
    seed: int = 0
    val_fraction: float = 0.05
    test_fraction: float = 0.05
    jobs: int = 1

    def command(self) -> str:
        """The exact command line, with ``.`` for the output folder."""
        return (
            f"xodvox-train midi-truth . --pairs {self.pairs} --seed {self.seed} "
            f"--val-fraction {self.val_fraction} --test-fraction {self.test_fraction}"
        )

    def record(self) -> dict[str, object]:
        """What decides the audio of a pair with a given id (``midi-truth.json``)."""
        return {
            "midi_truth_format": MIDI_TRUTH_FORMAT,
            "tool_version": __version__,
            "seed": self.seed,
            "sample_rate": SAMPLE_RATE,
            "soundfonts": sorted(Path(p).name for p in (*GM_SOUNDFONTS, *KIT_SOUNDFONTS)),
        }


def make_pair(root: Path, split: str, k: int, options: MidiTruthOptions) -> tuple[dict, bool]:
    """Renders pair ``k`` of ``split`` unless both files exist with the right length.

    A piece the soundfont cannot play (silence, or notes missing at the new pitch) is replaced
    by the next attempt's piece for the same index, deterministically.

    Raises:
        MidiTruthError: no attempt of :data:`ATTEMPTS` could be rendered.
    """
    index = SPLIT_BASE[split] + k
    entry_id = f"{split}-{k:06d}"
    input_path = root / "input" / f"{entry_id}.wav"
    target_path = root / "target" / f"{entry_id}.wav"
    level = -9.0 * float(np.random.default_rng([options.seed, index, 9]).random())
    failures = []
    for attempt in range(ATTEMPTS):
        piece = compose(options.seed, index, attempt)
        task = draw_task(options.seed, index, piece.family == "drums")
        frames = input_frames(piece)
        frames_out = round(frames * task.stretch)
        rendered = not (has_frames(input_path, frames) and has_frames(target_path, frames_out))
        if rendered:
            try:
                source, reference = render_pair(piece, task, level)
            except MidiTruthError as err:
                failures.append(str(err))
                continue
            write_wav_float(target_path, reference)
            write_wav_float(input_path, source)
        return _row(root, entry_id, split, index, attempt, piece, task, options), rendered
    raise MidiTruthError(f"{entry_id}: no piece could be rendered: {failures}")


def _row(
    root: Path,
    entry_id: str,
    split: str,
    index: int,
    attempt: int,
    piece: Piece,
    task: MidiTask,
    options: MidiTruthOptions,
) -> dict[str, object]:
    """The manifest row of a rendered pair."""
    font = Path(piece.soundfont).name
    row = manifest_row(
        entry_id=entry_id,
        split=split,
        root=root,
        input_path=root / "input" / f"{entry_id}.wav",
        target_path=root / "target" / f"{entry_id}.wav",
        stretch=task.stretch,
        pitch_semitones=task.pitch_semitones,
        style="natural",
        generator=options.command(),
        tool_version=__version__,
        source=(
            f"midi:{piece.family} seed={options.seed} index={index} attempt={attempt} "
            f"soundfont={font}"
        ),
        licence=LICENCES.get(font, "see the soundfont's package"),
    )
    row["family"] = f"midi-{piece.family}"
    return row


def _make_pair_job(job: tuple[Path, str, int, MidiTruthOptions]) -> tuple[dict, bool]:
    return make_pair(*job)


def _rows(root: Path, options: MidiTruthOptions) -> Iterator[tuple[dict, bool]]:
    counts = split_counts(options.pairs, options.val_fraction, options.test_fraction)
    jobs = [(root, s, k, options) for s, n in counts.items() for k in range(n)]
    if options.jobs <= 1:
        yield from map(_make_pair_job, jobs)
        return
    with multiprocessing.get_context("spawn").Pool(options.jobs) as pool:
        yield from pool.imap(_make_pair_job, jobs, chunksize=2)


def build(root: Path, options: MidiTruthOptions, progress: bool = True) -> tuple[Path, Progress]:
    """Makes (or completes) the dataset in ``root``; returns the manifest path and the counts.

    Raises:
        ValueError: bad options, or ``root`` made with other parameters.
        MidiTruthError: FluidSynth or a soundfont is missing, or a render failed.
    """
    if options.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {options.seed}")
    fluidsynth()
    missing = [p for p in (*GM_SOUNDFONTS, *KIT_SOUNDFONTS) if not Path(p).is_file()]
    if missing:
        raise MidiTruthError(f"soundfonts not found: {missing} (scripts/setup installs them)")
    total = sum(split_counts(options.pairs, options.val_fraction, options.test_fraction).values())
    for folder in ("input", "target"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    check_record(root, options.record(), "midi-truth.json")
    remove_partials(root)
    meter = Progress(total, progress, label="midi-truth")
    rows = []
    for row, rendered in _rows(root, options):
        rows.append(row)
        meter.step(rendered)
    manifest = root / "manifest.jsonl"
    write_manifest(manifest, rows)
    return manifest, meter


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``xodvox-train midi-truth``."""
    parser.add_argument("out", type=Path, help="dataset folder (created; only written inside)")
    parser.add_argument("--pairs", type=int, required=True, help="number of pairs, all splits")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--val-fraction", type=float, default=0.05, help="share in val (0.05)")
    parser.add_argument("--test-fraction", type=float, default=0.05, help="share in test (0.05)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def run(args: argparse.Namespace) -> int:
    """Runs ``xodvox-train midi-truth``."""
    options = MidiTruthOptions(
        pairs=args.pairs,
        seed=args.seed,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        jobs=max(1, args.jobs or os.cpu_count() or 1),
    )
    try:
        manifest, meter = build(args.out, options, progress=not args.quiet)
    except (MidiTruthError, ValueError) as err:
        print(f"xodvox-train midi-truth: {err}", file=sys.stderr)
        return 2
    counts = split_counts(options.pairs, options.val_fraction, options.test_fraction)
    print(
        f"wrote {manifest} ({options.pairs} pairs: {counts['train']} train, {counts['val']} val, "
        f"{counts['test']} test; {meter.rendered} rendered, {meter.seconds_per_pair:.3f} s/pair)"
    )
    return 0
