"""Cascade routing: the cheap tier answers first, escalation below the confidence threshold, both calls charged."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from router.cascade import confidence
from router.cli import app as cli
from router.ledger import Ledger
from tests.faulty_upstream import PIECES, PROMPT_TOKENS, FaultyUpstream
from tests.servers import Process, free_port, start_gateway
from tests.test_faults import ADMIN, assert_books_balance

pytestmark = pytest.mark.slow

CHEAP, STRONG = (1000, 2000), (10000, 30000)  # $ per Mtok, input and output
MESSAGES = [{"role": "user", "content": "What is two plus two?"}]


def price(tier: tuple[int, int]) -> int:
    """One faulty-upstream answer at a tier's prices, in nano-dollars."""
    return (PROMPT_TOKENS * tier[0] + len(PIECES) * tier[1]) * 1000  # tokens * $/Mtok * 1e9 / 1e6


def test_confidence_signal() -> None:
    payload = {"choices": [{"logprobs": {"content": [{"logprob": -0.5}, {"logprob": -1.5}]}}]}
    assert confidence(payload) == pytest.approx(math.exp(-1.0))
    assert confidence({"choices": [{"logprobs": None}]}) is None
    assert confidence({"choices": []}) is None


@pytest.fixture(scope="module")
def setup(llama_server: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, FaultyUpstream]]:
    upstream = FaultyUpstream(free_port())
    work: Path = tmp_path_factory.mktemp("cascade")
    policy = work / "policy.yaml"
    policy.write_text(f"""
version: 1
name: cascade
tiers:
  cheap:
    engine: openai
    model: cheap
    base_url: {upstream.url}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: {CHEAP[0]}, output_per_mtok: {CHEAP[1]}}}
    breaker: {{failures: 1000, cooldown_s: 1}}
  strong:
    engine: openai
    model: strong
    base_url: {upstream.url}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: {STRONG[0]}, output_per_mtok: {STRONG[1]}}}
    breaker: {{failures: 1000, cooldown_s: 1}}
  real:
    engine: openai
    model: real
    upstream_model: smollm2-upstream
    base_url: {llama_server.url}/v1
    max_output_tokens: 4
    prices: {{input_per_mtok: 1, output_per_mtok: 1}}
routing:
  classifier: rules
  cascade: {{tiers: [cheap, strong], min_confidence: 0.5}}
cache: {{exact: false, semantic: false}}
resilience: {{retry: {{attempts: 1}}}}
""")
    url = f"sqlite:///{work}/ledger.db"
    env = {"SWITCHYARD_DATABASE_URL": url, "SWITCHYARD_ADMIN_KEY": ADMIN}
    created = CliRunner().invoke(
        cli, ["keys", "create", "--tenant", "casc", "--team", "t", "--budget-usd", "1000", "--period", "total", "--json"], env=env
    )
    assert created.exit_code == 0, created.output
    gw = start_gateway(policy, work, env=env)
    gw.database_url = url
    info = json.loads(created.output)
    gw.key, gw.key_id = info["key"], info["key_id"]  # type: ignore[attr-defined]
    yield gw, upstream
    gw.stop()
    upstream.stop()


def control(upstream: FaultyUpstream, model: str, **body: object) -> None:
    httpx.post(upstream.url + "/control", json={"model": model, "script": [], **body}).raise_for_status()


