"""The semantic cache's miss path costs no embedding: what the lazy index embeds, and when.

Counted through the embedding functions the cache is handed (the same hooks the gateway passes), never
by patching. Vectors come from a deterministic bag-of-words embedder, so no assertion depends on a
model's numerics; every decision asserted is the verifier's exact string logic."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from policies.schema import CacheSettings
from router.cache.responses import CacheControl, ResponseCache
from router.cache.semantic import SemanticIndex
from router.cache.verify import verdict
from router.schemas import parse_chat_request
from tests.servers import start_gateway

DIM = 64
KEEP = CacheControl(lookup=True, store=True, ttl_s=600)


def bag_embed(text: str) -> np.ndarray:
    vec = np.zeros(DIM, dtype=np.float32)
    for word in text.lower().split():
        vec[int.from_bytes(hashlib.blake2b(word.strip("?.,!").encode(), digest_size=4).digest(), "little") % DIM] += 1.0
    vec[0] += 0.01  # never the zero vector
    return vec / np.linalg.norm(vec)


class Counted:
    """The two embedding hooks a cache gets, counting what each was asked to embed."""

    def __init__(self) -> None:
        self.queries: list[str] = []
        self.entries: list[str] = []

    def query(self, text: str) -> Callable[[], Awaitable[np.ndarray]]:
        async def get() -> np.ndarray:
            self.queries.append(text)
            return bag_embed(text)

        return get

    async def texts(self, texts: Sequence[str]) -> list[np.ndarray | None]:
        self.entries.extend(texts)
        return [bag_embed(t) for t in texts]


def chat(text: str) -> Any:
    return parse_chat_request({"model": "auto", "messages": [{"role": "user", "content": text}]})


def cache_with(counted: Counted | None) -> ResponseCache:
    """A semantic-only cache (exact off, so only the semantic path can answer) under the strictest rule
    (no calibration certifies a bound this tight); lazy when given hooks."""
    cache = ResponseCache(CacheSettings(exact=False, semantic=True, max_false_hit_rate=1e-6))
    cache.attach_embedder(DIM, "bag-of-words", None if counted is None else counted.texts)
    cache.index.threshold = 0.5  # candidates by this toy embedder's cosine; the verifier decides
    return cache


def store(cache: ResponseCache, counted: Counted, tenant: str, text: str, answer: str) -> None:
    async def keep() -> None:
        await cache.store(tenant, chat(text), KEEP, {"response": answer}, counted.query(text))
        await cache.drain()

    asyncio.run(keep())


def ask(cache: ResponseCache, counted: Counted, tenant: str, text: str) -> str | None:
    hit = asyncio.run(cache.lookup(tenant, chat(text), counted.query(text)))
    return None if hit is None else hit.entry["response"]


def test_stores_and_misses_embed_nothing_and_a_candidate_is_embedded_once() -> None:
    counted = Counted()
    cache = cache_with(counted)
    assert cache.index.lazy  # alignment 1.0 (the shipped rule) with an embedding hook: lazy
    for i in range(20):
        store(cache, counted, "t", f"what is the boiling point of compound number {i}", f"answer {i}")
    assert counted.queries == [] and counted.entries == []  # storing embeds nothing
    for question in ("what is a monad", "how do I sort a list", "what is the freezing point of water"):
        assert ask(cache, counted, "t", question) is None
    assert counted.queries == [] and counted.entries == []  # misses embed nothing
    store(cache, counted, "t", "what is a functor", "functor")
    assert ask(cache, counted, "t", "What is a functor?") == "functor"
    assert counted.queries == ["What is a functor?"] and counted.entries == ["what is a functor"]
    assert ask(cache, counted, "t", "so, what is a functor") == "functor"
    # The entry keeps its embedding: a second paraphrase embeds only itself.
    assert counted.queries[-1] == "so, what is a functor" and counted.entries == ["what is a functor"]


def test_the_very_same_text_hits_without_any_embedding() -> None:
    counted = Counted()
    cache = cache_with(counted)
    store(cache, counted, "t", "how do i reverse a list in Python", "reverse")
    assert ask(cache, counted, "t", "how do i reverse a list in Python") == "reverse"
    assert counted.queries == [] and counted.entries == []


def test_lazy_and_searched_indexes_decide_the_same() -> None:
    """Same hits and misses (and the same answers) with the entries embedded at store time or when
    first needed, on pairs that keep and pairs that change the meaning."""
    stored = {
        "what is the capital of France": "paris",
        "how do i reverse a list in Python": "reverse",
        "convert 5 miles to kilometres": "8 km",
        "is it safe to eat raw eggs": "eggs",
        "sort the list of users by age": "by-age",
    }
    queries = [
        "What is the capital of France?",
        "what is not the capital of France",
        "what is the capital of germany",
        "How do I reverse a list in Python?",
        "how do i reverse a string in Python",
        "convert 5 miles to kilometres!",
        "convert 6 miles to kilometres",
        "convert 5 kilometres to miles",
        "is it safe to eat raw eggs?",
        "is it unsafe to eat raw eggs",
        "sort the list of users by their age",
        "sort the list of users by name",
        # Greetings the rule folds but whose words are no function words: a key on the content words missed them.
        "Okay, what is the capital of France?",
        "Hi, how do I reverse a list in Python?",
    ]
    answers = []
    for lazy in (False, True):
        counted = Counted()
        cache = cache_with(counted if lazy else None)
        assert cache.index.lazy is lazy
        for text, answer in stored.items():
            store(cache, counted, "t", text, answer)
        answers.append([ask(cache, counted, "t", q) for q in queries])
    assert answers[0] == answers[1]
    assert answers[1].count(None) < len(queries)  # some hit (the comparison is not vacuous)
    assert answers[1][1] is None and answers[1][6] is None  # and meaning changes miss in both
    assert answers[1][-2:] == ["paris", "reverse"]


def test_lazy_semantic_path_is_tenant_scoped() -> None:
    counted = Counted()
    cache = cache_with(counted)
    store(cache, counted, "tenant-a", "how do i reverse a list in Python", "a's answer")
    assert ask(cache, counted, "tenant-b", "How do I reverse a list in Python?") is None
    assert ask(cache, counted, "tenant-b", "how do i reverse a list in Python") is None
    assert counted.queries == [] and counted.entries == []  # another tenant's entry is no candidate
    assert ask(cache, counted, "tenant-a", "How do I reverse a list in Python?") == "a's answer"


def test_a_looser_rule_keeps_the_searched_index() -> None:
    """Alignment below 1.0 cannot be decided by a hash of the content words: entries are embedded when
    stored and searched by vector, as before."""
    counted = Counted()
    cache = ResponseCache(CacheSettings(exact=False, semantic=True, max_false_hit_rate=0.5))
    cache.attach_embedder(DIM, "bag-of-words", counted.texts)
    if cache.index.min_alignment >= 1.0:
        pytest.skip("the calibration certifies no looser rule at this bound")
    assert not cache.index.lazy
    store(cache, counted, "t", "what is a functor", "functor")
    assert counted.queries == ["what is a functor"]


def test_expired_and_evicted_lazy_entries_leave_nothing_to_embed() -> None:
    now = [0.0]
    index = SemanticIndex(dim=DIM, max_entries=2, ttl_s=10, verifier=verdict, min_alignment=1.0, lazy=True, clock=lambda: now[0])
    assert index.lazy
    index.add("s", None, "what is a functor", "f")
    index.add("s", None, "what is a monad", "m")
    index.add("s", None, "what is a lens", "l")  # evicts the functor (least recently used)
    assert index.embedding_needs("s", "What is a functor?") == (False, [])
    assert not index.may_match("s", "What is a functor?")
    needs = index.embedding_needs("s", "What is a monad?")
    assert needs[0] and [text for _, text in needs[1]] == ["what is a monad"]
    now[0] = 11.0
    assert index.match("s", bag_embed("what is a lens"), "what is a lens") is None  # expired
    assert not index.has_scope("s") and len(index) == 0 and index.stats()["scopes"] == 0
    index.add("s", None, "what is a functor", "f")
    assert index.stats()["scopes"] == 1  # a lazy scope has entries but no search structure
    with pytest.raises(ValueError):
        SemanticIndex(dim=DIM).add("s", None, "x", "v")  # a searched index needs the vector


def test_replicas_share_lazy_entries_through_redis_without_vectors(redis_url: str) -> None:
    """A lazy replica's stream entry carries no vector: a peer embeds it when a query first needs it, and
    a digest-only entry (store_prompts: false) answers the very same text without any embedding."""
    import uuid

    import redis.asyncio as redis

    from router.cache.responses import STREAM

    tenant = f"t-{uuid.uuid4().hex}"
    kept, secret = "how do i reverse a list in Python", "what is the boiling point of ethanol"

    def replica(counted: Counted) -> ResponseCache:
        cache = ResponseCache(CacheSettings(exact=False, semantic=True, max_false_hit_rate=1e-6), redis_url)
        cache.attach_embedder(DIM, "bag-of-words", counted.texts)
        cache.index.threshold = 0.5
        return cache

    async def scenario() -> tuple[list[str | None], Counted, Counted, list[dict[bytes, bytes]]]:
        seen_a, seen_b = Counted(), Counted()
        a, b = replica(seen_a), replica(seen_b)
        await a.start()
        await b.start()
        try:
            await a.store(tenant, chat(kept), KEEP, {"response": "reverse"}, seen_a.query(kept))
            await a.store(tenant, chat(secret), KEEP, {"response": "78 C"}, seen_a.query(secret), store_prompts=False)
            await a.drain()
            for _ in range(200):  # b tails the stream
                if len(b.index) >= 2:
                    break
                await asyncio.sleep(0.02)
            answers = []
            for text in ("How do I reverse a list in Python?", secret, "What is the boiling point of ethanol?"):
                hit = await b.lookup(tenant, chat(text), seen_b.query(text))
                answers.append(None if hit is None else hit.entry["response"])
            client: Any = redis.from_url(redis_url)
            entries = [fields for _, fields in await client.xrange(STREAM) if fields.get(b"origin") == a._origin.encode()]
            await client.aclose()
            return answers, seen_a, seen_b, entries
        finally:
            await a.aclose()
            await b.aclose()

    answers, seen_a, seen_b, entries = asyncio.run(scenario())
    assert answers == ["reverse", "78 C", None]  # the digest-only entry answers its very same text only
    assert seen_a.queries == [] and seen_a.entries == []  # storing embedded nothing
    assert seen_b.entries == [kept] and seen_b.queries == ["How do I reverse a list in Python?"]
    assert len(entries) == 2 and all(b"vec" not in fields for fields in entries)
    # The two shares run as concurrent tasks: their order in the stream is not the stores' order.
    assert sorted(b"text" in fields for fields in entries) == [False, True]


def test_the_gateway_runs_the_lazy_index_and_says_so(tmp_path: Path) -> None:
    """Through a real gateway process (in-process fake engine, real MiniLM): the banner says the index is
    lazy, a retyping of the same form hits, a different question misses."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\n"
        "tiers:\n  local: {engine: fake, model: local-fake, max_output_tokens: 8, prices: {input_per_mtok: 0, output_per_mtok: 0}}\n"
        "routing: {classifier: rules}\n"
        "cache: {exact: false, semantic: true, max_false_hit_rate: 0.000001}\n"
    )
    gateway = start_gateway(policy, tmp_path, env={"SWITCHYARD_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"})
    try:
        outcomes = []
        for text in ("how do i reverse a list in Python", "How do I reverse a list in Python?", "how do i sort a list in Python"):
            body = {"model": "local", "messages": [{"role": "user", "content": text}], "max_tokens": 8}
            reply = httpx.post(gateway.url + "/v1/chat/completions", json=body, timeout=60)
            assert reply.status_code == 200, reply.text
            outcomes.append(reply.headers["x-switchyard-cache"])
        banner = gateway.output()
    finally:
        gateway.stop()
    if "semantic cache off" in banner:
        pytest.skip("the MiniLM embedder is not available here")
    assert "embedded only when an entry has the same form" in banner
    assert outcomes == ["miss", "hit-semantic", "miss"]


