"""A minimal VST3 host in ctypes, for the host tests: it makes the calls the Steinberg
validator makes where the validator found faults (activation at any sample rate, the
bypass parameter set in the controller while processing, output silence flags) and which
pedalboard and DawDreamer cannot show (they cache parameter values and ignore silence
flags). Linux x86_64 only (VST3's COM vtables with the C calling convention).

    host = Vst3Host("XodVox.vst3")
    host.setup(sample_rate, max_block); host.set_active(True); host.set_processing(True)
    out, flags = host.process(x, changes={param_id: value})
"""

from __future__ import annotations

import ctypes as C
import os

import numpy as np

K_RESULT_OK = 0
K_IS_BYPASS = 1 << 16
K_AUDIO, K_INPUT, K_OUTPUT = 0, 0, 1


def uid(a: int, b: int, c: int, d: int) -> bytes:
    """A TUID as VST3 lays it out on non-Windows platforms (big-endian words)."""
    return b"".join(v.to_bytes(4, "big") for v in (a, b, c, d))


ICOMPONENT = uid(0xE831FF31, 0xF2D54301, 0x928EBBEE, 0x25697802)
IAUDIO_PROCESSOR = uid(0x42043F99, 0xB7DA453C, 0xA569E79D, 0x9AAEC33D)
IEDIT_CONTROLLER = uid(0xDCD7BBE3, 0x7742448D, 0xA874AACC, 0x979C759E)
IPARAMETER_CHANGES = uid(0xA4779663, 0x0BB64A56, 0xB44384A8, 0x466FEB9D)
IPARAM_VALUE_QUEUE = uid(0x01263A18, 0xED074F6F, 0x98C9D356, 0x4686F9BA)
FUNKNOWN = uid(0x00000000, 0x00000000, 0xC0000000, 0x00000046)

VP = C.c_void_p


class PClassInfo(C.Structure):
    _fields_ = [
        ("cid", C.c_char * 16),
        ("cardinality", C.c_int32),
        ("category", C.c_char * 32),
        ("name", C.c_char * 64),
    ]


class ParameterInfo(C.Structure):
    _fields_ = [
        ("id", C.c_uint32),
        ("title", C.c_uint16 * 128),
        ("short_title", C.c_uint16 * 128),
        ("units", C.c_uint16 * 128),
        ("step_count", C.c_int32),
        ("default", C.c_double),
        ("unit_id", C.c_int32),
        ("flags", C.c_int32),
    ]


class ProcessSetup(C.Structure):
    _fields_ = [
        ("process_mode", C.c_int32),
        ("sample_size", C.c_int32),
        ("max_block", C.c_int32),
        ("sample_rate", C.c_double),
    ]


class AudioBusBuffers(C.Structure):
    _fields_ = [
        ("num_channels", C.c_int32),
        ("silence_flags", C.c_uint64),
        ("buffers", C.POINTER(C.POINTER(C.c_float))),
    ]


class ProcessData(C.Structure):
    _fields_ = [
        ("process_mode", C.c_int32),
        ("sample_size", C.c_int32),
        ("num_samples", C.c_int32),
        ("num_inputs", C.c_int32),
        ("num_outputs", C.c_int32),
        ("inputs", C.POINTER(AudioBusBuffers)),
        ("outputs", C.POINTER(AudioBusBuffers)),
        ("in_changes", VP),
        ("out_changes", VP),
        ("in_events", VP),
        ("out_events", VP),
        ("context", VP),
    ]


def method(obj: int, index: int, restype, *argtypes):
    """The `index`-th vtable entry of the COM object at `obj`, as a callable."""
    vtbl = C.cast(C.c_void_p(obj), C.POINTER(C.POINTER(VP)))[0]
    return C.CFUNCTYPE(restype, VP, *argtypes)(vtbl[index])


def query(obj: int, iid: bytes) -> int:
    out = VP()
    res = method(obj, 0, C.c_int32, C.c_char_p, C.POINTER(VP))(obj, iid, C.byref(out))
    assert res == K_RESULT_OK and out.value, f"queryInterface failed ({res})"
    return out.value


# ------------------------------------------------ host-side COM objects (parameter changes)

QI = C.CFUNCTYPE(C.c_int32, VP, C.c_char_p, C.POINTER(VP))
REF = C.CFUNCTYPE(C.c_uint32, VP)