def ask(gw: Process, **extra: object) -> httpx.Response:
    body = {"model": "auto", "messages": MESSAGES, **extra}
    return httpx.post(gw.url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {gw.key}"}, timeout=30)  # type: ignore[attr-defined]


def row(gw: Process, request_id: str) -> dict:
    ledger = Ledger(gw.database_url)
    (found,) = [r for r in ledger.rows() if r["request_id"] == request_id]
    ledger.close()
    return found


def calls(upstream: FaultyUpstream) -> list[dict]:
    return httpx.get(upstream.url + "/calls").json()


def test_confident_cheap_answer_stands(setup: tuple[Process, FaultyUpstream]) -> None:
    gw, upstream = setup
    control(upstream, "cheap", default="ok", logprob=-0.1)
    before = len(calls(upstream))
    response = ask(gw)
    assert response.status_code == 200, response.text
    assert response.headers["x-switchyard-tier"] == "cheap"
    assert response.headers["x-switchyard-cascade"] == f"cheap:{math.exp(-0.1):.3f}"
    assert response.json()["choices"][0]["logprobs"] is None  # asked for by the gateway, not the client
    seen = calls(upstream)[before:]
    assert [(c["model"], c["logprobs"]) for c in seen] == [("cheap", True)]
    recorded = row(gw, response.headers["x-switchyard-request-id"])
    assert recorded["cost_nanousd"] == price(CHEAP) and recorded["tier"] == "cheap"
    assert_books_balance(gw)


def test_route_explains_the_cascade_chat_runs(setup: tuple[Process, FaultyUpstream]) -> None:
    # /v1/route decided on its own and named the classifier's tier for a cascade policy.
    gw, upstream = setup
    control(upstream, "cheap", default="ok", logprob=-0.1)
    headers = {"authorization": f"Bearer {gw.key}"}  # type: ignore[attr-defined]
    routed = httpx.post(gw.url + "/v1/route", json={"model": "auto", "messages": MESSAGES}, headers=headers, timeout=30).json()
    answered = ask(gw)
    assert routed["tier"] == answered.headers["x-switchyard-tier"] == "cheap"
    assert routed["cascade"] == ["cheap", "strong"] and routed["downgraded_by"] is None
    streamed = httpx.post(gw.url + "/v1/route", json={"model": "auto", "messages": MESSAGES, "stream": True}, headers=headers).json()
    assert streamed["cascade"] is None  # streams are not cascaded, by chat or by /v1/route


def test_unsure_cheap_answer_escalates_and_both_calls_are_charged(setup: tuple[Process, FaultyUpstream]) -> None:
    gw, upstream = setup
    control(upstream, "cheap", default="ok", logprob=-2.0)
    control(upstream, "strong", default="ok")
    before = len(calls(upstream))
    response = ask(gw)
    assert response.status_code == 200, response.text
    assert response.headers["x-switchyard-tier"] == "strong"
    assert response.headers["x-switchyard-cascade"] == f"cheap:{math.exp(-2.0):.3f},strong:n/a"
    assert [(c["model"], c["logprobs"]) for c in calls(upstream)[before:]] == [("cheap", True), ("strong", False)]
    recorded = row(gw, response.headers["x-switchyard-request-id"])
    assert recorded["cost_nanousd"] == price(CHEAP) + price(STRONG)
    assert float(response.headers["x-switchyard-cost-usd"]) * 1e9 == pytest.approx(price(CHEAP) + price(STRONG))
    assert recorded["prompt_tokens"] == 2 * PROMPT_TOKENS and recorded["completion_tokens"] == 2 * len(PIECES)
    assert recorded["fallback_from"] is None
    stages = recorded["decision"]["cascade"]
    assert [s["tier"] for s in stages] == ["cheap", "strong"] and stages[0]["accepted"] is False
    assert_books_balance(gw)


def test_failures_inside_the_cascade(setup: tuple[Process, FaultyUpstream]) -> None:
    gw, upstream = setup
    # The cheap tier is down: the strong one answers, and only it is charged.
    control(upstream, "cheap", default="500")
    control(upstream, "strong", default="ok")
    response = ask(gw)
    assert response.status_code == 200 and response.headers["x-switchyard-tier"] == "strong"
    assert row(gw, response.headers["x-switchyard-request-id"])["cost_nanousd"] == price(STRONG)
    # The escalation fails: the unsure cheap answer beats no answer, and is all that is charged.
    control(upstream, "cheap", default="ok", logprob=-3.0)
    control(upstream, "strong", default="500")
    response = ask(gw)
    assert response.status_code == 200 and response.headers["x-switchyard-tier"] == "cheap"
    assert response.headers["x-switchyard-cascade"].endswith("strong:error")
    assert row(gw, response.headers["x-switchyard-request-id"])["cost_nanousd"] == price(CHEAP)
    # Both down: a clean error, nothing charged.
    control(upstream, "cheap", default="500")
    response = ask(gw)
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_error"
    assert row(gw, response.headers["x-switchyard-request-id"])["cost_nanousd"] == 0
    # Streams and pinned requests are not cascaded.
    control(upstream, "cheap", default="ok", logprob=-3.0)
    response = ask(gw, stream=True)
    assert response.status_code == 200 and "x-switchyard-cascade" not in response.headers
    assert "x-switchyard-cascade" not in ask(gw, model="cheap").headers
    assert_books_balance(gw)


def test_real_llama_cpp_server_reports_the_signal(llama_server: Process) -> None:
    """What a cascade stage asks for, sent by the real engine to a real llama.cpp server."""
    import asyncio

    from engines.base import EngineRequest
    from engines.openai_http import OpenAIHTTPEngine

    async def run() -> dict:
        engine = OpenAIHTTPEngine("real", llama_server.url + "/v1", upstream_model="smollm2-upstream")
        try:
            request = EngineRequest(model="real", messages=MESSAGES, max_tokens=4, temperature=0,
                                    extra={"logprobs": True, "top_logprobs": 1})
            return await engine.complete(request)
        finally:
            await engine.aclose()

    score = confidence(asyncio.run(run()))
    assert score is not None and 0 < score <= 1


def test_cascade_policy_is_checked() -> None:
    from policies.loader import PolicyError, load_policy_text

    text = """
tiers:
  a: {engine: openai, model: a, base_url: "http://127.0.0.1:1/v1"}
  b: {engine: openai, model: b, base_url: "http://127.0.0.1:1/v1"}
routing:
  cascade: {tiers: [a, c], min_confidence: 0.5}
"""
    with pytest.raises(PolicyError) as caught:
        load_policy_text(text)
    (issue,) = caught.value.issues
    assert issue.path == ("routing", "cascade", "tiers", 1) and "unknown tier 'c'" in issue.message and issue.line == 6
    assert load_policy_text(text.replace("[a, c]", "[a, b]")).routing.cascade.tiers == ["a", "b"]  # type: ignore[union-attr]
