"""Three cache fixes: a reload that changes what serves a tier misses that tier's kept answers (and only its);
the semantic cache's audit slots are shared fairly without leaving any idle that a tenant could use; and
negative feedback is forwarded through the shared Redis stream only for requests that were semantic hits.

Real parts throughout: a gateway process with two OpenAI-protocol upstreams on 127.0.0.1 that answer
differently, called with the openai SDK; real Redis (the session's redis-server) and real apps in process
for the feedback forwarding; the audit shares on the real Auditor with its clock handed in, so nothing
waits on time."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import orjson
import pytest
import redis
from aiohttp import web
from sqlalchemy.exc import OperationalError

from policies.loader import load_policy_text
from policies.schema import CacheSettings
from policies.settings import current as current_settings
from router.app import create_app
from router.cache.audit import MAX_IN_FLIGHT, RECENT_S, Auditor
from router.cache.entries import CachedAnswer
from router.cache.keys import Serving
from router.cache.responses import STREAM, CacheControl, ResponseCache
from router.ledger import Ledger
from router.ledger.tables import requests
from router.schemas import parse_chat_request
from tests.servers import Process, free_port, start_gateway
from tests.test_cache_audit import DIM, BagGateway, bag_embed

ADMIN = "admin-cache-fixes2"


class TextUpstream:
    """An OpenAI-protocol upstream that answers every chat request with its own fixed text."""

    def __init__(self, text: str) -> None:
        self.text, self.calls = text, 0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def chat(request: web.Request) -> web.Response:
            body = await request.json()
            self.calls += 1
            answer = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": 0, "model": body["model"],
                      "choices": [{"index": 0, "message": {"role": "assistant", "content": self.text}, "finish_reason": "stop"}],
                      "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}}
            return web.Response(body=orjson.dumps(answer), content_type="application/json")

        async def models(request: web.Request) -> web.Response:
            return web.Response(body=orjson.dumps({"object": "list", "data": []}), content_type="application/json")

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            app = web.Application()
            app.router.add_post("/v1/chat/completions", chat)
            app.router.add_get("/v1/models", models)
            self.runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
            self.loop.run_until_complete(self.runner.setup())
            self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
            ready.set()
            self.loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert ready.wait(10), "upstream did not start"

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


def two_tier_policy(main_url: str, side_url: str) -> str:
    def tier(name: str, url: str) -> str:
        return f"""
  {name}:
    engine: openai
    model: {name}
    upstream_model: {name}-upstream
    base_url: {url}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 1, output_per_mtok: 1}}
    timeouts: {{connect_s: 2, read_s: 10, total_s: 10}}"""

    return (f"version: 1\nname: fixes2\ntiers:{tier('main', main_url)}{tier('side', side_url)}\n"
            "routing: {classifier: rules}\ncache: {exact: true, semantic: false}\n")


@pytest.fixture
def upstreams() -> Iterator[tuple[TextUpstream, TextUpstream]]:
    a, b = TextUpstream("the answer from upstream A"), TextUpstream("the answer from upstream B")
    yield a, b
    a.stop()
    b.stop()


def ask(client: openai.OpenAI, model: str) -> tuple[str, str]:
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "what is the colour of the sky"}], temperature=0)
    return raw.parse().choices[0].message.content or "", raw.headers["x-switchyard-cache"]


def reload(gw: Process) -> dict[str, Any]:
    reply = httpx.post(gw.url + "/admin/policy/reload", headers={"authorization": f"Bearer {ADMIN}"}, timeout=60)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def test_a_reload_that_points_a_tier_elsewhere_misses_its_kept_answers_and_only_its(
    tmp_path: Path, upstreams: tuple[TextUpstream, TextUpstream]
) -> None:
    a, b = upstreams
    path = tmp_path / "policy.yaml"
    path.write_text(two_tier_policy(a.url, a.url))
    env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db", "SWITCHYARD_ADMIN_KEY": ADMIN,
           "SWITCHYARD_POLICY_POLL_S": "0"}
    gw = start_gateway(path, tmp_path, env=env)
    try:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
        assert ask(client, "main") == ("the answer from upstream A", "miss")
        assert ask(client, "side") == ("the answer from upstream A", "miss")
        assert ask(client, "main") == ("the answer from upstream A", "hit-exact")
        # A reload that changes nothing the tiers answer with keeps every entry.
        assert reload(gw)["reloaded"]
        assert ask(client, "main") == ("the answer from upstream A", "hit-exact")
        # `main` now served by upstream B: its next answer is B's; `side`, unchanged, still hits.
        path.write_text(two_tier_policy(b.url, a.url))
        outcome = reload(gw)
        assert outcome["reloaded"] and outcome["changed"] == ["main"]
        calls = b.calls
        assert ask(client, "main") == ("the answer from upstream B", "miss")
        assert b.calls == calls + 1
        assert ask(client, "main") == ("the answer from upstream B", "hit-exact")
        assert ask(client, "side") == ("the answer from upstream A", "hit-exact")
        # A changed default (here the output limit a tier asks for) changes the answer too.
        path.write_text(two_tier_policy(b.url, a.url).replace("max_output_tokens: 16", "max_output_tokens: 17", 1))
        assert reload(gw)["reloaded"]
        assert ask(client, "main")[1] == "miss"
        assert ask(client, "side")[1] == "hit-exact"
    finally:
        gw.stop()


POLICY = """
version: 1
name: views
tiers:
  main: {{engine: fake, model: {main}, max_output_tokens: 32}}
  side: {{engine: fake, model: side-model, max_output_tokens: 32}}
