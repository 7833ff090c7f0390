"""The control vector: named controls, their transforms, and the one function that builds it.

The list of :class:`ControlSpec` is written into ``model.json`` (``controls``); the Rust runtime
reads the same list and builds the same vector. Nobody hard-codes positions: a control's slice of
the vector is the sum of the sizes of the controls before it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

TRANSFORMS = ("log2", "divide", "one_hot")
"""Known transforms: ``log2(value)``, ``value / divisor``, one-hot over ``values``."""


@dataclass(frozen=True)
class ControlSpec:
    """One named control and how it becomes network input.

    Attributes:
        name: control name (``stretch``, ``pitch``, ``style``).
        transform: one of :data:`TRANSFORMS`.
        range: inclusive ``(low, high)`` range of the raw value (numeric controls only).
        default: raw value used when the caller gives none.
        divisor: divisor of the ``divide`` transform (e.g. 12 for semitones -> octaves).
        values: the names of a ``one_hot`` control, in vector order.
        unit: unit of the raw value, for humans.
    """

    name: str
    transform: str
    range: tuple[float, float] | None = None
    default: float | str = 0.0
    divisor: float = 1.0
    values: tuple[str, ...] = field(default_factory=tuple)
    unit: str = ""

    def __post_init__(self) -> None:
        if self.transform not in TRANSFORMS:
            raise ValueError(f"control {self.name!r}: unknown transform {self.transform!r}")
        if self.transform == "one_hot":
            if not self.values:
                raise ValueError(f"control {self.name!r}: one_hot needs a non-empty values list")
            if self.default not in self.values:
                raise ValueError(
                    f"control {self.name!r}: default {self.default!r} not in {list(self.values)}"
                )
        else:
            if self.range is None or not self.range[0] < self.range[1]:
                raise ValueError(f"control {self.name!r}: needs a range low < high")
            if self.transform == "log2" and self.range[0] <= 0:
                raise ValueError(f"control {self.name!r}: log2 needs a positive range")
            if self.transform == "divide" and self.divisor == 0:
                raise ValueError(f"control {self.name!r}: divisor must be non-zero")

    @property
    def size(self) -> int:
        """Number of vector entries this control occupies."""
        return len(self.values) if self.transform == "one_hot" else 1

    def encode(self, value: float | str) -> list[float]:
        """Network input for the raw ``value``.

        Raises:
            ValueError: the value is outside the range or not one of ``values``.
        """
        if self.transform == "one_hot":
            if value not in self.values:
                raise ValueError(
                    f"control {self.name!r}: {value!r} is not one of {list(self.values)}"
                )
            return [1.0 if v == value else 0.0 for v in self.values]
        if isinstance(value, str):
            raise ValueError(f"control {self.name!r}: expected a number, got {value!r}")
        if self.range is None:  # __post_init__ gives every numeric control a range
            raise ValueError(f"control {self.name!r}: has no range")
        low, high = self.range
        if not low <= value <= high:
            raise ValueError(f"control {self.name!r}: {value} outside [{low}, {high}]")
        if self.transform == "log2":
            return [math.log2(value)]
        return [value / self.divisor]

    def to_json(self) -> dict[str, object]:
        """The entry written into ``model.json``'s ``controls`` list."""
        out: dict[str, object] = {
            "name": self.name,
            "transform": self.transform,
            "size": self.size,
            "default": self.default,
        }
        if self.unit:
            out["unit"] = self.unit
        if self.range is not None:
            out["range"] = list(self.range)
        if self.transform == "divide":
            out["divisor"] = self.divisor
        if self.transform == "one_hot":
            out["values"] = list(self.values)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ControlSpec:
        """Inverse of :meth:`to_json`."""
        rng = data.get("range")
        if rng is not None and not isinstance(rng, Sequence):
            raise TypeError(f"control range must be a [low, high] list, got {rng!r}")
        default = data.get("default", 0.0)
        if not isinstance(default, int | float | str):
            raise TypeError(f"control default must be a number or a name, got {default!r}")
        values = data.get("values", ())
        if not isinstance(values, Iterable):
            raise TypeError(f"control values must be a list, got {values!r}")
        return cls(
            name=str(data["name"]),
            transform=str(data["transform"]),
            range=(_json_float(rng[0]), _json_float(rng[1])) if rng is not None else None,
            default=default,
            divisor=_json_float(data.get("divisor", 1.0)),
            values=tuple(str(v) for v in values),
            unit=str(data.get("unit", "")),
        )


def _json_float(value: object) -> float:
    """``float(value)`` of a JSON/TOML number (or numeric string); ``TypeError`` otherwise."""
    if not isinstance(value, int | float | str):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def default_controls(styles: Sequence[str]) -> list[ControlSpec]:
    """The contract's controls: stretch (log2), pitch (semitones / 12), style (one-hot)."""
    if not styles:
        raise ValueError("at least one style is needed")
    return [
        ControlSpec("stretch", "log2", range=(0.25, 4.0), default=1.0, unit="duration ratio"),
        ControlSpec(
            "pitch", "divide", range=(-24.0, 24.0), default=0.0, divisor=12.0, unit="semitones"
        ),
        ControlSpec("style", "one_hot", default=styles[0], values=tuple(styles)),
    ]


def control_size(specs: Sequence[ControlSpec]) -> int:
    """Length of the control vector (``n_controls``)."""
    return sum(spec.size for spec in specs)


def build_control_vector(
    specs: Sequence[ControlSpec], values: Mapping[str, float | str]
) -> list[float]:
    """The control vector for raw ``values`` (missing names take their default).

    Raises:
        ValueError: an unknown name in ``values``, or a value out of range.
    """
    known = {spec.name for spec in specs}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown controls {unknown}; known: {sorted(known)}")
    vector: list[float] = []
    for spec in specs:
        vector.extend(spec.encode(values.get(spec.name, spec.default)))
    return vector
