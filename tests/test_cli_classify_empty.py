"""`switchyard classify` on a file that holds no requests fails, saying so, and writes nothing: it exited 0
with an empty --out, which a batch job reads as every request scored."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from router.cli import app


@pytest.mark.parametrize("content", ["", "\n", "  \n\n\t\n"], ids=["empty", "one-blank-line", "blank-lines"])
def test_classify_refuses_a_file_without_requests(tmp_path: Path, content: str) -> None:
    data = tmp_path / "traffic.jsonl"
    data.write_text(content)
    out = tmp_path / "scores.jsonl"
    result = CliRunner().invoke(app, ["classify", "--data", str(data), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "no requests" in result.output and str(data) in result.output
    assert "Traceback" not in result.output
    assert not out.exists()  # nothing half-written for a job to pick up
