"""Cache replays are faithful: what a model answered (text, tool calls, a refusal, logprobs, how it
ended) comes back from the cache as the model gave it, in all four combinations of a streamed or
non-streamed first answer and a streamed or non-streamed replay, through chat and the other doors;
and requests whose answers must not be reused are never cached.

The model is a local server speaking OpenAI's protocol (scripted answers, streamed as OpenAI
streams them: tokens with their logprobs, refusals as `delta.refusal`, tool calls by index with
their arguments in pieces), behind the real gateway's openai tier; the client is the openai SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest
from aiohttp import web

from tests.servers import Process, free_port, start_gateway

CALL = {"id": "call_w1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "c"}'}}
# Scenario (named in the prompt) -> the answer the model gives: content tokens, refusal tokens, tool calls, finish reason.
ANSWERS: dict[str, dict[str, Any]] = {
    "text": {"content": ["The", " answer", " is", " 42", "."], "finish": "stop"},
    "length": {"content": ["Once", " upon", " a"], "finish": "length"},
    "tool": {"calls": [CALL], "finish": "tool_calls"},
    "texttool": {"content": ["Let", " me", " check", "."], "calls": [CALL, {**CALL, "id": "call_w2", "function": {
        "name": "get_time", "arguments": '{"zone": "CET"}'}}], "finish": "tool_calls"},
    "refusal": {"refusal": ["I", " can", "'t", " help", " with", " that", "."], "finish": "stop"},
    "filter": {"content": ["Partial"], "finish": "content_filter"},
}
TOOLS = [{"type": "function", "function": {"name": name, "description": f"{name} tool",
                                           "parameters": {"type": "object", "properties": {}, "additionalProperties": True}}}
         for name in ("get_weather", "get_time", "send_email")]


def _logprob_entries(tokens: list[str], top: int) -> list[dict[str, Any]]:
    return [{"token": t, "logprob": -0.125 * (i + 1), "bytes": list(t.encode()),
             "top_logprobs": [{"token": t, "logprob": -0.125 * (i + 1), "bytes": list(t.encode())}][:top]}
            for i, t in enumerate(tokens)]


def model_answer(scenario: str, logprobs: bool, top: int) -> dict[str, Any]:
    """The choice the model gives, as a non-streamed answer carries it."""
    spec = ANSWERS[scenario]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(spec["content"]) if "content" in spec else None,
                               "refusal": "".join(spec["refusal"]) if "refusal" in spec else None}
    if "calls" in spec:
        message["tool_calls"] = spec["calls"]
    choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": spec["finish"], "logprobs": None}
    if logprobs:
        choice["logprobs"] = {"content": _logprob_entries(spec["content"], top) if "content" in spec else None,
                              "refusal": _logprob_entries(spec["refusal"], top) if "refusal" in spec else None}
    return choice


class ScriptedModel:
    """The model: answers by the scenario its prompt names, counts the calls it answered."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.calls = 0
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            app = web.Application()
            app.router.add_post("/v1/chat/completions", self.chat)
            # The gateway's readiness asks each upstream for its models.
            app.router.add_get("/v1/models", lambda _: web.json_response({"object": "list", "data": []}))
            self.runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
            self.loop.run_until_complete(self.runner.setup())
            self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert ready.wait(10)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        self.calls += 1
        body = await request.json(loads=orjson.loads)
        prompt = body["messages"][-1]["content"]
        scenario = next(name for name in sorted(ANSWERS, key=len, reverse=True) if f"[{name}]" in prompt)
        spec = ANSWERS[scenario]
        logprobs, top = bool(body.get("logprobs")), int(body.get("top_logprobs") or 0)
        usage = {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}
        base = {"id": "chatcmpl-model", "created": int(time.time()), "model": body["model"]}
        if not body.get("stream"):
            return web.json_response({**base, "object": "chat.completion", "choices": [model_answer(scenario, logprobs, top)],
                                      "usage": usage}, dumps=lambda o: orjson.dumps(o).decode())
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)

        async def send(delta: dict[str, Any], finish: str | None = None, lp: dict[str, Any] | None = None) -> None:
            chunk = {**base, "object": "chat.completion.chunk",
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": lp}]}
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")

        await send({"role": "assistant", "content": ""}, lp={"content": [], "refusal": None} if logprobs else None)
        for field in ("content", "refusal"):
            entries = _logprob_entries(spec.get(field, []), top)
            for token, entry in zip(spec.get(field, []), entries, strict=True):
                await send({field: token}, lp={"content": None, "refusal": None, field: [entry]} if logprobs else None)
        for index, call in enumerate(spec.get("calls", [])):
            await send({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                        "function": {"name": call["function"]["name"], "arguments": ""}}]})
            arguments = call["function"]["arguments"]
            for piece in (arguments[:5], arguments[5:12], arguments[12:]):
                await send({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        await send({}, spec["finish"])
        if (body.get("stream_options") or {}).get("include_usage"):
            await response.write(b"data: " + orjson.dumps({**base, "object": "chat.completion.chunk", "choices": [],
                                                           "usage": usage}) + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        return response

    def stop(self) -> None:
        async def shutdown() -> None:
            with contextlib.suppress(Exception):
                await self.runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


POLICY = """
version: 1
name: replay
tiers:
  remote:
    engine: openai
    model: remote-model
    upstream_model: scripted
    base_url: {url}/v1
    max_output_tokens: 64
    prices: {{input_per_mtok: 1, output_per_mtok: 2}}
  lite:
    engine: litellm
    model: lite-model
    litellm_model: openai/scripted
    base_url: {url}/v1
    api_key_env: SWITCHYARD_TEST_PROVIDER_KEY
    max_output_tokens: 64
    prices: {{input_per_mtok: 1, output_per_mtok: 2}}
routing:
  classifier: rules
  thresholds: {{}}
cache:
  exact: true
  semantic: false
  max_temperature: 0.5
  side_effect_tools: [send_email]
"""


@pytest.fixture(scope="module")
def model() -> Iterator[ScriptedModel]:
    server = ScriptedModel()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(model: ScriptedModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    work: Path = tmp_path_factory.mktemp("replay")
    policy = work / "policy.yaml"
    policy.write_text(POLICY.format(url=model.url))
    server = start_gateway(policy, work, env={"SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db",
                                              "SWITCHYARD_TEST_PROVIDER_KEY": "sk-local-test"})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sdk(gateway: Process) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-unused", max_retries=0)
    yield client
    client.close()


def _as_dict(obj: Any) -> Any:
    return obj.model_dump(exclude_none=False) if obj is not None else None


def received(sdk: openai.OpenAI, ask: dict[str, Any], stream: bool) -> tuple[str, dict[str, Any]]:
    """What the client got (the cache header, and the choice as a non-streamed answer carries it);
    a stream is put back together by the SDK's own accumulator, not by ours."""
    if not stream:
        raw = sdk.chat.completions.with_raw_response.create(**ask)
        choice = raw.parse().choices[0]
    else:
        from openai.lib.streaming.chat import ChatCompletionStreamState

        raw = sdk.chat.completions.with_raw_response.create(**ask, stream=True)
        state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
        for chunk in raw.parse():
            state.handle_chunk(chunk)
        # The snapshot, not get_final_completion(): that one raises on a cut (length) answer.
        choice = state.current_completion_snapshot.choices[0]
    message = choice.message
    got = {"content": message.content, "refusal": message.refusal,
           "tool_calls": [{"id": c.id, "type": c.type, "function": {"name": c.function.name, "arguments": c.function.arguments}}
                          for c in message.tool_calls or []] or None,
           "finish_reason": choice.finish_reason, "logprobs": _as_dict(choice.logprobs)}
    return raw.headers["x-switchyard-cache"], got


def expected(scenario: str, logprobs: bool, top: int) -> dict[str, Any]:
    choice = model_answer(scenario, logprobs, top)
    message = choice["message"]
    return {"content": message["content"], "refusal": message["refusal"], "tool_calls": message.get("tool_calls"),
            "finish_reason": choice["finish_reason"], "logprobs": choice["logprobs"]}


def _normal(got: dict[str, Any]) -> dict[str, Any]:
    # The SDK's accumulator starts content at "" and lists at []: none of that is an answer's difference.
    got = dict(got)
    if got["content"] == "" and (got["tool_calls"] or got["refusal"]):
        got["content"] = None
    lp = got["logprobs"]
    if lp is not None:
        got["logprobs"] = {k: (v or None) for k, v in lp.items()}
    return got


@pytest.mark.parametrize("tier", ["remote", "lite"])  # the openai engine, and litellm's
@pytest.mark.parametrize("logprobs", [False, True], ids=["plain", "logprobs"])
@pytest.mark.parametrize("scenario", list(ANSWERS))
def test_replays_are_what_the_model_answered(sdk: openai.OpenAI, scenario: str, logprobs: bool, tier: str) -> None:
    combinations = ((False, False), (False, True), (True, False), (True, True))
    if tier == "lite" and scenario == "refusal":
        # Not the cache: litellm's stream wrapper drops delta.refusal, so a streamed answer through it has none
        # to keep. A refusal answered whole still replays whole and streamed.
        combinations = combinations[:2]
    want = expected(scenario, logprobs, 2)
    for first, again in combinations:
        ask: dict[str, Any] = {"model": tier, "messages": [
            {"role": "user", "content": f"[{scenario}] stored {'streamed' if first else 'whole'}, replayed "
                                        f"{'streamed' if again else 'whole'}"}], "tools": TOOLS[:2], "temperature": 0}
        if logprobs:
            ask.update(logprobs=True, top_logprobs=2)
        cache, got = received(sdk, ask, first)
        assert cache == "miss"
        assert _normal(got) == want, f"model answer ({'streamed' if first else 'whole'})"
        cache, got = received(sdk, ask, again)
        assert cache == "hit-exact", (first, again)
        assert _normal(got) == want, f"replay of an answer stored {'streamed' if first else 'whole'}, " \
                                     f"replayed {'streamed' if again else 'whole'}"


def test_logprobs_are_part_of_the_key(sdk: openai.OpenAI, model: ScriptedModel) -> None:
    """An answer kept without logprobs never serves a request asking for them (nor a different top_logprobs)."""
    ask = {"model": "remote", "messages": [{"role": "user", "content": "[text] logprobs keyed"}]}
    assert received(sdk, ask, True)[0] == "miss"
    cache, got = received(sdk, {**ask, "logprobs": True}, False)
    assert cache == "miss" and got["logprobs"]["content"]
    cache, got = received(sdk, {**ask, "logprobs": True, "top_logprobs": 3}, True)
    assert cache == "miss" and got["logprobs"]["content"]
    cache, got = received(sdk, {**ask, "logprobs": True}, True)
    assert cache == "hit-exact" and got["logprobs"]["content"] == expected("text", True, 1)["logprobs"]["content"]


def _bypassed(gateway: Process, model: ScriptedModel, body: dict[str, Any], headers: dict[str, str] | None = None) -> list[str]:
    """The cache header and bypass reason of the same request sent twice; asserts the model answered both."""
    before = model.calls
    seen = []
    for _ in range(2):
        response = httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=headers or {}, timeout=30)
        assert response.status_code == 200, response.text
        seen.append(f"{response.headers['x-switchyard-cache']}:{response.headers.get('x-switchyard-cache-bypass', '')}")
    assert model.calls == before + 2, seen
    return seen


def test_never_cached(gateway: Process, model: ScriptedModel) -> None:
    ask = {"model": "remote", "messages": [{"role": "user", "content": "[text] never cached"}]}
    # Hotter than the policy's max_temperature (0.5): answers meant to vary are neither read nor kept.
    assert _bypassed(gateway, model, {**ask, "temperature": 0.9}) == ["bypass:temperature"] * 2
    # A tool the policy marks as acting on the world, offered among others.
    assert _bypassed(gateway, model, {**ask, "tools": TOOLS}) == ["bypass:side-effect-tools"] * 2
    # The client's no-store: nothing kept, so the next plain request is a miss too.
    assert _bypassed(gateway, model, ask, {"cache-control": "no-store"}) == ["bypass:no-store"] * 2
    assert received_plain(gateway, ask) == "miss"
    # n>1 is refused outright (one answer per request), so it is never cached either.
    response = httpx.post(gateway.url + "/v1/chat/completions", json={**ask, "n": 2}, timeout=30)
    assert response.status_code == 400 and response.json()["error"]["param"] == "n"


def received_plain(gateway: Process, body: dict[str, Any]) -> str:
    return httpx.post(gateway.url + "/v1/chat/completions", json=body, timeout=30).headers["x-switchyard-cache"]


def test_cacheable_requests_beside_the_rules(gateway: Process, model: ScriptedModel) -> None:
    """The rules' limits are not over-broad: at the temperature limit and with only harmless tools, the second is a hit."""
    ask = {"model": "remote", "messages": [{"role": "user", "content": "[tool] at the limits"}], "temperature": 0.5,
           "tools": TOOLS[:2]}
    before = model.calls
    assert [received_plain(gateway, ask) for _ in range(2)] == ["miss", "hit-exact"]
    assert model.calls == before + 1


def test_messages_door_replays_tool_use_and_cut_answers(gateway: Process) -> None:
    """The Anthropic door goes through the same pipeline: a streamed tool call kept from one request
    comes back as a tool_use block and a cut answer as max_tokens, streamed and not."""
    client = anthropic.Anthropic(base_url=gateway.url, api_key="sk-unused", max_retries=0)
    tools = [{"name": t["function"]["name"], "description": "x", "input_schema": {"type": "object"}} for t in TOOLS[:2]]
    for scenario, reason in (("tool", "tool_use"), ("length", "max_tokens")):
        ask: dict[str, Any] = {"model": "remote", "max_tokens": 64, "tools": tools,
                               "messages": [{"role": "user", "content": f"[{scenario}] through the messages door"}]}
        with client.messages.stream(**ask) as stream:
            first = stream.get_final_message()
        assert first.stop_reason == reason
        raw = client.messages.with_raw_response.create(**ask)
        assert raw.headers["x-switchyard-cache"] == "hit-exact"
        again = raw.parse()
        assert again.stop_reason == reason
        assert [b.model_dump() for b in again.content] == [b.model_dump() for b in first.content]
        if scenario == "tool":
            assert again.content[-1].type == "tool_use" and again.content[-1].input == {"city": "Paris", "unit": "c"}
        with client.messages.stream(**ask) as stream:
            replayed = stream.get_final_message()
        assert replayed.stop_reason == reason
        assert [b.model_dump() for b in replayed.content] == [b.model_dump() for b in first.content]
    client.close()


def test_responses_door_replays_function_calls(sdk: openai.OpenAI) -> None:
    tools = [{"type": "function", "name": t["function"]["name"], "parameters": t["function"]["parameters"]} for t in TOOLS[:2]]
    ask: dict[str, Any] = {"model": "remote", "input": "[tool] through the responses door", "tools": tools}
    with sdk.responses.stream(**ask) as stream:
        first = stream.get_final_response()
    raw = sdk.responses.with_raw_response.create(**ask)
    assert raw.headers["x-switchyard-cache"] == "hit-exact"
    again = raw.parse()
    calls = [(i.type, getattr(i, "name", None), getattr(i, "arguments", None), getattr(i, "call_id", None)) for i in again.output]
    assert calls == [(i.type, getattr(i, "name", None), getattr(i, "arguments", None), getattr(i, "call_id", None))
                     for i in first.output]
    assert ("function_call", "get_weather", CALL["function"]["arguments"], "call_w1") in calls
