"""Random clip specs for ground-truth pairs: a pure function of ``(seed, index)``.

:func:`make_spec` draws everything from ``numpy.random.default_rng([seed, index])``:
the family (70 % ``tonal``, 30 % ``percussive``), the length (1.5-3 s) and the contents.

- ``tonal``: 1-4 notes laid out as a chord, a melody (overlapping or legato) or freely;
  f0 log-uniform in 55-1760 Hz; harmonic timbres (spectral rolloff, odd/even balance) or
  inharmonic ones (stiff string, bar, bell); plucked, bowed or percussive envelopes; optional
  vibrato (4-7 Hz, ≤ 50 cents) and glide; optional formant envelope; a pan per note; and
  optionally a noise band of 100-300 random-frequency sinusoids with its own envelope.
- ``percussive``: 3-16 hits on a 16th-note grid (small timing jitter): kicks and toms
  (decaying sines with a pitch drop), snares (a tone plus a noise burst), hats (bright bursts),
  clicks (windowed impulses).
"""

from __future__ import annotations

import math

import numpy as np

from xodvox_train.truth_synth import (
    SAMPLE_RATE,
    Click,
    ClipSpec,
    Component,
    Envelope,
    Formant,
    Hit,
    PitchCurve,
)

TONAL_FRACTION = 0.7
"""Share of ``tonal`` clips; the rest are ``percussive``."""
SECONDS = (1.5, 3.0)
"""Range of input lengths."""
F0_HZ = (55.0, 1760.0)
"""Range of note fundamentals (log-uniform)."""
MAX_PARTIALS = 40
"""Most partials of one note."""
PARTIAL_TOP_HZ = 19_990.0
"""Partials at or above this source frequency are left out (the band gain is ~0 there)."""
BAR_RATIOS = (1.0, 2.756, 5.404, 8.933, 13.344, 19.936)
"""Partial ratios of a free-free bar (xylophone/marimba-like)."""
BELL_RATIOS = (0.5, 1.0, 1.183, 1.506, 2.0, 2.514, 2.662, 3.011, 4.166, 5.433, 6.796)
"""Partial ratios of a church bell (hum, prime, tierce, quint, nominal, …)."""


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A log-uniform draw in ``[lo, hi]``."""
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def make_spec(seed: int, index: int) -> ClipSpec:
    """The clip of source ``(seed, index)``; the same arguments give the same spec."""
    rng = np.random.default_rng([seed, index])
    tonal = rng.random() < TONAL_FRACTION
    num_frames = round(rng.uniform(*SECONDS) * SAMPLE_RATE)
    peak = 0.9 * 10.0 ** (-rng.uniform(0.0, 9.0) / 20.0)
    if tonal:
        return ClipSpec(
            "tonal",
            seed,
            index,
            num_frames,
            components=tonal_components(rng, num_frames),
            peak=peak,
        )
    hits, clicks = percussive_hits(rng, num_frames)
    return ClipSpec("percussive", seed, index, num_frames, hits=hits, clicks=clicks, peak=peak)


# --- tonal ------------------------------------------------------------------------------------


def tonal_components(rng: np.random.Generator, num_frames: int) -> tuple[Component, ...]:
    """1-4 notes (chord, melody or free layout) and, in 40 % of clips, a noise band."""
    duration = num_frames / SAMPLE_RATE
    count = int(rng.integers(1, 5))
    layout = str(rng.choice(["chord", "melody", "free"]))
    if layout == "chord":
        timing, f0s = chord_layout(rng, count, duration)
    elif layout == "melody":
        timing, f0s = melody_layout(rng, count, duration)
    else:
        timing = [
            (rng.uniform(0.0, 0.6 * duration), rng.uniform(0.2, 0.9 * duration))
            for _ in range(count)
        ]
        f0s = [log_uniform(rng, *F0_HZ) for _ in range(count)]
    notes = [make_note(rng, start, hold, f0) for (start, hold), f0 in zip(timing, f0s, strict=True)]
    if rng.random() < 0.4:
        shared = notes[0].formant if rng.random() < 0.5 else None
        notes.append(noise_band(rng, duration, shared))
    return tuple(notes)


def chord_layout(
    rng: np.random.Generator, count: int, duration: float
) -> tuple[list[tuple[float, float]], list[float]]:
    """Near-simultaneous notes (strummed within 30 ms) on stacked 3rds, 4ths and 5ths."""
    start = rng.uniform(0.0, 0.3 * duration)
    hold = rng.uniform(0.4, 0.95) * (duration - start)
    root = log_uniform(rng, F0_HZ[0], F0_HZ[1] / 2.0)
    semis = np.cumsum([0, *rng.choice([3, 4, 5, 7], size=count - 1)])
    f0s = [fold_octave(root * 2.0 ** (k / 12.0)) for k in semis]
    timing = [(start + rng.uniform(0.0, 0.03), hold * rng.uniform(0.85, 1.0)) for _ in f0s]
    return timing, f0s


def melody_layout(
    rng: np.random.Generator, count: int, duration: float
) -> tuple[list[tuple[float, float]], list[float]]:
    """Consecutive notes (legato, overlapping or detached), a random walk in pitch."""
    span = rng.uniform(0.5, 0.95) * duration
    holds = rng.dirichlet(np.ones(count)) * span
    start = rng.uniform(0.0, duration - span)
    f0 = log_uniform(rng, *F0_HZ)
    timing, f0s = [], []
    for hold in holds:
        timing.append((start, max(float(hold) * rng.uniform(0.7, 1.2), 0.08)))
        f0s.append(f0)
        start += float(hold)
        f0 = fold_octave(f0 * 2.0 ** (rng.choice([-1, 1]) * rng.integers(1, 8) / 12.0))
    return timing, f0s


def fold_octave(f0: float) -> float:
    """Moves ``f0`` by octaves into :data:`F0_HZ`."""
    while f0 > F0_HZ[1]:
        f0 /= 2.0
    while f0 < F0_HZ[0]:
        f0 *= 2.0
    return f0


def make_note(rng: np.random.Generator, start: float, hold: float, f0: float) -> Component:
    """One note: timbre, envelope, pitch curve, optional formant, pan and level."""
    ratios, amps = timbre(rng, f0)
    kind = str(rng.choice(["plucked", "bowed", "percussive"], p=[0.4, 0.4, 0.2]))
    envelope = note_envelope(rng, kind, hold)
    pitch = pitch_curve(rng, envelope.hold_s) if kind != "percussive" else PitchCurve()
    formant = make_formant(rng) if rng.random() < 0.5 else None
    level = 10.0 ** (-rng.uniform(0.0, 12.0) / 20.0)
    return Component(
        start_s=float(start),
        f0_hz=float(f0),
        ratios=ratios,
        amplitudes=level * amps / np.sum(amps),
        phases=rng.uniform(0.0, 2.0 * np.pi, size=len(ratios)),
        envelope=envelope,
        pitch=pitch,
        formant=formant,
        pan=float(rng.uniform(-0.8, 0.8)),
        kind="note",
    )


def timbre(rng: np.random.Generator, f0: float) -> tuple[np.ndarray, np.ndarray]:
    """Partial ratios and amplitudes: 60 % harmonic, else stiff string, bar or bell."""
    if rng.random() < 0.6:
        k = np.arange(1, MAX_PARTIALS + 1, dtype=np.float64)
        rolloff = rng.uniform(0.6, 2.5)
        even = rng.uniform(0.0, 1.0) if rng.random() < 0.3 else 1.0
        amps = k**-rolloff * np.where(k % 2 == 0, even, 1.0)
        amps[0] = 1.0
        ratios = k
    else:
        kind = str(rng.choice(["string", "bar", "bell"], p=[0.5, 0.25, 0.25]))
        if kind == "string":
            stiffness = log_uniform(rng, 1e-5, 3e-3)
            k = np.arange(1, MAX_PARTIALS + 1, dtype=np.float64)
            ratios = k * np.sqrt((1.0 + stiffness * k**2) / (1.0 + stiffness))
            amps = k ** -rng.uniform(0.8, 2.5)
        else:
            base = np.array(BAR_RATIOS if kind == "bar" else BELL_RATIOS)
            ratios = base * (1.0 + rng.uniform(-0.01, 0.01, size=base.shape[0]))
            ratios[base == 1.0] = 1.0
            amps = rng.uniform(0.2, 1.0, size=base.shape[0]) * base ** -rng.uniform(0.5, 1.5)
    amps = amps * 10.0 ** (rng.normal(0.0, 2.0, size=amps.shape[0]) / 20.0)
    keep = (f0 * ratios < PARTIAL_TOP_HZ) & (amps >= 1e-3 * amps.max())
    return ratios[keep], amps[keep]


def note_envelope(rng: np.random.Generator, kind: str, hold: float) -> Envelope:
    """Plucked (fast attack, exponential decay), bowed (slow attack, sustain) or percussive."""
    if kind == "plucked":
        attack = rng.uniform(0.001, 0.01)
        return Envelope(
            attack, log_uniform(rng, 0.15, 1.5), max(hold, attack), rng.uniform(0.02, 0.15)
        )
    if kind == "bowed":
        attack = min(rng.uniform(0.04, 0.4), 0.5 * hold)
        decay = log_uniform(rng, 2.0, 10.0) if rng.random() < 0.5 else math.inf
        return Envelope(attack, decay, hold, rng.uniform(0.06, 0.4))
    decay = log_uniform(rng, 0.02, 0.15)
    attack = rng.uniform(0.0003, 0.002)
    return Envelope(attack, decay, max(min(hold, 6.0 * decay), attack), rng.uniform(0.005, 0.03))


def pitch_curve(rng: np.random.Generator, hold: float) -> PitchCurve:
    """Vibrato in 35 % of notes (4-7 Hz, 5-50 cents), a glide over the note in 20 %."""
    vib = rng.random() < 0.35
    glide = rng.random() < 0.2
    return PitchCurve(
        glide_semitones=float(rng.choice([-1, 1]) * rng.uniform(0.5, 7.0)) if glide else 0.0,
        glide_s=float(hold),
        vibrato_hz=float(rng.uniform(4.0, 7.0)),
        vibrato_cents=float(rng.uniform(5.0, 50.0)) if vib else 0.0,
        vibrato_phase=float(rng.uniform(0.0, 2.0 * np.pi)),
    )


def make_formant(rng: np.random.Generator) -> Formant:
    """2-4 resonances (200 Hz-5 kHz, 0.1-0.5 octave wide, 0-20 dB) and a tilt."""
    count = int(rng.integers(2, 5))
    return Formant(
        centres_log2=tuple(float(math.log2(log_uniform(rng, 200.0, 5000.0))) for _ in range(count)),
        widths_oct=tuple(float(rng.uniform(0.1, 0.5)) for _ in range(count)),
        gains=tuple(float(10.0 ** (rng.uniform(0.0, 20.0) / 20.0)) for _ in range(count)),
        floor=float(rng.uniform(0.05, 0.3)),
        tilt_db_per_oct=float(rng.uniform(-6.0, 2.0)),
    )


def noise_sinusoids(
    rng: np.random.Generator, lo: float, hi: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """100-300 sinusoids in ``[lo, hi]`` Hz (uniform or log-uniform), Rayleigh amplitudes."""
    count = int(rng.integers(100, 301))
    if rng.random() < 0.5:
        freqs = rng.uniform(lo, hi, size=count)
    else:
        freqs = np.exp(rng.uniform(math.log(lo), math.log(hi), size=count))
    amps = rng.rayleigh(1.0, size=count) / math.sqrt(count)
    return freqs, amps, rng.uniform(0.0, 2.0 * np.pi, size=count)


def noise_band(rng: np.random.Generator, duration: float, formant: Formant | None) -> Component:
    """A noise band (breath, bow or air noise) with its own envelope and level."""
    lo = log_uniform(rng, 80.0, 4000.0)
    hi = min(lo * 2.0 ** rng.uniform(1.0, 6.0), 20_000.0)
    freqs, amps, phases = noise_sinusoids(rng, lo, hi)
    start = rng.uniform(0.0, 0.5 * duration)
    kind = "bowed" if rng.random() < 0.6 else "plucked"
    envelope = note_envelope(rng, kind, rng.uniform(0.2, 1.0) * (duration - start))
    return Component(
        start_s=float(start),
        f0_hz=1.0,
        ratios=freqs,
        amplitudes=amps * 10.0 ** (-rng.uniform(10.0, 30.0) / 20.0),
        phases=phases,
        envelope=envelope,
        formant=formant,
        pan=float(rng.uniform(-0.8, 0.8)),
        kind="noise",
    )


# --- percussive -------------------------------------------------------------------------------

HIT_KINDS = ("kick", "snare", "hat", "tom", "click")
"""Kinds of percussive hit."""
HIT_WEIGHTS = (0.25, 0.2, 0.25, 0.15, 0.15)
"""Probability of each kind in :data:`HIT_KINDS`."""
DRUM_TONES = {
    "kick": ((40.0, 70.0), (1.5, 3.0), (0.01, 0.05), (0.08, 0.35), 0.0),
    "tom": ((80.0, 300.0), (1.1, 1.5), (0.02, 0.08), (0.08, 0.3), 0.3),
    "snare": ((150.0, 250.0), (1.1, 1.3), (0.01, 0.03), (0.05, 0.12), 0.4),
}
"""Per tone kind: ranges of final frequency (Hz), pitch drop ratio, drop time constant (s),
amplitude decay (s); and the level of an overtone at 1.5-1.7x (0: none)."""
BURST_BANDS = {
    "snare": ((800.0, 2000.0), (6000.0, 12000.0)),
    "hat": ((5000.0, 9000.0), (18000.0, 20000.0)),
}
"""Per burst kind: ranges of the band's low and high edges (Hz)."""


