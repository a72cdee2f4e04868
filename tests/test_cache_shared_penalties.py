"""A wrong semantic hit found out in one replica is undone in all of them, through the Redis the
replicas already share: the entry is evicted and its scope's rule tightened everywhere, a replica that
starts later gets both, feedback sent to a replica that did not serve the hit reaches the one that did,
and none of it adds a Redis command to a lookup.

Real Redis (the session's private redis-server, or SWITCHYARD_TEST_REDIS_URL); vectors from a
deterministic bag-of-words embedder, so every hit asserted is the verifier's exact string logic."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from policies.loader import load_policy_text
from policies.schema import CacheSettings
from policies.settings import current as current_settings
from router.app import create_app
from router.cache.responses import STREAM, TIGHTENED, TIGHTENED_AT, CacheControl, ResponseCache
from router.gateway import Gateway
from router.ledger import Ledger
from router.schemas import parse_chat_request
from tests.servers import start_redis
from tests.test_cache_audit import DIM, BagEmbedder, bag_embed

KEEP = CacheControl(lookup=True, store=True, ttl_s=600)


def chat(text: str) -> Any:
    return parse_chat_request({"model": "auto", "messages": [{"role": "user", "content": text}]})


def query(text: str) -> Any:
    async def get() -> np.ndarray:
        return bag_embed(text)

    return get


async def embed_texts(texts: Sequence[str]) -> list[np.ndarray | None]:
    return [bag_embed(t) for t in texts]


async def replica(redis_url: str) -> ResponseCache:
    cache = ResponseCache(CacheSettings(exact=False, semantic=True), redis_url)
    cache.attach_embedder(DIM, "bag-of-words", embed_texts)
    cache.index.threshold = 0.5
    await cache.start()
    return cache


async def until(check: Any, what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def answer(cache: ResponseCache, tenant: str, text: str, request_id: str | None = None) -> str | None:
    hit = await cache.lookup(tenant, chat(text), query(text), request_id=request_id)
    return None if hit is None else hit.entry["response"]


def test_feedback_on_one_replica_evicts_and_tightens_in_every_replica(redis_url: str) -> None:
    tenant = f"t-{uuid.uuid4().hex}"
    kept, reworded = "what is a functor", "What is a functor?"

    async def scenario() -> dict[str, Any]:
        # The penalty counts below are of this test's records: the session's Redis may hold other tests' (a
        # replica replays the whole shared stream at start), so the shared keys start empty here.
        import redis.asyncio as redis

        client: Any = redis.from_url(redis_url)
        await client.delete(STREAM, TIGHTENED, TIGHTENED_AT)
        await client.aclose()
        a, b = await replica(redis_url), await replica(redis_url)
        late: ResponseCache | None = None
        try:
            await a.store(tenant, chat(kept), KEEP, {"response": "functor"}, query(kept))
            await a.drain()
            await until(lambda: len(b.index) >= 1 and b.index.may_match(scope(b), reworded), "b to tail a's entry")
            served_by_b = await answer(b, tenant, reworded, request_id="rid-b")
            # The user tells replica a (behind the same load balancer) that b's answer was wrong.
            applied_on_a = a.feedback("rid-b", 0.0)
            await until(lambda: not b.index.may_match(scope(b), kept) and not a.index.may_match(scope(a), kept), "the eviction")
            await until(lambda: a.index.min_alignment_for(scope(a)) > 1.0, "a's tightening")
            after = {"a": await answer(a, tenant, reworded), "b": await answer(b, tenant, reworded)}
            # A replica started now replays the stream (the entry, then its penalty) and reads the tightened rule.
            late = await replica(redis_url)
            await until(lambda: late is not None and late.index.min_alignment_for(scope(late)) > 1.0, "the late replica's rule")
            await asyncio.sleep(0.2)  # the tail has replayed what the stream holds by now; nothing of it may hit
            late_answer = await answer(late, tenant, reworded)
            return {"served_by_b": served_by_b, "applied_on_a": applied_on_a, "after": after, "late": late_answer,
                    "needs": [c.index.min_alignment_for(scope(c)) for c in (a, b, late)],
                    "penalties": [dict(c.penalties) for c in (a, b, late)]}
        finally:
            for cache in (a, b, late):
                if cache is not None:
                    await cache.aclose()

    def scope(cache: ResponseCache) -> str:
        from router.cache.keys import semantic_scope

        found = semantic_scope(cache.scope(tenant), chat(kept))
        assert found is not None
        return found

    out = asyncio.run(scenario())
    assert out["served_by_b"] == "functor"
    assert out["applied_on_a"] is False  # a did not serve it: the verdict went to b through the stream
    assert out["after"] == {"a": None, "b": None}
    assert out["late"] is None
    assert all(need > 1.0 for need in out["needs"])
    (pa, pb, pl) = out["penalties"]
    assert pa["forwarded"] == 1 and pb["feedback"] == 1 and pb["shared"] == 1 and pa["peer"] == 1 and pl["peer"] >= 1


def test_penalties_add_no_redis_command_to_a_lookup(tmp_path: Path) -> None:
    """Counted by the server (a private redis-server, so only this test's commands are there): misses and hits
    on two replicas send nothing to Redis but the tails' blocking reads, before and after a penalty."""
    server = start_redis(tmp_path)
    if server is None:
        pytest.skip("redis-server is not installed")
    tenant = "t-count"

    async def scenario() -> dict[str, int]:
        import redis.asyncio as redis

        admin: Any = redis.from_url(server.url)
        a, b = await replica(server.url), await replica(server.url)
        try:
            await a.store(tenant, chat("how do i sort a list in Python"), KEEP, {"response": "sorted"}, query("x"))
            await a.drain()
            await until(lambda: len(b.index) == 1, "b to tail the entry")
            await admin.config_resetstat()
            for i in range(50):
                for cache in (a, b):
                    assert await answer(cache, tenant, f"what is the boiling point of compound {i}") is None
                    assert await answer(cache, tenant, "How do I sort a list in Python?", request_id=f"r{i}") == "sorted"
            stats = await admin.info("commandstats")
            # A penalty costs one script call; later lookups still cost nothing.
            assert b.feedback("r3", 0.0)
            await b.drain()
            await until(lambda: len(a.index) == 0, "the eviction on a")
            await admin.config_resetstat()
            for i in range(50):
                for cache in (a, b):
                    assert await answer(cache, tenant, f"what is the melting point of compound {i}") is None
            after = await admin.info("commandstats")
            await admin.aclose()
            return {"before": _calls(stats), "after": _calls(after)}
        finally:
            await a.aclose()
            await b.aclose()

    try:
        out = asyncio.run(scenario())
    finally:
        server.stop()
    # Only the two tails' blocking reads (one a second each at most, or when a record arrives) and the counter's own calls.
    for counts in out.values():
        assert set(counts) <= {"xread", "config|resetstat", "info"}, counts
        assert counts.get("xread", 0) <= 20


def _calls(commandstats: dict[str, Any]) -> dict[str, int]:
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in commandstats.items()}


