"""Anthropic's Messages API takes any number of stop_sequences; OpenAI's chat API, and so the chat request
every door is served through, at most 4. The Messages door sends the first 4 upstream and cuts the answer
at any of them itself, streamed or not; the OpenAI door keeps OpenAI's limit.

Driven by the real anthropic and openai SDKs against a real gateway process in front of a real local
upstream that behaves as OpenAI's chat API does about stops: more than 4 is a 400, and the text ends
before the first stop it was given to be completed, as generation stops there (its answer does not name
which). A few prompts get other answers: one that ends without a finish_reason, and one that writes a stop
and then waits for the test before it goes on.

Which stop is met first: the one completed first (that ends first), as a model that writes the text stops
as soon as it ends with a stop; of those ending together, the longest."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import anthropic
import openai
import orjson
import pytest
from aiohttp import web

from router.doors import messages as door
from router.doors.messages_output import translate_stream
from router.errors import APIError
from router.ledger import Ledger
from tests.servers import Process, ThreadedChatUpstream, ledger_row, start_gateway

PIECES = ["Alpha", " beta", " gamma", ".", " Delta", " epsilon", "."]
TEXT = "".join(PIECES)
PROMPT_TOKENS = 9
NEVER = ["@@1", "@@2", "@@3", "@@4"]  # four stops the upstream's text never holds
UNFINISHED = ["Hi.", " Hel"]  # what the upstream answers "Unfinished." with: no finish_reason, then [DONE]
HUNG = "Answer: 42 STOP"  # what it answers "Hang." with first; the rest waits for the test's release
HUNG_REST = [" and", " then", " more", "."]


def first_stop(text: str, stops: list[str]) -> tuple[int, str] | None:
    """Where a model writing `text` stops, and on which stop: at the first character that completes one;
    of the stops completed there, the longest. Stated plainly, as the reference the cutter must agree with."""
    for end in range(1, len(text) + 1):
        done = [s for s in stops if text.endswith(s, 0, end)]
        if done:
            stop = max(done, key=len)
            return end - len(stop), stop
    return None


class StrictUpstream(ThreadedChatUpstream):
    """An OpenAI-compatible chat server on its own loop in a thread: refuses more than 4 stops with OpenAI's
    400, answers TEXT piece by piece (streamed) cut before the earliest of its stops, and keeps the stops
    each request carried."""

    def __init__(self) -> None:
        self.stops: list[list[str] | None] = []
        self.hold()
        super().__init__()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        stop = body.get("stop")
        stops = [stop] if isinstance(stop, str) else stop
        self.stops.append(stops)
        if stops is not None and len(stops) > 4:
            return web.json_response({"error": {"message": "'stop': at most 4 sequences", "type": "invalid_request_error",
                                                "param": "stop", "code": None}}, status=400)
        prompt = body["messages"][-1]["content"]
        if prompt == "Hang.":
            return await self._hang(request, body)
        if prompt == "Unfinished.":
            return await self._unfinished(request, body)
        met = first_stop(TEXT, stops or [])
        cut = met[0] if met else len(TEXT)
        pieces, sent = [], 0
        for piece in PIECES:  # the pieces before the cut, the last one shortened to end there
            if sent >= cut:
                break
            pieces.append(piece[: cut - sent])
            sent += len(piece)
        usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": len(pieces), "total_tokens": PROMPT_TOKENS + len(pieces)}
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(pieces)}
            return web.json_response({**self._base(body), "object": "chat.completion", "usage": usage,
                                      "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
        response = await self._open(request)
        for piece in pieces:
            await self._send(response, body, {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        await self._send(response, body, {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        await self._send(response, body, {"choices": [], "usage": usage})
        await response.write(b"data: [DONE]\n\n")
        return response

    @staticmethod
    def _base(body: dict[str, Any]) -> dict[str, Any]:
        return {"id": "chatcmpl-strict", "created": 1, "model": body.get("model")}

    @staticmethod
    async def _open(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        return response

    async def _send(self, response: web.StreamResponse, body: dict[str, Any], chunk: dict[str, Any]) -> None:
        await response.write(b"data: " + orjson.dumps({**self._base(body), "object": "chat.completion.chunk", **chunk}) + b"\n\n")

    async def _unfinished(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        """Text, then [DONE]: no chunk says how it finished (some servers end so), and no usage."""
        response = await self._open(request)
        for piece in UNFINISHED:
            await self._send(response, body, {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        await response.write(b"data: [DONE]\n\n")
        return response

    async def _hang(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        """HUNG, then nothing until the test releases it (or 10 s pass), then the rest of a long answer, as a
        model the gateway did not tell about the stop goes on generating. Records whether the rest was sent
        and whether the gateway had hung up by then."""
        response = await self._open(request)
        await self._send(response, body, {"choices": [{"index": 0, "delta": {"role": "assistant", "content": HUNG},
                                                        "finish_reason": None}]})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.release.wait(), 10)
        self.rest_sent.set()
        try:
            for piece in HUNG_REST:
                await self._send(response, body, {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
                await asyncio.sleep(0.05)
            usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": 1 + len(HUNG_REST)}
            await self._send(response, body, {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            await self._send(response, body, {"choices": [], "usage": {**usage, "total_tokens": sum(usage.values())}})
            await response.write(b"data: [DONE]\n\n")
            self.hang_ended = "finished"
        except ConnectionError:
            self.hang_ended = "hung up on"
        return response

    def hold(self) -> None:
        """The next "Hang." waits until `let_go`."""
        self.release = asyncio.Event()
        self.rest_sent = threading.Event()
        self.hang_ended: str | None = None

    def let_go(self) -> None:
        self.loop.call_soon_threadsafe(self.release.set)



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


def ask(gw: Process, stops: list[str], prompt: str = "Recite.") -> Any:
    return claude(gw).messages.with_raw_response.create(model="strict", max_tokens=32, stop_sequences=stops,
                                                        messages=[{"role": "user", "content": prompt}])


def ask_streamed(gw: Process, stops: list[str], prompt: str = "Recite.") -> tuple[str, Any]:
    with claude(gw).messages.stream(model="strict", max_tokens=32, stop_sequences=stops,
                                    messages=[{"role": "user", "content": prompt}]) as stream:
        deltas = "".join(e.delta.text for e in stream if e.type == "content_block_delta" and e.delta.type == "text_delta")
        return deltas, stream.get_final_message()


def rows_of(gw: Process, request_id: str) -> list[dict[str, Any]]:
    """Every ledger row of the request, once its first is in (rows are written in batches)."""
    ledger_row(gw, request_id)
    assert gw.database_url
    ledger = Ledger(gw.database_url)
    try:
        return [r for r in ledger.rows() if r["request_id"] == request_id]
    finally:
        ledger.close()


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
    # The answer ended at the cut and the upstream's stream was closed there: the 3 chunks read are what was
    # generated for it (no usage had come yet, so a token a chunk), in the one ledger row as in the answer.
    assert message.usage.output_tokens == 3
    [row] = rows_of(gw, message.id.removeprefix("msg_"))
    assert (row["prompt_tokens"], row["completion_tokens"]) == (message.usage.input_tokens, 3)


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


def test_a_cut_stream_ends_at_the_cut_and_hangs_up_on_the_upstream(gw: Process, strict: StrictUpstream) -> None:
    # The upstream writes the 5th stop in its first chunk and would go on (it was not told about it), but waits
    # until the test lets it: the client must have its whole answer, to message_stop and the response's end,
    # while the upstream has sent nothing more. A gateway that read on to the upstream's end would wait for
    # the release that never comes before message_stop, until the upstream gives up waiting and sends the rest.
    strict.hold()
    stops = [*NEVER, "STOP"]
    kinds: list[str] = []
    with claude(gw).messages.stream(model="strict", max_tokens=32, stop_sequences=stops,
                                    messages=[{"role": "user", "content": "Hang."}]) as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "message_stop":
                assert not strict.rest_sent.is_set(), "message_stop came only after the upstream went on"
        message = stream.get_final_message()
    assert not strict.rest_sent.is_set(), "the answer's stream ended only after the upstream went on"
    strict.let_go()
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert message.content[0].text == "Answer: 42 " and (message.stop_reason, message.stop_sequence) == ("stop_sequence", "STOP")
    # The gateway hung up on the upstream at the cut: what it goes on to write, nobody reads.
    assert wait_for(lambda: strict.hang_ended) == "hung up on"
    # Charged once, for what was generated up to the cut: the prompt (estimated: no usage came) and the one chunk
    # read; the client is told the same.
    [row] = rows_of(gw, message.id.removeprefix("msg_"))
    assert (row["prompt_tokens"], row["completion_tokens"]) == (message.usage.input_tokens, message.usage.output_tokens)
    assert message.usage.output_tokens == 1 and message.usage.input_tokens > 0 and row["cost_nanousd"] > 0


def test_text_held_back_arrives_when_the_stream_ends_without_a_finish_reason(gw: Process) -> None:
    # " Hel" may begin "Help!", so it waits for the next chunk; the upstream's next word is [DONE], with no
    # finish_reason first: the text has ended, and what was held is part of it.
    text, message = ask_streamed(gw, [*NEVER, "Help!"], prompt="Unfinished.")
    assert text == "".join(UNFINISHED) and message.content[0].text == "".join(UNFINISHED)
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)


def test_the_stop_completed_first_wins_as_the_model_would_stop(gw: Process, strict: StrictUpstream) -> None:
    # "beta gamma" starts first, but "ta g" is written first: a model given both stops there, answering
    # "Alpha be", and so does the upstream when it is sent both. The order of the stops changes nothing.
    overlapping = ["beta gamma", "ta g"]
    upstream = ask(gw, overlapping).parse()
    assert upstream.content[0].text == "Alpha be" and upstream.stop_reason == "end_turn"  # OpenAI does not say which
    for stops in ([*NEVER, *overlapping], [*NEVER, *reversed(overlapping)]):
        message = ask(gw, stops).parse()
        assert strict.stops[-1] == NEVER
        assert message.content[0].text == "Alpha be" and (message.stop_reason, message.stop_sequence) == ("stop_sequence", "ta g")
        text, streamed = ask_streamed(gw, stops)
        assert text == "Alpha be" and (streamed.stop_reason, streamed.stop_sequence) == ("stop_sequence", "ta g")


def test_stop_sequences_too_long_are_a_400_in_anthropic_shape(gw: Process) -> None:
    # The door matches every stop against every character of the answer, on the loop all requests share: a
    # stop's length and their total are bounded as their number is.
    too_long = [*NEVER, "Z" * (door.MAX_STOP_LENGTH + 1)]
    too_much = [*NEVER, *(f"{i}" + "Z" * (door.MAX_STOP_LENGTH - 1) for i in range(door.MAX_STOP_CHARS // door.MAX_STOP_LENGTH))]
    for stops, said in ((too_long, f"at most {door.MAX_STOP_LENGTH}"), (too_much, f"at most {door.MAX_STOP_CHARS}")):
        with pytest.raises(anthropic.BadRequestError) as bad:
            ask(gw, stops)
        error = bad.value.body["error"]  # type: ignore[index]
        assert error["type"] == "invalid_request_error" and "stop_sequences" in error["message"] and said in error["message"]
    # At the limits they are taken, and applied.
    at_limits = [*NEVER[:3], "Z" * door.MAX_STOP_LENGTH, *("Y" * (door.MAX_STOP_LENGTH - 1) + f"{i}" for i in range(6)), " gamma"]
    assert sum(map(len, at_limits)) <= door.MAX_STOP_CHARS
    message = ask(gw, at_limits).parse()
    assert message.content[0].text == "Alpha beta" and message.stop_sequence == " gamma"


def wait_for(value: Callable[[], Any], timeout: float = 10.0) -> Any:
    """`value()` once it is something (another thread sets it), or None after `timeout`."""
    deadline = time.monotonic() + timeout
    while (got := value()) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return got


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


def _all_chunkings(text: str, pieces: int) -> Iterator[list[str]]:
    for cuts in itertools.combinations_with_replacement(range(len(text) + 1), pieces - 1):
        bounds = [0, *cuts, len(text)]
        yield [text[a:b] for a, b in itertools.pairwise(bounds)]


OVERLAPS = [
    ("xabcdef", ["abcd", "bc"], "xa", "bc"),  # "bc" is completed at "xabc", before "abcd" is
    ("xabcdef", ["bcde", "abcd"], "x", "abcd"),  # both start inside each other: "abcd" ends first
    ("xabcdef", ["cd", "abcd", "d"], "x", "abcd"),  # three end together: the longest, which starts first
    ("aaab", ["aab", "b", "aaa"], "", "aaa"),
    ("abab", ["bab", "abab", "ba"], "a", "ba"),
]


@pytest.mark.parametrize(("text", "stops", "expected", "matched"), OVERLAPS)
def test_overlapping_stops_cut_where_the_first_is_completed(text: str, stops: list[str], expected: str, matched: str) -> None:
    assert first_stop(text, stops) == (len(expected), matched)
    for order in itertools.permutations(stops):
        for pieces in _all_chunkings(text, 3):
            assert _streamed([*NEVER, *order], pieces) == (expected, matched), (order, pieces)
    completion = {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}
    door._cut_answer(completion, [*NEVER, *stops])
    assert (completion["choices"][0]["message"]["content"], completion["choices"][0]["stop_reason"]) == (expected, matched)


def test_the_cutter_agrees_with_the_plain_rule() -> None:
    # Random stops and texts over a small alphabet, so that stops overlap, nest and repeat a lot.
    rng = random.Random(5)
    for _ in range(1500):
        stops = list(dict.fromkeys("".join(rng.choices("ab", k=rng.randint(1, 5))) for _ in range(rng.randint(1, 6))))
        text = "".join(rng.choices("abc", k=rng.randint(0, 24)))
        met = first_stop(text, stops)
        expected = (text[: met[0]], met[1]) if met else (text, None)
        cuts = sorted(rng.sample(range(len(text) + 1), min(len(text) + 1, rng.randint(0, 5))))
        pieces = [text[a:b] for a, b in itertools.pairwise([0, *cuts, len(text)])]
        assert _streamed(stops, [text]) == expected, (stops, text)
        assert _streamed(stops, pieces) == expected, (stops, pieces)
        assert _streamed(stops, list(text)) == expected, (stops, text)


def test_stops_are_plain_text_whatever_their_characters() -> None:
    stops = ["]", "^x", "a.b", "\\d", "-", "[ab]", "é\n"]
    assert _streamed(stops, ["axb ^ ab é\nz"]) == ("axb ^ ab ", "é\n")
    assert _streamed(stops, ["axb ^ ", "a", ".", "b!"]) == ("axb ^ ", "a.b")
    assert _streamed(stops, list("1 \\D ^X [ab ]")) == ("1 \\D ^X [ab ", "]")
    assert _streamed(stops, ["0-1"]) == ("0", "-")


def _lines_run(stops: list[str], pieces: list[str]) -> int:
    """How many lines of the door's code cutting these pieces runs: its work, counted, not timed."""
    counted = 0

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal counted
        if frame.f_code.co_filename != door.__file__:
            return None
        if event == "line":
            counted += 1
        return trace

    cutter = door.StopCutter(stops)
    sys.settrace(trace)
    try:
        for piece in pieces:
            cutter.feed(piece)
        cutter.flush()
    finally:
        sys.settrace(None)
    return counted


