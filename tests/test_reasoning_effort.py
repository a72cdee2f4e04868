"""Reasoning budget routing (issue #14): a tier that declares `reasoning` is sent an effort (OpenAI's
`reasoning_effort`) or a thinking budget (Anthropic's `thinking`, through litellm) chosen from the
same route score as the tier, within the policy's bounds; /v1/route explains it; the ledger keeps it.

The upstreams are one local server speaking both protocols that records what it receives."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from openai import OpenAI

from classifiers.base import Prediction
from policies.decide import decide, reasoning_for
from policies.loader import PolicyError, load_policy
from policies.schema import Reasoning, Tier
from tests.servers import Process, free_port, ledger_row, start_gateway


def _tier(**reasoning: Any) -> Tier:
    return Tier(engine="openai", model="m", base_url="http://127.0.0.1:9/v1", reasoning=Reasoning(**reasoning))


@pytest.mark.parametrize(
    ("score", "effort"), [(0.0, "low"), (0.33, "low"), (0.34, "medium"), (0.66, "medium"), (0.67, "high"), (1.0, "high")]
)
def test_effort_bands_follow_the_route_score(score: float, effort: str) -> None:
    got = reasoning_for(_tier(efforts=["low", "medium", "high"]), score)
    assert got == {"effort": effort, "params": {"reasoning_effort": effort}}


def test_thinking_budget_is_interpolated_within_bounds() -> None:
    tier = _tier(style="anthropic", thinking_tokens=(1024, 8192))
    budgets = [reasoning_for(tier, x)["thinking_tokens"] for x in (0.0, 0.5, 1.0, 1.7, -3)]
    assert budgets == [1024, 4608, 8192, 8192, 1024]
    assert reasoning_for(tier, 0.5)["params"] == {"thinking": {"type": "enabled", "budget_tokens": 4608}}
    assert reasoning_for(Tier(engine="openai", model="m", base_url="http://x/v1"), 0.9) is None


@pytest.mark.parametrize(
    ("reasoning", "message"),
    [
        ("{style: openai}", "needs efforts"),
        ("{style: anthropic}", "needs thinking_tokens"),
        ("{style: anthropic, thinking_tokens: [512, 900]}", "1024 <= min"),
        ("{efforts: [low, extreme]}", "efforts.1: Input should be 'minimal', 'low'"),
    ],
)
def test_policy_bounds_are_validated(tmp_path: Path, reasoning: str, message: str) -> None:
    policy = tmp_path / "p.yaml"
    tier = "    engine: openai\n    model: m\n    base_url: http://127.0.0.1:9/v1\n"
    policy.write_text(f"version: 1\nname: p\ntiers:\n  t:\n{tier}    reasoning: {reasoning}\n")
    with pytest.raises(PolicyError, match=message):
        load_policy(policy)


def test_decision_carries_and_explains_the_effort(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(POLICY.format(url="http://127.0.0.1:9", port=9))
    loaded = load_policy(policy)
    easy = decide(loaded, Prediction(difficulty=0.1, quality={}), ["cheap", "thinker", "claude"])
    hard = decide(loaded, Prediction(difficulty=0.9, quality={}), ["cheap", "thinker", "claude"])
    assert (easy.tier, easy.reasoning["effort"]) == ("thinker", "low") and easy.reason.endswith("; reasoning effort low")
    assert (hard.tier, hard.reasoning["effort"]) == ("thinker", "high")


# --------------------------------------------------------------------------- against a real gateway

POLICY = """version: 1
name: reasoning
tiers:
  cheap:
    engine: openai
    model: cheap-model
    base_url: {url}/v1
    prices: {{input_per_mtok: 0.1, output_per_mtok: 0.1}}
  thinker:
    engine: openai
    model: thinker-model
    base_url: {url}/v1
    prices: {{input_per_mtok: 1, output_per_mtok: 4}}
    reasoning: {{efforts: [low, medium, high]}}
  claude:
    engine: litellm
    model: claude-thinking
    litellm_model: anthropic/claude-sonnet-4-5
    base_url: {url}
    api_key_env: SWITCHYARD_TEST_ANTHROPIC_KEY
    prices: {{input_per_mtok: 3, output_per_mtok: 15}}
    max_output_tokens: 512
    reasoning: {{style: anthropic, thinking_tokens: [1024, 4096]}}
routing:
  classifier: rules
  long_prompt_words: 20
  thresholds: {{thinker: 0.0}}
