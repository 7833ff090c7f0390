"""``xodvox-train evaluate``: bundle validation, model metrics, classical engine when built."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from xodvox_train.evaluate import evaluate, load_bundle, markdown_table


def tiny_bundle(repo_root: Path) -> Path:
    return repo_root / "fixtures" / "models" / "tiny"


def test_model_metrics_without_classical_engine(repo_root: Path, tiny_manifest: Path) -> None:
    report = evaluate(tiny_bundle(repo_root), tiny_manifest, "val", xodvox=Path("/no/xodvox"))
    assert report["classical_binary"] is None
    assert report["examples"] == 4
    model = report["summary"]["model"]
    assert set(model) == {"mrstft", "sc", "lsd_db", "waveform_l1"}
    assert all(0 < v < 10 for v in model.values()), model
    assert "| model |" in markdown_table(report)
    by_style = report["mrstft_by_style"]
    assert sum(m["examples"] for m in by_style.values()) == 4
    for style, m in by_style.items():
        rows = [r["model"]["mrstft"] for r in report["rows"] if r["style"] == style]
        assert abs(m["model"] - sum(rows) / len(rows)) < 1e-9
        assert f"| {style} | {m['examples']} |" in markdown_table(report)


def test_classical_engine_side_by_side(
    repo_root: Path, tiny_manifest: Path, xodvox_binary: Path
) -> None:
    report = evaluate(tiny_bundle(repo_root), tiny_manifest, "train", xodvox=xodvox_binary)
    assert set(report["summary"]) == {"model", "classical"}
    assert all("classical" in row for row in report["rows"])


def test_identity_model_through_the_runtime_equals_the_classical_engine(
    repo_root: Path, tiny_manifest: Path, xodvox_binary: Path
) -> None:
    """The identity-head fixture rendered by the Rust runtime scores like the classical engine."""
    bundle = repo_root / "fixtures" / "models" / "identity"
    report = evaluate(bundle, tiny_manifest, "val", runtime=True, xodvox=xodvox_binary)
    assert set(report["summary"]) == {"model", "classical", "model_runtime"}
    for row in report["rows"]:
        a, b = row["model_runtime"]["mrstft"], row["classical"]["mrstft"]
        assert abs(a - b) < 1e-3 * max(b, 1e-3), (row["id"], a, b)


def test_bundle_validation_names_the_problem(repo_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"missing model\.json"):
        load_bundle(tmp_path)
    shutil.copy(tiny_bundle(repo_root) / "model.onnx", tmp_path)
    meta = json.loads((tiny_bundle(repo_root) / "model.json").read_text())
    (tmp_path / "model.json").write_text(json.dumps({**meta, "format_version": 9}))
    with pytest.raises(ValueError, match="format_version 9 unsupported"):
        load_bundle(tmp_path)
