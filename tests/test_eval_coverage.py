"""Label coverage leads every report, and `eval run` refuses below --min-coverage (issue #14: a replay
covering 1 of 40 requests exited 0 with a warning at the bottom of the page)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eval_harness.cli import eval_app
from eval_harness.traffic import TrafficRecord, write_records

WEAK, STRONG = "weak-m", "strong-m"


def _write(path: Path, n: int, ungraded_strong: int) -> Path:
    records = []
    for i in range(n):
        scores = {WEAK: float(i % 3 == 0)}
        if i >= ungraded_strong:
            scores[STRONG] = 1.0
        text = f"q{i} " + "word " * (i % 17)
        records.append(TrafficRecord(id=str(i), messages=[{"role": "user", "content": text}], scores=scores))
    write_records(path, records)
    return path


def _run(data: Path, *args: str):
    return CliRunner().invoke(
        eval_app, ["run", "--data", str(data), "--weak", WEAK, "--strong", STRONG, "--classifier", "rules", "--bootstrap", "20", *args]
    )


def test_low_coverage_is_refused_with_exit_3(tmp_path: Path) -> None:
    # 40 requests, the strong model's answers graded on only 1: what the issue saw after a weak judge.
    data = _write(tmp_path / "t.jsonl", 40, ungraded_strong=39)
    result = _run(data)
    assert result.exit_code == 3, result.output
    out = " ".join(result.output.split())
    assert "Coverage: 1/40 requests labeled for every model (2.5%)" in out
    assert "strong-m 1/40 (2.5%)" in out and "weak-m 40/40 (100.0%)" in out
    assert "below the minimum 80%" in out
    assert "APGR" not in out  # no figures were reported


def test_operator_may_lower_the_bar_and_coverage_is_the_first_line(tmp_path: Path) -> None:
    data = _write(tmp_path / "t.jsonl", 40, ungraded_strong=10)  # 75% covered
    assert _run(data).exit_code == 3
    html = tmp_path / "r.html"
    result = _run(data, "--min-coverage", "0.7", "--html", str(html))
    assert result.exit_code == 0, result.output
    first = result.stdout.strip().splitlines()[0]
    assert first.startswith("Coverage: 30/40 requests labeled for every model (75.0%)"), first
    page = html.read_text()
    body = page.split("<body>", 1)[1]
    # The first paragraph after the title is the coverage line, before any chart or table.
    first_p = re.search(r"<p[^>]*>(.*?)</p>", body, re.S)
    assert first_p is not None and "Coverage: 30/40" in first_p.group(1)
    assert body.index("Coverage:") < body.index("<svg") < body.index("<table")


def test_json_carries_coverage(tmp_path: Path) -> None:
    data = _write(tmp_path / "t.jsonl", 20, ungraded_strong=0)
    result = _run(data, "--json")
    assert result.exit_code == 0, result.output
    cov = json.loads(result.stdout)["coverage"]
    assert cov["complete"] == 20 and cov["total"] == 20 and cov["share"] == 1.0
    assert {m["model"]: m["share"] for m in cov["models"]} == {WEAK: 1.0, STRONG: 1.0}


@pytest.mark.parametrize("bad", ["-0.1", "1.5"])
def test_min_coverage_out_of_range_is_bad_input(tmp_path: Path, bad: str) -> None:
    data = _write(tmp_path / "t.jsonl", 5, ungraded_strong=0)
    assert _run(data, "--min-coverage", bad).exit_code == 2
