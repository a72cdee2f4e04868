"""The response cache the pipeline talks to: exact first, then semantic, each honouring the
request's Cache-Control and the policy's settings.

Semantic entries live in each replica's in-process index; with Redis configured, every replica
appends its entries to one Redis stream and tails it, so all replicas' indexes hold the same
entries (bounded by the stream's length and each entry's expiry; the stream key itself expires
with its longest-lived entry). Under `store_prompts: false` a stream entry carries a digest of
the prompt instead of its text: peers then match it by the same text only, while the replica
that answered keeps the text in memory (never in Redis) and matches it by meaning.

While the calibrated rule demands the same content words (the shipped one does), the index is
lazy (router.cache.semantic): a store keeps the text without embedding it, a lookup embeds only
when an entry with the same content words exists, and then embeds that entry too (once), through
the embedding function the gateway attaches. A miss then costs a hash and no model call.

Prompts longer than the meaning guard reads (router.cache.guards.MAX_TEXT_CHARS) use the exact
cache only, and lookups with long texts run their guard checks in a worker thread, so a client's
megabyte prompts neither hold memory in the index nor hold the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from policies.schema import CacheSettings
from router.cache import calibration
from router.cache.exact import ExactStore, MemoryExactStore, RedisExactStore
from router.cache.guards import MAX_TEXT_CHARS
from router.cache.keys import exact_key, semantic_scope
from router.cache.semantic import text_digest
from router.cache.verify import content_key
from router.schemas import ChatRequest

log = logging.getLogger("switchyard")
STREAM = "sy:semcache"
TTL_HEADER = "x-switchyard-cache-ttl"
# Lookups whose text is longer than this run in a worker thread (guard checks cost ~0.5 us per
# character of text they have not seen).
INLINE_LOOKUP_CHARS = 512
# Semantic hits remembered for feedback (~250 bytes each): the most recent ones; older verdicts only reach the ledger.
MAX_SERVED = 10_000
# Semantic stores (an embedding each) in flight off the request path; past this, answers wait for their own.
MAX_PENDING_STORES = 256
# How long a lookup waits for an in-flight store of the very same words (an embedding takes ~5-30 ms here).
PENDING_WAIT_S = 2.0
# One round trip: append (trimmed to about MAXLEN), then make the stream outlive its newest
# entry's expiry and no more, so an idle cache leaves nothing behind in Redis.
_APPEND = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 3))
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return id
"""


@dataclass(frozen=True)
class CacheControl:
    lookup: bool
    store: bool
    ttl_s: float
    bypass: str | None = None  # why the lookup was skipped, for the x-switchyard-cache-bypass header


def never_cached(chat: ChatRequest, settings: CacheSettings) -> str | None:
    """Why a request's answer must not be reused (nor kept), or None. A temperature at or under the
    policy's limit is cached with or without a seed: the kept answer is one the model could give,
    and the key holds the seed, so a seeded request is only served its own seed's answer. n>1 never
    gets here: the schema refuses it (one answer per request)."""
    if chat.temperature is not None and chat.temperature > settings.max_temperature:
        return "temperature"
    marked = set(settings.side_effect_tools)
    if marked and chat.tools:
        names = {
            ((tool.get("function") or {}).get("name") if isinstance(tool.get("function"), dict) else None) or tool.get("name")
            for tool in chat.tools
        }
        if "*" in marked or names & marked:
            return "side-effect-tools"
    return None


def cache_control(headers: Any, settings: CacheSettings, chat: ChatRequest | None = None) -> CacheControl:
    ttl = settings.ttl_s
    if chat is not None and (reason := never_cached(chat, settings)) is not None:
        return CacheControl(lookup=False, store=False, ttl_s=ttl, bypass=reason)
    directives = {d.strip().lower() for d in (headers.get("cache-control") or "").split(",")}
    raw_ttl = headers.get(TTL_HEADER)
    if raw_ttl:
        try:
            ttl = max(0.0, min(float(raw_ttl), 30 * 86400.0))
        except ValueError:
            pass
    no_store = "no-store" in directives or ttl == 0
    lookup = "no-cache" not in directives and not no_store
    bypass = None if lookup else ("no-store" if no_store else "no-cache")
    return CacheControl(lookup=lookup, store=not no_store, ttl_s=ttl, bypass=bypass)


