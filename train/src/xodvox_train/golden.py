"""Golden STFT vectors shared with the Rust test suite (``fixtures/golden/stft/``).

Files (all little-endian float32, no header):

- ``signal.f32``: ``N`` samples of a deterministic test signal.
- ``stft.f32``: frame-major complex STFT: for frame in 0..F, for bin in 0..1025: re, im.
- ``recon.f32``: ``N`` samples, ``torch.istft`` of that STFT with ``length=N``.
- ``meta.json``: framing parameters and sizes (see :func:`golden_meta`).

The STFT and reconstruction are computed in float64 from the float32 signal, then cast.

Usage: ``xodvox-train golden [OUT_DIR]`` or ``python -m xodvox_train.golden [OUT_DIR]``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from xodvox_train.spectral import HOP, N_FFT, NUM_BINS, SAMPLE_RATE, Stft, num_frames_for

FORMAT_VERSION = 1
"""Version of the golden file format."""
NUM_SAMPLES = 12_000
"""Length of the golden test signal in samples."""
SEED = 20_240_607
"""Seed of the numpy Generator used for the noise component."""
GENERATOR = "xodvox_train.golden v1 (python -m xodvox_train.golden)"
"""Value of ``meta.json``'s ``generator`` field."""


@dataclass(frozen=True)
class GoldenVectors:
    """One set of golden vectors.

    Attributes:
        signal: ``(N,)`` float32 samples.
        stft: ``(F, NUM_BINS, 2)`` float32, frame-major (re, im).
        recon: ``(N,)`` float32 reconstruction.
    """

    signal: np.ndarray
    stft: np.ndarray
    recon: np.ndarray


def make_test_signal(num_samples: int = NUM_SAMPLES, seed: int = SEED) -> np.ndarray:
    """Deterministic test signal at 48 kHz, peak 0.8, float32.

    Sum of sines at 220, 1234.5 and 7000 Hz, a linear chirp from 100 Hz to 16 kHz, white noise
    at -46 dBFS (seeded ``numpy.random.Generator``), and a single impulse at sample 6000.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples, dtype=np.float64) / SAMPLE_RATE
    x = 0.30 * np.sin(2 * np.pi * 220.0 * t)
    x += 0.20 * np.sin(2 * np.pi * 1234.5 * t + 0.5)
    x += 0.10 * np.sin(2 * np.pi * 7000.0 * t + 1.0)
    duration = num_samples / SAMPLE_RATE
    f0, f1 = 100.0, 16_000.0
    x += 0.15 * np.sin(2 * np.pi * (f0 * t + 0.5 * (f1 - f0) / duration * t**2))
    x += 0.005 * rng.standard_normal(num_samples)
    x[min(6000, num_samples - 1)] += 0.6
    x *= 0.8 / np.max(np.abs(x))
    return x.astype(np.float32)


def compute_golden(signal: np.ndarray) -> GoldenVectors:
    """STFT and reconstruction of ``signal`` (float32), computed in float64 with :class:`Stft`."""
    if signal.dtype != np.float32 or signal.ndim != 1:
        raise ValueError(f"signal must be 1-D float32, got {signal.dtype} {signal.shape}")
    stft = Stft(N_FFT, HOP)
    x64 = torch.from_numpy(signal.astype(np.float64))
    spec = stft.stft(x64)  # (bins, frames) complex128
    recon = stft.istft(spec, length=signal.shape[0])
    frames = torch.view_as_real(spec.transpose(0, 1).contiguous())  # (F, bins, 2)
    return GoldenVectors(
        signal=signal,
        stft=frames.numpy().astype(np.float32),
        recon=recon.numpy().astype(np.float32),
    )


def golden_meta(num_samples: int) -> dict[str, object]:
    """Contents of ``meta.json`` for a signal of ``num_samples`` samples."""
    return {
        "format_version": FORMAT_VERSION,
        "sample_rate": SAMPLE_RATE,
        "n_fft": N_FFT,
        "hop": HOP,
        "window": "hann_periodic",
        "center": True,
        "pad_mode": "zeros",
        "num_samples": num_samples,
        "num_frames": num_frames_for(num_samples, HOP),
        "num_bins": NUM_BINS,
        "layout": "stft.f32 is frame-major: for frame in 0..F, for bin in 0..1025: re, im",
        "generator": GENERATOR,
    }


def write_golden(out_dir: Path) -> Path:
    """Writes the golden vectors into ``out_dir`` (created if missing); returns ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    vectors = compute_golden(make_test_signal())
    vectors.signal.astype("<f4").tofile(out_dir / "signal.f32")
    vectors.stft.astype("<f4").tofile(out_dir / "stft.f32")
    vectors.recon.astype("<f4").tofile(out_dir / "recon.f32")
    meta = golden_meta(vectors.signal.shape[0])
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out_dir


