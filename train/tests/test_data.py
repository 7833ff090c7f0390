"""Manifest parsing and errors, deterministic crops, mapped magnitudes, samplers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from xodvox_train.controls import default_controls
from xodvox_train.data import (
    CropConfig,
    CropDataset,
    ManifestError,
    StepSampler,
    analysis_with_advance,
    input_frames,
    load_manifest,
    make_loader,
    mapped_input_magnitude,
    rms_dbfs,
    runtime_features,
)
from xodvox_train.spectral import HOP, Stft
from xodvox_train.tinydata import TINY_STYLES

CONTROLS = default_controls(TINY_STYLES)


def test_tiny_manifest_is_valid(tiny_manifest: Path) -> None:
    manifest = load_manifest(tiny_manifest, verify_hashes=True)
    assert len(manifest.entries) == 12
    assert len(manifest.split("train")) == 8
    assert len(manifest.split("val")) == 4
    stretched = [e for e in manifest.entries if e.stretch == 1.25]
    for e in stretched:  # rubberband -t 1.25 and sox tempo 0.8 both make 1.25x longer output
        assert abs(e.num_frames_target / e.num_frames_input - 1.25) < 0.01, e.id


def rewrite(tiny_manifest: Path, tmp_path: Path, edit: object) -> Path:
    rows = [json.loads(line) for line in tiny_manifest.read_text().splitlines()]
    edit(rows)  # type: ignore[operator]
    out = tiny_manifest.parent / f"edited-{tmp_path.name}.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda rows: rows[2].pop("licence"), r":3: missing field\(s\) \['licence'\]"),
        (lambda rows: rows[0].update(stretch="fast"), r":1: field 'stretch' must be"),
        (lambda rows: rows[1].update(split="holdout"), r":2: split must be one of"),
        (lambda rows: rows[4].update(stretch=-1.0), r":5: stretch must be > 0"),
        (lambda rows: rows[3].update(id=rows[0]["id"]), r":4: duplicate id"),
        (lambda rows: rows[5].update(input="input/nope.wav"), r":6: input file .*nope\.wav"),
        (lambda rows: rows[6].update(num_frames_target=5), r":7: target file .* has \d+ frames"),
        (lambda rows: rows[7].update(input_sha256="0" * 64), r":8: input file .* sha256"),
    ],
)
def test_corrupt_rows_give_errors_naming_the_line(
    tiny_manifest: Path, tmp_path: Path, edit: object, match: str
) -> None:
    path = rewrite(tiny_manifest, tmp_path, edit)
    with pytest.raises(ManifestError, match=match):
        load_manifest(path, verify_hashes=True)


def test_invalid_json_and_missing_manifest(tmp_path: Path) -> None:
    bad = tmp_path / "m.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(ManifestError, match=r"m\.jsonl:1: invalid JSON"):
        load_manifest(bad)
    with pytest.raises(ManifestError, match="does not exist"):
        load_manifest(tmp_path / "absent.jsonl")


def test_audio_deleted_after_loading_names_the_entry(tiny_manifest: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    root.mkdir()
    for sub in ("input", "target"):
        (root / sub).mkdir()
        for f in (tiny_manifest.parent / sub).glob("*.wav"):
            (root / sub / f.name).write_bytes(f.read_bytes())
    (root / "manifest.jsonl").write_text(tiny_manifest.read_text())
    manifest = load_manifest(root / "manifest.jsonl")
    (root / "target" / "pluck-0.wav").unlink()
    ds = CropDataset(manifest, "train", CONTROLS, CropConfig(crop_frames=8))
    with pytest.raises(ManifestError, match="pluck-0"):
        [ds[i] for i in range(64)]


def test_unknown_style_is_rejected(tiny_manifest: Path) -> None:
    manifest = load_manifest(tiny_manifest)
    with pytest.raises(ManifestError, match="is not one of"):
        CropDataset(manifest, "train", default_controls(["only-this"]), CropConfig())


def test_crops_are_deterministic_and_shaped(tiny_manifest: Path) -> None:
    manifest = load_manifest(tiny_manifest)
    crop = CropConfig(crop_frames=16, seed=7, mag_source="mapped_input")
    a = CropDataset(manifest, "train", CONTROLS, crop)
    b = CropDataset(manifest, "train", CONTROLS, crop)
    other = CropDataset(manifest, "train", CONTROLS, CropConfig(16, seed=8))
    item = a[5]
    assert item["target"].shape == (15 * HOP,)
    assert item["input_mag"].shape == (1, 1025, 16)
    assert item["control"].shape == (5,)
    for k in range(6):
        assert torch.equal(a[k]["target"], b[k]["target"])
        assert torch.equal(a[k]["input_mag"], b[k]["input_mag"])
    assert any(not torch.equal(a[k]["target"], other[k]["target"]) for k in range(6))


def test_loader_batches_do_not_depend_on_workers(tiny_manifest: Path) -> None:
    manifest = load_manifest(tiny_manifest)
    ds = CropDataset(manifest, "train", CONTROLS, CropConfig(crop_frames=8, seed=1))
    serial = list(make_loader(ds, 3, start_batch=2, num_batches=3, num_workers=0))
    parallel = list(make_loader(ds, 3, start_batch=2, num_batches=3, num_workers=2))
    assert len(serial) == len(parallel) == 3
    for s, p in zip(serial, parallel, strict=True):
        assert torch.equal(s["index"], p["index"])
        assert torch.equal(s["target"], p["target"])
    assert serial[0]["index"].tolist() == [6, 7, 8]


def test_step_sampler_ranks_are_disjoint() -> None:
    r0 = list(StepSampler(4, start_batch=1, num_batches=2, world_size=2, rank=0))
    r1 = list(StepSampler(4, start_batch=1, num_batches=2, world_size=2, rank=1))
    assert not set(r0) & set(r1)
    assert sorted(r0 + r1) == list(range(8, 24))
    with pytest.raises(ValueError, match="rank"):
        StepSampler(4, world_size=2, rank=2)


def test_mapped_magnitude_at_unit_ratio_is_the_stft(tiny_manifest: Path) -> None:
    path = tiny_manifest.parent / "input" / "pluck.wav"
    audio, _ = sf.read(str(path), dtype="float32")
    frames = 1 + len(audio) // HOP
    mag = mapped_input_magnitude(path, 0, 0, frames, stretch=1.0, pitch_semitones=0.0)
    ref = Stft()(torch.from_numpy(audio.astype(np.float64))).abs().numpy()
    assert mag.shape == (1, 1025, frames)
    assert np.max(np.abs(mag[0] - ref)) < 1e-4 * np.max(ref)


def test_mapped_magnitude_follows_stretch_and_pitch(tmp_path: Path) -> None:
    sr = 48_000
    t = np.arange(sr) / sr
    x = np.where(t < 0.5, np.sin(2 * np.pi * 1000 * t), 0.0).astype(np.float32)
    path = tmp_path / "tone.wav"
    sf.write(str(path), x, sr, subtype="FLOAT")
    octave_up = mapped_input_magnitude(path, 0, 10, 1, stretch=1.0, pitch_semitones=12.0)
    peak_hz = np.argmax(octave_up[0, :, 0]) * sr / 2048
    assert abs(peak_hz - 2000) < 30, peak_hz
    # Stretch 2: output frame 60 (0.64 s) maps to input 0.32 s (tone on); at stretch 1 it is off.
    on = mapped_input_magnitude(path, 0, 60, 1, stretch=2.0, pitch_semitones=0.0)
    off = mapped_input_magnitude(path, 0, 60, 1, stretch=1.0, pitch_semitones=0.0)
    assert on.max() > 100 * max(off.max(), 1e-9)


def test_runtime_features_at_unit_ratio(tmp_path: Path) -> None:
    """Stretch 1, pitch 0: the frames are the mid's STFT frames and the target is unchanged."""
    sr, n = 48_000, 48_000
    t = np.arange(n) / sr
    left = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    right = 0.3 * np.sin(2 * np.pi * 440.0 * t + 0.4)
    sf.write(tmp_path / "in.wav", np.stack([left, right], 1).astype(np.float32), sr)
    feats = runtime_features(tmp_path / "in.wav", tmp_path / "in.wav", 10, 8, 1.0, 0.0)
    mid = torch.from_numpy(((left + right) / 2).astype(np.float32).astype(np.float64))
    spec = Stft()(mid)[:, 10:18]
    np.testing.assert_allclose(feats["mag"][0], spec.abs().numpy(), atol=1e-3 * spec.abs().max())
    peak = int(np.argmax(feats["mag"][0, :, 0]))
    np.testing.assert_allclose(
        np.angle(np.exp(1j * (feats["anchor"][peak] - spec[peak, 0].angle().item()))), 0, atol=1e-4
    )
    # Reassigned frequency of the peak bin = 440 Hz: the advance deviation is the phase a
    # 440 Hz partial gains over one hop beyond the bin centre's.
    expected = np.angle(np.exp(1j * 2 * np.pi * (440.0 - peak * sr / 2048) * HOP / sr))
    np.testing.assert_allclose(feats["advance"][0, peak, 1:], expected, atol=1e-3)
    assert np.all(feats["advance"][0, :, 0] == 0.0), "the first frame of a crop is the anchor"
    target = ((left + right) / 2)[10 * HOP : 10 * HOP + 7 * HOP]
    np.testing.assert_allclose(feats["target"], target, atol=2e-3)


