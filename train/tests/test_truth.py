"""Ground-truth pairs: exact references against closed forms, splits, manifest, resuming."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from xodvox_train.data import load_manifest
from xodvox_train.truth import (
    SPLIT_BASE,
    TruthOptions,
    build,
    draw_task,
    plan_pairs,
    split_counts,
)
from xodvox_train.truth_spec import make_spec
from xodvox_train.truth_synth import (
    IDENTITY,
    SAMPLE_RATE,
    Click,
    ClipSpec,
    Component,
    Envelope,
    Formant,
    Hit,
    PitchCurve,
    Task,
    band_gain,
    render,
    render_pair,
    steady_sum,
)

SR = SAMPLE_RATE
ENV = Envelope(attack_s=0.05, decay_s=0.8, hold_s=0.7, release_s=0.1)
FORMANT = Formant((math.log2(700.0), math.log2(2500.0)), (0.3, 0.2), (6.0, 3.0), 0.1, -3.0)


def first_indices(family: str, count: int, seed: int = 0) -> list[int]:
    """The first ``count`` source indices of ``family``."""
    found = [i for i in range(200) if make_spec(seed, i).family == family]
    return found[:count]


def envelope(tau: np.ndarray, env: Envelope) -> np.ndarray:
    """Closed form of :class:`Envelope` (written out again, independently)."""
    out = np.zeros_like(tau)
    for n, t in enumerate(tau):
        if t < 0.0 or t >= env.hold_s + env.release_s:
            continue
        v = 0.5 - 0.5 * math.cos(math.pi * min(t / env.attack_s, 1.0))
        v *= math.exp(-max(t - env.attack_s, 0.0) / env.decay_s)
        if t > env.hold_s:
            v *= 0.5 + 0.5 * math.cos(math.pi * (t - env.hold_s) / env.release_s)
        out[n] = v
    return out


def pan_gains(pan: float) -> np.ndarray:
    """Constant-power (left, right) gains."""
    angle = (pan + 1.0) * math.pi / 4.0
    return np.array([math.cos(angle), math.sin(angle)])


def one_partial(freq: float, formant: Formant | None = None, **pitch: float) -> ClipSpec:
    """A clip of a single partial (0.5 amplitude, phase 0.3) starting at 0.1234 s."""
    comp = Component(
        start_s=0.1234,
        f0_hz=freq,
        ratios=np.array([1.0]),
        amplitudes=np.array([0.5]),
        phases=np.array([0.3]),
        envelope=ENV,
        pitch=PitchCurve(**pitch),
        formant=formant,
        pan=0.3,
    )
    return ClipSpec("tonal", 0, 0, num_frames=48_000, components=(comp,))


# --- identity, lengths, determinism -----------------------------------------------------------


@pytest.mark.parametrize("family", ["tonal", "percussive"])
def test_identity_task_is_bit_exact(family: str) -> None:
    for index in first_indices(family, 3):
        spec = make_spec(7, index)
        for task in (Task(1.0, 0.0), Task(1.0, 0.0, formant=True)):
            source, target = render_pair(spec, task)
            assert source.dtype == np.float32
            assert source.shape == (spec.num_frames, 2)
            assert np.array_equal(source, target), (index, task)
        assert np.array_equal(render(spec, IDENTITY), render(spec, Task(1.0, 0.0, True)))


@pytest.mark.parametrize("stretch", [0.5, 0.501, 0.777, 1.0, 1.25, 1.9999, 2.0])
def test_output_length_is_rounded_len_times_stretch(stretch: float) -> None:
    for index in (0, 1):
        spec = make_spec(1, index)
        expected = math.floor(spec.num_frames * stretch + 0.5)
        assert render(spec, Task(stretch, 3.0)).shape == (expected, 2)
    assert Task(0.5).output_frames(3) == 2  # 1.5 rounds half up, like Rust's f64::round


def test_same_seed_and_index_give_identical_arrays() -> None:
    task = Task(1.3, -4.5)
    a_in, a_out = render_pair(make_spec(5, 17), task)
    b_in, b_out = render_pair(make_spec(5, 17), task)
    assert np.array_equal(a_in, b_in)
    assert np.array_equal(a_out, b_out)
    for other in (make_spec(5, 18), make_spec(6, 17)):
        c_in, _ = render_pair(other, task)
        assert c_in.shape != a_in.shape or not np.array_equal(c_in, a_in)
    assert draw_task(5, 17, 0.25) == draw_task(5, 17, 0.25)


def test_pair_shares_one_gain_and_peaks_at_most_0_9() -> None:
    for index in range(6):
        spec = make_spec(2, index)
        source, target = render_pair(spec, Task(0.8, 7.0))
        raw_in, raw_out = render(spec, IDENTITY), render(spec, Task(0.8, 7.0))
        peak = max(np.abs(source).max(), np.abs(target).max())
        assert peak <= 0.9 + 1e-6
        assert peak == pytest.approx(spec.peak, rel=1e-6)
        gain = spec.peak / max(np.abs(raw_in).max(), np.abs(raw_out).max())
        np.testing.assert_allclose(source, raw_in * gain, atol=1e-7)
        np.testing.assert_allclose(target, raw_out * gain, atol=1e-7)


# --- exact references against closed forms ----------------------------------------------------


@pytest.mark.parametrize(
    ("freq", "stretch", "pitch"),
    [
        (440.0, 1.0, 0.0),
        (440.0, 1.5, 0.0),
        (440.0, 0.7, 0.0),
        (440.0, 1.0, 5.0),
        (440.0, 1.3, -7.25),
        (18_500.0, 1.0, 0.5),  # in the band-limit fade: gain g(f)·g(r·f)
        (18_500.0, 1.2, -3.0),
        (12.0, 1.0, 12.0),  # in the low fade
    ],
)
def test_single_partial_reference_is_the_closed_form(
    freq: float, stretch: float, pitch: float
) -> None:
    spec = one_partial(freq)
    out = render(spec, Task(stretch, pitch))
    r = 2.0 ** (pitch / 12.0)
    t = np.arange(out.shape[0]) / SR
    t0 = 0.1234
    mono = (
        0.5
        * band_gain(np.array(freq))
        * band_gain(np.array(r * freq))
        * envelope(t / stretch - t0, ENV)
        * np.sin(0.3 + 2.0 * np.pi * r * freq * (t - stretch * t0))
    )
    expected = mono[:, None] * pan_gains(0.3)[None, :]
    assert out.shape[0] == math.floor(48_000 * stretch + 0.5)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)
    if freq == 440.0:
        assert np.abs(out).max() > 0.3  # not trivially zero


def test_band_gain_fades() -> None:
    g = band_gain(np.array([5.0, 10.0, 14.142135623730951, 20.0, 1000.0, 18_000.0, 19_000.0]))
    np.testing.assert_allclose(g, [0.0, 0.0, 0.5, 1.0, 1.0, 1.0, 0.5], atol=1e-12)
    assert band_gain(np.array([20_000.0, 23_000.0])).max() == 0.0
    assert band_gain(np.array(1000.0)) == 1.0  # exactly: skipping it is no approximation


def test_steady_sum_matches_direct_sines() -> None:
    rng = np.random.default_rng(0)
    freqs = rng.uniform(20.0, 20_000.0, 50)
    amps, phases = rng.random(50), rng.uniform(0, 2 * np.pi, 50)
    for count in (1, 15, 1000, 70_001):
        m = np.arange(count)
        direct = amps @ np.sin(phases[:, None] + 2 * np.pi * freqs[:, None] * m / SR)
        np.testing.assert_allclose(steady_sum(freqs, amps, phases, count), direct, atol=1e-9)


@pytest.mark.parametrize(("stretch", "pitch"), [(1.0, 0.0), (1.6, 0.0), (0.6, 4.0), (1.0, -9.0)])
def test_glide_and_vibrato_follow_the_source_curve_at_t_over_s(
    stretch: float, pitch: float
) -> None:
    curve = {"glide_semitones": 5.0, "glide_s": 0.6, "vibrato_hz": 5.5, "vibrato_cents": 30.0}
    waves = []
    for phase in (0.3, 0.3 + np.pi / 2):
        spec = one_partial(300.0, **curve)
        comp = spec.components[0]
        held = Component(
            comp.start_s, 300.0, comp.ratios, comp.amplitudes, np.array([phase]),
            Envelope(0.001, math.inf, 0.75, 0.1), comp.pitch, None, 0.0,
        )  # fmt: skip
        waves.append(render(ClipSpec("tonal", 0, 0, 48_000, (held,)), Task(stretch, pitch))[:, 0])
    sine, cosine = waves
    theta = np.unwrap(np.arctan2(sine, cosine))
    inst = np.diff(theta) * SR / (2 * np.pi)  # Hz, at the half-sample times
    t_mid = (np.arange(inst.shape[0]) + 0.5) / SR
    tau = t_mid / stretch - 0.1234
    semis = 5.0 * np.clip(tau / 0.6, 0, 1) + 0.3 * np.sin(2 * np.pi * 5.5 * tau)
    expected = 2.0 ** (pitch / 12.0) * 300.0 * 2.0 ** (semis / 12.0)
    active = (tau > 0.002) & (tau < 0.84)
    assert active.sum() > 0.8 * stretch * SR
    np.testing.assert_allclose(inst[active], expected[active], rtol=0, atol=0.02)


def test_formant_style_uses_the_envelope_at_the_new_frequency() -> None:
    spec = one_partial(500.0, formant=FORMANT)
    assert np.array_equal(render(spec, Task(1.2, 0.0)), render(spec, Task(1.2, 0.0, True)))
    r = 2.0 ** (7.0 / 12.0)
    natural, formant = render(spec, Task(1.0, 7.0)), render(spec, Task(1.0, 7.0, True))
    assert not np.allclose(natural, formant)
    t = np.arange(48_000) / SR
    wave = envelope(t - 0.1234, ENV) * np.sin(0.3 + 2 * np.pi * r * 500.0 * (t - 0.1234))
    gains = pan_gains(0.3)[None, :]
    for out, f_env in ((natural, 500.0), (formant, r * 500.0)):
        e = FORMANT.gain_log2(np.array(math.log2(f_env)))
        np.testing.assert_allclose(out, (0.5 * e * wave)[:, None] * gains, rtol=0, atol=1e-6)
    e_direct = (0.1 + 6 * math.exp(-0.5 * (math.log2(r * 500 / 700) / 0.3) ** 2)) * (
        10 ** (-3.0 * math.log2(r * 500 / 1000) / 20)
    ) + 3 * math.exp(-0.5 * (math.log2(r * 500 / 2500) / 0.2) ** 2) * (
        10 ** (-3.0 * math.log2(r * 500 / 1000) / 20)
    )
    assert FORMANT.gain_log2(np.array(math.log2(r * 500.0))) == pytest.approx(e_direct)


def test_formant_differs_from_natural_only_with_a_pitch_shift() -> None:
    with_formant = [
        i for i in first_indices("tonal", 30) if any(c.formant for c in make_spec(0, i).components)
    ]
    spec = make_spec(0, with_formant[0])
    assert np.array_equal(render(spec, Task(0.9, 0.0)), render(spec, Task(0.9, 0.0, True)))
    assert not np.allclose(render(spec, Task(0.9, 3.0)), render(spec, Task(0.9, 3.0, True)))


# --- percussive -------------------------------------------------------------------------------


def drum_clip() -> ClipSpec:
    """A click, a noise burst and a kick with a pitch drop, well apart."""
    burst = Hit(
        onset_s=2400 / SR,
        freqs=np.array([3000.0, 5123.0]),
        amplitudes=np.array([0.4, 0.3]),
        phases=np.array([0.1, 1.0]),
        envelope=Envelope(0.0005, 0.03, 0.18, 0.03),
    )
    kick = Hit(
        onset_s=24_000 / SR,
        freqs=np.array([55.0]),
        amplitudes=np.array([0.8]),
        phases=np.array([0.0]),
        envelope=Envelope(0.001, 0.1, 0.6, 0.1),
        drop_ratio=2.5,
        drop_s=0.03,
        pan=-0.4,
    )
    click = Click(onset_s=20_000 / SR, amplitude=0.7, width=9, bright=True, pan=0.5)
    return ClipSpec("percussive", 0, 0, 60_000, hits=(burst, kick), clicks=(click,))


@pytest.mark.parametrize("stretch", [0.6, 1.37, 2.0])
def test_stretched_hits_keep_their_shape_at_s_times_the_onsets(stretch: float) -> None:
    spec = drum_clip()
    source, target = render(spec, IDENTITY), render(spec, Task(stretch, 0.0))
    for onset, length in ((2400, 10_080), (20_000, 9), (24_000, 33_600)):
        moved = math.floor(onset * stretch + 0.5)
        span = min(length, target.shape[0] - moved, source.shape[0] - onset)
        np.testing.assert_allclose(
            target[moved : moved + span], source[onset : onset + span], rtol=0, atol=1e-9
        )
        assert np.abs(target[moved + 1]).max() > 0.0
    active = np.abs(target).sum(axis=1) > 0
    assert np.flatnonzero(active)[0] == math.floor(2400 * stretch + 0.5) + 1  # envelope(0) = 0


def test_pitch_shift_moves_hit_sinusoids_but_not_clicks() -> None:
    spec = drum_clip()
    r = 2.0 ** (5.0 / 12.0)
    out = render(spec, Task(1.0, 5.0))
    source = render(spec, IDENTITY)
    np.testing.assert_array_equal(out[20_000:20_009], source[20_000:20_009])  # the click
    assert np.abs(out[20_000:20_009]).max() > 0.1
    tau = np.arange(36_000) / SR
    q, td = 2.5, 0.03
    kick = (
        0.8
        * envelope(tau, Envelope(0.001, 0.1, 0.6, 0.1))
        * np.sin(2 * np.pi * r * 55.0 * (tau + (q - 1) * td * (1 - np.exp(-tau / td))))
    )
    np.testing.assert_allclose(
        out[24_000:60_000], kick[:, None] * pan_gains(-0.4)[None, :], rtol=0, atol=1e-6
    )
    tau = np.arange(12_000) / SR
    burst = envelope(tau, Envelope(0.0005, 0.03, 0.18, 0.03)) * (
        0.4 * np.sin(0.1 + 2 * np.pi * r * 3000 * tau)
        + 0.3 * np.sin(1.0 + 2 * np.pi * r * 5123 * tau)
    )
    np.testing.assert_allclose(
        out[2400:14_400], burst[:, None] * pan_gains(0.0)[None, :], rtol=0, atol=1e-6
    )


def test_random_percussive_onsets_scale_with_the_stretch() -> None:
    spec = make_spec(0, first_indices("percussive", 1)[0])
    assert spec.onsets_s()
    for onset in spec.onsets_s():
        assert (onset * SR) == pytest.approx(round(onset * SR), abs=1e-6)  # whole samples
    source, target = render(spec, IDENTITY), render(spec, Task(1.5, 0.0))
    first = spec.onsets_s()[0]
    lead = np.flatnonzero(np.abs(source).sum(axis=1))[0] - round(first * SR)
    assert lead in (0, 1)  # a click starts at its onset, a hit's envelope one sample later
    moved = np.flatnonzero(np.abs(target).sum(axis=1))[0]
    assert moved - lead == math.floor(first * 1.5 * SR + 0.5)


# --- tasks and splits -------------------------------------------------------------------------


def test_task_mix_ranges_and_styles() -> None:
    tasks = [draw_task(0, i, 0.25) for i in range(2000)]
    stretch_only = sum(t.stretch != 1.0 and t.pitch_semitones == 0.0 for t in tasks)
    pitch_only = sum(t.stretch == 1.0 and t.pitch_semitones != 0.0 for t in tasks)
    both = sum(t.stretch != 1.0 and t.pitch_semitones != 0.0 for t in tasks)
    assert abs(stretch_only / 2000 - 0.35) < 0.04
    assert abs(pitch_only / 2000 - 0.45) < 0.04
    assert abs(both / 2000 - 0.20) < 0.04
    assert all(0.5 <= t.stretch <= 2.0 and -12.0 <= t.pitch_semitones <= 12.0 for t in tasks)
    assert all(t.pitch_semitones != 0.0 for t in tasks if t.formant)
    shifted = [t for t in tasks if t.pitch_semitones != 0.0]
    assert abs(sum(t.formant for t in shifted) / len(shifted) - 0.25) < 0.04
    assert not any(t.formant for t in (draw_task(0, i, 0.0) for i in range(200)))


def test_splits_are_disjoint_by_source_and_stable_as_the_set_grows() -> None:
    assert split_counts(200, 0.05, 0.05) == {"train": 180, "val": 10, "test": 10}
    assert split_counts(3, 0.05, 0.05) == {"train": 1, "val": 1, "test": 1}
    small = plan_pairs(TruthOptions(pairs=200))
    large = plan_pairs(TruthOptions(pairs=2000))
    for plans in (small, large):
        by_split: dict[str, set[int]] = {}
        for p in plans:
            by_split.setdefault(p.split, set()).add(p.index)
        assert sum(len(v) for v in by_split.values()) == len(plans)
        assert not by_split["train"] & by_split["val"]
        assert not by_split["train"] & by_split["test"]
        assert not by_split["val"] & by_split["test"]
        assert min(by_split["val"]) == SPLIT_BASE["val"]
    split_of = {p.index: p.split for p in large}
    assert all(split_of[p.index] == p.split for p in small)
    with pytest.raises(ValueError, match="no training pair"):
        split_counts(2, 0.5, 0.5)


# --- the dataset writer -----------------------------------------------------------------------


def test_written_dataset_loads_and_matches_the_synthesiser(tmp_path: Path) -> None:
    options = TruthOptions(pairs=6, seed=4, val_fraction=0.2, test_fraction=0.2)
    manifest_path, meter = build(tmp_path / "set", options, progress=False)
    assert meter.rendered == 6
    manifest = load_manifest(manifest_path, verify_hashes=True)
    assert {e.split for e in manifest.entries} == {"train", "val", "test"}
    rows = [json.loads(line) for line in manifest_path.read_text().splitlines()]
    sources: dict[str, str] = {}
    for row, entry in zip(rows, manifest.entries, strict=True):
        assert row["family"] in ("tonal", "percussive")
        assert entry.style in ("natural", "formant")
        assert entry.licence == "CC0-1.0"
        assert entry.sample_rate == SR
        assert entry.channels == 2
        assert entry.generator.startswith("xodvox-train truth . --pairs 6 --seed 4")
        assert sources.setdefault(entry.source, entry.split) == entry.split
        index = int(entry.source.rsplit("index=", 1)[1])
        assert entry.source == f"truth:{row['family']} seed=4 index={index}"
        task = Task(entry.stretch, entry.pitch_semitones, entry.style == "formant")
        assert task == draw_task(4, index, 0.25)
        source, target = render_pair(make_spec(4, index), task)
        file_in, _ = sf.read(manifest.audio_path(entry.input), dtype="float32", always_2d=True)
        file_out, _ = sf.read(manifest.audio_path(entry.target), dtype="float32", always_2d=True)
        assert np.array_equal(file_in, source)
        assert np.array_equal(file_out, target)
    assert not list((tmp_path / "set").rglob("*.partial.wav"))
    assert not list((tmp_path / "set").glob("*.tmp"))


def test_resume_keeps_finished_pairs_and_redoes_broken_ones(tmp_path: Path) -> None:
    root = tmp_path / "set"
    options = TruthOptions(pairs=4, seed=9, val_fraction=0.0, test_fraction=0.0)
    manifest_path, _ = build(root, options, progress=False)
    before = manifest_path.read_bytes()
    files = sorted(root.glob("*/*.wav"))
    mtimes = {p: p.stat().st_mtime_ns for p in files}
    victim = root / "target" / "train-000002.wav"
    victim_bytes = victim.read_bytes()
    victim.write_bytes(victim_bytes[: len(victim_bytes) // 2])  # a wrong length
    (root / "input" / "train-000003.partial.wav").write_bytes(b"junk")  # a stale partial file
    _, meter = build(root, options, progress=False)
    assert meter.rendered == 1
    assert victim.read_bytes() == victim_bytes
    for path in files:
        if path.name != "train-000002.wav":
            assert path.stat().st_mtime_ns == mtimes[path], path
    assert manifest_path.read_bytes() == before
    assert not (root / "input" / "train-000003.partial.wav").exists()
    with pytest.raises(ValueError, match="use another folder"):
        build(root, TruthOptions(pairs=4, seed=10), progress=False)


def test_cli_truth_subcommand(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from xodvox_train.cli import main

    out = tmp_path / "cli"
    assert main(["truth", str(out), "--pairs", "2", "--seed", "1", "--test-fraction", "0"]) == 0
    captured = capsys.readouterr()
    assert "2 pairs" in captured.out
    assert "truth: 2/2 pairs (100%)" in captured.err
    manifest = load_manifest(out / "manifest.jsonl", verify_hashes=True)
    assert len(manifest.entries) == 2


def test_cli_truth_bad_options_are_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from xodvox_train.cli import main

    out = tmp_path / "bad"
    assert main(["truth", str(out), "--pairs", "4", "--test-fraction", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xodvox-train truth: --test-fraction must be in [0, 1)"), err
    assert "Traceback" not in err
