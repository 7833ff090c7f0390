"""Dataset manifest (JSON Lines, ``docs/dataset-manifest.md``), random crops, data loaders.

Every example is a deterministic function of ``(seed, global index)``: which manifest row, which
channel, where the crop starts. So the batches do not depend on the number of workers, and a run
resumed at step ``s`` sees exactly the batches an uninterrupted run sees from step ``s`` on.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from xodvox_train.controls import ControlSpec, build_control_vector
from xodvox_train.shift import UNITY_EPS, reassigned_inst_freq, shift_frames
from xodvox_train.spectral import HOP, N_FFT, SAMPLE_RATE

MANIFEST_VERSION = 1
"""Schema version documented in ``docs/dataset-manifest.md``."""
SPLITS = ("train", "val", "test")
"""Allowed values of the ``split`` field."""
MAG_SOURCES = ("target", "mapped_input", "runtime")
"""What magnitude the model is given in training (see ``docs/model-format.md``)."""


class ManifestError(ValueError):
    """A manifest row is malformed or names a file that is missing or does not match."""


@dataclass(frozen=True)
class ManifestEntry:
    """One (input, target) pair of a dataset manifest; fields as in the schema document.

    Attributes:
        id: unique example id.
        split: ``train``, ``val`` or ``test``.
        input: input audio path, relative to the manifest's folder.
        target: target audio path, relative to the manifest's folder.
        sample_rate: sample rate of both files in Hz.
        channels: channel count of both files.
        num_frames_input: input length in frames (samples per channel).
        num_frames_target: target length in frames.
        stretch: duration ratio (target duration / input duration as requested), > 0.
        pitch_semitones: pitch shift in semitones.
        style: name of the process that made the target (a style of the model).
        generator: the exact command that made the target.
        tool_version: version of the tool in ``generator``.
        input_sha256: SHA-256 of the input file (hex).
        target_sha256: SHA-256 of the target file (hex).
        source: original file the input came from.
        licence: licence of the source (SPDX id or text).
    """

    id: str
    split: str
    input: str
    target: str
    sample_rate: int
    channels: int
    num_frames_input: int
    num_frames_target: int
    stretch: float
    pitch_semitones: float
    style: str
    generator: str
    tool_version: str
    input_sha256: str
    target_sha256: str
    source: str
    licence: str


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "sample_rate": (int,),
    "channels": (int,),
    "num_frames_input": (int,),
    "num_frames_target": (int,),
    "stretch": (int, float),
    "pitch_semitones": (int, float),
}


def parse_entry(row: Mapping[str, object], where: str) -> ManifestEntry:
    """Validates one manifest row; ``where`` (``path:line``) prefixes every error message.

    Raises:
        ManifestError: a missing, unknown or ill-typed field, or a value out of range.
    """
    names = [f.name for f in fields(ManifestEntry)]
    missing = [n for n in names if n not in row]
    if missing:
        raise ManifestError(f"{where}: missing field(s) {missing}")
    kwargs: dict[str, object] = {}
    for name in names:
        value = row[name]
        types = _FIELD_TYPES.get(name, (str,))
        if isinstance(value, bool) or not isinstance(value, types):
            expected = " or ".join(t.__name__ for t in types)
            raise ManifestError(f"{where}: field {name!r} must be {expected}, got {value!r}")
        kwargs[name] = float(value) if float in types else value
    entry = ManifestEntry(**kwargs)  # type: ignore[arg-type]
    if entry.split not in SPLITS:
        raise ManifestError(f"{where}: split must be one of {SPLITS}, got {entry.split!r}")
    if entry.sample_rate <= 0 or entry.channels <= 0:
        raise ManifestError(f"{where}: sample_rate and channels must be > 0")
    if entry.num_frames_input <= 0 or entry.num_frames_target <= 0:
        raise ManifestError(f"{where}: num_frames_input and num_frames_target must be > 0")
    if not (math.isfinite(entry.stretch) and entry.stretch > 0):
        raise ManifestError(f"{where}: stretch must be > 0, got {entry.stretch}")
    if not math.isfinite(entry.pitch_semitones):
        raise ManifestError(f"{where}: pitch_semitones must be finite")
    for name in ("input_sha256", "target_sha256"):
        digest = str(getattr(entry, name))
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ManifestError(f"{where}: {name} must be 64 lowercase hex digits")
    return entry


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest.

    Attributes:
        path: the manifest file.
        entries: all rows in file order.
        sha256: SHA-256 of the manifest file (its provenance hash).
    """

    path: Path
    entries: tuple[ManifestEntry, ...]
    sha256: str

    @property
    def root(self) -> Path:
        """Folder that entry paths are relative to."""
        return self.path.parent

    def split(self, name: str) -> list[ManifestEntry]:
        """Entries of one split."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        return [e for e in self.entries if e.split == name]

    def audio_path(self, relative: str) -> Path:
        """Absolute path of an entry's ``input`` or ``target``."""
        return self.root / relative