def test_the_cutters_work_grows_with_the_text_not_with_the_stops() -> None:
    # The worst text for a matcher: every character continues a long stop that fails at its last, over and
    # over. However many such stops (up to the limits) and however the text comes, each character costs the
    # same few steps: a bounded, linear count.
    n = 4000
    text = "a" * n
    one = ["a" * (door.MAX_STOP_LENGTH - 1) + "b"]
    most = ["a" * (door.MAX_STOP_LENGTH - 1 - i) + "b" for i in range(door.MAX_STOP_CHARS // door.MAX_STOP_LENGTH - 1)]
    assert sum(map(len, most)) <= door.MAX_STOP_CHARS
    for stops in (one, most):
        whole, by_char = _lines_run(stops, [text]), _lines_run(stops, list(text))
        assert whole <= 10 * n and by_char <= 20 * n, (len(stops), whole, by_char)
    # Ordinary text skips to where a stop may start: far fewer steps than characters.
    prose = ("lorem ipsum dolor sit amet " * (n // 27 + 1))[:n]
    assert _lines_run([*NEVER, "Z" * door.MAX_STOP_LENGTH], [prose]) < n // 10


async def _through_the_door(sse: list[bytes], stops: list[str]) -> list[dict[str, Any]]:
    """Chat SSE, as the pipeline streams it, through the cutter and the Messages translation: the events out."""
    async def source() -> AsyncIterator[bytes]:
        for chunk in sse:
            yield chunk

    out = b"".join([event async for event in translate_stream(door.cut_stream(source(), stops), "msg_t", "m", stops)])
    return [orjson.loads(block.split(b"\ndata: ", 1)[1]) for block in out.split(b"\n\n") if block.strip()]


def _chunk(text: str | None = None, finish: str | None = None) -> bytes:
    delta = {"content": text} if text is not None else {}
    return b"data: " + orjson.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + b"\n\n"


def _texts(events: list[dict[str, Any]]) -> str:
    return "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")


@pytest.mark.parametrize("ending", [[b"data: [DONE]\n\n"], []], ids=["done-without-finish", "just-stops"])
def test_held_text_goes_out_however_the_stream_ends(ending: list[bytes]) -> None:
    events = asyncio.run(_through_the_door([_chunk("Hi."), _chunk(" Hel"), *ending], [*NEVER, "Help!"]))
    assert _texts(events) == "Hi. Hel"
    # Ended with [DONE], the message ends; a stream that just stops was cut short, and says so after the text.
    assert events[-1]["type"] == ("message_stop" if ending else "error")


def test_a_stream_cut_ends_there_with_the_usage_reported_or_estimated() -> None:
    upstream_went_on = False

    async def source() -> AsyncIterator[bytes]:
        nonlocal upstream_went_on
        yield _chunk("Answer: 42 ST")
        yield _chunk("OP and")
        upstream_went_on = True
        yield _chunk(" more", "stop")
        yield b"data: [DONE]\n\n"

    async def run() -> list[dict[str, Any]]:
        stops = [*NEVER, "STOP"]
        chunks = door.cut_stream(source(), stops, lambda pieces: {"prompt_tokens": 5, "completion_tokens": len(pieces)})
        out = b"".join([event async for event in translate_stream(chunks, "msg_t", "m", stops)])
        return [orjson.loads(block.split(b"\ndata: ", 1)[1]) for block in out.split(b"\n\n") if block.strip()]

    events = asyncio.run(run())
    assert not upstream_went_on
    assert _texts(events) == "Answer: 42 "
    delta = next(e for e in events if e["type"] == "message_delta")
    assert delta["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "STOP"}
    assert (delta["usage"]["input_tokens"], delta["usage"]["output_tokens"]) == (5, 2)
    assert events[-1]["type"] == "message_stop"


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
    # Each at most MAX_STOP_LENGTH long, MAX_STOP_CHARS in all.
    too_much = [f"{i}" + "Z" * (door.MAX_STOP_LENGTH - 1) for i in range(door.MAX_STOP_CHARS // door.MAX_STOP_LENGTH)] + ["Y"]
    for bad in (["a", ""], "a", [1], [f"s{i}" for i in range(door.MAX_STOP_SEQUENCES + 1)], ["a", "Z" * (door.MAX_STOP_LENGTH + 1)],
                too_much):
        with pytest.raises(APIError) as exc:
            door.chat_payload({**base, "stop_sequences": bad})
        assert exc.value.status == 400 and "stop_sequences" in exc.value.message
