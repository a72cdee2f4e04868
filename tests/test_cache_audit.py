"""The semantic cache's sampled audits (router/cache/audit.py): a hit re-asked of its tier after the
answer went out, compared with what was served, a disagreement evicting the entry and tightening its
scope, the spend booked once as the operator's (overhead_spend), never the tenant's.

Through the real app in process: the in-process `fake` engine (it echoes the last user message, so a
reworded prompt gets a different answer and the same one the same), a SQLite ledger, API keys with a
budget, and a deterministic bag-of-words embedder in place of MiniLM so that no decision here depends
on a model's numerics (the verifier's exact string logic decides every hit)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from policies.loader import load_policy_text
from policies.schema import CacheSettings
from router.app import create_app
from router.cache.audit import SHORT_ANSWER_WORDS, Auditor, compare, normalise, upper_bound
from router.cache.calibration import clopper_pearson_upper
from router.cli import app as cli
from router.gateway import Gateway
from router.ledger import Ledger
from router.ledger.store import to_nanousd
from router.ledger.tables import overhead_spend
from router.reports import learn_spend
from tests.faulty_upstream import FaultyUpstream
from tests.test_cache_miss_path import DIM, bag_embed


class BagEmbedder:
    """What the gateway's AsyncBatcher offers the cache, deterministic."""

    async def embed(self, text: str) -> np.ndarray:
        return bag_embed(text)

    async def aclose(self) -> None:
        return None


class BagGateway(Gateway):
    """The real gateway with the deterministic embedder where MiniLM would be."""

    async def _start_embedder(self) -> None:
        self._embedder = BagEmbedder()
        self.cache.attach_embedder(DIM, "bag-of-words", self.embed_texts)
        self.cache.index.threshold = 0.5  # candidates by this toy embedder's cosine; the verifier decides


def policy_text(audit_rate: float) -> str:
    return f"""
version: 1
name: audit
tiers:
  local:
    engine: fake
    model: local-fake
    max_output_tokens: 32
    prices: {{input_per_mtok: 1000, output_per_mtok: 2000}}
routing: {{classifier: rules}}
cache: {{exact: false, semantic: true, audit_rate: {audit_rate}}}
"""


def create_key(url: str, budget_usd: str) -> dict[str, Any]:
    made = CliRunner().invoke(
        cli,
        ["keys", "create", "--tenant", "audited", "--team", "ops", "--budget-usd", budget_usd, "--period", "total", "--json"],
        env={"SWITCHYARD_DATABASE_URL": url},
    )
    assert made.exit_code == 0, made.output
    return json.loads(made.output)


Scenario = Callable[[Gateway, httpx.AsyncClient], Awaitable[Any]]


def run_app(url: str, audit_rate: float, scenario: Scenario) -> Any:
    async def main() -> Any:
        gateway = BagGateway(load_policy_text(policy_text(audit_rate)), ledger=Ledger(url))
        await gateway.start()
        try:
            transport = httpx.ASGITransport(app=create_app(gateway))
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                return await scenario(gateway, client)
        finally:
            await gateway.aclose()

    return asyncio.run(main())


async def ask(client: httpx.AsyncClient, key: str, text: str, **extra: Any) -> httpx.Response:
    body = {"model": "local", "messages": [{"role": "user", "content": text}], **extra}
    reply = await client.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"})
    assert reply.status_code == 200, reply.text
    return reply


def booked(url: str) -> list[dict[str, Any]]:
    ledger = Ledger(url)
    try:
        with ledger.engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(select(overhead_spend).order_by(overhead_spend.c.id))]
    finally:
        ledger.close()


