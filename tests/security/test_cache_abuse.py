"""The response cache under abuse: megabyte prompts must neither stall the gateway nor pile up in its
memory, and `store_prompts: false` must keep prompt text out of Redis, whose cache keys all expire.

Issue 11, defects 3 and 12 (Redis part). Real gateway processes on 127.0.0.1 in front of the local
faulty upstream (a free stand-in for a paid tier), so the cache is the only thing under test.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faulty_upstream import FaultyUpstream
from tests.servers import Process, start_gateway, start_redis

POLICY = """
version: 1
name: cache-abuse
tiers:
  paid:
    engine: openai
    model: paid
    upstream_model: standin
    base_url: {upstream}/v1
    # A provider with a two-million-token window (as some have): the megabyte prompts reach it,
    # rather than being refused at planning as too long for the tier.
    context_window: 2000000
    max_output_tokens: 8
    prices: {{input_per_mtok: 0, output_per_mtok: 0}}
routing: {{classifier: rules}}
limits: {{max_request_bytes: 8388608}}
cache: {{exact: true, semantic: true, ttl_s: 600}}
store_prompts: {store_prompts}
"""

BIG_REQUESTS = 16
BIG_CHARS = 3_500_000
HEAD = "Read the following inventory report carefully and answer the question at the end.\n" * 12
TAIL = "\nWhich items in the report above are out of stock, and since when?"


def big_prompt(n: int) -> str:
    """~3.5 MB sharing HEAD and TAIL (so every one embeds alike) with a distinct middle full of
    the numbers and words the meaning guard extracts."""
    line = f"batch {n} row {{}} holds {{}} crates of bolts, not all of them sorted by size\n"
    rows = [line.format(i % 997, i % 89) for i in range(BIG_CHARS // len(line.format(0, 0)) + 1)]
    return HEAD + "".join(rows) + TAIL


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _gateway(tmp: Path, upstream: FaultyUpstream, store_prompts: bool, env: dict[str, str] | None = None) -> Process:
    policy = tmp / "policy.yaml"
    policy.write_text(POLICY.format(upstream=upstream.url, store_prompts=str(store_prompts).lower()))
    return start_gateway(policy, tmp, env={"SWITCHYARD_DATABASE_URL": f"sqlite:///{tmp}/ledger.db", **(env or {})})


@pytest.fixture(scope="module")
def gateway(upstream: FaultyUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    server = _gateway(tmp_path_factory.mktemp("cache-abuse"), upstream, store_prompts=False)
    yield server
    server.stop()


def ask(client: httpx.Client, text: str, timeout: float = 60) -> httpx.Response:
    body = {"model": "paid", "messages": [{"role": "user", "content": text}], "max_tokens": 8}
    return client.post("/v1/chat/completions", json=body, timeout=timeout)


class HealthPoller(threading.Thread):
    """GET /healthz back to back, keeping the slowest answer's latency."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.worst = 0.0
        self.failures = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url) as client:
            while not self.stopping.is_set():
                start = time.monotonic()
                try:
                    ok = client.get("/healthz", timeout=10).status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.worst = max(self.worst, time.monotonic() - start)
                self.failures += not ok
                self.stopping.wait(0.05)


def test_megabyte_prompts_neither_stall_the_gateway_nor_pile_up_in_memory(gateway: Process) -> None:
    prompts = [big_prompt(n) for n in range(BIG_REQUESTS)]
    poller = HealthPoller(gateway.url)
    with httpx.Client(base_url=gateway.url) as client:
        # Two first: the first answers' allocations (buffers, pools) are not what is measured.
        for text in prompts[:2]:
            assert ask(client, text).status_code == 200
        before = rss_kib(gateway.proc.pid)
        poller.start()
        started = time.monotonic()
        try:
            for text in prompts[2:]:
                reply = ask(client, text)
                assert reply.status_code == 200, reply.text
                # Not the same question: a semantic hit here would be a wrong answer.
                assert reply.headers["x-switchyard-cache"] == "miss"
                assert time.monotonic() - started < 240, "bounded in time"
        finally:
            poller.stopping.set()
            poller.join(15)
        after = rss_kib(gateway.proc.pid)
        # The cache still works for prompts of ordinary size.
        assert ask(client, "Which primary colour is between red and blue?").headers["x-switchyard-cache"] == "miss"
        assert ask(client, "Which primary colour is between red and blue?").headers["x-switchyard-cache"] == "hit-exact"
    grown_mib = (after - before) / 1024
    assert poller.failures == 0
    # A guard check on the event loop held every other request with it (~1.5 s per prompt).
    assert poller.worst < 1.0, f"/healthz waited {poller.worst:.2f} s behind a big prompt"
    # Each prompt used to stay in the guard's memo and the semantic index (+~15 MiB each).
    assert grown_mib < 40, f"RSS grew {grown_mib:.0f} MiB over {BIG_REQUESTS - 2} megabyte prompts"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    if server is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    yield server
    server.stop()


