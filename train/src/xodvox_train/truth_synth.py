"""Exact additive synthesis of ground-truth pairs: clip specs and their rendering per task.

A clip (:class:`ClipSpec`) is a list of *components* (tonal notes and noise bands: sets of
sinusoids with one envelope, one pitch curve, an optional formant envelope and a pan), a list
of percussive *hits* (decaying sinusoid sets, optionally with a pitch drop) and *clicks*
(short windowed impulses). :func:`render` evaluates it exactly for a :class:`Task`
(duration ratio ``s``, pitch ratio ``r = 2^(p/12)``, style):

- components: every envelope, vibrato and pitch curve at source time ``t/s``; partial ``k``
  has phase ``φ_k + 2π·r·s·Φ_k(t/s)`` (``Φ_k`` the integral of its frequency curve from the
  note start), so its frequency at output time ``t`` is ``r·f_k(t/s)``;
- hits and clicks: unchanged in shape, at onset sample ``round(onset·s·sr)`` (as in
  ``crates/eval/src/set.rs``); the sinusoids of a hit have ``r`` times their frequency, clicks are
  not re-pitched;
- amplitudes: ``a_k·B(f, r·f)·E(f)`` (style ``natural``: the formant envelope moves with the
  partials) or ``a_k·B(f, r·f)·E(r·f)`` (``formant``), ``f`` the partial's source frequency at
  that instant, ``B(f, f') = g(f)·g(f')`` the band gain of :func:`band_gain` (the input is the
  identity task, so it carries ``g(f)²``).

The input of a pair is ``render(spec, IDENTITY)``: one code path, so the identity task gives
the input bit for bit. Phases of steady sinusoid sets are summed in float64 by a block
factorisation (one matrix product, :func:`steady_sum`); pitch curves are integrated with
Simpson's rule on the output sample grid (half-sample steps), error far below float32.
Random clip specs are made by :mod:`xodvox_train.truth_spec`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SAMPLE_RATE = 48_000
"""Rate of every truth clip in Hz (the model rate)."""
BAND_TOP_HZ = (18_000.0, 20_000.0)
"""Band-limit fade: ``g = 1`` below the first frequency, ``0`` above the second."""
BAND_BOTTOM_HZ = (10.0, 20.0)
"""Low-frequency fade: ``g = 0`` below the first frequency, ``1`` above the second."""
BLOCK_RANGE = (16, 1024)
"""Range of the block length of the factorised steady sum (:func:`steady_sum`)."""
CHUNK = 8192
"""Samples per chunk of the time-varying partial sum (bounds memory)."""


@dataclass(frozen=True)
class Task:
    """What the reference is: duration ratio, pitch shift and style.

    Attributes:
        stretch: duration ratio (output length / input length), > 0.
        pitch_semitones: pitch shift in semitones.
        formant: True for the ``formant`` style (amplitudes from the envelope at the new
            frequency), False for ``natural``.
    """

    stretch: float = 1.0
    pitch_semitones: float = 0.0
    formant: bool = False

    @property
    def ratio(self) -> float:
        """Frequency ratio ``2^(p/12)`` (exactly 1.0 for ``p = 0``)."""
        return float(2.0 ** (self.pitch_semitones / 12.0))

    def output_frames(self, input_frames: int) -> int:
        """``round(len x stretch)`` (half away from zero, like Rust's ``f64::round``)."""
        return math.floor(input_frames * self.stretch + 0.5)


IDENTITY = Task()
"""The task whose output is the input."""


@dataclass(frozen=True)
class Envelope:
    """Amplitude envelope of a note or hit, in seconds from its start (zero outside).

    Raised-cosine attack from 0 to 1 over ``attack_s``, then ``exp(-(τ - attack)/decay)``
    until ``hold_s``, then a raised-cosine release to 0 over ``release_s``.

    Attributes:
        attack_s: attack time, ``0 < attack_s ≤ hold_s``.
        decay_s: exponential decay time constant (``math.inf``: none).
        hold_s: time at which the release starts.
        release_s: release time, > 0.
    """

    attack_s: float
    decay_s: float
    hold_s: float
    release_s: float

    @property
    def length_s(self) -> float:
        """Support length: the envelope is zero from ``hold_s + release_s`` on."""
        return self.hold_s + self.release_s

    def evaluate(self, tau: np.ndarray) -> np.ndarray:
        """Envelope values at times ``tau`` (seconds since the start), float64."""
        tau = np.asarray(tau, dtype=np.float64)
        rise = np.clip(tau / self.attack_s, 0.0, 1.0)
        level = 0.5 - 0.5 * np.cos(np.pi * rise)
        if math.isfinite(self.decay_s):
            level = level * np.exp(-np.maximum(tau - self.attack_s, 0.0) / self.decay_s)
        fall = np.clip((tau - self.hold_s) / self.release_s, 0.0, 1.0)
        level = level * (0.5 + 0.5 * np.cos(np.pi * fall))
        return np.where((tau >= 0.0) & (tau < self.length_s), level, 0.0)


@dataclass(frozen=True)
class PitchCurve:
    """Pitch offset of a note in semitones, as a function of time since its start.

    ``c(τ) = glide·clip(τ/glide_s, 0, 1) + (vibrato_cents/100)·sin(2π·rate·τ + phase)``.

    Attributes:
        glide_semitones: total glide (linear in semitones), 0 for none.
        glide_s: duration of the glide (> 0).
        vibrato_hz: vibrato rate.
        vibrato_cents: vibrato depth (peak deviation), 0 for none.
        vibrato_phase: vibrato phase at the note start, radians.
    """

    glide_semitones: float = 0.0
    glide_s: float = 1.0
    vibrato_hz: float = 5.0
    vibrato_cents: float = 0.0
    vibrato_phase: float = 0.0

    @property
    def is_flat(self) -> bool:
        """True when the curve is identically 0 (steady partials)."""
        return self.glide_semitones == 0.0 and self.vibrato_cents == 0.0

    def semitones(self, tau: np.ndarray) -> np.ndarray:
        """``c(τ)`` in semitones, float64."""
        tau = np.asarray(tau, dtype=np.float64)
        glide = self.glide_semitones * np.clip(tau / self.glide_s, 0.0, 1.0)
        vib = np.sin(2.0 * np.pi * self.vibrato_hz * tau + self.vibrato_phase)
        return glide + (self.vibrato_cents / 100.0) * vib


@dataclass(frozen=True)
class Formant:
    """Spectral envelope ``E(f)``: resonances Gaussian in log-frequency, times a tilt.

    ``E(f) = 10^(tilt·(L - log2 1000)/20)·(floor + Σ_j gain_j·exp(-½((L - c_j)/w_j)²))``,
    ``L = log2 f``.

    Attributes:
        centres_log2: resonance centres, ``log2`` of Hz.
        widths_oct: resonance standard deviations in octaves.
        gains: resonance peak gains (linear, above the floor).
        floor: gain between resonances.
        tilt_db_per_oct: spectral tilt, dB per octave (0 dB at 1 kHz).
    """

    centres_log2: tuple[float, ...]
    widths_oct: tuple[float, ...]
    gains: tuple[float, ...]
    floor: float
    tilt_db_per_oct: float

    def gain_log2(self, log2_f: np.ndarray) -> np.ndarray:
        """``E`` at frequencies given as ``log2`` of Hz (any shape), float64."""
        log2_f = np.asarray(log2_f, dtype=np.float64)
        total = np.full(log2_f.shape, self.floor)
        for centre, width, gain in zip(self.centres_log2, self.widths_oct, self.gains, strict=True):
            total += gain * np.exp(-0.5 * ((log2_f - centre) / width) ** 2)
        tilt = self.tilt_db_per_oct / 20.0 * math.log2(10.0)
        return total * np.exp2(tilt * (log2_f - math.log2(1000.0)))


@dataclass(frozen=True, eq=False)
class Component:
    """A tonal note or noise band: sinusoids with one envelope, pitch curve and pan.

    Partial ``k`` has source frequency ``f0·ratios[k]·2^(c(τ)/12)``.

    Attributes:
        start_s: start time in input seconds.
        f0_hz: reference frequency (1.0 for a noise band, whose ``ratios`` are in Hz).
        ratios: partial frequency ratios, shape ``(K,)``.
        amplitudes: partial amplitudes, shape ``(K,)``.
        phases: partial phases at the start, radians, shape ``(K,)``.
        envelope: the common amplitude envelope.
        pitch: the common pitch curve.
        formant: spectral envelope, or None (flat).
        pan: -1 (left) .. 1 (right), constant power.
        kind: ``note`` or ``noise`` (descriptive).
    """

    start_s: float
    f0_hz: float
    ratios: np.ndarray
    amplitudes: np.ndarray
    phases: np.ndarray
    envelope: Envelope
    pitch: PitchCurve = field(default_factory=PitchCurve)
    formant: Formant | None = None
    pan: float = 0.0
    kind: str = "note"


@dataclass(frozen=True, eq=False)
class Hit:
    """A percussive hit made of sinusoids: a noise burst, or a kick/tom with a pitch drop.

    Partial ``k`` has frequency ``freqs[k]·(1 + (drop_ratio - 1)·exp(-τ/drop_s))`` at time
    ``τ`` after the onset; the shape does not change with the stretch.

    Attributes:
        onset_s: onset in input seconds (a whole number of samples).
        freqs: final partial frequencies in Hz, shape ``(K,)``.
        amplitudes: partial amplitudes, shape ``(K,)``.
        phases: partial phases at the onset, radians.
        envelope: amplitude envelope from the onset.
        drop_ratio: start frequency / final frequency (1: steady, a noise burst).
        drop_s: time constant of the pitch drop.
        pan: -1 .. 1, constant power.
        kind: ``kick``, ``tom``, ``snare``, ``hat`` (descriptive).
    """

    onset_s: float
    freqs: np.ndarray
    amplitudes: np.ndarray
    phases: np.ndarray
    envelope: Envelope
    drop_ratio: float = 1.0
    drop_s: float = 0.03
    pan: float = 0.0
    kind: str = "burst"


@dataclass(frozen=True)
class Click:
    """A short windowed impulse (Hann window, or its first difference when ``bright``).

    Attributes:
        onset_s: onset in input seconds (a whole number of samples).
        amplitude: peak of the window.
        width: window length in samples.
        bright: use the first difference (zero-mean, high-passed).
        pan: -1 .. 1, constant power.
    """

    onset_s: float
    amplitude: float
    width: int
    bright: bool = False
    pan: float = 0.0

    def shape(self) -> np.ndarray:
        """The click's samples from its onset, float64."""
        window = np.hanning(self.width + 2)[1:-1]
        if self.bright:
            window = np.diff(window, prepend=0.0)
        return self.amplitude * window


@dataclass(frozen=True, eq=False)
class ClipSpec:
    """A whole clip: what is played, its length and its level.

    Attributes:
        family: ``tonal`` or ``percussive``.
        seed: generator seed it was made from.
        index: source index it was made from.
        num_frames: input length in samples.
        components: tonal notes and noise bands.
        hits: percussive sinusoid hits.
        clicks: percussive clicks.
        peak: peak of the louder file of a pair after normalisation (≤ 0.9).
    """

    family: str
    seed: int
    index: int
    num_frames: int
    components: tuple[Component, ...] = ()
    hits: tuple[Hit, ...] = ()
    clicks: tuple[Click, ...] = ()
    peak: float = 0.9

    def onsets_s(self) -> list[float]:
        """Sorted onset times (input seconds) of the hits and clicks."""
        return sorted([h.onset_s for h in self.hits] + [c.onset_s for c in self.clicks])


def round_half_up(x: float) -> int:
    """``floor(x + 0.5)``: Rust's ``f64::round`` for non-negative ``x``."""
    return math.floor(x + 0.5)


def onset_sample(onset_s: float, task: Task, sr: int = SAMPLE_RATE) -> int:
    """Output sample of an input onset: ``round(onset·s·sr)`` (as ``crates/eval``)."""
    return round_half_up(onset_s * task.stretch * sr)


def band_gain(freq_hz: np.ndarray) -> np.ndarray:
    """``g(f)``: 1 in the pass band, raised-cosine fades to 0 at 10-20 Hz and 18-20 kHz."""
    f = np.asarray(freq_hz, dtype=np.float64)
    top = np.clip((f - BAND_TOP_HZ[0]) / (BAND_TOP_HZ[1] - BAND_TOP_HZ[0]), 0.0, 1.0)
    lo, hi = BAND_BOTTOM_HZ
    bottom = np.clip(np.log2(np.maximum(f, 1e-9) / lo) / math.log2(hi / lo), 0.0, 1.0)
    return (0.5 + 0.5 * np.cos(np.pi * top)) * (0.5 - 0.5 * np.cos(np.pi * bottom))


def spectral_gain(
    log2_src: np.ndarray, task: Task, formant: Formant | None, band_rows: np.ndarray | None = None
) -> np.ndarray:
    """``g(f)·g(r·f)·E(f or r·f)`` for source frequencies given as ``log2`` of Hz.

    Args:
        log2_src: ``log2`` of the source frequencies, ``(K,)`` or ``(K, S)``.
        task: gives ``r`` and the style (``E`` at ``r·f`` when ``task.formant``).
        formant: the spectral envelope, or None (``E = 1``).
        band_rows: boolean ``(K,)``: the partials whose band gain is computed; the others are
            known to stay where it is exactly 1 (None: all rows).
    """
    r = task.ratio
    if formant is None:
        gain = np.ones(np.shape(log2_src))
    else:
        gain = formant.gain_log2(log2_src + (math.log2(r) if task.formant else 0.0))
    rows = slice(None) if band_rows is None else band_rows
    f_src = np.exp2(log2_src[rows])
    gain[rows] *= band_gain(f_src) * band_gain(f_src * r)
    return gain


def steady_sum(
    freqs_hz: np.ndarray, amps: np.ndarray, phases: np.ndarray, count: int, sr: int = SAMPLE_RATE
) -> np.ndarray:
    """``Σ_k a_k·sin(φ_k + 2π·f_k·m/sr)`` for ``m = 0 … count-1``, float64.

    With ``m = j·B + i``, ``exp(i(φ + ωm)) = exp(i(φ + ωjB))·exp(iωi)``: the sum is the
    imaginary part of one (rows x K)·(K x B) complex matrix product, done as a real one; ``B``
    is the power of two nearest ``√count`` (in :data:`BLOCK_RANGE`), so only
    ``K·(rows + B)`` sines and cosines are evaluated.
    """
    if count <= 0 or len(freqs_hz) == 0:
        return np.zeros(max(count, 0))
    block = int(np.clip(2 ** round(0.5 * math.log2(count)), *BLOCK_RANGE))
    omega = 2.0 * np.pi * np.asarray(freqs_hz, dtype=np.float64) / sr
    rows = -(-count // block)
    outer = phases[None, :] + (np.arange(rows) * block)[:, None] * omega[None, :]
    inner = omega[:, None] * np.arange(block)[None, :]
    left = np.hstack([amps * np.sin(outer), amps * np.cos(outer)])
    right = np.vstack([np.cos(inner), np.sin(inner)])
    return (left @ right).ravel()[:count]


def varying_sum(
    freqs_hz: np.ndarray,
    amps: np.ndarray,
    phases: np.ndarray,
    cycles: np.ndarray,
    shift_oct: np.ndarray,
    task: Task,
    formant: Formant | None,
) -> np.ndarray:
    """Sum of partials whose frequencies follow a common curve, float64.

    Partial ``k`` is ``a_k·G_k[n]·sin(φ_k + 2π·r·f_k·cycles[n])`` with source frequency
    ``f_k·2^shift_oct[n]`` and ``G`` from :func:`spectral_gain` (the band gain only where a
    partial leaves the pass band, where it is not exactly 1).

    Args:
        freqs_hz: base frequencies ``f_k``, shape ``(K,)``.
        amps: amplitudes ``a_k``.
        phases: phases ``φ_k``.
        cycles: integral of the frequency factor, seconds, shape ``(S,)``.
        shift_oct: ``log2`` of the frequency factor, shape ``(S,)``.
        task: the task (``r``, style).
        formant: spectral envelope or None.
    """
    out = np.zeros(cycles.shape[0])
    if len(freqs_hz) == 0 or cycles.shape[0] == 0:
        return out
    r = task.ratio
    f_lo = freqs_hz * 2.0 ** float(shift_oct.min())
    f_hi = freqs_hz * 2.0 ** float(shift_oct.max())
    inside = (f_lo >= BAND_BOTTOM_HZ[1]) & (f_hi <= BAND_TOP_HZ[0])
    inside &= (r * f_lo >= BAND_BOTTOM_HZ[1]) & (r * f_hi <= BAND_TOP_HZ[0])
    band_rows = ~inside
    log2_base = np.log2(freqs_hz)[:, None]
    rates = (2.0 * np.pi * r * freqs_hz)[:, None]
    for a in range(0, cycles.shape[0], CHUNK):
        b = min(a + CHUNK, cycles.shape[0])
        waves = np.sin(phases[:, None] + rates * cycles[None, a:b])
        if band_rows.any() or formant is not None:
            log2_src = log2_base + shift_oct[None, a:b]
            waves *= spectral_gain(log2_src, task, formant, band_rows)
        out[a:b] = amps @ waves
    return out


def simpson_cumulative(head: float, values: np.ndarray, dt: float) -> np.ndarray:
    """``head`` + cumulative Simpson integral of ``values`` (odd count, spaced ``dt/2``).

    Returns one value per whole step: at ``values[0], values[2], …``.
    """
    steps = (values[:-2:2] + 4.0 * values[1::2] + values[2::2]) * (dt / 6.0)
    return head + np.concatenate([[0.0], np.cumsum(steps)])


def add_panned(out: np.ndarray, first: int, mono: np.ndarray, pan: float) -> None:
    """Adds ``mono`` at ``out[first:]`` (``(N, 2)``) with a constant-power pan."""
    angle = (pan + 1.0) * np.pi / 4.0
    end = min(out.shape[0], first + mono.shape[0])
    if end <= first:
        return
    out[first:end, 0] += math.cos(angle) * mono[: end - first]
    out[first:end, 1] += math.sin(angle) * mono[: end - first]


def render_component(out: np.ndarray, comp: Component, task: Task, sr: int = SAMPLE_RATE) -> None:
    """Adds a note or noise band to ``out`` for ``task`` (times at ``t/s``, frequencies times r)."""
    s, r = task.stretch, task.ratio
    start_out = comp.start_s * s
    first = max(0, math.ceil(start_out * sr))
    end = min(out.shape[0], math.ceil((comp.start_s + comp.envelope.length_s) * s * sr))
    if end <= first:
        return
    count = end - first
    freqs = comp.f0_hz * comp.ratios
    if comp.pitch.is_flat:
        gains = spectral_gain(np.log2(freqs), task, comp.formant)
        amps = comp.amplitudes * gains
        keep = amps != 0.0
        phases = comp.phases + 2.0 * np.pi * r * freqs * (first / sr - start_out)
        mono = steady_sum(r * freqs[keep], amps[keep], phases[keep], count, sr)
    else:
        # Output times at half-sample steps from sample `first`; the frequency factor there is
        # 2^(c(t/s - t0)/12), integrated from the (off-grid) start s·t0.
        grid = (2 * first + np.arange(2 * count - 1)) / (2.0 * sr)
        semis = comp.pitch.semitones(grid / s - comp.start_s)
        h = first / sr - start_out
        ends = comp.pitch.semitones(np.array([0.0, 0.5 * h / s, h / s]))
        head = h / 6.0 * float(np.exp2(ends / 12.0) @ np.array([1.0, 4.0, 1.0]))
        cycles = simpson_cumulative(head, np.exp2(semis / 12.0), 1.0 / sr)
        mono = varying_sum(
            freqs, comp.amplitudes, comp.phases, cycles, semis[::2] / 12.0, task, comp.formant
        )
    t = np.arange(first, end) / sr
    mono *= comp.envelope.evaluate(t / s - comp.start_s)
    add_panned(out, first, mono, comp.pan)


def render_hit(out: np.ndarray, hit: Hit, task: Task, sr: int = SAMPLE_RATE) -> None:
    """Adds a hit to ``out``: same shape at ``round(onset·s·sr)``, frequencies times r."""
    first = onset_sample(hit.onset_s, task, sr)
    count = min(out.shape[0] - first, math.ceil(hit.envelope.length_s * sr))
    if count <= 0:
        return
    tau = np.arange(count) / sr
    if hit.drop_ratio == 1.0:
        amps = hit.amplitudes * spectral_gain(np.log2(hit.freqs), task, None)
        keep = amps != 0.0
        mono = steady_sum(task.ratio * hit.freqs[keep], amps[keep], hit.phases[keep], count, sr)
    else:
        decay = np.exp(-tau / hit.drop_s)
        cycles = tau + (hit.drop_ratio - 1.0) * hit.drop_s * (1.0 - decay)
        shift = np.log2(1.0 + (hit.drop_ratio - 1.0) * decay)
        mono = varying_sum(hit.freqs, hit.amplitudes, hit.phases, cycles, shift, task, None)
    mono *= hit.envelope.evaluate(tau)
    add_panned(out, first, mono, hit.pan)


def render_click(out: np.ndarray, click: Click, task: Task, sr: int = SAMPLE_RATE) -> None:
    """Adds a click to ``out`` at ``round(onset·s·sr)`` (never re-pitched)."""
    add_panned(out, onset_sample(click.onset_s, task, sr), click.shape(), click.pan)


def render(spec: ClipSpec, task: Task, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The exact output of ``task`` on ``spec``: ``(round(len·s), 2)`` float64, unnormalised.

    ``render(spec, IDENTITY)`` is the input.
    """
    out = np.zeros((task.output_frames(spec.num_frames), 2))
    for comp in spec.components:
        render_component(out, comp, task, sr)
    for hit in spec.hits:
        render_hit(out, hit, task, sr)
    for click in spec.clicks:
        render_click(out, click, task, sr)
    return out


def render_pair(spec: ClipSpec, task: Task, sr: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """(input, reference) as float32 ``(frames, 2)``; one gain, the louder peaks at ``spec.peak``.

    The input is ``render(spec, IDENTITY)``: for the identity task the two are bit-identical.
    """
    source = render(spec, IDENTITY, sr)
    reference = render(spec, task, sr)
    peak = max(
        float(np.max(np.abs(source), initial=0.0)), float(np.max(np.abs(reference), initial=0.0))
    )
    gain = spec.peak / peak if peak > 0.0 else 1.0
    return (source * gain).astype(np.float32), (reference * gain).astype(np.float32)