def test_runtime_features_follow_stretch_and_pitch(tmp_path: Path) -> None:
    """Resample path, pitch +12 st at stretch 1: analysis frames 2x apart (S = 2), the target
    resampled 2x."""
    sr, n = 48_000, 96_000
    t = np.arange(n) / sr
    x = (0.5 * np.sin(2 * np.pi * 300.0 * t)).astype(np.float32)
    sf.write(tmp_path / "in.wav", x, sr)
    y = (0.5 * np.sin(2 * np.pi * 600.0 * t)).astype(np.float32)  # ideal +12 st output
    sf.write(tmp_path / "out.wav", y, sr)
    feats = runtime_features(
        tmp_path / "in.wav", tmp_path / "out.wav", 20, 40, 1.0, 12.0, pitch_path="resample"
    )
    # Frame k of the S = 2 timeline is centred on input sample k * HOP / 2.
    first = np.abs(np.fft.rfft(x[5 * HOP - 1024 : 5 * HOP + 1024] * np.hanning(2049)[:-1]))
    np.testing.assert_allclose(feats["mag"][0, :, 0], first, rtol=0, atol=1e-2 * first.max())
    # Before the runtime's final resampling the target is back at 300 Hz.
    seg = feats["target"] * np.hanning(len(feats["target"]))
    spectrum = np.abs(np.fft.rfft(seg, 1 << 20))
    assert abs(np.argmax(spectrum) * sr / (1 << 20) - 300.0) < 1.0