@dataclass
class Hit:
    kind: str  # "exact" or "semantic"
    entry: dict[str, Any]
    similarity: float = 1.0


class ResponseCache:
    def __init__(self, settings: CacheSettings, redis_url: str | None = None) -> None:
        self.settings = settings
        self.exact: ExactStore | None = None
        if settings.exact:
            self.exact = RedisExactStore(redis_url) if redis_url else MemoryExactStore(settings.max_entries)
        self.index: Any = None  # the semantic index, once an embedder is attached
        self._redis_url = redis_url
        self._redis: Any = None
        self._append: Any = None
        self._tail: asyncio.Task[None] | None = None
        self._origin = os.urandom(8).hex()  # this replica's entries in the stream are already in its index
        # Semantic hits by request id, so feedback on an answer can find the entry that gave it (bounded).
        self._served: OrderedDict[str, tuple[str, bytes, float]] = OrderedDict()
        self._pending: dict[tuple[str, bytes], asyncio.Task[None]] = {}  # semantic stores in flight, by scope and words
        self._embed_texts: Callable[[Sequence[str]], Awaitable[Sequence[np.ndarray | None]]] | None = None

    def attach_embedder(
        self, dim: int, embedder_name: str, embed_texts: Callable[[Sequence[str]], Awaitable[Sequence[np.ndarray | None]]] | None = None
    ) -> None:
        """Turn the semantic cache on for embeddings of `dim` dimensions (when the policy wants it).

        With ``embed_texts`` (texts -> their embeddings, None for one that failed) the index is lazy
        while the rule allows: entries are embedded when a query first needs them, not when stored."""
        if not self.settings.semantic:
            return
        from router.cache.semantic import SemanticIndex
        from router.cache.verify import verdict

        self.embedder_name = embedder_name
        self.rule = calibration.rule_for(self.settings.max_false_hit_rate)
        self.index = SemanticIndex(
            dim=dim,
            threshold=self.settings.semantic_threshold,
            max_entries=self.settings.max_entries,
            ttl_s=self.settings.ttl_s,
            verifier=verdict,
            min_alignment=self.rule.min_alignment,
            background_training=True,
            lazy=embed_texts is not None,
        )
        self._embed_texts = embed_texts
        if self._redis_url:
            import redis.asyncio as redis

            self._redis = redis.from_url(self._redis_url)
            self._append = self._redis.register_script(_APPEND)

    @property
    def enabled(self) -> bool:
        return self.exact is not None or self.index is not None

    @property
    def semantic(self) -> bool:
        return self.index is not None

    def describe(self) -> str:
        parts = []
        if self.exact is not None:
            parts.append(f"exact ({'Redis' if isinstance(self.exact, RedisExactStore) else 'in-process'})")
        if self.index is not None:
            where = "in-process, shared through Redis" if self._redis is not None else "in-process"
            if self.index.lazy:
                where += "; embedded only when an entry has the same content words"
            parts.append(f"semantic at cosine >= {self.settings.semantic_threshold} on {self.embedder_name} ({where})")
        scope = "shared across tenants" if self.settings.share_across_tenants else "per tenant"
        semantic = calibration.status_line(self.settings.max_false_hit_rate, self.index is not None)
        return (", ".join(parts) + f"; {scope}; {semantic}") if parts else f"off; {semantic}"

    async def start(self) -> None:
        if self._redis is not None:
            self._tail = asyncio.create_task(self._follow())

    async def drain(self) -> None:
        """Wait (bounded) for the semantic stores still in flight."""
        if self._pending:
            await asyncio.wait(list(self._pending.values()), timeout=PENDING_WAIT_S)

    async def aclose(self) -> None:
        await self.drain()
        if self._tail is not None:
            self._tail.cancel()
            self._tail = None
        if self.exact is not None:
            await self.exact.aclose()
        if self._redis is not None:
            await self._redis.aclose()

    def scope(self, tenant: str) -> str:
        return "*" if self.settings.share_across_tenants else f"tenant:{tenant}"

    async def lookup(
        self, tenant: str, chat: ChatRequest, embedding: Callable[[], Awaitable[np.ndarray | None]], request_id: str | None = None
    ) -> Hit | None:
        scope = self.scope(tenant)
        if self.exact is not None:
            raw = await self.exact.get(exact_key(scope, chat))
            if raw is not None:
                return Hit("exact", orjson.loads(raw))
        if self.index is None:
            return None
        sem_scope = semantic_scope(scope, chat)
        if sem_scope is None or not _matchable(chat):
            return None
        text = chat.messages[-1].content
        assert isinstance(text, str)
        if not self.index.may_match(sem_scope, text):
            pending = self._pending.get((sem_scope, content_key(text)))
            if pending is None:
                return None  # no entry could pass the verifier: a miss, without embedding the request
            # The same words are being stored right now (a client asking again at once): wait for that entry.
            await asyncio.wait([pending], timeout=PENDING_WAIT_S)
            if not self.index.may_match(sem_scope, text):
                return None
        if self.index.lazy:
            vector = await self._lazy_vectors(sem_scope, text, embedding)
        else:
            vector = await embedding()
            if vector is None:
                return None
        if len(text) > INLINE_LOOKUP_CHARS:
            found = await asyncio.to_thread(self.index.match, sem_scope, vector, text)
        else:
            found = self.index.match(sem_scope, vector, text)
        if found is None:
            return None
        if request_id is not None:
            self._served[request_id] = (sem_scope, found.digest, found.score)
            while len(self._served) > MAX_SERVED:
                self._served.popitem(last=False)
        return Hit("semantic", orjson.loads(found.value), float(found.similarity))

    async def _lazy_vectors(self, sem_scope: str, text: str, embedding: Callable[[], Awaitable[np.ndarray | None]]) -> np.ndarray | None:
        """Embed what a lazy match of ``text`` needs: the query (unless every candidate is the same
        text) and the candidates not embedded yet, in one batch with the query when both are needed."""
        need_query, missing = self.index.embedding_needs(sem_scope, text)
        if missing and self._embed_texts is not None:
            vectors = await asyncio.gather(embedding(), self._embed_texts([t for _, t in missing]))
            query, fresh = vectors[0], vectors[1]
            for (eid, _), vec in zip(missing, fresh, strict=True):
                if vec is not None:
                    self.index.set_vector(eid, vec)
            return query
        return await embedding() if need_query else None

    def feedback(self, request_id: str, score: float) -> bool:
        """A user's verdict on an answer: a bad one (score < 0.5) given from the semantic cache
        evicts that entry and tightens its scope's rule. True when it did."""
        if self.index is None or score >= 0.5:
            return False
        served = self._served.pop(request_id, None)
        if served is None:
            return False
        self.index.penalize(*served)
        return True

    async def store(
        self,
        tenant: str,
        chat: ChatRequest,
        control: CacheControl,
        entry: dict[str, Any],
        embedding: Callable[[], Awaitable[np.ndarray | None]],
        *,
        store_prompts: bool = True,
    ) -> None:
        """Keep an answer; with ``store_prompts`` False no prompt text goes to Redis."""
        if not control.store:
            return
        scope = self.scope(tenant)
        value = orjson.dumps(entry)
        if self.exact is not None:
            await self.exact.set(exact_key(scope, chat), value, control.ttl_s)
        sem_scope = semantic_scope(scope, chat) if self.index is not None else None
        if sem_scope is None or not _matchable(chat):
            return
        text = chat.messages[-1].content
        assert isinstance(text, str)
        key = (sem_scope, content_key(text))
        if self.index.lazy:
            # No embedding to wait for: the entry is matchable now; only Redis (if any) is left, off the path.
            self.index.add(sem_scope, None, text, value.decode(), ttl_s=control.ttl_s)
            if self._redis is not None and len(self._pending) < MAX_PENDING_STORES and key not in self._pending:
                self._track(key, asyncio.create_task(self._share(sem_scope, None, text, value, control.ttl_s, store_prompts)))
            elif self._redis is not None:
                await self._share(sem_scope, None, text, value, control.ttl_s, store_prompts)
            return
        if len(self._pending) >= MAX_PENDING_STORES or key in self._pending:
            # Backpressure: past the bound (or a store of the same words in flight) this answer waits for its own.
            await self._store_semantic(sem_scope, text, value, control.ttl_s, embedding, store_prompts)
            return
        # Off the request path: the answer leaves now, its embedding and index insert follow.
        self._track(key, asyncio.create_task(self._store_semantic(sem_scope, text, value, control.ttl_s, embedding, store_prompts)))

    def _track(self, key: tuple[str, bytes], task: asyncio.Task[None]) -> None:
        self._pending[key] = task
        task.add_done_callback(lambda done: self._stored(key, done))

    def _stored(self, key: tuple[str, bytes], task: asyncio.Task[None]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]
        if not task.cancelled() and task.exception() is not None:
            log.warning("semantic cache store failed: %s", task.exception())

    async def _store_semantic(
        self,
        sem_scope: str,
        text: str,
        value: bytes,
        ttl_s: float,
        embedding: Callable[[], Awaitable[np.ndarray | None]],
        store_prompts: bool,
    ) -> None:
        vector = await embedding()
        if vector is None:
            return
        self.index.add(sem_scope, vector, text, value.decode(), ttl_s=ttl_s)
        if self._redis is not None:
            await self._share(sem_scope, vector, text, value, ttl_s, store_prompts)

    async def _share(self, sem_scope: str, vector: np.ndarray | None, text: str, value: bytes, ttl_s: float, store_prompts: bool) -> None:
        """Append an entry to the Redis stream the replicas tail (a lazy index's carries no vector)."""
        fields: dict[str, str | bytes] = {
            "scope": sem_scope,
            "digest": text_digest(sem_scope, text),
            "value": value,
            "exp": str(time.time() + ttl_s),
            "origin": self._origin,
        }
        if vector is not None:
            fields["vec"] = np.asarray(vector, dtype=np.float32).tobytes()
        if store_prompts:
            fields["text"] = text
        ttl_ms = max(1, math.ceil(ttl_s * 1000))
        args = [self.settings.max_entries, ttl_ms, *(x for pair in fields.items() for x in pair)]
        await self._append(keys=[STREAM], args=args)

    async def _follow(self) -> None:
        """Tail the shared stream into the local index, from its oldest retained entry."""
        last = "0-0"
        while True:
            try:
                batches = await self._redis.xread({STREAM: last}, count=1000, block=1000)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis hiccups must not end the tail
                log.warning("semantic cache stream read failed: %s", exc)
                await asyncio.sleep(1.0)
                continue
            now = time.time()
            for _, entries in batches or []:
                for entry_id, fields in entries:
                    last = entry_id
                    expires = float(fields[b"exp"])
                    if expires <= now or fields.get(b"origin") == self._origin.encode():
                        continue
                    text = fields[b"text"].decode() if b"text" in fields else None
                    if text is None and b"digest" not in fields:
                        continue
                    vector = np.frombuffer(fields[b"vec"], dtype=np.float32) if b"vec" in fields else None
                    if vector is None and not self.index.lazy:
                        continue  # a lazy peer's entry: this replica's rule searches by vector and cannot use it
                    self.index.add(
                        fields[b"scope"].decode(),
                        vector,
                        text,
                        fields[b"value"].decode(),
                        ttl_s=expires - now,
                        digest=fields.get(b"digest"),
                    )


def _matchable(chat: ChatRequest) -> bool:
    """Whether the last message is short enough to be matched by meaning (else: exact cache only)."""
    text = chat.messages[-1].content
    return isinstance(text, str) and len(text) <= MAX_TEXT_CHARS