def percussive_hits(
    rng: np.random.Generator, num_frames: int
) -> tuple[tuple[Hit, ...], tuple[Click, ...]]:
    """3-16 hits at distinct 16th-note grid steps (70-180 BPM), jittered by ≤ 5 ms."""
    duration = num_frames / SAMPLE_RATE
    step = 60.0 / rng.uniform(70.0, 180.0) / 4.0
    offset = rng.uniform(0.0, 0.1)
    slots = max(1, int((duration - offset - 0.05) / step))
    count = min(int(rng.integers(3, 17)), slots)
    chosen = np.sort(rng.choice(slots, size=count, replace=False))
    hits: list[Hit] = []
    clicks: list[Click] = []
    for slot in chosen:
        when = max(0.0, offset + slot * step + rng.uniform(-0.005, 0.005))
        onset = round(when * SAMPLE_RATE) / SAMPLE_RATE
        kind = str(rng.choice(HIT_KINDS, p=HIT_WEIGHTS))
        level = rng.uniform(0.3, 1.0)
        pan = float(rng.uniform(-0.6, 0.6))
        if kind == "click":
            width = int(rng.integers(2, 17))
            clicks.append(Click(onset, level, width, bool(rng.random() < 0.5), pan))
            continue
        if kind in DRUM_TONES:
            tone_level = 0.5 * level if kind == "snare" else level
            hits.append(drum_tone(rng, onset, kind, tone_level, pan))
        if kind in BURST_BANDS:
            hits.append(burst(rng, onset, kind, level, pan))
    return tuple(hits), tuple(clicks)