def test_runtime_features_spectral_path_shifts_the_frames(tmp_path: Path) -> None:
    """Spectral path (default), pitch +12 st at stretch 1: frames analysed at the stretch
    ratio (frame k centred on input sample k * HOP), their peak moved to 600 Hz, the shifted
    inst. freq in the advance, the target itself (600 Hz) at the output rate."""
    sr, n = 48_000, 96_000
    t = np.arange(n) / sr
    x = (0.5 * np.sin(2 * np.pi * 300.0 * t)).astype(np.float32)
    sf.write(tmp_path / "in.wav", x, sr)
    y = (0.5 * np.sin(2 * np.pi * 600.0 * t)).astype(np.float32)
    sf.write(tmp_path / "out.wav", y, sr)
    feats = runtime_features(tmp_path / "in.wav", tmp_path / "out.wav", 20, 40, 1.0, 12.0)
    want = np.abs(np.fft.rfft(y[20 * HOP - 1024 : 20 * HOP + 1024] * np.hanning(2049)[:-1]))
    got = feats["mag"][0, :, 0]
    assert int(np.argmax(got)) == int(np.argmax(want))
    lobe = slice(int(np.argmax(want)) - 2, int(np.argmax(want)) + 3)
    np.testing.assert_allclose(got[lobe], want[lobe], rtol=0, atol=0.05 * want.max())
    # The classical engine advances the peak at 600 Hz: advance = wrap(hop * (w - centre)).
    k = int(np.argmax(got))
    expect = np.angle(np.exp(1j * (2 * np.pi * 600.0 / sr - 2 * np.pi * k / 2048) * HOP))
    assert abs(np.angle(np.exp(1j * (feats["advance"][0, k, 5] - expect)))) < 1e-2
    # (16-bit WAV: within one LSB.)
    np.testing.assert_allclose(feats["target"], y[20 * HOP : 20 * HOP + 39 * HOP], atol=1e-4)