routing: {{classifier: rules}}
cache: {{exact: true, semantic: true}}
"""


def test_both_caches_are_keyed_by_the_serving_tier_and_a_reloads_view_keeps_the_old_gateways_keys() -> None:
    """The semantic scope takes the fingerprint too; and the gateway a reload replaced keeps storing under its own
    policy's fingerprint (a request it admitted was answered by the old tier), not under the new one."""
    old_policy = load_policy_text(POLICY.format(main="main-model"))
    new_policy = load_policy_text(POLICY.format(main="other-model"))
    keep = CacheControl(lookup=True, store=True, ttl_s=600)

    def chat(model: str, text: str) -> Any:
        return parse_chat_request({"model": model, "messages": [{"role": "user", "content": text}], "temperature": 0})

    def vector(text: str) -> Any:
        async def get() -> np.ndarray:
            return bag_embed(text)
        return get

    def entry(text: str) -> dict[str, Any]:
        answer = {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "usage": {},
                  "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}
        return CachedAnswer(answer, "main", "m", {}, 0).to_wire()

    async def embed_texts(texts: Sequence[str]) -> list[np.ndarray | None]:
        return [bag_embed(t) for t in texts]

    async def main() -> dict[str, Any]:
        old = ResponseCache(CacheSettings(exact=True, semantic=True), serving=old_policy)
        old.attach_embedder(DIM, "bag-of-words", embed_texts)
        old.index.threshold = 0.5
        new = old.for_policy(new_policy)
        same = old.for_policy(load_policy_text(POLICY.format(main="main-model")))
        out: dict[str, Any] = {}
        for model in ("main", "side"):
            text = f"what is a functor in {model}"
            await old.store("t", chat(model, text), keep, entry(model), vector(text))
        await old.drain()
        for name, cache in (("new", new), ("same", same)):
            for model in ("main", "side"):
                text, reworded = f"what is a functor in {model}", f"What is a functor in {model}?"
                exact = await cache.lookup("t", chat(model, text), vector(text))
                meaning = await cache.lookup("t", chat(model, reworded), vector(reworded))
                out[f"{name}-{model}"] = (exact and exact.kind, meaning and meaning.kind)
        # The old gateway's late answer (admitted before the reload) does not reach the new gateway's requests.
        await old.store("t", chat("main", "late"), keep, entry("old"), vector("late"))
        await old.drain()
        out["late"] = await new.lookup("t", chat("main", "late"), vector("late"))
        assert new.core is old and same.core is old and new.index is old.index
        await old.aclose()
        return out

    out = asyncio.run(main())
    assert out["new-main"] == (None, None)
    assert out["new-side"] == ("exact", "semantic")
    assert out["same-main"] == ("exact", "semantic") and out["same-side"] == ("exact", "semantic")
    assert out["late"] is None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_tenant_alone_may_use_every_audit_slot() -> None:
    # Without keys every request's tenant is "anonymous": one tenant is the whole gateway.
    auditor = Auditor(rate=1.0, bound=0.05, clock=Clock())
    for _ in range(MAX_IN_FLIGHT):
        assert auditor.admit("anonymous") is None
    assert auditor.busy and auditor.admit("anonymous") == "busy"
    assert auditor.counts["skipped_tenant_share"] == 0


def test_two_flooding_tenants_cannot_starve_a_third_and_free_slots_are_used() -> None:
    clock = Clock()
    auditor = Auditor(rate=1.0, bound=0.05, clock=clock)
    # Two tenants flood: between them they take every slot (nobody else wants one).
    while auditor.admit("a") is None and auditor.admit("b") is None:
        pass
    assert auditor.busy
    # A third's sampled hit finds no slot. It is owed its share (8 // 3), which neither flood may take.
    assert auditor.admit("c") == "busy" and auditor.owed("a") == MAX_IN_FLIGHT // 3
    auditor.release("a")
    assert auditor.admit("a") == "share" and auditor.admit("b") == "share"
    assert auditor.admit("c") is None and auditor.busy
    auditor.release("b")
    assert auditor.admit("a") == "share" and auditor.admit("c") is None and auditor.busy
    # c holds its share: nobody is owed a slot, so one that frees is anyone's (work-conserving).
    assert auditor.owed() == 0
    auditor.release("b")
    assert auditor.admit("a") is None and auditor.busy
    # A fourth tenant is owed its share too; once it has not been sampled for RECENT_S it is owed nothing.
    assert auditor.admit("d") == "busy"
    auditor.release("a")
    assert auditor.full_for("a") and auditor.full_for("b")
    clock.now += RECENT_S + 1
    assert not auditor.full_for("a") and auditor.owed() == 0
    assert auditor.stats()["skipped_tenant_share"] == 3


# Forwarding negative feedback through the shared stream.

FEEDBACK_POLICY = """
version: 1
name: replicas
tiers:
  local: {engine: fake, model: local-fake, max_output_tokens: 32, prices: {input_per_mtok: 1000, output_per_mtok: 2000}}
routing: {classifier: rules}
cache: {exact: false, semantic: true}
"""


def verdicts(redis_url: str, request_id: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return sum(1 for _, fields in client.xrange(STREAM)
                   if fields.get(b"kind") == b"verdict" and fields.get(b"request_id") == request_id.encode())
    finally:
        client.close()


def test_feedback_is_forwarded_only_for_a_semantic_hit_another_replica_served(redis_url: str, tmp_path: Path) -> None:
    """The stream is trimmed by length and shared by every tenant: a verdict record for a request that was never
    a semantic hit (a miss, an exact hit) could only push other tenants' records out, so none is written."""
    url = f"sqlite:///{tmp_path}/ledger.db"
    settings = dataclasses.replace(current_settings(), redis_url=redis_url, database_url=url)
    # Fresh entries (the stream is shared with other tests), in letters: digits would make a number the meaning guard reads.
    words = "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:8])

    async def scenario() -> dict[str, Any]:
        a = BagGateway(load_policy_text(FEEDBACK_POLICY), ledger=Ledger(url), settings=settings)
        b = BagGateway(load_policy_text(FEEDBACK_POLICY), ledger=Ledger(url), settings=settings)
        await a.start()
        await b.start()
        try:
            ca = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(a)), base_url="http://a")
            cb = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(b)), base_url="http://b")

            async def ask(client: httpx.AsyncClient, text: str) -> httpx.Response:
                # A scope of this test's own: other tests' penalties tighten scopes in the same Redis for good.
                messages = [{"role": "system", "content": f"Session {words}."}, {"role": "user", "content": text}]
                body = {"model": "local", "messages": messages, "temperature": 0}
                reply = await client.post("/v1/chat/completions", json=body)
                assert reply.status_code == 200, reply.text
                return reply

            # Misses answered by b, each bad-rated on a: none was a cache hit, nothing goes to the stream.
            topics = ["the capital of France", "a functor", "the boiling point of water", "a monad", "the speed of light"]
            misses = [await ask(cb, f"what is {topic} {words}") for topic in topics]
            assert b.ledger.flush()
            for reply in misses:
                posted = await ca.post("/v1/feedback", json={"request_id": reply.headers["x-switchyard-request-id"], "score": 0})
                assert posted.status_code == 200, posted.text
            miss_ids = [r.headers["x-switchyard-request-id"] for r in misses]
            # A semantic hit b served, bad-rated on a: forwarded, and b undoes it.
            await b.cache.drain()
            hit = await ask(cb, f"What is the capital of France {words}?")
            rid = hit.headers["x-switchyard-request-id"]
            assert b.ledger.flush()
            posted = await ca.post("/v1/feedback", json={"request_id": rid, "score": 0})
            for _ in range(500):
                if b.cache.stats()["penalties"]["feedback"] >= 1:
                    break
                await asyncio.sleep(0.01)
            await ca.aclose()
            await cb.aclose()
            return {"hit": hit.headers["x-switchyard-cache"], "posted": posted.status_code, "rid": rid, "miss_ids": miss_ids,
                    "a": a.cache.stats()["penalties"], "b": b.cache.stats()["penalties"],
                    "misses": [m.headers["x-switchyard-cache"] for m in misses]}
        finally:
            await a.aclose()
            await b.aclose()

    out = asyncio.run(scenario())
    assert out["misses"] == ["miss"] * 5 and out["hit"] == "hit-semantic" and out["posted"] == 200
    assert [verdicts(redis_url, rid) for rid in out["miss_ids"]] == [0] * 5
    assert out["a"]["forwarded"] == 1 and verdicts(redis_url, out["rid"]) == 1
    assert out["b"]["feedback"] == 1


