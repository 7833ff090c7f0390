"""A tiny (input, target) dataset made with the real ``sox`` and ``rubberband`` command lines.

For tests and the test-fixture model only; the real corpus comes from the dataset tool. Sources
are synthesised by SoX (no files from elsewhere), so the set is licence-free (CC0).

SoX runs with ``-R`` (repeatable random numbers for ``pluck``, ``whitenoise`` and dither), so
the set is bit-identical from run to run. Ratio conventions: ``rubberband -t X`` is a duration
ratio and ``-p N`` semitones; ``sox tempo X`` is a speed factor (output 1/X as long) and
``sox pitch N`` is in cents.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from xodvox_train.data import manifest_row

TINY_STYLES = ("rubberband-r3", "rubberband-r2", "sox")
"""Styles present in the tiny dataset (one per process)."""


@dataclass(frozen=True)
class Process:
    """One way of making a target: a style, its ratios and its command (``{i}``/``{o}`` paths)."""

    style: str
    stretch: float
    pitch_semitones: float
    command: tuple[str, ...]
    tool: str


SOURCES: dict[str, tuple[str, ...]] = {
    "pluck": ("synth", "1.2", "pluck", "220", "fade", "0", "1.2", "0.3", "vol", "0.6"),
    "square": ("synth", "1.2", "square", "110", "lowpass", "3000", "tremolo", "5", "vol", "0.3"),
    "clicks": ("synth", "0.03", "whitenoise", "fade", "0", "0.03", "0.02", "pad", "0.2", "0.97"),
}
"""SoX ``-n`` synthesis arguments of each source (48 kHz mono, 1.2 s)."""

PROCESSES: tuple[Process, ...] = (
    Process("rubberband-r3", 1.25, 0.0, ("rubberband", "-q", "-3", "-t", "1.25"), "rubberband"),
    Process("rubberband-r2", 1.0, 3.0, ("rubberband", "-q", "-2", "-p", "3"), "rubberband"),
    Process("sox", 1.25, 0.0, ("sox", "-R", "{i}", "{o}", "tempo", "0.8"), "sox"),
    Process("sox", 1.0, -2.0, ("sox", "-R", "{i}", "{o}", "pitch", "-200"), "sox"),
)
"""Target processes; ``sox tempo 0.8`` = duration x1.25, ``sox pitch -200`` = -2 semitones."""


def tool_version(tool: str) -> str:
    """Version string of ``sox`` or ``rubberband``."""
    result = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
    text = (result.stdout + result.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def require_tools() -> None:
    """Raises ``RuntimeError`` naming the apt packages when ``sox`` or ``rubberband`` is missing."""
    missing = [t for t in ("sox", "rubberband") if shutil.which(t) is None]
    if missing:
        raise RuntimeError(
            f"{missing} not found: apt-get install -y --no-install-recommends sox rubberband-cli"
        )


def make_tiny_dataset(root: Path) -> Path:
    """Writes sources, targets and ``manifest.jsonl`` under ``root``; returns the manifest path.

    Example ids are ``{source}-{n}``; the ``clicks`` source is the validation split.
    """
    require_tools()
    (root / "input").mkdir(parents=True, exist_ok=True)
    (root / "target").mkdir(parents=True, exist_ok=True)
    versions = {tool: tool_version(tool) for tool in ("sox", "rubberband")}
    rows = []
    for name, synth in SOURCES.items():
        src = f"input/{name}.wav"
        make_src = ["sox", "-R", "-n", "-r", "48000", "-c", "1", "-b", "16", src, *synth]
        subprocess.run(make_src, check=True, capture_output=True, cwd=root)
        for n, proc in enumerate(PROCESSES):
            out = f"target/{name}-{n}.wav"
            if proc.tool == "rubberband":
                argv = [*proc.command, src, out]
            else:
                argv = [a.replace("{i}", src).replace("{o}", out) for a in proc.command]
            subprocess.run(argv, check=True, capture_output=True, cwd=root)
            rows.append(
                manifest_row(
                    entry_id=f"{name}-{n}",
                    split="val" if name == "clicks" else "train",
                    root=root,
                    input_path=root / src,
                    target_path=root / out,
                    stretch=proc.stretch,
                    pitch_semitones=proc.pitch_semitones,
                    style=proc.style,
                    generator=" ".join(argv),
                    tool_version=versions[proc.tool],
                    source=" ".join(make_src),
                    licence="CC0-1.0",
                )
            )
    manifest = root / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    return manifest