class BagGateway(Gateway):
    async def _start_embedder(self) -> None:
        self._embedder = BagEmbedder()
        self.cache.attach_embedder(DIM, "bag-of-words", self.embed_texts)
        self.cache.index.threshold = 0.5


def test_two_gateways_share_an_audits_verdict_and_a_users_feedback(redis_url: str, tmp_path: Path) -> None:
    """Two gateway replicas (real apps in process, fake engine) on one ledger and one Redis: an audit on one
    evicts the entry from the other; feedback posted to one on a hit the other served undoes it on both."""
    url = f"sqlite:///{tmp_path}/ledger.db"
    settings = dataclasses.replace(current_settings(), redis_url=redis_url, database_url=url)
    words = uuid.uuid4().hex[:8]  # a fresh entry: the stream is shared with other tests
    policy = lambda rate: load_policy_text(f"""
version: 1
name: replicas
tiers:
  local: {{engine: fake, model: local-fake, max_output_tokens: 32, prices: {{input_per_mtok: 1000, output_per_mtok: 2000}}}}
routing: {{classifier: rules}}
cache: {{exact: false, semantic: true, audit_rate: {rate}}}
""")  # noqa: E731

    async def scenario() -> dict[str, Any]:
        a = BagGateway(policy(1.0), ledger=Ledger(url), settings=settings)
        b = BagGateway(policy(0.0), ledger=Ledger(url), settings=settings)
        await a.start()
        await b.start()
        try:
            ca = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(a)), base_url="http://a")
            cb = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(b)), base_url="http://b")

            async def ask(client: httpx.AsyncClient, text: str, temperature: float = 0) -> httpx.Response:
                body = {"model": "local", "messages": [{"role": "user", "content": text}], "temperature": temperature}
                reply = await client.post("/v1/chat/completions", json=body)
                assert reply.status_code == 200, reply.text
                return reply

            # 1. An audit on a: b's copy of the entry goes too.
            first = f"what is the capital {words} of France"
            await ask(cb, first)
            await b.cache.drain()
            await until(lambda: len(a.cache.index) >= 1 and a.cache.index.may_match(_scope(a, first), first), "a to tail b's entry")
            audited = await ask(ca, f"Hey, {first}?")  # a's hit, audited: the echo differs ("hey")
            await a.cache.auditor.drain()
            await a.cache.drain()
            await until(lambda: not b.cache.index.may_match(_scope(b, first), first), "b's eviction")
            # 2. Feedback to a on a hit b served (in another scope: the audit left the first one matching the same text only).
            second = f"how do i reverse a list {words} in Python"
            await ask(ca, second, 0.5)
            await a.cache.drain()
            await until(lambda: b.cache.index.may_match(_scope(b, second, 0.5), second), "b to tail a's entry")
            served = await ask(cb, f"How do I reverse a list {words} in Python?", 0.5)
            rid = served.headers["x-switchyard-request-id"]
            assert b.ledger.flush()
            posted = await ca.post("/v1/feedback", json={"request_id": rid, "score": 0})
            await until(lambda: not a.cache.index.may_match(_scope(a, second, 0.5), second), "a's eviction after b applied it")
            again = await ask(cb, f"How do I reverse a list {words} in Python?", 0.5)
            await ca.aclose()
            await cb.aclose()
            return {"audited": audited.headers["x-switchyard-cache"], "served": served.headers["x-switchyard-cache"],
                    "posted": posted.status_code, "again": again.headers["x-switchyard-cache"],
                    "a": a.cache.stats()["penalties"], "b": b.cache.stats()["penalties"]}
        finally:
            await a.aclose()
            await b.aclose()

    out = asyncio.run(scenario())
    assert out["audited"] == "hit-semantic" and out["served"] == "hit-semantic" and out["posted"] == 200
    assert out["again"] == "miss"
    assert out["a"]["audit"] == 1 and out["a"]["forwarded"] == 1 and out["b"]["feedback"] == 1
    assert out["b"]["peer"] >= 1 and out["a"]["peer"] >= 1


