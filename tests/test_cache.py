"""Response caches: fingerprints, Cache-Control, tenant isolation, stream replay, shared Redis."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import openai
import pytest
from typer.testing import CliRunner

from policies.schema import CacheSettings
from router.cache.exact import MemoryExactStore
from router.cache.keys import exact_key, semantic_scope
from router.cache.responses import cache_control
from router.cli import app
from router.ledger import Ledger
from router.schemas import parse_chat_request
from tests.servers import Process, start_gateway

SHORT = [{"role": "user", "content": "Name one primary colour."}]


def chat(**overrides: object) -> object:
    return parse_chat_request({"model": "auto", "messages": SHORT, **overrides})


def test_exact_key_covers_everything_that_shapes_the_answer() -> None:
    base = exact_key("tenant:a", chat())
    assert exact_key("tenant:a", chat()) == base
    assert exact_key("tenant:b", chat()) != base
    assert exact_key("tenant:a", chat(model="local")) != base
    assert exact_key("tenant:a", chat(messages=[{"role": "system", "content": "Be terse."}, *SHORT])) != base
    assert exact_key("tenant:a", chat(temperature=0.7)) != base
    assert exact_key("tenant:a", chat(max_tokens=5)) != base
    assert exact_key("tenant:a", chat(tools=[{"type": "function", "function": {"name": "f"}}])) != base
    assert exact_key("tenant:a", chat(logprobs=True)) != base  # an answer cached without logprobs cannot serve them
    assert exact_key("tenant:a", chat(logprobs=True, top_logprobs=3)) != exact_key("tenant:a", chat(logprobs=True))
    assert exact_key("tenant:a", chat(stream=True)) == base  # how it is delivered does not change the answer
    assert semantic_scope("tenant:a", chat()) == semantic_scope("tenant:a", chat(messages=[{"role": "user", "content": "other"}]))
    assert semantic_scope("tenant:a", chat(messages=[*SHORT, {"role": "assistant", "content": "red"}])) is None


def test_cache_control() -> None:
    settings = CacheSettings(ttl_s=60)
    assert cache_control({}, settings) == cache_control({"cache-control": ""}, settings)
    assert cache_control({"cache-control": "no-cache"}, settings).lookup is False
    assert cache_control({"cache-control": "no-cache"}, settings).store is True
    assert cache_control({"cache-control": "No-Store"}, settings).store is False
    assert cache_control({"x-switchyard-cache-ttl": "5"}, settings).ttl_s == 5
    assert cache_control({"x-switchyard-cache-ttl": "0"}, settings).store is False


def test_memory_store_ttl_and_eviction() -> None:
    async def run() -> None:
        store = MemoryExactStore(max_entries=2)
        await store.set("a", b"1", 60)
        await store.set("b", b"2", 0.01)
        await asyncio.sleep(0.03)
        assert await store.get("b") is None
        await store.set("c", b"3", 60)
        await store.get("a")  # a is now the most recently used
        await store.set("d", b"4", 60)
        assert await store.get("c") is None and await store.get("a") == b"1" and len(store) == 2

    asyncio.run(run())


POLICY = """
version: 1
tiers:
  paid:
    engine: openai
    model: paid
    upstream_model: smollm2-upstream
    base_url: {upstream}/v1
    max_output_tokens: 8
    prices: {{input_per_mtok: 10, output_per_mtok: 30}}
