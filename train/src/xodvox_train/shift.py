"""Spectral pitch shifting: a numpy port of ``crates/dsp/src/shift.rs`` (``SpectralShifter``).

The runtime's spectral pitch path (``PitchMode::Spectral``) analyses at the stretch ratio only
and moves the pitch in the frequency domain, frame by frame, after transient detection and
before the phase engine. The plan is made on the mid frame:

- peaks and regions of influence are the classical engine's (``peaks.rs``): a bin larger than
  its two neighbours on each side (ties to the lower bin), above 1e-4 of the frame's maximum;
  a region ends (exclusive) at the lowest bin before the next peak (at least one past the peak);
- each region moves rigidly by ``f * (ratio - 1)`` bins, ``f`` the peak's reassigned frequency
  in bins clamped to within one bin of the peak; the rigid bins interpolate the frame-centred
  spectrum ``X[k] * (-1)^k`` with six-point Lagrange weights;
- the other bins (the fill) sit at ``k / ratio``: linear magnitude, phase integrated along
  frequency from the reassigned times (trapezoid rule, slope ``-2 pi t / n_fft`` per bin),
  continuing from the rigid bins; other channels keep their phase offset to the mid at the
  nearest source bin;
- bins whose source lies past the last bin are silent;
- transient frames have no peaks: every bin is fill, so the attack keeps its time;
- the shifted instantaneous frequency is the source's (linear) at the source position times the
  ratio, capped at pi (bin centre at silent bins).

Everything is computed in float64 (the Rust runtime uses float32).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PEAK_FLOOR = 1e-4
"""Peaks quieter than this fraction of the frame's loudest bin are not tracked (``peaks.rs``)."""
UNITY_EPS = 1e-9
"""Pitch ratios closer to 1 than this leave the spectrum untouched (``shift.rs``)."""
LAGRANGE_OFFSETS = np.array([-2.0, -1.0, 0.0, 1.0, 2.0, 3.0])
"""Taps of the six-point Lagrange interpolation, relative to ``floor(s)``."""


def find_peaks(mag: np.ndarray) -> np.ndarray:
    """Peak bins of one frame's magnitudes ``(bins,)``, increasing (``peaks.rs``)."""
    bins = mag.shape[0]
    floor = mag.max() * PEAK_FLOOR if bins else 0.0
    padded = np.pad(mag, 2, constant_values=-np.inf)
    left = np.maximum(padded[0:bins], padded[1 : bins + 1])
    right = np.maximum(padded[3 : bins + 3], padded[4 : bins + 4])
    return np.flatnonzero((mag > floor) & (mag != 0.0) & (mag > left) & (mag >= right))