def test_an_audited_hit_whose_fresh_answer_differs_is_evicted_and_its_scope_tightened(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    key = create_key(url, "1000")["key"]

    async def scenario(gateway: Gateway, client: httpx.AsyncClient) -> dict[str, Any]:
        engine: Any = gateway.engines["local"]
        cache = gateway.cache
        first = await ask(client, key, "what is the capital of France", temperature=0)
        # A rewording the verifier accepts (the same form): served the first one's answer.
        hit = await ask(client, key, "Hey, what is the capital of France?", temperature=0)
        await cache.auditor.drain()
        scope = next(iter(cache.index._tightened), None)
        again = await ask(client, key, "Hey, what is the capital of France?", temperature=0)
        metrics = (await client.get("/metrics")).text
        assert gateway.ledger.flush()
        bucket = gateway.tenancy.budgets.buckets([b for b in gateway.tenancy.budgets.all() if b.scope == "key"])[0]
        spent, reserved = await gateway.tenancy.quota.usage(bucket)
        rows = {r["request_id"]: r for r in gateway.ledger.rows()}
        return {"first": first, "hit": hit, "again": again, "calls": engine.calls, "scope": scope,
                "estimate": cache.auditor.estimate(scope) if scope else None, "stats": cache.stats(), "metrics": metrics,
                "spent": spent, "reserved": reserved, "rows": rows, "banner": cache.describe(),
                "need": cache.index.min_alignment_for(scope) if scope else None}

    out = run_app(url, 1.0, scenario)
    assert out["first"].headers["x-switchyard-cache"] == "miss"
    assert out["hit"].headers["x-switchyard-cache"] == "hit-semantic"
    assert out["hit"].json()["choices"][0]["message"]["content"] == "echo: what is the capital of France"
    # One engine call for the miss; the audit's re-ask came after the hit; the evicted entry made the repeat a miss.
    assert out["calls"] == 3
    assert out["again"].headers["x-switchyard-cache"] == "miss"
    assert out["need"] is not None and out["need"] > 1.0  # past 1.0: only the very same text matches in that scope now
    assert out["estimate"]["audited"] == 1 and out["estimate"]["disagreed"] == 1 and not out["estimate"]["within_bound"]
    stats = out["stats"]
    assert stats["penalties"]["audit"] == 1 and stats["audit"]["disagree"] == 1 and stats["audit"]["booked"] == 1
    assert 'switchyard_cache_audits_total{verdict="disagree"} 1.0' in out["metrics"]
    assert "100.0% of semantic hits re-asked after the answer is sent" in out["banner"]
    # The spend, booked once, as the operator's: priced as a request of that tier is.
    (row,) = booked(url)
    fake_usage = (len("Hey, what is the capital of France?".split()) + 3, 1 + len("Hey, what is the capital of France?".split()))
    assert (row["kind"], row["tier"], row["model"], row["calls"]) == ("cache_audit", "local", "local-fake", 1)
    assert (row["prompt_tokens"], row["completion_tokens"]) == fake_usage
    price = load_policy_text(policy_text(1.0)).tiers["local"].cost(*fake_usage)
    assert row["cost_nanousd"] == to_nanousd(price) > 0
    assert row["source"] == f"cache audit {out['hit'].headers['x-switchyard-request-id']}"
    # Never the tenant's: the hit's row costs $0, and the key's budget holds exactly what its rows cost.
    rows = out["rows"]
    assert rows[out["hit"].headers["x-switchyard-request-id"]]["cost_nanousd"] == 0
    assert out["spent"] == sum(r["cost_nanousd"] for r in rows.values()) and out["reserved"] == 0
    # The whole ledger's reports count it as spend, off the net saving.
    ledger = Ledger(url)
    try:
        assert learn_spend(ledger.engine)["cache_audit_usd"] == pytest.approx(row["cost_nanousd"] / 1e9, abs=1e-12)
    finally:
        ledger.close()


def test_an_audit_that_agrees_keeps_the_entry_and_audit_rate_zero_never_re_asks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    key = create_key(url, "1000")["key"]

    def scenario_for(hits: int) -> Scenario:
        async def scenario(gateway: Gateway, client: httpx.AsyncClient) -> dict[str, Any]:
            await ask(client, key, "What is the capital of Peru?", temperature=0)
            outcomes = []
            for _ in range(hits):
                # Differs in case and punctuation only: the echo answers are the same once normalised.
                reply = await ask(client, key, "what is the capital of Peru", temperature=0)
                outcomes.append(reply.headers["x-switchyard-cache"])
            await gateway.cache.auditor.drain()
            return {"outcomes": outcomes, "calls": gateway.engines["local"].calls, "stats": gateway.cache.stats(),
                    "entries": len(gateway.cache.index)}

        return scenario

    off = run_app(url, 0.0, scenario_for(5))
    assert off["outcomes"] == ["hit-semantic"] * 5
    assert off["calls"] == 1  # the miss only: no hit was re-asked
    assert off["stats"]["audit"]["sampled"] == 0 and booked(url) == []
    on = run_app(url, 1.0, scenario_for(2))
    assert on["outcomes"] == ["hit-semantic"] * 2 and on["calls"] == 3
    assert on["stats"]["audit"]["agree"] == 2 and on["stats"]["penalties"]["audit"] == 0 and on["entries"] == 1
    assert len(booked(url)) == 2  # one row per audit


def test_streamed_hits_and_other_doors_are_audited_too(tmp_path: Path) -> None:
    """A streamed hit is re-asked once its stream has ended; a door that rebuilds chat's answer (Anthropic's
    /v1/messages here) drops the after-send hook, and the audit starts anyway, once."""
    url = f"sqlite:///{tmp_path}/ledger.db"
    key = create_key(url, "1000")["key"]

    async def scenario(gateway: Gateway, client: httpx.AsyncClient) -> dict[str, Any]:
        await ask(client, key, "what is the capital of Chile", temperature=0)
        streamed = await ask(client, key, "Hey, what is the capital of Chile?", temperature=0, stream=True)
        await gateway.cache.auditor.drain()
        after_stream = gateway.cache.stats()
        replies = []
        for text in ("what is the capital of Chad", "What is the capital of Chad?"):
            body = {"model": "local", "max_tokens": 32, "temperature": 0.5, "messages": [{"role": "user", "content": text}]}
            replies.append(await client.post("/v1/messages", json=body, headers={"Authorization": f"Bearer {key}"}))
        door = replies[-1]
        await gateway.cache.auditor.drain()
        return {"streamed": streamed, "after_stream": after_stream, "door": door, "stats": gateway.cache.stats(),
                "calls": gateway.engines["local"].calls}

    out = run_app(url, 1.0, scenario)
    assert out["streamed"].headers["x-switchyard-cache"] == "hit-semantic" and "data: [DONE]" in out["streamed"].text
    assert out["after_stream"]["audit"]["disagree"] == 1  # "hey" changes the echo, at temperature 0
    assert out["door"].status_code == 200 and out["door"].headers["x-switchyard-cache"] == "hit-semantic"
    # Sampled (0.5), the echoes differ in case and punctuation only: the same answer.
    assert out["stats"]["audit"]["agree"] == 1 and out["stats"]["audit"]["sampled"] == 2
    assert out["calls"] == 4 and len(booked(url)) == 2  # two misses, two audits, each booked once


def test_an_audit_never_holds_the_answer_back(tmp_path: Path, upstream: FaultyUpstream) -> None:
    """The tier is an OpenAI-protocol upstream that answers the miss, then never answers again (its timeout
    is long): the hit is answered while its re-ask hangs, and closing the gateway stops the audit."""
    url = f"sqlite:///{tmp_path}/ledger.db"
    key = create_key(url, "1000")["key"]
    model = f"audit-hang-{tmp_path.name}"
    httpx.post(upstream.url + "/control", json={"model": model, "script": ["ok"], "default": "hang"}).raise_for_status()
    text = f"""
version: 1
name: audit-hang
tiers:
  local:
    engine: openai
    model: local
    upstream_model: {model}
    base_url: {upstream.url}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 1000, output_per_mtok: 2000}}
    timeouts: {{connect_s: 5, read_s: 300, total_s: 300}}
routing: {{classifier: rules}}
cache: {{exact: false, semantic: true, audit_rate: 1.0}}
"""

    async def main() -> dict[str, Any]:
        gateway = BagGateway(load_policy_text(text), ledger=Ledger(url))
        await gateway.start()
        try:
            transport = httpx.ASGITransport(app=create_app(gateway))
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                await ask(client, key, "how do i reverse a list in Python", temperature=0)
                reply = await asyncio.wait_for(ask(client, key, "How do I reverse a list in Python?", temperature=0), 60)
                seen: list[Any] = []
                for _ in range(500):
                    async with httpx.AsyncClient() as plain:
                        seen = [c for c in (await plain.get(upstream.url + "/calls")).json() if c["model"] == model]
                    if len(seen) == 2:
                        break
                    await asyncio.sleep(0.02)
                return {"reply": reply, "calls": len(seen), "in_flight": gateway.cache.auditor.stats()["in_flight"]}
        finally:
            await gateway.aclose()

    out = asyncio.run(main())
    assert out["reply"].headers["x-switchyard-cache"] == "hit-semantic"
    assert out["calls"] == 2 and out["in_flight"] == 1  # the re-ask was still waiting when the answer had been given
    assert booked(url) == []  # nothing came back, nothing was spent


def test_compare_is_exact_at_temperature_zero_and_conservative_for_sampled_text() -> None:
    def choice(content: str | None = None, calls: list[tuple[str, str]] | None = None, refusal: str | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
        if calls:
            message["tool_calls"] = [{"id": f"c{i}", "type": "function", "function": {"name": n, "arguments": a}}
                                     for i, (n, a) in enumerate(calls)]
        return {"message": message, "finish_reason": "tool_calls" if calls else "stop"}

    assert normalise("The answer is 42.") == normalise("the  answer is 42")
    assert normalise("3.5") != normalise("35") and normalise("-5") != normalise("5")
    assert compare(choice("The answer is 42."), choice("the answer is 42"), True)[0] == "agree"
    assert compare(choice("Paris."), choice("The capital is Paris."), True)[0] == "disagree"
    # Sampled: a wording difference proves nothing; a different number or name in a short answer does.
    assert compare(choice("Paris."), choice("The capital is Paris."), False)[0] == "inconclusive"
    assert compare(choice("It boils at 100 degrees."), choice("It boils at 78 degrees."), False) == ("disagree", "numbers")
    assert compare(choice("Yes, it is safe."), choice("No, it is not safe."), False)[0] == "disagree"
    long_a = "It boils at 100 degrees at sea level, which is " + "the usual figure " * SHORT_ANSWER_WORDS
    long_b = "It boils at 78 degrees at sea level, which is " + "the usual figure " * SHORT_ANSWER_WORDS
    assert compare(choice(long_a), choice(long_b), False)[0] == "inconclusive"  # past one line: sampled chatter
    assert compare(choice(long_a), choice(long_b), True)[0] == "disagree"
    # Names mentioned in passing decide nothing in sampled answers (they flagged right hits in a real model's answers).
    assert compare(choice("Paris, in France."), choice("It is Paris."), False)[0] == "inconclusive"
    # Structure decides whatever the sampling: tool calls (arguments as JSON), refusals, JSON answers.
    same = compare(choice(calls=[("get_weather", '{"city": "Paris", "unit": "c"}')]),
                   choice(calls=[("get_weather", '{"unit":"c","city":"Paris"}')]), False)
    assert same[0] == "agree"
    assert compare(choice(calls=[("get_weather", "{}")]), choice(calls=[("send_email", "{}")]), False)[0] == "disagree"
    assert compare(choice(calls=[("get_weather", '{"city": "Paris"}')]), choice(calls=[("get_weather", '{"city": "Rome"}')]),
                   True)[0] == "disagree"
    assert compare(choice("Sure: 4"), choice(refusal="I can't help with that."), False)[0] == "disagree"
    assert compare(choice(refusal="No."), choice(refusal="I won't."), True)[0] == "agree"
    assert compare(choice('{"a": 1, "b": [2]}'), choice('{"b": [2], "a": 1}'), True)[0] == "agree"
    assert compare(choice('{"a": 1}'), choice('{"a": 2}'), True)[0] == "disagree"


def test_the_estimate_is_a_clopper_pearson_bound_per_scope_and_bounded() -> None:
    auditor = Auditor(rate=1.0, bound=0.01)
    for _ in range(298):
        auditor.record("s", "agree")
    assert auditor.estimate("s")["upper"] > 0.01  # 0 of 298: the one-sided 95% bound is just over 1%
    auditor.record("s", "agree")
    assert auditor.estimate("s") == {"audited": 299, "disagreed": 0, "upper": pytest.approx(0.01, abs=2e-4),
                                     "within_bound": auditor.estimate("s")["upper"] <= 0.01}
    for _ in range(10):
        auditor.record("t", "disagree")
    auditor.record("u", "inconclusive")  # enters no estimate
    assert auditor.estimate("u") is None and auditor.counts["inconclusive"] == 1
    assert auditor.states()["over"] == 1  # t: ten of ten wrong, the lower bound is far above 1%
    assert auditor.stats()["disagree"] == 10 and auditor.stats()["agree"] == 299
    # Past 20 false hits the bound comes from the beta distribution: the same figure as the summed one.
    for k, n in ((21, 400), (50, 1000), (300, 2000)):
        assert upper_bound(k, n) == pytest.approx(clopper_pearson_upper(k, n), abs=1e-9)
    never = Auditor(rate=0.0, bound=0.01)
    assert not any(never.sample() for _ in range(1000))
    assert Auditor(rate=1.0, bound=0.01).sample()


def test_scipy_is_imported_when_an_auditor_starts_never_by_a_bound_on_the_event_loop() -> None:
    """Imported lazily by the first bound past 20 false hits, scipy.stats stalled the replica for ~0.7 s
    (found by a review); in a fresh process: the import happens at construction, no bound imports anything."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from router.cache.audit import Auditor\n"
        "assert 'scipy.stats' not in sys.modules, 'imported before any auditor'\n"
        "a = Auditor(rate=1.0, bound=0.01)\n"
        "assert 'scipy.stats' in sys.modules, 'not imported by the auditor'\n"
        "before = set(sys.modules)\n"
        "for i in range(21): a.record('s', 'disagree')\n"
        "for i in range(50): a.record('s', 'agree')\n"
        "a.pooled_upper()\n"
        "assert set(sys.modules) == before, set(sys.modules) - before\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_policy_validates_audit_rate() -> None:
    assert CacheSettings().audit_rate == 0.0
    assert CacheSettings(audit_rate=0.05).audit_rate == 0.05
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError):
            CacheSettings(audit_rate=bad)


def test_a_gateway_process_audits_after_sending_and_books_the_spend(tmp_path: Path) -> None:
    """Through a real gateway process (uvicorn, the fake engine, the shipped embedder): the very same text
    asked again is a semantic hit without any embedding (exact cache off), each hit is re-asked once its
    answer is out, the re-ask agrees, and the spend is in the ledger and the metrics."""
    from tests.servers import start_gateway

    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_text(1.0))
    url = f"sqlite:///{tmp_path}/ledger.db"
    gateway = start_gateway(policy, tmp_path, env={"SWITCHYARD_DATABASE_URL": url})
    try:
        with httpx.Client(timeout=60) as client:
            outcomes = []
            for _ in range(3):
                body = {"model": "local", "messages": [{"role": "user", "content": "what is the speed of light in vacuum"}],
                        "temperature": 0}
                reply = client.post(gateway.url + "/v1/chat/completions", json=body)
                assert reply.status_code == 200, reply.text
                outcomes.append(reply.headers["x-switchyard-cache"])
            metrics = ""
            for _ in range(200):
                metrics = client.get(gateway.url + "/metrics").text
                if 'switchyard_cache_audits_total{verdict="agree"} 2.0' in metrics and len(booked(url)) == 2:
                    break
                time.sleep(0.05)
        banner = gateway.output()
    finally:
        gateway.stop()
    if "semantic cache off" in banner:
        pytest.skip("the shipped embedder is not available here")
    assert outcomes == ["miss", "hit-semantic", "hit-semantic"]
    assert 'switchyard_cache_audits_total{verdict="agree"} 2.0' in metrics
    rows = booked(url)
    assert len(rows) == 2 and all(r["kind"] == "cache_audit" and r["cost_nanousd"] > 0 for r in rows)
    spend = sum(r["cost_nanousd"] for r in rows) / 1e9
    (line,) = [x for x in metrics.splitlines() if x.startswith("switchyard_cache_audit_spend_usd_total ")]
    assert float(line.split()[1]) == pytest.approx(spend, abs=1e-9)