def _retypings(base: str, rng: random.Random) -> list[str]:
    """Variants of ``base`` as people retype it, and a few that change it; each applies 1-3 edits."""
    edits = [
        lambda t: t[:1].upper() + t[1:],
        lambda t: t + "?",
        lambda t: t + ".",
        lambda t: t + "!",
        lambda t: t + "? Thanks!",
        lambda t: "Hey, " + t,
        lambda t: "Okay, " + t,
        lambda t: "hello " + t,
        lambda t: "So, " + t,
        lambda t: "Please " + t,
        lambda t: "Could you " + t,
        lambda t: t.replace(" ", "  ", 1),
        lambda t: t.replace("what is", "what's").replace("What is", "What's"),
        lambda t: t.replace("'", "\u2019"),
        lambda t: t.replace("the", "a", 1),
        lambda t: " ".join(t.split()[:-1]),
        lambda t: t.upper(),
        lambda t: t.replace("i ", "I ", 1),
    ]
    out = []
    for _ in range(12):
        text = base
        for edit in rng.sample(edits, rng.randint(1, 3)):
            text = edit(text)
        out.append(text)
    return out


def test_the_lazy_index_finds_every_entry_the_verifier_would_accept() -> None:
    """With the cosine out of the way (threshold -1), the lazy index's form-key lookup and the searched index's
    scan of every entry serve the same answers on generated retypings: the key drops no candidate the rule accepts."""
    stored = {
        "what is the capital of France": "paris",
        "how do i reverse a list in Python": "reverse",
        "explain recursion": "recursion",
        "list the planets of the solar system": "planets",
        "what's the boiling point of water": "boiling",
        "tell me a joke about cats": "joke",
        "I'm looking for a good book on history": "book",
        "sort the list of users by age": "by-age",
    }
    rng = random.Random(7)
    queries = [q for text in stored for q in _retypings(text, rng)]
    answers = []
    for lazy in (False, True):
        counted = Counted()
        cache = cache_with(counted if lazy else None)
        cache.index.threshold = -1.0
        for text, answer in stored.items():
            store(cache, counted, "t", text, answer)
        answers.append([ask(cache, counted, "t", q) for q in queries])
    assert answers[0] == answers[1]
    assert sum(a is not None for a in answers[1]) >= len(queries) // 4  # many retypings hit: the comparison is not vacuous