def region_ends(mag: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Exclusive region end of every peak (``peaks.rs``'s ``region_end``)."""
    ends = np.empty(peaks.size, dtype=np.int64)
    for i in range(peaks.size - 1):
        p, nxt = int(peaks[i]), int(peaks[i + 1])
        lowest = p + int(np.argmin(mag[p:nxt]))
        ends[i] = min(max(lowest, p + 1), nxt)
    if peaks.size:
        ends[-1] = mag.shape[0]
    return ends


def centre(spectrum: np.ndarray) -> np.ndarray:
    """Frame-start to frame-centred phase convention and back: ``X[k] * (-1)^k``."""
    bins = spectrum.shape[-1]
    sign = np.where(np.arange(bins) % 2 == 0, 1.0, -1.0)
    return spectrum * sign


def _split(s: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Whole and fractional parts of source positions in ``0..=bins - 1``."""
    i = np.minimum(np.floor(s).astype(np.int64), bins - 1)
    return i, s - i


def interp_complex(v: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Six-point Lagrange interpolation of ``v`` at fractional positions ``s`` (clamped ends).

    Exact at whole positions (the Rust code returns the sample itself there).
    """
    last = v.shape[0] - 1
    base = np.floor(s)
    t = s - base
    idx = base.astype(np.int64)
    acc = np.zeros(s.shape, dtype=np.complex128)
    for j, oj in enumerate(LAGRANGE_OFFSETS):
        w = np.ones_like(t)
        for m, om in enumerate(LAGRANGE_OFFSETS):
            if m != j:
                w = w * (t - om) / (oj - om)
        acc += v[np.clip(idx + int(oj), 0, last)] * w
    whole = t == 0.0
    acc[whole] = v[np.clip(idx[whole], 0, last)]
    return acc


@dataclass(frozen=True)
class ShiftPlan:
    """The remap of one frame (``SpectralShifter``'s state after ``plan``).

    Attributes:
        ratio: the frequency ratio; ``unity`` when it is 1 (nothing to do).
        src: ``(bins,)`` fractional source bin per output bin, negative for silence.
        rigid: ``(bins,)`` bool, the bin belongs to a rigidly moved region.
        fill_phase: ``(bins,)`` planned frame-centred phase of the fill bins.
        near: ``(bins,)`` source bin nearest to each fill bin's source position.
        reference_arg: ``(bins,)`` the reference's frame-centred phase per source bin.
        peaks: peak bins of the plan (empty on transient frames).
    """

    ratio: float
    unity: bool
    src: np.ndarray
    rigid: np.ndarray
    fill_phase: np.ndarray
    near: np.ndarray
    reference_arg: np.ndarray
    peaks: np.ndarray


def map_bins(
    magnitude: np.ndarray, inst_freq: np.ndarray, transient: bool, ratio: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source position and rigid flag of every output bin (``SpectralShifter::map_bins``)."""
    bins = magnitude.shape[0]
    last = bins - 1
    to_bins = 2 * (bins - 1) / (2.0 * np.pi)
    k = np.arange(bins, dtype=np.float64)
    u = k / ratio
    src = u.copy()
    rigid = np.zeros(bins, dtype=bool)
    peaks = np.zeros(0, dtype=np.int64) if transient else find_peaks(magnitude)
    if peaks.size:
        ends = region_ends(magnitude, peaks)
        # The region of each output bin: the first whose end is above k / ratio (the last
        # region takes everything above).
        region = np.minimum(np.searchsorted(ends, u, side="right"), peaks.size - 1)
        starts = np.concatenate([[0], ends[:-1]])
        p = peaks[region]
        f = np.clip(inst_freq[p] * to_bins, p - 1.0, p + 1.0)
        a = k - f * (ratio - 1.0)
        inside = (a >= starts[region]) & (a <= ends[region] - 1)
        src = np.where(inside, a, u)
        rigid = inside
    silent = (src < 0.0) | (src > last)
    src = np.where(silent, -1.0, src)
    return src, rigid & ~silent, peaks


def plan(
    spectrum: np.ndarray,
    magnitude: np.ndarray,
    inst_freq: np.ndarray,
    time_offset: np.ndarray,
    transient: bool,
    ratio: float,
) -> ShiftPlan:
    """Plans the remap of one frame from the reference (mid) frame (``SpectralShifter::plan``).

    Args:
        spectrum: ``(bins,)`` complex spectrum, frame-start convention (``np.fft.rfft``).
        magnitude: its magnitudes; ``inst_freq``: reassigned frequency (rad/sample);
        time_offset: reassigned time (samples from the frame centre);
        transient: the frame holds a transient (every bin filled);
        ratio: frequency ratio (> 0).
    """
    bins = magnitude.shape[0]
    centred = centre(spectrum)
    reference_arg = np.angle(centred)
    if abs(ratio - 1.0) < UNITY_EPS:
        ident = np.arange(bins, dtype=np.float64)
        return ShiftPlan(
            ratio=1.0,
            unity=True,
            src=ident,
            rigid=np.ones(bins, dtype=bool),
            fill_phase=np.zeros(bins),
            near=np.arange(bins),
            reference_arg=reference_arg,
            peaks=np.zeros(0, dtype=np.int64),
        )
    src, rigid, peaks = map_bins(magnitude, inst_freq, transient, ratio)
    live = src >= 0.0
    s = np.where(live, src, 0.0)
    i, t = _split(s, bins)
    j = np.minimum(i + 1, bins - 1)
    time = time_offset[i] + t * (time_offset[j] - time_offset[i])
    slope = -2.0 * np.pi / (2 * (bins - 1))
    # Anchors: rigid bins (interpolated phase) and bin 0 when it is fill (reference phase);
    # bin 0 is always live (its source is 0 or in a region), so every bin has an anchor.
    anchor_phase = np.where(rigid, np.angle(interp_complex(centred, s)), 0.0)
    anchor = rigid.copy()
    if live[0] and not rigid[0]:
        anchor[0] = True
        anchor_phase[0] = reference_arg[0]
    # Trapezoid increments from the previous live bin (silent bins are a suffix: src > last).
    prev_time = np.concatenate([[0.0], time[:-1]])
    step = np.where(anchor | ~live, 0.0, slope * 0.5 * (prev_time + time))
    total = np.cumsum(step)
    idx = np.where(anchor, np.arange(bins), 0)
    last_anchor = np.maximum.accumulate(idx)
    phase = anchor_phase[last_anchor] + total - total[last_anchor]
    # Silent bins keep the last live bin's phase.
    if not live.all():
        first_silent = int(np.argmin(live))
        if first_silent > 0:
            phase[first_silent:] = phase[first_silent - 1]
    fill_phase = np.angle(np.exp(1j * phase))
    near = np.where(live, np.where(t < 0.5, i, j), 0)
    return ShiftPlan(
        ratio=float(ratio),
        unity=False,
        src=src,
        rigid=rigid,
        fill_phase=fill_phase,
        near=near,
        reference_arg=reference_arg,
        peaks=peaks,
    )


def apply(shift_plan: ShiftPlan, spectrum: np.ndarray) -> np.ndarray:
    """The shifted copy of ``spectrum`` (``(bins,)``, frame-start convention) under the plan.

    The reference itself, or another channel, which keeps its phase relation to the reference
    at the nearest source bin of every fill bin.
    """
    if shift_plan.unity:
        return spectrum.copy()
    bins = spectrum.shape[0]
    centred = centre(spectrum)
    mags = np.abs(centred)
    src = shift_plan.src
    live = src >= 0.0
    s = np.where(live, src, 0.0)
    i, t = _split(s, bins)
    j = np.minimum(i + 1, bins - 1)
    rigid_v = interp_complex(centred, s)
    mag = mags[i] + t * (mags[j] - mags[i])
    near = shift_plan.near
    offset = np.angle(centred[near]) - shift_plan.reference_arg[near]
    fill_v = mag * np.exp(1j * (shift_plan.fill_phase + offset))
    v = np.where(shift_plan.rigid, rigid_v, fill_v)
    v = np.where(live, v, 0.0)
    return centre(v)


def shift_inst_freq(shift_plan: ShiftPlan, inst_freq: np.ndarray) -> np.ndarray:
    """Shifted frame's instantaneous frequencies: the source's at the source position x ratio.

    Capped at pi; the bin centre at silent bins.
    """
    if shift_plan.unity:
        return inst_freq.copy()
    bins = inst_freq.shape[0]
    src = shift_plan.src
    live = src >= 0.0
    s = np.where(live, src, 0.0)
    i, t = _split(s, bins)
    j = np.minimum(i + 1, bins - 1)
    w = inst_freq[i] + t * (inst_freq[j] - inst_freq[i])
    centre_freq = np.arange(bins) * 2.0 * np.pi / (2 * (bins - 1))
    return np.where(live, np.minimum(w * shift_plan.ratio, np.pi), centre_freq)


def reassigned_inst_freq(frames: np.ndarray, spec: np.ndarray) -> np.ndarray:
    """Reassigned instantaneous frequency ``(T, bins)`` in rad/sample, as ``vocoder.rs``.

    ``2 pi b / n_fft - Im(X_d conj X) / |X|^2`` (bin centre where ``|X|^2 <= 1e-20``), with
    ``X_d`` the spectrum under ``(pi / n_fft) sin(2 pi n / n_fft)``; ``spec`` the periodic-Hann
    spectra of the unwindowed ``frames``.
    """
    n_fft = frames.shape[-1]
    n = np.arange(n_fft)
    spec_d = np.fft.rfft(frames * ((np.pi / n_fft) * np.sin(2.0 * np.pi * n / n_fft)), axis=-1)
    power = np.abs(spec) ** 2
    safe = power > 1e-20
    correction = np.where(safe, (spec_d * np.conj(spec)).imag / np.where(safe, power, 1.0), 0.0)
    return 2.0 * np.pi * np.arange(spec.shape[-1]) / n_fft - correction


@dataclass(frozen=True)
class ShiftedFrames:
    """A clip's mid frames after the spectral pitch shift (what the phase engines see).

    Attributes:
        spec: ``(T, bins)`` complex shifted spectra (frame-start convention).
        mag: ``(T, bins)`` their magnitudes; ``analysis``: their phases;
        inst_freq: ``(T, bins)`` shifted instantaneous frequencies (rad/sample).
    """

    spec: np.ndarray
    mag: np.ndarray
    analysis: np.ndarray
    inst_freq: np.ndarray


def shift_frames(
    spec: np.ndarray,
    inst_freq: np.ndarray,
    time_offset: np.ndarray,
    transient: np.ndarray,
    ratio: float,
) -> ShiftedFrames:
    """Shifts every frame of a mono (mid) clip ``(T, bins)`` by ``ratio``.

    ``transient`` ``(T,)`` are the detector's flags on the unshifted frames.
    """
    out = np.empty_like(spec)
    inst = np.empty_like(inst_freq)
    mag = np.abs(spec)
    for f in range(spec.shape[0]):
        p = plan(spec[f], mag[f], inst_freq[f], time_offset[f], bool(transient[f]), ratio)
        out[f] = apply(p, spec[f])
        inst[f] = shift_inst_freq(p, inst_freq[f])
    return ShiftedFrames(spec=out, mag=np.abs(out), analysis=np.angle(out), inst_freq=inst)