def _words() -> str:
    # Fresh entries (the stream is shared with other tests), in letters: digits would make a number the meaning guard reads.
    return "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:8])


async def _ask(client: httpx.AsyncClient, words: str, text: str) -> httpx.Response:
    messages = [{"role": "system", "content": f"Session {words}."}, {"role": "user", "content": text}]
    reply = await client.post("/v1/chat/completions", json={"model": "local", "messages": messages, "temperature": 0})
    assert reply.status_code == 200, reply.text
    return reply


def test_a_verdict_is_forwarded_once_per_request_and_only_while_a_replica_could_act_on_it(redis_url: str, tmp_path: Path) -> None:
    """One semantic hit must not let a tenant append without end to the stream every tenant shares (trimmed by
    length): rated bad again and again, on this replica and on the one that served it, its verdict is forwarded
    once. And a hit older than its entry could live (cache.ttl_s) has nothing left to evict anywhere: not forwarded."""
    url = f"sqlite:///{tmp_path}/ledger.db"
    settings = dataclasses.replace(current_settings(), redis_url=redis_url, database_url=url)
    words = _words()

    async def scenario() -> dict[str, Any]:
        a = BagGateway(load_policy_text(FEEDBACK_POLICY), ledger=Ledger(url), settings=settings)
        b = BagGateway(load_policy_text(FEEDBACK_POLICY), ledger=Ledger(url), settings=settings)
        await a.start()
        await b.start()
        try:
            ca = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(a)), base_url="http://a")
            cb = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(b)), base_url="http://b")
            await _ask(cb, words, f"what is the capital of France {words}")
            await _ask(cb, words, f"what is a functor {words}")
            await b.cache.drain()
            hit = await _ask(cb, words, f"What is the capital of France {words}?")
            old = await _ask(cb, words, f"What is a functor {words}?")
            rid, old_rid = hit.headers["x-switchyard-request-id"], old.headers["x-switchyard-request-id"]
            assert b.ledger.flush()
            statuses = []
            for _ in range(10):  # the same tenant rates the same hit bad again and again, on a ...
                statuses.append((await ca.post("/v1/feedback", json={"request_id": rid, "score": 0})).status_code)
            for _ in range(500):
                if b.cache.stats()["penalties"]["feedback"] >= 1:
                    break
                await asyncio.sleep(0.01)
            for _ in range(3):  # ... and on b, which served it and has applied it
                statuses.append((await cb.post("/v1/feedback", json={"request_id": rid, "score": 0})).status_code)
            # The other hit, made longer ago than any entry lives: the ledger row says when.
            with b.ledger.engine.begin() as connection:
                connection.execute(requests.update().where(requests.c.request_id == old_rid)
                                   .values(created_at=datetime.now(UTC) - timedelta(seconds=a.cache.settings.ttl_s + 60)))
            statuses.append((await ca.post("/v1/feedback", json={"request_id": old_rid, "score": 0})).status_code)
            await a.cache.drain()
            await b.cache.drain()
            await ca.aclose()
            await cb.aclose()
            return {"kinds": [hit.headers["x-switchyard-cache"], old.headers["x-switchyard-cache"]], "statuses": statuses,
                    "rid": rid, "old_rid": old_rid, "a": a.cache.stats()["penalties"], "b": b.cache.stats()["penalties"]}
        finally:
            await a.aclose()
            await b.aclose()

    out = asyncio.run(scenario())
    assert out["kinds"] == ["hit-semantic", "hit-semantic"] and out["statuses"] == [200] * 14
    assert verdicts(redis_url, out["rid"]) == 1, "a verdict record per repeat pushes other tenants' records out"
    assert out["a"]["forwarded"] + out["b"]["forwarded"] == 1 and out["b"]["feedback"] == 1
    assert out["a"]["verdict_repeated"] + out["b"]["verdict_repeated"] == 9 + 3
    assert verdicts(redis_url, out["old_rid"]) == 0 and out["a"]["verdict_stale"] == 1