def test_runtime_features_reset_the_phase_on_a_click(tmp_path: Path) -> None:
    """A click in a steady tone fires the classical engine's transient reset (as in the Rust
    vocoder): at stretch 1.5 the classical phase drifts from the analysis phase except on the
    reset frame, where it is the analysis phase; the steady tone before the click, seen after
    the detector's warm-up, fires nothing."""
    sr, n = 48_000, 48_000
    t = np.arange(n) / sr
    x = 0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.05 * np.sin(2 * np.pi * 5000.0 * t)
    rng = np.random.default_rng(0)
    x[30 * HOP : 30 * HOP + 256] += 0.8 * rng.standard_normal(256) * np.exp(-np.arange(256) / 40)
    sf.write(tmp_path / "in.wav", x.astype(np.float32), sr)
    # Output frame k is centred on input sample k * HOP / 1.5: the click is near frame 45.
    feats = runtime_features(tmp_path / "in.wav", tmp_path / "in.wav", 36, 16, 1.5, 0.0)
    centre = 2 * np.pi * np.arange(1025) * HOP / 2048
    steps = np.concatenate([np.zeros((1025, 1)), centre[:, None] + feats["advance"][0, :, 1:]], 1)
    classical = feats["anchor"][:, None] + np.cumsum(steps, 1)
    spec, _ = analysis_with_advance(input_frames(tmp_path / "in.wav", None, 36, 16, 1.5))
    analysis, mag = np.angle(spec).T, np.abs(spec).T
    locked = np.abs(np.angle(np.exp(1j * (classical - analysis)))) < 1e-3
    loud = mag > 1e-2 * mag.max(axis=0, keepdims=True)
    reset = [k for k in range(1, 16) if locked[:, k][loud[:, k]].all()]
    assert len(reset) == 1, reset
    assert 7 <= reset[0] <= 11, reset


def test_silent_target_crops_are_redrawn(tiny_manifest: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tiny_manifest.parent, copy)
    manifest = load_manifest(copy / tiny_manifest.name)
    for entry in manifest.split("train")[:4]:  # silence the first half of some targets
        path = manifest.audio_path(entry.target)
        audio, sr = sf.read(path, dtype="float32", always_2d=True)
        audio[: len(audio) // 2] = 0.0
        sf.write(path, audio, sr)
    plain = CropDataset(manifest, "train", CONTROLS, CropConfig(crop_frames=8, seed=3))
    gated = CropDataset(
        manifest, "train", CONTROLS, CropConfig(crop_frames=8, seed=3, min_target_dbfs=-60.0)
    )
    levels = [rms_dbfs(plain[k]["target"].numpy()) for k in range(40)]
    assert min(levels) < -100, "the test needs silent crops to start with"
    assert all(rms_dbfs(gated[k]["target"].numpy()) >= -60.0 for k in range(40))
    assert torch.equal(gated[3]["target"], gated[3]["target"])  # still deterministic
