"""The standalone app (`--standalone`): runs on the dummy audio backend with its editor
open on a virtual X server (the `xvfb_display` fixture: Xvfb, Mesa's software GL), draws
the editor, and stops on SIGINT.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hostlib import Report


def start_xvfb() -> tuple[subprocess.Popen, str]:
    """A virtual X server on a free display (Xvfb, installed by scripts/setup); returns
    (process, display)."""
    assert shutil.which("Xvfb"), "Xvfb missing (scripts/setup installs xvfb)"
    for n in range(90, 110):
        if os.path.exists(f"/tmp/.X11-unix/X{n}") or os.path.exists(f"/tmp/.X{n}-lock"):
            continue
        proc = subprocess.Popen(
            ["Xvfb", f":{n}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(50):
            time.sleep(0.1)
            if os.path.exists(f"/tmp/.X11-unix/X{n}"):
                return proc, f":{n}"
            if proc.poll() is not None:
                break
        proc.kill()
        proc.wait()
    raise AssertionError("could not start Xvfb")


@pytest.fixture
def xvfb_display() -> Iterator[str]:
    """The display of a virtual X server, stopped after the test."""
    xvfb, display = start_xvfb()
    try:
        yield display
    finally:
        xvfb.terminate()
        xvfb.wait()


def xwd_image(path: str) -> np.ndarray:
    """An `xwd` screenshot (32-bit ZPixmap, as Xvfb at depth 24 writes it) as (h, w, 3)."""
    with open(path, "rb") as f:
        data = f.read()
    h = struct.unpack(">25I", data[:100])
    header_size, width, height, byte_order, bpl, ncolors = (
        h[0],
        h[4],
        h[5],
        h[7],
        h[12],
        h[19],
    )
    assert bpl // width == 4, f"unexpected xwd layout {h}"
    off = header_size + 12 * ncolors
    px = np.frombuffer(data[off : off + bpl * height], dtype=np.uint8)
    px = px.reshape(height, bpl)[:, : 4 * width].reshape(height, width, 4)
    return px[:, :, [2, 1, 0]] if byte_order == 0 else px[:, :, [1, 2, 3]]


def test_standalone_dummy_backend(
    standalone: str, xvfb_display: str, report: Report, tmp_path: Path
) -> None:
    """The standalone app runs (dummy audio backend: no sound card needed) with its editor
    open on a virtual X server (Xvfb, Mesa's software GL): it keeps running, the X server
    has a top-level window named XodVox of the editor's size, and a screenshot of it (xwd)
    is not blank (more than 50 distinct colours: text, sliders, spectrum grid) within 30 s.
    It stops on SIGINT (Ctrl-C) with its editor open: the app's own handler closes the
    window. Whether the widgets look right is not judged."""
    display = xvfb_display
    proc = subprocess.Popen(
        [
            standalone,
            "--backend",
            "dummy",
            "--sample-rate",
            "48000",
            "--period-size",
            "256",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, DISPLAY=display),
    )
    # Poll (a loaded machine draws the first frame late with software GL): until the
    # window exists and a screenshot of it shows a drawn editor, or 30 s.
    deadline = time.time() + 30.0
    time.sleep(2.0)
    windows, colours, tree = [], 0, ""
    while True:
        alive = proc.poll() is None
        tree = subprocess.run(
            ["xwininfo", "-root", "-tree", "-display", display],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        windows = [line.strip() for line in tree.splitlines() if '"XodVox"' in line]
        m = re.search(r"720x560\+(\d+)\+(\d+)", windows[0]) if windows else None
        if alive and m:
            x0, y0 = int(m.group(1)), int(m.group(2))
            shot = str(tmp_path / "editor.xwd")
            subprocess.run(["xwd", "-root", "-display", display, "-out", shot], check=False)
            image = xwd_image(shot)[y0 : y0 + 560, x0 : x0 + 720]
            os.remove(shot)
            colours = len(np.unique(image.reshape(-1, 3), axis=0))
        if not alive or colours > 50 or time.time() > deadline:
            break
        time.sleep(1.0)
    waited = 30.0 - max(0.0, deadline - time.time())
    how = "SIGINT"
    if alive:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            how = "SIGTERM (SIGINT ignored)"
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                how = "SIGKILL"
                proc.kill()
                proc.wait()
    log = proc.stdout.read() if proc.stdout else ""
    assert alive, f"standalone exited early with {proc.returncode}: {log[-1500:]}"
    assert "panicked" not in log, log[-1500:]
    assert windows, f"no XodVox window on the X server:\n{tree[-1500:]}"
    assert "720x560" in windows[0], windows
    assert colours > 50, f"the editor window looks blank after {waited:.0f} s ({colours} colours)"
    assert how == "SIGINT", f"Ctrl-C did not stop the standalone app: {how}"
    report(
        f"editor window on Xvfb: {windows[0]}, {colours} colours drawn after "
        f"{waited:.0f} s; stopped with {how} (exit {proc.returncode})"
    )
