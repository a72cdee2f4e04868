"""Anthropic's Messages API (`POST /v1/messages`, what the anthropic SDK and Claude Code call): a request
is translated into a chat payload for the one pipeline, and its answer (JSON or SSE) back into
Messages' wire format (router/doors/messages_output.py). Errors are in Anthropic's shape."""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from engines.deltas import StreamedAnswer
from router.accounting import partial_usage
from router.body import read_json
from router.doors.messages_output import message_object, translate_stream
from router.doors.sse import ChatEvents
from router.errors import APIError, error_response
from router.gateway import Gateway
from router.pipeline import serve_chat
from router.schemas import parse_chat_request
from router.streaming import GuardedStream

log = logging.getLogger("switchyard")

# Blocks an assistant turn may echo back that carry nothing a chat model can use.
_SKIPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})
# Chat's names for what this door's client calls otherwise, in errors the pipeline raises.
_CHAT_NAMES = [(re.compile(r"'messages(?:\.\d+)?(?:\.[\w.]+)?'"), "'messages'"), (re.compile(r"'stop'"), "'stop_sequences'"),
               (re.compile(r"'user'"), "'metadata.user_id'"), (re.compile(r"(tools\[\d+\])\.function\.parameters"), r"\1.input_schema"),
               (re.compile(r"(tools\[\d+\])\.function\."), r"\1."),
               (re.compile(r"\bresponse_format(?:\.json_schema)?"), "output_config.format")]


# OpenAI's chat API, and so the chat request every door is served through (router/schemas.py), takes at
# most 4 stop sequences; Anthropic's takes any number. The first 4 go upstream, and when there are more the
# door cuts the answer at any of them itself (StopCutter), on the event loop every request shares. So they are
# bounded: their number; each one's length, which is also how far the text the client sees may lag behind the
# model's (text that may begin a stop waits until it cannot); and their total length, which is the size of
# the matcher each such request builds (about a microsecond a character). A stop sequence is a marker
# ("</answer>", "\n\nHuman:"): 1,024 characters is far beyond any real one, and 8,192 in all is 256 of 32.
UPSTREAM_STOPS = 4
MAX_STOP_SEQUENCES = 256
MAX_STOP_LENGTH = 1024
MAX_STOP_CHARS = 8192


def _bad(message: str) -> APIError:
    return APIError(400, message, code="invalid_request")


def _text(block: dict[str, Any], where: str) -> str:
    if not isinstance(block.get("text"), str):
        raise _bad(f"{where}.text: must be a string")
    return block["text"]


