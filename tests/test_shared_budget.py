"""Two gateway processes sharing Redis (and Postgres where it runs) enforce one budget."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from router.accounting import prompt_token_bound
from router.cli import app
from router.ledger import Ledger
from router.schemas import parse_chat_request
from router.tenancy.quota import RedisQuotaStore
from tests.servers import Process, start_gateway

pytestmark = pytest.mark.slow
BUDGET_USD = "1.00"
PRICE = 1000  # $/Mtok for input and output alike, so a handful of tokens is real money


def test_two_gateways_two_hundred_requests_one_budget(llama_server: Process, redis_url: str, pg_schema_url: str, tmp_path: Path) -> None:
    ledger_url = pg_schema_url
    asyncio.run(_flush(redis_url))
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"""
version: 1
tiers:
  paid:
    engine: openai
    model: paid
    upstream_model: smollm2-upstream
    base_url: {llama_server.url}/v1
    max_output_tokens: 2
    prices: {{input_per_mtok: {PRICE}, output_per_mtok: {PRICE}}}
cache: {{exact: false, semantic: false}}  # identical prompts: with a cache most would cost nothing
"""
    )
    env = {"SWITCHYARD_DATABASE_URL": ledger_url, "SWITCHYARD_REDIS_URL": redis_url}
    created = CliRunner().invoke(app, ["keys", "create", "--tenant", "acme", "--team", "ml", "--budget-usd", BUDGET_USD, "--json"], env=env)
    assert created.exit_code == 0, created.output
    key = json.loads(created.output)["key"]
    gateways = [start_gateway(policy, tmp_path, env=env) for _ in range(2)]
    try:
        statuses, bodies = asyncio.run(_storm([g.url for g in gateways], key, 200))
    finally:
        for gateway in gateways:
            gateway.stop()

    assert set(statuses) <= {200, 429}, statuses
    answered = statuses.count(200)
    assert answered > 0 and statuses.count(429) > 0
    assert all(b["error"]["type"] == "budget_exceeded" for s, b in zip(statuses, bodies, strict=True) if s == 429)

    message = "Say hello in one word."
    # The gateway's bound on the prompt (every byte sent, plus chat-template tokens) + max_tokens.
    worst_tokens = prompt_token_bound(parse_chat_request({"model": "auto", "messages": [{"role": "user", "content": message}]})) + 2
    worst_case = worst_tokens * PRICE * 1000  # nano-dollars
    ledger = Ledger(ledger_url)
    rows = [r for r in ledger.rows() if r["tenant"] == "acme"]
    ledger.close()
    settled = sum(r["cost_nanousd"] for r in rows)
    assert sum(r["status"] == "ok" for r in rows) == answered
    assert settled <= 1_000_000_000 + worst_case
    assert asyncio.run(_redis_state(redis_url)) == (0, settled)


async def _flush(redis_url: str) -> None:
    store = RedisQuotaStore(redis_url)
    await store.client.flushdb()
    await store.aclose()


async def _storm(urls: list[str], key: str, count: int) -> tuple[list[int], list[dict]]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        body = {"model": "paid", "messages": [{"role": "user", "content": "Say hello in one word."}], "max_tokens": 2}
        responses = await asyncio.gather(
            *[client.post(urls[i % len(urls)] + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})
              for i in range(count)]
        )
    return [r.status_code for r in responses], [r.json() for r in responses]


async def _redis_state(redis_url: str) -> tuple[int, int]:
    """(dangling reservations, settled spend on the budget's bucket) as Redis holds them."""
    store = RedisQuotaStore(redis_url)
    dangling = await store.dangling()
    keys = [k async for k in store.client.scan_iter("sy:budget:*")]
    spent = reserved = 0
    for key in keys:
        spent += int(await store.client.hget(key, "spent") or 0)
        reserved += int(await store.client.hget(key, "reserved") or 0)
    await store.aclose()
    assert reserved == 0
    return dangling, spent
