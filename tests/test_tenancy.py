"""Keys, budgets and rate limits: the stores' atomic semantics and the gateway's enforcement."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import openai
import pytest
from typer.testing import CliRunner

from router.cli import app
from router.ledger import Ledger
from router.tenancy.budgets import window
from router.tenancy.keys import KeyStore
from router.tenancy.quota import Bucket, MemoryQuotaStore, QuotaStore, RedisQuotaStore
from tests.servers import Process, start_gateway

SHORT = [{"role": "user", "content": "Say hello in one word."}]


def bucket(key: str, limit: int, seed: int = 0, hard: bool = True) -> Bucket:
    return Bucket(key=key, name=f"budget {key}", limit=limit, hard=hard, expires_at=time.time() + 3600, seed=lambda: seed)


def test_windows() -> None:
    now = datetime(2026, 11, 23, 18, 30, tzinfo=UTC)
    assert window("daily", now)[2] == "2026-11-23"
    assert window("weekly", now)[0] == datetime(2026, 11, 23, tzinfo=UTC)  # a Monday
    start, end, label = window("monthly", datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    assert (start.month, end.year, end.month, label) == (12, 2027, 1, "2026-12")
    assert window("total", now) == (None, None, "total")
    with pytest.raises(ValueError):
        window("hourly", now)


async def exercise(store: QuotaStore, prefix: str) -> None:
    a, b = bucket(f"{prefix}:a", 100, seed=10), bucket(f"{prefix}:b", 1000)
    assert await store.reserve("r1", [a, b], 60, ttl_s=60) is None
    assert await store.usage(a) == (10, 60)
    over = await store.reserve("r2", [a, b], 31, ttl_s=60)
    assert over is not None and over.key == a.key  # 10 + 60 + 31 > 100: nothing reserved
    assert await store.usage(b) == (0, 60)
    await store.settle("r1", [a, b], 25)
    assert await store.usage(a) == (35, 0) and await store.usage(b) == (25, 0)
    assert await store.reserve("r3", [a], 65, ttl_s=60) is None
    await store.release("r3", [a])
    assert await store.usage(a) == (35, 0)
    # A soft budget never refuses.
    soft = bucket(f"{prefix}:soft", 1, hard=False)
    assert await store.reserve("r4", [soft], 50, ttl_s=60) is None
    await store.settle("r4", [soft], 50)
    # An abandoned reservation lapses after its ttl and is swept by the next reservation.
    assert await store.reserve("r5", [a], 60, ttl_s=0.05) is None
    await asyncio.sleep(0.1)
    assert await store.reserve("r6", [a], 60, ttl_s=60) is None
    await store.release("r6", [a])
    assert await store.dangling() == 0
    # Settling a lapsed reservation still charges what was spent, once.
    await store.settle("r5", [a], 5)
    assert await store.usage(a) == (40, 0)
    # Rate windows.
    assert await store.hit_rate(f"{prefix}:rpm", 1, 2, 60) is None
    assert await store.hit_rate(f"{prefix}:rpm", 1, 2, 60) is None
    wait = await store.hit_rate(f"{prefix}:rpm", 1, 2, 60)
    assert wait is not None and 0 < wait <= 60


def test_memory_store() -> None:
    asyncio.run(exercise(MemoryQuotaStore(), "mem"))


def test_redis_store(redis_url: str) -> None:
    async def run() -> None:
        store = RedisQuotaStore(redis_url)
        try:
            await store.client.flushdb()
            await exercise(store, "redis")
        finally:
            await store.aclose()

    asyncio.run(run())


def test_redis_reservations_are_atomic_under_concurrency(redis_url: str) -> None:
    async def run() -> int:
        stores = [RedisQuotaStore(redis_url) for _ in range(4)]
        await stores[0].client.flushdb()
        shared = bucket("race", 1000)
        results = await asyncio.gather(*[stores[i % 4].reserve(f"x{i}", [shared], 7, ttl_s=60) for i in range(400)])
        spent, reserved = await stores[0].usage(shared)
        for store in stores:
            await store.aclose()
        assert spent == 0 and reserved == 7 * sum(r is None for r in results)
        return sum(r is None for r in results)

    assert asyncio.run(run()) == 1000 // 7


def test_keys_hashed_revoked_rotated(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path}/k.db")
    ledger.migrate()
    keys = KeyStore(ledger.engine)
    assert not keys.any_keys()
    secret, info = keys.create("acme", "ml", rpm=5)
    assert secret.startswith("sk-sy-") and keys.authenticate(secret) == keys.authenticate(secret)
    with ledger.engine.connect() as connection:
        stored = connection.exec_driver_sql("select key_hash from api_keys").scalar_one()
    assert secret not in stored and len(stored) == 64
    new_secret, _ = keys.rotate(info.key_id) or ("", None)
    assert keys.authenticate(secret) is None and keys.authenticate(new_secret).tenant == "acme"
    assert keys.revoke(info.key_id) and keys.authenticate(new_secret) is None
    ledger.close()


@pytest.fixture()
def tenancy_gateway(llama_server: Process, tmp_path: Path) -> Process:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"""
version: 1
tiers:
  cheap:
    engine: openai
    model: cheap
    upstream_model: smollm2-upstream
    base_url: {llama_server.url}/v1
    max_output_tokens: 2
    prices: {{input_per_mtok: 1000, output_per_mtok: 1000}}
  cheaper:
    engine: openai
    model: cheaper
    upstream_model: smollm2-upstream
    base_url: {llama_server.url}/v1
    max_output_tokens: 2
    prices: {{input_per_mtok: 1, output_per_mtok: 1}}
