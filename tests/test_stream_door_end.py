"""A streamed answer the door ends on purpose is an answer, not a cancellation.

The Messages door cuts a streamed answer itself at a stop sequence beyond the 4 it sends upstream, and
ends the pipeline's stream there (router/streaming.py, GuardedStream.end). The client got a whole answer,
ending at its stop: the one ledger row says ok/200, keeps the text the client got (the policy stores
text), is charged what was generated (the usage the client is told), settles the budget hold, and
nothing is cached (a cut answer is this request's, not every request's with the same first 4 stops). A
client that leaves mid-stream is still a cancellation.

The real anthropic SDK against a real gateway process, with an exact cache and a budgeted key, in front
of the local upstream of tests/test_door_messages_stops.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from typer.testing import CliRunner

from router.cli import app as cli
from tests.servers import Process, start_gateway
from tests.test_books import balance as books_balance
from tests.test_books import rows_of
from tests.test_door_messages_stops import HUNG, TEXT, StrictUpstream, wait_for

ADMIN = "admin-stream-door-end"


@pytest.fixture(scope="module")
def strict() -> Iterator[StrictUpstream]:
    server = StrictUpstream()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(strict: StrictUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    work: Path = tmp_path_factory.mktemp("stream-door-end")
    policy = work / "policy.yaml"
    policy.write_text(f"""
version: 1
name: stream-door-end
tiers:
  strict:
    engine: openai
    model: strict
    base_url: {strict.url}/v1
    max_output_tokens: 64
    prices: {{input_per_mtok: 1000, output_per_mtok: 2000}}
routing: {{classifier: rules}}
cache: {{exact: true, semantic: false}}
""")
    url = f"sqlite:///{work}/ledger.db"
    created = CliRunner().invoke(
        cli, ["keys", "create", "--tenant", "door-end", "--team", "ops", "--budget-usd", "1000", "--period", "total", "--json"],
        env={"SWITCHYARD_DATABASE_URL": url},
    )
    assert created.exit_code == 0, created.output
    key = json.loads(created.output)
    env = {"SWITCHYARD_DATABASE_URL": url, "SWITCHYARD_ADMIN_KEY": ADMIN, "SWITCHYARD_POLICY_POLL_S": "0"}
    server = start_gateway(policy, work, env=env)
    server.database_url = url
    server.key, server.key_id = key["key"], key["key_id"]  # type: ignore[attr-defined]
    yield server
    server.stop()


def claude(gw: Process) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=gw.key, max_retries=0, timeout=30)  # type: ignore[attr-defined]


def never() -> list[str]:
    """Four stops the upstream's text never holds, new each time: a request of its own for the cache."""
    tag = uuid.uuid4().hex[:8]
    return [f"@@{tag}{i}" for i in range(4)]


def streamed(gw: Process, stops: list[str], prompt: str = "Recite.") -> tuple[str, Any]:
    with claude(gw).messages.stream(model="strict", max_tokens=32, stop_sequences=stops,
                                    messages=[{"role": "user", "content": prompt}]) as stream:
        text = "".join(e.delta.text for e in stream if e.type == "content_block_delta" and e.delta.type == "text_delta")
        return text, stream.get_final_message()


def one_row(gw: Process, request_id: str) -> dict[str, Any]:
    rows = rows_of(gw, request_id)
    assert len(rows) == 1, f"{len(rows)} ledger rows for {request_id}"
    return rows[0]


def assert_settled(gw: Process) -> None:
    cost, spent, reserved = books_balance(gw, ADMIN)
    assert reserved == 0, f"{reserved} nano-dollars still held"
    assert spent == cost, f"the quota store settled {spent}, the key's ledger rows cost {cost}"


