"""Procedural MIDI pieces for the MIDI ground-truth pairs (``xodvox-train midi-truth``).

A :class:`Piece` is a pure function of ``(seed, index)``: notes in beats, a tempo, the programs
of its channels and the soundfont that plays it. :mod:`xodvox_train.midi_truth` renders it with
FluidSynth at its tempo (the input) and again slower or faster, or transposed (the reference):
the same performance played at another tempo or pitch, the way a real instrument would play it
(sample zones and attacks change as they do on the instrument).

Families:

- ``ensemble``: a chord progression in a key, with 2 to 4 parts drawn from pad, bass, melody and
  arpeggio, each on its own General MIDI program and channel.
- ``solo``: one melodic instrument (a melody, sometimes with double stops).
- ``drums``: a groove on a General MIDI drum kit (FluidSynth's kit on channel 10, or one of
  the two multi-sampled avldrums kits) with kick, snare, hats, toms, crashes, swing and
  accents; sometimes with a bass line. Drum pieces are only stretched (transposing the notes
  of a kit would change the drums, not their pitch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

DRUM_CHANNEL = 9
"""MIDI channel of General MIDI percussion (channel 10, counted from 1)."""
GM_SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf3/MuseScore_General.sf3",
)
"""General MIDI soundfonts (Debian ``fluid-soundfont-gm``, ``musescore-general-soundfont-small``).
"""
KIT_SOUNDFONTS = (
    "/usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2",
    "/usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2",
)
"""Multi-sampled drum kits (Debian ``avldrums.lv2-soundfont``): bank 0 program 0, on channel 1."""
FAMILY_MIX = (("ensemble", 0.5), ("solo", 0.15), ("drums", 0.35))
"""Families and their shares."""
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}
"""Scales as semitone steps from the key's root."""
PROGRESSIONS = ((0, 5, 3, 4), (0, 3, 4, 0), (0, 4, 5, 3), (5, 3, 0, 4), (0, 1, 4, 0))
"""Chord progressions as scale degrees (0 = I)."""
PROGRAMS = {
    "pad": (48, 49, 50, 52, 19, 16, 88, 89, 91, 61),
    "bass": (32, 33, 34, 35, 36, 38, 39, 42),
    "melody": (0, 4, 11, 24, 25, 26, 40, 41, 56, 57, 60, 65, 66, 68, 71, 73, 80, 81),
    "arpeggio": (0, 1, 4, 6, 8, 11, 24, 25, 46, 108),
}
"""General MIDI programs (0-based) per part role."""
DURATIONS = (0.25, 0.5, 0.5, 0.75, 1.0, 1.0, 1.5, 2.0)
"""Melody note durations in beats (repeats weight the draw)."""


@dataclass(frozen=True)
class Note:
    """One note. Times in beats, ``pitch`` a MIDI key, ``channel`` 0 to 15."""

    start: float
    duration: float
    pitch: int
    velocity: int
    channel: int


@dataclass(frozen=True)
class Piece:
    """A piece to render.

    Attributes:
        family: ``ensemble``, ``solo`` or ``drums``.
        bpm: tempo of the input rendering (quarter notes per minute).
        beats: length in beats (the last note ends at or before it).
        soundfont: the soundfont file that plays it.
        programs: ``channel -> (bank, program)`` for every channel with notes.
        notes: the notes, by start time.
        drum_channels: channels whose notes are drums (never transposed).
    """

    family: str
    bpm: float
    beats: float
    soundfont: str
    programs: dict[int, tuple[int, int]]
    notes: tuple[Note, ...]
    drum_channels: frozenset[int] = field(default_factory=frozenset)

    @property
    def seconds(self) -> float:
        """Duration of the input rendering's notes in seconds."""
        return self.beats * 60.0 / self.bpm


_T = TypeVar("_T")


def _pick(rng: np.random.Generator, items: tuple[_T, ...]) -> _T:
    return items[int(rng.integers(len(items)))]


