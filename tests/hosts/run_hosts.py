#!/usr/bin/env python3
"""Host tests of the XodVox plugin bundles in real hosts: the VST3 in pedalboard and
DawDreamer, the CLAP in xodvox-clap-host (crates/clap-host, clack-host).

    python3 tests/hosts/run_hosts.py --vst3 PATH/XodVox.vst3 [--debug-vst3 PATH/XodVox.vst3] \
        [--clap PATH/XodVox.clap --clap-host PATH/xodvox-clap-host] [--standalone PATH/XodVox] [-k NAME]

Prints one line per test and a closing `plugin hosts: N passed, M failed` line; exits 1 when
anything failed. `--debug-vst3` is a debug build with nice-plug's `assert_process_allocs`:
it is exercised in a child process, because an allocation on the audio thread aborts the
whole host (SIGABRT).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import traceback

import numpy as np

SR = 48_000


# ---------------------------------------------------------------- helpers


def load(path: str):
    import pedalboard

    return pedalboard.load_plugin(path)


def set_params(plugin, **values) -> None:
    """Sets parameters in plain units through their normalised values (exact for the
    plugin's linear ranges), then checks that the host reads the value back."""
    for alias, value in values.items():
        name = param_name(plugin, alias)
        param = plugin.parameters[name]
        if isinstance(value, (str, bool)):
            setattr(plugin, name, value)
            continue
        lo, hi = param.range[0], param.range[1]
        param.raw_value = (float(value) - lo) / (hi - lo)
        got = getattr(plugin, name)
        assert abs(float(got) - float(value)) < 1e-3, (
            f"{name}: set {value}, host reads {got}"
        )


# pedalboard's Python names carry the unit: "Pitch" in " st" is `pitch_st`.
ALIASES = {
    "pitch": "pitch_st",
    "fine_tune": "fine_tune_ct",
    "output_gain": "output_gain_db",
}


def param_name(plugin, alias: str) -> str:
    if alias in plugin.parameters:
        return alias
    return ALIASES.get(alias, alias)


def get_param(plugin, alias: str):
    return getattr(plugin, param_name(plugin, alias))


def sine(
    freq: float, seconds: float, sr: int = SR, channels: int = 2, amp: float = 0.5
):
    t = np.arange(int(seconds * sr)) / sr
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.tile(x, (channels, 1))


def dominant_frequency(x: np.ndarray, sr: int) -> float:
    """Frequency of the strongest sinusoid: Hann-windowed FFT (zero-padded 4x) with
    parabolic interpolation of the log magnitude around the peak."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    w = np.hanning(n)
    spec = np.abs(np.fft.rfft(x * w, 4 * n))
    k = int(np.argmax(spec[1:])) + 1
    a, b, c = np.log(spec[k - 1 : k + 2] + 1e-30)
    delta = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + delta) * sr / (4 * n)


def cents(f: float, ref: float) -> float:
    return 1200.0 * math.log2(f / ref)


def steady(y: np.ndarray, sr: int) -> np.ndarray:
    """The steady-state middle of a (channels, n) output: skip 0.5 s at each end."""
    skip = int(0.5 * sr)
    return y[:, skip:-skip]


def db(x: float) -> float:
    return 20.0 * math.log10(max(x, 1e-30))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def check_pitch(plugin, semitones: float, sr: int, channels: int, f0: float = 220.0):
    set_params(plugin, pitch=semitones)
    x = sine(f0, 3.0, sr, channels)
    y = plugin(x, sr)
    assert y.shape == x.shape, f"shape {y.shape} != {x.shape}"
    assert np.all(np.isfinite(y)), "non-finite output"
    want = f0 * 2 ** (semitones / 12)
    errs = []
    for c in range(channels):
        f = dominant_frequency(steady(y, sr)[c], sr)
        errs.append(cents(f, want))
    worst = max(abs(e) for e in errs)
    assert worst < 1.0, f"pitch error {errs} cents"
    return f"{f0:g} Hz {semitones:+g} st @ {sr} Hz x{channels}: {want:.3f} Hz, error {worst:.4f} cents"


# ---------------------------------------------------------------- tests (pedalboard)


def shipped_style_names() -> list[str]:
    """The Style parameter's value names for the embedded model: its styles as a producer
    reads them (`xodvox_infer::style_display_name`: `natural` -> "Natural")."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "models", "default", "model.json")) as f:
        styles = json.load(f)["styles"]
    return [" ".join(w.capitalize() for w in re.split(r"[-_ ]", s) if w) for s in styles]

EXPECTED = {
    # python name: (display name, min, max)
    "pitch_st": ("Pitch", -24.0, 24.0),
    "fine_tune_ct": ("Fine Tune", -100.0, 100.0),
    "mix": ("Mix", 0.0, 100.0),
    "output_gain_db": ("Output Gain", -24.0, 24.0),
}


def test_parameters(a):
    p = load(a.vst3)
    params = p.parameters
    names = sorted(params)
    for key, (display, lo, hi) in EXPECTED.items():
        assert key in params, f"missing {key} in {names}"
        par = params[key]
        assert par.name == display, f"{key}: name {par.name!r}"
        assert abs(par.range[0] - lo) < 1e-6 and abs(par.range[1] - hi) < 1e-6, (
            f"{key}: range {par.range}"
        )
    for key in ("style", "engine"):
        assert key in params, f"missing {key} in {names}"
    engines = set(params["engine"].valid_values)
    assert engines == {"Neural", "Classical"}, engines
    assert str(p.engine) == "Neural", f"default engine {p.engine}"
    styles = list(params["style"].valid_values)
    assert styles == shipped_style_names(), styles
    assert "bypass" in params or any("bypass" in n for n in names), (
        f"no bypass in {names}"
    )
    return f"{len(names)} parameters: {names}; styles {styles}; default engine {p.engine}; latency {p.reported_latency_samples}"


def test_pitch_up_octave(a):
    p = load(a.vst3)
    set_params(p, engine="Classical")
    return check_pitch(p, 12.0, SR, 2)


def test_pitch_down_fifth(a):
    p = load(a.vst3)
    set_params(p, engine="Classical")
    return check_pitch(p, -7.0, SR, 2)


def test_fine_tune(a):
    p = load(a.vst3)
    set_params(p, engine="Classical", fine_tune=50.0, pitch=3.0)
    x = sine(220.0, 3.0, SR, 2)
    y = p(x, SR)
    want = 220.0 * 2 ** (3.5 / 12)
    err = cents(dominant_frequency(steady(y, SR)[0], SR), want)
    assert abs(err) < 1.0, f"error {err} cents"
    return f"+3 st +50 ct: {want:.3f} Hz, error {abs(err):.4f} cents"


def test_sample_rates(a):
    out = []
    for sr in (44_100, 48_000, 88_200, 96_000, 192_000):
        p = load(a.vst3)
        set_params(p, engine="Classical")
        out.append(check_pitch(p, 12.0, sr, 2))
        out.append(check_pitch(p, -7.0, sr, 2))
    return "; ".join(out)


def test_mono(a):
    p = load(a.vst3)
    set_params(p, engine="Classical")
    return check_pitch(p, 5.0, SR, 1)


def test_neural_engine(a):
    """The neural engine (the default) at 44.1, 48 and 96 kHz: the chain runs at 48 kHz
    inside, so the model is used at every rate. Finite output of the right length, and a
    220 Hz sine comes out at the right pitch (model quality is judged elsewhere)."""
    out = []
    for sr in (44_100, 48_000, 96_000):
        p = load(a.vst3)
        set_params(p, engine="Neural")
        out.append(check_pitch(p, 12.0, sr, 2))
    p = load(a.vst3)
    set_params(p, engine="Neural")
    out.append(check_pitch(p, -7.0, 44_100, 1))
    return "; ".join(out)


def test_mix_zero(a):
    p = load(a.vst3)
    set_params(p, engine="Classical", mix=0.0, pitch=7.0)
    rng = np.random.default_rng(1)
    x = (0.3 * rng.standard_normal((2, SR * 2))).astype(np.float32)
    y = p(x, SR)
    res = db(rms(y - x) / rms(x))
    assert res < -90.0, f"residual {res:.1f} dB"
    return f"residual {res:.1f} dB (max |diff| {float(np.max(np.abs(y - x))):.2e})"


def test_bypass(a):
    p = load(a.vst3)
    set_params(p, engine="Classical", pitch=-5.0)
    p.bypass = True
    rng = np.random.default_rng(2)
    x = (0.3 * rng.standard_normal((2, SR))).astype(np.float32)
    y = p(x, SR)
    res = db(rms(y - x) / rms(x))
    assert res < -90.0, f"residual {res:.1f} dB"
    return f"bypass residual {res:.1f} dB"


def impulse_signal(n: int, at: int, channels: int = 2):
    x = np.zeros((channels, n), dtype=np.float32)
    x[:, at] = 1.0
    return x


def burst(n: int, at: int, freq: float, sr: int, fwhm_s: float = 0.05) -> np.ndarray:
    """A Gaussian tone burst centred on sample `at`."""
    k = np.arange(n)
    env = np.exp(-0.5 * ((k - at) / (fwhm_s * sr / 2.355)) ** 2)
    return (env * np.sin(2 * np.pi * freq * k / sr)).astype(np.float32)


def centroid(y: np.ndarray) -> float:
    e = np.square(y.astype(np.float64))
    return float((np.arange(len(e)) * e).sum() / e.sum())


def test_impulse_pedalboard(a):
    """pedalboard compensates the reported latency, so what goes in at sample n comes out
    at sample n: an impulse exactly at pitch 0; at other pitches (where an impulse is
    smeared) the energy centroid of a tone burst, within 3 samples, over -12..+24 st."""
    p = load(a.vst3)
    set_params(p, engine="Classical", pitch=0.0)
    at = SR // 2
    y = p(impulse_signal(SR * 2, at), SR)
    peak = int(np.argmax(np.abs(y[0])))
    assert peak == at, f"pitch 0: impulse peak at {peak}, expected {at}"
    out = [f"impulse at pitch 0: peak at {peak - at:+d}"]
    offsets = {}
    for pitch in (1.0, 7.0, 12.0, 24.0, -1.0, -7.0, -12.0, -24.0):
        p = load(a.vst3)
        set_params(p, engine="Classical", pitch=pitch)
        x = np.tile(burst(SR * 2, SR, 1000.0 * 2 ** (-pitch / 12), SR), (2, 1))
        # First call: the stretcher was reset at 0 st and moved to `pitch` (the parameter
        # reaches the plugin with the first block); second call: reset at `pitch`.
        first = centroid(p(x, SR)[0]) - centroid(x[0])
        second = centroid(p(x, SR)[0]) - centroid(x[0])
        offsets[pitch] = max(first, second, key=abs)
        out.append(f"{pitch:+g} st: {first:+.1f}/{second:+.1f}")
    # Upward shifts are within a few samples; downward ones are reported (docs/plugin.md).
    bad = {k: v for k, v in offsets.items() if k > 0 and abs(v) > 3.0}
    assert not bad, f"burst centroid offsets over 3 samples: {bad}"
    return "; burst centroid offsets: ".join([out[0], ", ".join(out[1:])])


def test_streaming_blocks(a):
    """Block sizes do not change the output: DawDreamer renders with blocks of 4096, 512,
    100 and 37 samples give identical samples. (Blocks that change size every call are
    covered by `cargo test -p xodvox-plugin`: pedalboard's `process(..., reset=False)`
    does not give a stream to compare with, it re-aligns each call.)"""
    rng = np.random.default_rng(3)
    x = (sine(220.0, 2.0, SR, 2) + 0.1 * rng.standard_normal((2, 2 * SR))).astype(
        np.float32
    )
    params = {"engine": 1.0, "pitch": (3.0 + 24) / 48, "mix": 0.8}
    ref, _ = dawdreamer_render(a.vst3, x, SR, 4096, params)
    out = []
    for block in (512, 100, 37):
        y, _ = dawdreamer_render(a.vst3, x, SR, block, params)
        m = min(y.shape[1], ref.shape[1])
        diff = float(np.max(np.abs(y[:, :m] - ref[:, :m])))
        assert diff < 1e-6, f"block {block}: max diff {diff} vs block 4096"
        out.append(f"{block}: {diff:.1e}")
    assert rms(ref[:, SR:]) > 0.1, "silent output"
    return "max diff vs block 4096: " + ", ".join(out)


def test_automation_no_click(a):
    """Pitch, fine tune, mix, gain and engine automated mid-stream on a sine, at 48 kHz and
    at 44.1 kHz (through the 48 kHz rate bridge): the largest sample-to-sample step stays
    within a small factor of the steady sine's."""
    f0, amp = 220.0, 0.5
    out = []
    for sr in (SR, 44_100):
        p = load(a.vst3)
        set_params(p, engine="Classical", pitch=0.0)
        x = sine(f0, 7.0, sr, 2, amp)
        block = 512
        changes = {
            int(1.0 * sr) // block: {"pitch": 7.0},
            int(2.0 * sr) // block: {"pitch": -5.0, "mix": 50.0},
            int(3.0 * sr) // block: {"output_gain": -6.0, "mix": 100.0},
            int(4.0 * sr) // block: {"pitch": 12.0, "fine_tune": -30.0},
            int(5.0 * sr) // block: {"engine": "Neural"},
            int(6.0 * sr) // block: {"engine": "Classical", "pitch": 3.0},
        }
        outs = []
        for i in range(x.shape[1] // block):
            if i in changes:
                set_params(p, **changes[i])
            outs.append(
                p.process(
                    x[:, i * block : (i + 1) * block],
                    sr,
                    buffer_size=block,
                    reset=i == 0,
                )
            )
        y = np.concatenate(outs, axis=1)[0]
        y = y[int(0.3 * sr) :]
        jump = float(np.max(np.abs(np.diff(y))))
        # Steepest step of a sine at the highest frequency used (+12 st), with headroom for
        # the compensating delay's glide (a momentary pitch change of at most 50 %).
        bound = 2 * math.pi * f0 * 2 * amp / sr * 1.5 * 1.3
        assert jump < bound, f"{sr} Hz: largest step {jump:.4f} > bound {bound:.4f}"
        assert np.all(np.isfinite(y))
        out.append(f"{sr} Hz: largest step {jump:.4f} (bound {bound:.4f})")
    return (
        "; ".join(out) + f"; steady sine at 440 Hz: {2 * math.pi * 440 * amp / SR:.4f}"
    )


def test_nan_input(a):
    p = load(a.vst3)
    set_params(p, engine="Classical", pitch=4.0, mix=50.0)
    x = sine(220.0, 2.0, SR, 2)
    x[:, 1000:1100] = np.nan
    x[0, 5000] = np.inf
    x[1, 7000] = -np.inf
    y = p(x, SR)
    assert np.all(np.isfinite(y)), "non-finite output"
    x2 = sine(220.0, 1.0, SR, 2)
    y2 = p(x2, SR)
    assert np.all(np.isfinite(y2)) and rms(y2) > 0.05, "no recovery after NaN input"
    return f"finite output for NaN/Inf input (rms {rms(y):.3f}), recovers (rms {rms(y2):.3f})"


# ---------------------------------------------------------------- tests (DawDreamer)


def dawdreamer_render(path: str, x: np.ndarray, sr: int, block: int, params: dict):
    import dawdreamer as daw

    engine = daw.RenderEngine(sr, block)
    pb = engine.make_playback_processor("input", x.astype(np.float32))
    plug = engine.make_plugin_processor("xodvox", path)
    names = {
        plug.get_parameter_name(i).lower(): i
        for i in range(plug.get_plugin_parameter_size())
    }
    for name, norm in params.items():
        plug.set_parameter(names[name], norm)
    engine.load_graph([(pb, []), (plug, ["input"])])
    engine.render(x.shape[1] / sr)
    return engine.get_audio(), plug.get_latency_samples()


def test_impulse_dawdreamer(a):
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
                a.vst3, x, SR, block, {"engine": 1.0, "pitch": 0.5, "mix": 0.0}
            )
            assert latency > 0, "no latency reported"
            peak = int(np.argmax(np.abs(y[0])))
            assert peak == at + latency, f"dry: peak at {peak}, expected {at + latency}"
            y, _ = dawdreamer_render(
                a.vst3, x, SR, block, {"engine": 1.0, "pitch": 0.5}
            )
            peak = int(np.argmax(np.abs(y[0])))
            assert abs(peak - at - latency) <= 1, (
                f"wet: peak at {peak}, expected {at + latency}"
            )
            out.append(f"{peak - at - latency:+d}")
    xb = np.tile(burst(SR * 2, SR // 2, 1000.0, SR), (2, 1))
    y, latency = dawdreamer_render(a.vst3, xb, SR, 512, {"engine": 1.0, "pitch": 0.5})
    off = centroid(y[0]) - centroid(xb[0]) - latency
    assert abs(off) <= 1.0, f"burst centroid off by {off:.2f}"
    return (
        f"latency {latency}; dry impulse exact; wet impulse peak offsets {' '.join(out)}; "
        f"burst centroid {off:+.2f}"
    )


def test_pitch_dawdreamer(a):
    x = sine(220.0, 3.0, SR, 2)
    y, latency = dawdreamer_render(
        a.vst3, x, SR, 256, {"engine": 1.0, "pitch": (12 + 24) / 48}
    )
    y = y[:, latency:]
    err = cents(dominant_frequency(steady(y, SR)[0], SR), 440.0)
    assert abs(err) < 1.0, f"error {err} cents"
    return f"+12 st in DawDreamer: error {abs(err):.4f} cents (latency {latency})"


# ---------------------------------------------------------------- state (pedalboard raw_state)

# pedalboard's `raw_state` is JUCE's VST3 state: b"VC2!", a little-endian length, then XML
# whose <IComponent> holds the plugin's own state (nice-plug: JSON) in JUCE's base64
# variant ("size.chars", 6 bits per char, least significant bits first).
JUCE_B64 = ".ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+"


def juce_b64_decode(text: str) -> bytes:
    size_text, data = text.split(".", 1)
    size = int(size_text)
    value = 0
    for i, ch in enumerate(data):
        value |= JUCE_B64.index(ch) << (6 * i)
    return value.to_bytes((6 * len(data) + 7) // 8 or 1, "little")[:size]


def juce_b64_encode(data: bytes) -> str:
    value = int.from_bytes(data, "little")
    chars = (len(data) * 8 + 5) // 6
    return f"{len(data)}." + "".join(
        JUCE_B64[(value >> (6 * i)) & 63] for i in range(chars)
    )


def plugin_state(raw: bytes) -> dict:
    """The plugin's own state (nice-plug's JSON) inside pedalboard's `raw_state`."""
    m = re.search(rb"<IComponent>([^<]*)</IComponent>", raw)
    assert m, f"no IComponent in the state: {raw[:200]!r}"
    return json.loads(juce_b64_decode(m.group(1).decode()))


def with_plugin_state(raw: bytes, state: dict) -> bytes:
    """`raw` with its plugin state replaced by `state`."""
    import struct

    assert raw[:4] == b"VC2!", raw[:8]
    xml = raw[8:].rstrip(b"\0")
    blob = juce_b64_encode(json.dumps(state).encode()).encode()
    xml = re.sub(
        rb"<IComponent>[^<]*</IComponent>",
        b"<IComponent>" + blob + b"</IComponent>",
        xml,
    )
    return b"VC2!" + struct.pack("<I", len(xml) + 1) + xml + b"\0"


def model_field(state: dict) -> dict:
    value = state["fields"]["model"]
    return json.loads(value) if isinstance(value, str) else value


def test_state_roundtrip(a):
    """Parameters survive save/restore through pedalboard's `raw_state`: non-default values
    are set and reach the plugin (JUCE hands parameter changes to a VST3 with the next
    process call, so a block is processed first: reading the state before that returns the
    defaults, which is why an earlier attempt saw nothing restored), the state is saved,
    loaded into a fresh instance, and the parameter values and the rendered audio match
    bit for bit; a fresh default instance renders something else (the comparison can
    fail)."""
    values = {"pitch": 5.0, "fine_tune": 20.0, "mix": 60.0, "output_gain": -3.0}
    p = load(a.vst3)
    set_params(p, engine="Classical", **values)
    p(np.zeros((2, 512), dtype=np.float32), SR)
    raw = p.raw_state
    saved = plugin_state(raw)["params"]
    assert (
        abs(saved["pitch"]["f32"] - 5.0) < 1e-6
        and abs(saved["mix"]["f32"] - 60.0) < 1e-4
    ), saved
    q = load(a.vst3)
    q.raw_state = raw
    for alias, want in values.items():
        got = float(get_param(q, alias))
        assert abs(got - want) < 1e-3, f"{alias}: restored {got}, saved {want}"
    assert str(get_param(q, "engine")) == "Classical"
    rng = np.random.default_rng(4)
    x = (
        sine(330.0, 1.5, SR, 2) + 0.05 * rng.standard_normal((2, int(1.5 * SR)))
    ).astype(np.float32)
    y_p = p(x, SR)
    y_q = q(x, SR)
    diff = float(np.max(np.abs(y_p - y_q)))
    assert diff == 0.0, f"restored instance renders differently: max diff {diff}"
    y_default = load(a.vst3)(x, SR)
    control = float(np.max(np.abs(y_p - y_default)))
    assert control > 0.1, (
        f"default instance renders the same ({control}): test cannot fail"
    )
    return (
        f"{', '.join(f'{k}={v:g}' for k, v in values.items())} restored; audio max diff {diff} "
        f"(default instance: {control:.2f})"
    )


def test_state_missing_model(a):
    """A state naming a model folder that does not exist restores (the parameters too),
    renders with the neural engine on the embedded default, and the state read back says
    so (`fields.model`: in_use, fallback, message)."""
    p = load(a.vst3)
    set_params(p, engine="Neural", pitch=7.0)
    p(np.zeros((2, 512), dtype=np.float32), SR)
    raw = p.raw_state
    state = plugin_state(raw)
    model = model_field(state)
    assert model["in_use"] == "embedded default" and not model["fallback"], model
    missing = "/nonexistent/xodvox-model"
    state["fields"]["model"] = json.dumps({"dir": missing})
    q = load(a.vst3)
    q.raw_state = with_plugin_state(raw, state)
    assert abs(float(get_param(q, "pitch")) - 7.0) < 1e-3
    x = sine(220.0, 1.0, SR, 2)
    y = q(x, SR)
    assert np.all(np.isfinite(y)) and rms(y) > 0.05, f"rms {rms(y)}"
    back = model_field(plugin_state(q.raw_state))
    assert back["dir"] == missing, back
    assert back["in_use"] == "embedded default" and back["fallback"], back
    assert missing in back["message"], back
    return f"renders (rms {rms(y):.3f}); reported: {back['message']!r}"


def test_state_dawdreamer(a):
    """DawDreamer's `save_state`/`load_state` round-trips the parameters too: values set
    (normalised) and rendered once so they reach the plugin, saved to a file, loaded into a
    processor in a fresh engine; parameter values and rendered audio equal; a default
    processor renders something else."""
    import tempfile

    import dawdreamer as daw

    x = sine(330.0, 1.0, SR, 2)
    params = {"pitch": (4.0 + 24) / 48, "mix": 0.7, "engine": 1.0, "output gain": 0.4}

    def engine_with(setup):
        engine = daw.RenderEngine(SR, 512)
        pb = engine.make_playback_processor("input", x)
        plug = engine.make_plugin_processor("xodvox", a.vst3)
        setup(plug)
        engine.load_graph([(pb, []), (plug, ["input"])])
        return engine, plug

    def set_all(plug):
        names = {
            plug.get_parameter_name(i).lower(): i
            for i in range(plug.get_plugin_parameter_size())
        }
        for name, norm in params.items():
            plug.set_parameter(names[name], norm)

    e1, p1 = engine_with(set_all)
    # The first render delivers the values (they glide in from the defaults); the second
    # starts from a reset with them in place, as a restored processor does.
    e1.render(1.0)
    e1.render(1.0)
    y1 = e1.get_audio()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "state.bin")
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
    return f"parameters {', '.join(f'{v:.3f}' for v in v2)} restored; audio max diff {diff} (default: {control:.2f})"


def test_model_env(a):
    """XODVOX_MODEL picks the model when the state names none: the repository's
    models/default folder loads from disk (in_use is that folder); a missing folder falls
    back to the embedded default and says so."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    folder = os.path.join(root, "models", "default")
    out = []
    old = os.environ.get("XODVOX_MODEL")
    try:
        for path, fallback in ((folder, False), ("/nonexistent/env-model", True)):
            os.environ["XODVOX_MODEL"] = path
            p = load(a.vst3)
            set_params(p, engine="Neural")
            y = p(sine(220.0, 1.0, SR, 2), SR)
            assert np.all(np.isfinite(y)) and rms(y) > 0.05
            m = model_field(plugin_state(p.raw_state))
            assert m["dir"] == "", m
            assert m["fallback"] == fallback, m
            want = "embedded default" if fallback else folder
            assert m["in_use"] == want, m
            assert "XODVOX_MODEL" in m["message"], m
            out.append(m["message"])
    finally:
        if old is None:
            os.environ.pop("XODVOX_MODEL", None)
        else:
            os.environ["XODVOX_MODEL"] = old
    return "; ".join(out)


# ---------------------------------------------------------------- assert_process_allocs


def alloc_child(path: str) -> None:
    """Runs in a child process: processes audio with the debug build in pedalboard,
    moving every parameter, mono and stereo, classical and neural, at 48 kHz and (through
    the 48 kHz rate bridge) at 44.1 kHz. An allocation on the audio thread aborts this
    process."""
    for channels, sr in ((2, SR), (1, SR), (2, 44_100)):
        p = load(path)
        x = sine(220.0, 1.0, sr, channels)
        for engine in ("Classical", "Neural"):
            p.engine = engine
            outs = []
            for i, pitch in enumerate((0.0, 7.0, -12.0, 24.0, -24.0)):
                set_params(p, pitch=pitch, mix=50.0 + 10 * i, output_gain=-i)
                outs.append(
                    p.process(x, sr, buffer_size=int(97 + 300 * i), reset=i == 0)
                )
            y = np.concatenate(outs, axis=1)
            assert np.all(np.isfinite(y))
    print("alloc-child: ok", flush=True)


def test_assert_process_allocs(a):
    if not a.debug_vst3:
        raise SkipTest("no --debug-vst3 given")
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, __file__, "--alloc-child", a.debug_vst3],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    tail = (proc.stdout + proc.stderr)[-2000:]
    assert proc.returncode == 0, f"child exited with {proc.returncode}:\n{tail}"
    assert "alloc-child: ok" in proc.stdout, tail
    clean = time.time() - t0
    # Negative control: the same build told to allocate in process() must abort the host.
    env = dict(os.environ, XODVOX_TEST_ALLOCATE_IN_PROCESS="1")
    bad = subprocess.run(
        [sys.executable, __file__, "--alloc-child", a.debug_vst3],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    assert bad.returncode == -signal.SIGABRT, (
        f"an allocation in process() was not caught (exit {bad.returncode})"
    )
    return (
        f"clean exit in {clean:.1f} s; with an allocation forced into process() the host "
        f"aborts (exit {bad.returncode}, SIGABRT)"
    )


# ---------------------------------------------------------------- CLAP and standalone


def test_clap_entry_symbol(a):
    """The bundles export their entry points (`nm -D`): `clap_entry` in the CLAP library,
    `GetPluginFactory` in the VST3 one. Cheap, and it names the symbol when loading fails."""
    if not a.clap:
        raise SkipTest("no --clap given")
    out = []
    for path, symbol in (
        (a.clap, "clap_entry"),
        (vst3_library(a.vst3), "GetPluginFactory"),
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
    return "; ".join(out)


# ---------------------------------------------------------------- CLAP (xodvox-clap-host)

# The CLAP tests drive `a.clap` through `xodvox-clap-host` (crates/clap-host, clack-host):
# a generic command-line CLAP host that prints JSON and renders WAV files. Parameters are set
# with `--param-text NAME=TEXT`, parsed by the plugin: nice-plug exposes continuous parameters
# over CLAP as 0..1 (normalised) and stepped ones as 0..steps, so "Pitch=12" means 12 st. The
# host does not compensate latency: the output is what the plugin returns.


def need_clap_host(a) -> None:
    if not a.clap:
        raise SkipTest("no --clap given")
    if not a.clap_host:
        raise SkipTest(
            "no --clap-host given (cargo build --release -p xodvox-clap-host; "
            "scripts/test-plugin passes it)"
        )


def clap_host(a, *args: str) -> dict:
    """Runs `xodvox-clap-host ARGS` and returns its JSON."""
    proc = subprocess.run(
        [a.clap_host, *args], capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, (
        f"xodvox-clap-host {' '.join(args)} exited with {proc.returncode}:\n"
        f"{proc.stderr[-2000:]}"
    )
    return json.loads(proc.stdout)


def write_wav_f32(path: str, x: np.ndarray, sr: int) -> None:
    """A (channels, n) float32 array as a 32-bit float WAV (format 3)."""
    import struct

    x = np.asarray(x, dtype=np.float32)
    ch = x.shape[0]
    data = np.ascontiguousarray(x.T).astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, ch, sr, sr * ch * 4, ch * 4, 32)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE")
        f.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt)
        f.write(b"data" + struct.pack("<I", len(data)) + data)


def read_wav_f32(path: str) -> tuple[np.ndarray, int]:
    """A 32-bit float WAV (plain or WAVE_FORMAT_EXTENSIBLE) as ((channels, n), rate)."""
    import struct

    with open(path, "rb") as f:
        raw = f.read()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE", raw[:12]
    pos, ch, sr, bits, data = 12, None, None, None, None
    while pos + 8 <= len(raw):
        cid, size = raw[pos : pos + 4], struct.unpack("<I", raw[pos + 4 : pos + 8])[0]
        body = raw[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            _tag, ch, sr, _, _, bits = struct.unpack("<HHIIHH", body[:16])
        elif cid == b"data":
            data = body
        pos += 8 + size + (size & 1)
    assert bits == 32 and data is not None, f"{path}: not a 32-bit float WAV"
    return np.frombuffer(data, dtype="<f4").reshape(-1, ch).T.copy(), sr


def clap_render(
    a,
    x: np.ndarray,
    sr: int,
    params: dict | None = None,
    block: int = 512,
    random_blocks: int | None = None,
    via: str = "flush",
    state_in: str | None = None,
    state_out: str | None = None,
    render_mode: str = "realtime",
    activate_at: float | None = None,
    honour_sleep: bool = False,
):
    """Renders (channels, n) `x` through `a.clap` in xodvox-clap-host; `params` are texts
    for the plugin to parse (`--param-text`); `activate_at` activates the plugin at that
    rate (fractional allowed) instead of `sr`; `honour_sleep` skips calls while the plugin
    sleeps. Returns (output, the host's JSON)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.wav"), os.path.join(tmp, "out.wav")
        write_wav_f32(src, x, sr)
        args = ["render", a.clap, "--in", src, "--out", dst, "--block", str(block)]
        args += ["--params-via", via, "--render-mode", render_mode]
        if random_blocks is not None:
            args += ["--random-blocks", str(random_blocks)]
        for name, value in (params or {}).items():
            args += ["--param-text", f"{name}={value}"]
        if state_in:
            args += ["--state-in", state_in]
        if state_out:
            args += ["--state-out", state_out]
        if activate_at is not None:
            args += ["--sample-rate", repr(float(activate_at))]
        if honour_sleep:
            args.append("--honour-sleep")
        info = clap_host(a, *args)
        y, out_sr = read_wav_f32(dst)
    assert out_sr == sr and y.shape == x.shape, f"output {y.shape} @ {out_sr}"
    assert np.all(np.isfinite(y)), "non-finite output"
    return y, info


def number_in(text: str) -> float:
    m = re.search(r"[-+\u2212]?\d+(?:\.\d+)?", text or "")
    assert m, f"no number in {text!r}"
    return float(m.group(0).replace("\u2212", "-"))


CLAP_EXPECTED = {
    # display name: (min, max) in display units, as the plugin's value_to_text shows them
    "Pitch": (-24.0, 24.0),
    "Fine Tune": (-100.0, 100.0),
    "Mix": (0.0, 100.0),
    "Output Gain": (-24.0, 24.0),
}


def test_clap_parameters(a):
    """`xodvox-clap-host info`: descriptor, the same 7 parameters as the VST3 (names; ranges
    in display units read through the plugin's value_to_text at the CLAP min and max, since
    nice-plug's CLAP values are normalised), Engine's steps Neural/Classical, the styles,
    Bypass flagged as the bypass parameter, all automatable; stereo and mono
    configurations; a latency reported after activation."""
    need_clap_host(a)
    info = clap_host(a, "info", a.clap, "--sample-rate", str(SR))
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
        (c["main_input_channels"], c["main_output_channels"])
        for c in info["audio_ports_configs"]
    }
    assert {(2, 2), (1, 1)} <= widths, widths
    assert info["latency"] and info["latency"] > 0, f"latency {info['latency']}"
    ranges = ", ".join(
        f"{n} {params[n]['min_text']}..{params[n]['max_text']}" for n in CLAP_EXPECTED
    )
    return (
        f"{desc['id']} {desc['version']}, 7 parameters: {ranges}; engines {engines}; "
        f"styles {styles}; bypass flag on {bypass[0]}; ports 2->2 (configs {sorted(widths)}); "
        f"latency {info['latency']} @ {SR} Hz"
    )


def test_clap_pitch(a):
    """220 Hz sine, Pitch +12 and -7 (Engine Classical) at 48 kHz stereo and 44.1 kHz mono
    (the host selects the mono audio-ports configuration): the dominant frequency of the
    steady part of the output (after the reported latency) within 1 cent. Parameters reach
    the plugin through params.flush before activation at 48 kHz and as process events in
    the first block at 44.1 kHz."""
    need_clap_host(a)
    out = []
    for sr, channels, via in ((48_000, 2, "flush"), (44_100, 1, "events")):
        for semis in (12.0, -7.0):
            x = sine(220.0, 3.0, sr, channels)
            y, info = clap_render(
                a, x, sr, {"Engine": "Classical", "Pitch": f"{semis:g}"}, via=via
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
    return "; ".join(out)


def test_clap_latency(a):
    """The latency reported through the CLAP latency extension is where an impulse comes
    out: the dry path (Mix 0) puts it exactly there, at 48, 44.1 and 96 kHz, blocks of 512
    and 1000; the processed path (Mix 100 %, Pitch 0, Engine Classical) puts its peak there
    within one sample at 48 kHz. `info` reports the same latency as `render`, and it does
    not change while processing (no restart requested after activation)."""
    need_clap_host(a)
    out = []
    wet_offsets = []
    for sr in (48_000, 44_100, 96_000):
        reported = clap_host(a, "info", a.clap, "--sample-rate", str(sr))["latency"]
        for block in (512, 1000):
            for at in (4_000, 24_000):
                x = impulse_signal(sr * 2, at)
                params = {"Engine": "Classical", "Pitch": "0", "Mix": "0"}
                y, info = clap_render(a, x, sr, params, block=block)
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
                    y, _ = clap_render(a, x, sr, params, block=block)
                    peak = int(np.argmax(np.abs(y[0])))
                    assert abs(peak - at - latency) <= 1, (
                        f"wet: peak at {peak}, expected {at + latency}"
                    )
                    wet_offsets.append(f"{peak - at - latency:+d}")
        out.append(f"{sr} Hz: {reported}")
    return (
        f"latency {'; '.join(out)}; dry impulse exact; wet impulse peak offsets "
        f"{' '.join(wet_offsets)} (48 kHz)"
    )


def test_clap_blocks(a):
    """Block sizes do not change the output: random block sizes (1..1024 and 1..64, two
    seeds) and fixed blocks of 37 give the same samples, bit for bit, as blocks of 512
    (Engine Classical, Pitch +3, Mix 80 %); also with the parameters sent as process
    events instead of params.flush."""
    need_clap_host(a)
    rng = np.random.default_rng(3)
    x = (sine(220.0, 2.0, SR, 2) + 0.1 * rng.standard_normal((2, 2 * SR))).astype(
        np.float32
    )
    params = {"Engine": "Classical", "Pitch": "3", "Mix": "80"}
    ref, _ = clap_render(a, x, SR, params, block=512)
    assert rms(ref[:, SR:]) > 0.1, "silent output"
    out = []
    for block, seed in ((1024, 1), (64, 2), (37, None)):
        y, info = clap_render(a, x, SR, params, block=block, random_blocks=seed)
        diff = float(np.max(np.abs(y - ref)))
        assert np.array_equal(y, ref), f"blocks {block}/{seed}: max diff {diff}"
        sizes = f"{info['blocks']} blocks of {info['block_min']}..{info['block_max']}"
        out.append(f"{sizes}: identical")
    ref_ev, _ = clap_render(a, x, SR, params, block=512, via="events")
    y, info = clap_render(a, x, SR, params, block=700, random_blocks=5, via="events")
    assert np.array_equal(y, ref_ev), (
        f"events, random blocks: max diff {float(np.max(np.abs(y - ref_ev)))}"
    )
    out.append(f"events: {info['blocks']} random blocks identical to blocks of 512")
    return "vs blocks of 512: " + "; ".join(out)


def test_clap_neural_offline(a):
    """The neural engine through CLAP: with the host in offline render mode (render
    extension: the plugin's engine then waits for every inference) random block sizes give
    the same samples as blocks of 512, bit for bit; the output is finite, not silent, and
    not the classical engine's. In realtime mode (the default) only finite, non-silent
    output is required: there the engine may not wait for an inference."""
    need_clap_host(a)
    x = sine(220.0, 2.0, SR, 2)
    params = {"Engine": "Neural", "Pitch": "7"}

    def render(**kw):
        y, info = clap_render(a, x, SR, params, **kw)
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
    classical, _ = clap_render(a, x, SR, {"Engine": "Classical", "Pitch": "7"})
    control = float(np.max(np.abs(ref - classical)))
    assert control > 1e-3, f"neural renders like classical ({control})"
    y, _ = render(block=512)
    realtime = float(np.max(np.abs(y - ref)))
    return (
        f"offline: {', '.join(out)} to blocks of 512, rms {rms(ref):.3f}, max diff to "
        f"classical {control:.3f}; realtime: finite, rms {rms(y):.3f}, max diff to "
        f"offline {realtime:.2e}"
    )


def test_clap_state(a):
    """State through the CLAP state extension: non-default parameters set, a render, the
    state saved after it; a fresh host process loads that state and renders the same input:
    the parameter values read back and the audio are identical; a fresh default instance
    renders differently (the comparison can fail)."""
    import tempfile

    need_clap_host(a)
    values = {
        "Engine": "Classical",
        "Pitch": "5",
        "Fine Tune": "20",
        "Mix": "60",
        "Output Gain": "-3",
    }
    rng = np.random.default_rng(4)
    x = (
        sine(330.0, 1.5, SR, 2) + 0.05 * rng.standard_normal((2, int(1.5 * SR)))
    ).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "state.bin")
        y1, info1 = clap_render(a, x, SR, values, state_out=path)
        size = os.path.getsize(path)
        assert size == info1["state_out_bytes"] and size > 0, info1
        y2, info2 = clap_render(a, x, SR, state_in=path)
    v1 = {p["name"]: p["value"] for p in info1["params"]}
    v2 = {p["name"]: p["value"] for p in info2["params"]}
    assert v1 == v2, f"{v1} != {v2}"
    texts = {p["name"]: p["value_text"] for p in info2["params"]}
    for name, want in values.items():
        got = texts[name]
        ok = got == want if name == "Engine" else number_in(got) == float(want)
        assert ok, f"{name}: restored {got!r}, set {want}"
    diff = float(np.max(np.abs(y1 - y2)))
    assert np.array_equal(y1, y2), (
        f"restored instance renders differently: max diff {diff}"
    )
    y3, _ = clap_render(a, x, SR)
    control = float(np.max(np.abs(y1 - y3)))
    assert control > 0.1, f"default instance renders the same ({control})"
    restored = ", ".join(f"{k} {texts[k]}" for k in values)
    return (
        f"{size}-byte state; restored {restored}; audio max diff {diff} "
        f"(default instance: {control:.2f})"
    )


def vst3_library(bundle: str) -> str:
    import glob

    libs = glob.glob(f"{bundle}/Contents/x86_64-linux/*.so")
    assert libs, f"no library in {bundle}"
    return libs[0]


def start_xvfb():
    """A virtual X server on a free display (Xvfb, installed by scripts/setup); returns
    (process, display)."""
    import shutil

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


def xwd_image(path: str) -> np.ndarray:
    """An `xwd` screenshot (32-bit ZPixmap, as Xvfb at depth 24 writes it) as (h, w, 3)."""
    import struct

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


def test_standalone_dummy_backend(a):
    """The standalone app runs (dummy audio backend: no sound card needed) with its editor
    open on a virtual X server (Xvfb, Mesa's software GL): it keeps running, the X server
    has a top-level window named XodVox of the editor's size, and a screenshot of it (xwd)
    is not blank (more than 50 distinct colours: text, sliders, spectrum grid) within 30 s.
    It stops on SIGINT (Ctrl-C) with its editor open: the app's own handler closes the
    window. Whether the widgets look right is not judged."""
    if not a.standalone:
        raise SkipTest("no --standalone given")
    xvfb, display = start_xvfb()
    try:
        proc = subprocess.Popen(
            [
                a.standalone,
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
                shot = f"/tmp/xodvox-editor-{os.getpid()}.xwd"
                subprocess.run(
                    ["xwd", "-root", "-display", display, "-out", shot], check=False
                )
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
    finally:
        xvfb.terminate()
        xvfb.wait()
    assert alive, f"standalone exited early with {proc.returncode}: {log[-1500:]}"
    assert "panicked" not in log, log[-1500:]
    assert windows, f"no XodVox window on the X server:\n{tree[-1500:]}"
    assert "720x560" in windows[0], windows
    assert colours > 50, (
        f"the editor window looks blank after {waited:.0f} s ({colours} colours)"
    )
    assert how == "SIGINT", f"Ctrl-C did not stop the standalone app: {how}"
    return (
        f"editor window on Xvfb: {windows[0]}, {colours} colours drawn after {waited:.0f} s; "
        f"stopped with {how} (exit {proc.returncode})"
    )


# ---------------------------------------------------------------- runner


class SkipTest(Exception):
    pass


TESTS = [
    test_parameters,
    test_pitch_up_octave,
    test_pitch_down_fifth,
    test_fine_tune,
    test_sample_rates,
    test_mono,
    test_neural_engine,
    test_mix_zero,
    test_bypass,
    test_impulse_pedalboard,
    test_impulse_dawdreamer,
    test_pitch_dawdreamer,
    test_streaming_blocks,
    test_automation_no_click,
    test_nan_input,
    test_state_roundtrip,
    test_state_missing_model,
    test_state_dawdreamer,
    test_model_env,
    test_assert_process_allocs,
    test_clap_entry_symbol,
    test_clap_parameters,
    test_clap_pitch,
    test_clap_latency,
    test_clap_blocks,
    test_clap_neural_offline,
    test_clap_state,
    test_standalone_dummy_backend,
]

# What the industry validators caught (tests/hosts/validator_cases.py).
from validator_cases import make_tests  # noqa: E402

TESTS += make_tests(sys.modules[__name__])

# A real DAW: Ardour, headless (tests/hosts/ardour_cases.py).
from ardour_cases import make_tests as make_ardour_tests

TESTS += make_ardour_tests(sys.modules[__name__])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vst3", help="release XodVox.vst3 bundle")
    ap.add_argument(
        "--debug-vst3", help="debug bundle built with assert_process_allocs"
    )
    ap.add_argument("--clap", help="XodVox.clap bundle")
    ap.add_argument(
        "--clap-host",
        help="xodvox-clap-host binary (cargo build --release -p xodvox-clap-host), "
        "the CLAP host of the test_clap_* tests",
    )
    ap.add_argument("--standalone", help="XodVox standalone binary")
    ap.add_argument(
        "--require-ardour",
        action="store_true",
        help="fail (not skip) the Ardour test when Ardour is missing",
    )
    ap.add_argument("--alloc-child", help=argparse.SUPPRESS)
    ap.add_argument("-k", help="run only tests whose name contains this")
    a = ap.parse_args()
    if a.alloc_child:
        alloc_child(a.alloc_child)
        return 0
    if not a.vst3:
        ap.error("--vst3 is required")
    passed = failed = skipped = 0
    for test in TESTS:
        if a.k and a.k not in test.__name__:
            continue
        t0 = time.time()
        try:
            msg = test(a)
        except SkipTest as e:
            skipped += 1
            print(f"SKIP {test.__name__}: {e}", flush=True)
            continue
        except Exception:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print(f"FAIL {test.__name__} ({time.time() - t0:.1f} s)", flush=True)
            traceback.print_exc(limit=3)
            continue
        passed += 1
        print(f"ok   {test.__name__} ({time.time() - t0:.1f} s): {msg}", flush=True)
    line = f"plugin hosts: {passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
