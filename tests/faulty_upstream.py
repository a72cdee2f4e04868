"""An OpenAI-compatible upstream on 127.0.0.1 that fails on demand, for fault-injection tests and the soak.

Behaviour is per upstream model name (a gateway tier's `upstream_model`), so one server stands in
for many upstreams. `POST /control {"model": m, "script": [...], "default": mode}` queues modes for
that model's next requests (each request consumes one), then `default` applies. Modes:

  ok                  answer (streamed when asked) with a fixed usage
  500                 HTTP 500 with an OpenAI-style error body
  429:<s>             HTTP 429 with `Retry-After: <s>`
  malformed           HTTP 200 whose body (or first stream event) is not JSON
  slow:<s>            wait <s> seconds before the first byte of the answer, then answer
  slowchunks:<s>      stream, waiting <s> seconds between chunks
  slowtool:<s>        answer with a call of the request's first tool (streamed: its arguments in pieces, <s> seconds apart)
  die                 stream two chunks, then drop the connection (non-streamed: a truncated body)
  badchunk:<n>        stream n good chunks, then valid JSON of the wrong shape
  badtool:<n>         stream n good chunks, then a choice whose tool call is of the wrong shape ("function": a string)
  hang                accept the request and never answer

Whatever the mode, a request whose messages contain `POISON-500` gets HTTP 500: an upstream that
crashes on what one tenant's requests contain.

`"logprob": x` in a control call sets the log-probability of every token of that model's answers
(reported when a request asks for `logprobs`); `"usage": {"prompt_tokens": p, "completion_tokens": c}`
sets the usage that model's answers report (an upstream that over-reports, for budget tests);
`"usage": "bytes"` makes it bill one prompt token per byte of the messages, tools and response format it read.
`GET /calls` lists every request seen: model, mode,
stream, monotonic time, whether it asked for logprobs. `POST /reset` forgets all.
Run it alone with `python -m tests.faulty_upstream --port N` (bench/soak.py does).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import threading
import time
from collections import defaultdict, deque
from typing import Any

import orjson
from aiohttp import web

PIECES = ["Hello", " from", " the", " faulty", " upstream", "."]
ARGUMENT_PIECES = ['{"path":', ' "a', '.py"', "}"]
PROMPT_TOKENS = 11


def _usage(reported: dict[str, int] | None = None) -> dict[str, int]:
    prompt, completion = (reported["prompt_tokens"], reported["completion_tokens"]) if reported else (PROMPT_TOKENS, len(PIECES))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json", headers=headers)


class Faults:
    def __init__(self) -> None:
        self.scripts: dict[str, deque[str]] = defaultdict(deque)
        self.defaults: dict[str, str] = {}
        self.calls: list[dict[str, Any]] = []
        self.logprobs: dict[str, float] = {}  # per model: the log-probability of every answer token
        self.usage: dict[str, dict[str, int]] = {}  # per model: the usage its answers claim, whatever was generated

    def next_mode(self, model: str) -> str:
        script = self.scripts[model]
        return script.popleft() if script else self.defaults.get(model, "ok")


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {"id": "chatcmpl-faulty", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + orjson.dumps(body) + b"\n\n"


async def chat(request: web.Request) -> web.StreamResponse:
    faults: Faults = request.app[FAULTS]
    body = await request.json(loads=orjson.loads)
    model = str(body.get("model"))
    stream = bool(body.get("stream"))
    mode = "500" if b"POISON-500" in orjson.dumps(body.get("messages")) else faults.next_mode(model)
    reported = faults.usage.get(model)
    if reported == "bytes":  # a provider that bills every byte of what it was sent to read
        read = sum(len(orjson.dumps(body[k])) for k in ("messages", "tools", "response_format") if k in body)
        reported = {"prompt_tokens": read, "completion_tokens": len(PIECES)}
    faults.calls.append({"model": model, "mode": mode, "stream": stream, "t": time.monotonic(), "logprobs": bool(body.get("logprobs"))})
    kind, _, arg = mode.partition(":")
    if kind == "500":
        return _json({"error": {"message": "injected failure", "type": "server_error", "code": None}}, status=500)
    if kind == "429":
        return _json({"error": {"message": "slow down", "type": "rate_limit_error"}}, status=429, headers={"retry-after": arg or "1"})
    if kind == "hang":
        await asyncio.sleep(3600)
    if kind == "slow":
        await asyncio.sleep(float(arg))
    if not stream:
        if kind == "malformed":
            return web.Response(body=b'{"choices": [ not json', content_type="application/json")
        if kind == "die":
            response = web.StreamResponse(headers={"content-type": "application/json", "content-length": "500"})
            await response.prepare(request)
            await response.write(b'{"choices": [')
            assert request.transport is not None
            request.transport.close()
            return response
        message: dict[str, Any] = {"role": "assistant", "content": "".join(PIECES)}
        choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": "stop"}
        if kind == "slowtool":
            call = {"id": "call_faulty", "type": "function", "function": {"name": _tool_name(body), "arguments": "".join(ARGUMENT_PIECES)}}
            message.update(content=None, tool_calls=[call])
            choice["finish_reason"] = "tool_calls"
        if body.get("logprobs"):
            logprob = faults.logprobs.get(model, -0.05)
            choice["logprobs"] = {"content": [{"token": p, "logprob": logprob, "bytes": None, "top_logprobs": []} for p in PIECES]}
        return _json({"id": "chatcmpl-faulty", "object": "chat.completion", "created": int(time.time()), "model": model,
                      "choices": [choice], "usage": _usage(reported)})
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    if kind == "malformed":
        await response.write(b"data: {not json\n\n")
        return response
    if kind == "slowtool":
        await _stream_tool_call(response, model, body, float(arg), reported)
        return response
    for i, piece in enumerate(PIECES):
        if kind == "badchunk" and i == int(arg or 0):
            await response.write(b'data: {"choices": "not a list of objects"}\n\n')
            return response
        if kind == "badtool" and i == int(arg or 0):
            await response.write(_chunk(model, {"tool_calls": [{"index": 0, "function": "oops"}]}))
            return response
        if kind == "die" and i == 2:
            await response.drain()
            # Let the chunks sent reach the reader first: aiohttp raises a payload error before
            # handing out data still buffered, which would make what the client saw a race.
            await asyncio.sleep(0.2)
            assert request.transport is not None
            request.transport.close()
            return response
        if kind == "slowchunks" and i > 0:
            await asyncio.sleep(float(arg))
        await response.write(_chunk(model, {"role": "assistant", "content": piece} if i == 0 else {"content": piece}))
    await response.write(_chunk(model, {}, "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        await response.write(b"data: " + orjson.dumps({"id": "chatcmpl-faulty", "object": "chat.completion.chunk", "model": model,
                                                       "choices": [], "usage": _usage(reported)}) + b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    return response


def _tool_name(body: dict[str, Any]) -> str:
    return str(((body.get("tools") or [{}])[0].get("function") or {}).get("name") or "tool")


async def _stream_tool_call(response: web.StreamResponse, model: str, body: dict[str, Any], pause_s: float,
                            reported: dict[str, int] | None) -> None:
    """A streamed call of the request's first tool: id and name with the first piece of its arguments, then the rest."""
    name = _tool_name(body)
    for i, piece in enumerate(ARGUMENT_PIECES):
        if i > 0:
            await asyncio.sleep(pause_s)
        call = {"index": 0, "function": {"arguments": piece}}
        if i == 0:
            call.update(id="call_faulty", type="function", function={"name": name, "arguments": piece})
        delta = {"role": "assistant", "content": None, "tool_calls": [call]} if i == 0 else {"tool_calls": [call]}
        await response.write(_chunk(model, delta))
    await response.write(_chunk(model, {}, "tool_calls"))
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = _usage(reported or {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": len(ARGUMENT_PIECES)})
        await response.write(b"data: " + orjson.dumps({"id": "chatcmpl-faulty", "object": "chat.completion.chunk", "model": model,
                                                       "choices": [], "usage": usage}) + b"\n\n")
    await response.write(b"data: [DONE]\n\n")


async def control(request: web.Request) -> web.Response:
    faults: Faults = request.app[FAULTS]
    body = await request.json()
    model = body["model"]
    faults.scripts[model] = deque(body.get("script") or [])
    if "default" in body:
        faults.defaults[model] = body["default"]
    if "logprob" in body:
        faults.logprobs[model] = float(body["logprob"])
    if "usage" in body:
        reported = body["usage"]
        faults.usage[model] = reported if reported == "bytes" else {
            "prompt_tokens": int(reported["prompt_tokens"]), "completion_tokens": int(reported["completion_tokens"])}
    return _json({"ok": True})


async def calls(request: web.Request) -> web.Response:
    return _json(request.app[FAULTS].calls)


async def reset(request: web.Request) -> web.Response:
    request.app[FAULTS].__init__()
    return _json({"ok": True})


async def models(request: web.Request) -> web.Response:
    return _json({"object": "list", "data": []})


FAULTS = web.AppKey("faults", Faults)


def make_app() -> web.Application:
    # Big enough for the megabyte prompts of the abuse tests (aiohttp refuses bodies over 1 MiB by default).
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[FAULTS] = Faults()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_post("/control", control)
    app.router.add_get("/calls", calls)
    app.router.add_post("/reset", reset)
    return app


class FaultyUpstream:
    """The server on its own event loop in a daemon thread of the test process."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("faulty upstream did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(make_app(), handle_signals=False, shutdown_timeout=1.0)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        async def shutdown() -> None:
            with contextlib.suppress(Exception):
                await self.runner.cleanup()
            # Handlers of hanging requests outlive the cleanup: end them, so none is left pending.
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