def _family(rng: np.random.Generator) -> str:
    u, total = rng.random(), 0.0
    for name, share in FAMILY_MIX:
        total += share
        if u < total:
            return name
    return FAMILY_MIX[-1][0]


def compose(seed: int, index: int, attempt: int = 0) -> Piece:
    """The piece of ``(seed, index)``; ``attempt`` > 0 draws another one for the same index
    (used when a soundfont cannot play a piece, see :func:`xodvox_train.midi_truth.make_pair`).
    """
    rng = np.random.default_rng([seed, index, 7, attempt])
    family = _family(rng)
    if family == "drums":
        return _drums(rng)
    return _tonal(rng, family)


def _scale_key(root: int, scale: tuple[int, ...], degree: int) -> int:
    """MIDI key of a scale degree (any integer, octaves wrap) above ``root``."""
    octave, step = divmod(degree, len(scale))
    return root + 12 * octave + scale[step]


def _tonal(rng: np.random.Generator, family: str) -> Piece:
    bpm = float(rng.uniform(70, 150))
    bars = int(rng.integers(1, 3))
    beats = 4.0 * bars
    root = int(rng.integers(45, 57))
    scale = SCALES[str(_pick(rng, tuple(SCALES)))]
    progression = _pick(rng, PROGRESSIONS)
    soundfont = str(_pick(rng, GM_SOUNDFONTS))
    if family == "solo":
        roles = ["melody"]
    else:
        extra = ["pad", "bass", "arpeggio"]
        rng.shuffle(extra)
        roles = ["melody", *extra[: int(rng.integers(1, 4))]]
    notes: list[Note] = []
    programs: dict[int, tuple[int, int]] = {}
    for channel, role in enumerate(roles):
        programs[channel] = (0, int(_pick(rng, PROGRAMS[role])))
        for bar in range(bars):
            chord = int(progression[bar % len(progression)])
            notes += _part(rng, role, channel, bar, chord, root, scale)
    if family == "solo" and rng.random() < 0.3:
        notes += [
            Note(n.start, n.duration, n.pitch - 12 + scale[2], max(1, n.velocity - 20), 0)
            for n in notes[::3]
        ]
    notes = [n for n in notes if n.start < beats]
    notes = [Note(n.start, min(n.duration, beats - n.start), *_keys(n)) for n in notes]
    notes.sort(key=lambda n: (n.start, n.channel, n.pitch))
    return Piece(family, bpm, beats, soundfont, programs, tuple(notes))


def _keys(note: Note) -> tuple[int, int, int]:
    return note.pitch, note.velocity, note.channel


