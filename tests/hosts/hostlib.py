"""Shared helpers of the plugin host tests (tests/hosts/test_*.py, alloc_child.py).

Signals and measurements (`sine`, `dominant_frequency`, `cents`, `db`, `rms`, `centroid`,
...), the VST3 in pedalboard (`load`, `set_params`, `check_pitch`) and DawDreamer
(`dawdreamer_render`), pedalboard's `raw_state` (JUCE's VST3 state around the plugin's
JSON), 32-bit float WAV files, and `ClapHost`: the CLAP bundle driven through
xodvox-clap-host (crates/clap-host). A plain module: no tests, no fixtures (conftest.py
has those).
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SR = 48_000
# The `report` fixture (conftest.py): takes a test's one-line summary.
Report = Callable[[str], None]
# The repository's root (tests/hosts/hostlib.py is two levels below it), as run_hosts.py
# computed it (os.path.abspath: symbolic links kept, since test_model_env compares paths).
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---------------------------------------------------------------- VST3 in pedalboard


def load(path: str) -> Any:
    """The VST3 bundle at `path`, loaded in pedalboard."""
    import pedalboard

    return pedalboard.load_plugin(path)


# pedalboard's Python names carry the unit: "Pitch" in " st" is `pitch_st`.
ALIASES = {
    "pitch": "pitch_st",
    "fine_tune": "fine_tune_ct",
    "output_gain": "output_gain_db",
}


def param_name(plugin: Any, alias: str) -> str:
    if alias in plugin.parameters:
        return alias
    return ALIASES.get(alias, alias)


def get_param(plugin: Any, alias: str) -> Any:
    return getattr(plugin, param_name(plugin, alias))


def set_params(plugin: Any, **values: Any) -> None:
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
        assert abs(float(got) - float(value)) < 1e-3, f"{name}: set {value}, host reads {got}"


def shipped_style_names() -> list[str]:
    """The Style parameter's value names for the embedded model: its styles as a producer
    reads them (`xodvox_infer::style_display_name`: `natural` -> "Natural")."""
    with open(os.path.join(ROOT, "models", "default", "model.json")) as f:
        styles = json.load(f)["styles"]
    return [" ".join(w.capitalize() for w in re.split(r"[-_ ]", s) if w) for s in styles]


def vst3_library(bundle: str) -> str:
    """The shared library inside a Linux x86_64 VST3 bundle."""
    libs = glob.glob(f"{bundle}/Contents/x86_64-linux/*.so")
    assert libs, f"no library in {bundle}"
    return libs[0]


# ---------------------------------------------------------------- signals and measurements


def sine(
    freq: float, seconds: float, sr: int = SR, channels: int = 2, amp: float = 0.5
) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.tile(x, (channels, 1))


def dominant_frequency(x: np.ndarray, sr: float) -> float:
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


def impulse_signal(n: int, at: int, channels: int = 2) -> np.ndarray:
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


def number_in(text: str) -> float:
    m = re.search(r"[-+\u2212]?\d+(?:\.\d+)?", text or "")
    assert m, f"no number in {text!r}"
    return float(m.group(0).replace("\u2212", "-"))


def check_pitch(plugin: Any, semitones: float, sr: int, channels: int, f0: float = 220.0) -> str:
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
    return (
        f"{f0:g} Hz {semitones:+g} st @ {sr} Hz x{channels}: {want:.3f} Hz, error {worst:.4f} cents"
    )


# ---------------------------------------------------------------- VST3 in DawDreamer


def dawdreamer_render(
    path: str, x: np.ndarray, sr: int, block: int, params: dict[str, float]
) -> tuple[np.ndarray, int]:
    """Renders (channels, n) `x` through the VST3 at `path` in DawDreamer, blocks of
    `block`; `params` are normalised values by lower-case parameter name. Returns (output,
    the latency the plugin reports); DawDreamer does not compensate it."""
    import dawdreamer as daw

    engine = daw.RenderEngine(sr, block)
    pb = engine.make_playback_processor("input", x.astype(np.float32))
    plug = engine.make_plugin_processor("xodvox", path)
    names = {plug.get_parameter_name(i).lower(): i for i in range(plug.get_plugin_parameter_size())}
    for name, norm in params.items():
        plug.set_parameter(names[name], norm)
    engine.load_graph([(pb, []), (plug, ["input"])])
    engine.render(x.shape[1] / sr)
    return engine.get_audio(), plug.get_latency_samples()


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
    return f"{len(data)}." + "".join(JUCE_B64[(value >> (6 * i)) & 63] for i in range(chars))


def plugin_state(raw: bytes) -> dict[str, Any]:
    """The plugin's own state (nice-plug's JSON) inside pedalboard's `raw_state`."""
    m = re.search(rb"<IComponent>([^<]*)</IComponent>", raw)
    assert m, f"no IComponent in the state: {raw[:200]!r}"
    return json.loads(juce_b64_decode(m.group(1).decode()))


