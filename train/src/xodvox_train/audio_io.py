"""Reading crops of audio files: frames, one channel, or the mid (mean of the channels).

Reads past either end of a file give zeros, so crops near the edges keep their length.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


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


def read_mid_segment(path: Path, start: int, length: int) -> np.ndarray:
    """``length`` samples of the mean of all channels from ``start`` (zeros outside the file)."""
    return read_frames(path, start, length).mean(axis=1, dtype=np.float64)
