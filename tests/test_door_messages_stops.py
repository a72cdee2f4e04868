"""Anthropic's Messages API takes any number of stop_sequences; OpenAI's chat API, and so the chat request
every door is served through, at most 4. The Messages door sends the first 4 upstream and cuts the answer
at any of them itself, streamed or not; the OpenAI door keeps OpenAI's limit.

Driven by the real anthropic and openai SDKs against a real gateway process in front of a real local
upstream that behaves as OpenAI's chat API does about stops: more than 4 is a 400, and the text ends
before the first stop it was given (which its answer does not name)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import orjson
import pytest
from aiohttp import web

from router.doors import messages as door
from router.errors import APIError
from tests.servers import Process, free_port, ledger_row, start_gateway

PIECES = ["Alpha", " beta", " gamma", ".", " Delta", " epsilon", "."]
TEXT = "".join(PIECES)
PROMPT_TOKENS = 9
NEVER = ["@@1", "@@2", "@@3", "@@4"]  # four stops the upstream's text never holds


class StrictUpstream:
    """An OpenAI-compatible chat server on its own loop in a thread: refuses more than 4 stops with OpenAI's
    400, answers TEXT piece by piece (streamed) cut before the earliest of its stops, and keeps the stops
    each request carried."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stops: list[list[str] | None] = []
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("upstream did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", lambda _: web.json_response({"object": "list", "data": []}))  # the gateway's readiness probe
        self.runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self.loop.run_forever()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        stop = body.get("stop")
        stops = [stop] if isinstance(stop, str) else stop
        self.stops.append(stops)
        if stops is not None and len(stops) > 4:
            return web.json_response({"error": {"message": "'stop': at most 4 sequences", "type": "invalid_request_error",
                                                "param": "stop", "code": None}}, status=400)
        cut = min((i for i in (TEXT.find(s) for s in stops or []) if i >= 0), default=len(TEXT))
        pieces, sent = [], 0
        for piece in PIECES:  # the pieces before the cut, the last one shortened to end there
            if sent >= cut:
                break
            pieces.append(piece[: cut - sent])
            sent += len(piece)
        usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": len(pieces), "total_tokens": PROMPT_TOKENS + len(pieces)}
        base = {"id": "chatcmpl-strict", "created": 1, "model": body.get("model")}
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(pieces)}
            return web.json_response({**base, "object": "chat.completion", "usage": usage,
                                      "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)

        async def send(chunk: dict[str, Any]) -> None:
            await response.write(b"data: " + orjson.dumps({**base, "object": "chat.completion.chunk", **chunk}) + b"\n\n")

        for piece in pieces:
            await send({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        await send({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        await send({"choices": [], "usage": usage})
        await response.write(b"data: [DONE]\n\n")
        return response

    def stop(self) -> None:
        async def shutdown() -> None:
            with contextlib.suppress(Exception):
                await self.runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def strict() -> Iterator[StrictUpstream]:
    server = StrictUpstream()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(strict: StrictUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    work: Path = tmp_path_factory.mktemp("messages-stops")
    policy = work / "policy.yaml"
    policy.write_text(f"""
version: 1
name: messages-stops
tiers:
  strict:
    engine: openai
    model: strict
    base_url: {strict.url}/v1
    max_output_tokens: 64
    prices: {{input_per_mtok: 1, output_per_mtok: 2}}
routing: {{classifier: rules}}
cache: {{exact: false, semantic: false}}
""")
    env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db", "SWITCHYARD_POLICY_POLL_S": "0"}
    server = start_gateway(policy, work, env=env)
    server.database_url = env["SWITCHYARD_DATABASE_URL"]
    yield server
    server.stop()


def claude(gw: Process) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="sk-anything", max_retries=0, timeout=30)


def ask(gw: Process, stops: list[str]) -> Any:
    return claude(gw).messages.with_raw_response.create(model="strict", max_tokens=32, stop_sequences=stops,
                                                        messages=[{"role": "user", "content": "Recite."}])


def ask_streamed(gw: Process, stops: list[str]) -> tuple[str, Any]:
    with claude(gw).messages.stream(model="strict", max_tokens=32, stop_sequences=stops,
                                    messages=[{"role": "user", "content": "Recite."}]) as stream:
        deltas = "".join(e.delta.text for e in stream if e.type == "content_block_delta" and e.delta.type == "text_delta")
        return deltas, stream.get_final_message()


# --- the real SDKs against the real gateway ----------------------------------------------------------

def test_a_fifth_stop_sequence_is_applied_by_the_gateway(gw: Process, strict: StrictUpstream) -> None:
    raw = ask(gw, [*NEVER, " gamma"])
    message = raw.parse()
    assert strict.stops[-1] == NEVER  # the upstream got OpenAI's 4, not a 400
    assert [b.type for b in message.content] == ["text"] and message.content[0].text == "Alpha beta"
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", " gamma")
    # What the upstream generated past the stop was generated: it is what the client is charged for.
    assert (message.usage.input_tokens, message.usage.output_tokens) == (PROMPT_TOKENS, len(PIECES))
    row = ledger_row(gw, raw.headers["x-switchyard-request-id"])
    assert (row["door"], row["status"], row["completion_tokens"]) == ("messages", "ok", len(PIECES))


def test_streamed_the_gateway_cuts_at_a_stop_spanning_chunks(gw: Process, strict: StrictUpstream) -> None:
    # "a ga" begins in the " beta" chunk and ends in " gamma": " bet" may go out, "a" is held until it cannot start a stop.
    text, message = ask_streamed(gw, [*NEVER, "a ga"])
    assert strict.stops[-1] == NEVER
    assert text == "Alpha bet" and message.content[0].text == "Alpha bet"
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "a ga")
    assert message.usage.output_tokens == len(PIECES)


def test_the_earliest_stop_wins_whoever_applies_it(gw: Process, strict: StrictUpstream) -> None:
    # The upstream cuts at "." (one of the 4 it was sent); "beta", the 6th, comes earlier in the text.
    stops = [".", *NEVER[:3], "@@5", "beta"]
    message = ask(gw, stops).parse()
    assert strict.stops[-1] == stops[:4]
    assert message.content[0].text == "Alpha " and (message.stop_reason, message.stop_sequence) == ("stop_sequence", "beta")
    text, streamed = ask_streamed(gw, stops)
    assert text == "Alpha " and (streamed.stop_reason, streamed.stop_sequence) == ("stop_sequence", "beta")
    # And when only the upstream's own stop is met, its cut stands (OpenAI does not say which stop it met).
    upstream_cut = ask(gw, [".", *NEVER]).parse()
    assert upstream_cut.content[0].text == "Alpha beta gamma" and upstream_cut.stop_reason == "end_turn"


def test_no_stop_met_gives_the_whole_answer(gw: Process) -> None:
    # "epsilon.!" holds back the answer's last characters until the end: they must still arrive.
    stops = [*NEVER, "@@5", "epsilon.!"]
    text, streamed = ask_streamed(gw, stops)
    assert text == TEXT and streamed.content[0].text == TEXT
    assert (streamed.stop_reason, streamed.stop_sequence) == ("end_turn", None)
    plain = ask(gw, stops).parse()
    assert plain.content[0].text == TEXT and plain.stop_reason == "end_turn"


def test_too_many_stop_sequences_is_a_400_in_anthropic_shape(gw: Process) -> None:
    with pytest.raises(anthropic.BadRequestError) as bad:
        ask(gw, [f"s{i}" for i in range(door.MAX_STOP_SEQUENCES + 1)])
    error = bad.value.body["error"]  # type: ignore[index]
    assert error["type"] == "invalid_request_error" and "stop_sequences" in error["message"]


def test_the_openai_door_keeps_openais_limit(gw: Process) -> None:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-anything", max_retries=0, timeout=30)
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="strict", stop=[*NEVER, "@@5"], messages=[{"role": "user", "content": "Recite."}])
    assert bad.value.status_code == 400 and "stop" in str(bad.value.body)
    assert client.chat.completions.create(model="strict", stop=NEVER, messages=[{"role": "user", "content": "Recite."}]
                                          ).choices[0].message.content == TEXT


# --- the cutter alone ------------------------------------------------------------------------------

def _streamed(stops: list[str], pieces: list[str]) -> tuple[str, str | None]:
    cutter = door.StopCutter(stops)
    out = "".join(cutter.feed(p) for p in pieces) + cutter.flush()
    return out, cutter.matched


CASES = [
    (["a ga", "beta"], "Alpha ", "beta"),  # the stop that starts first wins, whatever the list's order
    (["a.", "gamma."], "Alpha beta ", "gamma."),  # both end at the same character: the one that starts first
    (["Alpha"], "", "Alpha"),
    (["epsilon.!", "zz"], TEXT, None),
    (["."], "Alpha beta gamma", "."),
]


@pytest.mark.parametrize(("stops", "expected", "matched"), CASES)
def test_the_cut_does_not_depend_on_how_the_text_is_chunked(stops: list[str], expected: str, matched: str | None) -> None:
    assert _streamed(stops, [TEXT]) == (expected, matched)
    for i in range(len(TEXT) + 1):
        for j in range(i, len(TEXT) + 1, 3):
            assert _streamed(stops, [TEXT[:i], TEXT[i:j], TEXT[j:]]) == (expected, matched), (i, j)
    assert _streamed(stops, list(TEXT)) == (expected, matched)


def test_text_goes_out_as_soon_as_no_stop_can_start_in_it() -> None:
    cutter = door.StopCutter(["gamma.", "@@"])
    assert cutter.feed("Alpha beta ga") == "Alpha beta "  # "ga" may begin "gamma."
    assert cutter.feed("mma!") == "gamma!"  # it did not
    assert cutter.feed(" @") == " " and cutter.flush() == "@" and cutter.matched is None


def test_stop_sequences_in_the_chat_payload() -> None:
    base = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "q"}]}
    assert door.chat_payload({**base, "stop_sequences": ["a", "b", "c", "d", "e"]})["stop"] == ["a", "b", "c", "d"]
    # Repeats are one stop: five copies of one fit the upstream's 4.
    assert door.chat_payload({**base, "stop_sequences": ["a"] * 5 + ["b"]})["stop"] == ["a", "b"]
    for bad in (["a", ""], "a", [1], [f"s{i}" for i in range(door.MAX_STOP_SEQUENCES + 1)]):
        with pytest.raises(APIError) as exc:
            door.chat_payload({**base, "stop_sequences": bad})
        assert exc.value.status == 400 and "stop_sequences" in exc.value.message
