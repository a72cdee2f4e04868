"""Defect 14: bill what providers bill.

A paid upstream charges for tokens it generated even when the gateway never delivers them: a stream
cut by the upstream or by the client, a call the gateway timed out after the upstream had done its
work, an attempt that failed and was retried. The ledger must meter those calls (the usage the
upstream reported, or an estimate flagged as one) and settle them against the same budgets.
tests/faulty_upstream.py stands in for the paid provider.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from router.cli import app as cli
from router.export import traffic_record
from router.ledger import Ledger
from tests.faulty_upstream import PIECES, PROMPT_TOKENS, FaultyUpstream
from tests.servers import Process, start_gateway

ADMIN = "admin-billing-test"
MESSAGES = [{"role": "user", "content": "Say hello."}]
PRICE_PER_TOKEN = 1_000_000  # nano-dollars: $1000 per million tokens, input and output alike
NEVER_OPEN = "breaker: {failures: 1000, cooldown_s: 1}"  # every fault a test injects reaches the upstream
# "late" gives up after 0.5 s: the faulty upstream's `slow:1` answers (and bills) after that.
TIERS = {"cut": "{connect_s: 1, read_s: 5, total_s: 5}", "late": "{connect_s: 1, read_s: 5, total_s: 0.5}"}


def policy_text(upstream: str) -> str:
    tiers = "".join(
        f"""
  {name}:
    engine: openai
    model: {name}
    upstream_model: {name}
    base_url: {upstream}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 1000, output_per_mtok: 1000}}
    timeouts: {timeouts}
    {NEVER_OPEN}"""
        for name, timeouts in TIERS.items()
    )
    return f"""
version: 1
name: billing
tiers:{tiers}
routing: {{classifier: rules}}
cache: {{exact: false, semantic: false}}
resilience:
  retry: {{attempts: 2, base_delay_s: 0.01, max_delay_s: 0.05, max_retry_after_s: 2, budget_s: 5}}
"""


@pytest.fixture(scope="module")
def gw(upstream: FaultyUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    work: Path = tmp_path_factory.mktemp("billing")
    policy = work / "policy.yaml"
    policy.write_text(policy_text(upstream.url))
    url = f"sqlite:///{work}/ledger.db"
    env = {"SWITCHYARD_DATABASE_URL": url, "SWITCHYARD_ADMIN_KEY": ADMIN}
    args = ["keys", "create", "--tenant", "payer", "--team", "ops", "--budget-usd", "1000", "--period", "total", "--json"]
    created = CliRunner().invoke(cli, args, env=env)
    assert created.exit_code == 0, created.output
    server = start_gateway(policy, work, env=env)
    server.database_url = url
    info = json.loads(created.output)
    server.key, server.key_id = info["key"], info["key_id"]  # type: ignore[attr-defined]
    yield server
    server.stop()


def script(upstream: FaultyUpstream, model: str, modes: list[str], default: str = "ok") -> None:
    httpx.post(upstream.url + "/control", json={"model": model, "script": modes, "default": default}).raise_for_status()


def body(model: str, stream: bool) -> dict[str, Any]:
    return {"model": model, "messages": MESSAGES, "max_tokens": 16, "stream": stream}


def auth(gw: Process) -> dict[str, str]:
    return {"authorization": f"Bearer {gw.key}"}  # type: ignore[attr-defined]


def ask(gw: Process, model: str, *, stream: bool = False) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", json=body(model, stream), headers=auth(gw), timeout=20)


def budget(gw: Process) -> tuple[int, int]:
    """(spent, reserved) of the key's budget, in nano-dollars."""
    data = httpx.get(gw.url + "/admin/budgets", headers={"authorization": f"Bearer {ADMIN}"}).json()["data"]
    (mine,) = [b for b in data if b["scope"] == "key" and b["scope_id"] == gw.key_id]  # type: ignore[attr-defined]
    return round(mine["spent_usd"] * 1e9), round(mine["reserved_usd"] * 1e9)


def row(gw: Process, request_id: str) -> dict[str, Any]:
    """The request's ledger row, once written (a cancelled stream settles after its client left)."""
    deadline = time.monotonic() + 10
    while True:
        ledger = Ledger(gw.database_url)
        found = [r for r in ledger.rows() if r["request_id"] == request_id]
        ledger.close()
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert found, f"no ledger row for {request_id}"
    return found[0]


