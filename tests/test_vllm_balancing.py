"""The vLLM engine against several real fake-vLLM servers on 127.0.0.1: affinity, spill-over, failures."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from engines.base import EngineError, EngineRequest
from engines.vllm import VLLMEngine, affinity_key
from policies.vllm import VLLMSettings
from tests.fake_vllm import FakeVLLM

pytestmark = pytest.mark.timeout(60)
Body = Callable[[VLLMEngine, list[FakeVLLM]], Awaitable[None]]


def settings(fakes: list[FakeVLLM], **balancing: Any) -> VLLMSettings:
    # Long intervals: the tests drive probes and scrapes themselves, so nothing races them.
    return VLLMSettings.model_validate(
        {
            "replicas": [f.url + "/v1" for f in fakes],
            "balancing": {"health_interval_s": 30, "metrics_interval_s": 30, "probe_timeout_s": 1, **balancing},
            "cache_salt": {"tenants": ["acme", "globex"], "secret_env": "SWITCHYARD_TEST_SALT_SECRET"},
        }
    )


def run(body: Body, replicas: int = 3, **balancing: Any) -> None:
    async def main() -> None:
        fakes = [await FakeVLLM(name).start() for name in "abcd"[:replicas]]
        engine = VLLMEngine("tier-model", settings(fakes, **balancing), connect_timeout=1, read_timeout=5)
        await engine.start()
        try:
            await asyncio.wait_for(body(engine, fakes), timeout=30)
        finally:
            await engine.aclose()
            for fake in fakes:
                await fake.stop()

    asyncio.run(main())


def conversation(system: str, turns: int, tag: str = "") -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for i in range(turns):
        messages.append({"role": "user", "content": f"question {i} {tag}"})
        if i < turns - 1:
            messages.append({"role": "assistant", "content": f"answer {i}"})
    return messages


def served_by(result: dict[str, Any]) -> str:
    return result["choices"][0]["message"]["content"].split()[0].removeprefix("from-")


async def ask(engine: VLLMEngine, messages: list[dict[str, Any]], tenant: str | None = None) -> str:
    result = await engine.complete(EngineRequest(model="tier-model", messages=messages, max_tokens=3, tenant=tenant))
    return served_by(result)


def test_conversations_stick_to_one_replica_and_spread_across_replicas() -> None:
    async def body(engine: VLLMEngine, fakes: list[FakeVLLM]) -> None:
        homes: dict[int, str] = {}
        for c in range(24):
            seen = {await ask(engine, conversation(f"You are assistant number {c}.", turns, tag=str(c))) for turns in (1, 2, 3)}
            assert len(seen) == 1, f"conversation {c} moved between replicas: {seen}"
            homes[c] = seen.pop()
        # Rendezvous hashing spreads distinct conversations: every replica gets some.
        assert set(homes.values()) == {"a", "b", "c"}
        assert sum(len(f.requests) for f in fakes) == 72
        assert sum(r.served["affinity"] for r in engine.pool.replicas) == 72

    run(body)


def test_system_mode_keeps_a_shared_system_prompt_together() -> None:
    async def body(engine: VLLMEngine, fakes: list[FakeVLLM]) -> None:
        system = "You are a support agent for a very large product catalogue. " * 20
        homes = {await ask(engine, [{"role": "system", "content": system}, {"role": "user", "content": f"q{i}"}]) for i in range(15)}
        assert len(homes) == 1
        others = {await ask(engine, [{"role": "system", "content": f"{i} other"}, {"role": "user", "content": "q"}]) for i in range(15)}
        assert len(others) > 1

    run(body, affinity="system")


def test_affinity_key_reads_only_the_prefix() -> None:
    first = conversation("sys", 1)
    later = conversation("sys", 3)
    assert affinity_key(first, "conversation", 4096) == affinity_key(later, "conversation", 4096)
    assert affinity_key(first, "conversation", 4096) != affinity_key(conversation("other", 1), "conversation", 4096)
    assert affinity_key(first, "conversation", 4096, salt="x") != affinity_key(first, "conversation", 4096, salt="y")
    long_a = [{"role": "system", "content": "x" * 100 + "a"}, {"role": "user", "content": "1"}]
    long_b = [{"role": "system", "content": "x" * 100 + "b"}, {"role": "user", "content": "2"}]
    assert affinity_key(long_a, "conversation", 50) == affinity_key(long_b, "conversation", 50)
    assert affinity_key(first, "off", 4096) is None


def test_spills_to_least_loaded_when_preferred_is_busy_and_comes_back() -> None:
    async def body(engine: VLLMEngine, fakes: list[FakeVLLM]) -> None:
        by_name = {f.name: f for f in fakes}
        messages = conversation("a shared prompt", 1)
        home = await ask(engine, messages)
        by_name[home].set(waiting=5, running=8)
        # The least loaded of the rest: make one of them visibly busier than the other.
        rest = [name for name in "abc" if name != home]
        by_name[rest[0]].set(running=6)
        await engine.scrape()
        spilled = {await ask(engine, messages) for _ in range(5)}
        assert spilled == {rest[1]}
        home_replica = next(r for r in engine.pool.replicas if r.root == by_name[home].url)
        target = next(r for r in engine.pool.replicas if r.root == by_name[rest[1]].url)
        assert target.served["spill"] == 5 and home_replica.served["spill"] == 0
        # A full KV cache counts as busy too, and the old (pre-v0.10) metric name is understood.
        by_name[home].set(waiting=0, running=1, kv_cache_usage=0.99, legacy_names=True)
        await engine.scrape()
        assert await ask(engine, messages) != home
        by_name[home].set(kv_cache_usage=0.2)
        await engine.scrape()
        assert await ask(engine, messages) == home

    run(body)


def test_in_flight_requests_count_towards_load() -> None:
    async def body(engine: VLLMEngine, fakes: list[FakeVLLM]) -> None:
        messages = conversation("hot prompt", 1)
        replica, _ = engine.pool.choose(affinity_key(messages, "conversation", 4096))
        replica.in_flight = 4  # as if this gateway had four requests outstanding there
        other, reason = engine.pool.choose(affinity_key(messages, "conversation", 4096))
        assert other is not replica and reason == "spill"
        replica.in_flight = 0

    run(body, max_running=4)


def test_failed_replica_is_skipped_then_reprobed() -> None:
    async def body(engine: VLLMEngine, fakes: list[FakeVLLM]) -> None:
        by_name = {f.name: f for f in fakes}
        messages = conversation("prompt for failover", 1)
        home = await ask(engine, messages)
        await by_name[home].stop()  # connections are now refused, as from a crashed replica
        before = {f.name: len(f.requests) for f in fakes}
        elsewhere = await ask(engine, messages)
        assert elsewhere != home
        down = next(r for r in engine.pool.replicas if r.root == by_name[home].url)
        assert not down.up and down.last_error  # refused, or the pooled connection reset
        assert sum(r.served["failover"] for r in engine.pool.replicas) == 1
        # Later requests go straight to the live replica: no second attempt at the dead one.
        for _ in range(3):
            assert await ask(engine, messages) == elsewhere
        assert len(by_name[elsewhere].requests) == before[elsewhere] + 4
        await engine.probe()
        assert not down.up
        await by_name[home].start()  # same port again
        await engine.probe()
        assert down.up
        assert await ask(engine, messages) == home

    run(body)


def test_unhealthy_replica_is_marked_down_by_the_probe() -> None:
    async def body(engine: VLLMEngine, fakes: list[FakeVLLM]) -> None:
        fakes[0].set(healthy=False)
        assert await engine.health() is True
        assert [r.up for r in engine.pool.replicas] == [False, True]
        for i in range(10):
            await ask(engine, conversation(f"p{i}", 1))
        assert fakes[0].requests == [] and len(fakes[1].requests) == 10
        fakes[1].set(healthy=False)
        assert await engine.health() is False
        with pytest.raises(EngineError) as caught:
            await ask(engine, conversation("p", 1))
        assert caught.value.status == 503 and caught.value.code == "upstream_unavailable"

    run(body, replicas=2)


def test_stream_fails_over_before_the_first_chunk() -> None:
    async def body(engine: VLLMEngine, fakes: list[FakeVLLM]) -> None:
        by_name = {f.name: f for f in fakes}
        messages = conversation("streamed prompt", 1)
        request = EngineRequest(model="tier-model", messages=messages, max_tokens=4)
        chunks = [c async for c in engine.stream(request)]
        home = chunks[0]["choices"][0]["delta"]["content"].removeprefix("from-")
        assert chunks[-1]["usage"]["completion_tokens"] == 4
        assert all(r.in_flight == 0 for r in engine.pool.replicas)
        await by_name[home].stop()
        chunks = [c async for c in engine.stream(request)]
        other = chunks[0]["choices"][0]["delta"]["content"].removeprefix("from-")
        assert other != home and "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]).count("tok") == 3
        assert all(r.in_flight == 0 for r in engine.pool.replicas)

    run(body)


def test_cache_salt_isolates_listed_tenants(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_TEST_SALT_SECRET", "s3cret")

    async def body(engine: VLLMEngine, fakes: list[FakeVLLM]) -> None:
        messages = conversation("a prompt every tenant uses", 1)
        for tenant in ("acme", "globex", "initech", None, "acme"):
            await ask(engine, messages, tenant=tenant)
        bodies = [b for f in fakes for b in f.requests]
        salts = Counter(b.get("cache_salt") for b in bodies)
        assert salts[None] == 2  # initech and the anonymous request are not isolated
        named = [s for s in salts if s is not None]
        assert len(named) == 2 and sorted(salts[s] for s in named) == [1, 2]
        assert all("s3cret" not in s and "acme" not in s for s in named)

    run(body, replicas=2)
