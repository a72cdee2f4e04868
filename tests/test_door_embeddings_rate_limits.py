"""The embeddings door's rate limits: a key over its requests per minute is refused before its input is
tokenized (counting tokens reads up to the whole 4 MB body), and tokens per minute are still checked with
the count. In-process (httpx's ASGI transport) with the bundled MiniLM, whose tokenizer the test wraps to
see when it is called."""

from __future__ import annotations

import asyncio
import time
import types
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from policies.loader import load_policy_text
from router.app import create_app
from router.doors import embedding_model
from router.gateway import Gateway
from router.ledger import Ledger
from router.tenancy import quota
from tests.servers import free_port

POLICY = """
version: 1
name: embeddings-limits
tiers:
  small:
    engine: openai
    model: small
    base_url: http://127.0.0.1:{port}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 1, output_per_mtok: 2}}
embeddings: {{input_per_mtok: 1}}
cache: {{exact: false, semantic: false}}
"""
# Rate windows are whole minutes of the wall clock; one that turned mid-test would refill the key's minute.
FROZEN_NOW = 1_900_000_040.0  # 20 s into a minute


class CountingTokenizer:
    """The loaded embedding model, whose token counting is counted."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls = 0

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        self.calls += 1
        return self.real.token_ids(texts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class InProcess:
    def __init__(self, database_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.gateway = Gateway(load_policy_text(POLICY.format(port=free_port())), ledger=Ledger(database_url, sync="full"))
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(self.gateway), raise_app_exceptions=False), base_url="http://gateway", timeout=120
        )
        self.run(self.gateway.start())

    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    def embed(self, key: str, text: str) -> httpx.Response:
        body = orjson.dumps({"model": "auto", "input": text, "encoding_format": "float"})
        return self.run(
            self.client.post("/v1/embeddings", content=body, headers={"authorization": f"Bearer {key}", "content-type": "application/json"})
        )

    def row(self, response: httpx.Response) -> dict[str, Any]:
        request_id = response.headers["x-switchyard-request-id"]
        return next(r for r in self.gateway.ledger.rows() if r["request_id"] == request_id)

    def close(self) -> None:
        self.run(self.client.aclose())
        self.run(self.gateway.aclose())
        self.loop.close()


@pytest.fixture()
def api(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[InProcess, CountingTokenizer]]:
    monkeypatch.setattr(quota, "time", types.SimpleNamespace(time=lambda: FROZEN_NOW, monotonic=time.monotonic))
    app = InProcess(f"sqlite:///{tmp_path_factory.mktemp('embeddings-limits')}/ledger.db")
    backend = app.gateway.policy.embeddings.backend
    counting = CountingTokenizer(app.run(embedding_model.embedder(backend)))
    # The door finds its model in this process's cache of loaded models: the wrapper is what it finds there.
    monkeypatch.setitem(embedding_model._models, backend, counting)
    yield app, counting
    app.close()


def test_a_key_over_its_requests_per_minute_is_refused_before_its_input_is_tokenized(api: tuple[InProcess, CountingTokenizer]) -> None:
    app, tokenizer = api
    key, info = app.gateway.tenancy.keys.create("t1", "a", rpm=1)
    answered = app.embed(key, "the first request of the minute")
    assert answered.status_code == 200, answered.text
    assert tokenizer.calls == 1
    refused = app.embed(key, "a long input " * 20_000)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "rate_limit_exceeded" and "requests per minute" in refused.json()["error"]["message"]
    assert refused.headers["retry-after"] == "40"  # what is left of the frozen minute
    assert tokenizer.calls == 1  # once, and only for the request that was answered
    row = app.row(refused)
    assert (row["door"], row["status"], row["http_status"], row["key_id"]) == ("embeddings", "rejected", 429, info.key_id)
    assert row["prompt_tokens"] in (None, 0)


def test_tokens_per_minute_are_still_checked_with_the_count(api: tuple[InProcess, CountingTokenizer]) -> None:
    app, tokenizer = api
    key, _ = app.gateway.tenancy.keys.create("t2", "a", tpm=20)
    assert app.embed(key, "a short one").status_code == 200  # a handful of word pieces: within the minute's 20
    refused = app.embed(key, "now a much longer input, with many more word pieces than are left in this minute for the key")
    assert refused.status_code == 429, refused.text
    assert "tokens per minute" in refused.json()["error"]["message"]
    assert tokenizer.calls == 2  # the count decided it
