"""Port of the Rust runtime's feature computation (must match ``crates/dsp`` and ``crates/infer``).

The STFT analysis, reassigned frequency and time, transient detector (``transient.rs``) and
classical phase-locking engine (``classical.rs``) as the Rust vocoder computes them, and
:func:`runtime_features`, what the runtime feeds the network for a crop plus the matching
target (``docs/model-format.md``). The golden vectors (:mod:`xodvox_train.golden`) check these
against the Rust code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xodvox_train.audio_io import read_mid_segment, read_segment
from xodvox_train.shift import UNITY_EPS, reassigned_inst_freq, shift_frames
from xodvox_train.spectral import HOP, N_FFT, SAMPLE_RATE


def input_frames(
    path: Path,
    channel: int | None,
    first_output_frame: int,
    num_frames: int,
    ratio: float,
    n_fft: int = N_FFT,
    hop: int = HOP,
) -> np.ndarray:
    """Unwindowed input frames ``(T, n_fft)`` float64 for output frames of a ``ratio`` stretch.

    Output frame ``k`` takes the ``n_fft`` samples centred on input sample
    ``round(k * hop / ratio)`` of ``channel`` (``None``: the mean of the channels); samples
    outside the file are zeros.
    """
    centres = np.rint((first_output_frame + np.arange(num_frames)) * hop / ratio).astype(np.int64)
    lo = int(centres[0]) - n_fft // 2
    span = int(centres[-1] - centres[0]) + n_fft
    if channel is None:
        audio = read_mid_segment(path, lo, span)
    else:
        audio = read_segment(path, lo, span, channel).astype(np.float64)
    offsets = centres - centres[0]
    return np.stack([audio[o : o + n_fft] for o in offsets])


def mapped_input_magnitude(
    path: Path,
    channel: int,
    first_output_frame: int,
    num_frames: int,
    stretch: float,
    pitch_semitones: float,
    n_fft: int = N_FFT,
    hop: int = HOP,
) -> np.ndarray:
    """Magnitude frames the classical engine gives for output frames of a stretched, shifted signal.

    Output frame ``k`` (centred on output sample ``k * hop``) takes the input frame centred on
    input sample ``round(k * hop / stretch)`` (periodic Hann, ``n_fft``), then scales frequency by
    ``2 ** (pitch_semitones / 12)`` (linear interpolation over bins; zero above Nyquist).

    Returns:
        ``(1, n_fft // 2 + 1, num_frames)`` float32.
    """
    frames = input_frames(path, channel, first_output_frame, num_frames, stretch, n_fft, hop)
    frames = frames * (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft))
    mag = np.abs(np.fft.rfft(frames, axis=-1))  # (T, bins)
    if pitch_semitones != 0.0:
        bins = np.arange(n_fft // 2 + 1)
        source = bins / (2.0 ** (pitch_semitones / 12.0))
        mag = np.stack([np.interp(source, bins, m, right=0.0) for m in mag])
    return mag.T[None].astype(np.float32)


def sinc_resample_at(
    signal: np.ndarray, positions: np.ndarray, cutoff: float, half_taps: int = 16
) -> np.ndarray:
    """Band-limited values of ``signal`` at fractional sample ``positions``.

    Kaiser-windowed sinc (``2 * half_taps`` taps) low-passed at ``cutoff`` times Nyquist
    (``cutoff < 1`` anti-aliases a decimation); samples outside ``signal`` are zero.
    """
    base = np.floor(positions).astype(np.int64)
    frac = positions - base
    k = np.arange(-half_taps + 1, half_taps + 1)
    idx = base[:, None] + k[None, :]
    valid = (idx >= 0) & (idx < signal.shape[0])
    taps = signal[np.clip(idx, 0, signal.shape[0] - 1)] * valid
    x = k[None, :] - frac[:, None]
    window = np.kaiser(2 * half_taps + 1, 8.0)
    # Window evaluated at the continuous offset x (|x| <= half_taps).
    w = np.interp(x, np.arange(-half_taps, half_taps + 1), window)
    kernel = cutoff * np.sinc(cutoff * x) * w
    return (taps * kernel).sum(axis=1)


def analysis_with_advance(frames: np.ndarray, hop: int = HOP) -> tuple[np.ndarray, np.ndarray]:
    """Spectrum and phase-vocoder advance deviation of unwindowed frames ``(T, n_fft)``.

    Same as the Rust vocoder (``crates/dsp/src/vocoder.rs``): periodic Hann spectrum ``X``,
    reassigned instantaneous frequency ``omega_b = 2 pi b / n_fft - Im(X_d conj X) / |X|^2``
    with ``X_d`` the spectrum under the window derivative ``(pi / n_fft) sin(2 pi n / n_fft)``
    (bin centre where ``|X|^2 <= 1e-20``), and the advance deviation
    ``wrap(omega_b * hop - 2 pi b hop / n_fft)`` into (-pi, pi].

    Returns:
        ``(spec (T, bins) complex128, advance (T, bins) float64)``.
    """
    n_fft = frames.shape[-1]
    n = np.arange(n_fft)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_fft)
    window_d = (np.pi / n_fft) * np.sin(2.0 * np.pi * n / n_fft)
    spec = np.fft.rfft(frames * window, axis=-1)
    spec_d = np.fft.rfft(frames * window_d, axis=-1)
    power = np.abs(spec) ** 2
    safe = power > 1e-20
    correction = np.where(safe, (spec_d * np.conj(spec)).imag / np.where(safe, power, 1.0), 0.0)
    deviation = -correction * hop
    return spec, np.angle(np.exp(1j * deviation))


def time_offsets(frames: np.ndarray, spec: np.ndarray) -> np.ndarray:
    """Reassigned time of every bin relative to the frame centre, in samples ``(T, bins)``.

    Same as the Rust vocoder: ``Re(X_t conj X) / |X|^2`` with ``X_t`` the spectrum under the
    time-weighted window ``(n - n_fft / 2) w(n)``; 0 where ``|X|^2 <= 1e-20``.

    Args:
        frames: unwindowed frames ``(T, n_fft)``.
        spec: their periodic-Hann spectra (:func:`analysis_with_advance`).
    """
    n_fft = frames.shape[-1]
    n = np.arange(n_fft)
    window_t = (n - n_fft / 2.0) * (0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_fft))
    spec_t = np.fft.rfft(frames * window_t, axis=-1)
    power = np.abs(spec) ** 2
    safe = power > 1e-20
    return np.where(safe, (spec_t * np.conj(spec)).real / np.where(safe, power, 1.0), 0.0)


TRANSIENT_WARMUP_FRAMES = 16
"""Frames before a crop that the transient detector sees (its running average settles)."""
TRANSIENT_MIN_HZ = 1500.0
"""Lowest frequency of the band the transient detector watches (``vocoder.rs``)."""
TRANSIENT_RISE = 4.0
"""High-band energy rise over its running average that arms the detector (``transient.rs``)."""
TRANSIENT_FLOOR = 1e-3
"""High-band energy below which nothing counts as a transient (``transient.rs``)."""


def transient_flags(
    power: np.ndarray,
    time_offset: np.ndarray,
    analysis_hop: float,
    sample_rate: float = SAMPLE_RATE,
) -> np.ndarray:
    """Frames on which the classical engine resets its phase: a port of ``transient.rs``.

    A rise of the high-band (>= 1.5 kHz) energy above 4x its running average arms the
    detector; it fires on the first armed frame whose energy centroid in time (from
    :func:`time_offsets`) is at most half an analysis hop after the frame centre, then stays
    quiet for one window (``ceil(n_fft / analysis_hop)`` frames). The state starts empty, as
    after a reset of the Rust engine.

    Args:
        power: ``(T, bins)`` ``|X|^2`` of the mid signal.
        time_offset: ``(T, bins)`` reassigned time offsets (:func:`time_offsets`).
        analysis_hop: input samples between analysis frames (``hop / (stretch * q)``).
        sample_rate: input sample rate in Hz.

    Returns:
        ``(T,)`` bool.
    """
    frames, bins = power.shape
    n_fft = 2 * (bins - 1)
    first = min(int(np.ceil(TRANSIENT_MIN_HZ / sample_rate * n_fft)), n_fft // 2)
    energy = power[:, first:].sum(axis=1)
    weighted = (power[:, first:] * time_offset[:, first:]).sum(axis=1)
    centroid = np.where(energy > 0.0, weighted / np.where(energy > 0.0, energy, 1.0), 0.0)
    per_window = int(np.ceil(n_fft / max(analysis_hop, 1.0)))
    flags = np.zeros(frames, dtype=bool)
    average, armed, armed_frames, cooldown = 0.0, False, 0, 0
    for t in range(frames):
        rise = energy[t] > TRANSIENT_FLOOR and energy[t] > TRANSIENT_RISE * average
        if cooldown > 0:
            cooldown -= 1
        elif not armed and rise:
            armed, armed_frames = True, 0
        if armed:
            armed_frames += 1
            if centroid[t] <= 0.5 * analysis_hop:
                flags[t] = True
                armed, cooldown = False, per_window
            elif armed_frames > per_window + 1:
                armed = False
        average = 0.7 * average + 0.3 * energy[t]
    return flags


PEAK_FLOOR = 1e-4
"""Peaks quieter than this fraction of the frame's loudest bin are not tracked (classical.rs)."""


def classical_phases(
    mag: np.ndarray,
    analysis: np.ndarray,
    advance: np.ndarray,
    hop: int = HOP,
    transient: np.ndarray | None = None,
) -> np.ndarray:
    """Synthesis phases of the classical engine (``crates/dsp/src/classical.rs``) over ``T`` frames.

    A port of the Rust engine: frame 0 and every ``transient`` frame take the analysis phase
    (phase reset); otherwise every spectral peak ``p`` advances by its reassigned frequency
    (``hop * omega_p``, i.e. the bin-centre advance plus ``advance[p]``) and the bins of its
    region (up to the lowest bin before the next peak) keep their analysis phase relation to it
    (identity phase locking).

    Args:
        mag: ``(T, bins)`` magnitudes; ``analysis``: ``(T, bins)`` analysis phases;
        advance: ``(T, bins)`` phase-vocoder advance deviation (:func:`analysis_with_advance`).
        transient: ``(T,)`` bool reset frames (:func:`transient_flags`); ``None``: no reset.

    Returns:
        ``(T, bins)`` float64 phases (unwrapped).
    """
    frames, bins = mag.shape
    n_fft = 2 * (bins - 1)
    peak_advance = 2.0 * np.pi * np.arange(bins) * hop / n_fft + advance
    out = np.empty((frames, bins), dtype=np.float64)
    out[0] = analysis[0]
    for t in range(1, frames):
        if transient is not None and transient[t]:
            out[t] = analysis[t]
            continue
        m = mag[t]
        prev = out[t - 1]
        floor = m.max() * PEAK_FLOOR
        padded = np.pad(m, 2, constant_values=-1.0)
        left = np.maximum(padded[0:bins], padded[1 : bins + 1])
        right = np.maximum(padded[3 : bins + 3], padded[4 : bins + 4])
        peaks = np.flatnonzero((m > floor) & (m != 0.0) & (m > left) & (m >= right))
        if peaks.size == 0:
            out[t] = prev + peak_advance[t]
            continue
        rotation = prev[peaks] + peak_advance[t, peaks] - analysis[t, peaks]
        ends = np.empty(peaks.size, dtype=np.int64)
        for i in range(peaks.size - 1):
            p, nxt = peaks[i], peaks[i + 1]
            lowest = p + int(np.argmin(m[p:nxt]))
            ends[i] = min(max(lowest, p + 1), nxt)
        ends[-1] = bins
        owner = np.repeat(np.arange(peaks.size), np.diff(np.concatenate([[0], ends])))
        out[t] = analysis[t] + rotation[owner]
    return out


PITCH_PATHS = ("spectral", "resample")
"""Runtime pitch paths (``model.json``'s ``pitch_path``; absent means ``"resample"``)."""


def runtime_features(
    input_path: Path,
    target_path: Path,
    first_output_frame: int,
    num_frames: int,
    stretch: float,
    pitch_semitones: float,
    n_fft: int = N_FFT,
    hop: int = HOP,
    pitch_path: str = "spectral",
) -> dict[str, np.ndarray]:
    """What the Rust runtime feeds the network, and the matching target (``docs/model-format.md``).

    ``pitch_path="spectral"`` (the runtime's ``PitchMode::Spectral``, the default): the mid
    signal (mean of the channels) is analysed at the stretch ratio only, output frame ``k``
    taking the input frame centred on input sample ``round(k * hop / stretch)``; the transient
    detector runs on those (unshifted) frames; each frame is then pitch-shifted by
    ``q = 2 ** (pitch / 12)`` in the frequency domain (:mod:`xodvox_train.shift`) and the
    classical engine runs on the shifted frames. The target is the target itself, at the
    output rate.

    ``pitch_path="resample"`` (``PitchMode::Resample``, bundles without ``pitch_path``): the
    mid signal is time-stretched by ``S = stretch * q`` with a fixed synthesis hop, then
    resampled by ``1 / q``. So output frame ``k`` takes the input frame centred on input sample
    ``round(k * hop / S)``, unscaled in frequency, and the target before that final resampling
    is ``target(t / q)``.

    Returns:
        ``mag`` ``(1, bins, T)`` linear magnitude; ``advance`` ``(1, bins, T)`` the classical
        engine's phase increment per frame minus the bin-centre advance, wrapped
        (``wrap(c_t - c_{t-1} - 2 pi b hop / n_fft)``, :func:`classical_phases` started at the
        crop's first frame, with the transient resets of :func:`transient_flags`, whose detector has
        seen up to ``TRANSIENT_WARMUP_FRAMES`` frames before the crop; 0 for that frame);
        ``lock`` ``(1, bins, T)`` the classical phase minus the analysis phase, wrapped (0 on
        the first frame and on reset frames); ``anchor`` ``(bins,)`` analysis phase of the
        first frame;
        ``target`` ``((T - 1) * hop,)`` starting at output sample ``first_output_frame * hop``
        (resampled by ``q`` on the resample path).
    """
    if pitch_path not in PITCH_PATHS:
        raise ValueError(f"pitch_path must be one of {PITCH_PATHS}, got {pitch_path!r}")
    q = 2.0 ** (pitch_semitones / 12.0)
    spectral = pitch_path == "spectral"
    total = stretch if spectral else stretch * q
    warm = min(first_output_frame, TRANSIENT_WARMUP_FRAMES)
    frames = input_frames(
        input_path, None, first_output_frame - warm, num_frames + warm, total, n_fft, hop
    )
    spec, pv_advance = analysis_with_advance(frames, hop)
    offsets = time_offsets(frames, spec)
    transient = transient_flags(np.abs(spec) ** 2, offsets, hop / total)
    spec, pv_advance, transient = spec[warm:], pv_advance[warm:], transient[warm:]
    centre = 2.0 * np.pi * np.arange(n_fft // 2 + 1) * hop / n_fft
    if spectral and abs(q - 1.0) >= UNITY_EPS:
        inst = reassigned_inst_freq(frames[warm:], spec)
        shifted = shift_frames(spec, inst, offsets[warm:], transient, q)
        spec = shifted.spec
        pv_advance = np.angle(np.exp(1j * (shifted.inst_freq * hop - centre)))
    mag = np.abs(spec)
    analysis = np.angle(spec)
    classical = classical_phases(mag, analysis, pv_advance, hop, transient)
    advance = np.zeros_like(pv_advance)
    advance[1:] = np.angle(np.exp(1j * (np.diff(classical, axis=0) - centre)))
    length = (num_frames - 1) * hop
    if spectral:
        target = read_mid_segment(target_path, first_output_frame * hop, length)
    else:
        out_positions = (first_output_frame * hop + np.arange(length)) / q
        t_lo = int(np.floor(out_positions[0])) - 64
        t_hi = int(np.ceil(out_positions[-1])) + 64
        target_mid = read_mid_segment(target_path, t_lo, t_hi - t_lo)
        target = sinc_resample_at(target_mid, out_positions - t_lo, min(1.0, q) * 0.97)
    return {
        "mag": mag.T[None].astype(np.float32),
        "advance": advance.T[None].astype(np.float32),
        "lock": np.angle(np.exp(1j * (classical - analysis))).T[None].astype(np.float32),
        "anchor": analysis[0].astype(np.float32),
        "target": target.astype(np.float32),
    }
