"""The CLAP in xodvox-clap-host (crates/clap-host, clack-host; the `clap_host` fixture,
hostlib.ClapHost): exported entry points (also the VST3's), descriptor and parameters,
pitch, the reported latency against an impulse, block sizes that do not change the
output, the neural engine in offline render mode, and state. What the validators caught
on CLAP is in test_validator_cases.py.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from hostlib import (
    SR,
    ClapHost,
    Report,
    cents,
    dominant_frequency,
    impulse_signal,
    number_in,
    rms,
    shipped_style_names,
    sine,
    steady,
    vst3_library,
)


def test_clap_entry_symbol(clap: str, vst3: str, report: Report) -> None:
    """The bundles export their entry points (`nm -D`): `clap_entry` in the CLAP library,
    `GetPluginFactory` in the VST3 one. Cheap, and it names the symbol when loading fails."""
    out = []
    for path, symbol in (
        (clap, "clap_entry"),
        (vst3_library(vst3), "GetPluginFactory"),
    ):
        proc = subprocess.run(
            ["nm", "-D", "--defined-only", path],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        names = {line.split()[-1] for line in proc.stdout.splitlines() if line.strip()}
        assert symbol in names, f"{symbol} not exported by {path}"
        out.append(f"{symbol} in {path.split('/')[-1]}")
    report("; ".join(out))


CLAP_EXPECTED = {
    # display name: (min, max) in display units, as the plugin's value_to_text shows them
    "Pitch": (-24.0, 24.0),
    "Fine Tune": (-100.0, 100.0),
    "Mix": (0.0, 100.0),
    "Output Gain": (-24.0, 24.0),
}


def test_clap_parameters(clap_host: ClapHost, report: Report) -> None:
    """`xodvox-clap-host info`: descriptor, the same 7 parameters as the VST3 (names; ranges
    in display units read through the plugin's value_to_text at the CLAP min and max, since
    nice-plug's CLAP values are normalised), Engine's steps Neural/Classical, the styles,
    Bypass flagged as the bypass parameter, all automatable; stereo and mono
    configurations; a latency reported after activation."""
    info = clap_host.run("info", clap_host.plugin, "--sample-rate", str(SR))
    desc = info["plugin"]
    assert desc["name"] == "XodVox" and desc["id"], desc
    assert "audio-effect" in desc["features"], desc["features"]
    for ext in ("params", "latency", "state", "audio-ports"):
        assert ext in info["extensions"], info["extensions"]
    params = {p["name"]: p for p in info["params"]}
    names = list(params)
    assert len(params) == 7, f"{len(params)} parameters: {names}"
    for name, (lo, hi) in CLAP_EXPECTED.items():
        assert name in params, f"missing {name} in {names}"
        p = params[name]
        got = (number_in(p["min_text"]), number_in(p["max_text"]))
        assert got == (lo, hi), f"{name}: range {p['min_text']}..{p['max_text']}"
    for name in ("Style", "Engine"):
        assert name in params, f"missing {name} in {names}"
        assert "stepped" in params[name]["flags"], params[name]
    engines = params["Engine"]["step_texts"]
    assert set(engines) == {"Neural", "Classical"}, engines
    styles = params["Style"]["step_texts"]
    assert styles == shipped_style_names(), styles
    bypass = [p["name"] for p in info["params"] if "bypass" in p["flags"]]
    assert bypass == ["Bypass"], f"bypass-flagged: {bypass}"
    not_auto = [p["name"] for p in info["params"] if "automatable" not in p["flags"]]
    assert not not_auto, f"not automatable: {not_auto}"
    ports = info["audio_ports"]
    assert [p["channels"] for p in ports["inputs"]] == [2], ports
    assert [p["channels"] for p in ports["outputs"]] == [2], ports
    widths = {
        (c["main_input_channels"], c["main_output_channels"]) for c in info["audio_ports_configs"]
    }
    assert {(2, 2), (1, 1)} <= widths, widths
    assert info["latency"] and info["latency"] > 0, f"latency {info['latency']}"
    ranges = ", ".join(
        f"{n} {params[n]['min_text']}..{params[n]['max_text']}" for n in CLAP_EXPECTED
    )
    report(
        f"{desc['id']} {desc['version']}, 7 parameters: {ranges}; engines {engines}; "
        f"styles {styles}; bypass flag on {bypass[0]}; ports 2->2 (configs "
        f"{sorted(widths)}); latency {info['latency']} @ {SR} Hz"
    )


def test_clap_pitch(clap_host: ClapHost, report: Report) -> None:
    """220 Hz sine, Pitch +12 and -7 (Engine Classical) at 48 kHz stereo and 44.1 kHz mono
    (the host selects the mono audio-ports configuration): the dominant frequency of the
    steady part of the output (after the reported latency) within 1 cent. Parameters reach
    the plugin through params.flush before activation at 48 kHz and as process events in
    the first block at 44.1 kHz."""
    out = []
    for sr, channels, via in ((48_000, 2, "flush"), (44_100, 1, "events")):
        for semis in (12.0, -7.0):
            x = sine(220.0, 3.0, sr, channels)
            y, info = clap_host.render(
                x, sr, {"Engine": "Classical", "Pitch": f"{semis:g}"}, via=via
            )
            values = {p["name"]: p["value_text"] for p in info["params"]}
            assert number_in(values["Pitch"]) == semis, values
            assert values["Engine"] == "Classical", values
            if channels == 1:
                assert info["audio_ports_config_selected"] is not None, info
            latency = info["latency"]
            want = 220.0 * 2 ** (semis / 12)
            errs = [
                cents(dominant_frequency(steady(y[:, latency:], sr)[c], sr), want)
                for c in range(channels)
            ]
            worst = max(abs(e) for e in errs)
            assert worst < 1.0, f"{semis:+g} st @ {sr} Hz x{channels}: {errs} cents"
            out.append(f"{semis:+g} st @ {sr} Hz x{channels} ({via}): {worst:.4f} ct")
    report("; ".join(out))


def test_clap_latency(clap_host: ClapHost, report: Report) -> None:
    """The latency reported through the CLAP latency extension is where an impulse comes
    out: the dry path (Mix 0) puts it exactly there, at 48, 44.1 and 96 kHz, blocks of 512
    and 1000; the processed path (Mix 100 %, Pitch 0, Engine Classical) puts its peak there
    within one sample at 48 kHz. `info` reports the same latency as `render`, and it does
    not change while processing (no restart requested after activation)."""
    out = []
    wet_offsets = []
    for sr in (48_000, 44_100, 96_000):
        reported = clap_host.run("info", clap_host.plugin, "--sample-rate", str(sr))["latency"]
        for block in (512, 1000):
            for at in (4_000, 24_000):
                x = impulse_signal(sr * 2, at)
                params = {"Engine": "Classical", "Pitch": "0", "Mix": "0"}
                y, info = clap_host.render(x, sr, params, block=block)
                latency = info["latency"]
                assert latency == reported, f"render {latency}, info {reported}"
                assert latency > 0, "no latency reported"
                # The latency holds while processing: no change, no restart left unanswered.
                assert info["latency_after"] == latency, info["latency_after"]
                calls = info["callbacks"]
                assert calls["restart_requested"] == info["restarts"], calls
                peak = int(np.argmax(np.abs(y[0])))
                assert peak == at + latency, (
                    f"dry @ {sr} Hz, block {block}: peak at {peak}, expected {at + latency}"
                )
                if sr == SR:
                    params["Mix"] = "100"
                    y, _ = clap_host.render(x, sr, params, block=block)
                    peak = int(np.argmax(np.abs(y[0])))
                    assert abs(peak - at - latency) <= 1, (
                        f"wet: peak at {peak}, expected {at + latency}"
                    )
                    wet_offsets.append(f"{peak - at - latency:+d}")
        out.append(f"{sr} Hz: {reported}")
    report(
        f"latency {'; '.join(out)}; dry impulse exact; wet impulse peak offsets "
        f"{' '.join(wet_offsets)} (48 kHz)"
    )


def test_clap_blocks(clap_host: ClapHost, report: Report) -> None:
    """Block sizes do not change the output: random block sizes (1..1024 and 1..64, two
    seeds) and fixed blocks of 37 give the same samples, bit for bit, as blocks of 512
    (Engine Classical, Pitch +3, Mix 80 %); also with the parameters sent as process
    events instead of params.flush."""
    rng = np.random.default_rng(3)
    x = (sine(220.0, 2.0, SR, 2) + 0.1 * rng.standard_normal((2, 2 * SR))).astype(np.float32)
    params = {"Engine": "Classical", "Pitch": "3", "Mix": "80"}
    ref, _ = clap_host.render(x, SR, params, block=512)
    assert rms(ref[:, SR:]) > 0.1, "silent output"
    out = []
    for block, seed in ((1024, 1), (64, 2), (37, None)):
        y, info = clap_host.render(x, SR, params, block=block, random_blocks=seed)
        diff = float(np.max(np.abs(y - ref)))
        assert np.array_equal(y, ref), f"blocks {block}/{seed}: max diff {diff}"
        sizes = f"{info['blocks']} blocks of {info['block_min']}..{info['block_max']}"
        out.append(f"{sizes}: identical")
    ref_ev, _ = clap_host.render(x, SR, params, block=512, via="events")
    y, info = clap_host.render(x, SR, params, block=700, random_blocks=5, via="events")
    assert np.array_equal(y, ref_ev), (
        f"events, random blocks: max diff {float(np.max(np.abs(y - ref_ev)))}"
    )
    out.append(f"events: {info['blocks']} random blocks identical to blocks of 512")
    report("vs blocks of 512: " + "; ".join(out))


def test_clap_neural_offline(clap_host: ClapHost, report: Report) -> None:
    """The neural engine through CLAP: with the host in offline render mode (render
    extension: the plugin's engine then waits for every inference) random block sizes give
    the same samples as blocks of 512, bit for bit; the output is finite, not silent, and
    not the classical engine's. In realtime mode (the default) only finite, non-silent
    output is required: there the engine may not wait for an inference."""
    x = sine(220.0, 2.0, SR, 2)
    params = {"Engine": "Neural", "Pitch": "7"}

    def render(**kw: Any) -> tuple[np.ndarray, dict[str, Any]]:
        y, info = clap_host.render(x, SR, params, **kw)
        engine = {p["name"]: p["value_text"] for p in info["params"]}["Engine"]
        assert engine == "Neural", engine
        assert rms(y[:, info["latency"] :]) > 0.05, f"silent output ({kw})"
        return y, info

    ref, info = render(block=512, render_mode="offline")
    assert info["render_mode"] == "offline", info["render_mode"]
    out = []
    for seed in (1, 2):
        y, info = render(block=1024, random_blocks=seed, render_mode="offline")
        diff = float(np.max(np.abs(y - ref)))
        assert np.array_equal(y, ref), f"offline, random blocks {seed}: max diff {diff}"
        out.append(f"{info['blocks']} random blocks identical")
    classical, _ = clap_host.render(x, SR, {"Engine": "Classical", "Pitch": "7"})
    control = float(np.max(np.abs(ref - classical)))
    assert control > 1e-3, f"neural renders like classical ({control})"
    y, _ = render(block=512)
    realtime = float(np.max(np.abs(y - ref)))
    report(
        f"offline: {', '.join(out)} to blocks of 512, rms {rms(ref):.3f}, max diff to "
        f"classical {control:.3f}; realtime: finite, rms {rms(y):.3f}, max diff to "
        f"offline {realtime:.2e}"
    )


def test_clap_state(clap_host: ClapHost, report: Report, tmp_path: Path) -> None:
    """State through the CLAP state extension: non-default parameters set, a render, the
    state saved after it; a fresh host process loads that state and renders the same input:
    the parameter values read back and the audio are identical; a fresh default instance
    renders differently (the comparison can fail)."""
    values = {
        "Engine": "Classical",
        "Pitch": "5",
        "Fine Tune": "20",
        "Mix": "60",
        "Output Gain": "-3",
    }
    rng = np.random.default_rng(4)
    x = (sine(330.0, 1.5, SR, 2) + 0.05 * rng.standard_normal((2, int(1.5 * SR)))).astype(
        np.float32
    )
    path = str(tmp_path / "state.bin")
    y1, info1 = clap_host.render(x, SR, values, state_out=path)
    size = os.path.getsize(path)
    assert size == info1["state_out_bytes"] and size > 0, info1
    y2, info2 = clap_host.render(x, SR, state_in=path)
    v1 = {p["name"]: p["value"] for p in info1["params"]}
    v2 = {p["name"]: p["value"] for p in info2["params"]}
    assert v1 == v2, f"{v1} != {v2}"
    texts = {p["name"]: p["value_text"] for p in info2["params"]}
    for name, want in values.items():
        got = texts[name]
        ok = got == want if name == "Engine" else number_in(got) == float(want)
        assert ok, f"{name}: restored {got!r}, set {want}"
    diff = float(np.max(np.abs(y1 - y2)))
    assert np.array_equal(y1, y2), f"restored instance renders differently: max diff {diff}"
    y3, _ = clap_host.render(x, SR)
    control = float(np.max(np.abs(y1 - y3)))
    assert control > 0.1, f"default instance renders the same ({control})"
    restored = ", ".join(f"{k} {texts[k]}" for k in values)
    report(
        f"{size}-byte state; restored {restored}; audio max diff {diff} "
        f"(default instance: {control:.2f})"
    )
