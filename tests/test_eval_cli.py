from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eval_harness.cli import eval_app
from eval_harness.report import ORACLE_COLOR, PALETTE, RANDOM_COLOR

MMLU = Path(__file__).resolve().parents[2] / "shared/data/routing/mmlu-train.jsonl"
WEAK, STRONG = "mixtral-8x7b-instruct-v0.1", "gpt-4-1106-preview"
pytestmark = pytest.mark.skipif(not MMLU.is_file(), reason=f"shared routing data not found at {MMLU}")

POLICY = """
version: 1
name: {name}
tiers:
  cheap:
    engine: openai
    model: mixtral
    quality_model: {weak}
    base_url: http://127.0.0.1:9/v1
    prices: {{input_per_mtok: 0.24, output_per_mtok: 0.24}}
  frontier:
    engine: litellm
    model: {strong}
    litellm_model: openai/gpt-4
    prices: {{input_per_mtok: 10, output_per_mtok: 30}}
routing:
  classifier: rules
  long_prompt_words: 150
  thresholds: {{frontier: {threshold}}}
"""


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("policies")
    out = {}
    for name, threshold in (("thrifty", 0.9), ("generous", 0.2)):
        path = root / f"{name}.yaml"
        path.write_text(POLICY.format(name=name, weak=WEAK, strong=STRONG, threshold=threshold))
        out[name] = path
    return out


def _run(*args: str):
    return CliRunner().invoke(eval_app, ["run", "--data", str(MMLU), "--bootstrap", "50", *args])


def _json(*args: str) -> dict:
    result = _run("--json", *args)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def test_json_report_side_by_side(policies: dict[str, Path]) -> None:
    payload = _json("--policy", str(policies["thrifty"]), "--policy", str(policies["generous"]))
    names = [e["name"] for e in payload["entries"]]
    assert names == [
        "thrifty",
        "generous",
        "random",
        "oracle",
        "always-weak",
        "always-strong",
        "best fixed tier (frontier)",
        "random (cost-matched)",
        "kNN (k=15)",
    ]
    thrifty, generous = payload["entries"][0], payload["entries"][1]
    # A lower threshold sends more requests to the frontier tier: dearer and (here) better.
    assert generous["tiers"][1]["share"] > thrifty["tiers"][1]["share"]
    assert generous["cost_per_1k"] > thrifty["cost_per_1k"]
    assert thrifty["classifier"].startswith("length rule")
    assert thrifty["pair"]["weak"] == WEAK and thrifty["pair"]["strong"] == STRONG
    assert 0 <= thrifty["pair"]["apgr"] <= 1.5
    assert len(thrifty["curve"]["share"]) == len(thrifty["curve"]["quality"]) == 101
    assert payload["gate"]["passed"] is True and payload["evaluated"] == payload["rows"]


def test_quality_gate(policies: dict[str, Path]) -> None:
    payload = _json("--policy", str(policies["thrifty"]))
    retained = payload["entries"][0]["quality_retained"]
    cost = payload["entries"][0]["cost_per_1k"]

    ok = _run("--policy", str(policies["thrifty"]), "--min-quality-retained", f"{retained - 0.01:.4f}", "--max-cost", f"{cost * 1.1:.6f}")
    assert ok.exit_code == 0, ok.output
    assert "quality gate passed" in ok.stderr

    low = _run("--policy", str(policies["thrifty"]), "--min-quality-retained", f"{retained + 0.02:.4f}")
    assert low.exit_code == 1
    shortfall = re.search(r"([\d.]+) points below the minimum", low.stderr)
    assert shortfall and float(shortfall.group(1)) == pytest.approx(2.0, abs=0.01)

    dear = _run("--policy", str(policies["thrifty"]), "--max-cost", f"{cost / 2:.6f}")
    assert dear.exit_code == 1
    assert "over the maximum" in dear.stderr and "(100.0%)" in dear.stderr

    # Only the failing policy is named when two are gated together.
    both = _run("--policy", str(policies["thrifty"]), "--policy", str(policies["generous"]), "--max-cost", f"{cost * 1.1:.6f}")
    assert both.exit_code == 1
    assert "generous: costs" in both.stderr and "thrifty: costs" not in both.stderr


def test_bad_input_exits_2(tmp_path: Path, policies: dict[str, Path]) -> None:
    assert _run("--weak", WEAK).exit_code == 2
    assert _run().exit_code == 2
    missing = _run("--weak", "nope", "--strong", STRONG)
    assert missing.exit_code == 2 and "'nope' is not in the traffic" in missing.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "messages": [{"role": "user", "content": "q"}]}\n{"id": 3}\n')
    result = CliRunner().invoke(eval_app, ["run", "--data", str(bad), "--policy", str(policies["thrifty"])])
    assert result.exit_code == 2 and f"{bad}:2:" in result.stderr


def test_html_report_has_the_curves(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = _run("--weak", WEAK, "--strong", STRONG, "--classifier", "rules", "--html", str(out))
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.count("<svg") == 2
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # self-contained
    curves = re.findall(r'<polyline class="curve" data-name="([^"]+)" points="([^"]+)"[^>]*stroke="(#[0-9a-f]{6})"', page)
    by_name = {name: (points, color) for name, points, color in curves}
    assert set(by_name) == {"classifier@0.5", "random (expected)", "oracle"}
    assert by_name["classifier@0.5"][1] == PALETTE[0]
    assert by_name["oracle"][1] == ORACLE_COLOR and by_name["random (expected)"][1] == RANDOM_COLOR
    assert len(by_name["classifier@0.5"][0].split()) == 101
    assert page.count('class="operating-point"') == 2  # one per chart
    assert "APGR" in page and "always-strong" in page