def _scope(gateway: Gateway, text: str, temperature: float = 0) -> str:
    from router.cache.keys import semantic_scope

    chat = parse_chat_request({"model": "local", "messages": [{"role": "user", "content": text}], "temperature": temperature})
    found = semantic_scope(gateway.cache.scope("anonymous", chat), chat)
    assert found is not None
    return found


def test_a_replica_started_after_the_stream_lost_the_penalty_still_gets_the_tightened_rule(tmp_path: Path) -> None:
    """The stream is trimmed to cache.max_entries and expires; the tightened rule outlives it in its own
    Redis hash (expiring a week after the last penalty), which a replica reads when it starts."""
    server = start_redis(tmp_path)
    if server is None:
        pytest.skip("redis-server is not installed")

    async def scenario() -> dict[str, Any]:
        import redis.asyncio as redis

        cache = await replica(server.url)
        late: ResponseCache | None = None
        client: Any = redis.from_url(server.url)
        try:
            await cache.store("t", chat("what is a monad"), KEEP, {"response": "m"}, query("x"))
            hit = await cache.lookup("t", chat("What is a monad?"), query("What is a monad?"), request_id="r")
            assert hit is not None and hit.scope is not None
            assert cache.feedback("r", 0.2)
            await cache.drain()
            ttl, present = await client.pttl(TIGHTENED), await client.hexists(TIGHTENED, hit.scope)
            await client.delete(STREAM)  # trimmed or expired: the penalty record is gone
            late = await replica(server.url)
            await until(lambda: late is not None and late.index.min_alignment_for(hit.scope) > 1.0, "the late replica's rule")
            return {"ttl": ttl, "present": present, "other": late.index.min_alignment_for("another scope")}
        finally:
            await client.aclose()
            await cache.aclose()
            if late is not None:
                await late.aclose()

    try:
        out = asyncio.run(scenario())
    finally:
        server.stop()
    assert out["present"] and 0 < out["ttl"] <= 7 * 86400 * 1000
    assert out["other"] == 1.0  # only the penalized scope is tightened