def write_classical_golden(out_dir: Path) -> Path:
    """Golden vectors of the classical engine's phase locking (``fixtures/golden/classical``).

    Frames of the golden test signal at hop 512 (stretch 1), plus a noise burst at
    sample 7000: magnitude, analysis phase,
    reassigned instantaneous frequency (rad/sample) and reassigned time offset (samples) in;
    the transient flags of :func:`xodvox_train.data.transient_flags` (``transient.u8``, one
    byte per frame; the burst fires it) and the synthesis phases of
    :func:`xodvox_train.data.classical_phases` with those resets (the Python port of
    ``classical.rs``) out, wrapped into (-pi, pi]. Floats are ``float32`` little-endian,
    frame-major ``[frame][bin]``. ``crates/dsp/tests/golden.rs`` runs the Rust transient
    detector and engine on the same frames.
    """
    from xodvox_train.data import (
        analysis_with_advance,
        classical_phases,
        time_offsets,
        transient_flags,
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    signal = make_test_signal().astype(np.float64)
    # A drum-like attack (decaying noise burst) the transient detector must catch mid-stream.
    burst = np.random.default_rng(SEED + 1).standard_normal(512) * np.exp(-np.arange(512) / 96.0)
    signal[7000 : 7000 + burst.size] += 2.5 * burst
    padded = np.pad(signal, N_FFT // 2)
    frames = 1 + signal.shape[0] // HOP
    chunks = np.stack([padded[k * HOP : k * HOP + N_FFT] for k in range(frames)])
    spec, advance = analysis_with_advance(chunks, HOP)
    centre = 2.0 * np.pi * np.arange(NUM_BINS) / N_FFT
    inst_freq = centre + advance / HOP
    mag, analysis = np.abs(spec), np.angle(spec)
    offsets = time_offsets(chunks, spec)
    transient = transient_flags(mag**2, offsets, float(HOP))
    phase = classical_phases(mag, analysis, advance, HOP, transient)
    for name, data in (
        ("mag", mag),
        ("analysis", analysis),
        ("inst_freq", inst_freq),
        ("time_offset", offsets),
        ("phase", np.angle(np.exp(1j * phase))),
    ):
        data.astype("<f4").tofile(out_dir / f"{name}.f32")
    transient.astype(np.uint8).tofile(out_dir / "transient.u8")
    meta = {
        "format_version": 1,
        "num_frames": frames,
        "num_bins": NUM_BINS,
        "hop": HOP,
        "layout": "each .f32 is frame-major: for frame in 0..F, for bin in 0..1025",
        "transient_frames": [int(f) for f in np.flatnonzero(transient)],
        "what": "classical engine (phase locking, transient reset) on the golden signal",
        "generator": "xodvox_train.golden.write_classical_golden",
    }
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out_dir


SHIFT_SEMITONES = (7.0, -12.0)
"""Pitch shifts of the spectral-shifter golden vectors (``fixtures/golden/shift``)."""
SHIFT_FRAMES = (4, 9, 14)
"""Non-transient frames of the shifter golden (the transient frames are added)."""


def shift_golden_frames() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Frames and shifter inputs of the shifter golden, as float32 values in float64.

    The classical golden's signal (golden signal plus the noise burst at sample 7000) framed
    at hop 512; the frames :data:`SHIFT_FRAMES` plus every transient frame.
    """
    from xodvox_train.data import analysis_with_advance, time_offsets, transient_flags
    from xodvox_train.shift import reassigned_inst_freq

    signal = make_test_signal().astype(np.float64)
    burst = np.random.default_rng(SEED + 1).standard_normal(512) * np.exp(-np.arange(512) / 96.0)
    signal[7000 : 7000 + burst.size] += 2.5 * burst
    padded = np.pad(signal, N_FFT // 2)
    frames = 1 + signal.shape[0] // HOP
    chunks = np.stack([padded[k * HOP : k * HOP + N_FFT] for k in range(frames)])
    spec, _ = analysis_with_advance(chunks, HOP)
    offsets = time_offsets(chunks, spec)
    inst = reassigned_inst_freq(chunks, spec)
    transient = transient_flags(np.abs(spec) ** 2, offsets, float(HOP))
    picked = np.array(sorted({*SHIFT_FRAMES, *np.flatnonzero(transient).tolist()}))
    spec32 = spec[picked].astype(np.complex64).astype(np.complex128)
    inputs = {
        "spectrum": spec32,
        "mag": np.abs(spec[picked]).astype(np.float32).astype(np.float64),
        "inst_freq": inst[picked].astype(np.float32).astype(np.float64),
        "time_offset": offsets[picked].astype(np.float32).astype(np.float64),
        "transient": transient[picked],
    }
    return picked, inputs


def compute_shift_golden(inputs: dict[str, np.ndarray], semitones: float) -> dict[str, np.ndarray]:
    """The port's shifted spectra, magnitudes and inst. freq of the golden frames."""
    from xodvox_train.shift import apply, plan, shift_inst_freq

    ratio = 2.0 ** (semitones / 12.0)
    spec, mag, inst = [], [], []
    for f in range(inputs["mag"].shape[0]):
        p = plan(
            inputs["spectrum"][f],
            inputs["mag"][f],
            inputs["inst_freq"][f],
            inputs["time_offset"][f],
            bool(inputs["transient"][f]),
            ratio,
        )
        out = apply(p, inputs["spectrum"][f])
        spec.append(out)
        mag.append(np.abs(out))
        inst.append(shift_inst_freq(p, inputs["inst_freq"][f]))
    return {"spectrum": np.stack(spec), "mag": np.stack(mag), "inst_freq": np.stack(inst)}


def _complex_f32(x: np.ndarray) -> np.ndarray:
    return np.stack([x.real, x.imag], axis=-1).astype("<f4")


def write_shift_golden(out_dir: Path) -> Path:
    """Golden vectors of the spectral pitch shifter (``fixtures/golden/shift``).

    In: ``spectrum.f32`` (re, im per bin), ``mag.f32``, ``inst_freq.f32`` (rad/sample),
    ``time_offset.f32`` (samples from the frame centre), ``transient.u8`` (one byte per frame)
    of the frames of :func:`shift_golden_frames`. Out, per shift ``S`` in
    :data:`SHIFT_SEMITONES` (``S`` written as ``p7``/``m12``): ``spectrum_S.f32``,
    ``mag_S.f32``, ``inst_freq_S.f32`` from :mod:`xodvox_train.shift` (float64 on the float32
    inputs). All little-endian float32, frame-major ``[frame][bin]``.
    ``crates/dsp/tests/golden_shift.rs`` runs ``SpectralShifter`` on the same inputs.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    picked, inputs = shift_golden_frames()
    _complex_f32(inputs["spectrum"]).tofile(out_dir / "spectrum.f32")
    for name in ("mag", "inst_freq", "time_offset"):
        inputs[name].astype("<f4").tofile(out_dir / f"{name}.f32")
    inputs["transient"].astype(np.uint8).tofile(out_dir / "transient.u8")
    tags = []
    for semitones in SHIFT_SEMITONES:
        tag = f"{'p' if semitones >= 0 else 'm'}{abs(semitones):g}"
        tags.append(tag)
        out = compute_shift_golden(inputs, semitones)
        _complex_f32(out["spectrum"]).tofile(out_dir / f"spectrum_{tag}.f32")
        out["mag"].astype("<f4").tofile(out_dir / f"mag_{tag}.f32")
        out["inst_freq"].astype("<f4").tofile(out_dir / f"inst_freq_{tag}.f32")
    meta = {
        "format_version": 1,
        "num_frames": int(picked.size),
        "num_bins": NUM_BINS,
        "hop": HOP,
        "source_frames": [int(f) for f in picked],
        "transient_frames": [int(i) for i in np.flatnonzero(inputs["transient"])],
        "shifts": [
            {"tag": tag, "semitones": s, "ratio": 2.0 ** (s / 12.0)}
            for tag, s in zip(tags, SHIFT_SEMITONES, strict=True)
        ],
        "layout": "each .f32 is frame-major: for frame in 0..F, for bin in 0..1025 "
        "(spectrum files: re, im)",
        "what": "spectral pitch shifter (shift.rs) on frames of the classical golden signal",
        "generator": "xodvox_train.golden.write_shift_golden",
    }
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out_dir


CLASSIC_SHIFT_SEMITONES = 7.0
"""Pitch shift of the classical engine's golden on shifted frames."""


def write_classical_shift_golden(out_dir: Path) -> Path:
    """The classical engine on spectrally shifted frames (``fixtures/golden/shift/classical``).

    All frames of the classical golden's signal (hop 512), transient flags of the unshifted
    frames (as the runtime), every frame shifted by :data:`CLASSIC_SHIFT_SEMITONES` with
    :func:`xodvox_train.shift.shift_frames`; in: the shifted ``mag.f32``, ``analysis.f32``,
    ``inst_freq.f32`` (rad/sample) and ``transient.u8``; out: ``phase.f32``, the synthesis
    phases of :func:`xodvox_train.data.classical_phases` on them (advance from the shifted
    inst. freq), wrapped. Layout as ``fixtures/golden/classical``.
    """
    from xodvox_train.data import (
        analysis_with_advance,
        classical_phases,
        time_offsets,
        transient_flags,
    )
    from xodvox_train.shift import reassigned_inst_freq, shift_frames

    out_dir.mkdir(parents=True, exist_ok=True)
    signal = make_test_signal().astype(np.float64)
    burst = np.random.default_rng(SEED + 1).standard_normal(512) * np.exp(-np.arange(512) / 96.0)
    signal[7000 : 7000 + burst.size] += 2.5 * burst
    padded = np.pad(signal, N_FFT // 2)
    frames = 1 + signal.shape[0] // HOP
    chunks = np.stack([padded[k * HOP : k * HOP + N_FFT] for k in range(frames)])
    spec, _ = analysis_with_advance(chunks, HOP)
    offsets = time_offsets(chunks, spec)
    transient = transient_flags(np.abs(spec) ** 2, offsets, float(HOP))
    ratio = 2.0 ** (CLASSIC_SHIFT_SEMITONES / 12.0)
    shifted = shift_frames(spec, reassigned_inst_freq(chunks, spec), offsets, transient, ratio)
    centre = 2.0 * np.pi * np.arange(NUM_BINS) * HOP / N_FFT
    advance = np.angle(np.exp(1j * (shifted.inst_freq * HOP - centre)))
    phase = classical_phases(shifted.mag, shifted.analysis, advance, HOP, transient)
    for name, data in (
        ("mag", shifted.mag),
        ("analysis", shifted.analysis),
        ("inst_freq", shifted.inst_freq),
        ("phase", np.angle(np.exp(1j * phase))),
    ):
        data.astype("<f4").tofile(out_dir / f"{name}.f32")
    transient.astype(np.uint8).tofile(out_dir / "transient.u8")
    meta = {
        "format_version": 1,
        "num_frames": frames,
        "num_bins": NUM_BINS,
        "hop": HOP,
        "semitones": CLASSIC_SHIFT_SEMITONES,
        "ratio": ratio,
        "layout": "each .f32 is frame-major: for frame in 0..F, for bin in 0..1025",
        "transient_frames": [int(f) for f in np.flatnonzero(transient)],
        "what": "classical engine on the golden signal's frames shifted by shift.py",
        "generator": "xodvox_train.golden.write_classical_shift_golden",
    }
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out_dir


def read_golden(golden_dir: Path) -> tuple[dict[str, object], GoldenVectors]:
    """Reads ``meta.json`` and the three binary files from ``golden_dir``.

    Raises:
        ValueError: a file is missing or its size does not match ``meta.json``.
    """
    meta_path = golden_dir / "meta.json"
    if not meta_path.is_file():
        raise ValueError(f"missing golden file {meta_path}")
    meta = json.loads(meta_path.read_text())
    n = int(meta["num_samples"])
    f = int(meta["num_frames"])
    bins = int(meta["num_bins"])
    arrays = {}
    for name, count in (("signal", n), ("stft", f * bins * 2), ("recon", n)):
        path = golden_dir / f"{name}.f32"
        if not path.is_file():
            raise ValueError(f"missing golden file {path}")
        data = np.fromfile(path, dtype="<f4")
        if data.size != count:
            raise ValueError(f"{path}: expected {count} float32 values, got {data.size}")
        arrays[name] = data
    return meta, GoldenVectors(
        signal=arrays["signal"],
        stft=arrays["stft"].reshape(f, bins, 2),
        recon=arrays["recon"],
    )


def find_repo_root(start: Path | None = None) -> Path:
    """The closest ancestor of ``start`` (default: cwd) that contains ``.git``.

    Raises:
        ValueError: no ancestor is a git checkout.
    """
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return candidate
    raise ValueError(f"no git repository above {here}; pass OUT_DIR explicitly")


def default_golden_dir() -> Path:
    """``fixtures/golden/stft`` under the repository root."""
    return find_repo_root() / "fixtures" / "golden" / "stft"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``golden`` command's arguments to ``parser``."""
    parser.add_argument(
        "out_dir",
        nargs="?",
        type=Path,
        default=None,
        help="output folder (default: fixtures/golden/stft at the repository root)",
    )


def run(args: argparse.Namespace) -> int:
    """Runs the ``golden`` command."""
    out_dir = args.out_dir if args.out_dir is not None else default_golden_dir()
    write_golden(out_dir)
    print(f"wrote golden STFT vectors to {out_dir}")
    classical_dir = write_classical_golden(out_dir.parent / "classical")
    print(f"wrote golden classical-engine vectors to {classical_dir}")
    shift_dir = write_shift_golden(out_dir.parent / "shift")
    print(f"wrote golden spectral-shifter vectors to {shift_dir}")
    classical_shift_dir = write_classical_shift_golden(shift_dir / "classical")
    print(f"wrote golden classical-engine-on-shifted-frames vectors to {classical_shift_dir}")
    from xodvox_train.metrics import write_metrics_golden

    metrics_dir = write_metrics_golden(out_dir.parent / "metrics")
    print(f"wrote golden evaluation-measure vectors to {metrics_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m xodvox_train.golden``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
