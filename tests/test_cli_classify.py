"""The classifier's commands: classify writes the batch-scoring contract, calibrate finds thresholds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from router.cli import app

MMLU = Path(__file__).resolve().parents[2] / "shared/data/routing/mmlu-train.jsonl"
pytestmark = pytest.mark.skipif(not MMLU.is_file(), reason=f"shared routing data not found at {MMLU}")


@pytest.fixture()
def sample(tmp_path: Path) -> Path:
    lines = MMLU.read_text().splitlines()[::50]
    path = tmp_path / "sample.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_classify_contract(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.jsonl"
    result = CliRunner().invoke(app, ["classify", "--data", str(sample), "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    inputs = [json.loads(line) for line in sample.read_text().splitlines()]
    assert [r["id"] for r in records] == [r["id"] for r in inputs]
    for record in records:
        assert set(record) == {"id", "predicted", "route_score"}
        assert set(record["predicted"]) == {"mixtral-8x7b-instruct-v0.1", "gpt-4-1106-preview"}
        assert all(0 <= p <= 1 for p in record["predicted"].values()) and 0 <= record["route_score"] <= 1


def test_calibrate_both_forms(sample: Path) -> None:
    runner = CliRunner()
    share = runner.invoke(app, ["calibrate", "--data", str(sample), "--strong-share", "0.3"])
    assert share.exit_code == 0, share.output
    report = json.loads(share.output)
    assert abs(report["strong_share"] - 0.3) < 0.05
    quality = json.loads(runner.invoke(app, ["calibrate", "--data", str(sample), "--quality-target", "0.95"]).output)
    assert quality["quality_fraction_of_strong"] >= 0.95
    both = runner.invoke(app, ["calibrate", "--data", str(sample), "--strong-share", "0.3", "--quality-target", "0.9"])
    assert both.exit_code != 0
