"""Dataset manifest, random crops and data loaders: the names of the modules below, in one place.

``xodvox_train.data`` keeps the import path that callers, tests, scripts and documents use;
the code lives by concern in

- :mod:`xodvox_train.manifest`: the JSON Lines manifest (``docs/dataset-manifest.md``), read,
  checked and written;
- :mod:`xodvox_train.audio_io`: reading crops of audio files;
- :mod:`xodvox_train.runtime_port`: the port of the Rust runtime's features (STFT analysis,
  transient detector, classical engine, :func:`runtime_features`), which must match
  ``crates/dsp`` exactly;
- :mod:`xodvox_train.dataset`: the torch ``Dataset`` of random crops, its sampler and loader.
"""

from __future__ import annotations

from xodvox_train.audio_io import read_frames, read_mid_segment, read_segment
from xodvox_train.dataset import (
    MAG_SOURCES,
    MAX_CROP_DRAWS,
    CropConfig,
    CropDataset,
    StepSampler,
    make_loader,
    rms_dbfs,
)
from xodvox_train.manifest import (
    MANIFEST_VERSION,
    SPLITS,
    Manifest,
    ManifestEntry,
    ManifestError,
    check_entry_files,
    load_manifest,
    manifest_row,
    parse_entry,
    sha256_file,
)
from xodvox_train.runtime_port import (
    PEAK_FLOOR,
    PITCH_PATHS,
    TRANSIENT_FLOOR,
    TRANSIENT_MIN_HZ,
    TRANSIENT_RISE,
    TRANSIENT_WARMUP_FRAMES,
    analysis_with_advance,
    classical_phases,
    input_frames,
    mapped_input_magnitude,
    runtime_features,
    sinc_resample_at,
    time_offsets,
    transient_flags,
)

__all__ = [
    "MAG_SOURCES",
    "MANIFEST_VERSION",
    "MAX_CROP_DRAWS",
    "PEAK_FLOOR",
    "PITCH_PATHS",
    "SPLITS",
    "TRANSIENT_FLOOR",
    "TRANSIENT_MIN_HZ",
    "TRANSIENT_RISE",
    "TRANSIENT_WARMUP_FRAMES",
    "CropConfig",
    "CropDataset",
    "Manifest",
    "ManifestEntry",
    "ManifestError",
    "StepSampler",
    "analysis_with_advance",
    "check_entry_files",
    "classical_phases",
    "input_frames",
    "load_manifest",
    "make_loader",
    "manifest_row",
    "mapped_input_magnitude",
    "parse_entry",
    "read_frames",
    "read_mid_segment",
    "read_segment",
    "rms_dbfs",
    "runtime_features",
    "sha256_file",
    "sinc_resample_at",
    "time_offsets",
    "transient_flags",
]