def with_plugin_state(raw: bytes, state: dict[str, Any]) -> bytes:
    """`raw` with its plugin state replaced by `state`."""
    assert raw[:4] == b"VC2!", raw[:8]
    xml = raw[8:].rstrip(b"\0")
    blob = juce_b64_encode(json.dumps(state).encode()).encode()
    xml = re.sub(
        rb"<IComponent>[^<]*</IComponent>",
        b"<IComponent>" + blob + b"</IComponent>",
        xml,
    )
    return b"VC2!" + struct.pack("<I", len(xml) + 1) + xml + b"\0"


def model_field(state: dict[str, Any]) -> dict[str, Any]:
    value = state["fields"]["model"]
    return json.loads(value) if isinstance(value, str) else value


# ---------------------------------------------------------------- WAV files


def write_wav_f32(path: str, x: np.ndarray, sr: int) -> None:
    """A (channels, n) float32 array as a 32-bit float WAV (format 3)."""
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


# ---------------------------------------------------------------- CLAP (xodvox-clap-host)

# The CLAP tests drive the CLAP bundle through `xodvox-clap-host` (crates/clap-host,
# clack-host): a generic command-line CLAP host that prints JSON and renders WAV files.
# Parameters are set with `--param-text NAME=TEXT`, parsed by the plugin: nice-plug exposes
# continuous parameters over CLAP as 0..1 (normalised) and stepped ones as 0..steps, so
# "Pitch=12" means 12 st. The host does not compensate latency: the output is what the
# plugin returns.


class ClapHost:
    """The CLAP bundle `plugin` in the host binary `binary`; renders write their WAV files
    in a fresh folder under `tmp` (removed after each render)."""

    def __init__(self, binary: str, plugin: str, tmp: Path) -> None:
        self.binary = binary
        self.plugin = plugin
        self.tmp = tmp

    def run(self, *args: str) -> dict[str, Any]:
        """Runs `xodvox-clap-host ARGS` and returns its JSON."""
        proc = subprocess.run(
            [self.binary, *args],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, (
            f"xodvox-clap-host {' '.join(args)} exited with {proc.returncode}:\n"
            f"{proc.stderr[-2000:]}"
        )
        return json.loads(proc.stdout)

    def render(
        self,
        x: np.ndarray,
        sr: int,
        params: dict[str, str] | None = None,
        block: int = 512,
        random_blocks: int | None = None,
        via: str = "flush",
        state_in: str | None = None,
        state_out: str | None = None,
        render_mode: str = "realtime",
        activate_at: float | None = None,
        honour_sleep: bool = False,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Renders (channels, n) `x` through the CLAP; `params` are texts for the plugin
        to parse (`--param-text`); `activate_at` activates the plugin at that rate
        (fractional allowed) instead of `sr`; `honour_sleep` skips calls while the plugin
        sleeps. Returns (output, the host's JSON)."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix="render-", dir=self.tmp)
        try:
            src, dst = f"{tmp}/in.wav", f"{tmp}/out.wav"
            write_wav_f32(src, x, sr)
            args = ["render", self.plugin, "--in", src, "--out", dst]
            args += ["--block", str(block)]
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
            info = self.run(*args)
            y, out_sr = read_wav_f32(dst)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        assert out_sr == sr and y.shape == x.shape, f"output {y.shape} @ {out_sr}"
        assert np.all(np.isfinite(y)), "non-finite output"
        return y, info
