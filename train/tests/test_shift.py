"""The numpy port of the spectral pitch shifter (``shift.rs``): properties and golden vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xodvox_train.data import analysis_with_advance, time_offsets
from xodvox_train.golden import write_classical_shift_golden, write_shift_golden
from xodvox_train.shift import apply, plan, reassigned_inst_freq, shift_frames, shift_inst_freq

N_FFT = 2048
SR = 48_000.0


def analyse(x: np.ndarray) -> dict[str, np.ndarray]:
    """One frame's shifter inputs, as the Rust vocoder computes them."""
    frames = x[None, :]
    spec, _ = analysis_with_advance(frames, 512)
    return {
        "spectrum": spec[0],
        "magnitude": np.abs(spec[0]),
        "inst_freq": reassigned_inst_freq(frames, spec)[0],
        "time_offset": time_offsets(frames, spec)[0],
    }


def sine(freq: float) -> np.ndarray:
    return np.sin(2.0 * np.pi * freq * np.arange(N_FFT) / SR + 0.3)


def test_shift_golden_vectors_are_reproduced(repo_root: Path, tmp_path: Path) -> None:
    fresh = write_shift_golden(tmp_path / "shift")
    stored = repo_root / "fixtures" / "golden" / "shift"
    assert (fresh / "meta.json").read_text() == (stored / "meta.json").read_text()
    for path in sorted(stored.glob("*.f32")):
        want = np.fromfile(path, dtype="<f4")
        got = np.fromfile(fresh / path.name, dtype="<f4")
        assert got.shape == want.shape, path.name
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, err_msg=path.name)
    assert (fresh / "transient.u8").read_bytes() == (stored / "transient.u8").read_bytes()
    assert (stored / "transient.u8").read_bytes().count(1) >= 1


def test_classical_on_shifted_frames_golden_is_reproduced(repo_root: Path, tmp_path: Path) -> None:
    fresh = write_classical_shift_golden(tmp_path / "classical")
    stored = repo_root / "fixtures" / "golden" / "shift" / "classical"
    assert (fresh / "meta.json").read_text() == (stored / "meta.json").read_text()
    for path in sorted(stored.glob("*.f32")):
        want = np.fromfile(path, dtype="<f4")
        got = np.fromfile(fresh / path.name, dtype="<f4")
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, err_msg=path.name)
    assert (fresh / "transient.u8").read_bytes() == (stored / "transient.u8").read_bytes()


def test_shift_ratio_one_is_the_identity() -> None:
    rng = np.random.default_rng(3)
    inputs = analyse(sine(1000.0) + 0.1 * rng.standard_normal(N_FFT))
    for transient in (False, True):
        p = plan(**inputs, transient=transient, ratio=1.0)
        assert p.unity
        np.testing.assert_array_equal(apply(p, inputs["spectrum"]), inputs["spectrum"])
        np.testing.assert_array_equal(shift_inst_freq(p, inputs["inst_freq"]), inputs["inst_freq"])


def test_shift_up_then_down_keeps_a_sine() -> None:
    inputs = analyse(sine(1000.0))
    q = 2.0 ** (5 / 12)
    up = plan(**inputs, transient=False, ratio=q)
    spec = apply(up, inputs["spectrum"])
    inst = shift_inst_freq(up, inputs["inst_freq"])
    tmp = {"spectrum": spec, "magnitude": np.abs(spec), "inst_freq": inst}
    t = inputs["time_offset"]
    down = plan(**tmp, time_offset=t, transient=False, ratio=1.0 / q)
    back = apply(down, spec)
    peak = np.abs(inputs["spectrum"]).max()
    k = round(1000.0 * N_FFT / SR)
    lobe = slice(k - 3, k + 4)
    np.testing.assert_allclose(
        np.abs(back[lobe]), np.abs(inputs["spectrum"][lobe]), atol=0.05 * peak
    )


@pytest.mark.parametrize("semitones", [-12.0, -7.0, 5.0, 7.0, 12.0])
def test_shift_sine_peak_lands_at_f_times_q(semitones: float) -> None:
    freq = 1000.0
    q = 2.0 ** (semitones / 12.0)
    inputs = analyse(sine(freq))
    p = plan(**inputs, transient=False, ratio=q)
    spec = apply(p, inputs["spectrum"])
    inst = shift_inst_freq(p, inputs["inst_freq"])
    mag = np.abs(spec)
    want = freq * q * N_FFT / SR  # fractional bin
    k = int(np.argmax(mag))
    assert abs(k - want) <= 0.5
    # Quadratic interpolation of the log magnitude: the peak within 0.05 bin of f * q.
    a, b, c = np.log(mag[k - 1 : k + 2])
    vertex = k + 0.5 * (a - c) / (a - 2 * b + c)
    assert abs(vertex - want) < 0.05
    # The lobe matches the sine at the new frequency within 5 % of its peak.
    target = np.abs(analyse(sine(freq * q))["spectrum"])
    lobe = slice(k - 2, k + 3)
    np.testing.assert_allclose(mag[lobe], target[lobe], atol=0.05 * target.max())
    expect = 2.0 * np.pi * freq * q / SR
    assert abs(inst[k] - expect) < 1e-4 * expect


@pytest.mark.parametrize("semitones", [-12.0, 7.0, 12.0])
def test_shift_transient_frame_keeps_an_impulse_in_time(semitones: float) -> None:
    q = 2.0 ** (semitones / 12.0)
    for position in (700, 1024, 1400):
        x = np.zeros(N_FFT)
        x[position] = 1.0
        inputs = analyse(x)
        p = plan(**inputs, transient=True, ratio=q)
        assert p.peaks.size == 0
        assert not p.rigid.any()
        out = np.fft.irfft(apply(p, inputs["spectrum"]), n=N_FFT)
        # The (windowed) impulse stays where it was: energy centroid within 2 samples.
        energy = out**2
        centroid = float((energy * np.arange(N_FFT)).sum() / energy.sum())
        assert abs(centroid - position) < 2.0, (position, centroid)
        assert int(np.argmax(np.abs(out))) in range(position - 2, position + 3)


def test_shift_frames_matches_the_per_frame_plan() -> None:
    rng = np.random.default_rng(5)
    x = sine(440.0) + 0.05 * rng.standard_normal(N_FFT)
    frames = np.stack([x, np.roll(x, 100)])
    spec, _ = analysis_with_advance(frames, 512)
    inst = reassigned_inst_freq(frames, spec)
    offsets = time_offsets(frames, spec)
    transient = np.array([False, True])
    out = shift_frames(spec, inst, offsets, transient, 1.5)
    for f in range(2):
        p = plan(spec[f], np.abs(spec[f]), inst[f], offsets[f], bool(transient[f]), 1.5)
        np.testing.assert_array_equal(out.spec[f], apply(p, spec[f]))
        np.testing.assert_array_equal(out.inst_freq[f], shift_inst_freq(p, inst[f]))
    assert np.all(out.inst_freq <= np.pi)
