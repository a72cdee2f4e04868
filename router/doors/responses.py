"""OpenAI's Responses API (`POST /v1/responses`), stateless: a request is translated into a chat
payload for the one pipeline, and its answer (JSON or SSE) back into Responses' wire format
(router/doors/responses_output.py).

A response is kept (router/doors/stored_responses.py) when the policy stores prompts and the client did
not send `store: false`, so a follow-up may name it in `previous_response_id` (an unknown one is a 400
`previous_response_not_found`, never an answer without the context the client meant) and
GET /v1/responses/{id} returns it. `conversation` objects and item references are refused with a 400."""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from router.body import read_json
from router.doors import stored_responses
from router.doors.responses_output import response_object, translate_stream
from router.errors import APIError
from router.gateway import Gateway
from router.pipeline import serve_chat

log = logging.getLogger("switchyard")

_ROLES = {"user": "user", "system": "system", "assistant": "assistant",
          # Chat's "developer" role is OpenAI's own; the upstreams behind other tiers know it as system.
          "developer": "system"}
_TEXT_PARTS = ("input_text", "output_text")
# Items a client may echo back from an earlier turn that carry nothing a chat model can use.
_SKIPPED_ITEMS = frozenset({"reasoning"})
_UNSUPPORTED_BODY = {
    "conversation": "conversations are not supported: send the whole conversation in 'input'",
    "prompt": "stored prompt templates are not supported: send the prompt in 'input' and 'instructions'",
}
# Chat's names for what a client of this door calls otherwise, for errors the pipeline raises
# (as a param, or quoted in a message).
_CHAT_NAMES = [(re.compile(r"(^|')messages(?:\.\d+)?"), r"\1input"), (re.compile(r"\bmax_tokens\b"), "max_output_tokens"),
               (re.compile(r"(^|')response_format(?:\.json_schema)?"), r"\1text.format"),
               (re.compile(r"(tools\[\d+\])\.function\."), r"\1.")]


def _bad(message: str, param: str | None, code: str = "invalid_value") -> APIError:
    return APIError(400, message, param=param, code=code)


def _text_of(parts: Any, param: str) -> str:
    """The text of a string or a list of text parts (for roles and outputs that take text only)."""
    if isinstance(parts, str):
        return parts
    if not isinstance(parts, list):
        raise _bad(f"'{param}' must be a string or a list of text parts", param)
    texts = []
    for i, part in enumerate(parts):
        if not isinstance(part, dict) or part.get("type") not in (*_TEXT_PARTS, "refusal"):
            raise _bad(f"'{param}[{i}]' must be a part of type input_text or output_text", f"{param}[{i}]")
        text = part.get("refusal" if part["type"] == "refusal" else "text")
        if not isinstance(text, str):
            raise _bad(f"'{param}[{i}].text' must be a string", f"{param}[{i}].text")
        texts.append(text)
    return "".join(texts)


def _content_part(part: Any, param: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in _TEXT_PARTS:
        if not isinstance(part.get("text"), str):
            raise _bad(f"'{param}.text' must be a string", f"{param}.text")
        return {"type": "text", "text": part["text"]}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str):
            # A file id names an upload at OpenAI, which no other tier can read and no budget can bound.
            raise _bad(f"'{param}' needs an 'image_url' (a URL or a data URL); file ids are not supported", param)
        image: dict[str, Any] = {"url": url}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        if not isinstance(part.get("file_data"), str):
            raise _bad(f"'{param}' needs 'file_data'; file ids and file URLs are not supported", param)
        file = {"file_data": part["file_data"], **({"filename": part["filename"]} if isinstance(part.get("filename"), str) else {})}
        return {"type": "file", "file": file}
    raise _bad(f"'{param}' has type {kind!r}; expected input_text, output_text, input_image or input_file", param)


def _message(item: dict[str, Any], param: str) -> dict[str, Any]:
    given = item.get("role")
    role = _ROLES.get(given) if isinstance(given, str) else None  # a list or an object would not hash: a 500 once
    if role is None:
        raise _bad(f"'{param}.role' must be one of user, system, developer, assistant", f"{param}.role")
    content = item.get("content")
    if role != "user":
        # System and assistant turns are text in every chat engine.
        return {"role": role, "content": _text_of(content, f"{param}.content")}
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list) or not content:
        raise _bad(f"'{param}.content' must be a string or a non-empty list of parts", f"{param}.content")
    return {"role": role, "content": [_content_part(p, f"{param}.content[{i}]") for i, p in enumerate(content)]}