class _Blip:
    """The ledger database, failing every connection after the first ``allowed`` (a dropped connection, as
    PostgreSQL's 'server closed the connection unexpectedly')."""

    def __init__(self, engine: Any, allowed: int) -> None:
        self.engine, self.allowed, self.real = engine, allowed, engine.connect

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.allowed <= 0:
            raise OperationalError("SELECT requests", {}, Exception("server closed the connection unexpectedly"))
        self.allowed -= 1
        return self.real(*args, **kwargs)

    def __enter__(self) -> _Blip:
        self.engine.connect = self
        return self

    def __exit__(self, *exc: object) -> None:
        self.engine.connect = self.real


@pytest.mark.parametrize("allowed", [1, 0], ids=["drops-after-the-verdict-is-kept", "down"])
def test_a_ledger_failure_does_not_keep_a_bad_local_hit_in_service(tmp_path: Path, allowed: int) -> None:
    """A bad verdict on a semantic hit this replica served needs only its own records: the entry is evicted even
    when the ledger drops the connection after keeping the verdict (then the client gets its 200: one query, no
    second one to fail) or is down (then a 503 in the API's error shape, retryable, never a traceback's 500)."""
    url = f"sqlite:///{tmp_path}/ledger.db"
    settings = dataclasses.replace(current_settings(), redis_url=None, database_url=url)
    words = _words()

    async def scenario() -> dict[str, Any]:
        g = BagGateway(load_policy_text(FEEDBACK_POLICY), ledger=Ledger(url), settings=settings)
        await g.start()
        try:
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(g), raise_app_exceptions=False),
                                       base_url="http://g")
            await _ask(client, words, f"what is the capital of France {words}")
            await g.cache.drain()
            hit = await _ask(client, words, f"What is the capital of France {words}?")
            assert g.ledger.flush()
            with _Blip(g.ledger.engine, allowed):
                posted = await client.post("/v1/feedback", json={"request_id": hit.headers["x-switchyard-request-id"], "score": 0})
            again = await _ask(client, words, f"What is the capital of France {words}?")
            await client.aclose()
            return {"hit": hit.headers["x-switchyard-cache"], "status": posted.status_code, "body": posted.json(),
                    "again": again.headers["x-switchyard-cache"], "penalties": g.cache.stats()["penalties"]}
        finally:
            await g.aclose()

    out = asyncio.run(scenario())
    assert out["hit"] == "hit-semantic"
    assert out["penalties"]["feedback"] == 1 and out["again"] == "miss", out
    if allowed:
        assert out["status"] == 200 and out["body"]["ok"] is True
    else:
        assert out["status"] == 503 and out["body"]["error"]["code"] == "ledger_unavailable", out


