"""Dataset manifest (JSON Lines, ``docs/dataset-manifest.md``): parsing, checks, writing rows.

:func:`load_manifest` reads and validates a manifest (optionally checking every audio file's
rate, channels, length and hash); :func:`manifest_row` builds a row for two existing files,
as the dataset generators write them.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import soundfile as sf

MANIFEST_VERSION = 1
"""Schema version documented in ``docs/dataset-manifest.md``."""
SPLITS = ("train", "val", "test")
"""Allowed values of the ``split`` field."""


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
    kwargs: dict[str, Any] = {}  # each value type-checked against the field below
    for name in names:
        value = row[name]
        types = _FIELD_TYPES.get(name, (str,))
        if isinstance(value, bool) or not isinstance(value, types):
            expected = " or ".join(t.__name__ for t in types)
            raise ManifestError(f"{where}: field {name!r} must be {expected}, got {value!r}")
        kwargs[name] = float(value) if float in types and isinstance(value, int | float) else value
    entry = ManifestEntry(**kwargs)
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
