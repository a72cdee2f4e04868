"""The embeddings door (POST /v1/embeddings) driven by the real openai SDK against a real gateway process whose
policy declares an embedding tier (the bundled all-MiniLM-L6-v2, priced so that budgets and the ledger see it).
Keys are required, so the door's auth, budgets and ledger rows are the ones checked."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from typer.testing import CliRunner

from policies import PolicyError, load_policy_text
from router.cli import app
from router.ledger import Ledger
from tests.faulty_upstream import FaultyUpstream
from tests.servers import Process, start_gateway

PRICE = 1000  # $/Mtok: a word piece costs $0.001, so a budget of $0.000001 cannot pay for one input
POLICY = """
version: 1
tiers:
  chat:
    engine: openai
    model: chat-standin
    upstream_model: honest
    base_url: {upstream}/v1
    max_output_tokens: 4
embeddings:
  model: all-MiniLM-L6-v2
  aliases: [text-embedding-3-small]
  backend: onnx-int8
  input_per_mtok: {price}
cache: {{exact: false, semantic: false}}  # the embedder is the door's own, not the semantic cache's
"""
# About 180 word pieces: past the 96 + 32 window the semantic cache reads, within MiniLM's 256.
HEAD = " ".join(f"alpha{i}" for i in range(30))
TAIL = " ".join(f"omega{i}" for i in range(20))
MIDDLE_A = "The committee approved the bridge repairs after a long debate about the budget."
MIDDLE_B = "A volcano erupted on the island, and the fishermen sailed home under a red sky."


def new_key(env: dict[str, str], *extra: str) -> str:
    created = CliRunner().invoke(app, ["keys", "create", "--tenant", "acme", "--team", "ml", "--json", *extra], env=env)
    assert created.exit_code == 0, created.output
    return json.loads(created.output)["key"]


@pytest.fixture(scope="module")
def embedding_gateway(upstream: FaultyUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    work = tmp_path_factory.mktemp("embeddings")
    policy = work / "policy.yaml"
    policy.write_text(POLICY.format(upstream=upstream.url, price=PRICE))
    env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db"}
    keys = {"main": new_key(env), "broke": new_key(env, "--budget-usd", "0.000001", "--period", "total")}
    server = start_gateway(policy, work, env=env)
    server.database_url = env["SWITCHYARD_DATABASE_URL"]
    server.keys = keys  # type: ignore[attr-defined]
    yield server
    server.stop()


def sdk(gateway: Process, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key or gateway.keys["main"],  # type: ignore[attr-defined]
                         max_retries=0, timeout=120)


def rows(gateway: Process) -> list[dict[str, Any]]:
    assert gateway.database_url
    ledger = Ledger(gateway.database_url)
    try:
        return list(ledger.rows())
    finally:
        ledger.close()


def ledger_row(gateway: Process, request_id: str) -> dict[str, Any]:
    """The request's row; rows are written in batches, so it may take a moment to appear."""
    deadline = time.monotonic() + 10
    while True:
        found = [r for r in rows(gateway) if r["request_id"] == request_id]
        if found or time.monotonic() > deadline:
            assert found, f"no ledger row for {request_id}"
            return found[0]
        time.sleep(0.1)


def vectors(response: Any) -> np.ndarray:
    return np.array([item.embedding for item in response.data], dtype=np.float32)


def test_embeddings_are_minilm_unit_vectors_billed_in_the_ledger(embedding_gateway: Process) -> None:
    raw = sdk(embedding_gateway).embeddings.with_raw_response.create(
        model="auto", input=["a cat sat on the mat", "quarterly revenue rose by ten percent"], encoding_format="float")
    response = raw.parse()
    assert response.object == "list" and response.model == "all-MiniLM-L6-v2"
    assert [item.index for item in response.data] == [0, 1] and all(item.object == "embedding" for item in response.data)
    found = vectors(response)
    assert found.shape == (2, 384)
    assert np.allclose(np.linalg.norm(found, axis=1), 1.0, atol=1e-4)
    assert float(found[0] @ found[1]) < 0.9  # different texts, different vectors
    assert response.usage.prompt_tokens > 0 and response.usage.total_tokens == response.usage.prompt_tokens
    assert raw.headers["x-switchyard-tier"] == "embeddings" and raw.headers["x-switchyard-model"] == "all-MiniLM-L6-v2"
    row = ledger_row(embedding_gateway, raw.headers["x-switchyard-request-id"])
    assert (row["door"], row["tier"], row["model"], row["status"], row["http_status"]) == (
        "embeddings", "embeddings", "all-MiniLM-L6-v2", "ok", 200)
    assert row["tenant"] == "acme" and row["requested_model"] == "auto" and row["completion_tokens"] == 0
    assert row["prompt_tokens"] == response.usage.prompt_tokens
    assert row["cost_nanousd"] == response.usage.prompt_tokens * PRICE * 1000  # $PRICE/Mtok in nano-dollars


def test_same_input_same_vector_and_base64_is_the_same_floats(embedding_gateway: Process) -> None:
    client = sdk(embedding_gateway)
    text = "the same sentence, embedded three ways"
    first = vectors(client.embeddings.create(model="all-MiniLM-L6-v2", input=text, encoding_format="float"))
    again = vectors(client.embeddings.create(model="text-embedding-3-small", input=[text], encoding_format="float"))
    assert np.array_equal(first, again)
    # The SDK asks for base64 unless told otherwise and decodes it: the floats arrive unchanged.
    assert np.array_equal(vectors(client.embeddings.create(model="auto", input=text)), first)
    reply = httpx.post(embedding_gateway.url + "/v1/embeddings", timeout=60,
                       headers={"authorization": f"Bearer {embedding_gateway.keys['main']}"},  # type: ignore[attr-defined]
                       json={"model": "auto", "input": text, "encoding_format": "base64", "dimensions": 384})
    assert reply.status_code == 200, reply.text
    encoded = reply.json()["data"][0]["embedding"]
    assert isinstance(encoded, str)
    assert np.array_equal(np.frombuffer(base64.b64decode(encoded), dtype="<f4"), first[0])