def settled(gw: Process, before: int, cost: int) -> None:
    """The budget's spend grew by exactly the row's cost, and nothing is left reserved."""
    deadline = time.monotonic() + 10
    while (now := budget(gw)) != (before + cost, 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert now == (before + cost, 0), f"budget (spent, reserved) {now}; expected ({before + cost}, 0)"


def estimated(found: dict[str, Any]) -> Any:
    return (found["decision"] or {}).get("usage_estimated")


PLAIN_COST = (PROMPT_TOKENS + len(PIECES)) * PRICE_PER_TOKEN  # what one "ok" answer reports and costs


def test_plain_answer_costs_what_the_upstream_reported(gw: Process, upstream: FaultyUpstream) -> None:
    script(upstream, "cut", [])
    before, _ = budget(gw)
    response = ask(gw, "cut")
    assert response.status_code == 200, response.text
    found = row(gw, response.headers["x-switchyard-request-id"])
    assert found["cost_nanousd"] == PLAIN_COST and not estimated(found)
    settled(gw, before, PLAIN_COST)


def test_stream_cut_by_the_upstream_is_billed_as_a_flagged_estimate(gw: Process, upstream: FaultyUpstream) -> None:
    script(upstream, "cut", [], default="die")  # two chunks, then the connection drops
    before, _ = budget(gw)
    response = ask(gw, "cut", stream=True)
    assert response.status_code == 200
    found = row(gw, response.headers["x-switchyard-request-id"])
    assert found["status"] == "error" and found["completion_tokens"] >= 2
    assert found["cost_nanousd"] > 0 and estimated(found), found
    settled(gw, before, found["cost_nanousd"])


def test_client_leaving_mid_stream_is_billed_as_a_flagged_estimate(gw: Process, upstream: FaultyUpstream) -> None:
    script(upstream, "cut", [], default="slowchunks:0.3")
    before, _ = budget(gw)
    with httpx.stream("POST", gw.url + "/v1/chat/completions", json=body("cut", True), headers=auth(gw), timeout=10) as response:
        assert response.status_code == 200
        request_id = response.headers["x-switchyard-request-id"]
        lines = response.iter_lines()
        while not next(lines).startswith("data: "):
            pass  # leave after the first token
    found = row(gw, request_id)
    assert found["status"] == "cancelled" and found["completion_tokens"] >= 1
    assert found["cost_nanousd"] > 0 and estimated(found), found
    settled(gw, before, found["cost_nanousd"])


def test_timeout_after_the_upstream_answered_is_billed_and_settled(gw: Process, upstream: FaultyUpstream) -> None:
    script(upstream, "late", [], default="slow:1")  # every attempt answers after the gateway gave up
    before, _ = budget(gw)
    started = time.monotonic()
    response = ask(gw, "late")
    assert response.status_code == 504, response.text
    assert time.monotonic() - started < 5
    found = row(gw, response.headers["x-switchyard-request-id"])
    assert found["status"] == "error"
    # Both attempts (the first and its retry) ran to the end upstream: at least their prompts are billed.
    assert found["cost_nanousd"] >= 2 * PRICE_PER_TOKEN and estimated(found), found
    settled(gw, before, found["cost_nanousd"])  # settled, not released


@pytest.mark.parametrize(("failure", "stream"), [("slow:1", False), ("die", False), ("slow:1", True)])
def test_a_retried_attempt_is_billed_with_the_answer(gw: Process, upstream: FaultyUpstream, failure: str, stream: bool) -> None:
    tier = "late" if failure.startswith("slow") else "cut"
    script(upstream, tier, [failure], default="ok")  # the first attempt generated and failed; its retry answers
    before, _ = budget(gw)
    response = ask(gw, tier, stream=stream)
    assert response.status_code == 200, response.text
    found = row(gw, response.headers["x-switchyard-request-id"])
    assert found["status"] == "ok"
    assert found["cost_nanousd"] > PLAIN_COST and estimated(found), found
    (attempt,) = found["decision"]["billed_attempts"]
    assert attempt["tier"] == tier and attempt["estimated"]
    assert found["cost_nanousd"] == PLAIN_COST + (attempt["prompt_tokens"] + attempt["completion_tokens"]) * PRICE_PER_TOKEN
    # Exported traffic files the answer's own usage under its model, not the failed attempt's.
    usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": len(PIECES)}
    assert traffic_record(found)["usage"] == {tier: usage}
    settled(gw, before, found["cost_nanousd"])
