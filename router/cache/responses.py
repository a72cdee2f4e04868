"""The response cache the pipeline talks to: exact first, then semantic, each honouring the
request's Cache-Control and the policy's settings.

Semantic entries live in each replica's in-process index; with Redis configured, every replica
appends its entries to one Redis stream and tails it, so all replicas' indexes hold the same
entries (bounded by the stream's length and each entry's expiry; the stream key itself expires
with its longest-lived entry). Under `store_prompts: false` a stream entry carries a digest of
the prompt instead of its text: peers then match it by the same text only, while the replica
that answered keeps the text in memory (never in Redis) and matches it by meaning.

A wrong semantic hit found out (a user's negative feedback, or an audit's re-ask that disagrees:
router/cache/audit.py) evicts its entry and tightens its scope's rule in every replica: the replica
that applies it appends a penalty record to the same stream, which every replica already tails (a
blocking read, not a poll), and keeps the tightened rule in a Redis hash (bounded to
MAX_TIGHTENED_SCOPES, expiring TIGHTENED_TTL_S after the last penalty) that a replica reads once when
it starts. Feedback that reaches a replica which did not serve that hit goes through the stream to the
one that did. None of this touches the lookup path: a miss or a hit costs no Redis round trip more.

While the calibrated rule demands the same form (the shipped one does), the index is lazy
(router.cache.semantic): a store keeps the text without embedding it, a lookup embeds only when an
entry of the same form exists, and then embeds that entry too (once), through
the embedding function the gateway attaches. A miss then costs a hash and no model call.

Prompts longer than the meaning guard reads (router.cache.guards.MAX_TEXT_CHARS) use the exact
cache only, and lookups with long texts run their guard checks in a worker thread, so a client's
megabyte prompts neither hold memory in the index nor hold the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import math
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from policies.schema import CacheSettings
from router.cache import calibration
from router.cache.audit import Auditor
from router.cache.entries import CachedAnswer
from router.cache.exact import ExactStore, MemoryExactStore, RedisExactStore
from router.cache.guards import MAX_TEXT_CHARS
from router.cache.keys import Serving, exact_key, semantic_scope
from router.cache.semantic import MAX_TIGHTENED_SCOPES, text_digest
from router.cache.verify import form_key
from router.schemas import ChatRequest

if TYPE_CHECKING:
    from policies.schema import Policy

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
# How long a lookup waits for an in-flight store of the same form (an embedding takes ~5-30 ms here).
PENDING_WAIT_S = 2.0
# One round trip: append (trimmed to about MAXLEN), then make the stream outlive its newest
# entry's expiry and no more, so an idle cache leaves nothing behind in Redis.
_APPEND = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 3))
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return id
"""
# Scopes whose rule a penalty tightened, shared: scope -> the alignment it demands (KEYS[2]), and when
# each was last tightened (KEYS[3]), for dropping the least recently tightened past the bound.
TIGHTENED = "sy:semcache:tightened"
TIGHTENED_AT = "sy:semcache:tightened-at"
# How long the shared record of tightened scopes outlives the last penalty (each replica keeps its own
# in memory, bounded, for as long as it runs).
TIGHTENED_TTL_S = 7 * 86400
# One round trip per penalty: the stream record every replica applies, and the tightened rule for
# replicas that start later (never loosened: the larger demand wins).
_PENALIZE = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 8))
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local current = tonumber(redis.call('HGET', KEYS[2], ARGV[5]) or '-1')
if tonumber(ARGV[6]) > current then redis.call('HSET', KEYS[2], ARGV[5], ARGV[6]) end
redis.call('ZADD', KEYS[3], ARGV[7], ARGV[5])
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[4])
if over > 0 then
  local gone = redis.call('ZPOPMIN', KEYS[3], over)
  for i = 1, #gone, 2 do redis.call('HDEL', KEYS[2], gone[i]) end
