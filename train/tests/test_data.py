"""Manifest parsing and errors, deterministic crops, mapped magnitudes, samplers."""

from __future__ import annotations

import json
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
    load_manifest,
    make_loader,
    mapped_input_magnitude,
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
