"""`switchyard learn` against real processes: a gateway (its ledger filled by the openai SDK), tiers
and a judge on a local llama_cpp.server, the admin reload endpoint.

Numerics-independent by construction: the 135M judge's grades are checked only for the flow (the
ledger's traffic is exported, every answer gets a grade or an explicit none, and a sample this small
is refused before training whatever the grades); promotion is driven by labels built to favour a
trained router, and rollback is checked through what the running gateway reports on /v1/route.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI
from sqlalchemy import select
from typer.testing import CliRunner

from eval_harness.traffic import write_records
from router.cli import app
from router.ledger import Ledger
from router.ledger.tables import overhead_spend
from tests.servers import Process, start_gateway
from tests.test_learn import _traffic

ADMIN_KEY = "admin-learn-e2e"


def _policy(upstream: str) -> str:
    tier = """
  {name}:
    engine: openai
    model: {name}-model
    upstream_model: smollm2-upstream
    base_url: {upstream}/v1
    max_output_tokens: 8
    prices: {{input_per_mtok: {price}, output_per_mtok: {price}}}
"""
    tiers = "".join(tier.format(name=n, upstream=upstream, price=p) for n, p in (("small", 0.2), ("big", 10), ("judge", 20)))
    return f"version: 1\nname: learn-e2e\ntiers:{tiers}routing:\n  classifier: rules\n  long_prompt_words: 60\n  thresholds: {{big: 0.5}}\n"


@pytest.fixture(scope="module")
def served(llama_server: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, Path, str]]:
    work = tmp_path_factory.mktemp("learn-e2e")
    policy = work / "policy.yaml"
    policy.write_text(_policy(llama_server.url))
    db = f"sqlite:///{work}/ledger.db"
    gateway = start_gateway(policy, work, env={"SWITCHYARD_DATABASE_URL": db, "SWITCHYARD_ADMIN_KEY": ADMIN_KEY})
    try:
        client = OpenAI(base_url=gateway.url + "/v1", api_key="unused", timeout=60)
        for i in range(6):
            client.chat.completions.create(model="auto", messages=[{"role": "user", "content": f"What is {i} + {i}?"}], max_tokens=8)
        yield gateway, policy, db
    finally:
        gateway.stop()


def _route(gateway: Process) -> dict:
    body = {"model": "auto", "messages": [{"role": "user", "content": "Prove that the series of one over k factorial converges."}]}
    response = httpx.post(gateway.url + "/v1/route", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_ledger_traffic_is_exported_labeled_by_the_judge_and_too_little_is_refused(served, tmp_path: Path) -> None:
    _gateway, policy, db = served
    before = policy.read_bytes()
    workdir = tmp_path / "learn"
    args = ["learn", "--policy", str(policy), "--database-url", db, "--since", "1h", "--judge", "judge", "--trust-judge"]
    args += ["--sample", "6", "--max-tokens", "8", "--operator-only", "--workdir", str(workdir), "--min-coverage", "0"]
    result = CliRunner().invoke(app, args)
    out = " ".join(result.output.split())
    assert result.exit_code == 3, result.output
    assert "exported 6 requests from the ledger" in out
    assert "too few labeled prompts" in out or "fewer than two" in out or "strong model is not better" in out
    labeled = next(workdir.glob("labeled-*.jsonl"))
    rows = [json.loads(line) for line in labeled.read_text().splitlines()]
    assert len(rows) == 6
    for row in rows:  # both tiers answered (or were reused from the ledger) and each answer has a grade or an explicit none
        assert set(row["meta"]["grades"]) == {"small-model", "big-model"}
        for grade in row["meta"]["grades"].values():
            assert grade["grader"] in ("judge:single", "error")
    assert policy.read_bytes() == before
    # The run's calls (the real judge's verdicts, the tiers' answers) are booked in the ledger, priced at the tiers' prices.
    ledger = Ledger(db)
    try:
        with ledger.engine.connect() as connection:
            booked = [dict(r._mapping) for r in connection.execute(select(overhead_spend))]
    finally:
        ledger.close()
    judged = [r for r in booked if r["kind"] == "judge"]
    assert judged and all(r["tier"] == "judge" and r["calls"] > 0 for r in judged)
    assert sum(r["cost_nanousd"] for r in judged) == sum((r["prompt_tokens"] + r["completion_tokens"]) * 20_000 for r in judged)


def test_promotion_hot_reloads_the_gateway_and_rollback_restores_it(served, tmp_path: Path) -> None:
    gateway, policy, _ = served
    before = policy.read_bytes()
    assert _route(gateway)["classifier"].startswith("length")
    data = tmp_path / "labeled.jsonl"
    records = [r.model_copy(update={"scores": {"small-model": r.scores["weak-m"], "big-model": r.scores["strong-m"]}}) for r in _traffic()]
    write_records(data, records)
    workdir = tmp_path / "learn"
    common = ["--policy", str(policy), "--workdir", str(workdir), "--reload-url", gateway.url]
    env = {"SWITCHYARD_ADMIN_KEY": ADMIN_KEY}
    promoted = CliRunner().invoke(app, ["learn", *common, "--data", str(data), "--operator-only", "--bootstrap", "20"], env=env)
    assert promoted.exit_code == 0, promoted.output
    assert "promoted:" in promoted.output and "reloaded the policy" in promoted.output
    after = _route(gateway)
    assert after["classifier"].startswith("trained"), after
    back = CliRunner().invoke(app, ["learn", *common, "--rollback"], env=env)
    assert back.exit_code == 0, back.output
    assert policy.read_bytes() == before
    assert _route(gateway)["classifier"].startswith("length")


def test_reload_refused_without_the_admin_key_puts_the_old_policy_back(served, tmp_path: Path) -> None:
    gateway, policy, _ = served
    before = policy.read_bytes()
    data = tmp_path / "labeled.jsonl"
    records = [r.model_copy(update={"scores": {"small-model": r.scores["weak-m"], "big-model": r.scores["strong-m"]}}) for r in _traffic()]
    write_records(data, records)
    args = ["learn", "--policy", str(policy), "--workdir", str(tmp_path / "learn"), "--reload-url", gateway.url]
    result = CliRunner().invoke(
        app, [*args, "--data", str(data), "--operator-only", "--bootstrap", "20"], env={"SWITCHYARD_ADMIN_KEY": "wrong"}
    )
    assert result.exit_code == 4, result.output
    assert policy.read_bytes() == before