end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return id
"""
# A verdict forwarded to the replica that served the hit lives this long in the stream.
VERDICT_TTL_S = 60.0
# Forwarding a verdict, at most once per request id across replicas: a tenant that rates one semantic hit bad again
# and again would otherwise append a record each time to the stream every tenant shares, which is trimmed by length,
# pushing other tenants' entries and penalties out. The marker (KEYS[2]) lives as long as any replica may still act
# on the verdict (ARGV[3] ms); nil when one was already forwarded.
_FORWARD = """
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then return false end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 4))
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return id
"""
VERDICT_MARK = "sy:verdict:"
# Penalty shares and forwarded verdicts in flight (each one Redis call); past this they are dropped and logged.
MAX_BACKGROUND = 1024


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
            # A client may shorten its entry's life, never lengthen it past the operator's ttl_s: else one tenant
            # keeps answers in Redis for as long as it likes, served (when shared across tenants) to others.
            ttl = max(0.0, min(float(raw_ttl), settings.ttl_s))
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
    # A semantic hit's entry, as a penalty names it: its scope, text digest and the verifier's score.
    scope: str | None = None
    digest: bytes | None = None
    score: float = 1.0


class ResponseCache:
    """``serving``: the policy whose tiers answer what is kept here. Keys then hold the fingerprint of what
    serves the requested model (router.cache.keys.Serving), so a reload that points a tier at another
    model or endpoint misses its old answers (here, in Redis and in every replica's index) while an
    unchanged tier's keep hitting. A reload that keeps the cache settings hands the cache on with
    :meth:`for_policy`."""

    def __init__(self, settings: CacheSettings, redis_url: str | None = None, serving: Policy | None = None) -> None:
        self.settings = settings
        self.serving = Serving(serving) if serving is not None else None
        # What is shared with the views for_policy makes: the stores, index, Redis tail and audits. A reload
        # closes a cache's core once no gateway in service or draining holds a view of it.
        self.core: ResponseCache = self
        self.exact: ExactStore | None = None
        if settings.exact:
            self.exact = RedisExactStore(redis_url) if redis_url else MemoryExactStore(settings.max_entries)
        self.index: Any = None  # the semantic index, once an embedder is attached
        self._redis_url = redis_url
        self._redis: Any = None
        self._append: Any = None
        self._tail: asyncio.Task[None] | None = None
        self._origin = os.urandom(8).hex()  # this replica's entries in the stream are already in its index
        # Semantic hits by request id, so feedback on an answer can find the entry that gave it (bounded): the
        # entry's scope, digest and score, the tenant it was served to, and when (wall clock, as the ledger's).
        self._served: OrderedDict[str, tuple[str, bytes, float, str, float]] = OrderedDict()
        self._pending: dict[tuple[str, bytes], asyncio.Task[None]] = {}  # semantic stores in flight, by scope and form key
        self._embed_texts: Callable[[Sequence[str]], Awaitable[Sequence[np.ndarray | None]]] | None = None
        self._penalize: Any = None
        self._forward_script: Any = None
        self._background: set[asyncio.Task[Any]] = set()  # penalty shares and forwarded verdicts
        self.penalties = {"feedback": 0, "audit": 0, "peer": 0, "forwarded": 0, "shared": 0, "share_failed": 0,
                          "verdict_repeated": 0, "verdict_stale": 0}
        self.auditor = Auditor(settings.audit_rate, settings.max_false_hit_rate)

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
            self._penalize = self._redis.register_script(_PENALIZE)
            self._forward_script = self._redis.register_script(_FORWARD)

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
                where += "; embedded only when an entry has the same form"
            parts.append(f"semantic at cosine >= {self.settings.semantic_threshold} on {self.embedder_name} ({where})")
            if self.auditor.rate > 0:
                parts.append(f"{self.auditor.rate:.1%} of semantic hits re-asked after the answer is sent "
                             "(a different answer evicts and tightens; spend booked as overhead_spend 'cache_audit')")
        scope = "shared across tenants" if self.settings.share_across_tenants else "per tenant"
        semantic = calibration.status_line(self.settings.max_false_hit_rate, self.index is not None)
        return (", ".join(parts) + f"; {scope}; {semantic}") if parts else f"off; {semantic}"

    async def start(self) -> None:
        if self._redis is not None:
            self._tail = asyncio.create_task(self._follow())

    async def drain(self) -> None:
        """Wait (bounded) for the semantic stores and penalty shares still in flight."""
        waiting = [*self._pending.values(), *self._background]
        if waiting:
            await asyncio.wait(waiting, timeout=PENDING_WAIT_S)

    async def aclose(self) -> None:
        self.auditor.close()
        await self.drain()
        if self._tail is not None:
            self._tail.cancel()
            self._tail = None
        if self.exact is not None:
            await self.exact.aclose()
        if self._redis is not None:
            await self._redis.aclose()

    def for_policy(self, policy: Policy) -> ResponseCache:
        """This cache for a reloaded policy's gateway (same cache settings): every entry, the index, Redis and
        the audits shared, keys scoped by the new policy's tiers. The old gateway keeps its own view, so a
        request it admitted before the reload (answered by the old tier) is kept under the old fingerprint."""
        view = copy.copy(self)
        view.serving = Serving(policy)
        return view

    def scope(self, tenant: str, chat: ChatRequest | None = None) -> str:
        """The entries a request may be served from: its tenant's (or everyone's, when shared), for what
        serves its model under this cache's policy (with ``chat``)."""
        base = "*" if self.settings.share_across_tenants else f"tenant:{tenant}"
        if chat is None or self.serving is None:
            return base
        return f"{base} served-by:{self.serving.fingerprint(chat.model)}"

    async def lookup(
        self, tenant: str, chat: ChatRequest, embedding: Callable[[], Awaitable[np.ndarray | None]], request_id: str | None = None
    ) -> Hit | None:
        scope = self.scope(tenant, chat)
        if self.exact is not None:
            try:
                raw = await self.exact.get(exact_key(scope, chat))
            except Exception as exc:  # noqa: BLE001 - a cache that cannot be read is a miss, never a failed request
                log.warning("exact cache read failed: %s", exc)
                raw = None
            if raw is not None:
                if CachedAnswer.parse(raw) is not None:
                    return Hit("exact", orjson.loads(raw))
                # Another version's (or a foreign writer's) bytes under this key: a miss, which the answer replaces.
                log.warning("exact cache: an entry that is not a kept answer was ignored")
        if self.index is None:
            return None
        sem_scope = semantic_scope(scope, chat)
        if sem_scope is None or not _matchable(chat):
            return None
        text = chat.messages[-1].content
        assert isinstance(text, str)
        if not self.index.may_match(sem_scope, text):
            pending = self._pending.get((sem_scope, form_key(text)))
            if pending is None:
                return None  # no entry could pass the verifier: a miss, without embedding the request
            # The same form is being stored right now (a client asking again at once): wait for that entry.
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
            self._served[request_id] = (sem_scope, found.digest, found.score, tenant, time.time())
            while len(self._served) > MAX_SERVED:
                self._served.popitem(last=False)
        return Hit("semantic", orjson.loads(found.value), float(found.similarity), sem_scope, found.digest, found.score)

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

    @property
    def verdict_window_s(self) -> float:
        """How long after a semantic hit a verdict on it is acted on: its entry was live when it was served and
        lives at most ttl_s (a client may shorten that, never lengthen it), so past this no replica holds it."""
        return self.settings.ttl_s

    def feedback(self, request_id: str, score: float, *, tenant: str | None = None, semantic_hit: bool = True,
                 hit_at: float | None = None) -> bool:
        """A user's verdict on an answer: a bad one (score < 0.5) given from the semantic cache
        evicts that entry and tightens its scope's rule, in every replica. True when this replica
        served it (:meth:`undo_served`); else, with Redis, it goes to the one that did (:meth:`forward_verdict`),
        but only when the request was a semantic hit (``semantic_hit``, made at ``hit_at``: the caller's records
        say; /v1/feedback reads them from the ledger row)."""
        if self.undo_served(request_id, score, tenant):
            return True
        if semantic_hit:
            self.forward_verdict(request_id, score, hit_at)
        return False

    def undo_served(self, request_id: str, score: float, tenant: str | None = None) -> bool:
        """A bad verdict on a semantic hit this replica served (to ``tenant``; to anyone when None) within the
        verdict window: its entry is evicted and its scope tightened, here and through Redis. Needs no ledger,
        so it is done before anything that may fail. True when it was."""
        served = self._take_served(request_id, tenant) if self.index is not None and score < 0.5 else None
        if served is None:
            return False
        self.penalize(*served, source="feedback")
        return True

    def forward_verdict(self, request_id: str, score: float, hit_at: float | None = None) -> None:
        """A bad verdict on a semantic hit another replica served goes to it through the shared stream: at most
        once per request id across replicas, and not once the hit (made at ``hit_at``, wall clock; None: just
        now) is older than the verdict window. The stream is shared by every tenant and trimmed by length: a
        record no replica would act on could only push other tenants' entries and penalties out of it."""
        if self.index is None or score >= 0.5 or self._redis is None:
            return
        left = self.verdict_window_s if hit_at is None else hit_at + self.verdict_window_s - time.time()
        if left <= 0:
            self.penalties["verdict_stale"] += 1
            return
        self._spawn(self._forward(request_id, score))

    def _take_served(self, request_id: str, tenant: str | None) -> tuple[str, bytes, float] | None:
        """The entry behind a semantic hit this replica served (taken: one verdict per answer), when it was
        served to ``tenant`` (anyone's, when None) within the verdict window."""
        served = self._served.get(request_id)
        if served is None or (tenant is not None and served[3] != tenant):
            return None
        del self._served[request_id]
        if time.time() - served[4] > self.verdict_window_s:
            return None
        return served[:3]

    def penalize(self, scope: str, digest: bytes, score: float, *, source: str) -> bool:
        """A semantic hit was wrong (``source``: feedback, audit): evict its entry, tighten its scope, here
        now and in every replica through Redis. True when the entry was still in this replica's index."""
        if self.index is None:
            return False
        found = self.index.penalize(scope, digest, score)
        self.penalties[source] += 1
        if self._redis is not None:
            self._spawn(self._share_penalty(scope, digest, score, self.index.min_alignment_for(scope)))
        return bool(found)

    def stats(self) -> dict[str, Any]:
        """The semantic index's counters, the penalties applied by where they came from, and the audits'."""
        return {
            "semantic": self.index.stats() if self.index is not None else None,
            "penalties": dict(self.penalties),
            "audit": self.auditor.stats(),
        }

    def _spawn(self, work: Awaitable[None]) -> None:
        if len(self._background) >= MAX_BACKGROUND:
            log.warning("semantic cache: %d penalty shares in flight; one dropped", len(self._background))
            self.penalties["share_failed"] += 1
            if asyncio.iscoroutine(work):
                work.close()
            return
        task = asyncio.ensure_future(work)
        self._background.add(task)

        def done(task: asyncio.Task[Any]) -> None:
            self._background.discard(task)
            if not task.cancelled() and task.exception() is not None:
                self.penalties["share_failed"] += 1
                log.warning("semantic cache penalty share failed: %s", task.exception())

        task.add_done_callback(done)

    async def _share_penalty(self, scope: str, digest: bytes, score: float, need: float) -> None:
        fields: dict[str, str | bytes] = {
            "kind": "penalty",
            "scope": scope,
            "digest": digest,
            "score": repr(score),
            "need": repr(need),
            "exp": "0",  # what a gateway of the previous version reads: expired, so it skips the record
            "until": str(time.time() + TIGHTENED_TTL_S),
            "origin": self._origin,
        }
        args = [
            self.settings.max_entries,
            max(1, math.ceil(self.settings.ttl_s * 1000)),
            TIGHTENED_TTL_S * 1000,
            MAX_TIGHTENED_SCOPES,
            scope,
            repr(need),
            int(time.time() * 1000),
            *(x for pair in fields.items() for x in pair),
        ]
        await self._penalize(keys=[STREAM, TIGHTENED, TIGHTENED_AT], args=args)
        self.penalties["shared"] += 1

    async def _forward(self, request_id: str, score: float) -> None:
        fields = {"kind": "verdict", "request_id": request_id, "score": repr(score), "exp": "0",
                  "until": str(time.time() + VERDICT_TTL_S), "origin": self._origin}
        args = [self.settings.max_entries, math.ceil(VERDICT_TTL_S * 1000), max(1, math.ceil(self.verdict_window_s * 1000)),
                *(x for pair in fields.items() for x in pair)]
        if await self._forward_script(keys=[STREAM, VERDICT_MARK + request_id], args=args) is None:
            self.penalties["verdict_repeated"] += 1  # a replica forwarded a verdict on this request already
        else:
            self.penalties["forwarded"] += 1

    async def _load_tightened(self) -> None:
        """Scopes other replicas tightened before this one started (read once, at start)."""
        shared = await self._redis.hgetall(TIGHTENED)
        for scope, need in shared.items():
            with contextlib.suppress(ValueError):
                self.index.tighten(scope.decode(), float(need))

    def _apply(self, fields: dict[bytes, bytes], now: float) -> None:
        """A peer's penalty or forwarded verdict from the stream."""
        kind = fields.get(b"kind")
        if kind == b"penalty":
            scope, digest = fields[b"scope"].decode(), fields[b"digest"]
            # An eviction applies whenever it is read (a replica that starts later replays the entry, then
            # this); the tightening only while the record is live (past that, the shared hash holds it).
            if float(fields[b"until"]) > now:
                self.index.penalize(scope, digest, float(fields[b"score"]))
                self.index.tighten(scope, float(fields[b"need"]))
            else:
                self.index.evict(scope, digest)
            self.penalties["peer"] += 1
        elif kind == b"verdict" and float(fields[b"until"]) > now:
            served = self._take_served(fields[b"request_id"].decode(), None)  # its tenant was checked where it was given
            if served is not None:
                self.penalize(*served, source="feedback")

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
        scope = self.scope(tenant, chat)
        value = orjson.dumps(entry)
        if self.exact is not None:
            await self.exact.set(exact_key(scope, chat), value, control.ttl_s)
        sem_scope = semantic_scope(scope, chat) if self.index is not None else None
        if sem_scope is None or not _matchable(chat):
            return
        text = chat.messages[-1].content
        assert isinstance(text, str)
        key = (sem_scope, form_key(text))
        if self.index.lazy:
            # No embedding to wait for: the entry is matchable now; only Redis (if any) is left, off the path.
            self.index.add(sem_scope, None, text, value.decode(), ttl_s=control.ttl_s)
            if self._redis is not None and len(self._pending) < MAX_PENDING_STORES and key not in self._pending:
                self._track(key, asyncio.create_task(self._share(sem_scope, None, text, value, control.ttl_s, store_prompts)))
            elif self._redis is not None:
                await self._share(sem_scope, None, text, value, control.ttl_s, store_prompts)
            return
        if len(self._pending) >= MAX_PENDING_STORES or key in self._pending:
            # Backpressure: past the bound (or a store of the same form in flight) this answer waits for its own.
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
        """Tail the shared stream into the local index, from its oldest retained entry, applying
        peers' penalties as they come (after the rule others tightened before this replica started)."""
        from redis.exceptions import ResponseError

        last = "0-0"
        loaded = False
        while True:
            try:
                if not loaded:
                    try:
                        await self._load_tightened()
                    except ResponseError as exc:
                        # Not a hash (another version's key): retrying cannot help, and the tail must still run.
                        log.warning("semantic cache: the shared tightened scopes could not be read: %s", exc)
                    loaded = True
                batches = await self._redis.xread({STREAM: last}, count=1000, block=1000)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis hiccups must not end the tail
                log.warning("semantic cache stream read failed: %s", exc)
                await asyncio.sleep(1.0)
                continue
            now = time.time()
            skipped = 0
            for _, entries in batches or []:
                for entry_id, fields in entries:
                    last = entry_id
                    # One record another version (or a foreign writer) left malformed is skipped: raised out of
                    # here, it would end this tail for good and the replica would silently stop hearing its peers.
                    try:
                        self._read_record(fields, now)
                    except (KeyError, ValueError, TypeError, OverflowError):
                        skipped += 1
            if skipped:
                log.warning("semantic cache: %d malformed records in the stream skipped", skipped)

    def _read_record(self, fields: dict[bytes, bytes], now: float) -> None:
        """One stream record: a peer's entry into the index, or its penalty or forwarded verdict applied."""
        if b"kind" in fields:
            if fields.get(b"origin") != self._origin.encode():
                self._apply(fields, now)
            return
        expires = float(fields[b"exp"])
        if not math.isfinite(expires) or expires <= now or fields.get(b"origin") == self._origin.encode():
            return
        text = fields[b"text"].decode() if b"text" in fields else None
        if text is None and b"digest" not in fields:
            return
        vector = np.frombuffer(fields[b"vec"], dtype=np.float32) if b"vec" in fields else None
        if vector is None and not self.index.lazy:
            return  # a lazy peer's entry: this replica's rule searches by vector and cannot use it
        value = fields[b"value"].decode()
        if not isinstance(kept := orjson.loads(value), dict) or "response" not in kept:
            raise ValueError("a stream entry whose value is not a kept answer")  # serving it would fail the request
        self.index.add(
            fields[b"scope"].decode(),
            vector,
            text,
            value,
            # No longer than this replica's policy keeps an entry, whatever a record claims.
            ttl_s=min(expires - now, self.settings.ttl_s),
            digest=fields.get(b"digest"),
        )


def _matchable(chat: ChatRequest) -> bool:
    """Whether the last message is short enough to be matched by meaning (else: exact cache only)."""
    text = chat.messages[-1].content
    return isinstance(text, str) and len(text) <= MAX_TEXT_CHARS
