"""The ``xodvox-train`` command: ``golden``, ``fit``, ``export``, ``truth``, ``midi-truth``, …"""

from __future__ import annotations

import argparse

from xodvox_train import (
    __version__,
    evaluate,
    export,
    fixture,
    golden,
    midi_truth,
    mix,
    train,
    truth,
)


def build_parser() -> argparse.ArgumentParser:
    """Argument parser with one sub-command per task."""
    parser = argparse.ArgumentParser(prog="xodvox-train", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    golden.add_arguments(sub.add_parser("golden", help="write the golden STFT vectors"))
    train.add_arguments(sub.add_parser("fit", help="train a model from a TOML config"))
    export.add_arguments(sub.add_parser("export", help="write model.onnx + model.json"))
    evaluate.add_arguments(
        sub.add_parser("evaluate", help="compare a bundle and the classical engine on a split")
    )
    fixture.add_arguments(
        sub.add_parser("tiny-fixture", help="train and export the runtime's test-fixture model")
    )
    truth.add_arguments(
        sub.add_parser("truth", help="write a dataset of exact ground-truth (synthetic) pairs")
    )
    midi_truth.add_arguments(
        sub.add_parser("midi-truth", help="write MIDI pieces re-rendered by FluidSynth")
    )
    mix.add_arguments(sub.add_parser("mix", help="combine several manifests into one"))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``xodvox-train`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "golden":
        return golden.run(args)
    if args.command == "fit":
        return train.run(args)
    if args.command == "export":
        return export.run(args)
    if args.command == "evaluate":
        return evaluate.run(args)
    if args.command == "tiny-fixture":
        return fixture.run(args)
    if args.command == "truth":
        return truth.run(args)
    if args.command == "midi-truth":
        return midi_truth.run(args)
    if args.command == "mix":
        return mix.run(args)
    raise ValueError(f"unknown command {args.command!r}")
