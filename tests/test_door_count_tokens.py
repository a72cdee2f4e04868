"""POST /v1/messages/count_tokens driven by the real anthropic SDK against a real gateway process: the
local tier counts with its own tokenizer (the count a request then reports as its input tokens), other
tiers estimate and say so."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx

from router.capabilities import estimate_prompt_tokens
from tests.servers import Process

TOOL = {"name": "get_weather", "description": "The weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
TURNS: list[Any] = [{"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Hello."},
                    {"role": "user", "content": [{"type": "text", "text": "Name a colour."}]}]


def sdk(gateway: Process) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key="sk-anything", max_retries=0, timeout=120)


def test_local_count_is_what_the_request_then_uses(gateway: Process) -> None:
    client = sdk(gateway)
    raw = client.messages.with_raw_response.count_tokens(model="local", system="You are terse.", messages=TURNS)
    counted = raw.parse().input_tokens
    assert raw.headers["x-switchyard-token-count"] == "tokenizer" and raw.headers["x-switchyard-tier"] == "local"
    message = client.messages.create(model="local", max_tokens=1, system="You are terse.", messages=TURNS)
    assert counted == message.usage.input_tokens > 0


def test_tools_are_counted(gateway: Process) -> None:
    client = sdk(gateway)
    plain = client.messages.count_tokens(model="local", messages=TURNS).input_tokens
    tooled = client.messages.count_tokens(model="local", messages=TURNS, tools=[TOOL]).input_tokens  # type: ignore[list-item]
    assert tooled > plain + 10  # the tool's description travels in the prompt


def test_remote_tier_is_an_estimate(gateway: Process) -> None:
    raw = sdk(gateway).messages.with_raw_response.count_tokens(model="self_hosted", messages=TURNS)
    assert raw.headers["x-switchyard-token-count"] == "estimate" and raw.headers["x-switchyard-tier"] == "self_hosted"
    messages = [{"role": m["role"], "content": m["content"] if isinstance(m["content"], str) else m["content"][0]["text"]}
                for m in TURNS]
    assert raw.parse().input_tokens == estimate_prompt_tokens(messages, None)


def test_bad_requests_are_anthropic_400s(gateway: Process) -> None:
    for body in ({"model": "local"}, {"model": "local", "messages": []}, {"model": "local", "messages": [{"role": "tool"}]}):
        response = httpx.post(f"{gateway.url}/v1/messages/count_tokens", json=body, timeout=30)
        assert response.status_code == 400, response.text
        assert response.json()["type"] == "error" and response.json()["error"]["type"] == "invalid_request_error"
    unknown = httpx.post(f"{gateway.url}/v1/messages/count_tokens", json={"model": "nope", "messages": TURNS}, timeout=30)
    assert unknown.status_code == 404 and unknown.json()["type"] == "error"
