"""``xodvox-train mix OUT.jsonl A/manifest.jsonl B/manifest.jsonl …``: one manifest over several.

Training reads one manifest (``data.manifest``). To train on several datasets at once (e.g. the
additive pairs of ``truth`` and the MIDI re-renders of ``midi-truth``), this writes a manifest
whose rows are those of the inputs, with ``input``/``target`` rewritten relative to the new
manifest's folder and ids prefixed by the source folder's name (``truth-train-000001``), so they
stay unique. Rows are checked as training checks them (schema, files present). The audio is not
copied; entries are sampled uniformly, so each dataset weighs as many rows as it has, times its
``--times`` (its train rows repeated, ids ``<name>-r2-…``; val and test rows appear once).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from xodvox_train.data import ManifestError, load_manifest


def mix(out: Path, manifests: list[Path], times: list[int] | None = None) -> int:
    """Writes ``out`` (through a temporary file); returns the number of rows.

    ``times[i]`` (default 1) repeats the train rows of ``manifests[i]`` to weigh it more.

    Raises:
        ManifestError: an input is missing or malformed, or two inputs have the same folder name.
        ValueError: ``out`` is one of the inputs, or ``times`` does not fit.
    """
    times = times or [1] * len(manifests)
    if len(times) != len(manifests) or min(times) < 1:
        raise ValueError(f"--times needs one integer >= 1 per manifest, got {times}")
    out = out.absolute()
    prefixes: set[str] = set()
    lines = []
    for path, repeat in zip(manifests, times, strict=True):
        if path.absolute() == out:
            raise ValueError(f"{out} is also an input: choose another output")
        manifest = load_manifest(path)
        raw = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        prefix = manifest.root.absolute().name
        if prefix in prefixes:
            raise ManifestError(f"two inputs live in folders named {prefix!r}: ids would clash")
        prefixes.add(prefix)
        for row in raw:
            for r in range(repeat if row["split"] == "train" else 1):
                lines.append(
                    _rewritten(row, prefix if r == 0 else f"{prefix}-r{r + 1}", manifest.root, out)
                )
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = out.with_name(out.name + ".tmp")
    temp.write_text("".join(lines))
    os.replace(temp, out)
    load_manifest(out)
    return len(lines)


def _rewritten(row: dict, prefix: str, root: Path, out: Path) -> str:
    """``row`` with a prefixed id and paths relative to ``out``'s folder, as a JSON line."""
    row = dict(row)
    row["id"] = f"{prefix}-{row['id']}"
    for key in ("input", "target"):
        row[key] = os.path.relpath((root / str(row[key])).absolute(), out.parent)
    return json.dumps(row, sort_keys=True) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``xodvox-train mix``."""
    parser.add_argument("out", type=Path, help="the manifest to write")
    parser.add_argument("manifests", type=Path, nargs="+", help="manifests to combine")
    parser.add_argument(
        "--times",
        type=int,
        nargs="+",
        help="repeat each manifest's train rows this many times (one per manifest; default 1)",
    )


def run(args: argparse.Namespace) -> int:
    """Runs ``xodvox-train mix``."""
    try:
        rows = mix(args.out, args.manifests, args.times)
    except (ManifestError, ValueError) as err:
        print(f"xodvox-train mix: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({rows} rows from {len(args.manifests)} manifests)")
    return 0