# What serves a tier, fingerprinted: only settings that shape an answer (router/cache/keys.py).
FP_BASE = """
version: 1
name: fp
tiers:
  cheap: {engine: fake, model: cheap-fake, prices: {input_per_mtok: 1, output_per_mtok: 2}}
  api: {engine: openai, model: api-model, base_url: "http://127.0.0.1:9/v1", timeouts: {read_s: 30}}
  gpu:
    engine: vllm
    model: qwen
    upstream_model: Qwen/Qwen2.5-7B-Instruct
    vllm:
      replicas: [http://10.0.0.1:8000/v1, http://10.0.0.2:8000/v1]
      launch: {deploy_replicas: 2, gpu_memory_utilization: 0.90, max_model_len: 8192}
      balancing: {health_interval_s: 2, max_waiting: 0}
      pricing: {gpu_hourly_usd: 2.49, tokens_per_s: 1500}
routing: {classifier: rules}
"""

OPERATIONS_ONLY = {
    "gpu-hour price": ("gpu_hourly_usd: 2.49", "gpu_hourly_usd: 1.99"),
    "assumed throughput": ("tokens_per_s: 1500", "tokens_per_s: 1800"),
    "health interval": ("health_interval_s: 2", "health_interval_s: 5"),
    "spill threshold": ("max_waiting: 0", "max_waiting: 4"),
    "manifest replicas": ("deploy_replicas: 2", "deploy_replicas: 3"),
    "gpu memory share": ("gpu_memory_utilization: 0.90", "gpu_memory_utilization: 0.85"),
    "scale-out": ("http://10.0.0.2:8000/v1]", "http://10.0.0.2:8000/v1, http://10.0.0.3:8000/v1]"),
    "replica order": ("[http://10.0.0.1:8000/v1, http://10.0.0.2:8000/v1]", "[http://10.0.0.2:8000/v1, http://10.0.0.1:8000/v1]"),
}

