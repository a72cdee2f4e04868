"""vLLM over several replicas: prefix affinity, spill-over under load, failed replicas skipped.

Each replica is an `OpenAIHTTPEngine`; the `ReplicaPool` picks one per request:

* Affinity: requests whose prefix (system prompt, and by default the first user turn) hashes
  alike go to the same replica, chosen by rendezvous hashing, so vLLM's prefix cache on that
  replica serves the shared part. Rendezvous hashing keeps every other key where it was when a
  replica leaves or joins, and gives each key a stable second choice.
* Spill-over: when the preferred replica queues requests or its KV cache is nearly full (read
  from its /metrics), the request goes to the least-loaded replica instead: a cache hit does not
  pay for waiting in a queue.
* Failures: a replica that refuses connections, or whose /health fails, is marked down and
  skipped; the background prober brings it back once /health answers 200 again.

A background task probes /health and scrapes /metrics at bounded intervals; the numbers it reads
(load, KV-cache use, decode tokens/s, speculative-decoding acceptance) come out of `stats()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from engines.base import EngineError, EngineRequest, messages_text
from engines.openai_http import OpenAIHTTPEngine
from engines.prom_text import VLLMSnapshot
from policies.vllm import Balancing, VLLMSettings, replica_root

log = logging.getLogger("switchyard")


def affinity_key(messages: list[dict[str, Any]], mode: str, prefix_chars: int, salt: str | None = None) -> bytes | None:
    """The digest requests that should share a replica have in common, or None for no affinity.

    'conversation' takes the system prompt and the first user turn, which every later turn of the
    same conversation repeats; 'system' takes the system prompt alone (the first turn when there is
    none). The salt is part of the key: differently salted requests cannot share KV cache anyway.
    """
    if mode == "off":
        return None
    parts: list[str] = []
    for message in messages:
        role = str(message.get("role"))
        text = f"{role}:{messages_text([message])}"
        if role in ("system", "developer"):
            parts.append(text)
            continue
        if mode == "conversation" or not parts:
            parts.append(text)
        break
    prefix = "\x1e".join(parts)[:prefix_chars]
    if not prefix:
        return None
    return hashlib.blake2b(f"{salt or ''}\x1f{prefix}".encode(), digest_size=16).digest()


def _rank(key: bytes, root: str) -> int:
    return int.from_bytes(hashlib.blake2b(key + root.encode(), digest_size=8).digest(), "big")


@dataclass
class Replica:
    root: str
    engine: OpenAIHTTPEngine
    up: bool = True
    last_error: str | None = None
    in_flight: int = 0
    snapshot: VLLMSnapshot | None = None
    scraped_at: float | None = None
    tokens_per_s: float | None = None
    # (when, tokens, seconds) for scrape intervals in which the replica was decoding.
    busy: deque[tuple[float, float, float]] = field(default_factory=deque)
    served: dict[str, int] = field(default_factory=lambda: {"affinity": 0, "spill": 0, "least_loaded": 0, "failover": 0})

    def running(self) -> float:
        # The scrape is up to one interval old; this gateway's own in-flight count is current.
        scraped = self.snapshot.running if self.snapshot and self.snapshot.running is not None else 0.0
        return max(scraped, float(self.in_flight))

    def waiting(self) -> float:
        return (self.snapshot.waiting or 0.0) if self.snapshot else 0.0

    def kv_cache_usage(self) -> float:
        return (self.snapshot.kv_cache_usage or 0.0) if self.snapshot else 0.0

    def overloaded(self, balancing: Balancing) -> bool:
        if self.waiting() > balancing.max_waiting:
            return True
        if balancing.max_running is not None and self.running() >= balancing.max_running:
            return True
        return self.kv_cache_usage() >= balancing.max_kv_cache_usage

    def load(self) -> tuple[float, float]:
        return (self.running() + self.waiting(), self.kv_cache_usage())

    def mark_down(self, why: str) -> None:
        if self.up:
            log.warning("vLLM replica %s marked down: %s", self.root, why)
        self.up = False
        self.last_error = why


@dataclass(frozen=True)
class ReplicaStats:
    root: str
    up: bool
    running: float
    waiting: float
    kv_cache_usage: float
    in_flight: int
    tokens_per_s: float | None
    served: dict[str, int]


@dataclass(frozen=True)
class PoolStats:
    replicas: list[ReplicaStats]
    tokens_per_s: float | None
    """Decode tokens/s of the whole tier over the latest scrape interval."""
    busy_tokens_per_s: float | None
    """Decode tokens/s of one replica while it was decoding, over the pricing window; None until enough was seen."""
    spec_draft_tokens: float | None
    spec_accepted_tokens: float | None
    spec_acceptance_rate: float | None
    spec_mean_acceptance_length: float | None


class ReplicaPool:
    def __init__(self, replicas: list[Replica], settings: VLLMSettings) -> None:
        if not replicas:
            raise ValueError("a vLLM pool needs at least one replica")
        self.replicas = replicas
        self.settings = settings
        self.balancing = settings.balancing

    def choose(self, key: bytes | None, exclude: set[str] | frozenset[str] = frozenset()) -> tuple[Replica, str]:
        """The replica for a request with this affinity key, and why it was chosen."""
        candidates = [r for r in self.replicas if r.up and r.root not in exclude]
        if not candidates:
            raise EngineError(
                f"no vLLM replica is up ({len(self.replicas)} configured, {len(exclude)} failed for this request)",
                status=503,
                code="upstream_unavailable",
            )
        if key is None:
            # No prefix to keep together: spread by load, ties by position for determinism.
            best = min(candidates, key=lambda r: (r.overloaded(self.balancing), r.load(), self.replicas.index(r)))
            return best, "least_loaded"
        ranked = sorted(candidates, key=lambda r: _rank(key, r.root), reverse=True)
        preferred = ranked[0]
        if not preferred.overloaded(self.balancing):
            return preferred, "affinity"
        # Spill to the least loaded; among equals the key's own runner-up, so a spilled prefix
        # still lands on one replica and warms one cache rather than several.
        best = min(ranked, key=lambda r: (r.overloaded(self.balancing), r.load(), ranked.index(r)))
        return best, ("affinity" if best is preferred else "spill")

    def observe(self, replica: Replica, snapshot: VLLMSnapshot, now: float) -> None:
        previous, previous_at = replica.snapshot, replica.scraped_at
        replica.snapshot, replica.scraped_at = snapshot, now
        if previous is None or previous_at is None or now <= previous_at:
            return
        if previous.generation_tokens is None or snapshot.generation_tokens is None:
            return
        tokens = snapshot.generation_tokens - previous.generation_tokens
        if tokens < 0:
            # The counter went backwards: the replica restarted. Start measuring afresh.
            replica.tokens_per_s = None
            replica.busy.clear()
            return
        seconds = now - previous_at
        replica.tokens_per_s = tokens / seconds
        if tokens > 0 or (previous.running or 0) > 0 or (snapshot.running or 0) > 0:
            replica.busy.append((now, tokens, seconds))
        window = self.settings.pricing.window_s if self.settings.pricing else 900.0
        while replica.busy and replica.busy[0][0] < now - window:
            replica.busy.popleft()

    def stats(self) -> PoolStats:
        replicas = [
            ReplicaStats(
                root=r.root,
                up=r.up,
                running=r.running(),
                waiting=r.waiting(),
                kv_cache_usage=r.kv_cache_usage(),
                in_flight=r.in_flight,
                tokens_per_s=r.tokens_per_s,
                served=dict(r.served),
            )
            for r in self.replicas
        ]
        rates = [r.tokens_per_s for r in self.replicas if r.up and r.tokens_per_s is not None]
        busy_tokens = sum(t for r in self.replicas for _, t, _ in r.busy)
        busy_seconds = sum(s for r in self.replicas for _, _, s in r.busy)
        min_busy = self.settings.pricing.min_busy_s if self.settings.pricing else 0.0
        busy_rate = busy_tokens / busy_seconds if busy_seconds > 0 and busy_seconds >= min_busy and busy_tokens > 0 else None

        def total(name: str) -> float | None:
            values = [getattr(r.snapshot, name) for r in self.replicas if r.snapshot is not None]
            present = [v for v in values if v is not None]
            return sum(present) if present else None

        drafts, draft_tokens, accepted = total("spec_drafts"), total("spec_draft_tokens"), total("spec_accepted_tokens")
        return PoolStats(
            replicas=replicas,
            tokens_per_s=sum(rates) if rates else None,
            busy_tokens_per_s=busy_rate,
            spec_draft_tokens=draft_tokens,
            spec_accepted_tokens=accepted,
            spec_acceptance_rate=accepted / draft_tokens if accepted is not None and draft_tokens else None,
            spec_mean_acceptance_length=1 + accepted / drafts if accepted is not None and drafts else None,
        )


class VLLMEngine:
    kind = "vllm"

    def __init__(
        self,
        model: str,
        settings: VLLMSettings,
        *,
        api_key: str | None = None,
        upstream_model: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 120.0,
    ) -> None:
        if not settings.replicas:
            raise ValueError("a vLLM tier needs at least one replica URL")
        self.model = model
        self.settings = settings
        self._api_key = api_key
        roots = list(dict.fromkeys(replica_root(url) for url in settings.replicas))
        replicas = [
            Replica(
                root,
                OpenAIHTTPEngine(
                    model,
                    root + "/v1",
                    api_key=api_key,
                    upstream_model=upstream_model,
                    connect_timeout=connect_timeout,
                    read_timeout=read_timeout,
                ),
            )
            for root in roots
        ]
        self.pool = ReplicaPool(replicas, settings)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        headers = {"authorization": f"Bearer {self._api_key}"} if self._api_key else None
        self._session = aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=self.settings.balancing.probe_timeout_s))
        for replica in self.pool.replicas:
            await replica.engine.start()
        # One round before serving, so a replica that is down from the start is never chosen.
        await self.probe()
        await self.scrape()
        balancing = self.settings.balancing
        self._tasks = [
            asyncio.create_task(self._every(balancing.health_interval_s, self.probe), name="vllm-health"),
            asyncio.create_task(self._every(balancing.metrics_interval_s, self.scrape), name="vllm-metrics"),
        ]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for replica in self.pool.replicas:
            await replica.engine.aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _every(self, interval: float, work: Any) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await work()
            except Exception:  # a failed round must not end the loop; the next one retries
                log.exception("vLLM background refresh failed")

    # -- health and metrics ------------------------------------------------------------------

    async def _probe_one(self, replica: Replica) -> None:
        assert self._session is not None
        try:
            async with self._session.get(replica.root + "/health") as response:
                await response.read()
                healthy = response.status == 200
                why = f"/health answered {response.status}"
        except (TimeoutError, aiohttp.ClientError) as exc:
            healthy, why = False, f"/health failed: {exc!r}"
        if healthy:
            if not replica.up:
                log.info("vLLM replica %s is back up", replica.root)
            replica.up, replica.last_error = True, None
        else:
            replica.mark_down(why)

    async def probe(self) -> None:
        await asyncio.gather(*(self._probe_one(r) for r in self.pool.replicas))

    async def _scrape_one(self, replica: Replica) -> None:
        assert self._session is not None
        try:
            async with self._session.get(replica.root + "/metrics") as response:
                if response.status != 200:
                    return
                text = await response.text()
        except (TimeoutError, aiohttp.ClientError):
            # Health decides up or down; a missed scrape only leaves the last numbers standing.
            return
        try:
            snapshot = VLLMSnapshot.from_text(text)
        except ValueError as exc:
            log.warning("vLLM replica %s sent unreadable /metrics: %s", replica.root, exc)
            return
        self.pool.observe(replica, snapshot, time.monotonic())

    async def scrape(self) -> None:
        await asyncio.gather(*(self._scrape_one(r) for r in self.pool.replicas if r.up))

    def stats(self) -> PoolStats:
        return self.pool.stats()

    async def health(self) -> bool:
        if self._session is None:
            return False
        await self.probe()
        return any(r.up for r in self.pool.replicas)

    # -- requests ----------------------------------------------------------------------------

    def _prepare(self, request: EngineRequest) -> tuple[EngineRequest, bytes | None]:
        salt = self.settings.cache_salt.salt(request.tenant)
        balancing = self.settings.balancing
        key = affinity_key(request.messages, balancing.affinity, balancing.prefix_chars, salt)
        if salt is not None:
            request = dataclasses.replace(request, extra={**request.extra, "cache_salt": salt})
        return request, key

    @staticmethod
    def _try_elsewhere(replica: Replica, exc: EngineError) -> bool:
        # Connection-level failures mean the replica, not the request, is broken: skip it.
        # Anything else (a 4xx, a timeout while generating) would fail or double the work elsewhere.
        if exc.code == "upstream_unavailable":
            replica.mark_down(exc.message)
            return True
        return False

    async def complete(self, request: EngineRequest) -> dict[str, Any]:
        request, key = self._prepare(request)
        failed: set[str] = set()
        while True:
            replica, reason = self.pool.choose(key, failed)
            replica.in_flight += 1
            try:
                result = await replica.engine.complete(request)
            except EngineError as exc:
                if not self._try_elsewhere(replica, exc):
                    raise
                failed.add(replica.root)
                continue
            finally:
                replica.in_flight -= 1
            replica.served["failover" if failed else reason] += 1
            return result

    async def stream(self, request: EngineRequest) -> AsyncIterator[dict[str, Any]]:
        request, key = self._prepare(request)
        failed: set[str] = set()
        while True:
            replica, reason = self.pool.choose(key, failed)
            replica.in_flight += 1
            inner = replica.engine.stream(request)
            try:
                try:
                    first = await inner.__anext__()
                except EngineError as exc:
                    # Nothing reached the client yet, so another replica may still answer.
                    if not self._try_elsewhere(replica, exc):
                        raise
                    failed.add(replica.root)
                    continue
                replica.served["failover" if failed else reason] += 1
                yield first
                async for chunk in inner:
                    yield chunk
                return
            finally:
                replica.in_flight -= 1
                await inner.aclose()