async def _dump(url: str) -> dict[bytes, tuple[int, bytes]]:
    """Every key in Redis: (PTTL in ms, everything stored under it, concatenated)."""
    import redis.asyncio as redis

    client: Any = redis.from_url(url)
    out: dict[bytes, tuple[int, bytes]] = {}
    try:
        async for key in client.scan_iter(count=1000):
            kind = (await client.type(key)).decode()
            if kind == "string":
                blob = await client.get(key) or b""
            elif kind == "stream":
                blob = b"".join(k + v for _, fields in await client.xrange(key) for k, v in fields.items())
            elif kind == "hash":
                blob = b"".join(k + v for k, v in (await client.hgetall(key)).items())
            elif kind == "zset":
                blob = b"".join(m for m in await client.zrange(key, 0, -1))
            else:
                blob = b""
            out[key] = (await client.pttl(key), blob)
    finally:
        await client.aclose()
    return out


def test_store_prompts_false_keeps_prompts_out_of_redis_and_every_cache_key_expires(
    upstream: FaultyUpstream, redis_server: Process, tmp_path: Path
) -> None:
    marker = f"zebracrossing{uuid.uuid4().hex[:12]}"
    text = f"What colour is the {marker} painted on Elm Street?"
    server = _gateway(tmp_path, upstream, store_prompts=False, env={"SWITCHYARD_REDIS_URL": redis_server.url})
    try:
        with httpx.Client(base_url=server.url) as client:
            first = ask(client, text)
            assert first.status_code == 200 and first.headers["x-switchyard-cache"] == "miss"
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # the entry is written after the answer
                keys = asyncio.run(_dump(redis_server.url))
                if any(k.startswith(b"sy:semcache") for k in keys) and any(k.startswith(b"sy:cache:") for k in keys):
                    break
                time.sleep(0.1)
            # Still answered from the cache: by meaning on this replica, exactly on any.
            assert ask(client, "what" + text[4:]).headers["x-switchyard-cache"] == "hit-semantic"
            assert ask(client, text).headers["x-switchyard-cache"] == "hit-exact"
    finally:
        server.stop()
    cache_keys = {k: v for k, v in keys.items() if k.startswith((b"sy:semcache", b"sy:cache:"))}
    assert any(k.startswith(b"sy:semcache") for k in cache_keys) and any(k.startswith(b"sy:cache:") for k in cache_keys)
    leaked = [k for k, (_, blob) in keys.items() if marker.encode() in blob or marker.encode() in k]
    assert leaked == [], f"prompt text stored in Redis under {leaked}"
    no_ttl = [k for k, (pttl, _) in cache_keys.items() if pttl < 0]
    assert no_ttl == [], f"cache keys that never expire: {no_ttl}"
    assert all(pttl <= 600_000 for pttl, _ in cache_keys.values())


def test_index_neither_keeps_nor_checks_texts_past_the_guard_bound() -> None:
    import numpy as np

    from router.cache.guards import MAX_TEXT_CHARS
    from router.cache.semantic import SemanticIndex

    seen: list[int] = []

    def guard(query: str, cached: str) -> bool:
        seen.append(len(query) + len(cached))
        return False

    index = SemanticIndex(dim=4, threshold=0.5, guard=guard, max_checks=3)
    vec = np.array([1, 0, 0, 0], dtype=np.float32)
    long_text = "x " * MAX_TEXT_CHARS
    assert index.add("s", vec, long_text, "answer") is False and len(index) == 0
    for i in range(10):  # ten near-duplicates: a lookup guard-checks at most three of them
        assert index.add("s", vec, f"question {i}", f"answer {i}")
    assert index.lookup("s", vec, "question") is None and len(seen) == 3
    assert index.lookup("s", vec, long_text) is None and len(seen) == 3
    assert index.stats()["too_long"] == 1


def test_digest_only_entries_match_the_same_text_only() -> None:
    import numpy as np

    from router.cache.semantic import SemanticIndex, text_digest

    index = SemanticIndex(dim=4, threshold=0.5)
    vec = np.array([0, 1, 0, 0], dtype=np.float32)
    index.add("s", vec, None, "peer answer", digest=text_digest("s", "What is the capital of France?"))
    assert index.lookup("s", vec, "what is the capital of france?") is None  # a paraphrase needs the text
    assert index.lookup("s", vec, "What is the capital of France?") == ("peer answer", 1.0)
    assert index.lookup("t", vec, "What is the capital of France?") is None


def test_guard_memo_is_bounded_in_bytes() -> None:
    from router.cache import guards

    memo = guards._Memo(max_bytes=256 * 1024)
    for i in range(400):
        memo.get(f"Is {i} bigger than {i + 1} in Paris, France, when sorted ascending? " * 40)
    assert 0 < memo.bytes <= 256 * 1024
    assert guards.incompatibility("a " * guards.MAX_TEXT_CHARS, "b " * guards.MAX_TEXT_CHARS) == "length"