def hit_envelope(rng: np.random.Generator, decay: float) -> Envelope:
    """Attack 0.2-1.5 ms, exponential decay, cut after 6 decay constants by a release of one."""
    return Envelope(rng.uniform(0.0002, 0.0015), decay, 6.0 * decay, decay)


def drum_tone(rng: np.random.Generator, onset: float, kind: str, level: float, pan: float) -> Hit:
    """A kick, tom or snare body (:data:`DRUM_TONES`): a decaying sine with a pitch drop."""
    f_end, drop, drop_s, decay = (rng.uniform(*r) for r in DRUM_TONES[kind][:4])
    overtone = DRUM_TONES[kind][4]
    ratios, amps = np.array([1.0, rng.uniform(1.5, 1.7)]), np.array([1.0, overtone])
    if overtone == 0.0:
        ratios, amps = ratios[:1], amps[:1]
    return Hit(
        onset_s=onset,
        freqs=f_end * ratios,
        amplitudes=level * amps,
        phases=rng.uniform(0.0, 2.0 * np.pi, size=len(ratios)),
        envelope=hit_envelope(rng, decay),
        drop_ratio=float(drop),
        drop_s=float(drop_s),
        pan=pan,
        kind=kind,
    )


def burst(rng: np.random.Generator, onset: float, kind: str, level: float, pan: float) -> Hit:
    """A decaying noise burst of random sinusoids (:data:`BURST_BANDS`: snare wires, hats)."""
    lo, hi = (rng.uniform(*edge) for edge in BURST_BANDS[kind])
    freqs, amps, phases = noise_sinusoids(rng, lo, hi)
    decay = rng.uniform(0.06, 0.18) if kind == "snare" else log_uniform(rng, 0.015, 0.25)
    return Hit(onset, freqs, level * amps, phases, hit_envelope(rng, decay), pan=pan, kind=kind)
