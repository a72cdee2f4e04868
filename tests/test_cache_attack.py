"""Attacks on the response cache by a tenant holding a valid key: reading or poisoning another tenant's
answers, evicting or tightening its entries, outliving the operator's TTL, and crashing the gateway
through what Redis holds (entries an older version wrote, a Redis gone mid-request).

Real parts throughout: the real gateway app in process (openai SDK clients over ASGI), a real private
redis-server per test, a local OpenAI-protocol upstream on 127.0.0.1 as the model
(tests/faulty_upstream.py), and the deterministic bag-of-words embedder where MiniLM would be, so every
semantic hit asserted is the verifier's exact string logic."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
import redis as redis_sync
from typer.testing import CliRunner

from policies.loader import load_policy_text
from policies.schema import CacheSettings
from policies.settings import current as current_settings
from router.app import create_app
from router.cache.keys import exact_key, semantic_scope
from router.cache.responses import STREAM, TIGHTENED, CacheControl, ResponseCache
from router.cli import app as cli
from router.gateway import Gateway
from router.ledger import Ledger
from router.schemas import parse_chat_request
from tests.faulty_upstream import FaultyUpstream
from tests.servers import Process, start_redis
from tests.test_cache_audit import DIM, BagGateway, bag_embed

POLICY = """
version: 1
name: cache-attack
{extra}
tiers:
  local:
    engine: openai
    model: local
    upstream_model: {model}
    base_url: {upstream}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 1000, output_per_mtok: 2000}}
routing: {{classifier: rules}}
cache: {{exact: true, semantic: {semantic}, ttl_s: {ttl}}}
"""


@pytest.fixture()
def private_redis(tmp_path: Path) -> Iterator[Process]:
    """A redis-server of this test's own: its contents are what the test reads, and it may stop it."""
    server = start_redis(tmp_path)
    if server is None:
        pytest.skip("redis-server is not installed")
    yield server
    server.stop()


def create_key(url: str, tenant: str) -> str:
    made = CliRunner().invoke(
        cli,
        ["keys", "create", "--tenant", tenant, "--team", "ops", "--budget-usd", "1000", "--period", "total", "--json"],
        env={"SWITCHYARD_DATABASE_URL": url},
    )
    assert made.exit_code == 0, made.output
    return str(json.loads(made.output)["key"])


def calls(upstream: FaultyUpstream, model: str) -> int:
    return sum(1 for c in httpx.get(upstream.url + "/calls").json() if c["model"] == model)