ANSWER_SHAPING = {
    "gpu": {"served model": ("upstream_model: Qwen/Qwen2.5-7B-Instruct", "upstream_model: Qwen/Qwen2.5-14B-Instruct"),
            "max_model_len": ("max_model_len: 8192", "max_model_len: 4096"),
            "loaded model": ("max_model_len: 8192}", "max_model_len: 8192, model: Qwen/Qwen2.5-3B-Instruct}"),
            # What `vllm serve` is started with changes what the replicas answer (found by a review: the first
            # allow-list kept only the model and max_model_len of `launch`).
            "default sampling": ("max_model_len: 8192}", "max_model_len: 8192, extra_args: [--override-generation-config, "
                                 "'{\"temperature\": 0.2}']}"),
            "chat template": ("max_model_len: 8192}", "max_model_len: 8192, extra_args: [--chat-template, /t/chat.jinja]}"),
            "quantization": ("max_model_len: 8192}", "max_model_len: 8192, extra_args: [--quantization, fp8]}"),
            "image": ("max_model_len: 8192}", "max_model_len: 8192, image: 'vllm/vllm-openai:v0.12.0'}"),
            "speculative decoding": ("max_model_len: 8192}", "max_model_len: 8192, speculative: {method: ngram, "
                                     "num_speculative_tokens: 4}}")},
    "api": {"base_url": ("127.0.0.1:9/v1", "127.0.0.1:10/v1"),
            "output limit": ("read_s: 30}", "read_s: 30}, max_output_tokens: 64"),
            "context window": ("read_s: 30}", "read_s: 30}, context_window: 2048")},
}


def _fingerprints(text: str) -> Serving:
    return Serving(load_policy_text(text))


@pytest.mark.parametrize("what", list(OPERATIONS_ONLY))
def test_an_operations_only_change_keeps_a_vllm_tiers_kept_answers(what: str) -> None:
    """Its price, balancer, manifests, and the replicas serving the same model (scaled out, or listed in another
    order by another pod's environment) do not change what it answers: its entries keep hitting."""
    old, new = OPERATIONS_ONLY[what]
    assert old in FP_BASE
    assert _fingerprints(FP_BASE).fingerprint("gpu") == _fingerprints(FP_BASE.replace(old, new)).fingerprint("gpu")


def test_an_alias_changes_neither_its_tiers_nor_autos_fingerprint() -> None:
    before = _fingerprints(FP_BASE)
    after = _fingerprints(FP_BASE.replace("model: cheap-fake,", "model: cheap-fake, aliases: [cheapo],"))
    assert before.fingerprint("cheap") == after.fingerprint("cheap") == after.fingerprint("cheapo")
    assert before.fingerprint("auto") == after.fingerprint("auto")


@pytest.mark.parametrize(("tier", "what"), [(tier, what) for tier, changes in ANSWER_SHAPING.items() for what in changes])
def test_an_answer_shaping_change_misses_that_tier_and_auto_but_not_another_tier(tier: str, what: str) -> None:
    old, new = ANSWER_SHAPING[tier][what]
    assert old in FP_BASE
    before, after = _fingerprints(FP_BASE), _fingerprints(FP_BASE.replace(old, new))
    assert before.fingerprint(tier) != after.fingerprint(tier)
    assert before.fingerprint("auto") != after.fingerprint("auto")
    assert before.fingerprint("cheap") == after.fingerprint("cheap")


def test_a_price_that_steers_routing_misses_auto_only() -> None:
    """A price does not change what a tier answers, but it moves `auto` requests to another tier."""
    before = _fingerprints(FP_BASE)
    after = _fingerprints(FP_BASE.replace("input_per_mtok: 1,", "input_per_mtok: 5,"))
    assert before.fingerprint("cheap") == after.fingerprint("cheap")
    assert before.fingerprint("auto") != after.fingerprint("auto")
