"""Property-based fuzzing of the HTTP API: whatever a client sends, never a 5xx, never a crash.

The app runs in-process (httpx's ASGI transport) in front of a real local upstream that answers
well, so a request the gateway accepts is answered for real, and any 5xx is the gateway's own.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies.loader import load_policy_text
from router.app import create_app
from router.gateway import Gateway
from router.ledger import Ledger
from tests.faulty_upstream import FaultyUpstream
from tests.servers import free_port

POLICY = """
version: 1
name: fuzz
tiers:
  small:
    engine: openai
    model: small
    base_url: {upstream}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 1, output_per_mtok: 2}}
    timeouts: {{connect_s: 1, read_s: 3, total_s: 3}}
  big:
    engine: openai
    model: big
    base_url: {upstream}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 10, output_per_mtok: 20}}
    timeouts: {{connect_s: 1, read_s: 3, total_s: 3}}
routing: {{classifier: rules, thresholds: {{big: 0.6}}}}
limits: {{max_messages: 64, max_request_bytes: 65536, max_output_tokens: 4096}}
cache: {{exact: true, semantic: false}}
"""
pytestmark = pytest.mark.slow  # ~15 s: hundreds of requests through the whole app
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


class InProcess:
    """The app and its gateway on one event loop that the synchronous hypothesis tests drive."""

    def __init__(self, upstream: str, work: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.statuses: Counter[int] = Counter()
        self.gateway = Gateway(load_policy_text(POLICY.format(upstream=upstream)), ledger=Ledger(f"sqlite:///{work}/ledger.db"))
        self.app = create_app(self.gateway)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://gateway", timeout=10)
        self.run(self.gateway.start())

    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    def post(self, path: str, content: bytes, content_type: str = "application/json") -> httpx.Response:
        response = self.run(self.client.post(path, content=content, headers={"content-type": content_type}))
        self.statuses[response.status_code] += 1
        return response

    def close(self) -> None:
        self.run(self.client.aclose())
        self.run(self.gateway.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    upstream = FaultyUpstream(free_port())
    app = InProcess(upstream.url, tmp_path_factory.mktemp("fuzz"))
    yield app
    app.close()
    upstream.stop()


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and isinstance(error["message"], str)
        assert "Traceback" not in response.text


# JSON as a client might send it: any shape, deep, big numbers, odd strings.
scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
                           max_leaves=25)
roles = st.sampled_from(["system", "user", "assistant", "tool", "developer", "function", "", "USER", "wizard"])
contents = st.text(max_size=200) | st.none() | json_values | st.lists(
    st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url", "x"]), "text": st.text(max_size=30) | json_values}), max_size=3
)
messages = st.fixed_dictionaries({"role": roles, "content": contents}, optional={"name": json_values, "tool_calls": json_values})
FIELDS = {
    "model": st.sampled_from(["auto", "small", "big", "nope", ""]) | json_values,
    "messages": st.lists(messages, max_size=6) | json_values,
    "max_tokens": st.integers(min_value=-(2**63), max_value=2**63 - 1) | json_values,
    "max_completion_tokens": st.integers(min_value=-10, max_value=10**9),
    "temperature": st.floats(allow_nan=False, allow_infinity=False) | json_values,
    "top_p": st.floats(allow_nan=False, allow_infinity=False),
    "stream": st.booleans() | json_values,
    "stream_options": json_values | st.fixed_dictionaries({"include_usage": st.booleans() | json_values}),
    "stop": st.text(max_size=5) | st.lists(st.text(max_size=5), max_size=6) | json_values,
    "n": st.integers(min_value=-5, max_value=5),
    "seed": st.integers(min_value=-(2**63), max_value=2**63 - 1) | json_values,
    "tools": json_values,
    "tool_choice": json_values,
    "response_format": json_values,
    "logprobs": json_values,
    "user": json_values,
    "presence_penalty": json_values,
}
chat_bodies = st.fixed_dictionaries({}, optional=FIELDS)


@FUZZ
@given(body=chat_bodies)
def test_chat_bodies_never_5xx(api: InProcess, body: dict[str, Any]) -> None:
    check(api.post("/v1/chat/completions", orjson.dumps(body)))


# Nearly valid requests, so that the fuzzing also reaches routing, budgets, the engine and the ledger.
nearly_valid = st.fixed_dictionaries(
    {"model": st.sampled_from(["auto", "small", "big"]),
     "messages": st.lists(
         st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant"]), "content": st.text(max_size=300)}),
         min_size=1, max_size=8)},
    optional={"max_tokens": st.integers(min_value=-2, max_value=5000), "temperature": st.floats(min_value=-1, max_value=3),
              "top_p": st.floats(min_value=0, max_value=1), "stream": st.booleans(),
              "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}),
              "stop": st.lists(st.text(min_size=1, max_size=4), max_size=4), "seed": st.integers(min_value=0, max_value=2**31),
              "user": st.text(max_size=20), "n": st.integers(min_value=0, max_value=2)},
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(body=nearly_valid)
def test_nearly_valid_bodies_never_5xx(api: InProcess, body: dict[str, Any]) -> None:
    response = api.post("/v1/chat/completions", orjson.dumps(body))
    check(response)
    if response.status_code == 200 and body.get("stream"):
        assert response.text.rstrip().endswith("data: [DONE]")


@FUZZ
@given(body=json_values)
def test_any_json_never_5xx(api: InProcess, body: Any) -> None:
    for path in ("/v1/chat/completions", "/v1/route", "/v1/feedback"):
        check(api.post(path, orjson.dumps(body)))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300), content_type=st.sampled_from(["application/json", "text/plain", "", "application/json; charset=x"]))
def test_raw_bytes_and_invalid_utf8_never_5xx(api: InProcess, raw: bytes, content_type: str) -> None:
    check(api.post("/v1/chat/completions", raw, content_type))
    # Valid JSON around bytes that are not UTF-8.
    check(api.post("/v1/chat/completions", b'{"model": "auto", "messages": [{"role": "user", "content": "' + raw + b'"}]}'))


def test_extremes(api: InProcess) -> None:
    one = {"role": "user", "content": "hi"}
    bodies = [
        {"model": "auto", "messages": [one] * 5000},
        {"model": "auto", "messages": [one] * 64, "max_tokens": 1},
        {"model": "auto", "messages": [one], "max_tokens": 2**63 - 1},
        {"model": "auto", "messages": [one], "max_tokens": 0},
        {"model": "auto", "messages": [one], "temperature": 1e308},
        {"model": "auto", "messages": [{"role": "user", "content": "x" * 70_000}]},
    ]
    for body in bodies:
        check(api.post("/v1/chat/completions", orjson.dumps(body)))
    for raw in (
        b'{"model": "auto", "messages": [{"role": "user", "content": "\\udcff lone surrogate"}]}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1' + b"0" * 400 + b"}",
        b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e999}',
    ):
        check(api.post("/v1/chat/completions", raw))


def test_still_healthy_and_answering_after_fuzzing(api: InProcess) -> None:
    # The fuzzing reached the engine as well as the validation, or it proved little.
    print("statuses seen:", dict(api.statuses))
    assert api.statuses[200] > 0 and sum(n for s, n in api.statuses.items() if 400 <= s < 500) > 0
    assert api.run(api.client.get("/healthz")).status_code == 200
    response = api.post("/v1/chat/completions", orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": "hi"}]}))
    assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"]