class _ComObject(C.Structure):
    _fields_ = [("vtbl", VP)]


class _Queue:
    """IParamValueQueue with one point: `value` at sample offset 0."""

    def __init__(self, param_id: int, value: float):
        self.param_id, self.value = param_id, value
        self.fns = [
            QI(self._qi),
            REF(lambda _s: 1),
            REF(lambda _s: 1),
            C.CFUNCTYPE(C.c_uint32, VP)(lambda _s: self.param_id),
            C.CFUNCTYPE(C.c_int32, VP)(lambda _s: 1),
            C.CFUNCTYPE(C.c_int32, VP, C.c_int32, C.POINTER(C.c_int32), C.POINTER(C.c_double))(
                self._get_point
            ),
            C.CFUNCTYPE(C.c_int32, VP, C.c_int32, C.c_double, C.POINTER(C.c_int32))(
                lambda _s, _o, _v, _i: 1
            ),
        ]
        self.vtbl = (VP * len(self.fns))(*[C.cast(f, VP) for f in self.fns])
        self.obj = _ComObject(C.cast(self.vtbl, VP))

    def _qi(self, this, iid, out):
        if C.string_at(iid, 16) in (IPARAM_VALUE_QUEUE, FUNKNOWN):
            out[0] = this
            return K_RESULT_OK
        out[0] = None
        return 1

    def _get_point(self, _s, index, offset, value):
        if index != 0:
            return 1
        offset[0] = 0
        value[0] = self.value
        return K_RESULT_OK

    @property
    def ptr(self) -> int:
        return C.addressof(self.obj)


class _Changes:
    """IParameterChanges holding one queue per parameter."""

    def __init__(self, changes: dict[int, float]):
        self.queues = [_Queue(pid, v) for pid, v in changes.items()]
        self.fns = [
            QI(self._qi),
            REF(lambda _s: 1),
            REF(lambda _s: 1),
            C.CFUNCTYPE(C.c_int32, VP)(lambda _s: len(self.queues)),
            C.CFUNCTYPE(VP, VP, C.c_int32)(self._data),
            C.CFUNCTYPE(VP, VP, C.POINTER(C.c_uint32), C.POINTER(C.c_int32))(
                lambda _s, _id, _i: None
            ),
        ]
        self.vtbl = (VP * len(self.fns))(*[C.cast(f, VP) for f in self.fns])
        self.obj = _ComObject(C.cast(self.vtbl, VP))

    def _qi(self, this, iid, out):
        if C.string_at(iid, 16) in (IPARAMETER_CHANGES, FUNKNOWN):
            out[0] = this
            return K_RESULT_OK
        out[0] = None
        return 1

    def _data(self, _s, index):
        return self.queues[index].ptr if 0 <= index < len(self.queues) else None

    @property
    def ptr(self) -> int:
        return C.addressof(self.obj)


# ------------------------------------------------------------------------------ the host