# max_temperature 2: the tenant test caches answers sampled hot on purpose (each tenant's its own).
cache: {{exact: true, semantic: false, ttl_s: 600, max_temperature: 2}}
"""


@pytest.fixture()
def cache_gateway(llama_server: Process, tmp_path: Path) -> Process:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(upstream=llama_server.url))
    env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"}
    server = start_gateway(policy, tmp_path, env=env)
    server.database_url = env["SWITCHYARD_DATABASE_URL"]
    yield server
    server.stop()


@pytest.mark.slow
def test_hits_are_free_recorded_and_replayed_as_streams(cache_gateway: Process) -> None:
    sdk = openai.OpenAI(base_url=cache_gateway.url + "/v1", api_key="x", max_retries=0)
    first = sdk.chat.completions.with_raw_response.create(model="paid", messages=SHORT, max_tokens=8, temperature=0)
    assert first.headers["x-switchyard-cache"] == "miss" and float(first.headers["x-switchyard-cost-usd"]) > 0
    answer = first.parse().choices[0].message.content
    second = sdk.chat.completions.with_raw_response.create(model="paid", messages=SHORT, max_tokens=8, temperature=0)
    assert second.headers["x-switchyard-cache"] == "hit-exact" and float(second.headers["x-switchyard-cost-usd"]) == 0
    assert second.parse().choices[0].message.content == answer
    assert second.parse().id != first.parse().id

    streamed = list(sdk.chat.completions.create(model="paid", messages=SHORT, max_tokens=8, temperature=0, stream=True,
                                                stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == answer
    assert streamed[-1].usage.completion_tokens == first.parse().usage.completion_tokens
    assert streamed[-1].model_extra["switchyard"]["cache"] == "hit-exact"

    # A streamed answer is cached too, and served to a non-streaming client.
    other = [{"role": "user", "content": "Name one animal."}]
    streamed_text = "".join(c.choices[0].delta.content or "" for c in sdk.chat.completions.create(
        model="paid", messages=other, max_tokens=8, temperature=0, stream=True) if c.choices)
    again = sdk.chat.completions.with_raw_response.create(model="paid", messages=other, max_tokens=8, temperature=0)
    assert again.headers["x-switchyard-cache"] == "hit-exact" and again.parse().choices[0].message.content == streamed_text

    no_cache = sdk.chat.completions.with_raw_response.create(model="paid", messages=SHORT, max_tokens=8, temperature=0,
                                                             extra_headers={"cache-control": "no-cache"})
    assert no_cache.headers["x-switchyard-cache"] == "bypass"
    third = [{"role": "user", "content": "Name one fruit."}]
    for _ in range(2):
        kept = sdk.chat.completions.with_raw_response.create(model="paid", messages=third, max_tokens=8,
                                                             extra_headers={"cache-control": "no-store"})
        assert kept.headers["x-switchyard-cache"] == "bypass"

    ledger = Ledger(cache_gateway.database_url)
    rows = list(ledger.rows())
    ledger.close()
    hits = [r for r in rows if r["cache"] == "hit-exact"]
    assert len(hits) == 3 and all(r["cost_nanousd"] == 0 and r["saved_nanousd"] > 0 for r in hits)
    assert all(r["cost_nanousd"] > 0 for r in rows if r["cache"] in ("miss", "bypass"))


@pytest.mark.slow
def test_tenants_never_see_each_others_answers(llama_server: Process, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(upstream=llama_server.url))
    env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"}
    runner = CliRunner()
    keys = [json.loads(runner.invoke(app, ["keys", "create", "--tenant", f"t{i}", "--team", "x", "--json"], env=env).output)["key"]
            for i in range(10)]
    gateway = start_gateway(policy, tmp_path, env=env)
    # Sampling at a high temperature makes each tenant's first answer its own.
    body = {"model": "paid", "messages": SHORT, "max_tokens": 8, "temperature": 1.8}

    async def round_() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as client:
            return await asyncio.gather(*[client.post(gateway.url + "/v1/chat/completions", json=body,
                                                      headers={"authorization": f"Bearer {k}"}) for k in keys])

    try:
        first = asyncio.run(round_())
        second = asyncio.run(round_())
    finally:
        gateway.stop()
    assert all(r.status_code == 200 for r in first + second)
    assert [r.headers["x-switchyard-cache"] for r in first] == ["miss"] * 10
    assert [r.headers["x-switchyard-cache"] for r in second] == ["hit-exact"] * 10
    for mine, again in zip(first, second, strict=True):
        assert again.json()["choices"][0]["message"]["content"] == mine.json()["choices"][0]["message"]["content"]
    assert len({r.json()["choices"][0]["message"]["content"] for r in first}) > 1  # the answers did differ


@pytest.mark.slow
def test_three_gateways_share_redis_cache_and_budget(llama_server: Process, redis_url: str, pg_schema_url: str,
                                                      tmp_path: Path) -> None:
    """Scale-out: three replicas behind round-robin share one cache and one budget through Redis and Postgres."""
    from router.tenancy.quota import RedisQuotaStore

    async def flush() -> None:
        store = RedisQuotaStore(redis_url)
        await store.client.flushdb()
        await store.aclose()

    asyncio.run(flush())
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(upstream=llama_server.url))
    env = {"SWITCHYARD_DATABASE_URL": pg_schema_url, "SWITCHYARD_REDIS_URL": redis_url}
    created = CliRunner().invoke(app, ["keys", "create", "--tenant", "acme", "--team", "ml", "--budget-usd", "0.01", "--json"], env=env)
    key = json.loads(created.output)["key"]
    gateways = [start_gateway(policy, tmp_path, env=env) for _ in range(3)]
    headers = {"authorization": f"Bearer {key}"}
    try:
        replies = []
        for i in range(6):  # round-robin: the first answer is cached for all replicas
            body = {"model": "paid", "messages": SHORT, "max_tokens": 8, "temperature": 0}
            replies.append(httpx.post(gateways[i % 3].url + "/v1/chat/completions", json=body, headers=headers, timeout=60))
        spent = []
        for i in range(30):  # distinct prompts until the shared budget refuses, whichever replica is asked
            body = {"model": "paid", "messages": [{"role": "user", "content": f"Count to {i}."}], "max_tokens": 8}
            reply = httpx.post(gateways[i % 3].url + "/v1/chat/completions", json=body, headers=headers, timeout=60)
            spent.append(reply.status_code)
            if reply.status_code == 429:
                break
    finally:
        for gateway in gateways:
            gateway.stop()
    assert [r.headers["x-switchyard-cache"] for r in replies] == ["miss"] + ["hit-exact"] * 5
    assert len({r.json()["choices"][0]["message"]["content"] for r in replies}) == 1
    assert spent[-1] == 429 and spent.count(200) >= 1
    ledger = Ledger(pg_schema_url)
    total = sum(r["cost_nanousd"] for r in ledger.rows())
    ledger.close()
    assert total <= 10_000_000 + 2_000_000  # the budget plus at most one request's worst case


@pytest.mark.slow
def test_semantic_hits_and_guarded_near_duplicates(llama_server: Process, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(upstream=llama_server.url).replace("semantic: false", "semantic: true"))
    gateway = start_gateway(policy, tmp_path, env={"SWITCHYARD_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"})
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)

    def ask(text: str) -> tuple[str, str]:
        raw = sdk.chat.completions.with_raw_response.create(model="paid", messages=[{"role": "user", "content": text}], max_tokens=8)
        return raw.headers["x-switchyard-cache"], raw.parse().choices[0].message.content

    try:
        first = ask("What is the capital of France?")
        same_meaning = ask("what is the capital of France?")  # exact key differs; the meaning does not
        negated = ask("What is not the capital of France?")
        other_number = ask("What is the capital of France in 1500?")
    finally:
        gateway.stop()
    assert first[0] == "miss"
    assert same_meaning == ("hit-semantic", first[1])
    assert negated[0] == "miss" and other_number[0] == "miss"
