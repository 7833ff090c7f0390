"""What the industry validators caught (clap-validator, the Steinberg VST3 validator,
pluginval), so it stays caught without them: activation and processing at 768 kHz and at
fractional rates (VST3 in the ctypes host of `vst3_host.py`, CLAP in xodvox-clap-host),
the bypass parameter set in the controller while processing, output silence flags, CLAP
sleep with constant outputs and a clean wake-up, and the latency reported before
activation.
"""

from __future__ import annotations

import numpy as np

from hostlib import ClapHost, Report, cents, db, dominant_frequency, rms
from vst3_host import K_RESULT_OK, Vst3Host

# The validators' rates (clap-validator: ... 768 kHz, 1234.5678, 12345.678, 45678.901,
# 123456.78 Hz; Steinberg: 1234.5678, 12345.678, 123456.78, 1234567.8 Hz).
ODD_RATES = (768_000.0, 1234.5678, 12345.678, 45678.901, 123456.78, 1234567.8)
# Beyond what the plugin converts (6.144 MHz): passed through, no latency.
PASS_THROUGH_RATE = 8_000_000.0


def vst3_blocks(
    host: Vst3Host,
    x: np.ndarray,
    block: int,
    changes: dict[int, float] | None = None,
) -> tuple[np.ndarray, list[int]]:
    """Processes (channels, n) `x` in blocks; returns (output, silence flags per block)."""
    out, flags = [], []
    for i in range(0, x.shape[1], block):
        y, f, res = host.process(x[:, i : i + block], changes if i == 0 else None)
        assert res == K_RESULT_OK, f"process returned {res}"
        out.append(y)
        flags.append(f)
    return np.concatenate(out, axis=1), flags


def test_vst3_odd_sample_rates(vst3: str, report: Report) -> None:
    """One VST3 instance set up and activated in turn at 768 kHz, the validators'
    fractional rates, 8 MHz (pass-through) and 48 kHz, as the Steinberg validator's
    `Process Format` does: `setActive(true)` succeeds every time, the output is finite,
    an impulse through Mix 0 comes out exactly at `getLatencySamples()`, and the
    processed path (Mix 100 %, Classical) is not silent; at 8 MHz the audio passes
    through unchanged with latency 0."""
    host = Vst3Host(vst3)
    engine, mix = host.param_id("Engine"), host.param_id("Mix")
    host.set_normalized(engine, 1.0)  # Classical: quick at every rate
    out = []
    for rate in (*ODD_RATES, PASS_THROUGH_RATE, 48_000.0):
        assert host.setup(rate, 512) == K_RESULT_OK, rate
        res = host.set_active(True)
        assert res == K_RESULT_OK, f"setActive(true) at {rate} Hz returned {res}"
        latency = host.latency()
        assert host.set_processing(True) == K_RESULT_OK
        n = latency + max(4096, int(0.1 * rate))
        at = 1000
        x = np.zeros((2, n), dtype=np.float32)
        x[:, at] = 1.0
        dry, _ = vst3_blocks(host, x, 512, {mix: 0.0})
        assert np.all(np.isfinite(dry)), f"{rate} Hz: non-finite output"
        peak = int(np.argmax(np.abs(dry[0])))
        assert peak == at + latency, f"{rate} Hz: peak {peak}, latency {latency}"
        rng = np.random.default_rng(5)
        noise = (0.3 * rng.standard_normal((2, n))).astype(np.float32)
        wet, _ = vst3_blocks(host, noise, 512, {mix: 1.0})
        assert np.all(np.isfinite(wet)), f"{rate} Hz: non-finite output"
        if rate == PASS_THROUGH_RATE:
            assert latency == 0, latency
            assert np.array_equal(wet, noise), "pass-through changed the audio"
        else:
            assert latency > 0, f"{rate} Hz: no latency"
            level = rms(wet[:, latency + at :])
            # Not silent (white noise loses most of its power above 24 kHz at high rates).
            assert level > 0.01, f"{rate} Hz: output rms {level}"
        host.set_processing(False)
        assert host.set_active(False) == K_RESULT_OK
        out.append(f"{rate:g} Hz: {latency}")
    host.close()
    report("activated, finite, dry impulse exact; latency " + "; ".join(out))