class Vst3Host:
    """One instance of the first audio-module class of a `.vst3` bundle."""

    def __init__(self, bundle: str):
        arch = os.path.join(bundle, "Contents", "x86_64-linux")
        so = next(os.path.join(arch, f) for f in os.listdir(arch) if f.endswith(".so"))
        self.lib = C.CDLL(so)
        self.lib.GetPluginFactory.restype = VP
        factory = self.lib.GetPluginFactory()
        assert factory, "GetPluginFactory returned null"
        count = method(factory, 4, C.c_int32)(factory)
        info = PClassInfo()
        for i in range(count):
            method(factory, 5, C.c_int32, C.c_int32, C.POINTER(PClassInfo))(
                factory, i, C.byref(info)
            )
            if info.category == b"Audio Module Class":
                break
        else:
            raise AssertionError("no audio module class")
        out = VP()
        res = method(factory, 6, C.c_int32, C.c_char_p, C.c_char_p, C.POINTER(VP))(
            factory, bytes(info.cid), ICOMPONENT, C.byref(out)
        )
        assert res == K_RESULT_OK and out.value, f"createInstance failed ({res})"
        self.component = out.value
        assert method(self.component, 3, C.c_int32, VP)(self.component, None) == K_RESULT_OK
        self.processor = query(self.component, IAUDIO_PROCESSOR)
        self.controller = query(self.component, IEDIT_CONTROLLER)
        self.channels = 2
        self.sample_rate = 48_000.0

    # IComponent: 3 initialize, 4 terminate, 5 getControllerClassId, 6 setIoMode,
    # 7 getBusCount, 8 getBusInfo, 9 getRoutingInfo, 10 activateBus, 11 setActive
    def set_active(self, on: bool) -> int:
        for direction in (K_INPUT, K_OUTPUT):
            method(self.component, 10, C.c_int32, C.c_int32, C.c_int32, C.c_int32, C.c_ubyte)(
                self.component, K_AUDIO, direction, 0, 1
            )
        return method(self.component, 11, C.c_int32, C.c_ubyte)(self.component, int(on))

    # IAudioProcessor: 6 getLatencySamples, 7 setupProcessing, 8 setProcessing, 9 process,
    # 10 getTailSamples
    def latency(self) -> int:
        return method(self.processor, 6, C.c_uint32)(self.processor)

    def setup(self, sample_rate: float, max_block: int, offline: bool = False) -> int:
        self.sample_rate, self.max_block = sample_rate, max_block
        setup = ProcessSetup(2 if offline else 0, 0, max_block, sample_rate)
        return method(self.processor, 7, C.c_int32, C.POINTER(ProcessSetup))(
            self.processor, C.byref(setup)
        )

    def set_processing(self, on: bool) -> int:
        return method(self.processor, 8, C.c_int32, C.c_ubyte)(self.processor, int(on))

    def tail(self) -> int:
        return method(self.processor, 10, C.c_uint32)(self.processor)

    def process(self, x: np.ndarray, changes: dict[int, float] | None = None):
        """One `process` call on (channels, n) float32 `x` with parameter `changes` at
        offset 0. Returns (output, output silence flags, tresult)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        ch, n = x.shape
        y = np.zeros_like(x)
        in_ptrs = (C.POINTER(C.c_float) * ch)(
            *[x[c].ctypes.data_as(C.POINTER(C.c_float)) for c in range(ch)]
        )
        out_ptrs = (C.POINTER(C.c_float) * ch)(
            *[y[c].ctypes.data_as(C.POINTER(C.c_float)) for c in range(ch)]
        )
        silent_in = int(sum(1 << c for c in range(ch) if not np.any(x[c])))
        ins = AudioBusBuffers(ch, silent_in, in_ptrs)
        outs = AudioBusBuffers(ch, 0, out_ptrs)
        param_changes = _Changes(changes) if changes else None
        data = ProcessData(
            0,
            0,
            n,
            1,
            1,
            C.pointer(ins),
            C.pointer(outs),
            param_changes.ptr if param_changes else None,
            None,
            None,
            None,
            None,
        )
        res = method(self.processor, 9, C.c_int32, C.POINTER(ProcessData))(
            self.processor, C.byref(data)
        )
        return y, outs.silence_flags, res

    # IEditController: 5 setComponentState, 6 setState, 7 getState, 8 getParameterCount,
    # 9 getParameterInfo, ..., 14 getParamNormalized, 15 setParamNormalized
    def params(self) -> list[ParameterInfo]:
        count = method(self.controller, 8, C.c_int32)(self.controller)
        out = []
        for i in range(count):
            info = ParameterInfo()
            method(self.controller, 9, C.c_int32, C.c_int32, C.POINTER(ParameterInfo))(
                self.controller, i, C.byref(info)
            )
            out.append(info)
        return out

    def param_id(self, title: str) -> int:
        for p in self.params():
            name = "".join(chr(c) for c in p.title if c)
            if name == title:
                return p.id
        raise AssertionError(f"no parameter {title!r}")

    def bypass_id(self) -> int:
        ids = [p.id for p in self.params() if p.flags & K_IS_BYPASS]
        assert len(ids) == 1, f"{len(ids)} bypass parameters"
        return ids[0]

    def get_normalized(self, pid: int) -> float:
        return method(self.controller, 14, C.c_double, C.c_uint32)(self.controller, pid)

    def set_normalized(self, pid: int, value: float) -> int:
        return method(self.controller, 15, C.c_int32, C.c_uint32, C.c_double)(
            self.controller, pid, value
        )

    def close(self) -> None:
        """Deactivates and terminates the instance (the library stays loaded)."""
        self.set_processing(False)
        self.set_active(False)
        method(self.component, 4, C.c_int32)(self.component)