routing:
  classifier: rules
  thresholds: {{cheap: 0.0}}
  budget_downgrade_below: 0.5
cache: {{exact: false, semantic: false}}  # every request here must reach the engine and be charged
"""
    )
    url = f"sqlite:///{tmp_path}/ledger.db"
    env = {"SWITCHYARD_DATABASE_URL": url}
    runner = CliRunner()
    args = ["keys", "create", "--tenant", "acme", "--team", "ml", "--budget-usd", "0.25", "--rpm", "1000", "--json"]
    created = runner.invoke(app, args, env=env)
    assert created.exit_code == 0, created.output
    limited = runner.invoke(app, ["keys", "create", "--tenant", "acme", "--team", "web", "--rpm", "2", "--json"], env=env)
    server = start_gateway(policy, tmp_path, env=env)
    server.database_url = url
    import json

    server.keys = {"budgeted": json.loads(created.output)["key"], "limited": json.loads(limited.output)["key"]}  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.mark.slow
def test_keys_budgets_and_rate_limits_in_the_gateway(tenancy_gateway: Process) -> None:
    gw = tenancy_gateway
    url = gw.url + "/v1/chat/completions"
    body = {"model": "cheap", "messages": SHORT, "max_tokens": 2}
    assert httpx.post(url, json=body).status_code == 401
    assert httpx.post(url, json=body, headers={"authorization": "Bearer sk-sy-wrong"}).json()["error"]["code"] == "invalid_api_key"

    budgeted = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys["budgeted"], max_retries=0)  # type: ignore[attr-defined]
    answered, refused = 0, None
    for _ in range(40):
        try:
            budgeted.chat.completions.create(model="cheap", messages=SHORT, max_tokens=2)
            answered += 1
        except openai.RateLimitError as exc:
            refused = exc
            break
    assert refused is not None and answered > 0
    assert refused.body["type"] == "budget_exceeded" and "monthly hard budget of $0.25" in refused.body["message"]

    # Settled spend in the ledger never passes the budget, and refusals were charged nothing.
    ledger = Ledger(gw.database_url)
    rows = list(ledger.rows())
    spent = sum(r["cost_nanousd"] for r in rows if r["team"] == "ml")
    assert 0 < spent <= 250_000_000
    assert all(r["cost_nanousd"] == 0 for r in rows if r["status"] == "rejected")
    ledger.close()

    # Near the end of the budget, routed requests are downgraded to the cheapest tier instead.
    raw = budgeted.chat.completions.with_raw_response.create(model="auto", messages=SHORT, max_tokens=2)
    assert raw.headers["x-switchyard-tier"] == "cheaper"

    limited = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys["limited"], max_retries=0)  # type: ignore[attr-defined]
    limited.chat.completions.create(model="cheaper", messages=SHORT, max_tokens=1)
    limited.chat.completions.create(model="cheaper", messages=SHORT, max_tokens=1)
    with pytest.raises(openai.RateLimitError) as caught:
        limited.chat.completions.create(model="cheaper", messages=SHORT, max_tokens=1)
    assert caught.value.body["code"] == "rate_limit_exceeded"
    assert int(caught.value.response.headers["retry-after"]) >= 1