def test_vst3_bypass_persistence(vst3: str, report: Report) -> None:
    """The Steinberg validator's `Parameter Bypass persistence`: while processing, the
    controller's `setParamNormalized(bypass, 1)` then `getParamNormalized` returns 1,
    and 0 after setting 0 (nice-plug 0.4.2 ignored the value while processing, see
    vendor/nice-plug/PATCHES.md); and the processor, sent bypass = 1 as a parameter
    change, outputs the input delayed by the reported latency."""
    host = Vst3Host(vst3)
    bypass = host.bypass_id()
    host.set_normalized(host.param_id("Engine"), 1.0)
    assert host.setup(48_000.0, 512) == K_RESULT_OK
    assert host.set_active(True) == K_RESULT_OK
    latency = host.latency()
    got = []
    for value in (1.0, 0.0, 1.0):
        assert host.set_processing(True) == K_RESULT_OK
        host.set_normalized(bypass, value)
        got.append(host.get_normalized(bypass))
        assert got[-1] == value, f"set bypass {value}, controller returns {got[-1]}"
        _, _, res = host.process(np.zeros((2, 0), dtype=np.float32), {bypass: value})
        assert res == K_RESULT_OK
        assert host.get_normalized(bypass) == value, "lost after process"
        if value == 1.0:
            rng = np.random.default_rng(3)
            x = (0.3 * rng.standard_normal((2, latency + 48_000))).astype(np.float32)
            y, _ = vst3_blocks(host, x, 512, {bypass: 1.0})
            skip = latency + 4800  # past the 10 ms crossfade
            res_db = db(rms(y[:, skip:] - x[:, skip - latency : -latency]) / rms(x))
            assert res_db < -90.0, f"bypass residual {res_db:.1f} dB"
        assert host.set_processing(False) == K_RESULT_OK
    host.close()
    report(f"controller read back {got}; processor bypass residual {res_db:.1f} dB")


