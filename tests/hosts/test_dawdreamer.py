"""The VST3 in DawDreamer (JUCE's VST3 hosting, from PyPI; no latency compensation):
the reported latency against an impulse and a tone burst, pitch, block sizes that do not
change the output, and state through `save_state`/`load_state`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hostlib import (
    SR,
    Report,
    burst,
    centroid,
    cents,
    dawdreamer_render,
    dominant_frequency,
    impulse_signal,
    rms,
    sine,
    steady,
)


def test_impulse_dawdreamer(vst3: str, report: Report) -> None:
    """DawDreamer does not compensate latency. The dry path (mix 0) puts an impulse exactly
    `latency` samples late; the processed path (mix 100 %, pitch 0) puts the impulse's peak
    there within one sample (the phase vocoder rebuilds an impulse smeared, its peak
    position depends on where it falls in the frame grid) and a tone burst's energy
    centroid within one sample."""
    out = []
    for block in (512, 128, 1000):
        for at in (4_000, 24_000):
            x = impulse_signal(SR * 2, at)
            # engine Classical = normalised 1.0, pitch 0 = normalised 0.5.
            y, latency = dawdreamer_render(
                vst3, x, SR, block, {"engine": 1.0, "pitch": 0.5, "mix": 0.0}
            )
            assert latency > 0, "no latency reported"
            peak = int(np.argmax(np.abs(y[0])))
            assert peak == at + latency, f"dry: peak at {peak}, expected {at + latency}"
            y, _ = dawdreamer_render(vst3, x, SR, block, {"engine": 1.0, "pitch": 0.5})
            peak = int(np.argmax(np.abs(y[0])))
            assert abs(peak - at - latency) <= 1, f"wet: peak at {peak}, expected {at + latency}"
            out.append(f"{peak - at - latency:+d}")
    xb = np.tile(burst(SR * 2, SR // 2, 1000.0, SR), (2, 1))
    y, latency = dawdreamer_render(vst3, xb, SR, 512, {"engine": 1.0, "pitch": 0.5})
    off = centroid(y[0]) - centroid(xb[0]) - latency
    assert abs(off) <= 1.0, f"burst centroid off by {off:.2f}"
    report(
        f"latency {latency}; dry impulse exact; wet impulse peak offsets "
        f"{' '.join(out)}; burst centroid {off:+.2f}"
    )


def test_pitch_dawdreamer(vst3: str, report: Report) -> None:
    x = sine(220.0, 3.0, SR, 2)
    y, latency = dawdreamer_render(vst3, x, SR, 256, {"engine": 1.0, "pitch": (12 + 24) / 48})
    y = y[:, latency:]
    err = cents(dominant_frequency(steady(y, SR)[0], SR), 440.0)
    assert abs(err) < 1.0, f"error {err} cents"
    report(f"+12 st in DawDreamer: error {abs(err):.4f} cents (latency {latency})")


def test_streaming_blocks(vst3: str, report: Report) -> None:
    """Block sizes do not change the output: DawDreamer renders with blocks of 4096, 512,
    100 and 37 samples give identical samples. (Blocks that change size every call are
    covered by `cargo test -p xodvox-plugin`: pedalboard's `process(..., reset=False)`
    does not give a stream to compare with, it re-aligns each call.)"""
    rng = np.random.default_rng(3)
    x = (sine(220.0, 2.0, SR, 2) + 0.1 * rng.standard_normal((2, 2 * SR))).astype(np.float32)
    params = {"engine": 1.0, "pitch": (3.0 + 24) / 48, "mix": 0.8}
    ref, _ = dawdreamer_render(vst3, x, SR, 4096, params)
    out = []
    for block in (512, 100, 37):
        y, _ = dawdreamer_render(vst3, x, SR, block, params)
        m = min(y.shape[1], ref.shape[1])
        diff = float(np.max(np.abs(y[:, :m] - ref[:, :m])))
        assert diff < 1e-6, f"block {block}: max diff {diff} vs block 4096"
        out.append(f"{block}: {diff:.1e}")
    assert rms(ref[:, SR:]) > 0.1, "silent output"
    report("max diff vs block 4096: " + ", ".join(out))


def test_state_dawdreamer(vst3: str, report: Report, tmp_path: Path) -> None:
    """DawDreamer's `save_state`/`load_state` round-trips the parameters too: values set
    (normalised) and rendered once so they reach the plugin, saved to a file, loaded into a
    processor in a fresh engine; parameter values and rendered audio equal; a default
    processor renders something else."""
    import dawdreamer as daw

    x = sine(330.0, 1.0, SR, 2)
    params = {"pitch": (4.0 + 24) / 48, "mix": 0.7, "engine": 1.0, "output gain": 0.4}

    def engine_with(setup: Callable[[Any], None]) -> tuple[Any, Any]:
        engine = daw.RenderEngine(SR, 512)
        pb = engine.make_playback_processor("input", x)
        plug = engine.make_plugin_processor("xodvox", vst3)
        setup(plug)
        engine.load_graph([(pb, []), (plug, ["input"])])
        return engine, plug

    def set_all(plug: Any) -> None:
        names = {
            plug.get_parameter_name(i).lower(): i for i in range(plug.get_plugin_parameter_size())
        }
        for name, norm in params.items():
            plug.set_parameter(names[name], norm)

    e1, p1 = engine_with(set_all)
    # The first render delivers the values (they glide in from the defaults); the second
    # starts from a reset with them in place, as a restored processor does.
    e1.render(1.0)
    e1.render(1.0)
    y1 = e1.get_audio()
    path = str(tmp_path / "state.bin")
    p1.save_state(path)
    e2, p2 = engine_with(lambda plug: plug.load_state(path))
    n = p1.get_plugin_parameter_size()
    v1 = [p1.get_parameter(i) for i in range(n)]
    v2 = [p2.get_parameter(i) for i in range(n)]
    assert np.allclose(v1, v2, atol=1e-6), f"{v1} != {v2}"
    e2.render(1.0)
    y2 = e2.get_audio()
    diff = float(np.max(np.abs(y1 - y2)))
    assert diff == 0.0, f"restored processor renders differently: max diff {diff}"
    e3, _ = engine_with(lambda plug: None)
    e3.render(1.0)
    control = float(np.max(np.abs(y1 - e3.get_audio())))
    assert control > 0.1, f"default processor renders the same ({control})"
    report(
        f"parameters {', '.join(f'{v:.3f}' for v in v2)} restored; audio max diff "
        f"{diff} (default: {control:.2f})"
    )