def _image(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64" and isinstance(source, dict):
        if not isinstance(source.get("media_type"), str) or not isinstance(source.get("data"), str):
            raise _bad(f"{where}.source: a base64 image needs string 'media_type' and 'data'")
        return {"type": "image_url", "image_url": {"url": f"data:{source['media_type']};base64,{source['data']}"}}
    if kind == "url" and isinstance(source, dict) and isinstance(source.get("url"), str):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    # A file id names an upload at Anthropic, which no other tier can read and no budget can bound.
    raise _bad(f"{where}.source: images must be base64 or url sources; file ids are not supported")


def _document(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "text" and isinstance(source, dict) and isinstance(source.get("data"), str):
        return {"type": "text", "text": source["data"]}
    if kind == "base64" and isinstance(source, dict) and isinstance(source.get("data"), str):
        media = source.get("media_type") if isinstance(source.get("media_type"), str) else "application/pdf"
        file: dict[str, Any] = {"file_data": f"data:{media};base64,{source['data']}"}
        if isinstance(block.get("title"), str):
            file["filename"] = block["title"]
        return {"type": "file", "file": file}
    raise _bad(f"{where}.source: documents must be text or base64 sources; file ids and URLs are not supported")


def _tool_result(block: dict[str, Any], where: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A tool_result block as a chat tool message, and the images it holds (chat tool messages take
    text only: the images follow in a user message)."""
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise _bad(f"{where}.tool_use_id: must be a non-empty string")
    content = block.get("content")
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for i, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                texts.append(_text(part, f"{where}.content.{i}"))
            elif kind == "image":
                images.append(_image(part, f"{where}.content.{i}"))
            else:
                raise _bad(f"{where}.content.{i}: a tool result holds text and image blocks, not {kind!r}")
    elif content is not None:
        raise _bad(f"{where}.content: must be a string or a list of blocks")
    text = "\n".join(texts)
    if block.get("is_error") is True:
        # Chat has no error flag on a tool message: the model still has to learn the call failed.
        text = f"Error: {text}" if text else "Error"
    return {"role": "tool", "tool_call_id": call_id, "content": text}, images


def _kind(block: Any) -> str | None:
    """A block's type; None for a block that is not an object or whose type is not a string (an object or
    a list there once reached a set lookup: unhashable, a 500)."""
    kind = block.get("type") if isinstance(block, dict) else None
    return kind if isinstance(kind, str) else None


def _user(content: list[Any], where: str) -> list[dict[str, Any]]:
    """A user turn as chat messages: its tool results first (chat wants them right after the call),
    then what the user said."""
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for i, block in enumerate(content):
        at = f"{where}.content.{i}"
        kind = _kind(block)
        if kind == "text":
            parts.append({"type": "text", "text": _text(block, at)})
        elif kind == "image":
            parts.append(_image(block, at))
        elif kind == "document":
            parts.append(_document(block, at))
        elif kind == "tool_result":
            message, images = _tool_result(block, at)
            tools.append(message)
            parts.extend(images)
        elif kind in _SKIPPED_BLOCKS:
            continue
        else:
            raise _bad(f"{at}.type: {kind!r} is not supported in a user turn; expected text, image, document or tool_result")
    return tools + ([{"role": "user", "content": parts}] if parts else [])


def _assistant(content: list[Any], where: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for i, block in enumerate(content):
        at = f"{where}.content.{i}"
        kind = _kind(block)
        if kind == "text":
            texts.append(_text(block, at))
        elif kind == "tool_use":
            assert isinstance(block, dict)
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise _bad(f"{at}: a tool_use block needs string 'id' and 'name'")
            arguments = block.get("input", {})
            if not isinstance(arguments, dict):
                raise _bad(f"{at}.input: must be an object")
            calls.append({"id": block["id"], "type": "function",
                          "function": {"name": block["name"], "arguments": orjson.dumps(arguments).decode()}})
        elif kind in _SKIPPED_BLOCKS:
            continue
        else:
            raise _bad(f"{at}.type: {kind!r} is not supported in an assistant turn; expected text or tool_use")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return message


def _system(system: Any) -> str | None:
    if system is None or isinstance(system, str):
        return system or None
    if not isinstance(system, list):
        raise _bad("system: must be a string or a list of text blocks")
    texts = []
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise _bad(f"system.{i}: must be a text block")
        texts.append(_text(block, f"system.{i}"))
    return "\n".join(texts) or None


def chat_messages(messages: Any, system: Any = None) -> list[dict[str, Any]]:
    """Messages' `system` and `messages` as chat messages: tool_use blocks become an assistant
    message's tool_calls, tool_result blocks tool messages; thinking blocks are dropped."""
    out: list[dict[str, Any]] = []
    prompt = _system(system)
    if prompt is not None:
        out.append({"role": "system", "content": prompt})
    if not isinstance(messages, list) or not messages:
        raise _bad("messages: must be a non-empty list")
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            raise _bad(f"{where}.role: must be 'user' or 'assistant' (a system prompt goes in the top-level 'system')")
        assert isinstance(message, dict)
        content = message.get("content")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
            continue
        if not isinstance(content, list):
            raise _bad(f"{where}.content: must be a string or a list of content blocks")
        if role == "user":
            out.extend(_user(content, where))
        else:
            out.append(_assistant(content, where))
    if not any(m["role"] != "system" for m in out):
        raise _bad("messages: no user or assistant content")
    return out


def chat_tools(tools: Any) -> list[dict[str, Any]] | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise _bad("tools: must be a list")
    translated = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise _bad(f"tools.{i}: must be an object")
        if tool.get("type") not in (None, "custom"):
            raise _bad(f"tools.{i}: {tool.get('type')!r} is a server tool (web search, bash, text editor, code execution, "
                       "...); only client tools ({name, description, input_schema}) are supported")
        if not isinstance(tool.get("name"), str) or not isinstance(tool.get("input_schema"), dict):
            raise _bad(f"tools.{i}: a tool needs a string 'name' and an object 'input_schema'")
        function = {"name": tool["name"], "parameters": tool["input_schema"]}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        translated.append({"type": "function", "function": function})
    return translated


def chat_tool_choice(choice: Any) -> str | dict[str, Any] | None:
    kind = choice.get("type") if isinstance(choice, dict) else None
    if choice is None:
        return None
    if kind in ("auto", "none"):
        return kind
    if kind == "any":
        return "required"
    if kind == "tool" and isinstance(choice, dict) and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise _bad("tool_choice: must be {type: auto}, {type: any}, {type: none} or {type: tool, name: ...}")


def chat_response_format(config: Any) -> dict[str, Any] | None:
    """`output_config.format` (Anthropic's structured outputs) as chat's json_schema response format;
    `output_config.effort` has no chat counterpart and is ignored."""
    if config is None:
        return None
    spec = config.get("format") if isinstance(config, dict) else {}
    if spec is None:
        return None
    if not isinstance(spec, dict) or spec.get("type") != "json_schema" or not isinstance(spec.get("schema"), dict):
        raise _bad("output_config.format: must be {type: json_schema, schema: {...}}")
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": spec["schema"], "strict": True}}


def stop_sequences(body: dict[str, Any]) -> list[str]:
    """The request's stop sequences, each once, in the client's order."""
    stops = body.get("stop_sequences")
    if stops is None:
        return []
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise _bad("stop_sequences: must be a list of non-empty strings")
    unique = list(dict.fromkeys(stops))
    if len(unique) > MAX_STOP_SEQUENCES:
        raise _bad(f"stop_sequences: {len(unique)} stop sequences; beyond {UPSTREAM_STOPS} the gateway applies them itself, "
                   f"and takes at most {MAX_STOP_SEQUENCES}")
    for i, stop in enumerate(stops):
        if len(stop) > MAX_STOP_LENGTH:
            raise _bad(f"stop_sequences.{i}: {len(stop)} characters; a stop sequence may have at most {MAX_STOP_LENGTH}")
    if (total := sum(map(len, unique))) > MAX_STOP_CHARS:
        raise _bad(f"stop_sequences: {total} characters in all; the gateway takes at most {MAX_STOP_CHARS}")
    return unique


class StopCutter:
    """Cuts text, fed in pieces, where a model given these stop sequences would have stopped: before the
    stop that is completed first, that is the one that ends first (a model stops as soon as the text it
    wrote ends with a stop, so "xabcd" with "abcd" and "bc" stops at "xabc" and answers "xa"). Of stops
    ending at the same character, the longest, which starts first: the one the model's text holds whole.
    Text goes out as soon as no stop can begin in it; what may begin one (at most the longest stop but one
    character) waits for the next piece. The cut is the same however the text is split into pieces.

    An Aho-Corasick automaton over the stops: each character is looked at once, whatever their number
    and length; where no stop is under way the text is skipped to the next character that starts one."""

    def __init__(self, stops: list[str]) -> None:
        # A trie of the stops; a node is the text read so far that some stop begins with.
        goto: list[dict[str, int]] = [{}]
        depth = [0]
        ends: list[str | None] = [None]  # the longest stop the node's text ends with
        for stop in stops:
            node = 0
            for char in stop:
                child = goto[node].get(char)
                if child is None:
                    child = len(goto)
                    goto[node][char] = child
                    goto.append({})
                    depth.append(depth[node] + 1)
                    ends.append(None)
                node = child
            ends[node] = stop
        # Breadth first, each node's fallback: the longest end of its text that is another node.
        fallback = [0] * len(goto)
        queue = deque(goto[0].values())
        while queue:
            node = queue.popleft()
            for char, child in goto[node].items():
                back = fallback[node]
                while back and char not in goto[back]:
                    back = fallback[back]
                fallback[child] = goto[back].get(char, 0)
                if ends[child] is None:
                    ends[child] = ends[fallback[child]]
                queue.append(child)
        self._goto, self._fallback, self._depth, self._ends = goto, fallback, depth, ends
        self._starts = re.compile("[" + "".join(re.escape(char) for char in goto[0]) + "]")
        self._node = 0
        self._pending = ""  # read, not yet passed on: the end of the text that may begin a stop (the node's text)
        self.matched: str | None = None

    def feed(self, text: str) -> str:
        """The text that can go out now; "" once a stop was met (`matched`), whatever follows."""
        if self.matched is not None:
            return ""
        text = self._pending + text
        goto, fallback, ends, node = self._goto, self._fallback, self._ends, self._node
        at = len(self._pending)
        while at < len(text):
            if not node:
                found = self._starts.search(text, at)
                if found is None:
                    break
                at = found.start()
            char = text[at]
            at += 1
            while node and char not in goto[node]:
                node = fallback[node]
            node = goto[node].get(char, 0)
            if (stop := ends[node]) is not None:
                self.matched, self._pending, self._node = stop, "", 0
                return text[: at - len(stop)]
        held = len(text) - self._depth[node]
        self._node, self._pending = node, text[held:]
        return text[:held]

    def flush(self) -> str:
        """The text held back, once the text has ended (no stop can complete in it any more)."""
        held, self._pending, self._node = self._pending, "", 0
        return held


def _cut_answer(completion: dict[str, Any], stops: list[str]) -> None:
    """A chat answer cut at the first of `stops` in its text; the model would have stopped there, so the
    tool calls after it go too. A cut answer ends as an engine that names its stop says (vLLM's `stop_reason`)."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    if not isinstance(message.get("content"), str):
        return
    cutter = StopCutter(stops)
    text = cutter.feed(message["content"]) + cutter.flush()
    if cutter.matched is not None:
        message["content"] = text
        message.pop("tool_calls", None)
        choice.update(finish_reason="stop", stop_reason=cutter.matched)


def _sse(chunk: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _text_chunk(text: str) -> bytes:
    return _sse({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})


async def cut_stream(chunks: AsyncIterator[bytes], stops: list[str],
                     usage_of: Callable[[list[str]], dict[str, Any]] | None = None,
                     end: Callable[[str], Awaitable[dict[str, Any]]] | None = None) -> AsyncIterator[bytes]:
    """The pipeline's chat SSE with its text cut at the first of `stops`, as _cut_answer cuts a whole
    answer. At the cut the answer is over, and is settled before the client hears its end: `end` (the
    pipeline's GuardedStream.end), given the text the client got, stops the upstream and records the
    request as answered, returning the usage it charged. Without one (a kept answer replayed, settled when
    it was served) the stream is just closed, and the usage is the upstream's, else `usage_of` the text
    pieces read. The client's stream ends with the cut chunk, that usage and [DONE], or the error of a
    ledger that could not record it. Text held back because it might begin a stop goes out whenever the
    text ends otherwise."""
    cutter = StopCutter(stops)
    read = StreamedAnswer()  # what the pipeline passed on: what a stream closed early is charged for
    said: list[str] = []  # the text the client got
    usage: dict[str, Any] | None = None
    async with aclosing(ChatEvents(chunks)) as events:
        async for chunk in events:
            if chunk is None:
                if held := cutter.flush():  # a stream that ends with no finish_reason has no other end of its text
                    yield _text_chunk(held)
                yield b"data: [DONE]\n\n"
                continue
            if "error" in chunk:
                if held := cutter.flush():
                    yield _text_chunk(held)
                yield _sse(chunk)
                continue
            if chunk.get("usage"):
                usage = chunk["usage"]
            choices = chunk.get("choices") or []
            if not choices:
                if chunk.get("usage"):
                    yield _sse({**chunk, "choices": []})
                continue
            choice = choices[0]
            read.add(choice)
            delta = choice.get("delta") or {}
            text = cutter.feed(delta["content"]) if isinstance(delta.get("content"), str) else ""
            if cutter.matched is None and (delta.get("tool_calls") or choice.get("finish_reason")):
                text += cutter.flush()  # the text has ended
            delta["content"] = text
            choice["delta"] = delta
            said.append(text)
            if cutter.matched is None:
                yield _sse(chunk)
                continue
            # Settled before the client hears the end, so its one ledger row is written by then; the upstream
            # generates nothing more for it.
            if end is not None:
                try:
                    usage = await end("".join(said))
                except APIError as exc:
                    yield _sse(exc.body())
                    return
            else:
                await events.aclose()
                if usage is None and usage_of is not None:
                    usage = usage_of(read.fragments)
            delta.pop("tool_calls", None)
            choice.update(finish_reason="stop", stop_reason=cutter.matched)
            chunk.pop("usage", None)  # it goes out next, with the estimate when there is none
            yield _sse(chunk)
            if usage is not None:
                yield _sse({"choices": [], "usage": usage})
            yield b"data: [DONE]\n\n"
            return
        if held := cutter.flush():  # the pipeline's stream just stopped: the text read still goes out
            yield _text_chunk(held)


def chat_payload(body: Any) -> dict[str, Any]:
    """A Messages request as a chat-completions payload; a 400 for what this door cannot honour."""
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object")
    for key in ("model", "max_tokens", "messages"):
        if key not in body:
            raise _bad(f"{key}: field required")
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise _bad("max_tokens: must be a positive integer")
    payload: dict[str, Any] = {"model": body["model"], "max_tokens": max_tokens,
                               "messages": chat_messages(body["messages"], body.get("system"))}
    stops = stop_sequences(body)
    if stops:
        payload["stop"] = stops[:UPSTREAM_STOPS]
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise _bad("metadata: must be an object")
    user = (metadata or {}).get("user_id")
    # top_k has no chat counterpart: ignored, like Anthropic-only hints (cache_control, service_tier, thinking).
    for key, value in (("temperature", body.get("temperature")), ("top_p", body.get("top_p")), ("user", user),
                       ("tools", chat_tools(body.get("tools"))), ("tool_choice", chat_tool_choice(body.get("tool_choice"))),
                       ("response_format", chat_response_format(body.get("output_config")))):
        if value is not None:
            payload[key] = value
    if body.get("stream") is not None:
        if not isinstance(body["stream"], bool):
            raise _bad("stream: must be a boolean")
        payload["stream"] = body["stream"]
        if body["stream"]:
            payload["stream_options"] = {"include_usage": True}  # message_delta carries the usage
    return payload


def _with_api_key(request: Request) -> Request:
    """The request as the pipeline reads it: Anthropic's clients send the key in `x-api-key`, the
    pipeline reads `Authorization: Bearer`. A copy of the scope, so the caller's request is untouched;
    it shares the state the pipeline writes the request id into."""
    key = next((v for k, v in request.scope["headers"] if k == b"x-api-key"), None)
    if not key:
        return request
    request.state  # noqa: B018 - creates scope["state"] before the copy, so both share it
    headers = [(k, v) for k, v in request.scope["headers"] if k != b"authorization"] + [(b"authorization", b"Bearer " + key)]
    return Request({**request.scope, "headers": headers}, request.receive)


def in_door_terms(exc: APIError) -> APIError:
    """An error the pipeline raised about the chat payload, named as this door's client named things.
    Only those: the door's own errors already use its names ('user' is a role there, not chat's user field)."""
    for pattern, name in _CHAT_NAMES:
        exc.message = pattern.sub(name, exc.message)
    return exc


def _error(exc: APIError, request: Request) -> Response:
    return error_response(exc, getattr(request.state, "headers", None), anthropic=True)


async def create_message(request: Request) -> Response:
    try:
        return await _create(_with_api_key(request))
    except APIError as exc:
        return _error(exc, request)
    except Exception:  # the last line of defence: log it, answer 500 in this door's shape
        request_id = getattr(request.state, "request_id", None)
        log.exception("unhandled error", extra={"request_id": request_id})
        return _error(APIError(500, f"internal error (request id {request_id}); the gateway logged the details"), request)


async def _create(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    # Unauthenticated callers get the same 401 as at chat, before anything is said about their body.
    await gateway.tenancy.authenticate(request.headers.get("authorization"))
    body = await read_json(request, gateway.policy.limits.max_request_bytes)
    payload = chat_payload(body)
    stops = stop_sequences(body)
    # More stops than went upstream: the door applies them all (those sent were applied already, harmlessly).
    cutting = len(stops) > UPSTREAM_STOPS
    try:
        answer = await serve_chat(request, payload, door="messages")
    except APIError as exc:
        raise in_door_terms(exc) from None
    if answer.status_code != 200:
        return answer  # the client left before the answer (499): nobody to translate it for
    message_id = f"msg_{getattr(request.state, 'request_id', '')}"
    model = answer.headers.get("x-switchyard-model") or str(payload["model"])
    if payload.get("stream"):
        chunks = answer.body_iterator  # type: ignore[attr-defined]
        if cutting:
            # A stream the pipeline answers is ended through it, so the request is recorded as the answer it is.
            end = answer.end if isinstance(answer, GuardedStream) else None
            chunks = cut_stream(chunks, stops, lambda pieces: partial_usage(parse_chat_request(payload), pieces), end)
        answer.body_iterator = translate_stream(chunks, message_id, model, stops)  # type: ignore[attr-defined]
        return answer
    headers = {k: v for k, v in answer.headers.items() if k.startswith("x-switchyard-") or k == "retry-after"}
    completion = orjson.loads(answer.body)  # type: ignore[attr-defined]
    if cutting:
        _cut_answer(completion, stops)
    return Response(orjson.dumps(message_object(message_id, model, completion, stops)), media_type="application/json",
                    headers=headers)