def test_vst3_silence_flags(vst3: str, report: Report) -> None:
    """After silent input longer than the idle tail, every output block carries the
    silence flags of both channels (a host can skip the work downstream); once the
    sound is past the latency none does, and getTailSamples() is non-zero then."""
    host = Vst3Host(vst3)
    host.set_normalized(host.param_id("Engine"), 1.0)
    assert host.setup(48_000.0, 512) == K_RESULT_OK
    assert host.set_active(True) == K_RESULT_OK
    assert host.set_processing(True) == K_RESULT_OK
    latency = host.latency()
    rng = np.random.default_rng(4)
    sound = (0.3 * rng.standard_normal((2, 24_000))).astype(np.float32)
    _, flags = vst3_blocks(host, sound, 512)
    tail = host.tail()
    # Silent (and flagged) only while the first sound is still inside the latency.
    sounding = flags[latency // 512 + 1 :]
    assert all(f == 0 for f in sounding), f"silence flags on sound: {flags}"
    assert flags[0] == 0b11, "the latency's silence is not flagged"
    assert tail > 0, "no tail reported while sounding"
    silence = np.zeros((2, 4 * latency + 48_000), dtype=np.float32)
    y, flags = vst3_blocks(host, silence, 512)
    first = next(i for i, f in enumerate(flags) if f == 0b11) * 512
    assert all(f == 0b11 for f in flags[-20:]), f"last flags {flags[-20:]}"
    assert np.all(y[:, first:] == 0.0), "flagged silent but not silent"
    assert first >= latency, f"flagged silent after {first} samples, latency {latency}"
    host.close()
    report(
        f"tail {tail} samples while sounding; silence flags from {first} samples of "
        f"silent input on (latency {latency})"
    )


def test_clap_odd_sample_rates(clap_host: ClapHost, report: Report) -> None:
    """xodvox-clap-host activates the CLAP at 768 kHz and the validators' fractional
    rates (clap-validator's `process-varying-sample-rates`): activation succeeds, the
    Mix 0 impulse comes out exactly at the reported latency, and +12 st of a 220 Hz sine
    is 440 Hz within 1 cent (measured at the true rate) at 768 kHz and 45678.901 Hz."""
    out = []
    for rate in ODD_RATES:
        sr = round(rate)
        n = int(rate * 0.4)
        x = np.zeros((2, n + sr // 2), dtype=np.float32)
        x[:, 100] = 1.0
        params = {"Engine": "Classical", "Mix": "0"}
        y, info = clap_host.render(x, sr, params, activate_at=rate)
        latency = info["latency"]
        assert info["activated_at"] == rate, info["activated_at"]
        assert latency and latency > 0, f"{rate} Hz: latency {latency}"
        n = latency + int(rate * 1.5)
        if rate in (768_000.0, 45678.901):
            t = np.arange(n) / rate
            tone = (0.5 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
            x = np.tile(tone, (2, 1))
            y2, _ = clap_host.render(
                x, sr, {"Engine": "Classical", "Pitch": "12"}, activate_at=rate
            )
            seg = y2[0, latency + int(0.3 * rate) :]
            err = cents(dominant_frequency(seg, rate), 440.0)
            assert abs(err) < 1.0, f"{rate} Hz: +12 st off by {err:.3f} cents"
            out.append(f"{rate:g} Hz: latency {latency}, +12 st {err:+.4f} ct")
        else:
            out.append(f"{rate:g} Hz: latency {latency}")
        peak = int(np.argmax(np.abs(y[0])))
        assert peak == 100 + latency, f"{rate} Hz: peak {peak}, latency {latency}"
    report("; ".join(out))


def onset(y: np.ndarray, start: int) -> int:
    """Samples from `start` to the first of channel 0 over 0.05."""
    return int(np.argmax(np.abs(y[0, start:]) > 0.05))


def test_clap_sleep(clap_host: ClapHost, report: Report) -> None:
    """Sound, silence longer than the idle tail, sound again, at 48 and 44.1 kHz: the
    plugin returns CLAP_PROCESS_SLEEP with constant outputs during the silence, not
    before the sound has left its latency; a host that then skips it (--honour-sleep)
    gets the second sound (+12 st) at the same place, pitch and level as a host that
    called it all along."""
    out = []
    for sr in (48_000, 44_100):
        t1 = int(0.5 * sr)
        gap = int(4.0 * sr)
        t2 = int(1.0 * sr)
        x = np.zeros((2, t1 + gap + t2), dtype=np.float32)
        rng = np.random.default_rng(6)
        x[:, :t1] = 0.3 * rng.standard_normal((2, t1))
        tt = np.arange(t2) / sr
        x[:, t1 + gap :] = 0.5 * np.sin(2 * np.pi * 220.0 * tt)
        params = {"Engine": "Classical", "Pitch": "12"}
        y_all, info_all = clap_host.render(x, sr, params)
        y_skip, info = clap_host.render(x, sr, params, honour_sleep=True)
        latency = info["latency"]
        proc = info["process"]
        assert proc["sleep"] > 0, f"never slept: {proc}"
        assert proc["constant_blocks"] > 0, f"no constant outputs: {proc}"
        assert proc["skipped_blocks"] > 0, proc
        assert proc["first_sleep"] >= t1 + latency, f"slept too early: {proc}"
        assert proc["last_wake"] is not None and proc["last_wake"] <= t1 + gap, proc
        assert info_all["process"]["sleep"] > 0, info_all["process"]
        start = t1 + gap + latency + int(0.2 * sr)
        a_seg, b_seg = y_all[0, start:], y_skip[0, start:]
        level = db(rms(b_seg) / rms(a_seg))
        assert abs(level) < 0.5, f"{sr} Hz: level after waking {level:+.2f} dB"
        err = cents(dominant_frequency(b_seg, sr), 440.0)
        assert abs(err) < 1.0, f"{sr} Hz: pitch after waking {err:+.3f} cents"
        shift = onset(y_skip, t1 + gap) - onset(y_all, t1 + gap)
        assert abs(shift) <= 64, f"{sr} Hz: onset moved by {shift} samples"
        assert onset(y_skip, t1 + gap) >= latency - int(0.05 * sr), "sound before the latency"
        out.append(
            f"{sr} Hz: slept at {proc['first_sleep']} (sound + latency "
            f"{t1 + latency}), {proc['skipped_blocks']} blocks skipped, woke at "
            f"{proc['last_wake']}; after waking {level:+.2f} dB, {err:+.4f} ct, "
            f"onset {shift:+d} samples"
        )
    report("; ".join(out))


def test_vst3_latency_before_activation(vst3: str, report: Report) -> None:
    """pluginval prints `Reported latency` before it activates the plugin: a fresh VST3
    instance's getLatencySamples() is the latency it has once activated at 48 kHz (not
    0, nice-plug's default; vendor/nice-plug/PATCHES.md). Then, set up and activated
    in turn at 48, 44.1, 96 and 48 kHz: right after setupProcessing (where JUCE reads
    it) it is already that rate's, once active it is where a Mix 0 impulse comes out,
    and after setActive(false) it stays the last-known one."""
    host = Vst3Host(vst3)
    before = host.latency()
    host.set_normalized(host.param_id("Engine"), 1.0)
    mix = host.param_id("Mix")
    got = []
    for rate in (48_000.0, 44_100.0, 96_000.0, 48_000.0):
        assert host.setup(rate, 512) == K_RESULT_OK, rate
        set_up = host.latency()  # JUCE reads it here, before setActive(true)
        assert host.set_active(True) == K_RESULT_OK, rate
        latency = host.latency()
        assert latency > 0, f"{rate} Hz: no latency"
        assert set_up == latency, f"{rate} Hz: {set_up} after setupProcessing, {latency} active"
        assert host.set_processing(True) == K_RESULT_OK
        at = 700
        x = np.zeros((2, at + latency + 2048), dtype=np.float32)
        x[:, at] = 1.0
        dry, _ = vst3_blocks(host, x, 512, {mix: 0.0})
        peak = int(np.argmax(np.abs(dry[0])))
        assert peak == at + latency, f"{rate} Hz: peak {peak}, latency {latency}"
        host.set_processing(False)
        assert host.set_active(False) == K_RESULT_OK
        inactive = host.latency()
        assert inactive == latency, f"{rate} Hz: {inactive} once inactive"
        got.append(latency)
    host.close()
    assert before == got[0], f"before activation {before}, at 48 kHz {got[0]}"
    assert got[0] == got[3] and got[1] != got[0], got
    report(f"before activation {before}; activated at 48/44.1/96/48 kHz: {got}")


def test_clap_latency_before_activation(clap_host: ClapHost, report: Report) -> None:
    """The CLAP's latency extension answers before activation with the latency it has at
    48 kHz (nice-plug's default was 0), and once activated at 44.1 or 96 kHz with that
    rate's latency (the one `render` measures the impulse at in test_clap_latency)."""
    at48 = clap_host.run("info", clap_host.plugin, "--sample-rate", "48000")
    out = [f"48 kHz: inactive {at48['latency_inactive']}, active {at48['latency']}"]
    assert at48["latency"] and at48["latency"] > 0, at48["latency"]
    assert at48["latency_inactive"] == at48["latency"], out[0]
    for sr in (44_100, 96_000):
        info = clap_host.run("info", clap_host.plugin, "--sample-rate", str(sr))
        assert info["latency_inactive"] == at48["latency"], info["latency_inactive"]
        active = info["latency"]
        assert active and active != at48["latency"], active
        out.append(f"{sr / 1000:g} kHz: inactive {info['latency_inactive']}, active {active}")
    report("; ".join(out))