"""


class Recorder:
    """OpenAI chat completions and Anthropic messages on 127.0.0.1, keeping every body it receives."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        assert ready.wait(10)

    async def _openai(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.bodies.append({"path": "openai", **body})
        return web.json_response(
            {
                "id": "c1",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
            }
        )

    async def _anthropic(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.bodies.append({"path": "anthropic", **body})
        return web.json_response(
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"}, {"type": "text", "text": "ok"}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 5, "output_tokens": 3},
            }
        )

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/v1/messages", self._anthropic)
        runner = web.AppRunner(app)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, Recorder]]:
    recorder = Recorder()
    work = tmp_path_factory.mktemp("reasoning")
    policy = work / "policy.yaml"
    policy.write_text(POLICY.format(url=recorder.url))
    env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db", "SWITCHYARD_TEST_ANTHROPIC_KEY": "sk-ant-local"}
    gateway = start_gateway(policy, work, env=env)
    gateway.database_url = env["SWITCHYARD_DATABASE_URL"]
    try:
        yield gateway, recorder
    finally:
        gateway.stop()
        recorder.stop()


SHORT = "Hi there"  # 2 words of 20: route score 0.1
LONG = " ".join(["explain"] * 30)  # saturates the length rule: 1.0


@pytest.mark.parametrize(("text", "effort"), [(SHORT, "low"), (LONG, "high")])
def test_gateway_sends_the_effort_and_route_explains_it(served, text: str, effort: str) -> None:
    gateway, recorder = served
    route = httpx.post(
        gateway.url + "/v1/route", json={"model": "auto", "messages": [{"role": "user", "content": text}]}, timeout=30
    ).json()
    assert route["tier"] == "thinker" and route["reasoning"]["effort"] == effort
    assert f"reasoning effort {effort}" in route["reason"]
    client = OpenAI(base_url=gateway.url + "/v1", api_key="unused")
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": text + f" {effort}"}])
    sent = recorder.bodies[-1]
    assert sent["path"] == "openai" and sent["model"] == "thinker-model" and sent["reasoning_effort"] == effort
    row = ledger_row(gateway, raw.headers["x-switchyard-request-id"])
    assert row["decision"]["reasoning"]["effort"] == effort


def test_pinned_request_gets_no_effort_and_a_plain_tier_none(served) -> None:
    gateway, recorder = served
    client = OpenAI(base_url=gateway.url + "/v1", api_key="unused")
    client.chat.completions.create(model="thinker-model", messages=[{"role": "user", "content": "pinned"}])
    assert "reasoning_effort" not in recorder.bodies[-1]
    client.chat.completions.create(model="cheap-model", messages=[{"role": "user", "content": "cheap"}])
    assert recorder.bodies[-1]["model"] == "cheap-model" and "reasoning_effort" not in recorder.bodies[-1]


def test_anthropic_style_tier_gets_a_thinking_budget_through_litellm(served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A routed decision's score asks the claude tier (as a fallback would) for a budget within its bounds.
    from engines.factory import build_engine
    from policies.decide import Decision
    from router.schemas import ChatRequest
    from router.upstream import engine_request

    monkeypatch.setenv("SWITCHYARD_TEST_ANTHROPIC_KEY", "sk-ant-local")
    policy = load_policy(_policy_file(tmp_path, served[1].url))

    class _Gateway:
        pass

    gateway = _Gateway()
    gateway.policy = policy  # type: ignore[attr-defined]
    chat = ChatRequest.model_validate({"model": "auto", "messages": [{"role": "user", "content": "x"}]})
    ask = engine_request(gateway, chat, "claude", None, Decision("thinker", "thinker-model", 0.5, 0.0, "r"))  # type: ignore[arg-type]
    assert ask.extra["thinking"] == {"type": "enabled", "budget_tokens": 2560}
    assert ask.max_tokens == 2560 + 512  # thinking counts inside max_tokens: raised so the answer fits
    # litellm sends it to the (local) Anthropic endpoint in Anthropic's shape.
    asyncio.run(build_engine(policy.tiers["claude"]).complete(ask))
    sent = served[1].bodies[-1]
    assert sent["path"] == "anthropic" and sent["thinking"] == {"type": "enabled", "budget_tokens": 2560}
    assert sent["max_tokens"] == 3072


def _policy_file(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.format(url=url))
    return path


def test_route_without_reasoning_tier_says_null(served) -> None:
    gateway, _ = served
    route = httpx.post(
        gateway.url + "/v1/route", json={"model": "cheap-model", "messages": [{"role": "user", "content": "x"}]}, timeout=30
    ).json()
    assert route["reasoning"] is None