def _string(item: dict[str, Any], key: str, param: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise _bad(f"'{param}.{key}' must be a non-empty string", f"{param}.{key}")
    return value


def input_messages(value: Any, instructions: Any = None) -> list[dict[str, Any]]:
    """Responses' `instructions` and `input` as chat messages: function calls become an assistant
    message's tool_calls (consecutive calls, parallel ones, share it) and their outputs tool messages."""
    messages: list[dict[str, Any]] = []
    if instructions is not None:
        if not isinstance(instructions, str):
            raise _bad("'instructions' must be a string", "instructions")
        messages.append({"role": "system", "content": instructions})
    if isinstance(value, str):
        return [*messages, {"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise _bad("'input' must be a string or a non-empty list of input items", "input")
    for i, item in enumerate(value):
        param = f"input[{i}]"
        if not isinstance(item, dict):
            raise _bad(f"'{param}' must be an object", param)
        kind = item.get("type", "message")
        if not isinstance(kind, str):  # an object or a list would reach a set lookup: unhashable, a 500 once
            raise _bad(f"'{param}.type' must be a string", f"{param}.type")
        if kind == "message":
            messages.append(_message(item, param))
        elif kind == "function_call":
            call = {"id": _string(item, "call_id", param), "type": "function",
                    "function": {"name": _string(item, "name", param), "arguments": item.get("arguments") or "{}"}}
            if not isinstance(call["function"]["arguments"], str):
                raise _bad(f"'{param}.arguments' must be a JSON string", f"{param}.arguments")
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                # An empty text rather than none: chat templates (llama.cpp's among them) read every message's content.
                messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append({"role": "tool", "tool_call_id": _string(item, "call_id", param),
                             "content": _text_of(output if output is not None else "", f"{param}.output")})
        elif kind in _SKIPPED_ITEMS:
            continue
        elif kind == "item_reference":
            raise _bad(f"'{param}': item references are not supported: this gateway keeps no items; send the item itself",
                       param, "unsupported_parameter")
        else:
            raise _bad(f"'{param}' has type {kind!r}; this gateway takes message, function_call and function_call_output items",
                       f"{param}.type")
    if not any(m["role"] != "system" for m in messages):
        raise _bad("'input' has no user, assistant or tool item", "input")
    return messages


def chat_tools(tools: Any) -> list[dict[str, Any]] | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise _bad("'tools' must be a list", "tools")
    translated = []
    for i, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise _bad(f"'tools[{i}]' is a {kind!r} tool: built-in tools (web search, file search, computer use, code "
                       "interpreter, MCP, ...) are not supported; only function tools are", f"tools[{i}].type", "unsupported_tool")
        function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None}
        translated.append({"type": "function", "function": function})
    return translated


def chat_tool_choice(choice: Any) -> str | dict[str, Any] | None:
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise _bad("'tool_choice' must be auto, none, required or {'type': 'function', 'name': ...}", "tool_choice")


def chat_response_format(text: Any) -> dict[str, Any] | None:
    if text is None:
        return None
    if not isinstance(text, dict):
        raise _bad("'text' must be an object", "text")
    spec = text.get("format")
    if spec is None:
        return None
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        assert isinstance(spec, dict)
        if not isinstance(spec.get("schema"), dict):
            raise _bad("'text.format.schema' must be a JSON schema object", "text.format.schema")
        schema = {k: spec[k] for k in ("name", "description", "schema", "strict") if spec.get(k) is not None}
        return {"type": "json_schema", "json_schema": schema}
    raise _bad("'text.format.type' must be text, json_object or json_schema", "text.format.type")


def chat_payload(body: Any, history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A Responses request as a chat-completions payload; a 400 for what this door cannot honour.
    `history`: the stored conversation `previous_response_id` names, put before this request's input."""
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object", None, "invalid_request")
    for key, why in _UNSUPPORTED_BODY.items():
        if body.get(key) is not None:
            raise _bad(why, key, "unsupported_parameter")
    if body.get("store") is not None and not isinstance(body["store"], bool):
        # A string "false" would read as true, and keep what the client meant not to be kept.
        raise _bad("'store' must be a boolean", "store")
    if body.get("background"):
        raise _bad("background responses are not supported: this gateway keeps no responses", "background", "unsupported_parameter")
    if body.get("top_logprobs"):
        raise _bad("top_logprobs is not supported by the Responses door yet; use /v1/chat/completions", "top_logprobs",
                   "unsupported_parameter")
    if "input" not in body:
        raise _bad("'input' is required", "input", "missing_required_parameter")
    metadata = body.get("metadata")
    if metadata is not None and not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise _bad("'metadata' must be an object of string values", "metadata")
    messages = input_messages(body["input"], body.get("instructions"))
    if history:
        # A previous response's instructions are not carried over: this request's own (if any) come first.
        lead = 1 if body.get("instructions") is not None else 0
        messages = [*messages[:lead], *history, *messages[lead:]]
    payload: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    for key, value in (("max_tokens", body.get("max_output_tokens")), ("temperature", body.get("temperature")),
                       ("top_p", body.get("top_p")), ("user", body.get("user")), ("tools", chat_tools(body.get("tools"))),
                       ("tool_choice", chat_tool_choice(body.get("tool_choice"))),
                       ("response_format", chat_response_format(body.get("text")))):
        if value is not None:
            payload[key] = value
    if body.get("stream") is not None:
        if not isinstance(body["stream"], bool):
            raise _bad("'stream' must be a boolean", "stream")
        payload["stream"] = body["stream"]
        if body["stream"]:
            payload["stream_options"] = {"include_usage": True}  # response.completed carries the usage
    return payload


def _in_door_terms(exc: APIError) -> APIError:
    """An error the pipeline raised about the chat payload, named as this door's client named things."""
    for pattern, name in _CHAT_NAMES:
        exc.message = pattern.sub(name, exc.message)
        if exc.param:
            exc.param = pattern.sub(name, exc.param)
    return exc


def _conversation(history: list[dict[str, Any]] | None, body: dict[str, Any], response: dict[str, Any]) -> list[dict[str, Any]]:
    """What a follow-up naming this response continues: the stored history, this input, this output."""
    output = [item for item in response.get("output") or [] if item.get("type") in ("message", "function_call")]
    said = input_messages(output) if output else []
    return [*(history or []), *input_messages(body["input"]), *said]


async def _previous(gateway: Gateway, body: Any, tenant: str) -> list[dict[str, Any]] | None:
    previous = body.get("previous_response_id") if isinstance(body, dict) else None
    if previous is None:
        return None
    if not isinstance(previous, str) or not previous:
        raise _bad("'previous_response_id' must be a non-empty string", "previous_response_id")
    stored = await stored_responses.load(gateway, previous, tenant)
    if stored is None:
        why = "" if gateway.policy.store_prompts else ": this gateway's policy keeps no responses (store_prompts: false)"
        raise stored_responses.not_found(previous, why)
    return stored[0]


async def create_response(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    # Unauthenticated callers get the same 401 as at chat, before anything is said about their body.
    identity = await gateway.tenancy.authenticate(request.headers.get("authorization"))
    body = await read_json(request, gateway.policy.limits.max_request_bytes)
    history = await _previous(gateway, body, identity.tenant)
    payload = chat_payload(body, history)
    keep = stored_responses.keeps(gateway, body)
    body = {**body, "store": keep}
    try:
        answer = await serve_chat(request, payload, door="responses", keep_text=body.get("store") is not False)
    except APIError as exc:
        raise _in_door_terms(exc) from None
    if answer.status_code != 200:
        return answer  # the client left before the answer (499): nobody to translate it for, nothing to keep
    headers = {k: v for k, v in answer.headers.items() if k.startswith("x-switchyard-") or k == "retry-after"}
    response_id = f"resp_{getattr(request.state, 'request_id', '')}"

    async def remember(response: dict[str, Any]) -> None:
        if keep:
            try:
                await stored_responses.save(gateway, response_id, identity.tenant, _conversation(history, body, response), response)
            except Exception:  # the answer stands; only a follow-up naming it will be refused
                log.exception("could not keep response %s", response_id)

    if payload.get("stream"):
        model = answer.headers.get("x-switchyard-model") or str(payload["model"])
        answer.body_iterator = translate_stream(answer.body_iterator, response_id, body, model, remember)  # type: ignore[attr-defined]
        return answer
    completion = orjson.loads(answer.body)  # type: ignore[attr-defined]
    response = response_object(response_id, body, completion)
    await remember(response)
    return Response(orjson.dumps(response), media_type="application/json", headers=headers)


async def retrieve_response(request: Request) -> Response:
    """GET /v1/responses/{id}: a kept response, the caller's tenant's own."""
    gateway: Gateway = request.app.state.gateway
    identity = await gateway.tenancy.authenticate(request.headers.get("authorization"))
    response_id = request.path_params["response_id"]
    stored = await stored_responses.load(gateway, response_id, identity.tenant)
    if stored is None:
        raise APIError(404, f"no response with id {response_id!r} (only responses created with store on are kept)",
                       code="not_found", param="response_id")
    return Response(orjson.dumps(stored[1]), media_type="application/json")