@asynccontextmanager
async def gateway_app(url: str, redis_url: str | None, upstream: FaultyUpstream, model: str, *, semantic: bool = False,
                      ttl: float = 3600, extra: str = "") -> AsyncIterator[tuple[Gateway, Callable[[str], openai.AsyncOpenAI]]]:
    """The real gateway (BagGateway: the deterministic embedder) in process, and an openai SDK client per key."""
    policy = load_policy_text(POLICY.format(model=model, upstream=upstream.url, semantic=str(semantic).lower(), ttl=ttl, extra=extra))
    settings = dataclasses.replace(current_settings(), redis_url=redis_url, database_url=url)
    gateway = BagGateway(policy, ledger=Ledger(url), settings=settings)
    await gateway.start()
    transport = httpx.ASGITransport(app=create_app(gateway))
    http = httpx.AsyncClient(transport=transport, base_url="http://gateway")

    def client(key: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(api_key=key, base_url="http://gateway/v1", http_client=http, max_retries=0)

    try:
        yield gateway, client
    finally:
        await http.aclose()
        await gateway.aclose()


async def ask(client: openai.AsyncOpenAI, text: str, headers: dict[str, str] | None = None, **extra: Any) -> tuple[str, str, str]:
    """(x-switchyard-cache, the answer's text, the request id) of one chat request."""
    raw = await client.chat.completions.with_raw_response.create(
        model="local", messages=[{"role": "user", "content": text}], temperature=0, extra_headers=headers, **extra)
    answer = raw.parse()
    return raw.headers["x-switchyard-cache"], answer.choices[0].message.content or "", raw.headers["x-switchyard-request-id"]


def body(text: str) -> dict[str, Any]:
    return {"model": "local", "messages": [{"role": "user", "content": text}], "temperature": 0}


# Entries an older or foreign writer may have left under an exact key: not JSON, JSON of another shape.
MALFORMED = [b"\x80\x81 not json", b"[]", b"null", b'{"answer": "hi"}', b'{"response": "a string"}',
             b'{"response": {"choices": "abc"}}', b'{"response": {"choices": [{"message": "text"}]}}',
             b'{"response": {"choices": [{"message": {"content": "x"}}]}, "usage": {"prompt_tokens": "many"}, "cost_nanousd": "z"}']


def test_malformed_exact_entries_in_redis_are_misses_not_500s(private_redis: Process, upstream: FaultyUpstream,
                                                              tmp_path: Path) -> None:
    """Whatever an exact key holds in Redis (an older version's format, a foreign writer's bytes), the request
    is answered by the model and the entry replaced with a good one: never a 500 through the cache."""
    url = f"sqlite:///{tmp_path}/ledger.db"
    key = create_key(url, "alpha")
    model = f"attack-malformed-{uuid.uuid4().hex[:8]}"
    store = redis_sync.Redis.from_url(private_redis.url)

    async def main() -> list[tuple[str, str]]:
        async with gateway_app(url, private_redis.url, upstream, model) as (gateway, client):
            seen = []
            for i, raw in enumerate(MALFORMED):
                text = f"question number {i}"
                chat = parse_chat_request(body(text))
                store.set("sy:cache:" + exact_key(gateway.cache.scope("alpha", chat), chat), raw)
                state, answer, _ = await ask(client(key), text)
                seen.append((state, answer))
                state, answer, _ = await ask(client(key), text)  # the model's answer replaced what was there
                seen.append((state, answer))
            return seen

    seen = asyncio.run(main())
    assert [s for s, _ in seen] == ["miss", "hit-exact"] * len(MALFORMED)
    assert all(answer == "Hello from the faulty upstream." for _, answer in seen)
    assert calls(upstream, model) == len(MALFORMED)


def test_a_redis_gone_mid_service_is_a_miss_not_a_500(private_redis: Process, upstream: FaultyUpstream, tmp_path: Path) -> None:
    """The cache's Redis goes away between two requests: the next one is answered by the model (the cache is
    an optimisation, never a reason to fail), with no key configured so no budget lives in Redis."""
    url = f"sqlite:///{tmp_path}/ledger.db"
    model = f"attack-gone-{uuid.uuid4().hex[:8]}"

    async def main() -> list[Any]:
        async with gateway_app(url, private_redis.url, upstream, model) as (_, client):
            first = await ask(client("anonymous"), "what is the tallest mountain")
            again = await ask(client("anonymous"), "what is the tallest mountain")
            private_redis.stop()
            try:
                gone = await ask(client("anonymous"), "what is the tallest mountain")
            except openai.APIStatusError as exc:
                gone = (exc.status_code, exc.message)
            return [first[0], again[0], gone[0] if isinstance(gone[0], str) else gone]

    assert asyncio.run(main()) == ["miss", "hit-exact", "miss"]
    assert calls(upstream, model) == 2


def test_tenants_share_no_exact_or_semantic_entry_and_feedback_cannot_cross(private_redis: Process, upstream: FaultyUpstream,
                                                                            tmp_path: Path) -> None:
    """Tenant alpha asks what beta asked (the same words, then a paraphrase): both are misses, answered by
    the model. Alpha's feedback on beta's hit (its request id learned somehow) is a 404 and evicts nothing."""
    url = f"sqlite:///{tmp_path}/ledger.db"
    alpha, beta = create_key(url, "alpha"), create_key(url, "beta")
    model = f"attack-tenants-{uuid.uuid4().hex[:8]}"

    async def main() -> dict[str, Any]:
        async with gateway_app(url, private_redis.url, upstream, model, semantic=True) as (gateway, client):
            b = client(beta)
            a = client(alpha)
            out: dict[str, Any] = {"beta_first": (await ask(b, "how do i reverse a list in Python"))[0]}
            await gateway.cache.drain()
            out["beta_para"], _, beta_hit = await ask(b, "How do I reverse a list in Python?")
            out["alpha_same"] = (await ask(a, "how do i reverse a list in Python"))[0]
            out["alpha_para"] = (await ask(a, "How do I reverse a list in Python?"))[0]
            assert gateway.ledger.flush()
            try:
                await a.post("/feedback", body={"request_id": beta_hit, "score": 0}, cast_to=httpx.Response)
                out["feedback"] = 200
            except openai.APIStatusError as exc:
                out["feedback"] = exc.status_code
            out["beta_after"] = (await ask(b, "How do I reverse a list in Python?"))[0]
            out["penalties"] = gateway.cache.stats()["penalties"]
            return out

    out = asyncio.run(main())
    assert out["beta_first"] == "miss" and out["beta_para"] == "hit-semantic"
    assert out["alpha_same"] == "miss" and out["alpha_para"] in ("hit-exact", "hit-semantic")  # alpha's own entry now
    assert out["feedback"] == 404 and out["beta_after"] == "hit-semantic"
    assert out["penalties"]["feedback"] == 0 and out["penalties"]["forwarded"] == 0
    assert calls(upstream, model) == 2


def test_a_clients_ttl_header_cannot_outlive_the_policys_ttl(private_redis: Process, upstream: FaultyUpstream, tmp_path: Path) -> None:
    """`x-switchyard-cache-ttl` may shorten an entry's life, not lengthen it past the operator's cache.ttl_s:
    else a tenant keeps answers in Redis (and, shared across tenants, serves them to others) for 30 days."""
    url = f"sqlite:///{tmp_path}/ledger.db"
    key = create_key(url, "alpha")
    model = f"attack-ttl-{uuid.uuid4().hex[:8]}"
    store = redis_sync.Redis.from_url(private_redis.url)

    async def main() -> list[int]:
        async with gateway_app(url, private_redis.url, upstream, model, semantic=True, ttl=60) as (gateway, client):
            ttls = []
            for text, header in (("long lived please", "2592000"), ("short lived please", "5")):
                await ask(client(key), text, headers={"x-switchyard-cache-ttl": header})
                await gateway.cache.drain()
                chat = parse_chat_request(body(text))
                ttls.append(int(store.pttl("sy:cache:" + exact_key(gateway.cache.scope("alpha", chat), chat))))
            ttls.append(int(store.pttl(STREAM)))
            return ttls

    long_lived, short_lived, stream = asyncio.run(main())
    assert 0 < long_lived <= 60_000 and 0 < short_lived <= 5_000
    assert 0 < stream <= 60_000


def test_store_prompts_false_leaves_no_prompt_text_in_redis(private_redis: Process, upstream: FaultyUpstream, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    key = create_key(url, "alpha")
    model = f"attack-prompts-{uuid.uuid4().hex[:8]}"
    secret = f"my secret diagnosis is {uuid.uuid4().hex}"
    store = redis_sync.Redis.from_url(private_redis.url)

    async def main() -> list[str]:
        async with gateway_app(url, private_redis.url, upstream, model, semantic=True, extra="store_prompts: false") as (gw, client):
            states = [(await ask(client(key), secret))[0]]
            await gw.cache.drain()
            states.append((await ask(client(key), secret))[0])
            return states

    assert asyncio.run(main()) == ["miss", "hit-exact"]
    dump = b""
    for name in store.scan_iter():
        kind = store.type(name)
        dump += name
        if kind == b"string":
            dump += store.get(name) or b""
        elif kind == b"stream":
            for _, fields in store.xrange(name):
                dump += b"".join(k + v for k, v in fields.items())
        elif kind == b"hash":
            dump += b"".join(k + v for k, v in store.hgetall(name).items())
    assert dump and secret.encode() not in dump and b"secret diagnosis" not in dump


async def _embed_texts(texts: Sequence[str]) -> list[np.ndarray | None]:
    return [bag_embed(t) for t in texts]


def _query(text: str) -> Callable[[], Awaitable[np.ndarray]]:
    async def get() -> np.ndarray:
        return bag_embed(text)

    return get


async def _replica(url: str) -> ResponseCache:
    cache = ResponseCache(CacheSettings(exact=False, semantic=True), url)
    cache.attach_embedder(DIM, "bag-of-words", _embed_texts)
    cache.index.threshold = 0.5
    await cache.start()
    return cache


def test_malformed_stream_records_do_not_stop_a_replica_tailing(private_redis: Process) -> None:
    """Records an older version (or a foreign writer) left in the shared stream: missing fields, bytes that
    are not UTF-8, a vector of another dimension, a tightened-scopes key of the wrong type. A replica skips
    them and still gets its peers' entries; else one bad record ends its tail for good, silently."""
    store = redis_sync.Redis.from_url(private_redis.url)
    store.set(TIGHTENED, "not a hash")
    future = str(10**10).encode()
    for fields in ({b"scope": b"s:x"}, {b"scope": b"s:x", b"exp": b"soon", b"text": b"hi", b"value": b"{}"},
                   {b"scope": b"s:x", b"exp": future, b"text": b"hi", b"value": b"\xff\xfe"},
                   {b"scope": b"\xff", b"exp": future, b"text": b"hi", b"value": b"{}"},
                   {b"scope": b"s:x", b"exp": future, b"text": b"hi", b"value": b"{}", b"vec": b"\x00\x00\x80?"},
                   {b"scope": b"s:x", b"exp": future, b"value": b"{}", b"vec": np.ones(DIM, np.float32).tobytes()},
                   {b"kind": b"penalty", b"scope": b"s:x"}, {b"kind": b"verdict"},
                   {b"scope": b"s:x", b"exp": b"inf", b"text": b"hi", b"value": b'{"response": {}}'}):
        store.xadd(STREAM, fields)
    chat = parse_chat_request({"model": "auto", "messages": [{"role": "user", "content": "how do i sort a dict by value"}]})
    # Well formed but for its value: a hit on it would be served as an answer, and fail (a 500) or say nothing.
    bad = parse_chat_request({"model": "auto", "messages": [{"role": "user", "content": "what is a monad"}]})
    bad_scope = semantic_scope(ResponseCache(CacheSettings()).scope("t"), bad)
    assert bad_scope is not None
    for value in (b"[]", b'{"answer": 1}', b"not json"):
        store.xadd(STREAM, {b"scope": bad_scope.encode(), b"exp": future, b"text": b"what is a monad", b"value": value})

    async def main() -> bool:
        writer = await _replica(private_redis.url)
        reader = await _replica(private_redis.url)
        try:
            await writer.store("t", chat, CacheControl(lookup=True, store=True, ttl_s=600), {"response": {"choices": []}},
                               _query("how do i sort a dict by value"))
            await writer.drain()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while loop.time() < deadline:
                if await reader.lookup("t", chat, _query("how do i sort a dict by value")) is not None:
                    return await reader.lookup("t", bad, _query("what is a monad")) is None
                await asyncio.sleep(0.05)
            return False
        finally:
            await writer.aclose()
            await reader.aclose()

    assert asyncio.run(main()), "the reader never got its peer's entry past the malformed records"


def test_a_redis_that_stops_answering_is_a_miss_not_a_hung_request(private_redis: Process, upstream: FaultyUpstream,
                                                                   tmp_path: Path) -> None:
    """The cache's Redis stops answering (stopped, its connections open): a request is still answered by the
    model, after a bounded wait, instead of hanging on the lookup for as long as the connection lives."""
    url = f"sqlite:///{tmp_path}/ledger.db"
    model = f"attack-hung-{uuid.uuid4().hex[:8]}"

    async def main() -> list[str]:
        async with gateway_app(url, private_redis.url, upstream, model) as (_, client):
            first = await ask(client("anonymous"), "what is the longest river")
            private_redis.proc.send_signal(signal.SIGSTOP)
            try:
                patient = client("anonymous").with_options(timeout=120)
                hung = await ask(patient, "what is the longest river")
            except openai.APITimeoutError:
                hung = ("timed out", "", "")
            finally:
                private_redis.proc.send_signal(signal.SIGCONT)
            return [first[0], hung[0]]

    assert asyncio.run(main()) == ["miss", "miss"]
    assert calls(upstream, model) == 2