def test_the_very_same_text_is_found_among_many_entries_of_its_form() -> None:
    """More entries of one form than a lookup checks (16): the very same text is still a candidate, first, as it
    is first by cosine in the searched index; in a scope tightened past the same form it is the only one, and
    neither a retyping nor the same text costs an embedding there."""
    base = "what is the capital of France"
    openers = ["", "Hey, ", "Okay, ", "So, ", "Hi, ", "Hello, ", "hey ", "ok ", "okay ", "so ", "hi ", "hello ", "Well, "]
    variants = [base] + [o + base + end for o in openers for end in ("?", ".") if o + base + end != base]
    assert len(variants) > 20
    answers = []
    for lazy in (False, True):
        counted = Counted()
        cache = cache_with(counted if lazy else None)
        for i, text in enumerate(variants):
            store(cache, counted, "t", text, f"answer-{i}")
        scope = next(iter(cache.index._scopes))
        cache.index.tighten(scope, 1.000001)
        before = list(counted.queries), list(counted.entries)
        answers.append((ask(cache, counted, "t", base), ask(cache, counted, "t", "Hey, what is the capital of France!")))
        if lazy:
            assert (counted.queries, counted.entries) == before  # nothing embedded in the tightened scope
    assert answers[0] == answers[1] == ("answer-0", None)
