"""The bundle's ``pitch_path``: from the ``[data]`` config, ``"resample"`` for older configs."""

from __future__ import annotations

import pytest

from xodvox_train.config import DataConfig
from xodvox_train.data import CropConfig
from xodvox_train.export import bundle_pitch_path


def test_pitch_path_defaults_to_spectral_and_is_validated() -> None:
    assert DataConfig().pitch_path == "spectral"
    assert DataConfig(pitch_path="resample").crop().pitch_path == "resample"
    with pytest.raises(ValueError, match="pitch_path"):
        CropConfig(pitch_path="granular")


def test_bundle_pitch_path_follows_the_checkpoint_config() -> None:
    assert bundle_pitch_path({"config": {"data": {"pitch_path": "spectral"}}}) == "spectral"
    assert bundle_pitch_path({"config": {"data": {"pitch_path": "resample"}}}) == "resample"
    # A checkpoint from before the spectral path has no such field: it was trained on resample.
    assert bundle_pitch_path({"config": {"data": {"mag_source": "runtime"}}}) == "resample"
