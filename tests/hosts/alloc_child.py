#!/usr/bin/env python3
"""The child process of test_assert_process_allocs (test_alloc.py): processes audio with
the VST3 built with nice-plug's `assert_process_allocs` in pedalboard, moving every
parameter, mono and stereo, classical and neural, at 48 kHz and (through the 48 kHz rate
bridge) at 44.1 kHz. An allocation on the audio thread aborts this process (SIGABRT);
otherwise it prints `alloc-child: ok`.

    python3 tests/hosts/alloc_child.py PATH/XodVox.vst3
"""

from __future__ import annotations

import sys

import numpy as np

from hostlib import SR, load, set_params, sine


def alloc_child(path: str) -> None:
    for channels, sr in ((2, SR), (1, SR), (2, 44_100)):
        p = load(path)
        x = sine(220.0, 1.0, sr, channels)
        for engine in ("Classical", "Neural"):
            p.engine = engine
            outs = []
            for i, pitch in enumerate((0.0, 7.0, -12.0, 24.0, -24.0)):
                set_params(p, pitch=pitch, mix=50.0 + 10 * i, output_gain=-i)
                outs.append(p.process(x, sr, buffer_size=int(97 + 300 * i), reset=i == 0))
            y = np.concatenate(outs, axis=1)
            assert np.all(np.isfinite(y))
    print("alloc-child: ok", flush=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} PATH/XodVox.vst3", file=sys.stderr)
        return 2
    alloc_child(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