def test_a_stream_the_door_cuts_is_recorded_as_answered(gw: Process, strict: StrictUpstream) -> None:
    # " gamma" is the 5th stop: the door cuts there and ends the pipeline's stream itself.
    stops = [*never(), " gamma"]
    text, message = streamed(gw, stops)
    assert text == "Alpha beta" and (message.stop_reason, message.stop_sequence) == ("stop_sequence", " gamma")
    row = one_row(gw, message.id.removeprefix("msg_"))
    assert (row["door"], row["status"], row["http_status"], row["error"]) == ("messages", "ok", 200, None), row
    assert row["response"] == "Alpha beta"  # what the client got, not what the upstream sent past the cut
    # Charged what was generated up to the cut (3 chunks read, no usage yet: estimated), as the client was told.
    assert (row["prompt_tokens"], row["completion_tokens"]) == (message.usage.input_tokens, message.usage.output_tokens)
    assert message.usage.output_tokens == 3 and row["cost_nanousd"] > 0
    assert_settled(gw)


def test_a_cut_while_the_upstream_still_generates_hangs_up_and_is_answered(gw: Process, strict: StrictUpstream) -> None:
    # The upstream writes the stop and then waits on the test: the answer must be over (and recorded) before
    # it goes on, and the gateway must have hung up on it.
    strict.hold()
    text, message = streamed(gw, [*never(), "STOP"], prompt="Hang.")
    assert not strict.rest_sent.is_set(), "the answer ended only after the upstream went on"
    strict.let_go()
    assert text == "Answer: 42 " and message.stop_sequence == "STOP"
    assert wait_for(lambda: strict.hang_ended) == "hung up on"
    row = one_row(gw, message.id.removeprefix("msg_"))
    assert (row["status"], row["http_status"], row["response"]) == ("ok", 200, "Answer: 42 "), row
    assert (row["prompt_tokens"], row["completion_tokens"]) == (message.usage.input_tokens, message.usage.output_tokens)
    assert message.usage.output_tokens == 1 and row["cost_nanousd"] > 0
    assert_settled(gw)


def test_a_cut_answer_is_not_cached(gw: Process, strict: StrictUpstream) -> None:
    # The same request again reaches the upstream: a cut answer is kept for no one (the cache's key has only the
    # first 4 stops, so it would be replayed to a request with another 5th).
    stops = [*never(), " gamma"]
    first_text, _ = streamed(gw, stops)
    asked = len(strict.stops)
    again_text, again = streamed(gw, stops)
    assert len(strict.stops) == asked + 1, "the cut answer was served from the cache"
    assert first_text == again_text == "Alpha beta"
    assert one_row(gw, again.id.removeprefix("msg_"))["cache"] == "miss"
    # The cache is on for these requests: a whole answer (no stop met) is kept and served again.
    whole = [*never(), "@@none"]
    assert streamed(gw, whole)[0] == TEXT
    asked = len(strict.stops)
    replayed_text, replayed = streamed(gw, whole)
    assert len(strict.stops) == asked and replayed_text == TEXT
    assert one_row(gw, replayed.id.removeprefix("msg_"))["cache"] == "hit-exact"
    # That whole answer is the one a request with the same first 4 stops and another 5th is served, cut by its 5th.
    cut_text, cut = streamed(gw, [*whole[:4], " gamma"])
    assert len(strict.stops) == asked and cut_text == "Alpha beta" and cut.stop_sequence == " gamma"
    hit = one_row(gw, cut.id.removeprefix("msg_"))
    assert (hit["status"], hit["http_status"], hit["cache"]) == ("ok", 200, "hit-exact"), hit


def test_a_client_that_leaves_mid_stream_is_still_a_cancellation(gw: Process, strict: StrictUpstream) -> None:
    # Five stops, so the door's cutter is on the stream, but none is met: the upstream sends its first chunk and
    # waits, the client reads it and hangs up.
    strict.hold()
    with claude(gw).messages.stream(model="strict", max_tokens=32, stop_sequences=[*never(), "@@none"],
                                    messages=[{"role": "user", "content": "Hang."}]) as stream:
        for event in stream:
            if event.type == "content_block_delta":
                assert event.delta.type == "text_delta" and event.delta.text == HUNG
                break
        request_id = stream.response.headers["x-switchyard-request-id"]
    try:
        row = one_row(gw, request_id)
    finally:
        strict.let_go()
    assert (row["status"], row["http_status"], row["error"]) == ("cancelled", 499, "client disconnected"), row
    assert row["completion_tokens"] == 1 and row["cost_nanousd"] > 0
    assert_settled(gw)