def test_reads_the_whole_input_up_to_minilms_256_word_pieces(embedding_gateway: Process) -> None:
    client = sdk(embedding_gateway)
    # Inputs that differ only in the middle, where the semantic cache's head-and-tail window would not look.
    pair = client.embeddings.create(model="auto", input=[f"{HEAD} {MIDDLE_A} {TAIL}", f"{HEAD} {MIDDLE_B} {TAIL}"],
                                    encoding_format="float")
    found = vectors(pair)
    assert pair.usage.prompt_tokens < 2 * 256
    assert not np.allclose(found[0], found[1], atol=1e-3)
    long = client.embeddings.create(model="auto", input=["word " * 2000], encoding_format="float")
    assert long.usage.prompt_tokens == 256  # truncated where sentence-transformers truncates


@pytest.mark.parametrize(("body", "status", "param"), [
    ({"model": "auto", "input": [[1, 2, 3]]}, 400, "input"),
    ({"model": "auto", "input": [1, 2, 3]}, 400, "input"),
    ({"model": "auto", "input": ""}, 400, "input[0]"),
    ({"model": "auto", "input": []}, 400, "input"),
    ({"model": "auto", "input": ["x"] * 2049}, 400, "input"),
    ({"model": "auto", "input": ["word " * 200] * 2048}, 400, "input"),  # 2048 x 202 word pieces: over 300,000
    ({"model": "auto", "input": "hi", "dimensions": 128}, 400, "dimensions"),
    ({"model": "auto", "input": "hi", "encoding_format": "hex"}, 400, "encoding_format"),
    ({"model": "auto"}, 400, "input"),
    ({"input": "hi"}, 400, "model"),
    ({"model": "chat-standin", "input": "hi"}, 404, "model"),
])
def test_bad_requests_are_openai_errors(embedding_gateway: Process, body: dict[str, Any], status: int, param: str) -> None:
    reply = httpx.post(embedding_gateway.url + "/v1/embeddings", json=body, timeout=30,
                       headers={"authorization": f"Bearer {embedding_gateway.keys['main']}"})  # type: ignore[attr-defined]
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error" and error["message"]
    row = ledger_row(embedding_gateway, reply.headers["x-switchyard-request-id"])
    assert (row["door"], row["status"], row["http_status"]) == ("embeddings", "rejected", status)


def test_sdk_errors_budgets_and_keys(embedding_gateway: Process) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        sdk(embedding_gateway).embeddings.create(model="auto", input="hi", dimensions=256)
    assert bad.value.body["param"] == "dimensions"  # type: ignore[index]
    with pytest.raises(openai.RateLimitError) as broke:
        sdk(embedding_gateway, embedding_gateway.keys["broke"]).embeddings.create(model="auto", input="hi")  # type: ignore[attr-defined]
    assert broke.value.body["code"] == "budget_exceeded"  # type: ignore[index]
    before = len(rows(embedding_gateway))
    for key in ("sk-sy-not-a-key", None):
        reply = httpx.post(embedding_gateway.url + "/v1/embeddings", json={"model": "auto", "input": "hi"}, timeout=30,
                           headers={"authorization": f"Bearer {key}"} if key else {})
        assert reply.status_code == 401 and reply.json()["error"]["code"] == "invalid_api_key"
    time.sleep(0.3)  # a row would be written within the ledger's batching delay
    assert len(rows(embedding_gateway)) == before  # an unauthenticated caller writes nothing


def test_request_size_is_bounded_by_the_policy(embedding_gateway: Process) -> None:
    big = {"model": "auto", "input": ["x" * 4000] * 1100}  # ~4.4 MB: over the 4 MiB limit
    headers = {"authorization": f"Bearer {embedding_gateway.keys['main']}"}  # type: ignore[attr-defined]
    reply = httpx.post(embedding_gateway.url + "/v1/embeddings", json=big, headers=headers, timeout=30)
    assert reply.status_code == 413 and reply.json()["error"]["code"] == "request_too_large"


def test_a_policy_without_an_embeddings_section_serves_the_bundled_minilm(gateway: Process) -> None:
    """The E2E gateway's policy (tests/conftest.py) says nothing of embeddings: the default tier answers."""
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-anything", max_retries=0, timeout=120)
    response = client.embeddings.create(model="auto", input="hello there")
    assert vectors(response).shape == (1, 384) and response.model == "all-MiniLM-L6-v2"
    assert client.models.retrieve("all-MiniLM-L6-v2").id == "all-MiniLM-L6-v2"


def test_lint_refuses_an_embedding_name_that_a_chat_tier_uses() -> None:
    text = POLICY.format(upstream="http://127.0.0.1:1", price=0).replace("[text-embedding-3-small]", "[chat-standin]")
    with pytest.raises(PolicyError) as caught:
        load_policy_text(text)
    assert "embeddings.aliases" in str(caught.value) and "chat-standin" in str(caught.value)
    assert load_policy_text("version: 1\ntiers: {a: {engine: openai, model: m, base_url: 'http://x/v1'}}\n").embeddings.enabled