def _part(
    rng: np.random.Generator,
    role: str,
    channel: int,
    bar: int,
    chord: int,
    root: int,
    scale: tuple[int, ...],
) -> list[Note]:
    """One bar of a part over the chord on scale degree ``chord``."""
    t0 = 4.0 * bar
    triad = [chord, chord + 2, chord + 4]
    vel = int(rng.integers(60, 110))
    if role == "pad":
        return [Note(t0, 4.0, _scale_key(root, scale, d), vel - 15, channel) for d in triad]
    if role == "bass":
        key = _scale_key(root - 12, scale, chord)
        hits = (0.0, 2.0) if rng.random() < 0.5 else (0.0, 1.0, 2.0, 3.0)
        dur = 4.0 / len(hits) * float(rng.uniform(0.5, 0.95))
        return [Note(t0 + h, dur, key, vel, channel) for h in hits]
    if role == "arpeggio":
        step = float(_pick(rng, (0.25, 0.5)))
        count = int(4.0 / step)
        degrees = [triad[i % 3] + 7 * (i // 3 % 2) for i in range(count)]
        gate = float(rng.uniform(0.4, 1.6))
        return [
            Note(t0 + i * step, step * gate, _scale_key(root, scale, d), vel - 10, channel)
            for i, d in enumerate(degrees)
        ]
    notes, t = [], t0
    degree = int(_pick(rng, tuple(triad)))
    while t < t0 + 4.0:
        duration = float(_pick(rng, DURATIONS))
        if rng.random() > 0.12:
            legato = float(rng.uniform(0.6, 1.05))
            velocity = int(np.clip(vel + rng.integers(-15, 16), 20, 127))
            key = _scale_key(root + 12, scale, degree)
            notes.append(Note(t, duration * legato, key, velocity, channel))
        degree += int(rng.integers(-2, 3))
        degree = int(np.clip(degree, 0, 10))
        t += duration
    return notes


KICK, SNARE, HAT, OPEN_HAT, PEDAL_HAT, CRASH, RIDE = 36, 38, 42, 46, 44, 49, 51
"""General MIDI drum keys."""
TOMS = (50, 48, 47, 45, 43, 41)
"""High to low toms."""


def _drums(rng: np.random.Generator) -> Piece:
    bpm = float(rng.uniform(75, 170))
    bars = int(rng.integers(1, 3))
    beats = 4.0 * bars
    if rng.random() < 0.5:
        soundfont, channel, programs = str(_pick(rng, KIT_SOUNDFONTS)), 0, {0: (0, 0)}
    else:
        soundfont, channel = str(_pick(rng, GM_SOUNDFONTS)), DRUM_CHANNEL
        programs = {DRUM_CHANNEL: (128, int(_pick(rng, (0, 0, 8, 16, 25, 32))))}
    swing = float(rng.uniform(0.0, 0.5)) if rng.random() < 0.4 else 0.0
    hat_step = float(_pick(rng, (0.25, 0.5, 0.5)))
    cymbal = RIDE if rng.random() < 0.25 else HAT
    notes: list[Note] = []
    kick_pattern = _pick(rng, ((0.0, 2.0), (0.0, 2.5), (0.0, 1.5, 2.0), (0.0, 0.75, 2.0, 2.5)))
    for bar in range(bars):
        t0 = 4.0 * bar
        for k in kick_pattern:
            notes.append(Note(t0 + k, 0.25, KICK, int(rng.integers(90, 128)), channel))
        for s in (1.0, 3.0):
            notes.append(Note(t0 + s, 0.25, SNARE, int(rng.integers(85, 128)), channel))
        if rng.random() < 0.4:
            ghost = float(_pick(rng, (1.75, 2.75, 3.25, 3.75)))
            notes.append(Note(t0 + ghost, 0.25, SNARE, int(rng.integers(25, 50)), channel))
        for i in range(int(4.0 / hat_step)):
            t = i * hat_step
            if swing and hat_step == 0.5 and i % 2:
                t += swing * 0.5
            accent = 20 if i % 2 == 0 else 0
            key = OPEN_HAT if (i == int(4.0 / hat_step) - 1 and rng.random() < 0.3) else cymbal
            notes.append(Note(t0 + t, 0.2, key, int(rng.integers(45, 90)) + accent, channel))
        if bar == bars - 1 and rng.random() < 0.5:
            notes += _fill(rng, t0 + 3.0, channel)
    if rng.random() < 0.5:
        notes.append(Note(0.0, 1.0, CRASH, int(rng.integers(90, 120)), channel))
    drum_channels = {channel}
    if rng.random() < 0.3 and channel == DRUM_CHANNEL:
        programs[1] = (0, int(_pick(rng, PROGRAMS["bass"])))
        key = int(rng.integers(33, 45))
        for bar in range(bars):
            for k in kick_pattern:
                notes.append(Note(4.0 * bar + k, 0.45, key, int(rng.integers(80, 110)), 1))
    notes = [n for n in notes if n.start < beats]
    notes.sort(key=lambda n: (n.start, n.channel, n.pitch))
    return Piece("drums", bpm, beats, soundfont, programs, tuple(notes), frozenset(drum_channels))


def _fill(rng: np.random.Generator, start: float, channel: int) -> list[Note]:
    """A one-beat fill of 16ths over the toms (and snare)."""
    keys = (SNARE, *TOMS)
    first = int(rng.integers(0, 3))
    return [
        Note(start + 0.25 * i, 0.2, keys[min(first + i, len(keys) - 1)], 100, channel)
        for i in range(4)
    ]
