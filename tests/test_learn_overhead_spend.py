"""What `switchyard learn` spends labeling traffic (its judge's verdicts and the tiers' answers, made outside
the gateway) is booked in the ledger's overhead_spend and taken off the console's and `report spend`'s net
savings, for the period it was spent in.

A real gateway with in-process fake engines (one token per word: fixed usage) answers a few requests;
the learn loop's own export-and-label step then labels them with a judge tier, through the real engines.
The booked rows are priced from the tokens the labeling summary counted, and the overview's net saving
drops by exactly what was booked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from eval_harness.label import CostCapReached
from policies.loader import load_policy_text
from router.cli_learn import _export_and_label
from router.ledger import Ledger
from router.ledger.store import to_nanousd
from router.ledger.tables import overhead_spend
from tests.servers import ROOT, Process, start_ledger_gateway

ADMIN_KEY = "sy-admin-learn-spend-test"
POLICY = """
version: 1
name: learn-spend
tiers:
  small: {engine: fake, model: small-m, max_output_tokens: 16, prices: {input_per_mtok: 100, output_per_mtok: 200}}
  big: {engine: fake, model: big-m, max_output_tokens: 16, prices: {input_per_mtok: 3000, output_per_mtok: 6000}}
  judge: {engine: fake, model: judge-m, max_output_tokens: 16, prices: {input_per_mtok: 7000, output_per_mtok: 9000}}
routing:
  classifier: rules
  long_prompt_words: 60
  thresholds: {big: 0.5}
cache: {exact: false, semantic: false}
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, Path]]:
    gw, policy = start_ledger_gateway(tmp_path_factory.mktemp("learn-spend"), POLICY, ADMIN_KEY)
    yield gw, policy
    gw.stop()


def _ask(gw: Process, prompts: list[str]) -> None:
    made = httpx.post(
        gw.url + "/admin/keys", json={"tenant": "acme", "team": "ml"}, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
    )
    assert made.status_code == 201, made.text
    with httpx.Client(base_url=gw.url, headers={"Authorization": f"Bearer {made.json()['key']}"}, timeout=30) as client:
        for prompt in prompts:
            answer = client.post("/v1/chat/completions", json={"model": "auto", "messages": [{"role": "user", "content": prompt}]})
            assert answer.status_code == 200, answer.text


def _overview(gw: Process, **params: str) -> dict[str, Any]:
    with httpx.Client(base_url=gw.url, follow_redirects=False, timeout=30) as console:
        assert console.post("/console/login", data={"key": ADMIN_KEY}).status_code == 303
        answer = console.get("/console/api/overview", params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()["totals"]


def _report(gw: Process) -> dict[str, Any]:
    env = {"SWITCHYARD_DATABASE_URL": gw.database_url or "", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "router.cli", "report", "spend", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout)["totals"]


def _booked(gw: Process) -> list[dict[str, Any]]:
    ledger = Ledger(gw.database_url)
    try:
        with ledger.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(select(overhead_spend).order_by(overhead_spend.c.id))]
    finally:
        ledger.close()


def test_a_labeling_runs_judge_spend_is_an_overhead_that_lowers_net_savings(gateway: tuple[Process, Path], tmp_path: Path) -> None:
    gw, policy_path = gateway
    _ask(gw, [f"What is {i} plus {i}?" for i in range(3)])
    before, report_before = _overview(gw), _report(gw)
    assert before["overheads"]["judge_usd"] == 0 and before["overheads"]["label_answers_usd"] == 0
    assert _booked(gw) == []

    assert gw.database_url is not None
    _export_and_label(policy_path, tmp_path, "1h", gw.database_url, "judge", 10, 16, True, 1000.0)

    booked = _booked(gw)
    policy = load_policy_text(POLICY)
    kinds = {(row["kind"], row["tier"]) for row in booked}
    assert ("judge", "judge") in kinds and all(kind in ("judge", "label_answer") for kind, _ in kinds)
    for row in booked:  # priced as the gateway prices a request, from the tokens labeling counted
        assert row["calls"] > 0 and row["prompt_tokens"] > 0 and row["source"].startswith("learn ")
        assert row["cost_nanousd"] == to_nanousd(policy.tiers[row["tier"]].cost(row["prompt_tokens"], row["completion_tokens"]))
    judge = sum(r["cost_nanousd"] for r in booked if r["kind"] == "judge") / 1e9
    answers = sum(r["cost_nanousd"] for r in booked if r["kind"] == "label_answer") / 1e9
    assert judge > 0

    after = _overview(gw)
    assert after["overheads"]["judge_usd"] == pytest.approx(judge, abs=1e-9)
    assert after["overheads"]["label_answers_usd"] == pytest.approx(answers, abs=1e-9)
    assert after["overheads"]["total_usd"] == pytest.approx(before["overheads"]["total_usd"] + judge + answers, abs=1e-9)
    assert after["net_saved_usd"] == pytest.approx(before["net_saved_usd"] - judge - answers, abs=1e-9)
    assert after["gross_saved_usd"] == pytest.approx(before["gross_saved_usd"], abs=1e-9)  # no request changed
    assert after["spend_usd"] == pytest.approx(before["spend_usd"], abs=1e-9)
    assert after["total_spend_usd"] == pytest.approx(after["spend_usd"] + judge + answers, abs=1e-9)

    report = _report(gw)  # `report spend --format json` says the same
    assert report["net_saved_usd"] == pytest.approx(report_before["net_saved_usd"] - judge - answers, abs=1e-9)
    for field in ("net_saved_usd", "net_saved_pct", "total_spend_usd"):
        assert report[field] == pytest.approx(after[field], abs=1e-9), field
    assert report["overheads"] == pytest.approx(after["overheads"], abs=1e-9)

    # Only the period it was spent in counts it, and it belongs to no team.
    earlier = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    assert _overview(gw, until=earlier)["overheads"]["judge_usd"] == 0
    team = _overview(gw, team="ml")
    assert team["overheads"]["judge_usd"] == 0 and team["total_spend_usd"] == pytest.approx(team["spend_usd"], abs=1e-9)


def test_a_labeling_run_refused_at_its_cost_cap_still_books_what_it_spent(gateway: tuple[Process, Path], tmp_path: Path) -> None:
    gw, policy_path = gateway
    assert gw.database_url is not None
    _ask(gw, ["Name the capital of France."])
    already = len(_booked(gw))
    # The judge's worst case (64 tokens at $9000/Mtok) is over the cap: the tiers' answers are bought, then it stops.
    with pytest.raises(CostCapReached):
        _export_and_label(policy_path, tmp_path, "1h", gw.database_url, "judge", 10, 16, True, 0.5)
    spent = _booked(gw)[already:]
    assert spent and all(row["kind"] == "label_answer" for row in spent)
    assert sum(row["cost_nanousd"] for row in spent) > 0