def load_manifest(path: Path, check_files: bool = True, verify_hashes: bool = False) -> Manifest:
    """Reads and validates a JSON Lines manifest.

    Args:
        path: the ``.jsonl`` file.
        check_files: check that every audio file exists and has the declared rate, channels and
            length.
        verify_hashes: also check the SHA-256 of every audio file (slow on big sets).

    Raises:
        ManifestError: naming the file, line and problem.
    """
    if not path.is_file():
        raise ManifestError(f"manifest {path} does not exist")
    raw = path.read_bytes()
    entries: list[ManifestEntry] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ManifestError(f"{where}: invalid JSON ({err.msg})") from err
        if not isinstance(row, dict):
            raise ManifestError(f"{where}: a row must be a JSON object")
        entry = parse_entry(row, where)
        if entry.id in seen:
            raise ManifestError(
                f"{where}: duplicate id {entry.id!r} (first on line {seen[entry.id]})"
            )
        seen[entry.id] = number
        entries.append(entry)
    if not entries:
        raise ManifestError(f"{path}: no entries")
    manifest = Manifest(path=path, entries=tuple(entries), sha256=hashlib.sha256(raw).hexdigest())
    if check_files:
        for entry in entries:
            check_entry_files(manifest, entry, f"{path}:{seen[entry.id]}", verify_hashes)
    return manifest


def check_entry_files(manifest: Manifest, entry: ManifestEntry, where: str, hashes: bool) -> None:
    """Checks that an entry's audio files exist and match the row.

    Raises:
        ManifestError: naming the row and the file.
    """
    for kind, rel, frames, digest in (
        ("input", entry.input, entry.num_frames_input, entry.input_sha256),
        ("target", entry.target, entry.num_frames_target, entry.target_sha256),
    ):
        path = manifest.audio_path(rel)
        if not path.is_file():
            raise ManifestError(f"{where}: {kind} file {path} (id {entry.id!r}) does not exist")
        try:
            info = sf.info(str(path))
        except RuntimeError as err:
            raise ManifestError(f"{where}: cannot read {kind} file {path}: {err}") from err
        if info.samplerate != entry.sample_rate or info.channels != entry.channels:
            raise ManifestError(
                f"{where}: {kind} file {path} is {info.samplerate} Hz x {info.channels} ch, "
                f"manifest says {entry.sample_rate} Hz x {entry.channels} ch"
            )
        if info.frames != frames:
            raise ManifestError(
                f"{where}: {kind} file {path} has {info.frames} frames, manifest says {frames}"
            )
        if hashes and sha256_file(path) != digest:
            raise ManifestError(f"{where}: {kind} file {path} does not match its sha256")


def read_frames(path: Path, start: int, length: int) -> np.ndarray:
    """``(length, channels)`` float32 frames from ``start`` (negative or past the end: zeros)."""
    with sf.SoundFile(str(path)) as f:
        out = np.zeros((length, f.channels), dtype=np.float32)
        lo = max(start, 0)
        hi = min(start + length, f.frames)
        if hi > lo:
            f.seek(lo)
            data = f.read(hi - lo, dtype="float32", always_2d=True)
            out[lo - start : lo - start + data.shape[0]] = data
    return out


def read_segment(path: Path, start: int, length: int, channel: int) -> np.ndarray:
    """``length`` samples of one channel from ``start`` (may be negative or past the end: zeros)."""
    return np.ascontiguousarray(read_frames(path, start, length)[:, channel])


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


def read_mid_segment(path: Path, start: int, length: int) -> np.ndarray:
    """``length`` samples of the mean of all channels from ``start`` (zeros outside the file)."""
    return read_frames(path, start, length).mean(axis=1, dtype=np.float64)


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
"""Peaks quieter than this fraction of the frame's loudest bin are not tracked (classic.rs)."""


def classic_phases(
    mag: np.ndarray,
    analysis: np.ndarray,
    advance: np.ndarray,
    hop: int = HOP,
    transient: np.ndarray | None = None,
) -> np.ndarray:
    """Synthesis phases of the classical engine (``crates/dsp/src/classic.rs``) over ``T`` frames.

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
        (``wrap(c_t - c_{t-1} - 2 pi b hop / n_fft)``, :func:`classic_phases` started at the crop's
        first frame, with the transient resets of :func:`transient_flags`, whose detector has
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
    classic = classic_phases(mag, analysis, pv_advance, hop, transient)
    advance = np.zeros_like(pv_advance)
    advance[1:] = np.angle(np.exp(1j * (np.diff(classic, axis=0) - centre)))
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
        "lock": np.angle(np.exp(1j * (classic - analysis))).T[None].astype(np.float32),
        "anchor": analysis[0].astype(np.float32),
        "target": target.astype(np.float32),
    }


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
            values = {
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


def manifest_row(
    entry_id: str,
    split: str,
    root: Path,
    input_path: Path,
    target_path: Path,
    stretch: float,
    pitch_semitones: float,
    style: str,
    generator: str,
    tool_version: str,
    source: str,
    licence: str,
) -> dict[str, object]:
    """A manifest row for two existing files (paths made relative to ``root``)."""
    info_in = sf.info(str(input_path))
    info_out = sf.info(str(target_path))
    if info_in.samplerate != info_out.samplerate or info_in.channels != info_out.channels:
        raise ValueError(f"{input_path} and {target_path} differ in rate or channels")
    return {
        "id": entry_id,
        "split": split,
        "input": str(input_path.relative_to(root)),
        "target": str(target_path.relative_to(root)),
        "sample_rate": info_in.samplerate,
        "channels": info_in.channels,
        "num_frames_input": info_in.frames,
        "num_frames_target": info_out.frames,
        "stretch": stretch,
        "pitch_semitones": pitch_semitones,
        "style": style,
        "generator": generator,
        "tool_version": tool_version,
        "input_sha256": sha256_file(input_path),
        "target_sha256": sha256_file(target_path),
        "source": source,
        "licence": licence,
    }
