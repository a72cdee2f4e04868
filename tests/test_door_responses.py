"""The Responses door (POST /v1/responses) driven by the real openai SDK against a real gateway process,
plus unit tests of its translation (input items to chat messages, chat chunks to Responses events)."""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx
import openai
import orjson
import pytest
from pydantic import BaseModel

from router.doors.responses import chat_payload, input_messages
from router.doors.responses_output import StreamTranslator, response_object
from router.errors import APIError
from tests.servers import Process, ledger_row

SAY = "Say hello in one word."
IMAGE = "data:image/png;base64,AA"
ANSWER_SCHEMA = {"type": "object", "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
                 "required": ["answer"], "additionalProperties": False}
WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "The weather in a city.", "strict": True,
                "parameters": {"type": "object", "properties": {"unit": {"type": "string", "enum": ["c", "f"]}},
                               "required": ["unit"], "additionalProperties": False}}


def sdk(gateway: Process) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-anything", max_retries=0, timeout=120)


def assert_usage(usage: Any) -> None:
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens >= 0 and usage.output_tokens_details.reasoning_tokens == 0


def assert_outcome(response: Any) -> None:
    assert response.status in ("completed", "incomplete")
    if response.status == "incomplete":
        assert response.incomplete_details.reason == "max_output_tokens"
    else:
        assert response.incomplete_details is None


# --- the real SDK against the real gateway -------------------------------------------------------

def test_create_with_string_input(gateway: Process) -> None:
    raw = sdk(gateway).responses.with_raw_response.create(model="local", input=SAY, max_output_tokens=8, temperature=0)
    response = raw.parse()
    request_id = raw.headers["x-switchyard-request-id"]
    assert raw.headers["x-switchyard-tier"] == "local" and raw.headers["x-switchyard-model"] == "smollm2-135m-instruct"
    for header in ("route-score", "cache", "cost-usd", "overhead-ms"):
        assert raw.headers[f"x-switchyard-{header}"]
    assert response.id == f"resp_{request_id}" and response.object == "response"
    assert response.model == "smollm2-135m-instruct" and response.created_at > 0
    assert_outcome(response)
    [message] = response.output
    assert message.type == "message" and message.role == "assistant" and message.id.startswith("msg_")
    [part] = message.content
    assert part.type == "output_text" and part.annotations == [] and isinstance(part.text, str)
    assert response.output_text == part.text and part.text.strip()
    assert_usage(response.usage)
    assert response.usage.output_tokens <= 8
    row = ledger_row(gateway, request_id)
    assert row["door"] == "responses" and row["status"] == "ok" and row["tier"] == "local"


