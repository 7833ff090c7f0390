"""No allocation on the audio thread: the VST3 built with nice-plug's
`assert_process_allocs` (`--debug-vst3`) processes audio in pedalboard in a child process
(alloc_child.py), since an allocation there aborts the whole host (SIGABRT); the same
build told to allocate in process() must abort it (the negative control).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from hostlib import Report

ALLOC_CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "alloc_child.py")


def run_child(path: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """alloc_child.py on the bundle at `path`, in this Python."""
    return subprocess.run(
        [sys.executable, ALLOC_CHILD, path],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )


def test_assert_process_allocs(debug_vst3: str, report: Report) -> None:
    t0 = time.time()
    proc = run_child(debug_vst3)
    tail = (proc.stdout + proc.stderr)[-2000:]
    assert proc.returncode == 0, f"child exited with {proc.returncode}:\n{tail}"
    assert "alloc-child: ok" in proc.stdout, tail
    clean = time.time() - t0
    # Negative control: the same build told to allocate in process() must abort the host.
    env = dict(os.environ, XODVOX_TEST_ALLOCATE_IN_PROCESS="1")
    bad = run_child(debug_vst3, env)
    assert bad.returncode == -signal.SIGABRT, (
        f"an allocation in process() was not caught (exit {bad.returncode})"
    )
    report(
        f"clean exit in {clean:.1f} s; with an allocation forced into process() the host "
        f"aborts (exit {bad.returncode}, SIGABRT)"
    )