def test_message_list_and_instructions_reach_the_model(gateway: Process) -> None:
    client = sdk(gateway)
    items: list[Any] = [
        {"role": "developer", "content": "You are terse."},
        {"role": "user", "content": [{"type": "input_text", "text": "Hi."}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello."}]},
        {"role": "user", "content": SAY},
    ]
    plain = client.responses.create(model="local", input=items, max_output_tokens=4)
    instructed = client.responses.create(model="local", input=items, instructions="Answer in English only, please.",
                                         max_output_tokens=4)
    for response in (plain, instructed):
        assert_outcome(response)
        assert_usage(response.usage)
    # The instructions are a system message of the prompt: the prompt grows by them (token counts, not words).
    assert instructed.usage.input_tokens > plain.usage.input_tokens
    assert instructed.instructions == "Answer in English only, please."


def test_stream_events_and_final_response(gateway: Process) -> None:
    client = sdk(gateway)
    with client.responses.stream(model="local", input="Is the sky blue? Answer yes or no.", temperature=0,
                                 text={"format": {"type": "json_schema", "name": "answer", "schema": ANSWER_SCHEMA,
                                                  "strict": True}}) as stream:
        events = list(stream)
        final = stream.get_final_response() if events[-1].type == "response.completed" else None
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    assert kinds[-4:-1] == ["response.output_text.done", "response.content_part.done", "response.output_item.done"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert deltas and events[-2].item.content[0].text == "".join(deltas)
    # The grammar ends the JSON long before the tier's 16 tokens; should the model not, the outcome says so.
    assert kinds[-1] in ("response.completed", "response.incomplete")
    if final is not None:
        assert final.status == "completed" and json.loads(final.output_text)["answer"] in ("yes", "no")
        assert_usage(final.usage)
        assert final.id == events[0].response.id


def test_create_stream_true_raw_events(gateway: Process) -> None:
    """The SSE lines themselves: `event: <type>` matching the data's type, and a terminal event with usage."""
    body = {"model": "local", "input": SAY, "max_output_tokens": 3, "stream": True}
    with httpx.stream("POST", gateway.url + "/v1/responses", json=body, timeout=60) as reply:
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
        assert reply.headers["x-switchyard-tier"] == "local"
        request_id = reply.headers["x-switchyard-request-id"]
        text = reply.read().decode()
    blocks = [b for b in text.split("\n\n") if b.strip()]
    events = []
    for block in blocks:
        kind, data = block.split("\n")
        assert kind.startswith("event: ") and data.startswith("data: ")
        event = json.loads(data[6:])
        assert event["type"] == kind[7:]
        events.append(event)
    last = events[-1]
    # Three tokens cannot hold a greeting and an end: the answer is cut by max_output_tokens.
    assert last["type"] == "response.incomplete" and last["response"]["status"] == "incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert last["response"]["usage"]["output_tokens"] == 3 and last["response"]["usage"]["input_tokens"] > 0
    assert last["response"]["output"][0]["status"] == "incomplete"
    assert ledger_row(gateway, request_id)["door"] == "responses"


def test_max_output_tokens_gives_incomplete(gateway: Process) -> None:
    response = sdk(gateway).responses.create(model="local", input="Count from one to fifty in words.", max_output_tokens=2)
    assert response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens"
    assert response.output[0].status == "incomplete" and response.usage.output_tokens == 2


class Answer(BaseModel):
    # An enum keeps the JSON within the tier's 16 tokens: the SDK parses the text even when it was cut.
    answer: Literal["yes", "no"]


def test_json_schema_output(gateway: Process) -> None:
    client = sdk(gateway)
    response = client.responses.create(
        model="local", input="Is water wet? Answer yes or no.",
        text={"format": {"type": "json_schema", "name": "answer", "schema": ANSWER_SCHEMA, "strict": True}})
    assert_outcome(response)
    assert response.text.format.type == "json_schema"
    if response.status == "completed":
        assert json.loads(response.output_text)["answer"] in ("yes", "no")
    # The SDK's own structured-output call: a pydantic model in, a parsed instance out.
    parsed = client.responses.parse(model="local", input="Reply with a JSON answer: is fire hot?", text_format=Answer)
    assert_outcome(parsed)
    if parsed.status == "completed":
        assert isinstance(parsed.output_parsed, Answer)
    json_object = client.responses.create(model="local", input="Give a JSON object.", max_output_tokens=4,
                                          text={"format": {"type": "json_object"}})
    assert_outcome(json_object)


def test_function_tool_round_trip(gateway: Process) -> None:
    """llama_cpp.server (the self_hosted tier) answers a named tool_choice with a grammar-constrained call."""
    client = sdk(gateway)
    ask = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = client.responses.create(model="self_hosted", input=ask, tools=[WEATHER_TOOL],
                                    tool_choice={"type": "function", "name": "get_weather"})
    calls = [item for item in first.output if item.type == "function_call"]
    assert calls, first.output
    call = calls[0]
    assert call.name == "get_weather" and call.call_id and call.id.startswith("fc_")
    if first.status == "completed":
        assert json.loads(call.arguments)["unit"] in ("c", "f")
    follow_up = [*ask, {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
                 {"type": "function_call_output", "call_id": call.call_id, "output": "18 degrees, sunny"}]
    second = client.responses.create(model="self_hosted", input=follow_up, tools=[WEATHER_TOOL], max_output_tokens=8)
    assert_outcome(second)
    assert second.output and second.usage.input_tokens > first.usage.input_tokens

    # Streamed, the call's arguments arrive as deltas.
    with client.responses.stream(model="self_hosted", input=ask, tools=[WEATHER_TOOL],
                                 tool_choice={"type": "function", "name": "get_weather"}) as stream:
        events = list(stream)
    kinds = [e.type for e in events]
    added = next(e for e in events if e.type == "response.output_item.added")
    assert added.item.type == "function_call" and added.item.name == "get_weather"
    assert "response.function_call_arguments.delta" in kinds and "response.function_call_arguments.done" in kinds
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert done.arguments == "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert kinds[-1] in ("response.completed", "response.incomplete")


BAD_BODIES: list[tuple[dict[str, Any], str | None, str]] = [
    ({"model": "local", "input": SAY, "previous_response_id": "resp_abc"}, "previous_response_id", "not found"),
    ({"model": "local", "input": SAY, "tools": [{"type": "web_search"}]}, "tools[0].type", "built-in tools"),
    ({"model": "local"}, "input", "required"),
    ({"model": "local", "input": []}, "input", "non-empty"),
    ({"model": "local", "input": [{"type": "computer_call", "id": "x"}]}, "input[0].type", "computer_call"),
    ({"model": "local", "input": [{"role": "robot", "content": "x"}]}, "input[0].role", "role"),
    ({"model": "local", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
     "input[0].content[0]", "file ids"),
    ({"model": "local", "input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]", "references"),
    ({"model": "local", "input": SAY, "text": {"format": {"type": "yaml"}}}, "text.format.type", "json_schema"),
    ({"model": "local", "input": SAY, "text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema", "schema"),
    ({"model": "local", "input": SAY, "tool_choice": {"type": "file_search"}}, "tool_choice", "tool_choice"),
    ({"model": "local", "input": SAY, "max_output_tokens": 10**9}, "max_output_tokens", "max_output_tokens"),
    ({"model": "local", "input": SAY, "temperature": 7}, "temperature", "temperature"),
    ({"model": "local", "input": SAY, "stream": "yes"}, "stream", "boolean"),
    ({"model": "local", "input": SAY, "metadata": {"k": 1}}, "metadata", "string"),
    ({"model": "local", "input": SAY, "background": True}, "background", "background"),
]


@pytest.mark.parametrize(("body", "param", "words"), BAD_BODIES)
def test_bad_requests_are_400_in_openai_shape(gateway: Process, body: dict[str, Any], param: str | None, words: str) -> None:
    reply = httpx.post(gateway.url + "/v1/responses", json=body, timeout=30)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    assert error["param"] == param and words in error["message"], error


def test_bad_request_through_the_sdk(gateway: Process) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(gateway).responses.create(model="local", input=SAY, previous_response_id="resp_123")
    assert caught.value.status_code == 400 and caught.value.code == "previous_response_not_found"
    assert caught.value.param == "previous_response_id" and "resp_123" in caught.value.message
    reply = httpx.post(gateway.url + "/v1/responses", content=b"{not json", timeout=30)
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "invalid_json"


# --- the translation, without a gateway -------------------------------------------------------

def test_function_call_items_become_chat_tool_messages() -> None:
    messages = input_messages([
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": '{"city": "Rome"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
        {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "21C"}]},
        {"role": "assistant", "content": "Paris 18C, Rome 21C."},
        {"role": "developer", "content": [{"type": "input_text", "text": "Be brief."}]},
    ], instructions="You help with weather.")
    assert messages == [
        {"role": "system", "content": "You help with weather."},
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": "21C"},
        {"role": "assistant", "content": "Paris 18C, Rome 21C."},
        {"role": "system", "content": "Be brief."},
    ]


def test_assistant_text_then_calls_share_one_message() -> None:
    messages = input_messages([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Let me look."},
                               {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}])
    assert messages[-1] == {"role": "assistant", "content": "Let me look.",
                            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}


def test_request_translation() -> None:
    payload = chat_payload({
        "model": "auto", "input": [{"role": "user", "content": [
            {"type": "input_text", "text": "What is this?"}, {"type": "input_image", "image_url": IMAGE, "detail": "low"}]}],
        "tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "name": "get_weather"},
        "text": {"format": {"type": "json_schema", "name": "answer", "schema": ANSWER_SCHEMA, "strict": True}},
        "max_output_tokens": 20, "temperature": 0.5, "top_p": 0.9, "user": "u1", "metadata": {"k": "v"}, "store": True,
        "stream": True, "reasoning": {"effort": "low"}, "include": [], "truncation": "auto"})
    assert payload == {
        "model": "auto",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                                  {"type": "image_url", "image_url": {"url": IMAGE, "detail": "low"}}]}],
        "max_tokens": 20, "temperature": 0.5, "top_p": 0.9, "user": "u1",
        "tools": [{"type": "function", "function": {k: v for k, v in WEATHER_TOOL.items() if k != "type"}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER_SCHEMA, "strict": True}},
        "stream": True, "stream_options": {"include_usage": True}}
    assert "response_format" not in chat_payload({"model": "m", "input": "x", "text": {"format": {"type": "text"}}})
    with pytest.raises(APIError) as caught:
        chat_payload({"model": "m", "input": [{"role": "system", "content": "only a system prompt"}]})
    assert caught.value.status == 400 and caught.value.param == "input"


def _events(raw: list[bytes]) -> list[dict[str, Any]]:
    return [orjson.loads(block.split(b"\ndata: ", 1)[1]) for block in raw]


def test_stream_translation_of_tool_calls_and_errors() -> None:
    translator = StreamTranslator("resp_abc", {"model": "m", "input": "x"}, "m")
    raw = translator.start()

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    raw += translator.chunk(chunk({"role": "assistant", "content": "Checking."}))
    raw += translator.chunk(chunk({"tool_calls": [{"index": 0, "id": "call_9", "type": "function",
                                                   "function": {"name": "get_weather", "arguments": ""}}]}))
    raw += translator.chunk(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"unit":'}}]}))
    raw += translator.chunk(chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' "c"}'}}]}, "tool_calls"))
    raw += translator.chunk({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}})
    raw += translator.finish() + translator.finish()
    events = _events(raw)
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    final = events[-1]["response"]
    assert final["status"] == "completed" and final["usage"]["total_tokens"] == 12
    assert [i["type"] for i in final["output"]] == ["message", "function_call"]
    assert final["output"][1] == {"id": "fc_abc_0", "type": "function_call", "status": "completed", "call_id": "call_9",
                                  "name": "get_weather", "arguments": '{"unit": "c"}'}
    # What the SDK's own parser makes of the final response.
    from openai.types.responses import Response
    assert Response.model_validate(final).output[1].arguments == '{"unit": "c"}'

    failing = StreamTranslator("resp_def", {"model": "m", "input": "x"}, "m")
    raw = failing.start() + failing.chunk(chunk({"content": "Hal"}))
    raw += failing.chunk({"error": {"message": "upstream died", "type": "api_error", "code": "upstream_error", "param": None}})
    raw += failing.finish()
    events = _events(raw)
    assert [e["type"] for e in events][-2:] == ["error", "response.failed"]
    assert events[-1]["response"]["error"] == {"code": "server_error", "message": "upstream died"}


def test_non_stream_translation_is_what_the_sdk_parses() -> None:
    from openai.types.responses import Response

    completion = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
                  "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                      "role": "assistant", "content": None,
                      "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}],
                  "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}
    body = {"model": "auto", "input": "x", "tools": [WEATHER_TOOL]}
    parsed = Response.model_validate(response_object("resp_1", body, completion))
    assert parsed.status == "completed" and [i.type for i in parsed.output] == ["function_call"]
    assert parsed.usage is not None and parsed.usage.total_tokens == 5 and parsed.output_text == ""
    completion["choices"][0].update(finish_reason="length", message={"role": "assistant", "content": "abc"})
    cut = Response.model_validate(response_object("resp_1", body, completion))
    assert cut.status == "incomplete" and cut.incomplete_details is not None
    assert cut.incomplete_details.reason == "max_output_tokens" and cut.output_text == "abc"
